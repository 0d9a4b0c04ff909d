"""Context: the unit's PAPI public-service and e-governance scores over the years."""
from __future__ import annotations

from ... import plots
from ..display import heading
from ..figures import Figure
from .base import Section
from .published import former_codes


def _context_figure(shared, params):
    """PAPI d5 (public service delivery) and d8 (e-governance) over the years; a 34-set unit is
    shown through its first former province (PAPI is published for the 63)."""
    former = former_codes(params)[0]
    figure, (left, right) = plots.new_figure((12, 4), ncols=2)
    for ax, dimension in [(left, "d5"), (right, "d8")]:
        plots.plot_papi_trajectory(shared.papi, province_code=former, dimension=dimension,
                                   lang=params.lang, ax=ax)
    return figure


def _cell(shared, params):
    from . import figure
    return [heading("section_context", params), figure("context", shared, params)]


SECTION = Section(name="context", title="section_context", cells=(("", _cell),),
                  text_keys=("section_context",), figures=(Figure("context", _context_figure),))
