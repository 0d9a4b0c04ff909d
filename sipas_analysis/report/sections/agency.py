"""The sections of an in-province unit's report (the "agency" kind) and the province's league
table: headline (with the Holm-adjusted test against the province and, for a small unit, its
model-based estimate), factors and criteria against the province and the unit's type, the
change from the previous survey, drivers (the unit's own model or the multilevel estimate),
importance-performance, tracking (when the answers are dated over several months), PAR
points, actions, caveats, provenance.

Their cells take the shared results of :mod:`sipas_analysis.report.agency_shared` and
:class:`~sipas_analysis.report.agency_shared.AgencyParams`. Labels: a criterion is shown by
the codebook's header text, a factor by its SIPAS label when it is a SIPAS factor (else its
name). Estimates flagged ``suppressed`` (the package's one display rule) are shown as "—".
"""
from __future__ import annotations

from importlib.metadata import version as _package_version

import numpy as np
import pandas as pd

from ... import schema
from ...language import format_count, format_interval, format_number, format_percent, text
from ...models.importance import QUADRANTS, ipa_table
from ..agency_shared import SMALL_AREA_MAX_N_EFF as SMALL_N_EFF
from ..display import HtmlTable, markdown_list
from .base import Section
from .caveats import WEIGHTING_TEXT_KEYS, weighting_sentence


def _h(key: str, lang: str, level: int = 2, **values) -> str:
    return "#" * level + " " + text(key, lang, **values)


def term_name(shared, term: str, lang: str) -> str:
    """A term's label: the codebook's header for a criterion, the SIPAS label for a SIPAS
    factor, else the term's own name."""
    if term == "overall":
        return text("overall", lang)
    if term in shared.labels:
        return shared.labels[term]
    if term in schema.FACTOR_LABELS:
        return schema.FACTOR_LABELS[term][lang]
    return term


def unit_rows(shared, params) -> pd.DataFrame:
    name = shared.unit_of(params.unit)
    return shared.units[shared.units["unit"] == name]


def _number(value, lang, suppressed=False) -> str:
    return "—" if suppressed else format_number(value, lang)


def _p(value, lang) -> str:
    if value is None or pd.isna(value):
        return "—"
    return "< 0,001" if value < 0.001 and lang == "vi" else \
        ("< 0.001" if value < 0.001 else format_number(value, lang, decimals=3))


def headline(shared, params) -> list[str]:
    lang, name = params.lang, shared.unit_of(params.unit)
    rows = unit_rows(shared, params)
    overall = rows[rows["kind"] == "overall"].iloc[0]
    rank = shared.ranks[shared.ranks["unit"] == name]
    rank = rank.iloc[0] if len(rank) else None
    hidden = bool(overall["suppressed"])
    province = getattr(shared, "province_name", "")
    out = [_h("agency_title_province", lang, level=1, year=shared.year, unit=name,
              province=province) if province else
           _h("agency_title", lang, level=1, year=shared.year, unit=name)]
    if shared.synthetic:
        out.append("**" + text("synthetic_banner", lang) + "**")
    out += [
           text("agency_headline", lang, unit=name, unit_type=overall["unit_type"] or "—",
                estimate=_number(overall["estimate"], lang, hidden),
                ci="—" if hidden else format_interval(overall["ci_low"], overall["ci_high"], lang),
                n=format_count(overall["n"], lang),
                n_peers=int(rank["n_peers"]) if rank is not None else 1,
                rank=int(rank["rank"]) if rank is not None else "—",
                rank_low=int(rank["rank_low"]) if rank is not None else "—",
                rank_high=int(rank["rank_high"]) if rank is not None else "—")]
    versus = shared.versus_province
    row = versus[(versus["unit"] == name) & (versus["term"] == "overall")]
    if len(row) and not hidden:
        r = row.iloc[0]
        verdict = {"above": "agency_above", "below": "agency_below"}.get(r["mark"], "agency_same")
        out.append(text("agency_versus", lang, province=format_number(r["province"], lang),
                        difference=format_number(r["difference"], lang),
                        ci=format_interval(r["ci_low"], r["ci_high"], lang),
                        p=("" if _p(r["p_value"], lang).startswith("<") else "= ")
                        + _p(r["p_value"], lang), verdict=text(verdict, lang)))
    marks = getattr(shared, "league_marks", None)
    if marks is not None and not marks.empty and not hidden:
        adjusted = marks[marks["unit"] == name]
        if len(adjusted):
            a = adjusted.iloc[0]
            verdict = {"above": "agency_above", "below": "agency_below"}.get(a["mark"],
                                                                             "agency_same")
            out.append(text("agency_versus_adjusted", lang, method=_method(a["method"]),
                            m=int(a["m"]), p=("" if _p(a["p_adjusted"], lang).startswith("<")
                                              else "= ") + _p(a["p_adjusted"], lang),
                            verdict=text(verdict, lang)))
    out += small_area_sentence(shared, params)
    out.append(text(f"agency_province_{shared.province_rule}", lang))
    return out


