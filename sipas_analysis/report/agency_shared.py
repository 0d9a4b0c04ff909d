"""What every unit's report of a province's own survey shares (the "agency" report kind): the
units of the file (departments, district and commune committees, desks) as report units.

:func:`compute_agency_shared` makes tidy tables from the survey read through its codebook:
every unit's index, rank sets within each unit type, each unit against "the province", the
type means, the change from the previous survey (an earlier year of the file or a
previous survey file), PAR points and each unit's relative importance of its factors,
and the unit models of :func:`add_unit_models` (driver slopes, Fay-Herriot estimates,
tracking, multiplicity-adjusted marks), fitted once per batch.
:func:`agency_shared_results` caches them on disk under a key made of the data file's
hash, the codebook file's hash (and those of a previous survey file and its codebook),
the PAR settings, the year, the package source and the report settings.
:class:`AgencyParams` are the notebook's parameters; :func:`match_units` turns
``--units`` into the file's unit names.

"The province": with unit sizes (the codebook's ``columns.unit_size``) the size-weighted mean
of the units' indices; without, their equal-weight mean. Either is a fixed linear combination
of the units' estimates, so a unit's difference from it has the design standard error
``sqrt(c' V c)`` from the units' joint covariance (``indices.sipas_index_vcov``), and a t test
on the unit's design degrees of freedom.

"The previous survey": an earlier year in the same file, or a second file (``previous``, read
through ``previous_codebook`` when last year's questionnaire had other headers, else through
the same codebook), whose units are matched to this year's by ``codebook.unit_key`` and this
year's ``unit_aliases``. A second file is an independent sample: its strata and PSUs are kept
apart from this year's, so the variance of a change is the sum of the two variances. Both
sources at once are refused (which one the change would come from is not for the code to
guess).
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .. import files
from ..language import LANGS
from .settings import ReportSettings

AGENCY_PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "unit": (str,), "year": (int,), "data": (str,), "codebook": (str,), "lang": (str,),
    "par_max": (float, int, type(None)), "previous": (str,), "previous_codebook": (str,),
    "tables_path": (str,)}


@dataclass(frozen=True)
class AgencyParams:
    """The parameters of one in-province unit's report: the unit's name (any accepted
    spelling), the year, the survey file and its codebook, the language, the PAR maximum
    (``None``: the codebook's ``par``, else 25), the previous survey's file and codebook (""
    when none, or when it is an earlier year of ``data``; "" codebook: ``codebook`` reads it)
    and where the workbook goes."""

    unit: str
    year: int
    data: str
    codebook: str
    lang: str = "vi"
    par_max: float | None = None
    previous: str = ""
    previous_codebook: str = ""
    tables_path: str = ""

    kind = "agency"   # which report kind shows these parameters (not a parameter)
    TYPES = AGENCY_PARAMETER_TYPES

    def __post_init__(self):
        if self.data == EXAMPLE or self.codebook == EXAMPLE:
            # the synthetic example: both files, made once (the notebook's default)
            data, book = example_files()
            object.__setattr__(self, "data", str(data))
            object.__setattr__(self, "codebook", str(book))
        problems = [f"{name} must be {' or '.join(t.__name__ for t in expected)}, got "
                    f"{files.short_repr(getattr(self, name))}"
                    for name, expected in self.TYPES.items()
                    if isinstance(getattr(self, name), bool)
                    or not isinstance(getattr(self, name), expected)]
        if not problems:
            if self.lang not in LANGS:
                problems.append(f"lang must be one of {LANGS}, got {self.lang!r}")
            for name in ("data", "codebook"):
                if not Path(getattr(self, name)).is_file():
                    problems.append(f"{name} must be an existing file, got "
                                    f"{files.short_repr(getattr(self, name))}")
            for name in ("previous", "previous_codebook"):
                if getattr(self, name) and not Path(getattr(self, name)).is_file():
                    problems.append(f"{name} must be an existing file or \"\", got "
                                    f"{files.short_repr(getattr(self, name))}")
            if self.previous_codebook and not self.previous:
                problems.append("previous_codebook reads a previous survey file: give previous")
            if self.par_max is not None and not self.par_max > 0:
                problems.append(f"par_max must be a number > 0, got {self.par_max!r}")
        if problems:
            raise ValueError("agency report parameters: " + "; ".join(problems))

    @classmethod
    def from_namespace(cls, namespace: dict, *, before: set[str]) -> "AgencyParams":
        """Build from a notebook's globals: every name defined after ``before``."""
        from .params import check_parameters
        return cls(**check_parameters(namespace, before=before, types=cls.TYPES))

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class AgencyShared:
    """What the reports of one year of a province's own survey share (tidy tables only).

    ``units``: every unit's ``sipas_index`` rows (column ``unit``, all terms, with
    ``unit_type`` and ``suppressed``); ``ranks``: ``unit, unit_type, rank, rank_low,
    rank_high, n_peers`` (rank sets among the units of the same type); ``province``: the
    province figure per term (``term, kind, estimate, std_error, ci_low, ci_high``);
    ``versus_province``: ``unit, term, estimate, province, difference, std_error, ci_low,
    ci_high, statistic, df, p_value, mark`` (mark ``above``/``below``/``""`` at the 5 % level);
    ``type_means``: ``unit_type, term, estimate`` (equal-weight means of the type's units);
    ``change``: ``compare_indices``' columns (``unit, term, estimate_group, estimate_versus,
    estimate`` (the change), ``std_error, ci_low, ci_high, df, statistic, p_value``) with
    ``previous_year`` (empty without a previous survey); ``previous_name``/``previous_hash``:
    the previous survey's file name and hash ("" when it is an earlier year of the same file);
    ``new_units``: this year's units the previous survey does not have; ``province_name``: the
    province the file's units belong to (its name from the codebook's ``constants.province`` or
    province column; "" when it names none); ``par``: ``par_points.par_table``
    per unit (with ``unit_type``); ``importance``: ``unit, term, lmg, share, r_squared, n``
    (empty without an overall question); ``labels``: criterion -> the codebook's header text;
    ``weighting``: how the weights were made (``shared.unit_weighting_facts``, with each unit's
    own weighting design effect), for the method sentence of every page.
    ``par_rule``: the PAR rule in English (for the manifest), ``par_rule_text``: lang -> the
    rule in that language; ``assumptions``: lang -> what the file lacks, one sentence each
    (the codebook's, :meth:`~sipas_analysis.codebook.Codebook.assumptions`).
    ``unit_drivers``, ``driver_min_df``, ``driver_notes``: :func:`unit_drivers`;
    ``small_area``, ``small_area_benchmarked``, ``small_area_notes``: :func:`unit_small_area`;
    ``tracking``: :func:`unit_tracking`; ``league_marks``: :func:`adjusted_marks`.
    """

    year: int
    data_name: str
    data_hash: str
    codebook_name: str
    codebook_hash: str
    settings: ReportSettings
    n_respondents: int
    unit_names: dict                  # unit_key -> the file's spelling
    units: pd.DataFrame
    ranks: pd.DataFrame
    province: pd.DataFrame
    province_rule: str                # "weighted" (unit sizes) or "equal"
    versus_province: pd.DataFrame
    type_means: pd.DataFrame
    change: pd.DataFrame
    par: pd.DataFrame
    par_rule: str
    importance: pd.DataFrame
    labels: dict
    factors: dict
    assumptions: dict
    previous_year: int | None = None
    previous_name: str = ""
    previous_hash: str = ""
    new_units: tuple = ()
    province_name: str = ""
    synthetic: bool = False
    columns: frozenset = frozenset()
    unit_column: str = "unit"
    extra: dict = field(default_factory=dict)
    weighting: dict = field(default_factory=dict)
    par_rule_text: dict = field(default_factory=dict)
    # the unit models (:func:`add_unit_models`): drivers, small-area estimates, tracking and
    # the multiplicity-adjusted marks against the province
    unit_drivers: pd.DataFrame = field(default_factory=pd.DataFrame)
    driver_min_df: int | None = None
    driver_notes: list = field(default_factory=list)
    small_area: pd.DataFrame = field(default_factory=pd.DataFrame)
    small_area_benchmarked: bool = False
    small_area_notes: list = field(default_factory=list)
    tracking: dict = field(default_factory=dict)
    league_marks: pd.DataFrame = field(default_factory=pd.DataFrame)

    def unit_of(self, name: str) -> str | None:
        """The file's spelling of the unit named ``name`` (any accepted spelling), or None."""
        from ..codebook import unit_key
        return self.unit_names.get(unit_key(name))


def match_units(available, requested) -> list[str]:
    """The units ``requested`` names, in the file's spelling and in the order asked:
    ``"all"`` (every unit of ``available``, sorted), names separated by ``;`` (names hold
    commas), or a list of names; any accepted spelling (``codebook.unit_key``). Raises
    ValueError naming every unknown name with its closest matches.

    Examples
    --------
    >>> match_units(["Sở Tư pháp", "UBND huyện Phú Lương"], "ủy ban nhân dân huyện phú lương")
    ['UBND huyện Phú Lương']
    >>> match_units(["Sở Tư pháp"], "Sở Tư phap; Sở Y tế")
    Traceback (most recent call last):
    ...
    ValueError: unknown unit(s) 'Sở Y tế'; the file's units: Sở Tư pháp
    """
    from ..codebook import unit_key
    names = sorted({str(v) for v in available})
    by_key = {unit_key(n): n for n in names}
    if isinstance(requested, str):
        if requested.strip().lower() == "all":
            return names
        requested = requested.split(";")
    wanted = [str(v).strip() for v in requested if str(v).strip()]
    if not wanted:
        raise ValueError("no units given: use 'all' or names separated by ';'")
    found, unknown = [], []
    for value in wanted:
        name = by_key.get(unit_key(value))
        if name is None:
            close = difflib.get_close_matches(unit_key(value), list(by_key), n=3, cutoff=0.6)
            unknown.append(f"{value!r}" + (f" (closest: {', '.join(by_key[c] for c in close)})"
                                           if close else ""))
        elif name not in found:
            found.append(name)
    if unknown:
        # names contain commas ("Sở Văn hóa, Thể thao và Du lịch"): ';' separates them
        comma = any("," in value for value in wanted) and ";" not in ";".join(
            v for v in wanted if "," in v) and len(wanted) == 1
        hint = " (separate several names with ';', not ',')" if comma else ""
        raise ValueError(f"unknown unit(s) {'; '.join(unknown)}{hint}; the file's units: "
                         + "; ".join(names))
    return found


def par_settings(codebook, par_max) -> dict:
    """The PAR settings in force: the codebook's ``par`` with ``--par-max`` overriding its
    maximum (part of the cache key and of every unit's inputs)."""
    return {"par": dict(codebook.par or {}), "par_max": par_max}


def par_rule(codebook, par_max):
    from ..par_points import ParRule
    return ParRule.from_codebook(codebook.par or {}, maximum=par_max)


def _design(survey: pd.DataFrame, codebook=None):
    """The design of one year's respondents, with the codebook's weighting step when it has
    one (``design.design_for``)."""
    from ..design import design_for
    return design_for(survey, codebook, lonely_psu="adjust")


def _calibrated_by_year(survey: pd.DataFrame, codebook) -> pd.DataFrame:
    """``survey`` with each year's weights calibrated to the codebook's margins on their own
    (the margins describe one year's population; several years pooled are not calibrated
    together). The pooled design then takes these weights as given, so a change between
    years does not gain the calibration's variance reduction: its SE is conservative."""
    if not getattr(codebook, "weighting", None):
        return survey
    weights = np.empty(len(survey))
    for _, rows in survey.groupby("year", sort=True).indices.items():
        part = survey.iloc[rows].reset_index(drop=True)
        weights[rows] = _design(part, codebook).weights
    return survey.assign(weight=weights)


def _index(design, book, settings, **by):
    """The index table of a design, or pooled over a ``MultipleImputation``'s designs."""
    from .. import indices
    from .shared import flag_suppressed
    options = {"rule": settings.rule.aggregation, "min_n_eff": settings.min_n_eff,
               "ci_method": settings.ci_method, **book.index_options()}
    if hasattr(design, "designs"):
        return flag_suppressed(design.sipas_index(**by, **options), settings)
    return flag_suppressed(indices.sipas_index(design, **by, **options), settings)


def _imputed(design, book):
    """The codebook's ``imputation:`` of the year's design, and what the page says of it
    (``m``, ``seed``, ``shares``: factor -> share of its ratings imputed); (None, {})
    without the key."""
    settings = dict(getattr(book, "imputation", None) or {})
    if not settings:
        return None, {}
    from ..imputation import impute_ratings
    mi = impute_ratings(design, m=settings["m"], seed=settings["seed"], factors=book.factors,
                        donors=settings.get("donors", 5),
                        iterations=settings.get("iterations", 5))
    share = mi.imputed_share()
    shares = {r.term: float(r.share_imputed) for r in share[share["kind"] == "factor"]
              .itertuples()}
    return mi, {"m": mi.m, "seed": settings["seed"], "shares": shares}


def _province_weights(year: pd.DataFrame, units: list[str]) -> tuple[np.ndarray, str]:
    """Weights of the units in "the province": their sizes when the file gives them (one size
    per unit), else equal."""
    if "unit_size" in year and year["unit_size"].notna().any():
        sizes = year.groupby("unit", observed=True)["unit_size"].median().reindex(units)
        if sizes.notna().all() and (sizes > 0).all():
            return (sizes / sizes.sum()).to_numpy(float), "weighted"
    return np.full(len(units), 1.0 / len(units)), "equal"


def _versus_province(design, book, table: pd.DataFrame, weights: np.ndarray,
                     units: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The province figure of every term and each unit's difference from it (design SE from
    the units' joint covariance, t test on the unit's df)."""
    from .. import indices
    rows, province = [], []
    terms = list(dict.fromkeys(table["term"]))
    # one pass over the data for every term: the joint covariance of all (unit, term) cells
    estimates, vcov = indices.sipas_index_vcov(design, by="unit", term=terms, rule=None,
                                               **book.index_options())
    estimates = estimates.reset_index(drop=True)
    for term in terms:
        cells = estimates.index[estimates["term"] == term]
        position = {u: i for u, i in zip(estimates.loc[cells, "unit"], cells)}
        if any(u not in position for u in units):
            continue   # a unit without this term: no province figure of it
        order = np.array([position[u] for u in units])
        theta = estimates["estimate"].to_numpy(float)[order]
        v = vcov[np.ix_(order, order)]
        whole = float(weights @ theta)
        whole_se = float(np.sqrt(max(weights @ v @ weights, 0.0)))
        kind = table.loc[table["term"] == term, "kind"].iloc[0]
        province.append({"term": term, "kind": kind, "estimate": whole, "std_error": whole_se,
                         "ci_low": whole - 1.96 * whole_se, "ci_high": whole + 1.96 * whole_se})
        dfs = table[table["term"] == term].set_index("unit")["df"].reindex(units)
        for i, unit in enumerate(units):
            c = -weights.copy()
            c[i] += 1.0
            se = float(np.sqrt(max(c @ v @ c, 0.0)))
            df = float(dfs.iloc[i]) if pd.notna(dfs.iloc[i]) and dfs.iloc[i] > 0 else np.inf
            diff = theta[i] - whole
            t = diff / se if se > 0 else np.nan
            crit = stats.t.ppf(0.975, df)
            p = float(2 * stats.t.sf(abs(t), df)) if np.isfinite(t) else np.nan
            rows.append({"unit": unit, "term": term, "kind": kind, "estimate": theta[i],
                         "province": whole, "difference": diff, "std_error": se,
                         "ci_low": diff - crit * se, "ci_high": diff + crit * se,
                         "statistic": t, "df": df, "p_value": p,
                         "mark": ("above" if diff > 0 else "below") if p < 0.05 else ""})
    return pd.DataFrame(rows), pd.DataFrame(province)


def unit_types(rows: pd.DataFrame, unit: str = "unit") -> pd.Series:
    """Each unit's type (``unit_type``, "" where the file has none); a unit given more than
    one type is a ValueError naming it."""
    if "unit_type" not in rows:
        return pd.Series("", index=pd.Index(rows[unit].unique(), name=unit), name="unit_type")
    types = rows.assign(unit_type=rows["unit_type"].fillna("").astype(str)).groupby(
        unit, observed=True)["unit_type"].unique()
    mixed = types[types.map(len) > 1]
    if len(mixed):
        raise ValueError(f"a unit has more than one unit type: "
                         f"{files.short_repr(mixed.head(3).map(list).to_dict(), 200)}")
    return types.map(lambda v: v[0]).rename("unit_type")


def peer_ranks(overall: pd.DataFrame, *, unit: str = "unit", seed: int = 0) -> pd.DataFrame:
    """Rank sets of the overall index among the units of the same type (departments among
    departments, districts among districts, as provinces publish them); a unit alone in its
    type is rank 1 of 1."""
    from .. import indices
    frames = []
    for unit_type, rows in overall.groupby("unit_type", sort=False, dropna=False):
        rows = rows[rows["std_error"].notna()]
        if len(rows) > 1:
            ranked = indices.rank_units(rows, unit=unit, seed=seed)[
                [unit, "rank", "rank_low", "rank_high"]]
        elif len(rows) == 1:
            ranked = pd.DataFrame({unit: rows[unit], "rank": 1, "rank_low": 1,
                                   "rank_high": 1})
        else:
            continue
        frames.append(ranked.assign(unit_type=unit_type, n_peers=len(rows)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=[unit, "rank", "rank_low", "rank_high", "unit_type", "n_peers"])


def _change(survey: pd.DataFrame, book, year: int, previous: int, units: list[str],
            settings) -> pd.DataFrame:
    """Each unit's change from ``previous`` to ``year`` (overall and factors), tested (a
    design-based t test of the difference on the contrast's design df)."""
    from .. import indices
    both = survey[survey["year"].isin([previous, year])].reset_index(drop=True)
    design = _design(_calibrated_by_year(both, book))
    terms = ["overall", *book.factors]
    table = indices.compare_indices(design, between="year", values=(previous, year),
                                    within="unit", term=terms, rule=settings.rule.aggregation,
                                    **book.index_options())
    table = table[table["unit"].isin(units)] if "unit" in table else table
    return table.assign(previous_year=previous).reset_index(drop=True)


def _previous_rows(previous: pd.DataFrame, survey: pd.DataFrame, codebook, year: int,
                   units: list[str], *, previous_codebook=None) -> tuple[pd.DataFrame, int]:
    """The rows of a previous survey file to compare ``year`` with: its latest year before
    ``year``, its units in this year's spelling (by :func:`~sipas_analysis.codebook.unit_key`,
    after this year's ``unit_aliases``; units this year does not have keep their names), its
    strata and PSUs labelled apart from this year's (another sample). Raises ValueError, naming
    what is wrong, when the file holds no earlier year, is of another province, lacks a
    criterion of this year's codebook or counts other answers as satisfied."""
    from ..codebook import unit_key
    problems = []
    if "unit" not in previous:
        problems.append("its codebook names no unit column (columns.unit)")
    years = sorted(int(y) for y in previous["year"].dropna().unique())
    earlier = [y for y in years if y < year]
    if not earlier:
        fixed = (previous_codebook or codebook).constants.get("year")
        hint = (f" (its codebook sets constants.year: {fixed}; give last year's codebook with "
                "--previous-codebook)") if fixed is not None else ""
        problems.append(f"it holds no year before {year}, only {years}{hint}")
    here = set(survey.get("province_code", pd.Series(dtype=object)).dropna().astype(str))
    there = set(previous.get("province_code", pd.Series(dtype=object)).dropna().astype(str))
    if here and there and here != there:
        problems.append(f"it is of province(s) {sorted(there)}, this year's file of "
                        f"{sorted(here)}")
    criteria = [c for crits in codebook.factors.values() for c in crits]
    missing = [c for c in criteria if c not in previous]
    if missing:
        problems.append(f"it lacks this year's criteria {missing} (map them in "
                        "--previous-codebook)")
    if previous_codebook is not None and \
            sorted(previous_codebook.satisfied_levels()) != sorted(codebook.satisfied_levels()):
        problems.append("its codebook counts other answers as satisfied "
                        f"({previous_codebook.satisfied_levels()} against "
                        f"{codebook.satisfied_levels()})")
    if problems:
        raise ValueError("agency reports: the previous survey file: " + "; ".join(problems))
    previous_year = earlier[-1]
    rows = previous[previous["year"] == previous_year].copy()
    by_key = {unit_key(u): u for u in units}

    def matched(name):
        key = unit_key(name)
        if key not in by_key and key in codebook.unit_aliases:
            key = unit_key(codebook.unit_aliases[key])
        return by_key.get(key, name)

    rows["unit"] = rows["unit"].astype(str).map(matched)
    for column in ("stratum", "psu"):   # another sample: no stratum or PSU shared with this year
        rows[column] = "previous|" + rows[column].astype(str)
    return rows.reset_index(drop=True), previous_year


def _province_name(survey: pd.DataFrame) -> str:
    """The province(s) of the file's rows by their official names ("" when it names none)."""
    if "province_code" not in survey:
        return ""
    from .display import unit_name
    pairs = survey[["unit_set", "province_code"]].dropna().drop_duplicates() \
        if "unit_set" in survey else None
    if pairs is None or pairs.empty:
        return ""
    names = []
    for unit_set, code in pairs.itertuples(index=False):
        try:
            names.append(unit_name(str(unit_set), str(code), "vi"))
        except ValueError:
            names.append(str(code))
    return ", ".join(dict.fromkeys(names))


def _importance(year: pd.DataFrame, book, settings) -> pd.DataFrame:
    """Each unit's relative importance (LMG: the Shapley shares of R², as
    ``models.importance.relative_importance`` computes them, without bootstrap) of its factor
    scores for overall satisfaction. A unit whose design df are below
    ``settings.min_unit_design_df``, or whose scores do not vary, has none.

    All units are solved in one batch of correlation matrices (one fit per unit through the
    formula interface costs ~0.1 s each, most of a 30-unit batch's shared time)."""
    from ..models.importance import _correlation, _shapley, _subset_r_squared, _weighted_cov
    scores = [f"{f}_score" for f in book.factors]
    if "overall_satisfaction" not in year or len(scores) < 2 or \
            not all(s in year for s in scores):
        return pd.DataFrame()
    names = ["overall_satisfaction", *scores]
    kept, matrices, sizes = [], [], []
    for unit, rows in year[["unit", *names, "weight"]].groupby("unit", sort=True,
                                                                observed=True):
        rows = rows.dropna(subset=names)
        rows = rows[rows["weight"] > 0]
        if len(rows) - 1 < settings.min_unit_design_df:
            continue
        try:
            cov = _weighted_cov(rows[names].to_numpy(float), rows["weight"].to_numpy(float))
            matrices.append(_correlation(cov, names))
        except ValueError:     # a score without variation, or collinear scores
            continue
        kept.append(unit)
        sizes.append(len(rows))
    if not kept:
        return pd.DataFrame()
    m = len(scores)
    r2 = _subset_r_squared(np.stack(matrices), [np.array([j + 1]) for j in range(m)])
    lmg = _shapley(r2, m)
    total = r2[:, -1]
    return pd.DataFrame({
        "unit": np.repeat(kept, m), "term": [f for _ in kept for f in book.factors],
        "lmg": lmg.ravel(), "share": (lmg / total[:, None]).ravel(),
        "r_squared": np.repeat(total, m), "n": np.repeat(sizes, m)})


def compute_agency_shared(survey: pd.DataFrame, codebook, year: int, *,
                          settings: ReportSettings | None = None, par_max=None,
                          data_name: str = "", data_hash: str = "", codebook_name: str = "",
                          codebook_hash: str = "", seed: int = 0,
                          previous: pd.DataFrame | None = None, previous_codebook=None,
                          previous_name: str = "", previous_hash: str = "") -> AgencyShared:
    """Everything the unit reports of ``year`` share, from a survey read through ``codebook``
    (see :class:`AgencyShared`). ``previous``: the previous survey, another file read through
    ``previous_codebook`` (None: through ``codebook``), instead of an earlier year of
    ``survey``. Raises ValueError when the survey names no units or has no respondents in
    ``year``, when ``previous`` is given and ``survey`` holds an earlier year too, or when
    ``previous`` cannot be compared (:func:`_previous_rows`)."""
    from ..codebook import unit_key
    from ..par_points import par_table
    settings = settings or ReportSettings()
    if "unit" not in survey:
        raise ValueError("agency reports: the codebook names no unit column (columns.unit)")
    rows = survey[survey["year"] == year].reset_index(drop=True)
    if rows.empty:
        years = sorted(int(y) for y in survey["year"].unique())
        raise ValueError(f"agency reports: no respondents in {year}; the data hold years {years}")
    if "unit_type" not in rows:
        rows = rows.assign(unit_type="")
    rows["unit_type"] = rows["unit_type"].fillna("").astype(str)
    try:
        unit_type = unit_types(rows)
    except ValueError as error:
        raise ValueError(f"agency reports: {error}") from None
    design = _design(rows, codebook)
    weighting = unit_weighting_facts_of(design, survey)
    rows = rows.assign(weight=design.weights)      # calibrated, for the importance too
    imputed, imputation = _imputed(design, codebook)
    table = _index(imputed if imputed is not None else design, book=codebook,
                   settings=settings, by="unit")
    table = table.merge(unit_type.rename("unit_type").reset_index(), on="unit", how="left")
    overall = table[table["kind"] == "overall"]
    units = sorted(overall["unit"].astype(str))
    ranks = peer_ranks(overall, seed=seed)
    weights, province_rule = _province_weights(rows, units)
    versus, province = _versus_province(design, codebook, table, weights, units)
    type_means = (table.groupby(["unit_type", "term"], observed=True)["estimate"].mean()
                  .reset_index())
    rule = par_rule(codebook, par_max)
    par = par_table(overall.reset_index(drop=True), rule, unit="unit", seed=seed).merge(
        overall[["unit", "unit_type"]], on="unit", how="left")
    earlier = sorted(int(y) for y in survey["year"].unique() if int(y) < year)
    new_units: list[str] = []
    if previous is not None:
        if earlier:
            raise ValueError(
                f"agency reports: the survey file holds an earlier year ({earlier[-1]}) and a "
                f"previous survey file ({previous_name or 'previous'}) is given: keep one "
                "source of the previous survey (drop --previous, or that year's rows)")
        before, previous_year = _previous_rows(previous, survey, codebook, year, units,
                                               previous_codebook=previous_codebook)
        present = rows.assign(stratum="current|" + rows["stratum"].astype(str),
                              psu="current|" + rows["psu"].astype(str))
        both = pd.concat([before, present], ignore_index=True, sort=False)
        change = _change(both, codebook, year, previous_year, units, settings)
        new_units = [u for u in units if u not in set(before["unit"])]
    else:
        previous_year = earlier[-1] if earlier else None
        previous_name = previous_hash = ""
        change = _change(survey, codebook, year, previous_year, units, settings) \
            if previous_year is not None else pd.DataFrame()
        if previous_year is not None:
            new_units = [u for u in units
                         if not (survey.loc[survey["year"] == previous_year, "unit"] == u).any()]
    shared = AgencyShared(
        year=year, data_name=data_name, data_hash=data_hash, codebook_name=codebook_name,
        codebook_hash=codebook_hash, settings=settings, n_respondents=len(rows),
        unit_names={unit_key(u): u for u in units}, units=table, ranks=ranks,
        province=province, province_rule=province_rule, versus_province=versus,
        type_means=type_means, change=change, par=par, par_rule=rule.describe(),
        importance=_importance(rows, codebook, settings), labels={k.split('.')[-1]: v for k, v in codebook.headers().items()
                if k.startswith('ratings.')},
        factors={f: list(c) for f, c in codebook.factors.items()},
        assumptions=_assumptions(survey), par_rule_text={lang: rule.describe(lang)
                                                          for lang in LANGS},
        previous_year=previous_year,
        previous_name=previous_name, previous_hash=previous_hash, new_units=tuple(new_units),
        province_name=_province_name(rows),
        synthetic=bool(survey.get("synthetic", pd.Series([False])).any()),
        columns=frozenset(c for c in rows.columns if rows[c].notna().any()),
        weighting=weighting,
        extra={"imputation": imputation} if imputation else {})
    return add_unit_models(shared, survey, rows, codebook, seed=seed)


# --------------------------------------------------------------------------------------------
# The unit models: drivers, small-area estimates, tracking, adjusted marks (once per batch)
# --------------------------------------------------------------------------------------------
# A unit's direct index is shown beside its Fay-Herriot estimate below this effective size: at
# 100 the 95 % interval of a share near 85 % is about +-7 points, as wide as the spread between
# a province's units, so the model's borrowing strength matters below it and hardly above.
SMALL_AREA_MAX_N_EFF = 100
SMALL_AREA_N_BOOT = 1000
# A unit's answers are a monthly series when they fall in at least this many months; more
# than MAX_MONTHS months are grouped by quarter (a chart of 30 months is unreadable).
TRACKING_MIN_PERIODS = 3
TRACKING_MAX_MONTHS = 24


def driver_min_df(n_coefficients: int, settings: ReportSettings) -> int:
    """The design df a unit needs for its own design-based driver model: the model's
    coefficients minus one plus ``settings.min_unit_design_df``, so that the residual df on
    which its t intervals rest (R's ``svyglm``: design df - coefficients + 1) are at least
    ``min_unit_design_df`` (30 by default). With fewer, the design-based covariance of the
    coefficients rests on too few PSU contrasts to be stable and the t quantile grows.

    Examples
    --------
    >>> driver_min_df(6, ReportSettings())
    35
    """
    return int(n_coefficients) - 1 + int(settings.min_unit_design_df)


def _driver_scores(rows: pd.DataFrame, book) -> list[str]:
    return [f"{f}_score" for f in book.factors if f"{f}_score" in rows
            and rows[f"{f}_score"].notna().any()]


def _own_slopes(X: np.ndarray, y: np.ndarray, design, scores: list[str]
                ) -> pd.DataFrame | None:
    """``models.fit_linear``'s design-based regression of overall satisfaction on ``scores``
    for one unit (``design``: a domain of the complete rows whose intercept and scores are
    ``X`` and outcome ``y``; weighted least squares, the
    linearisation sandwich, t on design df - coefficients + 1), computed from the columns
    directly: the formula interface costs ~0.1 s a unit, most of this step's time in a 30-unit
    batch. The score rows only; None when the scores are collinear in the unit."""
    w = np.asarray(design.weights, dtype=float)     # zero outside the unit
    if np.linalg.matrix_rank(X[w > 0]) < X.shape[1]:
        return None
    xtwx = X.T @ (X * w[:, None])
    beta = np.linalg.solve(xtwx, X.T @ (w * y))
    bread = np.linalg.inv(xtwx)
    vcov = bread @ design.vcov_totals(X * (w * (y - X @ beta))[:, None]) @ bread.T
    df = float(design.df - (X.shape[1] - 1))
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))[1:]
    t = beta[1:] / se
    crit = stats.t.ppf(0.975, df) if df > 0 else np.nan
    return pd.DataFrame({"term": scores, "estimate": beta[1:], "std_error": se,
                         "ci_low": beta[1:] - crit * se, "ci_high": beta[1:] + crit * se,
                         "statistic": t, "p_value": 2 * stats.t.sf(np.abs(t), df), "df": df})


