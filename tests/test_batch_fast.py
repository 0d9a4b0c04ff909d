"""The fast batch: warm kernels give the same reports as fresh papermill runs, nothing leaks from
one unit into the next, runs are incremental, and kernels never outlive the batch.

The equality tests run the real report notebook (demo data, real shared results computed once
into a temporary cache); the others run the tiny test notebooks of tests/test_batch.py with the
stand-in shared results, so that they take seconds. Kernel processes are counted with psutil
(children of this process whose command line runs ``ipykernel_launcher``).
"""
from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import nbformat
import psutil
import pytest

from sipas_analysis import batch, cli, report
from tests.conftest import contract_frame
from tests.test_batch import TINY, TINY_FAILING, fake_shared

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "notebooks" / "province_report.ipynb"
SANITIZE = ROOT / "notebooks" / "sanitize.cfg"
INLINE = "module://matplotlib_inline.backend_inline"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def sanitizers() -> list[tuple[re.Pattern, str]]:
    """The regex/replace pairs of notebooks/sanitize.cfg, the ones nbval applies in CI."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(SANITIZE, encoding="utf-8")
    return [(re.compile(config[s]["regex"]), config[s]["replace"]) for s in config.sections()]


def cell_outputs(path: Path) -> list[tuple]:
    """Each code cell's execution count and outputs (JSON text, sanitised as nbval does)."""
    rules = sanitizers()
    cells = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        text = json.dumps(cell.outputs, sort_keys=True, ensure_ascii=False)
        for pattern, replace in rules:
            text = pattern.sub(replace, text)
        cells.append((cell.execution_count, text))
    return cells


def kernel_processes() -> list[psutil.Process]:
    """Kernel processes started by this process (or its children)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if any("ipykernel_launcher" in part for part in proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            pass
    return found


def gone(pids, *, within: float = 10.0) -> bool:
    """True when none of ``pids`` runs any more (exited or a zombie) within ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive:
            return True
        time.sleep(0.2)
    return False


def notebook_with(path: Path, code: str, *, after: int = 2) -> Path:
    """The tiny report with ``code`` as a new cell after cell ``after`` (its computing cell)."""
    nb = nbformat.read(TINY, as_version=4)
    nb.cells.insert(after + 1, nbformat.v4.new_code_cell(code))
    nbformat.write(nb, path)
    return path


