"""On-time results and online applications over the years, the unit against the nation."""
from __future__ import annotations

import pandas as pd

from ... import plots
from ...language import text
from ..display import heading, unit_name
from ..figures import Figure
from ..shared import EXPERIENCE_COLUMNS
from .base import Section


def experience_table(shared, params) -> pd.DataFrame:
    """On-time and online shares by year for the unit and the nation: ``year, group, term,
    estimate, ci_low, ci_high`` with groups named in the language (unit first)."""
    lang = params.lang
    rows = shared.experience[shared.experience["province_code"].isin(
        [params.province_code, "nation"])].copy()
    names = {params.province_code: unit_name(params.unit_set, params.province_code, lang),
             "nation": text("nation", lang)}
    rows["group"] = rows["province_code"].map(names)
    rows = rows.sort_values(["province_code"], key=lambda c: c != params.province_code,
                            kind="stable")
    return rows[["year", "group", "term", "estimate", "ci_low", "ci_high"]].reset_index(drop=True)


def _experience_figure(shared, params):
    figure, ax = plots.new_figure((7.5, 4))
    plots.plot_experience(experience_table(shared, params), lang=params.lang, ax=ax)
    return figure


def _cell(shared, params):
    from . import figure
    return [heading("section_experience", params), figure("experience", shared, params)]


def _sheet(shared, params):
    return shared.experience[shared.experience["province_code"].isin([params.province_code,
                                                                      "nation"])]


SECTION = Section(
    name="experience", title="section_experience", cells=(("", _cell),),
    text_keys=("section_experience", "nation"), figures=(Figure("experience", _experience_figure),),
    sheets=(("experience", _sheet),), columns=EXPERIENCE_COLUMNS)
