"""Driver models against published R output, closed forms and independent implementations."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.miscmodels.ordinal_model import OrderedModel

from sipas_analysis.design import SurveyDesign
from sipas_analysis.models import regression as reg
from sipas_analysis.models.results import glance, tidy

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def ucla():
    frame = pd.read_csv(DATA / "models" / "ologit_ucla.csv")
    frame["apply"] = pd.Categorical(frame["apply"], ordered=True,
                                    categories=["unlikely", "somewhat likely", "very likely"])
    return frame


@pytest.fixture(scope="module")
def dclus1():
    api = pd.read_csv(DATA / "survey_api" / "apiclus1.csv", dtype={"cds": str})
    return SurveyDesign(api, weights="pw", psu="dnum", fpc="fpc")


# --- R MASS::polr on the UCLA data (statsmodels' results_ordinal_model.py; polr stops early,
# so coefficients agree to about 2e-4, and its SEs are printed to 4 decimals) ----------------
@pytest.mark.parametrize("link, coef, se, cuts", [
    ("logit", [1.04769011, -0.05878572, 0.61594057], [0.2658, 0.2979, 0.2606], [2.203915, 4.299363]),
    ("probit", [0.59811, 0.01016, 0.35815], [0.1579, 0.1728, 0.1568], [1.2968, 2.5028]),
])
def test_ordinal_matches_r_polr(ucla, link, coef, se, cuts):
    result = reg.fit_ordinal("apply ~ pared + public + gpa", ucla, link=link)
    table = tidy(result)
    slopes = table[table["kind"] == "coefficient"]
    np.testing.assert_allclose(slopes["estimate"], coef, atol=2e-4)
    np.testing.assert_allclose(slopes["std_error"], se, atol=2e-4)
    thresholds = table[table["kind"] == "cut_point"]
    assert list(thresholds["term"]) == ["unlikely|somewhat likely", "somewhat likely|very likely"]
    # polr stops at optim's relative tolerance, so its cut-points sit ~6e-4 from the maximum
    # (statsmodels' own tests allow 4e-4 absolute); relative 3e-4 holds both links
    np.testing.assert_allclose(thresholds["estimate"], cuts, rtol=3e-4)
    assert result.df is None  # model-based: normal reference, as polr


def test_ordinal_predicted_probabilities_match_r(ucla):
    """R's predict(polr, type="prob") for the first 7 rows (results_ordinal_model.py)."""
    r_prob = np.array([[0.5488310, 0.3593310, 0.09183798], [0.3055632, 0.4759496, 0.21848725],
                       [0.2293835, 0.4781951, 0.29242138], [0.6161224, 0.3126888, 0.07118879],
                       [0.6560149, 0.2833901, 0.06059505], [0.6609240, 0.2797117, 0.05936431],
                       [0.6518332, 0.2865114, 0.06165547]])
    params = reg.fit_ordinal("apply ~ pared + public + gpa", ucla).params.to_numpy()
    eta = ucla[["pared", "public", "gpa"]].to_numpy()[:7] @ params[:3]
    below = 1 / (1 + np.exp(-(params[3:][None, :] - eta[:, None])))
    prob = np.diff(np.column_stack([np.zeros(7), below, np.ones(7)]), axis=1)
    np.testing.assert_allclose(prob, r_prob, atol=5e-5)


def test_ordinal_equals_statsmodels_ordered_model_at_convergence(ucla):
    """statsmodels' OrderedModel is an independent implementation (increments parametrisation)."""
    ours = reg.fit_ordinal("apply ~ pared + public + gpa", ucla)
    theirs = OrderedModel(ucla["apply"], ucla[["pared", "public", "gpa"]], distr="logit").fit(
        method="bfgs", disp=False, maxiter=5000, gtol=1e-10)
    increments = theirs.params.to_numpy()[3:]
    cuts = np.cumsum(np.r_[increments[0], np.exp(increments[1:])])
    np.testing.assert_allclose(ours.params.to_numpy(), np.r_[theirs.params.to_numpy()[:3], cuts],
                               atol=1e-5)
    np.testing.assert_allclose(glance(ours)["loglik"].iloc[0], theirs.llf, rtol=1e-9)


