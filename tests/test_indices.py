"""Tests of sipas_analysis.indices: SIPAS indices, comparisons and rank confidence sets.

References used (each test says which):
- closed forms of the with-replacement Taylor linearisation (Wolter, *Introduction to Variance
  Estimation*, ch. 6; what R's ``svymean``/``svyratio`` compute);
- ``SurveyDesign.mean`` / ``.by`` (the design module's own R-checked estimators) on a variable
  built by hand, which is independent of the index code;
- R's definitions of ``deff`` in ``survey::svymean`` (R/survey.R, svymean.survey.design2, and
  tests/deff.R): deff = Var / (svyvar / n) for ``deff="replace"``, which the index uses on a
  design without an fpc (so that it does not move with the scale of the weights), and
  Var / (svyvar * (1 - n/N) / n) for ``deff=TRUE``, used when the design declares an fpc;
  svyvar with the n-1 divisor;
- Monte Carlo simulations with a known truth (coverage within Monte Carlo error).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sipas_analysis import design as design_module
from sipas_analysis import indices, intervals, schema
from sipas_analysis.intervals import proportion_interval

SurveyDesign = design_module.SurveyDesign
ONE = {"only": ["c1"]}                     # a one-criterion index: overall == criterion c1
TWO = {"f1": ["c1", "c2"], "f2": ["c3"]}


def survey_frame(n=3000, *, n_provinces=4, strata_per_province=3, psu_per_stratum=6,
                 missing=0.1, seed=0, criteria=schema.RATING_COLUMNS):
    """Respondents in provinces -> strata -> PSUs, correlated 1-5 ratings with missing answers."""
    rng = np.random.default_rng(seed)
    province = rng.integers(0, n_provinces, n)
    stratum = province * 100 + rng.integers(0, strata_per_province, n)
    psu = rng.integers(0, psu_per_stratum, n)
    psu_effect = rng.normal(0, 0.4, (n_provinces * 100 + 100, psu_per_stratum))[stratum, psu]
    person = rng.normal(0, 0.8, n)
    frame = pd.DataFrame({
        "province_code": [f"{p + 1:02d}" for p in province],
        "unit_set": "63",
        "year": rng.choice([2023, 2024], n),
        "stratum": stratum,
        "psu": psu,
        "weight": rng.uniform(100, 900, n),
    })
    for j, column in enumerate(criteria):
        latent = 0.3 + 0.05 * (j % 5) + psu_effect + person + rng.normal(0, 1, n)
        rating = np.clip(np.round(3 + latent), 1, 5)
        rating[rng.random(n) < missing] = np.nan
        frame[column] = rating
    return frame


def stratified_design(frame, **options):
    return SurveyDesign(frame, weights="weight", strata="stratum", psu="psu", **options)


# ---------------------------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------------------------

def test_criterion_on_srs_matches_closed_form():
    """SRS, weights 1, every row its own PSU (with replacement): p = share satisfied and
    Var = p(1-p)/(n-1) (the linearisation n/(n-1) * sum((y-p)/n)^2). deff is exactly 1."""
    rng = np.random.default_rng(3)
    n = 500
    frame = pd.DataFrame({"c1": rng.integers(1, 6, n).astype(float)})
    result = indices.sipas_index(SurveyDesign(frame), factors=ONE, ci_method="normal")
    row = result.set_index("term").loc["c1"]
    p = np.mean(frame["c1"] >= 4)
    assert row["estimate"] == pytest.approx(100 * p, rel=1e-12)
    assert row["std_error"] == pytest.approx(100 * np.sqrt(p * (1 - p) / (n - 1)), rel=1e-10)
    assert row["n"] == n
    assert row["deff"] == pytest.approx(1.0, rel=1e-10)
    assert row["n_eff"] == pytest.approx(n, rel=1e-10)
    z = stats.norm.ppf(0.975)
    assert row["ci_low"] == pytest.approx(row["estimate"] - z * row["std_error"])


def test_criterion_with_missing_answers_is_a_ratio():
    """Missing answers leave the denominator: p = share among the A answers, and on an SRS of
    n rows the linearised variance is n/(n-1) * p(1-p)/A (zeros for the non-answers)."""
    rng = np.random.default_rng(4)
    n = 400
    ratings = rng.integers(1, 6, n).astype(float)
    ratings[rng.random(n) < 0.3] = np.nan
    frame = pd.DataFrame({"c1": ratings})
    row = indices.sipas_index(SurveyDesign(frame), factors=ONE).set_index("term").loc["c1"]
    answered = ~np.isnan(ratings)
    a = answered.sum()
    p = np.mean(ratings[answered] >= 4)
    assert row["estimate"] == pytest.approx(100 * p, rel=1e-12)
    assert row["std_error"] == pytest.approx(100 * np.sqrt(n / (n - 1) * p * (1 - p) / a),
                                             rel=1e-10)
    assert row["n"] == a


def test_criterion_matches_design_domain_mean_and_r_deff():
    """A criterion is svymean of the satisfied indicator on the respondents who answered
    (design.mean with na_rm). Without an fpc, deff follows R's svymean(deff="replace"):
    Var / (s2 / n), s2 = n/(n-1) sum w (y - ybar)^2 / sum w (R's svyvar, Kish's n-1 divisor).
    (This test used to expect R's deff=TRUE, Var / (s2 (1 - n/N) / n), which on a design
    without an fpc changes with the scale of the weights; see test_deff_with_fpc_... below.)"""
    frame = survey_frame(seed=5)
    design = stratified_design(frame)
    column = schema.RATING_COLUMNS[3]
    frame["sat"] = (frame[column] >= 4).astype(float).where(frame[column].notna())
    reference = design.mean("sat", na_rm=True).iloc[0]
    row = indices.sipas_index(design, satisfied=(4, 5)).set_index("term").loc[column]
    assert row["estimate"] == pytest.approx(100 * reference["estimate"], rel=1e-12)
    assert row["std_error"] == pytest.approx(100 * reference["std_error"], rel=1e-10)
    assert row["n"] == reference["n"]
    answered = frame["sat"].notna().to_numpy()
    y, w = frame["sat"].to_numpy()[answered], frame["weight"].to_numpy()[answered]
    n, big_n = len(y), w.sum()
    ybar = w @ y / big_n
    s2 = n / (n - 1) * (w @ (y - ybar) ** 2) / big_n
    deff = reference["std_error"] ** 2 / (s2 / n)
    assert row["deff"] == pytest.approx(deff, rel=1e-10)
    assert row["n_eff"] == pytest.approx(n / deff, rel=1e-10)
    by_design = design.mean("sat", na_rm=True, deff=True).iloc[0]
    assert row["deff"] == pytest.approx(by_design["deff"], rel=1e-10)


def test_deff_with_fpc_is_r_deff_true_without_replacement():
    """With a declared fpc the weights are population-scaled and deff is R's svymean
    deff=TRUE: Var / (s2 (1 - n/N) / n), N = sum of the answering respondents' weights."""
    frame = survey_frame(seed=5)
    frame["popsize"] = 40.0    # PSUs per stratum in the population (6 sampled)
    design = SurveyDesign(frame, weights="weight", strata="stratum", psu="psu", fpc="popsize")
    column = schema.RATING_COLUMNS[3]
    frame["sat"] = (frame[column] >= 4).astype(float).where(frame[column].notna())
    reference = design.mean("sat", na_rm=True).iloc[0]
    row = indices.sipas_index(design).set_index("term").loc[column]
    answered = frame["sat"].notna().to_numpy()
    y, w = frame["sat"].to_numpy()[answered], frame["weight"].to_numpy()[answered]
    n, big_n = len(y), w.sum()
    s2 = n / (n - 1) * (w @ (y - w @ y / big_n) ** 2) / big_n
    assert big_n > n
    assert row["deff"] == pytest.approx(reference["std_error"] ** 2 / (s2 * (1 - n / big_n) / n),
                                        rel=1e-10)


