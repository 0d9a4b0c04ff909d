"""Tests of the survey-weighted multilevel model (pseudo-maximum likelihood, Rabe-Hesketh &
Skrondal 2006): equal weights against the unweighted ML fit, the weighted log-likelihood against
brute force (quadrature, duplicated rows), WeMix's published sleepstudy values, the sandwich
against an independent dense computation, the weighted predictor's prediction-error variance
against Monte Carlo, and a simulation of informative sampling within provinces."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import patsy
import pytest
from scipy import integrate, optimize, stats
from statsmodels.regression.mixed_linear_model import MixedLM

from sipas_analysis.design import SurveyDesign
from sipas_analysis.models import multilevel
from sipas_analysis.models.multilevel import fit_multilevel, scale_weights
from sipas_analysis.models.results import glance, tidy
from sipas_analysis.rng import as_generator
from tests.test_multilevel import sleepstudy


def _tight_ml(data, formula, re_formula, group):
    """statsmodels' ML fit (what fit_multilevel(reml=False) runs), optimised to a tight gradient
    tolerance: its default stops with the variance components correct to ~5e-5 only."""
    y, X = patsy.dmatrices(formula, data, return_type="dataframe")
    Z = patsy.dmatrix(re_formula, data, return_type="dataframe")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MixedLM(y, X, groups=data[group], exog_re=Z).fit(reml=False, method="bfgs",
                                                                gtol=1e-10)


def _components(result):
    return result.extra["variance_components"].set_index("term")["estimate"]


# ---------------------------------------------------------------------------------------------
# Equal weights: the unweighted ML fit
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scaling", ["size", "effective"])
def test_equal_weights_equal_the_unweighted_ml_fit(scaling):
    """With every weight 1 both scalings leave the weights at 1 and the pseudo-likelihood is the
    likelihood, so the fit is statsmodels' ML fit (``reml=False``). The default unweighted fit
    is REML: same fixed effects up to the variance components, whose REML values are larger by
    about the degrees of freedom the fixed effects use (sleepstudy: residual variance 654.94
    REML, 654.94 ML too for this balanced design, var(Intercept) 612.10 against 565.52). The
    weighted fit cannot be REML (there is no weighted REML; Stata refuses reml with pweights)."""
    data = sleepstudy().assign(w=1.0)
    weighted = fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula="~Days",
                              weights="w", weight_scaling=scaling)
    reference = _tight_ml(data, "Reaction ~ Days", "~Days", "Subject")
    np.testing.assert_allclose(weighted.params.to_numpy(), reference.fe_params, rtol=1e-8)
    vc = _components(weighted)
    psi = np.asarray(reference.cov_re)
    assert vc["var(Intercept)"] == pytest.approx(psi[0, 0], rel=1e-6)
    assert vc["var(Days)"] == pytest.approx(psi[1, 1], rel=1e-6)
    assert vc["cov(Intercept, Days)"] == pytest.approx(psi[0, 1], rel=2e-6)
    assert vc["var(Residual)"] == pytest.approx(reference.scale, rel=1e-6)
    assert glance(weighted)["log_likelihood"].iloc[0] == pytest.approx(reference.llf, abs=1e-8)
    # the existing ML path (statsmodels' default tolerance): same fixed effects and BLUPs to
    # the precision of its variance components
    existing = fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula="~Days",
                              reml=False)
    np.testing.assert_allclose(weighted.params, existing.params, rtol=1e-8)
    np.testing.assert_allclose(weighted.extra["group_effects"]["estimate"],
                               existing.extra["group_effects"]["estimate"], atol=1e-5)
    # equal weights: the weighted predictor's PEV term is Henderson's (only V_β differs: robust)
    blups = pd.DataFrame(reference.random_effects).T.to_numpy().ravel()
    np.testing.assert_allclose(weighted.extra["group_effects"]["blup"], blups, atol=1e-5)


def test_weights_constant_within_groups_are_scaled_away():
    data = sleepstudy()
    rng = as_generator(3)
    per_subject = dict(zip(sorted(data["Subject"].unique()), rng.uniform(1, 50, 18)))
    data["w"] = data["Subject"].map(per_subject)
    data["one"] = 1.0
    for scaling in ["size", "effective"]:
        a = fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula="~Days",
                           weights="w", weight_scaling=scaling)
        b = fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula="~Days",
                           weights="one")
        np.testing.assert_allclose(a.params, b.params, rtol=1e-10)
        np.testing.assert_allclose(a.vcov, b.vcov, rtol=1e-6)


def test_scale_weights_methods_one_and_two():
    w = np.array([1.0, 3.0, 2.0, 2.0, 6.0])
    g = np.array(["a", "a", "b", "b", "b"])
    size = scale_weights(w, g, "size")
    effective = scale_weights(w, g, "effective")
    # method 1: sum = n_j; method 2: sum = (Σw)²/Σw²
    assert size[:2].sum() == pytest.approx(2) and size[2:].sum() == pytest.approx(3)
    assert effective[:2].sum() == pytest.approx(16 / 10)
    assert effective[2:].sum() == pytest.approx(100 / 44)
    np.testing.assert_allclose(size[2:] / w[2:], size[2] / w[2])    # one factor per group
    np.testing.assert_array_equal(scale_weights(w, g, "none"), w)
    with pytest.raises(ValueError, match="weight_scaling must be one of"):
        scale_weights(w, g, "gk")


# ---------------------------------------------------------------------------------------------
# The weighted log-likelihood against brute force
# ---------------------------------------------------------------------------------------------
def _sums(data, weights, formula="Reaction ~ Days", re_formula="~Days"):
    y, X = patsy.dmatrices(formula, data, return_type="dataframe")
    Z = patsy.dmatrix(re_formula, data, return_type="dataframe")
    codes, labels = pd.factorize(data["Subject"], sort=True)
    return multilevel._WeightedSums(y.iloc[:, 0].to_numpy(), X.to_numpy(), Z.to_numpy(),
                                    np.asarray(weights, float), codes, len(labels)), codes


def test_weighted_loglik_equals_numerical_integration():
    """ℓ_g = log ∫ Π_i N(y_i; x_i'β + z_i'b, σ²)^{w_i} N(b; 0, Ψ) db with non-integer weights,
    by adaptive quadrature (random intercept) and a 80 × 80 Gauss-Hermite grid (intercept and
    slope), at parameter values away from the optimum."""
    data = sleepstudy()
    w = as_generator(5).uniform(0.2, 3.0, len(data))
    y = data["Reaction"].to_numpy()
    days = data["Days"].to_numpy()
    beta, sigma2 = np.array([245.0, 11.0]), 700.0

    sums, codes = _sums(data, w, re_formula="~1")
    psi = np.array([[900.0]])
    closed = multilevel._group_loglik(sums, beta, psi, sigma2)
    for g in [0, 7, 17]:
        rows = codes == g

        def integrand(b, rows=rows):
            mean = beta[0] + b + beta[1] * days[rows]
            return np.exp(np.sum(w[rows] * stats.norm.logpdf(y[rows], mean, np.sqrt(sigma2)))
                          - offset) * stats.norm.pdf(b, 0, 30.0)
        offset = np.sum(w[rows] * stats.norm.logpdf(y[rows], y[rows].mean(), np.sqrt(sigma2)))
        # tell quad where the integrand's peak is (the pseudo-posterior mode of b)
        resid = y[rows] - beta[0] - beta[1] * days[rows]
        mode = np.sum(w[rows] * resid) / (np.sum(w[rows]) + sigma2 / 900.0)
        value, _ = integrate.quad(integrand, -300, 300, limit=200, points=[mode],
                                  epsabs=0, epsrel=1e-12)
        assert closed[g] == pytest.approx(np.log(value) + offset, abs=1e-7)

    sums, codes = _sums(data, w)
    psi = np.array([[600.0, 20.0], [20.0, 40.0]])
    closed = multilevel._group_loglik(sums, beta, psi, sigma2)
    # adaptive Gauss-Hermite (as gllamm): nodes centred at the integrand's mode, scaled by its
    # curvature there, both found numerically
    nodes, gh_weights = np.polynomial.hermite_e.hermegauss(40)     # ∫ f(z) exp(−z²/2) dz
    z1, z2 = np.meshgrid(nodes, nodes, indexing="ij")
    z = np.vstack([z1.ravel(), z2.ravel()])
    grid_w = np.outer(gh_weights, gh_weights).ravel()
    for g in [0, 11]:
        rows = codes == g

        def log_integrand(b, rows=rows):
            b = np.asarray(b, float).reshape(2, -1)                   # one point a column
            mean = (beta[0] + b[0][None, :]) + (beta[1] + b[1][None, :]) * days[rows][:, None]
            logf = (w[rows][:, None] * stats.norm.logpdf(y[rows][:, None], mean,
                                                         np.sqrt(sigma2))).sum(axis=0)
            return logf + stats.multivariate_normal(np.zeros(2), psi).logpdf(b.T)

        mode = optimize.minimize(lambda b: -log_integrand(b)[0], np.zeros(2), method="BFGS",
                                 options={"gtol": 1e-10}).x
        h = 1e-3
        hess = np.array([[(log_integrand(mode + h * (e + f))[0] - log_integrand(mode + h * (e - f))[0]
                           - log_integrand(mode - h * (e - f))[0]
                           + log_integrand(mode - h * (e + f))[0]) / (4 * h * h)
                          for f in np.eye(2)] for e in np.eye(2)])
        scale = np.linalg.cholesky(np.linalg.inv(-hess))
        points = mode[:, None] + scale @ z
        values = log_integrand(points) + 0.5 * (z ** 2).sum(axis=0)
        top = values.max()
        brute = top + np.log(grid_w @ np.exp(values - top)) + np.log(np.linalg.det(scale))
        assert closed[g] == pytest.approx(brute, abs=1e-8)


def test_integer_weights_equal_duplicated_rows():
    """Unscaled integer weights w (``weight_scaling="none"``) are frequency weights: the fit
    equals statsmodels' ML fit of the data with each row repeated w times."""
    data = sleepstudy()
    data["w"] = as_generator(11).integers(1, 4, len(data)).astype(float)
    weighted = fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula="~Days",
                              weights="w", weight_scaling="none")
    repeated = data.loc[data.index.repeat(data["w"].astype(int))].reset_index(drop=True)
    reference = _tight_ml(repeated, "Reaction ~ Days", "~Days", "Subject")
    np.testing.assert_allclose(weighted.params.to_numpy(), reference.fe_params, rtol=1e-7)
    vc = _components(weighted)
    psi = np.asarray(reference.cov_re)
    np.testing.assert_allclose([vc["var(Intercept)"], vc["cov(Intercept, Days)"],
                                vc["var(Days)"], vc["var(Residual)"]],
                               [psi[0, 0], psi[0, 1], psi[1, 1], reference.scale], rtol=1e-5)
    assert weighted.stats["log_likelihood"] == pytest.approx(reference.llf, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# Published values: WeMix's test suite (R package WeMix, tests/testthat, sleepstudy)
# ---------------------------------------------------------------------------------------------
def test_sleepstudy_matches_wemix_and_gllamm():
    """WeMix's tests (American Institutes for Research; `mix(Reaction ~ Days + (1|Subject))`
    on lme4's sleepstudy): unweighted lnl -897.039321502613 (lme4's ML logLik) and GLLAMM's
    estimates 251.4051, 10.46729, residual variance 1296.8768, subject variance 954.52789
    (WeMix compares at relative tolerance 2e-5). Weights 2 on every row of subjects 308, 309
    and 310 (level 1, not rescaled, as WeMix) give lnl -1048.34318418762, the lme4 fit of the
    data with those rows duplicated; level-2 weights 2 on those subjects (conditional level-1
    weights 1) give -1055.34690957995, the fit with those subjects duplicated."""
    data = sleepstudy()
    data["one"] = 1.0
    fit = fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula=None,
                         weights="one")
    assert fit.stats["log_likelihood"] == pytest.approx(-897.039321502613, abs=1e-8)
    # as printed: to the last digit
    assert fit.params["Intercept"] == pytest.approx(251.4051, abs=5e-5)
    assert fit.params["Days"] == pytest.approx(10.46729, abs=5e-6)
    vc = _components(fit)
    # WeMix's vector labels these two "Residual" and "Subject" but holds them in its `vars`
    # order (Subject, then Residual), which is how its test compares them
    assert vc["var(Intercept)"] == pytest.approx(1296.8768, rel=2e-5)
    assert vc["var(Residual)"] == pytest.approx(954.52789, rel=2e-5)

    doubles = data["Subject"].isin(["308", "309", "310"])
    data["W1"] = np.where(doubles, 2.0, 1.0)
    level1 = fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula=None,
                            weights="W1", weight_scaling="none")
    assert level1.stats["log_likelihood"] == pytest.approx(-1048.34318418762, abs=1e-7)
    level2 = fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula=None,
                            weights="one", group_weights="W1")
    assert level2.stats["log_likelihood"] == pytest.approx(-1055.34690957995, abs=1e-7)
    # with scaling the level-1 weights constant within a subject are scaled away
    scaled = fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula=None,
                            weights="W1")
    assert scaled.stats["log_likelihood"] == pytest.approx(-897.039321502613, abs=1e-8)


