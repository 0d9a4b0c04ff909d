"""Figures of the SIPAS reports, in Vietnamese and English.

Every function has the seaborn shape ``f(data, *, ..., lang="vi", ax=None)``: it takes a tidy
table made by another module, draws on ``ax`` (the current Axes when None) and returns the Axes.
Nothing is shown, saved or set globally; the caller chooses the figure size. The figures of a
design diagnosis (:mod:`sipas_analysis.evaluate`: ``plot_diagnosand``, ``plot_recovery``) are
for the methodologist, in English only, and take no ``lang``.

Words come from :mod:`sipas_analysis.language` and numbers are written as each language writes
them (85,15 and 1.250 in Vietnamese; 85.15 and 1,250 in English), on the ticks as in the
annotations. Unit names are the Vietnamese names with diacritics in both languages, as
``report.unit_name`` writes them.

Intervals are drawn as the tables give them (the tables are made at the 95 % level by default,
which is what the axis labels say). A table lacking a needed column is an error that names every
missing column.
"""
from __future__ import annotations

import io
import textwrap
from functools import lru_cache

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import shapely
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import PathPatch, Patch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.ticker import FuncFormatter, Formatter, MaxNLocator
from matplotlib.transforms import ScaledTranslation

from . import boundaries, reference, schema
from .evaluate import DIAGNOSANDS
from .language import TEXT, check_lang, format_number, format_percent, term_label, text

__all__ = ["plot_unit_ranking", "plot_rank_sets", "plot_factor_comparison", "plot_coefficients",
           "plot_importance", "plot_ipa", "plot_group_effects", "plot_papi_trajectory",
           "plot_experience", "plot_province_map", "plot_diagnosand", "plot_recovery",
           "LangFormatter", "new_figure", "render", "SVGFigure", "mark_synthetic"]

# One focus colour (the unit the report is about, or what needs acting on) against calm others.
HIGHLIGHT = "#c0392b"
BASE = "#4c72b0"
NATION = "0.25"
GROUP_COLOURS = [HIGHLIGHT, NATION, BASE, "#55a868", "#8172b3", "#937860", "#da8bc3"]
QUADRANT_COLOURS = {"concentrate_here": HIGHLIGHT, "keep_up_the_good_work": "#55a868",
                    "low_priority": "0.55", "possible_overkill": BASE}
# (horizontal, vertical) corner of the axes where each quadrant's name is written:
# importance runs along x, performance along y.
QUADRANT_CORNERS = {"possible_overkill": (0, 1), "keep_up_the_good_work": (1, 1),
                    "low_priority": (0, 0), "concentrate_here": (1, 0)}
LABEL_WIDTH = 32  # characters per line of a wrapped term label on the y axis


# --------------------------------------------------------------------------------------------
# Figures for reports: made outside pyplot, rendered once, to SVG
# --------------------------------------------------------------------------------------------
# Text stays text (the browser draws it: selectable, sharp when printed or zoomed, and about half
# the time of rasterising every glyph to PNG); ids come from a fixed salt and no date is written,
# so that the same figure is the same bytes in every run.
SVG_SETTINGS = {"svg.fonttype": "none", "svg.hashsalt": "sipas-report"}


def new_figure(figsize: tuple[float, float], *, ncols: int = 1):
    """A figure and its Axes (``ncols`` side by side), made outside pyplot.

    No figure manager is attached, so nothing draws the figure behind the caller's back: in a
    notebook, pyplot's interactive mode draws every open figure at the end of each cell and the
    inline backend then draws it twice more to print it. :func:`render` draws it once.
    """
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(1, ncols)


def mark_synthetic(figure, lang: str):
    """Write "synthetic data" on ``figure`` (bottom right, small, grey), so that a figure made
    from the demo sample says so wherever it is pasted. Returns the figure."""
    figure.text(0.995, 0.005, text("synthetic_mark", lang), ha="right", va="bottom",
                fontsize=7, color="#8a6d00", style="italic")
    return figure


class SVGFigure:
    """A rendered figure: Jupyter shows it as ``image/svg+xml``; ``str()`` is the SVG text.

    Its plain-text form names the figure by its Axes titles (no memory address), so that a
    notebook's outputs are the same from one run to the next. ``alt``, when given, goes into
    the output's metadata (``image/svg+xml``: ``alt``), where a report page takes its image's
    alternative text from."""

    def __init__(self, svg: str, *, name: str = "figure", alt: str | None = None):
        self.svg, self.name, self.alt = svg, name, alt

    def _repr_svg_(self):
        # IPython takes a (data, metadata) pair from a _repr_*_ method
        return (self.svg, {"alt": self.alt}) if self.alt else self.svg

    def __str__(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        return f"<SVG figure: {self.name}>"


def render(figure: Figure) -> SVGFigure:
    """Draw ``figure`` once to SVG, trimmed to what is drawn (as Jupyter's inline figures are:
    ``bbox_inches="tight"``), with :data:`SVG_SETTINGS`; global rcParams are left as they are."""
    buffer = io.BytesIO()
    with matplotlib.rc_context(SVG_SETTINGS):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    return SVGFigure(buffer.getvalue().decode("utf-8"), name=" | ".join(titles) or "figure")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
class LangFormatter(Formatter):
    """Tick labels written the language's way, with as few decimals as the ticks need.

    Ticks 84.5, 85.0, 85.5 become "84,5", "85,0", "85,5" in Vietnamese and "84.5", "85.0",
    "85.5" in English; ticks 80, 85, 90 have no decimals. ``percent=True`` appends " %".
    """

    def __init__(self, lang: str, *, percent: bool = False, decimals: int | None = None):
        self.lang = check_lang(lang)
        self.percent = percent
        self.fixed = decimals
        self.decimals = 2 if decimals is None else decimals

    def set_locs(self, locs):
        super().set_locs(locs)
        if self.fixed is None:
            self.decimals = _decimals_needed(np.asarray(locs, dtype=float))

    def __call__(self, x, pos=None):
        # -0.0 would print as "-0"
        if abs(x) < 0.5 * 10.0 ** -self.decimals:
            x = 0.0
        write = format_percent if self.percent else format_number
        return write(x, self.lang, decimals=self.decimals)


def _decimals_needed(locs: np.ndarray) -> int:
    locs = locs[np.isfinite(locs)]
    if locs.size == 0:
        return 0
    tolerance = 1e-9 * max(1.0, float(np.abs(locs).max()))
    for decimals in range(7):
        if np.all(np.abs(locs - np.round(locs, decimals)) <= tolerance):
            return decimals
    return 6


def _year_axis(axis) -> None:
    """Years are labels, not quantities: whole numbers, no thousands separator ("2024")."""
    axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:.0f}"))


def _axes(ax):
    # The style applies to axes created here (ax=None and no current axes); an Axes passed in
    # keeps the caller's style. Global rcParams are never changed.
    if ax is not None:
        return ax
    with sns.axes_style("whitegrid"):
        return plt.gca()


