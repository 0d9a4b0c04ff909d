"""Run the province report notebook for many units: papermill, HTML and Excel export, the year's
index page and manifest, the params files, and the on-disk cache of what every unit shares.

The flow of ``sipas reports`` (:func:`run_batch`):

1. resolve the units (all units of the year's unit set, or a validated list);
2. compute the shared national results ONCE (:func:`shared_results`: indices, models, bootstrap),
   cached on disk under a key made of the data file's hash, the year, the unit set, the package
   version and source, and the report settings, so that the notebooks only read them;
3. execute ``notebooks/province_report.ipynb`` once per unit with papermill, ``jobs`` at a time
   (threads: each papermill run starts its own kernel process), each unit into a private folder
   that is moved into place only when its notebook, HTML page and Excel workbook are complete;
4. write ``OUT/YEAR/index.html`` (all units ranked, linking to each page) and
   ``OUT/YEAR/manifest.json`` (per unit: parameters, status, seconds, outputs, error, versions).

A unit that fails is recorded (cell, exception, short traceback) and the others go on. Data
reach the kernels by path (a parquet file for the demo), never by pickling frames, so that
:func:`run_unit` can later be handed to any executor (a process pool, a Dask cluster).

Kernel: papermill runs the notebook with the Jupyter kernel named :data:`KERNEL_NAME`
(``python3``). :func:`check_kernel` makes sure that name resolves to the Python of the running
environment (ipykernel's ``python3`` spec says ``python``, which jupyter_client maps to
``sys.executable``); a ``python3`` spec in the user's own Jupyter folder pointing at another
interpreter would otherwise run the reports without this package.
"""
from __future__ import annotations

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
import subprocess
import sys
import tempfile
import time
import traceback as _traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version as _version
from pathlib import Path

import pandas as pd

from . import io, language, reference, report, simulate

KERNEL_NAME = "python3"
CACHE_DIR_ENV = "SIPAS_CACHE_DIR"
PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
DEFAULT_NOTEBOOK = PROJECT_ROOT / "notebooks" / "province_report.ipynb"
PARAMS_DIR = PROJECT_ROOT / "params"

# The notebook's parameters (its cell tagged "parameters") and their types.
PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "province_code": (str,), "year": (int,), "unit_set": (str, type(None)), "data": (str,),
    "lang": (str,), "tables_path": (str,)}
DEFAULT_PARAMETERS = {"year": 2024, "unit_set": None, "data": "demo", "lang": "vi",
                      "tables_path": ""}
# Parameters that change one unit's report but not the national results every unit shares.
UNIT_ONLY_PARAMETERS = frozenset({"province_code", "lang", "tables_path", "data"})
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
@lru_cache(maxsize=1)
def package_fingerprint() -> str:
    """sha256 (16 hex digits) of the package version and every source file of
    ``sipas_analysis``: a cache made by other code is never reused, even at the same version."""
    digest = hashlib.sha256(_package_version("sipas-analysis").encode())
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def file_hash(path) -> str:
    """sha256 of a file's bytes (16 hex digits): fast, and the same on every machine."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:16]


def processed_dir() -> Path:
    """Where derived data go: ``$SIPAS_PROCESSED_DIR``, else the project's ``data/processed/``
    (never committed), whatever the current directory (notebooks run in ``notebooks/``)."""
    if os.environ.get("SIPAS_PROCESSED_DIR"):
        return Path(os.environ["SIPAS_PROCESSED_DIR"]).expanduser()
    return reference.data_dir() / "processed"


def demo_data_path(*, directory=None) -> Path:
    """The demo sample as a parquet file, ``demo_survey.parquet`` in :func:`processed_dir`
    (or ``directory``), written once and rewritten only when the package
    source changes (a stamp file next to it records the source it came from).

    Workers read the demo by this path: it is written atomically (temp file + rename) under a
    lock, so parallel kernels never see half a file.
    """
    directory = Path(directory) if directory is not None else processed_dir()
    path = directory / "demo_survey.parquet"
    stamp = directory / "demo_survey.parquet.source"

    def fresh() -> bool:
        return path.exists() and stamp.exists() and stamp.read_text() == package_fingerprint()

    if fresh():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    with _file_lock(directory / ".demo_survey.lock"):
        if not fresh():  # another process may have written it while we waited
            _atomic_write(path, lambda tmp: simulate.demo_survey().to_parquet(tmp, index=False))
            _atomic_write(stamp, lambda tmp: Path(tmp).write_text(package_fingerprint()))
    return path


def data_path(data: str) -> Path:
    """The file behind a report's ``data`` parameter: the demo parquet for ``"demo"``."""
    if data == "demo":
        return demo_data_path()
    path = Path(data)
    if not path.exists():
        raise FileNotFoundError(f"no such survey file: {data}")
    return path


