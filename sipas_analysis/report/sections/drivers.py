"""What drives satisfaction nationally: average marginal effects of a design-based logistic
regression (figure) and the ordinal model (workbook)."""
from __future__ import annotations

from ... import plots
from ..display import heading
from ..figures import Figure
from ..shared import DRIVER_COLUMNS
from .base import Section


def _drivers_figure(shared, params):
    figure, ax = plots.new_figure((7.5, 4.5))
    plots.plot_coefficients(shared.ame, lang=params.lang, ax=ax)
    return figure


def _cell(shared, params):
    from . import figure
    return [heading("section_drivers", params), shared.settings.describe(params.lang)["drivers_intro"],
            figure("drivers", shared, params)]


SECTION = Section(
    name="drivers", title="section_drivers", cells=(("", _cell),),
    text_keys=("section_drivers", "drivers_intro"),
    figures=(Figure("drivers", _drivers_figure, national=lambda shared: [shared.ame]),),
    sheets=(("drivers_ame", lambda shared, params: shared.ame),
            ("drivers_ordinal", lambda shared, params: shared.drivers)),
    columns=DRIVER_COLUMNS)
