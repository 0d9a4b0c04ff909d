"""Design-based two-way tables and tests, and domain estimates with their covariance.

The tools of R's ``survey`` package for comparing groups in a complex sample, on any design
object with the estimation interface of :class:`~sipas_analysis.design.SurveyDesign`
(``data``, ``weights``, ``subset``, ``vcov_totals``, ``df``, ``domain_df``, ``level``); every
variance comes from ``vcov_totals`` of influence values, so calibrated designs use their
calibration residuals here too.

- :func:`svytable`: the weighted two-way table (estimated counts, or proportions of the whole,
  of each row or of each column), R's ``svytable``.
- :func:`svychisq`: tests of independence in that table. ``statistic="F"`` (default, as R):
  Pearson's X² of the table scaled to the sample size n, divided by the trace of the design
  effect matrix Δ, referred to F(d, d ν) with d = tr(Δ)² / tr(Δ²) and ν the design degrees of
  freedom (Rao & Scott 1984's second-order correction, in the F form of Thomas & Rao 1987).
  ``"Chisq"``: X² / mean eigenvalue of Δ on (r-1)(c-1) df (the first-order correction; the
  printed statistic is X² itself, as R). ``"Wald"`` and ``"adjWald"``: the Wald statistic of
  the (r-1)(c-1) differences between the cell totals and their values under independence
  (Koch, Freeman & Freeman 1975), as F on ν, or adjusted to F((r-1)(c-1), ν - (r-1)(c-1) + 1)
  (Fellegi 1980), R's two Wald options.
  Δ = (C'D⁻¹C / n)⁻¹ (C'D⁻¹ V D⁻¹ C) with V the design covariance of the cell proportions,
  D their diagonal and C the interaction contrasts orthogonal to the main effects (R's
  construction). Under simple random sampling with replacement Δ = n/(n-1) I: F is X²/((r-1)
  (c-1)) times (n-1)/n on ((r-1)(c-1), (r-1)(c-1)(n-1)) df.
- :func:`svyttest`: the design-based t test of a difference of two domain means (or of one
  mean against ``mu``), R's ``svyttest``: the difference is the coefficient of the group in a
  weighted linear model (the second level's mean minus the first's), its SE by linearisation,
  and t on the design df minus one (R's residual df of ``svyglm``: PSUs minus strata, minus 1).
- :func:`domain_estimates`: means or totals of one or more variables in each domain of ``by``
  with their full design covariance (R's ``svyby(..., covmat=TRUE)``, or ``svymean`` /
  ``svytotal`` without ``by``), and :func:`svycontrast` for linear combinations of them (a
  difference of two domains, the average of several) with their standard errors.

Conventions where R leaves a choice:
- Rows missing the row or column variable of a table are left out (R's ``na.rm=TRUE``, the
  default of ``svychisq``); n is then the number of rows used (R counts them in n, which
  changes only the printed ``"Chisq"`` statistic, never an F or a p-value). ν is the design df
  of the rows used (R's ``degf`` of the subset design).
- The levels of the table are those present among the rows used, sorted (category order for a
  categorical column); R's ``factor`` does the same.
- Domain covariances come from the design as given (its full set of strata and PSUs), as R's
  ``svyby(covmat=TRUE)``; the lonely-PSU rules therefore see the whole design.

References: Rao, J. N. K. & Scott, A. J. (1984) On chi-squared tests for multiway contingency
tables with cell proportions estimated from survey data. Annals of Statistics 12:46–60.
Thomas, D. R. & Rao, J. N. K. (1987) Small-sample comparisons of level and power for simple
goodness-of-fit statistics under cluster sampling. JASA 82:630–636. Lumley, T. R package
``survey``: ``svytable``, ``svychisq``, ``svyttest``, ``svyby``, ``svycontrast``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .schema import require_columns

CHISQ_STATISTICS = ("F", "Chisq", "Wald", "adjWald")
PROPORTIONS = (None, "all", "row", "column")


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SurveyTest:
    """A design-based test, as R's ``htest``.

    ``statistic`` is named by ``statistic_name`` ("F", "X-squared" or "t"); ``parameters``
    holds its degrees of freedom (``{"ndf": .., "ddf": ..}`` for F, ``{"df": ..}`` otherwise);
    ``estimate``, ``std_error``, ``ci_low``, ``ci_high`` are set for t tests; ``details`` holds
    the rest (the table, Pearson's X², the design effects of Δ).
    """

    method: str
    statistic_name: str
    statistic: float
    parameters: dict
    p_value: float
    estimate: float = np.nan
    std_error: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    level: float = 0.95
    details: dict = field(default_factory=dict, repr=False)

    def as_series(self) -> pd.Series:
        """The figures in one Series (statistic, the df, p_value, then the estimate's if any)."""
        values = {"statistic": self.statistic, **self.parameters, "p_value": self.p_value}
        if np.isfinite(self.estimate):
            values.update(estimate=self.estimate, std_error=self.std_error,
                          ci_low=self.ci_low, ci_high=self.ci_high)
        return pd.Series(values, name=self.method)


@dataclass(frozen=True)
class Estimates:
    """Estimates with their full design covariance (R's ``svyby(..., covmat=TRUE)``).

    ``table``: the ``by`` columns (if any), ``term`` (the variable), ``label`` (R's name of the
    estimate: ``"E"``, ``"E.Yes"`` for two ``by`` columns, ``"E:api00"`` for several
    variables), ``estimate``, ``std_error``, ``ci_low``, ``ci_high`` (normal, at ``level``),
    ``n`` and ``df`` (each domain's design df). ``vcov``: a DataFrame indexed by the labels
    both ways. ``contrast`` is :func:`svycontrast`.
    """

    table: pd.DataFrame
    vcov: pd.DataFrame
    level: float = 0.95

    @property
    def labels(self) -> list[str]:
        return list(self.table["label"])

    @property
    def coef(self) -> pd.Series:
        return pd.Series(self.table["estimate"].to_numpy(), index=self.labels, name="estimate")

    def contrast(self, contrasts, *, df: float | None = None) -> "Estimates":
        return svycontrast(self, contrasts, df=df)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def _as_list(names) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        return [names]
    return list(names)


def _is_categorical(series: pd.Series) -> bool:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return True
    return not pd.api.types.is_numeric_dtype(dtype)


def _levels(series: pd.Series, rows: np.ndarray) -> list:
    """Levels of ``series`` among ``rows`` (bool mask): category order, else sorted."""
    present = series[rows].dropna().unique()
    if isinstance(series.dtype, pd.CategoricalDtype):
        return [c for c in series.cat.categories if c in set(present)]
    return sorted(present)


def _codes(series: pd.Series, levels: list) -> np.ndarray:
    """Position of each value in ``levels`` (-1 for a missing or other value)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        position = {level: i for i, level in enumerate(levels)}
        mapping = np.array([position.get(c, -1) for c in series.cat.categories] + [-1])
        return mapping[np.asarray(series.cat.codes)].astype(np.int64)   # code -1 -> last
    return np.asarray(pd.Index(levels).get_indexer(series.to_numpy()), dtype=np.int64)


def _active(design) -> np.ndarray:
    """Rows of the domain that carry weight."""
    return np.asarray(design.weights) > 0


def _complete_domain(design, columns: list[str], caller: str, *, na_rm: bool):
    """The design restricted to rows with every column present (error under ``na_rm=False``
    naming each column with missing values in the domain and its count)."""
    require_columns(design.data, columns, caller)
    active = _active(design)
    missing = {c: design.data[c].isna().to_numpy() & active for c in columns}
    if any(m.any() for m in missing.values()):
        if not na_rm:
            counts = ", ".join(f"{c!r} ({int(m.sum())} rows)" for c, m in missing.items()
                               if m.any())
            raise ValueError(f"{caller}: missing values in the domain: {counts}; use "
                             "na_rm=True to leave those rows out")
        any_missing = np.zeros(len(design.data), dtype=bool)
        for m in missing.values():
            any_missing |= m
        design = design.subset(~any_missing)
    if not _active(design).any():
        raise ValueError(f"{caller}: no rows with positive weight in the domain")
    return design


def _crit(level: float, df: float | None) -> float:
    if df is None or not np.isfinite(df):
        return float(stats.norm.ppf(0.5 + level / 2))
    return float(stats.t.ppf(0.5 + level / 2, df)) if df > 0 else np.nan


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------

def _two_way(design, row: str, col: str, caller: str, na_rm: bool = True):
    """The design of complete rows, the level lists and each row's cell (rows fastest, as R's
    ``interaction``; -1 outside the domain)."""
    for name in (row, col):
        if not isinstance(name, str):
            raise TypeError(f"{caller}: row and col must be column names, got {name!r}")
    if row == col:
        raise ValueError(f"{caller}: row and col are the same column {row!r}")
    sub = _complete_domain(design, [row, col], caller, na_rm=na_rm)
    active = _active(sub)
    row_levels = _levels(sub.data[row], active)
    col_levels = _levels(sub.data[col], active)
    r = _codes(sub.data[row], row_levels)
    c = _codes(sub.data[col], col_levels)
    cell = np.where(active & (r >= 0) & (c >= 0), r + len(row_levels) * c, -1)
    return sub, row_levels, col_levels, cell


def svytable(design, row: str, col: str, *, proportions: str | None = None,
             n_total: float | None = None, na_rm: bool = True) -> pd.DataFrame:
    """Weighted two-way table of ``row`` by ``col``: estimated population counts (R's
    ``svytable``), or proportions.

    ``proportions``: None (counts), ``"all"`` (of the whole table), ``"row"`` (each row sums to
    1) or ``"column"``. ``n_total``: rescale the counts to sum to it (R's ``Ntotal``; e.g. the
    sample size). Rows missing either variable are left out (``na_rm=False``: an error).
    Returns a DataFrame indexed by the row levels with one column per column level.

    Examples
    --------
    >>> import pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> data = pd.DataFrame({"sex": ["f", "f", "m", "m"], "satisfied": [1, 0, 1, 1],
    ...                      "w": [10.0, 30.0, 20.0, 40.0]})
    >>> svytable(SurveyDesign(data, weights="w"), "sex", "satisfied")
    ... # doctest: +NORMALIZE_WHITESPACE
    satisfied     0     1
    sex
    f          30.0  10.0
    m           0.0  60.0
    >>> svytable(SurveyDesign(data, weights="w"), "sex", "satisfied", proportions="row")
    ... # doctest: +NORMALIZE_WHITESPACE
    satisfied     0     1
    sex
    f          0.75  0.25
    m          0.00  1.00
    """
    if proportions not in PROPORTIONS:
        raise ValueError(f"svytable: proportions must be one of {PROPORTIONS}, got "
                         f"{proportions!r}")
    sub, row_levels, col_levels, cell = _two_way(design, row, col, "svytable", na_rm)
    nr, nc = len(row_levels), len(col_levels)
    keep = cell >= 0
    counts = np.bincount(cell[keep], weights=sub.weights[keep], minlength=nr * nc)
    counts = counts.reshape(nc, nr).T
    if n_total is not None:
        counts = counts * float(n_total) / counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        if proportions == "all":
            counts = counts / counts.sum()
        elif proportions == "row":
            counts = counts / counts.sum(axis=1, keepdims=True)
        elif proportions == "column":
            counts = counts / counts.sum(axis=0, keepdims=True)
    return pd.DataFrame(counts, index=pd.Index(row_levels, name=row),
                        columns=pd.Index(col_levels, name=col))


def _pearson(table: np.ndarray) -> float:
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum((table - expected) ** 2 / expected))


def _main_effects_and_interactions(nr: int, nc: int):
    """R's ``model.matrix(~factor(rows) + factor(cols))`` and the interaction columns of
    ``~factor(rows) * factor(cols)`` over ``expand.grid(rows, cols)`` (rows fastest)."""
    rows = np.tile(np.arange(nr), nc)
    cols = np.repeat(np.arange(nc), nr)
    x1 = np.column_stack([np.ones(nr * nc)]
                         + [(rows == i).astype(float) for i in range(1, nr)]
                         + [(cols == j).astype(float) for j in range(1, nc)])
    interactions = np.column_stack([((rows == i) & (cols == j)).astype(float)
                                    for j in range(1, nc) for i in range(1, nr)])
    return x1, interactions


def svychisq(design, row: str, col: str, *, statistic: str = "F",
             na_rm: bool = True) -> SurveyTest:
    """Design-based test of independence of ``row`` and ``col`` (R's ``svychisq``).

    ``statistic``: ``"F"`` (default: Rao–Scott second-order correction as an F with design
    df), ``"Chisq"`` (first-order correction; the statistic printed is Pearson's X² of the
    table scaled to the sample size, the p-value that of X² / mean design effect),
    ``"Wald"`` or ``"adjWald"`` (module docstring). Returns a :class:`SurveyTest`; ``details``
    holds ``table`` (weighted counts), ``pearson`` (X² of the table scaled to n, the naive
    test's statistic), ``n``, ``design_df`` (ν) and, for F and Chisq, ``design_effects`` (the
    eigenvalues of Δ).

    Examples
    --------
    Clustered answers: the naive Pearson test would call this association significant
    (p = 0.008); the design-based test does not:

    >>> import numpy as np, pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> rng = np.random.default_rng(5)
    >>> village = np.repeat(np.arange(12), 25)
    >>> data = pd.DataFrame({"village": village,
    ...                      "online": rng.random(300) < rng.random(12)[village],
    ...                      "satisfied": rng.random(300) < rng.random(12)[village]})
    >>> design = SurveyDesign(data, psu="village")
    >>> result = svychisq(design, "online", "satisfied")
    >>> round(result.statistic, 3), {k: round(v, 2) for k, v in result.parameters.items()}
    (0.864, {'ndf': 1.0, 'ddf': 11.0})
    >>> round(result.p_value, 3), round(float(stats.chi2.sf(result.details["pearson"], 1)), 3)
    (0.373, 0.008)
    """
    if statistic not in CHISQ_STATISTICS:
        raise ValueError(f"svychisq: statistic must be one of {CHISQ_STATISTICS}, got "
                         f"{statistic!r}")
    sub, row_levels, col_levels, cell = _two_way(design, row, col, "svychisq", na_rm)
    nr, nc = len(row_levels), len(col_levels)
    if nr < 2 or nc < 2:
        raise ValueError(f"svychisq: {row!r} has {nr} and {col!r} has {nc} level(s) in the "
                         "domain; a test of independence needs at least two of each")
    k = nr * nc
    keep = cell >= 0
    w = np.where(keep, sub.weights, 0.0)
    n = int(keep.sum())
    nu = float(sub.df)
    onehot = np.zeros((len(w), k))
    onehot[np.flatnonzero(keep), cell[keep]] = 1.0
    totals = w @ onehot
    grand = totals.sum()
    counts = totals.reshape(nc, nr).T
    pearson = _pearson(counts * n / grand)
    details = {"table": pd.DataFrame(counts, index=pd.Index(row_levels, name=row),
                                     columns=pd.Index(col_levels, name=col)),
               "pearson": pearson, "n": n, "design_df": nu}
    ndf_raw = (nr - 1) * (nc - 1)

    if statistic in ("Wald", "adjWald"):
        row_tot, col_tot = counts.sum(axis=1), counts.sum(axis=0)
        rows_of_cell = np.tile(np.arange(nr), nc)
        cols_of_cell = np.repeat(np.arange(nc), nr)
        r_i, c_j = row_tot[rows_of_cell], col_tot[cols_of_cell]
        y = totals - r_i * c_j / grand
        use = (rows_of_cell > 0) & (cols_of_cell > 0)
        # influence of Y_ij = T_ij - R_i C_j / T on every row, for the cells used
        row_code = np.where(keep, cell % nr, -1)
        col_code = np.where(keep, cell // nr, -1)
        z = w[:, None] * (onehot[:, use]
                          - (row_code[:, None] == rows_of_cell[use]) * (c_j[use] / grand)
                          - (col_code[:, None] == cols_of_cell[use]) * (r_i[use] / grand)
                          + (r_i[use] * c_j[use] / grand ** 2) * keep[:, None])
        v = sub.vcov_totals(z)
        wald = float(y[use] @ np.linalg.solve(v, y[use]))
        if statistic == "Wald":
            ndf, ddf = float(ndf_raw), nu
            value = wald / ndf_raw
        else:
            ndf, ddf = float(ndf_raw), nu - ndf_raw + 1
            value = wald * ddf / (ndf_raw * nu)
        p_value = float(stats.f.sf(value, ndf, ddf)) if ddf > 0 else np.nan
        return SurveyTest("Design-based Wald test of association", "F", value,
                          {"ndf": ndf, "ddf": ddf}, p_value, details=details)

    p = totals / grand
    z = w[:, None] * (onehot - p) / grand
    v = sub.vcov_totals(z)
    x1, interactions = _main_effects_and_interactions(nr, nc)
    coef, *_ = np.linalg.lstsq(x1, interactions, rcond=None)
    cmat = interactions - x1 @ coef
    with np.errstate(divide="ignore"):
        inv_p = np.where(p == 0, 0.0, 1.0 / p)
    scaled = cmat * inv_p[:, None]                      # D⁻¹ C
    denominator = cmat.T @ scaled / n
    numerator = scaled.T @ v @ scaled
    delta = np.linalg.solve(denominator, numerator)
    trace = float(np.trace(delta))
    d0 = trace ** 2 / float(np.trace(delta @ delta))
    details["design_effects"] = np.sort(np.linalg.eigvals(delta).real)[::-1]
    if statistic == "F":
        value = pearson / trace
        ddf = d0 * nu
        p_value = float(stats.f.sf(value, d0, ddf)) if ddf > 0 else np.nan
        return SurveyTest("Pearson's X^2: Rao & Scott adjustment", "F", value,
                          {"ndf": d0, "ddf": ddf}, p_value, details=details)
    p_value = float(stats.chi2.sf(pearson / (trace / delta.shape[0]), ndf_raw))
    return SurveyTest("Pearson's X^2: Rao & Scott adjustment", "X-squared", pearson,
                      {"df": float(ndf_raw)}, p_value, details=details)


# --------------------------------------------------------------------------------------------
# t test
# --------------------------------------------------------------------------------------------

def svyttest(design, var: str, group: str | None = None, *, mu: float = 0.0,
             level: float | None = None, na_rm: bool = False) -> SurveyTest:
    """Design-based t test (R's ``svyttest``).

    With ``group`` (a column with exactly two levels in the domain): the difference of the
    mean of ``var`` between the second level and the first (sorted; category order for a
    categorical column; for 0/1 or False/True, 1 minus 0), i.e. R's ``svyttest(var ~ group)``.
    Without: the mean of ``var`` against ``mu`` (R's ``svyttest(var ~ 0)`` for ``mu=0``).
    The SE is by linearisation on the design; t has the design df minus one (R's
    ``svyglm`` residual df for the two-sample test, and R's choice for the one-sample test
    too), and so has the interval at ``level`` (default the design's). Rows missing ``var``
    or ``group`` are an error, or left out with ``na_rm=True`` (R drops them).

    Examples
    --------
    >>> import pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> data = pd.DataFrame({"psu": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5],
    ...                      "online": [0, 1, 0, 1, 0, 1, 0, 1, 1, 0],
    ...                      "score": [3.0, 4.0, 2.5, 4.5, 3.5, 3.0, 2.0, 4.0, 5.0, 3.0]})
    >>> result = svyttest(SurveyDesign(data, psu="psu"), "score", "online")
    >>> round(result.estimate, 3), round(result.statistic, 3), result.parameters
    (1.3, 2.654, {'df': 3.0})
    """
    caller = "svyttest"
    if not isinstance(var, str):
        raise TypeError(f"{caller}: var must be a column name, got {var!r}")
    level = float(design.level if level is None else level)
    if not 0 < level < 1:
        raise ValueError(f"{caller}: level must be between 0 and 1, got {level!r}")
    columns = [var] + ([group] if group is not None else [])
    sub = _complete_domain(design, columns, caller, na_rm=na_rm)
    if _is_categorical(sub.data[var]):
        raise TypeError(f"{caller}: {var!r} must be numeric, got dtype {sub.data[var].dtype}")
    w = sub.weights
    active = _active(sub)
    y = np.where(active, sub.data[var].to_numpy(dtype=float, na_value=np.nan), 0.0)
    if group is None:
        total = w.sum()
        estimate = float(w @ y / total)
        z = w * (y - estimate) / total
        method, statistic_of = "Design-based one-sample t-test", estimate - mu
        levels = None
    else:
        levels = _levels(sub.data[group], active)
        if len(levels) != 2:
            raise ValueError(f"{caller}: group {group!r} must have exactly two levels in the "
                             f"domain, found {len(levels)}: {levels[:10]}")
        codes = np.where(active, _codes(sub.data[group], levels), -1)
        z = np.zeros(len(w))
        means = []
        for code, sign in ((0, -1.0), (1, 1.0)):
            in_level = codes == code
            total = w[in_level].sum()
            mean = float(w[in_level] @ y[in_level] / total)
            means.append(mean)
            z += sign * np.where(in_level, w * (y - mean) / total, 0.0)
        estimate = means[1] - means[0]
        method, statistic_of = "Design-based t-test", estimate - mu
    se = float(np.sqrt(max(float(sub.vcov_totals(z)[0, 0]), 0.0)))
    df = float(sub.df - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = statistic_of / se
    p_value = float(2 * stats.t.sf(abs(t), df)) if df > 0 else np.nan
    crit = _crit(level, df)
    details = {"mu": mu, "design_df": float(sub.df)}
    if levels is not None:
        details.update(levels=levels, means=dict(zip(levels, means)))
    return SurveyTest(method, "t", float(t), {"df": df}, p_value, estimate=estimate,
                      std_error=se, ci_low=estimate - crit * se, ci_high=estimate + crit * se,
                      level=level, details=details)


# --------------------------------------------------------------------------------------------
# domain estimates and contrasts
# --------------------------------------------------------------------------------------------

def _value_columns(data: pd.DataFrame, names: list[str], rows: np.ndarray):
    """(n, k) values (indicators for each level of a categorical column) and term names."""
    blocks, terms = [], []
    for name in names:
        column = data[name]
        if _is_categorical(column):
            levels = (list(column.cat.categories) if isinstance(column.dtype, pd.CategoricalDtype)
                      else sorted(column.dropna().unique()))
            codes = _codes(column, levels)
            blocks.append((codes[:, None] == np.arange(len(levels))).astype(float))
            terms += [f"{name}[{level}]" for level in levels]
        else:
            blocks.append(np.nan_to_num(column.to_numpy(dtype=float, na_value=np.nan))[:, None])
            terms.append(name)
    values = np.column_stack(blocks)
    values[~rows] = 0.0
    return values, terms


def domain_estimates(design, var, by=None, *, stat: str = "mean",
                     na_rm: bool = False) -> Estimates:
    """Means or totals of ``var`` in each domain of ``by``, with their full design covariance
    (R's ``svyby(~var, ~by, design, svymean, covmat=TRUE)``; without ``by``, ``svymean`` /
    ``svytotal`` of several variables with their covariance).

    ``var``: a column or a list (a categorical column gives one term per level, its
    proportion or count); ``by``: a column, a list of columns, or None; ``stat``: ``"mean"``
    or ``"total"``. Domains are the combinations of ``by`` present among the rows with
    positive weight, ordered as R orders them (the first ``by`` column varying fastest) and
    labelled as R does (``"E"``, ``"E.Yes"``; ``"E:api00"`` with several terms, all domains
    of the first term first). Rows missing a variable or a ``by`` value are an error, or left
    out of every domain with ``na_rm=True``. The covariance is that of the influence values
    of all the estimates on the design as given (domain estimates from disjoint domains are
    correlated through shared PSUs). Returns :class:`Estimates`. Memory: one dense array of
    rows x (domains x terms) influence values (8 bytes each; 63 provinces of a million rows
    take 0.5 GB), because the covariance of every pair is formed.

    Examples
    --------
    >>> import pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> data = pd.DataFrame({"psu": [1, 1, 2, 2, 3, 3, 4, 4],
    ...                      "sex": ["f", "m", "f", "m", "f", "m", "f", "m"],
    ...                      "score": [3.0, 4.0, 2.0, 4.0, 3.0, 3.0, 2.0, 5.0]})
    >>> est = domain_estimates(SurveyDesign(data, psu="psu"), "score", by="sex")
    >>> est.coef.tolist()
    [2.5, 4.0]
    >>> est.vcov.round(4)
            f       m
    f  0.0833 -0.0833
    m -0.0833  0.1667
    >>> est.contrast({"m": 1, "f": -1}).table[["term", "estimate", "std_error"]].round(4)
           term  estimate  std_error
    0  contrast       1.5     0.6455
    """
    caller = "domain_estimates"
    if stat not in ("mean", "total"):
        raise ValueError(f"{caller}: stat must be 'mean' or 'total', got {stat!r}")
    names, by_columns = _as_list(var), _as_list(by)
    if not names:
        raise ValueError(f"{caller}: give at least one variable")
    sub = _complete_domain(design, names + by_columns, caller, na_rm=na_rm)
    active = _active(sub)
    values, terms = _value_columns(sub.data, names, active)
    w = sub.weights
    if by_columns:
        keys = sub.data.loc[active, by_columns]
        # R orders the domains by its interaction(): the first by column varies fastest
        groups = keys.groupby(by_columns[::-1], sort=True, observed=True).ngroup().to_numpy()
        codes = np.full(len(w), -1, dtype=np.int64)
        codes[active] = groups
        n_domains = int(groups.max()) + 1
        first = pd.Series(np.flatnonzero(active)).groupby(groups).first().to_numpy()
        domain_keys = sub.data[by_columns].iloc[first].reset_index(drop=True)
        labels = [".".join(str(v) for v in row) for row in domain_keys.itertuples(index=False)]
    else:
        codes = np.where(active, 0, -1)
        n_domains, domain_keys, labels = 1, None, [""]
    k = len(terms)
    z = np.zeros((len(w), n_domains * k))
    estimate = np.empty(n_domains * k)
    counts = np.bincount(codes[active], minlength=n_domains)
    for d in range(n_domains):
        in_d = codes == d
        total_w = w[in_d].sum()
        for j in range(k):
            col = j * n_domains + d              # R's order: all domains of a term together
            wy = w[in_d] * values[in_d, j]
            if stat == "mean":
                estimate[col] = wy.sum() / total_w
                z[in_d, col] = w[in_d] * (values[in_d, j] - estimate[col]) / total_w
            else:
                estimate[col] = wy.sum()
                z[in_d, col] = wy
    vcov = np.asarray(sub.vcov_totals(z), dtype=float)
    if by_columns:
        full_labels = [lab if k == 1 else f"{lab}:{term}" for term in terms for lab in labels]
    else:
        full_labels = list(terms)
    se = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
    crit = _crit(sub.level, None)
    table = pd.DataFrame({"term": np.repeat(terms, n_domains), "label": full_labels,
                          "estimate": estimate, "std_error": se,
                          "ci_low": estimate - crit * se, "ci_high": estimate + crit * se,
                          "n": np.tile(counts, k),
                          "df": np.tile(sub.domain_df(codes, n_domains), k)})
    if by_columns:
        for c in reversed(by_columns):
            table.insert(0, c, np.tile(domain_keys[c].to_numpy(), k))
    return Estimates(table, pd.DataFrame(vcov, index=full_labels, columns=full_labels),
                     float(sub.level))


def _contrast_vector(spec, labels: list[str], name: str) -> np.ndarray:
    if isinstance(spec, Mapping):
        unknown = [str(key) for key in spec if str(key) not in labels]
        if unknown:
            raise ValueError(f"svycontrast: contrast {name!r} names estimate(s) {unknown} that "
                             f"are not among {labels}")
        vector = np.zeros(len(labels))
        for key, value in spec.items():
            vector[labels.index(str(key))] = float(value)
        return vector
    vector = np.asarray(spec, dtype=float)
    if vector.shape != (len(labels),):
        raise ValueError(f"svycontrast: contrast {name!r} has {vector.size} coefficient(s) for "
                         f"{len(labels)} estimate(s) {labels}: give one per estimate, or a "
                         "dict naming the estimates used")
    return vector


def svycontrast(estimates: Estimates, contrasts, *, df: float | None = None) -> Estimates:
    """Linear combinations of estimates with their design SEs (R's ``svycontrast``).

    ``contrasts``: one contrast, as a sequence of coefficients (one per estimate, in the order
    of ``estimates.labels``) or a dict label -> coefficient (the others 0, as R's named
    vector, e.g. ``{"E": 1, "H": -1}``); or several, as a dict name -> one of those
    (``{"avg": [1/3, 1/3, 1/3], "E - M": {"E": 1, "M": -1}}``). A single contrast is named
    ``"contrast"``, as R. Returns :class:`Estimates` whose table has ``term``, ``label``
    (both the contrast's name), ``estimate``, ``std_error``, ``ci_low``, ``ci_high``,
    ``statistic`` and ``p_value`` (the test of 0) and whose ``vcov`` is that of the contrasts.
    Intervals and tests are normal (R's) unless ``df`` is given, then Student's t on ``df``.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"term": ["y", "y"], "label": ["a", "b"], "estimate": [1.0, 3.0]})
    >>> est = Estimates(table, pd.DataFrame([[1.0, 0.5], [0.5, 2.0]], index=["a", "b"],
    ...                                     columns=["a", "b"]))
    >>> svycontrast(est, {"diff": {"b": 1, "a": -1}, "mean": [0.5, 0.5]}).table[
    ...     ["term", "estimate", "std_error"]].round(4)
       term  estimate  std_error
    0  diff       2.0     1.4142
    1  mean       2.0     1.0000
    """
    if not isinstance(estimates, Estimates):
        raise TypeError("svycontrast: estimates must be an Estimates (from domain_estimates), "
                        f"got {type(estimates).__name__}")
    labels = estimates.labels
    several = isinstance(contrasts, Mapping) and contrasts and all(
        isinstance(v, (Mapping, Sequence, np.ndarray)) and not isinstance(v, str)
        for v in contrasts.values())
    if isinstance(contrasts, Mapping) and not contrasts:
        raise ValueError("svycontrast: no contrast given")
    specs = dict(contrasts) if several else {"contrast": contrasts}
    names = [str(n) for n in specs]
    matrix = np.vstack([_contrast_vector(spec, labels, name)
                        for name, spec in zip(names, specs.values())])
    coef = estimates.table["estimate"].to_numpy(dtype=float)
    value = matrix @ coef
    vcov = matrix @ estimates.vcov.loc[labels, labels].to_numpy(dtype=float) @ matrix.T
    se = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
    crit = _crit(estimates.level, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = value / se
    if df is None or not np.isfinite(df):
        p_value = 2 * stats.norm.sf(np.abs(statistic))
    else:
        p_value = 2 * stats.t.sf(np.abs(statistic), df) if df > 0 else np.full_like(se, np.nan)
    table = pd.DataFrame({"term": names, "label": names, "estimate": value, "std_error": se,
                          "ci_low": value - crit * se, "ci_high": value + crit * se,
                          "statistic": statistic, "p_value": p_value})
    return Estimates(table, pd.DataFrame(vcov, index=names, columns=names), estimates.level)
