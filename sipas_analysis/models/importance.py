"""Relative importance of drivers (LMG / Shapley decomposition of R²) and importance–performance.

:func:`relative_importance` splits a model's R² among its predictors (or groups of predictors)
the way R's ``relaimpo::calc.relimp(type = "lmg")`` does: each player's share is its increase in
R² averaged over every order in which the players can enter the model (Lindeman, Merenda & Gold
1980), which is the Shapley value of the R² "game". R² of every subset is computed from the
(weighted) covariance matrix of the outcome and the predictors, never by refitting, so 15
players (32,768 subsets) take a fraction of a second. From the same table of subset R² come the
dominance relations of Azen & Budescu (2003): complete, conditional, general.

With a :class:`~sipas_analysis.design.SurveyDesign` the covariance is weighted by the design
weights (relaimpo's ``weights=``) and bootstrap intervals come from the design's Rao–Wu rescaled
bootstrap (:meth:`SurveyDesign.bootstrap_factors`); with a plain DataFrame, optional frequency
weights and the ordinary row bootstrap. Percentile intervals are given for the LMG value, the
share and the rank, and the bootstrap also gives the probability that each driver outranks each
other one: shares cannot be negative, so an interval that excludes zero proves nothing about a
driver.

:func:`ipa_table` joins derived importance with performance (percent satisfied) and labels the
four quadrants of an importance–performance analysis (Martilla & James 1977).

References: Lindeman, Merenda & Gold (1980) *Introduction to Bivariate and Multivariate
Analysis*, p. 119 ff.; Grömping (2006) J. Stat. Softw. 17(1); Azen & Budescu (2003) Psychol.
Methods 8(2):129–148; Rao & Wu (1988) JASA 83:231–241; Rao, Wu & Yue (1992) Survey Methodology
18:209–217.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy
import scipy.sparse
from scipy import special, stats

from .._deprecation import renamed_keyword
from ..design import SurveyDesign
from ..schema import MissingColumnError, require_columns
from .formulas import formula_columns, require_formula_columns
from ..rng import as_generator

IMPORTANCE_COLUMNS = ["term", "lmg", "share", "ci_low", "ci_high", "rank", "rank_low",
                      "rank_high", "share_ci_low", "share_ci_high"]
DOMINANCE_COLUMNS = ["term", "other", "complete", "conditional", "general"]
OUTRANK_COLUMNS = ["term", "other", "probability"]
IPA_COLUMNS = ["term", "importance", "performance", "quadrant", "importance_crosshair",
               "performance_crosshair", "crosshair_rule"]
QUADRANTS = {(True, False): "concentrate_here", (True, True): "keep_up_the_good_work",
             (False, False): "low_priority", (False, True): "possible_overkill"}

# 2^20 subsets is about a million R² values: beyond that exact LMG is not practical here.
MAX_PLAYERS = 20
# Solve at most this many matrix entries at once when batching subsets (memory bound).
_BATCH_ENTRIES = 4_000_000


@dataclass(frozen=True)
class ImportanceResult:
    """Relative importance of the players (predictors or groups) of one model.

    table: one row per player:
        ``term, lmg, share, ci_low, ci_high, rank, rank_low, rank_high,
        share_ci_low, share_ci_high``. ``lmg`` sums to ``r_squared``; ``share = lmg / r_squared``
        sums to 1; ``ci_low, ci_high`` are percentile bootstrap intervals of ``lmg`` and
        ``share_ci_*`` those of ``share``; ``rank`` 1 is the most important, ``rank_low`` /
        ``rank_high`` are bootstrap percentiles of the rank. Interval columns are NaN without
        bootstrap.
    r_squared: R² of the full model (McFadden's pseudo-R² for ``family="logit"``).
    n: rows used in the fit (rows with positive weight and no missing model variable).
    method: "lmg" (linear, from the covariance matrix) or "lmg_mcfadden_refit" (logit).
    notes: plain sentences stating what was assumed (weights, dropped rows, bootstrap, …).
    dominance: ``term, other, complete, conditional, general``: booleans, True when ``term``
        dominates ``other`` in that sense (Azen & Budescu 2003); one row per ordered pair.
    outrank: ``term, other, probability``: share of bootstrap replicates in which ``term``'s
        lmg exceeds ``other``'s (NaN without bootstrap).
    formula, n_dropped, n_reps, level: as used (``n_boot``: the deprecated name of ``n_reps``).
    players: each player's model columns (a categorical predictor is one player with all its
        dummy columns).
    """

    table: pd.DataFrame
    r_squared: float
    n: int
    method: str
    notes: list[str]
    dominance: pd.DataFrame
    outrank: pd.DataFrame
    formula: str = ""
    n_dropped: int = 0
    n_reps: int = 0
    level: float = 0.95
    players: dict = field(default_factory=dict)

    @property
    def n_boot(self) -> int:
        warnings.warn("ImportanceResult.n_boot is deprecated; use n_reps", DeprecationWarning,
                      stacklevel=2)
        return self.n_reps


# ------------------------------------------------------------------------------------ public API
def relative_importance(formula: str, design_or_data, *, method: str = "lmg", groups=None,
                        n_reps: int = 0, seed=0, level: float = 0.95, freq_weights=None,
                        family: str = "gaussian", n_boot: int | None = None
                        ) -> ImportanceResult:
    """LMG relative importance (Shapley decomposition of R²) of the predictors of ``formula``.

    Parameters
    ----------
    formula : ``"y ~ x1 + x2 + C(area)"`` (patsy syntax, with an intercept, no interactions).
        A categorical predictor is one player (all its dummy columns together), as in relaimpo.
    design_or_data : a ``SurveyDesign`` (weighted by its design weights; rows outside its domain
        have weight zero) or a DataFrame.
    method : only "lmg".
    groups : dict ``name -> list of formula terms``; each group is one player (relaimpo's
        ``groups=``), named by its key. Terms in no group stay players of their own.
    n_reps : bootstrap replicates (0: none). A bootstrap ``ReplicateDesign``: its own
        replicates (``n_reps`` its number of replicates; other replicate methods give no
        percentile intervals and are refused). Design: Rao–Wu rescaled bootstrap of stage-1 PSUs
        within strata; DataFrame: resampling rows (multinomial on rows with frequency weights).
    seed : int or numpy Generator for the bootstrap.
    level : level of the percentile intervals.
    freq_weights : DataFrame only: column of frequency weights (a row standing for w
        identical respondents).
    family : "gaussian" (R² from the covariance matrix) or "logit" (binary 0/1 outcome:
        McFadden's pseudo-R² of weighted logistic fits, every subset refitted).
    n_boot : deprecated name of ``n_reps`` (a DeprecationWarning; removed in the next release).

    Returns an :class:`ImportanceResult` (see there for the columns of its tables).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> data = pd.DataFrame(rng.normal(size=(300, 3)), columns=["staff", "procedure", "access"])
    >>> data["overall"] = (0.6 * data["staff"] + 0.3 * data["procedure"] + 0.1 * data["access"]
    ...                    + rng.normal(size=300))
    >>> result = relative_importance("overall ~ staff + procedure + access", data)
    >>> round(result.r_squared, 3)
    0.341
    >>> result.table[["term", "lmg", "share", "rank"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
            term    lmg  share  rank
    0      staff  0.253  0.741     1
    1  procedure  0.083  0.243     2
    2     access  0.005  0.015     3
    """
    if method != "lmg":
        raise ValueError(f"method must be 'lmg', got {method!r}")
    if family not in ("gaussian", "logit"):
        raise ValueError(f"family must be 'gaussian' or 'logit', got {family!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    n_reps = renamed_keyword(n_reps, n_boot, new="n_reps", old="n_boot",
                             function="relative_importance", default=0)
    if int(n_reps) != n_reps or n_reps < 0:
        raise ValueError(f"n_reps must be a non-negative integer, got {n_reps!r}")
    n_reps = int(n_reps)

    prepared = _prepare(formula, design_or_data, groups=groups, freq_weights=freq_weights)
    names = prepared["player_names"]
    columns = prepared["player_columns"]
    z, w = prepared["z"], prepared["w"]
    notes = list(prepared["notes"])

    if family == "gaussian":
        corr = _correlation(_weighted_cov(z, w), prepared["column_names"])
        r2_table = _subset_r_squared(corr[None], columns)[0]
        method_name = "lmg"
        notes.append("R² of every subset of players comes from the weighted covariance matrix "
                     "of the outcome and the predictors (no refitting), as relaimpo computes it.")
    else:
        y = z[:, 0]
        if not np.isin(y[w > 0], (0.0, 1.0)).all():
            raise ValueError(f"family='logit' needs a 0/1 outcome; {prepared['outcome']!r} has "
                             "other values")
        r2_table, converged = _subset_mcfadden(z, w, columns)
        method_name = "lmg_mcfadden_refit"
        notes.append("Importance is the Shapley decomposition of McFadden's pseudo-R² "
                     "(1 - weighted log-likelihood / that of the intercept-only model), with "
                     "a weighted logistic regression refitted for every subset of players.")
        if not converged:
            notes.append("Some subset logistic fits did not converge in 100 Newton steps "
                         "(separation?); their pseudo-R² is that of the last step.")
    lmg = _shapley(r2_table, len(names))
    r_squared = float(r2_table[-1])

    table = pd.DataFrame({"term": names, "lmg": lmg, "share": lmg / r_squared})
    table["rank"] = stats.rankdata(-lmg, method="min").astype(int)
    dominance = _dominance(r2_table, names)
    boot_lmg = None
    if n_reps > 0:
        boot_lmg, boot_note = _bootstrap(prepared, n_reps=n_reps, seed=seed, family=family)
        notes.append(boot_note)
    table = _add_intervals(table, boot_lmg, level)
    outrank = _outrank(names, boot_lmg)
    notes.append("Shares cannot be negative, so an interval that excludes zero proves nothing: "
                 "compare drivers with the dominance table and, with a bootstrap, the "
                 "probability that one outranks another.")
    return ImportanceResult(
        table=table[IMPORTANCE_COLUMNS], r_squared=r_squared, n=prepared["n"],
        method=method_name, notes=notes, dominance=dominance, outrank=outrank,
        formula=formula, n_dropped=prepared["n_dropped"], n_reps=n_reps, level=level,
        players={name: [prepared["column_names"][c] for c in cols]
                 for name, cols in zip(names, columns)})


def ipa_table(importance, performance: pd.DataFrame, *, importance_column: str = "share",
              performance_column: str = "estimate", crosshair="mean") -> pd.DataFrame:
    """Importance–performance analysis: join importance and performance, label the quadrants.

    importance : an :class:`ImportanceResult` or a DataFrame with ``term`` and
        ``importance_column`` (default ``share``).
    performance : a DataFrame with ``term`` and ``performance_column`` (default ``estimate``,
        e.g. percent satisfied from ``sipas_index``); when it has a ``kind`` column only the
        rows of kind "criterion" or "factor" are used.
    crosshair : where the quadrants split: "mean" (mean importance and mean performance of the
        items, the classic rule of Martilla & James 1977), "median", or a dict
        ``{"importance": x, "performance": y}``. An item exactly on a crosshair counts as high.

    Returns a DataFrame with columns ``term, importance, performance, quadrant,
    importance_crosshair, performance_crosshair, crosshair_rule``; quadrant is
    "concentrate_here" (high importance, low performance), "keep_up_the_good_work" (high,
    high), "low_priority" (low, low) or "possible_overkill" (low importance, high performance).
    Terms present in only one of the two tables are an error that names them.

    Examples
    --------
    Importance shares (e.g. ``relative_importance(...).table``) beside percent satisfied:

    >>> import pandas as pd
    >>> importance = pd.DataFrame({"term": ["staff", "procedure", "access"],
    ...                            "share": [0.45, 0.35, 0.20]})
    >>> performance = pd.DataFrame({"term": ["staff", "procedure", "access"],
    ...                             "estimate": [78.0, 85.0, 90.0]})
    >>> table = ipa_table(importance, performance)
    >>> table[["term", "importance", "performance", "quadrant"]]  # doctest: +NORMALIZE_WHITESPACE
            term  importance  performance               quadrant
    0      staff        0.45         78.0       concentrate_here
    1  procedure        0.35         85.0  keep_up_the_good_work
    2     access        0.20         90.0      possible_overkill
    """
    imp = importance.table if isinstance(importance, ImportanceResult) else importance
    lacking, absent_all = [], []
    for label, frame, column in (("importance", imp, importance_column),
                                 ("performance", performance, performance_column)):
        absent = [c for c in ("term", column) if c not in frame.columns]
        if absent:
            lacking.append(f"the {label} table lacks column(s) {absent}")
            absent_all += absent
    if lacking:
        raise MissingColumnError("ipa_table: " + "; ".join(lacking),
                                 list(dict.fromkeys(absent_all)))
    perf = performance
    if "kind" in perf.columns:
        perf = perf[perf["kind"].isin(["criterion", "factor"])]
    problems = []
    for label, frame in (("importance", imp), ("performance", perf)):
        duplicated = frame["term"][frame["term"].duplicated()].unique().tolist()
        if duplicated:
            problems.append(f"{label} table has repeated terms {duplicated} (one unit and year "
                            "at a time: filter it first)")
    if problems:
        raise ValueError("; ".join(problems))
    imp_terms, perf_terms = list(imp["term"]), list(perf["term"])
    only_imp = [t for t in imp_terms if t not in set(perf_terms)]
    only_perf = [t for t in perf_terms if t not in set(imp_terms)]
    if only_imp or only_perf:
        raise ValueError(f"terms must match between the two tables: only in importance "
                         f"{only_imp}; only in performance {only_perf}")
    joined = pd.DataFrame({"term": imp_terms,
                           "importance": imp[importance_column].to_numpy(dtype=float)})
    joined["performance"] = joined["term"].map(
        dict(zip(perf["term"], perf[performance_column].astype(float))))

    if isinstance(crosshair, dict):
        missing = {"importance", "performance"} - set(crosshair)
        if missing:
            raise ValueError(f"crosshair dict needs keys 'importance' and 'performance'; "
                             f"missing {sorted(missing)}")
        x_cut, y_cut = float(crosshair["importance"]), float(crosshair["performance"])
        rule = f"fixed: importance {x_cut:g}, performance {y_cut:g}"
    elif crosshair in ("mean", "median"):
        agg = np.mean if crosshair == "mean" else np.median
        x_cut, y_cut = float(agg(joined["importance"])), float(agg(joined["performance"]))
        rule = (f"{crosshair} of importance and {crosshair} of performance across the "
                f"{len(joined)} items; on the line counts as high")
    else:
        raise ValueError(f"crosshair must be 'mean', 'median' or a dict of two numbers, "
                         f"got {crosshair!r}")
    high_imp = joined["importance"] >= x_cut
    high_perf = joined["performance"] >= y_cut
    joined["quadrant"] = [QUADRANTS[(bool(i), bool(p))] for i, p in zip(high_imp, high_perf)]
    joined["importance_crosshair"] = x_cut
    joined["performance_crosshair"] = y_cut
    joined["crosshair_rule"] = rule
    return joined[IPA_COLUMNS]


# ------------------------------------------------------------------------------- preparation
def _prepare(formula, design_or_data, *, groups, freq_weights) -> dict:
    """Model matrix of the rows used, their weights, the players, and notes describing them."""
    is_design = isinstance(design_or_data, SurveyDesign)
    if is_design or isinstance(design_or_data, pd.DataFrame):
        data = design_or_data.data if is_design else design_or_data
        named = {} if is_design or freq_weights is None else {"freq_weights": freq_weights}
        require_formula_columns("relative_importance", data, {"formula": formula}, columns=named)
    data, base_weights, weight_note = _base_weights(design_or_data, freq_weights)
    term_names, z_kept, kept, column_names, term_columns = _model_matrix(formula, data)
    names, player_columns, notes = _players(term_names, term_columns, groups)

    n_missing = int((~kept & (base_weights > 0)).sum())
    w_kept = base_weights[kept]
    positive = w_kept > 0
    n_used = int(positive.sum())
    notes = [weight_note] + notes
    notes.append(f"{n_missing} row(s) with a missing model variable were left out of the fit; "
                 f"{n_used} row(s) used." if n_missing else
                 f"No row had a missing model variable; {n_used} row(s) used.")
    if n_used < len(column_names) + 1:
        raise ValueError(f"only {n_used} usable rows for {len(column_names) - 1} predictor "
                         "columns")
    used = np.zeros(len(data), dtype=bool)
    used[np.flatnonzero(kept)[positive]] = True
    # as the regression fits (R's svyglm): rows missing a model variable leave the design's
    # domain, so the bootstrap's single-PSU rule sees only the rows fitted
    design = design_or_data.subset(kept) if is_design else None
    return {"z": z_kept[positive], "w": w_kept[positive], "used": used,
            "player_names": names, "player_columns": player_columns,
            "column_names": column_names, "outcome": column_names[0], "notes": notes,
            "n": n_used, "n_dropped": n_missing, "is_design": is_design, "design": design}


def _base_weights(design_or_data, freq_weights):
    """(data, weight of every row, a note saying what the weights are)."""
    if isinstance(design_or_data, SurveyDesign):
        if freq_weights is not None:
            raise ValueError("freq_weights is for a plain DataFrame; a SurveyDesign brings its "
                             "own weights")
        return (design_or_data.data, np.asarray(design_or_data.weights, dtype=float),
                "Weights: the survey design weights (weighted covariance, as relaimpo's "
                "weights=); rows outside the design's domain have weight zero.")
    if not isinstance(design_or_data, pd.DataFrame):
        raise TypeError("design_or_data must be a SurveyDesign or a pandas DataFrame, got "
                        f"{type(design_or_data).__name__}")
    data = design_or_data
    if freq_weights is None:
        return data, np.ones(len(data)), "Weights: none (every row counts once)."
    require_columns(data, [freq_weights], "relative_importance",
                    roles={freq_weights: "freq_weights"})
    weights = data[freq_weights].to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        raise ValueError(f"freq_weights column {freq_weights!r} has {int(bad.sum())} missing, "
                         "negative or infinite value(s)")
    return (data, weights, f"Weights: frequency weights from column {freq_weights!r} (a row "
            "counts as that many respondents).")


def _model_matrix(formula: str, data: pd.DataFrame):
    """Terms in formula order, the matrix [y, X without intercept] of the complete rows, which
    rows are complete, the column names and each term's columns (indices into the matrix)."""
    desc = patsy.ModelDesc.from_formula(formula)
    if len(desc.lhs_termlist) != 1:
        raise ValueError(f"formula needs exactly one outcome on the left: {formula!r}")
    intercept = patsy.desc.INTERCEPT
    if intercept not in desc.rhs_termlist:
        raise ValueError("relative importance decomposes R² around the mean: the formula must "
                         "keep its intercept (no '- 1' or '+ 0')")
    rhs_terms = [t for t in desc.rhs_termlist if t != intercept]
    interactions = [t.name() for t in rhs_terms if len(t.factors) > 1]
    if interactions:
        raise ValueError(f"interaction terms are not supported in relative importance: "
                         f"{interactions}")
    if not rhs_terms:
        raise ValueError(f"formula {formula!r} has no predictors")
    frame = data.reset_index(drop=True)
    # Rows missing any variable the formula mentions are dropped BEFORE patsy evaluates it:
    # inside an expression such as I((y >= 4) * 1.0) a missing y would already be 0.
    mentioned = formula_columns(formula, frame)
    kept = frame[mentioned].notna().all(axis=1).to_numpy() if mentioned else \
        np.ones(len(frame), dtype=bool)
    try:
        # Names not in the data resolve only to numpy (np.log(x) works), never to our locals.
        y_frame, x_frame = patsy.dmatrices(formula, frame[kept], NA_action="raise",
                                           return_type="dataframe",
                                           eval_env=patsy.EvalEnvironment([{"np": np}]))
    except patsy.PatsyError as error:
        raise ValueError(f"cannot build the model matrix of {formula!r}: {error}") from None
    if y_frame.shape[1] != 1:
        raise ValueError(f"the outcome of {formula!r} must be numeric (one column), got "
                         f"columns {list(y_frame.columns)}")

    # patsy may reorder terms (categoricals first): put them back in formula order.
    slices = x_frame.design_info.term_name_slices
    term_names = [t.name() for t in rhs_terms]
    blocks = [y_frame.to_numpy(dtype=float)]
    column_names = [str(y_frame.columns[0])]
    term_columns = {}
    for name in term_names:
        block = x_frame.iloc[:, slices[name]]
        term_columns[name] = list(range(len(column_names), len(column_names) + block.shape[1]))
        column_names += [str(c) for c in block.columns]
        blocks.append(block.to_numpy(dtype=float))
    return term_names, np.hstack(blocks), kept, column_names, term_columns


def _players(term_names, term_columns, groups):
    """Players (groups first, in the order given, then ungrouped terms in formula order), their
    column indices, and notes."""
    names, player_columns, notes = [], [], []
    grouped = set()
    if groups:
        if not isinstance(groups, dict):
            raise TypeError("groups must be a dict: name -> list of formula terms")
        problems = []
        members_of = {g: [m] if isinstance(m, str) else list(m) for g, m in groups.items()}
        for group, members in members_of.items():
            unknown = [m for m in members if m not in term_columns]
            twice = [m for m in members if m in grouped]
            if unknown:
                problems.append(f"group {group!r} names terms not in the formula {unknown}")
            if twice:
                problems.append(f"group {group!r} repeats terms already in another group {twice}")
            if not members:
                problems.append(f"group {group!r} is empty")
            grouped.update(members)
            if not unknown:
                names.append(str(group))
                player_columns.append(np.array([c for m in members for c in term_columns[m]]))
        clash = [str(g) for g in groups if str(g) in term_columns and str(g) not in grouped]
        if clash:
            problems.append(f"group names {clash} are also ungrouped formula terms")
        if problems:
            raise ValueError("invalid groups: " + "; ".join(problems))
        notes.append(f"Players are {len(groups)} groups of terms (relaimpo's groups=): "
                     + "; ".join(f"{g} = {', '.join(m)}" for g, m in members_of.items()) + ".")
    for name in term_names:
        if name not in grouped:
            names.append(name)
            player_columns.append(np.array(term_columns[name]))
    if len(names) < 2:
        raise ValueError(f"relative importance needs at least two players, got {names}")
    if len(names) > MAX_PLAYERS:
        raise ValueError(f"{len(names)} players: exact LMG needs 2^{len(names)} subset fits; "
                         f"at most {MAX_PLAYERS} are supported (group the predictors)")
    multi = [(n, len(c)) for n, c in zip(names, player_columns) if len(c) > 1 and n in term_names]
    if multi:
        notes.append("A categorical predictor is one player with all its dummy columns: "
                     + ", ".join(f"{n} ({k} columns)" for n, k in multi) + ".")
    return names, player_columns, notes


def _weighted_cov(z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted covariance of the columns of z (denominator sum(w): R² does not depend on it)."""
    total = w.sum()
    centred = z - (w @ z) / total
    return (centred * w[:, None]).T @ centred / total


def _correlation(cov: np.ndarray, column_names) -> np.ndarray:
    sd = np.sqrt(np.diag(cov))
    constant = [column_names[i] for i in np.flatnonzero(sd <= 1e-12 * max(sd.max(), 1e-300))]
    if constant:
        raise ValueError(f"column(s) with no variation among the rows used: {constant}")
    corr = cov / np.outer(sd, sd)
    # A singular predictor block has no unique fit: refuse rather than split R² arbitrarily.
    eigen = np.linalg.eigvalsh(corr[1:, 1:])
    if eigen.min() < 1e-10:
        raise ValueError("the predictors are collinear (their correlation matrix is singular): "
                         "drop or group the redundant columns")
    return corr


# ------------------------------------------------------------------------------ the core
def _subset_r_squared(corr: np.ndarray, player_columns) -> np.ndarray:
    """R² of every subset of players for a batch of correlation matrices.

    corr: (B, q, q) with the outcome in row/column 0 and the predictor columns 1..q-1.
    player_columns: list of m integer arrays (indices into 1..q-1).
    Returns (B, 2^m): entry [b, mask] is R² of the model with the players whose bits are set,
    R²(S) = c_S' R_SS^-1 c_S (correlations, so the outcome's variance is 1).

    Subsets with the same number of columns are solved together in one batched
    ``np.linalg.solve`` (the expensive part is then a few large LAPACK calls, not 2^m small ones).
    """
    batch = corr.shape[0]
    m = len(player_columns)
    q = corr.shape[1]
    masks = np.arange(1 << m)
    bits = ((masks[:, None] >> np.arange(m)) & 1).astype(bool)
    member = np.zeros((m, q), dtype=bool)
    for j, cols in enumerate(player_columns):
        member[j, cols] = True
    subset_columns = (bits.astype(np.int64) @ member.astype(np.int64)) > 0   # (2^m, q)
    width = subset_columns.sum(axis=1)
    r2 = np.zeros((batch, 1 << m))
    sxx, sxy = corr[:, 1:, 1:], corr[:, 1:, 0]
    for k in np.unique(width[width > 0]):
        subs = masks[width == k]
        # nonzero walks row-major, so each subset's columns come out sorted
        idx = np.nonzero(subset_columns[subs])[1].reshape(subs.size, k) - 1
        step = max(1, _BATCH_ENTRIES // (k * k * batch))
        for start in range(0, subs.size, step):
            part = idx[start:start + step]
            a = sxx[:, part[:, :, None], part[:, None, :]]          # (B, s, k, k)
            b = sxy[:, part]                                          # (B, s, k)
            solution = np.linalg.solve(a, b[..., None])[..., 0]
            r2[:, subs[start:start + step]] = (b * solution).sum(axis=-1)
    return r2


def _shapley_weights(m: int) -> np.ndarray:
    """weight[s] = s! (m-s-1)! / m!: the share of orderings in which a given set of s players
    precedes player j."""
    return np.array([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m)
                     for s in range(m)])


def _popcount(masks: np.ndarray) -> np.ndarray:
    """Number of players in each subset (set bits of each mask)."""
    return np.bitwise_count(masks).astype(np.int64)


def _shapley(r2: np.ndarray, m: int) -> np.ndarray:
    """LMG of each player from the subset table(s) r2 (..., 2^m): sum over subsets S without j
    of s!(m-s-1)!/m! [R²(S+j) - R²(S)]."""
    masks = np.arange(1 << m)
    size = _popcount(masks)
    weight = _shapley_weights(m)
    out = np.empty(r2.shape[:-1] + (m,))
    for j in range(m):
        without = masks[(masks >> j) & 1 == 0]
        gain = r2[..., without | (1 << j)] - r2[..., without]
        out[..., j] = gain @ weight[size[without]]
    return out


def _dominance(r2: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Azen & Budescu (2003) dominance of every ordered pair, from the subset R² table.

    complete: term adds more R² than other to every subset of the remaining players (the empty
        model included): R²(S + term) > R²(S + other) for all S without both.
    conditional: within every model size k = 0..m-1, term's average gain over the models of
        size k without it exceeds other's.
    general: term's average conditional gain (its LMG) exceeds other's.
    Strict inequalities: tied players dominate neither way.
    """
    m = len(names)
    masks = np.arange(1 << m)
    size = _popcount(masks)
    tolerance = 1e-12 * max(1.0, float(np.abs(r2).max()))
    by_size = np.empty((m, m))           # [player, k] mean gain over subsets of size k
    for j in range(m):
        without = masks[(masks >> j) & 1 == 0]
        gain = r2[without | (1 << j)] - r2[without]
        by_size[j] = np.bincount(size[without], weights=gain, minlength=m)[:m] / \
            np.bincount(size[without], minlength=m)[:m]
    general = by_size.mean(axis=1)
    rows = []
    for i in range(m):
        for j in range(m):
            if i == j:
                continue
            neither = masks[((masks >> i) & 1 == 0) & ((masks >> j) & 1 == 0)]
            complete = bool((r2[neither | (1 << i)] - r2[neither | (1 << j)] > tolerance).all())
            conditional = bool((by_size[i] - by_size[j] > tolerance).all())
            rows.append((names[i], names[j], complete, conditional,
                         bool(general[i] - general[j] > tolerance)))
    return pd.DataFrame(rows, columns=DOMINANCE_COLUMNS)


# ---------------------------------------------------------------------------- logistic refits
def _weighted_logit_loglik(x: np.ndarray, y: np.ndarray, w: np.ndarray, start: np.ndarray,
                           max_iter: int = 100):
    """Maximise sum w [y eta - log(1 + e^eta)] by Newton's method with step halving.

    Stops when the Newton decrement score' step (twice the predicted gain) falls below
    1e-13 of the log-likelihood: the coefficients are then accurate to about 1e-7 relative
    and the log-likelihood to rounding. Returns (log-likelihood, coefficients, converged)."""
    beta = start.copy()
    eta = x @ beta
    current = float(w @ (y * eta - np.logaddexp(0.0, eta)))
    for _ in range(max_iter):
        p = special.expit(eta)
        score = x.T @ (w * (y - p))
        info = (x * (w * p * (1.0 - p))[:, None]).T @ x
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, score, rcond=None)[0]
        decrement = float(score @ step)
        if decrement <= 1e-13 * (abs(current) + 1.0):
            return current, beta, True
        t = 1.0
        direction = x @ step
        while True:
            eta_new = eta + t * direction
            candidate = float(w @ (y * eta_new - np.logaddexp(0.0, eta_new)))
            if candidate >= current - 1e-12 * abs(current) or t < 1e-8:
                break
            t /= 2
        beta = beta + t * step
        eta, current = eta_new, candidate
    return current, beta, False


def _subset_mcfadden(z: np.ndarray, w: np.ndarray, player_columns):
    """McFadden's pseudo-R² of every subset of players by refitting weighted logits.

    Subsets are visited in increasing mask order; each fit starts from its parent's solution
    (the subset without its highest player) to save Newton steps."""
    y = z[:, 0]
    m = len(player_columns)
    n_sub = 1 << m
    w = w / w.mean()    # a common scale does not change the pseudo-R²; keeps sums moderate
    ybar = float(w @ y / w.sum())
    if ybar <= 0 or ybar >= 1:
        raise ValueError("family='logit' needs both outcome values among the rows used")
    null_ll = float(w @ (y * np.log(ybar) + (1 - y) * np.log1p(-ybar)))
    r2 = np.zeros(n_sub)
    solutions = {0: np.array([np.log(ybar / (1 - ybar))])}
    converged = True
    ones = np.ones((z.shape[0], 1))
    for mask in range(1, n_sub):
        cols = [c for j in range(m) if (mask >> j) & 1 for c in player_columns[j]]
        x = np.hstack([ones, z[:, cols]])
        high = mask.bit_length() - 1
        parent = mask & ~(1 << high)
        parent_cols = [c for j in range(m) if (parent >> j) & 1 for c in player_columns[j]]
        start = np.zeros(x.shape[1])
        # the parent's columns come first in the same order (players are added by index)
        start[:1 + len(parent_cols)] = solutions[parent]
        ll, beta, ok = _weighted_logit_loglik(x, y, w, start)
        converged &= ok
        solutions[mask] = beta
        r2[mask] = 1.0 - ll / null_ll
    return r2, converged


# ---------------------------------------------------------------------------------- bootstrap
def _design_note(design: SurveyDesign, n_reps: int) -> str:
    """The note describing the Rao–Wu bootstrap of ``design`` (call after its factors)."""
    lonely = design.single_psu_strata()
    note_lonely = (f" {len(lonely)} stratum/strata with a single PSU keep that PSU's weight in "
                   "every replicate (no variance from them)." if lonely else "")
    return (f"Bootstrap: {n_reps} Rao–Wu rescaled bootstrap replicates (Rao, Wu & Yue 1992): "
            "in each stratum n_h - 1 of its n_h stage-1 PSUs drawn with replacement, weights "
            "rescaled by 1 - l + l n_h/(n_h - 1) r with l = sqrt(1 - f_h) (f_h the stage-1 "
            "sampling fraction, 0 without fpc); later stages are not resampled." + note_lonely)


def _moment_columns(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns [1, z, z_i z_j (i <= j)] whose weighted sums give a covariance matrix."""
    q = z.shape[1]
    iu = np.triu_indices(q)
    return np.hstack([np.ones((z.shape[0], 1)), z, z[:, iu[0]] * z[:, iu[1]]]), np.array(iu)


def _covariances_from_moments(sums: np.ndarray, q: int, iu: np.ndarray) -> np.ndarray:
    """(B, q, q) weighted covariances from (B, 1 + q + q(q+1)/2) weighted moment sums."""
    total = sums[:, :1]
    mean = sums[:, 1:1 + q] / total
    second = np.zeros((sums.shape[0], q, q))
    second[:, iu[0], iu[1]] = sums[:, 1 + q:] / total
    second[:, iu[1], iu[0]] = second[:, iu[0], iu[1]]
    return second - mean[:, :, None] * mean[:, None, :]


def _bootstrap(prepared, *, n_reps: int, seed, family: str):
    """(n_reps, m) LMG values of the bootstrap replicates, and a note describing them."""
    rng = as_generator(seed)
    columns = prepared["player_columns"]
    m = len(columns)
    used = prepared["used"]
    z, w = prepared["z"], prepared["w"]            # the rows used, in data order

    if prepared["is_design"] and hasattr(prepared["design"], "replicate_weights"):
        # a replicate design carries its replicates: percentile intervals need bootstrap ones
        design = prepared["design"]
        if design.method != "bootstrap" or n_reps != design.n_reps:
            raise ValueError(f"relative_importance: on a replicate design the intervals come "
                             f"from its own replicates, which must be a bootstrap (percentile "
                             f"intervals), with n_reps={design.n_reps}; this design has "
                             f"{design.n_reps} {design.method} replicates and n_reps={n_reps}. "
                             "Give n_reps=0 for the point estimates, or the SurveyDesign")
        factors = design.replicate_weights()[used] / w[:, None]   # per-row multipliers
        note = (f"Bootstrap: the design's own {n_reps} bootstrap replicates (each replicate's "
                "weights give its importance).")
        unit = np.arange(len(w))
        n_units = unit.size
        factor_chunks = [(factors, slice(0, n_reps))]
    elif prepared["is_design"]:
        design = prepared["design"]
        factors = design.bootstrap_factors(n_reps=n_reps, seed=rng)
        note = _design_note(design, n_reps)
        unit = design.psu_codes[used]
        n_units = factors.shape[0]
        factor_chunks = [(factors, slice(0, n_reps))]
    else:
        unit = np.arange(len(w))                   # every row is its own resampling unit
        n_units = unit.size
        note = _iid_note(prepared, n_reps)
        factor_chunks = _iid_factor_chunks(w, n_reps, rng)

    lmg = np.empty((n_reps, m))
    if family == "logit":
        for chunk, where in factor_chunks:
            for r in range(chunk.shape[1]):
                w_rep = w * chunk[unit, r]
                keep = w_rep > 0
                table, _ = _subset_mcfadden(z[keep], w_rep[keep], columns)
                lmg[where.start + r] = _shapley(table, m)
        return lmg, note

    # Centre at the full-sample weighted mean so that raw moments do not cancel badly.
    centred = z - (w @ z) / w.sum()
    moments, iu = _moment_columns(centred)
    weighted = moments * w[:, None]
    # Sum within each resampling unit once; a replicate's moments are then one matrix product.
    # A design's factors have a row for every PSU of the full design, also PSUs with no row
    # used (each respondent its own PSU, some of them missing a variable): always map rows to
    # PSUs, never assume the rows are the PSUs.
    if prepared["is_design"]:
        indicator = scipy.sparse.csr_matrix(
            (np.ones(unit.size), (unit, np.arange(unit.size))), shape=(n_units, unit.size))
        unit_sums = np.asarray(indicator @ weighted)
    else:
        unit_sums = weighted
    q = z.shape[1]
    for chunk, where in factor_chunks:
        sums = chunk.T @ unit_sums                          # (reps, moments)
        cov = _covariances_from_moments(sums, q, iu)
        sd = np.sqrt(np.clip(np.einsum("bii->bi", cov), 0.0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / (sd[:, :, None] * sd[:, None, :])
        # A replicate in which a column does not vary has no defined R²: leave it NaN.
        bad = ~np.isfinite(corr).all(axis=(1, 2))
        corr[bad] = np.eye(q)
        table = _subset_r_squared(corr, columns)
        values = _shapley(table, m)
        values[bad] = np.nan
        lmg[where] = values
    return lmg, note


def _iid_note(prepared, n_reps: int) -> str:
    weighted = any("frequency weights" in s for s in prepared["notes"])
    return (f"Bootstrap: {n_reps} replicates resampling respondents with replacement "
            + ("(multinomial counts on the rows with probabilities proportional to the "
               "frequency weights: the bootstrap of the expanded data)." if weighted else
               "(ordinary row bootstrap: no survey design was given, so clustering and "
               "stratification are ignored)."))


def _iid_factor_chunks(w: np.ndarray, n_reps: int, rng: np.random.Generator):
    """Row multipliers for the iid bootstrap, in chunks of replicates to bound memory.

    Each replicate draws N = round(sum w) respondents with probabilities w / sum w (for
    frequency weights: the bootstrap of the expanded data; for w = 1: the ordinary bootstrap)
    and gives row i the weight count_i, i.e. the multiplier count_i / w_i.
    """
    total = w.sum()
    draws = max(int(round(total)), 1)
    p = w / total
    chunk = max(1, min(n_reps, 5_000_000 // max(w.size, 1)))
    out = []
    for start in range(0, n_reps, chunk):
        reps = min(chunk, n_reps - start)
        counts = rng.multinomial(draws, p, size=reps).T         # (n, reps)
        out.append((counts / w[:, None], slice(start, start + reps)))
    return out


def _add_intervals(table: pd.DataFrame, boot_lmg, level: float) -> pd.DataFrame:
    table = table.copy()
    nan = np.full(len(table), np.nan)
    if boot_lmg is None:
        for column in ("ci_low", "ci_high", "rank_low", "rank_high", "share_ci_low",
                       "share_ci_high"):
            table[column] = nan
        return table
    alpha = 1 - level
    ok = np.isfinite(boot_lmg).all(axis=1)
    boot = boot_lmg[ok]
    table["ci_low"], table["ci_high"] = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
    share = boot / boot.sum(axis=1, keepdims=True)
    table["share_ci_low"], table["share_ci_high"] = np.quantile(
        share, [alpha / 2, 1 - alpha / 2], axis=0)
    ranks = stats.rankdata(-boot, axis=1, method="min")
    # Ranks are integers: take the order statistics on either side (conservative).
    table["rank_low"] = np.quantile(ranks, alpha / 2, axis=0, method="lower")
    table["rank_high"] = np.quantile(ranks, 1 - alpha / 2, axis=0, method="higher")
    return table


def _outrank(names: list[str], boot_lmg) -> pd.DataFrame:
    boot = None if boot_lmg is None else boot_lmg[np.isfinite(boot_lmg).all(axis=1)]
    rows = []
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i != j:
                p = (np.nan if boot is None else float(np.mean(boot[:, i] > boot[:, j])))
                rows.append((a, b, p))
    return pd.DataFrame(rows, columns=OUTRANK_COLUMNS)
