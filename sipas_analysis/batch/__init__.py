"""Run the province report notebook for many units: papermill, HTML and Excel export, the year's
index page and manifest, the params files, and the on-disk cache of what every unit shares.

The flow of ``sipas reports`` (:func:`~.run.run_batch`, in :mod:`.run`):

1. resolve the units (all units of the year's unit set, or a validated list:
   :func:`~.run.resolve_units`);
2. decide which units must run (incremental runs, :mod:`.incremental`): a unit whose inputs —
   its parameters and params file, the data file, the notebook's cells, the package source
   (:func:`~.incremental.unit_inputs`) — equal those recorded in the previous manifest, and
   whose outputs are all there, is skipped; the others run, each with the reason
   (:func:`~.incremental.rerun_reason`);
3. compute the shared national results ONCE (:func:`shared_results`: indices, models, bootstrap,
   the breakdowns and province-only regressions of every unit), cached on disk under a key made
   of the data file's hash, the year, the unit set, the package version and source, and the
   report settings, so that the notebooks only read them; meanwhile the worker threads start
   their kernels;
4. execute ``notebooks/province_report.ipynb`` for each unit with papermill, ``jobs`` at a time
   (:mod:`.executors`): each worker thread keeps one warm kernel (:class:`~.kernels.WarmKernel`,
   in :mod:`.kernels`, reset between units), or, with ``engine="papermill"``, papermill starts a
   new kernel per unit; a unit's HTML page is made in an export thread while its kernel goes on
   with the next unit (:func:`~.unit.execute_unit`, then :func:`~.unit.finish_unit`, in
   :mod:`.unit`); with ``scheduler`` the units run on a Dask distributed cluster instead
   (:func:`~.executors._run_dask`, :func:`~.unit.run_unit` per task); each unit is built in a
   private folder that is moved into place only when its notebook, HTML page and Excel workbook
   are complete;
5. write ``OUT/YEAR/index.html`` (all units ranked, linking to each page) and
   ``OUT/YEAR/manifest.json`` (per unit: parameters, status, reason or "skipped", seconds,
   outputs, error, inputs, versions).

A unit that fails (an exception in a cell, a kernel that dies or does not start) is recorded
(cell, exception, short traceback) and the others go on; no kernel outlives the batch, whether
it ends normally, with failures, or on Ctrl-C. Data reach the kernels by path (a parquet file
for the demo), never by pickling frames, so :func:`~.unit.run_unit` runs as well on a Dask
worker.

Kernel: papermill runs the notebook with the Jupyter kernel named :data:`KERNEL_NAME`
(``python3``). :func:`~.kernels.check_kernel` makes sure that name resolves to the Python of the
running environment (ipykernel's ``python3`` spec says ``python``, which jupyter_client maps to
``sys.executable``); a ``python3`` spec in the user's own Jupyter folder pointing at another
interpreter would otherwise run the reports without this package.

Modules, each importing only those after it: :mod:`.run` (the batch), :mod:`.executors` (local
threads, Dask), :mod:`.incremental` (fingerprints, rerun reasons, the previous manifest),
:mod:`.unit` (one unit's task, run, export and folder), :mod:`.kernels` (warm kernels) and
:mod:`.errors` (:class:`BatchError`). The shared-results cache, the parameters and params files
and the HTML export belong to :mod:`sipas_analysis.report` (``shared``, ``params``, ``export``).
Every name below is re-exported here, so ``sa.batch.NAME`` is where users and tests find it; a
test that replaces a function replaces it in the module that calls it.
"""
# What the report package owns, re-exported where users of the batch found it.
from ..files import file_hash
from ..files import file_lock as _file_lock  # noqa: F401 - tests take a year folder's lock
from ..report.export import PAGE_CSS, index_page, index_table, notebook_to_html
from ..report.kinds import DEFAULT_NOTEBOOK
from ..report.params import (DEFAULT_PARAMETERS, PARAMETER_TYPES, PARAMS_DIR,
                             UNIT_ONLY_PARAMETERS, load_params_file, params_files, stale_params,
                             write_params)
from ..report.params import check_values as check_parameters
from ..report.shared import (CACHE_DIR_ENV, PACKAGE_DIR, data_path, demo_data_path,
                             load_report_data, package_fingerprint, processed_dir,
                             shared_cache_path, shared_key, shared_results)
from .errors import BatchError
from .executors import SCHEDULER_TIMEOUT
from .incremental import INPUT_REASONS, notebook_fingerprint, rerun_reason, unit_inputs
from .kernels import (CELL_TIMEOUT, ENGINES, KERNEL_ARGUMENTS, KERNEL_NAME, POLL_SECONDS,
                      RESET_TIMEOUT, START_ATTEMPTS, START_TIMEOUT, WARM_ENGINE, KernelStartError, WarmKernel,
                      check_kernel, close_thread_kernel, kernel_reset, kernel_warmup,
                      shutdown_kernels, start_kernel, thread_kernel)
from .run import BatchResult, resolve_units, run_agency_batch, run_batch, versions
from .unit import (FAILED_NOTEBOOK, TRACEBACK_LINES, UNIT_OUTPUTS, UNIT_RECORD, ExecutedUnit,
                   UnitResult, UnitTask, describe_error, execute_unit, failed_result, finish_unit,
                   read_record, run_unit)

__all__ = [
    # the batch
    "BatchError", "BatchResult", "resolve_units", "run_agency_batch", "run_batch", "versions",
    # where units run
    "SCHEDULER_TIMEOUT",
    # incremental runs
    "INPUT_REASONS", "notebook_fingerprint", "rerun_reason", "unit_inputs",
    # one unit
    "FAILED_NOTEBOOK", "TRACEBACK_LINES", "UNIT_OUTPUTS", "UNIT_RECORD", "ExecutedUnit",
    "UnitResult", "UnitTask", "describe_error", "execute_unit", "failed_result", "finish_unit",
    "read_record", "run_unit",
    # warm kernels
    "CELL_TIMEOUT", "ENGINES", "KERNEL_ARGUMENTS", "KERNEL_NAME", "POLL_SECONDS", "RESET_TIMEOUT",
    "START_ATTEMPTS", "START_TIMEOUT", "WARM_ENGINE", "KernelStartError", "WarmKernel",
    "check_kernel", "close_thread_kernel", "kernel_reset", "kernel_warmup", "shutdown_kernels",
    "start_kernel", "thread_kernel",
    # data, shared-results cache, parameters, params files, HTML
    "CACHE_DIR_ENV", "DEFAULT_NOTEBOOK", "DEFAULT_PARAMETERS", "PACKAGE_DIR", "PAGE_CSS",
    "PARAMETER_TYPES", "PARAMS_DIR", "UNIT_ONLY_PARAMETERS", "check_parameters",
    "data_path", "demo_data_path", "file_hash", "index_page", "index_table", "load_params_file",
    "load_report_data", "notebook_to_html", "package_fingerprint", "params_files",
    "processed_dir", "shared_cache_path", "shared_key", "shared_results", "stale_params",
    "write_params",
]