def unit_drivers(rows: pd.DataFrame, book, settings: ReportSettings | None = None
                 ) -> tuple[pd.DataFrame, int | None, list[str]]:
    """Every unit's driver slopes: overall satisfaction on the factor scores.

    A unit whose complete answers give design df of at least :func:`driver_min_df` gets its
    own design-based linear model (``models.fit_linear``'s, on the unit's rows, t on the
    residual df, as R's ``svyglm``): ``model`` "design". The others get the multilevel
    estimate of their slopes, fixed effect plus BLUP from one ``models.fit_multilevel`` of all
    units' answers with random intercepts and slopes of every factor score by unit (survey-
    weighted pseudo-likelihood, normal intervals from the prediction-error SDs): ``model`` "multilevel". The
    multilevel model is fitted only when some unit needs it.

    Returns (table, minimum df, notes): the table has ``unit, term`` (the factor), ``estimate,
    std_error, ci_low, ci_high, statistic, p_value, df`` (the residual df; infinite for the
    multilevel estimate), ``n`` (complete answers), ``design_df`` and ``model``; empty
    without an overall question or with fewer than two factor scores. The notes (English)
    are the multilevel fit's.
    """
    from ..models import fit_multilevel
    settings = settings or ReportSettings()
    scores = _driver_scores(rows, book)
    if "overall_satisfaction" not in rows or rows["overall_satisfaction"].isna().all() \
            or len(scores) < 2:
        return pd.DataFrame(), None, []
    formula = "overall_satisfaction ~ " + " + ".join(scores)
    needed = driver_min_df(len(scores) + 1, settings)
    # only the model's and the design's columns: the design and the multilevel fit copy them
    keep = ["unit", "weight", "stratum", "psu", "overall_satisfaction", *scores]
    complete = rows[keep].dropna(subset=["overall_satisfaction", *scores])
    complete = complete[complete["weight"] > 0].reset_index(drop=True)
    frames, small, sizes = [], [], {}
    # one design whose strata and PSUs are nested in the units: a unit's subset of it is the
    # unit's own design (the other units' strata hold no domain rows), built once instead of
    # thirty times
    prefix = complete["unit"].astype(str) + "\x1f"
    nested = _design(complete.assign(stratum=prefix + complete["stratum"].astype(str),
                                     psu=prefix + complete["psu"].astype(str)))
    codes = complete["unit"].to_numpy()
    X = np.column_stack([np.ones(len(complete)), complete[scores].to_numpy(float)])
    y = complete["overall_satisfaction"].to_numpy(float)
    for unit in sorted(pd.unique(codes), key=str):
        mine = codes == unit
        design = nested.subset(mine)
        sizes[unit] = (int(mine.sum()), design.df)
        if design.df < needed:
            small.append(unit)
            continue
        table = _own_slopes(X, y, design, scores)
        if table is None:       # scores without variation: collinear
            small.append(unit)
            continue
        frames.append(table.assign(unit=unit, design_df=design.df, model="design"))
    notes: list[str] = []
    if small and complete["unit"].nunique() >= 2:
        try:
            # survey-weighted (pseudo-likelihood, weights scaled to each unit's sample size),
            # as the province reports' multilevel effects are
            multilevel = fit_multilevel(formula, complete, groups="unit",
                                        re_formula="~" + " + ".join(scores), weights="weight")
        except (RuntimeError, ValueError, np.linalg.LinAlgError) as error:
            notes.append(f"multilevel driver model not fitted: {error}")
        else:
            notes += list(multilevel.extra["notes"])
            effects = multilevel.extra["group_effects"]
            effects = effects[effects["unit"].isin(small) & effects["term"].isin(scores)].copy()
            effects["statistic"] = effects["estimate"] / effects["std_error"]
            effects["p_value"] = 2 * stats.norm.sf(effects["statistic"].abs())
            frames.append(effects.drop(columns=["blup"]).assign(
                df=np.inf, design_df=effects["unit"].map(lambda u: sizes[u][1]),
                model="multilevel"))
    if not frames:
        return pd.DataFrame(), needed, notes
    table = pd.concat(frames, ignore_index=True)
    table["n"] = table["unit"].map(lambda u: sizes[u][0])
    table["term"] = table["term"].str.replace(r"_score$", "", regex=True)
    columns = ["unit", "term", "estimate", "std_error", "ci_low", "ci_high", "statistic",
               "p_value", "df", "n", "design_df", "model"]
    return table[columns].sort_values(["unit", "term"]).reset_index(drop=True), needed, notes


