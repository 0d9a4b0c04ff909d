"""Satisfaction as points of the administrative-reform (PAR) index.

A province scores each agency's PAR index with a satisfaction component: the Department of
Home Affairs turns the agency's SIPAS index (0-100) into points of that component (for example
21.56 of 25). The rule is a setting (:class:`ParRule`): ``linear`` (``points = max × index /
100``, the default) or ``bands``, a piecewise table some provinces use (an index from 95 gives
the full points, from 90 a little less, ...).

The points carry the index's uncertainty: the interval in points is the index's interval
mapped through the rule (the rule is non-decreasing, so the bounds map to bounds), and, for
banded rules, ``p_band_differs`` is the approximate probability that the agency's band would
differ from the band of its estimate: the share of draws from the estimate's sampling
distribution (t with the estimate's design df, clipped to 0-100) that fall in another band.
It is labelled approximate: the draws take the estimate as the truth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import files, language, schema
from .rng import Seed, as_generator

RULES = ("linear", "bands")


@dataclass(frozen=True)
class ParRule:
    """How an index becomes points: ``maximum`` points, ``rule`` ``"linear"`` or ``"bands"``;
    ``bands``: (lowest index, points) pairs, an index from that value up to the next band's
    getting those points (an index below the lowest band gets 0).

    Examples
    --------
    >>> ParRule(maximum=25).points(np.array([86.24, 100.0]))
    array([21.56, 25.  ])
    >>> banded = ParRule(maximum=2, rule="bands", bands=((80, 1.0), (90, 1.5), (95, 2.0)))
    >>> banded.points(np.array([79.9, 80.0, 92.0, 99.0]))
    array([0. , 1. , 1.5, 2. ])
    """

    maximum: float = 25.0
    rule: str = "linear"
    bands: tuple = ()

    def __post_init__(self):
        problems = []
        if not (isinstance(self.maximum, (int, float)) and not isinstance(self.maximum, bool)
                and np.isfinite(self.maximum) and self.maximum > 0):
            problems.append(f"the maximum points must be a number > 0, got {self.maximum!r}")
        if self.rule not in RULES:
            problems.append(f"rule must be one of {RULES}, got {self.rule!r}")
        bands = tuple((float(low), float(points)) for low, points in self.bands)
        object.__setattr__(self, "bands", bands)
        if self.rule == "bands":
            lows = [low for low, _ in bands]
            if not bands:
                problems.append("rule 'bands' needs at least one band (from index, points)")
            elif lows != sorted(lows) or len(set(lows)) < len(lows):
                problems.append(f"bands must be listed from the lowest index up, each once, "
                                f"got {lows}")
            elif [p for _, p in bands] != sorted(p for _, p in bands):
                problems.append("a higher band may not give fewer points")
            elif any(not 0 <= low <= 100 for low in lows) or \
                    any(not 0 <= p <= self.maximum for _, p in bands):
                problems.append(f"bands start at an index 0-100 and give 0-{self.maximum:g} "
                                "points")
        if problems:
            raise ValueError("PAR rule: " + "; ".join(problems))

    @classmethod
    def from_codebook(cls, par: dict, *, maximum=None) -> "ParRule":
        """The codebook's ``par:`` (``max``, ``rule``, ``bands`` as ``[{from: 95, points:
        25}, ...]``), with ``maximum`` (``--par-max``) overriding its ``max``."""
        bands = tuple((b["from"], b["points"]) for b in par.get("bands") or ())
        top = maximum if maximum is not None else par.get("max", 25.0)
        return cls(maximum=top, rule=par.get("rule", "linear"), bands=bands)

    def band_of(self, index: np.ndarray) -> np.ndarray:
        """The band number of each index (0: below the lowest band; linear rule: all -1)."""
        if self.rule == "linear":
            return np.full(np.shape(index), -1)
        lows = np.array([low for low, _ in self.bands])
        return np.searchsorted(lows, np.asarray(index, dtype=float), side="right")

    def points(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=float)
        if self.rule == "linear":
            return np.round(self.maximum * index / 100.0, 10)
        levels = np.concatenate([[0.0], [p for _, p in self.bands]])
        return np.where(np.isnan(index), np.nan, levels[self.band_of(index)])

    def describe(self, lang: str = "en") -> str:
        """The rule as a sentence in ``lang`` (numbers written the language's way).

        Examples
        --------
        >>> ParRule(maximum=25).describe("vi")
        'điểm = 25 × chỉ số / 100'
        >>> ParRule(maximum=2, rule="bands", bands=((80, 1.5), (95, 2.0))).describe("vi")
        'chỉ số từ 80: 1,5 điểm; chỉ số từ 95: 2 điểm (tối đa 2; dưới 80: 0)'
        """
        words = _RULE_TEXT[language.check_lang(lang)]

        def number(value):
            return f"{value:g}".replace(".", "," if lang == "vi" else ".")
        if self.rule == "linear":
            return words["linear"].format(maximum=number(self.maximum))
        return "; ".join(words["band"].format(low=number(low), points=number(points))
                         for low, points in self.bands) + words["bands_end"].format(
            maximum=number(self.maximum), lowest=number(self.bands[0][0]))


_RULE_TEXT = {
    "en": {"linear": "points = {maximum} × index / 100", "band": "index ≥ {low}: {points} points",
           "bands_end": " (of {maximum}; below {lowest}: 0)"},
    "vi": {"linear": "điểm = {maximum} × chỉ số / 100", "band": "chỉ số từ {low}: {points} điểm",
           "bands_end": " (tối đa {maximum}; dưới {lowest}: 0)"},
}


def par_table(table: pd.DataFrame, rule: ParRule, *, unit="unit", n_draws: int = 20000,
              seed: Seed = 0) -> pd.DataFrame:
    """Each unit's index as PAR points with its interval, and, for a banded rule, the
    approximate probability that its band would differ.

    ``table``: one row per unit, with ``estimate`` (percent), ``std_error``, ``ci_low``,
    ``ci_high`` and optionally ``df`` (from ``sa.sipas_index(...)``'s overall rows). Returns the
    unit column, ``index, index_low, index_high, points, points_low, points_high, max_points,
    rule`` and, for bands, ``band`` (1 = the lowest band, 0 = below it) and ``p_band_differs``
    (``n_draws`` t draws with the unit's df, normal without a df column; NaN where the
    standard error is unknown). A unit without an estimate keeps its row with NaN points.

    Examples
    --------
    >>> table = pd.DataFrame({"unit": ["Sở A", "Sở B"], "estimate": [86.24, 97.0],
    ...                       "std_error": [2.0, 0.5], "ci_low": [81.9, 95.8],
    ...                       "ci_high": [90.1, 97.9]})
    >>> par_table(table, ParRule(maximum=25))[["unit", "points", "points_low", "points_high"]]
       unit  points  points_low  points_high
    0  Sở A   21.56      20.475       22.525
    1  Sở B   24.25      23.950       24.475
    """
    schema.require_columns(table, [unit, "estimate", "std_error", "ci_low", "ci_high"],
                           "par_table")
    estimate = table["estimate"].to_numpy(float)
    out = pd.DataFrame({unit: table[unit].to_numpy(),
                        "index": estimate,
                        "index_low": table["ci_low"].to_numpy(float),
                        "index_high": table["ci_high"].to_numpy(float)})
    out["points"] = rule.points(estimate)
    out["points_low"] = rule.points(out["index_low"].to_numpy())
    out["points_high"] = rule.points(out["index_high"].to_numpy())
    out["max_points"] = rule.maximum
    out["rule"] = rule.describe()
    if rule.rule == "bands":
        band = rule.band_of(estimate)
        out["band"] = np.where(np.isnan(estimate), -1, band)
        out["p_band_differs"] = _p_band_differs(rule, estimate, table["std_error"].to_numpy(
            float), table["df"].to_numpy(float) if "df" in table else None, n_draws, seed)
    return out


def _p_band_differs(rule, estimate, se, df, n_draws, seed) -> np.ndarray:
    rng = as_generator(seed)
    out = np.full(len(estimate), np.nan)
    for i, (theta, s) in enumerate(zip(estimate, se)):
        if not (np.isfinite(theta) and np.isfinite(s)):
            continue
        # one unit's draws at a time: the memory stays n_draws whatever the number of units
        dof = df[i] if df is not None and np.isfinite(df[i]) and df[i] > 0 else None
        noise = rng.standard_t(dof, n_draws) if dof is not None else rng.standard_normal(n_draws)
        draws = np.clip(theta + s * noise, 0.0, 100.0)
        out[i] = float(np.mean(rule.band_of(draws) != rule.band_of(np.array([theta]))[0]))
    return out


def write_par_workbook(table: pd.DataFrame, path, *, unit="unit", lang="vi",
                       rule: ParRule | None = None) -> None:
    """The PAR appraisal table, ready to paste: one sheet in the reader's language
    (headers of :func:`~sipas_analysis.language.reader_table`, the rule in words when
    ``rule`` is given), numbers stay numbers. Written atomically, formulas neutralised, the
    header row frozen (files.write_workbook)."""
    shown = table.rename(columns={unit: "unit"})
    if rule is not None and "rule" in shown:
        shown = shown.assign(rule=rule.describe(lang))
    files.write_workbook({language.text("sheet.par_points", lang):
                          language.reader_table(shown, lang)}, path)