def _require(frame, columns, function: str, name: str = "data") -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{function}: `{name}` must be a pandas DataFrame, "
                        f"got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise schema.MissingColumnError(f"{function}: `{name}` lacks column(s) {missing}; "
                                        f"it has {list(frame.columns)}", missing)
    return frame


def _one_row_each(frame: pd.DataFrame, key: str, function: str, name: str = "data") -> None:
    repeated = frame[key][frame[key].duplicated()].astype(str).unique().tolist()
    if repeated:
        raise ValueError(f"{function}: `{name}` has several rows for {key} {repeated}; "
                         f"plot one year, unit set and term at a time (filter it first)")


def _unit_names(frame: pd.DataFrame, unit: str, unit_set=None) -> list[str]:
    """Names of the units in ``frame[unit]``: Vietnamese names for provinces, the ids otherwise.

    The unit set comes from a ``unit_set`` column, else from ``unit_set``, else "63"."""
    codes = frame[unit].astype(str).tolist()
    if unit != "province_code":
        return codes
    if "unit_set" in frame.columns:
        sets = frame["unit_set"].astype(str).tolist()
    else:
        sets = [str(unit_set or "63")] * len(codes)
    names = {}
    for each in set(sets):
        if each in reference.UNIT_SETS:
            table = reference.provinces(each)
            names.update({(each, c): n for c, n in zip(table["province_code"], table["name_vi"])})
    return [names.get((s, c), c) for s, c in zip(sets, codes)]


def _highlighted(frame: pd.DataFrame, unit: str, highlight, function: str) -> np.ndarray:
    if highlight is None:
        return np.zeros(len(frame), dtype=bool)
    wanted = [highlight] if isinstance(highlight, (str, int)) else list(highlight)
    wanted = [str(w) for w in wanted]
    present = set(frame[unit].astype(str))
    absent = [w for w in wanted if w not in present]
    if absent:
        raise ValueError(f"{function}: highlight {absent} not found in column {unit!r} "
                         f"(codes are strings such as '01')")
    return frame[unit].astype(str).isin(wanted).to_numpy()


def _predictor_label(term: str, lang: str, labels=None) -> str:
    """Words for a model term: the caller's mapping, a criterion/factor label, a factor score
    ("staff_score" -> the staff factor), a known experience variable, else the term itself."""
    if labels and term in labels:
        return str(labels[term])
    label = term_label(term, lang)
    if label != term:
        return label
    if term.endswith("_score") and term[: -len("_score")] in schema.FACTOR_LABELS:
        return schema.FACTOR_LABELS[term[: -len("_score")]][lang]
    if f"var_{term}" in TEXT:
        return text(f"var_{term}", lang)
    return term


def _wrap(label: str) -> str:
    return textwrap.fill(label, LABEL_WIDTH)


def _dots_with_intervals(ax, y, estimate, low, high, colours, *, hollow=None, label=None,
                         size=30):
    """Horizontal interval segments (one LineCollection) and points (one PathCollection)."""
    colours = list(colours)
    faces = [("white" if h else c) for c, h in
             zip(colours, hollow if hollow is not None else [False] * len(colours))]
    ax.hlines(y, low, high, colors=colours, linewidth=1.6, zorder=2)
    ax.scatter(estimate, y, s=size, facecolors=faces, edgecolors=colours, linewidths=1.2,
               zorder=3, label=label)


def _term_axis(ax, labels: list[str]) -> None:
    """Terms top to bottom in the given order."""
    n = len(labels)
    ax.set_yticks(np.arange(n)[::-1], [_wrap(lab) for lab in labels])
    ax.set_ylim(-0.6, n - 0.4)
    ax.grid(False, axis="y")


def _value_axis(axis, lang: str, **formatter) -> None:
    axis.set_major_formatter(LangFormatter(lang, **formatter))


# --------------------------------------------------------------------------------------------
# 1-2. Units ranked, with uncertainty
# --------------------------------------------------------------------------------------------

UNIT_LABEL_GID = "unit_name"  # the gid of the unit-name texts of the caterpillar figures
RANK_LABEL_GID = "rank_set"   # the gid of the rank annotations of the ranking figure


def _unit_axis(ax, y, names, focus) -> None:
    """Unit names where the y tick labels would be, the focus units in the highlight colour and
    bold (texts with gid :data:`UNIT_LABEL_GID`, bottom to top).

    Plain texts rather than 63 ticks: making and laying out the ticks cost more than the rest
    of the figure (0.25 s of 0.43 s for the ranking); the page looks the same, without the
    small tick marks."""
    ax.set_yticks([])
    ax.set_ylim(-0.7, len(y) - 0.3)
    rc = matplotlib.rcParams
    pad = (rc["ytick.major.size"] + rc["ytick.major.pad"]) / 72  # inches, as a tick label's
    at = ax.get_yaxis_transform() + ScaledTranslation(-pad, 0, ax.figure.dpi_scale_trans)
    colour = rc["ytick.labelcolor"] if rc["ytick.labelcolor"] != "inherit" else rc["ytick.color"]
    for position, name, is_focus in zip(y, names, focus):
        ax.text(0, position, name, transform=at, ha="right", va="center",
                fontsize=rc["ytick.labelsize"], color=HIGHLIGHT if is_focus else colour,
                fontweight="bold" if is_focus else "normal", gid=UNIT_LABEL_GID)
    ax.grid(False, axis="y")


