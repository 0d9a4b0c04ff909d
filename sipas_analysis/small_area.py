"""Small-area (Fay–Herriot) estimates of the SIPAS index for units with few answers.

A commune People's Committee with 40 answers has a direct index whose interval spans twenty
points. The area-level model of Fay and Herriot (1979) borrows strength from the other units:

    y_i = x_i'β + u_i + e_i,   u_i ~ N(0, A),   e_i ~ N(0, D_i) with D_i known,

where ``y_i`` is unit i's direct estimate, ``x_i`` its covariates (its unit type, its previous
index, auxiliary figures such as an on-time rate) and ``D_i`` its sampling variance. The
empirical best linear unbiased predictor (EBLUP) is the shrinkage

    θ̂_i = γ_i y_i + (1 − γ_i) x_i'β̂,   γ_i = Â / (Â + D_i),

so a unit with many answers keeps (nearly) its direct estimate and a small one moves towards
what its covariates predict.

:func:`fay_herriot` is the plain model, computed as R's ``sae::eblupFH`` / ``sae::mseFH``
(Molina & Marhuenda 2015): A by REML (default), ML or the Fay–Herriot moment method, each by
the package's Fisher-scoring iteration started at the median of the D_i and stopped when the
relative change of A is at most ``precision`` (1e-4 there); β by generalised least squares;
the MSE by Prasad and Rao (1990) ``g1 + g2 + 2 g3`` with the Datta and Lahiri (2000)
correction terms of ML and FH, as ``mseFH``. Deviations only where ``eblupFH`` goes wrong:
a step that would leave [0, ∞) is cut to 0, a REML/ML step that would lower the likelihood is
halved (``eblupFH`` iterates on a negative variance there, or swings between two values for
ever), and where scoring still has not converged after ``max_iter`` steps (it creeps when A
is near 0) the likelihood, or FH's moment equation, is solved by a one-dimensional search.
On well-behaved data, such as ``sae``'s example, every step is ``eblupFH``'s.

:func:`small_area_index` is the SIPAS estimator built on it: per-unit direct indices on the
variance-stabilising arcsine scale ``asin(sqrt(p))`` with sampling variance ``1 / (4 n_eff)``
(smoothed: n_eff = n / one design effect pooled over the units, so no unit's variance rests
on its own noisy SE, and a unit where everyone was satisfied, whose direct SE is 0, still gets
a positive variance), covariates, back-transform
``sin²``, MSE on the percent scale by a parametric bootstrap with an explicit seed (the
back-transform and the benchmarking are non-linear; a bootstrap measures them as they are,
the delta method only to first order: ``mse="delta"`` gives it for comparison), and
benchmarking of the size-weighted mean of the estimates to the province's direct estimate
when unit sizes are known.

Why not a library
-----------------
Two are on PyPI. ``samplics`` 0.6.1 warns on import that it is archived and no longer
maintained (its successor is ``svy``); installed in a scratch environment it pulls polars and
pyarrow (757 MB in all), and on this module's milk test its REML fit agrees with R to about
1e-6 (its own stopping rule), but its ML fit does not: EBLUP 1.016228 and MSE 0.013559 for
area 1 where ``sae`` gives 1.016173 and 0.013580. ``svy-sae`` 0.4.1 ("Scalable Small Area
Estimation with JAX") was not installed: it brings JAX for a model whose fit is a scalar
iteration on a few dozen units. The model is about 200 lines of linear algebra, tested
here against R's results for the package's own example and an independent maximisation of
the REML likelihood, so the project keeps its own implementation.

References
----------
- Fay RE, Herriot RA (1979). Estimation of income for small places: an application of
  James-Stein procedures to census data. *JASA* 74:269-277.
- Prasad NGN, Rao JNK (1990). The estimation of the mean squared error of small-area
  estimators. *JASA* 85:163-171.
- Datta GS, Lahiri P (2000). A unified measure of uncertainty of estimated best linear
  unbiased predictors in small area estimation problems. *Statistica Sinica* 10:613-627.
- Molina I, Marhuenda Y (2015). sae: An R package for small area estimation. *The R Journal*
  7(1):81-98. (``eblupFH``, ``mseFH``, ``pbmseFH``, whose algorithms are followed.)
- González-Manteiga W, Lombardía MJ, Molina I, Morales D, Santamaría L (2008). Analytic and
  bootstrap approximations of prediction errors under a multivariate Fay-Herriot model.
  *Computational Statistics & Data Analysis* 52:5242-5252. (The parametric bootstrap.)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sipas_analysis._deprecation import renamed_keyword
from sipas_analysis.intervals import effective_size
from sipas_analysis.rng import Seed, as_generator

METHODS = ("REML", "ML", "FH")
BENCHMARK_METHODS = ("ratio", "difference")
MSE_METHODS = ("bootstrap", "delta")


# ----------------------------------------------------------------------------- the plain model

@dataclass(frozen=True)
class FayHerriotFit:
    """A fitted Fay–Herriot model (:func:`fay_herriot`).

    Attributes
    ----------
    areas : DataFrame
        One row per area: ``area, direct, sampling_variance, synthetic`` (x_i'β̂), ``eblup``,
        ``gamma`` (Â / (Â + D_i), the weight of the direct estimate), ``g1, g2, g3`` and
        ``mse`` (``mseFH``'s estimate).
    coefficients : DataFrame
        ``term, estimate, std_error, statistic, p_value`` of β (normal p-values, as
        ``eblupFH``).
    refvar, refvar_std_error : float
        Â and its asymptotic standard error (inverse Fisher information: 2 / tr(P²) for REML,
        2 / Σ(A + D_i)⁻² for ML, 2m / (Σ(A + D_i)⁻¹)² for FH).
    loglike, aic, bic : float
        As ``eblupFH``'s ``goodness``: the Gaussian (not restricted) log-likelihood at
        (β̂, Â), AIC = −2 loglike + 2 (p + 1), BIC = −2 loglike + (p + 1) log m.
    method : str
    converged : bool
    iterations : int
    """

    areas: pd.DataFrame
    coefficients: pd.DataFrame
    refvar: float
    refvar_std_error: float
    loglike: float
    aic: float
    bic: float
    method: str
    converged: bool
    iterations: int

    def tidy(self) -> pd.DataFrame:
        """The per-area table (a copy of ``areas``)."""
        return self.areas.copy()

    def glance(self) -> pd.DataFrame:
        """One row: ``method, refvar, refvar_std_error, loglike, aic, bic, converged,
        iterations, n_areas``."""
        return pd.DataFrame([{"method": self.method, "refvar": self.refvar,
                              "refvar_std_error": self.refvar_std_error,
                              "loglike": self.loglike, "aic": self.aic, "bic": self.bic,
                              "converged": self.converged, "iterations": self.iterations,
                              "n_areas": len(self.areas)}])


def _design_matrix(X, m: int):
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        values = X.to_numpy(dtype=float)
    else:
        values = np.asarray(X, dtype=float)
        if values.ndim == 1:
            values = values[:, None]
        names = [f"x{j}" for j in range(values.shape[1])]
    if values.ndim != 2 or values.shape[0] != m:
        raise ValueError(f"X must have one row per area ({m}), got shape {values.shape}")
    return values, names


def _check_inputs(y, d, X, names, method):
    problems = []
    if method not in METHODS:
        problems.append(f"method must be one of {METHODS}, got {method!r}")
    bad_y = np.flatnonzero(~np.isfinite(y))
    if bad_y.size:
        problems.append(f"direct: missing or non-finite at areas {bad_y.tolist()}")
    bad_d = np.flatnonzero(~(d > 0) | ~np.isfinite(d))
    if bad_d.size:
        problems.append(f"sampling_variance: not a positive finite number at areas "
                        f"{bad_d.tolist()}")
    bad_x = sorted({names[j] for j in np.flatnonzero(~np.isfinite(X).all(axis=0))})
    if bad_x:
        problems.append(f"X: missing or non-finite values in columns {bad_x}")
    m, p = X.shape
    if not problems:
        if m <= p:
            problems.append(f"{m} areas cannot fit {p} coefficients ({names})")
        elif np.linalg.matrix_rank(X) < p:
            problems.append(f"X is not of full column rank: its columns {names} are "
                            "collinear (a covariate repeats another or is constant)")
    if problems:
        raise ValueError("fay_herriot: " + "; ".join(problems))


def _gls(y, d, X, A):
    """β̂, Q = (X'V⁻¹X)⁻¹ and v = 1/(A + D) for each row of y (y: (B, m), A: (B,))."""
    v = 1.0 / (A[:, None] + d[None, :])
    xtvx = np.einsum("bm,mp,mq->bpq", v, X, X)
    Q = np.linalg.inv(xtvx)
    beta = np.einsum("bpq,bq->bp", Q, (v * y) @ X)
    return beta, Q, v


def _fit_variance(y, d, X, method, max_iter, precision):
    """Fisher scoring for A, as ``sae::eblupFH``, for B response vectors at once.

    Returns (A, iterations, converged), each of shape (B,)."""
    B, m = y.shape
    p = X.shape[1]
    A = np.full(B, np.median(d))
    iterations = np.zeros(B, dtype=int)
    active = np.ones(B, dtype=bool)
    diff = np.full(B, np.inf)
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        a, ya = A[idx], y[idx]
        beta, Q, v = _gls(ya, d, X, a)
        resid = ya - beta @ X.T
        if method == "FH":
            score = np.sum(resid**2 * v, axis=1) - (m - p)
            info = np.sum(v, axis=1)
        else:
            py = v * resid                                # P y = V⁻¹ (y − X β̂)
            if method == "ML":
                score = -0.5 * v.sum(axis=1) + 0.5 * np.sum(py**2, axis=1)
                info = 0.5 * np.sum(v**2, axis=1)
            else:
                # tr(P) and tr(P²) without forming the m × m matrix P = V⁻¹ − V⁻¹XQX'V⁻¹.
                m2 = np.einsum("bm,mp,mq->bpq", v**2, X, X)
                m3 = np.einsum("bm,mp,mq->bpq", v**3, X, X)
                qm2 = Q @ m2
                trace_p = v.sum(axis=1) - np.trace(qm2, axis1=1, axis2=2)
                trace_pp = (np.sum(v**2, axis=1) - 2 * np.trace(Q @ m3, axis1=1, axis2=2)
                            + np.trace(qm2 @ qm2, axis1=1, axis2=2))
                score = -0.5 * trace_p + 0.5 * np.sum(py**2, axis=1)
                info = 0.5 * trace_pp
        new = np.maximum(a + score / info, 0.0)
        if method != "FH":
            # eblupFH takes every Fisher step as it is; where a step would leave [0, ∞) or
            # lower the likelihood it can jump to a negative variance or oscillate (on data
            # near A = 0 it swings between 0 and a positive value for ever). Such a step is
            # cut to the boundary, then halved until the likelihood does not fall; steps that
            # raise it (all of them on well-behaved data such as sae's milk) are unchanged.
            new = _safeguarded(ya, d, X, method, a, new)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(a > 0, np.abs((new - a) / a), np.where(new == a, 0.0, np.inf))
        A[idx] = new
        iterations[idx] += 1
        diff[idx] = step
        active[idx] = step > precision
    converged = ~((iterations >= max_iter) & (diff >= precision))
    for row in np.flatnonzero(~converged):
        # Fisher scoring creeps (A near 0, expected and observed information far apart): the
        # likelihood (or, for FH, the moment equation) is solved directly instead.
        A[row], converged[row] = _solve_directly(y[row], d, X, method)
    return A, iterations, converged


def _solve_directly(y, d, X, method):
    """A by bounded one-dimensional search on log A, A = 0 kept when it is better."""
    m, p = X.shape
    scale = float(np.median(d))
    upper = float(np.log(max(np.var(y) * m, 10 * d.max(), scale)))
    lower = float(np.log(scale * 1e-12))
    if method == "FH":
        def moment(a):
            beta, _, v = _gls(y[None, :], d, X, np.array([a]))
            return float(np.sum((y - X @ beta[0]) ** 2 * v[0]) - (m - p))
        if moment(0.0) <= 0:
            return 0.0, True
        root = optimize.brentq(lambda t: moment(np.exp(t)), lower, upper, xtol=1e-14)
        return float(np.exp(root)), True
    def minus(t):
        return -float(_likelihood(y[None, :], d, X, method, np.array([np.exp(t)]))[0])
    best = optimize.minimize_scalar(minus, bounds=(lower, upper), method="bounded",
                                    options={"xatol": 1e-10})
    at_zero = -float(_likelihood(y[None, :], d, X, method, np.array([0.0]))[0])
    if at_zero <= best.fun:
        return 0.0, True
    return float(np.exp(best.x)), bool(best.success)


def _likelihood(y, d, X, method, A):
    """REML (restricted) or ML log-likelihood of each row of y at A, up to a constant."""
    beta, Q, v = _gls(y, d, X, A)
    resid = y - beta @ X.T
    value = np.sum(np.log(v), axis=1) - np.sum(v * resid**2, axis=1)
    if method == "REML":
        value = value + np.linalg.slogdet(Q)[1]           # − log det(X'V⁻¹X)
    return 0.5 * value


def _safeguarded(y, d, X, method, a, proposed):
    """Fisher steps that do not lower the likelihood (halving those that would)."""
    start = _likelihood(y, d, X, method, a)
    new = proposed.copy()
    for _ in range(40):
        value = _likelihood(y, d, X, method, new)
        worse = value < start - 1e-12 * np.abs(start)
        if not worse.any():
            break
        new = np.where(worse, a + (new - a) / 2.0, new)
    return new


def fay_herriot(direct, sampling_variance, X, *, method: str = "REML", max_iter: int = 100,
                precision: float = 1e-4, areas=None) -> FayHerriotFit:
    """Fit the area-level Fay–Herriot model and its EBLUPs, as R's ``sae::eblupFH`` and
    ``sae::mseFH``.

    Parameters
    ----------
    direct : array_like (m,)
        Direct estimates y_i.
    sampling_variance : array_like (m,)
        Their known sampling variances D_i (> 0).
    X : array_like (m, p) or DataFrame
        Covariates, including the intercept column if one is wanted (R's formula adds it; here
        it is explicit). A DataFrame's column names become the coefficient terms.
    method : {"REML", "ML", "FH"}
        How A is estimated (Fisher scoring from ``median(D)``, as ``eblupFH``).
    max_iter, precision : int, float
        ``eblupFH``'s ``MAXITER`` and ``PRECISION``: iterate while ``|ΔA / A| > precision``.
    areas : array_like, optional
        Area labels for the ``area`` column (default 0..m-1).

    Returns
    -------
    FayHerriotFit
        ``areas`` (per area: ``area, direct, sampling_variance, synthetic, eblup, gamma, g1,
        g2, g3, mse``), ``coefficients``, ``refvar``, ``refvar_std_error``, ``loglike``,
        ``aic``, ``bic``, ``converged``, ``iterations``. When the iteration does not converge
        the estimates are those of the last iterate and ``converged`` is False.

    Examples
    --------
    With equal sampling variances and an intercept only, REML has the closed form
    Â = s² − D (the sample variance of the direct estimates less D):

    >>> import numpy as np
    >>> y = np.array([0.9, 1.1, 1.0, 1.4, 0.7, 1.2])
    >>> fit = fay_herriot(y, np.full(6, 0.02), np.ones((6, 1)))
    >>> round(fit.refvar, 6), round(float(np.var(y, ddof=1)) - 0.02, 6), fit.converged
    (0.039, 0.039, True)
    >>> fit.areas["eblup"].round(3).tolist()
    [0.951, 1.083, 1.017, 1.281, 0.819, 1.149]
    """
    y = np.asarray(direct, dtype=float).ravel()
    d = np.asarray(sampling_variance, dtype=float).ravel()
    m = y.size
    if d.size != m:
        raise ValueError(f"fay_herriot: direct has {m} areas, sampling_variance {d.size}")
    Xv, names = _design_matrix(X, m)
    _check_inputs(y, d, Xv, names, method)
    A_all, iters, conv = _fit_variance(y[None, :], d, Xv, method, max_iter, precision)
    A = float(A_all[0])
    beta, Q, v = _gls(y[None, :], d, Xv, np.array([A]))
    beta, Q, v = beta[0], Q[0], v[0]
    synthetic = Xv @ beta
    resid = y - synthetic
    gamma = A * v
    eblup = synthetic + gamma * resid
    g1, g2, g3, mse, var_a = _mse_terms(d, Xv, A, Q, v, method)
    p = Xv.shape[1]
    loglike = float(-0.5 * np.sum(np.log(2 * np.pi / v) + resid**2 * v))
    se_beta = np.sqrt(np.diag(Q))
    z = beta / se_beta
    coefficients = pd.DataFrame({"term": names, "estimate": beta, "std_error": se_beta,
                                 "statistic": z, "p_value": 2 * stats.norm.sf(np.abs(z))})
    table = pd.DataFrame({
        "area": np.arange(m) if areas is None else np.asarray(areas),
        "direct": y, "sampling_variance": d, "synthetic": synthetic, "eblup": eblup,
        "gamma": gamma, "g1": g1, "g2": g2, "g3": g3, "mse": mse})
    return FayHerriotFit(areas=table, coefficients=coefficients, refvar=A,
                         refvar_std_error=float(np.sqrt(var_a)), loglike=loglike,
                         aic=-2 * loglike + 2 * (p + 1), bic=-2 * loglike + (p + 1) * np.log(m),
                         method=method, converged=bool(conv[0]), iterations=int(iters[0]))


def _mse_terms(d, X, A, Q, v, method):
    """``sae::mseFH``: g1 + g2 + 2 g3 (REML; Datta-Lahiri), minus b(Â)·B² for ML and FH."""
    m = d.size
    shrink = d * v                                        # B_i = D_i / (A + D_i)
    g1 = d * (1.0 - shrink)
    g2 = shrink**2 * np.einsum("ip,pq,iq->i", X, Q, X)
    sum_v2 = np.sum(v**2)
    if method == "FH":
        sum_v = np.sum(v)
        var_g3 = 2.0 * m / sum_v**2
        bias = 2.0 * (m * sum_v2 - sum_v**2) / sum_v**3
        var_a = var_g3
    else:
        var_g3 = 2.0 / sum_v2
        bias = 0.0
        var_a = var_g3
        if method == "ML":
            bias = -np.trace(Q @ (X.T * v**2) @ X) / sum_v2
        else:
            pm = np.diag(v) - (v[:, None] * X) @ Q @ (X.T * v)
            var_a = 2.0 / np.sum(pm * pm)
    g3 = shrink**2 * var_g3 * v
    mse = g1 + g2 + 2.0 * g3 - bias * shrink**2
    return g1, g2, g3, mse, var_a


# ------------------------------------------------------------------- the SIPAS small-area index

@dataclass(frozen=True)
class SmallAreaResult:
    """Result of :func:`small_area_index`.

    Attributes
    ----------
    table : DataFrame
        One row per unit (columns in :func:`small_area_index`).
    fit : FayHerriotFit
        The model on the arcsine scale.
    notes : list of str
        What was done and what was not (benchmarking, imputed covariates, dropped units),
        in words a report can show.
    """

    table: pd.DataFrame
    fit: FayHerriotFit
    notes: list[str] = field(default_factory=list)

    def tidy(self) -> pd.DataFrame:
        return self.table.copy()


def _asin(p):
    return np.arcsin(np.sqrt(np.clip(p, 0.0, 1.0)))


def _sin2(x):
    return np.sin(np.clip(x, 0.0, np.pi / 2)) ** 2


def _benchmark(estimate, weights, target, how):
    """Adjust proportions so that Σ w · estimate = target (weights sum to 1); ``estimate`` is
    (m,) or (B, m) with ``target`` a number or (B,). Returns the function that applies the
    same adjustment to any array of that shape (used for the estimate and its interval).

    ``ratio`` scales the share *not* satisfied, 1 − p, by (1 − target) / (1 − Σ w p): the
    result stays in [0, 1] and meets the target exactly, where scaling p itself would push
    units near 100 % above it. ``difference`` adds target − Σ w p to every unit, clipped to
    [0, 1]."""
    mean = np.expand_dims(np.asarray(estimate, dtype=float) @ weights, -1)
    goal = np.asarray(target, dtype=float)
    goal = np.expand_dims(goal, -1) if goal.ndim else goal
    if how == "ratio":
        rest = 1.0 - mean
        factor = np.where(rest > 0, (1.0 - goal) / np.where(rest > 0, rest, 1.0), 1.0)
        return lambda values: np.clip(1.0 - (1.0 - values) * factor, 0.0, 1.0)
    return lambda values: np.clip(values + (goal - mean), 0.0, 1.0)


def _previous_values(table, previous, unit):
    if previous is None:
        return None
    if isinstance(previous, str):
        if previous not in table.columns:
            raise ValueError(f"small_area_index: previous column {previous!r} is not in the "
                             "table")
        return pd.to_numeric(table[previous], errors="coerce").to_numpy(dtype=float)
    if isinstance(previous, pd.DataFrame):
        frame = previous
        if "kind" in frame.columns:
            frame = frame[frame["kind"] == "overall"]
        missing = [c for c in (unit, "estimate") if c not in frame.columns]
        if missing:
            raise ValueError(f"small_area_index: the previous table lacks columns {missing}")
        lookup = frame.drop_duplicates(unit).set_index(unit)["estimate"]
        return table[unit].map(lookup).to_numpy(dtype=float)
    raise TypeError("previous must be a column name or a per-unit table with "
                    f"`{unit}` and `estimate`, got {type(previous).__name__}")


def small_area_index(table: pd.DataFrame, *, auxiliaries=None, unit: str = "unit",
                     group: str | None = "unit_type", previous=None,
                     unit_size: str | None = None, scale: str = "arcsine", benchmark=None,
                     benchmark_method: str = "ratio", mse: str = "bootstrap",
                     n_reps: int = 1000, seed: Seed = 20240601, level: float = 0.95,
                     method: str = "REML", sampling_variance: str = "pooled",
                     n_boot: int | None = None) -> SmallAreaResult:
    """Fay–Herriot small-area estimates of each unit's SIPAS index, beside its direct estimate.

    Parameters
    ----------
    table : DataFrame
        One row per unit with the direct index: ``unit`` (name), ``estimate`` (percent
        satisfied, 0-100), ``n`` and ``n_eff`` (effective size; NaN, e.g. at 100 %, means
        ``n``), optionally ``std_error`` (kept for display), the ``group`` column and any
        auxiliary, previous-index or size columns named below. A ``sipas_index(design,
        by="unit")`` table is accepted as it is: its ``kind == "overall"`` rows are used.
    auxiliaries : list of str, optional
        Unit-level covariates in ``table`` (e.g. ``on_time_rate``, ``online_share``); no
        missing values allowed.
    unit, group : str
        Unit name column, and the unit type column whose dummies enter the model (None: no
        type effects).
    previous : str or DataFrame, optional
        The unit's previous index (percent): a column of ``table`` or a per-unit table with
        ``unit`` and ``estimate``. It enters on the arcsine scale; units without one get the
        mean of the others and a 0/1 ``previous_missing`` covariate (said in ``notes``).
    unit_size : str, optional
        Column of unit sizes (population or users served). With it, the estimates are
        benchmarked: their size-weighted mean is made equal to the province's direct
        estimate. Without it there is no benchmarking (said in ``notes``).
    scale : {"arcsine"}
        The model's scale: ``asin(sqrt(p))`` with sampling variance ``1 / (4 n_eff)``.
    benchmark : float, optional
        The province's direct estimate in percent (e.g. the ``overall`` row of
        ``sipas_index(design)``). Default: the size-weighted mean of the units' direct
        estimates, which is the province's direct estimate when the sample is stratified by
        unit. Ignored without ``unit_size``.
    benchmark_method : {"ratio", "difference"}
        ``"ratio"`` scales every unit's share *not* satisfied by one factor (estimates stay
        within 0-100 and the target is met exactly); ``"difference"`` adds one number to every
        unit (clipped to 0-100; a note says when clipping leaves the target missed).
    mse : {"bootstrap", "delta"}
        MSE on the percent scale: a parametric bootstrap of the whole procedure (fit,
        back-transform, benchmarking; González-Manteiga et al. 2008, as ``sae::pbmseFH``)
        with ``n_reps`` replicates from ``seed``; or the delta method
        ``(100 sin 2θ̂)² · mse_θ`` on ``mseFH``'s arcsine-scale MSE (no benchmarking term).
    level : float
        Level of the approximate interval: EBLUP ± z·sqrt(mse) on the arcsine scale,
        back-transformed and moved by the same benchmarking adjustment as the estimate.
    method : {"REML", "ML", "FH"}
        How the model variance is estimated.
    sampling_variance : {"pooled", "unit"}
        Which effective size enters D_i = 1 / (4 n_eff_i). Each unit's own is the
        binomial-equivalent p (1 − p) / SE² (as the intervals use for a factor or the overall
        index; the table's ``n_eff``, or ``n``, where SE is 0 or absent). ``"pooled"``
        (default) smooths it: n_eff_i = n_i / deff, with deff the median over the units of
        n_i / (their own effective size), so that a unit's variance does not rest on its own
        noisy SE (a generalised variance function with one design effect). ``"unit"`` uses each
        unit's own.
    n_boot : int, optional
        Deprecated name of ``n_reps`` (a DeprecationWarning; removed in the next release).

    Returns
    -------
    SmallAreaResult
        ``table`` with one row per unit: ``unit``, the group column, ``term`` ("overall"),
        ``estimate`` (the model-based index, percent, benchmarked when sizes are given),
        ``std_error`` (sqrt of ``mse``), ``mse``, ``ci_low``, ``ci_high``,
        ``direct_estimate``, ``direct_std_error``, ``n``, ``n_eff`` (as used), ``gamma`` (the
        direct estimate's weight), ``synthetic`` (the covariates' prediction, percent),
        ``model_based`` (True), ``benchmarked``, ``mse_method``; ``fit`` (arcsine scale) and
        ``notes``.

    Examples
    --------
    >>> import pandas as pd
    >>> units = pd.DataFrame({"unit": list("ABCDEFGH"),
    ...                       "unit_type": ["dept"] * 4 + ["commune"] * 4,
    ...                       "estimate": [96.0, 92.0, 98.0, 94.0, 88.0, 100.0, 84.0, 91.0],
    ...                       "n": [200, 150, 60, 120, 40, 35, 50, 45],
    ...                       "n_eff": [150, 110, 50, 90, 30, float("nan"), 40, 35]})
    >>> result = small_area_index(units, n_reps=200, seed=1)
    >>> result.table[["unit", "direct_estimate", "estimate"]].round(1).head(3).values.tolist()
    [['A', 96.0, 95.8], ['B', 92.0, 92.8], ['C', 98.0, 96.9]]
    >>> result.notes[1]
    'No unit sizes given: the estimates are not benchmarked to the province.'
    """
    n_reps = renamed_keyword(n_reps, n_boot, new="n_reps", old="n_boot",
                             function="small_area_index", default=1000)
    notes: list[str] = []
    if scale != "arcsine":
        raise ValueError(f"small_area_index: scale must be 'arcsine', got {scale!r}")
    if benchmark_method not in BENCHMARK_METHODS:
        raise ValueError(f"small_area_index: benchmark_method must be one of "
                         f"{BENCHMARK_METHODS}, got {benchmark_method!r}")
    if sampling_variance not in ("pooled", "unit"):
        raise ValueError("small_area_index: sampling_variance must be 'pooled' or 'unit', "
                         f"got {sampling_variance!r}")
    if mse not in MSE_METHODS:
        raise ValueError(f"small_area_index: mse must be one of {MSE_METHODS}, got {mse!r}")
    if not 0 < level < 1:
        raise ValueError(f"small_area_index: level must be in (0, 1), got {level!r}")
    data = table
    if "kind" in data.columns:
        data = data[data["kind"] == "overall"]
    data = data.reset_index(drop=True)
    auxiliaries = list(auxiliaries or [])
    needed = [unit, "estimate", "n", "n_eff", *([group] if group else []), *auxiliaries,
              *([unit_size] if unit_size else [])]
    missing = [c for c in dict.fromkeys(needed) if c not in data.columns]
    if missing:
        raise ValueError(f"small_area_index: columns missing from the table: {missing}")
    if data[unit].duplicated().any():
        dup = data.loc[data[unit].duplicated(keep=False), unit].unique().tolist()
        raise ValueError(f"small_area_index: units appear more than once: {dup}")

    estimate = pd.to_numeric(data["estimate"], errors="coerce").to_numpy(dtype=float)
    n = pd.to_numeric(data["n"], errors="coerce").to_numpy(dtype=float)
    problems = []
    bad = data.loc[(estimate < 0) | (estimate > 100), unit].tolist()
    if bad:
        problems.append(f"estimate outside 0-100 (percent expected) for units {bad}")
    for column in auxiliaries + ([unit_size] if unit_size else []):
        values = pd.to_numeric(data[column], errors="coerce")
        bad_rows = data.loc[values.isna() | ~np.isfinite(values), unit].tolist()
        if bad_rows:
            problems.append(f"{column}: missing or not a number for units {bad_rows}")
        if column == unit_size and (values <= 0).any():
            problems.append(f"{column}: sizes must be positive; units "
                            f"{data.loc[values <= 0, unit].tolist()}")
    if problems:
        raise ValueError("small_area_index: " + "; ".join(problems))
    keep = np.isfinite(estimate) & (n > 0)
    if not keep.all():
        notes.append("Units without a direct estimate were left out: "
                     + ", ".join(map(str, data.loc[~keep, unit])) + ".")
        data = data[keep].reset_index(drop=True)
        estimate, n = estimate[keep], n[keep]
    m = len(data)
    p_direct = estimate / 100.0
    n_eff = _effective_sizes(data, p_direct, n, sampling_variance, notes)
    y = _asin(p_direct)
    d = 1.0 / (4.0 * n_eff)

    columns = {"intercept": np.ones(m)}
    if group:
        levels = sorted(data[group].astype(str).unique())
        for level_name in levels[1:]:
            columns[f"{group}[{level_name}]"] = (data[group].astype(str) == level_name
                                                 ).to_numpy(float)
    prev = _previous_values(data, previous, unit)
    if prev is not None:
        known = np.isfinite(prev)
        if not known.any():
            notes.append("No unit has a previous index: it is not used.")
        else:
            prev_asin = _asin(prev / 100.0)
            fill = prev_asin[known].mean()
            columns["previous"] = np.where(known, prev_asin, fill)
            if not known.all():
                columns["previous_missing"] = (~known).astype(float)
                notes.append("Units without a previous index ("
                             + ", ".join(map(str, data.loc[~known, unit]))
                             + ") were given the mean of the others and a marker covariate.")
    for column in auxiliaries:
        columns[column] = pd.to_numeric(data[column]).to_numpy(float)
    X = pd.DataFrame(columns)
    if m <= X.shape[1] + 1:
        raise ValueError(f"small_area_index: {m} units are too few for the model's "
                         f"{X.shape[1]} coefficients ({list(X.columns)}) and its variance")
    fit = fay_herriot(y, d, X, method=method, areas=data[unit].to_numpy())
    if not fit.converged:
        notes.append(f"The {method} iteration did not converge in 100 steps; the estimates "
                     "are those of its last step.")
    theta = fit.areas["eblup"].to_numpy()
    model_p = _sin2(theta)
    z = stats.norm.ppf(0.5 + level / 2.0)
    half = z * np.sqrt(fit.areas["mse"].to_numpy())
    low, high = _sin2(theta - half), _sin2(theta + half)

    weights = None
    target = None
    if unit_size:
        sizes = pd.to_numeric(data[unit_size]).to_numpy(float)
        weights = sizes / sizes.sum()
        if benchmark is None:
            target = float(p_direct @ weights)
            notes.append(f"Benchmarked ({benchmark_method}) to the province's direct estimate "
                         f"taken as the size-weighted mean of the units' direct estimates, "
                         f"{100 * target:.2f}.")
        else:
            target = float(benchmark) / 100.0
            if not 0 <= target <= 1:
                raise ValueError(f"small_area_index: benchmark must be a percent in 0-100, "
                                 f"got {benchmark!r}")
            notes.append(f"Benchmarked ({benchmark_method}) to the province's direct estimate "
                         f"{benchmark:.2f}.")
        adjust = _benchmark(model_p, weights, target, benchmark_method)
        adjusted, low, high = adjust(model_p), adjust(low), adjust(high)
        if abs(adjusted @ weights - target) > 1e-9:
            notes.append("Clipping at 0 or 100 % left the benchmark missed by "
                         f"{100 * (adjusted @ weights - target):+.3f} points.")
        model_p = adjusted
    else:
        notes.append("No unit sizes given: the estimates are not benchmarked to the province.")
        if benchmark is not None:
            notes.append(f"The province estimate given ({benchmark}) was not used: benchmarking "
                         "needs unit sizes to weight the units.")

    if mse == "bootstrap":
        mse_p = _bootstrap_mse(fit, X.to_numpy(float), d, weights, target is not None,
                               benchmark_method, method, n_reps, seed)
        notes.append(f"MSE by a parametric bootstrap ({n_reps} replicates, seed {seed}) of the "
                     "fit, back-transform" + (" and benchmarking" if weights is not None else "")
                     + ".")
    else:
        mse_p = (np.sin(2 * np.clip(theta, 0, np.pi / 2))) ** 2 * fit.areas["mse"].to_numpy()
        notes.append("MSE by the delta method on the arcsine-scale MSE (first order; the "
                     "benchmarking adjustment is not included).")
    notes.append("Every estimate here is model-based (Fay-Herriot EBLUP on the arcsine scale); "
                 "the direct estimate is kept beside it.")

    out = pd.DataFrame({unit: data[unit].to_numpy()})
    if group:
        out[group] = data[group].to_numpy()
    out["term"] = "overall"
    out["estimate"] = 100.0 * model_p
    out["std_error"] = 100.0 * np.sqrt(mse_p)
    out["mse"] = 1e4 * mse_p
    out["ci_low"] = 100.0 * np.minimum(low, model_p)
    out["ci_high"] = 100.0 * np.maximum(high, model_p)
    out["direct_estimate"] = estimate
    out["direct_std_error"] = (pd.to_numeric(data["std_error"], errors="coerce").to_numpy(float)
                               if "std_error" in data.columns else np.nan)
    out["n"] = n
    out["n_eff"] = n_eff
    out["gamma"] = fit.areas["gamma"].to_numpy()
    out["synthetic"] = 100.0 * _sin2(fit.areas["synthetic"].to_numpy())
    out["model_based"] = True
    out["benchmarked"] = weights is not None
    out["mse_method"] = mse
    return SmallAreaResult(table=out, fit=fit, notes=notes)


def _effective_sizes(data, p, n, how, notes):
    """Effective sizes for D_i = 1 / (4 n_eff_i) (see ``sampling_variance``)."""
    given = effective_size(n, pd.to_numeric(data["n_eff"], errors="coerce").to_numpy(float))
    own = given
    if "std_error" in data.columns:
        se = pd.to_numeric(data["std_error"], errors="coerce").to_numpy(float) / 100.0
        usable = np.isfinite(se) & (se > 0) & (p > 0) & (p < 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            own = np.where(usable, p * (1 - p) / np.where(usable, se, 1.0) ** 2, given)
    if how == "unit":
        return own
    deff = float(np.median(n / own))
    notes.append(f"Sampling variances smoothed with one design effect, {deff:.2f} (the median "
                 "over the units): n_eff = n / design effect.")
    return n / deff


def _bootstrap_mse(fit, X, d, weights, benchmarked, benchmark_method, method, n_reps, seed):
    """Parametric bootstrap MSE of the back-transformed (and benchmarked) EBLUP, proportions.

    Replicate b: true θ*_i = x_i'β̂ + u*_i, u* ~ N(0, Â); direct y*_i = θ*_i + e*_i,
    e* ~ N(0, D_i); refit on y*, back-transform; the replicate's benchmark target is the
    size-weighted mean of its direct estimates, back-transformed without bias (the province's
    direct estimate in the bootstrap world). MSE_i = mean over b of (p̂*_i − sin²θ*_i)²."""
    if int(n_reps) < 1:
        raise ValueError(f"small_area_index: n_reps must be at least 1, got {n_reps!r}")
    rng = as_generator(seed)
    beta = fit.coefficients["estimate"].to_numpy()
    m = d.size
    synthetic = X @ beta
    u = rng.normal(size=(n_reps, m)) * np.sqrt(fit.refvar)
    e = rng.normal(size=(n_reps, m)) * np.sqrt(d)
    theta_true = synthetic + u
    y_star = theta_true + e
    A, _, _ = _fit_variance(y_star, d, X, method, 100, 1e-4)
    b_hat, _, v = _gls(y_star, d, X, A)
    syn = b_hat @ X.T
    eblup = syn + (A[:, None] * v) * (y_star - syn)
    estimate = _sin2(eblup)
    if benchmarked:
        # The replicate's province direct estimate: unbiased for Σ w sin²θ*, as the real one
        # (a weighted mean of unit proportions) is for Σ w p. sin²(y*) is not: with
        # y* ~ N(θ, D), E sin²(y*) = (1 − cos 2θ · exp(−2D)) / 2, so its inverse is used.
        target = ((1.0 - np.cos(2.0 * y_star) * np.exp(2.0 * d)) / 2.0) @ weights
        estimate = _benchmark(estimate, weights, target, benchmark_method)(estimate)
    return np.mean((estimate - _sin2(theta_true)) ** 2, axis=0)
