"""The three criteria most worth acting on."""
from __future__ import annotations

from ...language import format_percent, term_label, text
from ..display import heading, markdown_list
from ..shared import DRIVER_COLUMNS
from .base import Section


def actions(shared, params, *, count: int = 3) -> list[str]:
    """The ``count`` criteria most worth acting on, as sentences: those with the largest
    potential gain = (national importance share of the criterion's factor) × (100 − the unit's
    percent satisfied). Suppressed estimates are never proposed."""
    lang = params.lang
    shares = shared.importance.assign(
        factor=shared.importance["term"].str.replace("_score", ""))[["factor", "share"]]
    unit = shared.units[(shared.units["province_code"] == params.province_code)
                        & (shared.units["kind"] == "criterion") & ~shared.units["suppressed"]]
    nation = shared.national.set_index("term")["estimate"]
    table = unit.merge(shares, on="factor")
    table["gain"] = table["share"] * (100 - table["estimate"])
    table = table.sort_values(["gain", "term"], ascending=[False, True]).head(count)
    return [text("action", lang, criterion=term_label(r.term, lang),
                 estimate=format_percent(r.estimate, lang),
                 nation=format_percent(nation[r.term], lang),
                 factor=term_label(r.factor, lang),
                 share=format_percent(100 * r.share, lang, decimals=0))
            for r in table.itertuples(index=False)]


def _cell(shared, params):
    return [heading("section_actions", params), markdown_list(actions(shared, params))]


SECTION = Section(name="actions", title="section_actions", cells=(("", _cell),),
                  text_keys=("section_actions", "action"), columns=DRIVER_COLUMNS)
