"""Design-based tables and tests (sipas_analysis.design_tests) against R's `survey` package.

References, each independent of the code under test:
- R 4.2.2 with survey 4.1.1 on the CSV samples of tests/data/survey_api/: the script
  tests/data/survey_api/r/design_tests.R and its printed output design_tests.Rout, committed
  beside it (not run in CI); the figures below are copied from that output, compared to the
  ten significant digits R printed (1e-8 relative: rounding of the CSV's weights aside, the
  arithmetic is the same);
- closed forms under simple random sampling computed in the test (Pearson's X² by scipy, the
  two-sample linearised variance written out);
- a simulation under the null hypothesis of independence in a clustered sample: the
  Rao–Scott F holds its level within Monte Carlo error where the naive Pearson test does not.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sipas_analysis as sa
from sipas_analysis.design import SurveyDesign
from sipas_analysis.design_tests import (Estimates, domain_estimates, svychisq, svycontrast,
                                         svytable, svyttest)

DATA = Path(__file__).parent / "data" / "survey_api"
R_PRINTED = {"rel": 1e-8}


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv", dtype={"cds": str})


@pytest.fixture(scope="module")
def apiclus1():
    return load("apiclus1")


@pytest.fixture(scope="module")
def dclus1(apiclus1):
    # R: svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc)
    return SurveyDesign(apiclus1, weights="pw", psu="dnum", fpc="fpc")


@pytest.fixture(scope="module")
def dstrat():
    # R: svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat, fpc = ~fpc)
    return SurveyDesign(load("apistrat"), weights="pw", strata="stype", fpc="fpc")


@pytest.fixture(scope="module")
def dclus2():
    # R: svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
    return SurveyDesign(load("apiclus2"), psu=["dnum", "snum"], fpc=["fpc1", "fpc2"])


@pytest.fixture(scope="module")
def dsrs():
    # R: svydesign(id = ~1, weights = ~pw, data = apisrs, fpc = ~fpc)
    return SurveyDesign(load("apisrs"), weights="pw", fpc="fpc")


# --- tables ---------------------------------------------------------------------------------

def test_svytable_matches_r(dclus1):
    table = svytable(dclus1, "sch.wide", "stype")
    assert list(table.index) == ["No", "Yes"] and list(table.columns) == ["E", "H", "M"]
    expected = [[406.1639557, 101.5409889, 270.7759705],
                [4467.8035126, 372.3169594, 575.3989372]]
    np.testing.assert_allclose(table.to_numpy(), expected, rtol=1e-9)
    scaled = svytable(dclus1, "sch.wide", "stype", n_total=183)   # R: Ntotal = 183
    np.testing.assert_allclose(scaled.to_numpy(), [[12, 3, 8], [132, 11, 17]], rtol=1e-9)
    assert dclus1.table("sch.wide", "stype").equals(table)


def test_svytable_proportions(dclus1):
    counts = svytable(dclus1, "sch.wide", "stype")
    whole = svytable(dclus1, "sch.wide", "stype", proportions="all")
    assert whole.to_numpy().sum() == pytest.approx(1.0)
    # R: svymean(~interaction(sch.wide, stype), dclus1): No.E, Yes.E, No.H, ...
    np.testing.assert_allclose(whole.to_numpy().T.ravel(),
                               [0.06557377049, 0.72131147541, 0.01639344262, 0.06010928962,
                                0.04371584699, 0.09289617486], rtol=1e-9)
    by_row = svytable(dclus1, "sch.wide", "stype", proportions="row")
    np.testing.assert_allclose(by_row.sum(axis=1), 1.0)
    by_col = svytable(dclus1, "sch.wide", "stype", proportions="column")
    np.testing.assert_allclose(by_col["H"], counts["H"] / counts["H"].sum())
    with pytest.raises(ValueError, match="proportions must be one of"):
        svytable(dclus1, "sch.wide", "stype", proportions="cell")


# --- svychisq -------------------------------------------------------------------------------

# R: svychisq(~row + col, design, statistic = s): statistic, ndf, ddf (or df), p-value
R_CHISQ = {
    ("dclus1", "sch.wide", "stype", "F"): (5.19336954147, 1.49463977771, 20.92495688790,
                                           0.02174746237),
    ("dstrat", "sch.wide", "stype", "F"): (1.724744396e+01, 1.828671504e+00, 3.602482863e+02,
                                           2.035046359e-07),
    ("dclus1", "comp.imp", "awards", "F"): (1.434869688e+02, 1.0, 14.0, 9.570026071e-09),
    ("dclus2", "stype", "awards", "F"): (10.081499128876, 1.804503666521, 70.375642994337,
                                         0.000234239196),
    ("dclus1", "sch.wide", "stype", "Chisq"): (11.940892080745, 2.0, None, 0.005553263303),
    ("dstrat", "sch.wide", "stype", "Chisq"): (2.675353404e+01, 2.0, None, 3.232438416e-08),
    ("dclus1", "comp.imp", "awards", "Chisq"): (1.687473400e+02, 1.0, None, 4.600009561e-33),
    ("dclus2", "stype", "awards", "Chisq"): (2.971022564e+01, 2.0, None, 4.184663674e-05),
    ("dclus1", "sch.wide", "stype", "Wald"): (2.4010586006, 2.0, 14.0, 0.1268963006),
    ("dstrat", "sch.wide", "stype", "Wald"): (1.613202177e+01, 2.0, 197.0, 3.249618797e-07),
    ("dclus1", "comp.imp", "awards", "Wald"): (1.803925303e+01, 1.0, 14.0, 8.124441785e-04),
    ("dclus2", "stype", "awards", "Wald"): (2.46652644295, 2.0, 39.0, 0.09802297161),
    ("dclus1", "sch.wide", "stype", "adjWald"): (2.2295544148, 2.0, 13.0, 0.1470578869),
    ("dstrat", "sch.wide", "stype", "adjWald"): (1.605013333e+01, 2.0, 196.0, 3.505639704e-07),
    ("dclus1", "comp.imp", "awards", "adjWald"): (1.803925303e+01, 1.0, 14.0, 8.124441785e-04),
    ("dclus2", "stype", "awards", "adjWald"): (2.4032821752, 2.0, 38.0, 0.1040378221),
}


@pytest.mark.parametrize("key", list(R_CHISQ), ids=lambda k: "-".join(k))
def test_svychisq_matches_r(key, request):
    name, row, col, statistic = key
    design = request.getfixturevalue(name)
    result = svychisq(design, row, col, statistic=statistic)
    value, first_df, ddf, p_value = R_CHISQ[key]
    assert result.statistic == pytest.approx(value, **R_PRINTED)
    assert result.p_value == pytest.approx(p_value, **R_PRINTED)
    if statistic == "Chisq":
        assert result.statistic_name == "X-squared"
        assert result.parameters == {"df": pytest.approx(first_df)}
    else:
        assert result.statistic_name == "F"
        assert result.parameters["ndf"] == pytest.approx(first_df, **R_PRINTED)
        assert result.parameters["ddf"] == pytest.approx(ddf, **R_PRINTED)


def test_svychisq_defaults_to_rao_scott_f_and_matches_r_on_srs_and_a_domain(dclus1, dsrs,
                                                                             apiclus1):
    default = svychisq(dclus1, "sch.wide", "stype")
    assert default.statistic == svychisq(dclus1, "sch.wide", "stype", statistic="F").statistic
    assert dclus1.chisq("sch.wide", "stype").p_value == default.p_value
    # R: svychisq(~sch.wide + stype, dsrs)
    srs = svychisq(dsrs, "sch.wide", "stype")
    assert srs.statistic == pytest.approx(1.348219615e+01, **R_PRINTED)
    assert srs.parameters["ndf"] == pytest.approx(2.0, **R_PRINTED)
    assert srs.parameters["ddf"] == pytest.approx(398.0, **R_PRINTED)
    assert srs.p_value == pytest.approx(2.160605427e-06, **R_PRINTED)
    # R: svychisq(~sch.wide + awards, subset(dclus1, stype != "H"))
    sub = svychisq(dclus1.subset(apiclus1["stype"] != "H"), "sch.wide", "awards")
    assert sub.statistic == pytest.approx(1.617360062e+02, **R_PRINTED)
    assert sub.parameters["ddf"] == pytest.approx(14.0)
    assert sub.p_value == pytest.approx(4.422855704e-09, **R_PRINTED)


def test_svychisq_pearson_detail_is_the_naive_test_of_the_table_scaled_to_n(dclus1):
    result = svychisq(dclus1, "sch.wide", "stype", statistic="Chisq")
    # R: chisq.test(svytable(~sch.wide + stype, dclus1, Ntotal = 183), correct = FALSE)
    assert result.details["pearson"] == pytest.approx(11.940892080745, **R_PRINTED)
    assert stats.chi2.sf(result.details["pearson"], 2) == pytest.approx(0.002553102378,
                                                                        **R_PRINTED)
    assert result.details["n"] == 183 and result.details["design_df"] == 14
    # the first-order correction divides X² by the mean design effect of Δ
    mean_deff = np.mean(result.details["design_effects"])
    assert result.p_value == pytest.approx(stats.chi2.sf(result.statistic / mean_deff, 2))


def srs_sample(seed: int, n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2]),
                         "b": rng.choice(["p", "q"], n, p=[0.6, 0.4]),
                         "y": rng.normal(size=n)})


@pytest.mark.parametrize("seed", [1, 2])
def test_rao_scott_under_srs_is_pearson_with_the_n_over_n_minus_1_factor(seed):
    data = srs_sample(seed)
    n = len(data)
    design = SurveyDesign(data)        # equal weights, every row its own PSU, no fpc
    counts = pd.crosstab(data["a"], data["b"]).to_numpy()
    pearson = stats.chi2_contingency(counts, correction=False)[0]
    # with replacement, V = n/(n-1) (D - pp')/n, so Δ = n/(n-1) I on the 2 df of the table
    f = svychisq(design, "a", "b")
    assert f.statistic == pytest.approx(pearson / 2 * (n - 1) / n, rel=1e-10)
    assert f.parameters["ndf"] == pytest.approx(2.0, rel=1e-10)
    assert f.parameters["ddf"] == pytest.approx(2.0 * (n - 1), rel=1e-10)
    assert f.p_value == pytest.approx(stats.f.sf(f.statistic, 2, 2 * (n - 1)), rel=1e-9)
    first = svychisq(design, "a", "b", statistic="Chisq")
    assert first.statistic == pytest.approx(pearson, rel=1e-10)
    assert first.p_value == pytest.approx(stats.chi2.sf(pearson * (n - 1) / n, 2), rel=1e-9)
    np.testing.assert_allclose(first.details["design_effects"], n / (n - 1), rtol=1e-10)


def test_svychisq_is_invariant_to_the_scale_of_the_weights(apiclus1):
    data = apiclus1.assign(pw2=apiclus1["pw"] * 7.5)
    one = svychisq(SurveyDesign(data, weights="pw", psu="dnum"), "sch.wide", "stype")
    other = svychisq(SurveyDesign(data, weights="pw2", psu="dnum"), "sch.wide", "stype")
    assert other.statistic == pytest.approx(one.statistic, rel=1e-10)


def test_svychisq_refuses_a_constant_variable_and_missing_values_when_asked(apiclus1):
    data = apiclus1.assign(one="a", gap=apiclus1["awards"].where(apiclus1.index % 10 > 0))
    design = SurveyDesign(data, weights="pw", psu="dnum")
    with pytest.raises(ValueError, match="'one' has 1 and 'stype' has 3 level"):
        svychisq(design, "one", "stype")
    with pytest.raises(ValueError, match=r"'gap' \(19 rows\)"):
        svychisq(design, "gap", "stype", na_rm=False)
    kept = svychisq(design, "gap", "stype")
    assert kept.details["n"] == len(data) - 19
    with pytest.raises(ValueError, match="statistic must be one of"):
        svychisq(design, "awards", "stype", statistic="lincom")


# --- svyttest -------------------------------------------------------------------------------

# R: svyttest(var ~ group, design): t, df, estimate, p-value, 95 % interval
R_TTEST = {
    ("dclus1", "api00", "sch.wide"): (2.10898984779, 13.0, 41.31902173913, 0.05490881709,
                                      -1.00660613164, 83.64464960990),
    ("dstrat", "api00", "sch.wide"): (3.868381908e+00, 196.0, 8.278358544e+01, 1.490544708e-04,
                                      4.057965491e+01, 1.249875160e+02),
    ("dclus2", "enroll", "comp.imp"): (-2.888237242e+00, 36.0, -2.257370586e+02,
                                       6.518228357e-03, -3.842475741e+02, -6.722654301e+01),
    ("dsrs", "api00", "sch.wide"): (4.564602769e+00, 198.0, 1.013312883e+02, 8.775097917e-06,
                                    5.755375023e+01, 1.451088265e+02),
}


@pytest.mark.parametrize("key", list(R_TTEST), ids=lambda k: "-".join(k))
def test_svyttest_matches_r(key, request):
    name, var, group = key
    # R's svyglm drops rows missing the variable (enroll has 6 in apiclus2)
    result = svyttest(request.getfixturevalue(name), var, group, na_rm=True)
    t, df, estimate, p_value, low, high = R_TTEST[key]
    assert result.statistic == pytest.approx(t, **R_PRINTED)
    assert result.parameters == {"df": df}
    assert result.estimate == pytest.approx(estimate, **R_PRINTED)
    assert result.p_value == pytest.approx(p_value, **R_PRINTED)
    assert result.ci_low == pytest.approx(low, **R_PRINTED)
    assert result.ci_high == pytest.approx(high, **R_PRINTED)
    assert result.std_error == pytest.approx(estimate / t, **R_PRINTED)


def test_svyttest_one_sample_and_domain_match_r(apiclus1, dclus1):
    data = apiclus1.assign(growth=apiclus1["api00"] - apiclus1["api99"])
    design = SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc")
    # R: svyttest(I(api00 - api99) ~ 0, dclus1)
    one = design.ttest("growth")
    assert one.statistic == pytest.approx(1.205474309e+01, **R_PRINTED)
    assert one.parameters == {"df": 13.0}
    assert one.estimate == pytest.approx(3.719125683e+01, **R_PRINTED)
    assert one.p_value == pytest.approx(1.978692755e-08, **R_PRINTED)
    assert (one.ci_low, one.ci_high) == (pytest.approx(3.052609400e+01, **R_PRINTED),
                                         pytest.approx(4.385641966e+01, **R_PRINTED))
    shifted = design.ttest("growth", mu=37.19125683060109)
    assert shifted.statistic == pytest.approx(0.0, abs=1e-9)
    # R: svyttest(api00 ~ awards, subset(dclus1, stype != "H"))
    sub = svyttest(dclus1.subset(apiclus1["stype"] != "H"), "api00", "awards")
    assert sub.statistic == pytest.approx(1.5545896243, **R_PRINTED)
    assert sub.parameters == {"df": 13.0}
    assert sub.p_value == pytest.approx(0.1440437001, **R_PRINTED)
    assert (sub.ci_low, sub.ci_high) == (pytest.approx(-10.3390003925, **R_PRINTED),
                                         pytest.approx(63.4042333674, **R_PRINTED))


def test_svyttest_under_srs_is_the_linearised_two_sample_closed_form():
    data = srs_sample(3)
    n = len(data)
    result = svyttest(SurveyDesign(data), "y", "b")
    p, q = data.loc[data.b == "p", "y"], data.loc[data.b == "q", "y"]
    # Σ of squared influence values (y - ȳ_g)/n_g over both groups, times n/(n-1), and the
    # design df n - 1 minus 1
    variance = n / (n - 1) * (((p - p.mean()) ** 2).sum() / len(p) ** 2
                              + ((q - q.mean()) ** 2).sum() / len(q) ** 2)
    assert result.estimate == pytest.approx(q.mean() - p.mean(), rel=1e-12)
    assert result.std_error == pytest.approx(np.sqrt(variance), rel=1e-10)
    assert result.parameters == {"df": n - 2.0}
    t = (q.mean() - p.mean()) / np.sqrt(variance)
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(t), n - 2), rel=1e-9)
    half = stats.t.ppf(0.975, n - 2) * np.sqrt(variance)
    assert result.ci_high - result.ci_low == pytest.approx(2 * half, rel=1e-10)


def test_svyttest_refuses_a_group_without_two_levels_and_missing_values(dclus1):
    with pytest.raises(ValueError, match="exactly two levels.*found 3"):
        svyttest(dclus1, "api00", "stype")
    with pytest.raises(ValueError, match=r"'acs.k3' \(\d+ rows\)"):
        svyttest(dclus1, "acs.k3", "sch.wide")
    with pytest.raises(TypeError, match="must be numeric"):
        svyttest(dclus1, "stype", "sch.wide")


# --- domain estimates and contrasts ---------------------------------------------------------

def test_domain_estimates_with_covariance_match_r(dclus1):
    # R: a <- svyby(~api00, ~stype, dclus1, svymean, covmat = TRUE); coef(a); vcov(a)
    a = domain_estimates(dclus1, "api00", "stype")
    assert a.labels == ["E", "H", "M"]
    np.testing.assert_allclose(a.coef, [648.8680556, 618.5714286, 631.4400000], rtol=1e-9)
    np.testing.assert_allclose(a.vcov.to_numpy(),
                               [[500.0773315, 521.9797796, 646.8374324],
                                [521.9797796, 1445.5393614, 658.3309334],
                                [646.8374324, 658.3309334, 999.1582920]], rtol=1e-9)
    same = dclus1.by("api00", "stype")          # the diagonal is svyby's own SE
    np.testing.assert_allclose(a.table["std_error"], same["std_error"], rtol=1e-12)
    assert list(a.table["df"]) == list(dclus1.by("api00", "stype", df=True)["df"])


def test_svycontrast_matches_r(dclus1):
    a = dclus1.domain_estimates("api00", "stype")
    # R: svycontrast(a, c(E = 1, H = -1)); svycontrast(a, c(1/3, 1/3, 1/3)); and as a list
    diff = svycontrast(a, {"E": 1, "H": -1}).table.iloc[0]
    assert diff["term"] == "contrast"
    assert diff["estimate"] == pytest.approx(30.29662698, **R_PRINTED)
    assert diff["std_error"] == pytest.approx(30.02760619, **R_PRINTED)
    assert diff["p_value"] == pytest.approx(2 * stats.norm.sf(diff["estimate"]
                                                              / diff["std_error"]))
    avg = a.contrast([1 / 3, 1 / 3, 1 / 3]).table.iloc[0]
    assert avg["estimate"] == pytest.approx(632.959828, **R_PRINTED)
    assert avg["std_error"] == pytest.approx(27.07822265, **R_PRINTED)
    both = a.contrast({"avg": {"E": 1 / 3, "H": 1 / 3, "M": 1 / 3}, "EminusM": {"E": 1, "M": -1}})
    assert list(both.table["term"]) == ["avg", "EminusM"]
    np.testing.assert_allclose(both.table["estimate"], [632.95982804, 17.42805556], rtol=1e-9)
    np.testing.assert_allclose(both.table["std_error"], [27.07822265, 14.33739023], rtol=1e-9)
    assert both.vcov.shape == (2, 2)
    with_df = a.contrast({"E": 1, "H": -1}, df=14).table.iloc[0]
    assert with_df["ci_high"] - with_df["estimate"] == pytest.approx(
        stats.t.ppf(0.975, 14) * with_df["std_error"])


def test_domain_estimates_of_several_variables_and_two_by_columns_match_r(dclus1, dstrat):
    # R: b <- svyby(~api00 + api99, ~stype, dstrat, svymean, covmat = TRUE)
    b = domain_estimates(dstrat, ["api00", "api99"], "stype")
    assert b.labels == ["E:api00", "H:api00", "M:api00", "E:api99", "H:api99", "M:api99"]
    np.testing.assert_allclose(b.coef, [674.43, 625.82, 636.60, 635.87, 617.36, 610.20],
                               rtol=1e-12)
    assert b.vcov.loc["E:api00", "E:api99"] == pytest.approx(159.8843343, **R_PRINTED)
    assert b.vcov.loc["M:api99", "M:api99"] == pytest.approx(267.0672451, **R_PRINTED)
    assert b.vcov.loc["E:api00", "H:api99"] == 0.0          # strata are independent
    # R: svycontrast(b, c("E:api00" = 1, "E:api99" = -1))
    growth = b.contrast({"E:api00": 1, "E:api99": -1}).table.iloc[0]
    assert growth["estimate"] == pytest.approx(38.56, rel=1e-12)
    assert growth["std_error"] == pytest.approx(2.733494178, **R_PRINTED)
    # R: d <- svyby(~enroll, ~stype + sch.wide, dclus1, svytotal, covmat = TRUE)
    d = domain_estimates(dclus1, "enroll", ["stype", "sch.wide"], stat="total")
    assert d.labels == ["E.No", "H.No", "M.No", "E.Yes", "H.Yes", "M.Yes"]
    np.testing.assert_allclose(d.coef, [177459.80164, 75715.73074, 202506.57891,
                                        1932257.32520, 459879.13883, 557121.55922], rtol=1e-10)
    assert d.vcov.loc["E.No", "M.No"] == pytest.approx(-897873237.9, **R_PRINTED)
    assert d.vcov.loc["E.Yes", "M.Yes"] == pytest.approx(64087628919.3, **R_PRINTED)
    assert list(d.table.columns[:2]) == ["stype", "sch.wide"]
    total_e = d.contrast({"E.No": 1, "E.Yes": 1}).table.iloc[0]
    assert total_e["estimate"] == pytest.approx(2109717.127, **R_PRINTED)
    assert total_e["std_error"] == pytest.approx(631349.3863, **R_PRINTED)
    # R: svycontrast(svymean(~api00 + api99, dclus1), c(api00 = 1, api99 = -1))
    m = domain_estimates(dclus1, ["api00", "api99"])
    assert m.labels == ["api00", "api99"]
    change = m.contrast({"api00": 1, "api99": -1}).table.iloc[0]
    assert change["estimate"] == pytest.approx(37.19125683, **R_PRINTED)
    assert change["std_error"] == pytest.approx(3.085196967, **R_PRINTED)


def test_domain_estimates_of_a_categorical_variable_are_the_domain_proportions(dclus1):
    est = domain_estimates(dclus1, "awards", "stype")
    assert est.labels[:2] == ["E:awards[No]", "H:awards[No]"]
    by = dclus1.by("awards", "stype").set_index(["stype", "term"])
    for _, row in est.table.iterrows():
        assert row["estimate"] == pytest.approx(by.loc[(row["stype"], row["term"]), "estimate"])
        assert row["std_error"] == pytest.approx(by.loc[(row["stype"], row["term"]),
                                                        "std_error"], rel=1e-10)


def test_svycontrast_refuses_unknown_labels_and_wrong_lengths(dclus1):
    a = domain_estimates(dclus1, "api00", "stype")
    with pytest.raises(ValueError, match=r"\['X'\] that are not among"):
        a.contrast({"E": 1, "X": -1})
    with pytest.raises(ValueError, match="2 coefficient"):
        a.contrast([1, -1])
    with pytest.raises(TypeError, match="Estimates"):
        svycontrast(dclus1.by("api00", "stype"), [1, -1, 0])
    with pytest.raises(ValueError, match=r"'acs.k3' \(\d+ rows\)"):
        domain_estimates(dclus1, "acs.k3", "stype")
    assert domain_estimates(dclus1, "acs.k3", "stype", na_rm=True).table["n"].sum() == \
        int(dclus1.data["acs.k3"].notna().sum())


def test_public_names_are_exported():
    for name in ("svytable", "svychisq", "svyttest", "domain_estimates", "svycontrast",
                 "Estimates", "SurveyTest"):
        assert getattr(sa, name) is not None and name in sa.__all__
    assert sa.Estimates is Estimates


# --- simulation under H0 --------------------------------------------------------------------

def test_rao_scott_holds_its_level_in_a_clustered_sample_where_pearson_does_not():
    """30 villages of 20; both answers vary strongly by village (village shares drawn from
    U(0, 1)) but independently of each other, so independence holds. The design effect of
    the association is about 1 + 19 ρ_a ρ_b ≈ 3: the naive Pearson test rejects about a
    quarter of the time, the Rao–Scott F about 5 %. 400 samples: Monte Carlo SE of a 5 %
    rejection rate 1.1 points; the bounds are 3.2 SE either side."""
    rng = np.random.default_rng(20261203)
    villages, size, n_samples = 30, 20, 400
    village = np.repeat(np.arange(villages), size)
    design_p, naive_p = [], []
    for _ in range(n_samples):
        share_a, share_b = rng.random(villages), rng.random(villages)
        data = pd.DataFrame({"village": village,
                             "a": rng.random(village.size) < share_a[village],
                             "b": rng.random(village.size) < share_b[village]})
        result = svychisq(SurveyDesign(data, psu="village"), "a", "b")
        design_p.append(result.p_value)
        naive_p.append(stats.chi2.sf(result.details["pearson"], 1))
    rate, naive = np.mean(np.array(design_p) < 0.05), np.mean(np.array(naive_p) < 0.05)
    mc_se = np.sqrt(0.05 * 0.95 / n_samples)
    assert abs(rate - 0.05) < 3.2 * mc_se, (rate, naive)
    assert naive > 0.15, (rate, naive)


def test_missing_columns_are_named_together(dclus1):
    with pytest.raises(sa.MissingColumnError, match=r"'nope'.*'nada'|'nada'.*'nope'"):
        svychisq(dclus1, "nope", "nada")
    with pytest.raises(sa.MissingColumnError, match="nope"):
        svyttest(dclus1, "api00", "nope")
    with pytest.raises(sa.MissingColumnError, match="nope"):
        domain_estimates(dclus1, "api00", ["stype", "nope"])


def test_calibrated_designs_use_their_calibration_residuals_as_r(dclus1):
    # R: dclus1p <- postStratify(dclus1, ~stype, pop.types); svychisq(...); svyttest(...)
    post = dclus1.post_stratify("stype", {"E": 4421, "H": 755, "M": 1018})
    awards = post.chisq("sch.wide", "awards")
    assert awards.statistic == pytest.approx(1.406025039e+02, **R_PRINTED)
    assert awards.p_value == pytest.approx(1.090065381e-08, **R_PRINTED)
    stype = post.chisq("sch.wide", "stype")
    assert stype.statistic == pytest.approx(4.71173822420, **R_PRINTED)
    assert stype.parameters["ndf"] == pytest.approx(1.62902495450, **R_PRINTED)
    assert stype.parameters["ddf"] == pytest.approx(22.80634936299, **R_PRINTED)
    assert stype.p_value == pytest.approx(0.02508983624, **R_PRINTED)
    t = post.ttest("api00", "sch.wide")
    assert t.statistic == pytest.approx(1.7618547751, **R_PRINTED)
    assert t.p_value == pytest.approx(0.1015763016, **R_PRINTED)
    assert (t.ci_low, t.ci_high) == (pytest.approx(-7.9389317615, **R_PRINTED),
                                     pytest.approx(78.1359586935, **R_PRINTED))
    # R: gclus1 <- calibrate(dclus1, ~api99, c(6194, 3914069)); svychisq(~sch.wide + awards)
    greg = dclus1.calibrate("~ api99", {"Intercept": 6194, "api99": 3914069})
    chisq = greg.chisq("sch.wide", "awards")
    assert chisq.statistic == pytest.approx(1.872800716e+02, **R_PRINTED)
    assert chisq.p_value == pytest.approx(1.702408740e-09, **R_PRINTED)
    # R's svyby(covmat=TRUE) fails on calibrated designs in survey 4.1.1; its SEs without
    # covmat (weighting.Rout, "gclus1 svyby api00 stype") are the diagonal here
    est = greg.domain_estimates("api00", "stype")
    np.testing.assert_allclose(est.coef, [671.7631683, 637.6147350, 653.5877032], rtol=1e-9)
    np.testing.assert_allclose(est.table["std_error"], [4.436113744, 26.904385078,
                                                        13.438595429], rtol=1e-9)
