"""Replicate-weight designs: ``SurveyDesign.as_replicate`` and ``ReplicateDesign``.

References, each independent of the code under test:
- tests/data/survey_api/r/replicates.Rout: the printed output (ten significant digits) of the
  committed script replicates.R beside it (R 4.2.2, survey 4.1.1 from Debian; not run in
  CI): ``as.svrepdesign`` JK1 of apiclus1 (survey's own examples: ``jk1``, ``rclus1``
  post-stratified (``rclus1p``), raked and calibrated), JKn of apistrat, BRR and Fay on a
  2-PSU-per-stratum design built from apistrat (its strata in brr_strata.csv) and
  ``svrepdesign`` on JK1 replicate weights written to apiclus1_jk1.csv;
- tests/data/survey_api/r/replicate_models.Rout (script replicate_models.R, same R): ``svyolr``
  refitted in every replicate of the JK1 design of apiclus1 (the example of ``?svyolr``);
- brute force: the SIPAS index recomputed with every replicate's weights as an ordinary
  design, and R's ``svrVar`` formula applied by hand (also for index comparisons and the
  covariance behind rank sets);
- the bootstrap (random) in distribution: its variance of a total against the linearised
  one within Monte Carlo error.
Tolerance: 1e-8 relative (R printed ten significant digits); 1e-4 for ``svyolr``, whose
``polr`` fits stop at a relative deviance change of 1e-8.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sipas_analysis as sa
from sipas_analysis.design import ReplicateDesign, SurveyDesign
from sipas_analysis.indices import sipas_index

DATA = Path(__file__).parent / "data" / "survey_api"
ROUT = DATA / "r" / "replicates.Rout"
TYPES = {"E": 4421, "H": 755, "M": 1018}
SCH_WIDE = {"No": 1072, "Yes": 5122}
R10 = {"rel": 1e-8}


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv", dtype={"cds": str})


def r_blocks() -> dict:
    """label -> {term: (estimate, SE)} from the ``est`` blocks of replicates.Rout."""
    out = {}
    for block in ROUT.read_text().split("### ")[1:]:
        label, _, body = block.partition("\n")
        rows = {}
        for line in body.splitlines()[1:]:
            parts = line.split()
            if len(parts) == 3:
                try:
                    rows[parts[0]] = (float(parts[1]), float(parts[2]))
                except ValueError:
                    pass
        out[label.strip()] = rows
    return out


R = r_blocks()


def check(table: pd.DataFrame, label: str, terms=None, tolerance=R10) -> None:
    expected = R[label]
    names = list(expected) if terms is None else terms
    assert len(table) == len(names)
    for (_, row), name in zip(table.iterrows(), names):
        estimate, se = expected[name]
        assert row["estimate"] == pytest.approx(estimate, **tolerance), (label, name)
        assert row["std_error"] == pytest.approx(se, **tolerance), (label, name)


@pytest.fixture(scope="module")
def apiclus1():
    return load("apiclus1")


@pytest.fixture(scope="module")
def jk1(apiclus1):
    return SurveyDesign(apiclus1, weights="pw", psu="dnum", fpc="fpc").as_replicate("JK1")


@pytest.fixture(scope="module")
def apistrat():
    return load("apistrat")


@pytest.fixture(scope="module")
def paired(apistrat):
    """apistrat in R's order (stype, snum) with the 7 strata of 2 PSUs of replicates.R."""
    strata = pd.read_csv(DATA / "r" / "brr_strata.csv")
    data = apistrat.sort_values(["stype", "snum"]).reset_index(drop=True)
    return data.merge(strata, on="snum", validate="one_to_one")


# --- JK1 -------------------------------------------------------------------------------------

def test_jk1_of_apiclus1_matches_r(jk1, apiclus1):
    assert jk1.n_reps == 15 and jk1.df == 14
    assert jk1.scale == pytest.approx(0.9148392779, **R10)
    check(jk1.mean("api00"), "jk1 svymean api00")
    check(jk1.total("enroll"), "jk1 svytotal enroll")
    check(jk1.mean("stype"), "jk1 svymean stype")
    check(jk1.ratio("api.stu", "enroll"), "jk1 svyratio api.stu enroll")
    check(jk1.by("api00", "stype"), "jk1 svyby api00 stype")
    check(jk1.subset(apiclus1["sch.wide"] == "Yes").mean("api00"),
          "jk1 subset sch.wide Yes svymean api00")