# ---------------------------------------------------------------------------------------------
# The sandwich and the prediction-error variance
# ---------------------------------------------------------------------------------------------
def test_sandwich_equals_dense_numerical_sandwich():
    """Independent reference: each subject's pseudo-log-likelihood written densely (Σ_i w_i ·
    log N(y_i | b) integrated as a weighted normal: for weights w it is the N(Xβ, ZΨZ' +
    σ²W⁻¹) log-density plus Σ ½ log(w_i) − ½ (Σw_i − n) log(2πσ²) − ½ Σ log w_i … evaluated
    here by the closed-form ``_group_loglik`` only through finite differences in another
    parameterisation (β, Ψ entries, σ²)), scores and Hessian by central differences; the
    fixed-effect block of H⁻¹BH⁻¹ (B with G/(G−1)) does not depend on how the variance
    parameters are written."""
    data = sleepstudy()
    data["w"] = as_generator(8).uniform(0.5, 2.0, len(data))
    fit = fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula="~Days",
                         weights="w")
    scaled = scale_weights(data["w"], data["Subject"], "size")
    sums, _ = _sums(data, scaled)
    vc = _components(fit)
    start = np.array([*fit.params, vc["var(Intercept)"], vc["cov(Intercept, Days)"],
                      vc["var(Days)"], vc["var(Residual)"]])

    def per_group(x):
        psi = np.array([[x[2], x[3]], [x[3], x[4]]])
        return multilevel._group_loglik(sums, x[:2], psi, x[5])

    steps = np.abs(start) * 1e-4
    scores = np.column_stack([(per_group(start + h * e) - per_group(start - h * e)) / (2 * h)
                              for h, e in zip(steps, np.eye(6))])
    hessian = np.empty((6, 6))
    for j, (h, e) in enumerate(zip(steps, np.eye(6))):
        up = np.column_stack([(per_group(start + h * e + k * f) - per_group(start + h * e - k * f))
                              / (2 * k) for k, f in zip(steps, np.eye(6))]).sum(axis=0)
        down = np.column_stack([(per_group(start - h * e + k * f)
                                 - per_group(start - h * e - k * f)) / (2 * k)
                                for k, f in zip(steps, np.eye(6))]).sum(axis=0)
        hessian[j] = (up - down) / (2 * h)
    bread = np.linalg.inv(-(hessian + hessian.T) / 2)
    vcov = bread @ (18 / 17 * scores.T @ scores) @ bread
    np.testing.assert_allclose(fit.vcov.to_numpy(), vcov[:2, :2], rtol=1e-4)
    assert "sandwich" in fit.variance and "clustered on Subject" in fit.variance