# --- R survey::svyglm on apiclus1 (survey 4.5 vignette, numbers in shared SOURCES.md) --------
def test_svyglm_gaussian_matches_r(dclus1):
    table = tidy(reg.fit_linear("api00 ~ ell + meals", dclus1)).set_index("term")
    np.testing.assert_allclose(table["estimate"], [817.1823, -0.5088, -3.1456], atol=5e-5)
    np.testing.assert_allclose(table["std_error"], [18.6709, 0.3259, 0.3018], atol=5e-5)


def test_svyglm_gaussian_dispersion_and_df(dclus1):
    result = reg.fit_linear("api00 ~ ell + meals", dclus1)
    # design df = 15 PSUs − 1 stratum = 14; t tests on 14 − (3 − 1) = 12 df (summary.svyglm)
    assert result.df == 12
    assert glance(result)["design_df"].iloc[0] == 14
    np.testing.assert_allclose(glance(result)["dispersion"].iloc[0], 3161.207, atol=5e-4)


def test_svyglm_quasibinomial_matches_r(dclus1):
    result = reg.fit_logit('I(sch_wide == "Yes") ~ ell + meals',
                           SurveyDesign(dclus1.data.rename(columns={"sch.wide": "sch_wide"}),
                                        weights="pw", psu="dnum", fpc="fpc"))
    table = tidy(result)
    np.testing.assert_allclose(table["estimate"], [1.899557, 0.039925, -0.019115], atol=5e-7)
    np.testing.assert_allclose(table["std_error"], [0.509915, 0.012443, 0.008825], atol=5e-7)


# --- Frequency weights equal the fit on the expanded data ------------------------------------
@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(3)
    n = 300
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.integers(0, 2, n).astype(float),
                          "count": rng.integers(1, 4, n).astype(float)})
    latent = 0.8 * frame.x1 - 0.5 * frame.x2 + rng.logistic(size=n)
    frame["y"] = np.digitize(latent, [-1.5, -0.3, 0.7, 2.0]).astype(float) + 1
    frame["good"] = (frame["y"] >= 4).astype(float)
    return frame


@pytest.mark.parametrize("fit, formula", [
    (reg.fit_linear, "y ~ x1 + x2"), (reg.fit_logit, "good ~ x1 + x2"),
    (reg.fit_ordinal, "y ~ x1 + x2")])