def test_jk1_mse_and_without_fpc(apiclus1):
    design = SurveyDesign(apiclus1, weights="pw", psu="dnum", fpc="fpc")
    check(design.as_replicate("JK1", mse=True).mean("api00"), "jk1 mse svymean api00")
    plain = SurveyDesign(apiclus1, weights="pw", psu="dnum").as_replicate("JK1")
    check(plain.mean("api00"), "jk1 nofpc svymean api00")
    check(plain.total("enroll"), "jk1 nofpc svytotal enroll")


def test_jk1_quantiles_match_r(jk1):
    # replicates.Rout: quantile 552 652 719, ci (482, 629) (552, 720) (691, 781),
    # se 34.26914220 39.16473394 20.98110747
    q = jk1.quantile("api00", [0.25, 0.5, 0.75])
    assert q["estimate"].tolist() == [552, 652, 719]
    assert q["ci_low"].tolist() == [482, 552, 691]
    assert q["ci_high"].tolist() == [629, 720, 781]
    assert q["std_error"].to_numpy() == pytest.approx([34.26914220, 39.16473394, 20.98110747],
                                                      rel=1e-8)
    assert (q["df"] == 14).all()


# --- calibration redone in every replicate ---------------------------------------------------

def test_post_stratified_jk1_matches_rclus1p(jk1):
    design = jk1.post_stratify("stype", TYPES)
    assert isinstance(design, ReplicateDesign) and design.calibrated
    check(design.mean("api00"), "rclus1p svymean api00")
    check(design.total("enroll"), "rclus1p svytotal enroll")
    check(design.by("api00", "stype"), "rclus1p svyby api00 stype")
    # every replicate reproduces the population counts
    reps = design.replicate_weights()
    stype = jk1.data["stype"].to_numpy()
    for level, count in TYPES.items():
        assert reps[stype == level].sum(axis=0) == pytest.approx(np.full(15, count), rel=1e-12)


def test_raked_jk1_matches_r(jk1):
    margins = {"stype": TYPES, "sch.wide": SCH_WIDE}
    r_default = jk1.rake(margins, epsilon=1, max_iter=10)      # R's default control
    check(r_default.mean("api00"), "rclus1r svymean api00")
    check(r_default.total("enroll"), "rclus1r svytotal enroll")
    converged = jk1.rake(margins)
    check(converged.mean("api00"), "rclus1r converged svymean api00")
    check(converged.total("enroll"), "rclus1r converged svytotal enroll")


def test_calibrated_jk1_matches_r(jk1):
    g = jk1.calibrate("~ api99", [6194, 3914069])
    check(g.mean("api00"), "rclus1g svymean api00")
    check(g.total("enroll"), "rclus1g svytotal enroll")
    g3 = jk1.calibrate("~ stype + api99", [6194, 755, 1018, 3914069])
    check(g3.mean("api00"), "rclus1g3 svymean api00")
    # calibration totals hold in every replicate: their replicate SE is 0
    assert g.total("api99")["std_error"].iloc[0] == pytest.approx(0.0, abs=1e-6)


def test_trimmed_replicates_are_trimmed(jk1):
    trimmed = jk1.trim_weights(upper=60)
    reps = trimmed.replicate_weights()
    assert trimmed.weights.max() <= 60 + 1e-9
    assert reps.sum(axis=0) == pytest.approx(jk1.replicate_weights().sum(axis=0), rel=1e-12)


# --- JKn, BRR, Fay ---------------------------------------------------------------------------

def test_jkn_of_apistrat_matches_r(apistrat):
    design = SurveyDesign(apistrat, weights="pw", strata="stype", fpc="fpc").as_replicate("JKn")
    assert design.n_reps == 200 and design.df == 197
    check(design.mean("api00"), "jkn svymean api00")
    check(design.total("enroll"), "jkn svytotal enroll")
    check(design.ratio("api.stu", "enroll"), "jkn svyratio api.stu enroll")
    check(design.by("api00", "sch.wide"), "jkn svyby api00 sch.wide")
    plain = SurveyDesign(apistrat, weights="pw", strata="stype").as_replicate("JKn")
    check(plain.mean("api00"), "jkn nofpc svymean api00")


