"""The batch itself: :func:`run_batch` checks its arguments, plans the units (which must run and
why), runs them with the shared national results made once, and writes the year's index page
and manifest; :func:`resolve_units` turns ``--units`` into codes, :class:`BatchResult` is what a
batch did.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version as _version
from pathlib import Path

from .. import language, reference, report
from ..files import atomic_write as _atomic_write
from ..files import file_hash
from ..files import file_lock as _file_lock
from ..report import documents as _documents
from ..report.export import index_page, index_table
from ..report.kinds import DEFAULT_NOTEBOOK
from ..report.params import PARAMS_DIR, load_params_file
from ..report.shared import (CACHE_DIR_ENV, data_file_hash, package_fingerprint, processed_dir,
                             shared_cache_path, shared_results)
from ..report.shared import cache_folder as _cache_dir
from .errors import BatchError
from .executors import _run_dask, _run_local
from .incremental import (_digest, _previous_manifest, _result_from_record, notebook_fingerprint,
                          rerun_reason, unit_inputs)
from .kernels import CELL_TIMEOUT, ENGINES, KERNEL_NAME, check_kernel
from .unit import UnitResult, UnitTask, read_record


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


def _package_version(dist: str) -> str:
    try:
        return _version(dist)
    except PackageNotFoundError:
        return "unknown"


def versions() -> dict[str, str]:
    """Versions recorded in the manifest."""
    out = {"python": platform.python_version()}
    for name, dist in [("sipas_analysis", "sipas-analysis"), ("pandas", "pandas"),
                       ("numpy", "numpy"), ("statsmodels", "statsmodels"),
                       ("papermill", "papermill"), ("nbconvert", "nbconvert")]:
        out[name] = _package_version(dist)
    return out


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


def _params_file(code: str, unit_set: str, *, params_files: dict | None,
                 params_dir) -> Path | None:
    """The params file of a unit: given (--params), else params/units/<set>/<code>.yaml."""
    if params_files and code in params_files:
        return Path(params_files[code])
    path = Path(params_dir if params_dir is not None else PARAMS_DIR) / "units" / unit_set / \
        f"{code}.yaml"
    return path if path.is_file() else None


def _synthetic(data: str, shared) -> bool:
    return data == "demo" or bool(shared.synthetic)


def run_batch(year: int, *, units="all", unit_set: str | None = None, lang: str = "vi",
              data: str = "demo", jobs: int = 2, out="reports", notebook=None,
              kernel_name: str = KERNEL_NAME, cache_dir=None, compute=None,
              progress: bool = True, engine: str = "warm", force: bool = False,
              scheduler: str | None = None, params_files: dict | None = None,
              params_dir=None, timeout: float | None = CELL_TIMEOUT,
              kernel_start=None, documents=()) -> BatchResult:
    """Build every unit's report for a year; see the docstring of :mod:`sipas_analysis.batch`
    for the steps.

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
    may run (default :data:`~.kernels.CELL_TIMEOUT`; None: no limit): a wedged cell fails its
    unit, whose kernel is replaced, and the batch goes on. ``kernel_start`` replaces :func:`start_kernel` (tests).
    ``documents``: also make each unit's "pdf" (report.pdf) and/or "docx" (report.docx)
    (:mod:`sipas_analysis.report.documents`); a unit built without one runs again when asked.
    Raises BatchError or reference.UnknownProvinceError for usage mistakes before any work.
    """
    started = time.perf_counter()
    notebook = _checked_notebook(notebook, lang=lang, jobs=jobs, engine=engine,
                                 scheduler=scheduler)
    unit_set, codes = resolve_units(year, units, unit_set=unit_set)
    data = _kernel_data(data)
    check_kernel(kernel_name)
    cwd = Path.cwd()
    cache = _cache_dir(cache_dir).resolve()
    if timeout is not None and not timeout > 0:
        raise BatchError(f"the cell timeout must be a positive number of seconds, got {timeout}")
    documents = _checked_documents(documents)
    base = {"year": year, "unit_set": unit_set, "data": data, "lang": lang}
    try:  # checked before any folder is made (a wrong year leaves nothing behind)
        national = report.ReportParams(province_code=codes[0], **base)
    except ValueError as error:
        raise BatchError(str(error)) from None
    year_dir = Path(out).absolute() / str(year)
    year_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(year_dir / ".batch.lock", blocking=False, remove=True) as locked:
        if not locked:
            raise BatchError(f"another batch is writing to {year_dir}; wait for it to finish")
        shared = _SharedOnce(national, cache_dir=cache, compute=compute)
        data_hash = data_file_hash(data)
        notebook_hash, package = notebook_fingerprint(notebook), package_fingerprint()
        previous = _previous_manifest(year_dir)
        env = _kernel_environment(cache)
        partial = year_dir / ".partial"
        tasks, results = _plan_units(
            codes, base, year_dir=year_dir, partial=partial, previous=previous, force=force,
            params_files=params_files, params_dir=params_dir,
            fingerprints={"data_hash": data_hash, "notebook_hash": notebook_hash,
                          "package": package},
            task_fields={"notebook": str(notebook.resolve()), "cwd": str(cwd),
                         "kernel_name": kernel_name, "engine": engine, "env": env,
                         "timeout": timeout, "documents": documents})
        info = versions()
        manifest_path = year_dir / "manifest.json"
        fields = {
            "year": year, "unit_set": unit_set, "lang": lang,
            "notebook": str(notebook), "notebook_hash": notebook_hash, "package": package,
            "kernel_name": kernel_name, "engine": engine, "jobs": jobs, "scheduler": scheduler,
            "data": data, "data_hash": data_hash,
            "shared_cache": str(shared_cache_path(shared.params, cache_dir=cache)),
            "versions": info, "git_commit": report.git_commit()}

        def progress_manifest(result: UnitResult) -> None:
            # after each unit: the manifest says which units are done and which still wait, so
            # that it agrees with the folder at every instant
            now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
            done = [results[c] for c in codes if c in results]
            waiting = [{"province_code": t.parameters["province_code"], "reason": t.reason}
                       for t in tasks if t.parameters["province_code"] not in results]
            _write_manifest(manifest_path, _manifest(fields | {
                "created": now, "complete": False, "pending": waiting,
                "synthetic": bool(previous.get("synthetic", data == "demo"))}, done, info=info))

        if tasks:
            _run_units(tasks, results, shared=shared, year=year, env=env, partial=partial,
                       progress=progress, scheduler=scheduler, jobs=jobs,
                       kernel_start=kernel_start, after_each=progress_manifest)
        ordered = [results[c] for c in codes]
        now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        index_path = year_dir / "index.html"
        # The index shows every unit's status and the national ranking: rebuilt when either
        # may have changed (nothing ran and nothing changed: the page is left as it is).
        index_key = _digest([data_hash, package, year, unit_set, lang,
                             [(r.province_code, r.status, r.shown) for r in ordered]])
        if previous.get("index_key") != index_key or not index_path.exists():
            _write_index_page(index_path, shared.load(), results, year=year, unit_set=unit_set,
                              lang=lang, data=data, data_hash=data_hash, now=now,
                              version=info["sipas_analysis"])
        synthetic = _synthetic(data, shared.value) if shared.value is not None else \
            bool(previous.get("synthetic", data == "demo"))
        seconds = time.perf_counter() - started
        manifest = _manifest(fields | {
            "created": now, "complete": True, "pending": [], "synthetic": synthetic,
            "shared_seconds": round(shared.seconds, 3), "seconds": round(seconds, 3),
            "index_key": index_key}, ordered, info=info)
        _write_manifest(manifest_path, manifest)
    return BatchResult(year=year, unit_set=unit_set, results=ordered, out_dir=year_dir,
                       index_path=index_path, manifest_path=manifest_path, seconds=seconds,
                       shared_seconds=shared.seconds)


def _checked_notebook(notebook, *, lang: str, jobs: int, engine: str, scheduler) -> Path:
    """The notebook to run, once the options a user may get wrong are checked (BatchError)."""
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
    return notebook


def _kernel_data(data: str) -> str:
    """The ``data`` parameter as the kernels get it: "demo", or the survey file's absolute path."""
    if data == "demo":
        return data
    if not Path(data).exists():
        raise FileNotFoundError(f"no such survey file: {data}")
    return str(Path(data).resolve())