def _method(method: str) -> str:
    from ..settings import P_ADJUST_NAMES
    return P_ADJUST_NAMES.get(method, method)


def comparison(shared, params, kind: str) -> pd.DataFrame:
    """The unit's ``kind`` ("factor" or "criterion") rows against the province and the unit's
    type: ``term, estimate, ci_low, ci_high, n, suppressed, type_mean, province, difference,
    p_value, mark`` (numbers)."""
    rows = unit_rows(shared, params)
    rows = rows[rows["kind"] == kind]
    unit_type = rows["unit_type"].iloc[0] if len(rows) else ""
    means = shared.type_means[shared.type_means["unit_type"] == unit_type].set_index(
        "term")["estimate"].rename("type_mean")
    versus = shared.versus_province[shared.versus_province["unit"] == shared.unit_of(params.unit)]
    table = rows[["term", "estimate", "ci_low", "ci_high", "n", "suppressed"]].merge(
        means.reset_index(), on="term", how="left").merge(
        versus[["term", "province", "difference", "p_value", "mark"]], on="term", how="left")
    return table.reset_index(drop=True)


def _display(shared, params, kind: str) -> HtmlTable:
    lang = params.lang
    table = comparison(shared, params, kind)
    marks = {"above": "▲", "below": "▼"}
    shown = pd.DataFrame({
        text("criterion" if kind == "criterion" else "factor", lang):
            [term_name(shared, t, lang) for t in table["term"]],
        text("estimate", lang): [_number(v, lang, s) for v, s in
                                 zip(table["estimate"], table["suppressed"])],
        text("ci", lang): ["—" if s else format_interval(lo, hi, lang) for lo, hi, s in
                           zip(table["ci_low"], table["ci_high"], table["suppressed"])],
        text("n", lang): [format_count(v, lang) for v in table["n"]],
        text("agency_type_mean", lang): [format_number(v, lang) for v in table["type_mean"]],
        text("agency_province", lang): [format_number(v, lang) for v in table["province"]],
        text("agency_difference", lang): [
            "—" if s else format_number(v, lang) + (f" {marks[m]}" if m in marks else "")
            for v, m, s in zip(table["difference"], table["mark"], table["suppressed"])],
        "p": ["—" if s else _p(v, lang) for v, s in zip(table["p_value"], table["suppressed"])]})
    return HtmlTable(shown)


def _factors(shared, params):
    return [_h("agency_section_factors", params.lang), _display(shared, params, "factor")]


def _criteria(shared, params):
    return [_h("agency_section_criteria", params.lang), _display(shared, params, "criterion")]


def change_table(shared, params) -> pd.DataFrame:
    if shared.change is None or shared.change.empty:
        return pd.DataFrame()
    return shared.change[shared.change["unit"] == shared.unit_of(params.unit)].reset_index(
        drop=True)


