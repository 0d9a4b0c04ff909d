"""A synthetic SIPAS-shaped survey sample drawn from a declared true model (the data contract: docs/architecture.md).

No SIPAS microdata are public, so on a fresh machine the workbench runs on this sample. It is
synthetic and says so: every row has ``synthetic = True``.

The model, in the order the data are generated (every number is a field of :class:`Truth` or
:class:`SamplingPlan`; :meth:`Truth.parameters` lists them with the quantity each one is):

1. **Units and anchors.** A unit-year is a province of the 63-set (2017-2024) or of the 34-set
   (2025 on). Each gets an *anchor*, the SIPAS index (percent of ratings 4-5, mean of criteria,
   mean of factors) its simulated population should have: the published SIPAS value where
   ``value_type == "reported"`` and a value is given; otherwise PAPI dimension 5 (public
   administrative procedures) standardised within its year and mapped to the SIPAS scale
   (national published level + ``province_sd_pp`` x z, nearest PAPI year when the year has
   none), shifted so that the population-weighted mean of the 63 anchors is the published
   national figure (nearest year where none is published). A 2025 unit's anchor is the
   population-weighted mean of its constituent provinces' anchors.
2. **Sampling.** Strata are districts (2017-2024) or urban/rural parts of a unit (2025 on, two
   tiers of local government, no districts). PSUs are communes (2017-2021: people who had just
   completed a transaction), villages (2022-2024: residents aged 18+) or communes (2025 on).
   The SSU is the household (one respondent per household). PSUs are drawn with probability
   proportional to an outdated size measure, so design weights vary; respondents answer with a
   propensity that depends on age and urban residence, and the weight carries the inverse of
   that propensity (a response-propensity adjustment by age x urban class).
3. **Experience facts** (exogenous): applying online (share rising over time), the dossier
   returned on time, an extra payment asked, the number of visits; rates vary by province
   (random deviations drawn once from ``Truth.truth_seed``) and year.
4. **Latent quality per factor** f in (access, procedure, staff, result, feedback)::

       q_f = era offset_f + province-year effect + agency-level effect + PSU effect
             + sum_k effect[k, f] * fact_k + demographic shift + halo + factor noise

   the province-year effect is solved so that the unit's index lands on its anchor.
5. **Criterion ratings** (1-5): ``y* = q_f + item noise``; the rating is 1 + the number of
   thresholds ``rating_thresholds + criterion_offset`` that y* exceeds (ordered probit).
   Items are missing at random (more often for feedback items); factor scores are the mean of
   the factor's answered ratings.
6. **Overall satisfaction** (1-5): ``o* = sum_f overall_weight_f * q_f + staff_slope_deviation
   (province) * q_staff + direct effects of on_time and asked_extra_payment + logistic noise``,
   cut at ``overall_thresholds`` (ordered logit, proportional odds on the latent qualities).

Respondents who used no service (2022+) skip every service question: context, experience
facts, criterion ratings **and overall satisfaction** (it asks about the service received),
all missing by design. The index and every driver model are therefore about service users.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr
from scipy.stats import poisson

from sipas_analysis import io as sipas_io
from sipas_analysis import index_rule, reference, schema
from sipas_analysis.rng import Seed, as_generator

FACTOR_NAMES = list(schema.FACTORS)
FACTS = ["on_time", "applied_online", "n_visits", "asked_extra_payment"]
FIRST_YEAR = 2017          # first SIPAS
FIRST_YEAR_OF_34 = 2025    # the 34 units exist from 1 July 2025
DEMO_YEARS = tuple(range(2019, 2026))

# Population of the 63 provinces, thousands, 2019 Population and Housing Census (GSO), rounded.
# Approximate figures kept here only to size the synthetic population (weights) and to weight
# anchors (national mean, 2025 units); they are not data the workbench reports.
POPULATION_2019 = {
    "01": 8054, "02": 855, "04": 530, "06": 314, "08": 785, "10": 730, "11": 599, "12": 460,
    "14": 1248, "15": 821, "17": 854, "19": 1287, "20": 782, "22": 1320, "24": 1804,
    "25": 1464, "26": 1154, "27": 1369, "30": 1892, "31": 2029, "33": 1253, "34": 1860,
    "35": 853, "36": 1780, "37": 983, "38": 3640, "40": 3328, "42": 1289, "44": 895, "45": 632,
    "46": 1129, "48": 1134, "49": 1496, "51": 1232, "52": 1487, "54": 961, "56": 1231,
    "58": 591, "60": 1231, "62": 540, "64": 1514, "66": 1869, "67": 622, "68": 1297,
    "70": 995, "72": 1169, "74": 2427, "75": 3097, "77": 1148, "79": 8993, "80": 1689,
    "82": 1764, "83": 1289, "84": 1009, "86": 1023, "87": 1600, "89": 1908, "91": 1723,
    "92": 1235, "93": 733, "94": 1200, "95": 907, "96": 1194,
}
# Synthetic population composition (approximate, for realism only): urban share by region,
# higher for the five centrally-run cities and Binh Duong; ethnic-minority share by region.
_URBAN_BY_REGION = {1: 0.20, 2: 0.30, 3: 0.28, 4: 0.29, 5: 0.45, 6: 0.25}
_URBAN_OVERRIDE = {"01": 0.49, "31": 0.46, "48": 0.87, "79": 0.78, "92": 0.70, "74": 0.80}
_MINORITY_BY_REGION = {1: 0.55, 2: 0.03, 3: 0.10, 4: 0.35, 5: 0.06, 6: 0.08}


def _era(year):
    """'2017-2021' (service users, commune PSUs) or '2022+' (residents, village/commune PSUs)."""
    return np.where(np.asarray(year) <= 2021, "2017-2021", "2022+")


# ------------------------------------------------------------------------------------------------
# The declared truth
# ------------------------------------------------------------------------------------------------

def _d(**kw):
    return field(default_factory=lambda: dict(kw))


@dataclass(frozen=True)
class Truth:
    """The declared true model. Every field is a named parameter; see :meth:`parameters`.

    Scales: experience-fact rates are on the logit scale with year measured from 2019; latent
    qualities are on the probit scale of the criterion ratings (threshold between 3 and 4 at
    ``rating_thresholds[2]``); overall satisfaction is on the logit scale.

    ``province_effects`` is the per-unit-year table, built by :func:`simulate_survey` (or
    :meth:`calibrated`) and rebuilt whenever the scalar parameters it was solved for change.
    Columns: unit_set, province_code, year, anchor, anchor_source, papi_year, national,
    population (thousands), online_dev, on_time_dev, extra_payment_dev, staff_slope_dev (the
    province deviations), urban_share, minority_share, era, online_logit, on_time_logit,
    extra_payment_logit (the unit-year linear predictors used by the generator), staff_slope,
    online_share, on_time_rate, extra_payment_rate, mean_visits (population rates among service
    users), province_effect (the solved latent shift, conditional), population_index (the
    model's index, = anchor), use_rate (share of residents who used a service).
    To simulate a counterfactual, edit a copy of it and put it back with
    ``dataclasses.replace(truth, province_effects=edited)`` (which keeps ``calibrated_for``):
    the generator uses the linear predictors, staff_slope_dev and province_effect as given.
    """

    # --- experience facts (logit scale; trend per year from 2019) ---
    online_logit: float = -2.6             # applied online, 2019: about 7 %
    online_trend: float = 0.35             # ... rising to about 30 % in 2024
    online_province_sd: float = 0.5
    on_time_logit: float = 2.3             # dossier returned on time, in person, 2019: about 91 %
    on_time_trend: float = 0.08
    on_time_online: float = 0.5            # online dossiers are more often on time
    on_time_province_sd: float = 0.5
    extra_payment_logit: float = -2.9      # asked for an extra (unofficial) payment: about 5 %
    extra_payment_trend: float = -0.08
    extra_payment_online: float = -1.0
    extra_payment_province_sd: float = 0.5
    visits_log_rate: float = float(np.log(0.5))  # log mean of extra visits (Poisson), in person
    visits_online: float = -1.0
    visits_late: float = 0.8               # a late dossier brings people back
    max_visits: int = 6
    used_service_logit: float = 0.1        # 2022+ residents who used a service in the past year
    used_service_urban: float = 0.3
    postal_share: float = 0.05             # share of non-online dossiers sent by post
    agency_shares: dict = _d(province=0.2, district=0.4, commune=0.4)
    service_area_shares: dict = _d(land=0.30, civil_status=0.25, construction=0.08, business=0.07,
                                   labour_social=0.10, justice=0.10, other=0.10)
    # --- latent quality per factor (probit scale of the ratings) ---
    factor_offsets_2017_2021: dict = _d(access=-0.15, procedure=0.12, staff=0.05, result=0.25,
                                        feedback=-0.45)
    factor_offsets_2022: dict = _d(access=0.0, procedure=0.0, staff=0.0, result=0.0,
                                   feedback=-0.03)
    # experience_effects[fact][factor]: conditional effect of the fact on the latent quality
    experience_effects: dict = field(default_factory=lambda: {
        "on_time": dict(access=0.0, procedure=0.6, staff=0.3, result=1.2, feedback=0.2),
        "applied_online": dict(access=0.3, procedure=0.2, staff=0.0, result=0.0, feedback=0.1),
        "n_visits": dict(access=-0.05, procedure=-0.25, staff=-0.15, result=-0.1, feedback=-0.1),
        "asked_extra_payment": dict(access=-0.1, procedure=-0.5, staff=-1.2, result=-0.3,
                                    feedback=-0.4),
    })
    agency_effects: dict = _d(province=0.0, district=-0.1, commune=-0.2)
    age_effects: dict = field(default_factory=lambda: {"18-29": -0.1, "30-44": 0.0,
                                                       "45-59": 0.1, "60+": 0.2})
    urban_effect: float = -0.15
    tertiary_effect: float = -0.15
    minority_effect: float = 0.05
    cluster_sd: float = 0.3                # PSU effect, shared by the five factors (ICC)
    halo_sd: float = 0.6                   # respondent effect shared by the five factors
    factor_sd: float = 0.5                 # respondent x factor noise
    item_sd: float = 0.6                   # criterion noise
    rating_thresholds: tuple = (-2.0, -1.2, 0.0, 1.3)
    criterion_offsets: dict = field(default_factory=lambda: {
        c: 0.0 for c in schema.RATING_COLUMNS} | {
        "access_seating": -0.1, "access_modern_equipment": 0.15, "procedure_lawful_fees": -0.1,
        "procedure_time_limit": 0.1, "staff_polite": -0.05, "staff_no_harassment": -0.1,
        "result_on_time": 0.1, "feedback_resolved": 0.15})
    # --- overall satisfaction (logit scale) ---
    overall_weights: dict = _d(access=0.3, procedure=0.5, staff=0.8, result=0.6, feedback=0.2)
    staff_slope_sd: float = 0.25           # province deviation of the staff-attitude slope
    overall_direct: dict = _d(on_time=0.3, applied_online=0.0, n_visits=0.0,
                              asked_extra_payment=-0.5)
    overall_thresholds: tuple = (-1.9, -0.7, 0.5, 3.6)
    # --- anchors ---
    province_sd_pp: dict = field(default_factory=lambda: {"2017-2021": 2.0, "2022+": 3.3})
    truth_seed: int = 20250701             # draws the province deviations (not the sample)
    province_effects: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    # fingerprint of the scalar parameters province_effects was solved for
    calibrated_for: str | None = field(default=None, compare=False, repr=False)

    # -- helpers ---------------------------------------------------------------------------------
    def _scalars(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("province_effects", "calibrated_for")}

    def fingerprint(self) -> str:
        """A hash of the scalar parameters (not of ``province_effects``)."""
        text = json.dumps(self._scalars(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def calibrated(self, years) -> "Truth":
        """This truth with ``province_effects`` solved for ``years`` (kept if already there)."""
        years = _check_years(years)
        table = self.province_effects
        if (table is not None and self.calibrated_for == self.fingerprint()
                and set(years) <= set(table["year"])):
            return self
        return dataclasses.replace(self, province_effects=_calibrate(self, years),
                                   calibrated_for=self.fingerprint())

    def parameters(self, *, population_averaged: bool = True) -> pd.DataFrame:
        """Every parameter of the truth, named, with the quantity it is.

        Returns columns: parameter, value, quantity, description, mc_se.

        quantity:
        - ``"declared"``: a setting of the generator (rates, shares, SDs, thresholds).
        - ``"conditional"``: a latent-scale coefficient, conditional on the province-year and
          PSU effects and the respondent's halo (the target of a correctly specified
          multilevel latent model; e.g. ``overall.weight.staff`` is the mean over provinces of
          the staff-attitude slope of the ordered logit of overall satisfaction on the latent
          qualities).
        - ``"population_averaged"``: a census quantity of the synthetic population of service
          users, pooled over the years of ``province_effects`` with population weights — what
          a design-based estimator on a sample from this truth estimates. Computed by a large
          seeded simulation (:func:`population_parameters`); ``mc_se`` is its Monte Carlo
          standard error (batch means over 10 batches), NaN for the other quantities.
        """
        rows = []
        descriptions = _PARAMETER_DESCRIPTIONS
        for name, value in self._scalars().items():
            if isinstance(value, dict):
                for key, inner in value.items():
                    if isinstance(inner, dict):
                        for k2, v2 in inner.items():
                            rows.append((f"{name}.{key}.{k2}", v2, name))
                    else:
                        rows.append((f"{name}.{key}", inner, name))
            elif isinstance(value, tuple):
                for i, v in enumerate(value, start=1):
                    rows.append((f"{name}.{i}", v, name))
            else:
                rows.append((name, value, name))
        out = pd.DataFrame(rows, columns=["parameter", "value", "group"])
        out["value"] = out["value"].astype("float64")
        out["quantity"] = np.where(out["group"].isin(_CONDITIONAL_GROUPS), "conditional",
                                   "declared")
        out["description"] = out["group"].map(descriptions)
        out["mc_se"] = np.nan
        out = out.drop(columns="group")
        if population_averaged:
            years = (sorted(self.province_effects["year"].unique())
                     if self.province_effects is not None else list(DEMO_YEARS))
            out = pd.concat([out, population_parameters(self, years=tuple(years))],
                            ignore_index=True)
        return out


_CONDITIONAL_GROUPS = {"factor_offsets_2017_2021", "factor_offsets_2022", "experience_effects",
                       "agency_effects", "age_effects", "urban_effect", "tertiary_effect",
                       "minority_effect", "criterion_offsets", "rating_thresholds",
                       "overall_weights", "overall_direct", "overall_thresholds"}

_PARAMETER_DESCRIPTIONS = {
    "online_logit": "logit P(applied online) in 2019 at a typical province",
    "online_trend": "change in logit P(applied online) per year",
    "online_province_sd": "SD of the province deviation of logit P(applied online)",
    "on_time_logit": "logit P(dossier returned on time) in 2019, in person, typical province",
    "on_time_trend": "change in logit P(on time) per year",
    "on_time_online": "difference in logit P(on time), online vs not",
    "on_time_province_sd": "SD of the province deviation of logit P(on time)",
    "extra_payment_logit": "logit P(asked an extra payment) in 2019, in person, typical province",
    "extra_payment_trend": "change in logit P(asked an extra payment) per year",
    "extra_payment_online": "difference in logit P(asked an extra payment), online vs not",
    "extra_payment_province_sd": "SD of the province deviation of logit P(extra payment)",
    "visits_log_rate": "log mean number of extra visits (Poisson, capped), in person, on time",
    "visits_online": "difference in log mean extra visits, online vs not",
    "visits_late": "difference in log mean extra visits, late vs on time",
    "max_visits": "cap on n_visits",
    "used_service_logit": "2022+: logit P(used a service in the past year), rural",
    "used_service_urban": "2022+: difference in logit P(used a service), urban vs rural",
    "postal_share": "share of non-online dossiers handled by post",
    "agency_shares": "share of service users by the level of the agency they dealt with",
    "service_area_shares": "share of service users by service area",
    "factor_offsets_2017_2021": "latent quality intercept of the factor, 2017-2021 "
                                "(relative to the province-year effect)",
    "factor_offsets_2022": "latent quality intercept of the factor, 2022 on",
    "experience_effects": "effect of the experience fact (per unit; n_visits per visit) on the "
                          "factor's latent quality, conditional on province-year and PSU effects",
    "agency_effects": "effect of the agency level on every factor's latent quality",
    "age_effects": "effect of the age group on every factor's latent quality",
    "urban_effect": "effect of urban residence on every factor's latent quality",
    "tertiary_effect": "effect of tertiary education on every factor's latent quality",
    "minority_effect": "effect of ethnic-minority membership on every latent quality",
    "cluster_sd": "SD of the PSU (commune/village) effect shared by the factors",
    "halo_sd": "SD of the respondent effect shared by the factors",
    "factor_sd": "SD of the respondent x factor noise",
    "item_sd": "SD of the criterion noise (ordered probit)",
    "rating_thresholds": "thresholds of the criterion ratings (k -> k+1) on the latent scale",
    "criterion_offsets": "shift of the criterion's thresholds (positive = harder to rate high)",
    "overall_weights": "conditional slope of overall satisfaction (ordered logit) on the "
                       "factor's latent quality (staff: mean over provinces)",
    "staff_slope_sd": "SD over provinces of the staff-attitude slope of overall satisfaction",
    "overall_direct": "direct effect of the fact on overall satisfaction (logit scale), beyond "
                      "its effect through the latent qualities",
    "overall_thresholds": "thresholds of overall satisfaction (ordered logit, "
                          "P(Y <= k) = F(threshold_k - eta))",
    "province_sd_pp": "cross-province SD (percentage points) used to map PAPI d5 to SIPAS",
    "truth_seed": "seed of the province deviations (fixed across samples)",
}


@dataclass(frozen=True)
class SamplingPlan:
    """How the sample is drawn from the population of a :class:`Truth`.

    Respondents per unit-year are drawn uniformly from ``respondents_per_unit`` (inclusive);
    with ``n`` given, the total is spread over unit-years in proportion to those draws. A sample
    larger than the plan's takes proportionally more PSUs per stratum (never more than the
    stratum has), so cluster sizes stay realistic. Within a unit, respondents fall into its
    PSUs at random (multinomial), so cluster sizes vary.

    Weights: stage 1 draws ``psus_per_stratum`` PSUs with probability proportional to a size
    measure, stage 2 an equal-probability sample within the PSU; since the PSU's true size is
    its measure times a log-normal error (``size_measure_sd``), the design weight is
    ``N_stratum * error / (m * n_psu)``. It is multiplied by the inverse response propensity
    (``response_*``, by age x urban, relative to the mean response of that urban class), a
    response-propensity adjustment with the true propensities. Weights add up, per unit-year,
    to its adults (2022 on) or yearly service users (2017-2021, ``user_share`` of adults).
    """

    respondents_per_unit: tuple = (400, 600)
    strata_per_unit: int = 3               # districts, 2017-2024 (2025 on: urban, rural)
    psus_per_stratum: dict = field(default_factory=lambda: {
        "2017-2021": 3, "2022-2024": 6, "2025+": 5})
    # population count of PSUs in a stratum: base + Poisson(extra)
    psu_count_base: dict = field(default_factory=lambda: {
        "2017-2021": (8, 10), "2022-2024": (60, 90), "2025+": (20, 40)})
    stratum_size_shape: float = 3.0        # Gamma shape of the strata's population shares
    size_measure_sd: float = 0.35          # log SD of (true PSU size / outdated size measure)
    adult_share: float = 0.70              # residents aged 18+ among the population
    user_share: float = 0.35               # 2017-2021: yearly service users among adults
    response_logit: float = 1.0            # response propensity: about 73 % at baseline
    response_age: dict = field(default_factory=lambda: {"18-29": -0.6, "30-44": -0.2,
                                                        "45-59": 0.0, "60+": 0.4})
    response_urban: float = -0.5
    item_missing: float = 0.02             # each criterion, at random
    feedback_item_missing: float = 0.15    # feedback criteria (many never gave feedback)
    overall_missing: float = 0.01


_POP_AGE = np.array([0.25, 0.30, 0.27, 0.18])          # adults by AGE_GROUPS
_EDUCATION_BY_URBAN = np.array([[0.35, 0.35, 0.20, 0.10],  # rural
                                [0.15, 0.25, 0.30, 0.30]])  # urban


# ------------------------------------------------------------------------------------------------
# Anchors and calibration
# ------------------------------------------------------------------------------------------------

def _check_years(years) -> tuple[int, ...]:
    years = tuple(sorted({int(y) for y in years}))
    bad = [y for y in years if y < FIRST_YEAR]
    if not years or bad:
        raise ValueError(f"years must be {FIRST_YEAR} or later (the first SIPAS); "
                         f"got {bad or 'none'}")
    return years


@functools.lru_cache(maxsize=1)
def _real_inputs():
    """Province tables, PAPI d5 and published SIPAS, read once."""
    prov63 = reference.provinces("63")[["province_code", "region_id", "province_code_34"]].copy()
    prov63["population"] = prov63["province_code"].map(POPULATION_2019).astype("float64")
    region = prov63["region_id"].astype(int)
    prov63["urban_share"] = prov63["province_code"].map(_URBAN_OVERRIDE).fillna(
        region.map(_URBAN_BY_REGION)).astype("float64")
    prov63["minority_share"] = region.map(_MINORITY_BY_REGION).astype("float64")
    papi = sipas_io.load_papi()[["province_code", "year", "d5"]]
    published = sipas_io.load_published_sipas()
    published = published[(published["value_type"] == "reported")
                           & published["sipas_pct"].notna()]
    return prov63.reset_index(drop=True), papi, published


def anchors(years, *, province_sd_pp=None) -> pd.DataFrame:
    """The SIPAS index each synthetic unit-year is calibrated to.

    Returns columns: unit_set, province_code, year, anchor (percent), anchor_source
    ("published" | "papi_d5" | "constituents"), papi_year, national (the published national
    figure used, nearest year), population (thousands).
    """
    years = _check_years(years)
    province_sd_pp = province_sd_pp or Truth().province_sd_pp
    prov63, papi, published = _real_inputs()
    national = published[published["scope"] == "national"].set_index("year")["sipas_pct"]
    province_pub = published[published["scope"] == "province"].set_index(
        ["province_code", "year"])["sipas_pct"]
    # PAPI d5 standardised within its year (the dimension changed in 2021: SC52 dropped)
    papi = papi.dropna(subset=["d5"]).copy()
    papi["z"] = papi.groupby("year")["d5"].transform(lambda s: (s - s.mean()) / s.std())
    papi_years = np.array(sorted(papi["year"].unique()))
    z = papi.set_index(["province_code", "year"])["z"]

    def nearest(year, available):
        available = np.asarray(available)
        return int(available[np.argmin(np.abs(available - year) * 2 + (available > year))])

    rows = []
    years63 = sorted({min(y, FIRST_YEAR_OF_34 - 1) for y in years})
    for year in years63:
        nat = float(national[nearest(year, national.index)])
        sd = province_sd_pp["2017-2021" if year <= 2021 else "2022+"]
        for code in prov63["province_code"]:
            have = papi_years[[(code, y) in z.index for y in papi_years]]
            p_year = nearest(year, have)
            rows.append((code, year, nat + sd * float(z[(code, p_year)]), p_year, nat))
    table = pd.DataFrame(rows, columns=["province_code", "year", "anchor", "papi_year",
                                        "national"])
    table = table.merge(prov63[["province_code", "population", "province_code_34"]],
                        on="province_code")
    key = pd.MultiIndex.from_frame(table[["province_code", "year"]])
    is_pub = key.isin(province_pub.index)
    table["anchor_source"] = np.where(is_pub, "published", "papi_d5")
    table.loc[is_pub, "anchor"] = province_pub.reindex(key[is_pub]).to_numpy()
    # shift the PAPI-based anchors so that the population-weighted mean is the national figure
    for year, idx in table.groupby("year").groups.items():
        part = table.loc[idx]
        w = part["population"]
        gap = part["national"].iloc[0] - np.average(part["anchor"], weights=w)
        from_papi = part["anchor_source"] == "papi_d5"
        shift = gap * w.sum() / w[from_papi].sum()
        table.loc[idx[from_papi.to_numpy()], "anchor"] += shift
    table["anchor"] = table["anchor"].clip(55.0, 97.5)
    table["papi_year"] = table["papi_year"].where(table["anchor_source"] == "papi_d5")
    table.insert(0, "unit_set", "63")

    out = [table[table["year"].isin(years)]]
    later = [y for y in years if y >= FIRST_YEAR_OF_34]
    if later:
        last = table[table["year"] == FIRST_YEAR_OF_34 - 1]
        merged = last.assign(weighted=last["anchor"] * last["population"]).groupby(
            "province_code_34", as_index=False).agg(weighted=("weighted", "sum"),
                                                     population=("population", "sum"),
                                                     national=("national", "first"))
        merged["anchor"] = merged["weighted"] / merged["population"]
        for year in later:
            out.append(pd.DataFrame({
                "unit_set": "34", "province_code": merged["province_code_34"], "year": year,
                "anchor": merged["anchor"], "papi_year": np.nan, "national": merged["national"],
                "population": merged["population"], "anchor_source": "constituents"}))
    columns = ["unit_set", "province_code", "year", "anchor", "anchor_source", "papi_year",
               "national", "population"]
    return pd.concat([o[columns] for o in out], ignore_index=True)


def _province_draws(truth: Truth) -> pd.DataFrame:
    """Province deviations of the 63 provinces (fixed by truth_seed) and of the 34 units
    (population-weighted means of their constituents'), with composition shares."""
    prov63, _, _ = _real_inputs()
    rng = np.random.default_rng(truth.truth_seed)
    k = len(prov63)
    d63 = prov63.assign(
        online_dev=rng.normal(0, truth.online_province_sd, k),
        on_time_dev=rng.normal(0, truth.on_time_province_sd, k),
        extra_payment_dev=rng.normal(0, truth.extra_payment_province_sd, k),
        staff_slope_dev=rng.normal(0, truth.staff_slope_sd, k),
    )
    cols = ["online_dev", "on_time_dev", "extra_payment_dev", "staff_slope_dev", "urban_share",
            "minority_share"]
    weighted = d63[cols].mul(d63["population"], axis=0).assign(
        population=d63["population"], province_code=d63["province_code_34"])
    d34 = weighted.groupby("province_code", as_index=False).sum()
    d34[cols] = d34[cols].div(d34["population"], axis=0)
    d63 = d63[["province_code", "population"] + cols].assign(unit_set="63")
    return pd.concat([d63, d34.assign(unit_set="34")], ignore_index=True)


def _fact_cells(truth: Truth, online_lin, on_time_lin, extra_lin):
    """Joint distribution of (online, on_time, extra, n_visits) per unit-year.

    Returns (facts [cells, 4] in FACTS order, probabilities [unit-years, cells]).
    """
    visits = np.arange(1, truth.max_visits + 1)
    grid = np.array(np.meshgrid([0, 1], [0, 1], [0, 1], visits, indexing="ij")).reshape(4, -1).T
    online, on_time, extra, n_visits = grid.T
    p_online = expit(online_lin[:, None])
    p_on_time = expit(on_time_lin[:, None] + truth.on_time_online * online)
    p_extra = expit(extra_lin[:, None] + truth.extra_payment_online * online)
    rate = np.exp(truth.visits_log_rate + truth.visits_online * online
                  + truth.visits_late * (1 - on_time))
    k = n_visits - 1
    p_visits = np.where(n_visits < truth.max_visits, poisson.pmf(k, rate),
                        poisson.sf(k - 1, rate))
    prob = (np.where(online, p_online, 1 - p_online) * np.where(on_time, p_on_time, 1 - p_on_time)
            * np.where(extra, p_extra, 1 - p_extra) * p_visits)
    facts = np.column_stack([on_time, online, n_visits, extra]).astype(float)
    return facts, prob


def _effect_matrix(truth: Truth) -> np.ndarray:
    """[4 facts (FACTS order), 5 factors] conditional effects on the latent qualities."""
    return np.array([[truth.experience_effects[f][g] for g in FACTOR_NAMES] for f in FACTS])


def _demographic_moments(truth: Truth, urban_share, p_use_urban, p_use_rural, minority_share):
    """Mean and variance of the demographic shift among service users (population, not sample)."""
    age = np.array([truth.age_effects[a] for a in schema.AGE_GROUPS])
    w_urban = urban_share * p_use_urban
    w_rural = (1 - urban_share) * p_use_rural
    share_urban = w_urban / (w_urban + w_rural)
    tertiary = _EDUCATION_BY_URBAN[:, 3]
    mean = (_POP_AGE @ age + truth.urban_effect * share_urban
            + truth.tertiary_effect * (share_urban * tertiary[1] + (1 - share_urban) * tertiary[0])
            + truth.minority_effect * minority_share)
    # variance: age and minority independent of the rest; urban and education jointly
    var_age = _POP_AGE @ age**2 - (_POP_AGE @ age) ** 2
    var_min = truth.minority_effect**2 * minority_share * (1 - minority_share)
    e_ue = [truth.urban_effect * u + truth.tertiary_effect * tertiary[u] for u in (0, 1)]
    e2_ue = [(truth.urban_effect * u) ** 2 + 2 * truth.urban_effect * u * truth.tertiary_effect
             * tertiary[u] + truth.tertiary_effect**2 * tertiary[u] for u in (0, 1)]
    m_ue = share_urban * e_ue[1] + (1 - share_urban) * e_ue[0]
    v_ue = share_urban * e2_ue[1] + (1 - share_urban) * e2_ue[0] - m_ue**2
    return mean, var_age + var_min + v_ue


def _linear_predictors(truth: Truth, table: pd.DataFrame):
    """Logit-scale linear predictors of the facts per unit-year, and P(use) by urban."""
    t = table["year"].to_numpy() - 2019
    online = truth.online_logit + truth.online_trend * t + table["online_dev"].to_numpy()
    on_time = truth.on_time_logit + truth.on_time_trend * t + table["on_time_dev"].to_numpy()
    extra = (truth.extra_payment_logit + truth.extra_payment_trend * t
             + table["extra_payment_dev"].to_numpy())
    return online, on_time, extra


def _calibrate(truth: Truth, years) -> pd.DataFrame:
    """Solve the province-year effect so that each unit's population index hits its anchor.

    The index is the mean over factors of the mean over criteria of P(rating >= 4) among
    service users. Given the facts cell and agency level the latent is normal, so P is an
    exact mixture over (facts x agency) cells; the small demographic shift enters through its
    mean and variance (normal approximation). Solved by Newton's method, all units at once.

    Returns the per-unit-year table described in :class:`Truth`.
    """
    table = anchors(years, province_sd_pp=truth.province_sd_pp)
    draws = _province_draws(truth).drop(columns="population")
    table = table.merge(draws, on=["unit_set", "province_code"], how="left")
    table["era"] = _era(table["year"])
    online_lin, on_time_lin, extra_lin = _linear_predictors(truth, table)
    table["online_logit"] = online_lin
    table["on_time_logit"] = on_time_lin
    table["extra_payment_logit"] = extra_lin
    table["staff_slope"] = truth.overall_weights["staff"] + table["staff_slope_dev"]

    facts, prob = _fact_cells(truth, online_lin, on_time_lin, extra_lin)
    table["online_share"] = prob @ facts[:, 1]
    table["on_time_rate"] = prob @ facts[:, 0]
    table["extra_payment_rate"] = prob @ facts[:, 3]
    table["mean_visits"] = prob @ facts[:, 2]
    agency_p = np.array([truth.agency_shares[a] for a in schema.AGENCY_LEVELS])
    agency_e = np.array([truth.agency_effects[a] for a in schema.AGENCY_LEVELS])
    # cells: facts x agency -> shift per factor [cells, 5], prob [units, cells]
    shift = (facts @ _effect_matrix(truth))[:, None, :] + agency_e[None, :, None]
    shift = shift.reshape(-1, len(FACTOR_NAMES))
    cell_p = (prob[:, :, None] * agency_p[None, None, :]).reshape(len(table), -1)

    is_late = table["era"].to_numpy() == "2022+"
    urban = table["urban_share"].to_numpy()
    p_use_u = np.where(is_late, expit(truth.used_service_logit + truth.used_service_urban), 1.0)
    p_use_r = np.where(is_late, expit(truth.used_service_logit), 1.0)
    demo_mean, demo_var = _demographic_moments(truth, urban, p_use_u, p_use_r,
                                               table["minority_share"].to_numpy())
    offsets = np.where(is_late[:, None],
                       [truth.factor_offsets_2022[f] for f in FACTOR_NAMES],
                       [truth.factor_offsets_2017_2021[f] for f in FACTOR_NAMES])
    sd = np.sqrt(truth.cluster_sd**2 + truth.halo_sd**2 + truth.factor_sd**2
                 + truth.item_sd**2 + demo_var)
    tau = truth.rating_thresholds[2]
    # criterion cut-offs grouped by factor; each factor weighs 1/5, each criterion 1/len(factor)
    factor_of = np.concatenate([[i] * len(c) for i, c in enumerate(schema.FACTORS.values())])
    crit_w = np.concatenate([[1 / len(c) / len(FACTOR_NAMES)] * len(c)
                             for c in schema.FACTORS.values()])
    cut = tau + np.array([truth.criterion_offsets[c] for c in schema.RATING_COLUMNS])
    base = (offsets[:, factor_of] + demo_mean[:, None])[:, None, :] + shift[None, :, factor_of] \
        - cut[None, None, :]                                   # [units, cells, criteria]
    target = table["anchor"].to_numpy() / 100.0
    u = np.zeros(len(table))
    for _ in range(50):
        z = (base + u[:, None, None]) / sd[:, None, None]
        value = np.einsum("uc,ucj,j->u", cell_p, ndtr(z), crit_w)
        slope = np.einsum("uc,ucj,j->u", cell_p, np.exp(-0.5 * z**2), crit_w) \
            / (np.sqrt(2 * np.pi) * sd)
        step = np.clip((target - value) / slope, -1.0, 1.0)
        u += step
        if np.max(np.abs(step)) < 1e-10:
            break
    table["province_effect"] = u
    # the model's own population index (equals the anchor up to the normal approximation of
    # the demographic shift) and the share of residents who are service users (its weight)
    table["population_index"] = 100 * value
    table["use_rate"] = np.where(is_late, urban * p_use_u + (1 - urban) * p_use_r, 1.0)
    return table.sort_values(["year", "unit_set", "province_code"], ignore_index=True)


# ------------------------------------------------------------------------------------------------
# The sample
# ------------------------------------------------------------------------------------------------

def _allocate(total: int, shares: np.ndarray) -> np.ndarray:
    """Integers summing to ``total`` in proportion to ``shares`` (largest remainder)."""
    raw = total * shares / shares.sum()
    out = np.floor(raw).astype(np.int64)
    rest = total - out.sum()
    if rest:
        out[np.argsort(-(raw - out), kind="stable")[:rest]] += 1
    return out


def _categorical(codes: np.ndarray, categories) -> pd.Categorical:
    return pd.Categorical.from_codes(codes.astype(np.int8), categories=list(categories))


def _draw_category(rng, n, probs) -> np.ndarray:
    cum = np.cumsum(probs)
    return np.minimum(np.searchsorted(cum / cum[-1], rng.random(n), side="right"),
                      len(probs) - 1)


def _simulate(truth: Truth, plan: SamplingPlan, rng: np.random.Generator, years, n,
              *, keep_latent: bool = False):
    """The generator behind :func:`simulate_survey`; ``keep_latent`` adds the latent
    qualities (``latent_<factor>``) and the overall linear predictor (``overall_eta``)."""
    pe = truth.province_effects
    units = pe[pe["year"].isin(years)].reset_index(drop=True)
    n_units = len(units)
    year = units["year"].to_numpy()
    period = np.where(year <= 2021, "2017-2021", np.where(year <= 2024, "2022-2024", "2025+"))
    lo, hi = plan.respondents_per_unit
    planned = rng.integers(lo, hi + 1, n_units)
    per_unit = planned if n is None else _allocate(int(n), planned.astype(float))

    # --- strata: districts (to 2024) or urban/rural (2025 on) ---
    two_tier = year >= FIRST_YEAR_OF_34
    n_strata = np.where(two_tier, 2, plan.strata_per_unit)
    s_unit = np.repeat(np.arange(n_units), n_strata)
    s_pos = np.arange(len(s_unit)) - np.repeat(np.cumsum(n_strata) - n_strata, n_strata)
    s_period = period[s_unit]
    adults = units["population"].to_numpy() * 1000 * plan.adult_share
    target_pop = np.where(year <= 2021, adults * plan.user_share, adults)
    share = rng.gamma(plan.stratum_size_shape, 1.0, len(s_unit))
    urban_share = units["urban_share"].to_numpy()
    s_urban = np.where(two_tier[s_unit], (s_pos == 0).astype(float), np.nan)
    share = np.where(two_tier[s_unit], np.where(s_pos == 0, urban_share[s_unit],
                                                1 - urban_share[s_unit]), share)
    share_sum = np.bincount(s_unit, share, n_units)
    s_pop = target_pop[s_unit] * share / share_sum[s_unit]
    base_extra = np.array([plan.psu_count_base[p] for p in s_period])
    scale = np.where(two_tier[s_unit], np.where(s_pos == 0, 0.5, 1.5), 1.0)
    s_count = (base_extra[:, 0] * scale).astype(int) + rng.poisson(base_extra[:, 1] * scale)
    # a larger sample takes more PSUs rather than larger ones (up to every PSU of the stratum)
    scale_up = max(1.0, per_unit.sum() / planned.sum())
    s_take = np.rint(np.array([plan.psus_per_stratum[p] for p in s_period]) * scale_up)
    s_m = np.minimum(s_take.astype(np.int64), s_count)

    # --- PSUs: drawn with probability proportional to an outdated size measure ---
    p_stratum = np.repeat(np.arange(len(s_unit)), s_m)
    p_unit = s_unit[p_stratum]
    p_pos = np.arange(len(p_stratum)) - np.repeat(np.cumsum(s_m) - s_m, s_m)
    # distinct labels among the stratum's PSUs (systematic positions)
    p_label = (np.floor((p_pos + rng.random(len(p_pos))) * s_count[p_stratum] / s_m[p_stratum])
               + 1).astype(int)
    measure_error = np.exp(rng.normal(0, plan.size_measure_sd, len(p_stratum)))
    p_urban = np.where(np.isnan(s_urban[p_stratum]),
                       rng.random(len(p_stratum)) < urban_share[p_unit], s_urban[p_stratum] == 1)
    p_effect = rng.normal(0, truth.cluster_sd, len(p_stratum))

    # --- respondents: spread over the unit's PSUs at random, kept in order ---
    psus_per_unit = np.bincount(p_unit, minlength=n_units)
    p_start = np.cumsum(psus_per_unit) - psus_per_unit
    r_unit = np.repeat(np.arange(n_units), per_unit)
    n_total = len(r_unit)
    r_psu = np.sort(p_start[r_unit] + np.floor(rng.random(n_total)
                                               * psus_per_unit[r_unit]).astype(np.int64))
    r_stratum = p_stratum[r_psu]
    n_in_psu = np.bincount(r_psu, minlength=len(p_stratum))
    r_late = year[r_unit] >= 2022
    urban = p_urban[r_psu]

    # respondent composition: population x response propensity (by age x urban)
    resp_age = np.array([plan.response_age[a] for a in schema.AGE_GROUPS])
    propensity = expit(plan.response_logit + resp_age[None, :]
                       + plan.response_urban * np.array([[0.0], [1.0]]))   # [urban, age]
    joint = _POP_AGE[None, :] * propensity
    resp_share = joint / joint.sum(axis=1, keepdims=True)
    mean_response = joint.sum(axis=1)                                      # r-bar by urban
    cum = np.cumsum(resp_share, axis=1)
    age = (rng.random(n_total)[:, None] > cum[urban.astype(int), :-1]).sum(axis=1)
    nonresponse_adj = mean_response[urban.astype(int)] / propensity[urban.astype(int), age]

    # weight = inverse selection probability (PPS stage 1 x equal-probability stage 2)
    # x non-response adjustment; the PSU's true size departs from its measure by measure_error
    design_w = (s_pop[r_stratum] * measure_error[r_psu]
                / (s_m[r_stratum] * n_in_psu[r_psu]))
    weight = design_w * nonresponse_adj

    sex = (rng.random(n_total) < 0.5).astype(np.int8)
    edu_cum = np.cumsum(_EDUCATION_BY_URBAN, axis=1)[urban.astype(int), :-1]
    education = (rng.random(n_total)[:, None] > edu_cum).sum(axis=1)
    minority = rng.random(n_total) < units["minority_share"].to_numpy()[r_unit]
    used = np.ones(n_total, dtype=bool)
    p_use = expit(truth.used_service_logit + truth.used_service_urban * urban)
    used[r_late] = rng.random(int(r_late.sum())) < p_use[r_late]

    # --- experience facts and context, service users only ---
    users = np.flatnonzero(used)
    m = len(users)
    u_unit = r_unit[users]
    online = rng.random(m) < expit(units["online_logit"].to_numpy()[u_unit])
    on_time = rng.random(m) < expit(units["on_time_logit"].to_numpy()[u_unit]
                                    + truth.on_time_online * online)
    extra = rng.random(m) < expit(units["extra_payment_logit"].to_numpy()[u_unit]
                                  + truth.extra_payment_online * online)
    visit_rate = np.exp(truth.visits_log_rate + truth.visits_online * online
                        + truth.visits_late * ~on_time)
    n_visits = 1 + np.minimum(rng.poisson(visit_rate), truth.max_visits - 1)
    agency = _draw_category(rng, m, [truth.agency_shares[a] for a in schema.AGENCY_LEVELS])
    area = _draw_category(rng, m, [truth.service_area_shares[a] for a in schema.SERVICE_AREAS])
    postal = rng.random(m) < truth.postal_share
    channel = np.where(online, 1, np.where(postal, 2, 0))   # CHANNELS order

    # --- latent qualities [m, 5] ---
    is_late_user = r_late[users]
    offsets = np.where(is_late_user[:, None],
                       np.array([truth.factor_offsets_2022[f] for f in FACTOR_NAMES]),
                       np.array([truth.factor_offsets_2017_2021[f] for f in FACTOR_NAMES]))
    fact_matrix = np.column_stack([on_time, online, n_visits, extra]).astype(float)
    age_e = np.array([truth.age_effects[a] for a in schema.AGE_GROUPS])
    demo = (age_e[age[users]] + truth.urban_effect * urban[users]
            + truth.tertiary_effect * (education[users] == 3)
            + truth.minority_effect * minority[users])
    agency_e = np.array([truth.agency_effects[a] for a in schema.AGENCY_LEVELS])
    common = (units["province_effect"].to_numpy()[u_unit] + agency_e[agency]
              + p_effect[r_psu[users]] + demo + rng.normal(0, truth.halo_sd, m))
    latent = (offsets + common[:, None] + fact_matrix @ _effect_matrix(truth)
              + rng.normal(0, truth.factor_sd, (m, len(FACTOR_NAMES))))

    # --- criterion ratings (ordered probit) with items missing at random ---
    # written straight into one column-major block: the frame then uses it without a copy
    n_items = len(schema.RATING_COLUMNS)
    ratings = np.full((n_total, n_items), np.nan, order="F")
    scores = np.full((n_total, len(FACTOR_NAMES)), np.nan, order="F")
    thresholds = np.asarray(truth.rating_thresholds)
    j = 0
    for i, (factor, columns) in enumerate(schema.FACTORS.items()):
        q = latent[:, i]
        miss_rate = plan.feedback_item_missing if factor == "feedback" else plan.item_missing
        total = np.zeros(m)
        answered = np.zeros(m)
        for column in columns:
            y = q + rng.normal(0, truth.item_sd, m) - truth.criterion_offsets[column]
            rating = (1 + np.searchsorted(thresholds, y)).astype(np.float64)
            rating[rng.random(m) < miss_rate] = np.nan
            ratings[users, j] = rating
            ok = ~np.isnan(rating)
            total += np.where(ok, rating, 0.0)
            answered += ok
            j += 1
        with np.errstate(invalid="ignore", divide="ignore"):
            scores[users, i] = np.where(answered > 0, total / np.maximum(answered, 1), np.nan)

    # --- overall satisfaction (ordered logit on the latent qualities) ---
    weights_f = np.array([truth.overall_weights[f] for f in FACTOR_NAMES])
    direct = np.array([truth.overall_direct[f] for f in FACTS])
    eta = (latent @ weights_f + units["staff_slope_dev"].to_numpy()[u_unit]
           * latent[:, FACTOR_NAMES.index("staff")] + fact_matrix @ direct)
    uniform = rng.random(m)
    o_star = eta + np.log(uniform / (1 - uniform))
    overall = (1 + np.searchsorted(np.asarray(truth.overall_thresholds), o_star)).astype(float)
    overall[rng.random(m) < plan.overall_missing] = np.nan

    # --- assemble: ids from small per-stratum / per-PSU tables, then one frame, no copies ---
    def spread(values, fill=np.nan, dtype=np.float64):
        out = np.full(n_total, fill, dtype=dtype)
        out[users] = values
        return out

    def text(values):
        return pd.Series(values).astype("str")

    unit_codes = units["province_code"].to_numpy().astype(str)
    s_number = text(s_pos + 1).str.zfill(2)
    s_label = pd.Series(np.where(two_tier[s_unit], np.where(s_pos == 0, "U", "R"), "D"))
    s_label = s_label + s_number.where(~two_tier[s_unit], "")
    s_id = (text(year[s_unit]) + "-" + unit_codes[s_unit] + "-" + s_label).to_numpy()
    s_district = (pd.Series(unit_codes[s_unit]) + "-D" + s_number).where(~two_tier[s_unit])
    kind = np.where(period[p_unit] == "2022-2024", "-V", "-C")
    p_id = (pd.Series(s_id[p_stratum]) + kind + text(p_label).str.zfill(3)).to_numpy()
    position_in_psu = np.arange(n_total) - (np.cumsum(n_in_psu) - n_in_psu)[r_psu]
    psu = pd.Series(p_id[r_psu], dtype="str")

    columns = {
        "respondent_id": "S" + text(np.arange(1, n_total + 1)).str.zfill(7),
        "year": year[r_unit].astype(np.int64),
        "unit_set": pd.Categorical.from_codes((units["unit_set"].to_numpy() == "34")
                                              .astype(np.int8)[r_unit],
                                              categories=list(schema.UNIT_SETS)),
        "province_code": pd.Series(unit_codes[r_unit], dtype="str"),
        "district_code": pd.Series(s_district.to_numpy()[r_stratum], dtype="str"),
        "stratum": pd.Series(s_id[r_stratum], dtype="str"),
        "psu": psu,
        "weight": weight,
        "ssu": psu + "-H" + text(position_in_psu + 1).str.zfill(3),
        "fpc1": s_count[r_stratum].astype(np.float64),
        "service_area": pd.Categorical.from_codes(spread(area, -1, np.int8),
                                                  categories=list(schema.SERVICE_AREAS)),
        "agency_level": pd.Categorical.from_codes(spread(agency, -1, np.int8),
                                                  categories=list(schema.AGENCY_LEVELS)),
        "channel": pd.Categorical.from_codes(spread(channel, -1, np.int8),
                                             categories=list(schema.CHANNELS)),
        "used_service": pd.array(used, dtype="boolean"),
        "on_time": spread(on_time),
        "applied_online": spread(online),
        "asked_extra_payment": spread(extra),
        "n_visits": spread(n_visits),
    }
    columns.update({c: ratings[:, j] for j, c in enumerate(schema.RATING_COLUMNS)})
    columns.update({c: scores[:, i] for i, c in enumerate(schema.SCORE_COLUMNS)})
    columns.update({
        "overall_satisfaction": spread(overall),
        "sex": _categorical(sex, schema.SEXES),
        "age_group": _categorical(age, schema.AGE_GROUPS),
        "education": _categorical(education, schema.EDUCATION_LEVELS),
        "ethnicity": _categorical(minority, schema.ETHNICITIES),
        "urban": urban.astype(bool),
        "synthetic": np.ones(n_total, dtype=bool),
    })
    if keep_latent:
        columns.update({f"latent_{f}": spread(latent[:, i]) for i, f in enumerate(FACTOR_NAMES)})
        columns["overall_eta"] = spread(eta)
        columns["staff_slope"] = spread(units["staff_slope"].to_numpy()[u_unit])
    # copy=False: no consolidation into blocks, which would copy every column once more
    return pd.DataFrame(columns, copy=False)


def simulate_survey(n: int | None = None, truth: Truth | None = None,
                    sampling: SamplingPlan | None = None, seed: Seed = 0, *,
                    years=None, keep_latent: bool = False) -> tuple[pd.DataFrame, Truth]:
    """Draw a synthetic SIPAS-shaped sample and return it with the truth it came from.

    Parameters
    ----------
    n : total respondents, spread over unit-years in proportion to the plan's draws;
        None gives the plan's own sizes (400-600 a unit-year, about 63 x 500 a year).
    truth : the true model (default :class:`Truth`); its ``province_effects`` are solved for
        ``years`` when absent or stale.
    sampling : the sampling plan (default :class:`SamplingPlan`).
    seed : int or numpy Generator; the same seed gives the same bytes.
    years : survey years (default 2019-2025); up to 2024 the 63 provinces, from 2025 the 34
        units.
    keep_latent : also return what a survey never sees, for checking estimators against the
        truth: ``latent_<factor>`` (the five latent qualities), ``overall_eta`` (the linear
        predictor of overall satisfaction) and ``staff_slope`` (the unit's staff-attitude
        slope); NaN for non-users.

    Returns ``(sample, truth)``. The sample has one row per respondent with the contract's
    columns (``schema.REQUIRED_COLUMNS``), the five factor scores, ``ssu`` (household),
    ``fpc1`` (number of PSUs in the stratum) and ``synthetic`` (True on every row).

    Examples
    --------
    >>> sample, truth = simulate_survey(n=300, seed=1, years=[2024])
    >>> sample.shape, sample["province_code"].nunique(), bool(sample["synthetic"].all())
    ((300, 52), 63, True)
    >>> sample[["respondent_id", "province_code", "overall_satisfaction"]].head(3)
    ... # doctest: +NORMALIZE_WHITESPACE
      respondent_id province_code  overall_satisfaction
    0      S0000001            01                   5.0
    1      S0000002            01                   3.0
    2      S0000003            01                   4.0
    """
    years = _check_years(DEMO_YEARS if years is None else years)
    if n is not None and (isinstance(n, bool) or int(n) != n or n < 1):
        raise ValueError(f"n must be a positive whole number or None, got {n!r}")
    truth = (truth or Truth()).calibrated(years)
    sampling = sampling or SamplingPlan()
    df = _simulate(truth, sampling, as_generator(seed), years, n, keep_latent=keep_latent)
    return df, truth


@functools.lru_cache(maxsize=1)
def _demo():
    return simulate_survey(seed=0, years=DEMO_YEARS)[0]


def demo_survey() -> pd.DataFrame:
    """The default synthetic sample: the 63 provinces 2019-2024 and the 34 units in 2025,
    400-600 respondents a unit-year, seed 0 (a copy; the sample is computed once per process).

    Columns as :func:`simulate_survey`; ``synthetic`` is True on every row.

    Examples
    --------
    >>> demo = demo_survey()
    >>> demo.groupby("unit_set", observed=True)["province_code"].nunique().to_dict()
    {'63': 63, '34': 34}
    >>> sorted(demo["year"].unique().tolist())
    [2019, 2020, 2021, 2022, 2023, 2024, 2025]
    """
    return _demo().copy()


# ------------------------------------------------------------------------------------------------
# Population-averaged quantities (census parameters of the synthetic population)
# ------------------------------------------------------------------------------------------------

POPULATION_SIZE = 1_000_000  # rows of the population simulation
POPULATION_SEED = 987654


def _weighted_ols(x, y, w):
    xw = x * w[:, None]
    return np.linalg.solve(x.T @ xw, xw.T @ y)


def _grouped_logit(x, y, w, iterations=50):
    """Logistic regression by Newton's method on fractional outcomes y in [0, 1]."""
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        mu = expit(x @ beta)
        grad = x.T @ (w * (y - mu))
        hess = (x * (w * mu * (1 - mu))[:, None]).T @ x
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.max(np.abs(step)) < 1e-12:
            break
    return beta


def _grouped_ordinal_logit(x, counts):
    """Proportional-odds logit P(Y <= k) = F(theta_k - x beta) on cell counts [cells, K]."""
    from scipy.optimize import minimize
    k = counts.shape[1]

    def nll(params):
        theta = np.cumsum(np.concatenate([[params[0]], np.exp(params[1:k - 1])]))
        beta = params[k - 1:]
        eta = x @ beta
        cdf = expit(theta[None, :] - eta[:, None])
        cdf = np.column_stack([np.zeros(len(x)), cdf, np.ones(len(x))])
        p = np.clip(np.diff(cdf, axis=1), 1e-300, None)
        return -(counts * np.log(p)).sum()

    start = np.concatenate([[-2.0], np.zeros(k - 2), np.zeros(x.shape[1])])
    fit = minimize(nll, start, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000})
    theta = np.cumsum(np.concatenate([[fit.x[0]], np.exp(fit.x[1:k - 1])]))
    return theta, fit.x[k - 1:]


