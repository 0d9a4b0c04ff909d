"""Survey-weighted linear, logistic and proportional-odds regression.

statsmodels fits these models, but not the survey part: its ``Logit`` and ``OrderedModel`` take
no weights, ``WLS`` weights mean inverse variances, and GLM ``freq_weights`` that are not integers
shrink the standard errors. So the estimating equations are solved here (weighted least squares,
Newton-Raphson with analytic derivatives and step halving; separation, where no finite estimate
exists, is detected by linear programming and refused naming the predictors) and the variance is
the sandwich ``A⁻¹ · V(Σ U_i) · A⁻¹``, where ``V`` comes from the design's own
linearisation (``SurveyDesign.vcov_totals``) — exactly R's ``svyglm`` and ``svyolr``. Given a
plain DataFrame (with optional integer-like ``freq_weights``), the classical model-based variance
is used instead, as R's ``lm``, ``glm`` and ``MASS::polr`` with ``weights=``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
from scipy import special, stats

from ..design import SurveyDesign
from .formulas import formula_columns, require_formula_columns
from .results import ModelResult

_ENV = patsy.EvalEnvironment([{"np": np}])


# --------------------------------------------------------------------------------------------
# Model frame: design matrix, outcome, weights and the rows used
# --------------------------------------------------------------------------------------------
@dataclass
class _Frame:
    y: np.ndarray            # outcome of the rows used
    X: np.ndarray            # design matrix of the rows used
    names: list[str]         # column names of X
    w: np.ndarray            # weights of the rows used
    used: np.ndarray         # positions (in the full data) of the rows used
    n_total: int             # rows in the full data
    n_missing: int           # in-domain rows dropped for a missing model variable
    design: SurveyDesign | None
    outcome: str
    outcome_levels: list | None = None   # labels of an ordered categorical outcome
    design_info: object = None           # patsy's recipe for X (to rebuild it for AMEs)
    rows: pd.DataFrame | None = None     # the model variables of the rows used
    lhs: str = ""


def _fit_name(binary_outcome: bool, ordinal_outcome: bool) -> str:
    """The public function that builds a model frame, for its error messages."""
    return "fit_logit" if binary_outcome else "fit_ordinal" if ordinal_outcome else "fit_linear"


def _model_frame(formula: str, design_or_data, freq_weights: str | None,
                 binary_outcome: bool = False, ordinal_outcome: bool = False) -> _Frame:
    if isinstance(design_or_data, SurveyDesign):
        if freq_weights is not None:
            raise ValueError("freq_weights is for a plain DataFrame; a SurveyDesign carries its "
                             "own weights")
        design, data = design_or_data, design_or_data.data
        weights = np.asarray(design.weights, dtype=float)
    elif isinstance(design_or_data, pd.DataFrame):
        design, data = None, design_or_data
        if freq_weights is None:
            weights = np.ones(len(data))
        else:
            if freq_weights not in data:
                require_formula_columns(_fit_name(binary_outcome, ordinal_outcome), data,
                                        {"formula": formula},
                                        columns={"freq_weights": freq_weights})
            weights = pd.to_numeric(data[freq_weights], errors="coerce").to_numpy(dtype=float)
            bad = ~(np.isfinite(weights) & (weights >= 0) & (weights == np.round(weights)))
            if bad.any():
                rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad)[:5])
                raise ValueError(
                    f"freq_weights column {freq_weights!r} must hold whole numbers >= 0 (counts "
                    f"of identical respondents); {int(bad.sum())} row(s) do not, e.g. rows "
                    f"{rows}. Survey weights are not frequency weights: pass a SurveyDesign.")
    else:
        raise TypeError("design_or_data must be a SurveyDesign or a pandas DataFrame, got "
                        f"{type(design_or_data).__name__}")
    if "~" not in formula:
        raise ValueError(f"formula must look like 'y ~ x1 + x2', got {formula!r}")
    columns = formula_columns(formula, data)
    require_formula_columns(_fit_name(binary_outcome, ordinal_outcome), data,
                            {"formula": formula})
    complete = data[columns].notna().all(axis=1).to_numpy() if columns else \
        np.ones(len(data), bool)
    in_domain = weights > 0
    used = np.flatnonzero(complete & in_domain)
    n_missing = int((in_domain & ~complete).sum())
    if used.size == 0:
        raise ValueError(f"no complete rows for {formula!r} (all rows miss a model variable or "
                         "lie outside the domain)")
    if design is not None:
        # as R's svyglm/svyolr: rows missing a model variable leave the design's domain, so
        # PSU counts, degrees of freedom and lonely-PSU rules see only the rows fitted
        design = design.subset(complete)
    rows = data.iloc[used, :][columns].reset_index(drop=True)
    outcome_levels = None
    lhs = formula.split("~", 1)[0].strip()
    if ordinal_outcome and lhs in rows and not pd.api.types.is_numeric_dtype(rows[lhs]):
        # an ordered categorical (or text with categories) outcome: its codes, in category order
        outcome = rows[lhs].astype("category")
        outcome_levels = list(outcome.cat.categories)
        rows[lhs] = outcome.cat.codes.astype(float) + 1
    for column in columns:  # unused levels would become all-zero (singular) dummy columns
        if column != lhs and isinstance(rows[column].dtype, pd.CategoricalDtype):
            rows[column] = rows[column].cat.remove_unused_categories()
    y_frame, x_frame = patsy.dmatrices(formula, rows, return_type="dataframe", eval_env=_ENV,
                                       NA_action="raise")
    if y_frame.shape[1] == 2 and binary_outcome:   # patsy spells a logical outcome as 2 columns
        y_frame = y_frame[[c for c in y_frame.columns if c.endswith("[True]")]]
    if y_frame.shape[1] != 1:
        raise ValueError(f"the outcome of {formula!r} must be one numeric column, got "
                         f"{list(y_frame.columns)}")
    return _Frame(y=y_frame.iloc[:, 0].to_numpy(float), X=x_frame.to_numpy(float),
                  names=list(x_frame.columns), w=weights[used], used=used, n_total=len(data),
                  n_missing=n_missing, design=design, outcome=str(y_frame.columns[0]),
                  outcome_levels=outcome_levels, design_info=x_frame.design_info, rows=rows,
                  lhs=formula.split("~", 1)[0].strip())


def _check_rank(frame: _Frame):
    rank = np.linalg.matrix_rank(frame.X)
    if rank < frame.X.shape[1]:
        constant = [n for n, column in zip(frame.names, frame.X.T)
                    if n != "Intercept" and np.ptp(column) == 0]
        raise ValueError(f"the design matrix is singular (rank {rank} < {frame.X.shape[1]} "
                         f"columns {frame.names}): a predictor is constant or collinear in the "
                         f"rows used" + (f"; constant: {constant}" if constant else ""))


# --------------------------------------------------------------------------------------------
# Variance: design-based sandwich or model-based
# --------------------------------------------------------------------------------------------
def _sandwich(frame: _Frame, scores: np.ndarray, bread_inv: np.ndarray,
              information: np.ndarray | None = None) -> np.ndarray:
    """A⁻¹ V(Σ U) A⁻¹ with V from the design; rows not used carry zero scores but keep the
    design's strata and PSUs (domain estimation, as R's svyglm on a subset).

    A replicate design (``vcov_m_estimator``) given the rows' ``information`` (h_i with
    unweighted information h_i h_i') refits by a Newton step in every replicate instead."""
    full = np.zeros((frame.n_total, scores.shape[1]))
    full[frame.used] = scores
    refit = getattr(frame.design, "vcov_m_estimator", None)
    if refit is not None and information is not None:
        rows = np.zeros((frame.n_total, information.shape[1]))
        rows[frame.used] = information
        return refit(full, rows)
    meat = frame.design.vcov_totals(full)
    return bread_inv @ meat @ bread_inv.T


