"""Run the province report notebook for many units: papermill, HTML and Excel export, the year's
index page and manifest, the params files, and the on-disk cache of what every unit shares.

The flow of ``sipas reports`` (:func:`run_batch`):

1. resolve the units (all units of the year's unit set, or a validated list);
2. decide which units must run (incremental runs): a unit whose inputs — its parameters and
   params file, the data file, the notebook's cells, the package source (:func:`unit_inputs`) —
   equal those recorded in the previous manifest, and whose outputs are all there, is skipped;
   the others run, each with the reason (:func:`rerun_reason`);
3. compute the shared national results ONCE (:func:`shared_results`: indices, models, bootstrap,
   the breakdowns and province-only regressions of every unit), cached on disk under a key made
   of the data file's hash, the year, the unit set, the package version and source, and the
   report settings, so that the notebooks only read them; meanwhile the worker threads start
   their kernels;
4. execute ``notebooks/province_report.ipynb`` for each unit with papermill, ``jobs`` at a time:
   each worker thread keeps one warm kernel (:class:`WarmKernel`, reset between units), or, with
   ``engine="papermill"``, papermill starts a new kernel per unit; a unit's HTML page is made in
   an export thread while its kernel goes on with the next unit (:func:`execute_unit`, then
   :func:`finish_unit`); with ``scheduler`` the units run on a Dask distributed cluster instead
   (:func:`_run_dask`, :func:`run_unit` per task); each unit is built in a private folder that
   is moved into place only when its notebook, HTML page and Excel workbook are complete;
5. write ``OUT/YEAR/index.html`` (all units ranked, linking to each page) and
   ``OUT/YEAR/manifest.json`` (per unit: parameters, status, reason or "skipped", seconds,
   outputs, error, inputs, versions).

A unit that fails (an exception in a cell, a kernel that dies or does not start) is recorded
(cell, exception, short traceback) and the others go on; no kernel outlives the batch, whether
it ends normally, with failures, or on Ctrl-C. Data reach the kernels by path (a parquet file
for the demo), never by pickling frames, so :func:`run_unit` runs as well on a Dask worker.

Kernel: papermill runs the notebook with the Jupyter kernel named :data:`KERNEL_NAME`
(``python3``). :func:`check_kernel` makes sure that name resolves to the Python of the running
environment (ipykernel's ``python3`` spec says ``python``, which jupyter_client maps to
``sys.executable``); a ``python3`` spec in the user's own Jupyter folder pointing at another
interpreter would otherwise run the reports without this package.
"""
from __future__ import annotations

import atexit
import base64
import contextlib
import copy
import dataclasses
import datetime as _dt
import hashlib
import html
import json
import os
import pickle
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback as _traceback
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version as _version
from pathlib import Path

import pandas as pd

from . import language, reference, report
from .files import atomic_write as _atomic_write, file_lock as _file_lock
from .files import file_hash  # noqa: F401
from .report.export import (PAGE_CSS, _html_exporter, _last_heading, _page,  # noqa: F401
                            index_page, index_table, notebook_to_html)
from .report.kinds import DEFAULT_NOTEBOOK
from .report.params import (DEFAULT_PARAMETERS, PARAMETER_TYPES, PARAMS_DIR,  # noqa: F401
                            UNIT_ONLY_PARAMETERS, load_params_file, params_files, stale_params,
                            write_params)
from .report.params import check_values as check_parameters  # noqa: F401
from .report.shared import (CACHE_DIR_ENV, data_file_hash, data_path, demo_data_path,  # noqa: F401
                            load_report_data, package_fingerprint, processed_dir,
                            shared_cache_path, shared_key, shared_results)
from .report.shared import cache_folder as _cache_dir

KERNEL_NAME = "python3"
PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent

# What every unit folder holds when its report succeeded.
UNIT_OUTPUTS = ("report.ipynb", "report.html", "tables.xlsx")
FAILED_NOTEBOOK = "report.failed.ipynb"
TRACEBACK_LINES = 12  # lines of the traceback kept in the manifest and the summary
_UMASK = os.umask(0o022)  # read once: files made by mkstemp are 0600, ours follow the umask
os.umask(_UMASK)


class BatchError(ValueError):
    """A mistake the user can fix (unknown unit, missing notebook, busy output folder)."""


# ============================================================================================
# Data and the shared-results cache
# ============================================================================================
# ============================================================================================
# Units and parameters
# ============================================================================================
def resolve_units(year: int, units="all", *, unit_set: str | None = None) -> tuple[str, list[str]]:
    """The unit set and the unit codes a batch runs: ``"all"`` units of the set, or a list
    (``"01,79"`` or ``["01", "79"]``; names such as "Hà Nội" are accepted too).

    Raises reference.UnknownProvinceError naming every unknown entry and listing the valid codes.
    """
    unit_set = unit_set or reference.default_unit_set(year)
    table = reference.provinces(unit_set)
    valid = list(table["province_code"])
    if isinstance(units, str):
        if units.strip().lower() == "all":
            return unit_set, valid
        units = [u for u in (part.strip() for part in units.split(",")) if u]
    if not units:
        raise BatchError("no units given: use 'all' or codes such as 01,79")
    codes, unknown = [], []
    for value in units:
        try:
            code = reference.normalise_province(value, unit_set=unit_set)
        except (ValueError, TypeError):
            unknown.append(str(value))
            continue
        if code not in codes:
            codes.append(code)
    if unknown:
        listing = ", ".join(f"{c} {n}" for c, n in zip(table["province_code"], table["name_vi"]))
        raise reference.UnknownProvinceError(
            f"unknown unit(s) {', '.join(map(repr, unknown))} in the {unit_set}-unit set "
            f"(year {year}); valid codes: {listing}")
    return unit_set, codes