def _satisfied_cut() -> int:
    """The threshold of the 1-5 ordered logit above which an answer counts as satisfied under
    the index rule in force (2, between 3 and 4, for SIPAS's levels 4-5). The simulator's
    census targets need the satisfied levels to be the top of the scale."""
    rule = index_rule.current()
    lowest = min(rule.satisfied)
    if sorted(rule.satisfied) != list(range(lowest, max(schema.RATING_LEVELS) + 1)):
        raise ValueError(f"the simulator's census targets need satisfied levels at the top of "
                         f"the scale, got {rule.satisfied}")
    return lowest - 2


def _population_batch(truth: Truth, df: pd.DataFrame) -> dict:
    """Census quantities of one batch of the population (service users, weighted)."""
    users = df[df["used_service"].to_numpy(dtype=bool)]
    w = users["weight"].to_numpy()
    facts = users[FACTS].to_numpy()
    eta = users["overall_eta"].to_numpy()
    cuts = np.asarray(truth.overall_thresholds)
    # Rao-Blackwellised outcomes: the outcome's probabilities given the latent predictor
    cdf = expit(cuts[None, :] - eta[:, None])
    probs = np.diff(np.column_stack([np.zeros(len(eta)), cdf, np.ones(len(eta))]), axis=1)
    cut = _satisfied_cut()
    satisfied = 1 - cdf[:, cut]         # P(overall counts as satisfied), e.g. P(overall >= 4)
    expected = probs @ np.arange(1, 6)
    out = {}
    out["p_overall_satisfied"] = np.average(satisfied, weights=w)
    # average controlled effect of each binary fact on P(overall >= 4), other facts held
    effects = _effect_matrix(truth)
    weights_f = np.array([truth.overall_weights[f] for f in FACTOR_NAMES])
    staff = FACTOR_NAMES.index("staff")
    staff_dev = users["staff_slope"].to_numpy() - truth.overall_weights["staff"]
    for j, fact in enumerate(FACTS):
        if fact == "n_visits":
            continue
        delta = (1 - 2 * facts[:, j])          # switch the fact: 0 -> 1 is +1, 1 -> 0 is -1
        d_eta = delta * (effects[j] @ weights_f + staff_dev * effects[j, staff]
                         + truth.overall_direct[fact])
        sat_flip = 1 - expit(cuts[cut] - (eta + d_eta))
        diff = np.where(facts[:, j] == 1, satisfied - sat_flip, sat_flip - satisfied)
        out[f"ame.{fact}.p_overall_satisfied"] = np.average(diff, weights=w)
    # census regressions
    x_facts = np.column_stack([np.ones(len(users)), facts])
    names_f = ["intercept"] + FACTS
    beta = _grouped_logit(x_facts, satisfied, w)
    for name, b in zip(names_f, beta):
        out[f"logit.satisfied.{name}"] = b
    beta = _weighted_ols(x_facts, expected, w)
    for name, b in zip(names_f, beta):
        out[f"ols.overall.{name}"] = b
    # proportional odds on the facts: the facts take few values, so fit on cells
    cell_key = (facts[:, 0] * 2 + facts[:, 1]) * 16 + facts[:, 2] * 2 + facts[:, 3]
    cells, inverse = np.unique(cell_key, return_inverse=True)
    counts = np.column_stack([np.bincount(inverse, w * probs[:, k], len(cells))
                              for k in range(5)])
    x_cells = np.column_stack([np.bincount(inverse, w * facts[:, j], len(cells))
                               for j in range(4)]) / np.bincount(inverse, w, len(cells))[:, None]
    theta, beta = _grouped_ordinal_logit(x_cells, counts / counts.sum() * 1e5)
    for name, b in zip(FACTS, beta):
        out[f"ologit.overall.{name}"] = b
    for i, t in enumerate(theta, start=1):
        out[f"ologit.overall.threshold_{i}"] = t
    # linear driver model on the observed factor scores (complete cases; items MCAR)
    scores = users[schema.SCORE_COLUMNS].to_numpy()
    ok = ~np.isnan(scores).any(axis=1)
    x_scores = np.column_stack([np.ones(ok.sum()), scores[ok], facts[ok]])
    beta = _weighted_ols(x_scores, expected[ok], w[ok])
    for name, b in zip(["intercept"] + schema.SCORE_COLUMNS + FACTS, beta):
        out[f"ols.overall_on_scores.{name}"] = b
    return out