@pytest.fixture
def tiny_env(tmp_path, monkeypatch):
    """A fresh folder with a small survey file, a params folder and the stand-in shared results
    (``calls`` records every computation of them)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIPAS_PROCESSED_DIR", str(tmp_path / "processed"))
    monkeypatch.delenv(batch.CACHE_DIR_ENV, raising=False)
    survey = tmp_path / "survey.parquet"
    contract_frame(60).to_parquet(survey, index=False)
    params_dir = tmp_path / "params"
    batch.write_params(params_dir)
    calls: list[str] = []
    starts: list[int] = []

    def counting_start(*args, **kwargs):
        starts.append(1)
        return batch.start_kernel(*args, **kwargs)

    def run(units="01,02,04", notebook=TINY, **options):
        options = dict(data=str(survey), jobs=2, out="reports", notebook=notebook,
                       cache_dir=tmp_path / "cache", progress=False, params_dir=params_dir,
                       kernel_start=counting_start,
                       compute=lambda s, p, **kw: fake_shared(s, p, calls=calls, **kw)) | options
        result = batch.run_batch(2024, units=units, **options)
        manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
        return result, {u["province_code"]: u for u in manifest["units"]}

    return types.SimpleNamespace(root=tmp_path, survey=survey, params_dir=params_dir,
                                 calls=calls, starts=starts, run=run)


def reasons(units: dict) -> dict:
    return {code: (u["reason"], u["skipped"]) for code, u in units.items()}


# --------------------------------------------------------------------------------------------
# 1. Identical results, nothing leaks
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_units(tmp_path_factory):
    """The real report for units 01 and 79 of 2024 (demo data): fresh papermill runs, and warm
    runs of 01, 79, 01 in ONE kernel (this thread's), all into a temporary folder."""
    root = tmp_path_factory.mktemp("equal")
    env = {"SIPAS_PROCESSED_DIR": str(root / "processed"), batch.CACHE_DIR_ENV: str(root / "cache"),
           "MPLBACKEND": INLINE}
    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for key, value in env.items():
            mp.setenv(key, value)
        batch.shared_results(report.ReportParams(province_code="01", year=2024))

        def task(code, engine, name):
            return batch.UnitTask(
                notebook=str(REPORT), out_dir=str(root / "out" / name),
                work_dir=str(root / "work" / name), cwd=str(root), engine=engine, env=env,
                parameters={"province_code": code, "year": 2024, "unit_set": "63",
                            "data": "demo", "lang": "vi"})

        try:
            for code, engine, name in [("01", "papermill", "fresh-01"),
                                       ("79", "papermill", "fresh-79"),
                                       ("01", "warm", "warm-01"), ("79", "warm", "warm-79"),
                                       ("01", "warm", "warm-01-again")]:
                runs[name] = batch.run_unit(task(code, engine, name))
            kernel = batch.thread_kernel(task("01", "warm", "x"))
            counts = (kernel.kernels_started, kernel.units_run)
        finally:
            batch.close_thread_kernel()
    return types.SimpleNamespace(root=root, runs=runs, kernel_counts=counts)


def _outputs(real_units, name):
    assert real_units.runs[name].status == "ok", real_units.runs[name].error
    return cell_outputs(real_units.root / "out" / name / "report.ipynb")


def test_warm_kernel_reports_equal_fresh_papermill_runs(real_units):
    assert real_units.kernel_counts == (1, 3)  # one kernel ran the three warm units
    for code in ["01", "79"]:
        fresh, warm = _outputs(real_units, f"fresh-{code}"), _outputs(real_units, f"warm-{code}")
        code_cells = sum(c.cell_type == "code" for c in nbformat.read(REPORT, 4).cells)
        assert len(fresh) == len(warm) == code_cells + 1  # + papermill's parameters cell
        for index, (a, b) in enumerate(zip(fresh, warm)):
            assert a == b, f"unit {code}, code cell {index} differs"
        # figures are compared byte for byte, and there are figures to compare
        assert sum(text.count('"image/svg+xml"') for _, text in warm) >= 7


def test_nothing_leaks_from_one_unit_into_the_next(real_units):
    first, again = _outputs(real_units, "warm-01"), _outputs(real_units, "warm-01-again")
    assert first == again
    # the comparison can fail: another unit's report differs
    assert first != _outputs(real_units, "warm-79")


def test_the_reset_restores_a_fresh_kernel(tmp_path):
    """Names, figures, rcParams, warning filters and numpy print options set by one unit are
    gone for the next, and the next unit's first cell is "In [1]"."""
    kernel = batch.WarmKernel(env={"MPLBACKEND": INLINE})
    messages = []

    def run(code):
        from jupyter_core.utils import run_sync
        messages.clear()
        reply = run_sync(kernel.client.execute_interactive)(
            code, timeout=60, output_hook=messages.append)
        assert reply["content"]["status"] == "ok", reply["content"]
        return reply["content"]["execution_count"], "".join(
            m["content"].get("text", "") for m in messages if m["msg_type"] == "stream")

    try:
        kernel.prepare()
        probe = ("import matplotlib, matplotlib.pyplot as plt, numpy as np, warnings\n"
                 "print(sorted(k for k in globals() if not k.startswith('_') and k not in "
                 "('In', 'Out', 'exit', 'quit', 'get_ipython', 'open')), "
                 "matplotlib.rcParams['lines.linewidth'], plt.get_fignums(), "
                 "np.get_printoptions()['precision'], len(warnings.filters))")
        count, before = run(probe)
        assert count == 1
        run("leaked = 1\nplt.figure()\nmatplotlib.rcParams['lines.linewidth'] = 9\n"
            "np.set_printoptions(precision=2)\nwarnings.simplefilter('error')")
        kernel.units_run += 1
        kernel.prepare()  # the reset between two units
        count, after = run(probe)
        assert count == 1 and after == before
        assert "leaked" not in after and "[]" in after
    finally:
        kernel.close()


# --------------------------------------------------------------------------------------------
# 2. Incremental runs
# --------------------------------------------------------------------------------------------
def test_a_second_run_with_nothing_changed_does_no_work(tiny_env):
    result, units = tiny_env.run()
    assert result.exit_status == 0
    assert reasons(units) == {c: ("new", None) for c in ["01", "02", "04"]}
    index = result.index_path.stat().st_mtime_ns
    starts, calls = len(tiny_env.starts), len(tiny_env.calls)

    result, units = tiny_env.run()
    assert reasons(units) == {c: ("unchanged", "unchanged") for c in ["01", "02", "04"]}
    assert len(tiny_env.starts) == starts and len(tiny_env.calls) == calls  # no kernel, no fit
    assert result.index_path.stat().st_mtime_ns == index  # the index page was left alone
    assert result.exit_status == 0 and result.summary() == "3 ok, 0 failed"
    for unit in units.values():  # the skipped units keep their outputs in the manifest
        assert unit["status"] == "ok" and len(unit["outputs"]) == 3
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    assert manifest["work"] == {"ran": 0, "skipped": 3}


def test_a_changed_params_file_reruns_only_that_unit(tiny_env):
    tiny_env.run()
    path = tiny_env.params_dir / "units" / "63" / "02.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")
    _, units = tiny_env.run()
    assert reasons(units) == {"01": ("unchanged", "unchanged"), "02": ("params changed", None),
                              "04": ("unchanged", "unchanged")}