# ============================================================================================
# Warm kernels: one Jupyter kernel per worker, reused from unit to unit
# ============================================================================================
# Starting a kernel and importing pandas, statsmodels, matplotlib and this package costs 3-4 s,
# more than running the report itself. A worker therefore keeps one kernel (a WarmKernel) and
# runs unit after unit in it through papermill (same parameter injection, same error cells),
# resetting the kernel between units so that each unit sees what a fresh kernel would: an empty
# namespace, "In [1]" again, no open figure, matplotlib's rcParams, the warning filters and
# numpy's print and error options as they were right after the imports. tests/test_batch_fast.py
# proves it: every output equals that of a fresh papermill run, and A, B, A gives A twice.
ENGINES = ("warm", "papermill")
START_ATTEMPTS = 3      # a kernel that fails to start (port taken, slow start) is retried
START_TIMEOUT = 60.0    # seconds a kernel may take to answer its first message
RESET_TIMEOUT = 60.0
POLL_SECONDS = 0.2      # how often a wait for a kernel's reply checks that it is still alive
# Arguments of every kernel we start: no IPython history file (nbclient does the same), and
# none of the start-up warnings (TCP without encryption) in a batch whose manifest has the errors.
KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:", "--log-level=CRITICAL"]
_WARMUP_CODE = "import sipas_analysis.batch as _sipas_batch\n_sipas_batch.kernel_warmup()"
_RESET_CODE = "import sipas_analysis.batch as _sipas_batch\n_sipas_batch.kernel_reset()"
_KERNEL_STATE: dict = {}  # inside a kernel: the state kernel_reset restores


class KernelStartError(RuntimeError):
    """A kernel did not start after START_ATTEMPTS attempts."""


def kernel_warmup() -> None:
    """Run once inside a new warm kernel: import what every report imports, draw one figure so
    that fonts and the SVG backend are loaded, record the state that :func:`kernel_reset`
    restores, and freeze what is there so that the garbage collector stops scanning it."""
    import gc
    import warnings

    import matplotlib
    import matplotlib.pyplot as plt
    import numpy as np
    import xlsxwriter  # noqa: F401 - the workbook of every unit

    import sipas_analysis  # noqa: F401 - the package and its report, plots and models
    from . import plots
    figure, ax = plots.new_figure((2, 1))
    ax.set_title("Chỉ số hài lòng — Hà Nội, Thừa Thiên Huế")
    plots.render(figure)
    # pyplot loads its backend (the inline one, which then configures IPython and matplotlib)
    # at the first figure: do it now, closed before the cell ends, so nothing is displayed
    plt.figure()
    plt.close("all")
    _KERNEL_STATE.update(
        rc={k: v for k, v in matplotlib.rcParams.items() if k != "backend"},
        warnings=list(warnings.filters), np_err=np.geterr(), np_print=np.get_printoptions())
    # IPython's reset between units runs a full collection: with the imported modules frozen
    # it scans only what the last unit made (0.25 s less a unit)
    gc.collect()
    gc.freeze()


def kernel_reset() -> None:
    """Run inside a warm kernel between two units: what one unit did is gone for the next."""
    import warnings

    from IPython import get_ipython
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
    shell = get_ipython()
    shell.reset(new_session=False)   # = %reset -f: user namespace, In/Out, _, __, ___
    shell.execution_count = 1        # the next cell is "In [1]", as in a fresh kernel
    if not _KERNEL_STATE:
        return
    import matplotlib
    import numpy as np
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated rc keys warn when set
        for key, value in _KERNEL_STATE["rc"].items():
            if matplotlib.rcParams.get(key) != value:
                matplotlib.rcParams[key] = value
    warnings.filters[:] = _KERNEL_STATE["warnings"]
    warnings._filters_mutated()  # forget "already shown once" records: warnings show again
    np.seterr(**_KERNEL_STATE["np_err"])
    np.set_printoptions(**_KERNEL_STATE["np_print"])


