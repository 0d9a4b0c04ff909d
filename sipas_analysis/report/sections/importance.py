"""Relative importance of the factors (LMG shares) and the importance-performance matrix."""
from __future__ import annotations

from ... import plots
from ..display import heading
from ..figures import Figure
from ..shared import DRIVER_COLUMNS
from .base import Section


def _importance_figure(shared, params):
    figure, (left, right) = plots.new_figure((12, 4.5), ncols=2)
    plots.plot_importance(shared.importance, lang=params.lang, ax=left)
    plots.plot_ipa(shared.ipa, lang=params.lang, ax=right)
    return figure


def _cell(shared, params):
    from . import figure
    return [heading("section_importance", params), figure("importance", shared, params)]


SECTION = Section(
    name="importance", title="section_importance", cells=(("", _cell),),
    text_keys=("section_importance",),
    figures=(Figure("importance", _importance_figure,
                    national=lambda shared: [shared.importance, shared.ipa]),),
    sheets=(("importance", lambda shared, params: shared.importance),
            ("ipa", lambda shared, params: shared.ipa)),
    columns=DRIVER_COLUMNS)