def test_brr_and_fay_match_r(paired):
    design = SurveyDesign(paired, weights="pw", strata="st", psu="psu")
    brr = design.as_replicate("BRR")
    assert brr.n_reps == 8 and brr.scale == pytest.approx(1 / 8)
    check(brr.mean("api00"), "brr svymean api00")
    check(brr.total("enroll"), "brr svytotal enroll")
    check(brr.ratio("api.stu", "enroll"), "brr svyratio api.stu enroll")
    fay = design.as_replicate("Fay", fay_rho=0.3)
    check(fay.mean("api00"), "fay svymean api00")
    check(fay.total("enroll"), "fay svytotal enroll")
    # a total's BRR variance with full orthogonal balance is the linearised one exactly
    assert brr.total("enroll")["std_error"].iloc[0] == pytest.approx(
        design.total("enroll")["std_error"].iloc[0], rel=1e-10)


def test_brr_refuses_strata_without_two_psus(apistrat):
    design = SurveyDesign(apistrat, weights="pw", strata="stype")
    with pytest.raises(ValueError, match=r"exactly 2 PSUs.*3 stratum/strata of 'stype'.*E"):
        design.as_replicate("BRR")


# --- replicate weights delivered in a file ---------------------------------------------------

def test_replicate_weights_from_a_file_match_r(jk1):
    frame = pd.read_csv(DATA / "r" / "apiclus1_jk1.csv", dtype={"cds": str})
    design = ReplicateDesign(frame, repweights="repw[0-9]+", weights="pw", method="JK1",
                             scale=jk1.scale)
    assert design.n_reps == 15 and design.df == 14
    check(design.mean("api00"), "file jk1 svymean api00")
    listed = ReplicateDesign(frame, repweights=[f"repw{i}" for i in range(1, 16)],
                             weights="pw", method="JK1", scale=jk1.scale)
    assert listed.mean("api00").equals(design.mean("api00"))
    # factors instead of combined weights give the same design
    factors = frame.copy()
    for i in range(1, 16):
        factors[f"repw{i}"] = frame[f"repw{i}"] / frame["pw"]
    as_factors = ReplicateDesign(factors, repweights="repw", weights="pw", method="JK1",
                                 scale=jk1.scale, combined_weights=False)
    assert as_factors.mean("api00")["std_error"].iloc[0] == pytest.approx(
        design.mean("api00")["std_error"].iloc[0], rel=1e-12)


def test_default_scales_follow_r():
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "w": 1.0,
                          "r1": [2.0, 0, 2, 0], "r2": [0, 2.0, 0, 2]})
    scales = {m: ReplicateDesign(frame, repweights="r", weights="w", method=m).scale
              for m in ("JK1", "BRR", "bootstrap", "other")}
    assert scales == {"JK1": 0.5, "BRR": 0.5, "bootstrap": 1.0, "other": 1.0}
    fay = ReplicateDesign(frame, repweights="r", weights="w", method="Fay", fay_rho=0.5)
    assert fay.scale == pytest.approx(2.0)


def test_bad_replicate_weights_are_named():
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0], "w": 1.0, "rep1": [1.0, -1.0, 1.0],
                          "rep2": [1.0, np.nan, 1.0], "rep3": ["a", "b", "c"]})
    with pytest.raises(ValueError, match=r"'rep1' has 1 .*rows 1.*'rep2' has 1.*'rep3' is not"):
        ReplicateDesign(frame, repweights="rep", weights="w")
    with pytest.raises(ValueError, match="no column of the data matches repweights='xyz'"):
        ReplicateDesign(frame, repweights="xyz", weights="w")
    with pytest.raises(ValueError, match="JKn' needs rscales"):
        ReplicateDesign(frame.drop(columns=["rep3"]).assign(rep1=1.0, rep2=1.0),
                        repweights="rep", method="JKn")


