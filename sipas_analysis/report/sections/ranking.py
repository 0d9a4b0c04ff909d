"""The unit's standing among all units: the ranking figure, the map of every unit's quartile
group with the unit outlined, and the ranked table of every unit that the batch's index page
shows."""
from __future__ import annotations

import pandas as pd

from ... import plots, reference
from ...language import check_lang, format_count, format_interval, format_number, text
from ..display import blank_suppressed, heading, unit_name
from ..figures import Figure, has_map_groups, highlighted_map, map_figure
from .base import Section


def index_page_table(shared, lang: str) -> pd.DataFrame:
    """All units ranked, display-ready, for the batch's index page: ``province_code``, name,
    estimate, interval, rank, rank set (strings in the language), best first."""
    check_lang(lang)
    overall = shared.units[shared.units["kind"] == "overall"]
    table = shared.ranks.merge(overall[["province_code", "ci_low", "ci_high", "suppressed"]],
                               on="province_code").sort_values(["rank", "province_code"])
    names = reference.provinces(shared.unit_set).set_index("province_code")["name_vi"]
    return pd.DataFrame({
        "province_code": table["province_code"].to_numpy(),
        text("unit", lang): [names[c] for c in table["province_code"]],
        text("estimate", lang): ["—" if s else format_number(v, lang) for s, v in
                                 zip(table["suppressed"], table["estimate"])],
        text("ci", lang): ["—" if s else format_interval(lo, hi, lang) for s, lo, hi in
                           zip(table["suppressed"], table["ci_low"], table["ci_high"])],
        text("rank", lang): ["—" if s else str(int(r)) for s, r in   # a suppressed estimate
                             zip(table["suppressed"], table["rank"])],   # has no point rank
        text("rank_set", lang): [f"{int(lo)}–{int(hi)}" for lo, hi in
                                 zip(table["rank_low"], table["rank_high"])],
    })


def region_table(shared, lang: str) -> pd.DataFrame:
    """The regions' overall index, display-ready, best first."""
    check_lang(lang)
    table = shared.regions[shared.regions["kind"] == "overall"].sort_values("estimate",
                                                                            ascending=False)
    names = reference.regions().set_index("region_id")["region_vi" if lang == "vi"
                                                       else "region_en"]
    return pd.DataFrame({
        text("region", lang): [names[int(r)] for r in table["region_id"]],
        text("estimate", lang): [format_number(v, lang) for v in table["estimate"]],
        text("ci", lang): [format_interval(lo, hi, lang) for lo, hi in
                           zip(table["ci_low"], table["ci_high"])],
        text("n", lang): [format_count(v, lang) for v in table["n"]],
    })


def _ranking_figure(shared, params):
    figure, ax = plots.new_figure((7.5, 0.21 * len(shared.ranks) + 1.5))
    plots.plot_unit_ranking(blank_suppressed(shared.units), highlight=params.province_code,
                            ranks=shared.ranks, lang=params.lang, ax=ax)
    return figure


RANKING_FIGURE = Figure("ranking", _ranking_figure)
# Each unit's map differs by its outline only: it is cut from one drawing of every outline,
# made once per kernel (render), equal to drawing the unit's map alone (build).
MAP_FIGURE = Figure(
    "map", lambda shared, params: map_figure(shared, lang=params.lang,
                                             highlight=params.province_code),
    svg=lambda shared, params: highlighted_map(shared, lang=params.lang,
                                               highlight=params.province_code))


def _cell(shared, params):
    from . import figure
    outputs = [heading("section_ranking", params), figure("ranking", shared, params)]
    if has_map_groups(shared):
        unit = unit_name(shared.unit_set, params.province_code, params.lang)
        drawn = figure("map", shared, params)
        outputs += [plots.SVGFigure(drawn.svg, name=drawn.name, alt=text(
                        "ranking_map_alt", params.lang, year=params.year, unit=unit)),
                    text("ranking_map_caption", params.lang, year=params.year, unit=unit)]
    return outputs


SECTION = Section(
    name="ranking", title="section_ranking", cells=(("", _cell),),
    text_keys=("section_ranking", "unit", "estimate", "ci", "rank", "rank_set",
               "ranking_map_alt", "ranking_map_caption"),
    figures=(RANKING_FIGURE, MAP_FIGURE),
    sheets=(("ranks", lambda shared, params: shared.ranks),))
