"""What a reader must know to read the report honestly."""
from __future__ import annotations

from ...intervals import METHODS
from ...language import text
from ...weighting import describe_weighting
from ..display import heading, markdown_list
from .base import Section
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


def _cell(shared, params):
    return [heading("section_caveats", params), markdown_list(caveats(shared, params))]


SECTION = Section(name="caveats", title="section_caveats", cells=(("", _cell),),
                  text_keys=("section_caveats", "synthetic_banner", "caveat_suppression",
                             "caveat_ranks", "caveat_multilevel", "caveat_rule", "caveat_multiplicity",
                             *(f"caveat_intervals.{method}" for method in METHODS),
                             *WEIGHTING_TEXT_KEYS))