_POPULATION_DESCRIPTIONS = {
    "p_overall_satisfied": "P(overall_satisfaction >= 4) among service users",
    "sipas_index": "national SIPAS index of the year (percent; ratings 4-5, mean of criteria, "
                   "mean of factors) among service users; from the calibration (service-user-"
                   "weighted mean of the units' indices; normal approximation of the small "
                   "demographic shift, error well below 0.1 pp)",
    "ame": "average controlled effect of switching the fact 0 -> 1 on P(overall_satisfaction >= "
           "4), other facts held (they may change in reality: n_visits depends on on_time)",
    "logit.satisfied": "census logistic regression of I(overall_satisfaction >= 4) on on_time, "
                       "applied_online, n_visits, asked_extra_payment",
    "ols.overall": "census linear regression of overall_satisfaction on on_time, "
                   "applied_online, n_visits, asked_extra_payment",
    "ologit.overall": "census proportional-odds logit of overall_satisfaction on on_time, "
                      "applied_online, n_visits, asked_extra_payment (P(Y <= k) = "
                      "F(threshold_k - x beta), as R polr and statsmodels OrderedModel)",
    "ols.overall_on_scores": "census linear regression of overall_satisfaction on the five "
                             "factor scores and the four experience facts (complete cases)",
}


def population_parameters(truth: Truth | None = None, *, years=DEMO_YEARS) -> pd.DataFrame:
    """Population-averaged (census) quantities of the synthetic population of service users.

    A population of ``POPULATION_SIZE`` respondents (seed ``POPULATION_SEED``, the default
    sampling plan, weighted by the design weights so that the pooled years and provinces count
    by their population) is simulated in 10 batches; each quantity is the mean of the batch
    values and ``mc_se`` their standard deviation / sqrt(10). Outcomes enter through their
    probabilities given the latent predictors (Rao-Blackwellisation), which lowers the Monte
    Carlo error without changing the census quantity. Cached per truth and years.

    Returns columns: parameter, value, quantity ("population_averaged"), description, mc_se.
    """
    years = _check_years(years)
    truth = (truth or Truth()).calibrated(years)
    table_hash = int(pd.util.hash_pandas_object(truth.province_effects).sum())
    key = (truth.fingerprint(), table_hash, years)
    if key not in _POPULATION_CACHE:   # Truth holds dicts and a table, so not lru_cache
        _POPULATION_CACHE[key] = _population_parameters(truth, years)
    return _POPULATION_CACHE[key].copy()