def unit_small_area(units: pd.DataFrame, rows: pd.DataFrame, *, seed: int = 0
                    ) -> tuple[pd.DataFrame, bool, list[str]]:
    """Every unit's Fay-Herriot estimate of its overall index (``small_area.small_area_index``:
    arcsine scale, the unit type as covariate, MSE by a parametric bootstrap of
    :data:`SMALL_AREA_N_BOOT` replicates), benchmarked to the province only when the file gives
    unit sizes (the size-weighted mean of the estimates is then the province's direct
    estimate, as "the province" is then size-weighted). Returns (the result's table with
    ``small`` = the direct estimate's effective size below :data:`SMALL_AREA_MAX_N_EFF`,
    benchmarked, the result's notes); an empty table (and the reason as the note) when the
    model cannot be fitted (too few units)."""
    from ..small_area import small_area_index
    overall = units[units["kind"] == "overall"].reset_index(drop=True)
    overall = overall[overall["estimate"].notna() & (overall["n"] > 0)]
    sizes = None
    if "unit_size" in rows and rows["unit_size"].notna().any():
        by_unit = rows.groupby("unit", observed=True)["unit_size"].median()
        if by_unit.reindex(overall["unit"]).notna().all() and (by_unit > 0).all():
            overall = overall.assign(unit_size=overall["unit"].map(by_unit).to_numpy(float))
            sizes = "unit_size"
    group = "unit_type" if overall["unit_type"].nunique() > 1 else None
    try:
        result = small_area_index(overall, unit="unit", group=group, unit_size=sizes,
                                  n_reps=SMALL_AREA_N_BOOT, seed=seed)
    except ValueError as error:
        return pd.DataFrame(), False, [str(error)]
    table = result.table
    direct_n_eff = overall.set_index("unit")["n_eff"].fillna(overall.set_index("unit")["n"])
    table = table.assign(small=table["unit"].map(direct_n_eff).to_numpy(float)
                         < SMALL_AREA_MAX_N_EFF)
    if "unit_type" not in table:
        table = table.assign(unit_type=table["unit"].map(overall.set_index("unit")["unit_type"]))
    return table, sizes is not None, list(result.notes)


