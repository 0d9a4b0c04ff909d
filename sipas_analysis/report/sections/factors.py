"""The unit's overall index and factors against the nation and its region: the table and the
figure. :func:`comparison_table` also makes the criteria section's table."""
from __future__ import annotations

import pandas as pd

from ... import plots
from ...multiple_comparisons import adjust_p_values
from ...language import format_interval, format_number, term_label, text
from ..display import HtmlTable, blank_suppressed, heading, unit_name, unit_region
from ..figures import Figure
from .base import Section


def versus_nation(shared, params) -> pd.DataFrame:
    """The unit's differences from the nation (every term), with ``p_adjusted``: the p-values
    adjusted for their number within the report (``settings.p_adjust``), the family being the
    comparisons the report shows (those of suppressed estimates are withheld, blank); for
    ``"simultaneous"`` it is all the unit's terms, whose covariance the shared results hold."""
    versus = blank_suppressed(
        shared.versus_nation[shared.versus_nation["group"] == params.province_code])
    if shared.settings.p_adjust == "simultaneous":
        # max-t over the unit's contrasts, from their covariance (computed with them)
        adjusted = versus["p_simultaneous"].where(versus["p_value"].notna())
        return versus.assign(p_adjusted=adjusted)
    return versus.assign(p_adjusted=adjust_p_values(versus["p_value"].to_numpy(),
                                                    shared.settings.p_adjust))


def comparison_table(shared, params, *, kind: str = "factor") -> pd.DataFrame:
    """The unit's indices (``kind`` "factor" or "criterion", with the overall first for
    factors) against the nation and its region, display-ready: localised labels, numbers as
    strings, suppressed estimates shown as "—"."""
    lang = params.lang
    kinds = ["overall", "factor"] if kind == "factor" else [kind]
    unit = shared.units[(shared.units["province_code"] == params.province_code)
                        & shared.units["kind"].isin(kinds)]
    unit = blank_suppressed(unit)
    nation = shared.national.set_index("term")
    versus = versus_nation(shared, params).set_index("term")
    p_label = shared.settings.describe(lang)["p_value_label"]
    region_id, region_name = unit_region(params)
    region = (shared.regions[shared.regions["region_id"] == region_id].set_index("term")
              if region_id is not None else None)
    rows = []
    for row in unit.itertuples(index=False):
        difference = versus.loc[row.term] if row.term in versus.index else None
        shown = {
            text("criterion" if kind == "criterion" else "factor", lang):
                term_label(row.term, lang),
            unit_name(params.unit_set, params.province_code, lang) + " (%)":
                format_number(row.estimate, lang),
            text("ci", lang): "—" if row.suppressed else
                format_interval(row.ci_low, row.ci_high, lang),
            text("nation", lang) + " (%)": format_number(nation.loc[row.term, "estimate"], lang),
            text("difference", lang): "—" if row.suppressed or difference is None else
                format_number(difference["estimate"], lang),
            p_label: "—" if row.suppressed or difference is None else
                format_number(difference["p_adjusted"], lang, decimals=3),
        }
        if region is not None:
            shown[f"{text('region', lang)} {region_name} (%)"] = format_number(
                region.loc[row.term, "estimate"], lang)
        rows.append(shown)
    return pd.DataFrame(rows)


def _factors_figure(shared, params):
    """The unit's overall index and factors against the nation and its region."""
    lang, code = params.lang, params.province_code
    groups = {unit_name(params.unit_set, code, lang):
              blank_suppressed(shared.units[shared.units["province_code"] == code]),
              text("nation", lang): blank_suppressed(shared.national)}
    region_id, region_name = unit_region(params)
    if region_id is not None:
        groups[f"{text('region', lang)} {region_name}"] = \
            blank_suppressed(shared.regions[shared.regions["region_id"] == region_id])
    figure, ax = plots.new_figure((7.5, 4.5))
    plots.plot_factor_comparison(groups, kind=["overall", "factor"], lang=lang, ax=ax)
    return figure


def _table_cell(shared, params):
    return [heading("section_factors", params),
            HtmlTable(comparison_table(shared, params, kind="factor"))]


def _figure_cell(shared, params):
    from . import figure
    return [figure("factors", shared, params)]


TEXT_KEYS = ("factor", "criterion", "ci", "nation", "difference", "p_value", "p_value_adjusted",
             "region")

SECTION = Section(
    name="factors", title="section_factors",
    cells=(("", _table_cell), ("figure", _figure_cell)),
    text_keys=("section_factors", *TEXT_KEYS), figures=(Figure("factors", _factors_figure),))