def test_weighted_predictor_pev_equals_monte_carlo():
    """The prediction-error covariance of the weighted predictor b̂ = M Z'W(y − Xβ)/σ² given
    the parameters is M (Ψ⁻¹ + Z'W²Z/σ²) M (module doc); 200,000 draws of (b, e) for one
    group with unequal weights agree within Monte Carlo error (relative SE of a variance
    ≈ √(2/200000) = 0.3 %)."""
    rng = as_generator(12)
    n = 25
    Z = np.column_stack([np.ones(n), rng.normal(size=n)])
    w = rng.uniform(0.2, 4.0, n)
    w = w * n / w.sum()
    psi, sigma2 = np.array([[0.5, 0.1], [0.1, 0.2]]), 1.3
    sums = multilevel._WeightedSums(np.zeros(n), Z, Z, w, np.zeros(n, dtype=int), 1)
    M, _ = multilevel._posterior(sums, psi, sigma2)
    formula = (M + M @ (sums.ZW2Z - sums.ZWZ) @ M / sigma2)[0]
    draws = 200_000
    b = rng.multivariate_normal([0, 0], psi, size=draws)
    e = rng.normal(0, np.sqrt(sigma2), size=(draws, n))
    y = b @ Z.T + e
    b_hat = (y * w) @ Z @ M[0].T / sigma2
    error = np.cov((b_hat - b).T)
    np.testing.assert_allclose(error, formula, rtol=0.015, atol=0.002)
    # and it exceeds the naive M when the weights vary
    assert np.all(np.diag(formula) > np.diag(M[0]))