def _design_df(frame: _Frame, n_params: int) -> float:
    # summary.svyglm: residual df = design df (PSUs − strata) − (p − 1)
    return float(frame.design.df - (n_params - 1))


def _design_stats(frame: _Frame) -> dict:
    return {"design_df": frame.design.df, "n_psu": frame.design.n_psu,
            "n_strata": frame.design.n_strata, "n_dropped_missing": frame.n_missing}


def _variance_words(frame: _Frame, family: str) -> str:
    if frame.design is not None and hasattr(frame.design, "n_reps"):
        d = frame.design
        return (f"design-based ({d.n_reps} {d.method} replicates, the model refitted in each, "
                f"as R svyglm/svyolr on a replicate design): design df {d.df}; weights used")
    if frame.design is not None:
        d = frame.design
        return (f"design-based (Taylor linearisation sandwich, as R svyglm/svyolr): "
                f"{d.n_strata} strata, {d.n_psu} PSUs, design df {d.df}; weights used")
    if np.all(frame.w == 1):
        return f"model-based ({family}, unweighted)"
    return f"model-based ({family}) with frequency weights (as the fit on the expanded data)"


def _result(model, formula, frame, params, vcov, kinds, df, stats_row, fitted, extra=None):
    index = pd.Index(params.index)
    return ModelResult(model=model, formula=formula, params=params,
                       vcov=pd.DataFrame(vcov, index=index, columns=index), df=df,
                       n=int(frame.used.size), variance=_variance_words(frame, model),
                       kinds=pd.Series(kinds, index=index), stats=stats_row,
                       extra=extra or {}, fitted=fitted)


# --------------------------------------------------------------------------------------------
# Linear
# --------------------------------------------------------------------------------------------
def fit_linear(formula: str, design_or_data, *, freq_weights: str | None = None) -> ModelResult:
    """Weighted least squares; as R ``svyglm(family=gaussian())`` given a SurveyDesign, as
    ``lm(weights=)`` with frequency weights given a DataFrame.

    Rows missing any model variable are left out (as a domain, so the design is kept); their
    number is in ``glance()['n_dropped_missing']``.

    Examples
    --------
    Respondents in 20 PSUs (no weights: each row weighs 1); t tests on the design's residual
    df, PSUs minus strata minus the one slope:

    >>> import numpy as np, pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> from sipas_analysis.models import tidy
    >>> rng = np.random.default_rng(0)
    >>> data = pd.DataFrame({"psu": np.repeat(np.arange(20), 10), "x": rng.normal(size=200)})
    >>> data["y"] = 1 + 0.5 * data["x"] + rng.normal(size=200)
    >>> fit = fit_linear("y ~ x", SurveyDesign(data, psu="psu"))
    >>> fit.df
    18.0
    >>> tidy(fit)[["term", "estimate", "std_error"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
            term  estimate  std_error
    0  Intercept     0.913      0.080
    1          x     0.431      0.073
    """
    frame = _model_frame(formula, design_or_data, freq_weights)
    _check_rank(frame)
    X, y, w = frame.X, frame.y, frame.w
    xtwx = X.T @ (X * w[:, None])
    beta = np.linalg.solve(xtwx, X.T @ (w * y))
    resid = y - X @ beta
    bread_inv = np.linalg.inv(xtwx)
    sw = w.sum()
    ybar = (w * y).sum() / sw
    rss, tss = (w * resid**2).sum(), (w * (y - ybar) ** 2).sum()
    p = X.shape[1]
    stats_row = {"r_squared": 1 - rss / tss, "n_expanded": float(sw) if frame.design is None
                 else np.nan}
    if frame.design is not None:
        vcov = _sandwich(frame, X * (w * resid)[:, None], bread_inv, information=X)
        df = _design_df(frame, p)
        stats_row.update(_design_stats(frame), dispersion=_svyglm_dispersion(resid, w),
                         aic=np.nan)
    else:
        df = sw - p  # frequency weights: residual df of the expanded data
        sigma2 = rss / df
        vcov = sigma2 * bread_inv
        loglik = -0.5 * sw * (np.log(2 * np.pi * rss / sw) + 1)
        stats_row.update(sigma=np.sqrt(sigma2), loglik=loglik, aic=-2 * loglik + 2 * (p + 1),
                         n_dropped_missing=frame.n_missing)
    params = pd.Series(beta, index=frame.names)
    return _result("linear", formula, frame, params, vcov, ["coefficient"] * p, df, stats_row,
                   {"X": X, "w": w, "names": frame.names, "frame": frame,
                    "scores": X * (w * resid)[:, None], "bread_inv": bread_inv})


def _svyglm_dispersion(resid: np.ndarray, w: np.ndarray) -> float:
    """R's summary.svyglm dispersion: svyvar of the Pearson residuals, whose prior weights are
    the design weights rescaled to mean 1 (svyglm's default rescaling)."""
    pearson = resid * np.sqrt(w / w.mean())
    centred = pearson - (w * pearson).sum() / w.sum()
    n = resid.size
    return float((w * centred**2).sum() / w.sum() * n / (n - 1))


# --------------------------------------------------------------------------------------------
# Separation: the outcome predicted exactly, so no finite maximum-likelihood estimate exists
# --------------------------------------------------------------------------------------------
# 1 - P(observed answer) below this makes the fit look for separation (once): it happens on
# the way to infinite coefficients, and rarely otherwise, which keeps the linear program (seconds
# on 10^5 rows) off the ordinary fit
_SEPARATION_SUSPECT = 1e-6