def test_overall_se_includes_covariances_between_criteria():
    """Without missing answers, SIPAS (mean of factors of mean of criteria) is the weighted mean
    of one per-respondent variable, so its SE must equal design.mean of that variable, and
    must differ from the SE that treats the criteria as independent."""
    frame = survey_frame(seed=6, missing=0.0)
    design = stratified_design(frame)
    result = indices.sipas_index(design).set_index("term")
    satisfied = {c: (frame[c] >= 4).astype(float) for c in schema.RATING_COLUMNS}
    per_factor = [sum(satisfied[c] for c in cols) / len(cols) for cols in schema.FACTORS.values()]
    frame["person_index"] = sum(per_factor) / len(per_factor)
    reference = design.mean("person_index").iloc[0]
    overall = result.loc["overall"]
    assert overall["estimate"] == pytest.approx(100 * reference["estimate"], rel=1e-12)
    assert overall["std_error"] == pytest.approx(100 * reference["std_error"], rel=1e-10)
    # deff as R's svymean(~person_index, deff="replace") (no fpc): Var / (svyvar / n)
    x, w = frame["person_index"].to_numpy(), frame["weight"].to_numpy()
    n, big_n = len(x), w.sum()
    s2 = n / (n - 1) * (w @ (x - w @ x / big_n) ** 2) / big_n
    assert overall["deff"] == pytest.approx(reference["std_error"]**2 / (s2 / n), rel=1e-9)
    weights = np.concatenate([np.full(len(cols), 1 / (len(cols) * len(schema.FACTORS)))
                              for cols in schema.FACTORS.values()])
    independent = np.sqrt(np.sum(weights**2 * result.loc[schema.RATING_COLUMNS, "std_error"]**2))
    assert overall["std_error"] > 1.5 * independent       # ratings are positively correlated


def test_factor_index_is_mean_of_its_criteria_and_overall_mean_of_factors():
    frame = survey_frame(seed=7)
    result = indices.sipas_index(stratified_design(frame)).set_index("term")["estimate"]
    for factor, cols in schema.FACTORS.items():
        assert result[factor] == pytest.approx(result[cols].mean(), rel=1e-12)
    assert result["overall"] == pytest.approx(result[list(schema.FACTORS)].mean(), rel=1e-12)


def test_composite_rule_is_the_weighted_mean_of_respondent_scores():
    """rule="composite": per respondent, share of answered criteria satisfied per factor and
    the mean of those shares overall; the index and its SE are design.mean of that score over
    the respondents who have one (na_rm=True)."""
    frame = survey_frame(seed=8, missing=0.3, criteria=["c1", "c2", "c3"])
    design = stratified_design(frame)
    result = indices.sipas_index(design, factors=TWO, rule="composite").set_index("term")
    sat = {c: (frame[c] >= 4).astype(float).where(frame[c].notna()) for c in ["c1", "c2", "c3"]}
    frame["f1_score"] = pd.concat([sat["c1"], sat["c2"]], axis=1).mean(axis=1)
    frame["f2_score"] = sat["c3"]
    frame["overall_score"] = frame[["f1_score", "f2_score"]].mean(axis=1)
    for term, column in [("f1", "f1_score"), ("f2", "f2_score"), ("overall", "overall_score")]:
        reference = design.mean(column, na_rm=True).iloc[0]
        assert result.loc[term, "estimate"] == pytest.approx(100 * reference["estimate"], rel=1e-12)
        assert result.loc[term, "std_error"] == pytest.approx(100 * reference["std_error"],
                                                              rel=1e-9)
        assert result.loc[term, "n"] == reference["n"]
    # criteria are the same under both rules
    default = indices.sipas_index(design, factors=TWO).set_index("term")
    assert np.allclose(result.loc[["c1", "c2", "c3"], "estimate"],
                       default.loc[["c1", "c2", "c3"], "estimate"])


def test_unanswered_criterion_leaves_the_factor_mean():
    frame = survey_frame(seed=9, criteria=["c1", "c2", "c3"])
    frame.loc[frame["province_code"] == "01", "c2"] = np.nan
    result = indices.sipas_index(stratified_design(frame), by="province_code", factors=TWO)
    first = result[result["province_code"] == "01"].set_index("term")
    assert np.isnan(first.loc["c2", "estimate"]) and np.isnan(first.loc["c2", "std_error"])
    assert first.loc["f1", "estimate"] == pytest.approx(first.loc["c1", "estimate"])
    assert first.loc["f1", "std_error"] == pytest.approx(first.loc["c1", "std_error"])


def test_satisfied_levels_are_a_setting():
    frame = survey_frame(seed=10, criteria=["c1"])
    design = stratified_design(frame)
    top = indices.sipas_index(design, factors=ONE, satisfied=(5,)).set_index("term")
    answered = frame["c1"].notna()
    w = frame["weight"][answered]
    expected = 100 * (w * (frame["c1"][answered] == 5)).sum() / w.sum()
    assert top.loc["c1", "estimate"] == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Groups, domains and the table contract
# ---------------------------------------------------------------------------------------------

def test_by_province_matches_design_by_and_national_is_not_a_mean_of_provinces():
    frame = survey_frame(seed=11)
    design = stratified_design(frame)
    column = schema.RATING_COLUMNS[0]
    frame["sat"] = (frame[column] >= 4).astype(float).where(frame[column].notna())
    reference = design.by("sat", "province_code", na_rm=True)
    result = indices.sipas_index(design, by="province_code")
    rows = result[result["term"] == column].reset_index(drop=True)
    assert list(rows["province_code"]) == list(reference["province_code"])
    assert np.allclose(rows["estimate"], 100 * reference["estimate"], rtol=1e-12)
    assert np.allclose(rows["std_error"], 100 * reference["std_error"], rtol=1e-10)
    national = indices.sipas_index(design).set_index("term").loc["overall", "estimate"]
    provinces = result.loc[result["term"] == "overall", "estimate"]
    assert national != pytest.approx(provinces.mean(), abs=1e-6)