def unit_tracking(survey: pd.DataFrame, book, year: int, units) -> dict:
    """unit -> ``tracking.track_unit`` of its dated answers up to ``year`` (by month, or by
    quarter beyond :data:`TRACKING_MAX_MONTHS` months), for the units whose answers fall in
    at least :data:`TRACKING_MIN_PERIODS` periods; empty without dates."""
    from ..tracking import track_unit
    if "date" not in survey or survey["date"].isna().all():
        return {}
    rows = survey[survey["year"] <= year].reset_index(drop=True)
    dates = pd.to_datetime(rows["date"], errors="coerce")
    months = dates.dt.to_period("M")
    out = {}
    for unit in units:
        mine = (rows["unit"] == unit).to_numpy() & dates.notna().to_numpy()
        spanned = months[mine].nunique()
        if spanned < TRACKING_MIN_PERIODS:
            continue
        by = "month" if spanned <= TRACKING_MAX_MONTHS else "quarter"
        if by == "quarter" and dates[mine].dt.to_period("Q").nunique() < TRACKING_MIN_PERIODS:
            continue
        out[unit] = track_unit(rows[mine].reset_index(drop=True), unit, codebook=book,
                               unit="unit", by=by, lonely_psu="adjust")
    return out


def adjusted_marks(versus: pd.DataFrame, method: str = "holm") -> pd.DataFrame:
    """Each unit's overall index against the province with its p-value adjusted over the units
    compared (``multiple_comparisons.adjust_p_values``; Holm by default, as the province
    reports adjust within a report's family): ``unit, difference, p_value, p_adjusted, mark``
    (``above``/``below`` where the adjusted p is below 0.05), ``method``, ``m`` (units in the
    family).

    Examples
    --------
    >>> versus = pd.DataFrame({"unit": ["A", "B", "C"], "term": "overall",
    ...                        "difference": [3.0, -2.0, 0.5], "p_value": [0.01, 0.03, 0.6]})
    >>> adjusted_marks(versus)[["unit", "p_adjusted", "mark"]].values.tolist()
    [['A', 0.03, 'above'], ['B', 0.06, ''], ['C', 0.6, '']]
    """
    from ..multiple_comparisons import adjust_p_values
    rows = versus[versus["term"] == "overall"].reset_index(drop=True) \
        if "term" in versus else versus
    if rows.empty:
        return pd.DataFrame(columns=["unit", "difference", "p_value", "p_adjusted", "mark",
                                     "method", "m"])
    adjusted = adjust_p_values(rows["p_value"].to_numpy(float), method)
    marks = [("above" if d > 0 else "below") if p < 0.05 else ""
             for d, p in zip(rows["difference"], adjusted)]
    return pd.DataFrame({"unit": rows["unit"], "difference": rows["difference"],
                         "p_value": rows["p_value"], "p_adjusted": adjusted, "mark": marks,
                         "method": method, "m": int(rows["p_value"].notna().sum())})


