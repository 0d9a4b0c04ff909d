"""Multiple imputation of missing ratings within the design, pooled by Rubin's rules.

A respondent who skips a rating is left out of that criterion's denominator by
:func:`sipas_analysis.sipas_index` (available cases). That is unbiased only when the skipping is
unrelated to satisfaction. When dissatisfied respondents skip the feedback items more often, the
available cases overstate satisfaction; if the skipping depends on what *is* observed (their
overall satisfaction, their other ratings, their stratum: **missing at random**, MAR),
multiple imputation removes that bias. If it depends on the unobserved rating itself (missing
not at random), no imputation from the observed data removes it.

:func:`impute_ratings` makes ``m`` completed copies of a design by chained equations with
predictive mean matching (PMM) on the ordinal ratings, as R's ``mice(method = "pmm")``:

- every imputation model holds the stratum and the unit (province or in-province unit) as fixed
  effects (one intercept per stratum × unit cell, absorbed by within-cell centring), the other
  criteria of the rating's own factor, the respondent's mean rating of each other factor, the
  overall-satisfaction question when the data have it (missing answers as the mean plus an
  indicator), the log of the weight when weights vary, and any ``auxiliary`` columns;
- proper imputation: in each of the ``m`` chains the model is fitted on a Rao–Wu bootstrap
  replicate of the stage-1 PSUs within strata (:meth:`SurveyDesign.bootstrap_factors`), so the
  imputation-model parameters vary between imputations as their sampling distribution says; the
  recipients' predictions use the bootstrap fit and the donors' the full-data fit (mice's
  ``matchtype = 1``); each missing rating takes the observed rating of one of the ``donors``
  nearest donors drawn at random, so imputed values are always levels of the scale;
- chains start from random draws of the observed ratings and run ``iterations`` sweeps.

Never imputed: ratings missing by design (``used_service`` False: a resident who used no
service skips the service ratings) and "no opinion" answers. The contract stores both as NaN;
a codebook's scale maps "no opinion" labels (e.g. "Không ý kiến") to no number, and
:meth:`Codebook.apply` then marks them in a boolean column ``<criterion>_no_opinion`` (only for
criteria that have such answers), which is read here; ``no_opinion=`` takes such a mask
explicitly. Rows outside the design's domain (weight 0) are left as they are.

:class:`MultipleImputation` holds the completed designs, the share imputed per criterion and
factor (:meth:`MultipleImputation.imputed_share`) and pools any estimator returning the
package's tidy tables (:meth:`MultipleImputation.pool`, :func:`pool`): Rubin's (1987) rules with
the Barnard & Rubin (1999) small-sample degrees of freedom, the complete-data df being the
design df (the table's ``df`` column when it has one, else the design's PSUs minus strata), and
t intervals on those df. :meth:`MultipleImputation.sipas_index` pools the SIPAS indices and
forms their intervals with :func:`sipas_analysis.proportion_interval` (Korn–Graubard by default,
on the Barnard–Rubin df with the binomial-equivalent effective size p (1 − p) / T).

References: Rubin (1987), *Multiple Imputation for Nonresponse in Surveys*, Wiley; Barnard &
Rubin (1999), *Biometrika* 86:948–955; van Buuren (2018), *Flexible Imputation of Missing Data*,
2nd ed., §2.3–2.4 and §3.4 (PMM); R's ``mice::pool.scalar``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse
from scipy import stats

from . import intervals, schema
from .design import ReplicateDesign, SurveyDesign, _as_list
from .rng import Seed, as_generator

METHODS = ("pmm",)
NO_OPINION_SUFFIX = "_no_opinion"
# Columns of an estimate table that are statistics; the others identify a row (its keys).
_STATISTICS = {"estimate", "std_error", "ci_low", "ci_high", "n", "df", "n_eff", "deff",
               "small_sample", "statistic", "p_value"}
# mice's barnard.rubin floors the share of variance due to missingness at this value.
_LAMBDA_FLOOR = 1e-4
MAR_NOTE = {
    "en": "multiple imputation removes the bias of skipped ratings only when the skipping "
          "depends on what is observed (missing at random)",
    "vi": "quy nạp bội chỉ loại bỏ sai lệch do bỏ trống khi việc bỏ trống phụ thuộc vào những "
          "gì quan sát được (thiếu ngẫu nhiên, MAR)",
}


def imputation_sentence(imputation: dict, lang: str = "vi", names=None) -> str:
    """What a report page says of an imputation: ``imputation`` holds ``m`` and ``shares``
    (factor -> share of its ratings imputed, 0-1); ``names``: factor -> its name on the
    page.

    Examples
    --------
    >>> print(imputation_sentence({"m": 10, "shares": {"staff": 0.021, "feedback": 0.149}},
    ...                           "en"))  # doctest: +NORMALIZE_WHITESPACE
    The unit indices pool 10 multiple imputations of the skipped ratings (share imputed:
    staff 2.1 %, feedback 14.9 %); comparisons with the province and with the previous year
    use the answers given. Multiple imputation removes the bias of skipped ratings only when
    the skipping depends on what is observed (missing at random).
    """
    from .language import format_percent
    names = names or {}
    shares = ", ".join(f"{names.get(factor, factor)} {format_percent(100 * share, lang, decimals=1)}"
                       for factor, share in imputation["shares"].items())
    if lang == "en":
        return (f"The unit indices pool {imputation['m']} multiple imputations of the skipped "
                f"ratings (share imputed: {shares}); comparisons with the province and with "
                "the previous year use the answers given. Multiple imputation removes the bias "
                "of skipped ratings only when the skipping depends on what is observed "
                "(missing at random).")
    return (f"Chỉ số của các đơn vị gộp {imputation['m']} lần quy nạp bội các câu trả lời bị "
            f"bỏ trống (tỷ lệ được quy nạp: {shares}); so sánh với toàn tỉnh và với năm trước "
            "dùng các câu trả lời thực có. Quy nạp bội chỉ loại bỏ sai lệch do bỏ trống khi "
            "việc bỏ trống phụ thuộc vào những gì quan sát được (thiếu ngẫu nhiên, MAR).")


# --------------------------------------------------------------------------------------------
# Rubin's rules
# --------------------------------------------------------------------------------------------

def barnard_rubin_df(m: int, between, total, dfcom=np.inf):
    """Barnard–Rubin (1999) degrees of freedom of a pooled scalar, as ``mice``'s.

    ``lambda = (1 + 1/m) B / T`` (floored at 1e-4, as mice), ``nu_old = (m - 1) / lambda²``,
    ``nu_obs = (nu_com + 1) / (nu_com + 3) * nu_com * (1 - lambda)`` and
    ``nu = nu_old nu_obs / (nu_old + nu_obs)``; with ``dfcom`` infinite, ``nu_old`` (Rubin 1987).
    An estimate with no variance at all (T = 0) gets ``nu_obs`` at lambda's floor.

    Examples
    --------
    >>> round(float(barnard_rubin_df(5, 0.5, 2.0, dfcom=20)), 4)
    9.9274
    """
    between = np.asarray(between, dtype=float)
    total = np.asarray(total, dtype=float)
    dfcom = np.asarray(dfcom, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(total > 0, (1 + 1 / m) * between / total, 0.0)
    lam = np.maximum(lam, _LAMBDA_FLOOR)
    df_old = (m - 1) / lam ** 2
    with np.errstate(invalid="ignore"):
        df_obs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
        return np.where(np.isinf(dfcom), df_old, df_old * df_obs / (df_old + df_obs))


def pool_scalar(estimates, variances, *, dfcom=np.inf) -> dict:
    """Rubin's rules for one quantity: the mean of the ``m`` estimates, its total variance and
    the Barnard–Rubin df, with the names of R's ``mice::pool.scalar``.

    Returns a dict: ``m, qbar`` (pooled estimate), ``ubar`` (mean within-imputation
    variance), ``b`` (between-imputation variance), ``t = ubar + (1 + 1/m) b``, ``df``
    (:func:`barnard_rubin_df`), ``r`` (relative increase in variance (1 + 1/m) b / ubar),
    ``lambda_`` ((1 + 1/m) b / t) and ``fmi`` (fraction of missing information,
    (r + 2 / (df + 3)) / (r + 1)).

    Examples
    --------
    >>> out = pool_scalar([1.0, 2.0, 3.0], [0.5, 0.5, 0.5], dfcom=10)
    >>> {k: round(float(out[k]), 4) for k in ("qbar", "ubar", "b", "t", "df", "fmi")}
    {'qbar': 2.0, 'ubar': 0.5, 'b': 1.0, 't': 1.8333, 'df': 1.4331, 'fmi': 0.8503}
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.ndim != 1 or q.shape != u.shape or q.size < 2:
        raise ValueError("pool_scalar needs m >= 2 estimates and as many variances")
    m = q.size
    qbar, ubar, b = q.mean(), u.mean(), q.var(ddof=1)
    t = ubar + (1 + 1 / m) * b
    df = barnard_rubin_df(m, b, t, dfcom)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (1 + 1 / m) * b / ubar
        lam = (1 + 1 / m) * b / t
    fmi = (r + 2 / (df + 3)) / (r + 1)
    return {"m": m, "qbar": qbar, "ubar": ubar, "b": b, "t": t, "df": float(df), "r": r,
            "lambda_": lam, "fmi": fmi}