def _kernel_environment(cache: Path) -> dict:
    """What the kernels find in their environment: the shared cache and the processed data."""
    return {CACHE_DIR_ENV: str(cache), "SIPAS_PROCESSED_DIR": str(processed_dir().resolve()),
            # the inline backend, so that figures are embedded (an MPLBACKEND=Agg set for
            # CI would leave pages figureless)
            "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


class _SharedOnce:
    """The batch's shared national results, read from their cache (or computed) once, when
    first needed: before the units run, or for the index page when none ran."""

    def __init__(self, params, *, cache_dir: Path, compute):
        self.params, self.cache_dir, self.compute = params, cache_dir, compute
        self.value = None
        self.seconds = 0.0  # how long reading or computing them took

    def load(self):
        if self.value is None:
            started = time.perf_counter()
            self.value = shared_results(self.params, cache_dir=self.cache_dir,
                                        compute=self.compute)
            self.seconds = time.perf_counter() - started
        return self.value


def _plan_units(codes: list[str], base: dict, *, year_dir: Path, partial: Path, previous: dict,
                force: bool, params_files: dict | None, params_dir, fingerprints: dict,
                task_fields: dict) -> tuple[list[UnitTask], dict[str, UnitResult]]:
    """The units that must run, as UnitTasks with their reasons (``task_fields`` are the same
    for all), and the results, by code, of those that need not: read back from the previous
    manifest. ``base`` holds the batch's year, unit_set, data and lang; ``fingerprints`` the
    data_hash, notebook_hash and package of :func:`unit_inputs`."""
    unit_set = base["unit_set"]
    previous_units = {(u.get("unit_set"), u.get("province_code")): u
                      for u in previous.get("units", [])}
    tasks, results = [], {}
    for code in codes:
        file = _params_file(code, unit_set, params_files=params_files, params_dir=params_dir)
        from_file = load_params_file(file) if file is not None else {}
        parameters = {k: v for k, v in from_file.items() if k != "tables_path"} | \
            {"province_code": code, **base}
        inputs = unit_inputs(parameters, params_text=file.read_text(encoding="utf-8")
                             if file is not None else "", **fingerprints)
        # the folder's own record says what its files were built from; the manifest only how
        # the last attempt went (it may be older than the folder, after a kill)
        record = read_record(year_dir / f"{unit_set}-{code}")
        reason = rerun_reason(record, inputs, year_dir=year_dir, force=force,
                              last=previous_units.get((unit_set, code)))
        if reason is None and _documents_missing(record, task_fields.get("documents", ())):
            reason = "outputs missing"
        if reason is None:
            results[code] = _result_from_record(record)
            continue
        tasks.append(UnitTask(
            parameters=parameters, out_dir=str((year_dir / f"{unit_set}-{code}").resolve()),
            work_dir=str((partial / f"{unit_set}-{code}").resolve()),
            title=f"SIPAS {base['year']} · {report.unit_name(unit_set, code, base['lang'])}",
            reason=reason, key=_digest(inputs), inputs=inputs, **task_fields))
    return tasks, results


def _run_units(tasks: list[UnitTask], results: dict, *, shared: _SharedOnce, year: int,
               env: dict, partial: Path, progress: bool, scheduler: str | None, jobs: int,
               kernel_start, after_each=None) -> None:
    """Run ``tasks`` on the Dask cluster at ``scheduler`` or on ``jobs`` local threads, with the
    kernels' environment set and a progress bar, putting each result into ``results`` by code.
    The shared results are loaded first on a cluster; locally, while the kernels start."""
    from tqdm.auto import tqdm
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
                if after_each is not None:
                    after_each(result)

            if scheduler is not None:
                shared.load()
                _run_dask(tasks, scheduler=scheduler, on_result=on_result)
            else:  # the kernels start while the shared results are made or read
                _run_local(tasks, jobs=jobs, on_result=on_result, kernel_start=kernel_start,
                           before=shared.load)
    finally:  # units' unfinished work folders go, whatever happened
        shutil.rmtree(partial, ignore_errors=True)
        _documents.close_browsers()  # and the Chromium that printed the PDFs


def _checked_documents(documents) -> tuple:
    """The documents asked for, in a fixed order, once known and their tools there (BatchError
    before any work)."""
    asked = {documents} if isinstance(documents, str) else set(documents or ())
    unknown = sorted(asked - set(_documents.DOCUMENTS))
    if unknown:
        raise BatchError(f"unknown document(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(_documents.DOCUMENTS)}")
    documents = tuple(name for name in _documents.DOCUMENTS if name in asked)
    if "pdf" in documents:
        try:
            _documents.pdf_tools()
        except _documents.DocumentError as error:
            raise BatchError(f"--pdf: {error}") from None
    return documents


def _documents_missing(record: dict | None, documents: tuple) -> bool:
    """Whether a unit's folder lacks a document asked for today (built before it was asked)."""
    outputs = {Path(output).name for output in (record or {}).get("outputs") or []}
    return any(_documents.DOCUMENT_FILES[name] not in outputs for name in documents)


def _write_index_page(path: Path, shared, results: dict, *, year: int, unit_set: str, lang: str,
                      data: str, data_hash: str, now: str, version: str) -> None:
    """The year's index page: every unit ranked, linking to its report."""
    footer = language.text("index_footer", lang, time=now, data="demo" if data == "demo" else
                           Path(data).name, hash=data_hash, version=version) + \
        _weighting_note(shared, lang)
    page = index_page(index_table(shared, lang, unit_set=unit_set), results, year=year,
                      unit_set=unit_set, lang=lang, synthetic=_synthetic(data, shared),
                      footer=footer, map_svg=_index_map(shared, lang))
    _atomic_write(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))