def start_kernel(kernel_name: str, *, cwd=None, env=None, timeout: float = START_TIMEOUT):
    """Start a kernel and connect a client: returns (kernel manager, client), ready to run code.
    The kernel is shut down again when the client cannot reach it within ``timeout`` s."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    manager = AsyncKernelManager(kernel_name=kernel_name)
    run_sync(manager.start_kernel)(cwd=cwd, env=env, extra_arguments=list(KERNEL_ARGUMENTS))
    client = manager.client()
    try:
        client.start_channels()
        run_sync(client.wait_for_ready)(timeout=timeout)
    except BaseException:
        _stop_kernel(manager, client)
        raise
    client.allow_stdin = False
    return manager, client


def _stop_kernel(manager, client) -> None:
    """Stop a kernel for good (kill it: its state is worthless) and free its files and sockets."""
    from jupyter_core.utils import run_sync
    with contextlib.suppress(Exception):
        client.stop_channels()
    with contextlib.suppress(Exception):
        run_sync(manager.shutdown_kernel)(now=True)
    with contextlib.suppress(Exception):
        run_sync(manager.cleanup_resources)()


_LIVE_KERNELS: set = set()   # every WarmKernel of this process with a running kernel
_LIVE_LOCK = threading.Lock()


class WarmKernel:
    """A Jupyter kernel kept running from one unit to the next, used by one thread at a time.

    ``start(kernel_name, cwd=, env=, timeout=)`` returns (manager, client) (default
    :func:`start_kernel`; tests inject failures); a start that fails is retried ``attempts`` times
    in all. The kernel inherits this process's environment plus ``env``.
    """

    def __init__(self, kernel_name: str = KERNEL_NAME, *, cwd=None, env=None, start=None,
                 attempts: int = START_ATTEMPTS, timeout: float = START_TIMEOUT):
        self.kernel_name, self.cwd, self.env = kernel_name, cwd, dict(env or {})
        self.signature = (kernel_name, cwd, tuple(sorted(self.env.items())))
        self._start = start or start_kernel
        self.attempts, self.timeout = attempts, timeout
        self.manager = self.client = None
        self.pid: int | None = None
        self.units_run = 0          # units run in the current kernel process
        self.kernels_started = 0    # kernel processes started (a dead kernel is replaced)
        self.start_attempts = 0
        self._killed = False
        self._stopping = False      # kill() was called: no more starts until the next prepare()
        self.start_error: Exception | None = None  # a failed early start, for the first unit

    @property
    def running(self) -> bool:
        return self.manager is not None

    def start(self) -> None:
        """Start the kernel (retrying) and warm it up; a no-op when it is running."""
        if self.running:
            return
        errors = []
        cwd = self.cwd if self.cwd and Path(self.cwd).is_dir() else None
        env = dict(os.environ, **self.env)
        for attempt in range(1, self.attempts + 1):
            if self._stopping:
                raise KernelStartError("the batch is stopping: no kernel is started")
            self.start_attempts += 1
            try:
                self.manager, self.client = self._start(self.kernel_name, cwd=cwd, env=env,
                                                        timeout=self.timeout)
                self.pid = getattr(getattr(self.manager, "provisioner", None), "pid", None)
                with _LIVE_LOCK:
                    _LIVE_KERNELS.add(self)
                self.kernels_started += 1
                self.units_run = 0
                self.run_silently(_WARMUP_CODE, timeout=self.timeout)
                return
            except Exception as exc:  # noqa: BLE001 - any start failure is retried, then named
                errors.append(f"attempt {attempt}: {type(exc).__name__}: {exc}")
                self.close()
                if self._stopping:
                    break
                if attempt < self.attempts:
                    time.sleep(0.5 * attempt)
        raise KernelStartError(f"the Jupyter kernel {self.kernel_name!r} did not start after "
                               f"{len(errors)} attempts ({'; '.join(errors)})")

    def run_silently(self, code: str, *, timeout: float = RESET_TIMEOUT) -> None:
        """Run ``code`` without a trace (no execution count, no output); raise if it fails, if
        no reply comes within ``timeout`` s, or as soon as the kernel dies or is killed (a
        Ctrl-C during a kernel's warm-up must not wait for the timeout)."""
        import queue

        from jupyter_core.utils import run_sync
        msg_id = self.client.execute(code, silent=True, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + timeout
        while True:
            if self._killed:
                raise RuntimeError("the kernel was killed")
            try:
                reply = run_sync(self.client.get_shell_msg)(timeout=POLL_SECONDS)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the kernel did not answer within {timeout:g} s") from None
                if not self.is_alive():
                    raise RuntimeError("the kernel died") from None
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
        content = reply["content"]
        if content["status"] != "ok":
            raise RuntimeError(f"{content.get('ename')}: {content.get('evalue')}")

    def prepare(self) -> None:
        """Make the kernel ready for a unit: started, and reset if it has run one before; a
        kernel that cannot be reset (it died between units) is replaced."""
        self._stopping = False
        if self.start_error is not None:  # the early start failed (after its own attempts)
            error, self.start_error = self.start_error, None
            raise error
        if self.running and (self._killed or not self.is_alive()):
            self.close()  # killed between units (end of a Dask batch, out of memory)
        self.start()
        if self.units_run == 0:
            return
        try:
            self.run_silently(_RESET_CODE)
        except Exception:  # noqa: BLE001 - dead or wedged: a new kernel is the cure
            self.close()
            self.start()

    def is_alive(self) -> bool:
        from jupyter_core.utils import run_sync
        if not self.running:
            return False
        try:
            return bool(run_sync(self.manager.is_alive)())
        except Exception:  # noqa: BLE001
            return False

    def close(self) -> None:
        """Stop the kernel (from the thread that uses it)."""
        with _LIVE_LOCK:
            _LIVE_KERNELS.discard(self)
        if self.manager is not None:
            _stop_kernel(self.manager, self.client)
        self.manager = self.client = None
        self.pid = None
        self._killed = False

    def kill(self) -> None:
        """Kill the kernel process from any thread (Ctrl-C, end of a Dask batch); the thread
        that uses it sees a dead kernel and the next :meth:`prepare` starts a new one."""
        with _LIVE_LOCK:
            _LIVE_KERNELS.discard(self)
        self._killed = self._stopping = True
        manager, pid = self.manager, self.pid
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if manager is not None:
            with contextlib.suppress(Exception):
                manager.cleanup_connection_file()


def shutdown_kernels() -> int:
    """Kill every warm kernel of this process (any thread); returns how many there were. Run at
    the end of a Dask batch on each worker, and on Ctrl-C."""
    with _LIVE_LOCK:
        kernels = list(_LIVE_KERNELS)
    for kernel in kernels:
        kernel.kill()
    return len(kernels)


atexit.register(shutdown_kernels)

_THREAD = threading.local()


def thread_kernel(task: "UnitTask", *, start=None) -> WarmKernel:
    """This thread's warm kernel for ``task`` (kernel name, working directory and environment
    must match; otherwise the old kernel is closed and a new one made)."""
    signature = (task.kernel_name, task.cwd, tuple(sorted(task.env.items())))
    kernel = getattr(_THREAD, "kernel", None)
    if kernel is not None and kernel.signature != signature:
        kernel.close()
        kernel = None
    if kernel is None:
        kernel = WarmKernel(task.kernel_name, cwd=task.cwd, env=task.env, start=start)
        _THREAD.kernel = kernel
    return kernel


def close_thread_kernel() -> None:
    kernel = getattr(_THREAD, "kernel", None)
    if kernel is not None:
        kernel.close()
        _THREAD.kernel = None


WARM_ENGINE = "sipas-warm"


@lru_cache(maxsize=1)
def _register_warm_engine() -> str:
    """Register with papermill an engine that runs the notebook in a given warm kernel: papermill
    still parameterises, records cell metadata and marks the failing cell, exactly as usual."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import Engine, papermill_engines
    from papermill.log import logger

    class WarmEngine(Engine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None,
                                     warm_kernel=None, partial_path=None, **kwargs):
            client = PapermillNotebookClient(
                nb_man, km=warm_kernel.manager, timeout=execution_timeout,
                startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
                log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
            client.kc = warm_kernel.client  # reuse the running client: no kernel start here
            try:
                return client.execute()
            except BaseException:
                # the kernel died or timed out: keep what ran, for the failed notebook
                if partial_path:
                    with contextlib.suppress(Exception):
                        import nbformat
                        nbformat.write(nb_man.nb, partial_path)
                raise

    papermill_engines.register(WARM_ENGINE, WarmEngine)
    return WARM_ENGINE


# ============================================================================================
# One unit
# ============================================================================================
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
    timeout: float | None = None    # seconds a cell may run (None: no limit)
    reason: str = ""                # why the unit runs (see plan_units)
    key: str = ""                   # the unit's input key (see unit_inputs)
    inputs: dict = field(default_factory=dict)


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
            cwd=task.cwd, progress_bar=False, log_output=False,
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

    Success: OUT_DIR holds report.ipynb, report.html and tables.xlsx, all complete (built in
    WORK_DIR, then moved). Failure: OUT_DIR holds only report.failed.ipynb (the executed notebook
    up to the error, when there is one), so no half-made report is ever linked or mailed.
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
    return ExecutedUnit(task=task, parameters=parameters, error=error, started=started)


def finish_unit(unit: ExecutedUnit) -> UnitResult:
    """The second half of :func:`run_unit`: the HTML page, then the unit's folder moved into
    place; or, after a failure, only the failed notebook kept."""
    task, parameters = unit.task, unit.parameters
    out_dir, work = Path(task.out_dir), Path(task.work_dir)
    executed = work / "report.ipynb"
    code = parameters["province_code"]
    unit_set = parameters.get("unit_set") or reference.default_unit_set(parameters["year"])
    try:
        if unit.error is not None:
            raise unit.error
        if not (work / "tables.xlsx").exists():
            raise FileNotFoundError("the notebook did not write its tables to tables_path")
        (work / "report.html").write_text(
            notebook_to_html(executed, lang=parameters.get("lang", "vi"), title=task.title),
            encoding="utf-8")
        _move_into_place(work, out_dir)
        status, error = "ok", None
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, the batch goes on
        status, error = "failed", describe_error(exc)
        error["notebook_cell"] = _source_cell(executed, Path(task.notebook), error["cell_index"])
        _keep_failed(work, executed, out_dir)
    outputs = sorted(f"{out_dir.name}/{p.name}" for p in out_dir.iterdir()) \
        if out_dir.exists() else []
    return UnitResult(unit_set=unit_set, province_code=code, parameters=parameters | {
        "tables_path": "tables.xlsx"}, status=status, seconds=time.perf_counter() - unit.started,
        outputs=outputs, error=error, reason=task.reason, key=task.key, inputs=task.inputs,
        engine=task.engine)


def _keep_failed(work: Path, executed: Path, out_dir: Path) -> None:
    """Replace the unit's folder by one holding only the failed notebook (if any)."""
    failed = work.with_name(work.name + ".failed")
    shutil.rmtree(failed, ignore_errors=True)
    failed.mkdir(parents=True)
    if executed.exists():
        shutil.move(executed, failed / FAILED_NOTEBOOK)
    shutil.rmtree(work, ignore_errors=True)
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

# ============================================================================================
# HTML
# ============================================================================================
# ============================================================================================
# The batch
# ============================================================================================
def versions() -> dict[str, str]:
    """Versions recorded in the manifest."""
    out = {"python": platform.python_version()}
    for name, dist in [("sipas_analysis", "sipas-analysis"), ("pandas", "pandas"),
                       ("numpy", "numpy"), ("statsmodels", "statsmodels"),
                       ("papermill", "papermill"), ("nbconvert", "nbconvert")]:
        out[name] = _package_version(dist)
    return out


def _package_version(dist: str) -> str:
    try:
        return _version(dist)
    except PackageNotFoundError:
        return "unknown"


def check_kernel(kernel_name: str = KERNEL_NAME) -> str:
    """The Python executable the kernel ``kernel_name`` runs. Raises BatchError when it is not
    the Python of this environment (same ``sys.prefix``): the reports need this package."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise BatchError(f"no Jupyter kernel named {kernel_name!r}; install one with: "
                         f"{sys.executable} -m ipykernel install --sys-prefix") from None
    executable = spec.argv[0]
    if executable in {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"}:
        return sys.executable  # jupyter_client runs these with sys.executable
    try:
        prefix = subprocess.run([executable, "-c", "import sys; print(sys.prefix)"],
                                capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        prefix = ""
    if os.path.realpath(prefix) != os.path.realpath(sys.prefix):
        raise BatchError(f"the Jupyter kernel {kernel_name!r} ({spec.resource_dir}) runs "
                         f"{executable}, not this environment's Python ({sys.executable}); "
                         f"reinstall it with: {sys.executable} -m ipykernel install --sys-prefix")
    return executable


@dataclass
class BatchResult:
    """What a batch did: one UnitResult per unit (in unit order) and the files it wrote."""

    year: int
    unit_set: str
    results: list[UnitResult]
    out_dir: Path
    index_path: Path
    manifest_path: Path
    seconds: float
    shared_seconds: float

    @property
    def failed(self) -> list[UnitResult]:
        return [r for r in self.results if r.status != "ok"]

    @property
    def exit_status(self) -> int:
        return 1 if self.failed else 0

    def summary(self) -> str:
        """'61 ok, 2 failed: 01 (ValueError: boom, cell 5), 79 (…)'."""
        line = f"{len(self.results) - len(self.failed)} ok, {len(self.failed)} failed"
        if self.failed:
            line += ": " + ", ".join(f"{r.province_code} ({r.short_error()})" for r in self.failed)
        return line


@contextlib.contextmanager
def _environment(**values):
    """Set environment variables for the kernels started inside the block (they inherit the
    environment of this process), restoring the previous values after."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --------------------------------------------------------------------------------------------
# Incremental runs: what each unit's report depends on
# --------------------------------------------------------------------------------------------
# A unit's report is a function of its parameters (and its params file), the data, the notebook
# and the package; each is fingerprinted and the four fingerprints are the unit's inputs. Every
# report shows national ranks, so a change of data, notebook or package re-runs all units.
INPUT_REASONS = (("params", "params changed"), ("data", "data changed"),
                 ("notebook", "notebook changed"), ("package", "package changed"))


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str,
                                     ensure_ascii=False).encode()).hexdigest()[:16]