def add_unit_models(shared: AgencyShared, survey: pd.DataFrame, rows: pd.DataFrame, book, *,
                    seed: int = 0) -> AgencyShared:
    """``shared`` with the unit models filled in: :func:`unit_drivers`,
    :func:`unit_small_area`, :func:`unit_tracking` and :func:`adjusted_marks` (the settings'
    ``p_adjust``; Holm where it is the max-t "simultaneous", which needs the contrasts'
    covariance of one report's family)."""
    settings = shared.settings
    shared.unit_drivers, shared.driver_min_df, shared.driver_notes = unit_drivers(
        rows, book, settings)
    shared.small_area, shared.small_area_benchmarked, shared.small_area_notes = \
        unit_small_area(shared.units, rows, seed=seed)
    units = sorted(shared.units.loc[shared.units["kind"] == "overall", "unit"].astype(str))
    shared.tracking = unit_tracking(survey, book, shared.year, units)
    method = settings.p_adjust if settings.p_adjust != "simultaneous" else "holm"
    shared.league_marks = adjusted_marks(shared.versus_province, method)
    return shared


def unit_weighting_facts_of(design, survey: pd.DataFrame) -> dict:
    """How the weights of a province's own survey were made, each unit's weighting design
    effect included (the survey's ``attrs["weights"]`` says whether the file had weights)."""
    from ..weighting import weighting_facts
    from .shared import unit_weighting_facts
    facts = unit_weighting_facts(design, "unit")
    facts["weights"] = weighting_facts(design, weights=survey.attrs.get("weights"))["weights"]
    return facts


