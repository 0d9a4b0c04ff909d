"""Multilevel (mixed) driver models: random intercepts and slopes by province.

A province sample has only a handful of PSUs, so a design-based regression per province is too
noisy to say "in this province staff attitude matters more than nationally". A multilevel model
borrows strength across provinces instead: each province's slope is the national (fixed) slope
plus a random deviation, shrunk toward zero in proportion to how little that province's data
say.

Without weights, statsmodels' ``MixedLM`` estimates the model (REML by default, as R's
``lme4::lmer``). That fit is *unweighted*: under an informative design (selection related to the
outcome within provinces) its fixed effects can differ from the population quantity. That is
said in every result, and ``national=`` puts the design-based estimate of the same slope beside
the multilevel one so that the gap is visible.

Survey weights (``weights=`` or a SurveyDesign) switch to pseudo-maximum likelihood (Pfeffermann
et al. 1998; Rabe-Hesketh & Skrondal 2006; Stata's ``mixed [pw=]``). Each group's likelihood
contribution becomes

    ℓ_g = log ∫ Π_i N(y_gi; x_gi'β + z_gi'b, σ²)^{w_gi} N(b; 0, Ψ) db,  ℓ = Σ_g w_g ℓ_g,

with w_gi the level-1 weights *scaled within the group* (``weight_scaling``: ``"size"``, their
method 1, Σ_i w_gi = n_g; ``"effective"``, method 2, Σ_i w_gi = (Σw)²/Σw²; or ``"none"``) and w_g
the group weight (1 when every province is sampled). The integral is Gaussian, so with
A_g = Z_g'W_gZ_g, c_g = Z_g'W_g(y_g − X_gβ) and M_g = (Ψ⁻¹ + A_g/σ²)⁻¹::

    ℓ_g = −½ Σw_gi log(2πσ²) − r_g'W_g r_g/(2σ²) − ½ log|I + A_gΨ/σ²| + c_g'M_g c_g/(2σ⁴),

which is the ordinary ML log-likelihood when all weights are 1. It is maximised directly
(β by weighted GLS and σ² in closed form given Ψ/σ², BFGS over the log-Cholesky factor of
Ψ/σ² with the analytic gradient, then Newton steps). Scaling makes the weights act like n_g
(or the effective n_g) observations, which removes most of the small-cluster bias of the
variance components; any remaining bias is of order 1/n_g, negligible with the hundreds of
respondents of a SIPAS province. The fixed-effect covariance is the sandwich H⁻¹BH⁻¹ over all
parameters, H the negative Hessian of ℓ, B = G/(G−1) Σ_g (w_g s_g)(w_g s_g)' with s_g = ∂ℓ_g/∂θ:
robust, clustered on the groups, as Stata reports for pweights (which implies ``vce(robust)``).
There is no weighted REML.

Weighted group effects: b̂_g = M_g c_g/σ², the mean of the pseudo-posterior of b_g. Given the
variance components and β, its prediction error is b̂_g − b_g = −M_gΨ⁻¹b_g + M_g Z_g'W_g e_g/σ²,
so, treating the weights as fixed,

    Var(b̂_g − b_g) = M_g (Ψ⁻¹ + Z_g'W_g²Z_g/σ²) M_g = M_g + M_g (Z_g'W_g²Z_g − A_g) M_g/σ²,

which is M_g (Henderson's) when the weights are 1 and larger when they vary (unequal weights
cost information). Estimating β adds A_g V_β A_g', A_g = S − M_g Z_g'W_gX_g/σ², with V_β the
sandwich; the covariance between β̂ and the prediction error (zero in the unweighted case,
where b̂_g is a conditional mean given the data) is ignored.

Province-specific effects and their standard errors (``extra["group_effects"]``), unweighted:
for a random term r of group g, the estimate is the fixed effect plus the BLUP, θ_g = β_r + b_g. Its
prediction-error variance is computed exactly as in Henderson's mixed-model equations, given the
estimated variance components::

    Var(θ̂_g − θ_g) = A_g V_β A_g' + Σ_g,   Σ_g = (Ψ⁻¹ + Z_g'Z_g / σ²)⁻¹,
    A_g = S − Σ_g Z_g'X_g / σ²,

where V_β = (Σ_g X_g'V_g⁻¹X_g)⁻¹ is the covariance of the fixed effects, Ψ the random-effect
covariance, σ² the residual variance and S picks the fixed effects that match the random terms.
Σ_g is the conditional covariance of the BLUPs (statsmodels' ``random_effects_cov``); the
A_g V_β A_g' term adds the uncertainty of the fixed effect, including its covariance with the
BLUP (the naive sum Var(β̂_r) + Σ_g ignores that covariance and overstates the variance). The
formula treats the variance components as known, so with few provinces the intervals are
somewhat too narrow (as those from lme4's ``condVar`` are).
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import patsy
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM

from ..design import _indicator
from .formulas import formula_columns, require_formula_columns
from .results import ModelResult

_ENV = patsy.EvalEnvironment([{"np": np}])

VARIANCE_COLUMNS = ["term", "kind", "group", "estimate", "std_error", "ci_low", "ci_high"]
COMPARISON_COLUMNS = ["term", "multilevel_estimate", "multilevel_std_error", "design_estimate",
                      "design_std_error", "design_df", "difference"]

# Optimisers tried in turn until one converges (statsmodels moves to the next on failure).
_OPTIMISERS = ["lbfgs", "bfgs", "cg", "powell"]


def _check_inputs(formula, data, groups, re_formula, level, weight_columns=None):
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame or a SurveyDesign, got "
                        f"{type(data).__name__}")
    if "~" not in formula or not formula.split("~", 1)[0].strip():
        raise ValueError(f"formula must look like 'y ~ x1 + x2', got {formula!r}")
    if re_formula is not None and not re_formula.strip().startswith("~"):
        raise ValueError(f"re_formula must look like '~x' (or '~1', or None for random "
                         f"intercepts only), got {re_formula!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    require_formula_columns("fit_multilevel", data,
                            {"formula": formula, "re_formula": re_formula or "~1"},
                            columns={"groups": groups, **(weight_columns or {})})


def _sums_by_code(codes: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the rows of ``values`` (n, k) with the same group code 0..n_groups-1: (n_groups, k)."""
    return np.asarray(_indicator(codes, n_groups) @ values)


