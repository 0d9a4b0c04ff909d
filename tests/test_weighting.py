"""Survey weighting (post-stratification, raking, calibration, trimming) and quantiles.

References, each independent of the code under test:
- the survey 4.5 vignette (/work/shared/data/SOURCES.md and issue text): gclus1 and the
  svyquantile example on dclus1;
- printed output saved in the R package's own test suite, GitHub cran/survey:
  tests/rakecheck.Rout.save (rake and calibrate(calfun="raking") of dclus1),
  tests/caleg.Rout.save (bounded calibration ranges, the ratio estimator as calibration
  with variance=, postStratify = calibrate);
- tests/data/survey_api/r/weighting.Rout: the printed output of the committed script
  weighting.R beside it (R 4.2.2, survey 4.1.1 from Debian; the examples of postStratify.Rd,
  rake.Rd, calibrate.Rd, trimWeights.Rd and svyquantile.Rd on these CSV files, printed with
  ten significant digits; not run in CI);
- closed forms: a post-stratified mean is the population-weighted mean of the post-stratum
  means, raked margins reproduce their targets, calibration totals have SE 0, 1 + CV²;
- a simulation with non-response by margin (unweighted biased, raked unbiased, within
  Monte Carlo error).
Tolerances: half a unit in the last printed digit for the published outputs, 1e-8 relative
(printed ten digits) for weighting.Rout.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sipas_analysis.design import SurveyDesign
from sipas_analysis import weighting

DATA = Path(__file__).parent / "data" / "survey_api"
TYPES = {"E": 4421, "H": 755, "M": 1018}                 # R: pop.types
SCH_WIDE = {"No": 1072, "Yes": 5122}                      # R: pop.schwide
STYPE_TOTALS = {"(Intercept)": 6194, "stypeH": 755, "stypeM": 1018}


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv", dtype={"cds": str})


def printed(decimals: int) -> dict:
    return {"abs": 0.5 * 10.0 ** -decimals}


R10 = {"rel": 1e-8}   # weighting.Rout prints ten significant digits


def first(table: pd.DataFrame, term: str | None = None) -> pd.Series:
    return table.iloc[0] if term is None else table.set_index("term").loc[term]


@pytest.fixture(scope="module")
def apiclus1():
    return load("apiclus1")


@pytest.fixture(scope="module")
def apipop():
    return load("apipop")


@pytest.fixture(scope="module")
def dclus1(apiclus1):
    # R: dclus1 <- svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc)
    return SurveyDesign(apiclus1, weights="pw", psu="dnum", fpc="fpc")


@pytest.fixture(scope="module")
def dstrat():
    # R: dstrat <- svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat, fpc=~fpc)
    return SurveyDesign(load("apistrat"), weights="pw", strata="stype", fpc="fpc")


@pytest.fixture(scope="module")
def gclus1(dclus1):
    # R: gclus1 <- calibrate(dclus1, ~api99, c(6194, 3914069))
    return dclus1.calibrate("~ api99", [6194, 3914069])


# --- 1. the vignette ------------------------------------------------------------------------

def test_linear_calibration_matches_vignette(gclus1):
    mean = first(gclus1.mean("api00"))
    assert mean.estimate == pytest.approx(666.72, **printed(2))
    assert mean.std_error == pytest.approx(3.2959, **printed(4))
    total = first(gclus1.total("enroll"))
    assert total.estimate == pytest.approx(3357372, **printed(0))
    assert total.std_error == pytest.approx(243227, **printed(0))


def test_quantiles_match_vignette_and_weighting_rout(dclus1):
    # vignette: svyquantile(~api00, dclus1, c(.25,.5,.75), ci=TRUE) 552, 652, 719;
    # weighting.Rout: intervals (492, 627), (561, 714), (696, 777), SE 31.47166121 ...
    table = dclus1.quantile("api00", [0.25, 0.5, 0.75])
    assert list(table.columns) == ["term", "q", "estimate", "std_error", "ci_low", "ci_high",
                                   "n", "df"]
    assert table.estimate.tolist() == [552, 652, 719]
    assert table.ci_low.tolist() == [492, 561, 696]
    assert table.ci_high.tolist() == [627, 714, 777]
    assert table.std_error.to_numpy() == pytest.approx([31.47166121, 35.66788270, 18.88299672],
                                                       **R10)
    assert (table.df == 14).all() and (table.n == 183).all()


# --- 2. the package's own tests (rakecheck.Rout.save, caleg.Rout.save) ---------------------

def test_rake_with_r_defaults_matches_rakecheck_rout(dclus1):
    # rakecheck.Rout.save: dclus1r <- rake(dclus1, list(~stype,~sch.wide),
    #   list(pop.types, pop.schwide)); svymean(~api00) 641.23 (23.704);
    #   svytotal(~enroll) 3647300 (400603). R's rake control: maxit=10, epsilon=1.
    raked = dclus1.rake({"stype": TYPES, "sch.wide": SCH_WIDE}, epsilon=1, max_iter=10)
    mean, total = first(raked.mean("api00")), first(raked.total("enroll"))
    assert mean.estimate == pytest.approx(641.23, **printed(2))
    assert mean.std_error == pytest.approx(23.704, **printed(3))
    assert total.estimate == pytest.approx(3647300, **printed(0))
    assert total.std_error == pytest.approx(400603, **printed(0))
    # weighting.Rout: that rake stops before convergence; its stype totals keep an SE
    stype = raked.total("stype")
    assert stype.estimate.to_numpy() == pytest.approx([4420.9633441, 755.0090284,
                                                       1018.0276275], **R10)
    assert stype.std_error.to_numpy() == pytest.approx([0.017204129513, 0.009347470749,
                                                        0.012963356174], rel=1e-7)


def test_raking_calibration_matches_rakecheck_rout_and_converged_rake(dclus1):
    # rakecheck.Rout.save: dclus1g <- calibrate(dclus1, ~stype+sch.wide, poptotals,
    #   calfun="raking"); svymean 641.23 (23.704); svytotal(~enroll) 3647280 (400603)
    population = dict(STYPE_TOTALS, **{"sch.wideYes": 5122})
    calibrated = dclus1.calibrate('~ stype + Q("sch.wide")', population, calfun="raking")
    mean, total = first(calibrated.mean("api00")), first(calibrated.total("enroll"))
    assert mean.estimate == pytest.approx(641.23, **printed(2))
    assert mean.std_error == pytest.approx(23.704, **printed(3))
    assert total.estimate == pytest.approx(3647280, **printed(0))
    assert total.std_error == pytest.approx(400603, **printed(0))
    # ... and the fully converged rake (the default here) gives the same weights
    raked = dclus1.rake({"stype": TYPES, "sch.wide": SCH_WIDE})
    assert raked.weights == pytest.approx(calibrated.weights, rel=1e-8)
    # weighting.Rout "dclus1r converged": 641.2303209 (23.70361689), 3647280.148 (400603.2569)
    assert first(raked.mean("api00")).std_error == pytest.approx(23.70361689, **R10)
    assert first(raked.total("enroll")).estimate == pytest.approx(3647280.148, **R10)
    assert first(raked.total("enroll")).std_error == pytest.approx(400603.2569, **R10)


def test_bounded_calibration_ranges_match_caleg_rout(dclus1, apipop):
    # caleg.Rout.save: pop <- colSums(cbind(1, apipop$enroll), na.rm=TRUE)
    #   range(weights(calibrate(dclus1, ~enroll, pop)) / weights(dclus1)) 0.7906782 1.7891164
    #   ... bounds=c(.6, 1.5): 0.7198751 1.5000000
    population = [len(apipop), apipop.enroll.sum()]
    g = dclus1.calibrate("~ enroll", population).weights / dclus1.weights
    assert [g.min(), g.max()] == pytest.approx([0.7906782, 1.7891164], **printed(7))
    g = dclus1.calibrate("~ enroll", population, bounds=(0.6, 1.5)).weights / dclus1.weights
    assert [g.min(), g.max()] == pytest.approx([0.7198751, 1.5], **printed(7))


def test_ratio_estimator_as_calibration_matches_caleg_rout(dstrat, apipop):
    # caleg.Rout.save: dstratg <- calibrate(dstrat, ~enroll-1, total.enroll, variance=1);
    #   svytotal(~api.stu, dstratg) 3190038 (29566); predict(common, total=) SE 29565.98
    total_enroll = apipop.enroll.sum()
    calibrated = dstrat.calibrate("~ enroll - 1", [total_enroll], variance=1)
    total = first(calibrated.total("api.stu"))
    assert total.estimate == pytest.approx(3190038, **printed(0))
    assert total.std_error == pytest.approx(29565.98, **printed(2))
    # weighting.Rout: the same with calfun="raking" (R keeps the unweighted residuals there),
    # and variance = c(0, 0, 0, 1) on ~stype + enroll (= the enroll column as variance)
    raking = dstrat.calibrate("~ enroll - 1", [total_enroll], variance=1, calfun="raking")
    assert first(raking.total("api.stu")).std_error == pytest.approx(29558.88764, **R10)
    population = dict(STYPE_TOTALS, enroll=total_enroll)
    for variance in ([0, 0, 0, 1], "enroll"):
        calibrated = dstrat.calibrate("~ stype + enroll", population, variance=variance)
        total = first(calibrated.total("api.stu"))
        assert (total.estimate, total.std_error) == pytest.approx((3188361.237, 30444.52966),
                                                                  **R10)
    with pytest.raises(ValueError, match="variance has 2 coefficient"):
        dstrat.calibrate("~ stype + enroll", population, variance=[0, 1])


def test_post_stratify_equals_calibrate_on_the_factor(dclus1):
    # caleg.Rout.save: all.equal(SE(svymean(~x, dcal)), SE(svymean(~x, dps))) TRUE
    post = dclus1.post_stratify("stype", TYPES)
    calibrated = dclus1.calibrate("~ stype", STYPE_TOTALS)
    assert post.weights == pytest.approx(calibrated.weights, rel=1e-12)
    for var in ["api00", "enroll"]:
        assert first(post.mean(var)).std_error == pytest.approx(
            first(calibrated.mean(var)).std_error, rel=1e-10)


# --- 3. weighting.Rout (R 4.2.2, survey 4.1.1) ----------------------------------------------

def test_post_stratified_dclus1_matches_weighting_rout(dclus1, apiclus1):
    # dclus1p <- postStratify(dclus1, ~stype, pop.types)
    post = dclus1.post_stratify("stype", TYPES)
    assert first(post.mean("api00")).estimate == pytest.approx(642.3107882, **R10)
    assert first(post.mean("api00")).std_error == pytest.approx(23.92048645, **R10)
    assert first(post.total("enroll")).estimate == pytest.approx(3680892.945, **R10)
    assert first(post.total("enroll")).std_error == pytest.approx(406292.6363, **R10)
    stype = post.total("stype")
    assert stype.estimate.to_numpy() == pytest.approx([4421, 755, 1018], rel=1e-12)
    assert stype.std_error.max() < 1e-6
    by = post.by("api00", "stype")
    assert by.estimate.to_numpy() == pytest.approx([648.8680556, 618.5714286, 631.44], **R10)
    assert by.std_error.to_numpy() == pytest.approx([22.36240889, 38.02024936, 31.60946523],
                                                    **R10)
    yes = post.subset(apiclus1["sch.wide"] == "Yes").mean("api00")
    assert first(yes).estimate == pytest.approx(647.1611284, **R10)
    assert first(yes).std_error == pytest.approx(24.3970669, **R10)


def test_post_stratified_stratified_design_with_unequal_weights(dstrat, apipop):
    # dstratp <- postStratify(dstrat, ~awards, pop.awards): 663.7983258 (9.417017943),
    #   svytotal(~enroll) 3643807.869 (119623.0996)
    post = dstrat.post_stratify("awards", apipop.awards.value_counts())
    assert first(post.mean("api00")).estimate == pytest.approx(663.7983258, **R10)
    assert first(post.mean("api00")).std_error == pytest.approx(9.417017943, **R10)
    assert first(post.total("enroll")).estimate == pytest.approx(3643807.869, **R10)
    assert first(post.total("enroll")).std_error == pytest.approx(119623.0996, **R10)


def test_raked_stratified_design_and_domains_match_weighting_rout(dstrat, dclus1, apipop):
    # dstratr <- rake(dstrat, list(~sch.wide, ~awards), ..., control=list(maxit=100,
    #   epsilon=1e-10)): 662.4897615 (9.292177617); enroll 3689013.249 (132937.1243)
    raked = dstrat.rake({"sch.wide": SCH_WIDE, "awards": apipop.awards.value_counts()})
    assert first(raked.mean("api00")).estimate == pytest.approx(662.4897615, **R10)
    assert first(raked.mean("api00")).std_error == pytest.approx(9.292177617, **R10)
    assert first(raked.total("enroll")).std_error == pytest.approx(132937.1243, **R10)
    # svyby(~api00, ~stype, dclus1r converged, svymean)
    by = dclus1.rake({"stype": TYPES, "sch.wide": SCH_WIDE}).by("api00", "stype")
    assert by.estimate.to_numpy() == pytest.approx([647.4465792, 621.2918611, 629.0215383],
                                                   **R10)
    assert by.std_error.to_numpy() == pytest.approx([22.80841219, 36.74314488, 29.96288096],
                                                    **R10)


def test_linear_calibration_domains_and_ratio_match_weighting_rout(gclus1, apiclus1):
    by = gclus1.by("api00", "stype")
    assert by.estimate.to_numpy() == pytest.approx([671.7631683, 637.614735, 653.5877032], **R10)
    assert by.std_error.to_numpy() == pytest.approx([4.436113744, 26.904385078, 13.438595429],
                                                    **R10)
    yes = first(gclus1.subset(apiclus1["sch.wide"] == "Yes").mean("api00"))
    assert (yes.estimate, yes.std_error) == pytest.approx((672.9830727, 4.126845637), **R10)
    ratio = first(gclus1.ratio("api.stu", "enroll"))
    assert (ratio.estimate, ratio.std_error) == pytest.approx((0.8506941477, 0.008674887586),
                                                              **R10)


@pytest.mark.parametrize("calfun, bounds, mean, se, g_range", [
    ("linear", None, 665.3090712, 3.441753116, (0.4185925, 1.8332949)),
    ("linear", (0.6, 1.6), 665.4849459, 3.418387403, (0.6, 1.6)),
    ("raking", None, 665.393796, 3.437753539, (0.5342314, 1.9947612)),
    ("logit", (0.5, 2.5), 665.4315747, 3.43254685, (0.5943692, 1.9358791)),
])
def test_calibration_distances_match_weighting_rout(dclus1, calfun, bounds, mean, se, g_range):
    # calibrate(dclus1, ~stype+api99, c(pop.totals, api99=3914069), calfun=, bounds=)
    population = dict(STYPE_TOTALS, api99=3914069)
    calibrated = dclus1.calibrate("~ stype + api99", population, calfun=calfun, bounds=bounds)
    row = first(calibrated.mean("api00"))
    assert (row.estimate, row.std_error) == pytest.approx((mean, se), **R10)
    g = calibrated.weights / dclus1.weights
    assert (g.min(), g.max()) == pytest.approx(g_range, **printed(7))
    totals = calibrated.total(["stype", "api99"])
    assert totals.estimate.sum() - totals.estimate.iloc[3] == pytest.approx(6194, rel=1e-9)
    assert first(totals, "api99").estimate == pytest.approx(3914069, rel=1e-9)


def test_logit_total_and_two_stage_calibration_match_weighting_rout(dclus1):
    population = dict(STYPE_TOTALS, api99=3914069)
    logit = dclus1.calibrate("~ stype + api99", population, calfun="logit", bounds=(0.5, 2.5))
    total = first(logit.total("enroll"))
    assert (total.estimate, total.std_error) == pytest.approx((3624254.103, 385446.0492), **R10)
    # dclus2 <- svydesign(id=~dnum+snum, fpc=~fpc1+fpc2, data=apiclus2); calibrate on ~stype
    dclus2 = SurveyDesign(load("apiclus2"), psu=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    calibrated = dclus2.calibrate("~ stype", STYPE_TOTALS)
    mean = first(calibrated.mean("api00"))
    assert (mean.estimate, mean.std_error) == pytest.approx((673.0023113, 28.83180881), **R10)
    total = first(calibrated.total("enroll", na_rm=True))
    assert (total.estimate, total.std_error) == pytest.approx((3074076.353, 292584.3759), **R10)


def test_trim_weights_matches_trimweights_example(dclus1):
    # trimWeights.Rd on dclus1g <- calibrate(dclus1, ~stype+api99, ...): trimWeights(lower=20,
    #   upper=45) weights in [20.00, 45.74]; strict=TRUE in [20.01, 45.00]; svymean values
    calibrated = dclus1.calibrate("~ stype + api99", dict(STYPE_TOTALS, api99=3914069))
    trimmed = calibrated.trim_weights(20, 45)
    assert (trimmed.weights.min(), trimmed.weights.max()) == pytest.approx((20.0, 45.74),
                                                                           **printed(2))
    assert trimmed.weights.sum() == pytest.approx(calibrated.weights.sum(), rel=1e-12)
    table = trimmed.mean(["api99", "api00", "stype"])
    assert table.estimate.to_numpy() == pytest.approx(
        [628.9120324615, 663.0519524976, 0.7365099730, 0.1012110553, 0.1622789718], **R10)
    assert table.std_error.to_numpy() == pytest.approx(
        [1.167255791737, 3.579587695033, 0.003597404531, 0.004337915177, 0.002070174294], **R10)
    strict = calibrated.trim_weights(20, 45, strict=True)
    assert strict.weights.min() >= 20 and strict.weights.max() <= 45 + 1e-9
    table = strict.mean(["api99", "api00", "stype"])
    assert table.estimate.to_numpy() == pytest.approx(
        [628.8769009043, 663.0201724013, 0.7366418318, 0.1012144681, 0.1621437001], **R10)
    assert table.std_error.to_numpy() == pytest.approx(
        [1.169473785527, 3.584247597101, 0.003628500394, 0.004338567264, 0.002082288984], **R10)
    assert [s.method for s in strict.weighting_steps] == ["calibrate", "trim_weights"]


@pytest.mark.parametrize("name, q, expected", [
    # (estimate, ci_low, ci_high, se) from weighting.Rout
    ("enroll", [0.1, 0.5, 0.9], [(266, 118, 320, 47.09093010), (462, 385, 523, 32.17103145),
                                 (954, 696, 1689, 231.49155242)]),
])
def test_quantiles_of_other_variables_match_weighting_rout(dclus1, name, q, expected):
    table = dclus1.quantile(name, q)
    got = table[["estimate", "ci_low", "ci_high", "std_error"]].to_numpy()
    assert got == pytest.approx(np.array(expected, dtype=float), **R10)


def test_quantiles_of_calibrated_stratified_and_domain_designs(dclus1, dstrat, gclus1,
                                                               apiclus1):
    def check(design, expected, **kw):
        got = design.quantile("api00", kw.pop("q", [0.25, 0.5, 0.75]), **kw)
        assert got[["estimate", "ci_low", "ci_high", "std_error"]].to_numpy() == \
            pytest.approx(np.array(expected, dtype=float), **R10)

    check(gclus1, [(595, 561, 627, 15.386145478), (684, 664, 698, 7.926196155),
                   (737, 722, 759, 8.625566404)])
    check(dclus1.post_stratify("stype", TYPES),
          [(552, 487, 628, 32.8704017), (652, 555, 714, 37.0666232), (717, 696, 764, 15.85239231)])
    check(dclus1.rake({"stype": TYPES, "sch.wide": SCH_WIDE}),
          [(552, 487, 628, 32.8704017), (652, 561, 714, 35.6678827), (715, 696, 759, 14.68677523)])
    check(dstrat, [(565, 535, 597, 15.71945113), (668, 642, 694, 13.18405579),
                   (756, 726, 778, 13.18405579)])
    check(dclus1.subset(apiclus1.stype == "E"),
          [(553, 502, 625, 28.67418021), (652, 561, 717, 36.36725295),
           (729, 699, 780, 18.88299672)])
    check(dclus1, [(652, 585, 709, 35.20106922)], q=[0.5], level=0.9)


# --- 4. closed forms ------------------------------------------------------------------------

def test_post_stratified_mean_is_population_weighted_mean_of_stratum_means(dstrat, apipop):
    population = apipop.awards.value_counts()
    post = dstrat.post_stratify("awards", population)
    means = dstrat.by("api00", "awards").set_index("awards").estimate
    expected = (means * population / population.sum()).sum()
    assert first(post.mean("api00")).estimate == pytest.approx(expected, rel=1e-12)


def test_raked_margins_reproduce_targets_and_calibrated_totals_have_se_zero(dclus1, gclus1):
    raked = dclus1.rake({"stype": TYPES, "sch.wide": SCH_WIDE})
    for var, target in [("stype", TYPES), ("sch.wide", SCH_WIDE)]:
        table = raked.total(var)
        assert table.estimate.to_numpy() == pytest.approx(list(target.values()), abs=1e-8)
        assert table.std_error.max() < 1e-6
    api99 = first(gclus1.total("api99"))
    assert api99.estimate == pytest.approx(3914069, rel=1e-12)
    assert api99.std_error < 1e-6
    assert gclus1.weights.sum() == pytest.approx(6194, rel=1e-12)


def test_joint_margins_rake_within_groups(apiclus1):
    # raking within school type: (stype, sch.wide) and (stype, awards) margins
    design = SurveyDesign(apiclus1, weights="pw", psu="dnum", fpc="fpc")
    sw = {("E", "No"): 700, ("E", "Yes"): 3721, ("H", "No"): 250, ("H", "Yes"): 505,
          ("M", "No"): 300, ("M", "Yes"): 718}
    aw = {("E", "No"): 1200, ("E", "Yes"): 3221, ("H", "No"): 455, ("H", "Yes"): 300,
          ("M", "No"): 418, ("M", "Yes"): 600}
    raked = design.rake({("stype", "sch.wide"): sw, ("stype", "awards"): aw})
    data = apiclus1.assign(w=raked.weights)
    got = data.groupby(["stype", "sch.wide"]).w.sum().to_dict()
    assert got == pytest.approx(sw, abs=1e-6)
    got = data.groupby(["stype", "awards"]).w.sum().to_dict()
    assert got == pytest.approx(aw, abs=1e-6)


def test_weighting_design_effect_is_one_plus_cv_squared(dclus1, gclus1):
    w = gclus1.weights
    cv = w.std() / w.mean()                      # population-form SD (divisor n)
    assert gclus1.weighting_deff() == pytest.approx(1 + cv ** 2, rel=1e-12)
    assert gclus1.weighting_steps[-1].weighting_deff == pytest.approx(1 + cv ** 2, rel=1e-12)
    assert dclus1.weighting_deff() == pytest.approx(1.0)   # dclus1's weights are all equal
    assert not dclus1.calibrated and gclus1.calibrated
    assert weighting.weighting_deff(np.array([1.0, 3.0])) == pytest.approx(1.25)


def test_trim_weights_single_pass_shares_the_excess_equally():
    design = SurveyDesign(pd.DataFrame({"w": [1.0, 2.0, 3.0, 10.0, 0.0]}), weights="w")
    trimmed = design.trim_weights(2, 6)
    # 1 -> 2 (+1), 10 -> 6 (-4): net 3 shared between the two inside weights
    assert trimmed.weights.tolist() == pytest.approx([2, 3.5, 4.5, 6, 0])
    assert trimmed.weights.sum() == pytest.approx(16)


# --- 5. refusals ----------------------------------------------------------------------------

def test_post_stratify_refuses_levels_that_do_not_match(dclus1):
    with pytest.raises(ValueError, match=r"in the data but not in the population: stype='M'"):
        dclus1.post_stratify("stype", {"E": 4421, "H": 755})
    with pytest.raises(ValueError, match=r"no sampled row of positive weight: stype='X'"):
        dclus1.post_stratify("stype", dict(TYPES, X=10))
    with pytest.raises(ValueError, match=r"population total 0: stype='H'"):
        dclus1.post_stratify("stype", dict(TYPES, H=0))
    with pytest.raises(ValueError, match=r"stype='E' has total -1"):
        dclus1.post_stratify("stype", dict(TYPES, E=-1))


def test_rake_refuses_margins_that_do_not_add_up_or_disagree(dclus1, apiclus1):
    with pytest.raises(ValueError, match=r"same total.*\['stype'\]: 6194.*\['sch.wide'\]: 6195"):
        dclus1.rake({"stype": TYPES, "sch.wide": {"No": 1073, "Yes": 5122}})
    sw = {("E", "No"): 700, ("E", "Yes"): 3721, ("H", "No"): 250, ("H", "Yes"): 505,
          ("M", "No"): 300, ("M", "Yes"): 718}
    aw = {("E", "No"): 1200, ("E", "Yes"): 3222, ("H", "No"): 455, ("H", "Yes"): 299,
          ("M", "No"): 418, ("M", "Yes"): 600}
    with pytest.raises(ValueError, match=r"disagree in stype='E': 4421 vs 4422.*stype='H'"):
        dclus1.rake({("stype", "sch.wide"): sw, ("stype", "awards"): aw})


def test_rake_refuses_non_convergence_naming_the_worst_cell(dclus1):
    with pytest.raises(ValueError, match=r"did not converge in 1 sweeps.*worst cell is stype="):
        dclus1.rake({"stype": TYPES, "sch.wide": SCH_WIDE}, max_iter=1)


def test_missing_margin_values_are_named(apiclus1):
    data = apiclus1.copy()
    data.loc[[3, 7], "stype"] = np.nan
    design = SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc")
    with pytest.raises(ValueError, match=r"'stype': 2 row\(s\) \(rows 3, 7\)"):
        design.post_stratify("stype", TYPES)
    with pytest.raises(ValueError, match=r"2 row\(s\) of positive weight miss a variable"):
        design.calibrate("~ stype", STYPE_TOTALS)


def test_calibrate_refuses_bad_population_and_bounds(dclus1):
    with pytest.raises(ValueError, match=r"no total for model-matrix column\(s\) \['stype\[T.M\]'\]"):
        dclus1.calibrate("~ stype", {"Intercept": 6194, "stype[T.H]": 755})
    with pytest.raises(ValueError, match=r"the formula does not make: \['stypeX'\]"):
        dclus1.calibrate("~ stype", dict(STYPE_TOTALS, stypeX=3))
    with pytest.raises(ValueError, match=r"2 population total\(s\) for 3"):
        dclus1.calibrate("~ stype", [6194, 755])
    with pytest.raises(ValueError, match="logit"):
        dclus1.calibrate("~ stype", STYPE_TOTALS, calfun="logit")
    with pytest.raises(ValueError, match="calfun must be one of"):
        dclus1.calibrate("~ stype", STYPE_TOTALS, calfun="quadratic")
    with pytest.raises(ValueError, match=r"did not converge in 50 iterations: column 'stype\[T.H\]'"):
        dclus1.calibrate("~ stype + api99", dict(STYPE_TOTALS, api99=3914069),
                         bounds=(0.95, 1.05))


def test_quantile_refuses_bad_probabilities_and_handles_missing(dclus1, apiclus1):
    with pytest.raises(ValueError, match="probabilities"):
        dclus1.quantile("api00", 1.5)
    data = apiclus1.copy()
    data.loc[:9, "api00"] = np.nan
    design = SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc")
    with pytest.raises(ValueError, match="na_rm=True"):
        design.quantile("api00", 0.5)
    table = design.quantile("api00", 0.5, na_rm=True, ci=False)
    assert table.n.iloc[0] == 173 and np.isnan(table.std_error.iloc[0])


# --- 6. simulation: non-response by margin -------------------------------------------------

def test_raking_removes_non_response_bias_in_simulation():
    """Respondents answer with probability a_age * b_sex (young men least); satisfaction
    depends on age and sex. The unweighted share is biased; raking to the age and sex
    margins (the right model for multiplicative response) removes the bias and its 95 %
    interval covers the truth about 95 % of the time, within Monte Carlo error."""
    rng = np.random.default_rng(20240614)
    age_share = np.array([0.3, 0.4, 0.3])
    sex_share = np.array([0.5, 0.5])
    response = np.array([0.2, 0.5, 0.8])[:, None] * np.array([0.6, 1.0])[None, :]
    p_satisfied = np.array([[0.45, 0.55], [0.6, 0.7], [0.75, 0.85]])
    cells = age_share[:, None] * sex_share[None, :]
    truth = float((cells * p_satisfied).sum())
    respondent_cells = (cells * response).ravel() / (cells * response).sum()
    population = 1_000_000
    margins = {"age": dict(enumerate(age_share * population)),
               "sex": dict(enumerate(sex_share * population))}
    n, replicates = 1200, 300
    unweighted, raked, covered = [], [], 0
    start = time.perf_counter()
    for _ in range(replicates):
        cell = rng.choice(6, n, p=respondent_cells)
        age, sex = cell // 2, cell % 2
        y = (rng.random(n) < p_satisfied[age, sex]).astype(float)
        frame = pd.DataFrame({"age": age, "sex": sex, "y": y})
        unweighted.append(y.mean())
        row = first(SurveyDesign(frame).rake(margins).mean("y"))
        raked.append(row.estimate)
        covered += row.ci_low <= truth <= row.ci_high
    assert time.perf_counter() - start < 20
    unweighted, raked = np.array(unweighted), np.array(raked)
    mc_se_unweighted = unweighted.std(ddof=1) / np.sqrt(replicates)
    mc_se_raked = raked.std(ddof=1) / np.sqrt(replicates)
    assert unweighted.mean() - truth > 10 * mc_se_unweighted      # biased (+6.6 points)
    assert abs(raked.mean() - truth) < 3 * mc_se_raked               # unbiased
    coverage, mc_se_coverage = covered / replicates, np.sqrt(0.95 * 0.05 / replicates)
    assert abs(coverage - 0.95) < 3 * mc_se_coverage


def test_weighting_docstring_examples_run():
    import doctest
    from sipas_analysis import design as design_module
    for module in (weighting, design_module):
        assert doctest.testmod(module, optionflags=doctest.ELLIPSIS
                               | doctest.NORMALIZE_WHITESPACE).failed == 0


def test_sipas_index_of_a_raked_design_keeps_the_raking_residuals():
    """sipas_index by province equals the ratio estimator on the raked design's domain, so
    its shortcut of rebuilding per-province designs does not drop the calibration."""
    import warnings
    import sipas_analysis as sa
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sample, _ = sa.simulate_survey(n=4000, seed=3, years=[2024])
    sample = sample.assign(sat=(sample.staff_polite >= 4).astype(float),
                           ans=sample.staff_polite.notna().astype(float))
    design = SurveyDesign(sample, weights="weight", strata="stratum", psu="psu",
                          lonely_psu="remove")
    total = design.weights.sum()
    urban = sample.groupby("urban").weight.sum()
    margins = {"sex": dict(zip(sorted(sample.sex.unique()), [0.52 * total, 0.48 * total])),
               "urban": (urban / urban.sum() * total).to_dict()}
    raked = design.rake(margins)
    index = sa.sipas_index(raked, by="province_code")
    row = index[index.term == "staff_polite"].iloc[0]
    domain = raked.subset((sample.province_code == row.province_code).to_numpy())
    reference = first(domain.ratio("sat", "ans"))
    assert row.estimate == pytest.approx(100 * reference.estimate, rel=1e-10)
    assert row.std_error == pytest.approx(100 * reference.std_error, rel=1e-8)