def test_table_columns_and_order():
    frame = survey_frame(seed=12)
    result = indices.sipas_index(stratified_design(frame), by=["year", "province_code"])
    assert list(result.columns) == ["year", "province_code", "term", "kind", "factor", "estimate",
                                    "std_error", "ci_low", "ci_high", "n", "df", "n_eff", "deff",
                                    "small_sample"]
    m = len(schema.RATING_COLUMNS) + len(schema.FACTORS) + 1
    assert len(result) == 2 * 4 * m
    assert list(result["term"][:m]) == schema.RATING_COLUMNS + list(schema.FACTORS) + ["overall"]
    assert set(result["kind"]) == {"criterion", "factor", "overall"}


# ---------------------------------------------------------------------------------------------
# Proportion intervals (ci_method) and the weight-scale invariance of every column
# ---------------------------------------------------------------------------------------------

def test_the_default_interval_is_korn_graubard_and_normal_is_on_request():
    frame = survey_frame(n=1200, seed=30)
    design = stratified_design(frame)
    pd.testing.assert_frame_equal(indices.sipas_index(design, by="province_code"),
                                  indices.sipas_index(design, by="province_code",
                                                      ci_method="beta"))
    default = indices.sipas_index(design, by="province_code", ci_method="normal")
    explicit = indices.sipas_index(design, by="province_code", ci_method=None)
    pd.testing.assert_frame_equal(default, explicit)
    assert "df" not in default.columns
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(default["ci_high"], default["estimate"] + z * default["std_error"])


def test_ci_method_on_a_criterion_is_proportion_interval_of_its_domain_ratio():
    """A criterion's interval is proportion_interval on design.by of the satisfied indicator
    (among those who answered) with its n, n_eff = n / deff and the province's design df."""
    frame = survey_frame(seed=31)
    design = stratified_design(frame)
    column = schema.RATING_COLUMNS[2]
    frame["sat"] = (frame[column] >= 4).astype(float).where(frame[column].notna())
    reference = design.by("sat", "province_code", na_rm=True, deff=True)
    table = indices.sipas_index(design, by="province_code", ci_method="beta")
    rows = table[table["term"] == column].reset_index(drop=True)
    for g, province in enumerate(reference["province_code"]):
        group_df = design.subset((frame["province_code"] == province).to_numpy()).df
        assert rows.loc[g, "df"] == group_df
        ref = reference.iloc[g]
        low, high = proportion_interval(ref["estimate"], ref["std_error"], n=ref["n"],
                                        n_eff=ref["n_eff"], df=group_df, method="beta")
        assert rows.loc[g, "n_eff"] == pytest.approx(ref["n_eff"], rel=1e-9)
        assert rows.loc[g, "ci_low"] == pytest.approx(100 * low, rel=1e-9)
        assert rows.loc[g, "ci_high"] == pytest.approx(100 * high, rel=1e-9)


def test_ci_method_on_factor_and_overall_uses_the_linearised_estimate():
    frame = survey_frame(seed=32, missing=0.0)
    design = stratified_design(frame)
    for method in intervals.METHODS:
        table = indices.sipas_index(design, by="province_code", ci_method=method)
        assert list(table.columns[table.columns.get_loc("n"):][:2]) == ["n", "df"]
        for kind in ("factor", "overall"):
            rows = table[table["kind"] == kind]
            # a mean of ratios: the binomial-equivalent effective size p (1 - p) / SE²
            # (proportion_interval's default, as R's svyciprop)
            low, high = proportion_interval(rows["estimate"] / 100, rows["std_error"] / 100,
                                            n=rows["n"], df=rows["df"], method=method)
            np.testing.assert_allclose(rows["ci_low"], 100 * low, rtol=1e-9)
            np.testing.assert_allclose(rows["ci_high"], 100 * high, rtol=1e-9)
        if method in ("beta", "wilson"):
            assert ((table["ci_low"] >= 0) & (table["ci_high"] <= 100)).all()


def test_ci_method_gives_an_interval_where_everyone_is_satisfied():
    """A unit where every answer is satisfied: estimate 100, SE 0, deff undefined. The normal
    interval is the point [100, 100]; Korn-Graubard (NCHS rule) an interval below 100."""
    frame = survey_frame(n=800, seed=33, criteria=["c1", "c2", "c3"])
    frame.loc[frame["province_code"] == "01", ["c1", "c2", "c3"]] = 5.0
    design = stratified_design(frame)
    normal = indices.sipas_index(design, by="province_code", factors=TWO, ci_method="normal")
    beta = indices.sipas_index(design, by="province_code", factors=TWO, ci_method="beta")
    unit = beta[beta["province_code"] == "01"]
    assert (unit["estimate"] == 100).all() and np.isnan(unit["deff"]).all()
    assert (normal.loc[normal["province_code"] == "01", "ci_low"] == 100).all()
    assert (unit["ci_low"] < 99).all() and (unit["ci_high"] == 100).all()


def test_ci_method_is_checked():
    frame = survey_frame(n=300, seed=34, criteria=["c1", "c2", "c3"])
    with pytest.raises(ValueError, match=r"ci_method must be .normal. \(or None\) or one of"):
        indices.sipas_index(stratified_design(frame), factors=TWO, ci_method="wald")


@pytest.mark.parametrize("scale", [1.001, 1000.0])
@pytest.mark.parametrize("ci_method", [None, "beta"])
def test_every_index_column_is_invariant_to_the_scale_of_the_weights(scale, ci_method):
    """Multiplying every weight by 1.001 or by 1000 changes nothing in the table (without an
    fpc). Weights summing to the sample size are the case where R's deff=TRUE, with its
    1 - n/sum(w), goes from about 2 to about 2000 at 1.001."""
    frame = survey_frame(n=1500, seed=35).assign(weight=1.0)
    base = indices.sipas_index(stratified_design(frame), by="province_code",
                               ci_method=ci_method)
    scaled = frame.assign(weight=frame["weight"] * scale)
    other = indices.sipas_index(stratified_design(scaled), by="province_code",
                                ci_method=ci_method)
    assert list(other.columns) == list(base.columns)
    for column in base.columns:
        if pd.api.types.is_float_dtype(base[column]):
            np.testing.assert_allclose(other[column], base[column], rtol=1e-9, err_msg=column)
        else:
            assert other[column].equals(base[column]), column
    assert base["deff"].median() > 1.2


def test_indices_docstring_examples_run():
    import doctest
    assert doctest.testmod(indices, raise_on_error=False).failed == 0


