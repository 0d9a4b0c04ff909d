"""Hostile input: duplicate headers, spreadsheet formulas, YAML aliases and tags, garbage
files, control characters."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from sipas_analysis import files

ROOT = Path(__file__).resolve().parents[1]

INJECTIONS = ['=HYPERLINK("http://x","y")', "+1", "@SUM(A1)", "-2+3", "\tx", "\r=1"]


def _injected_table():
    return pd.DataFrame({"note": INJECTIONS + ["plain"],
                         "value": [-1.5, -2.0, 0.0, 3.0, -4.0, 5.0, 6.0],
                         "count": [-1, 2, 3, 4, 5, 6, 7]})


def _assert_no_formulas(path, n_rows):
    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        cells = [cell for row in sheet.iter_rows() for cell in row]
        assert cells
        assert all(cell.data_type != "f" for cell in cells), \
            [cell.value for cell in cells if cell.data_type == "f"]
        header = [cell.value for cell in sheet[1]]
        notes = [sheet.cell(row=r, column=header.index("note") + 1).value.replace("_x000D_", "\r")
                 for r in range(2, n_rows + 2)]
        assert notes == ["'" + v for v in INJECTIONS] + ["plain"]
        for name in ("value", "count"):
            column = header.index(name) + 1
            values = [sheet.cell(row=r, column=column) for r in range(2, n_rows + 2)]
            assert all(cell.data_type == "n" for cell in values)
            assert values[0].value < 0


def test_neutralise_formulas_prefixes_text_keeps_numbers():
    table = _injected_table().assign(mixed=[-1, "-1", "=A1", 2.5, None, "ok", "@x"])
    out = files.neutralise_formulas(table)
    assert out["note"].tolist()[:4] == ["'" + v for v in INJECTIONS[:4]]
    assert out["mixed"].tolist()[:4] == [-1, "'-1", "'=A1", 2.5]
    assert out["mixed"].isna().iloc[4]
    assert out["value"].dtype == np.float64 and out["count"].dtype == np.int64
    categorical = files.neutralise_formulas(pd.DataFrame({"c": pd.Categorical(["=1", "a"])}))
    assert categorical["c"].tolist() == ["'=1", "a"]
    assert table["note"].iloc[0] == INJECTIONS[0]   # the input is not modified


def test_write_table_xlsx_has_no_formulas(tmp_path):
    path = files.write_table(_injected_table(), tmp_path / "t.xlsx")
    _assert_no_formulas(path, len(INJECTIONS) + 1)


def test_write_table_csv_neutralised_and_suffix_checked(tmp_path):
    path = files.write_table(_injected_table(), tmp_path / "t.csv")
    back = pd.read_csv(path, keep_default_na=False)
    assert len(back) == len(INJECTIONS) + 1
    assert all(v.startswith("'") for v in back["note"].iloc[:-1])
    assert back["value"].dtype == np.float64 and back["value"].iloc[0] == -1.5
    with pytest.raises(ValueError, match=r"\.csv or \.xlsx"):
        files.write_table(_injected_table(), tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()


def test_report_workbook_has_no_formulas(tmp_path):
    from sipas_analysis.report.export import write_tables
    path = write_tables({"a": _injected_table(), "b": _injected_table()}, tmp_path / "w.xlsx")
    _assert_no_formulas(path, len(INJECTIONS) + 1)
    assert [p.name for p in tmp_path.iterdir()] == ["w.xlsx"]   # no temporary file left


# ------------------------------------------------------------------------------------------
# YAML
# ------------------------------------------------------------------------------------------

LAUGHS = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n" + "".join(
    f"{chr(c)}: &{chr(c)} [*{chr(c - 1)},*{chr(c - 1)},*{chr(c - 1)},*{chr(c - 1)},*{chr(c - 1)},"
    f"*{chr(c - 1)},*{chr(c - 1)},*{chr(c - 1)},*{chr(c - 1)}]\n" for c in range(ord("b"), ord("j")))
LAUGHS += "year: *i\n"


def _readers():
    from sipas_analysis.evaluate.declaration import Declaration
    from sipas_analysis.report.params import load_params_file
    return [load_params_file, Declaration.from_yaml]


@pytest.mark.parametrize("reader", range(2))
def test_yaml_aliases_refused(tmp_path, reader):
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS)
    with pytest.raises(ValueError, match="anchors and aliases") as error:
        _readers()[reader](path)
    assert str(path) in str(error.value) and len(str(error.value)) < 500


@pytest.mark.parametrize("reader", range(2))
def test_yaml_object_tags_refused(tmp_path, reader):
    path = tmp_path / "tag.yaml"
    path.write_text("year: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ValueError, match="tags that build objects") as error:
        _readers()[reader](path)
    assert str(path) in str(error.value)


def test_yaml_syntax_error_and_long_values_bounded(tmp_path):
    from sipas_analysis.report.params import load_params_file
    path = tmp_path / "bad.yaml"
    path.write_text("year: [1, 2\n")
    with pytest.raises(ValueError, match="cannot read as YAML"):
        load_params_file(path)
    path.write_text("lang: [" + ", ".join(["lol"] * 100_000) + "]\n")
    with pytest.raises(ValueError, match="lang must be str") as error:
        load_params_file(path)
    assert len(str(error.value)) < 600


def test_params_files_still_read():
    from sipas_analysis.report.params import PARAMS_DIR, load_params_file
    assert load_params_file(PARAMS_DIR / "units" / "63" / "01.yaml")["province_code"] == "01"


def test_printable_escapes_controls():
    assert files.printable("a\x1b]0;title\x07b\x9bc\nd\te") == "a\\x1b]0;title\\x07b\\x9bc\nd\te"


# ------------------------------------------------------------------------------------------
# Survey files: repeated headers, garbage, empty files
# ------------------------------------------------------------------------------------------

from sipas_analysis import io, schema  # noqa: E402


def _with_second(frame, name, values):
    """The frame with a second column whose header is ``name`` (spelt as given)."""
    out = frame.copy()
    out.insert(len(out.columns), "__second__", values)
    return out.rename(columns={"__second__": name})


def _write(frame, path):
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix in (".xlsx", ".xlsm"):
        with pd.ExcelWriter(path, engine="openpyxl") as writer:
            frame.to_excel(writer, index=False)
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        arrays = [pa.array(frame.iloc[:, i].tolist()) for i in range(frame.shape[1])]
        pq.write_table(pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns]), path)
    elif suffix == ".sav":
        import pyreadstat
        pyreadstat.write_sav(frame, str(path))
    return path


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_repeated_contract_headers_refused(valid_frame, tmp_path, suffix):
    frame = _with_second(valid_frame, "Weight ", 1.0)                 # case and whitespace
    frame = _with_second(frame, "province_code", "01")
    frame = _with_second(frame, "note", "a")
    frame = _with_second(frame, "NOTE", "b")                          # not in the contract
    path = _write(frame, tmp_path / f"survey{suffix}")
    with pytest.warns(UserWarning, match="outside the data contract"), \
            pytest.raises(schema.SurveyValidationError) as error:
        io.load_survey(path)
    problems = error.value.problems.set_index("column")
    assert {"weight", "province_code"} <= set(problems.index)
    weight_at = list(valid_frame.columns).index("weight") + 1
    assert f"columns {weight_at} ('weight'), {valid_frame.shape[1] + 1} ('Weight ')" in \
        problems.loc["weight", "rule"]
    assert str(path) in str(error.value) and "note" not in problems.index


def test_repeated_headers_in_nfc_and_nfd_refused(valid_frame, tmp_path):
    import unicodedata
    frame = valid_frame.rename(columns={"sex": "giới_tính"})
    frame = _with_second(frame, unicodedata.normalize("NFD", "giới_tính"), "x")
    path = _write(frame, tmp_path / "survey.csv")
    with pytest.warns(UserWarning, match="giới_tính"), pytest.raises(schema.SurveyValidationError):
        io.load_survey(path)   # sex is missing; the repeated unused header is only reported
    frame = _with_second(valid_frame, unicodedata.normalize("NFD", "USED_SERVICE"), True)
    with pytest.raises(schema.SurveyValidationError, match="used_service: header appears 2"):
        io.load_survey(_write(frame, tmp_path / "survey2.csv"))


def test_repeated_header_in_spss_refused(valid_frame, tmp_path):
    frame = valid_frame[["respondent_id", "year"]].assign(weight=1.0, WEIGHT=1.0)
    path = tmp_path / "survey.sav"
    try:
        _write(frame, path)
    except Exception:
        pytest.skip("pyreadstat does not write case-variant names")
    with pytest.raises(schema.SurveyValidationError, match="weight: header appears 2 times"):
        io.load_survey(path)


def test_blank_and_unused_repeated_headers_are_ignored(valid_frame, tmp_path):
    path = tmp_path / "survey.csv"
    valid_frame.to_csv(path, index=False)
    lines = path.read_text().splitlines()
    lines = [line + ",,,," for line in lines]           # four blank headers, blank cells
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match="ignored"):
        out = io.load_survey(path)
    assert len(out) == len(valid_frame)


XXE = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
       b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
       b'<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')


def _xxe_workbook(valid_frame, path):
    valid = _write(valid_frame.head(3), path.with_name("plain.xlsx"))
    with zipfile.ZipFile(valid) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                body = data.split(b"?>", 1)[1] if data.startswith(b"<?xml") else data
                data = XXE + body
            target.writestr(item, data)
    return path


def _garbage(tmp_path, valid_frame):
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    cases = {}
    for name in ["empty.csv", "empty.xlsx", "empty.sav", "empty.parquet"]:
        (tmp_path / name).write_bytes(b"")
        cases[name] = "empty"
    for suffix in [".csv", ".xlsx", ".xlsm", ".sav", ".parquet"]:
        (tmp_path / f"noise{suffix}").write_bytes(noise)
        cases[f"noise{suffix}"] = "cannot be read|not an Excel workbook|NUL bytes"
    (tmp_path / "nul.csv").write_bytes(b"respondent_id,year\x00\n1,2\n")
    cases["nul.csv"] = "NUL bytes"
    valid_frame.head(0).to_csv(tmp_path / "header.csv", index=False)
    cases["header.csv"] = "no data rows"
    _write(valid_frame.head(0), tmp_path / "header.xlsx")
    cases["header.xlsx"] = "no data rows"
    (tmp_path / "blank.csv").write_text("\n\n")
    cases["blank.csv"] = "no header row"
    with zipfile.ZipFile(tmp_path / "archive.xlsx", "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    cases["archive.xlsx"] = "zip archive but not an Excel workbook"
    (tmp_path / "folder.csv").mkdir()
    cases["folder.csv"] = "is a folder"
    _xxe_workbook(valid_frame, tmp_path / "xxe.xlsx")
    cases["xxe.xlsx"] = "document type or entities"
    _write(valid_frame.assign(weight=0.0), tmp_path / "zero_weights.csv")
    cases["zero_weights.csv"] = "every weight is 0"
    return cases


def test_garbage_files_get_one_validation_error(valid_frame, tmp_path):
    cases = _garbage(tmp_path, valid_frame)
    cases["/dev/null"] = "unknown file extension"
    for name, expected in cases.items():
        path = tmp_path / name
        with pytest.raises(schema.SurveyValidationError, match=expected) as error:
            io.load_survey(path)
        message = str(error.value)
        assert message.startswith(str(path)), (name, message)
        assert "Traceback" not in message and len(message) < 1000, (name, message)


def test_cli_validate_garbage_exits_1_without_traceback(valid_frame, tmp_path):
    cases = _garbage(tmp_path, valid_frame)
    for name in ["noise.xlsx", "header.csv", "archive.xlsx", "xxe.xlsx", "noise.sav",
                 "folder.csv", "empty.parquet", "zero_weights.csv"]:
        result = subprocess.run([sys.executable, "-m", "sipas_analysis.cli", "validate",
                                 str(tmp_path / name)], capture_output=True, text=True,
                                cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        assert result.returncode == 1, (name, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr and str(tmp_path / name) in result.stderr, name
        assert "valid —" not in result.stdout


def test_control_characters_in_a_path_are_escaped(tmp_path):
    path = tmp_path / "bad\x1b[2Jname.csv"
    path.write_bytes(b"")
    with pytest.raises(schema.SurveyValidationError) as error:
        io.load_survey(path)
    assert "\x1b" not in str(error.value) and "\\x1b[2Jname.csv" in str(error.value)


def test_the_same_tables_give_the_same_workbook_bytes(tmp_path):
    """No run-time date in a workbook: two writes a few seconds apart are byte-identical."""
    import hashlib
    import time
    from sipas_analysis import files
    tables = {"index": pd.DataFrame({"estimate": [90.5, 88.0], "note": ["a", "=1+1"]})}
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    files.write_workbook(tables, first)
    time.sleep(2.1)                        # zip entry times have a 2-second resolution
    files.write_workbook(tables, second)
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