def notebook_fingerprint(path) -> str:
    """sha256 (16 hex digits) of what a notebook runs: each cell's type, source and tags, and
    its kernel. Outputs are left out, so re-executing the notebook in place (new outputs) is
    not a change, while any edit of a cell is."""
    # Plain JSON (nbformat 4): importing nbformat costs 1-2 s (its schema validator), which a
    # batch with nothing to do should not pay.
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    if nb.get("nbformat") != 4:
        raise BatchError(f"{path}: not a version 4 notebook (nbformat {nb.get('nbformat')!r})")

    def joined(source) -> str:
        return "".join(source) if isinstance(source, list) else source

    cells = [(c["cell_type"], joined(c["source"]), sorted(c.get("metadata", {}).get("tags", [])))
             for c in nb["cells"]]
    return _digest([nb.get("metadata", {}).get("kernelspec", {}).get("name"), cells])


def unit_inputs(parameters: dict, *, params_text: str, data_hash: str, notebook_hash: str,
                package: str) -> dict:
    """The fingerprints a unit's report depends on: ``params`` (its parameters, without where
    the workbook goes, and the text of its params file), ``data``, ``notebook``, ``package``."""
    shown = {k: v for k, v in parameters.items() if k != "tables_path"}
    return {"params": _digest([shown, params_text]), "data": data_hash,
            "notebook": notebook_hash, "package": package}