def load_report_data(params) -> pd.DataFrame:
    """The survey a report runs on: the demo sample (read from its parquet file) or
    ``io.load_survey(params.data)`` (validated). Returns the data contract's columns."""
    data = _params_dict(params)["data"]
    if data == "demo":
        return pd.read_parquet(demo_data_path())
    return io.load_survey(data_path(data))


def _params_dict(params) -> dict:
    if isinstance(params, dict):
        return dict(params)
    if dataclasses.is_dataclass(params):
        return dataclasses.asdict(params)
    raise TypeError(f"report parameters must be a ReportParams or a dict, got "
                    f"{type(params).__name__}")


def _cache_dir(cache_dir=None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    return processed_dir() / "cache"


def shared_key(params) -> dict:
    """What the shared national results depend on: data hash, year, unit set, package version and
    source, the report's settings (``report.SHARED_SETTINGS`` if defined) and every parameter
    that is not unit-only (any setting the lead adds to ReportParams joins the key by itself)."""
    values = _params_dict(params)
    settings = {k: v for k, v in sorted(values.items())
                if k not in UNIT_ONLY_PARAMETERS | {"year", "unit_set"}}
    return {"data_hash": file_hash(data_path(values["data"])), "year": values["year"],
            "unit_set": values["unit_set"] or reference.default_unit_set(values["year"]),
            "sipas_analysis": _package_version("sipas-analysis"), "source": package_fingerprint(),
            "settings": settings,
            "report_settings": getattr(report, "SHARED_SETTINGS", None)}


def shared_cache_path(params, *, cache_dir=None) -> Path:
    """The pickle file that holds (or will hold) the shared results for these parameters."""
    key = shared_key(params)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return _cache_dir(cache_dir) / f"shared-{key['year']}-{key['unit_set']}-{digest[:20]}.pkl"


def shared_results(params, *, cache_dir=None, compute=None):
    """The national results every unit's report shares, computed once and cached on disk.

    ``compute(survey, params, data_hash=...)`` defaults to ``report.compute_shared``; the survey
    is :func:`load_report_data` and ``data_hash`` the file's :func:`file_hash`. The cache is a pickle in ``cache_dir``, else ``$SIPAS_CACHE_DIR``,
    else ``data/processed/cache/`` under the current directory, named by :func:`shared_key`. The
    first process to miss the cache takes a lock and computes; the others wait and then read.
    The file is written to a temp name and renamed, so no one ever reads half of it.

    Returns what ``compute`` returns (a ``report.SharedResults``).
    """
    path = shared_cache_path(params, cache_dir=cache_dir)
    cached = _read_pickle(path)
    if cached is not None:
        return cached
    path.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(path.with_suffix(".lock")):
        cached = _read_pickle(path)  # computed by another process while we waited
        if cached is not None:
            return cached
        compute = compute or getattr(report, "compute_shared", None)
        if compute is None:
            raise NotImplementedError("report.compute_shared does not exist yet; pass compute=")
        key = shared_key(params)
        results = compute(load_report_data(params), params, data_hash=key["data_hash"])
        _atomic_write(path, lambda tmp: Path(tmp).write_bytes(
            pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)))
        _atomic_write(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(
            json.dumps(key, indent=1, sort_keys=True, default=str)))
    return results


