"""The kinds of report: each an ordered list of sections and the notebook that shows them.

The notebook of a kind is thin: a parameters cell, a set-up cell, then one code cell per
section cell, ``sa.report.show("<cell>", shared, params)``, in the kind's order (a test holds
the notebook to :meth:`~.sections.base.ReportKind.cell_names`), and a last cell writing the
workbook. A new kind is a new list here.
"""
from __future__ import annotations

from .. import resources
from .export import write_tables
from .sections import SECTIONS, ReportKind

NOTEBOOKS = resources.notebooks_dir()  # the checkout's notebooks/, or an installed package's copy

PROVINCE_REPORT = ReportKind(
    name="province",
    sections=tuple(SECTIONS[name] for name in (
        "headline", "ranking", "factors", "criteria", "former", "breakdowns", "drivers",
        "importance", "local", "experience", "context", "published", "actions", "caveats",
        "provenance")),
    notebook=NOTEBOOKS / "province_report.ipynb")

KINDS = {kind.name: kind for kind in (PROVINCE_REPORT,)}
DEFAULT_NOTEBOOK = PROVINCE_REPORT.notebook


def show(cell: str, shared, params, *, kind: ReportKind = PROVINCE_REPORT) -> None:
    """Display the outputs of the report cell ``cell`` in a notebook (Markdown for sentences)."""
    from IPython.display import Markdown, display
    for output in kind.outputs(cell, shared, params):
        display(Markdown(output) if isinstance(output, str) else output)


def tables_for_workbook(shared, params, *, kind: ReportKind = PROVINCE_REPORT) -> dict:
    """The unit's tables, unformatted (numbers stay numbers), for its Excel workbook."""
    return kind.workbook_tables(shared, params)


def write_workbook(shared, params, *, kind: ReportKind = PROVINCE_REPORT) -> None:
    """Write the unit's workbook to ``params.tables_path`` (nothing when it is empty). Returns
    nothing, so that a notebook cell calling it shows nothing."""
    if params.tables_path:
        write_tables(kind.workbook_tables(shared, params), params.tables_path)
