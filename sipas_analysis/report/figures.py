"""A report's figures rendered to SVG, and the reuse of those that are the same in every unit's
report.

A section declares its figures (:class:`Figure`: a name, a builder drawing it from the shared
results and the parameters, and, for a national figure, the tables it shows); :func:`render`
draws one. The national figures (drivers, importance) are drawn once per process and reused
while their tables, language and Matplotlib settings are unchanged: the key holds all three,
so a reused figure is byte for byte what drawing it again would give, and a batch's warm
kernel draws them once for all its units.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from .. import plots
from .shared import data_hash


@dataclass(frozen=True)
class Figure:
    """One figure of a report: ``build(shared, params)`` returns a Matplotlib figure;
    ``national(shared)``, when given, lists the tables a figure that is the same in every
    unit's report shows (it is then drawn once and reused)."""

    name: str
    build: Callable
    national: Callable | None = None


_NATIONAL: OrderedDict = OrderedDict()  # key -> SVGFigure, the last few drawn
_NATIONAL_KEPT = 8


def _key(name: str, tables: list[pd.DataFrame], lang: str) -> tuple:
    """Everything a national figure's bytes depend on: its tables (values and columns), the
    language and the Matplotlib settings in force."""
    import matplotlib
    style = hashlib.sha256(repr(sorted(matplotlib.rcParams.items())).encode()).hexdigest()
    return (name, lang, style,
            tuple((tuple(map(str, t.columns)), data_hash(t)) for t in tables))


def _draw(figure: Figure, shared, params):
    drawn = figure.build(shared, params)
    if shared.synthetic:
        plots.mark_synthetic(drawn, params.lang)
    return plots.render(drawn)


def render(figure: Figure, shared, params) -> plots.SVGFigure:
    """``figure`` drawn for this unit and rendered to SVG (a national one reused if drawn); a
    figure made from synthetic data says so on it."""
    if figure.national is None:
        return _draw(figure, shared, params)
    key = _key(figure.name, figure.national(shared), params.lang) \
        + (bool(shared.synthetic),)
    if key not in _NATIONAL:
        _NATIONAL[key] = _draw(figure, shared, params)
        while len(_NATIONAL) > _NATIONAL_KEPT:
            _NATIONAL.popitem(last=False)
    return _NATIONAL[key]


def province_map(shared, *, lang: str, highlight: str | None = None) -> plots.SVGFigure:
    """The provinces coloured by their quartile group of the overall index (faded where the
    group is uncertain), the province ``highlight`` outlined: for the index page."""
    figure, ax = plots.new_figure((6.0, 6.6))
    plots.plot_province_map(shared.ranks, groups="quartile_group", unit_set=shared.unit_set,
                            highlight=highlight, lang=lang, ax=ax)
    if getattr(shared, "synthetic", False):
        plots.mark_synthetic(figure, lang)
    return plots.render(figure)