def pool(tables, *, dfcom=None, level: float = 0.95, keys=None) -> pd.DataFrame:
    """Pool tidy estimate tables from ``m`` completed data sets by Rubin's rules.

    Parameters
    ----------
    tables : list of DataFrames
        One table per imputation, each with ``estimate`` and ``std_error`` and the same rows in
        the same order (the same keys).
    dfcom : float or array, optional
        Complete-data degrees of freedom of each row: by default the tables' ``df`` column
        (the design df of each estimate's domain), else infinite (Rubin's 1987 df).
    level : float
        Confidence level of the t intervals.
    keys : list of str, optional
        The columns that identify a row; default every column that is not a statistic.

    Returns
    -------
    DataFrame
        The key columns, then ``estimate`` (mean of the estimates), ``std_error`` (√T),
        ``ci_low, ci_high`` (estimate ± t(df) √T), ``n`` (when the tables have it: its mean
        over the imputations), ``df`` (Barnard–Rubin), ``statistic, p_value`` (t test of 0
        when the tables have them), ``within_variance`` (Ū), ``between_variance`` (B),
        ``riv`` (relative increase in variance), ``fmi`` (fraction of missing information)
        and ``m``.

    Examples
    --------
    >>> import pandas as pd
    >>> tables = [pd.DataFrame({"term": ["y"], "estimate": [q], "std_error": [0.5 ** 0.5],
    ...                         "df": [10]}) for q in (1.0, 2.0, 3.0)]
    >>> pool(tables)[["term", "estimate", "std_error", "df", "fmi"]].round(4)
      term  estimate  std_error      df     fmi
    0    y       2.0      1.354  1.4331  0.8503
    """
    tables = list(tables)
    if len(tables) < 2:
        raise ValueError(f"pool needs the tables of m >= 2 imputations, got {len(tables)}")
    first = tables[0]
    missing = [c for c in ("estimate", "std_error") if c not in first]
    if missing:
        raise ValueError(f"pool: the tables lack the column(s) {missing}")
    keys = [c for c in first.columns if c not in _STATISTICS] if keys is None else list(keys)
    for i, table in enumerate(tables[1:], start=2):
        if len(table) != len(first) or not table[keys].reset_index(drop=True).equals(
                first[keys].reset_index(drop=True)):
            raise ValueError(f"pool: the table of imputation {i} does not have the rows "
                             f"(keys {keys}) of the first")
    m = len(tables)
    q = np.column_stack([t["estimate"].to_numpy(dtype=float) for t in tables])
    u = np.column_stack([t["std_error"].to_numpy(dtype=float) ** 2 for t in tables])
    if dfcom is None:
        dfcom = first["df"].to_numpy(dtype=float) if "df" in first else np.inf
    qbar, ubar = q.mean(axis=1), u.mean(axis=1)
    b = q.var(axis=1, ddof=1)
    total = ubar + (1 + 1 / m) * b
    df = barnard_rubin_df(m, b, total, np.broadcast_to(np.asarray(dfcom, dtype=float),
                                                        qbar.shape))
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1 + 1 / m) * b / ubar
        fmi = (riv + 2 / (df + 3)) / (riv + 1)
    se = np.sqrt(total)
    half = stats.t.ppf(0.5 + level / 2, df) * se
    out = first[keys].reset_index(drop=True).copy()
    out["estimate"] = qbar
    out["std_error"] = se
    out["ci_low"], out["ci_high"] = qbar - half, qbar + half
    if "n" in first:
        n = np.column_stack([t["n"].to_numpy(dtype=float) for t in tables]).mean(axis=1)
        out["n"] = n
    out["df"] = df
    if "statistic" in first:
        with np.errstate(divide="ignore", invalid="ignore"):
            out["statistic"] = qbar / se
        out["p_value"] = 2 * stats.t.sf(np.abs(out["statistic"]), df)
    out["within_variance"], out["between_variance"] = ubar, b
    out["riv"], out["fmi"] = riv, fmi
    out["m"] = m
    return out