def _per_group_crossproducts(codes, A, B, n_groups):
    """Σ_{i in g} A_i' B_i for every group g: array (G, a, b), computed without a row loop."""
    a, b = A.shape[1], B.shape[1]
    outer = (A[:, :, None] * B[:, None, :]).reshape(len(A), a * b)
    return _sums_by_code(codes, outer, n_groups).reshape(n_groups, a, b)


def _fit_statsmodels(y, X, Z, group_codes, reml):
    """Fit MixedLM, turning its warnings into notes; raise if no optimiser converged."""
    model = MixedLM(y, X, groups=group_codes, exog_re=Z)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.fit(reml=reml, method=_OPTIMISERS)
    messages = list(dict.fromkeys(f"statsmodels: {w.message}" for w in caught))
    if not fit.converged:
        raise RuntimeError("the multilevel model did not converge with any optimiser "
                           f"({', '.join(_OPTIMISERS)}). statsmodels said: "
                           + (" | ".join(messages) or "nothing"))
    return model, fit, messages


def _henderson(y, X, Z, codes, n_groups, beta, psi, sigma2):
    """Fixed-effect covariance V_β, BLUPs, and per-group Σ_g and Z_g'X_g (see module doc)."""
    q = Z.shape[1]
    ZtZ = _per_group_crossproducts(codes, Z, Z, n_groups)          # (G, q, q)
    ZtX = _per_group_crossproducts(codes, Z, X, n_groups)          # (G, q, p)
    XtX = X.T @ X
    resid = y - X @ beta
    Zte = _sums_by_code(codes, Z * resid[:, None], n_groups)         # (G, q)
    # Σ_g = Ψ (I + Z_g'Z_g Ψ / σ²)⁻¹: equal to (Ψ⁻¹ + Z_g'Z_g/σ²)⁻¹ but valid when Ψ is singular
    # (a variance component on the boundary).
    inner = np.eye(q)[None] + ZtZ @ psi[None] / sigma2
    sigma_g = np.linalg.solve(inner.transpose(0, 2, 1), np.broadcast_to(psi, inner.shape)
                              ).transpose(0, 2, 1)
    sigma_g = (sigma_g + sigma_g.transpose(0, 2, 1)) / 2
    # X'V⁻¹X = (X'X − Σ_g X_g'Z_g Σ_g Z_g'X_g / σ²) / σ²  (Woodbury, group by group)
    correction = np.einsum("gqp,gqr,grs->ps", ZtX, sigma_g, ZtX)
    xtvx = (XtX - correction / sigma2) / sigma2
    v_beta = np.linalg.inv(xtvx)
    v_beta = (v_beta + v_beta.T) / 2
    blup = np.einsum("gqr,gr->gq", sigma_g, Zte) / sigma2
    return v_beta, blup, sigma_g, ZtX


def _variance_table(psi, sigma2, names, groups):
    rows = []
    for i, a in enumerate(names):
        rows.append((f"var({a})", "variance_component", groups, psi[i, i]))
        rows.append((f"sd({a})", "variance_component", groups, np.sqrt(max(psi[i, i], 0.0))))
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            b = names[j]
            denom = np.sqrt(psi[i, i] * psi[j, j])
            rows.append((f"cov({a}, {b})", "variance_component", groups, psi[i, j]))
            rows.append((f"cor({a}, {b})", "variance_component", groups,
                         psi[i, j] / denom if denom > 0 else np.nan))
    rows.append(("var(Residual)", "variance_component", "Residual", sigma2))
    rows.append(("sd(Residual)", "variance_component", "Residual", np.sqrt(sigma2)))
    table = pd.DataFrame(rows, columns=["term", "kind", "group", "estimate"])
    # Wald standard errors of variance components are poor (skewed, bounded at zero); none is
    # given rather than a misleading one.
    table["std_error"] = np.nan
    table["ci_low"] = np.nan
    table["ci_high"] = np.nan
    return table[VARIANCE_COLUMNS]


def _national_estimates(national, fixed_formula):
    """(estimates, std_errors) of the design-based national fit, from a ModelResult or a design."""
    if isinstance(national, ModelResult):
        return national.params, national.std_errors, national
    from ..design import SurveyDesign
    if isinstance(national, SurveyDesign):
        from .regression import fit_linear
        result = fit_linear(fixed_formula, national)
        return result.params, result.std_errors, result
    raise TypeError("national must be a design-based ModelResult (from fit_linear) or a "
                    f"SurveyDesign, got {type(national).__name__}")


# ---------------------------------------------------------------------------------------------
# Weighted pseudo-maximum likelihood (module doc, "Survey weights")
# ---------------------------------------------------------------------------------------------
WEIGHT_SCALINGS = ("size", "effective", "none")