def test_changed_data_notebook_or_package_rerun_every_unit(tiny_env, monkeypatch):
    tiny_env.run()
    contract_frame(61).to_parquet(tiny_env.survey, index=False)  # other bytes
    _, units = tiny_env.run()
    assert reasons(units) == {c: ("data changed", None) for c in ["01", "02", "04"]}

    notebook = tiny_env.root / "report.ipynb"
    shutil.copy(TINY, notebook)
    _, units = tiny_env.run(notebook=notebook)  # another path, same cells: unchanged
    assert {u["skipped"] for u in units.values()} == {"unchanged"}
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="old\n")]
    nbformat.write(nb, notebook)  # new outputs only (e.g. re-executed in place): unchanged
    _, units = tiny_env.run(notebook=notebook)
    assert {u["skipped"] for u in units.values()} == {"unchanged"}
    nb.cells[-1].source += "\n# edited"
    nbformat.write(nb, notebook)
    _, units = tiny_env.run(notebook=notebook)
    assert reasons(units) == {c: ("notebook changed", None) for c in ["01", "02", "04"]}

    monkeypatch.setattr(batch.run, "package_fingerprint", lambda: "another-source")
    _, units = tiny_env.run(notebook=notebook)
    assert reasons(units) == {c: ("package changed", None) for c in ["01", "02", "04"]}


def test_force_failures_new_units_and_missing_outputs(tiny_env):
    result, units = tiny_env.run(notebook=TINY_FAILING)
    assert [u["status"] for u in units.values()] == ["ok", "failed", "ok"]
    (result.out_dir / "63-04" / "report.html").unlink()
    _, units = tiny_env.run(units="01,02,04,06", notebook=TINY_FAILING)
    assert reasons(units) == {"01": ("unchanged", "unchanged"), "02": ("previous failure", None),
                              "04": ("outputs missing", None), "06": ("new", None)}
    _, units = tiny_env.run(units="01,02,04,06", notebook=TINY_FAILING, force=True)
    assert reasons(units) == {c: ("forced", None) for c in ["01", "02", "04", "06"]}


def test_cli_force_and_params_files(tiny_env, capsys, monkeypatch):
    batch.shared_results(report.ReportParams(province_code="01", year=2024,
                                             data=str(tiny_env.survey)),
                         cache_dir=tiny_env.root / "cache", compute=fake_shared)
    monkeypatch.setenv(batch.CACHE_DIR_ENV, str(tiny_env.root / "cache"))
    files = [str(tiny_env.params_dir / "units" / "63" / f"{c}.yaml") for c in ["01", "79"]]
    command = ["reports", "--year", "2024", "--params", *files, "--data",
               str(tiny_env.survey), "--notebook", str(TINY), "--no-progress"]
    assert cli.main(command) == 0
    assert cli.main(command) == 0
    assert "2 unit(s) unchanged, skipped" in capsys.readouterr().out
    assert cli.main(command + ["--force"]) == 0
    manifest = json.loads((tiny_env.root / "reports" / "2024" / "manifest.json").read_text())
    assert [u["reason"] for u in manifest["units"]] == ["forced", "forced"]