def rerun_reason(previous: dict | None, inputs: dict, *, year_dir: Path,
                 force: bool = False) -> str | None:
    """Why a unit must run, given its record in the previous manifest, or None when its report
    is up to date: "forced", "new", "previous failure", "params changed", "data changed",
    "notebook changed", "package changed" (several joined by ", ") or "outputs missing"."""
    if force:
        return "forced"
    if not previous:
        return "new"
    if previous.get("status") != "ok":
        return "previous failure"
    old = previous.get("inputs") or {}
    changed = [label for name, label in INPUT_REASONS if old.get(name) != inputs[name]]
    if changed:
        return ", ".join(changed)
    outputs = previous.get("outputs") or []
    if not outputs or not all((year_dir / output).is_file() for output in outputs):
        return "outputs missing"
    return None


def _previous_manifest(year_dir: Path) -> dict:
    try:
        return json.loads((year_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _params_file(code: str, unit_set: str, *, params_files: dict | None,
                 params_dir) -> Path | None:
    """The params file of a unit: given (--params), else params/units/<set>/<code>.yaml."""
    if params_files and code in params_files:
        return Path(params_files[code])
    path = Path(params_dir if params_dir is not None else PARAMS_DIR) / "units" / unit_set / \
        f"{code}.yaml"
    return path if path.is_file() else None


def _result_from_manifest(record: dict) -> UnitResult:
    names = {f.name for f in dataclasses.fields(UnitResult)}
    values = {k: v for k, v in record.items() if k in names}
    return UnitResult(**values | {"seconds": 0.0, "skipped": "unchanged", "reason": "unchanged"})


# --------------------------------------------------------------------------------------------
# Where units run: threads of this process (each with its warm kernel) or a Dask cluster
# --------------------------------------------------------------------------------------------
def _run_local(tasks: list[UnitTask], *, jobs: int, on_result, kernel_start=None,
               before=None) -> None:
    """Run ``tasks`` on ``jobs`` threads, each keeping one warm kernel, calling
    ``on_result(UnitResult)`` in this thread as units finish. ``before()`` runs in this thread
    first, while the threads start their kernels (so a batch computes or loads the shared
    results and starts its kernels at the same time); the units start when it has returned.
    On any exception or interruption (Ctrl-C) every kernel is killed before the exception goes
    on: no kernel outlives the batch."""
    import queue
    from concurrent.futures import ThreadPoolExecutor
    todo: queue.Queue = queue.Queue()
    for task in tasks:
        todo.put(task)
    done: queue.Queue = queue.Queue()
    stop, ready = threading.Event(), threading.Event()
    # Pages are exported in one more thread: a kernel starts its next unit meanwhile.
    exporter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sipas-export")
    exports: list = []  # their futures

    def finish(unit: ExecutedUnit) -> None:
        try:
            done.put(finish_unit(unit))
        except BaseException as exc:  # noqa: BLE001 - finish_unit itself failed
            done.put(failed_result(unit.task, exc))

    def work():
        try:
            if tasks[0].engine == "warm":
                kernel = thread_kernel(tasks[0], start=kernel_start)
                try:
                    kernel.start()
                except Exception as exc:  # noqa: BLE001 - the thread's first unit reports it
                    kernel.start_error = exc
            ready.wait()
            while not stop.is_set():
                try:
                    task = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    unit = execute_unit(task, kernel_start=kernel_start)
                except BaseException as exc:  # noqa: BLE001 - execute_unit itself failed
                    done.put(failed_result(task, exc))
                    continue
                exports.append(exporter.submit(finish, unit))
        finally:
            close_thread_kernel()

    threads = [threading.Thread(target=work, name=f"sipas-unit-{i}", daemon=True)
               for i in range(min(jobs, len(tasks)))]
    for thread in threads:
        thread.start()
    try:
        if before is not None:
            before()
        # papermill's import (nbformat's schema validator compiles grammars: ~2 s), here while
        # the kernels may still be starting; not in the unit threads while ``before`` computes
        # (they would hold the interpreter lock: the shared fits took 10 s instead of 6)
        with contextlib.suppress(Exception):  # a real problem shows in the first unit
            _register_warm_engine()
        ready.set()
        for _ in tasks:
            while True:
                try:
                    result = done.get(timeout=0.2)
                    break
                except queue.Empty:
                    if not any(t.is_alive() for t in threads) and done.empty() and \
                            all(f.done() for f in exports):
                        raise RuntimeError("the unit threads ended before every unit ran")
            on_result(result)
    except BaseException:
        stop.set()
        ready.set()
        shutdown_kernels()  # kill them now; each thread then sees a dead kernel and ends
        for thread in threads:
            thread.join(timeout=30)
        exporter.shutdown(wait=True, cancel_futures=True)
        raise
    for thread in threads:
        thread.join()
    exporter.shutdown(wait=True)


SCHEDULER_TIMEOUT = "30s"  # how long to try reaching a Dask scheduler


def _run_dask(tasks: list[UnitTask], *, scheduler: str, on_result) -> None:
    """Run ``tasks`` on the Dask cluster at ``scheduler`` (``tcp://host:port``). Each worker
    thread keeps a warm kernel from unit to unit; tasks carry paths, never data frames. At the
    end (or on an interruption) the kernels on every worker are shut down."""
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - dask is a dependency
        raise BatchError("--scheduler needs dask's distributed package: pip install "
                         "distributed") from None
    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise BatchError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    futures = {}
    try:
        batch_id = hashlib.sha256(f"{time.time_ns()}-{os.getpid()}".encode()).hexdigest()[:8]
        for task in tasks:
            key = f"sipas-report-{batch_id}-{task.parameters['province_code']}"
            futures[client.submit(run_unit, task, key=key, pure=False, retries=0)] = task
        for future in as_completed(futures, loop=client.loop):
            task = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - the worker died: the unit failed
                result = failed_result(task, exc)
            on_result(result)
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(list(futures))
        raise
    finally:
        with contextlib.suppress(Exception):
            client.run(shutdown_kernels)
        with contextlib.suppress(Exception):
            client.close()


# --------------------------------------------------------------------------------------------
# The batch
# --------------------------------------------------------------------------------------------
def _synthetic(data: str, shared) -> bool:
    return data == "demo" or bool(getattr(shared, "synthetic", False))


def run_batch(year: int, *, units="all", unit_set: str | None = None, lang: str = "vi",
              data: str = "demo", jobs: int = 2, out="reports", notebook=None,
              kernel_name: str = KERNEL_NAME, cache_dir=None, compute=None,
              progress: bool = True, engine: str = "warm", force: bool = False,
              scheduler: str | None = None, params_files: dict | None = None,
              params_dir=None, timeout: float | None = None,
              kernel_start=None) -> BatchResult:
    """Build every unit's report for a year; see the module docstring for the steps.

    Writes OUT/YEAR/UNITSET-CODE/{report.ipynb, report.html, tables.xlsx} per unit (or
    report.failed.ipynb), OUT/YEAR/index.html and OUT/YEAR/manifest.json. ``compute`` replaces
    ``report.compute_shared`` (tests). Kernels run in the current directory and find the shared
    cache through ``$SIPAS_CACHE_DIR``, set to ``cache_dir`` for the duration of the batch
    (``MPLBACKEND`` is set to the inline backend, so that figures are always embedded).

    Incremental: a unit whose inputs (:func:`unit_inputs`) equal those recorded in the previous
    manifest, and whose outputs are all there, is skipped (``"skipped": "unchanged"``); the
    others run, each with its ``reason``. ``force`` re-runs every unit (the shared fits still
    come from their cache). ``params_files`` maps codes to params files (``--params``); by
    default a unit's file is ``params_dir/units/<set>/<code>.yaml`` when it exists.

    ``engine``: "warm" (default: one kernel per worker, reset between units) or "papermill" (a
    new kernel per unit). ``scheduler``: run the units on that Dask cluster instead of ``jobs``
    local threads (the cluster's workers must see the same paths). ``timeout``: seconds a cell
    may run. ``kernel_start`` replaces :func:`start_kernel` (tests).
    Raises BatchError or reference.UnknownProvinceError for usage mistakes before any work.
    """
    from tqdm.auto import tqdm
    started = time.perf_counter()
    language.check_lang(lang)
    notebook = Path(notebook) if notebook is not None else DEFAULT_NOTEBOOK
    if not notebook.exists():
        raise BatchError(f"no such notebook: {notebook}")
    if jobs < 1:
        raise BatchError(f"--jobs must be 1 or more, got {jobs}")
    if engine not in ENGINES:
        raise BatchError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if scheduler is not None and engine != "warm":
        raise BatchError("--scheduler runs the warm engine only")
    unit_set, codes = resolve_units(year, units, unit_set=unit_set)
    if data != "demo":
        if not Path(data).exists():
            raise FileNotFoundError(f"no such survey file: {data}")
        data = str(Path(data).resolve())  # the kernels get an absolute path
    check_kernel(kernel_name)
    cwd = Path.cwd()
    cache = _cache_dir(cache_dir).resolve()
    year_dir = Path(out).absolute() / str(year)
    year_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(year_dir / ".batch.lock", blocking=False) as locked:
        if not locked:
            raise BatchError(f"another batch is writing to {year_dir}; wait for it to finish")
        base = {"year": year, "unit_set": unit_set, "data": data, "lang": lang}
        params = report.ReportParams(province_code=codes[0], **base)
        data_hash = data_file_hash(data)
        notebook_hash, package = notebook_fingerprint(notebook), package_fingerprint()
        previous = _previous_manifest(year_dir)
        previous_units = {(u.get("unit_set"), u.get("province_code")): u
                          for u in previous.get("units", [])}
        env = {CACHE_DIR_ENV: str(cache), "SIPAS_PROCESSED_DIR": str(processed_dir().resolve()),
               # the inline backend, so that figures are embedded (an MPLBACKEND=Agg set for
               # CI would leave pages figureless)
               "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
        partial = year_dir / ".partial"
        tasks, results = [], {}
        for code in codes:
            file = _params_file(code, unit_set, params_files=params_files, params_dir=params_dir)
            from_file = load_params_file(file) if file is not None else {}
            parameters = {k: v for k, v in from_file.items() if k != "tables_path"} | \
                {"province_code": code, **base}
            inputs = unit_inputs(parameters, params_text=file.read_text(encoding="utf-8")
                                 if file is not None else "", data_hash=data_hash,
                                 notebook_hash=notebook_hash, package=package)
            record = previous_units.get((unit_set, code))
            reason = rerun_reason(record, inputs, year_dir=year_dir, force=force)
            if reason is None:
                results[code] = _result_from_manifest(record)
                continue
            tasks.append(UnitTask(
                notebook=str(notebook.resolve()), parameters=parameters,
                out_dir=str((year_dir / f"{unit_set}-{code}").resolve()),
                work_dir=str((partial / f"{unit_set}-{code}").resolve()), cwd=str(cwd),
                kernel_name=kernel_name, engine=engine, env=env, timeout=timeout,
                title=f"SIPAS {year} · {report.unit_name(unit_set, code, lang)}",
                reason=reason, key=_digest(inputs), inputs=inputs))
        index_path = year_dir / "index.html"
        shared, shared_seconds = None, 0.0

        def load_shared() -> None:  # computed once here, then every kernel reads the cache
            nonlocal shared, shared_seconds
            t0 = time.perf_counter()
            shared = shared_results(params, cache_dir=cache, compute=compute)
            shared_seconds = time.perf_counter() - t0

        if tasks:
            partial.mkdir(exist_ok=True)
            try:
                with _environment(**env), \
                        tqdm(total=len(tasks), desc=f"reports {year}", unit="unit",
                             disable=not progress) as bar:
                    failures = 0

                    def on_result(result: UnitResult) -> None:
                        nonlocal failures
                        results[result.province_code] = result
                        failures += result.status != "ok"
                        bar.update()
                        bar.set_postfix(failed=failures)

                    if scheduler is not None:
                        load_shared()
                        _run_dask(tasks, scheduler=scheduler, on_result=on_result)
                    else:  # the kernels start while the shared results are made or read
                        _run_local(tasks, jobs=jobs, on_result=on_result, kernel_start=kernel_start,
                                   before=load_shared)
            finally:  # units' unfinished work folders go, whatever happened
                shutil.rmtree(partial, ignore_errors=True)
        ordered = [results[c] for c in codes]
        info = versions()
        now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        # The index shows every unit's status and the national ranking: rebuilt when either
        # may have changed (nothing ran and nothing changed: the page is left as it is).
        index_key = _digest([data_hash, package, year, unit_set, lang,
                             [(r.province_code, r.status) for r in ordered]])
        if previous.get("index_key") != index_key or not index_path.exists():
            if shared is None:
                t0 = time.perf_counter()
                shared = shared_results(params, cache_dir=cache, compute=compute)
                shared_seconds = time.perf_counter() - t0
            footer = language.text("index_footer", lang, time=now, data="demo" if data == "demo" else
                                 Path(data).name, hash=data_hash, version=info["sipas_analysis"])
            page = index_page(index_table(shared, lang, unit_set=unit_set), results, year=year,
                              unit_set=unit_set, lang=lang, synthetic=_synthetic(data, shared),
                              footer=footer)
            _atomic_write(index_path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
        synthetic = _synthetic(data, shared) if shared is not None else \
            bool(previous.get("synthetic", data == "demo"))
        seconds = time.perf_counter() - started
        manifest = {
            "year": year, "unit_set": unit_set, "lang": lang, "created": now,
            "notebook": str(notebook), "notebook_hash": notebook_hash, "package": package,
            "kernel_name": kernel_name, "engine": engine, "jobs": jobs, "scheduler": scheduler,
            "data": data, "data_hash": data_hash, "synthetic": synthetic,
            "shared_cache": str(shared_cache_path(params, cache_dir=cache)),
            "shared_seconds": round(shared_seconds, 3), "seconds": round(seconds, 3),
            "versions": info, "git_commit": report.git_commit(), "index_key": index_key,
            "summary": {"ok": sum(r.status == "ok" for r in ordered),
                        "failed": sum(r.status != "ok" for r in ordered)},
            "work": {"ran": sum(r.skipped is None for r in ordered),
                     "skipped": sum(r.skipped is not None for r in ordered)},
            "units": [dataclasses.asdict(r) | {"seconds": round(r.seconds, 3),
                                               "data_hash": data_hash, "versions": info}
                      for r in ordered],
        }
        manifest_path = year_dir / "manifest.json"
        _atomic_write(manifest_path, lambda tmp: Path(tmp).write_text(
            json.dumps(manifest, indent=1, ensure_ascii=False, default=str), encoding="utf-8"))
    return BatchResult(year=year, unit_set=unit_set, results=ordered, out_dir=year_dir,
                       index_path=index_path, manifest_path=manifest_path, seconds=seconds,
                       shared_seconds=shared_seconds)
