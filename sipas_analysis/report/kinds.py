"""The kinds of report: each an ordered list of sections and the notebook that shows them.

The notebook of a kind is thin: a parameters cell, a set-up cell, then one code cell per
section cell, ``sa.report.show("<cell>", shared, params)``, in the kind's order (a test holds
the notebook to :meth:`~.sections.base.ReportKind.cell_names`), and a last cell writing the
workbook. A new kind is a new list here.
"""
from __future__ import annotations

import pandas as pd

from .. import resources
from ..language import text
from .export import write_tables
from .sections import SECTIONS, ReportKind
from .sections.agency import AGENCY_SECTIONS
from .sections.agency import workbook_about as agency_about
from .sections.caveats import workbook_about as province_about

NOTEBOOKS = resources.notebooks_dir()  # the checkout's notebooks/, or an installed package's copy

PROVINCE_REPORT = ReportKind(
    name="province",
    sections=tuple(SECTIONS[name] for name in (
        "headline", "ranking", "factors", "criteria", "former", "breakdowns", "drivers",
        "importance", "local", "experience", "context", "published", "actions", "caveats",
        "provenance")),
    notebook=NOTEBOOKS / "province_report.ipynb", about=province_about)



class AgencyKind(ReportKind):
    """A report on a unit inside a province (a department, a district or commune committee, a
    one-stop desk), from the province's own survey: its unit is ``params.unit``."""

    def outputs(self, cell: str, shared, params) -> list:
        if cell not in self._by_cell:
            raise ValueError(f"report kind {self.name!r} has no cell {cell!r}; its cells: "
                             f"{', '.join(self._by_cell)}")
        name = shared.unit_of(params.unit)
        overall = shared.units[(shared.units["unit"] == name)
                               & (shared.units["kind"] == "overall")]
        if name is None or overall["estimate"].isna().all():
            # a unit with no respondents (or no answers) that year: one sentence, first cell
            if cell != self.cell_names()[0]:
                return []
            return [text("unit_without_estimate", params.lang, unit=name or params.unit,
                         year=shared.year)]
        section, part = self._by_cell[cell]
        return section.outputs(part, shared, params)

    def workbook_tables(self, shared, params) -> dict:
        from .display import blank_suppressed
        if shared.unit_of(params.unit) is None:
            return {"note": pd.DataFrame({"note": [text("unit_without_estimate", params.lang,
                                                         unit=params.unit, year=shared.year)]})}
        return {name: blank_suppressed(table(shared, params))
                for section in self.sections for name, table in section.sheets}


AGENCY_REPORT = AgencyKind(name="agency", sections=AGENCY_SECTIONS,
                           notebook=NOTEBOOKS / "agency_report.ipynb", about=agency_about)

KINDS = {kind.name: kind for kind in (PROVINCE_REPORT, AGENCY_REPORT)}
DEFAULT_NOTEBOOK = PROVINCE_REPORT.notebook


def kind_of(params) -> ReportKind:
    """The kind that shows ``params``: the agency kind for AgencyParams, else the province's."""
    return KINDS.get(getattr(params, "kind", "province"), PROVINCE_REPORT)


def show(cell: str, shared, params, *, kind: ReportKind | None = None) -> None:
    """Display the outputs of the report cell ``cell`` in a notebook (Markdown for sentences)."""
    from IPython.display import Markdown, display
    kind = kind or kind_of(params)
    for output in kind.outputs(cell, shared, params):
        display(Markdown(output) if isinstance(output, str) else output)


def tables_for_workbook(shared, params, *, kind: ReportKind | None = None) -> dict:
    """The unit's tables, unformatted (numbers stay numbers), for its Excel workbook."""
    return (kind or kind_of(params)).workbook_tables(shared, params)


def write_workbook(shared, params, *, kind: ReportKind | None = None) -> None:
    """Write the unit's workbook to ``params.tables_path`` (nothing when it is empty), in the
    report's language: a first sheet saying what each sheet holds and how the figures are
    made, then the tables with headers and labels in the language, the codes kept in columns
    of their own, numbers at full precision (``export.reader_workbook``). Returns nothing, so
    that a notebook cell calling it shows nothing."""
    kind = kind or kind_of(params)
    if params.tables_path:
        about = kind.about(shared, params) if kind.about is not None else {}
        write_tables(kind.workbook_tables(shared, params), params.tables_path,
                     lang=params.lang, kind=kind.name, about=about)