def test_frequency_weights_equal_expanded_data(small, fit, formula):
    weighted = fit(formula, small, freq_weights="count")
    expanded = fit(formula, small.loc[small.index.repeat(small["count"].astype(int))])
    np.testing.assert_allclose(weighted.params, expanded.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(weighted.vcov, expanded.vcov, rtol=1e-7, atol=1e-12)


def test_linear_and_logit_match_statsmodels_without_weights(small):
    ols = sm.OLS(small["y"], sm.add_constant(small[["x1", "x2"]])).fit()
    ours = reg.fit_linear("y ~ x1 + x2", small)
    np.testing.assert_allclose(ours.params, ols.params, rtol=1e-10)
    np.testing.assert_allclose(ours.std_errors, ols.bse, rtol=1e-10)
    logit = sm.Logit(small["good"], sm.add_constant(small[["x1", "x2"]])).fit(disp=False)
    ours = reg.fit_logit("good ~ x1 + x2", small)
    np.testing.assert_allclose(ours.params, logit.params, rtol=1e-7)
    np.testing.assert_allclose(ours.std_errors, logit.bse, rtol=1e-6)
    # average marginal effects: statsmodels' get_margeff (delta method), an independent code path
    margeff = logit.get_margeff(at="overall", method="dydx", dummy=True).summary_frame()
    ame = reg.average_marginal_effects(ours).set_index("term")
    np.testing.assert_allclose(ame["estimate"], margeff["dy/dx"].to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(ame["std_error"], margeff["Std. Err."].to_numpy(), rtol=1e-3)


def test_odds_ratios(small):
    result = reg.fit_logit("good ~ x1 + x2", small)
    odds = tidy(result, exponentiate=True)
    np.testing.assert_allclose(odds["estimate"], np.exp(result.params))
    with pytest.raises(ValueError, match="odds ratios"):
        tidy(reg.fit_linear("y ~ x1", small), exponentiate=True)


def test_missing_outcome_is_left_out_never_counted_as_zero(small):
    frame = small.copy()
    frame.loc[:9, "y"] = np.nan
    result = reg.fit_logit("I(y >= 4) ~ x1 + x2", frame)
    assert result.n == len(frame) - 10
    assert glance(result)["n_dropped_missing"].iloc[0] == 10
    reference = reg.fit_logit("good ~ x1 + x2", small.iloc[10:])
    np.testing.assert_allclose(result.params, reference.params, rtol=1e-10)


def test_parallel_lines_test_holds_its_size_and_has_power():
    """Under proportional odds the 5 % test rejects about 5 % of the time; when the slope
    differs between cuts it rejects (a simulation with a known truth)."""
    rng = np.random.default_rng(11)
    rejections = 0
    reps = 120
    for _ in range(reps):
        x = rng.normal(size=600)
        y = np.digitize(x + rng.logistic(size=600), [-1.0, 0.0, 1.0]) + 1.0
        test = reg.parallel_lines_test(reg.fit_ordinal("y ~ x", pd.DataFrame({"x": x, "y": y})))
        rejections += test["p_value"].iloc[0] < 0.05
    # binomial MC standard error at 0.05 with 120 reps is 0.02: allow 3 of them
    assert abs(rejections / reps - 0.05) < 0.06
    x = rng.normal(size=2000)
    # each cut has its own slope (0.2, 0.8, 2.0): the parallel-lines assumption fails
    cut_varying = (x[:, None] * np.array([0.2, 0.8, 2.0]) + rng.logistic(size=(2000, 1))
                   > np.array([-1.0, 0.0, 1.0])).sum(axis=1) + 1.0
    test = reg.parallel_lines_test(reg.fit_ordinal("y ~ x", pd.DataFrame({"x": x,
                                                                          "y": cut_varying})))
    assert test["p_value"].iloc[0] < 1e-6


def test_design_based_errors_name_the_problem(dclus1, small):
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['nonexistent'\]"):
        reg.fit_linear("api00 ~ nonexistent", dclus1)
    with pytest.raises(ValueError, match="freq_weights is for a plain DataFrame"):
        reg.fit_linear("api00 ~ ell", dclus1, freq_weights="pw")
    with pytest.raises(ValueError, match="0/1"):
        reg.fit_logit("y ~ x1", small)
    with pytest.raises(ValueError, match="at least 3 levels"):
        reg.fit_ordinal("good ~ x1", small)


# --- Review follow-ups: domain of complete rows, AMEs by variable, integer frequency weights --
def test_rows_missing_a_variable_leave_the_design_as_in_r(dclus1):
    """R's svyglm drops incomplete rows from the design (design[-nas, ]): a district whose
    outcome is entirely missing no longer counts for the degrees of freedom."""
    data = dclus1.data.copy()
    first = data["dnum"].iloc[0]
    data.loc[data["dnum"] == first, "api00"] = np.nan
    design = SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc")
    result = reg.fit_linear("api00 ~ ell + meals", design)
    complete = SurveyDesign(data[data["api00"].notna()], weights="pw", psu="dnum", fpc="fpc")
    assert glance(result)["design_df"].iloc[0] == complete.df == 13
    assert result.df == 13 - 2


def test_ame_of_a_factor_and_an_interaction_is_the_average_discrete_change():
    """Closed form: the AME of level b of g is the weighted mean over rows of
    P(g=b) − P(g=a) with everything else as observed; x's AME moves x inside x:z as well."""
    rng = np.random.default_rng(4)
    n = 3000
    frame = pd.DataFrame({"g": rng.choice(["a", "b", "c"], n), "x": rng.normal(size=n),
                          "z": rng.normal(size=n)})
    eta = 0.3 + 0.8 * (frame.g == "b") - 0.9 * (frame.g == "c") + 0.5 * frame.x \
        + 0.4 * frame.x * frame.z
    frame["y"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    result = reg.fit_logit("y ~ C(g) + x * z", frame)
    ame = reg.average_marginal_effects(result).set_index("term")
    assert set(ame.index) == {"g[b]", "g[c]", "x", "z"}   # variables, not columns like x:z
    model = sm.Logit.from_formula("y ~ C(g) + x * z", frame).fit(disp=False)
    for level in ["b", "c"]:
        change = model.predict(frame.assign(g=level)) - model.predict(frame.assign(g="a"))
        np.testing.assert_allclose(ame.loc[f"g[{level}]", "estimate"], change.mean(), rtol=1e-6)
    h = 1e-5
    slope = (model.predict(frame.assign(x=frame.x + h))
             - model.predict(frame.assign(x=frame.x - h))) / (2 * h)
    np.testing.assert_allclose(ame.loc["x", "estimate"], slope.mean(), rtol=1e-5)


def test_design_based_ame_se_matches_the_rao_wu_bootstrap():
    """The unconditional (linearised) AME standard error agrees with an independent variance
    method, the Rao-Wu bootstrap refitting the model on every replicate; treating the
    covariates as fixed understates it."""
    rng = np.random.default_rng(8)
    strata, psus, per = 20, 4, 30
    n = strata * psus * per
    stratum = np.repeat(np.arange(strata), psus * per)
    psu = np.repeat(np.arange(strata * psus), per)
    cluster = rng.normal(scale=0.6, size=strata * psus)[psu]
    x = rng.normal(size=n) + cluster
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(0.4 + 0.9 * x + cluster)))).astype(float)
    data = pd.DataFrame({"stratum": stratum, "psu": psu, "x": x, "y": y,
                         "w": rng.uniform(1, 3, n)})
    design = SurveyDesign(data, weights="w", strata="stratum", psu="psu")
    result = reg.fit_logit("y ~ x", design)
    linearised = reg.average_marginal_effects(result).set_index("term")
    fixed = reg.average_marginal_effects(result, unconditional=False).set_index("term")
    replicates = design.bootstrap_weights(n_reps=300, seed=1)
    boot = []
    for r in range(replicates.shape[1]):
        rep = SurveyDesign(data.assign(w=replicates[:, r].astype(float)), weights="w",
                           strata="stratum", psu="psu")
        boot.append(reg.average_marginal_effects(reg.fit_logit("y ~ x", rep),
                                                 unconditional=False)["estimate"].iloc[0])
    bootstrap_se = np.std(boot, ddof=1)
    # 300 replicates: the bootstrap SE itself carries ~4 % Monte Carlo error
    assert abs(linearised.loc["x", "std_error"] / bootstrap_se - 1) < 0.15
    assert fixed.loc["x", "std_error"] < linearised.loc["x", "std_error"]