def plot_unit_ranking(index: pd.DataFrame, *, unit: str = "province_code", term: str = "overall",
                      highlight=None, ranks: pd.DataFrame | None = None, lang: str = "vi",
                      ax=None):
    """All units' index with its confidence interval, sorted (a caterpillar plot).

    index : table from ``indices.sipas_index`` (columns ``unit``, ``estimate``, ``ci_low``,
        ``ci_high``; ``term`` when several terms are present, and optionally ``small_sample``,
        ``unit_set``), one year and unit set. Rows of ``term`` (default the overall SIPAS) are
        drawn, best at the top.
    highlight : a unit id (or several) drawn in the focus colour.
    ranks : optional table from ``indices.rank_units`` (``unit``, ``rank``, ``rank_low``,
        ``rank_high``): each row is annotated on the right with "rank (rank_low–rank_high)".

    Units whose estimate rests on a small effective sample (``small_sample``) get hollow
    markers, and units without an estimate (withheld, NaN) no marker; neither gets a point rank
    ("— (rank_low–rank_high)"). Returns the Axes.
    """
    function = "plot_unit_ranking"
    check_lang(lang)
    _require(index, [unit, "estimate", "ci_low", "ci_high"], function, "index")
    table = index
    if "term" in table.columns:
        table = table[table["term"] == term]
        if table.empty:
            raise ValueError(f"{function}: no rows with term {term!r}; terms present: "
                             f"{sorted(index['term'].astype(str).unique())}")
    _one_row_each(table, unit, function, "index")
    table = table.sort_values("estimate", kind="stable", na_position="first")
    table = table.reset_index(drop=True)
    focus = _highlighted(table, unit, highlight, function)
    # A withheld (blank) estimate is drawn without a dot or interval and has no point rank;
    # a small-sample one that is still shown gets a hollow dot.
    blank = table["estimate"].isna().to_numpy()
    small = (table["small_sample"].fillna(False).astype(bool).to_numpy()
             if "small_sample" in table.columns else np.zeros(len(table), dtype=bool)) & ~blank

    ax = _axes(ax)
    y = np.arange(len(table))
    colours = np.where(focus, HIGHLIGHT, BASE)
    _dots_with_intervals(ax, y, table["estimate"], table["ci_low"], table["ci_high"], colours,
                         hollow=small)
    _unit_axis(ax, y, _unit_names(table, unit), focus)
    _value_axis(ax.xaxis, lang)
    ax.set_xlabel(text("estimate", lang))
    ax.set_title(text("sipas", lang) if term == "overall" else term_label(term, lang))
    if small.any():
        marker = Line2D([], [], marker="o", linestyle="", markerfacecolor="white",
                        markeredgecolor=BASE, label=text("plot_small_sample", lang))
        ax.legend(handles=[marker], loc="lower right", frameon=True)

    if ranks is not None:
        _require(ranks, [unit, "rank", "rank_low", "rank_high"], function, "ranks")
        _one_row_each(ranks, unit, function, "ranks")
        by_unit = ranks.assign(**{unit: ranks[unit].astype(str)}).set_index(unit)
        aligned = by_unit.reindex(table[unit].astype(str))
        ax.text(1.02, 1.0, text("plot_rank_column", lang), transform=ax.transAxes,
                ha="left", va="bottom", fontsize="small")
        for position, (rank, low, high) in enumerate(
                aligned[["rank", "rank_low", "rank_high"]].itertuples(index=False)):
            # a small-sample estimate has no point rank (as on the batch's index page)
            no_point = small[position] or blank[position]
            ax.text(1.02, position, _rank_text(np.nan if no_point else rank, low, high, lang),
                    transform=ax.get_yaxis_transform(), ha="left", va="center",
                    fontsize="small", color=HIGHLIGHT if focus[position] else "0.2",
                    gid=RANK_LABEL_GID)
    return ax


def _rank_text(rank, low, high, lang: str) -> str:
    """"3 (2–5)"; "—" for no point rank, "— (2–5)" for a rank set without a point rank."""
    point = "—" if pd.isna(rank) else format_number(rank, lang, decimals=0)
    if pd.isna(low) or pd.isna(high) or (low == high and not pd.isna(rank)):
        return point
    return (f"{point} ({format_number(low, lang, decimals=0)}–"
            f"{format_number(high, lang, decimals=0)})")


def plot_rank_sets(ranks: pd.DataFrame, *, unit: str = "province_code", highlight=None,
                   lang: str = "vi", ax=None):
    """Each unit's rank confidence set as a horizontal segment, with its point rank.

    ranks : table from ``indices.rank_units`` (``unit``, ``rank``, ``rank_low``, ``rank_high``;
        ``estimate`` breaks ties in the order when present). Rank 1 (the best) at the top and on
        the left. Returns the Axes.
    """
    function = "plot_rank_sets"
    check_lang(lang)
    _require(ranks, [unit, "rank", "rank_low", "rank_high"], function, "ranks")
    _one_row_each(ranks, unit, function, "ranks")
    order = ["rank", "estimate"] if "estimate" in ranks.columns else ["rank"]
    table = ranks.sort_values(order, ascending=[True] + [False] * (len(order) - 1),
                              kind="stable").reset_index(drop=True)
    focus = _highlighted(table, unit, highlight, function)

    ax = _axes(ax)
    y = np.arange(len(table))[::-1]  # first (best) row at the top
    colours = np.where(focus, HIGHLIGHT, BASE)
    _dots_with_intervals(ax, y, table["rank"], table["rank_low"], table["rank_high"], colours)
    _unit_axis(ax, y, _unit_names(table, unit), focus)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _value_axis(ax.xaxis, lang, decimals=0)
    ax.set_xlabel(text("plot_rank_axis", lang))
    ax.set_title(text("rank_set", lang))
    return ax


# --------------------------------------------------------------------------------------------
# 3-4. Terms compared across groups; model coefficients
# --------------------------------------------------------------------------------------------
def _grouped_dots(ax, groups: list[tuple[str, pd.DataFrame]], terms: list[str],
                  labels: list[str], *, legend: bool) -> None:
    """Terms top to bottom; within a term, one dodged point + interval per group."""
    k = len(groups)
    step = min(0.25, 0.7 / k) if k > 1 else 0.0
    base_y = np.arange(len(terms))[::-1].astype(float)
    for j, (name, frame) in enumerate(groups):
        rows = frame.set_index("term").reindex(terms)
        keep = rows["estimate"].notna().to_numpy()
        y = base_y + ((k - 1) / 2 - j) * step  # first group on top within each term
        colour = GROUP_COLOURS[j % len(GROUP_COLOURS)] if k > 1 else BASE
        _dots_with_intervals(ax, y[keep], rows["estimate"][keep], rows["ci_low"][keep],
                             rows["ci_high"][keep], [colour] * int(keep.sum()), label=name)
    _term_axis(ax, labels)
    if legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(k, 3),
                  frameon=False)


def plot_factor_comparison(tables: dict, *, kind="factor", lang: str = "vi", ax=None):
    """Percent satisfied per term for several groups side by side, with intervals.

    tables:
        ``{label: index table}``, e.g. ``{"Hà Nội": unit, "Cả nước": nation,
        "Vùng Đồng bằng sông Hồng": region}``; each a ``sipas_index`` table of one group (columns
        ``term, estimate, ci_low, ci_high``, and ``kind``). The first is drawn in the focus
        colour; labels are used as given.
    kind : which terms: "factor" (default), "criterion", "overall" or a list of them.
    Terms are labelled with ``language.term_label``, in the order they first appear.
    Returns the Axes.
    """
    function = "plot_factor_comparison"
    check_lang(lang)
    if not isinstance(tables, dict) or not tables:
        raise ValueError(f"{function}: `tables` must be a non-empty dict {{label: table}}")
    kinds = [kind] if isinstance(kind, str) else list(kind)
    groups, terms = [], []
    for name, frame in tables.items():
        _require(frame, ["term", "estimate", "ci_low", "ci_high"], function, f"tables[{name!r}]")
        if "kind" in frame.columns:
            frame = frame[frame["kind"].isin(kinds)]
        _one_row_each(frame, "term", function, f"tables[{name!r}]")
        groups.append((str(name), frame))
        terms += [t for t in frame["term"].astype(str) if t not in terms]
    if not terms:
        raise ValueError(f"{function}: no rows of kind {kinds} in any table")

    ax = _axes(ax)
    _grouped_dots(ax, groups, terms, [term_label(t, lang) for t in terms], legend=True)
    _value_axis(ax.xaxis, lang)
    ax.set_xlabel(text("estimate", lang))
    title = kinds[0] if kinds in (["factor"], ["criterion"]) else "sipas"
    ax.set_title(text(title, lang))
    return ax