def scale_weights(weights, groups, scaling: str = "size") -> np.ndarray:
    """Level-1 weights scaled within each group as Rabe-Hesketh & Skrondal (2006).

    ``scaling``: ``"size"`` (their method 1, Stata's ``pwscale(size)``: the scaled weights of a
    group sum to its number of rows, w*ᵢ = wᵢ nⱼ / Σwᵢ), ``"effective"`` (method 2, Stata's
    ``pwscale(effective)``: they sum to the group's effective sample size (Σwᵢ)² / Σwᵢ²,
    w*ᵢ = wᵢ Σwᵢ / Σwᵢ²) or ``"none"`` (the weights as given). Scaling multiplies a group's
    weights by one constant, so an overall weight and the weight conditional on the group give
    the same scaled weights.

    Examples
    --------
    >>> scale_weights([1.0, 3.0, 2.0, 2.0], ["a", "a", "b", "b"], "size")
    array([0.5, 1.5, 1. , 1. ])
    >>> scale_weights([1.0, 3.0, 2.0, 2.0], ["a", "a", "b", "b"], "effective").round(3)
    array([0.4, 1.2, 1. , 1. ])
    """
    if scaling not in WEIGHT_SCALINGS:
        raise ValueError(f"weight_scaling must be one of {list(WEIGHT_SCALINGS)}, got "
                         f"{scaling!r}")
    w = np.asarray(weights, dtype=float)
    codes, labels = pd.factorize(np.asarray(groups, dtype=object), sort=True)
    if scaling == "none":
        return w.copy()
    sum_w = np.bincount(codes, w, len(labels))
    if scaling == "size":
        factor = np.bincount(codes, minlength=len(labels)) / sum_w
    else:
        factor = sum_w / np.bincount(codes, w * w, len(labels))
    return w * factor[codes]


class _WeightedSums:
    """Per-group weighted cross-products: all the pseudo-likelihood needs of the rows."""

    def __init__(self, y, X, Z, w, codes, n_groups):
        XW, ZW = X * w[:, None], Z * w[:, None]
        self.p, self.q = X.shape[1], Z.shape[1]
        self.sum_w = np.bincount(codes, w, n_groups)
        self.XWX = _per_group_crossproducts(codes, XW, X, n_groups)
        self.XWy = _sums_by_code(codes, XW * y[:, None], n_groups)
        self.yWy = np.bincount(codes, w * y * y, n_groups)
        self.ZWZ = _per_group_crossproducts(codes, ZW, Z, n_groups)
        self.ZWX = _per_group_crossproducts(codes, ZW, X, n_groups)
        self.ZWy = _sums_by_code(codes, ZW * y[:, None], n_groups)
        self.ZW2Z = _per_group_crossproducts(codes, ZW * w[:, None], Z, n_groups)


@functools.lru_cache(maxsize=None)
def _tril(q):
    """Row and column indices of a q × q lower triangle (numpy's tril_indices, cached: it is
    called at every likelihood evaluation)."""
    return np.tril_indices(q)


def _unpack(theta, q):
    """(Ψ, σ²) from the log-Cholesky vector: lower triangle of L row by row, log of its
    diagonal; last entry log σ²."""
    L = np.zeros((q, q))
    L[_tril(q)] = theta[:-1]
    L[np.diag_indices(q)] = np.exp(np.diag(L))
    return L @ L.T, float(np.exp(theta[-1]))


def _pack(psi, sigma2):
    q = psi.shape[0]
    L = np.linalg.cholesky(psi + 1e-10 * np.trace(psi) * np.eye(q) / q)
    L[np.diag_indices(q)] = np.log(np.diag(L))
    return np.append(L[_tril(q)], np.log(sigma2))


def _rwr(sums, beta):
    """r'Wr per group, r = y − Xβ."""
    return sums.yWy - 2 * sums.XWy @ beta + ((sums.XWX @ beta) * beta).sum(axis=1)


def _posterior(sums, psi, sigma2):
    """M_g = (Ψ⁻¹ + Z_g'W_gZ_g/σ²)⁻¹ (computed as Ψ (I + Z'WZ Ψ/σ²)⁻¹, valid for singular Ψ)
    and log|I + Z'WZ Ψ/σ²| for every group."""
    inner = np.eye(sums.q)[None] + sums.ZWZ @ psi[None] / sigma2
    M = np.linalg.solve(inner.transpose(0, 2, 1),
                        np.broadcast_to(psi, inner.shape)).transpose(0, 2, 1)
    return (M + M.transpose(0, 2, 1)) / 2, np.linalg.slogdet(inner)[1]


def _group_loglik(sums, beta, psi, sigma2):
    """ℓ_g = log ∫ Π_i f(y_gi | b)^{w_gi} φ(b; 0, Ψ) db for every group g (closed form)."""
    M, logdet = _posterior(sums, psi, sigma2)
    rwr = _rwr(sums, beta)
    c = sums.ZWy - sums.ZWX @ beta
    quad = ((M @ c[:, :, None])[:, :, 0] * c).sum(axis=1)
    return (-0.5 * sums.sum_w * np.log(2 * np.pi * sigma2) - rwr / (2 * sigma2)
            - 0.5 * logdet + 0.5 * quad / sigma2 ** 2)


def _beta_given_variances(sums, group_w, psi, sigma2):
    """The β maximising the pseudo-likelihood for fixed (Ψ, σ²) (weighted GLS), and the
    information matrix −∂²ℓ/∂β∂β'."""
    M, _ = _posterior(sums, psi, sigma2)
    MZX = M @ sums.ZWX                                                 # (G, q, p)
    XZMZX = sums.ZWX.transpose(0, 2, 1) @ MZX
    information = (np.tensordot(group_w, sums.XWX, 1) / sigma2
                   - np.tensordot(group_w, XZMZX, 1) / sigma2 ** 2)
    XZMZy = (MZX * sums.ZWy[:, :, None]).sum(axis=1)                  # (G, p)
    score0 = group_w @ sums.XWy / sigma2 - group_w @ XZMZy / sigma2 ** 2
    return np.linalg.solve(information, score0), information


