"""Adjusted p-values for a family of tests: Holm's step-down (family-wise error) and
Benjamini–Hochberg (false discovery rate), as R's ``p.adjust``.

A province report shows some thirty province-versus-nation differences; unadjusted, a report of
a province no different from the nation shows at least one "significant" difference more often
than not. The reports adjust within each report's family and say which method they used.
"""
from __future__ import annotations

import numpy as np

METHODS = ("holm", "BH", "bonferroni", "none")


def adjust_p_values(p_values, method: str = "holm") -> np.ndarray:
    """Adjusted p-values, in the input's order, as R's ``p.adjust(p, method)``.

    ``"holm"``: p_(i) (m − i + 1), made non-decreasing in i and capped at 1 (controls the
    family-wise error rate under any dependence); ``"BH"``: p_(i) m / i, made non-increasing
    from the largest and capped at 1 (controls the false discovery rate for independent or
    positively dependent tests); ``"bonferroni"``: m p; ``"none"``. Missing p-values stay
    missing and do not count in m (R's default ``n = length(p[!is.na(p)])``).

    Examples
    --------
    >>> adjust_p_values([0.01, 0.04, 0.03, 0.02, 0.05], "holm").round(4).tolist()
    [0.05, 0.09, 0.09, 0.08, 0.09]
    >>> adjust_p_values([0.01, 0.04, 0.03, 0.02, 0.05], "BH").round(4).tolist()
    [0.05, 0.05, 0.05, 0.05, 0.05]
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    known = ~np.isnan(p)
    values = p[known]
    m = len(values)
    if m == 0 or method == "none":
        out[known] = values
        return out
    if method == "bonferroni":
        out[known] = np.minimum(1.0, m * values)
        return out
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    i = np.arange(1, m + 1)
    if method == "holm":
        adjusted = np.maximum.accumulate(ranked * (m - i + 1))
    else:  # BH
        adjusted = np.minimum.accumulate((ranked * m / i)[::-1])[::-1]
    result = np.empty(m)
    result[order] = np.minimum(1.0, adjusted)
    out[known] = result
    return out


def simultaneous_p_values(statistic, covariance, *, df=np.inf, n_draws: int = 100_000,
                          seed=0) -> np.ndarray:
    """Single-step simultaneous (max-``|t|``) adjusted p-values of a family of correlated tests.

    ``statistic``: the family's t (or z) statistics; ``covariance``: the covariance (or the
    correlation) of the estimates they test, in the same order. The adjusted p-value of test
    i is ``P(max_j |T_j| >= |t_i|)`` with T ~ N(0, R), R the correlation, or the multivariate t
    with ``df`` degrees of freedom (one shared chi-square, as R's ``multcomp``
    "single-step"), from ``n_draws`` draws: the family-wise error is controlled at exactly
    the level for the actual dependence, so the adjustment is never stronger than
    Bonferroni's and weaker the more the tests go together (a province's factors and their
    criteria are strongly correlated). Missing statistics stay missing and are left out of
    the family.

    Examples
    --------
    Two independent tests: the adjustment is Šidák's, 1 - (1 - p)².

    >>> from scipy import stats
    >>> p = simultaneous_p_values([2.0, 0.5], np.eye(2), n_draws=400_000, seed=1)
    >>> float(p[0].round(3)), float((1 - (1 - 2 * stats.norm.sf(2.0)) ** 2).round(3))
    (0.089, 0.089)
    """
    from .rng import as_generator

    t = np.asarray(statistic, dtype=float)
    sigma = np.asarray(covariance, dtype=float)
    if sigma.shape != (t.size, t.size):
        raise ValueError(f"covariance has shape {sigma.shape}, expected ({t.size}, {t.size})")
    out = np.full(t.shape, np.nan)
    known = np.flatnonzero(~np.isnan(t))
    if known.size == 0:
        return out
    sub = sigma[np.ix_(known, known)]
    sd = np.sqrt(np.diag(sub))
    if not (sd > 0).all():
        raise ValueError("every test of the family needs a positive variance")
    correlation = sub / np.outer(sd, sd)
    rng = as_generator(seed)
    draws = rng.multivariate_normal(np.zeros(known.size), correlation, size=int(n_draws),
                                    method="eigh")
    if np.isfinite(df):
        draws /= np.sqrt(rng.chisquare(df, size=int(n_draws)) / df)[:, None]
    maximum = np.sort(np.abs(draws).max(axis=1))
    exceed = int(n_draws) - np.searchsorted(maximum, np.abs(t[known]), side="left")
    out[known] = exceed / int(n_draws)
    return out
