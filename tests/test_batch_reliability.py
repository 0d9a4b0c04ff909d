"""What a batch guarantees when it is killed or a unit fails: the output folder and the records
agree at every instant, a rerun rebuilds every page whose recorded inputs are not today's, and a
failing unit keeps its last good report (the index page says so).

The kill tests run ``sipas reports`` in a real subprocess on the tiny test notebook (shared
results: the stand-in of tests/test_batch.py, put in the cache beforehand) and send it SIGKILL or
SIGTERM right after unit 63-01 has been moved into place.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import psutil
import pytest

from sipas_analysis import batch, report
from tests.conftest import contract_frame
from tests.test_batch import TINY, TINY_FAILING, fake_shared
from tests.test_batch_fast import _cmdline, notebook_with

UNITS = "01,79,48"


@pytest.fixture
def two_files(tmp_path, monkeypatch):
    """Survey files A and B (other bytes), their shared results cached, and a notebook whose
    units other than 01 wait a minute when run on B (so that a batch on B can be killed while
    01 is in place and 79 runs)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIPAS_PROCESSED_DIR", str(tmp_path / "processed"))
    cache = tmp_path / "cache"
    monkeypatch.setenv(batch.CACHE_DIR_ENV, str(cache))
    files = {}
    for name, n in [("A", 60), ("B", 61)]:
        files[name] = tmp_path / f"{name}.parquet"
        contract_frame(n).to_parquet(files[name], index=False)
        batch.shared_results(report.ReportParams(province_code="01", year=2024,
                                                 data=str(files[name])),
                             cache_dir=cache, compute=fake_shared)
    notebook = notebook_with(tmp_path / "slow_on_b.ipynb",
                             'import time\nif data.endswith("B.parquet") and '
                             'province_code != "01":\n    time.sleep(120)')
    env = dict(os.environ, **{batch.CACHE_DIR_ENV: str(cache),
                              "SIPAS_PROCESSED_DIR": str(tmp_path / "processed")})
    return tmp_path, files, notebook, env