def plot_coefficients(tidy: pd.DataFrame, *, lang: str = "vi", ax=None,
                      exclude_intercept: bool = True, labels: dict | None = None,
                      null_value: float = 0.0):
    """Each model term's estimate with its confidence interval, and a line at ``null_value``.

    tidy : a tidy model table (``term, estimate, ci_low, ci_high``; ``kind`` and ``model`` used
        when present). Cut-points and variance components are left out (they are not effects);
        so is the intercept unless ``exclude_intercept=False``. With several ``model`` values the
        models are dodged side by side with a legend.
    labels : optional ``{term: text}``; otherwise factor and criterion labels, factor scores
        ("staff_score") and the experience variables are named in the language, and other terms
        (e.g. dummies) are shown as they are.
    null_value : 0 for coefficients, 1 for odds ratios. Returns the Axes.
    """
    function = "plot_coefficients"
    check_lang(lang)
    _require(tidy, ["term", "estimate", "ci_low", "ci_high"], function, "tidy")
    table = tidy
    if "kind" in table.columns:
        table = table[~table["kind"].isin(["cut_point", "variance_component"])]
    if exclude_intercept:
        table = table[table["term"].astype(str) != "Intercept"]
    if table.empty:
        raise ValueError(f"{function}: no coefficient rows left to plot")
    if "model" in table.columns and table["model"].nunique() > 1:
        groups = [(str(m), part) for m, part in table.groupby("model", sort=False)]
    else:
        groups = [("", table)]
    for name, part in groups:
        _one_row_each(part, "term", function, "tidy")
    terms = list(dict.fromkeys(table["term"].astype(str)))

    ax = _axes(ax)
    ax.axvline(null_value, color="0.4", linewidth=1, linestyle="--", zorder=1)
    _grouped_dots(ax, groups, terms, [_predictor_label(t, lang, labels) for t in terms],
                  legend=len(groups) > 1)
    _value_axis(ax.xaxis, lang)
    ax.set_xlabel(text("plot_coefficient", lang))
    ax.set_title(text("plot_drivers_title", lang))
    return ax


# --------------------------------------------------------------------------------------------
# 5-6. Relative importance; importance-performance
# --------------------------------------------------------------------------------------------
def plot_importance(importance, *, value: str = "share", lang: str = "vi", ax=None,
                    labels: dict | None = None):
    """Relative importance of the drivers as horizontal bars, largest on top.

    importance : an ``ImportanceResult`` or its table (``term, lmg, share``; intervals
        ``share_ci_low, share_ci_high`` and ``ci_low, ci_high`` (of lmg) when bootstrapped).
    value : "share" (default): each driver's share of R², in percent, with whiskers from the
        bootstrap percentile interval *of the share* (``share_ci_*``) when the table has it, and
        no whiskers otherwise; an interval of lmg is never divided by R² to make one for the
        share (R² varies across replicates, so that would not be an interval of the share).
        "lmg": the contribution to R² itself, with its interval ``ci_low, ci_high``.
    Rows whose interval is NaN get no whisker. Each bar is labelled with its value.
    Returns the Axes.
    """
    function = "plot_importance"
    check_lang(lang)
    table = getattr(importance, "table", importance)
    if value == "share":
        _require(table, ["term", "share"], function, "importance")
        values = table["share"].to_numpy(dtype=float) * 100
        has_ci = {"share_ci_low", "share_ci_high"} <= set(table.columns)
        low = table["share_ci_low"].to_numpy(dtype=float) * 100 if has_ci else None
        high = table["share_ci_high"].to_numpy(dtype=float) * 100 if has_ci else None
        axis_label = text("plot_share_of_r2", lang)
    elif value == "lmg":
        _require(table, ["term", "lmg", "ci_low", "ci_high"], function, "importance")
        values = table["lmg"].to_numpy(dtype=float)
        low, high = table["ci_low"].to_numpy(dtype=float), table["ci_high"].to_numpy(dtype=float)
        axis_label = text("plot_lmg", lang)
    else:
        raise ValueError(f"{function}: value must be 'share' or 'lmg', got {value!r}")
    _one_row_each(table, "term", function, "importance")
    order = np.argsort(-values, kind="stable")
    terms = table["term"].astype(str).to_numpy()[order]
    values = values[order]
    y = np.arange(len(values))[::-1]

    ax = _axes(ax)
    ax.barh(y, values, color=BASE, height=0.6, zorder=2)
    ends = values.copy()
    if low is not None:
        low, high = low[order], high[order]
        finite = np.isfinite(low) & np.isfinite(high)
        if finite.any():
            ax.hlines(y[finite], low[finite], high[finite], colors=NATION, linewidth=1.4,
                      zorder=3)
            ends[finite] = np.maximum(values[finite], high[finite])
    for yy, v, end in zip(y, values, ends):
        shown = (format_percent(v, lang, decimals=1) if value == "share"
                 else format_number(v, lang, decimals=3))
        ax.annotate(shown, (end, yy), xytext=(4, 0), textcoords="offset points",
                    ha="left", va="center", fontsize="small")
    _term_axis(ax, [_predictor_label(t, lang, labels) for t in terms])
    right = np.nanmax(ends) if np.isfinite(ends).any() else 1.0
    ax.set_xlim(0, right * 1.2 if right > 0 else 1.0)
    _value_axis(ax.xaxis, lang)
    ax.set_xlabel(axis_label)
    ax.set_title(text("plot_importance_title", lang))
    return ax