# --------------------------------------------------------------------------------------------
# 4. Robustness: dead kernels, start-up failures, no orphans, Ctrl-C
# --------------------------------------------------------------------------------------------
def test_a_killed_kernel_fails_its_unit_and_the_batch_goes_on(tiny_env):
    notebook = notebook_with(tiny_env.root / "killer.ipynb",
                             'import os\nif province_code == "02":\n    os.kill(os.getpid(), 9)')
    before = {p.pid for p in kernel_processes()}
    result, units = tiny_env.run(notebook=notebook, jobs=1)  # one kernel: 02 kills it
    assert [r.status for r in result.results] == ["ok", "failed", "ok"]
    assert units["02"]["error"]["ename"] == "DeadKernelError"
    assert "02 (DeadKernelError" in result.summary()
    assert len(tiny_env.starts) == 2  # the dead kernel was replaced for unit 04
    assert {p.pid for p in kernel_processes()} <= before  # none left behind


def test_a_kernel_start_failure_is_retried(tiny_env):
    failures = []

    def flaky(*args, **kwargs):
        if len(failures) < 2:
            failures.append(1)
            raise RuntimeError("Address already in use (port 50123)")
        return batch.start_kernel(*args, **kwargs)

    result, _ = tiny_env.run(units="01", kernel_start=flaky)
    assert result.exit_status == 0 and len(failures) == 2


def test_a_kernel_that_never_starts_fails_its_units_after_bounded_attempts(tiny_env):
    attempts = []

    def broken(*args, **kwargs):
        attempts.append(1)
        raise TimeoutError("Kernel didn't respond in 60 seconds")

    before = {p.pid for p in kernel_processes()}
    result, units = tiny_env.run(units="01,02", jobs=1, kernel_start=broken)
    assert [r.status for r in result.results] == ["failed", "failed"]
    assert len(attempts) == 2 * batch.START_ATTEMPTS  # bounded: 3 attempts per unit
    assert units["01"]["error"]["ename"] == "KernelStartError"
    assert "did not start after 3 attempts" in units["01"]["error"]["evalue"]
    assert {p.pid for p in kernel_processes()} <= before


def test_no_kernel_outlives_a_batch(tiny_env):
    before = {p.pid for p in kernel_processes()}
    seen = set()
    original = batch.start_kernel

    def recording(*args, **kwargs):
        manager, client = original(*args, **kwargs)
        seen.add(manager.provisioner.pid)
        return manager, client

    result, _ = tiny_env.run(units="01,02,04,06", notebook=TINY_FAILING, kernel_start=recording)
    assert result.exit_status == 1  # with a failure in the middle
    assert len(seen) == 2 and gone(seen)  # two workers' kernels, both stopped
    assert {p.pid for p in kernel_processes()} <= before


def _cmdline(process) -> list[str]:
    """A child's command line; nothing for one that has just ended (a zombie or gone)."""
    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return []