# ---------------------------------------------------------------------------------------------
# Informative sampling within provinces
# ---------------------------------------------------------------------------------------------
SIM_GROUPS, SIM_POPULATION = 10, 4000


def _population(rng):
    group = np.repeat(np.arange(SIM_GROUPS), SIM_POPULATION)
    u = rng.normal(0, [0.5, 0.3], size=(SIM_GROUPS, 2))
    x = rng.normal(size=group.size)
    e = rng.normal(size=group.size)
    # inclusion probability rises with the level-1 error: an informative design
    pi = 1 / (1 + np.exp(-0.6 * e))
    return pd.DataFrame({"province_code": [f"{k + 1:02d}" for k in group], "staff_score": x,
                         "y": 3 + u[group, 0] + (0.5 + u[group, 1]) * x + e, "pi": pi,
                         "weight": 1 / pi, "one": 1.0})


def _summary(result):
    vc = _components(result)
    effects = result.extra["group_effects"]
    intercepts = effects.loc[effects["term"] == "Intercept", "estimate"].to_numpy()
    return np.array([result.params["Intercept"], result.params["staff_score"],
                     vc["var(Residual)"], intercepts.mean()])


def test_informative_sampling_unweighted_biased_weighted_not():
    """A finite population of 10 provinces × 4,000 people (random intercepts SD 0.5, slopes SD
    0.3, residual SD 1) and Poisson samples with inclusion probability logistic(0.6 e) in the
    level-1 error e: about 2,000 sampled per province. The target is the census fit (the same
    ML model on the whole population), which pseudo-likelihood estimates consistently as the
    provinces' samples grow. The pseudo-likelihood's small-cluster bias is of order 1/n_j:
    measured at 0.0025 (± 0.0005) on the intercept with 500 per province, it is 0.0005 (± 0.0005)
    with 2,000, so at this size it is negligible beside this test's Monte Carlo error
    (about 0.001 for the intercept with 40 samples). The unweighted fit is off by 0.28."""
    rng = as_generator(20261203)
    population = _population(rng)
    target = _summary(fit_multilevel("y ~ staff_score", population, weights="one"))
    reps = 40
    errors = {"unweighted": [], "size": [], "effective": []}
    for _ in range(reps):
        sample = population[rng.uniform(size=len(population)) < population["pi"]]
        # unweighted: the ML fit (equal weights; the REML default has the same bias)
        errors["unweighted"].append(_summary(fit_multilevel("y ~ staff_score", sample,
                                                            weights="one")) - target)
        for scaling in ["size", "effective"]:
            errors[scaling].append(_summary(fit_multilevel(
                "y ~ staff_score", sample, weights="weight", weight_scaling=scaling)) - target)
    bias = {k: np.mean(v, axis=0) for k, v in errors.items()}
    mc_se = {k: np.std(v, axis=0, ddof=1) / np.sqrt(reps) for k, v in errors.items()}
    # unweighted (the REML default): intercept, province intercepts and residual variance off
    # by many Monte Carlo SEs (E[e | sampled] > 0, Var[e | sampled] < 1)
    unweighted = bias["unweighted"] / mc_se["unweighted"]
    assert unweighted[0] > 50 and unweighted[3] > 50 and unweighted[2] < -20
    for scaling in ["size", "effective"]:
        z = bias[scaling] / mc_se[scaling]
        assert np.all(np.abs(z) < 3.5), f"{scaling}: bias {bias[scaling]}, MC SE {mc_se[scaling]}"
        # and the bias is a small fraction of the unweighted one
        assert abs(bias[scaling][0]) < 0.05 * bias["unweighted"][0]