def plot_ipa(ipa: pd.DataFrame, *, lang: str = "vi", ax=None, labels: dict | None = None):
    """Importance–performance quadrants: each driver placed by importance (x) and performance
    (y), the crosshair lines, the four quadrants named in the language, points labelled.

    ipa:
        table from ``models.importance.ipa_table`` (``term, importance, performance,
        quadrant, importance_crosshair, performance_crosshair``). Points are coloured by
        quadrant, "concentrate_here" in the focus colour. Returns the Axes.
    """
    function = "plot_ipa"
    check_lang(lang)
    _require(ipa, ["term", "importance", "performance", "quadrant", "importance_crosshair",
                   "performance_crosshair"], function, "ipa")
    unknown = sorted(set(ipa["quadrant"].astype(str)) - set(QUADRANT_COLOURS))
    if unknown:
        raise ValueError(f"{function}: unknown quadrant(s) {unknown}; "
                         f"expected {list(QUADRANT_COLOURS)}")
    crosshairs = {}
    for column in ("importance_crosshair", "performance_crosshair"):
        distinct = ipa[column].dropna().unique()
        if len(distinct) != 1:
            raise ValueError(f"{function}: `{column}` must hold one value, got {list(distinct)}")
        crosshairs[column] = float(distinct[0])

    ax = _axes(ax)
    colours = [QUADRANT_COLOURS[q] for q in ipa["quadrant"].astype(str)]
    ax.axvline(crosshairs["importance_crosshair"], color="0.5", linewidth=1, zorder=1)
    ax.axhline(crosshairs["performance_crosshair"], color="0.5", linewidth=1, zorder=1)
    ax.scatter(ipa["importance"], ipa["performance"], s=40, c=colours, zorder=3)
    for term, x, y in zip(ipa["term"].astype(str), ipa["importance"], ipa["performance"]):
        ax.annotate(textwrap.fill(_predictor_label(term, lang, labels), 24), (x, y),
                    xytext=(4, 3), textcoords="offset points", fontsize="x-small")
    for quadrant, (right, top) in QUADRANT_CORNERS.items():
        ax.text(0.98 if right else 0.02, 0.98 if top else 0.02, text(f"ipa_{quadrant}", lang),
                transform=ax.transAxes, ha="right" if right else "left",
                va="top" if top else "bottom", fontsize="small", fontweight="bold",
                color=QUADRANT_COLOURS[quadrant])
    ax.margins(0.15)  # room for the corner names and point labels
    _value_axis(ax.xaxis, lang)
    _value_axis(ax.yaxis, lang)
    ax.set_xlabel(text("plot_importance", lang))
    ax.set_ylabel(text("estimate", lang))
    ax.set_title(text("plot_ipa_title", lang))
    return ax


# --------------------------------------------------------------------------------------------
# 7. Province-specific effects from the multilevel model
# --------------------------------------------------------------------------------------------
def plot_group_effects(effects: pd.DataFrame, *, term: str = "staff_score",
                       unit: str = "province_code", national=None, highlight=None,
                       unit_set: str | None = None, lang: str = "vi", ax=None):
    """Each province's own effect of ``term`` (fixed effect + BLUP) with its interval, sorted.

    effects:
        ``extra["group_effects"]`` of a multilevel fit (``unit, term, estimate, ci_low,
        ci_high``). Names come from the ``unit_set`` column, else ``unit_set``, else "63".
    national : the national estimate, a float (drawn as a line) or a tuple
        ``(estimate, ci_low, ci_high)`` (line and shaded interval).
    highlight : the province (or provinces) drawn in the focus colour. Returns the Axes.
    """
    function = "plot_group_effects"
    check_lang(lang)
    _require(effects, [unit, "term", "estimate", "ci_low", "ci_high"], function, "effects")
    table = effects[effects["term"].astype(str) == term]
    if table.empty:
        raise ValueError(f"{function}: no rows with term {term!r}; terms present: "
                         f"{sorted(effects['term'].astype(str).unique())}")
    _one_row_each(table, unit, function, "effects")
    table = table.sort_values("estimate", kind="stable").reset_index(drop=True)
    focus = _highlighted(table, unit, highlight, function)

    ax = _axes(ax)
    if national is not None:
        if np.ndim(national) == 0:
            centre, band = float(national), None
        elif len(national) == 3:
            centre, band = float(national[0]), (float(national[1]), float(national[2]))
        else:
            raise ValueError(f"{function}: national must be a number or a tuple "
                             f"(estimate, ci_low, ci_high), got {national!r}")
        if band is not None:
            ax.axvspan(*band, color=NATION, alpha=0.12, linewidth=0, zorder=0)
        ax.axvline(centre, color=NATION, linewidth=1.2, linestyle="--", zorder=1,
                   label=text("nation", lang))
        ax.legend(loc="lower right")
    y = np.arange(len(table))
    colours = np.where(focus, HIGHLIGHT, BASE)
    _dots_with_intervals(ax, y, table["estimate"], table["ci_low"], table["ci_high"], colours,
                         size=20)
    _unit_axis(ax, y, _unit_names(table, unit, unit_set), focus)
    _value_axis(ax.xaxis, lang)
    ax.set_xlabel(text("plot_group_effect_axis", lang, term=_predictor_label(term, lang)))
    ax.set_title(text("plot_group_effect_title", lang))
    return ax


# --------------------------------------------------------------------------------------------
# 8-9. Trajectories over the years
# --------------------------------------------------------------------------------------------
def plot_papi_trajectory(papi: pd.DataFrame, *, province_code: str, dimension: str = "d5",
                         lang: str = "vi", ax=None):
    """A province's PAPI score over the years against its region's and the nation's mean.

    papi : the province panel of ``io.load_papi()`` (``province_code, year`` and the
        ``dimension`` column; 63-set, as PAPI is). The region is the province's socio-economic
        region in ``reference.provinces("63")``. Each mean is over the provinces with a score
        that year (the province itself included). A year without a score is a gap in the line,
        never interpolated (d7 and d8 start in 2018). Returns the Axes with three lines, in
        this order: the province, its region, the nation.
    """
    function = "plot_papi_trajectory"
    check_lang(lang)
    _require(papi, ["province_code", "year", dimension], function, "papi")
    if "unit_set" in papi.columns:
        papi = papi[papi["unit_set"].astype(str) == "63"]
    province_code = str(province_code)
    places = reference.provinces("63").set_index("province_code")
    if province_code not in places.index:
        raise ValueError(f"{function}: {province_code!r} is not a province of the 63-unit set "
                         f"(PAPI covers the provinces before the 2025 merger)")
    own_rows = papi[papi["province_code"].astype(str) == province_code]
    if own_rows.empty:
        raise ValueError(f"{function}: no rows for province {province_code!r} in `papi`")
    _one_row_each(own_rows, "year", function, "papi")

    region_id = places.loc[province_code, "region_id"]
    region_name = places.loc[province_code, f"region_{lang}"]
    in_region = papi["province_code"].astype(str).map(places["region_id"]) == region_id
    years = np.arange(int(papi["year"].min()), int(papi["year"].max()) + 1)
    own = own_rows.set_index("year")[dimension].astype(float).reindex(years)
    region = papi[in_region].groupby("year")[dimension].mean().reindex(years)
    nation = papi.groupby("year")[dimension].mean().reindex(years)

    ax = _axes(ax)
    name = places.loc[province_code, "name_vi"]
    ax.plot(years, own.to_numpy(), color=HIGHLIGHT, marker="o", linewidth=2, label=name)
    ax.plot(years, region.to_numpy(), color=BASE, linestyle="--", marker=".",
            label=text("plot_region_mean", lang, region=region_name))
    ax.plot(years, nation.to_numpy(), color=NATION, linestyle=":", marker=".",
            label=text("plot_nation_mean", lang))
    _year_axis(ax.xaxis)
    _value_axis(ax.yaxis, lang)
    ax.set_xlabel(text("year", lang))
    dimension_name = text(f"papi_{dimension}", lang) if f"papi_{dimension}" in TEXT else dimension
    ax.set_ylabel(text("plot_papi_axis", lang, dimension=dimension_name))
    ax.set_title(name)
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_experience(table: pd.DataFrame, *, lang: str = "vi", ax=None,
                    labels: dict | None = None):
    """On-time and online shares (or any percentages) over the years, unit against nation.

    table : tidy ``year, group, term, estimate`` in percent, with ``ci_low, ci_high`` drawn as
        shaded bands where present. Colour distinguishes the terms; line style the groups (the
        first group, e.g. the province, solid with markers; the others dashed). Group labels
        are used as given; terms are named in the language (``on_time``, ``applied_online``,
        ``on_time_rate``, ``online_share`` are known) or by ``labels``. Missing years are gaps.
        Returns the Axes, one line per (term, group).
    """
    function = "plot_experience"
    check_lang(lang)
    _require(table, ["year", "group", "term", "estimate"], function, "table")
    has_ci = {"ci_low", "ci_high"} <= set(table.columns)
    years = np.arange(int(table["year"].min()), int(table["year"].max()) + 1)
    terms = list(dict.fromkeys(table["term"].astype(str)))
    groups = list(dict.fromkeys(table["group"].astype(str)))
    palette = [HIGHLIGHT, BASE, "#55a868", "#8172b3", "#937860"]

    ax = _axes(ax)
    for i, term in enumerate(terms):
        colour = palette[i % len(palette)]
        for j, group in enumerate(groups):
            rows = table[(table["term"].astype(str) == term)
                         & (table["group"].astype(str) == group)]
            if rows.empty:
                continue
            _one_row_each(rows, "year", function, "table")
            rows = rows.set_index("year").reindex(years)
            ax.plot(years, rows["estimate"].to_numpy(dtype=float), color=colour,
                    linestyle="-" if j == 0 else "--", marker="o" if j == 0 else None,
                    linewidth=2 if j == 0 else 1.3,
                    label=f"{_predictor_label(term, lang, labels)} – {group}")
            if has_ci:
                ax.fill_between(years, rows["ci_low"].to_numpy(dtype=float),
                                rows["ci_high"].to_numpy(dtype=float), color=colour,
                                alpha=0.12 if j == 0 else 0.06, linewidth=0)
    _year_axis(ax.xaxis)
    _value_axis(ax.yaxis, lang)
    ax.set_xlabel(text("year", lang))
    ax.set_ylabel(text("plot_share", lang))
    ax.set_title(text("plot_experience_title", lang))
    ax.legend(loc="best", fontsize="small")
    return ax