def test_as_replicate_refusals(apiclus1, apistrat):
    clustered = SurveyDesign(apiclus1, weights="pw", psu="dnum")
    stratified = SurveyDesign(apistrat, weights="pw", strata="stype")
    with pytest.raises(ValueError, match="JK1 is for unstratified"):
        stratified.as_replicate("JK1")
    with pytest.raises(ValueError, match="JKn is for stratified"):
        clustered.as_replicate("JKn")
    with pytest.raises(ValueError, match="n_reps applies to method='bootstrap' only"):
        clustered.as_replicate("JK1", n_reps=10)
    with pytest.raises(ValueError, match="method must be"):
        clustered.as_replicate("jackknife")
    with pytest.raises(ValueError, match="calibrated"):
        clustered.post_stratify("stype", TYPES).as_replicate("JK1")
    with pytest.raises(ValueError, match="seed"):
        clustered.as_replicate("bootstrap")
    lonely = apistrat[(apistrat["stype"] != "E") | (apistrat.index == apistrat.index[
        apistrat["stype"] == "E"][0])]
    with pytest.raises(ValueError, match="lonely_psu='fail'.*'stype'.*E"):
        SurveyDesign(lonely, weights="pw", strata="stype").as_replicate("JKn")
    removed = SurveyDesign(lonely, weights="pw", strata="stype", lonely_psu="remove")
    assert removed.as_replicate("JKn").n_reps == len(lonely) - 1


# --- the bootstrap, in distribution ----------------------------------------------------------

def test_bootstrap_variance_of_a_total_matches_linearisation(apistrat):
    design = SurveyDesign(apistrat, weights="pw", strata="stype")
    boot = design.as_replicate("bootstrap", n_reps=4000, seed=11)
    assert boot.n_reps == 4000 and boot.scale == pytest.approx(1 / 3999)
    linear = design.total("enroll")["std_error"].iloc[0] ** 2
    replicate = boot.total("enroll")["std_error"].iloc[0] ** 2
    # the variance of a variance estimate from R replicates is about 2 V² / R
    assert abs(replicate - linear) < 4 * np.sqrt(2 / 4000) * linear
    same = design.as_replicate("bootstrap", n_reps=4000, seed=11)
    assert np.array_equal(same.replicate_weights(), boot.replicate_weights())


# --- the SIPAS indices -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_survey():
    survey, _ = sa.simulate_survey(n=3000, seed=5)
    data = survey.head(360).reset_index(drop=True)
    data["unit_id"] = np.arange(len(data)) // 30            # 12 units of 30 respondents
    data["weight"] = np.random.default_rng(4).uniform(0.5, 2.0, len(data))
    return data


def brute_force_se(data, design: ReplicateDesign, by) -> np.ndarray:
    reps = design.replicate_weights()
    estimates = []
    for r in range(design.n_reps):
        one = SurveyDesign(data.assign(weight=reps[:, r]), weights="weight")
        estimates.append(sipas_index(one, by=by, ci_method=None)["estimate"].to_numpy())
    estimates = np.array(estimates)
    centre = estimates.mean(axis=0) if not design.mse else \
        sipas_index(SurveyDesign(data, weights="weight"), by=by)["estimate"].to_numpy()
    return np.sqrt(design.scale * (design.rscales[:, None] * (estimates - centre) ** 2).sum(0))


@pytest.mark.parametrize("mse", [False, True])
def test_sipas_index_on_jk1_is_the_replicate_variance_of_the_index(small_survey, mse):
    design = SurveyDesign(small_survey, weights="weight", psu="unit_id").as_replicate(
        "JK1", mse=mse)
    for by in (None, "sex"):
        table = sipas_index(design, by=by)
        full = sipas_index(SurveyDesign(small_survey, weights="weight", psu="unit_id"), by=by)
        assert np.allclose(table["estimate"], full["estimate"], rtol=1e-13)
        assert np.allclose(table["std_error"], brute_force_se(small_survey, design, by),
                           rtol=1e-9)
        assert (table["df"] == 11).all()
        # close to the linearised SE (the jackknife of a smooth statistic)
        assert np.allclose(table["std_error"], full["std_error"], rtol=0.15)


def test_sipas_index_on_a_bootstrap_design(small_survey):
    design = SurveyDesign(small_survey, weights="weight", psu="unit_id").as_replicate(
        "bootstrap", n_reps=40, seed=3)
    table = sipas_index(design, by="sex")
    assert np.allclose(table["std_error"], brute_force_se(small_survey, design, "sex"),
                       rtol=1e-9)


