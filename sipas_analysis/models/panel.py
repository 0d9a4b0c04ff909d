"""Province panel models: province and year fixed effects, standard errors clustered by province.

For the real province-year panels (PAPI, PCI, published SIPAS figures): does a province whose
e-governance score rises also see its administrative-procedures score rise, net of everything
constant about the province and of what moves all provinces in a year?

The fixed effects are swept out by the within transformation (alternating demeaning by entity
and by period, exact for one-way effects and iterated to convergence for unbalanced two-way
panels), which gives exactly the slopes of OLS with entity and period dummies (Frisch–Waugh–
Lovell) and the same residuals; only the slopes are reported.

Clustered variance (CR1, the small-sample factor of Stata, gretl and R ``fixest``)::

    V = c · (X̃'X̃)⁻¹ [Σ_g X̃_g'e_g e_g'X̃_g] (X̃'X̃)⁻¹,   c = G/(G−1) · (N−1)/(N−K),

with t tests on G − 1 degrees of freedom. K counts the slopes plus the fixed-effect parameters,
except that fixed effects nested in the clusters (province effects when clustering by province)
are counted as one parameter, the constant (``fixef_k="nested"``, the default, as Stata's
``xtreg, fe`` and gretl, whose Grunfeld output the tests reproduce; fixest's default
``fixef.K = "nested"`` follows the same idea, Cameron & Miller 2015 §IIIB explain why): they
cost no degrees of freedom of the cluster-robust variance, and counting them
(``fixef_k="full"``, as Stata's ``areg`` and OLS with dummies in statsmodels) inflates the
variance by about T/(T−1) with T periods. ``cluster=None`` gives the classical iid variance
s²(X̃'X̃)⁻¹ with N − K residual df (K with every fixed effect), as R's ``plm(model="within")``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import patsy
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from ..design import _indicator
from .formulas import formula_columns, require_formula_columns
from .results import ModelResult

_ENV = patsy.EvalEnvironment([{"np": np}])

EFFECTS = ("twoway", "entity", "time", "none")
CLUSTERS = ("entity", "time", None)
FIXEF_K = ("nested", "full")


def _demean(values: np.ndarray, factors: list[tuple[np.ndarray, int]], *, tol: float = 1e-13,
            max_iter: int = 10_000) -> np.ndarray:
    """Residuals of every column of ``values`` after projecting out the dummies of ``factors``
    (alternating projections; one pass is exact for a single factor or a balanced panel)."""
    if not factors:
        return values.copy()
    # level x row indicators: G @ values sums each level's rows, G.T spreads back to the rows
    indicators = [(_indicator(codes, n), np.bincount(codes, minlength=n)) for codes, n in factors]
    out = values.copy()
    scale = np.maximum(np.abs(values).max(axis=0), 1e-300)
    for _ in range(max_iter):
        previous = out.copy()
        for G, counts in indicators:
            out -= G.T @ ((G @ out) / counts[:, None])
        if len(indicators) == 1 or (np.abs(out - previous).max(axis=0) <= tol * scale).all():
            return out
    raise RuntimeError(f"demeaning by the fixed effects did not converge in {max_iter} "
                       "iterations (is the panel very unbalanced or disconnected?)")


def _n_fixef_parameters(entity_codes, n_entities, time_codes, n_periods, effects) -> int:
    """Free parameters of the fixed effects: levels, less one per connected component of the
    entity–period graph when both sets are present (one level is redundant in each)."""
    if effects == "none":
        return 0
    if effects == "entity":
        return n_entities
    if effects == "time":
        return n_periods
    graph = sparse.csr_matrix((np.ones(len(entity_codes)), (entity_codes, time_codes)),
                              shape=(n_entities, n_periods))
    bipartite = sparse.bmat([[None, graph], [graph.T, None]])
    n_components, _ = connected_components(bipartite, directed=False)
    return n_entities + n_periods - n_components


def _check_inputs(formula, panel, entity, time, effects, cluster, fixef_k, level):
    if not isinstance(panel, pd.DataFrame):
        raise TypeError(f"panel must be a pandas DataFrame, got {type(panel).__name__}")
    if "~" not in formula or not formula.split("~", 1)[0].strip():
        raise ValueError(f"formula must look like 'y ~ x1 + x2', got {formula!r}")
    problems = []
    if effects not in EFFECTS:
        problems.append(f"effects must be one of {EFFECTS}, got {effects!r}")
    if cluster not in CLUSTERS:
        problems.append(f"cluster must be one of {CLUSTERS}, got {cluster!r}")
    if fixef_k not in FIXEF_K:
        problems.append(f"fixef_k must be one of {FIXEF_K}, got {fixef_k!r}")
    if not 0 < level < 1:
        problems.append(f"level must be between 0 and 1, got {level!r}")
    require_formula_columns("fit_panel", panel, {"formula": formula},
                            columns={"entity": entity, "time": time}, table_name="the panel",
                            problems=problems)


def _dropped_table(panel, complete, entity, time, columns) -> pd.DataFrame:
    """Which rows were dropped and which of the model's columns each one misses."""
    dropped = panel.loc[~complete, [entity, time]]
    missing = panel.loc[~complete, columns].isna()
    names = np.array(columns, dtype=object)
    reasons = [", ".join(names[row]) for row in missing.to_numpy()]
    return pd.DataFrame({entity: dropped[entity].to_numpy(), time: dropped[time].to_numpy(),
                         "missing": reasons}, columns=[entity, time, "missing"])


