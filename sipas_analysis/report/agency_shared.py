"""What every unit's report of a province's own survey shares (the "agency" report kind): the
units of the file (departments, district and commune committees, desks) as report units.

:func:`compute_agency_shared` makes tidy tables from the survey read through its codebook:
every unit's index, rank sets within each unit type, each unit against "the province", the
type means, the change from the previous year in the same file, PAR points and each unit's
relative importance of its factors. :func:`agency_shared_results` caches them on disk under a
key made of the data file's hash, the codebook file's hash, the PAR settings, the year, the
package source and the report settings. :class:`AgencyParams` are the notebook's parameters;
:func:`match_units` turns ``--units`` into the file's unit names.

"The province": with unit sizes (the codebook's ``columns.unit_size``) the size-weighted mean
of the units' indices; without, their equal-weight mean. Either is a fixed linear combination
of the units' estimates, so a unit's difference from it has the design standard error
``sqrt(c' V c)`` from the units' joint covariance (``indices.sipas_index_vcov``), and a t test
on the unit's design degrees of freedom.
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
    "par_max": (float, int, type(None)), "tables_path": (str,)}


@dataclass(frozen=True)
class AgencyParams:
    """The parameters of one in-province unit's report: the unit's name (any accepted
    spelling), the year, the survey file and its codebook, the language, the PAR maximum
    (``None``: the codebook's ``par``, else 25) and where the workbook goes."""

    unit: str
    year: int
    data: str
    codebook: str
    lang: str = "vi"
    par_max: float | None = None
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
    ``change``: ``unit, term, previous_year, previous, estimate, difference, std_error,
    ci_low, ci_high, p_value`` (empty without an earlier year); ``par``: ``par_points.par_table``
    per unit (with ``unit_type``); ``importance``: ``unit, term, lmg, share, r_squared, n``
    (empty without an overall question); ``labels``: criterion -> the codebook's header text.
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
    assumptions: list
    previous_year: int | None = None
    synthetic: bool = False
    columns: frozenset = frozenset()
    unit_column: str = "unit"
    extra: dict = field(default_factory=dict)

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


def _design(survey: pd.DataFrame):
    from ..design import SurveyDesign
    return SurveyDesign(survey, weights="weight", strata="stratum", psu="psu",
                        lonely_psu="adjust")


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
    """Each unit's change from ``previous`` to ``year`` (overall and factors), tested."""
    from .. import indices
    both = survey[survey["year"].isin([previous, year])].reset_index(drop=True)
    design = _design(both)
    terms = ["overall", *book.factors]
    table = indices.compare_indices(design, between="year", values=(previous, year),
                                    within="unit", term=terms, rule=settings.rule.aggregation,
                                    **book.index_options())
    table = table[table["unit"].isin(units)] if "unit" in table else table
    return table.assign(previous_year=previous).reset_index(drop=True)


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
                          codebook_hash: str = "", seed: int = 0) -> AgencyShared:
    """Everything the unit reports of ``year`` share, from a survey read through ``codebook``
    (see :class:`AgencyShared`). Raises ValueError when the survey names no units or has no
    respondents in ``year``."""
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
    design = _design(rows)
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
    previous = earlier[-1] if earlier else None
    change = _change(survey, codebook, year, previous, units, settings) \
        if previous is not None else pd.DataFrame()
    return AgencyShared(
        year=year, data_name=data_name, data_hash=data_hash, codebook_name=codebook_name,
        codebook_hash=codebook_hash, settings=settings, n_respondents=len(rows),
        unit_names={unit_key(u): u for u in units}, units=table, ranks=ranks,
        province=province, province_rule=province_rule, versus_province=versus,
        type_means=type_means, change=change, par=par, par_rule=rule.describe(),
        importance=_importance(rows, codebook, settings), labels={k.split('.')[-1]: v for k, v in codebook.headers().items()
                if k.startswith('ratings.')},
        factors={f: list(c) for f, c in codebook.factors.items()},
        assumptions=list(survey.attrs.get("assumptions", [])), previous_year=previous,
        synthetic=bool(survey.get("synthetic", pd.Series([False])).any()),
        columns=frozenset(c for c in rows.columns if rows[c].notna().any()),
        extra={"imputation": imputation} if imputation else {})


# --------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------
def agency_key(params) -> dict:
    """What the shared results depend on: the data file's and the codebook file's hashes, the
    year, the PAR settings, the package version and source, and the report settings."""
    from ..codebook import Codebook
    from .shared import package_fingerprint
    values = params.as_dict() if hasattr(params, "as_dict") else dict(params)
    book = Codebook.from_yaml(values["codebook"])
    return {"kind": "agency", "data_hash": files.file_hash(values["data"]),
            "codebook_hash": files.file_hash(values["codebook"]), "year": values["year"],
            "par": par_settings(book, values.get("par_max")), "source": package_fingerprint(),
            "report_settings": ReportSettings().as_dict()}


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
        results = compute_agency_shared(
            survey, book, values["year"], par_max=values.get("par_max"),
            data_name=Path(values["data"]).name, data_hash=key["data_hash"],
            codebook_name=Path(values["codebook"]).name, codebook_hash=key["codebook_hash"])
        if Path(values["data"]).resolve() == example_files()[0].resolve():
            results.synthetic = True
        files.atomic_write(path, lambda tmp: Path(tmp).write_bytes(
            pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)))
    return results


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
