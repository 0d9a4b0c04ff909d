"""Published SIPAS figures for the unit, as published (never mixed with the estimates)."""
from __future__ import annotations

import pandas as pd

from ... import reference
from ...language import format_number, text
from ..display import HtmlTable
from .base import Section


def former_codes(params) -> list[str]:
    """The 63-set provinces a unit covers: itself for a 63-set unit, its former provinces for
    a 34-set unit (PAPI and published SIPAS exist only for the 63)."""
    if params.unit_set == "63":
        return [params.province_code]
    crosswalk = reference.crosswalk_2025()
    return sorted(crosswalk.loc[crosswalk["province_code_34"] == params.province_code,
                                "province_code_63"])


def published_table(shared, params) -> pd.DataFrame:
    """Published SIPAS figures for the unit (its former provinces for a 34-set unit), with
    their value type and source, as published (never mixed with the estimates): ``province,
    year, sipas_pct, rank_of_63, value_type, source_url``."""
    table = shared.published[(shared.published["scope"] == "province")
                             & shared.published["province_code"].isin(former_codes(params))]
    columns = ["province", "year", "sipas_pct", "rank_of_63", "value_type", "source_url"]
    return table[columns].sort_values(["province", "year"]).reset_index(drop=True)


def published_display(shared, params) -> pd.DataFrame:
    """:func:`published_table` for reading: localised headers and numbers, the value type in
    words (a "derived" figure is computed from a published value and a published change)."""
    lang = params.lang
    table = published_table(shared, params)
    return pd.DataFrame({
        text("unit", lang): table["province"].to_numpy(),
        text("year", lang): table["year"].astype(int).to_numpy(),
        text("published_value", lang): [format_number(v, lang) for v in table["sipas_pct"]],
        text("rank", lang): ["—" if pd.isna(v) else str(int(v)) for v in table["rank_of_63"]],
        text("value_type", lang): [text(f"value_type.{v}", lang) for v in table["value_type"]],
        text("source", lang): table["source_url"].fillna("—").to_numpy(),
    })


def _cell(shared, params):
    published = published_display(shared, params)
    return [HtmlTable(published) if len(published) else text("published_none", params.lang)]


SECTION = Section(name="published", cells=(("", _cell),),
                  text_keys=("unit", "year", "published_value", "rank", "value_type", "source",
                             "published_none"),
                  sheets=(("published", published_table),))