def _separating_direction(A: np.ndarray, G: np.ndarray | None = None):
    """Look for a direction d with A d >= 0 (and G d >= 0) that is positive in some row.

    Along such a d the log-likelihood never decreases and approaches its supremum, so the
    maximum-likelihood estimate does not exist (Albert and Anderson, 1984). Three linear
    programs: Konis's (2007) test, maximise Σ (A d)_i over a box, whose optimum is 0 when
    nothing separates; then the sparsest direction (least L1 norm) that keeps every row it
    found separated, so that only the predictors needed are named; then, unless every row was
    separated already, whether one direction separates every row strictly (complete
    separation).

    Parameters
    ----------
    A : ndarray, shape (m, k)
        One row per inequality that a separating direction must satisfy.
    G : ndarray, shape (r, k), optional
        Further inequalities ``G d >= 0`` that no row is counted for (cut-point order).

    Returns
    -------
    tuple or None
        ``(d, strict, complete)``: the direction in the columns of ``A``, which rows it
        separates strictly, and whether some direction separates all of them; None when
        nothing separates.
    """
    from scipy.optimize import linprog

    m, k = A.shape
    scale = np.abs(A).max(axis=0)
    scale[scale == 0] = 1.0          # a column that is 0 in every row cannot separate
    scaled = A / scale
    order = np.zeros((0, k)) if G is None else G / scale
    cone = np.vstack([-scaled, -order])               # A d >= 0 and G d >= 0, as A_ub d <= 0
    found = linprog(-scaled.sum(axis=0), A_ub=cone, b_ub=np.zeros(len(cone)), bounds=(-1, 1),
                    method="highs")
    # HiGHS keeps constraints to ~1e-7, while a separating direction pushed to the box lifts
    # some rows to order 1
    if found.status != 0 or (scaled @ found.x).max() <= 1e-6:
        return None
    strict = scaled @ found.x > 1e-6
    # sparsest direction: d = d⁺ − d⁻, minimise Σ d⁺ + d⁻ with the rows found at margin 1
    split = np.hstack([cone, -cone])
    margin = np.hstack([-scaled[strict], scaled[strict]])
    sparse = linprog(np.ones(2 * k), A_ub=np.vstack([split, margin]),
                     b_ub=np.r_[np.zeros(len(cone)), -np.ones(int(strict.sum()))],
                     bounds=(0, None), method="highs")
    direction = found.x if sparse.status != 0 else sparse.x[:k] - sparse.x[k:]
    direction = np.where(np.abs(direction) > 1e-6 * np.abs(direction).max(), direction, 0.0)
    complete = bool(strict.all())
    if not complete:
        # maximise t subject to A d >= t in every row: t > 0 is complete separation
        every = linprog(np.r_[np.zeros(k), -1.0],
                        A_ub=np.vstack([np.hstack([-scaled, np.ones((m, 1))]),
                                        np.hstack([-order, np.zeros((len(order), 1))])]),
                        b_ub=np.zeros(m + len(order)), bounds=[(-1, 1)] * k + [(0, 1)],
                        method="highs")
        complete = every.status == 0 and -every.fun > 1e-6
        if complete:
            strict = np.ones(m, bool)
    return direction / scale, strict, complete


def _separation_error(names: list[str], direction: np.ndarray, exact: np.ndarray,
                      complete: bool, outcome: str) -> ValueError:
    involved = [name for name, d in zip(names, direction) if d != 0 and name != "Intercept"]
    if not involved:
        return ValueError(f"{outcome} takes a single value in all {exact.size} rows used: "
                          "there is nothing to model")
    return ValueError(
        f"{'complete' if complete else 'quasi-complete'} separation: {', '.join(involved)} "
        f"predict(s) {outcome} exactly for {int(exact.sum())} of {exact.size} rows used, so no "
        f"finite maximum-likelihood estimate exists (the coefficients grow without bound). "
        f"Drop or merge the predictor(s) named, or fit on more rows.")


def _logit_separation(X, y, w, names, outcome):
    used = w > 0                       # rows of zero weight are not in the likelihood
    A = (2 * y[used] - 1)[:, None] * X[used]
    found = _separating_direction(A)
    if found is None:
        return None
    direction, strict, complete = found
    return _separation_error(names, direction, strict, complete, outcome)


# --------------------------------------------------------------------------------------------
# Logit
# --------------------------------------------------------------------------------------------
def _logit_loglik(eta, y, w) -> float:
    # y·η − log(1 + e^η), without forming probabilities that round to 0 or 1
    return float((w * (y * eta - np.logaddexp(0.0, eta))).sum())


def _irls_logit(X, y, w, *, names=None, outcome="the outcome", tol=1e-10, max_iter=100):
    """Weighted logistic regression by safeguarded Newton-Raphson (IRLS).

    Each Newton step is halved until the weighted (pseudo-)log-likelihood does not decrease,
    so a first step that overshoots (a rare predictor on a near-constant outcome sends the
    plain step to tens of thousands) cannot run the fit into a singular information matrix.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Design matrix of full column rank; a first column of ones is an intercept.
    y : ndarray, shape (n,)
        Outcome, 0/1.
    w : ndarray, shape (n,)
        Non-negative weights (survey or frequency).
    names : list of str, optional
        Column names of ``X``, for the separation message (default ``column 1`` …).
    outcome : str
        Name of the outcome, for the separation message.
    tol : float
        Converged when the Newton step is below ``tol · (1 + max|β|)``, or when the
        log-likelihood it promises (the Newton decrement) is below ``tol² · (1 + |ℓ|)``,
        which is what remains at the limit of floating point on ill-conditioned designs.
    max_iter : int
        Newton steps allowed.

    Returns
    -------
    beta : ndarray
        Estimates.
    mu : ndarray
        Fitted probabilities.
    info : ndarray
        Weighted information matrix ``Xᵀ W μ(1 − μ) X`` at ``beta``.
    iterations : int
        Newton steps taken.

    Raises
    ------
    ValueError
        On complete or quasi-complete separation, naming the columns that separate.
    RuntimeError
        When the fit does not converge in ``max_iter`` steps, or no step increases the
        log-likelihood, without separation.
    """
    names = list(names) if names is not None else [f"column {j + 1}" for j in range(X.shape[1])]
    beta = np.zeros(X.shape[1])
    ybar = np.clip((w * y).sum() / w.sum(), 1e-6, 1 - 1e-6)
    beta[0] = np.log(ybar / (1 - ybar)) if np.allclose(X[:, 0], 1) else 0.0
    eta = X @ beta
    loglik = _logit_loglik(eta, y, w)
    looked_for_separation = False

    def separated():
        nonlocal looked_for_separation
        looked_for_separation = True
        return _logit_separation(X, y, w, names, outcome)

    for iteration in range(1, max_iter + 1):
        mu = special.expit(eta)
        info = X.T @ (X * (w * mu * (1 - mu))[:, None])
        gradient = X.T @ (w * (y - mu))
        try:
            step = np.linalg.solve(info, gradient)
        except np.linalg.LinAlgError:
            step = np.full_like(beta, np.nan)
        if not np.all(np.isfinite(step)):
            error = None if looked_for_separation else separated()
            if error is not None:
                raise error
            raise RuntimeError("the logistic regression's information matrix became singular "
                               f"after {iteration - 1} Newton steps")
        if (np.max(np.abs(step)) < tol * (1 + np.max(np.abs(beta)))
                or gradient @ step < tol**2 * (1 + abs(loglik))):
            beta = beta + step
            break
        scale = 1.0
        while True:
            trial = beta + scale * step
            trial_eta = X @ trial
            trial_loglik = _logit_loglik(trial_eta, y, w)
            # the slack is rounding: near the maximum a full step may change ℓ by 1 ulp
            if trial_loglik >= loglik - 1e-12 * abs(loglik):
                break
            scale /= 2
            if scale < 1e-10:
                error = None if looked_for_separation else separated()
                if error is not None:
                    raise error
                raise RuntimeError("the logistic regression stalled: no step along the Newton "
                                   f"direction increases the log-likelihood (step {iteration})")
        beta, eta, loglik = trial, trial_eta, trial_loglik
        if not looked_for_separation:
            miss = special.expit(-(2 * y - 1) * eta)   # 1 − P(observed answer)
            if np.min(miss[w > 0]) < _SEPARATION_SUSPECT:
                error = separated()
                if error is not None:
                    raise error
    else:
        error = None if looked_for_separation else separated()
        if error is not None:
            raise error
        raise RuntimeError(f"the logistic regression did not converge in {max_iter} Newton "
                           "steps")
    mu = special.expit(X @ beta)
    info = X.T @ (X * (w * mu * (1 - mu))[:, None])
    return beta, mu, info, iteration