def test_survey_weights_are_refused_as_frequency_weights(small):
    frame = small.assign(count=small["count"] + 0.5)
    with pytest.raises(ValueError, match="whole numbers.*Survey weights are not frequency"):
        reg.fit_linear("y ~ x1", frame, freq_weights="count")


# --- Safeguarded Newton: a rare predictor on a near-constant outcome, and separation ---------
def _rare_predictor_survey(seed: int = 31, n: int = 4000) -> pd.DataFrame:
    """About 94 % satisfied and 2 % asked for an extra payment: the plain Newton step from the
    intercept-only start overshoots the rare predictor's coefficient to about −27000."""
    rng = np.random.default_rng(seed)
    asked = (rng.uniform(size=n) < 0.019).astype(float)
    on_time = (rng.uniform(size=n) < 0.85).astype(float)
    eta = 2.4 - 2.76 * asked + 0.9 * on_time
    satisfied = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"satisfied": satisfied, "asked_extra_payment": asked,
                         "on_time": on_time, "w": rng.uniform(50, 1500, n)})


def test_logit_with_a_rare_predictor_matches_statsmodels():
    data = _rare_predictor_survey()
    assert 0.93 < data["satisfied"].mean() < 0.96 and data["asked_extra_payment"].mean() < 0.03
    X = sm.add_constant(data[["asked_extra_payment", "on_time"]])
    formula = "satisfied ~ asked_extra_payment + on_time"
    # survey weights: the point estimates solve the same equations as GLM with var_weights
    glm = sm.GLM(data["satisfied"], X, family=sm.families.Binomial(),
                 var_weights=data["w"]).fit(tol=1e-13, maxiter=200)
    ours = reg.fit_logit(formula, SurveyDesign(data, weights="w"))
    np.testing.assert_allclose(ours.params, glm.params, atol=1e-6)
    assert ours.params["asked_extra_payment"] == pytest.approx(-2.7576, abs=1e-4)
    # unweighted: statsmodels' Logit (Newton with its own start), estimates and model SEs
    logit = sm.Logit(data["satisfied"], X).fit(disp=False, tol=1e-12, maxiter=200)
    ours = reg.fit_logit(formula, data)
    np.testing.assert_allclose(ours.params, logit.params, atol=1e-6)
    np.testing.assert_allclose(ours.std_errors, logit.bse, rtol=1e-6)
    assert ours.params["asked_extra_payment"] == pytest.approx(-2.7866, abs=1e-4)


