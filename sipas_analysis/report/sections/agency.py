"""The sections of an in-province unit's report (the "agency" kind) and the province's league
table: headline, factors and criteria against the province and the unit's type, the change
from the previous survey, drivers, PAR points, actions, caveats, provenance.

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
from ..display import HtmlTable, markdown_list
from .base import Section


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
    out = [_h("agency_title", lang, level=1, year=shared.year, unit=name)]
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
    out.append(text(f"agency_province_{shared.province_rule}", lang))
    return out


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
    if table.empty:
        return out + [text("agency_no_previous", lang, year=shared.year)]
    shown = pd.DataFrame({
        text("factor", lang): [term_name(shared, t, lang) for t in table["term"]],
        text("agency_change", lang): [format_number(v, lang) for v in table["estimate"]],
        text("ci", lang): [format_interval(lo, hi, lang)
                           for lo, hi in zip(table["ci_low"], table["ci_high"])],
        "p": [_p(v, lang) for v in table["p_value"]]})
    return out + [HtmlTable(shown, caption=f"{shared.previous_year} → {shared.year}")]


def drivers_table(shared, params) -> pd.DataFrame:
    if shared.importance is None or shared.importance.empty:
        return pd.DataFrame()
    return shared.importance[shared.importance["unit"] == shared.unit_of(params.unit)] \
        .reset_index(drop=True)


def _drivers(shared, params):
    lang = params.lang
    out = [_h("agency_section_drivers", lang)]
    table = drivers_table(shared, params)
    if table.empty:
        why = text("agency_drivers_no_overall", lang) if "overall_satisfaction" not in \
            shared.columns else text("agency_drivers_small", lang,
                                     df=shared.settings.min_unit_design_df)
        return out + [text("agency_drivers_none", lang, why=why)]
    table = table.sort_values("share", ascending=False)
    out.append(text("agency_drivers_intro", lang,
                    r2=format_number(table["r_squared"].iloc[0], lang, decimals=3),
                    n=format_count(table["n"].iloc[0], lang)))
    out.append(HtmlTable(pd.DataFrame({
        text("factor", lang): [term_name(shared, t, lang) for t in table["term"]],
        "%": [format_percent(100 * v, lang, decimals=0) for v in table["share"]]})))
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
                    high=format_number(row["points_high"], lang), rule=shared.par_rule))
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


def _caveats(shared, params):
    lang = params.lang
    items = list(shared.assumptions)
    imputation = (getattr(shared, "extra", None) or {}).get("imputation")
    if imputation:
        from ...imputation import imputation_sentence
        names = {f: term_name(shared, f, lang) for f in imputation["shares"]}
        items.append(imputation_sentence(imputation, lang, names))
    items.append(text(f"agency_province_{shared.province_rule}", lang))
    rows = unit_rows(shared, params)
    hidden = rows[rows["suppressed"].astype(bool)]
    if len(hidden):
        items.append(text("agency_suppressed", lang, count=len(hidden),
                          terms=", ".join(term_name(shared, t, lang) for t in hidden["term"])))
    return [_h("agency_section_caveats", lang), markdown_list(items)]


def provenance(shared, params) -> pd.DataFrame:
    """``item, value``: the data file's and the codebook's names and hashes, the package, the
    PAR rule and the settings (file names only: a shared report does not show folders)."""
    from pathlib import Path
    rows = [("data", shared.data_name), ("data_hash", shared.data_hash),
            ("codebook", shared.codebook_name), ("codebook_hash", shared.codebook_hash),
            ("sipas_analysis", _package_version("sipas-analysis")),
            ("par_rule", shared.par_rule), ("province", shared.province_rule)]
    rows += [(f"setting.{k}", str(v)) for k, v in shared.settings.as_dict().items()]
    shown = params.as_dict()
    for name in ("data", "codebook", "tables_path"):
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
            text_keys=("agency_title", "agency_headline", "agency_versus", "agency_above",
                       "agency_below", "agency_same", "agency_province_weighted",
                       "agency_province_equal"),
            sheets=(("index", _index_sheet), ("versus_province", _versus_sheet))),
    _section("factors", _factors, "agency_section_factors"),
    _section("criteria", _criteria, "agency_section_criteria"),
    _section("change", _change, "agency_section_change", (("change", change_table),)),
    _section("drivers", _drivers, "agency_section_drivers", (("drivers", drivers_table),)),
    _section("par", _par, "agency_section_par", (("par_points", par_row),)),
    _section("actions", _actions, "agency_section_actions"),
    _section("caveats", _caveats, "agency_section_caveats"),
    _section("provenance", _provenance, "agency_section_provenance",
             (("provenance", provenance),)),
)


def league_table(shared, *, unit_type=None) -> pd.DataFrame:
    """The province's league table as numbers: per unit (of ``unit_type``, or all), sorted by
    type then rank: ``unit, unit_type, estimate, ci_low, ci_high, suppressed, rank, rank_low,
    rank_high, n_peers, points, points_low, points_high, change, change_p, mark``."""
    overall = shared.units[shared.units["kind"] == "overall"][
        ["unit", "unit_type", "estimate", "ci_low", "ci_high", "n", "suppressed"]]
    table = overall.merge(shared.ranks.drop(columns=["unit_type"]), on="unit", how="left")
    table = table.merge(shared.par[["unit", "points", "points_low", "points_high"]],
                        on="unit", how="left")
    versus = shared.versus_province
    table = table.merge(versus[versus["term"] == "overall"][["unit", "mark", "p_value"]],
                        on="unit", how="left")
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
        text("agency_points", lang): [format_number(v, lang) for v in table["points"]],
        text("agency_change", lang): [format_number(v, lang) for v in table["change"]],
        text("agency_versus_mark", lang): [marks.get(m, "") for m in table["mark"]]})
