"""What a report shows beyond numbers: headings, unit names, tables ready to display, and the
one suppression rule every table, figure, workbook and index page applies.

Computations never round or format; this module and the sections do, at the very end. Numbers
are written as each language writes them: 85,15 % and 1.250 người in Vietnamese, 85.15 % and
1,250 in English.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import reference
from ..intervals import suppressed
from ..language import check_lang, format_count, format_interval, format_number, term_label, text


def heading(key: str, params, *, level: int = 2, **values) -> str:
    """A Markdown heading in the report's language.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> heading("section_caveats", SimpleNamespace(lang="en"))
    '## Caveats'
    """
    return "#" * level + " " + text(key, params.lang, **values)


def unit_name(unit_set: str, province_code: str, lang: str) -> str:
    """'Hà Nội' in both languages for names (Vietnamese names keep their diacritics in English
    reports too, as the government's English pages write them).

    Examples
    --------
    >>> unit_name("63", "79", "en")
    'Hồ Chí Minh'
    """
    check_lang(lang)
    table = reference.provinces(unit_set).set_index("province_code")
    if province_code not in table.index:
        raise ValueError(f"no unit {province_code!r} in the {unit_set}-unit set")
    return str(table.loc[province_code, "name_vi"])


def suppression_flags(table: pd.DataFrame, *, min_n_eff: float, max_ci_width: float = 30.0,
                      max_relative_ci_width: float = 130.0) -> np.ndarray:
    """The one suppression rule of every report output: which rows of an index table (percent
    scale: ``estimate``, ``ci_low``, ``ci_high``, ``n``, ``n_eff``) are withheld.

    The NCHS presentation standards for proportions (:func:`sipas_analysis.intervals.suppressed`,
    Parker et al. 2017): an effective sample below ``min_n_eff`` (the effective size taken as
    ``n`` for an estimate of exactly 0 or 100 %, whose design effect is undefined, and never
    above ``n``), an interval ``max_ci_width`` points wide or wider, or an interval wider than
    5 points and than ``max_relative_ci_width`` % of the estimate. Without an ``n`` column an
    undefined ``n_eff`` suppresses; without intervals only the size rule applies.

    Examples
    --------
    >>> table = pd.DataFrame({"estimate": [90.0, 100.0, 70.0], "ci_low": [84.0, 73.5, 50.0],
    ...                       "ci_high": [94.0, 100.0, 86.0], "n": [150, 12, 40],
    ...                       "n_eff": [60.0, np.nan, 35.0]})
    >>> suppression_flags(table, min_n_eff=30)
    array([False,  True,  True])
    """
    estimate = table["estimate"].to_numpy(dtype=float)
    n_eff = table["n_eff"].to_numpy(dtype=float)
    n = table["n"].to_numpy(dtype=float) if "n" in table else n_eff
    low, high = ((table["ci_low"].to_numpy(dtype=float), table["ci_high"].to_numpy(dtype=float))
                 if {"ci_low", "ci_high"} <= set(table.columns) else (estimate, estimate))
    return suppressed(estimate / 100, low / 100, high / 100, n=n, n_eff=n_eff,
                      min_n_eff=min_n_eff, max_width=max_ci_width / 100,
                      max_relative_width=max_relative_ci_width / 100)


def blank_suppressed(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` whose rows flagged in its ``suppressed`` column have no estimate,
    standard error or interval (and no difference or p-value, for comparisons). Rows are kept,
    never dropped; a table without the column is returned as it is."""
    if "suppressed" not in table:
        return table
    out = table.copy()
    hidden = out["suppressed"].to_numpy(dtype=bool)
    for column in ["estimate", "std_error", "ci_low", "ci_high", "statistic", "p_value",
                   "p_adjusted"]:
        if column in out:
            out.loc[hidden, column] = np.nan
    return out


def suppress_small(table: pd.DataFrame, *, min_n_eff: float, max_ci_width: float = 30.0,
                   max_relative_ci_width: float = 130.0) -> pd.DataFrame:
    """Flag the rows :func:`suppression_flags` withholds in a boolean ``suppressed`` column
    and blank their estimate and interval. Rows are kept, never dropped.

    Examples
    --------
    >>> table = pd.DataFrame({"estimate": [90.0, 80.0], "n_eff": [120.0, 12.0]})
    >>> suppress_small(table, min_n_eff=30)
       estimate  n_eff  suppressed
    0      90.0  120.0       False
    1       NaN   12.0        True
    """
    flags = suppression_flags(table, min_n_eff=min_n_eff, max_ci_width=max_ci_width,
                              max_relative_ci_width=max_relative_ci_width)
    return blank_suppressed(table.assign(suppressed=flags))


def display_index_table(index: pd.DataFrame, lang: str, *, extra_columns=None) -> pd.DataFrame:
    """A SIPAS index table ready to show: localised labels and numbers as strings."""
    check_lang(lang)
    shown = pd.DataFrame({
        text("criterion", lang) if (index["kind"] == "criterion").all() else
        text("factor", lang): [term_label(t, lang) for t in index["term"]],
        text("estimate", lang): [format_number(v, lang) for v in index["estimate"]],
        text("ci", lang): [format_interval(lo, hi, lang)
                           for lo, hi in zip(index["ci_low"], index["ci_high"])],
        text("n", lang): [format_count(v, lang) for v in index["n"]],
    })
    for name, values in (extra_columns or {}).items():
        shown[name] = list(values)
    return shown


class HtmlTable:
    """A display-ready table for notebooks: plain HTML without the index, with no random ids
    (pandas' Styler adds some), so that re-executed notebooks compare equal (nbval)."""

    def __init__(self, table: pd.DataFrame, *, caption: str | None = None):
        self.table, self.caption = table, caption

    def _repr_html_(self) -> str:
        html = self.table.to_html(index=False, border=0, classes="sipas-table", escape=True)
        return f"<p><em>{self.caption}</em></p>{html}" if self.caption else html

    def __repr__(self) -> str:
        return self.table.to_string(index=False)


def markdown_list(items: list[str]) -> str:
    """Sentences as a Markdown bullet list.

    Examples
    --------
    >>> print(markdown_list(["one", "two"]))
    - one
    - two
    """
    return "\n".join(f"- {item}" for item in items)


def row(table: pd.DataFrame, **where) -> pd.Series:
    """The one row of ``table`` where every column equals its value (ValueError otherwise)."""
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= (table[column] == value).to_numpy()
    if mask.sum() != 1:
        raise ValueError(f"expected one row for {where}, found {int(mask.sum())}")
    return table[mask].iloc[0]


def unit_region(params):
    """(region_id, region name in the language) of the unit, or (None, None) when a post-2025
    unit spans several regions (it is then compared with the nation only)."""
    found = row(reference.provinces(params.unit_set), province_code=params.province_code)
    if pd.isna(found["region_id"]):
        return None, None
    return int(found["region_id"]), found["region_vi" if params.lang == "vi" else "region_en"]