def reports(root, data, notebook, env, **popen):
    command = [sys.executable, "-m", "sipas_analysis.cli", "reports", "--year", "2024",
               "--units", UNITS, "--jobs", "1", "--data", str(data), "--notebook",
               str(notebook), "--no-progress", "--out", "O"]
    return subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def injected_data(path) -> str:
    """The ``data`` parameter papermill injected into an executed notebook."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    return next(line for line in cell.source.splitlines() if line.startswith("data = "))


def kill_after_01_moved(root, files, notebook, env, sig) -> tuple[str, int]:
    """Run the batch on B and send ``sig`` once 63-01 holds B's report; returns its stderr and
    exit status. The kernels it leaves behind (after SIGKILL) are killed here."""
    unit = root / "O" / "2024" / "63-01"
    process = reports(root, files["B"], notebook, env)
    kernels: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            record = batch.read_record(unit)
            if record and record["parameters"]["data"].endswith("B.parquet"):
                break
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("unit 63-01 was never built from B")
        kernels = [p for p in psutil.Process(process.pid).children(recursive=True)
                   if "ipykernel_launcher" in " ".join(_cmdline(p))]
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        for kernel in kernels:  # SIGKILL leaves the batch no chance to stop its kernels
            try:
                kernel.kill()
            except psutil.Error:
                pass
    return err, process.returncode


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_rerun_after_a_kill_rebuilds_the_page_made_from_other_data(two_files, sig):
    root, files, notebook, env = two_files
    year_dir = root / "O" / "2024"
    first = reports(root, files["A"], notebook, env)
    out, err = first.communicate(timeout=180)
    assert first.returncode == 0, err

    err, status = kill_after_01_moved(root, files, notebook, env, sig)
    if sig == signal.SIGTERM:
        assert status == 130 and "interrupted" in err and "Traceback" not in err
    else:
        assert status == -signal.SIGKILL
    # at this instant the folder of 01 and its record say B, and the manifest agrees
    record = batch.read_record(year_dir / "63-01")
    assert record["parameters"]["data"].endswith("B.parquet")
    assert "B.parquet" in injected_data(year_dir / "63-01" / "report.ipynb")
    manifest = json.loads((year_dir / "manifest.json").read_text(encoding="utf-8"))
    entry = {u["province_code"]: u for u in manifest["units"]}["01"]
    assert entry["data_hash"] == record["data_hash"] == record["inputs"]["data"]

    again = reports(root, files["A"], notebook, env)
    out, err = again.communicate(timeout=180)
    assert again.returncode == 0, err
    manifest = json.loads((year_dir / "manifest.json").read_text(encoding="utf-8"))
    units = {u["province_code"]: u for u in manifest["units"]}
    assert units["01"]["skipped"] is None and "changed" in units["01"]["reason"]
    assert units["79"]["skipped"] == units["48"]["skipped"] == "unchanged"  # A's pages kept
    data_hash = batch.file_hash(files["A"])
    assert manifest["complete"] is True and manifest["data_hash"] == data_hash
    for code in ["01", "79", "48"]:
        folder = year_dir / f"63-{code}"
        assert batch.read_record(folder)["data_hash"] == units[code]["data_hash"] == data_hash
        assert "A.parquet" in injected_data(folder / "report.ipynb")
        assert "B.parquet" not in (folder / "report.html").read_text(encoding="utf-8")
    assert "2 unit(s) unchanged, skipped" in out


def test_a_folder_without_its_record_is_rebuilt(tmp_path, monkeypatch):
    """A unit's folder whose record is missing (or names other inputs) is never 'unchanged',
    whatever the manifest says."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIPAS_PROCESSED_DIR", str(tmp_path / "processed"))
    options = dict(units="01,02", data="demo", jobs=1, out="O", notebook=TINY,
                   cache_dir=tmp_path / "cache", progress=False,
                   compute=lambda s, p, **kw: fake_shared(s, p, **kw))
    batch.run_batch(2024, **options)
    (tmp_path / "O" / "2024" / "63-01" / batch.UNIT_RECORD).unlink()
    result = batch.run_batch(2024, **options)
    assert [(r.province_code, r.reason) for r in result.results] == [
        ("01", "no record"), ("02", "unchanged")]