def test_subset_design_equals_the_same_group_of_a_finer_by():
    frame = survey_frame(seed=13)
    design = stratified_design(frame)
    sub = indices.sipas_index(design.subset(frame["year"] == 2024), by="province_code")
    fine = indices.sipas_index(design, by=["year", "province_code"])
    fine = fine[fine["year"] == 2024].drop(columns="year").reset_index(drop=True)
    pd.testing.assert_frame_equal(sub, fine, check_exact=False, rtol=1e-10)


def test_small_sample_flag_uses_effective_size():
    frame = survey_frame(n=600, seed=14)
    result = indices.sipas_index(stratified_design(frame), by="province_code", min_n_eff=120)
    assert (result["small_sample"] == (result["n_eff"] < 120)).all()
    assert np.allclose(result["n_eff"], result["n"] / result["deff"])


def test_strata_shortcut_equals_full_design_on_multistage_fpc_and_lonely_psu():
    """The per-group rebuilt designs must give the same numbers as the full design."""
    frame = survey_frame(n=2500, seed=15, criteria=["c1", "c2", "c3"])
    frame["ssu"] = np.random.default_rng(1).integers(0, 3, len(frame))
    frame["fpc1"] = 40
    frame["fpc2"] = 10
    # one stratum with a single PSU, to exercise the lonely-PSU rule
    lonely = frame["stratum"] == frame["stratum"].min()
    frame.loc[lonely, "psu"] = 0
    designs = [
        SurveyDesign(frame, weights="weight", strata="stratum", psu=["psu", "ssu"],
                     fpc=["fpc1", "fpc2"], lonely_psu="adjust"),
        SurveyDesign(frame, weights="weight", strata="stratum", psu="psu", lonely_psu="average"),
    ]
    for design in designs:
        core = indices._build_core(design, "province_code", (4, 5), "mean_of_criteria", TWO, .95)
        u = core.influence()
        assert indices._strata_blocks(design, core) is not None
        fast = indices._group_ratio_vcov(design, core, u)
        full = np.empty_like(fast)
        for g in range(core.n_groups):
            block = core.block(g)
            z = np.zeros((core.n_rows, u.shape[1]))
            z[core.rows[block]] = core.weights[block, None] * u[block]
            mask = np.zeros(core.n_rows, dtype=bool)
            mask[core.rows[block]] = True
            full[g] = design.subset(mask).vcov_totals(z)
        assert np.allclose(fast, full, rtol=1e-10, atol=0)


def test_groups_that_share_strata_use_the_full_design():
    frame = survey_frame(seed=16, criteria=["c1", "c2", "c3"])
    frame["sex"] = np.random.default_rng(2).choice(["female", "male"], len(frame))
    design = stratified_design(frame)
    core = indices._build_core(design, "sex", (4, 5), "mean_of_criteria", TWO, .95)
    assert indices._strata_blocks(design, core) is None
    frame["sat"] = (frame["c1"] >= 4).astype(float).where(frame["c1"].notna())
    reference = design.by("sat", "sex", na_rm=True)
    result = indices.sipas_index(design, by="sex", factors=TWO)
    rows = result[result["term"] == "c1"]
    assert np.allclose(rows["std_error"], 100 * reference["std_error"], rtol=1e-10)


def test_errors_name_the_problem():
    frame = survey_frame(seed=17, criteria=["c1", "c2", "c3"])
    design = stratified_design(frame)
    with pytest.raises(ValueError, match="rule must be one of"):
        indices.sipas_index(design, factors=TWO, rule="median")
    with pytest.raises(ValueError, match=r"rating columns missing.*'c9'"):
        indices.sipas_index(design, factors={"f": ["c1", "c9"]})
    with pytest.raises(ValueError, match="satisfied"):
        indices.sipas_index(design, factors=TWO, satisfied=(6,))
    odd = frame.copy()
    odd.loc[odd.index[:2], "c3"] = 7.0
    with pytest.raises(ValueError, match=r"ratings outside.*'c3' \(2 rows\)"):
        indices.sipas_index(stratified_design(odd), factors=TWO)
    holes = frame.copy()
    holes.loc[holes.index[:3], "province_code"] = None
    with pytest.raises(ValueError, match=r"missing values in the domain: 'province_code' \(3"):
        indices.sipas_index(stratified_design(holes), factors=TWO, by="province_code")
    mixed = frame.copy()
    mixed.loc[mixed.index[:10], "unit_set"] = "34"
    with pytest.raises(ValueError, match="unit_set"):
        indices.sipas_index(stratified_design(mixed), factors=TWO, by="province_code")


# ---------------------------------------------------------------------------------------------
# Properties (hypothesis)
# ---------------------------------------------------------------------------------------------

_SMALL = survey_frame(n=400, seed=18, criteria=["c1", "c2", "c3"])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.01, 1000.0))
def test_index_unchanged_by_row_order_and_weight_scale(seed, scale):
    """Nothing in the table depends on row order or on scaling all weights (the design
    effect neither: without an fpc it compares with sampling with replacement)."""
    base = indices.sipas_index(stratified_design(_SMALL), by="province_code", factors=TWO)
    shuffled = _SMALL.sample(frac=1.0, random_state=np.random.RandomState(seed % 2**32))
    shuffled = shuffled.assign(weight=shuffled["weight"] * scale)
    other = indices.sipas_index(stratified_design(shuffled), by="province_code", factors=TWO)
    assert (base["small_sample"] == other["small_sample"]).all()
    for column in ["estimate", "std_error", "ci_low", "ci_high", "n", "deff", "n_eff"]:
        assert np.allclose(base[column], other[column], rtol=1e-9, atol=1e-12), column


# ---------------------------------------------------------------------------------------------
# Simulation: CI coverage of the overall index on a clustered design
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_overall_ci_coverage_on_clustered_design():
    """Two strata x 40 clusters x 12 respondents; a cluster effect and a respondent effect make
    the criteria correlated within cluster and person. Satisfied = latent >= 0.5, so criterion
    c has true rate Phi((mu_c - 0.5) / sd); SIPAS truth = mean of factor means of those rates.
    Answers are missing completely at random. 300 replications; the 95% CI must cover within
    3 Monte Carlo SEs of 0.95."""
    rng = np.random.default_rng(20)
    factors = {"f1": ["c1", "c2"], "f2": ["c3", "c4", "c5"]}
    mu = np.array([0.2, 0.6, 0.9, 0.4, 1.2])
    sd_cluster, sd_person, sd_item = 0.5, 0.7, 1.0
    total_sd = np.sqrt(sd_cluster**2 + sd_person**2 + sd_item**2)
    rates = stats.norm.cdf((mu - 0.5) / total_sd)
    truth = 100 * np.mean([rates[:2].mean(), rates[2:].mean()])
    n_strata, n_clusters, size = 2, 40, 12
    n = n_strata * n_clusters * size
    stratum = np.repeat(np.arange(n_strata), n_clusters * size)
    cluster = np.tile(np.repeat(np.arange(n_clusters), size), n_strata)
    reps, covered = 300, 0
    for _ in range(reps):
        effect = rng.normal(0, sd_cluster, (n_strata, n_clusters))[stratum, cluster]
        person = rng.normal(0, sd_person, n)
        frame = pd.DataFrame({"stratum": stratum, "psu": cluster,
                              "weight": np.where(stratum == 0, 50.0, 80.0)})
        for j, column in enumerate(["c1", "c2", "c3", "c4", "c5"]):
            latent = mu[j] + effect + person + rng.normal(0, sd_item, n)
            rating = np.where(latent >= 0.5, 4.0, 2.0)
            rating[rng.random(n) < 0.15] = np.nan
            frame[column] = rating
        row = indices.sipas_index(stratified_design(frame), factors=factors).iloc[-1]
        covered += row["ci_low"] <= truth <= row["ci_high"]
    coverage = covered / reps
    mc_error = np.sqrt(0.95 * 0.05 / reps)
    assert abs(coverage - 0.95) < 3 * mc_error, coverage


