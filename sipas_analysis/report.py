"""What a report needs beyond numbers: wording in Vietnamese and English, number formatting,
small-sample suppression, parameter checks and provenance.

Computations never round or format; this module does, at the very end. Numbers are written as
each language writes them: 85,15 % and 1.250 người in Vietnamese, 85.15 % and 1,250 in English.
"""
from __future__ import annotations

import hashlib
import subprocess
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from importlib.metadata import version as _package_version
from pathlib import Path

import numpy as np
import pandas as pd

from . import plots, reference, schema
from .language import (LANGS, TEXT, check_lang, format_count, format_interval,  # noqa: F401
                       format_number, format_percent, term_label, text, tick_formatter)

# A unit's estimate is suppressed (shown as "—" with a note) when its effective sample size
# (n / design effect) is below this: the usual "fewer than 30" rule of statistical offices,
# applied to the effective size because SIPAS samples are clustered (design effects of 3-7 for
# the overall index). At 30, a 95 % interval of a share near 85 % is about ±13 points wide.
MIN_N_EFF = 30


def heading(key: str, params: "ReportParams", *, level: int = 2, **values) -> str:
    """A Markdown heading in the report's language."""
    return "#" * level + " " + text(key, params.lang, **values)


def unit_name(unit_set: str, province_code: str, lang: str) -> str:
    """'Hà Nội' in both languages for names (Vietnamese names keep their diacritics in English
    reports too, as the government's English pages write them)."""
    check_lang(lang)
    table = reference.provinces(unit_set).set_index("province_code")
    if province_code not in table.index:
        raise ValueError(f"no unit {province_code!r} in the {unit_set}-unit set")
    return str(table.loc[province_code, "name_vi"])


# --------------------------------------------------------------------------------------------
# Tables for display
# --------------------------------------------------------------------------------------------
def suppress_small(table: pd.DataFrame, *, min_n_eff: float = MIN_N_EFF) -> pd.DataFrame:
    """Blank the estimate and interval of rows whose effective sample size is below
    ``min_n_eff`` and add a boolean ``suppressed`` column. Rows are kept, never dropped."""
    out = table.copy()
    small = out["n_eff"].to_numpy(dtype=float) < min_n_eff
    for column in ["estimate", "std_error", "ci_low", "ci_high"]:
        if column in out:
            out.loc[small, column] = np.nan
    out["suppressed"] = small
    return out


def display_index_table(index: pd.DataFrame, lang: str, *, extra_columns=None) -> pd.DataFrame:
    """A SIPAS index table ready to show: localised labels and numbers as strings."""
    check_lang(lang)
    shown = pd.DataFrame({
        text("criterion", lang) if (index["kind"] == "criterion").all() else
        text("factor", lang): [term_label(t, lang) for t in index["term"]],
        text("estimate", lang): [format_number(v, lang) for v in index["estimate"]],
        text("ci", lang): [format_interval(lo, hi, lang)
                           for lo, hi in zip(index["ci_low"], index["ci_high"])],
        text("n", lang): [format_count(v, lang) for v in index["n"]],
    })
    for name, values in (extra_columns or {}).items():
        shown[name] = list(values)
    return shown


# --------------------------------------------------------------------------------------------
# Parameters and provenance
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportParams:
    """The parameters of a province report, checked: a unit that exists in its unit set, a
    year, data "demo" or an existing file, a language."""

    province_code: str
    year: int
    unit_set: str | None = None
    data: str = "demo"
    lang: str = "vi"
    tables_path: str = ""          # where the notebook writes its Excel workbook ("" = nowhere)

    TYPES = {"province_code": str, "year": int, "unit_set": (str, type(None)), "data": str,
             "lang": str, "tables_path": str}

    def __post_init__(self):
        problems = []
        for name, expected in self.TYPES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, expected):
                names = expected.__name__ if isinstance(expected, type) else \
                    " or ".join(t.__name__ for t in expected)
                problems.append(f"{name} must be {names}, got {value!r} "
                                f"({type(value).__name__})")
        if problems:
            raise ValueError("report parameters: " + "; ".join(problems))
        if self.unit_set is None:
            object.__setattr__(self, "unit_set", reference.default_unit_set(self.year))
        if self.unit_set not in schema.UNIT_SETS:
            problems.append(f"unit_set must be one of {schema.UNIT_SETS}, got {self.unit_set!r}")
        elif self.province_code not in set(reference.provinces(self.unit_set)["province_code"]):
            problems.append(f"province_code {self.province_code!r} is not a unit of the "
                            f"{self.unit_set}-unit set (see sa.reference.provinces("
                            f"{self.unit_set!r}))")
        if not 2017 <= self.year <= 2100:
            problems.append(f"year must be 2017 (the first SIPAS) or later, got {self.year}")
        if self.lang not in LANGS:
            problems.append(f"lang must be one of {LANGS}, got {self.lang!r}")
        if self.data != "demo" and not Path(self.data).exists():
            problems.append(f"data must be 'demo' or an existing file, got {self.data!r}")
        if problems:
            raise ValueError("report parameters: " + "; ".join(problems))

    @classmethod
    def from_namespace(cls, namespace: dict, *, before: set[str]) -> "ReportParams":
        """Build from a notebook's globals (see :func:`check_parameters`)."""
        types = {k: v for k, v in cls.TYPES.items()}
        return cls(**check_parameters(namespace, before=before, types=types))

    def as_dict(self) -> dict:
        return asdict(self)


