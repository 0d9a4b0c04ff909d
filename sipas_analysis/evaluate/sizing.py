"""Sample size from the simulated design effect: respondents per province for a given precision.

The input is what diagnoses at a few sample sizes measured (the SD over simulations of a
province's index); the output is the curve of precision, power and reliability against
respondents per province, for extra respondents in the same PSUs or in more PSUs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class SampleSize:
    """How precision grows with respondents per province, and the sizes that answer two
    questions (from :func:`sample_size`).

    curve:
        ``respondents, se_same_psus, se_more_psus, power_same_psus, power_more_psus,
        reliability_same_psus, reliability_more_psus``: the SE of a province index (pp) when
        the extra respondents go into the same PSUs (cluster size grows) or into more PSUs of
        the same size; the power of telling apart two provinces whose indices differ by
        ``difference``; the reliability of the province indices (share of their variance that
        is true differences between provinces).
    psu_variance, respondent_variance: a and b of Var(n) = a + b / n fitted to the simulated
        variances (a = between-PSU part, which more respondents in the same PSUs cannot lower).
    between_sd: SD of the true province indices.
    respondents_for_difference, respondents_for_ranking: the smallest respondents per
        province (same PSUs) reaching the requested power / reliability (inf if a alone is too
        large: then only more PSUs help), and the same with more PSUs (``*_more_psus``).
    """

    curve: pd.DataFrame
    psu_variance: float
    respondent_variance: float
    between_sd: float
    respondents_for_difference: float
    respondents_for_ranking: float
    respondents_for_difference_more_psus: float
    respondents_for_ranking_more_psus: float
    difference: float
    power: float
    reliability: float


def sample_size(sd_by_size: pd.DataFrame, *, between_sd: float, difference: float = 3.0,
                power: float = 0.8, reliability: float = 0.9, level: float = 0.95,
                reference: int | None = None, sizes=None) -> SampleSize:
    """Respondents per province needed to tell two provinces apart and to rank them reliably.

    ``sd_by_size``: columns ``respondents`` and ``sd`` (the empirical SD over simulations of a
    province's index, pp, e.g. ``sd_estimate`` of diagnoses at several sample sizes with the
    same PSUs per province). Var(n) = a + b/n is fitted by least squares to the variances (the
    one-way cluster model: a = PSU variance / PSUs per province, b = respondent variance);
    with one size only, a = 0 (no design-effect growth assumed; say so).

    Two provinces sampled independently differ by ``difference`` pp; a two-sided test at
    1 - ``level`` has power ``power`` when sqrt(2 Var(n)) <= difference / (z_{1-alpha/2} +
    z_power). Ranking is reliable when Var_true / (Var_true + Var(n)) >= ``reliability``
    (``between_sd``² = Var_true); the expected correlation of estimated and true indices is
    then sqrt(reliability). "More PSUs" keeps the cluster size of ``reference`` respondents
    (default the smallest simulated size) and adds PSUs: Var(n) = Var(ref) * ref / n.
    """
    table = sd_by_size[["respondents", "sd"]].dropna()
    n = table["respondents"].to_numpy(float)
    var = table["sd"].to_numpy(float) ** 2
    if len(table) >= 2:
        X = np.column_stack([np.ones_like(n), 1 / n])
        a, b = np.linalg.lstsq(X, var, rcond=None)[0]
        a, b = max(a, 0.0), max(b, 0.0)
    elif len(table) == 1:
        a, b = 0.0, float(var[0] * n[0])
    else:
        raise ValueError("sd_by_size has no rows with a respondents count and an sd")
    reference = float(reference or n.min())
    var_ref = a + b / reference
    z = stats.norm.ppf(0.5 + level / 2) + stats.norm.ppf(power)
    var_needed_diff = (difference / z) ** 2 / 2
    var_needed_rank = between_sd ** 2 * (1 - reliability) / reliability

    def same_psus(var_needed):
        return b / (var_needed - a) if var_needed > a else math.inf

    def more_psus(var_needed):
        return var_ref * reference / var_needed

    sizes = np.asarray(sizes if sizes is not None else
                       np.unique(np.r_[np.linspace(100, 3000, 59), n]), dtype=float)
    var_same = a + b / sizes
    var_more = var_ref * reference / sizes
    crit = stats.norm.ppf(0.5 + level / 2)

    def power_of(variance):
        shift = difference / np.sqrt(2 * variance)
        return stats.norm.sf(crit - shift) + stats.norm.cdf(-crit - shift)

    curve = pd.DataFrame({
        "respondents": sizes, "se_same_psus": np.sqrt(var_same),
        "se_more_psus": np.sqrt(var_more),
        "power_same_psus": power_of(var_same), "power_more_psus": power_of(var_more),
        "reliability_same_psus": between_sd ** 2 / (between_sd ** 2 + var_same),
        "reliability_more_psus": between_sd ** 2 / (between_sd ** 2 + var_more)})
    return SampleSize(curve=curve, psu_variance=float(a), respondent_variance=float(b),
                      between_sd=float(between_sd),
                      respondents_for_difference=same_psus(var_needed_diff),
                      respondents_for_ranking=same_psus(var_needed_rank),
                      respondents_for_difference_more_psus=more_psus(var_needed_diff),
                      respondents_for_ranking_more_psus=more_psus(var_needed_rank),
                      difference=difference, power=power, reliability=reliability)