# ---------------------------------------------------------------------------------------------
# Comparisons
# ---------------------------------------------------------------------------------------------

def _province_frame(rng, n_h, p_h, weights_h):
    """Provinces = strata, SRS with replacement (each respondent its own PSU), one criterion."""
    parts = []
    for h, (n, p, w) in enumerate(zip(n_h, p_h, weights_h)):
        parts.append(pd.DataFrame({"province_code": f"{h + 1:02d}", "stratum": h,
                                   "weight": float(w),
                                   "c1": np.where(rng.random(n) < p, 5.0, 2.0)}))
    frame = pd.concat(parts, ignore_index=True)
    frame["psu"] = np.arange(len(frame))
    frame["year"] = 2024
    return frame


def test_province_minus_nation_closed_form_and_not_independent_sum():
    """Stratified SRS with replacement, provinces = strata, no missing answers, so the nation is
    sum_h W_h p_h with W_h = N_h / N fixed. Var(p_1 - P) = (1 - W_1)^2 V_1 + sum_{h>1} W_h^2 V_h
    with V_h = p_h (1 - p_h) / (n_h - 1) (the linearised with-replacement estimate)."""
    rng = np.random.default_rng(21)
    n_h, p_h, w_h = [300, 500, 400], [0.7, 0.6, 0.8], [1000, 3000, 1500]
    frame = _province_frame(rng, n_h, p_h, w_h)
    design = stratified_design(frame)
    result = indices.compare_indices(design, between="province_code", reference="all",
                                     factors=ONE, term="c1").set_index("group")
    big_n = np.array(n_h) * np.array(w_h)
    share = big_n / big_n.sum()
    p_hat = np.array([np.mean(frame.loc[frame.stratum == h, "c1"] == 5) for h in range(3)])
    v_h = p_hat * (1 - p_hat) / (np.array(n_h) - 1)
    expected = (1 - share[0])**2 * v_h[0] + np.sum(share[1:]**2 * v_h[1:])
    row = result.loc["01"]
    assert row["estimate"] == pytest.approx(100 * (p_hat[0] - share @ p_hat), rel=1e-10)
    assert row["std_error"] == pytest.approx(100 * np.sqrt(expected), rel=1e-10)
    assert row["contrast"] == "01 - all"
    index = indices.sipas_index(design, factors=ONE).iloc[0]
    province = indices.sipas_index(design, factors=ONE, by="province_code").iloc[0]
    naive = np.hypot(index["std_error"], province["std_error"])
    assert abs(row["std_error"] - naive) > 0.05 * naive
    assert row["statistic"] == pytest.approx(row["estimate"] / row["std_error"])
    # Satterthwaite over the strata: V_1 = (1 - W_1)^2 v_1, V_h = W_h^2 v_h, each on n_h - 1 df
    parts = np.r_[(1 - share[0])**2 * v_h[0], share[1:]**2 * v_h[1:]]
    satterthwaite = parts.sum()**2 / np.sum(parts**2 / (np.array(n_h) - 1))
    assert row["df"] == pytest.approx(satterthwaite, rel=1e-9)
    assert row["df"] < sum(n_h) - 3            # the province's strata weigh most
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(abs(row["statistic"]), row["df"]))
    normal = indices.compare_indices(design, between="province_code", reference="all",
                                     factors=ONE, term="c1", df=False).set_index("group")
    assert normal.loc["01", "p_value"] == pytest.approx(2 * stats.norm.sf(abs(row["statistic"])))


def test_contrast_df_counts_the_psus_and_strata_the_contrast_uses():
    """A province with 18 PSUs in 3 strata (9 per year): its change between the years has the
    Satterthwaite df of its variance over the 3 strata, computed here from the PSU totals of
    the contrast's influence (at most 18 - 3 = 15), and t intervals and p-values with them."""
    rng = np.random.default_rng(31)
    rows = []
    for year in (2023, 2024):
        for stratum in range(3):
            for psu in range(3):            # 3 PSUs per stratum and year: 18 PSUs in 3 strata
                for _ in range(10):
                    rows.append({"province_code": "01", "year": year,
                                 "stratum": stratum, "psu": f"{year}-{stratum}-{psu}",
                                 "weight": 1.0, "c1": 5.0 if rng.random() < 0.9 else 2.0})
    frame = pd.DataFrame(rows)
    design = stratified_design(frame)
    result = indices.compare_indices(design, between="year", values=(2023, 2024), factors=ONE,
                                     term="c1").iloc[0]
    # influence of p_2024 - p_2023: (y - p_year) / n_year, signed by year
    y = (frame["c1"] == 5).astype(float)
    p_year = y.groupby(frame["year"]).transform("mean")
    n_year = frame.groupby("year")["c1"].transform("size")
    sign = np.where(frame["year"] == 2024, 1.0, -1.0)
    frame["z"] = sign * (y - p_year) / n_year
    totals = frame.groupby(["stratum", "psu"])["z"].sum().reset_index()
    parts, dfs = [], []
    for _, psus in totals.groupby("stratum"):
        m = len(psus)
        parts.append(m / (m - 1) * np.sum((psus["z"] - psus["z"].mean())**2))
        dfs.append(m - 1)
    parts, dfs = np.array(parts), np.array(dfs)
    assert result["std_error"] == pytest.approx(100 * np.sqrt(parts.sum()), rel=1e-9)
    expected_df = parts.sum()**2 / np.sum(parts**2 / dfs)
    assert result["df"] == pytest.approx(expected_df, rel=1e-9) and expected_df <= 15
    half = stats.t.ppf(0.975, expected_df) * result["std_error"]
    assert result["ci_high"] - result["estimate"] == pytest.approx(half, rel=1e-9)
    assert result["p_value"] == pytest.approx(
        2 * stats.t.sf(abs(result["estimate"] / result["std_error"]), expected_df), rel=1e-9)


