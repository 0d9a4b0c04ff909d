"""What a reader must know to read the report honestly."""
from __future__ import annotations

from pathlib import Path

from ... import reference
from ...intervals import METHODS
from ...language import text
from ...weighting import describe_weighting
from ..display import heading, markdown_list
from .base import Section, has_estimate
from .factors import versus_nation

# every text key of the weighting sentence (weighting.describe_weighting)
WEIGHTING_TEXT_KEYS = ("weighting_sentence", "weighting_base.file", "weighting_base.equal",
                       "weighting_base.file_start", "weighting_base.equal_start",
                       "weighting_calibrated_file", "weighting_calibrated", "weighting_within",
                       "weighting_bounds", "weighting_trimmed",
                       *(f"weighting_method.{m}" for m in ("rake", "post_stratify", "linear",
                                                           "raking", "logit")))


def caveats(shared, params, *, unit: bool = True) -> list[str]:
    """What a reader must know to read the report honestly, as sentences in the language; the
    method sentences are written from the report's settings. ``unit=False`` for a national
    page, which shows no unit-versus-nation comparisons."""
    lang = params.lang
    comparisons = int(versus_nation(shared, params)["p_value"].notna().sum())
    method = shared.settings.describe(lang, comparisons=comparisons)
    notes = [text("synthetic_banner", lang)] if shared.synthetic else []
    notes.append(method["intervals"])
    notes.append(method["suppression"])
    if unit:
        notes.append(method["multiplicity"])
    notes.append(text("caveat_ranks", lang))
    notes.append(text("caveat_multilevel", lang))
    notes.append(method["rule"])
    if getattr(shared, "weighting", None):
        notes.append(weighting_sentence(shared.weighting, lang,
                                        unit=params.province_code if unit else None))
    return notes


def weighting_sentence(facts: dict, lang: str, *, unit=None) -> str:
    """How the weights were made (:func:`~sipas_analysis.weighting.describe_weighting`), with
    the weighting design effect of ``unit``'s respondents when given (else of all)."""
    deff = facts.get("weighting_deff_by_unit", {}).get(unit) if unit is not None else None
    return describe_weighting(facts, lang, weighting_deff=deff)


def workbook_about(shared, params) -> dict:
    """What the first sheet of the unit's workbook says (see ``report.export.reader_workbook``):
    the report's title, data, year, whether the data are synthetic, the method as the page's
    caveats state it, and each province code's name."""
    lang = params.lang
    method = [text("about_estimates", lang)]
    if has_estimate(shared, params):
        banner = text("synthetic_banner", lang)
        method += [note for note in caveats(shared, params) if note != banner]

    names = reference.provinces(params.unit_set).set_index("province_code")["name_vi"]

    def province(code, lang):
        # a unit's name is written the same in both languages (display.unit_name)
        return text("nation", lang) if code == "nation" else str(names.get(code, code))
    return {"title": text("report_title", lang, year=params.year,
                          unit=province(params.province_code, lang)),
            "data": Path(str(params.data)).name, "data_hash": shared.data_hash,
            "year": params.year, "synthetic": shared.synthetic, "method": method,
            "labels": {"province_code": province}}


def _cell(shared, params):
    return [heading("section_caveats", params), markdown_list(caveats(shared, params))]


SECTION = Section(name="caveats", title="section_caveats", cells=(("", _cell),),
                  text_keys=("section_caveats", "synthetic_banner", "caveat_suppression",
                             "caveat_ranks", "caveat_multilevel", "caveat_rule", "caveat_multiplicity",
                             *(f"caveat_intervals.{method}" for method in METHODS),
                             *WEIGHTING_TEXT_KEYS))
