"""Complex survey designs and design-based estimation by Taylor linearisation.

``SurveyDesign`` holds a sample's weights, strata, (multi-stage) clusters and finite-population
corrections, and estimates means, totals, ratios and domain statistics with standard errors
that reproduce R's ``survey`` package (``svydesign`` + ``svymean`` / ``svytotal`` /
``svyratio`` / ``svyby``, default ``multistage`` linearisation, ``options(survey.lonely.psu)``,
``survey.adjust.domain.lonely = FALSE``).

The one variance engine is :meth:`SurveyDesign.vcov_totals`: given linearised values already
multiplied by the weights (one column per statistic), it returns the design covariance of their
totals. Every estimator here, and those in ``indices`` and ``models``, calls it.

Variance formula (R's ``multistage``/``onestage``/``onestrat``). At stage 1, in stratum h with
n_h sampled PSUs out of N_h, with PSU totals z_hi::

    V_1 = sum_h (1 - n_h/N_h) * n_h/(n_h - 1) * sum_i (z_hi - mean_h z)(z_hi - mean_h z)'

(N_h = infinity without an fpc: sampling with replacement, and the later stages are then
ignored: the "ultimate cluster" estimator). With an fpc, every later stage s adds the same
formula applied within each sampled unit of stage s-1, multiplied by the sampling fractions
n/N of all its ancestors (R's recursion ``multistage(...) * nPSU/fpc``). A stratum or unit whose
fpc equals its sample size was taken with certainty and contributes nothing at its stage.

Conventions (each as R does it unless said otherwise):
- ``strata`` apply to stage 1 only; at stage s >= 2 the "strata" are the stage s-1 units.
- PSU ids need only be unique within their stratum, and stage-s ids within their stage s-1 unit:
  the design always nests them (R's ``nest=TRUE``).
- ``fpc`` columns (one per stage, from stage 1) hold population counts when any value is
  above 1, otherwise sampling fractions; a mix of counts and fractions below 1 is an error, and
  so is every value being exactly 1 (ambiguous; R refuses it too). A fraction of 0 means
  "with replacement". Stages after the last fpc column are treated as with replacement
  (R warns the same).
- Weights: the ``weights`` column when given; otherwise, with an fpc, the product over stages of
  N/n (population count over sample count of the unit's stratum at that stage), as R derives
  them; with neither, every row has weight 1 (an equal-probability sample whose totals are
  sample sums: give real weights if totals matter).
- Domains (``subset``, ``by``, ``na_rm=True``) keep every row of the full design in its stratum
  and PSU and give the rows outside the domain weight zero, so a domain's SE accounts for its
  random size (R's ``subset`` on a design object). ``weights`` is zero outside the domain.
- Categorical variables (string, category, bool): ``mean`` gives the proportion and ``total``
  the estimated count of each level, with terms named ``f"{var}[{level}]"`` (``"stype[E]"``);
  the levels are those of the full data (category order, else sorted), so a level absent from a
  domain still appears there, with estimate 0.
- Missing values: ``na_rm=False`` refuses a variable with missing values in the domain (the
  error names each variable and its count); ``na_rm=True`` treats rows missing any of the
  requested variables as outside the domain (R's ``na.rm=TRUE``).
- Confidence intervals are normal-based at ``level`` (R's ``confint`` on ``svymean``).

Degrees of freedom and design effects (``df=True``, ``deff=True`` / ``"replace"`` on
``mean``, ``total``, ``ratio`` and ``by``; off by default, as in R):
- ``df``: the design degrees of freedom of the estimate's own domain, stage-1 PSUs minus
  strata among the rows with non-zero weight (R's ``degf`` of the subset design), after rows
  missing a requested variable have left the domain under ``na_rm=True``; in ``by`` each
  level has its own. For t-based or ``svyciprop``-style intervals
  (``intervals.proportion_interval``); the ``ci_*`` columns stay normal.
- ``deff`` = design variance / the variance of the same estimator under simple random
  sampling of the same number of respondents (nobs, rows with non-zero weight), with
  ``svyvar``'s s² of the linearised value. Without a declared fpc the design is sampled with
  replacement, and the comparison is with-replacement SRS: variance s²/nobs, R's
  ``deff="replace"``. That makes ``deff`` and ``n_eff`` = nobs / deff unchanged when every
  weight is multiplied by a constant, as the design variance is. With a declared fpc the
  weights are population-scaled by declaration, and the comparison is SRS without
  replacement, s²(1 - nobs/Σw)/nobs: R's ``deff=TRUE`` exactly. (R's ``deff=TRUE`` uses
  1 - nobs/Σw on every design, also without an fpc, so there it moves with the scale of the
  weights: weights summing to 1.001 n give a design effect a thousand times too large.)
  ``deff="replace"`` always compares with replacement, as R's.

Calibration: :meth:`SurveyDesign.post_stratify`, :meth:`~SurveyDesign.rake`,
:meth:`~SurveyDesign.calibrate` and :meth:`~SurveyDesign.trim_weights` return new designs with
new weights and, except trimming, an adjustment of the linearised values (the calibration
residuals, module ``weighting``) that :meth:`vcov_totals` applies before summing by PSU, so
every estimator here and in ``indices`` and ``models`` inherits it (R's ``svyrecvar`` with
``postStrata``). ``weighting_steps`` lists what was done; ``weighting_deff()`` is 1 + CV².
The bootstrap replicates below do not redo a calibration in each replicate.

Quantiles: :meth:`SurveyDesign.quantile`, R's ``svyquantile`` defaults (survey >= 4.1).

Replicate weights: :meth:`SurveyDesign.bootstrap_weights` (and the per-PSU
:meth:`SurveyDesign.bootstrap_factors` behind it) give Rao–Wu rescaled bootstrap replicates of
the stage-1 PSUs (Rao & Wu 1988 JASA 83:231–241; Rao, Wu & Yue 1992 Survey Methodology
18:209–217), for statistics that are not smooth functions of totals.

Replicate designs: :meth:`SurveyDesign.as_replicate` (JK1, JKn, BRR, Fay, bootstrap) and
:class:`ReplicateDesign` (replicate weights delivered with the data) recompute every statistic
with each replicate's weights (R's ``svrepdesign``); every estimator asks its design for the
variance through :meth:`SurveyDesign.vcov_estimating`, linearised here and by replicates there.
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import patsy
import scipy.sparse
from scipy import stats

from . import design_tests, weighting

from .rng import Seed, as_generator
from .schema import require_columns

LONELY_PSU_OPTIONS = ("fail", "remove", "adjust", "average", "certainty")
ESTIMATE_COLUMNS = ["term", "estimate", "std_error", "ci_low", "ci_high", "n"]

# R treats a stratum whose finite-population factor (N - n)/N is below this as taken with
# certainty ("self-representing") and gives it no variance.
_CERTAINTY_TOLERANCE = 1e-7
_BLOCK = 65_536  # units per block in the variance sum


def _warn_reused_psu_ids(data: pd.DataFrame, strata: str, psu: str) -> None:
    """R refuses PSU ids repeated across strata unless ``nest=TRUE``; this design always nests
    them, which is right when ids are numbered within strata and wrong when one PSU really
    spans strata, so it says so."""
    pairs = data[[strata, psu]].drop_duplicates()
    reused = pairs[psu][pairs[psu].duplicated(keep=False)].drop_duplicates()
    if len(reused):
        examples = ", ".join(repr(v) for v in reused.head(3).tolist())
        warnings.warn(f"SurveyDesign: {len(reused)} id(s) of {psu!r} appear in more than one "
                      f"stratum of {strata!r} (e.g. {examples}); each is taken as a different "
                      "PSU in each stratum (R's nest=TRUE)", UserWarning, stacklevel=3)


def _as_list(names: str | Sequence[str] | None) -> list[str]:
    """A column name, a sequence of names or None (no column) as a list of names."""
    if names is None:
        return []
    if isinstance(names, str):
        return [names]
    return list(names)


def _first_rows(mask: np.ndarray, limit: int = 5) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (", ..." if rows.size > limit else "")


def _combine_codes(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Integer codes 0..G-1 for the pairs (outer, inner): nests ``inner`` within ``outer``."""
    width = int(inner.max()) + 1 if inner.size else 1
    pair = outer.astype(np.int64) * width + inner.astype(np.int64)
    codes, _ = pd.factorize(pair)
    return codes.astype(np.int64)


def _is_categorical(series: pd.Series) -> bool:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return True
    if pd.api.types.is_bool_dtype(dtype):
        return True
    return not pd.api.types.is_numeric_dtype(dtype)


class _Stage:
    """Precomputed structure of one sampling stage (all arrays integer-coded once, in __init__).

    cluster: (n,) code of each row's unit at this stage, nested in its parent
    group: (n_clusters,) the "stratum" of each unit: the stage-1 stratum, or the parent unit
    n_sampled: (n_groups,) number of units sampled in each group (the design's n_h)
    popsize: (n_groups,) population count N_h (inf = with replacement)
    ancestor_fraction: (n_groups,) product of n/N of all ancestors (1 at stage 1); stage s >= 2
        counts only where it is positive, as R skips the recursion when N is infinite
    """

    def __init__(self, cluster, group, n_sampled, popsize, ancestor_fraction):
        self.cluster = cluster
        self.n_clusters = group.size
        self.group = group
        self.n_groups = n_sampled.size
        self.n_sampled = n_sampled
        self.popsize = popsize
        self.ancestor_fraction = ancestor_fraction
        with np.errstate(divide="ignore", invalid="ignore"):
            self.fraction = np.where(np.isfinite(popsize), n_sampled / popsize, 0.0)
        fpc_factor = 1.0 - self.fraction
        self.certainty = fpc_factor < _CERTAINTY_TOLERANCE
        scale = np.where(n_sampled > 1, fpc_factor * n_sampled / np.maximum(n_sampled - 1, 1),
                         fpc_factor)
        self.scale = np.where(self.certainty, 0.0, scale)
        self.lonely = (n_sampled == 1) & ~self.certainty
        # unit -> group indicator: group sums of unit totals are one sparse product
        self.indicator = _indicator(group, self.n_groups)


