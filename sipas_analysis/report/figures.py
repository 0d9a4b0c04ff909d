"""A report's figures rendered to SVG, and the reuse of those that are the same in every unit's
report.

A section declares its figures (:class:`Figure`: a name, a builder drawing it from the shared
results and the parameters, and, for a national figure, the tables it shows); :func:`render`
draws one. The national figures (drivers, importance) are drawn once per process and reused
while their tables, language and Matplotlib settings are unchanged: the key holds all three,
so a reused figure is byte for byte what drawing it again would give, and a batch's warm
kernel draws them once for all its units. The province map differs between units by the bold
outline of the unit only: it is drawn once with every unit's outline, each in its own SVG
group, and each unit's map is that drawing with the other outlines cut out (byte for byte the
map drawn for the unit alone; a test holds the two equal).
"""
from __future__ import annotations

import hashlib
import re
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
    unit's report shows (it is then drawn once and reused); ``svg(shared, params)``, when
    given, makes the rendered figure in its own way (the province map, cut from a drawing
    shared by the units), equal to rendering ``build``'s figure."""

    name: str
    build: Callable
    national: Callable | None = None
    svg: Callable | None = None


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
    if figure.svg is not None:
        return figure.svg(shared, params)
    if figure.national is None:
        return _draw(figure, shared, params)
    key = _key(figure.name, figure.national(shared), params.lang) \
        + (bool(shared.synthetic),)
    if key not in _NATIONAL:
        _NATIONAL[key] = _draw(figure, shared, params)
        while len(_NATIONAL) > _NATIONAL_KEPT:
            _NATIONAL.popitem(last=False)
    return _NATIONAL[key]


def has_map_groups(shared) -> bool:
    """Whether the shared results hold the quartile groups a province map colours by (a
    stand-in of the tests, or a batch of one unit, may not)."""
    ranks = getattr(shared, "ranks", None)
    return ranks is not None and "quartile_group" in ranks and \
        bool(ranks["quartile_group"].notna().any())


def map_figure(shared, *, lang: str, highlight=None):
    """The provinces coloured by their PAPI-style quartile group of the overall index (hatched
    where the group is uncertain), the province ``highlight`` (a code, or a list of codes)
    outlined in bold, the boundaries' attribution under the map: a Matplotlib figure. The shapes are simplified once per process
    (``plots.plot_province_map`` keeps them), so a warm kernel draws each unit's map from
    shapes it already has."""
    figure, ax = plots.new_figure((6.0, 6.6))
    plots.plot_province_map(shared.ranks, groups="quartile_group", unit_set=shared.unit_set,
                            highlight=highlight, lang=lang, ax=ax)
    return figure


def province_map(shared, *, lang: str, highlight=None) -> plots.SVGFigure:
    """:func:`map_figure` rendered to SVG (saying so on it when the data are synthetic): for
    the index page."""
    figure = map_figure(shared, lang=lang, highlight=highlight)
    if getattr(shared, "synthetic", False):
        plots.mark_synthetic(figure, lang)
    return plots.render(figure)


_MAPS: OrderedDict = OrderedDict()  # key -> SVG of the map with every unit's outline
# one outline's group in matplotlib's SVG: its gid, then its path, closed at the same indent
_OUTLINE = re.compile(r'\n(\s*)<g id="' + plots.MAP_HIGHLIGHT_GID
                      + r'-([^"]+)">\n.*?\n\1</g>', re.S)


def highlighted_map(shared, *, lang: str, highlight: str) -> plots.SVGFigure:
    """The province map of :func:`map_figure` with ``highlight`` outlined, rendered (and marked
    when the data are synthetic): cut from a drawing with every unit's outline, made once per
    process for the same ranks, language, unit set and Matplotlib settings; byte for byte the
    map drawn for ``highlight`` alone."""
    key = _key("map", [shared.ranks], lang) + (bool(getattr(shared, "synthetic", False)),
                                               str(shared.unit_set))
    if key not in _MAPS:
        from .. import reference
        _MAPS[key] = province_map(shared, lang=lang, highlight=list(
            reference.provinces(shared.unit_set)["province_code"]))
        while len(_MAPS) > _NATIONAL_KEPT:
            _MAPS.popitem(last=False)
    every = _MAPS[key]
    kept = []

    def keep(found: re.Match) -> str:
        if found.group(2) != highlight:
            return ""
        kept.append(highlight)
        return found.group(0).replace(f'<g id="{plots.MAP_HIGHLIGHT_GID}-{highlight}">',
                                      f'<g id="{plots.MAP_HIGHLIGHT_GID}">', 1)

    svg = _OUTLINE.sub(keep, every.svg)
    if kept != [highlight]:  # not a unit of the drawing's set: drawn alone (and refused there)
        return province_map(shared, lang=lang, highlight=highlight)
    return plots.SVGFigure(svg, name=every.name)