# --------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------
def agency_key(params) -> dict:
    """What the shared results depend on: the data file's and the codebook file's hashes (and
    a previous survey file's and its codebook's), the year, the PAR settings, the package
    version and source, and the report settings."""
    from ..codebook import Codebook
    from .shared import package_fingerprint
    values = params.as_dict() if hasattr(params, "as_dict") else dict(params)
    book = Codebook.from_yaml(values["codebook"])
    key = {"kind": "agency", "data_hash": files.file_hash(values["data"]),
           "codebook_hash": files.file_hash(values["codebook"]), "year": values["year"],
           "par": par_settings(book, values.get("par_max")), "source": package_fingerprint(),
           "report_settings": ReportSettings().as_dict()}
    if values.get("previous"):   # absent otherwise: the key of a one-file survey is unchanged
        key["previous_hash"] = files.file_hash(values["previous"])
        if values.get("previous_codebook"):
            key["previous_codebook_hash"] = files.file_hash(values["previous_codebook"])
    return key


def agency_cache_path(params, *, cache_dir=None) -> Path:
    from .shared import cache_folder
    key = agency_key(params)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return cache_folder(cache_dir) / f"agency-{key['year']}-{digest[:20]}.pkl"


def agency_shared_results(params, *, cache_dir=None) -> AgencyShared:
    """The shared results of ``params`` (an :class:`AgencyParams` or its dict), computed once
    and cached like the province reports' (a lock; written to a temp name and renamed)."""
    from .. import io
    from ..codebook import Codebook
    from .shared import _read_pickle
    values = params.as_dict() if hasattr(params, "as_dict") else dict(params)
    path = agency_cache_path(values, cache_dir=cache_dir)
    cached = _read_pickle(path)
    if cached is not None:
        return cached
    path.parent.mkdir(parents=True, exist_ok=True)
    with files.file_lock(path.with_suffix(".lock")):
        cached = _read_pickle(path)
        if cached is not None:
            return cached
        key = agency_key(values)
        book = Codebook.from_yaml(values["codebook"])
        survey = io.load_survey(values["data"], codebook=book)
        before = {}
        if values.get("previous"):
            previous_book = Codebook.from_yaml(values["previous_codebook"]) \
                if values.get("previous_codebook") else None
            before = {"previous": io.load_survey(values["previous"],
                                                 codebook=previous_book or book),
                      "previous_codebook": previous_book,
                      "previous_name": Path(values["previous"]).name,
                      "previous_hash": key["previous_hash"]}
        results = compute_agency_shared(
            survey, book, values["year"], par_max=values.get("par_max"),
            data_name=Path(values["data"]).name, data_hash=key["data_hash"],
            codebook_name=Path(values["codebook"]).name, codebook_hash=key["codebook_hash"],
            **before)
        if Path(values["data"]).resolve() == example_files()[0].resolve():
            results.synthetic = True
        files.atomic_write(path, lambda tmp: Path(tmp).write_bytes(
            pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)))
    return results


