"""SIPAS indices with linearised standard errors, comparisons, and rank confidence sets.

The index is a *percentage of people satisfied* (0-100), published per criterion, per factor
and overall. Which answers count as satisfied and how criteria combine is a setting, never a
hidden choice: its one owner is :mod:`sipas_analysis.index_rule` (``IndexRule``), whose rule
in force gives the defaults of every function here (``satisfied=None, rule=None``); an
``IndexRule`` may also be passed as ``rule``.

``satisfied``
    the rating levels that count as satisfied; ``(4, 5)`` of the 1-5 scale by default.
``rule="mean_of_criteria"`` (default)
    criterion rate p_c = Σ w·1[r_c satisfied] / Σ w·1[r_c answered] (a ratio: a missing answer
    leaves the denominator, it is never counted as unsatisfied); factor index = mean of its
    criteria rates; overall SIPAS = mean of the factor indices.
``rule="composite"``
    per respondent, the share of the factor's answered criteria that are satisfied, and the
    respondent's overall score = mean of their factor shares over the factors they answered;
    the factor / overall index is the weighted mean of that score over the respondents who
    have one. Criterion rates are the same under both rules.

Standard errors linearise the whole index (Taylor / influence values, as R's ``survey``
does for ``svyratio`` and ``svycontrast``): the influence value of criterion c's ratio is
u_ic = (y_ic - p_c a_ic) / Σ w a_c, and a factor or overall index, being a linear combination
of ratios, has the same linear combination of the u's as its influence value. Every variance
then comes from ``design.vcov_totals`` on weighted influence values, so strata, clusters,
finite-population corrections and the covariances between criteria are all included.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sipas_analysis import index_rule, intervals, schema
from sipas_analysis.design import SurveyDesign, _as_list
from sipas_analysis.rng import Seed, as_generator

RULES = index_rule.AGGREGATIONS
OVERALL_TERM = "overall"

# Columns of an estimate table that are statistics, not unit identifiers (used by rank_units
# to find the unit columns when the caller does not name them).
_STAT_COLUMNS = {"term", "kind", "factor", "estimate", "std_error", "ci_low", "ci_high", "n",
                 "df", "n_eff", "deff", "small_sample", "statistic", "p_value", "model", "level",
                 "method", "rank", "rank_low", "rank_high"}

# Memory budget for one block of influence columns passed to design.vcov_totals (bytes).
_BLOCK_BYTES = 256 * 2**20


# --------------------------------------------------------------------------------------------
# Input checks and grouping
# --------------------------------------------------------------------------------------------

def _check_settings(data: pd.DataFrame, satisfied, rule: str, factors, level: float, by=()):
    """Validate the aggregation settings and that the data hold the ``by`` and rating columns;
    return (factors dict, criteria list, satisfied tuple)."""
    problems = []
    missing_by = [c for c in by if c not in data.columns]
    if missing_by:
        problems.append(f"`by` columns missing from the data: {missing_by}")
    if rule not in RULES:
        problems.append(f"rule must be one of {RULES}, got {rule!r}")
    if isinstance(satisfied, dict):
        # per criterion (a codebook whose criteria use different scales): any finite levels
        satisfied = {c: tuple(v) for c, v in satisfied.items()}
        bad = [c for c, v in satisfied.items()
               if not v or not all(isinstance(x, (int, float)) and np.isfinite(x) for x in v)]
        if bad:
            problems.append(f"satisfied levels must be non-empty lists of numbers, not for {bad}")
    else:
        satisfied = tuple(satisfied)
        bad_levels = [s for s in satisfied if s not in schema.RATING_LEVELS]
        if not satisfied or bad_levels:
            problems.append(f"satisfied must be a non-empty subset of the rating levels "
                            f"{schema.RATING_LEVELS}, got {satisfied!r}")
    if not 0 < level < 1:
        problems.append(f"level must be between 0 and 1, got {level!r}")
    factors = dict(schema.FACTORS if factors is None else factors)
    empty = [f for f, cols in factors.items() if len(cols) == 0]
    if empty:
        problems.append(f"factors without criteria: {empty}")
    if OVERALL_TERM in factors:
        problems.append(f"a factor may not be called {OVERALL_TERM!r} (the overall index)")
    criteria = [c for cols in factors.values() for c in cols]
    duplicated = sorted({c for c in criteria if criteria.count(c) > 1})
    if duplicated:
        problems.append(f"criteria listed under more than one factor: {duplicated}")
    missing = list(dict.fromkeys(c for c in criteria if c not in data.columns))
    if missing:
        problems.append(f"rating columns missing from the data: {missing}")
    if isinstance(satisfied, dict):
        unsaid = [c for c in dict.fromkeys(criteria) if c not in satisfied]
        if unsaid:
            problems.append(f"satisfied gives levels by criterion but not for {unsaid}")
    if problems:
        message = "sipas_index settings are invalid: " + "; ".join(problems)
        if missing_by or missing:
            raise schema.MissingColumnError(message, list(dict.fromkeys(missing_by + missing)))
        raise ValueError(message)
    return factors, list(dict.fromkeys(criteria)), satisfied


def _group_codes(data: pd.DataFrame, by: list[str], in_domain: np.ndarray):
    """Integer group code per row (-1 = not in any group) and the table of group keys.

    Only rows inside the design's domain (weight > 0) form groups, so a subset design does not
    report empty groups. A missing `by` value in the domain is an error (never a silent drop).
    """
    n = len(data)
    if not by:
        codes = np.where(in_domain, 0, -1)
        return codes, pd.DataFrame(index=range(1))
    if ("province_code" in by and "unit_set" not in by and "unit_set" in data.columns
            and data.loc[in_domain, "unit_set"].nunique() > 1):
        raise ValueError("by='province_code' mixes the 63-province and 34-unit sets, which reuse "
                         "codes for different territory: add 'unit_set' to `by` or subset the "
                         "design to one unit set")
    keys = data.loc[in_domain, by]
    missing_keys = keys.isna()
    if missing_keys.to_numpy().any():
        counts = ", ".join(f"{c!r} ({int(missing_keys[c].sum())} rows)" for c in by
                           if missing_keys[c].any())
        raise ValueError(f"`by` column(s) with missing values in the domain: {counts}; subset "
                         "the design to the rows that have them")
    grouped = keys.groupby(by, sort=True, dropna=True, observed=True)
    inner = grouped.ngroup().to_numpy().astype(np.int64)
    codes = np.full(n, -1, dtype=np.int64)
    codes[np.flatnonzero(in_domain)] = inner
    table = grouped.size().index.to_frame(index=False)
    return codes, table


# --------------------------------------------------------------------------------------------
# The core: ratios, their influence values, and the linear combinations that make the terms
# --------------------------------------------------------------------------------------------

@dataclass
class _Core:
    """Everything needed to estimate the index terms for one grouping of the rows.

    Ratio j (r of them) has numerator y[:, j] and 0/1 denominator a[:, j]; term t of group g is
    sum_j comb[g, t, j] * ratio[g, j]. Row arrays hold only rows in some group, sorted by group
    (``rows`` maps them back to the design's rows; group g is ``slice(bounds[g], bounds[g+1])``),
    so per-group work is on contiguous blocks.
    """
    terms: list[str]
    kinds: list[str]
    term_factor: list[object]
    n_rows: int                # rows of the design
    groups: pd.DataFrame       # (G, len(by)) group keys
    rows: np.ndarray           # (n_in,) design row of each sorted row
    bounds: np.ndarray         # (G + 1,) block offsets
    weights: np.ndarray        # (n_in,)
    y: np.ndarray              # (n_in, r) numerators (0 where not answered)
    a: np.ndarray              # (n_in, r) 0/1 denominators
    base: np.ndarray           # (n_in, m) bool: the row is in term t's base (answered a part)
    ratio: np.ndarray          # (G, r) ratio estimates (0 where undefined)
    den_total: np.ndarray      # (G, r) sum of w a
    comb: np.ndarray           # (G, m, r)
    estimate: np.ndarray       # (G, m) NaN where the term is undefined

    @property
    def n_groups(self) -> int:
        return len(self.bounds) - 1

    def block(self, g: int) -> slice:
        return slice(self.bounds[g], self.bounds[g + 1])

    def group_of_rows(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_groups), np.diff(self.bounds))

    def influence(self) -> np.ndarray:
        """(n_in, r) unweighted influence of each ratio on its own group: (y - R a) / sum(w a)."""
        u = np.empty_like(self.y)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(self.den_total > 0, 1.0 / self.den_total, 0.0)
        for g in range(self.n_groups):
            rows = self.block(g)
            u[rows] = (self.y[rows] - self.ratio[g] * self.a[rows]) * scale[g]
        return u

    def term_influence(self, u: np.ndarray, terms) -> np.ndarray:
        """(n_in, len(terms)) unweighted influence of the chosen terms, block by block."""
        out = np.empty((len(self.rows), len(terms)))
        for g in range(self.n_groups):
            rows = self.block(g)
            out[rows] = u[rows] @ self.comb[g][terms].T
        return out

    def scatter(self, values: np.ndarray, rows=slice(None)) -> np.ndarray:
        """Weighted influence (w * values) placed at the design's rows, zero elsewhere."""
        values = np.asarray(values)
        out = np.zeros((self.n_rows,) + values.shape[1:])
        weights = self.weights[rows]
        out[self.rows[rows]] = weights.reshape((-1,) + (1,) * (values.ndim - 1)) * values
        return out


def _block_sums(values: np.ndarray, bounds: np.ndarray, weights=None) -> np.ndarray:
    """Column sums (weighted by ``weights`` if given) of each group's contiguous block of rows,
    ``bounds[g]:bounds[g + 1]`` (the rows sorted by group).

    One small matrix product per group keeps memory flat (no n x k temporaries).
    """
    out = np.empty((len(bounds) - 1, values.shape[1]))
    for g in range(len(bounds) - 1):
        block = values[bounds[g]:bounds[g + 1]]
        w = weights[bounds[g]:bounds[g + 1]] if weights is not None else np.ones(len(block))
        out[g] = w @ block
    return out


def _ratio_inputs(ratings: np.ndarray, factors, criteria, satisfied, rule):
    """Numerators, denominators, terms and the per-term base for the chosen rule."""
    answered = ~np.isnan(ratings)
    happy = np.zeros_like(answered)
    if isinstance(satisfied, dict):
        for j, column in enumerate(criteria):
            for level in satisfied[column]:
                happy[:, j] |= ratings[:, j] == level
    else:
        for level in satisfied:      # elementwise keeps the memory order (np.isin copies)
            happy |= ratings == level
    factor_names = list(factors)
    index_of = {c: i for i, c in enumerate(criteria)}
    factor_cols = [[index_of[c] for c in factors[f]] for f in factor_names]

    answered_factor = np.column_stack([answered[:, cols].any(axis=1) for cols in factor_cols])
    terms = list(criteria) + factor_names + [OVERALL_TERM]
    kinds = ["criterion"] * len(criteria) + ["factor"] * len(factor_names) + ["overall"]
    term_factor = [f for f in factor_names for _ in factors[f]] + factor_names + [None]
    base = np.column_stack([answered, answered_factor, answered_factor.any(axis=1)])

    y = happy.astype(float)
    a = answered.astype(float)
    if rule == "composite":
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.column_stack([happy[:, cols].sum(axis=1) / answered[:, cols].sum(axis=1)
                                      for cols in factor_cols])
            # mean of the respondent's factor shares over the factors they answered
            overall = (np.where(answered_factor, shares, 0.0).sum(axis=1)
                       / answered_factor.sum(axis=1))
        scores = np.column_stack([shares, overall])
        has = ~np.isnan(scores)
        y = np.column_stack([y, np.where(has, scores, 0.0)])
        a = np.column_stack([a, has.astype(float)])
    return y, a, base, terms, kinds, term_factor, factor_cols


def _combinations(available: np.ndarray, n_criteria: int, factor_cols, rule: str):
    """(G, m, r) coefficients of each term on the ratios, and (G, m) term-defined flags.

    mean_of_criteria: a factor is the mean of its criteria that have at least one answer in the
    group, and the overall index the mean of the factors so defined; composite: each term is its
    own ratio.
    """
    G, r = available.shape
    n_factors = len(factor_cols)
    m = n_criteria + n_factors + 1
    comb = np.zeros((G, m, r))
    eye = np.arange(n_criteria)
    comb[:, eye, eye] = 1.0
    defined = np.zeros((G, m), dtype=bool)
    defined[:, :n_criteria] = available[:, :n_criteria]
    if rule == "composite":
        for t in range(n_criteria, m):
            comb[:, t, t] = 1.0
        defined[:, n_criteria:] = available[:, n_criteria:]
        return comb, defined
    for f, cols in enumerate(factor_cols):
        have = available[:, cols].astype(float)            # (G, k_f)
        count = have.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            comb[:, n_criteria + f, cols] = np.where(count > 0, have / count, 0.0)
        defined[:, n_criteria + f] = count[:, 0] > 0
    factor_ok = defined[:, n_criteria:n_criteria + n_factors].astype(float)
    n_ok = factor_ok.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(n_ok[:, None] > 0, factor_ok / n_ok[:, None], 0.0)   # (G, F)
    comb[:, m - 1, :] = np.einsum("gf,gfr->gr", share, comb[:, n_criteria:n_criteria + n_factors])
    defined[:, m - 1] = n_ok > 0
    return comb, defined


def _build_core(design, by, satisfied, rule, factors, level) -> _Core:
    satisfied, rule = index_rule.resolve(satisfied, rule)
    data = design.data
    factors, criteria, satisfied = _check_settings(data, satisfied, rule, factors, level,
                                                   by=_as_list(by))
    all_weights = np.asarray(design.weights, dtype=float)
    if not (all_weights > 0).any():
        raise ValueError("the design has no rows with positive weight (an empty domain)")
    codes, groups = _group_codes(data, _as_list(by), all_weights > 0)
    order = np.argsort(codes, kind="stable")
    order = order[codes[order] >= 0]
    bounds = np.searchsorted(codes[order], np.arange(len(groups) + 1))
    # Column by column into a Fortran-ordered block: avoids pandas interleaving 22 columns and a
    # second full copy for the reordering (matters at 1,000,000 rows).
    ratings = np.empty((len(order), len(criteria)), order="F")
    for j, column in enumerate(criteria):
        ratings[:, j] = data[column].to_numpy(dtype=float, na_value=np.nan)[order]
    # With levels by criterion the ratings are on their own scales, already checked by the
    # codebook that read them; otherwise they must be on the contract's 1-5 scale.
    off_scale = ~np.isnan(ratings) & ~np.isin(ratings, schema.RATING_LEVELS) \
        if not isinstance(satisfied, dict) else np.zeros(ratings.shape, dtype=bool)
    if off_scale.any():
        counts = off_scale.sum(axis=0)
        named = ", ".join(f"{c!r} ({counts[j]} rows)" for j, c in enumerate(criteria) if counts[j])
        raise ValueError(f"ratings outside {schema.RATING_LEVELS} (NaN = not answered) in: {named}")
    y, a, base, terms, kinds, term_factor, factor_cols = _ratio_inputs(
        ratings, factors, criteria, satisfied, rule)
    weights = all_weights[order]
    wy = _block_sums(y, bounds, weights)
    wa = _block_sums(a, bounds, weights)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(wa > 0, wy / wa, 0.0)
    comb, defined = _combinations(wa > 0, len(criteria), factor_cols, rule)
    estimate = np.einsum("gmr,gr->gm", comb, ratio)
    estimate[~defined] = np.nan
    return _Core(terms=terms, kinds=kinds, term_factor=term_factor, n_rows=len(data),
                 groups=groups, rows=order, bounds=bounds, weights=weights, y=y, a=a, base=base,
                 ratio=ratio, den_total=wa, comb=comb, estimate=estimate)


# --------------------------------------------------------------------------------------------
# Variances
# --------------------------------------------------------------------------------------------

def _group_ratio_vcov(design, core: _Core, u: np.ndarray) -> np.ndarray:
    """(G, r, r) design covariance of each group's ratio estimates.

    Groups are disjoint, so each group's covariance comes from its own influence columns (zero
    outside the group) with the group as a domain of the design, as R's ``svyby`` does: right
    for any design. The variance is a sum over stage-1 strata, so only the strata holding the
    group's rows matter: when those are a small part of the sample (strata nested within
    provinces, as in SIPAS), each group is computed on a design rebuilt from the rows of its
    own strata (same strata, PSUs, fpc and lonely-PSU rule, so the same numbers), which is
    what makes 63 provinces x 1,000,000 rows fast. Otherwise every group uses the full design.
    """
    G, r = core.ratio.shape
    out = np.empty((G, r, r))
    plan = _strata_blocks(design, core) if G > 1 else None
    if plan is not None:
        for g, (extended, inside) in enumerate(plan):
            block = core.block(g)
            sub = _rebuild_design(design, extended)
            z = np.zeros((len(extended), r))
            z[inside] = core.weights[block, None] * u[block]
            mask = np.zeros(len(extended), dtype=bool)
            mask[inside] = True
            out[g] = np.asarray(sub.subset(mask).vcov_totals(z), dtype=float).reshape(r, r)
        return out
    z = np.zeros((core.n_rows, r))
    mask = np.zeros(core.n_rows, dtype=bool)
    for g in range(G):
        block = core.block(g)
        rows = core.rows[block]
        z[rows] = core.weights[block, None] * u[block]
        mask[rows] = True
        domain = design.subset(mask) if G > 1 else design
        # the ratios' estimating functions: psi = y - R a, derivative -a (replicate designs
        # recompute each ratio with every replicate's weights from them)
        out[g] = np.asarray(domain.vcov_estimating(z, core.a[block], rows=rows),
                            dtype=float).reshape(r, r)
        z[rows] = 0.0
        mask[rows] = False
    return out


_DESIGN_ROLES = ("weights_column", "strata_column", "psu_columns", "fpc_columns", "lonely_psu",
                 "level")


def _strata_blocks(design, core: _Core):
    """For each group: (design rows of the strata it touches, positions of its rows in them).

    None when the shortcut does not apply: not a plain ``SurveyDesign`` (a subclass may weight
    or calibrate differently), a calibrated design (its residuals span all rows), no strata, or groups that share so many strata that the
    rebuilt designs would hold more than 1.5 times the sample.
    """
    if type(design) is not SurveyDesign or not all(hasattr(design, a) for a in _DESIGN_ROLES):
        return None
    if getattr(design, "calibrated", False):
        return None  # the rebuilt designs would lose the calibration residuals
    if design.strata_column is None:
        return None
    stratum = pd.factorize(design.data[design.strata_column])[0]
    n_strata = int(stratum.max()) + 1
    by_stratum = np.argsort(stratum, kind="stable")
    stratum_bounds = np.searchsorted(stratum[by_stratum], np.arange(n_strata + 1))
    stratum_size = np.diff(stratum_bounds)
    pairs = np.unique(core.group_of_rows() * n_strata + stratum[core.rows])
    pair_group, pair_stratum = pairs // n_strata, pairs % n_strata
    if stratum_size[pair_stratum].sum() > 1.5 * core.n_rows:
        return None
    position = np.empty(core.n_rows, dtype=np.int64)
    plan = []
    starts = np.searchsorted(pair_group, np.arange(core.n_groups + 1))
    for g in range(core.n_groups):
        strata = pair_stratum[starts[g]:starts[g + 1]]
        extended = np.concatenate([by_stratum[stratum_bounds[s]:stratum_bounds[s + 1]]
                                   for s in strata])
        extended.sort()
        position[extended] = np.arange(len(extended))
        plan.append((extended, position[core.rows[core.block(g)]]))
    return plan


def _rebuild_design(design, rows: np.ndarray):
    """The same design (column roles and options) on a subset of its rows."""
    roles = [design.weights_column, design.strata_column, *design.psu_columns,
             *design.fpc_columns]
    columns = list(dict.fromkeys(c for c in roles if c is not None))
    data = design.data[columns].iloc[rows].reset_index(drop=True)
    with warnings.catch_warnings():
        # the full design has already warned about its fpc; do not repeat it per group
        warnings.simplefilter("ignore")
        return SurveyDesign(data, weights=design.weights_column, strata=design.strata_column,
                            psu=design.psu_columns or None, fpc=design.fpc_columns or None,
                            lonely_psu=design.lonely_psu, level=design.level)


def _srs_variance(core: _Core, u: np.ndarray, *, without_replacement: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(G, m) variance of each term under simple random sampling, and (G, m) n.

    As ``SurveyDesign.mean(..., deff=True)`` (R's ``svymean`` deff): over the term's base in
    the group (its n respondents, N = their sum of weights), the Kish variance
    s2 = n/(n-1) sum w (v - vbar)^2 / N of the term's unweighted influence value v, times
    N^2 / n: simple random sampling with replacement (R's ``deff="replace"``), for a design
    without a declared fpc, which is itself with replacement; and times N (N - n) / n, without
    replacement (R's ``deff=TRUE``), when ``without_replacement`` (the design declares an
    fpc, so its weights are population-scaled), falling back to N^2 / n where N <= n.

    v = u c is zero outside the base and its weighted sum is zero (vbar = 0), so
    sum w v^2 = c' (sum w u u') c: one r x r cross-product per group.
    """
    G, m, r = core.comb.shape
    n = np.empty((G, m))
    big_n = np.empty((G, m))
    sum_sq = np.empty((G, m))
    for g in range(G):
        rows = core.block(g)
        w, ug, base = core.weights[rows], u[rows], core.base[rows]
        cross = ug.T @ (ug * w[:, None])
        sum_sq[g] = np.einsum("mr,rs,ms->m", core.comb[g], cross, core.comb[g])
        n[g] = base.sum(axis=0)
        big_n[g] = w @ base
    with np.errstate(divide="ignore", invalid="ignore"):
        s_sq = sum_sq / big_n * n / (n - 1)
        factor = big_n**2 / n
        if without_replacement:
            factor = np.where(big_n > n, big_n * (big_n - n) / n, factor)
        vsrs = s_sq * factor
    return vsrs, n


def _group_df(design, core: _Core) -> np.ndarray:
    """(G,) design degrees of freedom of each group (its PSUs minus its strata)."""
    codes = np.full(core.n_rows, -1, dtype=np.int64)
    codes[core.rows] = core.group_of_rows()
    return np.asarray(design.domain_df(codes, core.n_groups))


# --------------------------------------------------------------------------------------------
# Public: the index table
# --------------------------------------------------------------------------------------------

def sipas_index(design, *, by=None, satisfied=None, rule=None, factors=None,
                level=0.95, min_n_eff=100, ci_method="beta") -> pd.DataFrame:
    """Percent satisfied (0-100) for every criterion, factor and the overall SIPAS index.

    Parameters
    ----------
    design : SurveyDesign
        The survey design (possibly a domain subset). Groups are formed from rows with a
        positive weight only.
    by : str or list of str, optional
        Grouping column(s), e.g. ``"province_code"`` or ``["year", "province_code"]``. Without
        it the national design-based estimate is returned (not a mean of provinces).
    satisfied : tuple of int, or dict, optional
        Rating levels counted as satisfied (default: the rule in force,
        ``sa.index_rule.current()``, levels 4 and 5 of the 1-5 scale); or criterion -> levels
        when criteria use different scales (``Codebook.index_options()`` gives it; the ratings
        are then not checked against 1-5).
    rule : {"mean_of_criteria", "composite"} or IndexRule, optional
        How criteria combine (module docstring): ``"mean_of_criteria"`` (default) - criterion
        rate = weighted share satisfied among those who answered it, factor = mean of its
        criteria rates, overall = mean of the factors; ``"composite"`` - per respondent, share of
        answered criteria satisfied (per factor; overall = mean of the respondent's factor
        shares over answered factors), index = weighted mean over respondents who answered.
        Under mean_of_criteria a criterion nobody in the group answered is left out of its
        factor's mean, and a factor with no answered criteria out of the overall mean.
    factors : dict, optional
        factor -> list of criterion columns; default ``schema.FACTORS``.
    level : float
        Confidence level of the intervals.
    min_n_eff : float
        ``small_sample`` flags estimates whose effective sample size is below this (default 100).
    ci_method : str or None
        ``"beta"`` (default: Korn-Graubard, never outside [0, 100], covering at least its level
        near 100 % in small clustered samples), or another method of
        :func:`sipas_analysis.intervals.proportion_interval` (``"logit"``, ``"xlogit"``,
        ``"asin"``, ``"mean"``, ``"wilson"``), applied to every term on the
        proportion scale with the term's ``n`` and the group's design degrees of freedom (its
        PSUs minus its strata, R's ``degf`` of the group's subset): a criterion is a ratio (a
        proportion of the answers) with effective size ``n_eff``; a factor or the overall index
        is a linear combination of ratios with its linearised SE, whose effective size is the
        binomial-equivalent p (1 - p) / SE² (as R's ``svyciprop``; ``n_eff`` = n / deff would
        treat a mean of 22 answers as noisy as one answer and make the interval far too
        wide). The table then also has a ``df`` column (after ``n``). ``"normal"`` (or None):
        estimate ± z·SE as R's ``confint`` on ``svymean``, **not** clipped to [0, 100], so
        near 0 or 100 a bound can fall outside (no ``df`` column).

    Returns
    -------
    DataFrame
        The `by` column(s) first, then ``term, kind, factor, estimate, std_error,
        ci_low, ci_high, n, df, n_eff, deff, small_sample``; one row per group and term (criteria
        in questionnaire order, then factors, then ``"overall"``); ``df`` only with a proportion
        ``ci_method``.

    - ``estimate``, ``std_error``, ``ci_*``: percentage points. The SE linearises the whole
      index, covariances between criteria included.
    - ``n``: for a criterion, the number of answers; for a factor (overall), the number of
      respondents who answered at least one of its criteria (any criterion).
    - ``deff``: design variance / variance under simple random sampling of the same number of
      respondents, as ``SurveyDesign.mean(..., deff=True)``: SRS variance s²/n of the index's
      linearised variable over its base (Kish s² with the n-1 divisor), with replacement (R's
      ``deff="replace"``) on a design without a declared fpc, so that ``deff`` and ``n_eff``
      do not depend on the scale of the weights; on a design with an fpc, s²(1 - n/N̂)/n with
      N̂ = Σ w (R's ``deff=TRUE``). For a criterion this is R's svymean deff on the
      respondents who answered it.
    - ``n_eff`` = n / deff (NaN when deff is undefined, e.g. an estimate of exactly 0 or 100).
    - ``small_sample`` = n_eff < min_n_eff (or n < min_n_eff where n_eff is undefined).

    Examples
    --------
    One criterion rated by 10 respondents in each of 12 villages whose satisfaction differs;
    the Korn-Graubard interval uses the 11 degrees of freedom and stays below 100:

    >>> import numpy as np, pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> rng = np.random.default_rng(1)
    >>> village_rate = np.repeat(rng.beta(9, 1, 12), 10)
    >>> data = pd.DataFrame({"psu": np.repeat(np.arange(12), 10),
    ...                      "c1": np.where(rng.random(120) < village_rate, 5, 2)})
    >>> table = sipas_index(SurveyDesign(data, psu="psu"), factors={"f": ["c1"]})
    >>> table.loc[0, ["estimate", "ci_low", "ci_high", "n", "df", "deff"]].round(2).to_dict()
    {'estimate': 89.17, 'ci_low': 71.7, 'ci_high': 97.66, 'n': 120.0, 'df': 11.0, 'deff': 3.45}
    """
    if ci_method == "normal":
        ci_method = None
    if ci_method is not None and ci_method not in intervals.METHODS:
        raise ValueError(f"ci_method must be 'normal' (or None) or one of {intervals.METHODS}, "
                         f"got {ci_method!r}")
    core = _build_core(design, by, satisfied, rule, factors, level)
    u = core.influence()
    ratio_vcov = _group_ratio_vcov(design, core, u)
    # Var(term) = c' V c with c the term's coefficients on the ratios: covariances included.
    variance = np.einsum("gmr,grs,gms->gm", core.comb, ratio_vcov, core.comb)
    without_replacement = bool(getattr(design, "fpc_columns", None))
    vsrs, n = _srs_variance(core, u, without_replacement=without_replacement)
    group_df = _group_df(design, core) if ci_method is not None else None
    return _index_table(core, variance, vsrs, n, by=_as_list(by), level=level,
                        min_n_eff=min_n_eff, ci_method=ci_method, group_df=group_df)


def _index_table(core, variance, vsrs, n, *, by, level, min_n_eff, ci_method=None,
                 group_df=None) -> pd.DataFrame:
    G, m = core.estimate.shape
    variance = np.clip(variance, 0.0, None)      # rounding can leave -1e-18
    # A mean of rates that are all 1 (or all 0) can round to 1 - 1e-16: it is 1 (or 0), so that
    # it is recognised as the estimate of exactly 100 % (or 0 %) it is.
    proportion = core.estimate.copy()
    for bound in (0.0, 1.0):
        proportion[np.abs(proportion - bound) < 1e-12] = bound
    estimate = 100.0 * proportion
    se = 100.0 * np.sqrt(variance)
    se[np.isnan(estimate)] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = np.where(vsrs > 0, variance / vsrs, np.nan)
        # a design variance that is zero to rounding (a group inside one PSU, say) has no
        # design effect: n / 1e-28 is not an effective sample size
        deff[deff < 1e-12] = np.nan
        n_eff = n / deff
    deff[np.isnan(estimate)] = np.nan
    n_eff[np.isnan(estimate)] = np.nan
    z = stats.norm.ppf(0.5 + level / 2)
    frame = pd.DataFrame({
        "term": np.tile(core.terms, G),
        "kind": np.tile(core.kinds, G),
        "factor": np.tile(np.asarray(core.term_factor, dtype=object), G),
        "estimate": estimate.ravel(),
        "std_error": se.ravel(),
        "ci_low": (estimate - z * se).ravel(),
        "ci_high": (estimate + z * se).ravel(),
        "n": n.ravel().astype(np.int64),
        "n_eff": n_eff.ravel(),
        "deff": deff.ravel(),
    })
    frame["small_sample"] = np.where(np.isnan(frame["n_eff"]), frame["n"] < min_n_eff,
                                     frame["n_eff"] < min_n_eff)
    if ci_method is not None:
        df = np.repeat(group_df, m).astype(float)
        p = proportion.ravel()
        # A criterion is a proportion: its effective size is n / deff. A factor or the overall
        # index is a mean of proportions, whose per-respondent variance is well below
        # p (1 - p); n / deff would then describe a far noisier binomial and widen its
        # interval by sqrt(p (1 - p) / that variance). Its binomial-equivalent effective size
        # is p (1 - p) / SE², as R's svyciprop computes it.
        with np.errstate(divide="ignore", invalid="ignore"):
            binomial_size = p * (1 - p) / variance.ravel()
        size = np.where(frame["kind"].to_numpy() == "criterion", frame["n_eff"].to_numpy(),
                        binomial_size)
        low, high = intervals.proportion_interval(
            p, np.sqrt(variance).ravel(), n=frame["n"].to_numpy(dtype=float),
            n_eff=size, df=df, method=ci_method, level=level)
        frame["ci_low"], frame["ci_high"] = 100.0 * low, 100.0 * high
        frame.insert(frame.columns.get_loc("n") + 1, "df", np.repeat(group_df, m))
    if by:
        keys = core.groups.loc[np.repeat(np.arange(G), m)].reset_index(drop=True)
        frame = pd.concat([keys, frame], axis=1)
    return frame


# --------------------------------------------------------------------------------------------
# Public: full covariance across groups, and comparisons
# --------------------------------------------------------------------------------------------

def _vcov_of_columns(design, columns, n_rows: int) -> np.ndarray:
    """Design covariance of the totals of influence columns, built lazily in memory blocks,
    block pair by block pair. ``columns`` is a list of callables, each returning an (n,)
    weighted influence vector (variances alone, with their df:
    :func:`_variance_and_df_of_columns`)."""
    k = len(columns)
    block = max(1, int(_BLOCK_BYTES // (8 * max(n_rows, 1) * 2)))
    starts = list(range(0, k, block))

    def build(start):
        idx = list(range(start, min(start + block, k)))
        return idx, np.column_stack([columns[i]() for i in idx])

    def vcov(z):
        return np.asarray(design.vcov_totals(z), dtype=float).reshape(z.shape[1], z.shape[1])

    if len(starts) <= 1:
        return vcov(build(0)[1]) if k else np.empty((0, 0))
    out = np.empty((k, k))
    for i, first in enumerate(starts):
        idx_i, zi = build(first)
        out[np.ix_(idx_i, idx_i)] = vcov(zi)
        for second in starts[i + 1:]:
            idx_j, zj = build(second)
            # the cross block of the pair's joint covariance
            cross = vcov(np.column_stack([zi, zj]))[:len(idx_i), len(idx_i):]
            out[np.ix_(idx_i, idx_j)] = cross
            out[np.ix_(idx_j, idx_i)] = cross.T
    return out


def _has_replicates(design) -> bool:
    """Whether ``design`` carries replicate weights (a ``ReplicateDesign``): its index
    comparisons and rank inputs then come from the indices recomputed in every replicate."""
    return hasattr(design, "_replicate_variance") and hasattr(design, "_replicate_sums")


def _replicate_terms(design, core: _Core, positions) -> np.ndarray:
    """(n_reps, G, len(positions)) the terms of every group recomputed with every replicate's
    weights (fractions): each ratio from the replicate's weighted numerator and denominator,
    combined with the full-sample coefficients. A ratio defined in the full sample whose
    denominator is 0 in a replicate is NaN there (as the replicate SEs of ``sipas_index``)."""
    out = np.empty((design.n_reps, core.n_groups, len(positions)))
    for g in range(core.n_groups):
        block = core.block(g)
        rows = core.rows[block]
        numerator = design._replicate_sums(core.y[block], rows)           # (R, r)
        denominator = design._replicate_sums(core.a[block], rows)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(denominator > 0, numerator / denominator,
                             np.where(core.den_total[g] > 0, np.nan, 0.0))
        out[:, g, :] = ratio @ core.comb[g][positions].T
    return out


def _term_positions(core: _Core, term) -> list[int]:
    names = [term] if isinstance(term, str) else list(term)
    unknown = [t for t in names if t not in core.terms]
    if unknown:
        raise ValueError(f"unknown term(s) {unknown}; known terms are {core.terms}")
    return [core.terms.index(t) for t in names]


def sipas_index_vcov(design, *, by=None, term="overall", satisfied=None,
                     rule=None, factors=None):
    """Index estimates for every group and the full design covariance matrix between them.

    Use it when estimates of different groups (or terms) may be correlated, e.g. groups that
    share strata or PSUs, or as the ``vcov`` input of :func:`rank_units`. ``term`` is one term
    name or a list (default ``"overall"``); the aggregation settings are those of
    :func:`sipas_index`.

    Returns a pair ``(estimates, vcov)``: ``estimates`` is a DataFrame with the `by` column(s),
    ``term`` and ``estimate`` (percent), one row per group and term (undefined terms left out)
    in the order of ``vcov``; ``vcov`` is the square ndarray of design covariances in squared
    percentage points, computed on the design as given (all groups together). Memory: the
    influence columns are built in blocks of about 256 MB. On a replicate design
    (``ReplicateDesign``) it is the replicate covariance of the cells' indices, each
    recomputed with every replicate's weights (R's ``svrVar`` of the replicate estimates).

    Examples
    --------
    Estimates for two areas sampled in the same villages (PSUs) are correlated:

    >>> import numpy as np, pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> rng = np.random.default_rng(3)
    >>> data = pd.DataFrame({"psu": np.arange(200) // 10, "area": np.tile(["a", "b"], 100)})
    >>> village = np.repeat(rng.random(20), 10)
    >>> data["c1"] = np.where(rng.random(200) < village, 5, 1)
    >>> estimates, vcov = sipas_index_vcov(SurveyDesign(data, psu="psu"), by="area",
    ...                                    factors={"f": ["c1"]})
    >>> estimates.round(1)  # doctest: +NORMALIZE_WHITESPACE
      area     term  estimate
    0    a  overall      45.0
    1    b  overall      50.0
    >>> round(float(vcov[0, 1] / np.sqrt(vcov[0, 0] * vcov[1, 1])), 2)   # their correlation
    0.66
    """
    core = _build_core(design, by, satisfied, rule, factors, 0.95)
    positions = _term_positions(core, term)
    v = None if _has_replicates(design) else core.term_influence(core.influence(), positions)
    cells = [(g, i) for g in range(core.n_groups) for i, t in enumerate(positions)
             if not np.isnan(core.estimate[g, t])]
    if _has_replicates(design):
        # the replicate covariance of the cells' estimates, each recomputed in every replicate
        replicates = _replicate_terms(design, core, positions)
        deviation = np.column_stack([replicates[:, g, i] - core.estimate[g, positions[i]]
                                     for g, i in cells]) if cells else \
            np.empty((design.n_reps, 0))
        vcov = np.asarray(design._replicate_variance(deviation), dtype=float)
    else:
        columns = [lambda g=g, i=i: core.scatter(v[core.block(g), i], core.block(g))
                   for g, i in cells]
        vcov = _vcov_of_columns(design, columns, core.n_rows)
    table = pd.DataFrame({"term": [core.terms[positions[i]] for _, i in cells],
                          "estimate": [100.0 * core.estimate[g, positions[i]] for g, i in cells]})
    by_cols = _as_list(by)
    if by_cols:
        keys = core.groups.loc[[g for g, _ in cells]].reset_index(drop=True)
        table = pd.concat([keys, table], axis=1)
    return table, 1e4 * vcov


def compare_indices(design, *, between="year", values=None, within=None, reference="pair",
                    term="overall", satisfied=None, rule=None, factors=None,
                    level=0.95, df=True, simultaneous=False, n_draws=100_000,
                    seed: Seed = 0) -> pd.DataFrame:
    """Differences of the index between two levels of a column, or between a unit and the whole.

    Two uses:

    (a) ``reference="pair"`` (default): ``values=(a, b)`` are two levels of ``between`` and the
        contrast is index[b] - index[a], e.g. ``between="year", values=(2023, 2024)`` for the
        change from 2023 to 2024, nationally or, with ``within="province_code"`` (or
        ``["unit_set", "province_code"]``), for each province.
    (b) ``reference="all"``: each level of ``between`` (all of them, or those in ``values``)
        against all levels together, e.g. ``between="province_code", within="year"``: each
        province minus the nation in the same year. The province is part of the nation, so the
        two estimates are correlated; the SE is that of the difference of the two influence
        vectors computed on the same design, Var(P - N) = Var P + Var N - 2 Cov(P, N), not
        sqrt(Var P + Var N).

    Both estimates come from the same design, so any covariance between them counts (for two
    years sampled independently it is zero, and the SE is the usual sqrt of the sum).
    Intervals and two-sided tests use Student's t with the contrast's design degrees of
    freedom (``df=True``), because its variance is estimated from few PSUs: the
    Satterthwaite df of the variance over strata (:meth:`SurveyDesign.satterthwaite_df`),
    which is the number of PSUs minus the number of strata among the rows the contrast uses
    when the strata weigh alike (as R's ``svyttest`` and Stata's ``svy:`` count them) and
    less when a few strata carry the variance: a province against the nation that contains
    it gets about the province's own df, not the nation's. A contrast without df (one PSU
    per stratum) has no interval or p-value. ``df=False`` uses the normal distribution, as
    R's ``svycontrast``.
    Aggregation settings (``term``, ``satisfied``, ``rule``, ``factors``) are those of
    :func:`sipas_index`; ``term`` may be one name or a list. On a replicate design
    (``ReplicateDesign``) both indices are recomputed in every replicate and the contrast's
    variance is the replicate variance of their difference, with the design df (the rank of
    the replicate weights minus 1), as R's ``svycontrast`` on a replicate design.

    ``simultaneous=True`` adds ``p_simultaneous``: within each family of contrasts that share
    their ``within`` key and group (e.g. one province's terms against the nation), the
    single-step max-``|t|`` adjusted p-values of
    :func:`~sipas_analysis.multiple_comparisons.simultaneous_p_values`, from the contrasts'
    design covariance (multivariate t with the family's smallest df; ``n_draws`` draws,
    ``seed``): the chance of any false "significant" difference in the family is held at the
    level for the actual correlation of the terms, less conservatively than Holm.

    Returns a DataFrame with the `within` column(s), then ``term, contrast, group, versus,
    estimate_group, estimate_versus, estimate, std_error, ci_low, ci_high, df, statistic,
    p_value``. ``estimate`` is the difference in percentage points (group minus versus);
    ``contrast`` reads e.g. ``"2024 - 2023"`` or ``"01 - all"``; ``df`` is the contrast's design
    df (reported also when ``df=False``); ``statistic`` is t (or z).

    Examples
    --------
    One criterion in two independent yearly samples of 24 villages each, satisfaction up
    from about 75 % to about 85 %:

    >>> import numpy as np, pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> rng = np.random.default_rng(2)
    >>> data = pd.DataFrame({"year": np.repeat([2023, 2024], 240), "psu": np.arange(480) // 10})
    >>> satisfied = rng.random(480) < np.where(data["year"] == 2024, 0.85, 0.75)
    >>> data["c1"] = np.where(satisfied, 5, 2)
    >>> design = SurveyDesign(data, strata="year", psu="psu")
    >>> table = compare_indices(design, values=(2023, 2024), factors={"f": ["c1"]})
    >>> table[["contrast", "estimate", "std_error", "df", "p_value"]].round(3)
    ... # doctest: +NORMALIZE_WHITESPACE
          contrast  estimate  std_error      df  p_value
    0  2024 - 2023     11.25      3.355  45.902    0.002
    """
    within = _as_list(within)
    if not isinstance(between, str):
        raise ValueError(f"`between` must be one column name, got {between!r}")
    if between in within:
        raise ValueError(f"`between` ({between!r}) may not also be in `within` ({within})")
    if reference not in ("pair", "all"):
        raise ValueError(f"reference must be 'pair' or 'all', got {reference!r}")
    if reference == "pair" and (values is None or len(values) != 2):
        raise ValueError("reference='pair' needs values=(a, b): the two levels of "
                         f"{between!r} to compare (the contrast is b - a), got {values!r}")
    fine = _build_core(design, within + [between], satisfied, rule, factors, level)
    positions = _term_positions(fine, term)
    cores = {"fine": fine}
    if reference == "all":
        cores["coarse"] = _build_core(design, within, satisfied, rule, factors, level)
    replicated = _has_replicates(design)
    term_v = {} if replicated else {name: core.term_influence(core.influence(), positions)
                                    for name, core in cores.items()}

    def keys_of(core):
        return {tuple(row): g for g, row in enumerate(core.groups.itertuples(index=False))}

    fine_index = keys_of(fine)
    within_keys = sorted({key[:-1] for key in fine_index}, key=str)
    between_levels = {key[-1] for key in fine_index}
    wanted = list(values) if values is not None else sorted(between_levels, key=str)
    absent = [v for v in wanted if v not in between_levels]
    if absent:
        raise ValueError(f"{between!r} has no rows with value(s) {absent} in the domain")
    specs = []   # (within key, term slot, group label, versus label, (core, g), (core, g))
    if reference == "pair":
        a, b = wanted
        for key in within_keys:
            ga, gb = fine_index.get(key + (a,)), fine_index.get(key + (b,))
            if ga is not None and gb is not None:
                specs += [(key, i, b, a, ("fine", gb), ("fine", ga)) for i in range(len(positions))]
    else:
        coarse_index = keys_of(cores["coarse"])
        for key in within_keys:
            gc = coarse_index[key] if within else 0
            for level_value in wanted:
                gf = fine_index.get(key + (level_value,))
                if gf is not None:
                    specs += [(key, i, level_value, "all", ("fine", gf), ("coarse", gc))
                              for i in range(len(positions))]

    def influence(part, i):
        name, g = part
        core = cores[name]
        return core.scatter(term_v[name][core.block(g), i], core.block(g))

    def estimate(part, i):
        name, g = part
        return 100.0 * cores[name].estimate[g, positions[i]]

    est_group = np.array([estimate(s[4], s[1]) for s in specs], dtype=float)
    est_versus = np.array([estimate(s[5], s[1]) for s in specs], dtype=float)
    if replicated:
        # each contrast recomputed in every replicate (R's svycontrast of replicate estimates)
        replicates = {name: _replicate_terms(design, core, positions)
                      for name, core in cores.items()}
        deviation = np.empty((design.n_reps, len(specs)))
        for k, s in enumerate(specs):
            (group_core, g), (versus_core, h), i = s[4], s[5], s[1]
            deviation[:, k] = (replicates[group_core][:, g, i] - replicates[versus_core][:, h, i]
                               - (est_group[k] - est_versus[k]) / 100.0)

        def family_vcov(members):
            return np.asarray(design._replicate_variance(deviation[:, members]), dtype=float)

        variance = np.array([family_vcov([k])[0, 0] for k in range(len(specs))])
        contrast_df = np.full(len(specs), float(design.df))
    else:
        columns = [lambda s=s: influence(s[4], s[1]) - influence(s[5], s[1]) for s in specs]
        variance, contrast_df = _variance_and_df_of_columns(design, columns, fine.n_rows)

        def family_vcov(members):
            return _vcov_of_columns(design, [columns[i] for i in members], fine.n_rows)
    diff = est_group - est_versus
    se = 100.0 * np.sqrt(np.clip(variance, 0.0, None))
    se[np.isnan(diff)] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = diff / se
        if df:
            usable = np.where(contrast_df > 0, contrast_df, np.nan)
            z = stats.t.ppf(0.5 + level / 2, usable)
            p_value = 2 * stats.t.sf(np.abs(statistic), usable)
        else:
            z = stats.norm.ppf(0.5 + level / 2)
            p_value = 2 * stats.norm.sf(np.abs(statistic))
    frame = pd.DataFrame({
        "term": [fine.terms[positions[s[1]]] for s in specs],
        "contrast": [f"{s[2]} - {s[3]}" for s in specs],
        "group": pd.Series([s[2] for s in specs], dtype=object),
        "versus": pd.Series([s[3] for s in specs], dtype=object),
        "estimate_group": est_group,
        "estimate_versus": est_versus,
        "estimate": diff,
        "std_error": se,
        "ci_low": diff - z * se,
        "ci_high": diff + z * se,
        "df": contrast_df,
        "statistic": statistic,
        "p_value": p_value,
    })
    if simultaneous:
        frame["p_simultaneous"] = _family_adjusted(family_vcov, specs, statistic,
                                                   contrast_df if df else None,
                                                   n_draws=n_draws, seed=seed)
    if within:
        keys = pd.DataFrame([s[0] for s in specs], columns=within)
        frame = pd.concat([keys, frame], axis=1)
    return frame


def _family_adjusted(family_vcov, specs, statistic, contrast_df, *, n_draws, seed):
    """Max-|t| adjusted p-values within each family (same within key and group) of contrasts;
    ``family_vcov(members)`` is the design covariance of the contrasts ``members``."""
    from sipas_analysis.multiple_comparisons import simultaneous_p_values
    rng = as_generator(seed)
    out = np.full(len(specs), np.nan)
    families: dict = {}
    for i, s in enumerate(specs):
        families.setdefault((s[0], s[2]), []).append(i)
    for members in families.values():
        members = [i for i in members if np.isfinite(statistic[i])]
        if not members:
            continue
        vcov = family_vcov(members)
        family_df = np.inf if contrast_df is None else float(np.min(contrast_df[members]))
        out[members] = simultaneous_p_values(statistic[members], vcov, df=family_df,
                                             n_draws=n_draws, seed=rng)
    return out


def _variance_and_df_of_columns(design, columns, n_rows: int):
    """Design variances of the totals of influence columns (callables, as for
    :func:`_vcov_of_columns`) and their Satterthwaite df, from one pass over memory blocks
    (blocks are independent: no covariance between them is formed)."""
    k = len(columns)
    variance, df = np.empty(k), np.empty(k)
    block = max(1, int(_BLOCK_BYTES // (8 * max(n_rows, 1))))
    for start in range(0, k, block):
        idx = list(range(start, min(start + block, k)))
        z = np.column_stack([columns[i]() for i in idx])
        variance[idx] = np.diag(np.asarray(design.vcov_totals(z), dtype=float)
                                .reshape(len(idx), len(idx)))
        df[idx] = design.satterthwaite_df(z)
    return variance, df


# --------------------------------------------------------------------------------------------
# Public: rank confidence sets (Mogstad, Romano, Shaikh & Wilhelm 2024)
# --------------------------------------------------------------------------------------------

def _error_draws(sigma, df, n_draws, rng) -> np.ndarray:
    """(n_draws, p) draws of the estimation errors: N(0, Σ), each unit's coordinate turned into
    a t with its design df (normal / sqrt(chi²_df / df)) when ``df`` is given, because the
    standard errors were themselves estimated from that many PSUs."""
    p = sigma.shape[0]
    draws = rng.multivariate_normal(np.zeros(p), sigma, size=n_draws, method="eigh")
    if df is not None:
        finite = np.isfinite(df) & (df > 0)
        if finite.any():
            chi = rng.chisquare(np.where(finite, df, 1.0), size=(n_draws, p))
            draws = np.where(finite, draws * np.sqrt(np.where(finite, df, 1.0) / chi), draws)
    return draws


def _max_statistic(draws, diff_sd, active) -> np.ndarray:
    """(n_draws,) max over the active directional pairs (a, b) of (Z_a - Z_b) / sd_ab."""
    best = np.zeros(draws.shape[0])
    for a in np.flatnonzero(active.any(axis=1)):
        b = np.flatnonzero(active[a])
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (draws[:, [a]] - draws[:, b]) / diff_sd[a, b]
        t[~np.isfinite(t)] = 0.0       # zero-variance differences: draws differ by 0 exactly
        np.maximum(best, t.max(axis=1), out=best)
    return best


def _rejections(theta, draws, diff_sd, candidates, *, level, stepdown) -> np.ndarray:
    """(p, p) bool: the directional hypotheses "θ_a <= θ_b" among ``candidates`` rejected by
    the max-t test at ``level``, single-step or step-down (Romano & Wolf 2005: the critical
    value is recomputed over the hypotheses not yet rejected until none is added)."""
    gap = theta[:, None] - theta[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(diff_sd > 0, gap / diff_sd, np.sign(gap) * np.inf)
    rejected = np.zeros_like(candidates)
    active = candidates.copy()
    while active.any():
        crit = np.quantile(_max_statistic(draws, diff_sd, active), level)
        new = active & (stat > crit)
        if not new.any():
            break
        rejected |= new
        active &= ~new
        if not stepdown:
            break
    return rejected


def _rank_sets(theta, sigma, *, level, simultaneous, n_draws, rng, stepdown=True, df=None):
    """Lower and upper rank bounds, rank 1 = largest theta.

    For unit j the family is the 2(p-1) directional hypotheses θ_k <= θ_j and θ_j <= θ_k,
    tested with the max-t statistic whose null distribution is that of (Z_a - Z_b) / sd_ab,
    Z the estimation errors (parametric bootstrap). k is significantly better than j when
    θ_k <= θ_j is rejected, significantly worse when θ_j <= θ_k is; the rank set is
    [1 + #better, p - #worse]. The simultaneous version tests all p(p-1) pairs as one family.
    Single-step, the critical value is the level-quantile of max_k |Z_k - Z_j| / sd (of the
    max over all pairs when simultaneous); step-down repeats with the hypotheses not yet
    rejected, so sets can only shrink and the coverage guarantee holds.
    """
    p = len(theta)
    diag = np.diag(sigma)
    with np.errstate(invalid="ignore"):
        diff_sd = np.sqrt(np.clip(diag[:, None] + diag[None, :] - 2 * sigma, 0.0, None))
    draws = _error_draws(sigma, df, n_draws, rng)
    off = ~np.eye(p, dtype=bool)
    if simultaneous:
        rejected = _rejections(theta, draws, diff_sd, off, level=level, stepdown=stepdown)
        better, worse = rejected.sum(axis=0), rejected.sum(axis=1)
    else:
        better, worse = np.zeros(p, dtype=np.int64), np.zeros(p, dtype=np.int64)
        for j in range(p):
            candidates = np.zeros((p, p), dtype=bool)
            candidates[j, :] = candidates[:, j] = True
            candidates &= off
            rejected = _rejections(theta, draws, diff_sd, candidates, level=level,
                                   stepdown=stepdown)
            better[j], worse[j] = rejected[:, j].sum(), rejected[j, :].sum()
    return 1 + better, p - worse


def rank_units(estimates: pd.DataFrame, *, unit=None, vcov=None, design=None, level=0.95,
               simultaneous=False, n_draws=10000, seed: Seed = 0, higher_is_better=True,
               index_options=None, stepdown=True, df="df") -> pd.DataFrame:
    """Ranks with confidence sets of guaranteed coverage (Mogstad, Romano, Shaikh & Wilhelm).

    Method: Mogstad, Romano, Shaikh and Wilhelm (2024), "Inference for Ranks with Applications
    to Mobility across Neighbourhoods and Academic Achievement across Countries", Review of
    Economic Studies, section 3, as R's ``csranks``). For unit j, the differences θ_k - θ_j
    are tested with a max-t critical value from the estimates' joint distribution
    (``n_draws`` parametric-bootstrap draws); the rank set is
    ``[1 + #{k: θ_k - θ_j significantly > 0}, p - #{k: θ_k - θ_j significantly < 0}]``.
    ``stepdown=True`` (default, as ``csranks``) repeats the test on the differences not yet
    found significant (Romano-Wolf step-down): the sets are never wider than single-step
    (``stepdown=False``) and keep their coverage.

    - ``simultaneous=False`` (marginal): each unit's set covers its true rank with probability
      ``level``.
    - ``simultaneous=True``: one critical value over all p(p-1) pairs, so all sets cover all
      true ranks jointly with probability ``level``.

    Rank 1 is the best (highest estimate; lowest with ``higher_is_better=False``); ``rank`` is
    the rank of the point estimate (ties share the best rank).

    Covariance of the estimates, one of:
    - ``vcov``: (p, p) array in the row order of ``estimates`` (e.g. from
      :func:`sipas_index_vcov`), in the squared units of ``estimate``;
    - ``design``: the covariance is computed with :func:`sipas_index_vcov` for the table's single
      ``term`` by the unit columns (``index_options``: satisfied/rule/factors passed on); on a
      replicate design, the replicate covariance of the units' recomputed indices;
    - neither: independence, ``diag(std_error²)``. In SIPAS provinces are sampled as separate
      strata, so their estimates *are* independent and the diagonal is exact for provinces of
      one year; pass ``vcov`` when units share sampling (e.g. overlapping domains).

    Parameters
    ----------
    estimates : DataFrame
        One row per unit with ``estimate`` and ``std_error`` and the unit id column(s).
    unit : str or list of str, optional
        The id column(s); by default every column that is not a statistic (``term``, ``kind``,
        ``estimate``, ``std_error``, ``ci_*``, ``n`` ...). They must identify rows uniquely.
    seed : int or numpy Generator
        For the parametric bootstrap; the same seed gives the same sets.
    df : str, array or None
        Each unit's design degrees of freedom: its standard error is estimated from few PSUs,
        so each unit's error is drawn from t with its df rather than from the normal (a
        column name, by default the ``df`` column that ``sipas_index(..., ci_method=...)``
        writes, used when present; an array in row order; None for the normal). With 15 df
        the normal draws make the sets too narrow: see ``tests/test_indices.py``.

    Returns a DataFrame with the unit column(s), ``estimate, std_error, rank, rank_low,
    rank_high, level, method`` (``"marginal"`` or ``"simultaneous"``), in the input row order.

    Examples
    --------
    Three provinces, two of them too close to order:

    >>> table = pd.DataFrame({"province_code": ["01", "02", "03"],
    ...                       "estimate": [95.0, 88.0, 87.5], "std_error": [1.0, 1.0, 1.0]})
    >>> rank_units(table, seed=1)[["province_code", "rank", "rank_low", "rank_high"]]
      province_code  rank  rank_low  rank_high
    0            01     1         1          1
    1            02     2         2          3
    2            03     3         2          3
    """
    if not 0 < level < 1:
        raise ValueError(f"rank_units: level must be between 0 and 1, got {level!r}")
    table, unit, theta, se = _rank_inputs(estimates, unit, "rank_units")
    if vcov is not None and design is not None:
        raise ValueError("rank_units: give `vcov` or `design`, not both")
    if design is not None:
        if "term" not in table.columns or table["term"].nunique() != 1:
            raise ValueError("rank_units with `design` needs a single-valued `term` column")
        fitted, full = sipas_index_vcov(design, by=unit, term=table["term"].iloc[0],
                                        **(index_options or {}))
        fitted = fitted[unit].assign(_position=np.arange(len(fitted)))
        matched = table[unit].merge(fitted, on=unit, how="left")
        if matched["_position"].isna().any():
            lost = matched.loc[matched["_position"].isna(), unit].head(5).to_dict("records")
            raise ValueError(f"rank_units: the design gives no estimate for unit(s) {lost}")
        order = matched["_position"].to_numpy(dtype=np.int64)
        sigma = full[np.ix_(order, order)]
    else:
        sigma = _covariance(vcov, se, "rank_units")
    signed = theta if higher_is_better else -theta
    low, high = _rank_sets(signed, sigma, level=level, simultaneous=simultaneous,
                           n_draws=int(n_draws), rng=as_generator(seed), stepdown=stepdown,
                           df=_rank_df(table, df))
    rank = pd.Series(signed).rank(ascending=False, method="min").to_numpy().astype(np.int64)
    out = table[unit].copy()
    out["estimate"] = theta
    out["std_error"] = se
    out["rank"] = rank
    out["rank_low"] = low.astype(np.int64)
    out["rank_high"] = high.astype(np.int64)
    out["level"] = level
    out["method"] = "simultaneous" if simultaneous else "marginal"
    return out


def _rank_df(table: pd.DataFrame, df) -> np.ndarray | None:
    """The units' df for the rank draws (see ``rank_units``), or None for the normal."""
    if df is None:
        return None
    if isinstance(df, str):
        if df not in table.columns:
            if df == "df":
                return None
            raise schema.MissingColumnError(f"rank_units: df column {df!r} is missing", [df])
        df = table[df]
    values = np.asarray(df, dtype=float)
    if values.shape != (len(table),):
        raise ValueError(f"rank_units: df has shape {values.shape}, expected ({len(table)},)")
    return values


def _rank_inputs(estimates: pd.DataFrame, unit, function: str):
    """(table, unit columns, estimates, SEs) for the rank functions, every problem of the
    table named at once: missing columns, no or non-unique unit ids, invalid values."""
    problems = []
    absent = [c for c in ("estimate", "std_error") if c not in estimates.columns]
    problems += [f"column {column!r} is missing" for column in absent]
    unit = _as_list(unit) if unit is not None else [c for c in estimates.columns
                                                       if c not in _STAT_COLUMNS]
    absent_units = [c for c in unit if c not in estimates.columns]
    if absent_units:
        problems.append(f"unit column(s) {absent_units} are missing")
    if not unit:
        problems.append("no unit id column: name it with `unit=`")
    if problems:
        message = f"{function}: " + "; ".join(problems)
        if absent or absent_units:
            raise schema.MissingColumnError(message, absent + absent_units)
        raise ValueError(message)
    table = estimates.reset_index(drop=True)
    duplicated = table.duplicated(unit, keep=False)
    if duplicated.any():
        first = table.loc[duplicated, unit].drop_duplicates().head(5).to_dict("records")
        hint = (" (the table has several terms: keep one, e.g. index[index.term == 'overall'])"
                if "term" in table.columns and table["term"].nunique() > 1 else "")
        raise ValueError(f"{function}: unit column(s) {unit} do not identify rows uniquely; "
                         f"{int(duplicated.sum())} rows share ids, e.g. {first}{hint}")
    theta = table["estimate"].to_numpy(dtype=float)
    se = table["std_error"].to_numpy(dtype=float)
    bad = ~(np.isfinite(theta) & np.isfinite(se) & (se >= 0))
    if bad.any():
        raise ValueError(f"{function}: {int(bad.sum())} unit(s) have a missing or invalid "
                         f"estimate or std_error: {table.loc[bad, unit].head(5).to_dict('records')}")
    return table, unit, theta, se


def _covariance(vcov, se: np.ndarray, function: str) -> np.ndarray:
    """The estimates' covariance: ``vcov`` checked, or independence, diag(SE²)."""
    if vcov is None:
        return np.diag(se**2)
    p = len(se)
    sigma = np.asarray(vcov, dtype=float)
    if sigma.shape != (p, p):
        raise ValueError(f"{function}: vcov has shape {sigma.shape}, expected ({p}, {p})")
    if not np.allclose(sigma, sigma.T, rtol=1e-8, atol=1e-12):
        raise ValueError(f"{function}: vcov is not symmetric")
    return sigma


def tau_best(estimates: pd.DataFrame, *, tau: int, unit=None, vcov=None, level=0.95,
             n_draws=10000, seed: Seed = 0, higher_is_better=True, stepdown=True,
             df="df") -> pd.DataFrame:
    """Which units could be among the ``tau`` best: the confidence set for the tau-best of
    Mogstad, Romano, Shaikh & Wilhelm (2024), as R's ``csranks::cstaubest``.

    A unit is in the set when the lower bound of its simultaneous rank set (over all units)
    is at most ``tau``: with probability about ``level`` the set holds every unit that truly
    ranks in the top ``tau``. The arguments are those of :func:`rank_units`
    (``higher_is_better=False`` gives the tau-worst).

    Returns the unit column(s), ``estimate, rank_low, tau, could_be_top`` (bool), in row order.

    Examples
    --------
    >>> table = pd.DataFrame({"province_code": ["01", "02", "03", "04"],
    ...                       "estimate": [97.0, 96.5, 90.0, 80.0], "std_error": [1.0] * 4})
    >>> tau_best(table, tau=1, seed=1)[["province_code", "could_be_top"]]
      province_code  could_be_top
    0            01          True
    1            02          True
    2            03         False
    3            04         False
    """
    unit = _as_list(unit) if unit is not None else [c for c in estimates.columns
                                                       if c not in _STAT_COLUMNS]
    if not (isinstance(tau, (int, np.integer)) and 1 <= tau <= len(estimates)):
        raise ValueError(f"tau_best: tau must be an integer from 1 to {len(estimates)}, "
                         f"got {tau!r}")
    ranks = rank_units(estimates, unit=unit, vcov=vcov, level=level, simultaneous=True,
                       n_draws=n_draws, seed=seed, higher_is_better=higher_is_better,
                       stepdown=stepdown, df=df)
    out = ranks[unit + ["estimate", "rank_low"]].copy()
    out["tau"] = int(tau)
    out["could_be_top"] = out["rank_low"] <= tau
    return out


def rank_group_probabilities(estimates: pd.DataFrame, *, unit=None, groups=4, vcov=None,
                             n_draws=10000, seed: Seed = 0, higher_is_better=True,
                             df="df") -> pd.DataFrame:
    """Approximate probability that each unit belongs to each rank group (quartiles by
    default, the way PAPI colours provinces: group 1 = the best quarter of the ranking).

    The share of ``n_draws`` draws from the estimates' joint distribution (normal with the
    covariance of :func:`rank_units`, t with each unit's df when known) in which the unit's
    rank falls in the group: rank r of p units is in group ``ceil(r * groups / p)``. This
    treats the estimates' sampling distribution as if it were the distribution of the true
    values around them (a plug-in, not a posterior: it is labelled approximate wherever
    shown); it says how firmly a unit's colour is held, not a tested claim.

    Returns the unit column(s), ``estimate``, ``group`` (of the point estimate's rank) and
    ``p_group_1 … p_group_<groups>`` (each row sums to 1), in row order.

    Examples
    --------
    >>> table = pd.DataFrame({"province_code": ["01", "02", "03", "04"],
    ...                       "estimate": [97.0, 90.0, 89.5, 70.0], "std_error": [0.5] * 4})
    >>> rank_group_probabilities(table, seed=1).round(2)
      province_code  estimate  group  p_group_1  p_group_2  p_group_3  p_group_4
    0            01      97.0      1        1.0       0.00       0.00        0.0
    1            02      90.0      2        0.0       0.76       0.24        0.0
    2            03      89.5      3        0.0       0.24       0.76        0.0
    3            04      70.0      4        0.0       0.00       0.00        1.0
    """
    function = "rank_group_probabilities"
    if not (isinstance(groups, (int, np.integer)) and 1 <= groups <= len(estimates)):
        raise ValueError(f"{function}: groups must be an integer from 1 to {len(estimates)}, "
                         f"got {groups!r}")
    table, unit, theta, se = _rank_inputs(estimates, unit, function)
    sigma, unit_df = _covariance(vcov, se, function), _rank_df(table, df)
    p = len(theta)
    signed = theta if higher_is_better else -theta
    draws = signed + _error_draws(sigma, unit_df, int(n_draws), as_generator(seed))
    # rank 1 = largest; ties (measure zero) broken by position
    ranks = np.empty_like(draws, dtype=np.int64)
    order = np.argsort(-draws, axis=1, kind="stable")
    np.put_along_axis(ranks, order, np.arange(1, p + 1)[None, :], axis=1)
    group_of = np.ceil(ranks * groups / p).astype(np.int64)
    out = table[unit].copy()
    out["estimate"] = theta
    point = pd.Series(signed).rank(ascending=False, method="first").to_numpy()
    out["group"] = np.ceil(point * groups / p).astype(np.int64)
    for g in range(1, groups + 1):
        out[f"p_group_{g}"] = (group_of == g).mean(axis=0)
    return out
