"""One unit of the batch: its task (:class:`UnitTask`, plain values that travel to a thread or a
Dask worker) and its result (:class:`UnitResult`), the notebook's run (:func:`execute_unit`)
and export (:func:`finish_unit`), together :func:`run_unit`, the record of a failure
(:func:`describe_error`, :func:`failed_result`) and the unit's folder, built aside and moved
into place only when complete, with its record (:data:`UNIT_RECORD`: the inputs it was built
from) inside: the folder and its record change in one rename, so whatever is killed when, the
record describes the files beside it.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import time
import traceback as _traceback
from dataclasses import dataclass, field
from pathlib import Path

from .. import reference
from ..report import documents as _documents
from ..report.export import notebook_to_html
from .errors import BatchError
from .kernels import CELL_TIMEOUT, ENGINES, KERNEL_NAME, _register_warm_engine, thread_kernel

# What every unit folder holds when its report succeeded.
UNIT_OUTPUTS = ("report.ipynb", "report.html", "tables.xlsx")
FAILED_NOTEBOOK = "report.failed.ipynb"
# The unit's record, in its folder: the UnitResult of the run that made the files beside it
# (status, inputs, outputs, data hash, when). Written before the folder is moved into place.
UNIT_RECORD = "unit.json"
TRACEBACK_LINES = 12  # lines of the traceback kept in the manifest and the summary


@dataclass(frozen=True)
class UnitTask:
    """Everything one unit's run needs, as plain picklable values (paths as strings): it travels
    to a thread of this process or to a Dask worker; the data go by path, never by value."""

    notebook: str
    parameters: dict  # the notebook's parameters; tables_path is filled in by run_unit
    out_dir: str      # final folder OUT/YEAR/UNITSET-CODE
    work_dir: str     # private folder the unit is built in, moved onto out_dir when complete
    cwd: str          # the kernels' working directory (data/processed/ is resolved from it)
    kernel_name: str = KERNEL_NAME
    title: str = ""
    engine: str = "warm"            # "warm" (reused kernel) or "papermill" (a new kernel each)
    env: dict = field(default_factory=dict)  # environment of the kernel (cache folder, backend)
    timeout: float | None = CELL_TIMEOUT  # seconds a cell may run (None: no limit)
    reason: str = ""                # why the unit runs (see rerun_reason)
    key: str = ""                   # the unit's input key (see unit_inputs)
    inputs: dict = field(default_factory=dict)
    documents: tuple = ()           # also made: "pdf" (report.pdf), "docx" (report.docx)


@dataclass
class UnitResult:
    """How one unit went. ``error`` has ename, evalue, traceback (last lines), source (first
    lines of the failing cell), execution_count (the cell's "In [n]"), cell_index (papermill's:
    in the executed notebook, counting the injected-parameters cell) and notebook_cell (0-based
    index of that cell in the report notebook's file); the last three are None when the failure
    is not in a cell (kernel died, export failed). ``reason`` says why the unit ran (or
    "unchanged"), ``skipped`` is "unchanged" when it did not run, ``key``/``inputs`` are what
    the next run compares with."""

    unit_set: str
    province_code: str
    parameters: dict
    status: str                     # "ok" | "failed"
    seconds: float
    outputs: list[str] = field(default_factory=list)  # relative to the year folder
    error: dict | None = None
    reason: str = ""
    skipped: str | None = None
    key: str = ""
    inputs: dict = field(default_factory=dict)
    engine: str = ""
    # when today's run failed but an older good report was kept in place: that report's record
    # (its inputs, data hash and when it was made); the index page says so
    shown: dict | None = None

    def short_error(self) -> str:
        if not self.error:
            return ""
        cell = self.error.get("notebook_cell")
        where = f", cell {cell} of the notebook" if cell is not None else ""
        evalue = str(self.error.get("evalue", "")).splitlines()[0][:120] if \
            self.error.get("evalue") else ""
        return f"{self.error.get('ename')}: {evalue}{where}"


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def describe_error(exc: BaseException) -> dict:
    """The manifest's record of a failure: papermill's cell index, exception name and value and
    the end of the kernel's traceback; for any other exception its own traceback."""
    from papermill.exceptions import PapermillExecutionError
    if isinstance(exc, PapermillExecutionError):
        lines = _ANSI.sub("", "\n".join(exc.traceback or [])).splitlines()
        return {"cell_index": exc.cell_index, "execution_count": exc.exec_count,
                "ename": exc.ename, "evalue": exc.evalue,
                "source": "\n".join((exc.source or "").splitlines()[:5]),
                "traceback": "\n".join(lines[-TRACEBACK_LINES:])}
    lines = "".join(_traceback.format_exception(exc)).splitlines()
    return {"cell_index": None, "execution_count": None, "ename": type(exc).__name__,
            "evalue": str(exc), "source": "", "traceback": "\n".join(lines[-TRACEBACK_LINES:])}


def _execute(task: UnitTask, executed: Path, parameters: dict, *, kernel_start=None) -> None:
    """Run the notebook for one unit into ``executed`` with the task's engine."""
    import papermill
    if task.engine == "papermill":
        papermill.execute_notebook(
            task.notebook, str(executed), parameters=parameters, kernel_name=task.kernel_name,
            cwd=task.cwd, progress_bar=False, log_output=False, execution_timeout=task.timeout,
            # the kernel logs a TCP-without-encryption warning per start and an error when
            # shut down after a failure: noise in a batch whose manifest records the failures
            extra_arguments=["--log-level=CRITICAL"])
        return
    if task.engine != "warm":
        raise BatchError(f"unknown engine {task.engine!r}; choose one of {ENGINES}")
    from papermill.exceptions import PapermillExecutionError
    kernel = thread_kernel(task, start=kernel_start)
    kernel.prepare()
    try:
        # no save after every cell (papermill's default writes the growing notebook ~45 times);
        # the notebook is written once at the end, or with the error cell on a failure
        papermill.execute_notebook(
            task.notebook, str(executed), parameters=parameters, engine_name=_register_warm_engine(),
            kernel_name=task.kernel_name, progress_bar=False, log_output=False,
            request_save_on_cell_execute=False, warm_kernel=kernel, partial_path=str(executed),
            execution_timeout=task.timeout)
    except PapermillExecutionError:
        raise  # an exception in a cell: the kernel is fine, the next unit resets it
    except BaseException:
        kernel.close()  # died, timed out or was interrupted: the next unit gets a new kernel
        raise
    finally:
        kernel.units_run += 1


def run_unit(task: UnitTask, *, kernel_start=None) -> UnitResult:
    """Execute the notebook for one unit and export it; never raises for a failing notebook.

    Success: OUT_DIR holds report.ipynb, report.html, tables.xlsx and the unit's record
    (unit.json), all complete (built in WORK_DIR, then moved). Failure: the last good report,
    when there is one, stays as it was, with report.failed.ipynb (the executed notebook up to the
    error) beside it; else OUT_DIR holds only report.failed.ipynb and the record of the failure.
    No half-made report is ever linked or mailed.
    With the "warm" engine the notebook runs in this thread's warm kernel (:func:`thread_kernel`;
    ``kernel_start`` replaces :func:`start_kernel`, for tests). The two halves,
    :func:`execute_unit` and :func:`finish_unit`, may run in different threads (a local batch
    exports one unit's page while the kernel runs the next unit).
    """
    return finish_unit(execute_unit(task, kernel_start=kernel_start))


@dataclass
class ExecutedUnit:
    """A unit whose notebook has run (``error``: why it did not finish), not yet exported."""

    task: UnitTask
    parameters: dict
    error: Exception | None
    started: float


def execute_unit(task: UnitTask, *, kernel_start=None) -> ExecutedUnit:
    """The first half of :func:`run_unit`: run the notebook into the unit's work folder."""
    started = time.perf_counter()
    work = Path(task.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    parameters = dict(task.parameters, tables_path=str(work / "tables.xlsx"))
    try:
        _execute(task, work / "report.ipynb", parameters, kernel_start=kernel_start)
        error = None
    except Exception as exc:  # noqa: BLE001 - recorded by finish_unit
        error = exc
    _without_run_noise(work / "report.ipynb")
    return ExecutedUnit(task=task, parameters=parameters, error=error, started=started)


def _without_run_noise(executed: Path) -> None:
    """The same inputs give the same notebook bytes: papermill gives the cells it adds (the
    injected parameters, an error marker) random ids and stamps run times on the notebook and
    every cell; fixed ids replace the first, and the times (which say when, not what) go. A
    failure's status and exception stay."""
    import nbformat
    if not executed.exists():
        return
    notebook = nbformat.read(executed, as_version=4)
    notebook.metadata.get("papermill", {}).pop("start_time", None)
    notebook.metadata.get("papermill", {}).pop("end_time", None)
    notebook.metadata.get("papermill", {}).pop("duration", None)
    for position, cell in enumerate(notebook.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags:
            cell["id"] = "injected-parameters"
        elif "papermill-error-cell-tag" in tags:
            cell["id"] = f"papermill-error-cell-{position}"
        cell.get("metadata", {}).pop("execution", None)
        for key in ("start_time", "end_time", "duration"):
            cell.get("metadata", {}).get("papermill", {}).pop(key, None)
    nbformat.write(notebook, executed)


def finish_unit(unit: ExecutedUnit) -> UnitResult:
    """The second half of :func:`run_unit`: the HTML page and the unit's record, then the unit's
    folder moved into place; or, after a failure, the failed notebook kept: beside the last
    good report when there is one (which stays in place, its record unchanged), else alone."""
    task, parameters = unit.task, unit.parameters
    out_dir, work = Path(task.out_dir), Path(task.work_dir)
    executed = work / "report.ipynb"
    code = parameters["province_code"]
    unit_set = parameters.get("unit_set") or reference.default_unit_set(parameters["year"])

    def result(status, outputs, error=None, shown=None) -> UnitResult:
        return UnitResult(
            unit_set=unit_set, province_code=code,
            parameters=parameters | {"tables_path": "tables.xlsx"}, status=status,
            seconds=time.perf_counter() - unit.started, outputs=outputs, error=error,
            reason=task.reason, key=task.key, inputs=task.inputs, engine=task.engine,
            shown=shown)

    try:
        if unit.error is not None:
            raise unit.error
        if not (work / "tables.xlsx").exists():
            raise FileNotFoundError("the notebook did not write its tables to tables_path")
        lang = parameters.get("lang", "vi")
        page = notebook_to_html(executed, lang=lang, title=task.title)
        (work / "report.html").write_text(page, encoding="utf-8")
        # the PDF and Word documents, when asked for, are outputs like the others: a failure
        # fails the unit and keeps the last good report
        made = _documents.write_documents(
            work, task.documents, year=parameters.get("year"), lang=lang, title=task.title,
            synthetic=bool(task.documents) and _documents.is_synthetic(page, lang))
        done = result("ok", sorted(f"{out_dir.name}/{name}"
                                   for name in UNIT_OUTPUTS + tuple(made)))
        write_record(work, done)
        _move_into_place(work, out_dir)
        return done
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, the batch goes on
        error = describe_error(exc)
        error["notebook_cell"] = _source_cell(executed, Path(task.notebook), error["cell_index"])
    good = read_record(out_dir) or {}
    kept = good.get("outputs") or []
    if good.get("status") == "ok" and kept and \
            all((out_dir.parent / output).is_file() for output in kept):
        # the last good report stays; the failed notebook goes beside it (whole or not at all)
        if executed.exists():
            os.replace(executed, out_dir / FAILED_NOTEBOOK)
        else:  # no notebook today (the kernel did not start): an older failure's goes
            (out_dir / FAILED_NOTEBOOK).unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
        shown = {k: good.get(k) for k in ("created", "data_hash", "inputs", "reason")}
        outputs = sorted(set(good["outputs"]) | ({f"{out_dir.name}/{FAILED_NOTEBOOK}"} if
                                                 (out_dir / FAILED_NOTEBOOK).exists() else set()))
        return result("failed", outputs, error, shown=shown)
    failed = result("failed", [f"{out_dir.name}/{FAILED_NOTEBOOK}"] if executed.exists() else
                    [], error)
    _keep_failed(work, executed, out_dir, failed)
    return failed


def write_record(folder: Path, result: UnitResult) -> None:
    """Write the unit's record (:data:`UNIT_RECORD`) into ``folder``, atomically."""
    from dataclasses import asdict

    from ..files import atomic_write
    record = asdict(result) | {
        "seconds": round(result.seconds, 3), "data_hash": result.inputs.get("data"),
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}
    atomic_write(folder / UNIT_RECORD, lambda tmp: Path(tmp).write_text(
        json.dumps(record, indent=1, ensure_ascii=False, default=str), encoding="utf-8"))


def read_record(folder: Path) -> dict | None:
    """The record in a unit's folder, or None when there is none (or it cannot be read)."""
    try:
        record = json.loads((Path(folder) / UNIT_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _keep_failed(work: Path, executed: Path, out_dir: Path, result: UnitResult) -> None:
    """Replace the unit's folder by one holding only the failed notebook (if any) and the
    record of the failure."""
    failed = work.with_name(work.name + ".failed")
    shutil.rmtree(failed, ignore_errors=True)
    failed.mkdir(parents=True)
    if executed.exists():
        shutil.move(executed, failed / FAILED_NOTEBOOK)
    shutil.rmtree(work, ignore_errors=True)
    write_record(failed, result)
    _move_into_place(failed, out_dir)


def failed_result(task: UnitTask, exc: BaseException, *, seconds: float = 0.0) -> UnitResult:
    """The record of a unit whose run never returned (its Dask worker died, say)."""
    parameters = dict(task.parameters)
    unit_set = parameters.get("unit_set") or reference.default_unit_set(parameters["year"])
    error = describe_error(exc) | {"notebook_cell": None}
    return UnitResult(unit_set=unit_set, province_code=parameters["province_code"],
                      parameters=parameters | {"tables_path": "tables.xlsx"}, status="failed",
                      seconds=seconds, outputs=[], error=error, reason=task.reason,
                      key=task.key, inputs=task.inputs, engine=task.engine)


def _source_cell(executed: Path, notebook: Path, cell_index) -> int | None:
    """Index, in the notebook file the user edits, of the cell papermill reports as failing
    (papermill counts its injected-parameters cell; cells keep their ids)."""
    if cell_index is None or not executed.exists():
        return None
    import nbformat
    try:
        ran = [c for c in nbformat.read(executed, as_version=4).cells
               if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
        ids = [c.get("id") for c in nbformat.read(notebook, as_version=4).cells]
        return ids.index(ran[cell_index].get("id"))
    except (ValueError, IndexError, OSError):
        return None


def _move_into_place(source: Path, target: Path) -> None:
    """Replace folder ``target`` by ``source`` (same file system: two renames)."""
    old = source.with_name(source.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        os.replace(target, old)
    os.replace(source, target)
    shutil.rmtree(old, ignore_errors=True)