# --------------------------------------------------------------------------------------------
# 10. The province map
# --------------------------------------------------------------------------------------------
# Rank groups from the best (1) to the poorest (4): a diverging blue-to-red scheme that reads
# in colour-blind vision and in a greyscale print (ColorBrewer RdYlBu, four classes).
MAP_GROUP_COLOURS = ("#2c7bb6", "#abd9e9", "#fdae61", "#d7191c")
MAP_NO_DATA = "#e0e0e0"
MAP_CMAP = "YlGnBu"
# Below this largest group probability a unit's group is called uncertain and hatched.
GROUP_CERTAINTY = 0.8
MAP_HATCH = "////"
MAP_UNIT_GID = "province-"          # + code: the gid of each unit's shape (one per unit)
MAP_HIGHLIGHT_GID = "highlight"     # the bold outline of the highlighted unit
MAP_LABEL_GID = "archipelago"       # the archipelago labels
MAP_ATTRIBUTION_GID = "attribution"
# The whole of Vietnam's territory, the East Sea archipelagos included (longitude, latitude).
_MAP_EXTENT = ((102.0, 117.4), (6.5, 23.6))


def _as_path(geometry) -> MplPath:
    """A (Multi)Polygon as one matplotlib Path, holes wound against their ring so that a fill
    leaves them open."""
    vertices, codes = [], []
    for polygon in shapely.get_parts(shapely.orient_polygons(geometry)):
        for ring in (polygon.exterior, *polygon.interiors):
            xy = np.asarray(ring.coords)
            vertices.append(xy)
            codes.append(np.r_[MplPath.MOVETO, np.full(len(xy) - 2, MplPath.LINETO),
                               MplPath.CLOSEPOLY])
    return MplPath(np.concatenate(vertices), np.concatenate(codes))


@lru_cache(maxsize=4)
def _map_paths(folder: str, unit_set: str) -> tuple:
    """Each unit's simplified shape as a Path, in code order, made once per process."""
    del folder  # the cache key: another SIPAS_DATA_DIR is another map
    return tuple((code, _as_path(geometry))
                 for code, geometry in boundaries.province_shapes(unit_set).items())


@lru_cache(maxsize=4)
def _archipelago_paths(folder: str, unit_set: str) -> tuple:
    del folder
    return tuple((archipelago, _as_path(archipelago.geometry))
                 for archipelago in boundaries.archipelagos(unit_set))


def _map_rows(data: pd.DataFrame, column: str, unit_set: str, term: str,
              function: str) -> pd.DataFrame:
    """The rows of ``data`` for the map: one per unit of ``unit_set``, codes checked."""
    rows = data
    if "unit_set" in rows.columns:
        rows = rows[rows["unit_set"].astype(str) == unit_set]
        if rows.empty:
            raise ValueError(f"{function}: `data` has no rows of unit_set {unit_set!r}; "
                             f"unit sets present: {sorted(data['unit_set'].astype(str).unique())}")
    if "term" in rows.columns:
        rows = rows[rows["term"].astype(str) == term]
        if rows.empty:
            raise ValueError(f"{function}: no rows with term {term!r}; terms present: "
                             f"{sorted(data['term'].astype(str).unique())}")
    rows = rows.assign(province_code=rows["province_code"].map(reference.normalise_code)
                       .astype(str))
    known = set(reference.provinces(unit_set)["province_code"])
    unknown = sorted(set(rows["province_code"]) - known)
    if unknown:
        raise ValueError(f"{function}: `data` has province codes {unknown} that are not units "
                         f"of unit_set {unit_set!r} (GSO 2-digit codes; see "
                         f"sipas_analysis.reference.provinces({unit_set!r}))")
    _one_row_each(rows, "province_code", function)
    values = pd.to_numeric(rows[column], errors="coerce")
    bad = rows.loc[values.isna() & rows[column].notna(), "province_code"].tolist()
    if bad:
        raise ValueError(f"{function}: column {column!r} is not a number for province(s) {bad}")
    return rows.assign(**{column: values.astype(float)}).set_index("province_code")


