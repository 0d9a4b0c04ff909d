"""Where units run: :func:`_run_local` on threads of this process, each with its warm kernel
(pages exported in one more thread meanwhile), or :func:`_run_dask` on a Dask distributed
cluster. Both report each UnitResult as it comes and leave no kernel behind, even on Ctrl-C.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time

from .errors import BatchError
from .kernels import _register_warm_engine, close_thread_kernel, shutdown_kernels, thread_kernel
from .unit import (ExecutedUnit, UnitTask, execute_unit, failed_result, finish_unit, run_unit,
                   unit_identity)

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
            key = f"sipas-report-{batch_id}-{unit_identity(task.parameters)[1]}"
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