def check_parameters(namespace: dict, *, before: set[str], types: dict) -> dict:
    """The parameters a notebook received: every name defined since ``before`` (its
    parameters cell and papermill's injected cell). Papermill only warns about an unknown
    parameter, so an unknown name is refused here, and so is a value of the wrong type."""
    new = {k: v for k, v in namespace.items() if k not in before and not k.startswith("_")}
    unknown = sorted(set(new) - set(types))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; known: {sorted(types)}")
    wrong = [f"{k} must be {getattr(t, '__name__', t)}, got {v!r}" for k, v in new.items()
             for t in [types[k]] if isinstance(v, bool) or not isinstance(v, t)]
    if wrong:
        raise ValueError("parameters: " + "; ".join(wrong))
    return new


def national_params(*, year: int, data: str = "demo", lang: str = "vi") -> ReportParams:
    """Parameters for the national view of a year: the shared results do not depend on the
    unit, so the capital ("01", a unit of both sets) stands in for it."""
    return ReportParams(province_code="01", year=year, data=data, lang=lang)


class HtmlTable:
    """A display-ready table for notebooks: plain HTML without the index, with no random ids
    (pandas' Styler adds some), so that re-executed notebooks compare equal (nbval)."""

    def __init__(self, table: pd.DataFrame, *, caption: str | None = None):
        self.table, self.caption = table, caption

    def _repr_html_(self) -> str:
        html = self.table.to_html(index=False, border=0, classes="sipas-table", escape=True)
        return f"<p><em>{self.caption}</em></p>{html}" if self.caption else html

    def __repr__(self) -> str:
        return self.table.to_string(index=False)