def _assumptions(survey: pd.DataFrame) -> dict:
    """lang -> the codebook's sentences on what the file lacks (English only for a survey
    whose reader gave no others)."""
    said = survey.attrs.get("assumptions_by_lang")
    if said:
        return {lang: list(said.get(lang, said["en"])) for lang in LANGS}
    english = list(survey.attrs.get("assumptions", []))
    return {lang: english for lang in LANGS}


# --------------------------------------------------------------------------------------------
# A small synthetic own survey (the agency notebook's default, and its nbval check)
# --------------------------------------------------------------------------------------------
EXAMPLE = "example"
_EXAMPLE_UNITS = (("Sở Tư pháp", "Sở, ban, ngành", 0.5),
                  ("Sở Văn hóa, Thể thao và Du lịch", "Sở, ban, ngành", -0.2),
                  ("Sở Xây dựng", "Sở, ban, ngành", 0.0),
                  ("UBND huyện Phú Lương", "UBND cấp huyện", 0.6),
                  ("UBND huyện Đại Từ", "UBND cấp huyện", -0.3),
                  ("UBND thành phố Sông Công", "UBND cấp huyện", 0.1))
_EXAMPLE_SCALE = ("Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng",
                  "Rất hài lòng")
_EXAMPLE_FACTORS = {"access": 2, "procedure": 2, "staff": 2, "result": 2, "feedback": 2}