def _read_pickle(path: Path):
    if not path.exists():
        return None
    try:
        return pickle.loads(path.read_bytes())
    except Exception:  # noqa: BLE001 - an unreadable cache is recomputed, never trusted
        return None


def _atomic_write(path: Path, write) -> None:
    """Call ``write(temp_path)`` then rename the temp file onto ``path`` (same folder, so the
    rename is atomic): readers see the old file or the new one, never a part."""
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _file_lock(path: Path, *, blocking: bool = True):
    """An exclusive lock on ``path`` (fcntl.flock) between processes and threads. Where fcntl does
    not exist (Windows) there is no lock: writers race, the atomic rename keeps files whole."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield True
        return
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def check_parameters(values: dict, *, source: str = "parameters") -> dict:
    """Check a flat parameter mapping: known keys only, each of its type (``year`` an int, not
    a bool; codes strings). Returns it; raises ValueError naming every problem."""
    problems = []
    for key, value in values.items():
        if key not in PARAMETER_TYPES:
            problems.append(f"unknown parameter {key!r}")
        elif isinstance(value, bool) or not isinstance(value, PARAMETER_TYPES[key]):
            names = " or ".join("null" if t is type(None) else t.__name__
                                for t in PARAMETER_TYPES[key])
            problems.append(f"{key} must be {names}, got {value!r} ({type(value).__name__})")
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems)
                         + f" (known parameters: {', '.join(PARAMETER_TYPES)})")
    return values


def load_params_file(path) -> dict:
    """Read one flat params YAML file and check it (:func:`check_parameters`)."""
    import yaml
    path = Path(path)
    values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a params file is a flat mapping of parameter: value")
    return check_parameters(values, source=str(path))


def _yaml_scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # always quoted: "01" stays a string


def params_files() -> dict[str, str]:
    """The content of every params file, by path relative to ``params/``: ``defaults.yaml`` and
    ``units/63/<code>.yaml``, ``units/34/<code>.yaml`` from ``reference.provinces``."""
    header = ("# Generated by `sipas params` from the reference tables: do not edit by hand.\n"
              "# Parameters of notebooks/province_report.ipynb (see its cell tagged 'parameters').\n")
    defaults = (header + "# Defaults; a unit's file (units/<set>/<code>.yaml) sets province_code and"
                " unit_set.\n# unit_set null means: \"63\" up to 2024, \"34\" from 2025.\n"
                + "".join(f"{k}: {_yaml_scalar(v)}\n" for k, v in DEFAULT_PARAMETERS.items()))
    files = {"defaults.yaml": defaults}
    # The 34-unit set starts in 2025: its example run names a year of that set.
    year_option = {"63": "", "34": " -p year 2025"}
    for unit_set in reference.UNIT_SETS:
        for row in reference.provinces(unit_set).itertuples():
            files[f"units/{unit_set}/{row.province_code}.yaml"] = (
                header + f"# {row.name_vi} ({row.name_official}), {unit_set}-unit set.\n"
                f"# papermill notebooks/province_report.ipynb out.ipynb -f params/defaults.yaml "
                f"-f params/units/{unit_set}/{row.province_code}.yaml{year_option[unit_set]}\n"
                f"province_code: {_yaml_scalar(row.province_code)}\n"
                f"unit_set: {_yaml_scalar(unit_set)}\n")
    return files


def write_params(directory=None) -> list[Path]:
    """Write :func:`params_files` under ``directory`` (default the project's ``params/``) and
    delete unit files the reference tables no longer name. Returns the paths written."""
    directory = Path(directory) if directory is not None else PARAMS_DIR
    files = params_files()
    for stale in directory.glob("units/*/*.yaml"):
        if stale.relative_to(directory).as_posix() not in files:
            stale.unlink()
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_params(directory=None) -> list[str]:
    """Params files that differ from the generator, are missing or are extra (relative paths)."""
    directory = Path(directory) if directory is not None else PARAMS_DIR
    files = params_files()
    present = {p.relative_to(directory).as_posix() for p in directory.glob("units/*/*.yaml")}
    if (directory / "defaults.yaml").exists():
        present.add("defaults.yaml")
    stale = sorted(present - set(files))
    for relative, text in files.items():
        path = directory / relative
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(relative)
    return stale


# ============================================================================================
# One unit
# ============================================================================================
@dataclass(frozen=True)
class UnitTask:
    """Everything one unit's run needs, as plain picklable values (paths as strings)."""

    notebook: str
    parameters: dict  # the notebook's parameters; tables_path is filled in by run_unit
    out_dir: str      # final folder OUT/YEAR/UNITSET-CODE
    work_dir: str     # private folder the unit is built in, moved onto out_dir when complete
    cwd: str          # the kernels' working directory (data/processed/ is resolved from it)
    kernel_name: str = KERNEL_NAME
    title: str = ""


@dataclass
class UnitResult:
    """How one unit went. ``error`` has ename, evalue, traceback (last lines), source (first
    lines of the failing cell), execution_count (the cell's "In [n]"), cell_index (papermill's:
    in the executed notebook, counting the injected-parameters cell) and notebook_cell (0-based
    index of that cell in the report notebook's file); the last three are None when the failure
    is not in a cell (kernel died, export failed)."""

    unit_set: str
    province_code: str
    parameters: dict
    status: str                     # "ok" | "failed"
    seconds: float
    outputs: list[str] = field(default_factory=list)  # relative to the year folder
    error: dict | None = None

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


def run_unit(task: UnitTask) -> UnitResult:
    """Execute the notebook for one unit and export it; never raises for a failing notebook.

    Success: OUT_DIR holds report.ipynb, report.html and tables.xlsx, all complete (built in
    WORK_DIR, then moved). Failure: OUT_DIR holds only report.failed.ipynb (the executed notebook
    up to the error, when there is one), so no half-made report is ever linked or mailed.
    """
    import papermill
    start = time.perf_counter()
    out_dir, work = Path(task.out_dir), Path(task.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    executed = work / "report.ipynb"
    parameters = dict(task.parameters, tables_path=str(work / "tables.xlsx"))
    code = parameters["province_code"]
    unit_set = parameters.get("unit_set") or reference.default_unit_set(parameters["year"])
    try:
        papermill.execute_notebook(
            task.notebook, str(executed), parameters=parameters, kernel_name=task.kernel_name,
            cwd=task.cwd, progress_bar=False, log_output=False,
            # the kernel logs a TCP-without-encryption warning per start and an error when
            # shut down after a failure: noise in a batch whose manifest records the failures
            extra_arguments=["--log-level=CRITICAL"])
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
        failed = work.with_name(work.name + ".failed")
        shutil.rmtree(failed, ignore_errors=True)
        failed.mkdir()
        if executed.exists():
            shutil.move(executed, failed / FAILED_NOTEBOOK)
        shutil.rmtree(work, ignore_errors=True)
        _move_into_place(failed, out_dir)
    outputs = sorted(f"{out_dir.name}/{p.name}" for p in out_dir.iterdir()) \
        if out_dir.exists() else []
    return UnitResult(unit_set=unit_set, province_code=code, parameters=parameters | {
        "tables_path": "tables.xlsx"}, status=status, seconds=time.perf_counter() - start,
        outputs=outputs, error=error)


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
    if target.exists():
        os.replace(target, old)
    os.replace(source, target)
    shutil.rmtree(old, ignore_errors=True)


# ============================================================================================
# HTML
# ============================================================================================
PAGE_CSS = """
body { font-family: "Noto Sans", "Segoe UI", Roboto, Arial, sans-serif; line-height: 1.5;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1d2327; }
h1, h2, h3 { line-height: 1.25; color: #12355b; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.92rem; }
th, td { border-bottom: 1px solid #d5d9dd; padding: 0.3rem 0.6rem; text-align: left; }
thead th { border-bottom: 2px solid #12355b; }
td.num, .dataframe td { text-align: right; }
img { max-width: 100%; height: auto; }
pre { white-space: pre-wrap; background: #f6f8fa; padding: 0.5rem;
      font-family: "Noto Sans Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace; }
blockquote { background: #fff3cd; border-left: 4px solid #e0b100; margin: 1rem 0;
             padding: 0.2rem 1rem; }
a.anchor-link { display: none; }
.banner { background: #fff3cd; border: 1px solid #e0b100; padding: 0.6rem 1rem; font-weight: 600; }
.failed { color: #a4262c; }
footer { margin-top: 2rem; font-size: 0.8rem; color: #5f6b76; }
"""


def _page(body: str, *, lang: str, title: str) -> str:
    """A complete, self-contained HTML page (UTF-8, ``lang``, inline CSS, no scripts)."""
    return (f'<!DOCTYPE html>\n<html lang="{html.escape(lang)}">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{PAGE_CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


# Anything that would fetch from the network or run code when the page opens.
_SCRIPT = re.compile(r"<script\b.*?</script\s*>", re.I | re.S)
_LINK = re.compile(r"<link\b[^>]*>", re.I)


def notebook_to_html(notebook, *, lang: str, title: str = "") -> str:
    """A notebook as a self-contained HTML page without code: nbconvert's ``basic`` template
    with ``exclude_input=True`` (outputs and markdown only; figures stay embedded as data URIs),
    stderr output (warnings) left out, wrapped in :func:`_page`. ``notebook`` is a path or a
    NotebookNode."""
    import nbformat
    from nbconvert import HTMLExporter
    nb = nbformat.read(notebook, as_version=4) if isinstance(notebook, (str, Path)) else \
        copy.deepcopy(notebook)
    heading = {"vi": "Hình", "en": "Figure"}[language.check_lang(lang)]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            heading = _last_heading(cell.source) or heading
        if cell.cell_type != "code":
            continue
        cell.outputs = [o for o in cell.outputs
                        if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
        for output in cell.outputs:
            data = output.get("data", {})
            heading = _last_heading(data.get("text/markdown", "")) or heading
            # An image's alt text: its own, the cell's, else the section it is in (nbconvert
            # would otherwise write an English placeholder into a Vietnamese page).
            for mime in ("image/png", "image/jpeg", "image/svg+xml"):
                if mime in data and not cell.metadata.get("alt"):
                    output.setdefault("metadata", {}).setdefault(mime, {}).setdefault("alt",
                                                                                      heading)
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    body = _LINK.sub("", _SCRIPT.sub("", body))
    if not title:
        heading = re.search(r"<h1[^>]*>(.*?)</h1>", body, re.S)
        title = re.sub(r"<[^>]+>|¶", "", heading.group(1)).strip() if heading else "SIPAS"
    return _page(f"<main>\n{body}\n</main>", lang=lang, title=title)


def _last_heading(markdown) -> str | None:
    if isinstance(markdown, list):
        markdown = "".join(markdown)
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", markdown or "", re.M)
    return headings[-1] if headings else None


_INDEX_TEXT = {
    "title": {"vi": "Chỉ số SIPAS năm {year}: xếp hạng {n} đơn vị",
              "en": "SIPAS {year}: ranking of {n} units"},
    "intro": {"vi": "Mỗi đơn vị có một báo cáo riêng. Thứ hạng kèm tập xếp hạng tin cậy 95 %: "
                    "hai đơn vị có tập chồng lên nhau không khác nhau rõ rệt.",
              "en": "Each unit has its own report. Ranks come with their 95 % rank confidence "
                    "set: units whose sets overlap are not clearly different."},
    "report": {"vi": "Báo cáo", "en": "Report"},
    "open": {"vi": "Xem báo cáo", "en": "Open report"},
    "failed": {"vi": "lỗi khi tạo báo cáo", "en": "report failed"},
    "not_run": {"vi": "chưa tạo", "en": "not built"},
    "footer": {"vi": "Tạo lúc {time}; dữ liệu {data} (mã băm {hash}); sipas_analysis {version}.",
               "en": "Built {time}; data {data} (hash {hash}); sipas_analysis {version}."},
}


def _index_text(key: str, lang: str, **values) -> str:
    return _INDEX_TEXT[key][lang].format(**values)


def index_table(shared, lang: str, *, unit_set: str) -> pd.DataFrame:
    """The index page's table: ``report.index_page_table(shared, lang)`` when the report module
    has it, else one built from ``shared.ranks`` (columns province_code, estimate, ci_low,
    ci_high, rank, rank_low, rank_high). Values are display strings; the first column whose
    values are unit codes links each row to its report."""
    if hasattr(report, "index_page_table") and isinstance(shared, getattr(report, "SharedResults",
                                                                          ())):
        return report.index_page_table(shared, lang)
    ranks = shared.ranks.sort_values("rank")
    return pd.DataFrame({
        language.text("unit", lang): [str(c) for c in ranks["province_code"]],
        "": [report.unit_name(unit_set, c, lang) for c in ranks["province_code"]],
        language.text("estimate", lang): [language.format_number(v, lang)
                                          for v in ranks["estimate"]],
        language.text("ci", lang): [language.format_interval(lo, hi, lang)
                                    for lo, hi in zip(ranks["ci_low"], ranks["ci_high"])],
        language.text("rank", lang): [str(int(r)) for r in ranks["rank"]],
        language.text("rank_set", lang): [f"{int(lo)}–{int(hi)}" for lo, hi in
                                          zip(ranks["rank_low"], ranks["rank_high"])],
    })


def _code_column(table: pd.DataFrame, codes: set[str]) -> str | None:
    for column in table.columns:
        values = set(table[column].astype(str))
        if values and values <= codes:
            return column
    return None


def index_page(table: pd.DataFrame, results: dict[str, UnitResult], *, year: int, unit_set: str,
               lang: str, synthetic: bool, footer: str) -> str:
    """The year's index page: the banner when the data are synthetic, the ranking table with a
    link to each unit's page (or why there is none)."""
    codes = set(reference.provinces(unit_set)["province_code"])
    code_column = _code_column(table, codes)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    head += f"<th>{html.escape(_index_text('report', lang))}</th>"
    rows = []
    for _, row in table.iterrows():
        code = str(row[code_column]) if code_column is not None else None
        result = results.get(code)
        if result is not None and result.status == "ok":
            link = (f'<a href="{unit_set}-{code}/report.html">'
                    f"{html.escape(_index_text('open', lang))}</a>")
        elif result is not None:
            link = f'<span class="failed">{html.escape(_index_text("failed", lang))}</span>'
        else:
            link = html.escape(_index_text("not_run", lang))
        cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in row)
        rows.append(f"<tr>{cells}<td>{link}</td></tr>")
    banner = (f'<p class="banner" role="note">{html.escape(language.text("synthetic_banner", lang))}'
              "</p>\n") if synthetic else ""
    title = _index_text("title", lang, year=year, n=len(table))
    body = (f"<main>\n<h1>{html.escape(title)}</h1>\n{banner}"
            f"<p>{html.escape(_index_text('intro', lang))}</p>\n"
            f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows)
            + f"\n</tbody>\n</table>\n</main>\n<footer>{html.escape(footer)}</footer>")
    return _page(body, lang=lang, title=title)


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


def run_batch(year: int, *, units="all", unit_set: str | None = None, lang: str = "vi",
              data: str = "demo", jobs: int = 2, out="reports", notebook=None,
              kernel_name: str = KERNEL_NAME, cache_dir=None, compute=None,
              progress: bool = True) -> BatchResult:
    """Build every unit's report for a year; see the module docstring for the steps.

    Writes OUT/YEAR/UNITSET-CODE/{report.ipynb, report.html, tables.xlsx} per unit (or
    report.failed.ipynb), OUT/YEAR/index.html and OUT/YEAR/manifest.json. ``compute`` replaces
    ``report.compute_shared`` (tests). Kernels run in the current directory and find the shared
    cache through ``$SIPAS_CACHE_DIR``, set to ``cache_dir`` for the duration of the batch
    (``MPLBACKEND`` is set to the inline backend, so that figures are always embedded).
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
        t0 = time.perf_counter()
        shared = shared_results(params, cache_dir=cache, compute=compute)  # warm the cache
        shared_seconds = time.perf_counter() - t0
        data_hash = file_hash(data_path(data))
        partial = year_dir / ".partial"
        partial.mkdir(exist_ok=True)
        tasks = [UnitTask(notebook=str(notebook.resolve()),
                          parameters={"province_code": code, **base},
                          out_dir=str((year_dir / f"{unit_set}-{code}").resolve()),
                          work_dir=str((partial / f"{unit_set}-{code}").resolve()), cwd=str(cwd),
                          kernel_name=kernel_name,
                          title=f"SIPAS {year} · {report.unit_name(unit_set, code, lang)}")
                 for code in codes]
        results: dict[str, UnitResult] = {}
        # Kernels inherit this process's environment: point them at the cache, and at the
        # inline matplotlib backend (an MPLBACKEND=Agg set for CI would leave pages figureless).
        with _environment(**{CACHE_DIR_ENV: cache,
                             "MPLBACKEND": "module://matplotlib_inline.backend_inline"}), \
                ThreadPoolExecutor(max_workers=jobs) as pool, \
                tqdm(total=len(tasks), desc=f"reports {year}", unit="unit",
                     disable=not progress) as bar:
            futures = {pool.submit(run_unit, task): task for task in tasks}
            for future in as_completed(futures):
                result = future.result()
                results[result.province_code] = result
                bar.update()
                bar.set_postfix(failed=sum(r.status != "ok" for r in results.values()))
        shutil.rmtree(partial, ignore_errors=True)
        ordered = [results[c] for c in codes]
        synthetic = data == "demo" or bool(getattr(shared, "synthetic", False))
        info = versions()
        now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        footer = _index_text("footer", lang, time=now, data="demo" if data == "demo" else
                             Path(data).name, hash=data_hash, version=info["sipas_analysis"])
        page = index_page(index_table(shared, lang, unit_set=unit_set), results, year=year,
                          unit_set=unit_set, lang=lang, synthetic=synthetic, footer=footer)
        index_path = year_dir / "index.html"
        _atomic_write(index_path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
        seconds = time.perf_counter() - started
        manifest = {
            "year": year, "unit_set": unit_set, "lang": lang, "created": now,
            "notebook": str(notebook), "kernel_name": kernel_name, "jobs": jobs,
            "data": data, "data_hash": data_hash, "synthetic": synthetic,
            "shared_cache": str(shared_cache_path(params, cache_dir=cache)),
            "shared_seconds": round(shared_seconds, 3), "seconds": round(seconds, 3),
            "versions": info, "git_commit": report.git_commit(),
            "summary": {"ok": sum(r.status == "ok" for r in ordered),
                        "failed": sum(r.status != "ok" for r in ordered)},
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