def _change(shared, params):
    lang = params.lang
    out = [_h("agency_section_change", lang)]
    table = change_table(shared, params)
    source = getattr(shared, "previous_name", "") or shared.data_name
    if shared.unit_of(params.unit) in getattr(shared, "new_units", ()):
        return out + [text("agency_new_unit_note", lang, unit=shared.unit_of(params.unit),
                           previous_year=shared.previous_year, source=source)]
    if table.empty:
        return out + [text("agency_no_previous", lang, year=shared.year)]
    shown = pd.DataFrame({
        text("factor", lang): [term_name(shared, t, lang) for t in table["term"]],
        text("agency_change", lang): [format_number(v, lang) for v in table["estimate"]],
        text("ci", lang): [format_interval(lo, hi, lang)
                           for lo, hi in zip(table["ci_low"], table["ci_high"])],
        "p": [_p(v, lang) for v in table["p_value"]]})
    out.append(HtmlTable(shown, caption=f"{shared.previous_year} → {shared.year}"))
    if getattr(shared, "previous_name", ""):
        out.append(text("agency_previous_file", lang, source=shared.previous_name))
    return out


def drivers_table(shared, params) -> pd.DataFrame:
    """The unit's relative importance (LMG shares of its own model's R²; empty when it has
    none)."""
    if shared.importance is None or shared.importance.empty:
        return pd.DataFrame()
    return shared.importance[shared.importance["unit"] == shared.unit_of(params.unit)] \
        .reset_index(drop=True)


def slopes_table(shared, params) -> pd.DataFrame:
    """The unit's driver slopes (``agency_shared.unit_drivers``: its own design-based model,
    or the multilevel estimate, column ``model``); empty when it has none."""
    table = getattr(shared, "unit_drivers", None)
    if table is None or table.empty:
        return pd.DataFrame()
    return table[table["unit"] == shared.unit_of(params.unit)].reset_index(drop=True)


def _drivers(shared, params):
    lang = params.lang
    out = [_h("agency_section_drivers", lang)]
    slopes = slopes_table(shared, params)
    if slopes.empty:
        why = text("agency_drivers_no_overall", lang) if "overall_satisfaction" not in \
            shared.columns else text("agency_drivers_small", lang, df=shared.driver_min_df
                                     or shared.settings.min_unit_design_df)
        return out + [text("agency_drivers_none", lang, why=why)]
    model = slopes["model"].iloc[0]
    rule = dict(df=format_count(shared.driver_min_df, lang),
                design_df=format_count(slopes["design_df"].iloc[0], lang),
                residual=format_count(shared.settings.min_unit_design_df, lang),
                n=format_count(slopes["n"].iloc[0], lang))
    out.append(text(f"agency_drivers_{model}", lang, **rule))
    # the LMG shares of R² come from the unit's own model only
    lmg = drivers_table(shared, params) if model == "design" else pd.DataFrame()
    shares = lmg.set_index("term")["share"] if not lmg.empty else pd.Series(dtype=float)
    slopes = slopes.sort_values("estimate", ascending=False)
    shown = {
        text("factor", lang): [term_name(shared, t, lang) for t in slopes["term"]],
        text("agency_slope", lang): [format_number(v, lang, decimals=2)
                                     for v in slopes["estimate"]],
        text("ci", lang): [format_interval(lo, hi, lang, decimals=2)
                           for lo, hi in zip(slopes["ci_low"], slopes["ci_high"])],
        "p": [_p(v, lang) for v in slopes["p_value"]]}
    if len(shares):
        shown["LMG %"] = [format_percent(100 * shares.get(t, np.nan), lang, decimals=0)
                          for t in slopes["term"]]
    out.append(HtmlTable(pd.DataFrame(shown)))
    if len(shares):
        out.append(text("agency_drivers_intro", lang,
                        r2=format_number(lmg["r_squared"].iloc[0], lang, decimals=3),
                        n=format_count(lmg["n"].iloc[0], lang)))
    return out


