"""Tests of the fixed-effects panel model against published R plm, gretl and Stata output on the
Grunfeld data, an independent statsmodels fit with dummies, and the real PAPI panel."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.regression.tests.results import results_grunfeld_ols_robust_cluster as stata

from sipas_analysis.models.panel import fit_panel
from sipas_analysis.models.results import glance, tidy
from sipas_analysis.rng import as_generator

FORMULA = "invest ~ value + capital"


@pytest.fixture(scope="module")
def grunfeld() -> pd.DataFrame:
    """Grunfeld's investment data, 10 firms x 1935-1954: the first 200 rows of the copy shipped
    with statsmodels, which is R plm's `Grunfeld` (Baltagi 2001) without American Steel
    (statsmodels' own tests use the same 200 rows against Stata)."""
    data = sm.datasets.grunfeld.load_pandas().data.iloc[:200].copy()
    data["year"] = data["year"].astype(int)
    data["firm"] = data["firm"].astype(str)
    return data


def fit(data, **options):
    return fit_panel(FORMULA, data, entity="firm", time="year", **options)


# ---------------------------------------------------------------------------------------------
# Published references
# ---------------------------------------------------------------------------------------------
def test_within_model_matches_plm(grunfeld):
    # R: summary(plm(inv ~ value + capital, data = Grunfeld, model = "within")), printed in many
    # stored tutorials: value 0.110124 (0.011857), capital 0.310065 (0.017355),
    # R-Squared 0.76676, 188 residual df.
    result = fit(grunfeld, effects="entity", cluster=None)
    table = tidy(result).set_index("term")
    assert table.loc["value", "estimate"] == pytest.approx(0.110124, abs=5e-7)
    assert table.loc["capital", "estimate"] == pytest.approx(0.310065, abs=5e-7)
    assert table.loc["value", "std_error"] == pytest.approx(0.011857, abs=5e-7)
    assert table.loc["capital", "std_error"] == pytest.approx(0.017355, abs=5e-7)
    assert result.df == 188
    assert glance(result)["r_squared_within"].iloc[0] == pytest.approx(0.76676, abs=5e-6)


def test_clustered_within_model_matches_gretl(grunfeld):
    # gretl "Model 1: Fixed-effects ... Robust (HAC) standard errors" on plm's Grunfeld, quoted
    # in R plm's tests/test_pwaldtest.R (ycroissant/plm@3105b58), which notes that gretl uses
    # Stata's small-sample factor with the intercept counted:
    #   value 0.110124 (0.0151945) t 7.248 p 4.83e-05; capital 0.310065 (0.0527518) p 0.0002;
    #   Within R-squared 0.766758; t on 9 df (F(2, 9)).
    result = fit(grunfeld, effects="entity")
    table = tidy(result).set_index("term")
    assert table.loc["value", "std_error"] == pytest.approx(0.0151945, abs=5e-8)
    assert table.loc["capital", "std_error"] == pytest.approx(0.0527518, abs=5e-8)
    assert table.loc["value", "statistic"] == pytest.approx(7.248, abs=5e-4)
    assert table.loc["value", "p_value"] == pytest.approx(4.83e-05, abs=5e-8)
    assert result.df == 9
    assert glance(result)["r_squared_within"].iloc[0] == pytest.approx(0.766758, abs=5e-7)


def test_clustered_twoway_model_matches_gretl(grunfeld):
    # gretl "Model 6": firm fixed effects with 19 time dummies, clustered by firm (same source):
    #   value 0.117716 (0.0108244), capital 0.357916 (0.0478484), t on 9 df.
    result = fit(grunfeld)       # defaults: two-way, clustered by entity, nested fixed effects
    table = tidy(result).set_index("term")
    assert list(table.index) == ["value", "capital"]          # slopes only
    assert table.loc["value", "estimate"] == pytest.approx(0.117716, abs=5e-7)
    assert table.loc["capital", "estimate"] == pytest.approx(0.357916, abs=5e-7)
    assert table.loc["value", "std_error"] == pytest.approx(0.0108244, abs=5e-8)
    assert table.loc["capital", "std_error"] == pytest.approx(0.0478484, abs=5e-8)
    assert table.loc["value", "p_value"] == pytest.approx(1.77e-06, abs=5e-9)
    row = glance(result).iloc[0]
    assert (row["n_entities"], row["n_periods"], row["n_clusters"]) == (10, 20, 10)
    assert row["k_small_sample"] == 2 + 20          # slopes + 19 year effects + constant


def test_pooled_clustered_matches_stata(grunfeld):
    # Stata: regress invest mvalue kstock, vce(cluster company) — results shipped with
    # statsmodels (regression/tests/results/results_grunfeld_ols_robust_cluster.py); gretl's
    # "Model 5" in plm's test file prints the same (20.4252, 0.0158943, 0.0849671).
    result = fit(grunfeld, effects="none")
    reference = pd.DataFrame(stata.results_cluster.params_table[:, :2],
                             index=["value", "capital", "Intercept"], columns=["b", "se"])
    table = tidy(result).set_index("term")
    # Stata stores the data in its own precision: agreement to ~1e-9 is what the data allow
    for term in reference.index:
        assert table.loc[term, "estimate"] == pytest.approx(reference.loc[term, "b"], rel=1e-8)
        assert table.loc[term, "std_error"] == pytest.approx(reference.loc[term, "se"], rel=1e-7)
    assert result.df == stata.est["df_r"]                    # G - 1 = 9
    assert table.loc["value", "ci_high"] == pytest.approx(stata.results_cluster.params_table[0, 5],
                                                          rel=1e-7)


# ---------------------------------------------------------------------------------------------
# Independent implementation: statsmodels OLS with dummies
# ---------------------------------------------------------------------------------------------
def unbalanced(data, seed=1, drop=23):
    rng = as_generator(seed)
    return data.drop(index=rng.choice(data.index, size=drop, replace=False)).reset_index(drop=True)


@pytest.mark.parametrize("balanced", [True, False])
@pytest.mark.parametrize("effects,dummies", [("twoway", "C(firm) + C(year)"),
                                             ("entity", "C(firm)"), ("time", "C(year)")])
def test_equals_statsmodels_dummies_with_cluster_correction(grunfeld, balanced, effects, dummies):
    """statsmodels' cov_type="cluster" applies G/(G-1)·(N-1)/(N-K) with K = every column of the
    dummy regression: our fixef_k="full"."""
    data = grunfeld if balanced else unbalanced(grunfeld)
    groups = pd.factorize(data["firm"])[0]
    ols = smf.ols(f"{FORMULA} + {dummies}", data).fit(cov_type="cluster",
                                                      cov_kwds={"groups": groups}, use_t=True)
    result = fit(data, effects=effects, fixef_k="full")
    np.testing.assert_allclose(result.params, ols.params[["value", "capital"]], rtol=1e-8)
    np.testing.assert_allclose(result.std_errors, ols.bse[["value", "capital"]], rtol=1e-7)
    assert result.df == ols.df_resid_inference
    iid = fit(data, effects=effects, cluster=None)
    classical = smf.ols(f"{FORMULA} + {dummies}", data).fit()
    np.testing.assert_allclose(iid.std_errors, classical.bse[["value", "capital"]], rtol=1e-7)
    assert iid.df == classical.df_resid
    r2 = glance(result)["r_squared"].iloc[0]
    assert r2 == pytest.approx(classical.rsquared, rel=1e-9)


def test_nested_and_full_differ_only_by_the_small_sample_factor(grunfeld):
    nested, full = fit(grunfeld), fit(grunfeld, fixef_k="full")
    n, k_nested, k_full = 200, 2 + 20, 2 + 10 + 20 - 1
    ratio = np.sqrt((n - k_nested) / (n - k_full))
    np.testing.assert_allclose(full.std_errors / nested.std_errors, ratio, rtol=1e-12)
    assert glance(full)["k_small_sample"].iloc[0] == k_full


def test_cluster_by_time(grunfeld):
    result = fit(grunfeld, effects="entity", cluster="time")
    groups = pd.factorize(grunfeld["year"])[0]
    ols = smf.ols(f"{FORMULA} + C(firm)", grunfeld).fit(cov_type="cluster",
                                                        cov_kwds={"groups": groups})
    # year effects absent, so nothing is nested in the year clusters: K counts every parameter
    np.testing.assert_allclose(result.std_errors, ols.bse[["value", "capital"]], rtol=1e-8)
    assert result.df == 19


# ---------------------------------------------------------------------------------------------
# Missing rows, errors
# ---------------------------------------------------------------------------------------------
def test_missing_rows_are_dropped_and_listed(grunfeld):
    data = grunfeld.copy()
    data.loc[[3, 50], "capital"] = np.nan
    data.loc[7, "invest"] = np.nan
    data.loc[9, "year"] = np.nan
    result = fit(data)
    assert result.n == 196
    assert glance(result)["n_dropped"].iloc[0] == 4
    assert result.extra["notes"][0].startswith("4 of 200 rows (firm-year pairs) dropped")
    dropped = result.extra["dropped"]
    assert list(dropped.columns) == ["firm", "year", "missing"]
    assert list(dropped["missing"]) == ["capital", "invest", "year", "capital"]
    reference = fit(data.dropna(subset=["capital", "invest", "year"]))
    np.testing.assert_allclose(result.params, reference.params, rtol=1e-12)


def test_time_invariant_regressor_is_refused(grunfeld):
    data = grunfeld.copy()
    data["size_class"] = data.groupby("firm")["value"].transform("mean")
    with pytest.raises(ValueError, match="size_class.*do\\(es\\) not vary within"):
        fit_panel(f"{FORMULA} + size_class", data, entity="firm", time="year")


def test_bad_arguments_name_every_problem(grunfeld):
    with pytest.raises(ValueError) as error:
        fit_panel(FORMULA, grunfeld, entity="province", time="period", effects="both",
                  cluster="firm")
    message = str(error.value)
    for fragment in ["effects must be", "cluster must be", "'province'", "'period'"]:
        assert fragment in message


# ---------------------------------------------------------------------------------------------
# The real PAPI panel 2018-2024
# ---------------------------------------------------------------------------------------------
def test_papi_panel_2018_2024_runs_and_reports_dropped_province_years():
    from sipas_analysis import io
    papi = io.load_papi()
    papi = papi[papi["year"].between(2018, 2024)]
    formula = "d5 ~ d8 + d1 + d2 + d3 + d4 + d6 + d7"
    result = fit_panel(formula, papi)
    table = tidy(result)
    assert list(table["term"]) == ["d8", "d1", "d2", "d3", "d4", "d6", "d7"]
    assert table[["estimate", "std_error", "p_value", "ci_low", "ci_high"]].notna().all().all()
    used = [f"d{k}" for k in range(1, 9)]
    expected_dropped = int(papi[used].isna().any(axis=1).sum())
    assert expected_dropped > 0            # PAPI has missing province-years (see SOURCES.md)
    row = glance(result).iloc[0]
    assert row["n_dropped"] == expected_dropped
    assert row["n"] == len(papi) - expected_dropped
    assert (row["n_entities"], row["n_periods"], row["df"]) == (63, 7, 62)
    assert 0 < row["r_squared_within"] < 1
    assert len(result.extra["dropped"]) == expected_dropped
    assert result.extra["notes"][0].startswith(f"{expected_dropped} of {len(papi)} rows")
    # t intervals on G - 1 = 62 df
    d8 = table.set_index("term").loc["d8"]
    assert d8["ci_high"] - d8["estimate"] == pytest.approx(stats.t.ppf(0.975, 62) * d8["std_error"])