_POPULATION_CACHE: dict = {}


def _population_parameters(truth: Truth, years) -> pd.DataFrame:
    rng = np.random.default_rng(POPULATION_SEED)
    batches = 10
    results = []
    for _ in range(batches):
        df = _simulate(truth, SamplingPlan(), rng, years, POPULATION_SIZE // batches,
                       keep_latent=True)
        results.append(_population_batch(truth, df))
    table = pd.DataFrame(results)
    out = pd.DataFrame({"parameter": table.columns, "value": table.mean().to_numpy(),
                        "mc_se": (table.std(ddof=1) / np.sqrt(batches)).to_numpy()})
    # the national index of a year follows from the calibration without Monte Carlo error:
    # the service-user-weighted mean of the units' model indices
    pe = truth.province_effects[truth.province_effects["year"].isin(years)]
    users = pe["population"] * pe["use_rate"]
    national = (pe["population_index"] * users).groupby(pe["year"]).sum() \
        / users.groupby(pe["year"]).sum()
    out = pd.concat([pd.DataFrame({"parameter": [f"sipas_index.{y}" for y in national.index],
                                   "value": national.to_numpy(), "mc_se": 0.0}), out],
                    ignore_index=True)
    out["quantity"] = "population_averaged"
    prefix = out["parameter"].str.rsplit(".", n=1).str[0]
    first = out["parameter"].str.split(".").str[0]
    out["description"] = prefix.map(_POPULATION_DESCRIPTIONS).fillna(
        first.map(_POPULATION_DESCRIPTIONS)).fillna(out["parameter"].map(_POPULATION_DESCRIPTIONS))
    return out[["parameter", "value", "quantity", "description", "mc_se"]]