# --------------------------------------------------------------------------------------------
# The completed designs
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MultipleImputation:
    """``m`` completed designs of one survey and what was imputed in them.

    Attributes
    ----------
    designs : tuple of SurveyDesign, the completed designs (the design's own structure and
        weights, the data with the ratings imputed).
    imputed : dict criterion -> bool array (n,), the rows whose rating was imputed (the same in
        every completed design).
    no_opinion, by_design : dict criterion -> bool array (n,), ratings left missing on purpose.
    factors : dict factor -> criteria the imputation knew.
    settings : dict of m, method, donors, iterations, unit.
    """

    designs: tuple
    imputed: dict
    no_opinion: dict
    by_design: dict
    factors: dict
    settings: dict = field(default_factory=dict)

    @property
    def m(self) -> int:
        return len(self.designs)

    def imputed_share(self, by=None) -> pd.DataFrame:
        """Share of the ratings that were imputed, per criterion, per factor and overall.

        Counts are cells (respondent × criterion) of the rows in the design's domain:
        ``n_answered`` (observed ratings), ``n_imputed``, ``n_no_opinion`` and ``n_by_design``
        (left missing on purpose), and ``share_imputed`` = n_imputed / (n_answered +
        n_imputed), unweighted. Columns: the ``by`` column(s), ``term, kind, factor,
        n_answered, n_imputed, n_no_opinion, n_by_design, share_imputed``.
        """
        design = self.designs[0]
        data = design.data
        by = _as_list(by)
        domain = design.weights > 0
        if by:
            codes, groups = pd.factorize(pd.MultiIndex.from_frame(data[by].astype(object))
                                         if len(by) > 1 else data[by[0]], sort=True)
        else:
            codes, groups = np.zeros(len(data), dtype=np.int64), None
        n_groups = int(codes.max()) + 1 if len(codes) else 0
        rows = []

        def counts(columns):
            out = {}
            for name, masks in (("n_imputed", self.imputed), ("n_no_opinion", self.no_opinion),
                                ("n_by_design", self.by_design)):
                out[name] = sum(np.bincount(codes[domain & masks[c]], minlength=n_groups)
                                for c in columns)
            answered = sum(np.bincount(codes[domain & data[c].notna().to_numpy()
                                             & ~self.imputed[c]], minlength=n_groups)
                           for c in columns)
            out["n_answered"] = answered
            return out

        def add(term, kind, factor, columns):
            c = counts(columns)
            for g in range(n_groups):
                key = {}
                if by:
                    value = groups[g]
                    key = dict(zip(by, value if len(by) > 1 else (value,)))
                answered, imputed = int(c["n_answered"][g]), int(c["n_imputed"][g])
                rows.append(key | {"term": term, "kind": kind, "factor": factor,
                                   "n_answered": answered, "n_imputed": imputed,
                                   "n_no_opinion": int(c["n_no_opinion"][g]),
                                   "n_by_design": int(c["n_by_design"][g]),
                                   "share_imputed": imputed / (answered + imputed)
                                   if answered + imputed else np.nan})

        for f, crits in self.factors.items():
            for c in crits:
                add(c, "criterion", f, [c])
        for f, crits in self.factors.items():
            add(f, "factor", f, crits)
        add("overall", "overall", None, [c for crits in self.factors.values() for c in crits])
        table = pd.DataFrame(rows)
        if by:
            table = table.sort_values(by, kind="stable").reset_index(drop=True)
        return table

    def pool(self, estimator, *, dfcom=None, level: float | None = None,
             keys=None) -> pd.DataFrame:
        """Rubin's rules over ``estimator(design)`` of every completed design (:func:`pool`).

        ``estimator``: a function of a design returning a tidy table (``estimate``,
        ``std_error``, ...). Without a ``df`` column the complete-data df is the design's
        (PSUs minus strata) unless ``dfcom`` is given.
        """
        tables = [estimator(d) for d in self.designs]
        if dfcom is None and "df" not in tables[0]:
            dfcom = float(self.designs[0].df)
        return pool(tables, dfcom=dfcom, level=self.designs[0].level if level is None
                    else level, keys=keys)

    def mean(self, var, *, na_rm: bool = False) -> pd.DataFrame:
        """The pooled :meth:`SurveyDesign.mean` (t intervals on the Barnard–Rubin df)."""
        return self.pool(lambda d: d.mean(var, na_rm=na_rm, df=True))

    def total(self, var, *, na_rm: bool = False) -> pd.DataFrame:
        """The pooled :meth:`SurveyDesign.total`."""
        return self.pool(lambda d: d.total(var, na_rm=na_rm, df=True))

    def by(self, var, by, *, stat: str = "mean", na_rm: bool = False) -> pd.DataFrame:
        """The pooled :meth:`SurveyDesign.by` (each domain on its own design df)."""
        return self.pool(lambda d: d.by(var, by, stat=stat, na_rm=na_rm, df=True))

    def sipas_index(self, *, by=None, satisfied=None, rule=None, factors=None, level=0.95,
                    min_n_eff=100, ci_method="beta") -> pd.DataFrame:
        """The SIPAS indices pooled over the completed designs.

        Arguments as :func:`sipas_analysis.sipas_index`. The estimate is the mean of the
        imputations' indices and ``std_error`` √T; the interval is ``ci_method``'s
        (:func:`sipas_analysis.proportion_interval`, Korn–Graubard by default; ``"normal"``
        gives estimate ± t(df) √T) on the Barnard–Rubin ``df`` (from the group's design df),
        with the binomial-equivalent effective size ``n_eff`` = p (1 − p) / T. ``n``: the
        answered and imputed ratings (respondents for a factor). Columns: the ``by``
        column(s), ``term, kind, factor, estimate, std_error, ci_low, ci_high, n, df, n_eff,
        small_sample, fmi, riv, share_imputed, m``.
        """
        from .indices import sipas_index
        factors = self.factors if factors is None else factors
        # ci_method="mean" gives every table the group's design df, the complete-data df here
        tables = [sipas_index(d, by=by, satisfied=satisfied, rule=rule, factors=factors,
                              level=level, min_n_eff=min_n_eff, ci_method="mean")
                  for d in self.designs]
        tables = [t.drop(columns=["n_eff", "deff", "small_sample"]) for t in tables]
        pooled = pool(tables, level=level)
        p = pooled["estimate"].to_numpy() / 100
        total = pooled["std_error"].to_numpy() ** 2 / 1e4
        n = pooled["n"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            size = np.where(total > 0, p * (1 - p) / total, n)
        if ci_method not in (None, "normal"):
            low, high = intervals.proportion_interval(p, np.sqrt(total), n=n, n_eff=size,
                                                      df=pooled["df"].to_numpy(),
                                                      method=ci_method, level=level)
            pooled["ci_low"], pooled["ci_high"] = 100 * low, 100 * high
        pooled["n"] = np.rint(n).astype(np.int64)
        pooled.insert(pooled.columns.get_loc("df") + 1, "n_eff", size)
        pooled.insert(pooled.columns.get_loc("n_eff") + 1, "small_sample", size < min_n_eff)
        share = self.imputed_share(by=by)
        join = _as_list(by) + ["term"]
        pooled = pooled.merge(share[join + ["share_imputed"]], on=join, how="left")
        return pooled[_index_columns(pooled)]

    def __repr__(self) -> str:
        s = self.settings
        return (f"MultipleImputation(m={self.m}, method={s.get('method')!r}, "
                f"donors={s.get('donors')}, iterations={s.get('iterations')}, "
                f"imputed={sum(int(v.sum()) for v in self.imputed.values())} ratings)")


def _index_columns(pooled: pd.DataFrame) -> list[str]:
    """The pooled index table's columns: the index table's, then the imputation's."""
    last = ["fmi", "riv", "share_imputed", "m"]
    drop = {"within_variance", "between_variance", "statistic", "p_value", *last}
    return [c for c in pooled.columns if c not in drop] + last


def no_opinion_mask(data: pd.DataFrame, criteria) -> dict:
    """criterion -> bool array: the "no opinion" answers a codebook marked
    (column ``<criterion>_no_opinion``); all False where there is no such column."""
    out = {}
    for c in criteria:
        column = f"{c}{NO_OPINION_SUFFIX}"
        out[c] = (data[column].fillna(False).to_numpy(dtype=bool) if column in data
                  else np.zeros(len(data), dtype=bool))
    return out


def impute_ratings(design, *, m: int = 10, columns=None, factors=None, method: str = "pmm",
                   donors: int = 5, iterations: int = 5, seed: Seed = None, unit=None,
                   auxiliary=None, no_opinion=None) -> MultipleImputation:
    """Impute the missing ratings of a design ``m`` times (chained equations, PMM).

    Parameters
    ----------
    design : SurveyDesign
        The survey's design (not a ``ReplicateDesign``); its strata, PSUs, weights and any
        calibration carry over to every completed design.
    m : int
        Number of imputations (>= 2).
    columns : list of str, optional
        The criteria to impute (default: every criterion of ``factors``).
    factors : dict, optional
        factor -> criteria (default ``schema.FACTORS``; a codebook's ``Codebook.factors``).
    method : {"pmm"}
        Predictive mean matching (the module docstring).
    donors : int
        Donors per missing rating (mice's default 5).
    iterations : int
        Sweeps of the chained equations per imputation (mice's default 5).
    seed : int or numpy.random.Generator
        Required; the same seed gives the same completed data.
    unit : str, optional
        The unit column held in every model with the stratum (default: ``unit`` when the
        data have it, else ``province_code``, else the stratum alone).
    auxiliary : list of str, optional
        Further numeric predictors without missing values in the domain.
    no_opinion : DataFrame of bool, optional
        criterion columns marking "no opinion" answers (default: the codebook's
        ``<criterion>_no_opinion`` columns).

    Returns
    -------
    MultipleImputation

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sipas_analysis.design import SurveyDesign
    >>> rng = np.random.default_rng(2)
    >>> data = pd.DataFrame({"stratum": np.repeat([1, 2], 60), "psu": np.repeat(range(12), 10),
    ...                      "c1": rng.integers(1, 6, 120).astype(float),
    ...                      "c2": rng.integers(1, 6, 120).astype(float)})
    >>> data.loc[::7, "c2"] = np.nan
    >>> mi = impute_ratings(SurveyDesign(data, strata="stratum", psu="psu"), m=5,
    ...                     factors={"f": ["c1", "c2"]}, seed=1)
    >>> mi
    MultipleImputation(m=5, method='pmm', donors=5, iterations=5, imputed=18 ratings)
    >>> sorted(mi.designs[0].data["c2"].unique().tolist())
    [1.0, 2.0, 3.0, 4.0, 5.0]
    >>> mi.imputed_share().query("kind == 'factor'")[["term", "n_imputed", "share_imputed"]]
      term  n_imputed  share_imputed
    2    f         18          0.075
    """
    rng = as_generator(seed)
    if not isinstance(design, SurveyDesign) or isinstance(design, ReplicateDesign):
        raise TypeError("impute_ratings needs a SurveyDesign (its PSUs are resampled to draw "
                        "the imputation model's parameters; impute before making replicate "
                        f"weights), got {type(design).__name__}")
    problems = []
    if method not in METHODS:
        problems.append(f"method must be one of {METHODS}, got {method!r}")
    for name, value, low in (("m", m, 2), ("donors", donors, 1), ("iterations", iterations, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            problems.append(f"{name} must be a whole number >= {low}, got {value!r}")
    data = design.data
    factors = {f: list(c) for f, c in (schema.FACTORS if factors is None else factors).items()}
    criteria = [c for crits in factors.values() for c in crits]
    columns = criteria if columns is None else _as_list(columns)
    unknown = [c for c in columns if c not in criteria]
    if unknown:
        problems.append(f"columns to impute that are not criteria of the factors: {unknown}")
    absent = [c for c in criteria if c not in data]
    if absent:
        problems.append(f"rating columns missing from the data: {absent}")
    auxiliary = _as_list(auxiliary)
    absent_aux = [c for c in auxiliary if c not in data]
    if absent_aux:
        problems.append(f"auxiliary columns missing from the data: {absent_aux}")
    if problems:
        message = "impute_ratings: " + "; ".join(problems)
        if absent or absent_aux:
            raise schema.MissingColumnError(message, absent + absent_aux)
        raise ValueError(message)
    domain = design.weights > 0
    bad_aux = [f"{c!r} ({int(k)} rows)" for c in auxiliary
               if (k := (~np.isfinite(pd.to_numeric(data[c], errors="coerce")
                                      .to_numpy(dtype=float))[domain]).sum())]
    if bad_aux:
        raise ValueError("impute_ratings: auxiliary columns must be numbers without missing "
                         f"values in the domain: {', '.join(bad_aux)}")

    n = len(data)
    by_design_row = ((data["used_service"] == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712
                     if "used_service" in data else np.zeros(n, dtype=bool))
    if no_opinion is None:
        opinion = no_opinion_mask(data, criteria)
    else:
        opinion = {c: (no_opinion[c].fillna(False).to_numpy(dtype=bool) if c in no_opinion
                       else np.zeros(n, dtype=bool)) for c in criteria}
    ratings = np.column_stack([data[c].to_numpy(dtype=float, na_value=np.nan)
                               for c in criteria])
    answered = ~np.isnan(ratings)
    contradictory = [c for j, c in enumerate(criteria) if (opinion[c] & answered[:, j]).any()]
    if contradictory:
        raise ValueError(f"impute_ratings: rows marked 'no opinion' that hold a rating in "
                         f"{contradictory}")
    eligible = domain & ~by_design_row
    target = {c: eligible & ~answered[:, j] & ~opinion[c] if c in columns
              else np.zeros(n, dtype=bool) for j, c in enumerate(criteria)}

    # Fixed effects: one cell per stratum x unit (the unit is usually nested in the stratum).
    if unit is None:
        unit = "unit" if "unit" in data else ("province_code" if "province_code" in data
                                              else None)
    parts = [design._stratum]
    if unit is not None:
        parts.append(pd.factorize(data[unit].astype(object))[0])
    cell = pd.factorize(pd.MultiIndex.from_arrays(parts))[0] if len(parts) > 1 else parts[0]
    rows = np.flatnonzero(eligible)
    cell = pd.factorize(cell[rows])[0]
    n_cells = int(cell.max()) + 1 if rows.size else 0
    x_fixed = _fixed_predictors(data, rows, design.weights[rows], auxiliary)

    opinion_rows = np.column_stack([opinion[c][rows] for c in criteria])
    observed = answered[rows]
    wanted = np.column_stack([target[c][rows] for c in criteria])
    factor_index = [[criteria.index(c) for c in crits] for crits in factors.values()]
    factor_of = {j: f for f, cols in enumerate(factor_index) for j in cols}
    boot = design.bootstrap_factors(n_reps=m, seed=rng)[design.psu_codes[rows]]
    chains = rng.spawn(m)
    completed = []
    for chain in range(m):
        values = _one_chain(ratings[rows], observed, wanted, opinion_rows, cell, n_cells,
                            x_fixed, factor_index, factor_of, boot[:, chain], donors,
                            iterations, chains[chain])
        frame = data.copy()
        for j, c in enumerate(criteria):
            if wanted[:, j].any():
                column = frame[c].to_numpy(dtype=float, na_value=np.nan).copy()
                column[rows] = values[:, j]
                frame[c] = column
        for f, crits in factors.items():      # the derived factor scores follow their ratings
            score = f"{f}_score"
            if score in frame and any(target[c].any() for c in crits):
                frame[score] = frame[crits].mean(axis=1, skipna=True)
        new = copy.copy(design)
        new.data = frame
        completed.append(new)
    by_design = {c: domain & by_design_row & ~answered[:, j] for j, c in enumerate(criteria)}
    return MultipleImputation(
        designs=tuple(completed), imputed=target,
        no_opinion={c: domain & opinion[c] for c in criteria}, by_design=by_design,
        factors=factors,
        settings={"m": int(m), "method": method, "donors": int(donors),
                  "iterations": int(iterations), "unit": unit})


def _fixed_predictors(data, rows, weights, auxiliary) -> np.ndarray:
    """Predictors that do not change during the chain: overall satisfaction (mean-filled,
    with a missing indicator), the log weight when weights vary, the auxiliary columns."""
    out = []
    if "overall_satisfaction" in data:
        overall = data["overall_satisfaction"].to_numpy(dtype=float, na_value=np.nan)[rows]
        missing = np.isnan(overall)
        if (~missing).any():
            out.append(np.where(missing, np.nanmean(overall), overall))
            if missing.any() and (~missing).any():
                out.append(missing.astype(float))
    log_w = np.log(np.maximum(weights, 1e-300))
    if log_w.size and log_w.std() > 1e-9:
        out.append(log_w)
    for c in auxiliary:
        out.append(pd.to_numeric(data[c], errors="coerce").to_numpy(dtype=float)[rows])
    return np.column_stack(out) if out else np.empty((len(rows), 0))


def _one_chain(ratings, observed, wanted, opinion, cell, n_cells, x_fixed, factor_index,
               factor_of, boot, donors, iterations, rng) -> np.ndarray:
    """One chain of the chained equations on the eligible rows; returns the completed
    ratings (no-opinion cells stay NaN)."""
    indicator = scipy.sparse.csr_matrix((np.ones(cell.size), (cell, np.arange(cell.size))),
                                        shape=(n_cells, cell.size))
    values = ratings.copy()
    # start: a random observed rating of the same criterion (mice's initialisation)
    for j in np.flatnonzero(wanted.any(axis=0)):
        pool_ = values[observed[:, j], j]
        if pool_.size == 0:
            raise ValueError(f"impute_ratings: criterion {j} has no observed rating to "
                             "impute from")
        missing = np.flatnonzero(wanted[:, j])
        values[missing, j] = pool_[rng.integers(0, pool_.size, missing.size)]
    # As a predictor, a rating left missing on purpose counts as its criterion's mean rating.
    means = np.array([np.nanmean(values[:, j]) if (~np.isnan(values[:, j])).any() else 0.0
                      for j in range(values.shape[1])])
    filled = np.where(np.isnan(values), means, values)
    factor_means = np.column_stack([filled[:, cols].mean(axis=1) for cols in factor_index])
    fit_weights = np.column_stack([np.ones(len(values)), boot])
    for _ in range(iterations):
        for j in np.flatnonzero(wanted.any(axis=0)):
            f = factor_of[j]
            own = [k for k in factor_index[f] if k != j]
            others = [g for g in range(len(factor_index)) if g != f]
            x = np.column_stack([filled[:, own], factor_means[:, others], x_fixed])
            fit_rows = observed[:, j]
            y = values[:, j]
            (alpha_hat, beta_hat), (alpha_dot, beta_dot) = _cell_regression(
                x, y, fit_rows, fit_weights, indicator)
            donors_rows = np.flatnonzero(fit_rows)
            recipients = np.flatnonzero(wanted[:, j])
            predicted_donor = alpha_hat[cell[donors_rows]] + x[donors_rows] @ beta_hat
            predicted_recipient = alpha_dot[cell[recipients]] + x[recipients] @ beta_dot
            chosen = _match(predicted_donor, predicted_recipient, donors, rng)
            values[recipients, j] = y[donors_rows[chosen]]
            filled[recipients, j] = values[recipients, j]
            factor_means[:, f] = filled[:, factor_index[f]].mean(axis=1)
    return np.where(opinion, np.nan, values)


def _cell_regression(x, y, rows, weights, indicator):
    """Weighted least squares of y on x with one intercept per cell (within-cell centring,
    Frisch–Waugh), on ``rows``, once for each column of ``weights`` (the full data's 1, a
    bootstrap replicate's factors).

    ``indicator``: the sparse (cells × rows) cell indicator. Computed from sufficient
    statistics (cross-products and cell sums, all fits in one matrix product) so no row subset
    is copied. Returns a list of (alpha (n_cells,), beta), one per fit. A cell without fitting
    rows takes the first fit's intercept (or, in the first fit, the weighted mean of the other
    cells' intercepts)."""
    k = weights.shape[1]
    p = x.shape[1]
    w = np.where(rows[:, None], weights, 0.0)                 # (n, k)
    z = np.asfortranarray(np.column_stack([x, np.where(rows, y, 0.0)]))   # (n, p + 1)
    # Cross-products one weighted column at a time (matrix-vector products): a threaded
    # matrix-matrix product of these thin shapes is many times slower on a busy machine.
    cross = np.empty((p + 1, k, p + 1))
    wz = np.empty((len(z), k, p + 1))
    for f in range(k):
        wz[:, f] = z * w[:, f:f + 1]
        for a in range(p + 1):
            cross[a, f] = wz[:, f, a] @ z
    cell_sums = (indicator @ wz.reshape(len(z), -1)).reshape(-1, k, p + 1)
    cell_weight = indicator @ w                               # (cells, k)
    fits = []
    for f in range(k):
        has = cell_weight[:, f] > 0
        means = cell_sums[:, f] / np.where(has, cell_weight[:, f], 1.0)[:, None]
        centred = cross[:, f] - cell_sums[has, f].T @ means[has]   # within-cell products
        if p:
            xtx = centred[:p, :p].copy()
            # a whisper of ridge keeps a constant predictor (a factor all rated alike) solvable
            xtx[np.diag_indices_from(xtx)] += 1e-8 * (1 + np.abs(np.diag(xtx)))
            beta = np.linalg.solve(xtx, centred[:p, p])
        else:
            beta = np.empty(0)
        alpha = means[:, p] - means[:, :p] @ beta
        if not has.all():
            alpha = np.where(has, alpha, fits[0][0] if fits else
                             np.average(alpha[has], weights=cell_weight[has, f]))
        fits.append((alpha, beta))
    return fits


def _match(donor, recipient, k, rng) -> np.ndarray:
    """For each recipient, one of the ``k`` donors whose predictions are nearest, at random
    (mice's matcher); returns donor positions."""
    n_donors = donor.size
    k = min(k, n_donors)
    # tiny noise breaks ties between identical predictions at random, as mice does
    scale = donor.std() if n_donors > 1 else 1.0
    donor = donor + rng.uniform(0, 1e-7 * (scale or 1.0), n_donors)
    order = np.argsort(donor, kind="stable")
    sorted_ = donor[order]
    position = np.searchsorted(sorted_, recipient)
    window = position[:, None] + np.arange(-k, k)[None, :]
    inside = (window >= 0) & (window < n_donors)
    clipped = np.clip(window, 0, n_donors - 1)
    distance = np.where(inside, np.abs(sorted_[clipped] - recipient[:, None]), np.inf)
    nearest = np.argpartition(distance, k - 1, axis=1)[:, :k]
    pick = nearest[np.arange(recipient.size), rng.integers(0, k, recipient.size)]
    return order[clipped[np.arange(recipient.size), pick]]