@pytest.mark.slow
def test_province_minus_nation_monte_carlo():
    """Monte Carlo with the true sampling variance known in closed form (design above with the
    true p_h): the estimated variance is right on average, the empirical variance of the
    estimated difference matches the truth, and the 95% CI covers within MC error."""
    rng = np.random.default_rng(22)
    n_h, p_h, w_h = [200, 300, 250], [0.7, 0.6, 0.8], [1000, 3000, 1500]
    big_n = np.array(n_h) * np.array(w_h)
    share = big_n / big_n.sum()
    p = np.array(p_h)
    v = p * (1 - p) / np.array(n_h)
    true_var = 1e4 * ((1 - share[0])**2 * v[0] + np.sum(share[1:]**2 * v[1:]))
    true_diff = 100 * (p[0] - share @ p)
    reps = 600
    diffs, variances, covered = np.empty(reps), np.empty(reps), 0
    for r in range(reps):
        design = stratified_design(_province_frame(rng, n_h, p_h, w_h))
        row = indices.compare_indices(design, between="province_code", values=["01"],
                                      reference="all", factors=ONE, term="c1").iloc[0]
        diffs[r], variances[r] = row["estimate"], row["std_error"]**2
        covered += row["ci_low"] <= true_diff <= row["ci_high"]
    # the variance of a sample variance of normal-ish data: relative SE ~ sqrt(2/reps) = 0.058
    assert np.var(diffs, ddof=1) == pytest.approx(true_var, rel=3 * np.sqrt(2 / reps))
    assert variances.mean() == pytest.approx(true_var, rel=0.03)
    naive = 1e4 * (v[0] + np.sum(share**2 * v))
    assert abs(naive - true_var) > 0.2 * true_var          # ignoring the covariance is wrong
    assert abs(covered / reps - 0.95) < 3 * np.sqrt(0.95 * 0.05 / reps)


def test_year_difference_of_independent_samples():
    """Strata nested within years (independent samples): Var(2024 - 2023) = Var + Var, and the
    estimate is the difference of the two yearly indices."""
    frame = survey_frame(seed=23)
    frame["stratum"] = frame["stratum"] * 10000 + frame["year"]
    design = stratified_design(frame)
    by_year = indices.sipas_index(design, by="year").query("term == 'overall'").set_index("year")
    result = indices.compare_indices(design, between="year", values=(2023, 2024)).iloc[0]
    assert result["contrast"] == "2024 - 2023"
    assert result["estimate"] == pytest.approx(by_year.loc[2024, "estimate"]
                                               - by_year.loc[2023, "estimate"], rel=1e-12)
    assert result["std_error"] == pytest.approx(np.hypot(by_year.loc[2024, "std_error"],
                                                         by_year.loc[2023, "std_error"]),
                                                rel=1e-10)


def test_year_difference_within_province_and_columns():
    frame = survey_frame(seed=24)
    design = stratified_design(frame)
    result = indices.compare_indices(design, between="year", values=(2023, 2024),
                                     within="province_code", term=["overall", "staff"])
    assert list(result.columns) == ["province_code", "term", "contrast", "group", "versus",
                                    "estimate_group", "estimate_versus", "estimate", "std_error",
                                    "ci_low", "ci_high", "df", "statistic", "p_value"]
    assert len(result) == 4 * 2
    fine = indices.sipas_index(design, by=["province_code", "year"])
    one = fine[(fine.province_code == "02") & (fine.term == "staff")].set_index("year")
    row = result[(result.province_code == "02") & (result.term == "staff")].iloc[0]
    assert row["estimate"] == pytest.approx(one.loc[2024, "estimate"] - one.loc[2023, "estimate"])


def test_compare_errors():
    design = stratified_design(survey_frame(seed=25, criteria=["c1", "c2", "c3"]))
    with pytest.raises(ValueError, match="values=\\(a, b\\)"):
        indices.compare_indices(design, factors=TWO)
    with pytest.raises(ValueError, match="no rows with value"):
        indices.compare_indices(design, factors=TWO, values=(2023, 2030))
    with pytest.raises(ValueError, match="unknown term"):
        indices.compare_indices(design, factors=TWO, values=(2023, 2024), term="staff")


def test_index_vcov_diagonal_matches_index_and_provinces_are_independent():
    frame = survey_frame(seed=26)
    design = stratified_design(frame)
    table, vcov = indices.sipas_index_vcov(design, by="province_code")
    index = indices.sipas_index(design, by="province_code").query("term == 'overall'")
    assert np.allclose(np.sqrt(np.diag(vcov)), index["std_error"], rtol=1e-10)
    assert np.allclose(table["estimate"], index["estimate"], rtol=1e-12)
    off = vcov - np.diag(np.diag(vcov))
    assert np.abs(off).max() < 1e-12 * np.abs(vcov).max()  # strata nest within provinces