def _group_scores(sums, beta, theta):
    """∂ℓ_g/∂(β, θ) for every group (G, p + len θ), in closed form.

    β: X'W r/σ² − (Z'WX)'M c/σ⁴ with r = y − Xβ and c = Z'W r. Variance parameters by
    Fisher's identity (the derivative of log ∫ g φ is the pseudo-posterior mean of the
    derivative of log g φ; the pseudo-posterior of b_g is N(b̂_g, M_g), b̂_g = M_g c_g/σ²):
    ∂ℓ_g/∂Ψ = ½ (u u'/σ⁴ − P/σ²), u = c − Z'WZ b̂, P = Z'WZ − Z'WZ M Z'WZ/σ²;
    ∂ℓ_g/∂σ² = −ΣW/(2σ²) + (Σ w (r − z'b̂)² + tr(Z'WZ M))/(2σ⁴); then the chain rule to the
    log-Cholesky factor and log σ².
    """
    q = sums.q
    psi, sigma2 = _unpack(theta, q)
    L = np.zeros((q, q))
    L[_tril(q)] = theta[:-1]
    L[np.diag_indices(q)] = np.exp(np.diag(L))
    M, _ = _posterior(sums, psi, sigma2)
    A = sums.ZWZ
    xwr = sums.XWy - sums.XWX @ beta
    c = sums.ZWy - sums.ZWX @ beta
    b = (M @ c[:, :, None])[:, :, 0] / sigma2
    d_beta = xwr / sigma2 - (sums.ZWX * b[:, :, None]).sum(axis=1) / sigma2
    Ab = (A @ b[:, :, None])[:, :, 0]
    u = c - Ab
    P = A - A @ M @ A / sigma2
    d_psi = 0.5 * (u[:, :, None] * u[:, None, :] / sigma2 ** 2 - P / sigma2)
    d_L = 2 * d_psi @ L[None]                                          # ∂ℓ/∂L (lower part)
    d_L[:, np.arange(q), np.arange(q)] *= np.diag(L)[None]              # log of the diagonal
    rows, cols = _tril(q)
    resid2 = _rwr(sums, beta) - 2 * (b * c).sum(axis=1) + (b * Ab).sum(axis=1)
    d_sigma2 = (-sums.sum_w / (2 * sigma2)
                + (resid2 + (A * M).sum(axis=(1, 2))) / (2 * sigma2 ** 2))
    return np.column_stack([d_beta, d_L[:, rows, cols], sigma2 * d_sigma2])


def _start(sums, group_w):
    """Starting relative covariance Δ = Ψ/σ² by moments: the spread of the groups' own
    weighted least-squares random-term coefficients (around the pooled fit) less their average
    sampling variance, floored at a tenth of it."""
    q = sums.q
    beta = np.linalg.solve(np.tensordot(group_w, sums.XWX, 1), group_w @ sums.XWy)
    c = sums.ZWy - sums.ZWX @ beta
    ridge = 1e-8 * np.trace(sums.ZWZ, axis1=1, axis2=2)[:, None, None] * np.eye(q)[None]
    own = np.linalg.solve(sums.ZWZ + ridge, c[:, :, None])[:, :, 0]
    sigma2 = float(group_w @ (_rwr(sums, beta) - (own * c).sum(axis=1))
                   / max(group_w @ sums.sum_w - q * len(group_w), 1.0))
    noise = np.diag(np.tensordot(group_w, np.linalg.inv(sums.ZWZ + ridge), 1)
                    / group_w.sum()) * sigma2
    spread = np.maximum(np.average((own - np.average(own, axis=0, weights=group_w)) ** 2,
                                   axis=0, weights=group_w) - noise, 0.1 * noise)
    return _pack(np.diag(spread / max(sigma2, 1e-300)), 1.0)[:-1]


def _profile(sums, group_w, delta):
    """β̂ and σ̂² maximising the pseudo-likelihood for a relative covariance Δ = Ψ/σ² (given by
    its log-Cholesky vector ``delta``), and θ = (log-Cholesky of Ψ, log σ²) of that point.

    With Ψ = σ²Δ the pseudo-log-likelihood is −½ Σ W_g log(2πσ²) − Σ Q_g/(2σ²) − ½ Σ log|I +
    Z'WZ Δ| with Q_g = r'Wr − c'(Δ⁻¹ + Z'WZ)⁻¹c, so β̂ is the weighted GLS estimate given Δ and
    σ̂² = Σ w_g Q_g / Σ w_g W_g (as lme4's profiled deviance, with weights)."""
    q = sums.q
    rel, _ = _unpack(np.append(delta, 0.0), q)
    beta = _beta_given_variances(sums, group_w, rel, 1.0)[0]
    M, _ = _posterior(sums, rel, 1.0)
    c = sums.ZWy - sums.ZWX @ beta
    Q = _rwr(sums, beta) - ((M @ c[:, :, None])[:, :, 0] * c).sum(axis=1)
    sigma2 = float(group_w @ Q / (group_w @ sums.sum_w))
    theta = np.append(delta, np.log(sigma2))
    off = np.ones(len(delta), dtype=bool)
    rows, cols = _tril(q)
    off[rows == cols] = False
    theta[:-1][~off] += 0.5 * np.log(sigma2)          # log of L_Ψ's diagonal = log σ + log L_Δ
    theta[:-1][off] *= np.sqrt(sigma2)
    return beta, sigma2, theta, off