def test_linearised_tools_accept_a_replicate_design(small_survey):
    design = SurveyDesign(small_survey, weights="weight", psu="unit_id").as_replicate("JK1")
    estimates, vcov = sa.indices.sipas_index_vcov(design, by="sex")
    table = sipas_index(design, by="sex")
    overall = table[table["term"] == "overall"]["std_error"].to_numpy()
    # the indices recomputed in every replicate, as sipas_index's own SEs
    assert np.allclose(np.sqrt(np.diag(vcov)), overall, rtol=1e-10)
    # for a linear total both are the same
    z = design.weights * small_survey["weight"].to_numpy()
    total = design.total("weight")
    assert design.vcov_totals(z)[0, 0] == pytest.approx(total["std_error"].iloc[0] ** 2,
                                                        rel=1e-12)
    assert design.satterthwaite_df(z).tolist() == [11.0]


def test_jk1_of_a_provinces_own_survey_is_fast():
    survey, _ = sa.simulate_survey(n=6000, seed=7)
    survey = survey.reset_index(drop=True)
    survey["unit_id"] = np.arange(len(survey)) % 30
    start = time.perf_counter()
    design = SurveyDesign(survey, weights="weight", psu="unit_id").as_replicate("JK1")
    sipas_index(design)
    assert time.perf_counter() - start < 2.0


# --- models ----------------------------------------------------------------------------------

def test_models_on_jk1_are_refitted_in_every_replicate(apiclus1, jk1):
    data = apiclus1.assign(hi=(apiclus1["api00"] > 650).astype(int))
    design = SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc").as_replicate("JK1")
    linear = sa.fit_linear("api00 ~ ell + meals", design)
    check(pd.DataFrame({"estimate": linear.params.to_numpy(),
                        "std_error": np.sqrt(np.diag(linear.vcov))}),
          "jk1 svyglm api00 ell meals", ["(Intercept)", "ell", "meals"])
    logit = sa.fit_logit("hi ~ ell + meals", design)
    check(pd.DataFrame({"estimate": logit.params.to_numpy(),
                        "std_error": np.sqrt(np.diag(logit.vcov))}),
          "jk1 svyglm logit hi ell meals", ["(Intercept)", "ell", "meals"],
          # R's glm stops each replicate's fit at a relative deviance change of 1e-8
          tolerance={"rel": 1e-6})
    # the linearised fit of the same design is different (R's svyglm on dclus1)
    plain = sa.fit_linear("api00 ~ ell + meals", SurveyDesign(data, weights="pw", psu="dnum",
                                                               fpc="fpc"))
    assert np.sqrt(np.asarray(plain.vcov)[0, 0]) == pytest.approx(18.6708926927, rel=1e-8)


def test_sipas_index_on_a_post_stratified_replicate_design(small_survey):
    design = SurveyDesign(small_survey, weights="weight", psu="unit_id").as_replicate("JK1")
    calibrated = design.post_stratify("sex", {"male": 480.0, "female": 520.0})
    reps = calibrated.replicate_weights()
    sex = small_survey["sex"].to_numpy()
    assert reps[sex == "female"].sum(axis=0) == pytest.approx(np.full(12, 520.0), rel=1e-12)
    table = sipas_index(calibrated)
    brute = brute_force_se(small_survey.assign(weight=calibrated.weights), calibrated, None)
    assert np.allclose(table["std_error"], brute, rtol=1e-9)


def test_linearised_designs_answer_vcov_estimating_with_vcov_totals(apiclus1):
    design = SurveyDesign(apiclus1, weights="pw", psu="dnum", fpc="fpc")
    z = design.weights[:, None] * apiclus1[["api00", "enroll"]].to_numpy(dtype=float)
    assert np.array_equal(design.vcov_estimating(z, np.ones(len(z))), design.vcov_totals(z))


def test_quantiles_of_a_post_stratified_jk1_design_match_r(jk1):
    # replicates.Rout (rclus1p svyquantile): 552 652 717, ci (478, 631) (551, 722) (689, 781),
    # se 35.66788270 39.86410419 21.44735430
    q = jk1.post_stratify("stype", TYPES).quantile("api00", [0.25, 0.5, 0.75])
    assert q["estimate"].tolist() == [552, 652, 717]
    assert q["ci_low"].tolist() == [478, 551, 689]
    assert q["ci_high"].tolist() == [631, 722, 781]
    assert q["std_error"].to_numpy() == pytest.approx([35.66788270, 39.86410419, 21.44735430],
                                                      rel=1e-8)