def _weighting_note(shared, lang: str) -> str:
    """How the weights were made, the sentence every report page carries, for an index page
    (nothing for shared results that do not record it)."""
    from ..weighting import describe_weighting
    facts = getattr(shared, "weighting", None)
    return " " + describe_weighting(facts, lang) if facts else ""


def _index_map(shared, lang: str) -> str | None:
    """The map of the index page; none when the shared results hold no quartile groups (a
    stand-in of the tests, or a batch of one unit)."""
    from ..report.figures import has_map_groups, province_map
    if not has_map_groups(shared):
        return None
    return str(province_map(shared, lang=lang))


def _write_manifest(path: Path, manifest: dict) -> None:
    _atomic_write(path, lambda tmp: Path(tmp).write_text(
        json.dumps(manifest, indent=1, ensure_ascii=False, default=str), encoding="utf-8"))


def _manifest(batch: dict, ordered: list[UnitResult], *, info: dict) -> dict:
    """The manifest: the batch's own fields, then the counts and every unit's record."""
    return batch | {
        "summary": {"ok": sum(r.status == "ok" for r in ordered),
                    "failed": sum(r.status != "ok" for r in ordered)},
        "work": {"ran": sum(r.skipped is None for r in ordered),
                 "skipped": sum(r.skipped is not None for r in ordered)},
        # each unit's data hash is the one its report was built from
        "units": [dataclasses.asdict(r) | {"seconds": round(r.seconds, 3),
                                           "data_hash": r.inputs.get("data"), "versions": info}
                  for r in ordered],
    }