def _binary_loglik(y, mu, w):
    mu = np.clip(mu, 1e-300, 1 - 1e-16)
    return float((w * (y * np.log(mu) + (1 - y) * np.log1p(-mu))).sum())


def fit_logit(formula: str, design_or_data, *, freq_weights: str | None = None) -> ModelResult:
    """Logistic regression; as R ``svyglm(family=quasibinomial())`` given a SurveyDesign, as
    ``glm(family=binomial, weights=)`` with frequency weights given a DataFrame.

    The outcome must be 0/1 (or logical, e.g. ``I(overall_satisfaction >= 4)``; rows where the
    variable is missing are left out, never counted as 0). ``tidy(result, exponentiate=True)``
    gives odds ratios; :func:`average_marginal_effects` the effects on the probability.

    Raises
    ------
    ValueError
        When predictors separate the outcome (completely or quasi-completely: a rare yes/no
        predictor whose every respondent is satisfied, say). No finite estimate exists then,
        and the numbers an iteration would stop at depend only on its stopping rule, so they are
        refused, the predictors named, as a singular design matrix is.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> from sipas_analysis.models import tidy
    >>> rng = np.random.default_rng(0)
    >>> data = pd.DataFrame({"psu": np.repeat(np.arange(20), 10), "x": rng.normal(size=200)})
    >>> eta = 0.3 + data["x"]
    >>> data["y"] = (rng.random(200) < 1 / (1 + np.exp(-eta))).astype(float)
    >>> fit = fit_logit("y ~ x", SurveyDesign(data, psu="psu"))
    >>> odds = tidy(fit, exponentiate=True)
    >>> odds[["term", "estimate", "ci_low", "ci_high"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
            term  estimate  ci_low  ci_high
    0  Intercept     1.128   0.748    1.702
    1          x     2.738   1.881    3.985
    """
    frame = _model_frame(formula, design_or_data, freq_weights, binary_outcome=True)
    if not np.isin(frame.y, [0.0, 1.0]).all():
        raise ValueError(f"the outcome of a logit must be 0/1 or logical; {frame.outcome!r} has "
                         f"values {np.unique(frame.y)[:6].tolist()}")
    _check_rank(frame)
    X, y, w = frame.X, frame.y, frame.w
    beta, mu, info, iterations = _irls_logit(X, y, w, names=frame.names, outcome=frame.lhs)
    bread_inv = np.linalg.inv(info)
    p = X.shape[1]
    loglik = _binary_loglik(y, mu, w)
    ybar = (w * y).sum() / w.sum()
    loglik0 = _binary_loglik(y, np.full_like(y, ybar), w)
    stats_row = {"pseudo_r_squared": 1 - loglik / loglik0, "iterations": iterations}
    if frame.design is not None:
        refit = getattr(frame.design, "vcov_refit", None)
        if refit is not None:   # a replicate design: refit in every replicate, as svyglm
            vcov = refit(lambda wr: _irls_logit(X, y, wr, names=frame.names,
                                                outcome=frame.lhs)[0], beta, frame.used)
        else:
            vcov = _sandwich(frame, X * (w * (y - mu))[:, None], bread_inv)
        df = _design_df(frame, p)
        stats_row.update(_design_stats(frame), aic=np.nan)
    else:
        vcov, df = bread_inv, None
        stats_row.update(loglik=loglik, aic=-2 * loglik + 2 * p, deviance=-2 * loglik,
                         n_expanded=float(w.sum()), n_dropped_missing=frame.n_missing)
    params = pd.Series(beta, index=frame.names)
    return _result("logit", formula, frame, params, vcov, ["coefficient"] * p, df, stats_row,
                   {"X": X, "w": w, "names": frame.names, "frame": frame,
                    "scores": X * (w * (y - mu))[:, None], "bread_inv": bread_inv})


# --------------------------------------------------------------------------------------------
# Proportional odds (cumulative link) model
# --------------------------------------------------------------------------------------------
class _Link:
    """Cumulative distribution F, density f and its derivative f' of a cumulative link."""

    def __init__(self, name: str):
        if name not in {"logit", "probit"}:
            raise ValueError(f"link must be 'logit' or 'probit', got {name!r}")
        self.name = name

    def cdf(self, z):
        return special.expit(z) if self.name == "logit" else special.ndtr(z)

    def pdf(self, z):
        if self.name == "logit":
            F = special.expit(z)
            return F * (1 - F)
        return np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)

    def dpdf(self, z):
        if self.name == "logit":
            F = special.expit(z)
            return F * (1 - F) * (1 - 2 * F)
        with np.errstate(invalid="ignore"):   # ±inf cut-points: the caller zeroes these
            return -z * np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)


def _finite(v):
    return np.where(np.isfinite(v), v, 0.0)