def _fit_pml(sums, group_w):
    """Maximise the weighted pseudo-log-likelihood: β and σ² profiled out (:func:`_profile`),
    BFGS over the log-Cholesky factor of Δ = Ψ/σ² with the closed-form gradient, then Newton
    steps on the Hessian of that gradient. Returns (β, Ψ, σ², θ, log-likelihood, converged,
    the optimiser's message), θ = (log-Cholesky of Ψ, log σ²)."""
    from scipy import optimize

    q, p = sums.q, sums.p
    scale = float(group_w @ sums.sum_w)
    cache = {}

    def profiled(delta):
        # BFGS asks for the objective and the gradient at the same point: profile once
        key = delta.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = _profile(sums, group_w, delta)
        return cache[key]

    def objective(delta):
        beta, sigma2, theta, _ = profiled(delta)
        return -float(group_w @ _group_loglik(sums, beta, *_unpack(theta, q))) / scale

    def gradient(delta):
        # envelope: at the profiled β and σ² their scores vanish; ∂/∂L_Δ = σ ∂/∂L_Ψ off the
        # diagonal, and the log-diagonal derivatives coincide
        beta, sigma2, theta, off = profiled(delta)
        grad = (group_w @ _group_scores(sums, beta, theta))[p:-1]
        grad[off] *= np.sqrt(sigma2)
        return -grad / scale

    delta = _start(sums, group_w)
    best = optimize.minimize(objective, delta, jac=gradient, method="BFGS",
                             options={"gtol": 1e-6, "maxiter": 1000})
    delta = best.x
    # Newton steps polish the optimum (BFGS stops on its own tolerance).
    h = 1e-6
    for _ in range(3):
        grad = gradient(delta)
        if np.max(np.abs(grad)) < 1e-12:
            break
        hess = np.column_stack([(gradient(delta + h * e) - gradient(delta - h * e)) / (2 * h)
                                for e in np.eye(len(delta))])
        hess = (hess + hess.T) / 2
        if np.linalg.eigvalsh(hess).min() <= 0:
            break
        trial = delta - np.linalg.solve(hess, grad)
        if objective(trial) > objective(delta):
            break
        delta = trial
    converged = bool(np.max(np.abs(gradient(delta))) < 1e-6)
    beta, sigma2, theta, _ = _profile(sums, group_w, delta)
    psi, _ = _unpack(theta, q)
    llf = float(group_w @ _group_loglik(sums, beta, psi, sigma2))
    return beta, psi, sigma2, theta, llf, converged, str(best.message)


def _sandwich(sums, group_w, beta, theta, n_groups):
    """Cluster-robust covariance of (β, θ), clustered on the groups: H⁻¹ B H⁻¹ with B =
    G/(G−1) Σ_g (w_g s_g)(w_g s_g)', s_g the group's score, H the negative Hessian (β block in
    closed form, the rest by central differences of the closed-form scores)."""
    p = sums.p
    scores = _group_scores(sums, beta, theta) * group_w[:, None]
    k = p + len(theta)
    hessian = np.zeros((k, k))
    hessian[:p, :p] = _beta_given_variances(sums, group_w, *_unpack(theta, sums.q))[1]
    h = 1e-6
    for j, e in enumerate(np.eye(len(theta))):
        derivative = (group_w @ (_group_scores(sums, beta, theta + h * e)
                                 - _group_scores(sums, beta, theta - h * e))) / (2 * h)
        hessian[p + j, :] = -derivative
        hessian[:p, p + j] = -derivative[:p]
    hessian = (hessian + hessian.T) / 2
    meat = n_groups / (n_groups - 1) * (scores.T @ scores)
    bread = np.linalg.pinv(hessian)
    vcov = bread @ meat @ bread
    return (vcov + vcov.T) / 2


def _weight_inputs(data, weights, group_weights, weight_scaling, reml):
    """(frame, row weights or None, their name, group-weight column or None, reml): what the
    data, ``weights=`` and ``group_weights=`` say about the weights, checked."""
    from ..design import SurveyDesign
    if weight_scaling not in WEIGHT_SCALINGS:
        raise ValueError(f"weight_scaling must be one of {list(WEIGHT_SCALINGS)}, got "
                         f"{weight_scaling!r}")
    if isinstance(data, SurveyDesign):
        if weights is not None:
            raise ValueError("give the weights either as a SurveyDesign or as weights=, not "
                             "both")
        frame = data.data
        row_weights = np.asarray(data.weights, dtype=float)
        name = (f"the design's weights ({data.weights_column!r})" if data.weights_column
                else "the design's weights")
    else:
        frame, row_weights, name = data, None, None
        if weights is not None:
            if not isinstance(weights, str):
                raise TypeError(f"weights must be a column name or None, got "
                                f"{type(weights).__name__}")
            name = repr(weights)
    weighted = row_weights is not None or weights is not None or group_weights is not None
    if weighted and reml:
        raise ValueError("reml=True cannot be combined with survey weights: the weighted fit "
                         "is pseudo-maximum likelihood (as Stata's mixed with pweights); "
                         "leave reml out or set reml=False")
    if group_weights is not None and not isinstance(group_weights, str):
        raise TypeError(f"group_weights must be a column name or None, got "
                        f"{type(group_weights).__name__}")
    return frame, row_weights, name, weighted, (not weighted if reml is None else bool(reml))


def _checked_weights(rows, values, name, what):
    """Float weights of the complete rows; one error naming the negative/infinite rows."""
    if values.dtype.kind not in "fiub":
        raise ValueError(f"{what} {name} must be numeric, got dtype {values.dtype}")
    values = values.astype(float)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        shown = ", ".join(str(i) for i in rows.index[bad][:10])
        raise ValueError(f"{what} {name} has {int(bad.sum())} negative or infinite value(s) "
                         f"(rows {shown})")
    return values


