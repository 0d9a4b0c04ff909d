"""The national results every unit's report of a year shares, and their on-disk cache.

:func:`compute_shared` composes them from the indices and the models (the reports only look
their rows up); :func:`shared_results` computes them once per batch and caches them under a
key made of the data file's hash, the year, the unit set, the package version and source, and
the report settings. A part whose survey columns the data lack is left empty, and the sections
that show it say so (see :mod:`sipas_analysis.report.sections`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import version as _package_version
from pathlib import Path

import pandas as pd

from .. import io, reference, resources, simulate
from ..files import atomic_write, file_hash, file_lock
from .display import suppression_flags
from .params import UNIT_ONLY_PARAMETERS, ReportParams
from .settings import FACTOR_SCORES, FACTS, ReportSettings

PACKAGE_DIR = resources.PACKAGE_DIR
CACHE_DIR_ENV = "SIPAS_CACHE_DIR"
BREAKDOWNS = ("agency_level", "service_area")

# Survey columns each optional part of the shared results needs (the design columns and the
# ratings are always needed). A part whose columns the data lack is left empty.
DRIVER_COLUMNS = ("used_service", "overall_satisfaction", *FACTS)
EXPERIENCE_COLUMNS = ("used_service", "on_time", "applied_online")


@dataclass
class SharedResults:
    """What every unit's report of one year shares: computed once per batch and cached.

    All tables are tidy DataFrames (no fitted objects, so the cache stays small):
    ``national``/``units``/``regions`` (sipas_index tables: nation, every unit, every region),
    ``ranks`` (marginal step-down rank sets of the overall index with t draws on each unit's
    design df, plus ``rank_low_simultaneous``, ``rank_high_simultaneous``, ``could_be_top_5``
    (the tau-best set), ``quartile_group`` and the approximate probabilities ``p_group_1..4``
    of each quartile group), ``versus_nation`` (each unit minus the nation, every term),
    ``drivers`` (ordinal model: tidy log-odds; ``ame``: logit average marginal effects in
    percentage points), ``importance`` (LMG table, with ``importance_r_squared`` and
    ``importance_notes``), ``ipa`` (national importance against national factor performance),
    ``multilevel_effects`` (province-specific staff effects), ``multilevel_national``,
    ``multilevel_notes``, ``experience`` (on-time and online shares by year, unit and nation),
    ``former_provinces`` (34-set reports: the 63 former provinces' latest indices), ``papi``,
    ``published``; ``breakdowns`` (``by`` -> every unit's overall index by that column, a domain
    of the national design: the by column, ``province_code``, estimate, std_error, ci_low,
    ci_high, n, n_eff, ...) and ``local_models`` (unit -> (design df, tidy province-only
    regression or None)), so that a unit's report only looks its rows up. ``settings`` are the
    :class:`~sipas_analysis.report.settings.ReportSettings` used; ``columns`` the survey
    columns that hold data (a section needing others says so instead of showing);
    ``weighting``: how the weights were made (:func:`unit_weighting_facts`: the national
    ``weighting.weighting_facts`` with each unit's own weighting design effect), for the
    method sentence of every page.
    """

    year: int
    unit_set: str
    data_hash: str
    synthetic: bool
    settings: ReportSettings
    n_respondents: int
    national: pd.DataFrame
    units: pd.DataFrame
    regions: pd.DataFrame
    ranks: pd.DataFrame
    versus_nation: pd.DataFrame
    drivers: pd.DataFrame
    ame: pd.DataFrame
    importance: pd.DataFrame
    importance_r_squared: float
    importance_notes: list
    ipa: pd.DataFrame
    multilevel_effects: pd.DataFrame
    multilevel_national: pd.DataFrame
    multilevel_notes: list
    experience: pd.DataFrame
    former_provinces: pd.DataFrame
    papi: pd.DataFrame
    published: pd.DataFrame
    breakdowns: dict = field(default_factory=dict)
    local_models: dict | None = None
    columns: frozenset = frozenset()
    weighting: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# The computations
# --------------------------------------------------------------------------------------------
def survey_design(survey: pd.DataFrame):
    """The SIPAS design of a respondent frame: weights, district (or urban/rural) strata and
    commune/village PSUs. A stratum left with one PSU (a small domain) is centred at the grand
    mean, R's ``survey.lonely.psu = "adjust"``."""
    from ..design import SurveyDesign
    return SurveyDesign(survey, weights="weight", strata="stratum", psu="psu",
                        lonely_psu="adjust")


def unit_weighting_facts(design, unit: str) -> dict:
    """``weighting.weighting_facts`` of ``design`` with ``weighting_deff_by_unit``: unit ->
    1 + CV² of the weights of its respondents of positive weight (a unit's page states its
    own)."""
    from ..weighting import weighting_deff, weighting_facts
    facts = weighting_facts(design)
    codes = design.data[unit].astype(str).to_numpy()
    weights = design.weights
    facts["weighting_deff_by_unit"] = {code: weighting_deff(weights[codes == code])
                                       for code in pd.unique(codes)}
    return facts


def in_unit_set(survey: pd.DataFrame, unit_set: str) -> pd.DataFrame:
    """Rows expressed in ``unit_set``: 63-set rows are mapped to the 34 units for a "34" view
    (the post-2025 view of earlier years); a "63" view of 34-set rows is impossible."""
    if unit_set == "34" and (survey["unit_set"] == "63").any():
        return reference.to_2025_units(survey)
    if unit_set == "63" and (survey["unit_set"] == "34").any():
        return survey[survey["unit_set"] == "63"]
    return survey


def _with_region(survey: pd.DataFrame, unit_set: str) -> pd.DataFrame:
    regions = reference.provinces(unit_set)[["province_code", "region_id"]]
    return survey.drop(columns=["region_id"], errors="ignore").merge(
        regions, on="province_code", how="left")


def year_survey(survey: pd.DataFrame, params: ReportParams) -> pd.DataFrame:
    """The respondents of the report's year, in its unit set, with their region."""
    rows = in_unit_set(survey[survey["year"] == params.year], params.unit_set)
    if rows.empty:
        raise ValueError(f"the data have no respondents in {params.year} for the "
                         f"{params.unit_set}-unit set")
    return _with_region(rows.reset_index(drop=True), params.unit_set)


def data_columns(survey: pd.DataFrame) -> frozenset:
    """The columns of ``survey`` that hold at least one value."""
    return frozenset(c for c in survey.columns if survey[c].notna().any())


def compute_shared(survey: pd.DataFrame, params: ReportParams, *, data_hash: str,
                   seed: int = 0, settings: ReportSettings | None = None) -> SharedResults:
    """Everything the units of ``params.year`` share, from the validated survey."""
    from .. import indices
    from ..models import average_marginal_effects, fit_linear, fit_logit, fit_multilevel, \
        fit_ordinal, tidy
    from ..models.importance import ipa_table, relative_importance

    settings = settings or ReportSettings()
    columns = data_columns(survey)
    index_options = settings.index_options
    year = year_survey(survey, params)
    design = survey_design(year)
    national = flag_suppressed(indices.sipas_index(design, **index_options), settings)
    units = flag_suppressed(indices.sipas_index(design, by="province_code", **index_options),
                            settings)
    regional = design.subset(year["region_id"].notna().to_numpy())
    regions = flag_suppressed(indices.sipas_index(regional, by="region_id", **index_options),
                              settings)
    overall = units[units["kind"] == "overall"]
    ranks = indices.rank_units(overall, unit="province_code", seed=seed)
    joint = indices.rank_units(overall, unit="province_code", seed=seed, simultaneous=True)
    ranks["rank_low_simultaneous"] = joint["rank_low"].to_numpy()
    ranks["rank_high_simultaneous"] = joint["rank_high"].to_numpy()
    # "could it be among the top 5?" (tau-best) and the approximate chance of each quartile
    # group, the way PAPI colours provinces
    ranks["could_be_top_5"] = (joint["rank_low"] <= min(5, len(joint))).to_numpy()
    quartiles = indices.rank_group_probabilities(overall, unit="province_code", seed=seed)
    ranks = ranks.merge(quartiles.drop(columns=["estimate"]).rename(
        columns={"group": "quartile_group"}), on="province_code", how="left")
    terms = list(national["term"])
    versus = indices.compare_indices(design, between="province_code", reference="all",
                                     term=terms, satisfied=settings.rule.satisfied,
                                     rule=settings.rule.aggregation,
                                     simultaneous=settings.p_adjust == "simultaneous",
                                     seed=seed)
    # A comparison of a suppressed estimate is withheld with it.
    versus = versus.merge(units[["province_code", "term", "suppressed"]].rename(
        columns={"province_code": "group"}), on=["group", "term"], how="left")

    empty = pd.DataFrame()
    drivers = ame = importance_table = ipa = effects = effects_national = empty
    r_squared, importance_notes, multilevel_notes, local_models = float("nan"), [], [], {}
    if set(DRIVER_COLUMNS + tuple(FACTOR_SCORES)) <= columns:
        users = year[year["used_service"].astype(bool)].reset_index(drop=True)
        user_design = survey_design(users)
        drivers = tidy(fit_ordinal(settings.driver_formula, user_design))
        ame = average_marginal_effects(fit_logit(settings.logit_formula, user_design))
        for column in ["estimate", "std_error", "ci_low", "ci_high"]:
            ame[column] = 100 * ame[column]           # percentage points

        importance = relative_importance(settings.importance_formula, user_design,
                                         n_reps=settings.n_reps, seed=seed)
        factor_table = national[national["kind"] == "factor"]
        named = importance.table.assign(term=importance.table["term"].str.replace("_score", ""))
        ipa = ipa_table(named, factor_table[["term", "estimate"]])
        importance_table, r_squared = importance.table, importance.r_squared
        importance_notes = list(importance.notes)

        complete = users.dropna(subset=FACTOR_SCORES + ["on_time", "applied_online",
                                                        "overall_satisfaction"])
        national_linear = fit_linear(settings.multilevel_formula, user_design)
        # survey-weighted (pseudo-likelihood, weights scaled to each province's sample size):
        # every province is in the sample, so the respondent weight is the level-1 weight
        multilevel = fit_multilevel(settings.multilevel_formula, complete, groups="province_code",
                                    re_formula="~staff_score", weights="weight",
                                    weight_scaling="size", national=national_linear)
        effects = multilevel.extra["group_effects"]
        effects_national = multilevel.extra["national_comparison"]
        multilevel_notes = list(multilevel.extra.get("notes", [])) + [multilevel.variance]
        local_models = _local_models_all(year, settings)

    breakdowns = {by: _breakdown_all(year, design, by=by, settings=settings)
                  for by in BREAKDOWNS if by in columns}
    experience = _experience(survey, params) if set(EXPERIENCE_COLUMNS) <= columns else empty
    former = pd.DataFrame()
    if params.unit_set == "34":
        former = _former_provinces(survey, index_options)
        if not former.empty:
            former = flag_suppressed(former, settings)
    return SharedResults(
        year=params.year, unit_set=params.unit_set, data_hash=data_hash,
        synthetic=bool(survey.get("synthetic", pd.Series([False])).any()), settings=settings,
        n_respondents=len(year), national=national, units=units, regions=regions, ranks=ranks,
        versus_nation=versus, drivers=drivers, ame=ame, importance=importance_table,
        importance_r_squared=r_squared, importance_notes=importance_notes,
        ipa=ipa, multilevel_effects=effects, multilevel_national=effects_national,
        multilevel_notes=multilevel_notes, experience=experience, former_provinces=former,
        papi=io.load_papi(), published=io.load_published_sipas(), breakdowns=breakdowns,
        local_models=local_models, columns=columns,
        weighting=unit_weighting_facts(design, "province_code"))


def _breakdown_all(year: pd.DataFrame, design, *, by: str,
                   settings: ReportSettings) -> pd.DataFrame:
    """Every unit's overall index by ``by``: the domains (unit, level) of the full national
    design, the same estimates and intervals as one unit's domain at a time (the design is the
    same; only the rows outside a domain get zero weight, in both). Columns: province_code,
    ``by``, kind, term, estimate, std_error, ci_low, ci_high, n, df, n_eff, deff, small_sample,
    suppressed."""
    from .. import indices
    domain = design.subset(year[by].notna().to_numpy())
    table = indices.sipas_index(domain, by=["province_code", by], **settings.index_options)
    return flag_suppressed(table[table["kind"] == "overall"].reset_index(drop=True), settings)


def flag_suppressed(table: pd.DataFrame, settings: ReportSettings) -> pd.DataFrame:
    """``table`` with the boolean ``suppressed`` column of the one suppression rule
    (``display.suppression_flags`` with the settings' thresholds)."""
    return table.assign(suppressed=suppression_flags(table, **settings.suppression_options))


def _local_models_all(year: pd.DataFrame, settings: ReportSettings) -> dict:
    """unit -> (design df, tidy province-only regression or None) for every unit with service
    users: the local regression's rule and fit, one unit at a time."""
    users = year[year["used_service"].astype(bool)]
    return {code: local_model(rows.reset_index(drop=True), settings)
            for code, rows in users.groupby("province_code", sort=True, observed=True)}


def local_model(users: pd.DataFrame, settings: ReportSettings):
    """(design df, tidy design-based regression of one unit's service users, or None when the
    design df are below ``settings.min_unit_design_df``)."""
    from ..models import fit_linear, tidy
    design = survey_design(users)
    if design.df < settings.min_unit_design_df:
        return design.df, None
    return design.df, tidy(fit_linear(settings.multilevel_formula, design))


def _experience(survey: pd.DataFrame, params: ReportParams) -> pd.DataFrame:
    """On-time and online shares (percent of service users) by year, for every unit and the
    nation, in the report's unit set: ``year, province_code, term, estimate, ci_low, ci_high``
    (province_code "nation" for the national rows)."""
    rows = in_unit_set(survey[survey["used_service"].astype(bool)], params.unit_set)
    rows = rows[rows["year"] <= params.year].reset_index(drop=True)
    # a unit whose respondents all have zero weight has no estimate (and no row here), rather
    # than stopping every unit's report
    design = survey_design(rows).subset((rows["weight"] > 0).to_numpy())
    terms = ["on_time", "applied_online"]
    by_unit = design.by(terms, ["year", "province_code"], na_rm=True)
    nation = design.by(terms, "year", na_rm=True).assign(province_code="nation")
    table = pd.concat([by_unit, nation], ignore_index=True)
    for column in ["estimate", "std_error", "ci_low", "ci_high"]:
        table[column] = 100 * table[column]
    return table


def _former_provinces(survey: pd.DataFrame, index_options: dict) -> pd.DataFrame:
    """The latest 63-set year's overall and factor indices of every former province, with the
    34-set unit it became (``province_code_34``)."""
    from .. import indices
    old = survey[survey["unit_set"] == "63"]
    if old.empty:
        return pd.DataFrame()
    latest = old[old["year"] == old["year"].max()].reset_index(drop=True)
    table = indices.sipas_index(survey_design(latest), by="province_code", **index_options)
    crosswalk = reference.crosswalk_2025()[["province_code_63", "province_code_34"]]
    table = table.merge(crosswalk, left_on="province_code", right_on="province_code_63")
    return table.drop(columns=["province_code_63"]).assign(year=int(latest["year"].iloc[0]))


# --------------------------------------------------------------------------------------------
# Data files and fingerprints
# --------------------------------------------------------------------------------------------
def data_hash(frame: pd.DataFrame) -> str:
    """A short, stable fingerprint of a data frame's content (row order and values)."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def package_fingerprint() -> str:
    """sha256 (16 hex digits) of the package version and every source file of
    ``sipas_analysis``: a cache made by other code is never reused, even at the same version."""
    digest = hashlib.sha256(_package_version("sipas-analysis").encode())
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


processed_dir = resources.processed_dir  # where derived data go (the demo sample, the cache)


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
    content = directory / "demo_survey.parquet.hash"

    def fresh() -> bool:
        return path.exists() and stamp.exists() and content.exists() \
            and stamp.read_text() == package_fingerprint()

    if fresh():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    with file_lock(directory / ".demo_survey.lock"):
        if not fresh():  # another process may have written it while we waited
            survey = simulate.demo_survey()
            atomic_write(path, lambda tmp: survey.to_parquet(tmp, index=False))
            atomic_write(content, lambda tmp: Path(tmp).write_text(data_hash(survey)))
            atomic_write(stamp, lambda tmp: Path(tmp).write_text(package_fingerprint()))
    return path


def data_file_hash(data: str) -> str:
    """The fingerprint of a report's data: a file's bytes, or for ``"demo"`` the demo sample's
    content (:func:`data_hash`), since a parquet file's bytes depend on the version of the
    library that wrote it and the same sample must carry the same hash on every machine."""
    if data == "demo":
        demo_data_path()
        return (processed_dir() / "demo_survey.parquet.hash").read_text().strip()
    return file_hash(data_path(data))


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


# --------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------
def _params_dict(params) -> dict:
    if isinstance(params, dict):
        return dict(params)
    if dataclasses.is_dataclass(params):
        return dataclasses.asdict(params)
    raise TypeError(f"report parameters must be a ReportParams or a dict, got "
                    f"{type(params).__name__}")


def cache_folder(directory=None) -> Path:
    """The shared-results cache folder: ``directory``, else ``$SIPAS_CACHE_DIR``, else
    ``cache/`` in :func:`processed_dir`."""
    if directory is not None:
        return Path(directory)
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    return processed_dir() / "cache"


def shared_key(params, *, settings: ReportSettings | None = None) -> dict:
    """What the shared national results depend on: data hash, year, unit set, package version and
    source, the report settings, and every parameter that is not unit-only (a parameter added
    to the vocabulary joins the key by itself)."""
    values = _params_dict(params)
    others = {k: v for k, v in sorted(values.items())
              if k not in UNIT_ONLY_PARAMETERS | {"year", "unit_set"}}
    return {"data_hash": data_file_hash(values["data"]), "year": values["year"],
            "unit_set": values["unit_set"] or reference.default_unit_set(values["year"]),
            "sipas_analysis": _package_version("sipas-analysis"), "source": package_fingerprint(),
            "settings": others,
            "report_settings": (settings or ReportSettings()).as_dict()}


def shared_cache_path(params, *, cache_dir=None) -> Path:
    """The pickle file that holds (or will hold) the shared results for these parameters."""
    key = shared_key(params)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return cache_folder(cache_dir) / f"shared-{key['year']}-{key['unit_set']}-{digest[:20]}.pkl"



def shared_results(params, *, cache_dir=None, compute=None):
    """The national results every unit's report shares, computed once and cached on disk.

    ``compute(survey, params, data_hash=...)`` defaults to :func:`compute_shared`; the survey
    is :func:`load_report_data` and ``data_hash`` the file's hash. The cache is a pickle in
    ``cache_dir``, else ``$SIPAS_CACHE_DIR``, else ``cache/`` in :func:`processed_dir`, named by
    :func:`shared_key`. The first process to miss the cache takes a lock and computes; the
    others wait and then read. The file is written to a temp name and renamed, so no one ever
    reads half of it.

    Returns what ``compute`` returns (a :class:`SharedResults`).
    """
    path = shared_cache_path(params, cache_dir=cache_dir)
    cached = _read_pickle(path)
    if cached is not None:
        return cached
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.with_suffix(".lock")):
        cached = _read_pickle(path)  # computed by another process while we waited
        if cached is not None:
            return cached
        compute = compute or compute_shared
        key = shared_key(params)
        results = compute(load_report_data(params), params, data_hash=key["data_hash"])
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(
            pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)))
        atomic_write(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(
            json.dumps(key, indent=1, sort_keys=True, default=str)))
    return results


def _read_pickle(path: Path):
    if not path.exists():
        return None
    try:
        return pickle.loads(path.read_bytes())
    except Exception:  # noqa: BLE001 - an unreadable cache is recomputed, never trusted
        return None