def ipa(shared, params, *, factors: pd.DataFrame | None = None) -> pd.DataFrame:
    """The unit's importance-performance table (``models.importance.ipa_table``): importance
    is the driver slope of :func:`slopes_table`, performance the factor's index; a factor
    whose index is suppressed is left out. Columns of ``ipa_table`` plus ``model``; empty with
    fewer than two factors left."""
    slopes = slopes_table(shared, params)
    if slopes.empty:
        return pd.DataFrame()
    factors = comparison(shared, params, "factor") if factors is None else factors
    factors = factors[~factors["suppressed"].astype(bool) & factors["estimate"].notna()]
    kept = [t for t in slopes["term"] if t in set(factors["term"])]
    if len(kept) < 2:
        return pd.DataFrame()
    table = ipa_table(slopes[slopes["term"].isin(kept)][["term", "estimate"]],
                      factors[factors["term"].isin(kept)][["term", "estimate"]],
                      importance_column="estimate")
    return table.assign(model=slopes["model"].iloc[0])


def ipa_grid(shared, params, table: pd.DataFrame) -> pd.DataFrame:
    """The four quadrants as a 2 x 2 table of factor names (rows: high, then low importance;
    columns: low, then high performance), each cell headed by the province report's quadrant
    label. A table rather than a chart: drawing a chart for every unit of a batch costs more
    than the rest of its page."""
    lang = params.lang
    cells = {}
    for (high_importance, high_performance), quadrant in QUADRANTS.items():
        names = [term_name(shared, t, lang) for t, q in zip(table["term"], table["quadrant"])
                 if q == quadrant]
        cells[(high_importance, high_performance)] = (
            f"{text(f'ipa_{quadrant}', lang)}: " + ("; ".join(names) if names else "—"))
    return pd.DataFrame({
        "": [text("agency_importance_high", lang), text("agency_importance_low", lang)],
        text("agency_performance_low", lang): [cells[(True, False)], cells[(False, False)]],
        text("agency_performance_high", lang): [cells[(True, True)], cells[(False, True)]]})


def _importance(shared, params):
    lang = params.lang
    out = [_h("agency_section_importance", lang)]
    factors = comparison(shared, params, "factor")
    table = ipa(shared, params, factors=factors)
    if table.empty:
        return out + [text("agency_ipa_none", lang)]
    hidden = factors[factors["suppressed"].astype(bool)]
    out.append(text(f"agency_ipa_intro_{table['model'].iloc[0]}", lang))
    # the quadrants as a grid of names, then each factor's numbers
    out.append(HtmlTable(ipa_grid(shared, params, table)))
    out.append(HtmlTable(pd.DataFrame({
        text("factor", lang): [term_name(shared, t, lang) for t in table["term"]],
        text("agency_slope", lang): [format_number(v, lang) for v in table["importance"]],
        text("estimate", lang): [format_number(v, lang) for v in table["performance"]],
        text("agency_quadrant", lang): [text(f"ipa_{q}", lang) for q in table["quadrant"]]})))
    if len(hidden):
        out.append(text("agency_ipa_suppressed", lang, terms=", ".join(
            term_name(shared, t, lang) for t in hidden["term"])))
    return out


def small_area_row(shared, params) -> pd.DataFrame:
    """The unit's Fay-Herriot row (``agency_shared.unit_small_area``; empty when the model
    could not be fitted)."""
    table = getattr(shared, "small_area", None)
    if table is None or table.empty:
        return pd.DataFrame()
    row = table[table["unit"] == shared.unit_of(params.unit)].reset_index(drop=True)
    overall = unit_rows(shared, params)
    if overall[overall["kind"] == "overall"]["suppressed"].astype(bool).any():
        # a withheld direct estimate stays withheld here too
        row = row.assign(direct_estimate=np.nan, direct_std_error=np.nan)
    return row