class _Computed:
    """Shared results already in hand, in the shape :func:`_run_units` asks for."""

    def __init__(self, value, seconds: float):
        self.value, self.seconds = value, seconds

    def load(self):
        return self.value


def run_agency_batch(year: int, *, data, codebook, units="all", lang: str = "vi",
                     par_max: float | None = None, jobs: int = 2, out="reports",
                     notebook=None, kernel_name: str = KERNEL_NAME, cache_dir=None,
                     progress: bool = True, engine: str = "warm", force: bool = False,
                     timeout: float | None = CELL_TIMEOUT, kernel_start=None,
                     documents=(), scheduler: str | None = None, previous=None,
                     previous_codebook=None) -> BatchResult:
    """Build the report of every unit inside a province (departments, district and commune
    committees, desks) named by a survey file read through ``codebook``, and the province's
    league table.

    ``units``: ``"all"`` (every unit of ``year``), names separated by ``;`` in any accepted
    spelling (``codebook.unit_key``), or a list. Writes OUT/YEAR/<unit_slug>/{report.ipynb,
    report.html, tables.xlsx, unit.json} per unit, OUT/YEAR/index.html (the league table),
    OUT/YEAR/par_points.xlsx (every unit's PAR points, ready to paste) and
    OUT/YEAR/manifest.json, with the province batch's machinery: units built aside and moved
    into place whole, a failed unit keeps its last good report, unchanged units are skipped.
    A unit's inputs include the codebook's hash and the PAR settings (``par_max`` is a
    parameter), so a changed codebook re-runs every unit.

    ``previous``: a survey file of an earlier year (read through ``previous_codebook``, or
    through ``codebook`` when None), the previous survey of the change column and of each
    unit's change section, instead of an earlier year of ``data`` (a file holding one as well
    is refused); its hash (and its codebook's) is among every unit's inputs, so a changed
    previous file re-runs the units. ``scheduler``: run the units on that Dask cluster
    (``tcp://host:port``; its workers must see the same paths), as :func:`run_batch` does.
    Raises BatchError for usage mistakes (an unknown unit, with its closest matches) before
    anything is written.
    """
    from ..codebook import Codebook, unit_slug
    from ..report.agency_shared import (AgencyParams, agency_cache_path,
                                        agency_shared_results, match_units)
    from ..report.export import league_page
    from ..report.kinds import AGENCY_REPORT
    started = time.perf_counter()
    notebook = _checked_notebook(notebook or AGENCY_REPORT.notebook, lang=lang, jobs=jobs,
                                 engine=engine, scheduler=scheduler)
    data, codebook = _kernel_data(str(data)), Path(codebook)
    if not codebook.is_file():
        raise FileNotFoundError(f"no such codebook: {codebook}")
    codebook = codebook.resolve()
    Codebook.from_yaml(codebook)     # a bad codebook is refused before any work
    if previous_codebook is not None and previous is None:
        raise BatchError("--previous-codebook reads a previous survey file: give --previous FILE")
    if previous is not None:
        previous = Path(_kernel_data(str(previous)))
    if previous_codebook is not None:
        previous_codebook = Path(previous_codebook)
        if not previous_codebook.is_file():
            raise FileNotFoundError(f"no such codebook: {previous_codebook}")
        previous_codebook = previous_codebook.resolve()
        Codebook.from_yaml(previous_codebook)
    if timeout is not None and not timeout > 0:
        raise BatchError(f"the cell timeout must be a positive number of seconds, got {timeout}")
    documents = _checked_documents(documents)
    cache = _cache_dir(cache_dir).resolve()
    base = {"year": year, "data": data, "codebook": str(codebook), "lang": lang,
            "par_max": par_max, "previous": str(previous or ""),
            "previous_codebook": str(previous_codebook or "")}
    try:
        params = AgencyParams(unit="", **base)
    except ValueError as error:
        raise BatchError(str(error)) from None
    with _environment(**{CACHE_DIR_ENV: str(cache)}):
        shared_started = time.perf_counter()
        shared = agency_shared_results(params, cache_dir=cache)
        shared_seconds = time.perf_counter() - shared_started
    previous_hashes = {}   # the previous survey's fingerprints among every unit's inputs
    if previous is not None:
        previous_hashes["previous_hash"] = shared.previous_hash
    if previous_codebook is not None:
        previous_hashes["previous_codebook_hash"] = file_hash(previous_codebook)
    try:
        names = match_units(shared.unit_names.values(), units)
    except ValueError as error:
        raise BatchError(f"--units: {error}") from None
    slugs = {}
    for name in names:
        slug = unit_slug(name)
        if slug in slugs:
            raise BatchError(f"units {slugs[slug]!r} and {name!r} have the same folder name "
                             f"{slug!r}")
        slugs[slug] = name
    check_kernel(kernel_name)
    year_dir = Path(out).absolute() / str(year)
    year_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(year_dir / ".batch.lock", blocking=False, remove=True) as locked:
        if not locked:
            raise BatchError(f"another batch is writing to {year_dir}; wait for it to finish")
        notebook_hash, package = notebook_fingerprint(notebook), package_fingerprint()
        last = _previous_manifest(year_dir)
        last_units = {u.get("province_code"): u for u in last.get("units", [])}
        env = _kernel_environment(cache)
        partial = year_dir / ".partial"
        tasks, results = [], {}
        for slug, name in slugs.items():
            parameters = {"unit": name, **base}
            inputs = unit_inputs(parameters, params_text="", data_hash=shared.data_hash,
                                 notebook_hash=notebook_hash, package=package,
                                 codebook_hash=shared.codebook_hash, **previous_hashes)
            record = read_record(year_dir / slug)
            reason = rerun_reason(record, inputs, year_dir=year_dir, force=force,
                                  last=last_units.get(slug))
            if reason is None and _documents_missing(record, documents):
                reason = "outputs missing"
            if reason is None:
                results[slug] = _result_from_record(record)
                continue
            tasks.append(UnitTask(
                notebook=str(notebook.resolve()), parameters=parameters,
                out_dir=str((year_dir / slug).resolve()),
                work_dir=str((partial / slug).resolve()), cwd=str(Path.cwd()),
                kernel_name=kernel_name, title=f"SIPAS {year} · {name}", engine=engine,
                env=env, timeout=timeout, reason=reason, key=_digest(inputs), inputs=inputs,
                documents=documents))
        info = versions()
        manifest_path = year_dir / "manifest.json"
        fields = {"kind": "agency", "year": year, "unit_set": "agency", "lang": lang,
                  "notebook": str(notebook), "notebook_hash": notebook_hash,
                  "package": package, "kernel_name": kernel_name, "engine": engine,
                  "jobs": jobs, "scheduler": scheduler, "data": data, "data_hash": shared.data_hash,
                  "codebook": str(codebook), "codebook_hash": shared.codebook_hash,
                  "par_max": par_max, "par_rule": shared.par_rule,
                  "previous": str(previous) if previous is not None else None,
                  "previous_codebook": str(previous_codebook) if previous_codebook else None,
                  **{f"{name}_hash": value for name, value in previous_hashes.items()},
                  "shared_cache": str(agency_cache_path(params, cache_dir=cache)),
                  "versions": info, "git_commit": report.git_commit()}

        def progress_manifest(result: UnitResult) -> None:
            now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
            done = [results[s] for s in slugs if s in results]
            waiting = [{"province_code": unit_slug(t.parameters["unit"]), "reason": t.reason}
                       for t in tasks if unit_slug(t.parameters["unit"]) not in results]
            _write_manifest(manifest_path, _manifest(fields | {
                "created": now, "complete": False, "pending": waiting,
                "synthetic": shared.synthetic}, done, info=info))

        if tasks:
            _run_units(tasks, results, shared=_Computed(shared, shared_seconds), year=year,
                       env=env, partial=partial, progress=progress, scheduler=scheduler,
                       jobs=jobs, kernel_start=kernel_start, after_each=progress_manifest)
        ordered = [results[s] for s in slugs]
        now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        index_path = year_dir / "index.html"
        index_key = _digest([shared.data_hash, shared.codebook_hash, package, year, lang,
                             par_max, [(r.province_code, r.status, r.shown) for r in ordered]]
                            + ([previous_hashes] if previous_hashes else []))
        if last.get("index_key") != index_key or not index_path.exists() or \
                not (year_dir / "par_points.xlsx").exists():
            footer = language.text("index_footer", lang, time=now, data=Path(data).name,
                                   hash=shared.data_hash, version=info["sipas_analysis"]) + \
                f" Codebook {codebook.name} ({shared.codebook_hash})." + \
                _weighting_note(shared, lang) + \
                (f" Previous survey {previous.name} ({shared.previous_hash})."
                 if previous is not None else "")
            page = league_page(shared, results, lang=lang, footer=footer)
            _atomic_write(index_path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
            # the PAR appraisal table of every unit, ready to paste (one sheet, numbers)
            from ..par_points import write_par_workbook
            par = shared.par.sort_values(["unit_type", "unit"]).reset_index(drop=True)
            if "rule" in par:   # the rule in the reader's words
                par["rule"] = (getattr(shared, "par_rule_text", None) or {}).get(
                    lang, shared.par_rule)
            write_par_workbook(par[["unit", "unit_type"] + [c for c in par.columns
                                                           if c not in ("unit", "unit_type")]],
                               year_dir / "par_points.xlsx", lang=lang)
        seconds = time.perf_counter() - started
        _write_manifest(manifest_path, _manifest(fields | {
            "created": now, "complete": True, "pending": [], "synthetic": shared.synthetic,
            "shared_seconds": round(shared_seconds, 3), "seconds": round(seconds, 3),
            "index_key": index_key}, ordered, info=info))
    return BatchResult(year=year, unit_set="agency", results=ordered, out_dir=year_dir,
                       index_path=index_path, manifest_path=manifest_path, seconds=seconds,
                       shared_seconds=shared_seconds)