def _uncertain(rows: pd.DataFrame, groups: int = 4):
    """Which units' rank group is uncertain, and the rule that said so (None: no columns).

    With ``p_group_1..4`` (:func:`sipas_analysis.indices.rank_group_probabilities`): the
    largest probability is below :data:`GROUP_CERTAINTY`. Otherwise, with ``rank_low`` and
    ``rank_high`` (:func:`sipas_analysis.indices.rank_units`): the rank set spans more than one
    group, rank r of p ranked units being in group ceil(r * 4 / p)."""
    probability = [f"p_group_{g}" for g in range(1, groups + 1)]
    if set(probability) <= set(rows.columns):
        largest = rows[probability].apply(pd.to_numeric, errors="coerce").max(axis=1)
        return (largest < GROUP_CERTAINTY).to_numpy(), "probability"
    if {"rank_low", "rank_high"} <= set(rows.columns):
        low = pd.to_numeric(rows["rank_low"], errors="coerce").to_numpy(dtype=float)
        high = pd.to_numeric(rows["rank_high"], errors="coerce").to_numpy(dtype=float)
        ranked = np.isfinite(low) & np.isfinite(high)
        p = int(ranked.sum())
        if p == 0:
            return np.zeros(len(rows), dtype=bool), None
        with np.errstate(invalid="ignore"):
            spans = np.ceil(low * groups / p) != np.ceil(high * groups / p)
        return spans & ranked, "rank_set"
    return np.zeros(len(rows), dtype=bool), None


def plot_province_map(data: pd.DataFrame, *, value: str = "estimate", unit_set: str = "63",
                      groups: str | None = None, highlight=None, lang: str = "vi", ax=None,
                      term: str = "overall", label: str | None = None):
    """A map of the provinces coloured by a value or by rank group (a choropleth).

    data : one row per unit, with ``province_code`` (GSO code; rows of another ``unit_set`` or
        ``term``, when those columns are present, are left out) and the column to colour by:
        e.g. the ``sipas_index`` table, or the ranks of the shared results, which also carry
        ``quartile_group`` and ``p_group_1..4``. A unit without a row or a value is drawn grey
        ("no data").
    value : the column coloured on a sequential scale ("YlGnBu", darker = higher), with a
        colorbar named ``label`` (default: the column's name in the language; "estimate" is the
        percent satisfied) and ticks written the language's way. Not read when ``groups`` is
        given.
    unit_set : "63" (the provinces before 1 July 2025) or "34" (the units after the merger,
        each drawn as the union of its former provinces).
    groups : a column of rank groups 1-4 (1 = the best quarter, as PAPI colours provinces),
        coloured with a legend "Nhóm cao nhất" ... "Nhóm thấp nhất" ("Best performing" ...
        "Poor performing").
    highlight : a province code whose outline is drawn bold (the report's own unit), gid
        ``"highlight"``; or a list of codes, each outline then with the gid
        ``"highlight-<code>"`` (one drawing a report cuts every unit's map from).
    term : with a ``term`` column (an index table), the rows of this term (default the overall
        index).

    Uncertainty: a unit is hatched when its group is uncertain, by this rule (said in the
    legend): with columns ``p_group_1..4`` (the approximate group-membership probabilities of
    :func:`sipas_analysis.indices.rank_group_probabilities`), when the largest of them is below
    :data:`GROUP_CERTAINTY` (0.8); else with ``rank_low`` and ``rank_high``, when the 95 % rank
    set spans more than one group (rank r of p in group ceil(4r/p)); else nothing is hatched.
    Hatching keeps the colour readable, and shows in a greyscale print.

    The map shows the whole territory: the Hoàng Sa (Paracel) and Trường Sa (Spratly)
    archipelagos, part of Đà Nẵng's and Khánh Hòa's shapes, are drawn in place, framed and
    labelled "Quần đảo Hoàng Sa (Đà Nẵng)" and "Quần đảo Trường Sa (Khánh Hòa)". The boundary
    attribution (geoBoundaries, CC BY-SA 4.0) is written under every map. Each unit is one
    patch with gid ``"province-<code>"``. Returns the Axes.

    Examples
    --------
    >>> table = pd.DataFrame({"province_code": ["01", "79"], "estimate": [82.0, 85.5]})
    >>> figure, ax = new_figure((6, 6.6))
    >>> ax = plot_province_map(table, highlight="01", lang="en", ax=ax)
    >>> sum(str(p.get_gid()).startswith(MAP_UNIT_GID) for p in ax.patches)
    63
    """
    function = "plot_province_map"
    check_lang(lang)
    unit_set = str(unit_set)
    if unit_set not in reference.UNIT_SETS:
        raise ValueError(f"{function}: unit_set must be one of {reference.UNIT_SETS}, "
                         f"got {unit_set!r}")
    column = value if groups is None else groups
    _require(data, ["province_code", column], function)
    rows = _map_rows(data, column, unit_set, term, function)
    places = reference.provinces(unit_set).set_index("province_code")
    # one code, or several (each outline then has the gid "highlight-<code>")
    several = highlight is not None and not isinstance(highlight, (str, int, np.integer))
    highlights = [reference.normalise_code(code) for code in
                  (highlight if several else [] if highlight is None else [highlight])]
    unknown = [code for code in highlights if code not in places.index]
    if unknown:
        raise ValueError(f"{function}: highlight {', '.join(map(repr, unknown))} "
                         f"{'is not a unit' if len(unknown) == 1 else 'are not units'} of "
                         f"unit_set {unit_set!r}")
    if groups is not None:
        shown = rows[column].dropna()
        bad = shown[~shown.isin([1, 2, 3, 4])].index.tolist()
        if bad:
            raise ValueError(f"{function}: column {groups!r} must hold rank groups 1-4; "
                             f"province(s) {bad} have {shown[bad].tolist()}")
    hatched, rule = _uncertain(rows)
    hatched = pd.Series(hatched, index=rows.index)

    ax = _axes(ax)
    numbers = rows[column]
    if groups is None:
        finite = numbers[np.isfinite(numbers)]
        low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        if low == high:
            low, high = low - 0.5, high + 0.5
        # the palest end of the scale is left out: it would read as "no data"
        cmap = ListedColormap(matplotlib.colormaps[MAP_CMAP](np.linspace(0.15, 1.0, 256)))
        norm = Normalize(low, high)

    def colour_of(code):
        number = numbers.get(code, np.nan)
        if not np.isfinite(number):
            return MAP_NO_DATA
        return MAP_GROUP_COLOURS[int(number) - 1] if groups is not None else cmap(norm(number))

    no_data = False
    for code, path in _map_paths(str(reference.data_dir()), unit_set):
        face = colour_of(code)
        no_data |= isinstance(face, str) and face == MAP_NO_DATA
        patch = PathPatch(path, facecolor=face, edgecolor="white", linewidth=0.3,
                          gid=f"{MAP_UNIT_GID}{code}", zorder=1)
        if bool(hatched.get(code, False)):
            patch.set_hatch(MAP_HATCH)
            _hatch_style(patch)
        # add_artist, not add_patch: the limits are set below, and add_patch's updating of
        # the data limits from every segment of the shapes took 3/4 of the drawing time
        ax.add_artist(patch)
    paths = dict(_map_paths(str(reference.data_dir()), unit_set))
    for code in highlights:
        ax.add_artist(PathPatch(paths[code], facecolor="none", edgecolor="black", linewidth=1.6,
                                gid=f"{MAP_HIGHLIGHT_GID}-{code}" if several else
                                MAP_HIGHLIGHT_GID, zorder=3))

    for archipelago, island_path in _archipelago_paths(str(reference.data_dir()), unit_set):
        x0, y0, x1, y1 = archipelago.bounds
        pad = 0.25
        ax.add_patch(Rectangle((x0 - pad, y0 - pad), x1 - x0 + 2 * pad, y1 - y0 + 2 * pad,
                               facecolor="none", edgecolor="0.55", linewidth=0.6,
                               linestyle=(0, (3, 2)), zorder=2,
                               gid=f"{MAP_LABEL_GID}-frame-{archipelago.key}"))
        # The islands are specks at this scale: outlined in their unit's colour (over the
        # white borders of the unit's own patch) so that they show.
        face = colour_of(archipelago.province_code)
        ax.add_artist(PathPatch(island_path, facecolor=face, edgecolor=face, linewidth=0.4,
                                gid=f"{MAP_LABEL_GID}-{archipelago.key}", zorder=2))
        name = places.loc[archipelago.province_code, "name_vi"]
        ax.text((x0 + x1) / 2, y1 + pad + 0.15, text(f"map_{archipelago.key}", lang,
                                                     province=name),
                ha="center", va="bottom", fontsize=7, color="0.25", gid=MAP_LABEL_GID)

    handles = []
    if groups is not None:
        handles += [Patch(facecolor=MAP_GROUP_COLOURS[g - 1], edgecolor="0.6", linewidth=0.4,
                          label=text(f"map_group_{g}", lang)) for g in range(1, 5)]
    else:
        cax = ax.inset_axes([0.55, 0.955, 0.42, 0.022])
        bar = ax.figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax,
                                 orientation="horizontal")
        bar.outline.set_linewidth(0.4)
        cax.xaxis.set_major_formatter(LangFormatter(lang))
        cax.xaxis.set_major_locator(MaxNLocator(5))
        cax.tick_params(labelsize=7, length=2, pad=1.5)
        cax.xaxis.set_label_position("top")
        words = label if label is not None else (
            text("estimate", lang) if value == "estimate" else _predictor_label(value, lang))
        cax.set_xlabel(words, fontsize=8, labelpad=2)
    if rule is not None and hatched.any():
        swatch = Patch(facecolor="white", edgecolor="0.3", linewidth=0.4, hatch=MAP_HATCH,
                       label=text(f"map_uncertain_{rule}", lang,
                                  threshold=format_percent(100 * GROUP_CERTAINTY, lang,
                                                           decimals=0)))
        _hatch_style(swatch)
        handles.append(swatch)
    if no_data:
        handles.append(Patch(facecolor=MAP_NO_DATA, edgecolor="0.6", linewidth=0.4,
                             label=text("map_no_data", lang)))
    if handles:
        ax.legend(handles=handles, loc="upper right",
                  bbox_to_anchor=(1.0, 0.97 if groups is not None else 0.87),
                  fontsize=7, frameon=False, handlelength=1.6, handleheight=1.1)

    attribution = text("map_attribution", lang)
    if unit_set == "34":
        attribution += text("map_attribution_34", lang)
    ax.text(0.0, -0.005, attribution, transform=ax.transAxes, ha="left", va="top", fontsize=6,
            color="0.35", gid=MAP_ATTRIBUTION_GID)
    (x_low, x_high), (y_low, y_high) = _MAP_EXTENT
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)
    # degrees of longitude are shorter than degrees of latitude by cos(latitude)
    ax.set_aspect(1 / np.cos(np.radians((y_low + y_high) / 2)))
    ax.set_axis_off()
    if groups is not None:
        ax.set_title(text("map_group_title", lang))
    else:
        words = label if label is not None else (
            text("sipas", lang) if value == "estimate" else _predictor_label(value, lang))
        ax.set_title(text("map_value_title", lang, label=words))
    return ax