class _CumulativeLink:
    """Log-likelihood, per-row scores and Hessian of P(Y <= k) = F(θ_k − xβ) (R polr's sign).

    Parameters are stacked as (β_1..β_p, θ_1..θ_{J−1}). Rows falling in category j touch the
    cut-points j (upper) and j−1 (lower): the derivatives are assembled with bincount, so a
    million rows take a fraction of a second per Newton step.
    """

    def __init__(self, X, y_index, w, n_cuts, link):
        self.X, self.y, self.w, self.J1, self.link = X, y_index, w, n_cuts, link
        self.upper = y_index < n_cuts        # rows with a finite upper cut-point θ_y
        self.lower = y_index > 0             # rows with a finite lower cut-point θ_{y−1}

    def _pieces(self, params):
        p = self.X.shape[1]
        beta, theta = params[:p], params[p:]
        eta = self.X @ beta
        cuts = np.concatenate([[-np.inf], theta, [np.inf]])
        a = cuts[self.y + 1] - eta
        b = cuts[self.y] - eta
        L = self.link
        Fa, Fb = L.cdf(a), L.cdf(b)
        P = np.maximum(Fa - Fb, 1e-300)
        fa, fb = _finite(L.pdf(a)) * self.upper, _finite(L.pdf(b)) * self.lower
        dfa, dfb = _finite(L.dpdf(a)) * self.upper, _finite(L.dpdf(b)) * self.lower
        return P, fa, fb, dfa, dfb

    def loglik(self, params) -> float:
        P = self._pieces(params)[0]
        return float((self.w * np.log(P)).sum())

    def derivatives(self, params):
        """Return (loglik, per-row weighted scores (n × k), Hessian (k × k))."""
        X, w, J1 = self.X, self.w, self.J1
        n, p = X.shape
        P, fa, fb, dfa, dfb = self._pieces(params)
        la, lb = fa / P, -fb / P                       # ∂ℓ/∂θ_upper, ∂ℓ/∂θ_lower
        laa = dfa / P - la**2
        lbb = -dfb / P - lb**2
        lab = -la * lb                                  # = fa·fb / P²
        l_eta = -(la + lb)
        l_eta_eta = laa + 2 * lab + lbb
        l_eta_up, l_eta_lo = -(laa + lab), -(lab + lbb)
        up_idx, lo_idx = np.minimum(self.y, J1 - 1), np.maximum(self.y - 1, 0)

        scores = np.zeros((n, p + J1))
        scores[:, :p] = X * (w * l_eta)[:, None]
        rows = np.arange(n)
        np.add.at(scores, (rows[self.upper], p + up_idx[self.upper]), (w * la)[self.upper])
        np.add.at(scores, (rows[self.lower], p + lo_idx[self.lower]), (w * lb)[self.lower])

        H = np.zeros((p + J1, p + J1))
        H[:p, :p] = X.T @ (X * (w * l_eta_eta)[:, None])
        for k in range(J1):   # J−1 cut-points: a short loop over columns, not rows
            at_up, at_lo = self.upper & (up_idx == k), self.lower & (lo_idx == k)
            H[:p, p + k] = X[at_up].T @ (w * l_eta_up)[at_up] + X[at_lo].T @ (w * l_eta_lo)[at_lo]
            H[p + k, p + k] = (w * laa)[at_up].sum() + (w * lbb)[at_lo].sum()
            if k + 1 < J1:   # rows in category k+1 have upper cut k+1 and lower cut k
                both = self.upper & self.lower & (self.y == k + 1)
                H[p + k, p + k + 1] = H[p + k + 1, p + k] = (w * lab)[both].sum()
        H[p:, :p] = H[:p, p:].T
        loglik = float((w * np.log(P)).sum())
        return loglik, scores, H


def _ordinal_separation(model: _CumulativeLink, names: list[str], outcome: str):
    """Separation for the cumulative link: a direction (b, δ) of the coefficients and of the
    (still ordered, δ non-decreasing) cut-points along which no answer's probability falls,
    i.e. δ_y − x b >= 0 where the answer has an upper cut and x b − δ_(y−1) >= 0 where it
    has a lower one."""
    X, y, J1 = model.X, model.y, model.J1
    used = model.w > 0
    p = X.shape[1]
    upper, lower = model.upper & used, model.lower & used
    A_upper = np.zeros((int(upper.sum()), p + J1))
    A_upper[:, :p] = -X[upper]
    A_upper[np.arange(A_upper.shape[0]), p + y[upper]] = 1.0
    A_lower = np.zeros((int(lower.sum()), p + J1))
    A_lower[:, :p] = X[lower]
    A_lower[np.arange(A_lower.shape[0]), p + y[lower] - 1] = -1.0
    order = np.zeros((J1 - 1, p + J1))
    for k in range(J1 - 1):
        order[k, p + k], order[k, p + k + 1] = -1.0, 1.0
    found = _separating_direction(np.vstack([A_upper, A_lower]), order if J1 > 1 else None)
    if found is None:
        return None
    direction, strict, complete = found
    exact = np.zeros(len(y), bool)      # a respondent is predicted exactly if either cut is
    exact[np.flatnonzero(upper)] |= strict[:A_upper.shape[0]]
    exact[np.flatnonzero(lower)] |= strict[A_upper.shape[0]:]
    # the cut-points' part of the direction only keeps them ordered: the predictors separate
    return _separation_error(names, direction[:p], exact[used], complete, outcome)


def _newton(model: _CumulativeLink, start: np.ndarray, *, names=None, outcome="the outcome",
            tol=1e-10, max_iter=100):
    """Maximise the cumulative-link log-likelihood by safeguarded Newton-Raphson.

    Steps are halved until the log-likelihood does not decrease and the cut-points stay
    ordered. Converged when the step is below ``tol · (1 + max|θ|)``.

    Raises
    ------
    ValueError
        On complete or quasi-complete separation, naming the predictors that separate.
    RuntimeError
        When the fit does not converge in ``max_iter`` steps, or stalls, without separation.
    """
    p = model.X.shape[1]
    names = list(names) if names is not None else [f"column {j + 1}" for j in range(p)]
    looked_for_separation = False

    def fail(message):
        error = None if looked_for_separation else _ordinal_separation(model, names, outcome)
        raise error if error is not None else RuntimeError(message)

    params = start.copy()
    loglik, scores, H = model.derivatives(params)
    for iteration in range(1, max_iter + 1):
        gradient = scores.sum(axis=0)
        try:
            step = np.linalg.solve(-H, gradient)
        except np.linalg.LinAlgError:
            step = np.full_like(params, np.nan)
        if not np.all(np.isfinite(step)):
            fail("the proportional-odds fit's Hessian became singular after "
                 f"{iteration - 1} Newton steps")
        scale = 1.0
        while True:   # step halving keeps every step uphill and the cut-points ordered
            trial = params + scale * step
            theta = trial[p:]
            if np.all(np.diff(theta) > 0):
                new_loglik = model.loglik(trial)
                if new_loglik >= loglik - 1e-12 * abs(loglik):
                    break
            scale /= 2
            if scale < 1e-8:
                fail("the proportional-odds fit stalled (no uphill step)")
        params = trial
        loglik, scores, H = model.derivatives(params)
        if np.max(np.abs(scale * step)) < tol * (1 + np.max(np.abs(params))):
            return params, loglik, scores, H, iteration
        if not looked_for_separation and \
                np.max(1 - model._pieces(params)[0][model.w > 0]) < _SEPARATION_SUSPECT:
            error = _ordinal_separation(model, names, outcome)
            looked_for_separation = True
            if error is not None:
                raise error
    fail(f"the proportional-odds fit did not converge in {max_iter} Newton steps")


_REPLICATE_CELLS = 2_000_000   # rows x replicates per block of the replicate refits


