"""What a report section is: its notebook cells, text keys, figures, workbook sheets and the
survey columns it needs; and a report kind, an ordered list of sections.

A cell function ``cell(shared, params)`` returns what the cell shows, in order: a ``str`` is
Markdown, anything else is displayed as it is (tables as :class:`~..display.HtmlTable`,
figures as SVG). A section whose columns the data lack shows one sentence saying so instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from ...language import text
from ..display import blank_suppressed, heading, unit_name
from ..figures import Figure


@dataclass(frozen=True)
class Section:
    """One section of a report.

    ``cells``: (part, cell function) pairs, one notebook cell each; the first part is named
    ``""`` and its cell is called by the section's name, the others ``"name.part"``.
    ``title``: the text key of its heading (named in the missing-columns sentence);
    ``text_keys``: every text key its cells use; ``figures``; ``sheets``: (sheet name, table
    function) pairs for the unit's workbook; ``columns``: survey columns it needs;
    ``applies(shared, params)``: whether it shows for this unit at all (default: always).
    """

    name: str
    cells: tuple[tuple[str, Callable], ...]
    title: str | None = None
    text_keys: tuple[str, ...] = ()
    figures: tuple[Figure, ...] = ()
    sheets: tuple[tuple[str, Callable], ...] = ()
    columns: tuple[str, ...] = ()
    applies: Callable | None = None

    def cell_names(self) -> list[str]:
        return [self.name if not part else f"{self.name}.{part}" for part, _ in self.cells]

    def missing_columns(self, shared) -> list[str]:
        """The columns this section needs that the data lack (none when the shared results do
        not record their columns)."""
        present = getattr(shared, "columns", None)
        if not present:
            return []
        return [c for c in self.columns if c not in present]

    def outputs(self, part: str, shared, params) -> list:
        """What the cell ``part`` of this section shows for this unit."""
        if self.applies is not None and not self.applies(shared, params):
            return []
        missing = self.missing_columns(shared)
        if missing:
            if part != self.cells[0][0]:
                return []
            title = text(self.title, params.lang) if self.title else self.name
            return [text("section_missing_columns", params.lang, section=title,
                         columns=", ".join(missing))]
        return list(dict(self.cells)[part](shared, params))


def has_estimate(shared, params) -> bool:
    """Whether the unit has an index at all (a unit whose respondents all have zero weight, or
    none in the year, has none: its report says so instead of failing)."""
    return params.province_code in set(shared.units["province_code"])


@dataclass(frozen=True)
class ReportKind:
    """A kind of report: an ordered list of sections and the notebook that shows them (one
    code cell per section cell, each ``sa.report.show("<cell name>", shared, params)``);
    ``about(shared, params)`` says what its workbook's first sheet explains (a dict:
    ``title, data, data_hash, year, synthetic, method, labels``)."""

    name: str
    sections: tuple[Section, ...]
    notebook: Path | None = None
    about: Callable | None = None    # (shared, params) -> what the workbook's first sheet says
    _by_cell: dict = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        cells = {}
        for section in self.sections:
            for (part, _), name in zip(section.cells, section.cell_names()):
                if name in cells:
                    raise ValueError(f"report kind {self.name!r}: cell {name!r} appears twice")
                cells[name] = (section, part)
        object.__setattr__(self, "_by_cell", cells)

    def cell_names(self) -> list[str]:
        """Every cell of the report, in order."""
        return list(self._by_cell)

    def outputs(self, cell: str, shared, params) -> list:
        if cell not in self._by_cell:
            raise ValueError(f"report kind {self.name!r} has no cell {cell!r}; its cells: "
                             f"{', '.join(self._by_cell)}")
        if not has_estimate(shared, params):
            # nothing to show but that: one sentence in the first cell, the others empty
            if cell != self.cell_names()[0]:
                return []
            name = unit_name(params.unit_set, params.province_code, params.lang)
            return [heading("report_title", params, level=1, year=params.year, unit=name),
                    text("unit_without_estimate", params.lang, unit=name, year=params.year)]
        section, part = self._by_cell[cell]
        return section.outputs(part, shared, params)

    def render(self, shared, params) -> list:
        """Everything the report shows, in order (what its notebook displays)."""
        return [out for cell in self.cell_names() for out in self.outputs(cell, shared, params)]

    def workbook_tables(self, shared, params) -> dict:
        """The unit's tables, unformatted (numbers stay numbers), for its Excel workbook: the
        sections' sheets in section order, after a first sheet saying so when the data are
        synthetic. Rows flagged ``suppressed`` keep their sizes but not their estimates."""
        tables = {}
        if not has_estimate(shared, params):
            return {"note": pd.DataFrame({"note": [text(
                "unit_without_estimate", params.lang, year=params.year,
                unit=unit_name(params.unit_set, params.province_code, params.lang))]})}
        if shared.synthetic:
            tables["synthetic_data"] = pd.DataFrame({"note": [text("synthetic_banner",
                                                                   params.lang)]})
        for section in self.sections:
            if section.missing_columns(shared):
                continue
            for name, table in section.sheets:
                tables[name] = blank_suppressed(table(shared, params))
        return tables

    def figures(self) -> dict[str, Figure]:
        return {f.name: f for s in self.sections for f in s.figures}

    def text_keys(self) -> set[str]:
        keys = {"section_missing_columns", "unit_without_estimate", "report_title"}
        for section in self.sections:
            keys.update(section.text_keys)
            if section.title:
                keys.add(section.title)
        return keys

