"""The sipas command: messages, not tracebacks; exit 1 on invalid data, 2 on usage errors."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sipas_analysis import cli
from tests.conftest import contract_frame


def run(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "sipas_analysis.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env)


def test_help_lists_the_commands():
    out = run("--help")
    assert out.returncode == 0
    for command in ["demo", "validate", "index", "reports", "params", "evaluate"]:
        assert command in out.stdout


def test_validate_a_good_file(tmp_path):
    path = tmp_path / "survey.csv"
    frame = contract_frame(60)
    frame.loc[[2, 3], "feedback_resolved"] = None
    frame.to_csv(path, index=False)
    out = run("validate", str(path))
    assert out.returncode == 0, out.stderr
    assert "valid — 60 respondents" in out.stdout
    assert "feedback_resolved" in out.stdout  # missing answers are counted, never dropped


def test_validate_a_bad_file_lists_every_problem_and_exits_1(tmp_path):
    path = tmp_path / "survey.csv"
    frame = contract_frame(30)
    frame.loc[4, "staff_polite"] = 9
    frame.loc[5, "weight"] = -2
    frame.drop(columns=["channel"]).to_csv(path, index=False)
    out = run("validate", str(path))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    for word in ["staff_polite", "weight", "channel", "3 problem(s)"]:
        assert word in out.stderr


def test_validate_lists_an_unknown_province_with_the_other_problems(tmp_path, capsys):
    path = tmp_path / "survey.csv"
    frame = contract_frame(30)
    frame.loc[[1, 2, 3], "province_code"] = "Hanio"     # a misspelt name
    frame.loc[7, "province_code"] = "99"                # no such GSO code
    frame.loc[4, "staff_polite"] = 9
    frame.loc[5, "weight"] = -2
    frame.drop(columns=["channel"]).to_csv(path, index=False)
    assert cli.main(["validate", str(path)]) == cli.EXIT_INVALID
    err = capsys.readouterr().err
    assert "4 problem(s)" in err
    province = next(line for line in err.splitlines() if line.startswith("  - province_code"))
    # the offending rows (numbered from 1) and what they hold, and the close match
    assert "4 row(s): 2 ('63/Hanio'), 3 ('63/Hanio'), 4 ('63/Hanio'), 8 ('63/99')" in province
    assert "Hà Nội (01)" in province
    for line in ["  - channel: required column is missing", "  - weight:", "  - staff_polite:"]:
        assert line in err


@pytest.mark.parametrize("args, message", [
    (["validate", "missing.csv"], "no such file"),
    (["index", "--data", "missing.csv"], "no such file"),
    (["index", "--data", "SURVEY", "--by", "nonexistent"], "is not a column"),
    (["index", "--data", "SURVEY", "--satisfied", "four"], "--satisfied must be"),
])
def test_user_mistakes_get_a_message_not_a_traceback(tmp_path, args, message):
    path = tmp_path / "survey.csv"
    contract_frame(30).to_csv(path, index=False)
    out = run(*[str(path) if a == "SURVEY" else a for a in args])
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def test_index_writes_the_table(tmp_path):
    path = tmp_path / "survey.csv"
    contract_frame(200).to_csv(path, index=False)
    target = tmp_path / "out" / "index.csv"
    assert cli.main(["index", "--data", str(path), "--by", "none", "--kind", "all",
                     "--out", str(target)]) == 0
    table = pd.read_csv(target)
    assert set(table["kind"]) == {"criterion", "factor", "overall"}
    assert {"estimate", "std_error", "ci_low", "ci_high", "n_eff", "df"} <= set(table.columns)


def test_index_intervals_are_korn_graubard_by_default_and_normal_on_request(tmp_path):
    from scipy import stats
    from sipas_analysis import indices
    path = tmp_path / "survey.csv"
    frame = contract_frame(200)
    frame.to_csv(path, index=False)
    beta, normal = tmp_path / "beta.csv", tmp_path / "normal.csv"
    assert cli.main(["index", "--data", str(path), "--by", "none", "--out", str(beta)]) == 0
    assert cli.main(["index", "--data", str(path), "--by", "none", "--ci-method", "normal",
                     "--out", str(normal)]) == 0
    beta, normal = pd.read_csv(beta).iloc[0], pd.read_csv(normal).iloc[0]
    design = cli._survey_design(cli._load(str(path)))
    expected = indices.sipas_index(design, ci_method="beta").query("kind == 'overall'").iloc[0]
    assert beta["ci_low"] == pytest.approx(expected["ci_low"], rel=1e-9)
    assert beta["ci_high"] == pytest.approx(expected["ci_high"], rel=1e-9)
    z = stats.norm.ppf(0.975)
    assert normal["ci_high"] == pytest.approx(normal["estimate"] + z * normal["std_error"])
    assert run("index", "--ci-method", "wald").returncode == 2      # argparse names the choices


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """As ``sipas index | head -1``: the reader goes before the table is written."""
    path = tmp_path / "survey.csv"
    contract_frame(200).to_csv(path, index=False)
    proc = subprocess.Popen([sys.executable, "-m", "sipas_analysis.cli", "index", "--data",
                             str(path), "--by", "none", "--kind", "all"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()                  # the reader is gone before anything is written
    stderr = proc.stderr.read()
    proc.wait(timeout=120)
    proc.stderr.close()
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert stderr == ""
    assert proc.returncode == 141        # 128 + SIGPIPE, as a shell reports a killed writer


@pytest.mark.slow
def test_demo_writes_the_national_table(tmp_path):
    env = dict(os.environ, SIPAS_PROCESSED_DIR=str(tmp_path / "data" / "processed"))
    out = run("demo", "--out", str(tmp_path / "reports"), cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert "SYNTHETIC DATA" in out.stdout
    table = pd.read_csv(tmp_path / "reports" / "sipas_index_2024_demo.csv",
                        dtype={"province_code": str})
    assert len(table) == 63 and table["rank"].min() == 1
    assert (table["rank_low"] <= table["rank"]).all() and (table["rank"] <= table["rank_high"]).all()
    assert (tmp_path / "data" / "processed" / "demo_survey.parquet").exists()


def test_evaluate_names_every_unknown_key_of_a_declaration(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text('name: "bad"\nyears: [2024]\ninquirys: {}\n', encoding="utf-8")
    out = run("evaluate", str(config))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "unknown key(s) ['inquirys']" in out.stderr
    missing = run("evaluate", str(tmp_path / "none.yaml"))
    assert missing.returncode == 2 and "no such declaration file" in missing.stderr


def _traceback_free(proc):
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_index_mistakes_are_messages_checked_before_the_work(tmp_path):
    path = tmp_path / "survey.csv"
    contract_frame(200).to_csv(path, index=False)
    wrong = _traceback_free(run("index", "--data", str(path), "--satisfied", "9"))
    assert wrong.returncode == 2 and "between 1 and 5" in wrong.stderr
    suffix = _traceback_free(run("index", "--data", str(path), "--out",
                                 str(tmp_path / "a" / "b" / "x.txt")))
    assert suffix.returncode == 2 and "must end in .csv or .xlsx" in suffix.stderr
    assert not (tmp_path / "a").exists()
    folder = _traceback_free(run("index", "--data", str(path), "--out", str(tmp_path)))
    assert folder.returncode == 2


def test_index_of_several_years_shows_the_latest_and_says_so(tmp_path):
    frame = contract_frame(200)
    other = contract_frame(200, seed=2).assign(year=2023)
    other["respondent_id"] = other["respondent_id"] + "b"
    path = tmp_path / "survey.csv"
    pd.concat([frame, other]).to_csv(path, index=False)
    out = tmp_path / "index.csv"
    proc = _traceback_free(run("index", "--data", str(path), "--by", "none", "--out", str(out)))
    assert proc.returncode == 0
    assert "years [2023, 2024]; showing 2024" in proc.stderr
    assert pd.read_csv(out)["n"].max() <= 200


def test_index_lonely_psu_and_zero_weights_are_messages(tmp_path):
    frame = contract_frame(200)
    frame.loc[frame["stratum"] == "s2", "psu"] = "p9"      # stratum s2 has a single PSU
    path = tmp_path / "lonely.csv"
    frame.to_csv(path, index=False)
    lonely = _traceback_free(run("index", "--data", str(path)))
    assert lonely.returncode == 1 and "lonely_psu" in lonely.stderr
    assert run("index", "--data", str(path), "--lonely-psu", "remove").returncode == 0
    zero = contract_frame(200).assign(weight=0.0)
    zero_path = tmp_path / "zero.csv"
    zero.to_csv(zero_path, index=False)
    proc = _traceback_free(run("index", "--data", str(zero_path)))
    assert proc.returncode in (1, 2) and "weight" in proc.stderr


def test_validate_into_a_closed_pipe_ends_quietly(tmp_path):
    path = tmp_path / "survey.csv"
    contract_frame(200).to_csv(path, index=False)
    proc = subprocess.run(f"{sys.executable} -m sipas_analysis.cli validate {path} | head -c 1",
                          shell=True, capture_output=True, text=True)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_index_out_neutralises_formulas_and_escapes_the_terminal(tmp_path):
    """A text column holding a formula and an escape sequence: the xlsx has no formula cell
    and the terminal gets no raw ESC."""
    import openpyxl
    frame = contract_frame(200)
    frame["note"] = np.where(np.arange(len(frame)) % 2 == 0, '=HYPERLINK("http://x","y")',
                             "\x1b[31mred")
    path = tmp_path / "survey.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "t.xlsx"
    proc = _traceback_free(run("index", "--data", str(path), "--by", "note", "--out", str(out)))
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout
    sheet = openpyxl.load_workbook(out).active
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_reports_on_a_year_the_data_lack_is_one_message(tmp_path):
    path = tmp_path / "survey.csv"
    contract_frame(200).assign(year=2023).to_csv(path, index=False)
    proc = _traceback_free(run("reports", "--year", "2024", "--units", "01", "--data", str(path),
                               "--out", str(tmp_path / "out"), "--no-progress", cwd=tmp_path))
    assert proc.returncode in (1, 2)
    assert "2024" in proc.stderr and "could not be computed" not in proc.stderr