def fit_multilevel(formula: str, data, *, groups: str = "province_code",
                   re_formula: str | None = "~staff_score", reml: bool | None = None,
                   weights: str | None = None, weight_scaling: str = "size",
                   group_weights: str | None = None, national=None,
                   level: float = 0.95) -> ModelResult:
    """Linear mixed model with random intercepts and slopes by ``groups``: unweighted REML, or
    survey-weighted pseudo-maximum likelihood.

    As R's ``lmer(y ~ x + (x | province_code), REML = TRUE)``: ``formula`` gives the fixed part,
    ``re_formula`` the random terms (``"~x"`` = intercept and slope of x, correlated;
    ``"~1"`` or None = random intercepts only). Rows missing any model variable, the group or a
    weight are dropped (counted in the notes).

    Without weights (``weights=None``, ``data`` a DataFrame) the fit is statsmodels' MixedLM,
    REML unless ``reml=False``, and **unweighted**, which the result says. With ``weights=`` (a
    column of level-1 weights, conditional on the group) or ``data`` a SurveyDesign (its
    weights) the fit is the weighted pseudo-maximum likelihood of Rabe-Hesketh & Skrondal
    (2006), as Stata's ``mixed ... [pw=w], pwscale(...)``: the level-1 weights are scaled within
    each group by ``weight_scaling`` (``"size"``: they sum to the group's rows, their method 1
    and Stata's ``pwscale(size)``; ``"effective"``: to its effective sample size, method 2 and
    ``pwscale(effective)``; ``"none"``: as given, e.g. frequency weights), and each group's
    integrated likelihood is weighted by ``group_weights`` (a column constant within groups;
    default 1: every province is in the SIPAS sample). Rows of zero weight are dropped (outside
    a design's domain, for example). The fixed-effect covariance is then the sandwich clustered
    on the groups, as Stata reports for pweights (see the module doc). Weighted fits are ML
    (there is no weighted REML); ``reml=True`` with weights is an error.

    Returns a ModelResult (model "multilevel"): ``params``/``vcov`` are the fixed effects, with
    covariance (Σ X_g'V_g⁻¹X_g)⁻¹ as lme4's ``vcov`` (unweighted) or the cluster-robust sandwich
    (weighted), tested against the normal (``df`` None, as statsmodels, lme4's Wald intervals
    and Stata's z). ``extra`` holds:

    - ``group_effects``: one row per group and random term with columns ``<groups>, term,
      estimate`` (fixed effect + BLUP: the group-specific effect), ``std_error`` (prediction-
      error SD given the variance components; see the module doc), ``ci_low, ci_high``
      (normal, at ``level``), ``blup`` (the random effect alone), ``n`` (rows of the group).
    - ``variance_components``: ``term, kind, group, estimate, std_error, ci_low, ci_high`` with
      kind "variance_component": var/sd of each random term, their covariances and
      correlations, and the residual variance and SD (no standard errors: see the code).
    - ``national_comparison`` (when ``national`` is given: a design-based ModelResult from
      ``fit_linear``, or a SurveyDesign, which is then fitted with the fixed part of
      ``formula``): ``term, multilevel_estimate, multilevel_std_error, design_estimate,
      design_std_error, design_df, difference`` (multilevel − design; ``design_df``: the
      design-based fit's residual degrees of freedom) for every fixed term in both fits.
    - ``notes``: list of sentences (weighted or not and how, rows dropped, optimiser warnings).

    ``stats`` (for glance): n_groups, group_size_min, group_size_max, method ("REML", "ML" or
    "PML"), log_likelihood (the log pseudo-likelihood for PML), reml_criterion (−2 × REML
    log-likelihood, as lme4 prints) or deviance, aic and bic (unweighted ML fits only),
    converged, n_dropped, weights and weight_scaling (None unweighted).

    Examples
    --------
    Eight provinces whose slope of y on x differs around 0.5:

    >>> import numpy as np, pandas as pd
    >>> from sipas_analysis.models import tidy
    >>> rng = np.random.default_rng(0)
    >>> province = np.repeat(np.arange(8), 30)
    >>> slope = 0.5 + rng.normal(0, 0.3, 8)[province]
    >>> data = pd.DataFrame({"province_code": [f"{p:02d}" for p in province],
    ...                      "x": rng.normal(size=240)})
    >>> data["y"] = 2 + rng.normal(0, 0.5, 8)[province] + slope * data["x"] + rng.normal(size=240)
    >>> fit = fit_multilevel("y ~ x", data, re_formula="~x")
    >>> tidy(fit)[["term", "estimate", "std_error"]].round(2)  # doctest: +NORMALIZE_WHITESPACE
            term  estimate  std_error
    0  Intercept      1.98       0.16
    1          x      0.60       0.13

    Each province's own slope (fixed effect plus its BLUP), lowest and highest:

    >>> effects = fit.extra["group_effects"]
    >>> slopes = effects[effects.term == "x"].set_index("province_code")["estimate"]
    >>> slopes.idxmin(), slopes.idxmax()
    ('04', '06')

    The same model with survey weights (pseudo-maximum likelihood, weights scaled to the
    province sample sizes, sandwich standard errors clustered on provinces):

    >>> data["weight"] = rng.uniform(1, 3, 240)
    >>> weighted = fit_multilevel("y ~ x", data, re_formula="~x", weights="weight")
    >>> tidy(weighted)[["term", "estimate", "std_error"]].round(2)
    ... # doctest: +NORMALIZE_WHITESPACE
            term  estimate  std_error
    0  Intercept      1.99       0.17
    1          x      0.60       0.14
    >>> weighted.stats["method"], weighted.stats["weight_scaling"]
    ('PML', 'size')
    """
    frame, design_weights, weight_name, weighted, reml = _weight_inputs(
        data, weights, group_weights, weight_scaling, reml)
    extra_columns = {}
    if weights is not None:
        extra_columns["weights"] = weights
    if group_weights is not None:
        extra_columns["group_weights"] = group_weights
    _check_inputs(formula, frame, groups, re_formula, level, extra_columns)
    re_text = re_formula if re_formula is not None else "~1"
    columns = list(dict.fromkeys(formula_columns(formula, frame) + formula_columns(re_text, frame)
                                 + [groups] + list(extra_columns.values())))
    complete = frame[columns].notna().all(axis=1).to_numpy()
    n_dropped = int((~complete).sum())
    n_zero_weight = 0
    if weighted:
        row_w = (design_weights if design_weights is not None else
                 (frame[weights].to_numpy() if weights is not None else np.ones(len(frame))))
        row_w = _checked_weights(frame.loc[complete], np.asarray(row_w)[complete],
                                 weight_name or "", "weights")
        positive = np.zeros(len(frame), dtype=bool)
        positive[np.flatnonzero(complete)[row_w > 0]] = True
        n_zero_weight = int(complete.sum() - positive.sum())
        complete = positive
    rows = frame.loc[complete]
    if len(rows) == 0:
        raise ValueError(f"no complete rows for {formula!r} with random part {re_text!r} by "
                         f"{groups!r}")
    y_frame, X_frame = patsy.dmatrices(formula, rows, return_type="dataframe", eval_env=_ENV,
                                       NA_action="raise")
    Z_frame = patsy.dmatrix(re_text, rows, return_type="dataframe", eval_env=_ENV,
                            NA_action="raise")
    if y_frame.shape[1] != 1:
        raise ValueError(f"the outcome of {formula!r} must be one numeric column, got "
                         f"{list(y_frame.columns)}")
    group_codes, group_labels = pd.factorize(rows[groups], sort=True)
    n_groups = len(group_labels)
    if n_groups < 2:
        raise ValueError(f"a multilevel model needs at least 2 groups in {groups!r}, got "
                         f"{n_groups}")

    y = y_frame.iloc[:, 0].to_numpy(dtype=float)
    X = X_frame.to_numpy(dtype=float)
    Z = Z_frame.to_numpy(dtype=float)
    fixed_names = list(X_frame.columns)
    random_names = list(Z_frame.columns)
    # a province's effect is the fixed effect plus its BLUP: a random slope with no fixed slope
    # would report the deviation alone as if it were the effect
    missing_fixed = [name for name in random_names if name not in fixed_names]
    if missing_fixed:
        raise ValueError(f"every random term must also be in the fixed part of the formula "
                         f"(add {missing_fixed} to {formula!r})")
    select = np.zeros((len(random_names), len(fixed_names)))
    for r, name in enumerate(random_names):
        select[r, fixed_names.index(name)] = 1.0
    method = "PML" if weighted else ("REML" if reml else "ML")

    if weighted:
        w = row_w[row_w > 0]
        if group_weights is not None:
            gw_rows = _checked_weights(rows, rows[group_weights].to_numpy(), repr(group_weights),
                                       "group_weights")
            spread = (pd.Series(gw_rows).groupby(group_codes).agg(lambda v: v.max() - v.min())
                      .to_numpy())
            varying = [str(group_labels[g]) for g in np.flatnonzero(spread > 0)]
            if varying:
                raise ValueError(f"group_weights {group_weights!r} must be constant within each "
                                 f"group of {groups!r}; it varies in {varying}")
            group_w = np.zeros(n_groups)
            group_w[group_codes] = gw_rows
        else:
            group_w = np.ones(n_groups)
        scaled = scale_weights(w, group_codes, weight_scaling)
        sums = _WeightedSums(y, X, Z, scaled, group_codes, n_groups)
        beta, psi, sigma2, theta, llf, converged, message = _fit_pml(sums, group_w)
        if not converged:
            raise RuntimeError("the weighted multilevel model did not converge (BFGS with "
                               f"Newton polishing); the optimiser said: {message}")
        v_full = _sandwich(sums, group_w, beta, theta, n_groups)
        v_beta = v_full[:len(fixed_names), :len(fixed_names)]
        M, _ = _posterior(sums, psi, sigma2)
        c = sums.ZWy - sums.ZWX @ beta
        blup = np.einsum("gqr,gr->gq", M, c) / sigma2
        # Prediction-error covariance of the weighted predictor (module doc):
        # M (Ψ⁻¹ + Z'W²Z/σ²) M = M + M (Z'W²Z − Z'WZ) M / σ².
        sigma_g = M + M @ (sums.ZW2Z - sums.ZWZ) @ M / sigma2
        sigma_g = (sigma_g + sigma_g.transpose(0, 2, 1)) / 2
        ZtX, shrink = sums.ZWX, M
        sm_messages = []
    else:
        _, fit, sm_messages = _fit_statsmodels(y_frame, X_frame, Z_frame, group_codes, reml)
        beta = np.asarray(fit.fe_params, dtype=float)
        psi = np.asarray(fit.cov_re, dtype=float)
        sigma2 = float(fit.scale)
        v_beta, blup, sigma_g, ZtX = _henderson(y, X, Z, group_codes, n_groups, beta, psi,
                                                sigma2)
        llf, converged = float(fit.llf), bool(fit.converged)
        shrink = sigma_g        # unweighted, M_g and the PEV Σ_g coincide

    # Group-specific effects θ_g = S β + b_g and their prediction-error covariance.
    A = select[None] - shrink @ ZtX / sigma2
    pev = np.einsum("gqp,ps,grs->gqr", A, v_beta, A) + sigma_g
    theta_g = (select @ beta)[None, :] + blup
    se = np.sqrt(np.clip(np.einsum("gqq->gq", pev), 0, None))
    z = stats.norm.ppf(0.5 + level / 2)
    group_n = np.bincount(group_codes, minlength=n_groups)
    group_effects = pd.DataFrame({
        groups: np.repeat(np.asarray(group_labels, dtype=object), len(random_names)),
        "term": np.tile(random_names, n_groups),
        "estimate": theta_g.ravel(),
        "std_error": se.ravel(),
        "ci_low": (theta_g - z * se).ravel(),
        "ci_high": (theta_g + z * se).ravel(),
        "blup": blup.ravel(),
        "n": np.repeat(group_n, len(random_names)),
    })

    if weighted:
        scaling_text = {"size": "scaled within each group to sum to its sample size (Rabe-"
                                "Hesketh & Skrondal's method 1, Stata's pwscale(size))",
                        "effective": "scaled within each group to sum to its effective sample "
                                     "size (Rabe-Hesketh & Skrondal's method 2, Stata's "
                                     "pwscale(effective))",
                        "none": "used as given, not scaled"}[weight_scaling]
        level2 = (f"group weights from {group_weights!r}" if group_weights is not None
                  else "group weight 1 (every group in the sample)")
        notes = [f"weighted multilevel fit (pseudo-maximum likelihood, as Stata's mixed with "
                 f"pweights): level-1 weights {weight_name} {scaling_text}; {level2}; "
                 f"fixed-effect standard errors robust, clustered on {groups}"]
    else:
        notes = [f"unweighted multilevel fit (statsmodels MixedLM, {method}): survey weights "
                 "not used; under an informative design the fixed effects may differ from the "
                 "design-based population estimates"]
    if n_dropped:
        notes.append(f"{n_dropped} of {len(frame)} rows dropped for a missing value in "
                     f"{', '.join(columns)}")
    if n_zero_weight:
        notes.append(f"{n_zero_weight} rows of zero weight left out")
    if weighted:
        notes.append("group effects: fixed effect + weighted BLUP; standard errors are "
                     "prediction-error SDs of the weighted predictor given the estimated "
                     "variance components, with the robust covariance of the fixed effects "
                     "(the components' own uncertainty is ignored)")
    else:
        notes.append("group effects: fixed effect + BLUP; standard errors are Henderson's "
                     "prediction-error SDs given the estimated variance components (their own "
                     "uncertainty is ignored, so intervals are somewhat narrow with few groups)")
    if (np.linalg.eigvalsh(psi) < 1e-8 * max(np.trace(psi), 1e-300)).any():
        notes.append("the random-effect covariance is singular (a variance at or near zero, "
                     "or a correlation of ±1): the model may be over-specified")
    notes.extend(sm_messages)

    params = pd.Series(beta, index=fixed_names)
    vcov = pd.DataFrame(v_beta, index=fixed_names, columns=fixed_names)
    if weighted:
        variance = (f"weighted multilevel fit (pseudo-maximum likelihood, weights "
                    f"{weight_name}, scaling {weight_scaling!r}): sandwich covariance of the "
                    f"fixed effects clustered on {groups} ({n_groups} clusters, factor "
                    f"G/(G−1)); random intercepts and slopes ({re_text}) by {groups}; Wald "
                    "tests and intervals against the normal")
    else:
        variance = (f"unweighted multilevel fit (statsmodels MixedLM, {method}): survey weights "
                    f"not used; fixed-effect covariance (X'V⁻¹X)⁻¹ given the estimated "
                    f"variance components; random intercepts and slopes ({re_text}) by "
                    f"{groups}; Wald tests and intervals against the normal")
    stats_row = {
        "n_groups": n_groups, "group_size_min": int(group_n.min()),
        "group_size_max": int(group_n.max()), "method": method, "log_likelihood": llf,
        ("reml_criterion" if method == "REML" else "deviance"): -2 * llf,
        "aic": float(fit.aic) if method == "ML" else np.nan,
        "bic": float(fit.bic) if method == "ML" else np.nan,
        "converged": converged, "n_dropped": n_dropped,
        "groups": groups, "re_formula": re_text,
        "weights": (weight_name if weighted else None),
        "weight_scaling": (weight_scaling if weighted else None),
    }
    extra = {"group_effects": group_effects,
             "variance_components": _variance_table(psi, sigma2, random_names, groups),
             "notes": notes}
    if national is not None:
        design_params, design_se, design_result = _national_estimates(national, formula)
        common = [t for t in fixed_names if t in design_params.index]
        if not common:
            raise ValueError("the national fit shares no term with the multilevel model: "
                             f"multilevel {fixed_names}, national {list(design_params.index)}")
        comparison = pd.DataFrame({
            "term": common,
            "multilevel_estimate": params[common].to_numpy(),
            "multilevel_std_error": np.sqrt(np.diag(vcov.loc[common, common].to_numpy())),
            "design_estimate": design_params[common].to_numpy(dtype=float),
            "design_std_error": design_se[common].to_numpy(dtype=float),
            "design_df": np.nan if design_result.df is None else float(design_result.df),
        })
        comparison["difference"] = comparison["multilevel_estimate"] - comparison["design_estimate"]
        extra["national_comparison"] = comparison[COMPARISON_COLUMNS]
        notes.append(f"national comparison: design-based estimates from a {design_result.model} "
                     f"fit ({design_result.variance})")
    return ModelResult(model="multilevel", formula=formula, params=params, vcov=vcov, df=None,
                       n=int(len(y)), variance=variance,
                       kinds=pd.Series("coefficient", index=fixed_names), stats=stats_row,
                       extra=extra, fitted={"random_names": random_names})
