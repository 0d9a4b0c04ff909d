"""A unit of the 34 (after the 2025 merger) against the former provinces it is made of."""
from __future__ import annotations

import pandas as pd

from ... import reference
from ...language import format_interval, format_number, text
from ..display import HtmlTable, heading, suppress_small
from .base import Section


def former_table(shared, params) -> pd.DataFrame:
    """A 34-set unit against the former provinces it contains (their latest 63-set year)."""
    lang = params.lang
    table = shared.former_provinces
    table = suppress_small(table[(table["province_code_34"] == params.province_code)
                                 & (table["kind"] == "overall")],
                           **shared.settings.suppression_options)
    names = reference.provinces("63").set_index("province_code")["name_vi"]
    return pd.DataFrame({
        text("unit", lang): [names[c] for c in table["province_code"]],
        text("year", lang): table["year"].astype(int).to_numpy(),
        text("estimate", lang): [format_number(v, lang) for v in table["estimate"]],
        text("ci", lang): ["—" if s else format_interval(lo, hi, lang) for s, lo, hi in
                           zip(table["suppressed"], table["ci_low"], table["ci_high"])],
    })


def _applies(shared, params) -> bool:
    return params.unit_set == "34" and not shared.former_provinces.empty


def _cell(shared, params):
    return [heading("section_former", params), HtmlTable(former_table(shared, params))]


SECTION = Section(name="former", title="section_former", cells=(("", _cell),),
                  text_keys=("section_former", "unit", "year", "estimate", "ci"),
                  applies=_applies)