def small_area_sentence(shared, params) -> list[str]:
    """For a small unit: its model-based estimate beside the direct one, and whether it is
    benchmarked (nothing for the others)."""
    lang = params.lang
    row = small_area_row(shared, params)
    if row.empty or not bool(row["small"].iloc[0]):
        return []
    r = row.iloc[0]
    overall = unit_rows(shared, params)
    overall = overall[overall["kind"] == "overall"]
    withheld = bool(overall["suppressed"].iloc[0]) if len(overall) else True
    bench = "agency_fh_benchmarked" if shared.small_area_benchmarked else \
        "agency_fh_not_benchmarked"
    return [text("agency_fh", lang, estimate=format_number(r["estimate"], lang),
                 ci=format_interval(r["ci_low"], r["ci_high"], lang),
                 direct=text("agency_withheld", lang) if withheld
                 else format_number(r["direct_estimate"], lang),
                 gamma=format_percent(100 * r["gamma"], lang, decimals=0),
                 threshold=SMALL_N_EFF) + " " + text(bench, lang)]


def tracking_of(shared, params):
    """The unit's ``tracking.Tracking`` (None when its answers are not dated over several
    periods)."""
    return (getattr(shared, "tracking", None) or {}).get(shared.unit_of(params.unit))


def tracking_series(shared, params) -> pd.DataFrame:
    found = tracking_of(shared, params)
    return pd.DataFrame() if found is None else found.overall


def _tracking_applies(shared, params) -> bool:
    return tracking_of(shared, params) is not None


def _tracking(shared, params):
    from ... import plots
    from ...tracking import _period_label, plot_tracking
    lang = params.lang
    found = tracking_of(shared, params)
    out = [_h("agency_section_tracking", lang),
           text(f"agency_tracking_intro_{found.by}", lang, n=len(found.overall))]
    figure, ax = plots.new_figure((7.5, 3.6))
    plot_tracking(found, lang=lang, ax=ax)
    if shared.synthetic:
        plots.mark_synthetic(figure, lang)
    out.append(plots.render(figure))
    rows = found.overall
    signals = {"above": "▲", "below": "▼"}
    out.append(HtmlTable(pd.DataFrame({
        text("agency_period", lang): [_period_label(p, found.by, lang) for p in rows["period"]],
        text("estimate", lang): [format_number(v, lang) for v in rows["estimate"]],
        text("ci", lang): [format_interval(lo, hi, lang)
                           for lo, hi in zip(rows["ci_low"], rows["ci_high"])],
        text("n", lang): [format_count(v, lang) for v in rows["n"]],
        text("agency_limits", lang): [format_interval(lo, hi, lang) for lo, hi in
                                      zip(rows["lower_limit"], rows["upper_limit"])],
        text("agency_signal", lang): [signals.get(v, "") for v in rows["signal"]]})))
    out.append(markdown_list(found.sentences[lang]))
    return out


def par_row(shared, params) -> pd.DataFrame:
    return shared.par[shared.par["unit"] == shared.unit_of(params.unit)].reset_index(drop=True)


def _par(shared, params):
    lang = params.lang
    out = [_h("agency_section_par", lang)]
    row = par_row(shared, params).iloc[0]
    out.append(text("agency_par", lang, points=format_number(row["points"], lang),
                    maximum=format_number(row["max_points"], lang),
                    low=format_number(row["points_low"], lang),
                    high=format_number(row["points_high"], lang),
                    rule=par_rule_in(shared, lang)))
    if "p_band_differs" in row and pd.notna(row.get("p_band_differs")):
        out.append(text("agency_par_band", lang,
                        p=format_percent(100 * row["p_band_differs"], lang, decimals=0)))
    return out


def actions(shared, params, *, count: int = 3) -> list[str]:
    """The ``count`` criteria with the lowest percent satisfied (suppressed ones never)."""
    lang = params.lang
    table = comparison(shared, params, "criterion")
    table = table[~table["suppressed"].astype(bool)].sort_values(["estimate", "term"]).head(count)
    return [text("agency_action", lang, criterion=term_name(shared, r.term, lang),
                 estimate=format_percent(r.estimate, lang),
                 province=format_percent(r.province, lang))
            for r in table.itertuples(index=False)]


def _actions(shared, params):
    return [_h("agency_section_actions", params.lang), markdown_list(actions(shared, params))]


def par_rule_in(shared, lang: str) -> str:
    """The PAR rule in words in ``lang`` (English where the shared results hold no other)."""
    return (getattr(shared, "par_rule_text", None) or {}).get(lang, shared.par_rule)