def test_logit_newton_says_when_it_runs_out_of_steps():
    data = _rare_predictor_survey()
    X = sm.add_constant(data[["asked_extra_payment", "on_time"]]).to_numpy()
    with pytest.raises(RuntimeError, match="did not converge in 2 Newton steps"):
        reg._irls_logit(X, data["satisfied"].to_numpy(), data["w"].to_numpy(), max_iter=2)


def test_separation_names_the_predictor():
    data = _rare_predictor_survey()
    data.loc[data["asked_extra_payment"] == 1, "satisfied"] = 1.0   # all of them satisfied
    n_asked = int(data["asked_extra_payment"].sum())
    design = SurveyDesign(data, weights="w")
    with pytest.raises(ValueError, match=rf"quasi-complete separation: asked_extra_payment "
                                         rf"predict\(s\) satisfied exactly for {n_asked} of "
                                         rf"{len(data)} rows"):
        reg.fit_logit("satisfied ~ asked_extra_payment + on_time", design)
    score = data["w"].rank().to_numpy()            # complete: satisfied exactly above a cut
    data = data.assign(score=score, satisfied=(score > 300).astype(float))
    with pytest.raises(ValueError, match=r"^complete separation: score predict\(s\) satisfied "
                                         r"exactly for 4000 of 4000 rows"):
        reg.fit_logit("satisfied ~ score + on_time", data)
    with pytest.raises(ValueError, match="takes a single value"):
        reg.fit_logit("satisfied ~ on_time", data.assign(satisfied=1.0))


def test_ordinal_separation_names_the_predictor():
    data = _rare_predictor_survey()
    rng = np.random.default_rng(2)
    rating = np.digitize(2.4 + 0.9 * data["on_time"] + rng.logistic(size=len(data)),
                         [0.0, 1.0, 2.5, 3.5]) + 1.0
    rating[data["asked_extra_payment"] == 1] = 5.0    # everyone asked answers "very satisfied"
    with pytest.raises(ValueError, match="quasi-complete separation: asked_extra_payment"):
        reg.fit_ordinal("rating ~ asked_extra_payment + on_time", data.assign(rating=rating))