def _hatch_style(patch) -> None:
    """Thin dark hatching (matplotlib 3.10+ sets its colour and width per patch; older ones
    draw it in the edge colour at the rcParams width)."""
    if hasattr(patch, "set_hatchcolor"):
        patch.set_hatchcolor("0.25")
    if hasattr(patch, "set_hatch_linewidth"):
        patch.set_hatch_linewidth(0.5)


# --------------------------------------------------------------------------------------------
# Figures of a design diagnosis (sipas_analysis.evaluate)
# --------------------------------------------------------------------------------------------
_REFERENCE_LINES = {"coverage": 0.95, "bias": 0.0, "se_calibration": 1.0, "spearman": 1.0,
                    "spread_ratio": 1.0}


def plot_diagnosand(table: pd.DataFrame, *, diagnosand: str = "coverage", label=None,
                    reference: float | None = None, ax=None):
    """One diagnosand per estimator x inquiry as points with +-1.96 Monte Carlo SE bars; a
    dashed line at the right value (0.95 for coverage, 0 for bias, 1 for se_calibration)."""
    if diagnosand not in DIAGNOSANDS:
        raise ValueError(f"diagnosand must be one of {DIAGNOSANDS}, got {diagnosand!r}")
    ax = ax or plt.gca()
    part = table[np.isfinite(table[diagnosand].to_numpy(float))]
    labels = (part[label] if label is not None
              else part["estimator"] + " · " + part["inquiry"]).astype(str).to_numpy()
    y = np.arange(len(part))[::-1]
    ax.errorbar(part[diagnosand], y, xerr=1.96 * part[f"{diagnosand}_mc_se"].fillna(0),
                fmt="o", color="C0", ecolor="0.5", capsize=3)
    reference = _REFERENCE_LINES.get(diagnosand) if reference is None else reference
    if reference is not None:
        ax.axvline(reference, color="C3", linestyle="--", linewidth=1)
    ax.set_yticks(y, labels)
    ax.set_xlabel(diagnosand.replace("_", " "))
    return ax


def plot_recovery(recovery: pd.DataFrame, *, ax=None):
    """Mean estimate over simulations against the target, one point per unit, with the
    45-degree line (points flatter than it: shrinkage). ``recovery``:
    :func:`sipas_analysis.evaluate.unit_recovery`."""
    ax = ax or plt.gca()
    ax.errorbar(recovery["target"], recovery["mean_estimate"], yerr=recovery["sd_estimate"],
                fmt="o", markersize=4, color="C0", ecolor="0.75", alpha=0.9)
    low = float(np.nanmin(recovery[["target", "mean_estimate"]].to_numpy()))
    high = float(np.nanmax(recovery[["target", "mean_estimate"]].to_numpy()))
    ax.plot([low, high], [low, high], color="C3", linestyle="--", linewidth=1)
    ax.set_xlabel("target (true value)")
    ax.set_ylabel("mean estimate over simulations (bars: SD)")
    return ax

