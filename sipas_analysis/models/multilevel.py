"""Multilevel (mixed) driver models: random intercepts and slopes by province.

A province sample has only a handful of PSUs, so a design-based regression per province is too
noisy to say "in this province staff attitude matters more than nationally". A multilevel model
borrows strength across provinces instead: each province's slope is the national (fixed) slope
plus a random deviation, shrunk toward zero in proportion to how little that province's data
say.

statsmodels' ``MixedLM`` estimates the model (REML by default, as R's ``lme4::lmer``). It takes
no survey weights, so the fit is *unweighted*: under an informative design (selection related to
the outcome within provinces) its fixed effects can differ from the population quantity. That is
said in every result, and ``national=`` puts the design-based estimate of the same slope beside
the multilevel one so that the gap is visible.

Province-specific effects and their standard errors (``extra["group_effects"]``): for a random
term r of group g, the estimate is the fixed effect plus the BLUP, θ_g = β_r + b_g. Its
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


def _check_inputs(formula, data, groups, re_formula, level):
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if "~" not in formula or not formula.split("~", 1)[0].strip():
        raise ValueError(f"formula must look like 'y ~ x1 + x2', got {formula!r}")
    if re_formula is not None and not re_formula.strip().startswith("~"):
        raise ValueError(f"re_formula must look like '~x' (or '~1', or None for random "
                         f"intercepts only), got {re_formula!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    require_formula_columns("fit_multilevel", data,
                            {"formula": formula, "re_formula": re_formula or "~1"},
                            columns={"groups": groups})


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


def fit_multilevel(formula: str, data: pd.DataFrame, *, groups: str = "province_code",
                   re_formula: str | None = "~staff_score", reml: bool = True,
                   national=None, level: float = 0.95) -> ModelResult:
    """Linear mixed model with random intercepts and slopes by ``groups`` (REML by default).

    As R's ``lmer(y ~ x + (x | province_code), REML = TRUE)``: ``formula`` gives the fixed part,
    ``re_formula`` the random terms (``"~x"`` = intercept and slope of x, correlated;
    ``"~1"`` or None = random intercepts only). Rows missing any model variable or the group
    are dropped (counted in the notes). The fit is **unweighted**: statsmodels' MixedLM takes no
    survey weights, and the result says so.

    Returns a ModelResult (model "multilevel"): ``params``/``vcov`` are the fixed effects, with
    covariance (Σ X_g'V_g⁻¹X_g)⁻¹ as lme4's ``vcov``, tested against the normal (``df`` None,
    as statsmodels and lme4's Wald intervals). ``extra`` holds:

    - ``group_effects``: one row per group and random term with columns ``<groups>, term,
      estimate`` (fixed effect + BLUP: the group-specific effect), ``std_error`` (Henderson's
      prediction-error SD, conditional on the variance components; see the module doc),
      ``ci_low, ci_high`` (normal, at ``level``), ``blup`` (the random effect alone), ``n``
      (rows of the group).
    - ``variance_components``: ``term, kind, group, estimate, std_error, ci_low, ci_high`` with
      kind "variance_component": var/sd of each random term, their covariances and
      correlations, and the residual variance and SD (no standard errors: see the code).
    - ``national_comparison`` (when ``national`` is given: a design-based ModelResult from
      ``fit_linear``, or a SurveyDesign, which is then fitted with the fixed part of
      ``formula``): ``term, multilevel_estimate, multilevel_std_error, design_estimate,
      design_std_error, design_df, difference`` (multilevel − design; ``design_df``: the
      design-based fit's residual degrees of freedom) for every fixed term in both fits.
    - ``notes``: list of sentences (unweighted fit, rows dropped, statsmodels warnings).

    ``stats`` (for glance): n_groups, group_size_min, group_size_max, method ("REML"/"ML"),
    log_likelihood, reml_criterion (−2 × REML log-likelihood, as lme4 prints) or deviance,
    aic and bic (ML fits only; REML likelihoods are not comparable across fixed parts),
    converged, n_dropped.

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
    """
    _check_inputs(formula, data, groups, re_formula, level)
    re_text = re_formula if re_formula is not None else "~1"
    columns = list(dict.fromkeys(formula_columns(formula, data) + formula_columns(re_text, data)
                                 + [groups]))
    complete = data[columns].notna().all(axis=1).to_numpy()
    n_dropped = int((~complete).sum())
    rows = data.loc[complete]
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
    _, fit, sm_messages = _fit_statsmodels(y_frame, X_frame, Z_frame, group_codes, reml)

    beta = np.asarray(fit.fe_params, dtype=float)
    psi = np.asarray(fit.cov_re, dtype=float)
    sigma2 = float(fit.scale)
    v_beta, blup, sigma_g, ZtX = _henderson(y, X, Z, group_codes, n_groups, beta, psi, sigma2)

    # Group-specific effects θ_g = S β + b_g and their prediction-error covariance.
    select = np.zeros((len(random_names), len(fixed_names)))
    for r, name in enumerate(random_names):
        if name in fixed_names:
            select[r, fixed_names.index(name)] = 1.0
    A = select[None] - sigma_g @ ZtX / sigma2                           # (G, q, p)
    pev = np.einsum("gqp,ps,grs->gqr", A, v_beta, A) + sigma_g
    theta = (select @ beta)[None, :] + blup
    se = np.sqrt(np.clip(np.einsum("gqq->gq", pev), 0, None))
    z = stats.norm.ppf(0.5 + level / 2)
    group_n = np.bincount(group_codes, minlength=n_groups)
    group_effects = pd.DataFrame({
        groups: np.repeat(np.asarray(group_labels, dtype=object), len(random_names)),
        "term": np.tile(random_names, n_groups),
        "estimate": theta.ravel(),
        "std_error": se.ravel(),
        "ci_low": (theta - z * se).ravel(),
        "ci_high": (theta + z * se).ravel(),
        "blup": blup.ravel(),
        "n": np.repeat(group_n, len(random_names)),
    })

    method = "REML" if reml else "ML"
    notes = [f"unweighted multilevel fit (statsmodels MixedLM, {method}): survey weights not "
             "used; under an informative design the fixed effects may differ from the "
             "design-based population estimates"]
    if n_dropped:
        notes.append(f"{n_dropped} of {len(data)} rows dropped for a missing value in "
                     f"{', '.join(columns)}")
    notes.append("group effects: fixed effect + BLUP; standard errors are Henderson's "
                 "prediction-error SDs given the estimated variance components (their own "
                 "uncertainty is ignored, so intervals are somewhat narrow with few groups)")
    if (np.linalg.eigvalsh(psi) < 1e-8 * max(np.trace(psi), 1e-300)).any():
        notes.append("the random-effect covariance is singular (a variance at or near zero, "
                     "or a correlation of ±1): the model may be over-specified")
    notes.extend(sm_messages)

    params = pd.Series(beta, index=fixed_names)
    vcov = pd.DataFrame(v_beta, index=fixed_names, columns=fixed_names)
    variance = (f"unweighted multilevel fit (statsmodels MixedLM, {method}): survey weights not "
                f"used; fixed-effect covariance (X'V⁻¹X)⁻¹ given the estimated variance "
                f"components; random intercepts and slopes ({re_text}) by {groups}; Wald tests "
                "and intervals against the normal")
    llf = float(fit.llf)
    stats_row = {
        "n_groups": n_groups, "group_size_min": int(group_n.min()),
        "group_size_max": int(group_n.max()), "method": method, "log_likelihood": llf,
        ("reml_criterion" if reml else "deviance"): -2 * llf,
        "aic": np.nan if reml else float(fit.aic), "bic": np.nan if reml else float(fit.bic),
        "converged": bool(fit.converged), "n_dropped": n_dropped,
        "groups": groups, "re_formula": re_text,
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
