"""Fitting one estimator to one data set: the models a declaration's estimators may name.

Every estimator gives rows of ``term, unit, kind, estimate, std_error, ci_low, ci_high,
p_value``, whatever its model (``unit`` is "" for a single value, ``kind`` "value" or "rank").
The same code fits an estimator to each simulated sample and, for census targets, to the
simulated population.

Estimators (``model``)
----------------------
``linear``, ``logit``, ``ordinal`` (``models.fit_*``; terms are the model's coefficients and
cut-points), ``multilevel`` (``models.fit_multilevel`` with ``groups`` and ``re_formula``; fixed
terms by name and province-specific effects as ``"<groups>:<term>"``, one row per province;
always unweighted), ``mean`` (``SurveyDesign.mean`` of the variables named in ``formula``, e.g.
``"overall_satisfaction"``), ``index`` (``indices.sipas_index`` by ``by``; terms are criteria,
factors and ``"overall"``), ``rank`` (``indices.rank_units`` on the index ``term``: estimate =
rank, interval = rank confidence set), ``importance`` (``relative_importance``; terms
``"share"``, ``"lmg"`` and ``"rank"``, one row per driver).

``weighted`` and ``design_based`` say how: both true (default) uses the full design (weights,
strata, PSUs); ``weighted: false, design_based: true`` equal weights with the design's strata and
PSUs; ``weighted: true, design_based: false`` the weights with independent rows (clusters
ignored); both false is the deliberately naive estimator (a plain DataFrame: unweighted, iid,
model-based standard errors).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sipas_analysis import indices, intervals
from sipas_analysis.design import SurveyDesign
from sipas_analysis.evaluate.declaration import Declaration, Estimator
from sipas_analysis.models import fit_linear, fit_logit, fit_multilevel, fit_ordinal, tidy
from sipas_analysis.models.importance import relative_importance


class _Designs:
    """The survey designs of one data set, built on first use (weighted x design_based)."""

    def __init__(self, data: pd.DataFrame, declaration: Declaration):
        self.data = data
        self.columns = {k: v for k, v in declaration.design_columns.items() if v is not None}
        self.lonely_psu = declaration.lonely_psu
        self._cache = {}

    def get(self, *, weighted: bool, design_based: bool, dataframe_ok: bool = True):
        if not weighted and not design_based and dataframe_ok:
            return self.data
        key = (weighted, design_based)
        if key not in self._cache:
            options = {}
            if weighted and "weights" in self.columns:
                options["weights"] = self.columns["weights"]
            if design_based:
                options.update({k: self.columns[k] for k in ("strata", "psu", "fpc")
                                if k in self.columns})
            self._cache[key] = SurveyDesign(self.data, lonely_psu=self.lonely_psu, **options)
        return self._cache[key]

    def index(self, *, weighted: bool, design_based: bool, by) -> pd.DataFrame:
        """``sipas_index`` by ``by``, computed once (index and rank estimators share it)."""
        key = ("index", weighted, design_based, by)
        if key not in self._cache:
            design = self.get(weighted=weighted, design_based=design_based, dataframe_ok=False)
            columns = [by] if isinstance(by, str) else (list(by) if by else None)
            # the intervals the reports print: Korn-Graubard with the units' design df
            self._cache[key] = indices.sipas_index(design, by=columns,
                                                   ci_method=intervals.DEFAULT_METHOD)
        return self._cache[key]


def _unit_keys(table: pd.DataFrame, by) -> np.ndarray:
    """One text key per row from the ``by`` column(s) ("" without by; "2024/01" for two)."""
    if by is None:
        return np.full(len(table), "", dtype=object)
    columns = [by] if isinstance(by, str) else list(by)
    keys = table[columns[0]].astype(str)
    for column in columns[1:]:
        keys = keys + "/" + table[column].astype(str)
    return keys.to_numpy(dtype=object)


def _from_tidy(table: pd.DataFrame, *, kind="value") -> pd.DataFrame:
    return pd.DataFrame({"term": table["term"].astype(str).to_numpy(), "unit": "",
                         "kind": kind, "estimate": table["estimate"].to_numpy(float),
                         "std_error": table["std_error"].to_numpy(float),
                         "ci_low": table["ci_low"].to_numpy(float),
                         "ci_high": table["ci_high"].to_numpy(float),
                         "p_value": (table["p_value"].to_numpy(float) if "p_value" in table
                                     else np.full(len(table), np.nan))})


def _normal_p(estimate, se):
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2 * stats.norm.sf(np.abs(np.asarray(estimate) / np.asarray(se)))


def _estimate(estimator: Estimator, designs: _Designs, seed) -> pd.DataFrame:
    """Fit one estimator: columns term, unit, kind, estimate, std_error, ci_low, ci_high,
    p_value."""
    model = estimator.model
    weighted, design_based = estimator.is_weighted, estimator.is_design_based
    if model in ("linear", "logit", "ordinal"):
        fit = {"linear": fit_linear, "logit": fit_logit, "ordinal": fit_ordinal}[model]
        target = designs.get(weighted=weighted, design_based=design_based)
        return _from_tidy(tidy(fit(estimator.formula, target)))
    if model == "mean":
        design = designs.get(weighted=weighted, design_based=design_based, dataframe_ok=False)
        variables = [v.strip() for v in estimator.formula.split("+")]
        table = design.mean(variables, na_rm=True)
        out = _from_tidy(table)
        out["p_value"] = _normal_p(out["estimate"], out["std_error"])
        return out
    if model == "multilevel":
        result = fit_multilevel(estimator.formula, designs.data, groups=estimator.groups,
                                re_formula=estimator.re_formula, level=estimator.level)
        fixed = _from_tidy(tidy(result))
        effects = result.extra["group_effects"]
        groups = pd.DataFrame({
            "term": (estimator.groups + ":" + effects["term"].astype(str)).to_numpy(),
            "unit": effects[estimator.groups].astype(str).to_numpy(), "kind": "value",
            "estimate": effects["estimate"].to_numpy(float),
            "std_error": effects["std_error"].to_numpy(float),
            "ci_low": effects["ci_low"].to_numpy(float),
            "ci_high": effects["ci_high"].to_numpy(float), "p_value": np.nan})
        return pd.concat([fixed, groups], ignore_index=True)
    if model in ("index", "rank"):
        by = [estimator.by] if isinstance(estimator.by, str) else \
            (list(estimator.by) if estimator.by else None)
        table = designs.index(weighted=weighted, design_based=design_based, by=estimator.by)
        if model == "index":
            out = _from_tidy(table)
            out["unit"] = _unit_keys(table, estimator.by)
            out["p_value"] = np.nan
            return out
        out = []
        for term in estimator.inquiries:
            rows = table[table["term"] == term]
            if rows.empty:
                continue
            ranks = indices.rank_units(rows[by + ["estimate", "std_error", "df"]], unit=by,
                                       level=estimator.level, simultaneous=estimator.simultaneous,
                                       n_draws=estimator.n_draws, seed=seed)
            out.append(pd.DataFrame({
                "term": term, "unit": _unit_keys(ranks, estimator.by), "kind": "rank",
                "estimate": ranks["rank"].to_numpy(float), "std_error": np.nan,
                "ci_low": ranks["rank_low"].to_numpy(float),
                "ci_high": ranks["rank_high"].to_numpy(float), "p_value": np.nan}))
        return pd.concat(out, ignore_index=True) if out else _from_tidy(table.iloc[:0])
    if model == "importance":
        target = designs.get(weighted=weighted, design_based=design_based)
        result = relative_importance(estimator.formula, target, n_reps=estimator.n_reps,
                                     seed=seed, level=estimator.level)
        table = result.table
        parts = []
        for term, column, low, high, kind in (("share", "share", "share_ci_low", "share_ci_high",
                                               "value"),
                                              ("lmg", "lmg", "ci_low", "ci_high", "value"),
                                              ("rank", "rank", "rank_low", "rank_high", "rank")):
            parts.append(pd.DataFrame({
                "term": term, "unit": table["term"].astype(str).to_numpy(), "kind": kind,
                "estimate": table[column].to_numpy(float), "std_error": np.nan,
                "ci_low": table[low].to_numpy(float), "ci_high": table[high].to_numpy(float),
                "p_value": np.nan}))
        return pd.concat(parts, ignore_index=True)
    raise ValueError(f"unknown model {model!r}")  # unreachable after validation