def assumptions_in(shared, lang: str) -> list[str]:
    """The codebook's sentences on what the file lacks, in ``lang``."""
    said = shared.assumptions
    return list(said.get(lang, said.get("en", []))) if isinstance(said, dict) else list(said)


def method_notes(shared, params) -> list[str]:
    """How the unit's figures are made, as sentences in the language (the workbook's first
    sheet): intervals, suppression, the index rule, what "the province" is, the PAR rule and
    the codebook's assumptions."""
    lang = params.lang
    method = shared.settings.describe(lang)
    return [text("about_estimates", lang), method["intervals"], method["suppression"],
            method["rule"], text(f"agency_province_{shared.province_rule}", lang),
            text("about_par_rule", lang, rule=par_rule_in(shared, lang)),
            *assumptions_in(shared, lang)]


def workbook_about(shared, params) -> dict:
    """What the first sheet of the unit's workbook says (see ``report.export.reader_workbook``)."""
    lang, name = params.lang, shared.unit_of(params.unit) or params.unit
    return {"title": text("agency_title", lang, year=shared.year, unit=name),
            "data": ", ".join(filter(None, [shared.data_name, shared.codebook_name and
                                            f"codebook {shared.codebook_name}"])),
            "data_hash": shared.data_hash, "year": shared.year, "synthetic": shared.synthetic,
            "method": method_notes(shared, params),
            "labels": {"term": lambda term, lang: term_name(shared, term, lang),
                       # the rule in words; its English form stays beside it for machines
                       "rule": lambda rule, lang: par_rule_in(shared, lang)
                       if rule == shared.par_rule else rule}}


def _caveats(shared, params):
    lang = params.lang
    items = assumptions_in(shared, lang)
    imputation = (getattr(shared, "extra", None) or {}).get("imputation")
    if imputation:
        from ...imputation import imputation_sentence
        names = {f: term_name(shared, f, lang) for f in imputation["shares"]}
        items.append(imputation_sentence(imputation, lang, names))
    items.append(text(f"agency_province_{shared.province_rule}", lang))
    items.append(weighting_sentence(shared.weighting, lang, unit=shared.unit_of(params.unit)))
    rows = unit_rows(shared, params)
    hidden = rows[rows["suppressed"].astype(bool)]
    if len(hidden):
        items.append(text("agency_suppressed", lang, count=len(hidden),
                          terms=", ".join(term_name(shared, t, lang) for t in hidden["term"])))
    return [_h("agency_section_caveats", lang), markdown_list(items)]


def provenance(shared, params) -> pd.DataFrame:
    """``item, value``: the data file's and the codebook's names and hashes, the province, the
    previous survey's year, file and hash (when there is one), the package, the PAR rule and
    the settings (file names only: a shared report does not show folders)."""
    from pathlib import Path
    rows = [("data", shared.data_name), ("data_hash", shared.data_hash),
            ("codebook", shared.codebook_name), ("codebook_hash", shared.codebook_hash),
            ("province_name", getattr(shared, "province_name", ""))]
    if shared.previous_year is not None:   # the previous survey: its own file, or this one
        rows += [("previous_year", str(shared.previous_year)),
                 ("previous_data", getattr(shared, "previous_name", "") or shared.data_name),
                 ("previous_data_hash", getattr(shared, "previous_hash", "") or shared.data_hash)]
    rows += [("sipas_analysis", _package_version("sipas-analysis")),
             ("par_rule", shared.par_rule), ("province", shared.province_rule)]
    rows += [(f"setting.{k}", str(v)) for k, v in shared.settings.as_dict().items()]
    shown = params.as_dict()
    for name in ("data", "codebook", "tables_path", "previous", "previous_codebook"):
        if shown.get(name):
            shown[name] = Path(str(shown[name])).name
    rows += [(f"param.{k}", str(v)) for k, v in shown.items()]
    return pd.DataFrame(rows, columns=["item", "value"])