def example_files(directory=None) -> tuple[Path, Path]:
    """A small synthetic own survey (six units of two types, 2023 and 2024, ratings as text
    labels, SRS) and its codebook, written once to ``directory`` (default
    :func:`~sipas_analysis.resources.processed_dir`) with the same bytes on every machine.
    Returns (survey CSV, codebook YAML). It is synthetic: its figures are no real results."""
    from .. import resources
    directory = Path(directory) if directory is not None else \
        resources.processed_dir() / "agency_example-1"
    data, book = directory / "agency_example.csv", directory / "agency_example.codebook.yaml"
    if data.is_file() and book.is_file():
        return data, book
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240)
    headers = {}
    number = 1
    for factor, count in _EXAMPLE_FACTORS.items():
        for j in range(count):
            headers[(factor, f"{factor}_{j + 1}")] = f"Câu {number}: {factor} {j + 1}"
            number += 1
    rows = []
    for year, shift in ((2023, -0.2), (2024, 0.0)):
        for unit, unit_type, effect in _EXAMPLE_UNITS:
            for _ in range(70):
                person = rng.normal(effect + shift, 0.8)
                answers = np.clip(np.rint(3.9 + person + rng.normal(0, 0.7, len(headers) + 1)),
                                  1, 5).astype(int)
                row = {"Mã phiếu": f"P{len(rows) + 1:05d}", "Năm": year, "Đơn vị": unit,
                       "Loại đơn vị": unit_type}
                row |= {h: _EXAMPLE_SCALE[a - 1] for h, a in zip(headers.values(), answers)}
                row["Câu 11: Mức độ hài lòng chung"] = _EXAMPLE_SCALE[answers[-1] - 1]
                rows.append(row)
    frame = pd.DataFrame(rows)
    codebook = {
        "columns": {"respondent_id": "Mã phiếu", "year": "Năm", "unit": "Đơn vị",
                    "unit_type": "Loại đơn vị"},
        "constants": {"province": "Thái Nguyên"},
        "scale": {label: i for i, label in enumerate(_EXAMPLE_SCALE, start=1)},
        "satisfied": [4, 5],
        "ratings": {f: {c: h for (g, c), h in headers.items() if g == f}
                    for f in _EXAMPLE_FACTORS},
        "overall": "Câu 11: Mức độ hài lòng chung"}
    import yaml
    files.atomic_write(book, lambda tmp: Path(tmp).write_text(
        "# A synthetic example (sipas_analysis.report.agency_shared.example_files)\n"
        + yaml.safe_dump(codebook, allow_unicode=True, sort_keys=False), encoding="utf-8"))
    files.atomic_write(data, lambda tmp: frame.to_csv(tmp, index=False, lineterminator="\n"))
    return data, book
