"""What every fitted model returns, and the two tables made from it (fit, then tidy).

``ModelResult`` holds the estimates and their covariance; :func:`tidy` and :func:`glance` turn it
into the project's column vocabulary. Nothing is printed or rounded here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

TIDY_COLUMNS = ["term", "kind", "estimate", "std_error", "statistic", "p_value", "ci_low",
                "ci_high", "n", "model"]


@dataclass(frozen=True)
class ModelResult:
    """A fitted driver model.

    model: short name ("linear", "logit", "ordinal", "multilevel", "panel").
    formula: the formula as given.
    params: estimates, indexed by term (ordinal cut-points named "1|2", "2|3", … as R's polr).
    vcov: their covariance matrix (same index and columns as ``params``).
    df: degrees of freedom of the t reference distribution, or None for the normal
        (design-based models: design df − (p − 1), as R's ``summary.svyglm``).
    n: rows used in the fit.
    variance: how the standard errors were computed, in words (shown to users, never hidden).
    kinds: kind of each term ("coefficient", "cut_point", "variance_component", …).
    stats: one row of fit statistics for :func:`glance` (r_squared, aic, design_df, …).
    extra: model-specific tables (e.g. province effects of a multilevel model).
    fitted: what average marginal effects and predictions need (design matrix, weights, …);
        private to the models package.
    """

    model: str
    formula: str
    params: pd.Series
    vcov: pd.DataFrame
    df: float | None
    n: int
    variance: str
    kinds: pd.Series
    stats: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    fitted: dict = field(default_factory=dict, repr=False)

    @property
    def std_errors(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.params.index)


def _reference_quantiles(df: float | None, level: float) -> tuple[float, callable]:
    if df is None or not np.isfinite(df):
        return stats.norm.ppf(0.5 + level / 2), lambda t: 2 * stats.norm.sf(np.abs(t))
    return stats.t.ppf(0.5 + level / 2, df), lambda t: 2 * stats.t.sf(np.abs(t), df)


def tidy(result: ModelResult, *, exponentiate: bool = False, level: float = 0.95) -> pd.DataFrame:
    """One row per term: ``term, kind, estimate, std_error, statistic, p_value, ci_low, ci_high,
    n, model``.

    Tests and intervals use the t distribution with ``result.df`` degrees of freedom (the
    design's residual df for design-based fits, as R's ``summary.svyglm``), or the normal when
    ``df`` is None. ``exponentiate=True`` (logit and ordinal: odds ratios) exponentiates the
    estimate and the interval ends; ``std_error`` then is the delta-method SE of the odds ratio,
    while ``statistic`` and ``p_value`` stay those of the coefficient (the test is on the log
    scale). Cut-points are never exponentiated.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> from sipas_analysis.models import fit_linear
    >>> rng = np.random.default_rng(0)
    >>> data = pd.DataFrame({"psu": np.repeat(np.arange(20), 10), "x": rng.normal(size=200)})
    >>> data["y"] = 1 + 0.5 * data["x"] + rng.normal(size=200)
    >>> fit = fit_linear("y ~ x", SurveyDesign(data, psu="psu"))
    >>> table = tidy(fit)
    >>> table[["term", "estimate", "statistic", "ci_low", "ci_high"]].round(3)
    ... # doctest: +NORMALIZE_WHITESPACE
            term  estimate  statistic  ci_low  ci_high
    0  Intercept     0.913     11.454   0.745    1.080
    1          x     0.431      5.941   0.278    0.583
    """
    estimate = result.params.to_numpy(dtype=float)
    se = result.std_errors.to_numpy(dtype=float)
    quantile, p_value = _reference_quantiles(result.df, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = estimate / se
    table = pd.DataFrame({
        "term": result.params.index.astype(str),
        "kind": result.kinds.reindex(result.params.index).to_numpy(),
        "estimate": estimate, "std_error": se, "statistic": statistic,
        "p_value": p_value(statistic),
        "ci_low": estimate - quantile * se, "ci_high": estimate + quantile * se,
        "n": result.n, "model": result.model,
    })
    if exponentiate:
        if result.model not in {"logit", "ordinal"}:
            raise ValueError(f"exponentiate=True gives odds ratios: only for logit and ordinal "
                             f"models, not {result.model!r}")
        coef = (table["kind"] == "coefficient").to_numpy()
        for column in ["estimate", "ci_low", "ci_high"]:
            table.loc[coef, column] = np.exp(table.loc[coef, column])
        table.loc[coef, "std_error"] = table.loc[coef, "estimate"] * se[coef]
    return table[TIDY_COLUMNS]


def glance(result: ModelResult) -> pd.DataFrame:
    """One row of fit statistics: ``model, formula, n, df, variance`` and the model's own
    statistics (``r_squared`` or ``pseudo_r_squared``, ``aic`` where defined, ``design_df``,
    ``n_psu``, ``n_strata`` for design-based fits, …).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> from sipas_analysis.models import fit_linear
    >>> rng = np.random.default_rng(0)
    >>> data = pd.DataFrame({"psu": np.repeat(np.arange(20), 10), "x": rng.normal(size=200)})
    >>> data["y"] = 1 + 0.5 * data["x"] + rng.normal(size=200)
    >>> fit = fit_linear("y ~ x", SurveyDesign(data, psu="psu"))
    >>> glance(fit)[["model", "n", "df", "r_squared", "n_psu"]].round(3)
    ... # doctest: +NORMALIZE_WHITESPACE
        model    n    df  r_squared  n_psu
    0  linear  200  18.0      0.141     20
    """
    row = {"model": result.model, "formula": result.formula, "n": result.n,
           "df": np.nan if result.df is None else result.df, "variance": result.variance}
    row.update(result.stats)
    return pd.DataFrame([row])