def _provenance(shared, params):
    return [_h("agency_section_provenance", params.lang), HtmlTable(provenance(shared, params))]


def _index_sheet(shared, params):
    return unit_rows(shared, params).reset_index(drop=True)


def _versus_sheet(shared, params):
    return shared.versus_province[shared.versus_province["unit"] ==
                                  shared.unit_of(params.unit)].reset_index(drop=True)


def _section(name, cell, title, sheets=()):
    return Section(name=name, title=title, cells=(("", cell),), text_keys=(title,),
                   sheets=sheets)


AGENCY_SECTIONS = (
    Section(name="headline", title="agency_title", cells=(("", headline),),
            text_keys=("agency_title", "agency_title_province", "agency_headline",
                       "agency_versus", "agency_above",
                       "agency_below", "agency_same", "agency_province_weighted",
                       "agency_province_equal", "agency_versus_adjusted", "agency_fh",
                       "agency_fh_benchmarked", "agency_fh_not_benchmarked", "agency_withheld"),
            sheets=(("index", _index_sheet), ("versus_province", _versus_sheet),
                    ("small_area", small_area_row))),
    _section("factors", _factors, "agency_section_factors"),
    _section("criteria", _criteria, "agency_section_criteria"),
    Section(name="change", title="agency_section_change", cells=(("", _change),),
            text_keys=("agency_section_change", "agency_no_previous", "agency_new_unit_note",
                       "agency_previous_file"),
            sheets=(("change", change_table),)),
    Section(name="drivers", title="agency_section_drivers", cells=(("", _drivers),),
            text_keys=("agency_section_drivers", "agency_drivers_design",
                       "agency_drivers_multilevel", "agency_drivers_intro", "agency_slope"),
            sheets=(("drivers", slopes_table), ("importance", drivers_table))),
    Section(name="importance", title="agency_section_importance", cells=(("", _importance),),
            text_keys=("agency_section_importance", "agency_ipa_intro_design",
                       "agency_ipa_intro_multilevel", "agency_ipa_none", "agency_quadrant",
                       "agency_ipa_suppressed", "agency_importance_high",
                       "agency_importance_low", "agency_performance_low",
                       "agency_performance_high"),
            sheets=(("ipa", ipa),)),
    Section(name="tracking", title="agency_section_tracking", cells=(("", _tracking),),
            text_keys=("agency_section_tracking", "agency_tracking_intro_month",
                       "agency_tracking_intro_quarter", "agency_period", "agency_limits",
                       "agency_signal"),
            sheets=(("tracking", tracking_series),), applies=_tracking_applies),
    _section("par", _par, "agency_section_par", (("par_points", par_row),)),
    _section("actions", _actions, "agency_section_actions"),
    Section(name="caveats", title="agency_section_caveats", cells=(("", _caveats),),
            text_keys=("agency_section_caveats", *WEIGHTING_TEXT_KEYS)),
    _section("provenance", _provenance, "agency_section_provenance",
             (("provenance", provenance),)),
)