def test_ctrl_c_stops_every_kernel(tiny_env):
    """SIGINT to a running `sipas reports`: it exits 130 and no kernel process is left."""
    notebook = notebook_with(tiny_env.root / "slow.ipynb", "import time\ntime.sleep(120)")
    cache = tiny_env.root / "cache"
    batch.shared_results(report.ReportParams(province_code="01", year=2024,
                                             data=str(tiny_env.survey)),
                         cache_dir=cache, compute=fake_shared)
    env = dict(os.environ, **{batch.CACHE_DIR_ENV: str(cache)})
    process = subprocess.Popen(
        [sys.executable, "-m", "sipas_analysis.cli", "reports", "--year", "2024", "--units",
         "01,02,04", "--jobs", "2", "--data", str(tiny_env.survey), "--notebook", str(notebook),
         "--no-progress"], cwd=tiny_env.root, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180   # kernels start slowly on a loaded machine
        kernels = []
        while time.monotonic() < deadline and len(kernels) < 2:
            time.sleep(0.5)
            kernels = [p for p in psutil.Process(process.pid).children(recursive=True)
                       if "ipykernel_launcher" in " ".join(_cmdline(p))]
        assert len(kernels) == 2, "the batch did not start its two kernels"
        time.sleep(3)  # both kernels are now inside the slow cell
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert gone([k.pid for k in kernels])


def test_a_kill_ends_a_wait_for_the_kernel_at_once():
    """Ctrl-C during a kernel's warm-up or reset: the waiting thread is freed within a second
    (not after the 60 s reply timeout) and the kernel is not started again."""
    import threading
    kernel = batch.WarmKernel()
    kernel.start()
    pid = kernel.pid
    failure = {}

    def wait():
        try:
            kernel.run_silently("import time\ntime.sleep(60)")
        except Exception as exc:  # noqa: BLE001
            failure["error"] = exc

    waiting = threading.Thread(target=wait)
    waiting.start()
    time.sleep(1.0)
    started = time.monotonic()
    kernel.kill()
    waiting.join(timeout=10)
    try:
        assert not waiting.is_alive() and time.monotonic() - started < 2.0
        assert "killed" in str(failure["error"])
        kernel.close()   # what the thread using the kernel does next
        with pytest.raises(batch.KernelStartError, match="the batch is stopping"):
            kernel.start()   # no new kernel behind the batch's back
        assert gone([pid])
    finally:
        kernel.close()


def test_kernels_start_while_the_shared_results_are_made(tiny_env):
    """The shared results and the kernels' start-up overlap: while the (slow) shared results
    are being computed, the batch's kernels are already running."""
    seen = []

    def slow_shared(survey, params, **kwargs):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(kernel_processes()) < 2:
            time.sleep(0.1)
        seen.append(len(kernel_processes()))
        return fake_shared(survey, params, **kwargs)

    result, _ = tiny_env.run(units="01,02,04", jobs=2, compute=slow_shared)
    assert seen == [2] and result.exit_status == 0


def test_a_failure_of_the_shared_results_stops_every_kernel(tiny_env):
    def broken(survey, params, **kwargs):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not kernel_processes():
            time.sleep(0.1)  # a kernel is up when the computation fails
        raise ValueError("the survey has no 2024 rows")

    before = {p.pid for p in kernel_processes()}
    with pytest.raises(ValueError, match="no 2024 rows"):
        tiny_env.run(units="01,02", jobs=2, compute=broken)
    time.sleep(0.5)
    assert {p.pid for p in kernel_processes()} <= before
    assert not (tiny_env.root / "reports" / "2024" / ".partial").exists()


def test_a_failing_page_export_fails_its_unit_and_the_batch_goes_on(tiny_env, monkeypatch):
    """Pages are exported in their own thread while the kernels go on: an export that fails
    is recorded for its unit (no half-made folder), and the other units are complete."""
    original = batch.notebook_to_html
    threads = set()

    def export(notebook, **kwargs):
        threads.add(threading.current_thread().name)
        if "63-02" in str(notebook):
            raise OSError("disk full")
        return original(notebook, **kwargs)

    monkeypatch.setattr(batch.unit, "notebook_to_html", export)
    result, units = tiny_env.run(units="01,02,04", jobs=2)
    assert {c: u["status"] for c, u in units.items()} == {"01": "ok", "02": "failed",
                                                           "04": "ok"}
    assert units["02"]["error"]["ename"] == "OSError"
    assert units["02"]["outputs"] == ["63-02/report.failed.ipynb"]  # no page, no workbook
    assert all(name.startswith("sipas-export") for name in threads)
    assert result.exit_status == 1


def test_the_same_inputs_give_the_same_notebook_and_workbook_bytes(tiny_env):
    """Run twice with --force, in both engines: every unit's executed notebook is
    byte-identical (no random cell ids, no run times). (The stand-in notebook writes its
    workbook with pandas; the report's workbook writer is held to the same in test_hostile.)"""
    for engine in ("warm", "papermill"):
        digests = []
        for _ in range(2):
            result, _ = tiny_env.run(units="01,02", force=True, engine=engine)
            assert result.exit_status == 0
            folder = result.index_path.parent
            digests.append({path.relative_to(folder).as_posix(): path.read_bytes()
                            for path in sorted(folder.glob("*/report.ipynb"))})
        assert digests[0].keys() == digests[1].keys() and digests[0]
        differ = [name for name in digests[0] if digests[0][name] != digests[1][name]]
        if differ:
            import difflib
            a = digests[0][differ[0]].decode("utf-8", "replace").splitlines()
            b = digests[1][differ[0]].decode("utf-8", "replace").splitlines()
            shown = [line for line in difflib.unified_diff(a, b, lineterm="", n=0)][:12]
            raise AssertionError(f"{engine}: {differ} differ:\n" + "\n".join(shown))
