"""The unit's criteria against the nation and its region."""
from __future__ import annotations

from ..display import HtmlTable, heading
from .base import Section
from .factors import TEXT_KEYS, comparison_table


def _cell(shared, params):
    return [heading("section_criteria", params),
            HtmlTable(comparison_table(shared, params, kind="criterion"))]


SECTION = Section(name="criteria", title="section_criteria", cells=(("", _cell),),
                  text_keys=("section_criteria", *TEXT_KEYS))
