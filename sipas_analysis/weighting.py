"""Calibration of survey weights: post-stratification, raking, GREG calibration, trimming.

The numerical side of :meth:`SurveyDesign.post_stratify`, :meth:`~SurveyDesign.rake`,
:meth:`~SurveyDesign.calibrate` and :meth:`~SurveyDesign.trim_weights` (``design.py`` wraps
these functions into new designs). Each follows R's ``survey`` package (Lumley), function by
function, so that estimates and standard errors agree with it:

- post-stratification (R's ``postStratify``): every cell's weights are multiplied by
  population count / weighted sample count;
- raking (R's ``rake``): post-stratification on each margin in turn until a full sweep
  changes no cell of the cross-classification of the margins' columns by more than
  ``epsilon`` (a fraction of the total weight when below 1, a count otherwise);
- calibration (R's ``calibrate``, Deville & Särndal 1992): g-weights minimising a distance
  to the input weights subject to reproducing the population totals of the model-matrix
  columns; "linear" (GREG; closed form, or R's Newton iteration ``grake`` when bounded),
  "raking" (exponential) and "logit" (bounded) distances;
- trimming (R's ``trimWeights``): weights outside [lower, upper] are set to the bound and
  the excess shared equally among the weights inside, repeated with ``strict=True``.

Linearisation (the variance of a calibrated estimator): every calibration leaves an
*adjustment* that the design's variance engine applies to the weighted linearised values
z = w u before summing them by PSU, as R's ``svyrecvar``:

- calibration and post-stratification: z is replaced by g d e, the g-weighted residual of
  u regressed on the calibration variables with the input weights d (Deville & Särndal
  1992; Särndal, Swensson & Wretman 1992, §6.6). For a post-stratum this is u minus its
  d-weighted post-stratum mean, times the new weight;
- raking: R's iterated margin centring (``svyrecvar``: ten sweeps of z <- z - w_m ave(z / w_m)
  over each margin m, w_m the weights after that margin's last post-stratification), which
  converges to the residual of the additive margin model when the weights are equal within
  cells (raking with ``calibrate(calfun="raking")`` gives the GREG form instead);
- trimming changes the weights only: earlier adjustments stay, as in R.

What a reader is told: :func:`weighting_facts` turns a design's ``weighting_steps`` (and
whether the file had weights) into plain values, and :func:`describe_weighting` into the
sentence every report page carries, in Vietnamese or English, with the weighting design
effect 1 + CV².
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse

CALFUNS = ("linear", "raking", "logit")
# R's rake: "epsilon" below 1 is a fraction of the total weight; R iterates the variance's
# margin centring this many times.
_RAKE_VARIANCE_SWEEPS = 10
# R's grake rescales the weights when every population total is this many times the sample's.
_GRAKE_RESCALE_THRESHOLD = 20


@dataclass(frozen=True)
class WeightingStep:
    """One weighting step applied to a design (``design.weighting_steps`` holds them in order).

    method: "post_stratify" | "rake" | "calibrate" | "trim_weights"; detail: what it was
    calibrated to (columns, calfun, bounds); iterations: sweeps (raking) or Newton steps
    (calibration), 0 for closed forms; g_min, g_max: range of new / old weight over the rows
    of positive weight; weighting_deff: 1 + CV² of the weights after the step. For the
    method sentence of reports (:func:`describe_weighting`): variables (the calibration
    variables; for a margin within groups, the groups come last), calfun ("linear",
    "raking", "logit" for ``calibrate``), bounds ((lower, upper) on g, or the trimming
    bounds), margins (the file of population margins, when a codebook's weighting step read
    one) and by (the groups within which the margins hold).
    """
    method: str
    detail: str
    iterations: int
    g_min: float
    g_max: float
    weighting_deff: float
    variables: tuple = ()
    calfun: str = ""
    bounds: tuple | None = None
    margins: str = ""
    by: tuple = ()


def weighting_deff(weights: np.ndarray) -> float:
    """Kish's design effect of unequal weighting, n Σw² / (Σw)² = 1 + CV² (CV with divisor n),
    over the rows of positive weight.

    >>> weighting_deff(np.array([1.0, 1.0, 2.0, 0.0]))
    1.125
    """
    w = np.asarray(weights, dtype=float)
    w = w[w > 0]
    if w.size == 0:
        return float("nan")
    return float(w.size * np.sum(w * w) / np.sum(w) ** 2)


def step_summary(method: str, detail: str, iterations: int, old: np.ndarray,
                 new: np.ndarray, **described) -> WeightingStep:
    positive = old > 0
    g = new[positive] / old[positive]
    return WeightingStep(method, detail, int(iterations),
                         float(g.min()) if g.size else float("nan"),
                         float(g.max()) if g.size else float("nan"), weighting_deff(new),
                         **described)


# ---------------------------------------------------------------------- the method sentence
WEIGHTS_SOURCES = ("file", "equal")


def weighting_facts(design, *, weights: str | None = None) -> dict:
    """How a design's weights were made, as plain values (kept in a report's cached results):
    ``weights`` ("file": the design weights of the data file; "equal": the file has none,
    every respondent starts at 1), ``steps`` (one dict per weighting step: method, calfun,
    variables, by, bounds, margins) and ``weighting_deff`` (1 + CV² of the final weights).

    ``weights`` defaults to the data's ``attrs["weights"]`` (set when a codebook reads a
    file), else "file" when the design has a weights column and "equal" when it has none.

    >>> import pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> data = pd.DataFrame({"w": [1.0, 1.0, 2.0], "sex": ["f", "m", "m"]})
    >>> facts = weighting_facts(SurveyDesign(data, weights="w").post_stratify(
    ...     "sex", {"f": 1.5, "m": 2.5}))
    >>> facts["weights"], facts["steps"][0]["method"], facts["steps"][0]["variables"]
    ('file', 'post_stratify', ['sex'])
    """
    if weights is None:
        weights = getattr(design.data, "attrs", {}).get("weights")
    if weights is None:
        weights = "file" if getattr(design, "weights_column", None) else "equal"
    if weights not in WEIGHTS_SOURCES:
        raise ValueError(f"weighting_facts: weights must be one of {WEIGHTS_SOURCES}, got "
                         f"{weights!r}")
    steps = [{"method": step.method, "calfun": step.calfun, "variables": list(step.variables),
              "by": list(step.by), "bounds": None if step.bounds is None else
              [float(b) for b in step.bounds], "margins": step.margins}
             for step in design.weighting_steps]
    return {"weights": weights, "steps": steps, "weighting_deff": design.weighting_deff()}


def describe_weighting(design_or_facts, lang: str, *, weighting_deff: float | None = None
                       ) -> str:
    """The sentence every report page carries on its weights, in ``lang``: design weights from
    the file as given, equal weights (the file has none), or calibrated by a method to the
    margins of a file (variables, groups, bounds), with the weighting design effect 1 + CV².

    ``design_or_facts``: a design or :func:`weighting_facts` of one; ``weighting_deff``:
    the design effect to print (e.g. of one unit's respondents), default the facts' own.

    >>> facts = {"weights": "file", "steps": [{"method": "rake", "calfun": "",
    ...          "variables": ["sex", "age_group"], "by": ["unit"], "bounds": None,
    ...          "margins": "margins.csv"}], "weighting_deff": 1.234}
    >>> print(describe_weighting(facts, "en"))
    Weights: the design weights of the data file, calibrated by raking to the population margins in margins.csv (sex, age_group; within each unit); weighting design effect 1 + CV² = 1.23.
    >>> print(describe_weighting({"weights": "equal", "steps": [], "weighting_deff": 1.0}, "vi"))
    Trọng số: tệp dữ liệu không có trọng số, mọi người trả lời được tính như nhau; hiệu ứng thiết kế do trọng số 1 + CV² = 1,00.
    """
    from .language import format_number, text
    facts = design_or_facts if isinstance(design_or_facts, Mapping) else \
        weighting_facts(design_or_facts)
    deff = facts["weighting_deff"] if weighting_deff is None else weighting_deff
    base = facts["weights"] + ("_start" if facts["steps"] else "")
    parts = [text(f"weighting_base.{base}", lang)]
    for step in facts["steps"]:
        if step["method"] == "trim_weights":
            low, high = step["bounds"] or (float("-inf"), float("inf"))
            parts.append(text("weighting_trimmed", lang, lower=_bound(low, lang),
                              upper=_bound(high, lang)))
            continue
        method = step["calfun"] if step["method"] == "calibrate" else step["method"]
        variables = ", ".join(v for v in step["variables"] if v not in step["by"])
        within = text("weighting_within", lang, by=", ".join(step["by"])) if step["by"] else ""
        bounds = text("weighting_bounds", lang, lower=_bound(step["bounds"][0], lang),
                      upper=_bound(step["bounds"][1], lang)) if step["bounds"] else ""
        where = "weighting_calibrated_file" if step["margins"] else "weighting_calibrated"
        parts.append(text(where, lang, method=text(f"weighting_method.{method}", lang),
                          file=step["margins"], variables=variables + within) + bounds)
    return text("weighting_sentence", lang, how=", ".join(parts),
                deff=format_number(deff, lang, decimals=2))


def _bound(value: float, lang: str) -> str:
    from .language import format_number
    return "∞" if value == float("inf") else "−∞" if value == float("-inf") else \
        format_number(value, lang, decimals=2)


# ---------------------------------------------------------------------- cells and totals
def _first_rows(mask: np.ndarray, limit: int = 5) -> str:
    rows = np.flatnonzero(mask)
    return ", ".join(str(r) for r in rows[:limit]) + (", ..." if rows.size > limit else "")


def _cell_label(columns: Sequence[str], key) -> str:
    values = key if isinstance(key, tuple) else (key,)
    return ", ".join(f"{c}={v!r}" for c, v in zip(columns, values))


def cell_codes(data: pd.DataFrame, columns: Sequence[str], active: np.ndarray, caller: str):
    """Integer cell of every row for the combination of ``columns`` (-1 outside ``active``).

    Returns ``(codes, keys)``: keys[c] is the tuple of values of cell c. Rows of ``active``
    (the rows of positive weight) with a missing value are an error naming the column.
    """
    frame = data[list(columns)]
    missing = frame.isna().to_numpy() & active[:, None]
    if missing.any():
        counts = "; ".join(f"{c!r}: {int(missing[:, i].sum())} row(s) (rows "
                           f"{_first_rows(missing[:, i])})"
                           for i, c in enumerate(columns) if missing[:, i].any())
        raise ValueError(f"{caller}: missing values in rows of positive weight: {counts}")
    codes = np.full(len(frame), -1, dtype=np.int64)
    rows = np.flatnonzero(active)
    if len(columns) == 1:
        sub_codes, uniques = pd.factorize(frame.iloc[rows, 0])
        keys = [(_plain(u),) for u in uniques]
    else:
        sub_codes = (frame.iloc[rows].groupby(list(columns), sort=False, observed=True)
                     .ngroup().to_numpy())
        first = np.zeros(int(sub_codes.max()) + 1 if sub_codes.size else 0, dtype=np.int64)
        first[sub_codes[::-1]] = np.arange(sub_codes.size)[::-1]   # first row of each cell
        values = frame.iloc[rows[first]].itertuples(index=False, name=None)
        keys = [tuple(_plain(v) for v in key) for key in values]
    codes[rows] = sub_codes
    return codes, keys


def _plain(value):
    """numpy scalars as Python values, so that cells compare with the user's keys."""
    return value.item() if isinstance(value, np.generic) else value


def parse_totals(population, columns: Sequence[str], caller: str) -> dict:
    """Population totals by cell as ``{tuple of levels: total}``.

    ``population``: a mapping level -> total (a tuple of levels for several columns), a
    Series (index = levels, a MultiIndex for several columns), or a DataFrame holding the
    ``columns`` and one more column of totals (R's ``data.frame(stype=..., Freq=...)``).
    """
    columns = list(columns)
    if isinstance(population, pd.DataFrame):
        missing = [c for c in columns if c not in population.columns]
        others = [c for c in population.columns if c not in columns]
        if missing or len(others) != 1:
            raise ValueError(f"{caller}: a population DataFrame needs the columns {columns} and "
                             f"one column of totals; it has {list(population.columns)}")
        items = zip(population[columns].itertuples(index=False, name=None),
                    population[others[0]].tolist())
    elif isinstance(population, pd.Series):
        items = population.items()
    elif isinstance(population, Mapping):
        items = population.items()
    else:
        raise TypeError(f"{caller}: population must be a dict, Series or DataFrame of totals "
                        f"by level, got {type(population).__name__}")
    totals: dict = {}
    problems = []
    for key, total in items:
        key = tuple(_plain(k) for k in key) if isinstance(key, tuple) else (_plain(key),)
        if len(key) != len(columns):
            problems.append(f"cell {key!r} does not have one level for each of {columns}")
            continue
        try:
            value = float(total)
        except (TypeError, ValueError):
            value = float("nan")
        if not np.isfinite(value) or value < 0:
            problems.append(f"cell {_cell_label(columns, key)} has total {total!r} (must be a "
                            "finite number >= 0)")
        if key in totals:
            problems.append(f"cell {_cell_label(columns, key)} is given twice")
        totals[key] = value
    if problems:
        raise ValueError(f"{caller}: bad population totals: " + "; ".join(problems))
    return totals


def match_totals(keys: list, sample_totals: np.ndarray, population: dict,
                 columns: Sequence[str], caller: str) -> np.ndarray:
    """Population total of every sample cell, refusing cells that do not match.

    A data level absent from ``population`` is looked up by its string form too (a YAML file
    gives province codes as strings). Refused, naming every offending cell: data cells the
    population lacks or gives 0, population cells with a positive total that no row of
    positive weight falls in (R's "Some strata absent from sample").
    """
    by_string = {tuple(str(k) for k in key): key for key in population}
    targets = np.empty(len(keys))
    used = set()
    absent, zero = [], []
    for c, key in enumerate(keys):
        match = key if key in population else by_string.get(tuple(str(k) for k in key))
        if match is None:
            absent.append(_cell_label(columns, key))
            continue
        used.add(match)
        targets[c] = population[match]
        if targets[c] == 0:
            zero.append(_cell_label(columns, key))
    unsampled = [_cell_label(columns, key) for key, total in population.items()
                 if key not in used and total > 0]
    empty = [_cell_label(columns, key) for c, key in enumerate(keys)
             if sample_totals[c] <= 0 and key in population and population[key] > 0]
    problems = []
    if absent:
        problems.append(f"level(s) in the data but not in the population: {'; '.join(absent)}")
    if zero:
        problems.append(f"level(s) in the data with population total 0: {'; '.join(zero)}")
    if unsampled:
        problems.append("level(s) in the population with no sampled row of positive weight: "
                        + "; ".join(unsampled))
    if empty:
        problems.append(f"level(s) whose rows all have weight 0: {'; '.join(empty)}")
    if problems:
        raise ValueError(f"{caller} on {list(columns)}: " + ". ".join(problems))
    return targets


# ---------------------------------------------------------------------- post-stratification
def post_stratify_weights(weights: np.ndarray, codes: np.ndarray, targets: np.ndarray):
    """Weights times population / weighted sample count of their cell (codes -1 unchanged)."""
    inside = codes >= 0
    sums = np.bincount(codes[inside], weights=weights[inside], minlength=targets.size)
    factor = np.ones(len(weights))
    factor[inside] = (targets / sums)[codes[inside]]
    return weights * factor


@dataclass(frozen=True)
class PostStratAdjustment:
    """R's ``svyrecvar`` for a post-stratum: z - psw * (Σ z old/psw / Σ old) by cell."""
    codes: np.ndarray
    new_weights: np.ndarray
    old_weights: np.ndarray

    def __call__(self, z: np.ndarray) -> np.ndarray:
        psw = self.new_weights
        old = self.old_weights
        psw = np.where((psw == 0) & (old == 0), 1.0, psw)
        inside = self.codes >= 0
        codes = self.codes[inside]
        n_cells = int(codes.max()) + 1 if codes.size else 0
        old_sums = np.bincount(codes, weights=old[inside], minlength=n_cells)
        ratio = np.divide(old, psw, out=np.zeros_like(old), where=psw != 0)[inside]
        out = z.copy()
        for j in range(z.shape[1]):
            sums = np.bincount(codes, weights=z[inside, j] * ratio, minlength=n_cells)
            means = np.divide(sums, old_sums, out=np.zeros_like(sums), where=old_sums != 0)
            out[inside, j] -= means[codes] * psw[inside]
        return out


# ---------------------------------------------------------------------- raking
def rake_weights(weights: np.ndarray, margin_codes: list, margin_targets: list,
                 cross_codes: np.ndarray, *, epsilon: float, max_iter: int):
    """Iterative proportional fitting as R's ``rake``.

    Returns ``(weights, margin_weights, sweeps, delta)``: margin_weights[m] are the weights
    right after margin m's post-stratification in the last sweep (the variance needs them),
    sweeps the number of full sweeps, delta the last largest change of a cell of
    ``cross_codes`` (the cross-classification of all the margins' columns). ``delta`` is
    below the tolerance when it converged (the caller refuses otherwise).
    """
    tolerance = epsilon * weights.sum() if epsilon < 1 else epsilon
    inside = cross_codes >= 0
    n_cross = int(cross_codes.max()) + 1 if inside.any() else 0

    def table(w):
        return np.bincount(cross_codes[inside], weights=w[inside], minlength=n_cross)

    old_table = table(weights)
    w = weights.copy()
    margin_weights = []
    sweeps, delta = 0, np.inf
    while sweeps < max_iter:
        margin_weights = []
        for codes, targets in zip(margin_codes, margin_targets):
            w = post_stratify_weights(w, codes, targets)
            margin_weights.append(w)
        sweeps += 1
        new_table = table(w)
        delta = float(np.max(np.abs(old_table - new_table))) if n_cross else 0.0
        if delta < tolerance:
            break
        old_table = new_table
    return w, margin_weights, sweeps, delta, tolerance


@dataclass(frozen=True)
class RakingAdjustment:
    """R's ``svyrecvar`` for a raked design: ten sweeps of margin centring."""
    margin_codes: tuple
    margin_weights: tuple

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = z.copy()
        prepared = []
        for codes, psw in zip(self.margin_codes, self.margin_weights):
            inside = (codes >= 0) & (psw != 0)
            c = codes[inside]
            n_cells = int(c.max()) + 1 if c.size else 0
            counts = np.maximum(np.bincount(c, minlength=n_cells).astype(float), 1.0)
            # cell means of all k columns at once: one sparse product per margin and sweep
            indicator = scipy.sparse.csr_matrix(
                (1.0 / counts[c], (c, np.arange(c.size))), shape=(n_cells, c.size))
            prepared.append((inside, c, indicator, psw[inside][:, None]))
        for _ in range(_RAKE_VARIANCE_SWEEPS):
            for inside, c, indicator, psw in prepared:
                v = z[inside] / psw
                z[inside] -= psw * np.asarray(indicator @ v)[c]
        return z


# ---------------------------------------------------------------------- calibration
def r_style_name(column: str) -> str:
    """R's model-matrix name of a patsy column.

    >>> r_style_name("stype[T.H]"), r_style_name("Intercept"), r_style_name('Q("sch.wide")[T.Yes]')
    ('stypeH', '(Intercept)', 'sch.wideYes')
    """
    if column == "Intercept":
        return "(Intercept)"
    parts = []
    for part in column.split(":"):
        part = re.sub(r"""Q\((["'])(.*?)\1\)""", r"\2", part)   # Q("sch.wide") -> sch.wide
        parts.append(re.sub(r"^(.*)\[T\.(.*)\]$", r"\1\2", part))
    return ":".join(parts)


def match_population_vector(population, names: list[str], caller: str) -> np.ndarray:
    """Population totals in the order of the model-matrix columns ``names``.

    A mapping/Series is matched by name (patsy's, "Intercept", "stype[T.H]", or R's,
    "(Intercept)", "stypeH"); a plain sequence is taken in column order.
    """
    if isinstance(population, (Mapping, pd.Series)):
        given = {str(k): v for k, v in population.items()}
        r_names = {r_style_name(n): n for n in names}
        values, missing = {}, []
        for key, value in given.items():
            name = key if key in names else r_names.get(key)
            if name is None:
                continue
            values[name] = value
        unknown = [k for k in given if k not in names and k not in r_names]
        missing = [n for n in names if n not in values]
        if unknown or missing:
            parts = []
            if missing:
                parts.append(f"no total for model-matrix column(s) {missing}")
            if unknown:
                parts.append(f"total(s) for column(s) the formula does not make: {unknown}")
            raise ValueError(f"{caller}: " + "; ".join(parts) + f". The formula's columns are "
                             f"{names}")
        vector = [values[n] for n in names]
    else:
        vector = list(np.asarray(population, dtype=float).ravel())
        if len(vector) != len(names):
            raise ValueError(f"{caller}: {len(vector)} population total(s) for "
                             f"{len(names)} model-matrix column(s) {names}")
    out = np.asarray(vector, dtype=float)
    bad = [n for n, v in zip(names, out) if not np.isfinite(v)]
    if bad:
        raise ValueError(f"{caller}: population totals of {bad} are not finite numbers")
    return out


def _fm1(calfun: str, u: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """R's ``cal.*$Fm1``: g - 1 as a function of x'eta."""
    if calfun == "linear":
        return np.minimum(np.maximum(u + 1, lower), upper) - 1
    if calfun == "raking":
        with np.errstate(over="ignore"):
            return np.minimum(np.maximum(np.exp(u), lower), upper) - 1
    a = (upper - lower) / ((upper - 1) * (1 - lower))
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(a * u)
        return (lower * (upper - 1) + upper * (1 - lower) * e) / (upper - 1 + (1 - lower) * e) - 1


def _df(calfun: str, u: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """R's ``cal.*$dF`` (the derivative of Fm1), including its treatment of the bounds."""
    if calfun == "linear":
        return ((u < upper - 1) & (u > lower - 1)).astype(float)
    if calfun == "raking":
        with np.errstate(over="ignore"):
            return np.where((u < upper - 1) & (u > lower - 1), np.exp(u), 0.0)
    a = (upper - lower) / ((upper - 1) * (1 - lower))
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(a * u)
        d = upper - 1 + (1 - lower) * e
        num = lower * (upper - 1) + upper * (1 - lower) * e
        return upper * (1 - lower) * e * a / d - num * ((1 - lower) * e * a) / d ** 2


def linear_g(mm: np.ndarray, ww: np.ndarray, population: np.ndarray, names, caller,
             sigma2: np.ndarray | None = None) -> np.ndarray:
    """Closed-form GREG g-weights (R's ``regcalibrate``): g = 1 + x'(X'WΣ⁻¹X)^{-1}(T - t) / σ²,
    σ² = 1 unless a heteroscedastic variance is given (R's ``variance=``)."""
    sigma2 = np.ones(len(ww)) if sigma2 is None else sigma2
    tmat = mm.T @ (mm * (ww / sigma2)[:, None])
    try:
        coef = np.linalg.solve(tmat, population - ww @ mm)
    except np.linalg.LinAlgError:
        raise ValueError(f"{caller}: the model-matrix columns {names} are collinear among the "
                         "rows of positive weight; drop the redundant ones") from None
    return 1.0 + (mm @ coef) / sigma2


def grake(mm: np.ndarray, ww: np.ndarray, calfun: str, lower: float, upper: float,
          population: np.ndarray, *, epsilon: float, max_iter: int,
          sigma2: np.ndarray | None = None):
    """R's ``grake``: Newton iterations for the calibration equations Σ d g x = T.

    Returns ``(g, iterations, misfit)`` where misfit is the largest ``|Σ d g x - T| / (1 + |T|)``;
    the caller refuses a result whose misfit is not below ``epsilon``. As R, when every
    population total is more than 20 times the sample's the weights are first rescaled by
    the mean of those ratios (the bounds then apply to the rescaled weights).
    """
    sample_total = ww @ mm
    with np.errstate(divide="ignore", invalid="ignore"):
        scales = population / sample_total
    scale = None
    if np.min(scales) > _GRAKE_RESCALE_THRESHOLD:
        scale = float(np.mean(scales))
        ww = ww * scale
        sample_total = sample_total * scale
    sigma2 = np.ones(len(ww)) if sigma2 is None else sigma2
    eta = np.zeros(mm.shape[1])
    xeta = mm @ eta / sigma2
    deriv = _df(calfun, xeta, lower, upper)
    iteration = 1
    tol = 256 * np.finfo(float).eps
    while True:
        tmat = (mm * (ww * deriv / sigma2)[:, None]).T @ mm
        misfit = population - sample_total - (mm * (ww * _fm1(calfun, xeta, lower, upper))
                                              [:, None]).sum(axis=0)
        step = np.linalg.pinv(tmat, rcond=tol) @ misfit
        eta = eta + step
        xeta = mm @ eta / sigma2
        g = 1 + _fm1(calfun, xeta, lower, upper)
        deriv = _df(calfun, xeta, lower, upper)
        while iteration < max_iter and not (np.isfinite(g).all() and np.isfinite(deriv).all()):
            iteration += 1
            step = step / 2
            eta = eta - step
            xeta = mm @ eta / sigma2
            g = 1 + _fm1(calfun, xeta, lower, upper)
            deriv = _df(calfun, xeta, lower, upper)
        misfit = population - sample_total - (mm * (ww * (g - 1))[:, None]).sum(axis=0)
        relative = np.abs(misfit) / (1 + np.abs(population))
        if np.all(relative < epsilon):
            break
        iteration += 1
        if iteration > max_iter:
            break
    if scale is not None:
        g = g * scale
    return g, iteration, relative


def greg_basis(mm: np.ndarray, whalf: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the columns of X W^½ (pivoted QR; rank as R's ``qr`` tol 1e-7)."""
    q, r, _ = scipy.linalg.qr(mm * whalf[:, None], mode="economic", pivoting=True)
    diagonal = np.abs(np.diag(r))
    rank = int(np.sum(diagonal > 1e-7 * diagonal[0])) if diagonal.size else 0
    return np.ascontiguousarray(q[:, :rank])


@dataclass(frozen=True)
class GregAdjustment:
    """R's ``svyrecvar`` for ``greg_calibration``: qr.resid(Q, z / w) * w, w = g d^½."""
    basis: np.ndarray
    w: np.ndarray

    def __call__(self, z: np.ndarray) -> np.ndarray:
        v = np.divide(z, self.w[:, None], out=np.zeros_like(z), where=self.w[:, None] != 0)
        v -= self.basis @ (self.basis.T @ v)
        return v * self.w[:, None]


# ---------------------------------------------------------------------- trimming
def trim_weights(weights: np.ndarray, lower: float, upper: float, *, strict: bool,
                 max_iter: int = 1000):
    """R's ``trimWeights``: clip to [lower, upper] and share the excess equally among the
    weights that were inside; with ``strict`` repeat until none is outside.

    Only rows of positive weight take part (R would also lift weights of 0 to ``lower``).
    Returns ``(weights, rounds)``.
    """
    w = weights.astype(float).copy()
    active = w > 0
    rounds = 0
    while True:
        current = w[active]
        outside = (current < lower) | (current > upper)
        if not outside.any():
            return w, rounds
        if outside.all():
            raise ValueError(f"trim_weights: every weight is outside [{lower}, {upper}]; "
                             "nothing is left to take the excess")
        clipped = np.clip(current, lower, upper)
        clipped[~outside] += (current - clipped).sum() / (~outside).sum()
        w[active] = clipped
        rounds += 1
        if not strict:
            return w, rounds
        if rounds >= max_iter:
            raise ValueError(f"trim_weights: strict trimming to [{lower}, {upper}] did not "
                             f"settle in {max_iter} rounds")


# ---------------------------------------------------------------------- raking checks
def check_margins_agree(populations: list, caller: str) -> None:
    """Refuse margins whose totals differ, or that disagree within the cells of the columns
    they share (e.g. the sex and the age margins of one province), naming the cells.

    ``populations``: (columns, {cell: total}, sample cells) of every margin.
    """
    problems = []
    totals = [sum(t.values()) for _, t, _ in populations]
    scale = max(1.0, max(abs(t) for t in totals))
    if max(totals) - min(totals) > 1e-6 * scale:
        listed = "; ".join(f"{cols}: {t:g}" for (cols, _, _), t in zip(populations, totals))
        problems.append(f"the margins must have the same total, they have {listed}")
    for i in range(len(populations)):
        for j in range(i + 1, len(populations)):
            cols_i, tot_i, _ = populations[i]
            cols_j, tot_j, _ = populations[j]
            shared = [c for c in cols_i if c in cols_j]
            if not shared:
                continue
            sums_i = _collapse(tot_i, [cols_i.index(c) for c in shared])
            sums_j = _collapse(tot_j, [cols_j.index(c) for c in shared])
            for cell in sorted(set(sums_i) | set(sums_j), key=str):
                a, b = sums_i.get(cell, 0.0), sums_j.get(cell, 0.0)
                if abs(a - b) > 1e-6 * max(1.0, abs(a), abs(b)):
                    problems.append(f"margins {cols_i} and {cols_j} disagree in "
                                    f"{_cell_label(shared, cell)}: {a:g} vs {b:g}")
    if problems:
        shown = problems[:20] + ([f"... {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise ValueError(f"{caller}: " + "; ".join(shown))


def _collapse(totals: dict, positions: list[int]) -> dict:
    out: dict = {}
    for key, value in totals.items():
        sub = tuple(str(key[p]) for p in positions)
        out[sub] = out.get(sub, 0.0) + value
    return out


def worst_margin_cell(weights: np.ndarray, margin_codes: list, margin_targets: list,
                      populations: list) -> str:
    """The margin cell farthest from its target at ``weights``, for an error message."""
    best = (-1.0, "")
    for codes, targets, (cols, _, keys) in zip(margin_codes, margin_targets, populations):
        inside = codes >= 0
        achieved = np.bincount(codes[inside], weights=weights[inside], minlength=targets.size)
        gap = np.abs(achieved - targets)
        c = int(np.argmax(gap))
        if gap[c] > best[0]:
            best = (float(gap[c]), f"the worst cell is {_cell_label(cols, keys[c])}: "
                                   f"{achieved[c]:.6g} for a target of {targets[c]:.6g}")
    return best[1]