def test_a_failing_unit_keeps_its_last_good_report(tmp_path, monkeypatch):
    """A good first run, then a forced run in which unit 02 fails: its good page, workbook and
    record stay; the failed notebook is beside them; the index links the older page and says in
    one line why it is older; the next run retries the unit."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIPAS_PROCESSED_DIR", str(tmp_path / "processed"))
    options = dict(units="01,02,04", data="demo", jobs=1, out="O", cache_dir=tmp_path / "cache",
                   progress=False, compute=lambda s, p, **kw: fake_shared(s, p, **kw),
                   lang="en")
    first = batch.run_batch(2024, notebook=TINY, **options)
    assert first.exit_status == 0
    unit = tmp_path / "O" / "2024" / "63-02"
    page = (unit / "report.html").read_bytes()
    good = batch.read_record(unit)

    result = batch.run_batch(2024, notebook=TINY_FAILING, force=True, **options)
    assert result.exit_status == 1 and "02 (ValueError: boom" in result.summary()
    assert (unit / "report.html").read_bytes() == page
    assert batch.read_record(unit) == good
    assert sorted(p.name for p in unit.iterdir()) == sorted(
        batch.UNIT_OUTPUTS + (batch.UNIT_RECORD, batch.FAILED_NOTEBOOK))
    failed = {u["province_code"]: u for u in json.loads(
        result.manifest_path.read_text(encoding="utf-8"))["units"]}["02"]
    assert failed["status"] == "failed" and failed["shown"]["created"] == good["created"]
    for output in failed["outputs"]:
        assert (result.out_dir / output).is_file()
    index = result.index_path.read_text(encoding="utf-8")
    assert 'href="63-02/report.html"' in index  # no link to a missing page
    older = [line for line in index.splitlines() if "63-02" in line and "<li>" in line]
    assert len(older) == 1 and good["created"] in older[0] and "ValueError: boom" in older[0]
    assert index.count("<li>") == 1  # only the unit that shows an older result

    result = batch.run_batch(2024, notebook=TINY, **options)
    assert {r.province_code: r.reason for r in result.results}["02"] == "previous failure"
    assert result.exit_status == 0 and not (unit / batch.FAILED_NOTEBOOK).exists()
    assert "<li>" not in result.index_path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Usage mistakes refused before any folder is made; a wedged cell times out
# --------------------------------------------------------------------------------------------
def test_empty_units_are_refused_by_the_command(tmp_path, monkeypatch, capsys):
    from sipas_analysis import cli
    monkeypatch.chdir(tmp_path)
    assert cli.main(["reports", "--year", "2024", "--units", "", "--no-progress"]) == 2
    assert "no units given" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("given, limit", [(None, batch.CELL_TIMEOUT), ("0", None),
                                           ("90", 90.0)])
def test_the_command_passes_its_cell_timeout(tmp_path, monkeypatch, given, limit):
    from sipas_analysis import cli
    seen = {}

    def run_batch(year, **options):     # stops after reading the options: nothing runs
        seen.update(options, timeout=options.get("timeout", batch.CELL_TIMEOUT))
        raise batch.BatchError("stop here")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(batch, "run_batch", run_batch)
    argv = ["reports", "--year", "2024", "--units", "01", "--no-progress"]
    assert cli.main(argv + (["--timeout", given] if given else [])) == 2
    assert seen["timeout"] == limit


@pytest.mark.parametrize("given", ["-1", "soon", "inf"])
def test_a_wrong_timeout_is_a_command_line_mistake(tmp_path, monkeypatch, capsys, given):
    from sipas_analysis import cli
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        cli.main(["reports", "--year", "2024", "--timeout", given])
    assert stop.value.code == 2
    assert "--timeout" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("year", [1999, 2200])
def test_an_invalid_year_leaves_no_folder(tmp_path, monkeypatch, year):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(batch.BatchError, match="year must be from 2017 .* to 2100"):
        batch.run_batch(year, units="01", unit_set="63", out="O", progress=False,
                        notebook=TINY)
    assert not (tmp_path / "O").exists()


@pytest.mark.parametrize("engine", ["warm", "papermill"])
def test_a_wedged_cell_times_out_and_the_batch_goes_on(tmp_path, monkeypatch, engine):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIPAS_PROCESSED_DIR", str(tmp_path / "processed"))
    notebook = notebook_with(tmp_path / "wedged.ipynb",
                             'import time\nif province_code == "01":\n    time.sleep(600)')
    started = time.monotonic()
    result = batch.run_batch(2024, units="01,02", data="demo", jobs=1, out="O",
                             notebook=notebook, cache_dir=tmp_path / "cache", progress=False,
                             compute=lambda s, p, **kw: fake_shared(s, p, **kw), timeout=5,
                             engine=engine)
    assert time.monotonic() - started < 120
    assert [r.status for r in result.results] == ["failed", "ok"]
    assert "Timeout" in result.results[0].error["ename"] + result.results[0].error["evalue"]
    assert batch.CELL_TIMEOUT > 0  # the command's default limit


def test_a_full_disk_while_writing_a_page_leaves_the_old_page(tmp_path):
    """A real write failure (the file-size limit, which fails a write with EFBIG as a full disk
    fails it with ENOSPC) while a page is replaced: the old page stays whole, no temp file is
    left, and the error reaches the caller."""
    page = tmp_path / "index.html"
    page.write_text("<p>last good page</p>", encoding="utf-8")
    code = (
        "import pathlib, resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "from sipas_analysis import files\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        "    files.atomic_write(sys.argv[1], lambda tmp: pathlib.Path(tmp).write_text("
        "'x' * 100_000))\n"
        "except OSError as error:\n"
        "    print('refused', error.errno)\n")
    done = subprocess.run([sys.executable, "-c", code, str(page)], capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip() == "refused 27", done.stderr      # EFBIG
    assert page.read_text(encoding="utf-8") == "<p>last good page</p>"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]
