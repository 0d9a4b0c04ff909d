"""The sections reports are made of, one module each.

Each module defines ``SECTION`` (a :class:`~.base.Section`: its notebook cells, text keys,
figures, workbook sheets and the survey columns it needs) and the functions that make its
tables and sentences. A report kind (:mod:`sipas_analysis.report.kinds`) lists sections in
order; a new section is a new module here, added to :data:`SECTIONS` and to the kinds that
show it.
"""
from __future__ import annotations

from .. import figures as _figures
from . import (actions, breakdowns, caveats, context, criteria, drivers, experience, factors,
               former, headline, importance, local_effect, provenance, published, ranking)
from .base import ReportKind, Section

SECTIONS: dict[str, Section] = {module.SECTION.name: module.SECTION for module in (
    headline, ranking, factors, criteria, former, breakdowns, drivers, importance, local_effect,
    experience, context, published, actions, caveats, provenance)}

FIGURES: dict[str, _figures.Figure] = {f.name: f for s in SECTIONS.values() for f in s.figures}


def figure(name: str, shared, params):
    """The report's figure ``name`` (one of :data:`FIGURES`), rendered to SVG; the national
    figures are drawn once per process and reused (:mod:`sipas_analysis.report.figures`)."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; choose one of {sorted(FIGURES)}")
    return _figures.render(FIGURES[name], shared, params)


__all__ = ["FIGURES", "SECTIONS", "ReportKind", "Section", "figure"]