# ---------------------------------------------------------------------------------------------
# Designs, notes and errors
# ---------------------------------------------------------------------------------------------
def test_survey_design_gives_its_weights_and_domain():
    data = sleepstudy()
    data["w"] = as_generator(2).uniform(0.5, 2.0, len(data))
    by_column = fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula="~Days",
                                weights="w")
    design = SurveyDesign(data, weights="w", psu="Subject")
    by_design = fit_multilevel("Reaction ~ Days", design, groups="Subject", re_formula="~Days")
    pd.testing.assert_series_equal(by_column.params, by_design.params)
    assert by_design.stats["method"] == "PML"
    assert "the design's weights ('w')" in by_design.extra["notes"][0]
    assert "pwscale(size)" in by_design.extra["notes"][0]
    # a domain: rows outside have weight 0 and are left out, and said so
    domain = design.subset(data["Days"] >= 2)
    on_domain = fit_multilevel("Reaction ~ Days", domain, groups="Subject", re_formula="~Days")
    direct = fit_multilevel("Reaction ~ Days", data[data["Days"] >= 2], groups="Subject",
                            re_formula="~Days", weights="w")
    np.testing.assert_allclose(on_domain.params, direct.params, rtol=1e-10)
    assert on_domain.n == 144
    assert any("36 rows of zero weight left out" in note for note in on_domain.extra["notes"])


