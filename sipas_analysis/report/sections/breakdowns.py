"""The unit's overall index by agency level and by service area."""
from __future__ import annotations

import pandas as pd

from ... import indices
from ...language import format_count, format_interval, format_number, text
from ..display import HtmlTable, heading, suppress_small
from ..shared import SharedResults, survey_design, year_survey
from ..settings import ReportSettings
from .base import Section

BREAKDOWNS = ("agency_level", "service_area")


def breakdown(source, params, *, by: str) -> pd.DataFrame:
    """The unit's overall index by ``by`` (e.g. agency_level, service_area) as a domain of the
    full national design, display-ready, small cells suppressed. ``source``: the shared
    results (their precomputed ``breakdowns``) or the survey (computed here)."""
    lang = params.lang
    if isinstance(source, SharedResults) and by in source.breakdowns:
        settings = source.settings
        table = source.breakdowns[by]
        table = table[table["province_code"] == params.province_code]
    else:
        settings = ReportSettings()
        year = year_survey(source, params)
        design = survey_design(year).subset((year["province_code"] == params.province_code)
                                            & year[by].notna())
        table = indices.sipas_index(design, by=by, **settings.index_options)
        table = table[table["kind"] == "overall"]
    table = suppress_small(table, **settings.suppression_options)
    return pd.DataFrame({
        text(f"by_{by}", lang): [text(f"{by}.{v}", lang) for v in table[by]],
        text("estimate", lang): [format_number(v, lang) for v in table["estimate"]],
        text("ci", lang): ["—" if s else format_interval(lo, hi, lang) for s, lo, hi in
                           zip(table["suppressed"], table["ci_low"], table["ci_high"])],
        text("n", lang): [format_count(v, lang) for v in table["n"]],
        text("n_eff", lang): [format_count(v, lang) for v in table["n_eff"]],
    })


def _cell(shared, params):
    return [heading("section_breakdowns", params),
            *(HtmlTable(breakdown(shared, params, by=by)) for by in BREAKDOWNS)]


SECTION = Section(name="breakdowns", title="section_breakdowns", cells=(("", _cell),),
                  text_keys=("section_breakdowns", *(f"by_{b}" for b in BREAKDOWNS), "estimate",
                             "ci", "n", "n_eff"),
                  columns=BREAKDOWNS)