def league_table(shared, *, unit_type=None) -> pd.DataFrame:
    """The province's league table as numbers: per unit (of ``unit_type``, or all), sorted by
    type then rank: ``unit, unit_type, estimate, ci_low, ci_high, suppressed, rank, rank_low,
    rank_high, n_peers, points, points_low, points_high, change, change_p, mark`` (above or
    below the province after the adjustment of ``p_adjusted``), ``p_value, p_adjusted``,
    ``model_estimate, model_ci_low, model_ci_high`` (the Fay-Herriot estimate of a small
    unit, NaN for the others)."""
    overall = shared.units[shared.units["kind"] == "overall"][
        ["unit", "unit_type", "estimate", "ci_low", "ci_high", "n", "suppressed"]]
    table = overall.merge(shared.ranks.drop(columns=["unit_type"]), on="unit", how="left")
    table = table.merge(shared.par[["unit", "points", "points_low", "points_high"]],
                        on="unit", how="left")
    marks = getattr(shared, "league_marks", None)
    if marks is not None and not marks.empty:
        # the marks after the adjustment over the units compared (Holm by default)
        table = table.merge(marks[["unit", "mark", "p_value", "p_adjusted"]], on="unit",
                            how="left")
    else:
        versus = shared.versus_province
        table = table.merge(versus[versus["term"] == "overall"][["unit", "mark", "p_value"]],
                            on="unit", how="left").assign(p_adjusted=np.nan)
    fh = getattr(shared, "small_area", None)
    if fh is not None and not fh.empty:
        fh = fh[fh["small"]][["unit", "estimate", "ci_low", "ci_high"]].rename(columns={
            "estimate": "model_estimate", "ci_low": "model_ci_low",
            "ci_high": "model_ci_high"})
        table = table.merge(fh, on="unit", how="left")
    else:
        table = table.assign(model_estimate=np.nan, model_ci_low=np.nan, model_ci_high=np.nan)
    if shared.change is not None and not shared.change.empty:
        change = shared.change[shared.change["term"] == "overall"][
            ["unit", "estimate", "p_value"]].rename(columns={"estimate": "change",
                                                             "p_value": "change_p"})
        table = table.merge(change, on="unit", how="left")
    else:
        table = table.assign(change=np.nan, change_p=np.nan)
    if unit_type is not None:
        table = table[table["unit_type"] == unit_type]
    return table.sort_values(["unit_type", "rank", "unit"]).reset_index(drop=True)


def league_display(shared, lang: str, unit_type) -> pd.DataFrame:
    """One unit type's league table as display strings (the first column: the unit's name)."""
    table = league_table(shared, unit_type=unit_type)
    marks = {"above": "▲", "below": "▼"}
    return pd.DataFrame({
        text("agency_unit", lang): list(table["unit"]),
        text("agency_rank", lang): [str(int(r)) if pd.notna(r) else "—" for r in table["rank"]],
        text("estimate", lang): [_number(v, lang, s) for v, s in
                                 zip(table["estimate"], table["suppressed"])],
        text("ci", lang): ["—" if s else format_interval(lo, hi, lang) for lo, hi, s in
                           zip(table["ci_low"], table["ci_high"], table["suppressed"])],
        text("agency_rank_set", lang): [f"{int(lo)}–{int(hi)}" if pd.notna(lo) else "—"
                                        for lo, hi in zip(table["rank_low"], table["rank_high"])],
        text("agency_model_based", lang): [format_number(v, lang) if pd.notna(v) else ""
                                           for v in table["model_estimate"]],
        text("agency_model_based_ci", lang): [
            format_interval(lo, hi, lang) if pd.notna(lo) else ""
            for lo, hi in zip(table["model_ci_low"], table["model_ci_high"])],
        text("agency_points", lang): [format_number(v, lang) for v in table["points"]],
        text("agency_change", lang): [
            text("agency_new_unit", lang) if u in getattr(shared, "new_units", ())
            else format_number(v, lang) for u, v in zip(table["unit"], table["change"])],
        text("agency_versus_mark", lang): [marks.get(m, "") for m in table["mark"]]})


def league_notes(shared, lang: str) -> list[str]:
    """The league table's notes: ranks and the adjusted marks (method and family size), the
    model-based column and its benchmarking, what "the province" is, the PAR rule."""
    marks = getattr(shared, "league_marks", None)
    method, m = ("holm", 0) if marks is None or marks.empty else (marks["method"].iloc[0],
                                                                 int(marks["m"].iloc[0]))
    notes = [text("agency_league_note", lang, method=_method(method), m=m)]
    fh = getattr(shared, "small_area", None)
    if fh is not None and not fh.empty and fh["small"].any():
        notes.append(text("agency_league_fh", lang, threshold=SMALL_N_EFF) + " " + text(
            "agency_fh_benchmarked" if shared.small_area_benchmarked
            else "agency_fh_not_benchmarked", lang))
    return notes + [text(f"agency_province_{shared.province_rule}", lang),
                    f"PAR: {par_rule_in(shared, lang)}"]