def test_weighted_result_says_what_was_done():
    data = sleepstudy().assign(w=1.5)
    fit = fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula="~Days", weights="w",
                         weight_scaling="effective")
    assert fit.variance.startswith("weighted multilevel fit (pseudo-maximum likelihood, "
                                   "weights 'w', scaling 'effective')")
    assert "pwscale(effective)" in fit.extra["notes"][0]
    row = glance(fit).iloc[0]
    assert row["method"] == "PML" and row["weight_scaling"] == "effective"
    assert np.isnan(row["aic"])
    assert tidy(fit)["std_error"].gt(0).all()


def test_weighted_input_errors():
    data = sleepstudy()
    data["w"] = 1.0
    data.loc[[3, 50], "w"] = -1.0
    with pytest.raises(ValueError, match=r"weights 'w' has 2 negative.*\(rows 3, 50\)"):
        fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula="~Days",
                                weights="w")
    data["w"] = 1.0
    with pytest.raises(ValueError, match="reml=True cannot be combined with survey weights"):
        fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula="~Days", weights="w", reml=True)
    with pytest.raises(ValueError, match="weight_scaling must be one of"):
        fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula="~Days", weights="w",
                       weight_scaling="gk")
    data["gw"] = np.arange(len(data), dtype=float)
    with pytest.raises(ValueError, match="must be constant within each group.*'308'"):
        fit_multilevel("Reaction ~ Days", data, groups="Subject", re_formula="~Days", weights="w",
                       group_weights="gw")
    with pytest.raises(KeyError, match=r"\['wt', 'nothing'\].*weights column 'wt'"):
        fit_multilevel("Reaction ~ nothing", data, groups="Subject", re_formula="~Days",
                       weights="wt")
    with pytest.raises(ValueError, match="not both"):
        fit_multilevel("Reaction ~ Days", SurveyDesign(data, weights="w"), groups="Subject",
                       weights="w")
