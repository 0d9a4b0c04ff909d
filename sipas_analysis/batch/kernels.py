"""Warm kernels: one Jupyter kernel per worker thread, kept from unit to unit and reset between
them (:class:`WarmKernel`, :func:`thread_kernel`), the papermill engine that runs a notebook in
such a kernel, and :func:`check_kernel`, which makes sure the kernel runs this environment.

:func:`kernel_warmup` and :func:`kernel_reset` run inside the kernels themselves.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from functools import lru_cache
from pathlib import Path

from .errors import BatchError

KERNEL_NAME = "python3"

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
CELL_TIMEOUT = 1800.0   # seconds a report cell may run before its unit fails (a wedged kernel)
POLL_SECONDS = 0.2      # how often a wait for a kernel's reply checks that it is still alive
# Arguments of every kernel we start: no IPython history file (nbclient does the same), and
# none of the start-up warnings (TCP without encryption) in a batch whose manifest has the errors.
KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:", "--log-level=CRITICAL"]
_WARMUP_CODE = "import sipas_analysis.batch.kernels as _sipas_batch\n_sipas_batch.kernel_warmup()"
_RESET_CODE = "import sipas_analysis.batch.kernels as _sipas_batch\n_sipas_batch.kernel_reset()"
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
    from .. import plots
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
                    # a kill from another thread lands while this one waits for a reply
                    raise RuntimeError("the kernel was killed" if self._killed
                                       else "the kernel died") from None
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


def thread_kernel(task, *, start=None) -> WarmKernel:
    """This thread's warm kernel for ``task`` (a UnitTask: its kernel name, working directory and
    environment must match; otherwise the old kernel is closed and a new one made)."""
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