def markdown_list(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def data_hash(frame: pd.DataFrame) -> str:
    """A short, stable fingerprint of a data frame's content (row order and values)."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def git_commit(cwd: str | Path | None = None) -> str:
    """The checked-out commit of the project, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=cwd or Path(__file__).parent, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(params: ReportParams, shared: "SharedResults") -> pd.DataFrame:
    """Where the report's numbers come from: ``item, value`` rows (data hash, package version,
    git commit, whether the data are synthetic, every setting and parameter)."""
    rows = [("data_hash", shared.data_hash),
            ("sipas_analysis", _package_version("sipas-analysis")),
            ("git_commit", git_commit()), ("synthetic", str(shared.synthetic))]
    rows += [(f"setting.{k}", str(v)) for k, v in shared.settings.items()]
    shown = params.as_dict()
    shown["tables_path"] = Path(shown["tables_path"]).name  # where the batch put it is noise
    rows += [(f"param.{k}", str(v)) for k, v in shown.items()]
    return pd.DataFrame(rows, columns=["item", "value"])


# --------------------------------------------------------------------------------------------
# The computations a province report shows (composed from indices and models; no formatting)
# --------------------------------------------------------------------------------------------
SATISFIED = (4, 5)
RULE = "mean_of_criteria"
N_BOOT = 200                      # Rao-Wu replicates for relative importance
MIN_UNIT_DESIGN_DF = 30           # a province-only regression needs this many design df
FACTOR_SCORES = [f"{f}_score" for f in schema.FACTORS]
FACTS = ["on_time", "applied_online", "n_visits", "asked_extra_payment"]
DRIVER_FORMULA = "overall_satisfaction ~ " + " + ".join(FACTOR_SCORES + FACTS)
IMPORTANCE_FORMULA = "overall_satisfaction ~ " + " + ".join(FACTOR_SCORES)
MULTILEVEL_FORMULA = "overall_satisfaction ~ " + " + ".join(FACTOR_SCORES
                                                            + ["on_time", "applied_online"])


def settings() -> dict:
    """Every analysis setting a report depends on (part of the cache key, shown in provenance)."""
    return {"satisfied": list(SATISFIED), "rule": RULE, "n_boot": N_BOOT,
            "min_n_eff": MIN_N_EFF, "min_unit_design_df": MIN_UNIT_DESIGN_DF,
            "driver_formula": DRIVER_FORMULA, "importance_formula": IMPORTANCE_FORMULA,
            "multilevel_formula": MULTILEVEL_FORMULA}


@dataclass
class SharedResults:
    """What every unit's report of one year shares: computed once per batch and cached.

    All tables are tidy DataFrames (no fitted objects, so the cache stays small):
    ``national``/``units``/``regions`` (sipas_index tables: nation, every unit, every region),
    ``ranks`` (marginal rank sets of the overall index, plus ``rank_low_simultaneous`` and
    ``rank_high_simultaneous``), ``versus_nation`` (each unit minus the nation, every term),
    ``drivers`` (ordinal model: tidy log-odds; ``ame``: logit average marginal effects in
    percentage points), ``importance`` (LMG table, with ``importance_r_squared`` and
    ``importance_notes``), ``ipa`` (national importance against national factor performance),
    ``multilevel_effects`` (province-specific staff effects), ``multilevel_national``,
    ``multilevel_notes``, ``experience`` (on-time and online shares by year, unit and nation),
    ``former_provinces`` (34-set reports: the 63 former provinces' latest indices), ``papi``,
    ``published``; ``breakdowns`` (``by`` -> every unit's overall index by that column, a domain
    of the national design: the by column, ``province_code``, estimate, std_error, ci_low,
    ci_high, n, n_eff, ...) and ``local_models`` (unit -> (design df, tidy province-only
    regression or None)), so that a unit's report only looks its rows up.
    """

    year: int
    unit_set: str
    data_hash: str
    synthetic: bool
    settings: dict
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


def survey_design(survey: pd.DataFrame):
    """The SIPAS design of a respondent frame: weights, district (or urban/rural) strata and
    commune/village PSUs. A stratum left with one PSU (a small domain) is centred at the grand
    mean, R's ``survey.lonely.psu = "adjust"``."""
    from .design import SurveyDesign
    return SurveyDesign(survey, weights="weight", strata="stratum", psu="psu",
                        lonely_psu="adjust")


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


def compute_shared(survey: pd.DataFrame, params: ReportParams, *, data_hash: str,
                   seed: int = 0) -> SharedResults:
    """Everything the units of ``params.year`` share, from the validated survey."""
    from . import indices, io
    from .models import average_marginal_effects, fit_linear, fit_logit, fit_multilevel, \
        fit_ordinal, tidy
    from .models.importance import ipa_table, relative_importance

    year = year_survey(survey, params)
    design = survey_design(year)
    index_options = dict(satisfied=SATISFIED, rule=RULE, min_n_eff=MIN_N_EFF)
    national = indices.sipas_index(design, **index_options)
    units = indices.sipas_index(design, by="province_code", **index_options)
    regional = design.subset(year["region_id"].notna().to_numpy())
    regions = indices.sipas_index(regional, by="region_id", **index_options)
    overall = units[units["kind"] == "overall"]
    ranks = indices.rank_units(overall, unit="province_code", seed=seed)
    joint = indices.rank_units(overall, unit="province_code", seed=seed, simultaneous=True)
    ranks["rank_low_simultaneous"] = joint["rank_low"].to_numpy()
    ranks["rank_high_simultaneous"] = joint["rank_high"].to_numpy()
    terms = list(national["term"])
    versus = indices.compare_indices(design, between="province_code", reference="all",
                                     term=terms, satisfied=SATISFIED, rule=RULE)

    users = year[year["used_service"].astype(bool)].reset_index(drop=True)
    user_design = survey_design(users)
    ordinal = fit_ordinal(DRIVER_FORMULA, user_design)
    drivers = tidy(ordinal)
    logit = fit_logit(DRIVER_FORMULA.replace("overall_satisfaction ~",
                                             "I(overall_satisfaction >= 4) ~"), user_design)
    ame = average_marginal_effects(logit)
    for column in ["estimate", "std_error", "ci_low", "ci_high"]:
        ame[column] = 100 * ame[column]           # percentage points

    importance = relative_importance(IMPORTANCE_FORMULA, user_design, n_boot=N_BOOT, seed=seed)
    factor_table = national[national["kind"] == "factor"]
    named = importance.table.assign(term=importance.table["term"].str.replace("_score", ""))
    ipa = ipa_table(named, factor_table[["term", "estimate"]])

    complete = users.dropna(subset=FACTOR_SCORES + ["on_time", "applied_online",
                                                    "overall_satisfaction"])
    national_linear = fit_linear(MULTILEVEL_FORMULA, user_design)
    multilevel = fit_multilevel(MULTILEVEL_FORMULA, complete, groups="province_code",
                                re_formula="~staff_score", national=national_linear)

    breakdowns = {by: _breakdown_all(year, design, by=by) for by in BREAKDOWNS}
    local_models = _local_models_all(year)
    experience = _experience(survey, params)
    former = pd.DataFrame()
    if params.unit_set == "34":
        former = _former_provinces(survey, index_options)
    return SharedResults(
        year=params.year, unit_set=params.unit_set, data_hash=data_hash,
        synthetic=bool(survey.get("synthetic", pd.Series([False])).any()), settings=settings(),
        n_respondents=len(year), national=national, units=units, regions=regions, ranks=ranks,
        versus_nation=versus, drivers=drivers, ame=ame, importance=importance.table,
        importance_r_squared=importance.r_squared, importance_notes=list(importance.notes),
        ipa=ipa, multilevel_effects=multilevel.extra["group_effects"],
        multilevel_national=multilevel.extra["national_comparison"],
        multilevel_notes=list(multilevel.extra.get("notes", [])) + [multilevel.variance],
        experience=experience, former_provinces=former, papi=io.load_papi(),
        published=io.load_published_sipas(), breakdowns=breakdowns, local_models=local_models)


BREAKDOWNS = ("agency_level", "service_area")


def _breakdown_all(year: pd.DataFrame, design, *, by: str) -> pd.DataFrame:
    """Every unit's overall index by ``by``: the domains (unit, level) of the full national
    design, the same estimates and intervals as one unit's domain at a time (the design is the
    same; only the rows outside a domain get zero weight, in both). Columns: province_code,
    ``by``, kind, term, estimate, std_error, ci_low, ci_high, n, n_eff, small_sample."""
    from . import indices
    domain = design.subset(year[by].notna().to_numpy())
    table = indices.sipas_index(domain, by=["province_code", by], satisfied=SATISFIED, rule=RULE,
                                min_n_eff=MIN_N_EFF)
    return table[table["kind"] == "overall"].reset_index(drop=True)


def _local_models_all(year: pd.DataFrame) -> dict:
    """unit -> (design df, tidy province-only regression or None) for every unit with service
    users: :func:`local_regression`'s rule and fit, one unit at a time (a loop over units)."""
    users = year[year["used_service"].astype(bool)]
    return {code: _local_model(rows.reset_index(drop=True))
            for code, rows in users.groupby("province_code", sort=True, observed=True)}


def _local_model(users: pd.DataFrame):
    from .models import fit_linear, tidy
    design = survey_design(users)
    if design.df < MIN_UNIT_DESIGN_DF:
        return design.df, None
    return design.df, tidy(fit_linear(MULTILEVEL_FORMULA, design))


def _experience(survey: pd.DataFrame, params: ReportParams) -> pd.DataFrame:
    """On-time and online shares (percent of service users) by year, for every unit and the
    nation, in the report's unit set: ``year, province_code, term, estimate, ci_low, ci_high``
    (province_code "nation" for the national rows)."""
    rows = in_unit_set(survey[survey["used_service"].astype(bool)], params.unit_set)
    rows = rows[rows["year"] <= params.year].reset_index(drop=True)
    design = survey_design(rows)
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
    from . import indices
    old = survey[survey["unit_set"] == "63"]
    if old.empty:
        return pd.DataFrame()
    latest = old[old["year"] == old["year"].max()].reset_index(drop=True)
    table = indices.sipas_index(survey_design(latest), by="province_code", **index_options)
    crosswalk = reference.crosswalk_2025()[["province_code_63", "province_code_34"]]
    table = table.merge(crosswalk, left_on="province_code", right_on="province_code_63")
    return table.drop(columns=["province_code_63"]).assign(year=int(latest["year"].iloc[0]))


# --------------------------------------------------------------------------------------------
# One unit's report: its rows of the shared results, and what only the unit needs
# --------------------------------------------------------------------------------------------
def _row(table: pd.DataFrame, **where) -> pd.Series:
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= (table[column] == value).to_numpy()
    if mask.sum() != 1:
        raise ValueError(f"expected one row for {where}, found {int(mask.sum())}")
    return table[mask].iloc[0]


def unit_region(params: ReportParams):
    """(region_id, region name in the language) of the unit, or (None, None) when a post-2025
    unit spans several regions (it is then compared with the nation only)."""
    row = _row(reference.provinces(params.unit_set), province_code=params.province_code)
    if pd.isna(row["region_id"]):
        return None, None
    return int(row["region_id"]), row["region_vi" if params.lang == "vi" else "region_en"]


def national_headline(shared: SharedResults, lang: str) -> str:
    """The nation's SIPAS of the year with its interval and sample size, as a sentence."""
    nation = _row(shared.national, term="overall")
    return text("national_headline", lang, year=shared.year,
                estimate=format_percent(nation["estimate"], lang),
                ci=format_interval(nation["ci_low"], nation["ci_high"], lang),
                n=format_count(shared.n_respondents, lang), n_units=len(shared.ranks))


def region_table(shared: SharedResults, lang: str) -> pd.DataFrame:
    """The regions' overall index, display-ready, best first."""
    check_lang(lang)
    table = shared.regions[shared.regions["kind"] == "overall"].sort_values("estimate",
                                                                            ascending=False)
    names = reference.regions().set_index("region_id")["region_vi" if lang == "vi"
                                                       else "region_en"]
    return pd.DataFrame({
        text("region", lang): [names[int(r)] for r in table["region_id"]],
        text("estimate", lang): [format_number(v, lang) for v in table["estimate"]],
        text("ci", lang): [format_interval(lo, hi, lang) for lo, hi in
                           zip(table["ci_low"], table["ci_high"])],
        text("n", lang): [format_count(v, lang) for v in table["n"]],
    })


def headline(shared: SharedResults, params: ReportParams) -> str:
    """The report's first sentence: the unit's SIPAS with its interval and its rank set."""
    lang = params.lang
    unit = _row(shared.units, province_code=params.province_code, term="overall")
    rank = _row(shared.ranks, province_code=params.province_code)
    nation = _row(shared.national, term="overall")
    if unit["small_sample"]:
        return text("headline_suppressed", lang, year=params.year,
                    unit=unit_name(params.unit_set, params.province_code, lang),
                    threshold=MIN_N_EFF)
    estimate = format_percent(unit["estimate"], lang)
    ci = format_interval(unit["ci_low"], unit["ci_high"], lang)
    return text("headline", lang, year=params.year,
                unit=unit_name(params.unit_set, params.province_code, lang), estimate=estimate,
                ci=ci, nation=format_percent(nation["estimate"], lang),
                rank_low=int(rank["rank_low"]), rank_high=int(rank["rank_high"]),
                n_units=len(shared.ranks))


def comparison_table(shared: SharedResults, params: ReportParams, *,
                     kind: str = "factor") -> pd.DataFrame:
    """The unit's indices (``kind`` "factor" or "criterion", with the overall first for
    factors) against the nation and its region, display-ready: localised labels, numbers as
    strings, suppressed estimates shown as "—"."""
    lang = params.lang
    kinds = ["overall", "factor"] if kind == "factor" else [kind]
    unit = shared.units[(shared.units["province_code"] == params.province_code)
                        & shared.units["kind"].isin(kinds)]
    unit = suppress_small(unit)
    nation = shared.national.set_index("term")
    versus = shared.versus_nation[shared.versus_nation["group"] == params.province_code]
    versus = versus.set_index("term")
    region_id, region_name = unit_region(params)
    region = (shared.regions[shared.regions["region_id"] == region_id].set_index("term")
              if region_id is not None else None)
    rows = []
    for row in unit.itertuples(index=False):
        difference = versus.loc[row.term] if row.term in versus.index else None
        shown = {
            text("criterion" if kind == "criterion" else "factor", lang):
                term_label(row.term, lang),
            unit_name(params.unit_set, params.province_code, lang) + " (%)":
                format_number(row.estimate, lang),
            text("ci", lang): "—" if row.suppressed else
                format_interval(row.ci_low, row.ci_high, lang),
            text("nation", lang) + " (%)": format_number(nation.loc[row.term, "estimate"], lang),
            text("difference", lang): "—" if row.suppressed or difference is None else
                format_number(difference["estimate"], lang),
            text("p_value", lang): "—" if row.suppressed or difference is None else
                format_number(difference["p_value"], lang, decimals=3),
        }
        if region is not None:
            shown[f"{text('region', lang)} {region_name} (%)"] = format_number(
                region.loc[row.term, "estimate"], lang)
        rows.append(shown)
    return pd.DataFrame(rows)


def breakdown(source, params: ReportParams, *, by: str) -> pd.DataFrame:
    """The unit's overall index by ``by`` (e.g. agency_level, service_area) as a domain of the
    full national design, display-ready, small cells suppressed. ``source``: the shared
    results (their precomputed ``breakdowns``) or the survey (computed here)."""
    from . import indices
    lang = params.lang
    if isinstance(source, SharedResults) and by in source.breakdowns:
        table = source.breakdowns[by]
        table = table[table["province_code"] == params.province_code]
    else:
        year = year_survey(source, params)
        design = survey_design(year).subset((year["province_code"] == params.province_code)
                                            & year[by].notna())
        table = indices.sipas_index(design, by=by, satisfied=SATISFIED, rule=RULE,
                                    min_n_eff=MIN_N_EFF)
        table = table[table["kind"] == "overall"]
    table = suppress_small(table)
    return pd.DataFrame({
        text(f"by_{by}", lang): [text(f"{by}.{v}", lang) for v in table[by]],
        text("estimate", lang): [format_number(v, lang) for v in table["estimate"]],
        text("ci", lang): ["—" if s else format_interval(lo, hi, lang) for s, lo, hi in
                           zip(table["suppressed"], table["ci_low"], table["ci_high"])],
        text("n", lang): [format_count(v, lang) for v in table["n"]],
        text("n_eff", lang): [format_count(v, lang) for v in table["n_eff"]],
    })


def local_regression(source, params: ReportParams):
    """A province-only design-based regression, shown only when the unit's own design
    degrees of freedom (PSUs − strata) reach ``MIN_UNIT_DESIGN_DF``: below that its standard
    errors are unreliable and the multilevel estimate is the one to read. ``source``: the
    shared results (their precomputed ``local_models``) or the survey (fitted here).

    Returns (tidy table or None, the rule applied as a sentence in the language).
    """
    if isinstance(source, SharedResults) and source.local_models is not None \
            and params.province_code in source.local_models:
        df, table = source.local_models[params.province_code]
    else:
        year = year_survey(source, params)
        df, table = _local_model(year[(year["province_code"] == params.province_code)
                                      & year["used_service"].astype(bool)].reset_index(drop=True))
    if table is None:
        return None, text("local_model_skipped", params.lang, df=df,
                          threshold=MIN_UNIT_DESIGN_DF)
    return table, text("local_model_shown", params.lang, df=df, threshold=MIN_UNIT_DESIGN_DF)


def actions(shared: SharedResults, params: ReportParams, *, count: int = 3) -> list[str]:
    """The ``count`` criteria most worth acting on, as sentences: those with the largest
    potential gain = (national importance share of the criterion's factor) × (100 − the unit's
    percent satisfied). Suppressed estimates are never proposed."""
    lang = params.lang
    shares = shared.importance.assign(
        factor=shared.importance["term"].str.replace("_score", ""))[["factor", "share"]]
    unit = shared.units[(shared.units["province_code"] == params.province_code)
                        & (shared.units["kind"] == "criterion") & ~shared.units["small_sample"]]
    nation = shared.national.set_index("term")["estimate"]
    table = unit.merge(shares, on="factor")
    table["gain"] = table["share"] * (100 - table["estimate"])
    table = table.sort_values(["gain", "term"], ascending=[False, True]).head(count)
    return [text("action", lang, criterion=term_label(r.term, lang),
                 estimate=format_percent(r.estimate, lang),
                 nation=format_percent(nation[r.term], lang),
                 factor=term_label(r.factor, lang),
                 share=format_percent(100 * r.share, lang, decimals=0))
            for r in table.itertuples(index=False)]


def caveats(shared: SharedResults, params: ReportParams) -> list[str]:
    """What a reader must know to read the report honestly, as sentences in the language."""
    lang = params.lang
    notes = []
    if shared.synthetic:
        notes.append(text("synthetic_banner", lang))
    notes.append(text("caveat_suppression", lang, threshold=MIN_N_EFF))
    notes.append(text("caveat_ranks", lang))
    notes.append(text("caveat_multilevel", lang))
    notes.append(text("caveat_rule", lang))
    return notes


def index_page_table(shared: SharedResults, lang: str) -> pd.DataFrame:
    """All units ranked, display-ready, for the batch's index page: ``province_code``, name,
    estimate, interval, rank, rank set (strings in the language), best first."""
    check_lang(lang)
    overall = shared.units[shared.units["kind"] == "overall"]
    table = shared.ranks.merge(overall[["province_code", "ci_low", "ci_high", "small_sample"]],
                               on="province_code").sort_values(["rank", "province_code"])
    names = reference.provinces(shared.unit_set).set_index("province_code")["name_vi"]
    return pd.DataFrame({
        "province_code": table["province_code"].to_numpy(),
        text("unit", lang): [names[c] for c in table["province_code"]],
        text("estimate", lang): ["—" if s else format_number(v, lang) for s, v in
                                 zip(table["small_sample"], table["estimate"])],
        text("ci", lang): ["—" if s else format_interval(lo, hi, lang) for s, lo, hi in
                           zip(table["small_sample"], table["ci_low"], table["ci_high"])],
        text("rank", lang): ["—" if s else str(int(r)) for s, r in   # a suppressed estimate
                             zip(table["small_sample"], table["rank"])],   # has no point rank
        text("rank_set", lang): [f"{int(lo)}–{int(hi)}" for lo, hi in
                                 zip(table["rank_low"], table["rank_high"])],
    })


def write_tables(tables: dict[str, pd.DataFrame], path) -> Path:
    """Write a report's tables to one Excel workbook, a sheet per table (names cut to Excel's
    31 characters); written to a temporary name first, so a failure leaves nothing behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        # xlsxwriter: half the time of openpyxl for a report's dozen small sheets
        with pd.ExcelWriter(partial, engine="xlsxwriter") as writer:
            for name, table in tables.items():
                table.to_excel(writer, sheet_name=name[:31], index=False)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def local_effect(shared: SharedResults, params: ReportParams, *,
                 term: str = "staff_score") -> str:
    """The province's own effect of ``term`` from the multilevel model, against the national
    design-based estimate of the same effect, as a sentence."""
    lang = params.lang
    effect = _row(shared.multilevel_effects, province_code=params.province_code, term=term)
    national = _row(shared.multilevel_national, term=term)
    return text("local_effect", lang, unit=unit_name(params.unit_set, params.province_code, lang),
                estimate=format_number(effect["estimate"], lang, decimals=3),
                ci=format_interval(effect["ci_low"], effect["ci_high"], lang, decimals=3),
                national=format_number(national["design_estimate"], lang, decimals=3))


def national_effect(shared: SharedResults, *, term: str = "staff_score") -> tuple:
    """(design-based estimate, ci_low, ci_high) of ``term`` nationally, for the figure."""
    row = _row(shared.multilevel_national, term=term)
    half = 1.959963984540054 * row["design_std_error"]
    return row["design_estimate"], row["design_estimate"] - half, row["design_estimate"] + half


def experience_table(shared: SharedResults, params: ReportParams) -> pd.DataFrame:
    """On-time and online shares by year for the unit and the nation: ``year, group, term,
    estimate, ci_low, ci_high`` with groups named in the language (unit first)."""
    lang = params.lang
    rows = shared.experience[shared.experience["province_code"].isin(
        [params.province_code, "nation"])].copy()
    names = {params.province_code: unit_name(params.unit_set, params.province_code, lang),
             "nation": text("nation", lang)}
    rows["group"] = rows["province_code"].map(names)
    rows = rows.sort_values(["province_code"], key=lambda c: c != params.province_code,
                            kind="stable")
    return rows[["year", "group", "term", "estimate", "ci_low", "ci_high"]].reset_index(drop=True)


def former_codes(params: ReportParams) -> list[str]:
    """The 63-set provinces a unit covers: itself for a 63-set unit, its former provinces for
    a 34-set unit (PAPI and published SIPAS exist only for the 63)."""
    if params.unit_set == "63":
        return [params.province_code]
    crosswalk = reference.crosswalk_2025()
    return sorted(crosswalk.loc[crosswalk["province_code_34"] == params.province_code,
                                "province_code_63"])


def former_table(shared: SharedResults, params: ReportParams) -> pd.DataFrame:
    """A 34-set unit against the former provinces it contains (their latest 63-set year)."""
    lang = params.lang
    table = shared.former_provinces
    table = suppress_small(table[(table["province_code_34"] == params.province_code)
                                 & (table["kind"] == "overall")])
    names = reference.provinces("63").set_index("province_code")["name_vi"]
    return pd.DataFrame({
        text("unit", lang): [names[c] for c in table["province_code"]],
        text("year", lang): table["year"].astype(int).to_numpy(),
        text("estimate", lang): [format_number(v, lang) for v in table["estimate"]],
        text("ci", lang): ["—" if s else format_interval(lo, hi, lang) for s, lo, hi in
                           zip(table["suppressed"], table["ci_low"], table["ci_high"])],
    })


def published_table(shared: SharedResults, params: ReportParams) -> pd.DataFrame:
    """Published SIPAS figures for the unit (its former provinces for a 34-set unit), with
    their value type and source, as published (never mixed with the estimates): ``province,
    year, sipas_pct, rank_of_63, value_type, source_url``."""
    table = shared.published[(shared.published["scope"] == "province")
                             & shared.published["province_code"].isin(former_codes(params))]
    columns = ["province", "year", "sipas_pct", "rank_of_63", "value_type", "source_url"]
    return table[columns].sort_values(["province", "year"]).reset_index(drop=True)


def published_display(shared: SharedResults, params: ReportParams) -> pd.DataFrame:
    """:func:`published_table` for reading: localised headers and numbers, the value type in
    words (a "derived" figure is computed from a published value and a published change)."""
    lang = params.lang
    table = published_table(shared, params)
    return pd.DataFrame({
        text("unit", lang): table["province"].to_numpy(),
        text("year", lang): table["year"].astype(int).to_numpy(),
        text("published_value", lang): [format_number(v, lang) for v in table["sipas_pct"]],
        text("rank", lang): ["—" if pd.isna(v) else str(int(v)) for v in table["rank_of_63"]],
        text("value_type", lang): [text(f"value_type.{v}", lang) for v in table["value_type"]],
        text("source", lang): table["source_url"].fillna("—").to_numpy(),
    })


def tables_for_workbook(shared: SharedResults, params: ReportParams) -> dict[str, pd.DataFrame]:
    """The unit's tables, unformatted (numbers stay numbers), for its Excel workbook."""
    code = params.province_code
    unit = shared.units[shared.units["province_code"] == code]
    return {
        "index": unit,
        "national": shared.national,
        "versus_nation": shared.versus_nation[shared.versus_nation["group"] == code],
        "ranks": shared.ranks,
        "drivers_ame": shared.ame,
        "drivers_ordinal": shared.drivers,
        "importance": shared.importance,
        "ipa": shared.ipa,
        "multilevel": shared.multilevel_effects[shared.multilevel_effects["province_code"]
                                                == code],
        "experience": shared.experience[shared.experience["province_code"].isin([code,
                                                                                 "nation"])],
        "published": published_table(shared, params),
        "settings": pd.DataFrame({"setting": list(shared.settings),
                                  "value": [str(v) for v in shared.settings.values()]}),
    }


# ============================================================================================
# Figures
# ============================================================================================
def _ranking_figure(shared: SharedResults, params: ReportParams):
    figure, ax = plots.new_figure((7.5, 0.21 * len(shared.ranks) + 1.5))
    plots.plot_unit_ranking(shared.units, highlight=params.province_code, ranks=shared.ranks,
                            lang=params.lang, ax=ax)
    return figure


def _factors_figure(shared: SharedResults, params: ReportParams):
    """The unit's overall index and factors against the nation and its region."""
    lang, code = params.lang, params.province_code
    groups = {unit_name(params.unit_set, code, lang):
              shared.units[shared.units["province_code"] == code],
              text("nation", lang): shared.national}
    region_id, region_name = unit_region(params)
    if region_id is not None:
        groups[f"{text('region', lang)} {region_name}"] = \
            shared.regions[shared.regions["region_id"] == region_id]
    figure, ax = plots.new_figure((7.5, 4.5))
    plots.plot_factor_comparison(groups, kind=["overall", "factor"], lang=lang, ax=ax)
    return figure


def _drivers_figure(shared: SharedResults, params: ReportParams):
    figure, ax = plots.new_figure((7.5, 4.5))
    plots.plot_coefficients(shared.ame, lang=params.lang, ax=ax)
    return figure


def _importance_figure(shared: SharedResults, params: ReportParams):
    figure, (left, right) = plots.new_figure((12, 4.5), ncols=2)
    plots.plot_importance(shared.importance, lang=params.lang, ax=left)
    plots.plot_ipa(shared.ipa, lang=params.lang, ax=right)
    return figure


def _local_figure(shared: SharedResults, params: ReportParams):
    figure, ax = plots.new_figure((7.5, 0.21 * len(shared.ranks) + 1.5))
    plots.plot_group_effects(shared.multilevel_effects, term="staff_score",
                             national=national_effect(shared), highlight=params.province_code,
                             unit_set=params.unit_set, lang=params.lang, ax=ax)
    return figure


def _experience_figure(shared: SharedResults, params: ReportParams):
    figure, ax = plots.new_figure((7.5, 4))
    plots.plot_experience(experience_table(shared, params), lang=params.lang, ax=ax)
    return figure


def _context_figure(shared: SharedResults, params: ReportParams):
    """PAPI d5 (public service delivery) and d8 (e-governance) over the years; a 34-set unit is
    shown through its first former province (PAPI is published for the 63)."""
    former = former_codes(params)[0]
    figure, (left, right) = plots.new_figure((12, 4), ncols=2)
    for ax, dimension in [(left, "d5"), (right, "d8")]:
        plots.plot_papi_trajectory(shared.papi, province_code=former, dimension=dimension,
                                   lang=params.lang, ax=ax)
    return figure


# name -> (builder, the tables the figure shows when it is the same in every unit's report)
FIGURES = {
    "ranking": (_ranking_figure, None),
    "factors": (_factors_figure, None),
    "drivers": (_drivers_figure, lambda shared: [shared.ame]),
    "importance": (_importance_figure, lambda shared: [shared.importance, shared.ipa]),
    "local": (_local_figure, None),
    "experience": (_experience_figure, None),
    "context": (_context_figure, None),
}
_NATIONAL_FIGURES: OrderedDict = OrderedDict()  # key -> SVGFigure, the last few drawn
_NATIONAL_FIGURES_KEPT = 8


def _figure_key(name: str, tables: list[pd.DataFrame], lang: str) -> tuple:
    """Everything a national figure's bytes depend on: its tables (values and columns), the
    language and the Matplotlib settings in force."""
    import matplotlib
    style = hashlib.sha256(repr(sorted(matplotlib.rcParams.items())).encode()).hexdigest()
    return (name, lang, style,
            tuple((tuple(map(str, t.columns)), data_hash(t)) for t in tables))


def figure(name: str, shared: SharedResults, params: ReportParams) -> plots.SVGFigure:
    """The report's figure ``name`` (one of :data:`FIGURES`), rendered to SVG.

    The national figures (drivers, importance) are the same in every unit's report: they are
    drawn once per process and reused while their tables, language and Matplotlib settings are
    unchanged (the key holds all three, so a reused figure is byte for byte what drawing it
    again would give; a batch's warm kernel draws them once for all its units)."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; choose one of {sorted(FIGURES)}")
    build, national_tables = FIGURES[name]
    if national_tables is None:
        return plots.render(build(shared, params))
    key = _figure_key(name, national_tables(shared), params.lang)
    if key not in _NATIONAL_FIGURES:
        _NATIONAL_FIGURES[key] = plots.render(build(shared, params))
        while len(_NATIONAL_FIGURES) > _NATIONAL_FIGURES_KEPT:
            _NATIONAL_FIGURES.popitem(last=False)
    return _NATIONAL_FIGURES[key]
