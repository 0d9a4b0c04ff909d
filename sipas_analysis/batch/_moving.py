"""What the batch uses but does not own: the data files and the on-disk cache of the shared
national results, atomic writes and file locks, the notebook's parameter vocabulary and the
params files, and the HTML export of a unit's notebook and of the year's index page.

The other modules of the package import these names from here only, so that they can move to
the ``report`` package (and ``sipas_analysis.files``) without touching the rest of the batch.
"""
from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import hashlib
import html
import json
import os
import pickle
import re
import tempfile
import threading
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version as _version
from pathlib import Path

import pandas as pd

from .. import io, language, reference, report, simulate

CACHE_DIR_ENV = "SIPAS_CACHE_DIR"
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # sipas_analysis/, this package's parent
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
_UMASK = os.umask(0o022)  # read once: files made by mkstemp are 0600, ours follow the umask
os.umask(_UMASK)


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
# Parameters and params files
# ============================================================================================
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


_THREAD = threading.local()  # each export thread's nbconvert exporter


def _html_exporter():
    """This thread's nbconvert exporter: its templates are compiled at the first page only
    (a new exporter compiles them again, 0.15 s a page)."""
    exporter = getattr(_THREAD, "html_exporter", None)
    if exporter is None:
        from nbconvert import HTMLExporter
        exporter = HTMLExporter(template_name="basic", exclude_input=True,
                                exclude_input_prompt=True, exclude_output_prompt=True)
        _THREAD.html_exporter = exporter
    return exporter


def notebook_to_html(notebook, *, lang: str, title: str = "") -> str:
    """A notebook as a self-contained HTML page without code: nbconvert's ``basic`` template
    with ``exclude_input=True`` (outputs and markdown only; figures stay embedded as data URIs),
    stderr output (warnings) left out, wrapped in :func:`_page`. ``notebook`` is a path or a
    NotebookNode."""
    import nbformat
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
            for mime in ("image/png", "image/jpeg"):
                if mime in data and not cell.metadata.get("alt"):
                    output.setdefault("metadata", {}).setdefault(mime, {}).setdefault("alt",
                                                                                      heading)
            if "image/svg+xml" in data:
                # nbconvert's template writes an SVG's <img> without alt text: write it here
                alt = output.get("metadata", {}).get("image/svg+xml", {}).get("alt") or \
                    cell.metadata.get("alt") or heading
                svg = base64.b64encode(data["image/svg+xml"].encode("utf-8")).decode("ascii")
                output["data"] = {"text/html": f'<img src="data:image/svg+xml;base64,{svg}" '
                                               f'alt="{html.escape(alt)}">'}
    body, _ = _html_exporter().from_notebook_node(nb)
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


def index_page(table: pd.DataFrame, results: dict, *, year: int, unit_set: str,
               lang: str, synthetic: bool, footer: str) -> str:
    """The year's index page: the banner when the data are synthetic, the ranking table with a
    link to each unit's page (or why there is none). ``results``: each unit's UnitResult, by
    code."""
    codes = set(reference.provinces(unit_set)["province_code"])
    code_column = _code_column(table, codes)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    head += f"<th>{html.escape(language.text('index_report', lang))}</th>"
    rows = []
    for _, row in table.iterrows():
        code = str(row[code_column]) if code_column is not None else None
        result = results.get(code)
        if result is not None and result.status == "ok":
            link = (f'<a href="{unit_set}-{code}/report.html">'
                    f"{html.escape(language.text('index_open', lang))}</a>")
        elif result is not None:
            failed = html.escape(language.text("index_failed", lang))
            link = f'<span class="failed">{failed}</span>'
        else:
            link = html.escape(language.text("index_not_run", lang))
        cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in row)
        rows.append(f"<tr>{cells}<td>{link}</td></tr>")
    banner = (f'<p class="banner" role="note">{html.escape(language.text("synthetic_banner", lang))}'
              "</p>\n") if synthetic else ""
    title = language.text("index_title", lang, year=year, n=len(table))
    body = (f"<main>\n<h1>{html.escape(title)}</h1>\n{banner}"
            f"<p>{html.escape(language.text('index_intro', lang))}</p>\n"
            f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows)
            + f"\n</tbody>\n</table>\n</main>\n<footer>{html.escape(footer)}</footer>")
    return _page(body, lang=lang, title=title)


def _package_version(dist: str) -> str:
    try:
        return _version(dist)
    except PackageNotFoundError:
        return "unknown"