def fit_panel(formula: str, panel: pd.DataFrame, *, entity: str = "province_code",
              time: str = "year", effects: str = "twoway", cluster: str | None = "entity",
              fixef_k: str = "nested", level: float = 0.95) -> ModelResult:
    """Fixed-effects panel regression with cluster-robust standard errors.

    ``effects``: "twoway" (entity and period effects, the default), "entity", "time", or "none"
    (pooled OLS with an intercept). ``cluster``: "entity" (default: by province), "time", or None
    (classical iid variance, as ``plm``'s within model). ``fixef_k``: how fixed effects count in
    the CR1 small-sample factor (see the module doc). Rows missing any model variable, the
    entity or the period are dropped, and counted.

    Returns a ModelResult (model "panel") whose params are the slopes only (plus the intercept
    when ``effects="none"``); ``df`` is G − 1 when clustered, N − K otherwise. ``stats`` (for
    glance): n_entities, n_periods, n_clusters, r_squared_within (1 − RSS / within sum of
    squares of the outcome after removing the fixed effects; with no effects, the usual R²),
    r_squared (of the full model with its fixed effects), n_fixef (fixed-effect parameters),
    k_small_sample (K in the CR1 factor), effects, cluster, n_dropped. ``extra``: ``notes``
    (list of sentences) and ``dropped`` (columns ``<entity>, <time>, missing``: one row per
    dropped row, with the model columns it misses).

    ``r_squared_within`` follows fixest (the outcome net of every fixed effect); Stata and gretl
    call R² of the entity-demeaned regression with time dummies "within R²" in two-way models.
    ``level`` is only checked here: pass it to ``tidy()`` for the intervals.

    Examples
    --------
    Ten provinces observed for five years; x is correlated with the province effects, which the
    fixed effects remove:

    >>> import numpy as np, pandas as pd
    >>> from sipas_analysis.models import glance, tidy
    >>> rng = np.random.default_rng(0)
    >>> panel = pd.DataFrame({"province_code": np.repeat([f"{p:02d}" for p in range(10)], 5),
    ...                       "year": np.tile(np.arange(2020, 2025), 10)})
    >>> effect = np.repeat(rng.normal(size=10), 5)
    >>> panel["x"] = rng.normal(size=50) + effect
    >>> trend = 0.1 * (panel["year"] - 2020)
    >>> panel["y"] = 0.7 * panel["x"] + effect + trend + rng.normal(0, 0.5, 50)
    >>> fit = fit_panel("y ~ x", panel)
    >>> tidy(fit)[["term", "estimate", "std_error"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
      term  estimate  std_error
    0    x      0.55      0.108
    >>> glance(fit)[["n", "df", "n_entities", "n_periods"]]  # doctest: +NORMALIZE_WHITESPACE
        n   df  n_entities  n_periods
    0  50  9.0          10          5
    """
    _check_inputs(formula, panel, entity, time, effects, cluster, fixef_k, level)
    columns = list(dict.fromkeys([entity, time] + formula_columns(formula, panel)))
    complete = panel[columns].notna().all(axis=1).to_numpy()
    n_dropped = int((~complete).sum())
    rows = panel.loc[complete]
    if len(rows) == 0:
        raise ValueError(f"no complete rows for {formula!r} (every row misses one of "
                         f"{columns})")
    try:
        y_frame, X_frame = patsy.dmatrices(formula, rows, return_type="dataframe",
                                           eval_env=_ENV, NA_action="raise")
    except patsy.PatsyError as error:
        raise ValueError(f"cannot build the design of {formula!r}: {error}") from None
    if y_frame.shape[1] != 1:
        raise ValueError(f"the outcome of {formula!r} must be one numeric column, got "
                         f"{list(y_frame.columns)}")
    if effects != "none" and "Intercept" in X_frame.columns:
        # the fixed effects carry the intercept
        X_frame = X_frame.drop(columns="Intercept")
    names = list(X_frame.columns)
    if not names:
        raise ValueError(f"{formula!r} has no slope to estimate")

    entity_codes, entity_levels = pd.factorize(rows[entity], sort=True)
    time_codes, time_levels = pd.factorize(rows[time], sort=True)
    n_entities, n_periods = len(entity_levels), len(time_levels)
    factors = {"twoway": [(entity_codes, n_entities), (time_codes, n_periods)],
               "entity": [(entity_codes, n_entities)], "time": [(time_codes, n_periods)],
               "none": []}[effects]

    y = y_frame.iloc[:, 0].to_numpy(dtype=float)
    X = X_frame.to_numpy(dtype=float)
    within = _demean(np.column_stack([y, X]), factors)
    y_w, X_w = within[:, 0], within[:, 1:]

    # A regressor that does not vary within the fixed effects (e.g. constant over time within
    # every province) is absorbed by them and has no within estimate.
    spread = np.abs(X - X.mean(axis=0)).max(axis=0) if effects != "none" else np.ones(len(names))
    absorbed = [n for n, s, w in zip(names, spread, np.abs(X_w).max(axis=0))
                if w <= 1e-9 * max(s, 1e-300)]
    if absorbed:
        raise ValueError(f"{', '.join(absorbed)} do(es) not vary within the {effects} fixed "
                         "effects and cannot be estimated; remove them from the formula")
    if np.linalg.matrix_rank(X_w) < X_w.shape[1]:
        raise ValueError(f"the regressors of {formula!r} are collinear after removing the "
                         f"fixed effects: {names}")

    xtx = X_w.T @ X_w
    bread = np.linalg.inv(xtx)
    beta = bread @ (X_w.T @ y_w)
    resid = y_w - X_w @ beta
    n, p = len(y), len(names)
    n_fixef = _n_fixef_parameters(entity_codes, n_entities, time_codes, n_periods, effects)
    k_full = p + n_fixef
    rss = float(resid @ resid)

    nested = None
    if cluster is None:
        k_used = k_full
        df = n - k_full
        if df <= 0:
            raise ValueError(f"no residual degrees of freedom: {n} rows, {k_full} parameters")
        vcov = rss / df * bread
        variance = (f"classical (iid) variance s²(X̃'X̃)⁻¹ after removing the {effects} fixed "
                    f"effects; t tests on N − K = {n} − {k_full} = {df} df (not clustered)")
        n_clusters = np.nan
    else:
        cluster_codes, n_clusters = ((entity_codes, n_entities) if cluster == "entity"
                                     else (time_codes, n_periods))
        cluster_column = entity if cluster == "entity" else time
        if n_clusters < 2:
            raise ValueError(f"clustering by {cluster_column!r} needs at least 2 clusters, got "
                             f"{n_clusters}")
        nested = (effects in ("twoway", cluster)) and fixef_k == "nested"
        # Fixed effects nested in the clusters count as one parameter (the constant), as Stata's
        # xtreg, fe; every other fixed-effect parameter counts.
        k_used = k_full - (n_clusters - 1) if nested else k_full
        if n - k_used <= 0:
            raise ValueError(f"too few rows for the small-sample factor: N = {n}, K = {k_used}")
        scores = _indicator(cluster_codes, n_clusters) @ (X_w * resid[:, None])
        meat = scores.T @ scores
        factor = n_clusters / (n_clusters - 1) * (n - 1) / (n - k_used)
        vcov = factor * bread @ meat @ bread
        df = n_clusters - 1
        counted = ("slopes + fixed effects not nested in the clusters + 1 (the "
                   f"{cluster_column} effects, nested in the clusters, are not counted; as "
                   "Stata's xtreg, fe)" if nested else "slopes + all fixed-effect parameters")
        variance = (f"clustered by {cluster_column} (CR1: G/(G−1)·(N−1)/(N−K), G = {n_clusters}"
                    f", N = {n}, K = {k_used} = {counted}); t tests on G − 1 = {df} df; "
                    f"{effects} fixed effects removed by the within transformation")
    vcov = (vcov + vcov.T) / 2

    tss_within = float(y_w @ y_w) if effects != "none" else float(((y - y.mean()) ** 2).sum())
    tss = float(((y - y.mean()) ** 2).sum())
    notes = []
    if n_dropped:
        notes.append(f"{n_dropped} of {len(panel)} rows ({entity}-{time} pairs) dropped for a "
                     f"missing value in {', '.join(columns)}")
    else:
        notes.append("no rows dropped for missing values")
    if cluster is not None and n_clusters < 30:
        notes.append(f"only {n_clusters} clusters: cluster-robust standard errors can be too "
                     "small with few clusters (consider a wild cluster bootstrap)")
    notes.append(variance)

    stats_row = {
        "n_entities": n_entities, "n_periods": n_periods, "n_clusters": n_clusters,
        "r_squared_within": 1 - rss / tss_within if tss_within > 0 else np.nan,
        "r_squared": 1 - rss / tss if tss > 0 else np.nan,
        "n_fixef": n_fixef, "k_small_sample": k_used, "effects": effects,
        "cluster": "none" if cluster is None else cluster, "n_dropped": n_dropped,
    }
    extra = {"notes": notes,
             "dropped": _dropped_table(panel, complete, entity, time, columns)}
    return ModelResult(model="panel", formula=formula, params=pd.Series(beta, index=names),
                       vcov=pd.DataFrame(vcov, index=names, columns=names), df=float(df), n=n,
                       variance=variance, kinds=pd.Series("coefficient", index=names),
                       stats=stats_row, extra=extra)
