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