def _newton_replicates(X, y_index, n_cuts, link, weights, start, *, tol=1e-10, max_iter=100):
    """The cumulative-link fit of every column of ``weights`` (n x R replicate weights) at
    once, each Newton iteration started at ``start`` (the full-sample fit) with the same
    step-halving and convergence rule as :func:`_newton`: (R, k) estimates, a row of NaN for
    a replicate that did not converge (the caller refits it alone, which names the cause).

    One iteration is a few (n x R) array operations and matrix products instead of R
    separate small fits, whose cost is mostly interpreter overhead."""
    n, p = X.shape
    J1 = n_cuts
    k = p + J1
    upper, lower = y_index < J1, y_index > 0
    up_idx, lo_idx = np.minimum(y_index, J1 - 1), np.maximum(y_index - 1, 0)
    at_up = (np.arange(J1)[None, :] == up_idx[:, None]) & upper[:, None]     # (n, J1)
    at_lo = (np.arange(J1)[None, :] == lo_idx[:, None]) & lower[:, None]
    both = [(upper & lower & (y_index == j + 1)).astype(float) for j in range(J1 - 1)]
    at_up_f, at_lo_f = at_up.astype(float), at_lo.astype(float)
    xx = (X[:, :, None] * X[:, None, :]).reshape(n, p * p)

    def pieces(params):                       # params (R, k)
        eta = X @ params[:, :p].T                                         # (n, R)
        cuts = np.concatenate([np.full((len(params), 1), -np.inf), params[:, p:],
                               np.full((len(params), 1), np.inf)], axis=1)
        a = cuts[:, y_index + 1].T - eta
        b = cuts[:, y_index].T - eta
        with np.errstate(invalid="ignore", over="ignore"):
            P = np.maximum(link.cdf(a) - link.cdf(b), 1e-300)
        return P, a, b

    def loglik(params, w):
        return (w * np.log(pieces(params)[0])).sum(axis=0)

    def newton_pieces(params, w):
        P, a, b = pieces(params)
        fa = _finite(link.pdf(a)) * upper[:, None]
        fb = _finite(link.pdf(b)) * lower[:, None]
        dfa = _finite(link.dpdf(a)) * upper[:, None]
        dfb = _finite(link.dpdf(b)) * lower[:, None]
        la, lb = fa / P, -fb / P
        laa, lbb, lab = dfa / P - la**2, -dfb / P - lb**2, -la * lb
        R = params.shape[0]
        gradient = np.empty((R, k))
        gradient[:, :p] = (X.T @ (w * -(la + lb))).T
        gradient[:, p:] = (at_up_f.T @ (w * la) + at_lo_f.T @ (w * lb)).T
        H = np.zeros((R, k, k))
        H[:, :p, :p] = (xx.T @ (w * (laa + 2 * lab + lbb))).T.reshape(R, p, p)
        eta_up, eta_lo = w * -(laa + lab), w * -(lab + lbb)
        for j in range(J1):
            H[:, :p, p + j] = (X.T @ (eta_up * at_up_f[:, [j]] + eta_lo * at_lo_f[:, [j]])).T
        H[:, np.arange(p, k), np.arange(p, k)] = (at_up_f.T @ (w * laa)
                                                  + at_lo_f.T @ (w * lbb)).T
        for j in range(J1 - 1):
            H[:, p + j, p + j + 1] = H[:, p + j + 1, p + j] = both[j] @ (w * lab)
        H[:, p:, :p] = np.transpose(H[:, :p, p:], (0, 2, 1))
        return gradient, H

    out = np.full((weights.shape[1], k), np.nan)
    chunk = max(1, _REPLICATE_CELLS // max(n, 1))
    for first in range(0, weights.shape[1], chunk):
        w = weights[:, first:first + chunk]
        R = w.shape[1]
        params = np.tile(start, (R, 1))
        ll = loglik(params, w)
        active = np.ones(R, bool)
        failed = np.zeros(R, bool)
        for _ in range(max_iter):
            rows = np.flatnonzero(active)
            if rows.size == 0:
                break
            gradient, H = newton_pieces(params[rows], w[:, rows])
            with np.errstate(all="ignore"):
                try:
                    step = np.linalg.solve(-H, gradient[:, :, None])[:, :, 0]
                except np.linalg.LinAlgError:
                    step = np.full((rows.size, k), np.nan)
            bad = ~np.isfinite(step).all(axis=1)
            failed[rows[bad]], active[rows[bad]] = True, False
            rows, step = rows[~bad], step[~bad]
            scale = np.ones(rows.size)
            pending = np.ones(rows.size, bool)     # step halving, replicate by replicate
            trial = params[rows].copy()
            new_ll = ll[rows].copy()
            while pending.any():
                at = np.flatnonzero(pending)
                candidate = params[rows[at]] + scale[at, None] * step[at]
                ordered = np.all(np.diff(candidate[:, p:], axis=1) > 0, axis=1)
                value = np.full(at.size, -np.inf)
                if ordered.any():
                    value[ordered] = loglik(candidate[ordered], w[:, rows[at[ordered]]])
                ok = ordered & (value >= ll[rows[at]] - 1e-12 * np.abs(ll[rows[at]]))
                trial[at[ok]], new_ll[at[ok]] = candidate[ok], value[ok]
                pending[at[ok]] = False
                scale[at[~ok]] /= 2
                stalled = at[~ok][scale[at[~ok]] < 1e-8]
                pending[stalled] = False
                failed[rows[stalled]], active[rows[stalled]] = True, False
            moved = ~failed[rows]
            params[rows[moved]], ll[rows[moved]] = trial[moved], new_ll[moved]
            size = np.max(np.abs(scale[:, None] * step), axis=1)
            done = moved & (size < tol * (1 + np.max(np.abs(trial), axis=1)))
            active[rows[done]] = False
        failed |= active                           # out of iterations
        params[failed] = np.nan
        out[first:first + R] = params
    return out


def fit_ordinal(formula: str, design_or_data, *, link: str = "logit",
                freq_weights: str | None = None) -> ModelResult:
    """Proportional-odds (cumulative logit or probit) regression.

    As R ``svyolr`` given a SurveyDesign and ``MASS::polr(weights=)`` given a DataFrame, with
    R's parametrisation: ``logit P(Y <= k) = ζ_k − xβ``, so a positive coefficient moves answers
    up the scale. Cut-points are reported as R does ("1|2", "2|3", … with kind "cut_point"),
    not as statsmodels' log-increments. The outcome's levels are its sorted distinct values
    (or the categories of an ordered Categorical). Fitted by Newton-Raphson with analytic
    derivatives. The parallel-lines assumption is tested by :func:`parallel_lines_test`.
    On a replicate design (``ReplicateDesign``) the model is refitted with every replicate's
    weights, each fit started at the full-sample estimate (all replicates in one vectorised
    Newton iteration), and the covariance is the replicate variance of the refits, as R's
    ``svyolr`` on a replicate design.

    Raises
    ------
    ValueError
        When predictors separate the answers (e.g. everyone with a rare yes/no predictor gives
        the top answer): no finite estimate exists, as for :func:`fit_logit`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> from sipas_analysis.models import tidy
    >>> rng = np.random.default_rng(1)
    >>> data = pd.DataFrame({"psu": np.repeat(np.arange(20), 10), "x": rng.normal(size=200)})
    >>> latent = 0.8 * data["x"] + rng.logistic(size=200)
    >>> data["y"] = np.digitize(latent, [-1.5, -0.5, 0.5, 1.5]) + 1    # answers 1-5
    >>> fit = fit_ordinal("y ~ x", SurveyDesign(data, psu="psu"))
    >>> tidy(fit)[["term", "kind", "estimate"]].round(2)  # doctest: +NORMALIZE_WHITESPACE
      term         kind  estimate
    0    x  coefficient      0.95
    1  1|2    cut_point     -1.12
    2  2|3    cut_point     -0.21
    3  3|4    cut_point      0.66
    4  4|5    cut_point      1.70
    """
    frame = _model_frame(formula, design_or_data, freq_weights, ordinal_outcome=True)
    keep = [i for i, name in enumerate(frame.names) if name != "Intercept"]
    X, names = frame.X[:, keep], [frame.names[i] for i in keep]
    frame.X, frame.names = X, names
    if X.shape[1]:
        _check_rank(frame)
    levels = np.unique(frame.y)
    if levels.size < 3:
        raise ValueError(f"an ordinal outcome needs at least 3 levels; {frame.outcome!r} has "
                         f"{levels.tolist()} (use fit_logit for two)")
    y_index = np.searchsorted(levels, frame.y)
    w = frame.w
    J1 = levels.size - 1
    cumulative = np.cumsum(np.bincount(y_index, weights=w, minlength=levels.size))[:-1] / w.sum()
    link_ = _Link(link)
    start = np.concatenate([np.zeros(X.shape[1]),
                            special.logit(cumulative) if link == "logit" else
                            special.ndtri(cumulative)])
    model = _CumulativeLink(X, y_index, w, J1, link_)
    params, loglik, scores, H, iterations = _newton(model, start, names=names,
                                                    outcome=frame.lhs)
    bread_inv = np.linalg.inv(-H)
    labels = ([frame.outcome_levels[int(v) - 1] for v in levels] if frame.outcome_levels
              else [_level(v) for v in levels])
    cut_names = [f"{labels[k]}|{labels[k + 1]}" for k in range(J1)]
    index = names + cut_names
    kinds = ["coefficient"] * len(names) + ["cut_point"] * J1
    null = _CumulativeLink(np.zeros((len(y_index), 0)), y_index, w, J1, link_)
    loglik0 = null.loglik(start[X.shape[1]:])
    n_params = len(index)
    stats_row = {"pseudo_r_squared": 1 - loglik / loglik0, "iterations": iterations,
                 "link": link}
    if frame.design is not None:
        refit = getattr(frame.design, "vcov_refit", None)
        if refit is not None:
            # a replicate design: the model refitted with every replicate's weights, each
            # Newton iteration started at the full-sample fit (R's svyolr on a replicate
            # design: polr per replicate, started at the full fit)
            def replicate_fit(weights):
                one = _CumulativeLink(X, y_index, weights, J1, link_)
                return _newton(one, params, names=names, outcome=frame.lhs)[0]

            def replicate_fits(weights):
                return _newton_replicates(X, y_index, J1, link_, weights, params)
            vcov = refit(replicate_fit, params, frame.used, fit_all=replicate_fits)
        else:
            vcov = _sandwich(frame, scores, bread_inv)
        df = _design_df(frame, X.shape[1] + 1)   # cut-points play the intercept's part
        stats_row.update(_design_stats(frame), aic=np.nan)
    else:
        vcov, df = bread_inv, None
        stats_row.update(loglik=loglik, aic=-2 * loglik + 2 * n_params, deviance=-2 * loglik,
                         n_expanded=float(w.sum()), n_dropped_missing=frame.n_missing)
    result = _result("ordinal", formula, frame, pd.Series(params, index=index), vcov, kinds, df,
                     stats_row, {"X": X, "w": w, "names": names, "levels": levels,
                                 "link": link, "frame": frame, "y_index": y_index,
                                 "scores": scores, "bread_inv": bread_inv, "keep": keep})
    return result


def _level(value) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# --------------------------------------------------------------------------------------------
# The parallel-lines assumption
# --------------------------------------------------------------------------------------------
def parallel_lines_test(result: ModelResult) -> pd.DataFrame:
    """Design-based Wald test of the proportional-odds (parallel-lines) assumption.

    Fits one weighted logit of ``Y > k`` for every cut-point k (Brant's construction) and stacks
    their estimating equations, so the joint covariance of all the slopes comes from the same
    design (or, without a design, from the same rows). H0: every predictor has the same slope at
    every cut. Columns: ``term`` ("all" first, then each predictor), ``statistic`` (Wald χ²),
    ``df`` (number of restrictions), ``p_value`` (χ² reference), ``f_statistic``, ``df_denominator``,
    ``f_p_value`` (F reference with the design's degrees of freedom, as R's ``regTermTest``;
    NaN without a design).

    Examples
    --------
    Answers drawn from a proportional-odds model, so the test should not reject:

    >>> import numpy as np, pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> rng = np.random.default_rng(1)
    >>> data = pd.DataFrame({"psu": np.repeat(np.arange(20), 10), "x": rng.normal(size=200)})
    >>> latent = 0.8 * data["x"] + rng.logistic(size=200)
    >>> data["y"] = np.digitize(latent, [-1.5, -0.5, 0.5, 1.5]) + 1    # answers 1-5
    >>> fit = fit_ordinal("y ~ x", SurveyDesign(data, psu="psu"))
    >>> test = parallel_lines_test(fit)
    >>> test[["term", "statistic", "df", "p_value"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
      term  statistic  df  p_value
    0  all      2.147   3    0.542
    1    x      2.147   3    0.542
    """
    if result.model != "ordinal":
        raise ValueError("parallel_lines_test needs a fit_ordinal result")
    fitted = result.fitted
    frame: _Frame = fitted["frame"]
    X = np.column_stack([np.ones(len(fitted["y_index"])), fitted["X"]])
    w, y_index = fitted["w"], fitted["y_index"]
    names = fitted["names"]
    p, J1 = len(names), len(fitted["levels"]) - 1
    if p == 0:
        raise ValueError("the model has no predictors to test")
    betas, breads, scores = [], [], []
    for k in range(J1):
        above = (y_index > k).astype(float)
        beta, mu, info, _ = _irls_logit(X, above, w, names=["Intercept"] + names,
                                        outcome=f"{frame.lhs} above cut {k + 1}")
        betas.append(beta)
        breads.append(np.linalg.inv(info))
        scores.append(X * (w * (above - mu))[:, None])
    k_all = X.shape[1]
    bread = np.zeros((k_all * J1, k_all * J1))
    for k in range(J1):
        bread[k * k_all:(k + 1) * k_all, k * k_all:(k + 1) * k_all] = breads[k]
    stacked = np.hstack(scores)
    if frame.design is not None:
        vcov = _sandwich(frame, stacked, bread)
        ddf = float(frame.design.df)
    else:
        meat = stacked.T @ (stacked / np.maximum(w, 1e-300)[:, None])  # Σ w·s sᵀ per row
        vcov = bread @ meat @ bread.T
        ddf = np.nan
    b = np.concatenate(betas)

    def wald(slopes: list[int]) -> tuple[float, int]:
        rows = []
        for j in slopes:                 # slope j at cut k equals slope j at cut 0
            for k in range(1, J1):
                row = np.zeros(b.size)
                row[1 + j] = 1.0
                row[k * k_all + 1 + j] = -1.0
                rows.append(row)
        C = np.array(rows)
        diff = C @ b
        stat = float(diff @ np.linalg.solve(C @ vcov @ C.T, diff))
        return stat, C.shape[0]

    out = []
    for term, slopes in [("all", list(range(p)))] + [(n, [j]) for j, n in enumerate(names)]:
        stat, q = wald(slopes)
        f_stat = stat / q
        out.append({"term": term, "statistic": stat, "df": q, "p_value": stats.chi2.sf(stat, q),
                    "f_statistic": f_stat, "df_denominator": ddf,
                    "f_p_value": stats.f.sf(f_stat, q, ddf) if np.isfinite(ddf) else np.nan})
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------------
# Average marginal effects
# --------------------------------------------------------------------------------------------
def _counterfactual_X(result: ModelResult, rows: pd.DataFrame) -> np.ndarray:
    """The model's design matrix for modified rows, rebuilt by patsy (so dummies, interactions
    and transformations follow the variable that was changed)."""
    frame: _Frame = result.fitted["frame"]
    X = np.asarray(patsy.build_design_matrices([frame.design_info], rows)[0], dtype=float)
    return X[:, result.fitted["keep"]] if "keep" in result.fitted else X


def _categorical_levels(frame: _Frame, variable: str):
    """The levels of ``variable`` if the model treats it as categorical, else None."""
    for factor, info in frame.design_info.factor_infos.items():
        tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", factor.name()))
        if info.type == "categorical" and variable in tokens:
            return list(info.categories)
    return None


def _contrasts(result: ModelResult):
    """(term, X_a, X_b, scale) for every predictor variable: a factor's levels against its
    first level, a 0/1 variable 1 against 0, a number by a central difference."""
    frame: _Frame = result.fitted["frame"]
    rows = frame.rows
    outcome = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", frame.lhs))
    out = []
    for variable in [c for c in rows.columns if c not in outcome]:
        levels = _categorical_levels(frame, variable)
        values = rows[variable]
        if levels is not None:
            for level in levels[1:]:
                at = [rows.assign(**{variable: _constant_like(values, v)}) for v in
                      (level, levels[0])]
                out.append((f"{variable}[{level}]", *map(lambda r: _counterfactual_X(result, r),
                                                           at), 1.0))
        elif np.isin(values.to_numpy(dtype=float), [0.0, 1.0]).all():
            at = [rows.assign(**{variable: float(v)}) for v in (1.0, 0.0)]
            out.append((variable, *[_counterfactual_X(result, r) for r in at], 1.0))
        else:
            h = 1e-4 * max(1.0, float(np.std(values.to_numpy(dtype=float))))
            at = [rows.assign(**{variable: values + d}) for d in (h, -h)]
            out.append((variable, *[_counterfactual_X(result, r) for r in at], 2 * h))
    return out


def _constant_like(values: pd.Series, level):
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pd.Categorical([level] * len(values), categories=values.cat.categories)
    return [level] * len(values)


def average_marginal_effects(result: ModelResult, *, at_least=None, level: float = 0.95,
                             unconditional: bool = True) -> pd.DataFrame:
    """Average marginal effect of each predictor variable on a probability, in probability
    units.

    Logit: on P(Y = 1). Ordinal: on P(Y >= at_least) (default: the top two levels, i.e.
    "satisfied" on a 1–5 scale). A factor gets one row per level against its first level
    (``"agency_level[district]"``), a 0/1 variable the average discrete change from 0 to 1, a
    number the average derivative; the design matrix is rebuilt for each change, so
    interactions and transformations move with their variable. Averages use the fit's weights
    (design weights give the population-averaged effect).

    Standard errors: for a design-based fit, ``unconditional=True`` (default) linearises the
    whole estimate — the average over the sample's covariate mix and the coefficients together,
    through the design (as Stata's ``margins, vce(unconditional)``); ``False`` treats the
    covariates as fixed (delta method on the coefficients only, as statsmodels' ``get_margeff``
    and model-based fits always do).

    Columns: ``term, kind ("ame"), estimate, std_error, statistic, p_value, ci_low, ci_high, n,
    model``.

    Examples
    --------
    A logit's effect of x on the probability of a yes, in probability units:

    >>> import numpy as np, pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> rng = np.random.default_rng(0)
    >>> data = pd.DataFrame({"psu": np.repeat(np.arange(20), 10), "x": rng.normal(size=200)})
    >>> eta = 0.3 + data["x"]
    >>> data["y"] = (rng.random(200) < 1 / (1 + np.exp(-eta))).astype(float)
    >>> fit = fit_logit("y ~ x", SurveyDesign(data, psu="psu"))
    >>> ame = average_marginal_effects(fit)
    >>> ame[["term", "kind", "estimate", "std_error"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
      term kind  estimate  std_error
    0    x  ame     0.208      0.025
    """
    if result.model not in {"logit", "ordinal"}:
        raise ValueError("average marginal effects are for logit and ordinal results")
    fitted = result.fitted
    frame: _Frame = fitted["frame"]
    w = fitted["w"]
    params = result.params.to_numpy(float)
    p = len(fitted["names"])
    if result.model == "logit":
        def probability(Xm):
            P = special.expit(Xm @ params)
            return P, (P * (1 - P))[:, None] * Xm
    else:
        levels = fitted["levels"]
        at_least = levels[-2] if at_least is None else at_least
        if at_least not in levels or at_least == levels[0]:
            raise ValueError(f"at_least must be one of the outcome levels above the lowest "
                             f"{levels[1:].tolist()}, got {at_least!r}")
        cut = int(np.searchsorted(levels, at_least)) - 1   # P(Y >= level) = 1 − F(θ_cut − η)
        link = _Link(fitted["link"])

        def probability(Xm):
            z = params[p + cut] - Xm @ params[:p]
            density = link.pdf(z)
            gradient = np.zeros((len(z), params.size))
            gradient[:, :p] = density[:, None] * Xm
            gradient[:, p + cut] = -density
            return 1 - link.cdf(z), gradient

    W = w.sum()
    terms, estimates, jacobian, per_row = [], [], [], []
    for term, X_a, X_b, scale in _contrasts(result):
        (P_a, G_a), (P_b, G_b) = probability(X_a), probability(X_b)
        change = (P_a - P_b) / scale
        terms.append(term)
        estimates.append((w * change).sum() / W)
        jacobian.append(w @ (G_a - G_b) / scale / W)
        per_row.append(change)
    estimate, J = np.array(estimates), np.array(jacobian)
    if frame.design is not None and unconditional:
        # influence of each AME: the covariate mix (w_i (g_i − AME) / W) plus the coefficients'
        # own influence (J · A⁻¹ U_i), both through the design's linearisation
        g = np.column_stack(per_row)
        influence = (w[:, None] * (g - estimate)) / W + \
            fitted["scores"] @ fitted["bread_inv"].T @ J.T
        full = np.zeros((frame.n_total, len(terms)))
        full[frame.used] = influence
        cov = frame.design.vcov_totals(full)
    else:
        cov = J @ result.vcov.to_numpy() @ J.T
    se = np.sqrt(np.diag(cov))
    quantile = stats.norm.ppf(0.5 + level / 2) if result.df is None else \
        stats.t.ppf(0.5 + level / 2, result.df)
    statistic = estimate / se
    p_value = 2 * (stats.norm.sf(np.abs(statistic)) if result.df is None
                   else stats.t.sf(np.abs(statistic), result.df))
    return pd.DataFrame({"term": terms, "kind": "ame", "estimate": estimate, "std_error": se,
                         "statistic": statistic, "p_value": p_value,
                         "ci_low": estimate - quantile * se, "ci_high": estimate + quantile * se,
                         "n": result.n, "model": result.model})