# --- the ordinal model and the index comparisons, recomputed in every replicate ------------

MODELS_ROUT = DATA / "r" / "replicate_models.Rout"


def test_ordinal_model_on_jk1_is_refitted_in_every_replicate_as_r_svyolr(apiclus1):
    # replicate_models.Rout: svyolr(mealcat ~ avg.ed + mobility + stype, rclus1), the example
    # of ?svyolr on the JK1 design of apiclus1; R's polr stops each replicate's BFGS at a
    # relative change of 1e-8 in the deviance, so its coefficients carry about 5 digits
    expected = {}
    block = MODELS_ROUT.read_text().split("### jk1 svyolr")[1].split("###")[0]
    for line in block.splitlines()[2:]:
        name, estimate, se = line.split()
        expected[name] = (float(estimate), float(se))
    data = apiclus1.rename(columns={"avg.ed": "avg_ed"})
    data["mealcat"] = pd.cut(data["meals"], [0, 25, 50, 75, 100]).cat.as_ordered()
    design = SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc").as_replicate("JK1")
    fit = sa.fit_ordinal("mealcat ~ avg_ed + mobility + stype", design)
    ours = dict(zip(["stypeH", "stypeM", "avg.ed", "mobility", "(0,25]|(25,50]",
                     "(25,50]|(50,75]", "(50,75]|(75,100]"],
                    zip(fit.params.to_numpy(), np.sqrt(np.diag(fit.vcov)))))
    assert set(ours) == set(expected)
    for name, (estimate, se) in expected.items():
        assert ours[name][0] == pytest.approx(estimate, rel=1e-4), name
        assert ours[name][1] == pytest.approx(se, rel=1e-4), name
    assert fit.n == 157          # R drops the 26 rows missing mealcat or a predictor, too
    # not the linearised sandwich (svyolr on dclus1: SE of avg.ed 1.134224336)
    assert np.sqrt(fit.vcov.loc["avg_ed", "avg_ed"]) > 1.4


def test_ordinal_replicate_fits_at_once_equal_the_fits_one_at_a_time(small_survey,
                                                                     monkeypatch):
    from sipas_analysis.models import regression
    data = small_survey.dropna(subset=["overall_satisfaction", "staff_score"])
    design = SurveyDesign(data.reset_index(drop=True), weights="weight",
                          psu="unit_id").as_replicate("bootstrap", n_reps=30, seed=2)
    formula = "overall_satisfaction ~ staff_score + access_score"
    together = sa.fit_ordinal(formula, design)
    # every replicate handed back unfitted: each is refitted alone
    monkeypatch.setattr(regression, "_newton_replicates",
                        lambda X, y, J1, link, weights, start: np.full(
                            (weights.shape[1], start.size), np.nan))
    alone = sa.fit_ordinal(formula, design)
    assert np.allclose(together.vcov, alone.vcov, rtol=1e-9, atol=0)


def replicate_indices(data, design, by) -> np.ndarray:
    """(n_reps, cells) the SIPAS indices recomputed as ordinary designs with each replicate's
    weights (the hand replicate computation)."""
    reps = design.replicate_weights()
    return np.array([sipas_index(SurveyDesign(data.assign(weight=reps[:, r]), weights="weight"),
                                 by=by, ci_method=None)["estimate"].to_numpy()
                     for r in range(design.n_reps)])


def svrvar(design, deviation) -> np.ndarray:
    """R's svrVar by hand: scale * sum_r rscales_r (x_r - mean)(x_r - mean)'."""
    centred = deviation - deviation.mean(axis=0)
    return design.scale * (centred * design.rscales[:, None]).T @ centred