def test_index_vcov_in_small_memory_blocks_equals_one_block(monkeypatch):
    frame = survey_frame(seed=27)
    frame["stratum"] = frame["stratum"] % 3            # strata shared by provinces: covariances
    design = stratified_design(frame)
    _, whole = indices.sipas_index_vcov(design, by="province_code", term=["overall", "staff"])
    assert np.abs(whole - np.diag(np.diag(whole))).max() > 1e-6 * np.abs(whole).max()
    monkeypatch.setattr(indices, "_BLOCK_BYTES", 8 * len(frame) * 2 * 3)   # 3 columns a block
    _, blocked = indices.sipas_index_vcov(design, by="province_code", term=["overall", "staff"])
    assert np.allclose(blocked, whole, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------------------------
# Rank confidence sets
# ---------------------------------------------------------------------------------------------

def _units(estimate, se):
    return pd.DataFrame({"province_code": [f"{i + 1:02d}" for i in range(len(estimate))],
                         "estimate": estimate, "std_error": se})


def test_rank_sets_closed_form_cases():
    far = indices.rank_units(_units([90.0, 10.0], [1.0, 1.0]), n_draws=2000)
    assert list(far["rank_low"]) == [1, 2] and list(far["rank_high"]) == [1, 2]
    same = indices.rank_units(_units([50.0] * 5, [1.0] * 5), n_draws=2000)
    assert (same["rank_low"] == 1).all() and (same["rank_high"] == 5).all()
    assert (same["rank"] == 1).all()
    lower = indices.rank_units(_units([90.0, 10.0], [1.0, 1.0]), n_draws=2000,
                               higher_is_better=False)
    assert list(lower["rank"]) == [2, 1]
    assert list(lower.columns) == ["province_code", "estimate", "std_error", "rank", "rank_low",
                                   "rank_high", "level", "method"]


def test_rank_sets_two_units_use_the_normal_critical_value():
    """With p = 2 the max-|t| statistic is |N(0,1)|: the difference is significant iff
    |gap| / sd(gap) > 1.96 (2.2 sd apart: separated; 1.7 sd: not)."""
    sd_gap = np.sqrt(2.0)
    apart = indices.rank_units(_units([2.2 * sd_gap, 0.0], [1.0, 1.0]), n_draws=20000)
    assert list(apart["rank_high"]) == [1, 2]
    close = indices.rank_units(_units([1.7 * sd_gap, 0.0], [1.0, 1.0]), n_draws=20000)
    assert list(close["rank_low"]) == [1, 1] and list(close["rank_high"]) == [2, 2]


def test_rank_sets_use_the_covariance():
    """Strongly correlated estimates: the difference is precise though each SE is large."""
    table = _units([51.0, 50.0], [10.0, 10.0])
    vcov = np.array([[100.0, 99.99], [99.99, 100.0]])
    independent = indices.rank_units(table, n_draws=4000)
    assert list(independent["rank_high"]) == [2, 2]
    correlated = indices.rank_units(table, vcov=vcov, n_draws=4000)
    assert list(correlated["rank_low"]) == [1, 2] and list(correlated["rank_high"]) == [1, 2]


def test_rank_sets_same_seed_same_output():
    table = _units(np.linspace(40, 60, 12), np.full(12, 3.0))
    first = indices.rank_units(table, seed=5, simultaneous=True)
    again = indices.rank_units(table, seed=5, simultaneous=True)
    pd.testing.assert_frame_equal(first, again)


@pytest.mark.slow
def test_rank_sets_coverage_simulation():
    """20 units with known theta, estimates N(theta, se^2): over 500 replications the marginal
    sets cover each unit's true rank with probability >= 0.95 - 3 MC SEs, and the simultaneous
    sets cover all true ranks jointly with probability >= 0.95 - 3 MC SEs (Mogstad et al. prove
    coverage at least 1 - alpha). The thetas are close together (1 SE apart end to end), the
    hard case: there, sets from pointwise 1.96 intervals cover the extreme units' ranks only
    about 84-90% of the time, so this test tells the max-|t| construction from a naive one."""
    rng = np.random.default_rng(30)
    p, reps = 20, 500
    theta = np.linspace(0, 1, p)
    se = np.linspace(1.0, 2.0, p)
    true_rank = p - np.arange(p)                     # largest theta has rank 1
    marginal_hits = np.zeros(p)
    joint_hits = 0
    for r in range(reps):
        table = _units(theta + rng.normal(0, se), se)
        marginal = indices.rank_units(table, n_draws=1000, seed=r)
        simultaneous = indices.rank_units(table, n_draws=1000, seed=r, simultaneous=True)
        marginal_hits += (marginal["rank_low"] <= true_rank) & (true_rank <= marginal["rank_high"])
        joint_hits += bool(((simultaneous["rank_low"] <= true_rank)
                            & (true_rank <= simultaneous["rank_high"])).all())
    floor = 0.95 - 3 * np.sqrt(0.95 * 0.05 / reps)
    assert (marginal_hits / reps >= floor).all(), marginal_hits / reps
    assert joint_hits / reps >= floor


def test_rank_units_with_design_and_checks():
    frame = survey_frame(seed=31)
    design = stratified_design(frame)
    overall = indices.sipas_index(design, by="province_code").query("term == 'overall'")
    from_design = indices.rank_units(overall, design=design, seed=1)
    diagonal = indices.rank_units(overall, seed=1)
    pd.testing.assert_frame_equal(from_design, diagonal)     # provinces are independent strata
    index = indices.sipas_index(design, by="province_code")
    with pytest.raises(ValueError, match="term == 'overall'"):
        indices.rank_units(index)
    with pytest.raises(ValueError, match="vcov has shape"):
        indices.rank_units(overall, vcov=np.eye(2))


def test_stepdown_sets_are_never_wider_than_single_step_and_can_be_narrower():
    """Step-down only adds rejections (csranks' own test: the step-down set is inside the
    single-step set), for marginal and simultaneous sets, with the same draws."""
    rng = np.random.default_rng(40)
    narrower = 0
    for case in range(6):
        p = 8
        table = _units(np.sort(rng.normal(0, 4, p)), rng.uniform(0.5, 1.5, p))
        for simultaneous in (False, True):
            step = indices.rank_units(table, simultaneous=simultaneous, n_draws=2000, seed=case)
            single = indices.rank_units(table, simultaneous=simultaneous, n_draws=2000,
                                        seed=case, stepdown=False)
            assert (step["rank_low"] >= single["rank_low"]).all()
            assert (step["rank_high"] <= single["rank_high"]).all()
            narrower += int(((step["rank_high"] - step["rank_low"])
                             < (single["rank_high"] - single["rank_low"])).sum())
    assert narrower > 0


def test_rank_sets_with_few_df_are_wider():
    """A unit's SE estimated from few PSUs: t draws with its df give sets at least as wide as
    normal draws, and the df column of sipas_index is used by default."""
    table = _units(np.linspace(0, 12, 8), np.ones(8))
    normal = indices.rank_units(table, n_draws=4000, seed=2)
    few = indices.rank_units(table.assign(df=3), n_draws=4000, seed=2)
    assert ((few["rank_high"] - few["rank_low"]) >= (normal["rank_high"] - normal["rank_low"])).all()
    assert ((few["rank_high"] - few["rank_low"]) > (normal["rank_high"] - normal["rank_low"])).any()
    ignored = indices.rank_units(table.assign(df=3), n_draws=4000, seed=2, df=None)
    pd.testing.assert_frame_equal(ignored, normal)
    with pytest.raises(ValueError, match="df column 'psus' is missing"):
        indices.rank_units(table, df="psus")


def test_tau_best_is_the_simultaneous_lower_bound_at_most_tau():
    table = _units([97.0, 96.5, 90.0, 80.0, 79.0], [1.0] * 5)
    best = indices.tau_best(table, tau=2, n_draws=4000, seed=3)
    joint = indices.rank_units(table, simultaneous=True, n_draws=4000, seed=3)
    assert (best["could_be_top"] == (joint["rank_low"] <= 2)).all()
    assert list(best["could_be_top"]) == [True, True, False, False, False]
    worst = indices.tau_best(table, tau=2, n_draws=4000, seed=3, higher_is_better=False)
    assert list(worst["could_be_top"]) == [False, False, False, True, True]
    same = indices.tau_best(_units([50.0] * 4, [1.0] * 4), tau=1, n_draws=2000)
    assert same["could_be_top"].all()
    with pytest.raises(ValueError, match="tau must be an integer from 1 to 5"):
        indices.tau_best(table, tau=0)


def test_rank_group_probabilities_closed_form_for_two_units():
    """Two units, two groups: unit A is in the top group when its draw beats B's, with
    probability Phi(gap / sd(gap)); 20,000 draws give an MC SE below 0.004."""
    table = _units([1.0, 0.0], [1.0, 1.0])
    probs = indices.rank_group_probabilities(table, groups=2, n_draws=20000, seed=4)
    expected = stats.norm.cdf(1.0 / np.sqrt(2.0))
    assert probs.loc[0, "p_group_1"] == pytest.approx(expected, abs=4 * 0.0035)
    assert probs.loc[1, "p_group_2"] == pytest.approx(expected, abs=4 * 0.0035)
    assert list(probs["group"]) == [1, 2]
    quartiles = indices.rank_group_probabilities(_units(np.linspace(0, 5, 12), np.ones(12)),
                                                 n_draws=2000, seed=4)
    groups = quartiles[[f"p_group_{g}" for g in range(1, 5)]]
    np.testing.assert_allclose(groups.sum(axis=1), 1.0)
    assert list(quartiles["group"]) == [4, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1, 1]


@pytest.mark.slow
def test_a_null_province_versus_nation_test_rejects_at_its_level():
    """Ten provinces with the same true share (0.9), each 18 PSUs of 10 in 3 strata, ratings
    clustered in PSUs (beta-binomial, ICC 1/9): province 01 against the nation, 1,000 times
    (MC SE of a 5 % rate: 0.007). With z a 5 % test rejects 9.2 % of the time (the province's
    variance rests on 18 PSUs); with t on the contrast's Satterthwaite df (median 14.3, about
    the province's 15) 7.0 %. The rest of the excess is the skewness of a share near 1 (its
    SE is small exactly when it is high), which no df removes; the assertion holds t within
    4 MC SEs of 5 % and well below z."""
    rng = np.random.default_rng(41)
    reps, rejected_t, rejected_z = 1000, 0, 0
    concentration = 8.0                        # ICC = 1 / (1 + concentration) = 1/9
    province = np.repeat([f"{i + 1:02d}" for i in range(10)], 180)
    stratum = np.repeat(np.arange(30), 60)
    psu = np.repeat(np.arange(180), 10)
    for _ in range(reps):
        rates = rng.beta(0.9 * concentration, 0.1 * concentration, size=180)
        satisfied = rng.random(1800) < rates[psu]
        frame = pd.DataFrame({"province_code": province, "stratum": stratum, "psu": psu,
                              "weight": 1.0, "year": 2024,
                              "c1": np.where(satisfied, 5.0, 2.0)})
        row = indices.compare_indices(stratified_design(frame), between="province_code",
                                      values=["01"], reference="all", factors=ONE,
                                      term="c1").iloc[0]
        rejected_t += row["p_value"] < 0.05
        rejected_z += 2 * stats.norm.sf(abs(row["statistic"])) < 0.05
    mc_se = np.sqrt(0.05 * 0.95 / reps)
    assert abs(rejected_t / reps - 0.05) < 4 * mc_se, rejected_t / reps
    assert rejected_z / reps - rejected_t / reps > 2 * mc_se, (rejected_z, rejected_t)


@pytest.mark.slow
def test_the_default_interval_of_a_factor_index_covers_in_small_clustered_samples():
    """A factor of three criteria (every respondent answers all three; satisfaction shares a
    PSU effect, beta-binomial with ICC 1/9), 15 PSUs of 10 respondents, true share p: the
    Korn-Graubard interval of the mean of ratios covers at least 0.93 and is not grossly
    conservative: 0.973 and 0.971 at p = 0.85 and 0.95 (at most 0.985 allowed); with n / deff
    as its effective size it covered 0.998 and 0.997 with intervals 1.6 times as wide.
    1,000 samples as strata of one design (MC SE 0.007); truth = p."""
    factor = {"f": ["c1", "c2", "c3"]}
    for p in (0.85, 0.95):
        rng = np.random.default_rng(int(100 * p))
        reps = 1000
        rates = rng.beta(p * 8, (1 - p) * 8, size=(reps, 15))
        psu_rate = np.repeat(rates.ravel(), 10)
        frame = pd.DataFrame({"stratum": np.repeat(np.arange(reps), 150),
                              "psu": np.repeat(np.arange(reps * 15), 10), "weight": 1.0})
        for c in factor["f"]:
            frame[c] = np.where(rng.random(len(frame)) < psu_rate, 5.0, 2.0)
        table = indices.sipas_index(stratified_design(frame), by="stratum", factors=factor,
                                    ci_method="beta")
        overall = table[table["term"] == "overall"]
        assert (overall["df"] == 14).all()
        covered = ((overall["ci_low"] <= 100 * p) & (100 * p <= overall["ci_high"])).mean()
        assert 0.93 - 3 * 0.007 <= covered <= 0.985, (p, covered)


@pytest.mark.slow
def test_simultaneous_rank_sets_cover_with_standard_errors_estimated_on_15_df():
    """Ten units in a near tie (true values 0.5 SE apart end to end), each SE estimated from
    15 df (SE² ~ σ² χ²₁₅ / 15): the simultaneous sets with t draws on the units' df cover all
    true ranks jointly in at least 95 % - 3 MC SEs of 300 samples (measured 0.99; 0.98 with
    normal draws in the same setting, where estimated SEs that happen to be small make some
    pairs look separated)."""
    rng = np.random.default_rng(42)
    p, reps = 10, 300
    theta = np.linspace(0, 0.5, p)
    true_rank = p - np.arange(p)
    hits = 0
    for r in range(reps):
        table = _units(theta + rng.normal(0, 1, p), np.sqrt(rng.chisquare(15, p) / 15))
        sets = indices.rank_units(table.assign(df=15), simultaneous=True, n_draws=2000, seed=r)
        hits += bool(((sets["rank_low"] <= true_rank) & (true_rank <= sets["rank_high"])).all())
    assert hits / reps >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / reps), hits / reps


def test_a_group_inside_one_psu_has_no_design_effect():
    """Three respondents of one PSU: the linearised influence of their ratio sums to zero in
    that PSU, so the variance is zero to rounding and there is no design effect or effective
    size (not n / 1e-28); small_sample follows n."""
    frame = survey_frame(n=600, seed=50, criteria=["c1", "c2", "c3"])
    frame["group"] = "many"
    first = frame.iloc[0]
    one_psu = frame.index[(frame["stratum"] == first["stratum"])
                          & (frame["psu"] == first["psu"])][:3]
    frame.loc[one_psu, "group"] = "three"
    table = indices.sipas_index(stratified_design(frame), by="group", factors=TWO,
                                ci_method="normal")
    three = table[(table["group"] == "three") & (table["term"] == "overall")].iloc[0]
    assert np.isnan(three["deff"]) and np.isnan(three["n_eff"]) and three["small_sample"]