class SurveyDesign:
    """A complex sample: weights, stage-1 strata, (multi-stage) clusters and fpc.

    Parameters
    ----------
    data : DataFrame, one row per sampled unit (respondent).
    weights : column of sampling weights (non-negative); see the module docstring for the rule
        when it is None.
    strata : column of stage-1 strata, or None (one stratum).
    psu : column of stage-1 cluster ids, or a list ``[stage1, stage2, ...]`` for a multi-stage
        design; None means every row is its own PSU. Ids need only be unique within their
        stratum (stage 1) or their parent unit (later stages).
    fpc : column (or list of columns, one per stage from stage 1) of population counts or
        sampling fractions.
    lonely_psu : what to do with a stratum that has a single sampled PSU (R's
        ``options(survey.lonely.psu)``): "fail" (error naming those strata), "remove" and
        "certainty" (no variance from it), "adjust" (centre its PSU total at the grand mean of
        all stage-1 PSU totals instead of its own mean), "average" (scale the stage-1 variance
        by strata/(strata - lonely strata)). At later stages a unit with a single sampled
        sub-unit gives no variance under "remove", "certainty" and "adjust", an error under
        "fail", and NaN under "average" (R's result: there is nothing to average over).
    level : confidence level of the intervals in every estimate table.

    Attributes
    ----------
    data : the full data (all rows, even after ``subset``).
    weights : float array (n,), zero for rows outside the current domain.
    n_psu, n_strata : stage-1 PSUs and strata holding rows of the domain with non-zero weight.
    df : design degrees of freedom ``n_psu - n_strata`` (R's ``degf``); per estimate with
        ``df=True`` on the estimators, per domain with :meth:`domain_df`.
    psu_codes : int array (n,): each row's stage-1 PSU, 0 .. (number of PSUs in the full
        design) - 1; the row of :meth:`bootstrap_factors` that applies to the row.

    Examples
    --------
    Two strata of two PSUs (villages) with two respondents each:

    >>> import pandas as pd
    >>> data = pd.DataFrame({"stratum": [1, 1, 1, 1, 2, 2, 2, 2],
    ...                      "psu": [1, 1, 2, 2, 1, 1, 2, 2],
    ...                      "weight": [10, 10, 12, 12, 20, 20, 25, 25],
    ...                      "y": [1, 0, 1, 1, 0, 0, 1, 0]})
    >>> design = SurveyDesign(data, weights="weight", strata="stratum", psu="psu")
    >>> design
    SurveyDesign(rows=8, in domain=8, strata=2, psu=4, stages=1, fpc=no, lonely_psu='fail')
    >>> design.df
    2
    >>> design.mean("y").round(3)  # doctest: +NORMALIZE_WHITESPACE
      term  estimate  std_error  ci_low  ci_high  n
    0    y      0.44      0.179    0.09    0.791  8
    """

    def __init__(self, data: pd.DataFrame, *, weights: str | None = None,
                 strata: str | None = None, psu: str | list[str] | None = None,
                 fpc: str | list[str] | None = None, lonely_psu: str = "fail",
                 level: float = 0.95):
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        if lonely_psu not in LONELY_PSU_OPTIONS:
            raise ValueError(f"lonely_psu must be one of {LONELY_PSU_OPTIONS}, got {lonely_psu!r}")
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, got {level!r}")
        psu_columns = _as_list(psu)
        fpc_columns = _as_list(fpc)
        self._check_columns(data, weights, strata, psu_columns, fpc_columns)

        self.data = data
        self.level = float(level)
        self.lonely_psu = lonely_psu
        self.weights_column = weights
        self.strata_column = strata
        self.psu_columns = psu_columns
        self.fpc_columns = fpc_columns
        n = len(data)
        n_stages = max(len(psu_columns), 1)
        if len(fpc_columns) > n_stages:
            raise ValueError(f"fpc has {len(fpc_columns)} columns {fpc_columns} but the design "
                             f"has {n_stages} stage(s): give at most one fpc column per stage")

        stratum = (pd.factorize(data[strata])[0].astype(np.int64) if strata is not None
                   else np.zeros(n, dtype=np.int64))
        self._stratum = stratum

        if strata is not None and psu_columns:
            _warn_reused_psu_ids(data, strata, psu_columns[0])
        # Nested unit codes for every stage: stage-1 PSUs within strata, stage-s units within
        # their stage s-1 unit.
        clusters, groups = [], []
        parent = stratum
        for s in range(n_stages):
            ids = (pd.factorize(data[psu_columns[s]])[0] if psu_columns
                   else np.arange(n, dtype=np.int64))
            cluster = _combine_codes(parent, ids)
            group = np.empty(int(cluster.max()) + 1 if n else 0, dtype=np.int64)
            group[cluster] = parent
            clusters.append(cluster)
            groups.append(group)
            parent = cluster

        popsizes = self._population_sizes(data, fpc_columns, clusters, groups, n_stages)

        self._stages: list[_Stage] = []
        ancestor = None
        for s in range(n_stages):
            n_groups = int(stratum.max()) + 1 if s == 0 else self._stages[-1].n_clusters
            n_sampled = np.bincount(groups[s], minlength=n_groups).astype(float)
            if s == 0:
                ancestor = np.ones(n_groups)
            else:
                previous = self._stages[-1]
                # A stage s-1 unit inherits its stratum's ancestry times that stratum's n/N.
                ancestor = (previous.ancestor_fraction * previous.fraction)[previous.group]
            self._stages.append(_Stage(clusters[s], groups[s], n_sampled, popsizes[s], ancestor))

        # Row -> finest-stage unit indicator, so unit totals are one sparse product.
        finest = self._stages[-1].cluster
        if np.array_equal(finest, np.arange(n)):
            self._row_to_unit = None
        else:
            self._row_to_unit = _indicator(finest, self._stages[-1].n_clusters)

        base = self._sampling_weights(data, weights)
        self._base_weights = base
        # Calibration adjustments of the linearised values (weighting.py), applied in order.
        self._adjustments: tuple = ()
        self.weighting_steps: tuple[weighting.WeightingStep, ...] = ()
        self._set_domain(np.ones(n, dtype=bool))

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def _check_columns(data, weights, strata, psu_columns, fpc_columns):
        roles = ([("weights", weights)] if weights is not None else []) + \
                ([("strata", strata)] if strata is not None else []) + \
                [("psu", c) for c in psu_columns] + [("fpc", c) for c in fpc_columns]
        require_columns(data, [name for _, name in roles], "SurveyDesign",
                        roles={name: role for role, name in reversed(roles)})
        problems = []
        for role, name in roles:
            column = data[name]
            n_missing = int(column.isna().sum())
            if n_missing:
                problems.append(f"{role} column {name!r} has {n_missing} missing value(s) "
                                f"(rows {_first_rows(column.isna().to_numpy())})")
        for role, name in roles:
            if role in ("weights", "fpc") and not pd.api.types.is_numeric_dtype(data[name]):
                problems.append(f"{role} column {name!r} must be numeric, "
                                f"got dtype {data[name].dtype}")
        if weights is not None and pd.api.types.is_numeric_dtype(data[weights]):
            w = data[weights].to_numpy(dtype=float, na_value=np.nan)
            bad = (w < 0) | np.isinf(w)
            if bad.any():
                problems.append(f"weights column {weights!r} has {int(bad.sum())} negative or "
                                f"infinite value(s) (rows {_first_rows(bad)})")
        for name in fpc_columns:
            if pd.api.types.is_numeric_dtype(data[name]):
                v = data[name].to_numpy(dtype=float, na_value=np.nan)
                bad = v < 0
                if bad.any():
                    problems.append(f"fpc column {name!r} has {int(bad.sum())} negative "
                                    f"value(s) (rows {_first_rows(bad)})")
        if problems:
            raise ValueError("invalid survey design: " + "; ".join(problems))

    @staticmethod
    def _population_sizes(data, fpc_columns, clusters, groups, n_stages) -> list[np.ndarray]:
        """Population count N per group and stage (inf where there is no fpc)."""
        n_groups = [int(groups[0].max()) + 1 if groups[0].size else 0] + \
                   [clusters[s - 1].max() + 1 for s in range(1, n_stages)]
        if not fpc_columns:
            return [np.full(int(g), np.inf) for g in n_groups]
        values = np.column_stack([data[c].to_numpy(dtype=float) for c in fpc_columns])
        is_count = bool((values > 1).any())
        if is_count and (values < 1).any():
            raise ValueError(f"fpc columns {fpc_columns} mix population counts (> 1) and "
                             "sampling fractions (< 1): give all as counts or all as fractions")
        if not is_count and (values == 1).all():
            raise ValueError(f"fpc columns {fpc_columns} are all exactly 1: ambiguous between "
                             "population counts and sampling fractions")
        if len(fpc_columns) < n_stages:
            warnings.warn(f"fpc given for {len(fpc_columns)} of {n_stages} stages: the later "
                          "stages are treated as sampled with replacement", stacklevel=3)
        result = []
        for s in range(n_stages):
            row_group = groups[s][clusters[s]]
            n_sampled = np.bincount(groups[s], minlength=int(n_groups[s])).astype(float)
            if s >= len(fpc_columns):
                result.append(np.full(int(n_groups[s]), np.inf))
                continue
            v = values[:, s]
            with np.errstate(divide="ignore"):
                row_pop = v if is_count else n_sampled[row_group] / v
            frame = pd.DataFrame({"g": row_group, "N": row_pop})
            spread = frame.groupby("g")["N"].agg(["min", "max"])
            varying = spread.index[spread["min"] != spread["max"]]
            if len(varying):
                raise ValueError(f"fpc column {fpc_columns[s]!r} varies within {len(varying)} "
                                 f"stage-{s + 1} stratum/unit(s) (first rows "
                                 f"{_first_rows(np.isin(row_group, varying))}): it must be "
                                 "constant within each")
            popsize = np.full(int(n_groups[s]), np.inf)
            popsize[spread.index.to_numpy()] = spread["min"].to_numpy()
            too_small = popsize < n_sampled
            if too_small.any():
                raise ValueError(f"fpc column {fpc_columns[s]!r} implies more than 100% "
                                 f"sampling at stage {s + 1} in {int(too_small.sum())} "
                                 f"stratum/unit(s) (first rows "
                                 f"{_first_rows(np.isin(row_group, np.flatnonzero(too_small)))})")
            result.append(popsize)
        return result

    def _sampling_weights(self, data, weights) -> np.ndarray:
        if weights is not None:
            return data[weights].to_numpy(dtype=float)
        if not self.fpc_columns:
            return np.ones(len(data))
        w = np.ones(len(data))
        for stage in self._stages:
            row_group = stage.group[stage.cluster]
            w *= (stage.popsize / stage.n_sampled)[row_group]
        if not np.isfinite(w).all():
            raise ValueError("weights not given and they cannot be derived from the fpc: some "
                             "stages have no population count (give weights=)")
        return w

    def _set_domain(self, domain: np.ndarray) -> None:
        """Fix the domain: weights, counts and which strata/units hold domain rows."""
        self._domain = domain
        self.weights = np.where(domain, self._base_weights, 0.0)
        active = domain & (self._base_weights != 0)
        first = self._stages[0]
        psu_active = np.bincount(first.cluster[active], minlength=first.n_clusters) > 0
        self.n_psu = int(psu_active.sum())
        self.n_strata = int((np.bincount(first.group[psu_active], minlength=first.n_groups)
                             > 0).sum())
        self.df = self.n_psu - self.n_strata
        # Groups (strata / parent units) with rows in the domain: R only visits those, which
        # matters for the "average" and "adjust" lonely-PSU rules and for "fail".
        self._present = [np.bincount(stage.group[stage.cluster[domain]],
                                     minlength=stage.n_groups) > 0 for stage in self._stages]

    # ------------------------------------------------------------------ variance engine
    def vcov_totals(self, z: np.ndarray) -> np.ndarray:
        """Design covariance (k x k) of the estimated totals sum_i z_i.

        ``z`` has shape (n,) or (n, k) and is already weighted (z_i = w_i * u_i, u the
        linearised / influence value); rows outside the domain carry z_i = 0 but keep their
        place in strata and PSUs. Returns a (k, k) array (1 x 1 for a vector ``z``).

        For a domain estimate call it on the domain's design (``subset``): the lonely-PSU rules
        "fail", "average" and "adjust" look only at the strata and units holding domain rows,
        as R does after subsetting.

        Examples
        --------
        The variance of the weighted total of y, as :meth:`total` reports it squared:

        >>> import pandas as pd
        >>> data = pd.DataFrame({"stratum": [1, 1, 1, 1, 2, 2, 2, 2],
        ...                      "psu": [1, 1, 2, 2, 1, 1, 2, 2],
        ...                      "weight": [10, 10, 12, 12, 20, 20, 25, 25],
        ...                      "y": [1, 0, 1, 1, 0, 0, 1, 0]})
        >>> design = SurveyDesign(data, weights="weight", strata="stratum", psu="psu")
        >>> design.vcov_totals(design.weights * data["y"].to_numpy())
        array([[821.]])
        >>> round(float(design.total("y")["std_error"].iloc[0]) ** 2, 6)
        821.0
        """
        z = np.ascontiguousarray(z, dtype=float)
        if z.ndim == 1:
            z = z[:, None]
        if z.ndim != 2 or z.shape[0] != len(self.data):
            raise ValueError(f"z must have shape (n,) or (n, k) with n = {len(self.data)}, "
                             f"got {z.shape}")
        z = self._calibration_residuals(z)
        totals = z if self._row_to_unit is None else np.asarray(self._row_to_unit @ z)
        return self._vcov_of_unit_totals(totals)

    def vcov_estimating(self, z: np.ndarray, jacobian: np.ndarray | None = None, *,
                        rows: np.ndarray | None = None) -> np.ndarray:
        """Design covariance (k x k) of k estimates given by their estimating functions.

        Every estimator here and in ``indices`` asks the design for its variance through this
        method, which both design classes have. ``z`` (n, k): the weighted influence values
        w_i u_i of the estimates, zero outside the domain, with u = psi / sum(w d) for an
        estimate solving sum_i w_i psi_i(theta) = 0 whose derivative is -d_i (a ratio
        sum(w y) / sum(w x): psi = y - theta x, d = x; a mean: d = 1). ``jacobian``: d, (n,)
        or (n, k), or None for a linear statistic (a total: theta = sum(w u)). ``rows``: the
        design rows where ``z`` can be non-zero (a hint; ``jacobian`` then holds those rows
        only).

        Here (Taylor linearisation) this is :meth:`vcov_totals` of ``z``, and ``jacobian`` is
        not needed; a :class:`ReplicateDesign` recomputes each estimate with every replicate's
        weights, theta_r - theta = sum(w_r psi) / sum(w_r d), exactly as refitting a ratio.
        """
        return self.vcov_totals(z)

    def _calibration_residuals(self, z: np.ndarray) -> np.ndarray:
        """z after every calibration's adjustment (weighting.py), as R's ``svyrecvar``."""
        for adjust in self._adjustments:
            z = adjust(z)
        return z

    def _vcov_of_unit_totals(self, totals: np.ndarray, *, block: int | None = None):
        """:meth:`vcov_totals` from the totals of the last stage's units (units x k).

        ``block=b``: only the covariances within each run of ``b`` consecutive columns (the
        estimates of one domain), as an array (k / b, b, b); the other covariances are never
        formed (``by`` estimates hundreds of domains at once)."""
        v = None
        for s in range(len(self._stages) - 1, -1, -1):
            stage = self._stages[s]
            part = self._stage_variance(s, totals, block=block)
            v = part if v is None else v + part
            if s > 0:  # aggregate this stage's unit totals to their parent units
                totals = np.asarray(stage.indicator @ totals)
        return v

    def _stage_variance(self, s: int, totals: np.ndarray, *, block: int | None = None):
        stage = self._stages[s]
        k = totals.shape[1]
        shape = (k, k) if block is None else (k // block, block, block)
        present = self._present[s]
        counted = stage.ancestor_fraction > 0
        lonely = stage.lonely & present & counted
        if s > 0 and not counted.any():
            return np.zeros(shape)
        if lonely.any() and self.lonely_psu == "fail":
            raise ValueError(self._lonely_message(s, np.flatnonzero(lonely)))
        if s > 0 and lonely.any() and self.lonely_psu == "average":
            return np.full(shape, np.nan)

        group_totals = np.asarray(stage.indicator @ totals)
        centre = group_totals / stage.n_sampled[:, None]
        if s == 0 and self.lonely_psu == "adjust" and lonely.any():
            # R recentres a lonely stratum's PSU total at the mean of all stage-1 PSU totals
            # of the strata holding domain rows.
            grand = group_totals.sum(axis=0) / stage.n_sampled[present].sum()
            centre[lonely] = grand
        unit_weight = (stage.scale * stage.ancestor_fraction)[stage.group]
        if s > 0 or self.lonely_psu != "adjust":
            unit_weight = np.where(stage.lonely[stage.group], 0.0, unit_weight)
        root_weight = np.sqrt(unit_weight)
        v = np.zeros(shape)
        # Chunks of units keep the temporaries small when every row is its own PSU (n units).
        for start in range(0, stage.n_clusters, _BLOCK):
            chunk = slice(start, start + _BLOCK)
            deviation = totals[chunk] - centre[stage.group[chunk]]
            deviation *= root_weight[chunk, None]
            if block is None:
                v += deviation.T @ deviation
            else:
                by_domain = deviation.reshape(len(deviation), k // block, block)
                v += np.einsum("jla,jlb->lab", by_domain, by_domain)
        if s == 0 and self.lonely_psu == "average" and lonely.any():
            n_present = int(present.sum())
            n_ok = n_present - int(lonely.sum())
            v = v * (n_present / n_ok) if n_ok > 0 else np.full((k, k), np.nan)
        return v

    def _lonely_message(self, s: int, groups: np.ndarray) -> str:
        stage = self._stages[s]
        if s == 0:
            if self.strata_column is None:
                return ("lonely_psu='fail': the design has a single PSU, so there is no "
                        "variance to estimate")
            rows = np.flatnonzero(np.isin(self._stratum, groups))
            first = pd.Series(rows, index=self._stratum[rows]).groupby(level=0).first()
            labels = self.data[self.strata_column].to_numpy()[first.to_numpy()]
            what = (f"{len(labels)} stratum/strata of {self.strata_column!r} with only one PSU "
                    "at stage 1")
        else:
            parent = self._stages[s - 1].cluster
            rows = np.flatnonzero(np.isin(parent, groups))
            first = pd.Series(rows, index=parent[rows]).groupby(level=0).first().to_numpy()
            cols = ([self.strata_column] if self.strata_column else []) + self.psu_columns[:s]
            labels = ["/".join(str(x) for x in row)
                      for row in self.data[cols].to_numpy()[first]]
            what = (f"{len(labels)} stage-{s} unit(s) ({'/'.join(cols)}) with only one "
                    f"sampled unit at stage {s + 1}")
        shown = ", ".join(str(x) for x in labels[:20]) + (", ..." if len(labels) > 20 else "")
        return (f"lonely_psu='fail': {what}: {shown}. Choose lonely_psu="
                "'remove', 'certainty', 'adjust' or 'average', or merge those strata")

    # ------------------------------------------------------------------ replicate weights
    @property
    def psu_codes(self) -> np.ndarray:
        """Stage-1 PSU code of every row (read-only view; see the class docstring)."""
        codes = self._stages[0].cluster.view()
        codes.flags.writeable = False
        return codes

    def single_psu_strata(self) -> list:
        """Labels of the stage-1 strata that cannot be bootstrapped: those with a single
        sampled PSU (in the full design) holding domain rows of positive weight.

        Labels are values of the ``strata`` column, in order of first appearance; a design
        without strata that has a single PSU gives ``["(the single stratum)"]``.
        """
        stage = self._stages[0]
        lonely = stage.n_sampled == 1
        active = np.bincount(self._stratum[self.weights > 0], minlength=stage.n_groups) > 0
        selected = lonely & active
        if not selected.any():
            return []
        if self.strata_column is None:
            return ["(the single stratum)"]
        labels = (pd.Series(self.data[self.strata_column].to_numpy())
                  .groupby(self._stratum).first().to_numpy())
        return list(labels[selected])

    def bootstrap_factors(self, *, n_reps: int, seed: Seed) -> np.ndarray:
        """Rao–Wu rescaled bootstrap factors of the stage-1 PSUs, shape (n_psu_total, n_reps).

        Row p holds the factors of PSU p of ``psu_codes`` (every PSU of the full design, also
        those outside the domain), so row i's replicate weights are
        ``weights[i] * factors[psu_codes[i]]``; summing per PSU first (as ``models.importance``
        does) avoids an (n, n_reps) array.

        In each stratum h with n_h stage-1 PSUs, m_h = n_h - 1 PSUs are drawn with replacement
        (independently across strata and replicates); PSU i drawn r_hi times gets the factor

            a_hi = 1 - lambda_h + lambda_h * (n_h / m_h) * r_hi,
            lambda_h = sqrt(m_h * (1 - f_h) / (n_h - 1))   (= sqrt(1 - f_h) here)

        (the general rescaling of Rao, Wu & Yue 1992), with f_h the design's stage-1 sampling
        fraction n_h / N_h (0 without an fpc). Without an fpc this is n_h / (n_h - 1) * r_hi.
        E[a_hi] = 1, and the bootstrap variance of a weighted total is the stage-1
        linearisation variance of :meth:`vcov_totals`. Later stages are not resampled: their
        variance is not represented (the with-replacement "ultimate cluster" approximation).

        A stratum with a single PSU cannot be resampled. Under ``lonely_psu="fail"`` a
        single-PSU stratum holding domain rows of positive weight is an error naming it (see
        :meth:`single_psu_strata`); under every other option that PSU keeps factor 1 in every
        replicate, i.e. contributes no variance ("remove"/"certainty" under linearisation;
        "adjust" and "average" are not imitated). A single-PSU stratum is treated so even when
        its fpc makes it a certainty stratum.

        ``seed``: int or numpy Generator (``rng.as_generator``); the same seed gives the same
        bytes. The draws depend only on the full design, not on the domain.
        """
        if int(n_reps) != n_reps or n_reps < 1:
            raise ValueError(f"n_reps must be a positive integer, got {n_reps!r}")
        n_reps = int(n_reps)
        rng = as_generator(seed)
        if self.lonely_psu == "fail":
            labels = self.single_psu_strata()
            if labels:
                raise ValueError(f"Rao–Wu bootstrap: {len(labels)} stratum/strata with a single "
                                 f"PSU cannot be resampled: {labels[:20]}. Give the design "
                                 "lonely_psu='remove' (those PSUs then keep their weight in "
                                 "every replicate) or merge the strata")
        stage = self._stages[0]
        psu_stratum = stage.group
        n_h = stage.n_sampled.astype(np.int64)
        n_psu = stage.n_clusters
        lonely = n_h == 1
        m_h = np.maximum(n_h - 1, 1)
        scale = np.where(lonely, 0.0,
                         np.sqrt(m_h * (1.0 - stage.fraction) / np.maximum(n_h - 1, 1)))

        # Draw m_h PSUs with replacement in every stratum and replicate, all at once: uniform
        # positions within the stratum's block of PSUs (PSUs sorted by stratum).
        order = np.argsort(psu_stratum, kind="stable")
        first = np.concatenate([[0], np.cumsum(n_h)[:-1]])      # position of stratum h in order
        draws_per_stratum = np.where(lonely, 0, m_h)
        draw_stratum = np.repeat(np.arange(n_h.size), draws_per_stratum)
        u = rng.random((draw_stratum.size, n_reps))
        picked = order[first[draw_stratum][:, None]
                       + np.floor(u * n_h[draw_stratum][:, None]).astype(np.int64)]
        replicate = np.broadcast_to(np.arange(n_reps), picked.shape)
        counts = np.bincount((picked * n_reps + replicate).ravel(),
                             minlength=n_psu * n_reps).reshape(n_psu, n_reps)
        lam = scale[psu_stratum][:, None]
        ratio = (n_h / m_h)[psu_stratum][:, None]
        return 1.0 - lam + lam * ratio * counts

    def bootstrap_weights(self, *, n_reps: int, seed: Seed) -> np.ndarray:
        """Rao–Wu rescaled bootstrap replicate weights, shape (n, n_reps), float32.

        Column r is ``weights * factors[psu_codes, r]`` with the factors of
        :meth:`bootstrap_factors` (see there for the method, single-PSU strata and seeding).
        Rows outside the domain keep weight zero. A replicate estimate of a statistic is the
        statistic computed with one column as the weights; the bootstrap variance is the mean
        squared deviation of the replicate estimates from the full-sample estimate.
        Memory is 4 * n * n_reps bytes; for large n, sum per PSU and use the factors instead.

        Examples
        --------
        With two PSUs a stratum, each replicate keeps one of them at twice its weight:

        >>> import pandas as pd
        >>> data = pd.DataFrame({"stratum": [1, 1, 1, 1, 2, 2, 2, 2],
        ...                      "psu": [1, 1, 2, 2, 1, 1, 2, 2],
        ...                      "weight": [10, 10, 12, 12, 20, 20, 25, 25],
        ...                      "y": [1, 0, 1, 1, 0, 0, 1, 0]})
        >>> design = SurveyDesign(data, weights="weight", strata="stratum", psu="psu")
        >>> design.bootstrap_weights(n_reps=3, seed=1)[:4]
        array([[ 0.,  0., 20.],
               [ 0.,  0., 20.],
               [24., 24.,  0.],
               [24., 24.,  0.]], dtype=float32)
        """
        factors = self.bootstrap_factors(n_reps=n_reps, seed=seed)
        return (self.weights[:, None] * factors[self.psu_codes]).astype(np.float32)

    def as_replicate(self, method: str = "JK1", *, n_reps: int | None = None,
                     fay_rho: float = 0.5, seed: Seed = None,
                     mse: bool = False) -> "ReplicateDesign":
        """This design with replicate weights of its stage-1 PSUs (R's ``as.svrepdesign``).

        ``method``:

        - ``"JK1"`` (unstratified designs): replicate p drops PSU p and multiplies the others
          by n/(n-1); scale (1 - f)(n - 1)/n with f the stage-1 sampling fraction.
        - ``"JKn"`` (stratified): replicate (h, p) drops PSU p of stratum h and multiplies
          the other PSUs of h by n_h/(n_h - 1); rscale (1 - f_h)(n_h - 1)/n_h. Strata taken
          with certainty give no replicate. A single-PSU stratum follows ``lonely_psu`` as R's
          ``jknweights``: an error under "fail", no replicate under "remove"/"certainty", no
          replicate and the variance scaled by PSUs / replicates under "average", and under
          "adjust" one replicate dropping it and multiplying every other PSU by H/(H-1),
          rscale (H-1)/H.
        - ``"BRR"`` / ``"Fay"`` (exactly 2 PSUs in every stratum): half-samples from the rows
          2..H+1 of a Sylvester Hadamard matrix of order K, the smallest power of 2 above the
          H strata (R's ``hadamard`` for those sizes; R picks a smaller Paley matrix for some
          H, e.g. 12 replicates for 10 or 11 strata, which changes non-linear estimates a
          little). The chosen PSU gets factor 2 - rho, the other rho (BRR: rho = 0; Fay:
          ``fay_rho``); scale 1 / (K (1 - rho)^2). The fpc is ignored, as R does.
        - ``"bootstrap"``: ``n_reps`` (default 50) Rao–Wu rescaled bootstrap replicates of
          :meth:`bootstrap_factors` (R's "subbootstrap" without an fpc; with one, the factors
          are rescaled by sqrt(1 - f_h) as documented there); scale 1/(n_reps - 1). Needs
          ``seed``.

        Later stages are not represented (the with-replacement "ultimate cluster"
        approximation, as R). ``mse``: centre the replicates at the full-sample estimate
        instead of their mean. A calibrated design is refused: make the replicate design
        first and calibrate it (its calibration is then redone in every replicate).

        Examples
        --------
        >>> import pandas as pd
        >>> data = pd.DataFrame({"psu": [1, 1, 2, 2, 3, 3], "y": [1.0, 2.0, 2.0, 3.0, 5.0, 6.0]})
        >>> jk = SurveyDesign(data, psu="psu").as_replicate("JK1")
        >>> jk.n_reps, float(jk.scale)
        (3, 0.6666666666666666)
        >>> jk.mean("y").round(4)[["term", "estimate", "std_error"]]
          term  estimate  std_error
        0    y    3.1667     1.2019
        """
        if method not in ("JK1", "JKn", "BRR", "Fay", "bootstrap"):
            raise ValueError(f"as_replicate: method must be 'JK1', 'JKn', 'BRR', 'Fay' or "
                             f"'bootstrap', got {method!r}")
        if self.calibrated:
            raise ValueError("as_replicate: this design is calibrated; make the replicate "
                             "design from the uncalibrated one and calibrate that")
        if n_reps is not None and method != "bootstrap":
            raise ValueError(f"as_replicate: n_reps applies to method='bootstrap' only; "
                             f"{method} has one replicate per PSU or half-sample")
        stage = self._stages[0]
        stratum_of_psu = stage.group
        n_h = stage.n_sampled
        n_psu = stage.n_clusters
        stratified = self.strata_column is not None
        scale, rscales = 1.0, None
        if method == "JK1":
            if stratified:
                raise ValueError("as_replicate: JK1 is for unstratified designs; use 'JKn'")
            n = float(n_psu)
            if n < 2:
                raise ValueError("as_replicate: JK1 needs at least 2 PSUs")
            factors = np.full((n_psu, n_psu), n / (n - 1))
            np.fill_diagonal(factors, 0.0)
            scale = (1.0 - stage.fraction[0]) * (n - 1) / n
        elif method == "JKn":
            if not stratified:
                raise ValueError("as_replicate: JKn is for stratified designs; use 'JK1'")
            columns, rscale_list = [], []
            lonely_strata = []
            n_strata = int(n_h.size)
            for h in range(n_strata):
                members = np.flatnonzero(stratum_of_psu == h)
                keep = 1.0 - stage.fraction[h]
                if members.size == 1:
                    if keep <= _CERTAINTY_TOLERANCE:
                        continue
                    lonely_strata.append(h)
                    if self.lonely_psu == "adjust":
                        f = np.full(n_psu, n_strata / (n_strata - 1))
                        f[members] = 0.0
                        columns.append(f)
                        rscale_list.append((n_strata - 1) / n_strata)
                    continue
                if keep <= _CERTAINTY_TOLERANCE:
                    continue       # R drops the replicates of a certainty stratum
                for p in members:
                    f = np.ones(n_psu)
                    f[members] = members.size / (members.size - 1)
                    f[p] = 0.0
                    columns.append(f)
                    rscale_list.append(keep * (members.size - 1) / members.size)
            if lonely_strata and self.lonely_psu == "fail":
                raise ValueError(self._lonely_message(0, np.array(lonely_strata)))
            if not columns:
                raise ValueError("as_replicate: every stratum was sampled exhaustively or has "
                                 "one PSU: there is no variance to estimate")
            factors = np.column_stack(columns)
            rscales = np.array(rscale_list)
            if self.lonely_psu == "average" and len(columns) < n_psu:
                scale = n_psu / len(columns)
        elif method in ("BRR", "Fay"):
            if not stratified:
                raise ValueError(f"as_replicate: {method} needs a stratified design with 2 PSUs "
                                 "in every stratum")
            bad = np.flatnonzero(n_h != 2)
            if bad.size:
                rows = np.flatnonzero(np.isin(self._stratum, bad))
                first = pd.Series(rows, index=self._stratum[rows]).groupby(level=0).first()
                labels = self.data[self.strata_column].to_numpy()[first.to_numpy()]
                raise ValueError(f"as_replicate: {method} needs exactly 2 PSUs in every "
                                 f"stratum; {bad.size} stratum/strata of "
                                 f"{self.strata_column!r} have another number: "
                                 f"{', '.join(str(x) for x in labels[:20])}")
            rho = 0.0 if method == "BRR" else float(fay_rho)
            if not 0 <= rho < 1:
                raise ValueError(f"as_replicate: fay_rho must be in [0, 1), got {fay_rho!r}")
            n_strata = int(n_h.size)
            hadamard = _sylvester_hadamard(n_strata + 1)
            # as R's brrweights: stratum s (in the sorted order of the labels as text) takes
            # row s + 2 of the matrix; 1 there keeps the stratum's first PSU (in order of
            # appearance), 0 its second
            labels = (pd.Series(self.data[self.strata_column].to_numpy())
                      .groupby(self._stratum).first().astype(str).to_numpy())
            rank = np.empty(n_strata, dtype=np.int64)
            rank[np.argsort(labels, kind="stable")] = np.arange(n_strata)
            psu_order = np.argsort(stratum_of_psu, kind="stable")
            first_psu = np.zeros(n_psu, dtype=bool)
            first_psu[psu_order[::2]] = True
            chosen_first = hadamard[1 + rank[stratum_of_psu]] == 1      # (n_psu, K)
            pick = np.where(first_psu[:, None], chosen_first, ~chosen_first)
            factors = np.where(pick, 2.0 - rho, rho)
            scale = 1.0 / (hadamard.shape[0] * (1.0 - rho) ** 2)
            if self.fpc_columns:
                warnings.warn(f"as_replicate: the finite population correction is dropped for "
                              f"{method}, as R does", UserWarning, stacklevel=2)
        else:
            reps = 50 if n_reps is None else n_reps
            factors = self.bootstrap_factors(n_reps=reps, seed=seed)
            scale = 1.0 / max(int(reps) - 1, 1)
        new = object.__new__(ReplicateDesign)
        new.__dict__.update(self.__dict__)
        new._set_replicates(self._stages[0].cluster, factors, self._base_weights,
                            method=method if method != "bootstrap" else "bootstrap",
                            scale=scale, rscales=rscales, mse=mse)
        return new

    # ------------------------------------------------------------------ domains
    def subset(self, mask) -> "SurveyDesign":
        """The domain where ``mask`` is True, keeping the full design (zero weights outside).

        ``mask``: boolean array-like of length n (a Series must share ``data``'s index).

        Examples
        --------
        >>> import pandas as pd
        >>> data = pd.DataFrame({"stratum": [1, 1, 1, 1, 2, 2, 2, 2],
        ...                      "psu": [1, 1, 2, 2, 1, 1, 2, 2],
        ...                      "weight": [10, 10, 12, 12, 20, 20, 25, 25],
        ...                      "y": [1, 0, 1, 1, 0, 0, 1, 0],
        ...                      "sex": ["f", "m", "f", "f", "m", "f", "m", "m"]})
        >>> design = SurveyDesign(data, weights="weight", strata="stratum", psu="psu")
        >>> women = design.subset(data["sex"] == "f")
        >>> women
        SurveyDesign(rows=8, in domain=4, strata=2, psu=3, stages=1, fpc=no, lonely_psu='fail')
        >>> women.mean("y").round(3)  # doctest: +NORMALIZE_WHITESPACE
          term  estimate  std_error  ci_low  ci_high  n
        0    y      0.63      0.252   0.135    1.124  4
        """
        mask = self._as_mask(mask)
        new = copy.copy(self)
        new._set_domain(self._domain & mask)
        return new

    def _as_mask(self, mask) -> np.ndarray:
        if isinstance(mask, pd.Series):
            if not mask.index.equals(self.data.index):
                raise ValueError("mask Series must have the same index as the design's data")
            if mask.isna().any():
                raise ValueError(f"mask has {int(mask.isna().sum())} missing value(s)")
            mask = mask.to_numpy()
        mask = np.asarray(mask)
        if mask.shape != (len(self.data),):
            raise ValueError(f"mask must have length {len(self.data)}, got shape {mask.shape}")
        if mask.dtype != bool:
            raise TypeError(f"mask must be boolean, got dtype {mask.dtype}")
        return mask

    # ------------------------------------------------------------------ weighting
    def post_stratify(self, by, population) -> "SurveyDesign":
        """A new design post-stratified on ``by``: weights times population / weighted sample
        count of their cell (R's ``postStratify``).

        ``by``: a column or list of columns (their cells are the combinations present);
        ``population``: totals by level, e.g. ``{"E": 4421, "H": 755, "M": 1018}``, a Series
        (a MultiIndex for several columns) or a DataFrame of the ``by`` columns and one column
        of totals (R's ``data.frame(stype=..., Freq=...)``). A level in the data but not in
        the population (or with total 0), and a population level with a positive total and
        no sampled row, are errors naming each cell. The new design's variance uses the
        post-stratified residuals (module ``weighting``); ``weighting_steps`` records the step.

        Examples
        --------
        >>> import pandas as pd
        >>> data = pd.DataFrame({"sex": ["f", "f", "m", "m", "m"], "y": [1, 2, 3, 4, 5]})
        >>> design = SurveyDesign(data).post_stratify("sex", {"f": 60, "m": 40})
        >>> design.weights.round(3).tolist()
        [30.0, 30.0, 13.333, 13.333, 13.333]
        >>> round(float(design.mean("y")["estimate"].iloc[0]), 6)  # 0.6 * 1.5 + 0.4 * 4
        2.5
        """
        caller = "post_stratify"
        columns = _as_list(by)
        require_columns(self.data, columns, f"SurveyDesign.{caller}")
        active = self.weights > 0
        codes, keys = weighting.cell_codes(self.data, columns, active, caller)
        totals = weighting.parse_totals(population, columns, caller)
        sums = np.bincount(codes[active], weights=self.weights[active], minlength=len(keys))
        targets = weighting.match_totals(keys, sums, totals, columns, caller)
        new = weighting.post_stratify_weights(self.weights, codes, targets)
        step = weighting.step_summary(caller, f"by {columns}", 0, self.weights, new,
                                      variables=tuple(columns))
        return self._reweighted(new, step,
                                weighting.PostStratAdjustment(codes, new, self.weights.copy()))

    def rake(self, margins, *, epsilon: float = 1e-10, max_iter: int = 100) -> "SurveyDesign":
        """A new design raked to ``margins`` by iterative proportional fitting (R's ``rake``).

        ``margins``: ``{column: totals by level}``, each as ``population`` of
        :meth:`post_stratify`; a key may be a tuple of columns for a joint margin (e.g.
        ``("province_code", "sex")`` rakes within provinces). Every margin must have the same
        total, and margins sharing columns the same totals within each of their common cells;
        levels must match the data's (errors name the offending cells). Raking stops when a
        full sweep changes no cell of the cross-classification of all the margins' columns by
        ``epsilon`` or more: ``epsilon`` below 1 is a fraction of the total weight, 1 or more a
        count, as R's ``control=list(epsilon=)`` (R's defaults, ``epsilon=1, max_iter=10``,
        reproduce its printed results; the defaults here converge fully). No convergence
        after ``max_iter`` sweeps is an error naming the worst cell. The variance uses R's
        iterated margin centring of the linearised values (module ``weighting``).

        Examples
        --------
        >>> import pandas as pd
        >>> data = pd.DataFrame({"sex": ["f", "f", "m", "m", "m", "f"],
        ...                      "urban": [0, 1, 0, 1, 1, 0]})
        >>> raked = SurveyDesign(data).rake({"sex": {"f": 50, "m": 50},
        ...                                  "urban": {0: 40, 1: 60}})
        >>> raked.total("sex")["estimate"].round(6).tolist()
        [50.0, 50.0]
        >>> raked.weighting_steps[0].method
        'rake'
        """
        caller = "rake"
        if not isinstance(margins, Mapping) or not margins:
            raise TypeError(f"{caller}: margins must be a non-empty dict "
                            f"{{column: totals by level}}, got {type(margins).__name__}")
        if not (epsilon > 0) or int(max_iter) != max_iter or max_iter < 1:
            raise ValueError(f"{caller}: epsilon must be > 0 and max_iter a positive integer, "
                             f"got epsilon={epsilon!r}, max_iter={max_iter!r}")
        margin_columns = [list(key) if isinstance(key, tuple) else [key] for key in margins]
        every = list(dict.fromkeys(c for cols in margin_columns for c in cols))
        require_columns(self.data, every, f"SurveyDesign.{caller}")
        active = self.weights > 0
        cross, _ = weighting.cell_codes(self.data, every, active, caller)
        codes_list, targets_list, populations = [], [], []
        for cols, population in zip(margin_columns, margins.values()):
            codes, keys = weighting.cell_codes(self.data, cols, active, caller)
            totals = weighting.parse_totals(population, cols, f"{caller} margin {cols}")
            sums = np.bincount(codes[active], weights=self.weights[active], minlength=len(keys))
            targets_list.append(weighting.match_totals(keys, sums, totals, cols, caller))
            codes_list.append(codes)
            populations.append((cols, totals, keys))
        weighting.check_margins_agree(populations, caller)
        new, margin_weights, sweeps, delta, tolerance = weighting.rake_weights(
            self.weights, codes_list, targets_list, cross, epsilon=epsilon,
            max_iter=int(max_iter))
        if not delta < tolerance:
            raise ValueError(f"{caller}: did not converge in {sweeps} sweeps: the last sweep "
                             f"still changed a cell by {delta:.4g} (tolerance {tolerance:.4g});"
                             f" {weighting.worst_margin_cell(new, codes_list, targets_list, populations)}."
                             " Check that the margins describe one population, merge sparse "
                             "cells or raise max_iter")
        # A fixed point that misses a margin: the margins conflict in the data's cells (one
        # column determined by another, e.g. every man in one age group), which the sweeps
        # alone cannot see.
        missed = max(float(np.max(np.abs(
            np.bincount(c[c >= 0], weights=new[c >= 0], minlength=len(t)) - t)))
            for c, t in zip(codes_list, targets_list))
        if missed > max(10 * tolerance, 1e-9 * float(new.sum())):
            raise ValueError(f"{caller}: the margins cannot all be met in these data (a cell "
                             f"total stays {missed:.4g} off its target: "
                             f"{weighting.worst_margin_cell(new, codes_list, targets_list, populations)});"
                             " the data's cells tie one margin's levels to another's. Merge "
                             "the margins into one cross-classified margin or check them")
        step = weighting.step_summary(caller, f"margins {margin_columns}", sweeps,
                                      self.weights, new, variables=tuple(every))
        adjustment = weighting.RakingAdjustment(tuple(codes_list), tuple(margin_weights))
        return self._reweighted(new, step, adjustment)

    def calibrate(self, formula: str, population, *, calfun: str = "linear", bounds=None,
                  variance=None, epsilon: float = 1e-7,
                  max_iter: int = 50) -> "SurveyDesign":
        """A new design calibrated to population totals (R's ``calibrate``).

        ``formula``: the right-hand side of a patsy formula (``"~ stype + api99"``); its model
        matrix (intercept included unless the formula drops it with ``- 1``) holds the
        calibration variables. ``population``: their population totals, a dict or Series by
        column name (patsy's, ``"Intercept"``, ``"stype[T.H]"``, or R's, ``"(Intercept)"``,
        ``"stypeH"``) or a sequence in column order. ``calfun``: the distance, "linear"
        (GREG; closed form unless bounded), "raking" (g = exp(x'λ)) or "logit" (needs
        finite ``bounds``); ``bounds = (lower, upper)`` on g = new weight / old weight.
        Non-linear and bounded calibration use R's Newton iteration (``grake``), converged
        when every total is within ``epsilon`` (relative to ``1 + |total|``) and an error naming
        the worst column otherwise. ``variance`` (R's ``variance=``): the working model's
        variance σ² of each row, as a column name, or coefficients c with σ² = x'c (one per
        model-matrix column): ``calibrate("~ x - 1", [X], variance=1)`` is the ratio
        estimator. A column whose sample total is 0 is dropped when its
        population total is 0 too (R's rule) and an error otherwise. Rows of positive weight
        missing a formula variable are an error. The variance uses the g-weighted GREG
        residuals (module ``weighting``), so the calibration totals have standard error 0.

        Examples
        --------
        >>> import pandas as pd
        >>> data = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [1.0, 3.0, 2.0, 5.0]})
        >>> design = SurveyDesign(data).calibrate("~ x", {"Intercept": 10, "x": 30})
        >>> design.total(["x", "y"])[["term", "estimate", "std_error"]].round(4)
          term  estimate  std_error
        0    x      30.0     0.0000
        1    y      33.0     5.6024
        """
        caller = "calibrate"
        if calfun not in weighting.CALFUNS:
            raise ValueError(f"{caller}: calfun must be one of {weighting.CALFUNS}, "
                             f"got {calfun!r}")
        lower, upper = (-np.inf, np.inf) if bounds is None else map(float, bounds)
        if not lower <= 1 <= upper:
            raise ValueError(f"{caller}: bounds must satisfy lower <= 1 <= upper, got {bounds!r}")
        if calfun == "logit" and not (np.isfinite(lower) and np.isfinite(upper)
                                      and lower < 1 < upper):
            raise ValueError(f"{caller}: calfun='logit' needs finite bounds with lower < 1 < "
                             f"upper, got {bounds!r}")
        names, mm = self._model_matrix(formula, caller)
        target = weighting.match_population_vector(population, names, caller)
        ww = self.weights
        sample_total = ww @ mm
        if (sample_total == 0).any():
            drop = (target == 0) & np.all(mm == 0, axis=0)
            mm, target, sample_total = mm[:, ~drop], target[~drop], sample_total[~drop]
            names = [n for n, d in zip(names, drop) if not d]
            empty = [f"{n!r} (population {t:g})" for n, t, s in zip(names, target, sample_total)
                     if s == 0]
            if empty:
                raise ValueError(f"{caller}: no weight in the sample for model-matrix "
                                 f"column(s) {', '.join(empty)}: they cannot be calibrated")
        sigma2 = self._calibration_variance(variance, mm, names, caller)
        whalf = np.sqrt(ww)
        if calfun == "linear" and not (np.isfinite(lower) or np.isfinite(upper)):
            g = weighting.linear_g(mm, ww, target, names, caller, sigma2)
            iterations = 0
            # R's regcalibrate: residuals of the variance-weighted regression
            basis = weighting.greg_basis(mm, whalf / np.sqrt(sigma2))
            residual_weight = g * whalf * np.sqrt(sigma2)
        else:
            if (np.isfinite(lower) or np.isfinite(upper)) and \
                    np.min(target / sample_total) > weighting._GRAKE_RESCALE_THRESHOLD:
                warnings.warn(f"{caller}: the weights sum to far less than the population; as "
                              "R, they are rescaled first and the bounds apply to the "
                              "rescaled weights", UserWarning, stacklevel=2)
            g, iterations, misfit = weighting.grake(mm, ww, calfun, lower, upper, target,
                                                    epsilon=epsilon, max_iter=int(max_iter),
                                                    sigma2=sigma2)
            # R's calibrate keeps the residuals of the unweighted-variance regression here
            basis = weighting.greg_basis(mm, whalf)
            residual_weight = g * whalf
            if not np.all(misfit < epsilon):
                worst = int(np.argmax(misfit))
                raise ValueError(f"{caller}: calfun={calfun!r} with bounds {bounds!r} did not "
                                 f"converge in {max_iter} iterations: column {names[worst]!r} "
                                 f"is still off by {misfit[worst]:.3g} of (1 + its total). "
                                 "Widen the bounds or calibrate on fewer cells")
        new = ww * g
        detail = f"{formula} (calfun={calfun!r}, bounds={bounds!r}" + \
            (f", variance={variance!r})" if variance is not None else ")")
        variables = tuple(term.name() for term in
                          patsy.ModelDesc.from_formula(formula).rhs_termlist
                          if term.factors)
        step = weighting.step_summary(caller, detail, iterations, ww, new, variables=variables,
                                      calfun=calfun, bounds=None if bounds is None else
                                      tuple(float(b) for b in bounds))
        return self._reweighted(new, step, weighting.GregAdjustment(basis, residual_weight))

    def _calibration_variance(self, variance, mm, names, caller):
        """σ² of every row for ``calibrate(variance=)`` (None: 1), refusing values <= 0 on
        rows of positive weight."""
        if variance is None:
            return np.ones(len(mm))
        if isinstance(variance, str):
            require_columns(self.data, [variance], f"SurveyDesign.{caller}")
            sigma2 = self.data[variance].to_numpy(dtype=float, na_value=np.nan)
        else:
            coefficients = np.atleast_1d(np.asarray(variance, dtype=float))
            if coefficients.size != mm.shape[1]:
                raise ValueError(f"{caller}: variance has {coefficients.size} coefficient(s) for "
                                 f"{mm.shape[1]} model-matrix column(s) {names}")
            sigma2 = mm @ coefficients
        bad = ~(sigma2 > 0) & (self.weights > 0)
        if bad.any():
            raise ValueError(f"{caller}: the variance is not positive on {int(bad.sum())} row(s) "
                             f"of positive weight (rows {_first_rows(bad)})")
        return np.where(self.weights > 0, sigma2, 1.0)

    def trim_weights(self, lower: float = -np.inf, upper: float = np.inf, *,
                     strict: bool = False) -> "SurveyDesign":
        """A new design whose weights are trimmed to [lower, upper] (R's ``trimWeights``).

        Weights outside are set to the bound and the total trimmed off (or added) is shared
        equally among the weights that were inside, so the sum of the weights is kept; that
        can push some of them past a bound again: ``strict=True`` repeats until none is
        outside (R's ``strict=TRUE``; the default is R's single pass). Rows of zero weight
        stay zero. The variance keeps any earlier calibration's residuals, as R does, so
        trimming a calibrated design gives its calibration totals a small standard error.

        >>> import pandas as pd
        >>> data = pd.DataFrame({"w": [1.0, 2.0, 3.0, 10.0]})
        >>> SurveyDesign(data, weights="w").trim_weights(upper=6).weights.round(3).tolist()
        [2.333, 3.333, 4.333, 6.0]
        """
        if not lower <= upper:
            raise ValueError(f"trim_weights: lower must not exceed upper, got {lower}, {upper}")
        new, rounds = weighting.trim_weights(self.weights, lower, upper, strict=strict)
        step = weighting.step_summary("trim_weights", f"to [{lower}, {upper}]"
                                      + (" strict" if strict else ""), rounds, self.weights, new,
                                      bounds=(float(lower), float(upper)))
        return self._reweighted(new, step, None)

    def weighting_deff(self) -> float:
        """The design effect of unequal weighting, 1 + CV² of the weights of the domain's rows
        of positive weight (Kish 1965: n Σw² / (Σw)²).

        >>> import pandas as pd
        >>> SurveyDesign(pd.DataFrame({"w": [1.0, 1.0, 2.0]}), weights="w").weighting_deff()
        1.125
        """
        return weighting.weighting_deff(self.weights)

    @property
    def calibrated(self) -> bool:
        """True when a calibration step (post-stratification, raking, calibration) made
        this design; ``weighting_steps`` lists every step, trimming included."""
        return bool(self._adjustments)

    def _reweighted(self, weights, step, adjustment) -> "SurveyDesign":
        new = copy.copy(self)
        new._base_weights = np.asarray(weights, dtype=float)
        if adjustment is not None:
            new._adjustments = self._adjustments + (adjustment,)
        new.weighting_steps = self.weighting_steps + (step,)
        new._set_domain(self._domain)
        return new

    def _model_matrix(self, formula: str, caller: str):
        """patsy's model matrix of ``formula`` on every row (zero rows where a variable is
        missing on a row of weight 0); rows of positive weight missing a value are an error."""
        if not isinstance(formula, str):
            raise TypeError(f"{caller}: formula must be a string such as '~ stype + api99'")
        text = formula if formula.lstrip().startswith("~") else "~ " + formula
        data = self.data.reset_index(drop=True)
        try:
            frame = patsy.dmatrix(text, data, NA_action="drop", return_type="dataframe")
        except patsy.PatsyError as error:
            raise ValueError(f"{caller}: cannot build the model matrix of {formula!r}: "
                             f"{error}") from None
        kept = frame.index.to_numpy()
        lost = np.ones(len(data), dtype=bool)
        lost[kept] = False
        bad = lost & (self.weights > 0)
        if bad.any():
            raise ValueError(f"{caller}: {int(bad.sum())} row(s) of positive weight miss a "
                             f"variable of {formula!r} (rows {_first_rows(bad)})")
        mm = np.zeros((len(data), frame.shape[1]))
        mm[kept] = frame.to_numpy(dtype=float)
        return list(frame.columns), mm

    # ------------------------------------------------------------------ estimators
    def mean(self, var, *, na_rm: bool = False, deff: bool | str = False,
             df: bool = False) -> pd.DataFrame:
        """Design-based mean (proportion of each level for a categorical variable).

        The ratio estimator sum(w y) / sum(w), linearised as R's ``svymean``.
        Returns columns: term, estimate, std_error, ci_low, ci_high, n, then ``df`` when
        ``df=True`` and ``deff, n_eff`` when ``deff`` is True or ``"replace"`` (module
        docstring, "Degrees of freedom and design effects").

        Examples
        --------
        Four clusters of two respondents who answer alike (no weights: each row weighs 1):

        >>> import pandas as pd
        >>> data = pd.DataFrame({"psu": [1, 1, 2, 2, 3, 3, 4, 4], "y": [1, 1, 0, 0, 1, 1, 1, 0]})
        >>> SurveyDesign(data, psu="psu").mean("y", df=True, deff=True).round(4)
          term  estimate  std_error  ci_low  ci_high  n  df    deff   n_eff
        0    y     0.625     0.2394  0.1559   1.0941  8   3  1.7111  4.6753
        """
        design, y, terms, n = self._prepare(_as_list(var), na_rm, caller="SurveyDesign.mean")
        w = design.weights
        weight_sum = w.sum()
        if weight_sum <= 0:
            raise ValueError(f"no rows with positive weight in the domain for {_as_list(var)}")
        y0 = np.where(np.isnan(y), 0.0, y)
        estimate = w @ y0 / weight_sum
        z = w[:, None] * (y0 - estimate) / weight_sum
        table = self._table(terms, estimate, design.vcov_estimating(z, np.ones(len(w))), n)
        if deff:  # unweighted linearised value, for the SRS variance
            u = (y0 - estimate) / weight_sum
        return design._add_design_columns(table, u if deff else None, deff=deff, df=df)

    def total(self, var, *, na_rm: bool = False, deff: bool | str = False,
              df: bool = False) -> pd.DataFrame:
        """Design-based total (estimated count of each level for a categorical variable).

        Returns columns: term, estimate, std_error, ci_low, ci_high, n, then ``df`` and
        ``deff, n_eff`` on request (as :meth:`mean`; the design effect is R's ``svytotal``
        ``deff``).

        Examples
        --------
        The estimated number of people who say yes (weights are population counts):

        >>> import pandas as pd
        >>> data = pd.DataFrame({"stratum": [1, 1, 1, 1, 2, 2, 2, 2],
        ...                      "psu": [1, 1, 2, 2, 1, 1, 2, 2],
        ...                      "weight": [10, 10, 12, 12, 20, 20, 25, 25],
        ...                      "y": [1, 0, 1, 1, 0, 0, 1, 0]})
        >>> design = SurveyDesign(data, weights="weight", strata="stratum", psu="psu")
        >>> design.total("y").round(3)  # doctest: +NORMALIZE_WHITESPACE
          term  estimate  std_error  ci_low  ci_high  n
        0    y      59.0     28.653   2.841  115.159  8
        """
        design, y, terms, n = self._prepare(_as_list(var), na_rm, caller="SurveyDesign.total")
        w = design.weights
        u = np.where(np.isnan(y), 0.0, y)
        z = w[:, None] * u
        table = self._table(terms, z.sum(axis=0), design.vcov_estimating(z), n)
        return design._add_design_columns(table, u, deff=deff, df=df)

    def ratio(self, numerator, denominator, *, na_rm: bool = False, deff: bool | str = False,
              df: bool = False) -> pd.DataFrame:
        """Ratio of totals sum(w y) / sum(w x) for every (numerator, denominator) pair.

        Linearised as R's ``svyratio``: u = (y - R x) / sum(w x). Rows missing any numerator or
        denominator are out of the domain under ``na_rm=True``. Numerators and denominators
        must be numeric. Terms are named ``"y/x"``.
        Returns columns: term, estimate, std_error, ci_low, ci_high, n, then ``df`` and
        ``deff, n_eff`` on request (as :meth:`mean`; the design effect is R's
        ``svyratio(..., deff=TRUE)``: that of the total of u).

        Examples
        --------
        >>> import pandas as pd
        >>> data = pd.DataFrame({"stratum": [1, 1, 1, 1, 2, 2, 2, 2],
        ...                      "psu": [1, 1, 2, 2, 1, 1, 2, 2],
        ...                      "weight": [10, 10, 12, 12, 20, 20, 25, 25],
        ...                      "y": [1, 0, 1, 1, 0, 0, 1, 0],
        ...                      "x": [2, 3, 4, 4, 1, 2, 5, 3]})
        >>> design = SurveyDesign(data, weights="weight", strata="stratum", psu="psu")
        >>> design.ratio("y", "x").round(4)  # doctest: +NORMALIZE_WHITESPACE
          term  estimate  std_error  ci_low  ci_high  n
        0  y/x    0.1453     0.0214  0.1035   0.1872  8
        """
        numerators, denominators = _as_list(numerator), _as_list(denominator)
        design, values, names, n = self._prepare(numerators + denominators, na_rm,
                                                 numeric_only=True, caller="SurveyDesign.ratio")
        w = design.weights
        values = np.where(np.isnan(values), 0.0, values)
        y, x = values[:, :len(numerators)], values[:, len(numerators):]
        totals_y, totals_x = w @ y, w @ x
        terms, estimates, columns = [], [], []
        for i, num in enumerate(numerators):
            for j, den in enumerate(denominators):
                if totals_x[j] == 0:
                    raise ValueError(f"the estimated total of denominator {den!r} is 0")
                r = totals_y[i] / totals_x[j]
                terms.append(f"{num}/{den}")
                estimates.append(r)
                columns.append(w * (y[:, i] - r * x[:, j]) / totals_x[j])
        z = np.column_stack(columns)
        jacobian = np.column_stack([x[:, j] for i in range(len(numerators))
                                    for j in range(len(denominators))])
        table = self._table(terms, np.array(estimates), design.vcov_estimating(z, jacobian), n)
        u = None
        if deff:  # unweighted linearised values (rows of weight 0 give no SRS variance)
            u = np.column_stack([(y[:, i] - est * x[:, j]) / totals_x[j]
                                 for (i, j), est in zip(np.ndindex(len(numerators),
                                                                   len(denominators)),
                                                        estimates)])
        return design._add_design_columns(table, u, deff=deff, df=df)

    def quantile(self, var, q, *, ci: bool = True, level: float | None = None,
                 na_rm: bool = False, df: float | None = None) -> pd.DataFrame:
        """Design-based quantiles with Woodruff intervals, as R's ``svyquantile`` (survey >= 4.1
        defaults: ``qrule="math"``, ``interval.type="mean"``).

        The estimate of the q-th quantile is the smallest value x whose weighted share of
        rows at or below x is at least q (R's "math" rule: the inverse of the weighted
        empirical CDF; where the CDF equals q exactly, that value). The interval is
        Woodruff's (1952): the design-based interval of the CDF at the estimate, p̂ ± t SE(p̂)
        with the estimate's mean of 1{x <= quantile} and the t quantile on ``df`` degrees of
        freedom (default: the design df, R's ``degf``; ``df=np.inf`` for normal), mapped back
        through the same rule; a bound of the CDF interval below 0 or above 1 gives NaN. The
        standard error is the interval's width / (2 t), as R reports it. Calibrated designs
        use their calibration residuals for SE(p̂), as every estimator here.

        ``var``: a numeric column or list of columns; ``q``: a probability or a list of them;
        ``level``: the confidence level (default the design's). Returns columns: term, q,
        estimate, std_error, ci_low, ci_high, n, df (NaN for std_error, ci_* with ``ci=False``).

        Examples
        --------
        >>> import pandas as pd
        >>> data = pd.DataFrame({"minutes": [5, 10, 15, 20, 30, 45, 60, 90],
        ...                      "w": [1, 1, 1, 1, 2, 2, 1, 1]})
        >>> SurveyDesign(data, weights="w").quantile("minutes", [0.5, 0.9], ci=False)[
        ...     ["term", "q", "estimate"]]
              term    q  estimate
        0  minutes  0.5      30.0
        1  minutes  0.9      60.0
        """
        probabilities = np.atleast_1d(np.asarray(q, dtype=float))
        if probabilities.ndim != 1 or probabilities.size == 0 or \
                not ((probabilities >= 0) & (probabilities <= 1)).all():
            raise ValueError(f"q must be one or more probabilities in [0, 1], got {q!r}")
        level = self.level if level is None else float(level)
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, got {level!r}")
        design, y, terms, n = self._prepare(_as_list(var), na_rm, numeric_only=True,
                                            caller="SurveyDesign.quantile")
        dof = float(design.df if df is None else df)
        with np.errstate(invalid="ignore"):
            crit = (stats.norm.ppf(0.5 + level / 2) if np.isinf(dof)
                    else stats.t.ppf(0.5 + level / 2, dof))
        w = design.weights
        weight_sum = w.sum()
        if weight_sum <= 0:
            raise ValueError(f"no rows with positive weight in the domain for {_as_list(var)}")
        keep = w > 0
        rows = []
        for j, term in enumerate(terms):
            x = np.nan_to_num(y[:, j], nan=0.0)
            order = np.argsort(x[keep], kind="stable")
            sorted_x = x[keep][order]
            # R accumulates in long double; the same here so that ties with q fall alike
            cumulative = np.cumsum(w[keep][order].astype(np.longdouble)).astype(float)
            total = float(np.sum(w[keep].astype(np.longdouble)))
            estimates = np.array([_qrule_math(sorted_x, cumulative, total, p)
                                  for p in probabilities])
            low = high = std_error = np.full(probabilities.size, np.nan)
            if ci:
                below = (x[:, None] <= estimates[None, :]).astype(float)
                share = w @ below / weight_sum
                z = w[:, None] * (below - share) / weight_sum
                se_share = np.sqrt(np.clip(np.diag(design.vcov_estimating(z, np.ones(len(w)))),
                                           0.0, None))
                p_low, p_high = share - crit * se_share, share + crit * se_share
                low = np.array([np.nan if not (pl >= 0) else
                                _qrule_math(sorted_x, cumulative, total, pl) for pl in p_low])
                high = np.array([np.nan if not (ph <= 1) else
                                 _qrule_math(sorted_x, cumulative, total, ph) for ph in p_high])
                std_error = (high - low) / (2 * crit)
            for i, p in enumerate(probabilities):
                rows.append((term, p, estimates[i], std_error[i], low[i], high[i], n, dof))
        return pd.DataFrame(rows, columns=["term", "q", "estimate", "std_error", "ci_low",
                                           "ci_high", "n", "df"])

    def by(self, var, by, *, stat: str = "mean", na_rm: bool = False,
           deff: bool | str = False, df: bool = False) -> pd.DataFrame:
        """Domain estimates for each level (combination) of ``by`` present in the domain.

        Equivalent to ``subset`` on each level followed by ``stat`` (R's ``svyby``). Rows with
        a missing ``by`` value raise under ``na_rm=False`` and are left out under ``na_rm=True``.
        When no stage has a lonely unit, all levels are estimated together (the same numbers,
        ten times faster for hundreds of levels); otherwise one level at a time.
        Returns the ``by`` column(s), then term, estimate, std_error, ci_low, ci_high, n, then
        ``df`` (each level's own domain degrees of freedom) and ``deff, n_eff`` on request, as
        :meth:`mean`.

        Examples
        --------
        >>> import pandas as pd
        >>> data = pd.DataFrame({"stratum": [1, 1, 1, 1, 2, 2, 2, 2],
        ...                      "psu": [1, 1, 2, 2, 1, 1, 2, 2],
        ...                      "weight": [10, 10, 12, 12, 20, 20, 25, 25],
        ...                      "y": [1, 0, 1, 1, 0, 0, 1, 0]})
        >>> design = SurveyDesign(data, weights="weight", strata="stratum", psu="psu")
        >>> design.by("y", "stratum", df=True).round(3)  # doctest: +NORMALIZE_WHITESPACE
           stratum term  estimate  std_error  ci_low  ci_high  n  df
        0        1    y     0.773      0.248   0.287    1.259  4   1
        1        2    y     0.278      0.247  -0.206    0.762  4   1
        """
        if stat not in ("mean", "total"):
            raise ValueError(f"stat must be 'mean' or 'total', got {stat!r}")
        _check_deff(deff)
        by_columns = _as_list(by)
        require_columns(self.data, by_columns + _as_list(var), "SurveyDesign.by")
        keys = self.data[by_columns]
        missing = keys.isna().to_numpy() & self._domain[:, None]
        domain = self._domain
        if missing.any():
            if not na_rm:
                counts = ", ".join(f"{c!r} ({int(missing[:, i].sum())} rows)"
                                   for i, c in enumerate(by_columns) if missing[:, i].any())
                raise ValueError(f"by column(s) with missing values in the domain: {counts}; "
                                 "use na_rm=True to leave those rows out")
            domain = domain & ~missing.any(axis=1)
        level_codes = keys.groupby(by_columns, sort=True, observed=True, dropna=True).ngroup()
        level_codes = np.where(domain, level_codes.to_numpy(), -1)
        if self._variance_ignores_domain() and (level_codes >= 0).any():
            together = self._by_together(var, by_columns, keys, level_codes, stat, na_rm,
                                         deff=deff, df=df)
            if together is not None:
                return together
        results = []
        for code in np.unique(level_codes[level_codes >= 0]):
            in_level = level_codes == code
            sub = copy.copy(self)
            sub._set_domain(in_level)
            table = getattr(sub, stat)(var, na_rm=na_rm, deff=deff, df=df)
            first = np.flatnonzero(in_level)[0]
            for c in reversed(by_columns):
                table.insert(0, c, keys[c].iloc[first])
            results.append(table)
        if not results:
            extra = (["df"] if df else []) + (["deff", "n_eff"] if deff else [])
            return pd.DataFrame(columns=by_columns + ESTIMATE_COLUMNS + extra)
        return pd.concat(results, ignore_index=True)

    # Above this many cells (units x domains x variables) ``by`` estimates its domains one at a
    # time instead of together (the together path holds one dense array of that size).
    _BY_TOGETHER_MAX_CELLS = 20_000_000

    def _variance_ignores_domain(self) -> bool:
        """True when :meth:`vcov_totals` depends on the domain only through ``z``: no stage has a
        lonely unit, so the lonely-PSU rules (which look at the strata holding domain rows)
        never apply. Then every domain's variance can come from one pass over the units."""
        # A calibrated design's residuals reach rows outside the domain: one domain at a time.
        if self._adjustments:
            return False
        return not any(stage.lonely.any() for stage in self._stages)

    def _by_together(self, var, by_columns, keys, level_codes, stat, na_rm, *, deff, df):
        """``by`` for every level at once: the same estimates, linearised values and variances
        as subsetting each level (``_variance_ignores_domain`` must hold), with one weighted sum
        per level and one pass over the units for all the variances. None when the dense
        unit-by-domain array would be too large (the caller then goes level by level)."""
        levels, position = np.unique(level_codes[level_codes >= 0], return_inverse=True)
        n_units = self._stages[-1].n_clusters if self._row_to_unit is not None else len(self.data)
        in_levels = copy.copy(self)
        in_levels._set_domain(level_codes >= 0)
        design, y, terms, _ = in_levels._prepare(_as_list(var), na_rm)
        k = len(terms)
        if n_units * len(levels) * k > self._BY_TOGETHER_MAX_CELLS:
            return None
        rows = np.flatnonzero(design._domain)
        level_of_row = np.full(len(self.data), -1)
        level_of_row[level_codes >= 0] = position
        level = level_of_row[rows]
        w = design.weights[rows]
        y0 = np.nan_to_num(y[rows], nan=0.0)
        n = np.bincount(level, minlength=len(levels))
        sums = np.column_stack([np.bincount(level, weights=w * y0[:, j], minlength=len(levels))
                                for j in range(k)])
        if stat == "mean":
            weight_sums = np.bincount(level, weights=w, minlength=len(levels))
            if (weight_sums <= 0).any():
                raise ValueError(f"no rows with positive weight in the domain for {_as_list(var)}")
            estimate = sums / weight_sums[:, None]
            z = w[:, None] * (y0 - estimate[level]) / weight_sums[level, None]
            u = (y0 - estimate[level]) / weight_sums[level, None] if deff else None
        else:
            estimate = sums
            z = w[:, None] * y0
            u = y0
        # each row's values go to its own level's k columns of a (rows x levels*k) matrix
        columns = level[:, None] * k + np.arange(k)
        z_matrix = scipy.sparse.csr_matrix(
            (z.ravel(), columns.ravel(), np.arange(0, z.size + 1, k)),
            shape=(len(rows), len(levels) * k))
        if self._row_to_unit is None:
            totals = scipy.sparse.csr_matrix(
                (np.ones(len(rows)), (rows, np.arange(len(rows)))),
                shape=(len(self.data), len(rows))) @ z_matrix
        else:
            totals = self._row_to_unit[:, rows] @ z_matrix
        blocks = self._vcov_of_unit_totals(np.asarray(totals.todense()), block=k)
        variances = np.diagonal(blocks, axis1=1, axis2=2)       # levels x k
        table = self._table_of_variances(terms * len(levels), estimate.ravel(),
                                         variances.ravel(), np.repeat(n, k))
        if df:
            codes = np.full(len(self.data), -1, dtype=np.int64)
            codes[rows[w != 0]] = level[w != 0]
            table["df"] = np.repeat(self.domain_df(codes, len(levels)), k)
        if deff:
            without = self._srs_without_replacement(deff)
            vsrs = np.column_stack([_srs_variance(w, u[:, j], level, len(levels),
                                                  without_replacement=without)
                                    for j in range(k)])
            nobs = np.bincount(level, weights=(w != 0).astype(float), minlength=len(levels))
            _add_deff_columns(table, table["std_error"].to_numpy() ** 2, vsrs.ravel(),
                              np.repeat(nobs, k))
        codes, first = np.unique(level_codes, return_index=True)
        first = np.repeat(first[codes >= 0], k)                   # a row of each level
        for c in reversed(by_columns):
            table.insert(0, c, keys[c].iloc[first].to_numpy())
        return table

    def satterthwaite_df(self, z: np.ndarray) -> np.ndarray:
        """Satterthwaite degrees of freedom of the variance of each total ``sum_i z_i``.

        ``z``: (n,) or (n, k), weighted as for :meth:`vcov_totals`. The stage-1 variance is a
        sum over strata, V = sum_h V_h, each V_h estimated from its n_h PSUs with n_h - 1
        df; its df is (sum_h V_h)² / sum_h V_h² / (n_h - 1) (Satterthwaite 1946). With equal
        V_h this is the design df, PSUs minus strata; when a few strata carry most of the
        variance (a province against the nation that contains it) it approaches theirs, and
        it never exceeds the PSUs minus strata of the strata the total involves. Later
        stages' variance is ignored (it is small when first-stage sampling fractions are).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> data = pd.DataFrame({"stratum": [1, 1, 1, 2, 2, 2], "psu": [1, 2, 3, 4, 5, 6],
        ...                      "y": [1.0, 2.0, 3.0, 1.0, 1.1, 0.9]})
        >>> design = SurveyDesign(data, strata="stratum", psu="psu")
        >>> design.satterthwaite_df(data["y"].to_numpy()).round(3)
        array([2.04])
        """
        z = np.ascontiguousarray(z, dtype=float)
        if z.ndim == 1:
            z = z[:, None]
        if z.ndim != 2 or z.shape[0] != len(self.data):
            raise ValueError(f"z must have shape (n,) or (n, k) with n = {len(self.data)}, "
                             f"got {z.shape}")
        z = self._calibration_residuals(z)
        totals = z if self._row_to_unit is None else np.asarray(self._row_to_unit @ z)
        for s in range(len(self._stages) - 1, 0, -1):
            totals = np.asarray(self._stages[s].indicator @ totals)
        stage = self._stages[0]
        group_totals = np.asarray(stage.indicator @ totals)
        centre = group_totals / np.maximum(stage.n_sampled, 1)[:, None]
        unit_weight = np.where(stage.lonely[stage.group], 0.0,
                               (stage.scale * stage.ancestor_fraction)[stage.group])
        squares = (totals - centre[stage.group]) ** 2 * unit_weight[:, None]
        by_stratum = np.asarray(stage.indicator @ squares)            # (H, k): V_h
        d = (stage.n_sampled - 1).astype(float)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            denominator = np.where(d > 0, by_stratum ** 2 / np.where(d > 0, d, 1.0), 0.0).sum(0)
            return np.where(denominator > 0, by_stratum.sum(axis=0) ** 2 / denominator, np.nan)

    def domain_df(self, codes, n_domains: int) -> np.ndarray:
        """Design degrees of freedom of each of ``n_domains`` disjoint domains.

        ``codes``: int array (n,), each row's domain 0 .. n_domains - 1, or -1 for none. Only
        rows inside this design's domain with non-zero weight count. Domain d's df is the
        number of stage-1 PSUs holding its rows minus the number of strata holding them, as
        R's ``degf`` on ``subset(design, domain == d)`` (the ``df`` of ``subset``).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> data = pd.DataFrame({"stratum": [1, 1, 1, 2, 2, 2], "psu": [1, 2, 3, 1, 2, 2]})
        >>> design = SurveyDesign(data, strata="stratum", psu="psu")
        >>> design.domain_df(np.array([0, 0, 1, 0, 1, 1]), 2)
        array([1, 0])
        """
        codes = np.asarray(codes)
        if codes.shape != (len(self.data),):
            raise ValueError(f"codes must have shape ({len(self.data)},), got {codes.shape}")
        keep = (codes >= 0) & (self.weights != 0)
        group = codes[keep].astype(np.int64)
        if group.size and group.max() >= n_domains:
            raise ValueError(f"codes must be below n_domains = {n_domains}")
        psu = self._stages[0].cluster[keep]
        n_psu = _count_distinct(group, psu, n_domains)
        n_strata = _count_distinct(group, self._stages[0].group[psu], n_domains)
        return n_psu - n_strata

    # ------------------------------------------------------------------ tables and tests
    # Thin wrappers of module ``design_tests`` (its docstrings have the methods and references).
    def table(self, row: str, col: str, *, proportions: str | None = None,
              n_total: float | None = None, na_rm: bool = True) -> pd.DataFrame:
        """Weighted two-way table of ``row`` by ``col`` (R's ``svytable``):
        :func:`sipas_analysis.design_tests.svytable`."""
        return design_tests.svytable(self, row, col, proportions=proportions,
                                     n_total=n_total, na_rm=na_rm)

    def chisq(self, row: str, col: str, *, statistic: str = "F", na_rm: bool = True):
        """Rao–Scott (default ``"F"``), ``"Chisq"``, ``"Wald"`` or ``"adjWald"`` test of
        independence (R's ``svychisq``): :func:`sipas_analysis.design_tests.svychisq`."""
        return design_tests.svychisq(self, row, col, statistic=statistic, na_rm=na_rm)

    def ttest(self, var: str, group: str | None = None, *, mu: float = 0.0,
              level: float | None = None, na_rm: bool = False):
        """Design-based t test of two domain means, or of one mean (R's ``svyttest``):
        :func:`sipas_analysis.design_tests.svyttest`."""
        return design_tests.svyttest(self, var, group, mu=mu, level=level, na_rm=na_rm)

    def domain_estimates(self, var, by=None, *, stat: str = "mean", na_rm: bool = False):
        """Domain means or totals with their full covariance (R's ``svyby(covmat=TRUE)``):
        :func:`sipas_analysis.design_tests.domain_estimates`; ``.contrast()`` on the result is
        R's ``svycontrast``."""
        return design_tests.domain_estimates(self, var, by, stat=stat, na_rm=na_rm)

    # ------------------------------------------------------------------ helpers
    def _prepare(self, names: list[str], na_rm: bool, numeric_only: bool = False, *,
                 caller: str = "SurveyDesign"):
        """Design matrix (NaN = missing) and the design restricted to complete domain rows."""
        require_columns(self.data, names, caller)
        if not names:
            raise ValueError("give at least one variable")
        blocks, terms, missing_by_var = [], [], {}
        for name in names:
            column = self.data[name]
            missing = column.isna().to_numpy()
            if _is_categorical(column):
                if numeric_only:
                    raise TypeError(f"variable {name!r} must be numeric, got dtype {column.dtype}")
                if isinstance(column.dtype, pd.CategoricalDtype):
                    levels = list(column.cat.categories)
                else:
                    levels = sorted(column.dropna().unique())
                codes = pd.Categorical(column, categories=levels).codes
                block = (codes[:, None] == np.arange(len(levels))).astype(float)
                block[missing] = np.nan
                terms += [f"{name}[{level}]" for level in levels]
            else:
                block = column.to_numpy(dtype=float, na_value=np.nan)[:, None]
                missing = missing | np.isnan(block[:, 0])
                terms.append(name)
            blocks.append(block)
            missing_by_var[name] = missing
        y = np.column_stack(blocks)
        any_missing = np.zeros(len(self.data), dtype=bool)
        for m in missing_by_var.values():
            any_missing |= m
        in_domain_missing = any_missing & self._domain
        design = self
        if in_domain_missing.any():
            if not na_rm:
                counts = ", ".join(f"{name!r} ({int((m & self._domain).sum())} rows)"
                                   for name, m in missing_by_var.items()
                                   if (m & self._domain).any())
                raise ValueError(f"missing values in the domain: {counts}; use na_rm=True to "
                                 "treat those rows as outside the domain")
            design = copy.copy(self)
            design._set_domain(self._domain & ~any_missing)
        n = int(design._domain.sum())
        return design, y, terms, n

    def _table(self, terms, estimate, vcov, n) -> pd.DataFrame:
        return self._table_of_variances(terms, estimate, np.diag(vcov), n)

    def _srs_without_replacement(self, deff) -> bool:
        """Whether the design effect compares with SRS without replacement (module docstring):
        only for ``deff=True`` on a design with a declared fpc."""
        return deff != "replace" and bool(deff) and bool(self.fpc_columns)

    def _add_design_columns(self, table, u, *, deff, df) -> pd.DataFrame:
        """Append ``df`` and ``deff, n_eff`` to an estimate table of this (domain) design.

        ``u``: (n, k) unweighted linearised values of the k estimates (the estimate's error is
        the total of ``weights * u``)."""
        _check_deff(deff)
        if df:
            table["df"] = self.df
        if deff:
            u = np.asarray(u, dtype=float).reshape(len(self.data), -1)
            w = self.weights
            one_group = np.zeros(len(w), dtype=np.int64)
            without = self._srs_without_replacement(deff)
            vsrs = np.array([_srs_variance(w, u[:, j], one_group, 1,
                                           without_replacement=without)[0]
                             for j in range(u.shape[1])])
            _add_deff_columns(table, table["std_error"].to_numpy(dtype=float) ** 2, vsrs,
                              float((w != 0).sum()))
        return table

    def _table_of_variances(self, terms, estimate, variance, n) -> pd.DataFrame:
        estimate = np.asarray(estimate, dtype=float)
        std_error = np.sqrt(np.clip(variance, 0.0, None))
        std_error = np.where(np.isnan(variance), np.nan, std_error)
        quantile = stats.norm.ppf(0.5 + self.level / 2)
        return pd.DataFrame({
            "term": terms,
            "estimate": estimate,
            "std_error": std_error,
            "ci_low": estimate - quantile * std_error,
            "ci_high": estimate + quantile * std_error,
            "n": n,
        })

    def __repr__(self) -> str:
        stages = len(self._stages)
        return (f"SurveyDesign(rows={len(self.data)}, in domain={int(self._domain.sum())}, "
                f"strata={self.n_strata}, psu={self.n_psu}, stages={stages}, "
                f"fpc={'yes' if self.fpc_columns else 'no'}, lonely_psu={self.lonely_psu!r})")


def _qrule_math(sorted_x: np.ndarray, cumulative: np.ndarray, total: float, p: float) -> float:
    """R's ``qrule_math`` on values sorted ascending with their cumulative weights: the value
    where the weighted CDF first reaches p (R's ``qs``: the last position with cumulative
    weight <= p * total, or the next one when the CDF there is below p)."""
    position = max(int(np.searchsorted(cumulative, p * total, side="right")) - 1, 0)
    following = min(position + 1, sorted_x.size - 1)
    return float(sorted_x[position] if p - cumulative[position] / total == 0
                 else sorted_x[following])


def _check_deff(deff) -> None:
    if deff not in (False, True, "replace"):
        raise ValueError(f"deff must be False, True or 'replace', got {deff!r}")


def _count_distinct(group: np.ndarray, value: np.ndarray, n_groups: int) -> np.ndarray:
    """Number of distinct ``value`` in each group 0..n_groups-1."""
    if group.size == 0:
        return np.zeros(n_groups, dtype=np.int64)
    pairs = np.unique(group.astype(np.int64) * (int(value.max()) + 1) + value)
    return np.bincount(pairs // (int(value.max()) + 1), minlength=n_groups)


def _srs_variance(w: np.ndarray, u: np.ndarray, group: np.ndarray, n_groups: int, *,
                  without_replacement: bool) -> np.ndarray:
    """Variance of each group's estimate under simple random sampling of the same size.

    As R's ``svymean``/``svytotal``/``svyratio`` ``deff``: over the nobs rows of the group with
    non-zero weight (W their weight sum), s2 = nobs/(nobs-1) sum w (u - ubar)^2 / W (R's
    ``svyvar``, Kish's n-1 divisor) of the linearised value u, and the SRS variance of the total
    of w u is W^2 s2 / nobs (with replacement, R's ``deff="replace"``), times (1 - nobs/W)
    without replacement (R's ``deff=TRUE``). Where W <= nobs the weights carry no population
    size and the with-replacement form is used (R returns NA). Rows outside every group carry
    w = 0.
    """
    active = (w != 0).astype(float)
    nobs = np.bincount(group, weights=active, minlength=n_groups)
    big_w = np.bincount(group, weights=w, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(group, weights=w * u, minlength=n_groups) / big_w
        sum_sq = np.bincount(group, weights=w * (u - mean[group]) ** 2, minlength=n_groups)
        s2 = nobs / (nobs - 1) * sum_sq / big_w
        vsrs = big_w**2 * s2 / nobs
        if without_replacement:
            vsrs = np.where(big_w > nobs, vsrs * (1.0 - nobs / big_w), vsrs)
    return vsrs


def _add_deff_columns(table: pd.DataFrame, variance, vsrs, nobs) -> None:
    """``deff`` = design variance / SRS variance and ``n_eff`` = nobs / deff, in place."""
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = np.where(vsrs > 0, np.asarray(variance, dtype=float) / vsrs, np.nan)
        table["deff"] = deff
        table["n_eff"] = np.asarray(nobs, dtype=float) / deff


def _indicator(codes: np.ndarray, n_groups: int) -> scipy.sparse.csc_matrix:
    """Sparse (n_groups x m) 0/1 matrix: ``indicator @ values`` sums rows within ``codes``.

    CSC, because its product with a C-ordered (m x k) array walks the rows of ``values`` once
    (several times faster than CSR here).
    """
    return scipy.sparse.csc_matrix((np.ones(codes.size), (codes, np.arange(codes.size))),
                                   shape=(n_groups, codes.size))


# ---------------------------------------------------------------------------------------------
# Replicate-weight designs
# ---------------------------------------------------------------------------------------------

REPLICATE_METHODS = ("JK1", "JKn", "BRR", "Fay", "bootstrap", "other")


def _sylvester_hadamard(order: int) -> np.ndarray:
    """0/1 Hadamard matrix of the smallest power-of-2 order >= ``order`` (Sylvester's
    doubling, R's ``hadamard`` for those sizes: [[H, H], [H, 1 - H]] from [[1]])."""
    h = np.ones((1, 1))
    while h.shape[0] < order:
        h = np.block([[h, h], [h, 1.0 - h]])
    return h


def _replicate_columns(data: pd.DataFrame, repweights) -> list[str]:
    """The replicate-weight columns: a list of names, or a regular expression (or prefix)
    matched at the start of the column names, as R's ``svrepdesign(repweights="repw[0-9]+")``."""
    import re
    if isinstance(repweights, str):
        pattern = re.compile(repweights)
        columns = [c for c in data.columns if isinstance(c, str) and pattern.match(c)]
        if not columns:
            raise ValueError(f"ReplicateDesign: no column of the data matches repweights="
                             f"{repweights!r}")
        return columns
    columns = list(repweights)
    if not columns:
        raise ValueError("ReplicateDesign: repweights names no column")
    require_columns(data, columns, "ReplicateDesign")
    return columns


class ReplicateDesign(SurveyDesign):
    """A survey design whose variances come from replicate weights (R's ``svrepdesign``).

    Made by :meth:`SurveyDesign.as_replicate` (jackknife, BRR/Fay or bootstrap replicates of
    a design's stage-1 PSUs) or directly from replicate weights delivered with the data:

    ``ReplicateDesign(data, repweights=..., weights=..., method=..., scale=..., rscales=...,
    mse=False)``. ``repweights``: a list of columns or a regular expression matched at the
    start of column names (``"repw[0-9]+"``); ``weights``: the full-sample weights (None:
    1); ``combined_weights=True`` (R's default): the columns are the replicate weights
    themselves, False: factors multiplying ``weights``. ``method``: "JK1", "JKn", "BRR",
    "Fay", "bootstrap" or "other"; it sets ``scale`` when not given as R's ``svrepdesign``
    does (JK1 (R-1)/R, BRR 1/R, Fay 1/(R (1-fay_rho)^2), bootstrap 1/(R-1)); "JKn" and
    "other" need ``scale`` (default 1) and ``rscales`` (default 1 per replicate).

    Estimates: every estimator of :class:`SurveyDesign` (``mean``, ``total``, ``ratio``,
    ``by``, ``subset``, ``quantile``), the SIPAS indices (``sipas_index``,
    ``sipas_index_vcov``, ``compare_indices``, ``rank_units(design=...)``), the models
    (``fit_linear``, ``fit_logit``, ``fit_ordinal``) and, on bootstrap replicates, the
    percentile intervals of ``relative_importance``. Each statistic theta is
    recomputed with every replicate's weights and its variance is

        scale * sum_r rscales_r * (theta_r - c)^2,

    c the mean of the replicates (``mse=False``, R's default) or the full-sample estimate
    (``mse=True``). Ratios, means and the SIPAS indices (linear combinations of ratios) are
    recomputed exactly, and so are index comparisons and the covariance of units' indices
    behind rank sets; models are refitted in every replicate (:meth:`vcov_refit`,
    :meth:`vcov_m_estimator`); statistics given only by influence values (``vcov_totals``)
    use replicate totals of those values. The design degrees of
    freedom ``df`` are the rank of the replicate weights minus 1 (R's ``degf``), the same for
    every domain. Calibration (``post_stratify``, ``rake``, ``calibrate``, ``trim_weights``)
    redoes the calibration in every replicate, as R's methods for replicate designs.

    Attributes: ``n_reps`` (replicates), ``scale``, ``rscales``, ``mse``, ``method``, and
    :meth:`replicate_weights` (n x n_reps).

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"y": [1.0, 2.0, 4.0, 7.0], "w": [2.0, 2.0, 2.0, 2.0],
    ...                      "rep1": [0, 8/3, 8/3, 8/3], "rep2": [8/3, 0, 8/3, 8/3],
    ...                      "rep3": [8/3, 8/3, 0, 8/3], "rep4": [8/3, 8/3, 8/3, 0]})
    >>> jk = ReplicateDesign(data, repweights="rep[0-9]+", weights="w", method="JK1")
    >>> jk
    ReplicateDesign(rows=4, in domain=4, method='JK1', replicates=4, df=3)
    >>> jk.mean("y").round(4)[["term", "estimate", "std_error"]]
      term  estimate  std_error
    0    y       3.5     1.3229
    """

    def __init__(self, data: pd.DataFrame, *, repweights, weights: str | None = None,
                 method: str = "other", scale: float | None = None, rscales=None,
                 mse: bool = False, combined_weights: bool = True, fay_rho: float = 0.5,
                 level: float = 0.95):
        if method not in REPLICATE_METHODS:
            raise ValueError(f"method must be one of {REPLICATE_METHODS}, got {method!r}")
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        columns = _replicate_columns(data, repweights)
        problems = []
        for c in columns:
            if not pd.api.types.is_numeric_dtype(data[c]):
                problems.append(f"{c!r} is not numeric (dtype {data[c].dtype})")
                continue
            v = data[c].to_numpy(dtype=float, na_value=np.nan)
            bad = np.isnan(v) | (v < 0) | np.isinf(v)
            if bad.any():
                problems.append(f"{c!r} has {int(bad.sum())} missing, negative or infinite "
                                f"value(s) (rows {_first_rows(bad)})")
        if problems:
            raise ValueError("ReplicateDesign: invalid replicate weights: " + "; ".join(problems))
        super().__init__(data, weights=weights, level=level)
        factors = data[columns].to_numpy(dtype=float)
        if not combined_weights:
            factors = factors * self._base_weights[:, None]
        n_reps = factors.shape[1]
        if method == "JKn" and rscales is None:
            raise ValueError("ReplicateDesign: method='JKn' needs rscales ((n_h - 1) / n_h of "
                             "each replicate's stratum)")
        default_scale = {"JK1": (n_reps - 1) / n_reps, "BRR": 1.0 / n_reps,
                         "Fay": 1.0 / (n_reps * (1.0 - fay_rho) ** 2),
                         "bootstrap": 1.0 / max(n_reps - 1, 1)}.get(method, 1.0)
        self._set_replicates(np.arange(len(data)), factors, np.ones(len(data)),
                             method=method, scale=default_scale if scale is None else scale,
                             rscales=rscales, mse=mse)
        self.repweights_columns = columns

    # ------------------------------------------------------------------ structure
    def _set_replicates(self, cluster, factors, base, *, method, scale, rscales, mse):
        """Replicate r's weight of row i is base[i] * factors[cluster[i], r] (rows outside
        the domain: 0). Jackknife and bootstrap replicates of PSUs need only a factor per PSU,
        which keeps a 500-replicate design of 1,000,000 rows small."""
        factors = np.asarray(factors, dtype=float)
        n_reps = factors.shape[1]
        rscales = np.ones(n_reps) if rscales is None else \
            np.broadcast_to(np.asarray(rscales, dtype=float), (n_reps,)).copy()
        if not (np.isfinite(scale) and scale >= 0) or not (np.isfinite(rscales).all()
                                                           and (rscales >= 0).all()):
            raise ValueError(f"ReplicateDesign: scale and rscales must be finite and >= 0, "
                             f"got scale={scale!r}")
        self._rep_cluster = np.asarray(cluster, dtype=np.int64)
        self._rep_factors = factors
        self._rep_base = np.asarray(base, dtype=float)
        self.method = method
        self.scale = float(scale)
        self.rscales = rscales
        self.mse = bool(mse)
        self.n_reps = int(n_reps)
        used = np.unique(self._rep_cluster[self._base_weights > 0])
        self._rep_df = _rank(factors[used]) - 1 if used.size else 0
        self._set_domain(self._domain)

    def _set_domain(self, domain: np.ndarray) -> None:
        super()._set_domain(domain)
        if hasattr(self, "_rep_df"):
            self.df = self._rep_df

    def replicate_weights(self) -> np.ndarray:
        """The (n, n_reps) replicate weights (zero outside the domain)."""
        return (self._rep_base * self._domain)[:, None] * self._rep_factors[self._rep_cluster]

    def _replicate_sums(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(n_reps, k): sum over ``rows`` of replicate weight x value, for x (len(rows), k):
        one sum per cluster, then one matrix product with the factors."""
        v = (self._rep_base[rows] * self._domain[rows])[:, None] * x
        cluster = self._rep_cluster[rows]
        if self._rep_factors.shape[0] == len(self.data):      # a factor for every row
            return self._rep_factors[cluster].T @ v
        used, position = np.unique(cluster, return_inverse=True)
        sums = np.asarray(_indicator(position, used.size) @ v)
        # einsum, not BLAS: these products are small and many (one per domain), where a
        # threaded BLAS call costs more than it saves on a busy machine
        return np.einsum("cr,ck->rk", self._rep_factors[used], sums)

    def _replicate_variance(self, deviation: np.ndarray) -> np.ndarray:
        """scale * sum_r rscales_r (theta_r - c)(theta_r - c)' from theta_r - theta (R's
        ``svrVar``: c the mean of the replicates of positive rscale unless ``mse``)."""
        if not self.mse:
            keep = self.rscales > 0
            deviation = deviation - deviation[keep].mean(axis=0) if keep.any() else deviation
        return self.scale * (deviation * self.rscales[:, None]).T @ deviation

    # ------------------------------------------------------------------ variance
    def vcov_estimating(self, z: np.ndarray, jacobian: np.ndarray | None = None, *,
                        rows: np.ndarray | None = None) -> np.ndarray:
        """Replicate covariance of estimates given by their estimating functions (see
        :meth:`SurveyDesign.vcov_estimating`): theta_r - theta = sum(w_r psi) / sum(w_r d),
        or sum(w_r u) - sum(w u) for a linear statistic (``jacobian`` None)."""
        z = np.asarray(z, dtype=float)
        if z.ndim == 1:
            z = z[:, None]
        if z.shape[0] != len(self.data):
            raise ValueError(f"z must have shape (n,) or (n, k) with n = {len(self.data)}, "
                             f"got {z.shape}")
        compact_jacobian = rows is not None
        if rows is None:
            rows = np.flatnonzero(self.weights > 0)
        rows = np.asarray(rows)
        w = self.weights[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(w[:, None] > 0, z[rows] / w[:, None], 0.0)
        replicate = self._replicate_sums(u, rows)
        if jacobian is None:
            deviation = replicate - w @ u
        else:
            d = np.asarray(jacobian, dtype=float)
            if d.ndim == 1:
                d = d[:, None]
            if not compact_jacobian:
                d = d[rows]
            d = np.broadcast_to(d, u.shape)
            full = w @ d
            with np.errstate(divide="ignore", invalid="ignore"):
                denominator = self._replicate_sums(d, rows) / np.where(full != 0, full, np.nan)
                deviation = np.where(denominator != 0, replicate / denominator, np.nan)
        return self._replicate_variance(deviation)

    def vcov_m_estimator(self, scores: np.ndarray, information: np.ndarray) -> np.ndarray:
        """Replicate covariance of a model's coefficients from a Newton step in every
        replicate: theta_r - theta = A_r^-1 sum_i w_ri U_i(theta), A_r = sum_i w_ri h_i h_i'.

        ``scores``: (n, p) weighted scores w_i U_i at the fit (zero on rows not used);
        ``information``: (n, p) rows h_i whose outer products are the unweighted information
        of each row (X for a linear model, X sqrt(mu (1 - mu)) for a logit). Exact for a
        linear model (R's ``svyglm`` refit in each replicate); for a logit the step from the
        full-sample fit differs from a refit by terms of second order.
        """
        scores = np.asarray(scores, dtype=float)
        h = np.asarray(information, dtype=float)
        rows = np.flatnonzero(self.weights > 0)
        w = self.weights[rows]
        p = scores.shape[1]
        gradient = self._replicate_sums(scores[rows] / w[:, None], rows)          # (R, p)
        outer = (h[rows, :, None] * h[rows, None, :]).reshape(len(rows), p * p)
        bread = self._replicate_sums(outer, rows).reshape(-1, p, p)               # (R, p, p)
        deviation = np.linalg.solve(bread, gradient[:, :, None])[:, :, 0]
        return self._replicate_variance(deviation)

    def vcov_refit(self, fit, estimate: np.ndarray, rows: np.ndarray, *,
                   fit_all=None) -> np.ndarray:
        """Replicate covariance of an estimate refitted with every replicate's weights (R's
        ``svyglm`` on a replicate design): ``fit(weights)`` returns the estimate from the
        weights of ``rows``; ``estimate`` is the full-sample one. ``fit_all(weights)``, when
        given, fits the columns of an (len(rows), n_reps) weight matrix at once, returning
        (n_reps, k) estimates with a row of NaN where it could not; those replicates are
        refitted one at a time by ``fit`` (whose error then names the replicate)."""
        reps = self.replicate_weights()[rows]
        deviation = np.full((self.n_reps, np.size(estimate)), np.nan)
        if fit_all is not None:
            deviation[:] = np.asarray(fit_all(reps), dtype=float) - estimate
        for r in np.flatnonzero(~np.isfinite(deviation).all(axis=1)):
            try:
                deviation[r] = np.asarray(fit(reps[:, r]), dtype=float) - estimate
            except (ValueError, RuntimeError) as error:
                raise type(error)(f"replicate {r + 1} of {self.n_reps}: {error}") from None
        return self._replicate_variance(deviation)

    def vcov_totals(self, z: np.ndarray) -> np.ndarray:
        """Replicate covariance of the totals sum_i z_i (z weighted by the full-sample
        weights, zero outside the domain): the totals of z_i / w_i with every replicate's
        weights."""
        return self.vcov_estimating(z)

    def satterthwaite_df(self, z: np.ndarray) -> np.ndarray:
        """The design df (rank of the replicate weights - 1) for every column of ``z``."""
        z = np.asarray(z)
        k = 1 if z.ndim == 1 else z.shape[1]
        return np.full(k, float(self.df))

    def domain_df(self, codes, n_domains: int) -> np.ndarray:
        """The design df for every domain (R's ``degf`` of a replicate design does not change
        with the domain)."""
        return np.full(int(n_domains), self.df, dtype=np.int64)

    def _variance_ignores_domain(self) -> bool:
        return False   # ``by`` estimates one domain at a time from the replicates

    def bootstrap_factors(self, *, n_reps: int, seed: Seed) -> np.ndarray:
        raise TypeError("a ReplicateDesign carries its own replicates (replicate_weights()); "
                        "a Rao–Wu bootstrap of PSUs (relative_importance's n_reps) needs the "
                        "SurveyDesign it was made from")

    def as_replicate(self, *args, **kwargs):
        raise TypeError("this design already has replicate weights")

    # ------------------------------------------------------------------ calibration
    def _with_replicates(self, new: "SurveyDesign", replicate_weights: np.ndarray):
        """``new`` (the full-sample calibration of this design) with recalibrated replicate
        weights (n x n_reps, one factor per row from now on)."""
        new._set_replicates(np.arange(len(self.data)), replicate_weights,
                            np.ones(len(self.data)), method=self.method, scale=self.scale,
                            rscales=self.rscales, mse=self.mse)
        return new

    def post_stratify(self, by, population) -> "ReplicateDesign":
        """As :meth:`SurveyDesign.post_stratify`, and every replicate post-stratified to the
        same totals (R's ``postStratify`` on a replicate design)."""
        new = super().post_stratify(by, population)
        active = self.weights > 0
        codes, keys = weighting.cell_codes(self.data, _as_list(by), active, "post_stratify")
        targets = np.bincount(codes[active], weights=new.weights[active], minlength=len(keys))
        reps = self.replicate_weights()
        return self._with_replicates(new, _post_stratify_matrix(reps, codes, active, targets))

    def rake(self, margins, *, epsilon: float = 1e-10, max_iter: int = 100
             ) -> "ReplicateDesign":
        """As :meth:`SurveyDesign.rake`, and every replicate raked to the same margins with
        the same number of sweeps as the full sample (R's ``rake`` on a replicate design)."""
        new = super().rake(margins, epsilon=epsilon, max_iter=max_iter)
        sweeps = new.weighting_steps[-1].iterations
        active = self.weights > 0
        margin_codes = []
        for key, population in margins.items():
            cols = list(key) if isinstance(key, tuple) else [key]
            codes, keys = weighting.cell_codes(self.data, cols, active, "rake")
            totals = weighting.parse_totals(population, cols, f"rake margin {cols}")
            sums = np.bincount(codes[active], weights=self.weights[active], minlength=len(keys))
            targets = weighting.match_totals(keys, sums, totals, cols, "rake")
            margin_codes.append((codes, targets))
        reps = self.replicate_weights()
        for _ in range(max(sweeps, 1)):
            for codes, targets in margin_codes:
                reps = _post_stratify_matrix(reps, codes, active, targets)
        return self._with_replicates(new, reps)

    def calibrate(self, formula: str, population, *, calfun: str = "linear", bounds=None,
                  variance=None, epsilon: float = 1e-7,
                  max_iter: int = 50) -> "ReplicateDesign":
        """As :meth:`SurveyDesign.calibrate`, and every replicate calibrated to the same
        totals with the same distance and bounds (R's ``calibrate`` on a replicate design)."""
        new = super().calibrate(formula, population, calfun=calfun, bounds=bounds,
                                variance=variance, epsilon=epsilon, max_iter=max_iter)
        names, mm = self._model_matrix(formula, "calibrate")
        target = weighting.match_population_vector(population, names, "calibrate")
        keep = ~((target == 0) & np.all(mm == 0, axis=0))     # as the full-sample calibration
        mm, target, names = mm[:, keep], target[keep], [n for n, k in zip(names, keep) if k]
        sigma2 = self._calibration_variance(variance, mm, names, "calibrate")
        lower, upper = (-np.inf, np.inf) if bounds is None else map(float, bounds)
        reps = self.replicate_weights()
        out = np.empty_like(reps)
        for r in range(reps.shape[1]):
            ww = reps[:, r]
            if calfun == "linear" and not (np.isfinite(lower) or np.isfinite(upper)):
                g = weighting.linear_g(mm, ww, target, names, f"calibrate (replicate {r + 1})",
                                       sigma2)
            else:
                g, _, misfit = weighting.grake(mm, ww, calfun, lower, upper, target,
                                               epsilon=epsilon, max_iter=int(max_iter),
                                               sigma2=sigma2)
                if not np.all(misfit < epsilon):
                    raise ValueError(f"calibrate: replicate {r + 1} did not converge with "
                                     f"calfun={calfun!r} and bounds {bounds!r}")
            out[:, r] = ww * g
        return self._with_replicates(new, out)

    def trim_weights(self, lower: float = -np.inf, upper: float = np.inf, *,
                     strict: bool = False) -> "ReplicateDesign":
        """As :meth:`SurveyDesign.trim_weights`, every replicate trimmed the same way (R's
        ``trimWeights`` on a replicate design)."""
        new = super().trim_weights(lower, upper, strict=strict)
        reps = self.replicate_weights()
        for r in range(reps.shape[1]):
            reps[:, r] = weighting.trim_weights(reps[:, r], lower, upper, strict=strict)[0]
        return self._with_replicates(new, reps)

    def __repr__(self) -> str:
        return (f"ReplicateDesign(rows={len(self.data)}, in domain={int(self._domain.sum())}, "
                f"method={self.method!r}, replicates={self.n_reps}, df={self.df})")


def _rank(matrix: np.ndarray) -> int:
    """Rank of a (rows x replicates) matrix from its Gram matrix over the smaller dimension:
    an eigen-decomposition of min(rows, R) squared instead of an SVD of the whole matrix (R's
    ``degf``, a QR rank with tolerance 1e-5: the Gram's eigenvalues above 1e-10 of the
    largest)."""
    def gram_rank(m):
        gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
        eigen = np.linalg.eigvalsh(gram)
        return int((eigen > 1e-10 * eigen.max()).sum()) if eigen.size and eigen.max() > 0 else 0

    rows, columns = matrix.shape
    if rows > 4 * columns:
        # many PSUs, few replicates (a bootstrap): rows of full column rank already prove the
        # rank, at a fraction of the cost; the whole matrix only when they fall short
        picked = np.linspace(0, rows - 1, 2 * columns).astype(np.int64)
        if gram_rank(matrix[picked]) == columns:
            return columns
    return gram_rank(matrix)


def _post_stratify_matrix(reps: np.ndarray, codes: np.ndarray, active: np.ndarray,
                          targets: np.ndarray) -> np.ndarray:
    """Every column of ``reps`` times target / its weighted count of the row's cell."""
    rows = np.flatnonzero(active)
    sums = np.asarray(_indicator(codes[rows], len(targets)) @ reps[rows])
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(sums > 0, targets[:, None] / sums, 0.0)
    out = reps.copy()
    out[rows] = reps[rows] * factor[codes[rows]]
    return out


# --------------------------------------------------------------------------------------------
# A survey read through a codebook: its design and the codebook's weighting step
# --------------------------------------------------------------------------------------------

WEIGHTING_METHODS = ("rake", "post_stratify", "linear", "raking", "logit")


def design_for(survey: pd.DataFrame, codebook=None, *, lonely_psu: str = "fail",
               base_dir=None) -> "SurveyDesign":
    """The design of a survey in the contract's columns (``weight``, ``stratum``, ``psu``),
    then the codebook's ``weighting:`` step when it has one.

    ``weighting: {margins: FILE, method: rake, bounds: [0.3, 3], by: unit}``: ``margins`` is a
    CSV or Excel file (relative to the codebook's folder, or ``base_dir``) with the columns
    ``variable``, ``level``, ``total`` and, with ``by``, the ``by`` column(s): population totals
    of each level of each variable (within each ``by`` group). ``method``: ``rake`` (default;
    :meth:`SurveyDesign.rake`), ``post_stratify`` (one variable, or several crossed: the
    margins then hold every cell, ``level`` as ``a|b``), or a calibration distance
    ``linear`` / ``raking`` / ``logit`` (:meth:`SurveyDesign.calibrate` on the variables' main
    effects; no ``by``); ``bounds``: (lower, upper) on g = new weight / old weight, for the
    calibration distances (``raking`` is raking with bounds). Margins whose levels or totals
    do not fit the data are refused by those methods, naming the cell.
    """
    spec = getattr(codebook, "weighting", None) or {}
    if not spec:
        return SurveyDesign(survey, weights="weight", strata="stratum", psu="psu",
                            lonely_psu=lonely_psu)
    from pathlib import Path
    where = f"codebook {codebook.source}" if getattr(codebook, "source", None) else "codebook"
    method = spec.get("method", "rake")
    if method not in WEIGHTING_METHODS:
        raise ValueError(f"{where}: weighting.method must be one of {WEIGHTING_METHODS}, got "
                         f"{method!r}")
    if "margins" not in spec:
        raise ValueError(f"{where}: weighting needs margins: a file of population totals")
    folder = Path(base_dir) if base_dir is not None else (
        Path(codebook.source).parent if getattr(codebook, "source", None) else Path.cwd())
    path = folder / str(spec["margins"])
    if not path.exists():
        raise FileNotFoundError(f"{where}: no such margins file: {path}")
    margins = (pd.read_excel(path, dtype={"level": str}) if path.suffix.lower() in
               (".xlsx", ".xlsm", ".xls") else pd.read_csv(path, dtype={"level": str}))
    by = _as_list(spec.get("by"))
    require_columns(margins, by + ["variable", "level", "total"], f"{where}: weighting",
                    table_name=f"the margins file {path.name}")
    missing = sorted(set(margins["variable"]) - set(survey.columns))
    if missing:
        raise ValueError(f"{where}: the margins file names variables the survey does not "
                         f"have: {missing}")
    data = survey.copy()
    for column in by + list(margins["variable"].unique()):
        data[column] = data[column].astype("string").astype(object)   # levels as text
    design = SurveyDesign(data, weights="weight", strata="stratum", psu="psu",
                          lonely_psu=lonely_psu)
    for column in by:
        margins[column] = margins[column].astype(str)
    tables = {v: rows.rename(columns={"level": v})[by + [v, "total"]]
              for v, rows in margins.groupby("variable", sort=False)}
    if spec.get("bounds") is not None and method in ("rake", "post_stratify"):
        raise ValueError(f"{where}: weighting.bounds applies to a calibration distance; for "
                         "raking with bounds write method: raking")
    if method == "rake":
        return _from_margins(design.rake({tuple(by + [v]) if by else v: t
                                          for v, t in tables.items()}), path.name, by)
    if method == "post_stratify":
        if len(tables) != 1:
            raise ValueError(f"{where}: post_stratify takes one variable's cells; the margins "
                             f"give {list(tables)} (rake them instead)")
        (variable, table), = tables.items()
        return _from_margins(design.post_stratify(by + [variable], table), path.name, by)
    if by:
        raise ValueError(f"{where}: a calibration ({method}) takes national margins; use "
                         "method: rake for margins within groups")
    population = {"Intercept": float(next(iter(tables.values()))["total"].sum())}
    for variable, table in tables.items():
        levels = sorted(table[variable])
        for level, total in zip(table[variable], table["total"]):
            if level != levels[0]:
                population[f"{variable}[T.{level}]"] = float(total)
    formula = "~ " + " + ".join(tables)
    return _from_margins(design.calibrate(formula, population, calfun=method,
                                          bounds=spec.get("bounds")), path.name, by)


def _from_margins(design: "SurveyDesign", margins: str, by: list) -> "SurveyDesign":
    """``design`` whose last weighting step records the margins file it came from and the
    groups its margins hold within (for the method sentence of reports)."""
    import dataclasses
    *earlier, last = design.weighting_steps
    design.weighting_steps = (*earlier, dataclasses.replace(last, margins=margins,
                                                            by=tuple(by)))
    return design