def test_index_comparison_on_jk1_is_the_replicate_variance_of_the_difference(small_survey):
    design = SurveyDesign(small_survey, weights="weight", psu="unit_id").as_replicate("JK1")
    table = sipas_index(SurveyDesign(small_survey, weights="weight"), by="sex", ci_method=None)
    reps = replicate_indices(small_survey, design, "sex")
    terms = ["overall", "staff"]
    compared = sa.compare_indices(design, between="sex", values=("male", "female"), term=terms,
                                  simultaneous=True, n_draws=20_000, seed=5)
    differences = []
    for term in terms:
        female = np.flatnonzero((table["sex"] == "female") & (table["term"] == term))[0]
        male = np.flatnonzero((table["sex"] == "male") & (table["term"] == term))[0]
        difference = reps[:, female] - reps[:, male]
        row = compared[compared["term"] == term].iloc[0]
        assert row["std_error"] == pytest.approx(np.sqrt(svrvar(design, difference[:, None])
                                                         [0, 0]), rel=1e-9)
        assert row["df"] == 11
        differences.append(difference)
    # the max-|t| adjustment of the two terms from their hand replicate covariance
    from sipas_analysis.multiple_comparisons import simultaneous_p_values
    by_hand = simultaneous_p_values(compared["statistic"].to_numpy(),
                                    svrvar(design, np.column_stack(differences)), df=11.0,
                                    n_draws=20_000, seed=np.random.default_rng(5))
    assert np.allclose(compared["p_simultaneous"], by_hand, rtol=1e-12)
    # each level against the whole: the replicate variance of (level - all)
    whole = replicate_indices(small_survey, design, None)[:, -1]     # the overall term
    against = sa.compare_indices(design, between="sex", reference="all")
    female = np.flatnonzero((table["sex"] == "female") & (table["term"] == "overall"))[0]
    row = against[against["group"] == "female"].iloc[0]
    assert row["std_error"] == pytest.approx(
        np.sqrt(svrvar(design, (reps[:, female] - whole)[:, None])[0, 0]), rel=1e-9)


def test_rank_inputs_on_jk1_are_the_replicate_covariance_of_the_units(small_survey):
    data = small_survey.assign(area=np.where(small_survey["unit_id"] % 3 == 0, "a",
                                             np.where(small_survey["unit_id"] % 3 == 1, "b",
                                                      "c")))
    # areas cut across the PSUs' respondents by sex too: estimates of "area" share PSUs
    data["area"] = data["area"] + "_" + data["sex"].astype(str)
    design = SurveyDesign(data, weights="weight", psu="unit_id").as_replicate("JK1")
    estimates, vcov = sa.indices.sipas_index_vcov(design, by="area")
    table = sipas_index(SurveyDesign(data, weights="weight"), by="area", ci_method=None)
    overall = np.flatnonzero(table["term"] == "overall")
    reps = replicate_indices(data, design, "area")[:, overall]
    assert list(estimates["area"]) == list(table["area"].iloc[overall])
    assert np.allclose(vcov, svrvar(design, reps), rtol=1e-9, atol=1e-12)
    index = sipas_index(design, by="area")
    units = index[index["term"] == "overall"]
    assert np.allclose(np.sqrt(np.diag(vcov)), units["std_error"], rtol=1e-9)
    by_design = sa.indices.rank_units(units, unit="area", design=design, seed=3)
    by_hand = sa.indices.rank_units(units, unit="area", vcov=svrvar(design, reps), seed=3)
    assert by_design[["rank_low", "rank_high"]].equals(by_hand[["rank_low", "rank_high"]])


def test_relative_importance_on_a_bootstrap_design_uses_its_replicates(small_survey):
    data = small_survey.dropna(subset=["overall_satisfaction", "staff_score",
                                       "access_score"]).reset_index(drop=True)
    formula = "overall_satisfaction ~ staff_score + access_score"
    design = SurveyDesign(data, weights="weight", psu="unit_id").as_replicate(
        "bootstrap", n_reps=40, seed=8)
    result = sa.relative_importance(formula, design, n_reps=40)
    # by hand: the LMG of every replicate's weights, then the percentiles
    reps = design.replicate_weights()
    lmg = np.array([sa.relative_importance(formula, data.assign(weight=reps[:, r]),
                                           freq_weights="weight").table["lmg"].to_numpy()
                    for r in range(40)])
    assert np.allclose(result.table["ci_low"], np.quantile(lmg, 0.025, axis=0), rtol=1e-9)
    assert np.allclose(result.table["ci_high"], np.quantile(lmg, 0.975, axis=0), rtol=1e-9)
    jackknife = SurveyDesign(data, weights="weight", psu="unit_id").as_replicate("JK1")
    with pytest.raises(ValueError, match="must be a bootstrap"):
        sa.relative_importance(formula, jackknife, n_reps=12)
    assert sa.relative_importance(formula, jackknife).table["lmg"].notna().all()
