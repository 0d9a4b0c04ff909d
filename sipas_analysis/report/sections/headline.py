"""The report's title, the synthetic-data banner and its first sentence: the unit's SIPAS with
its interval and its rank set."""
from __future__ import annotations

from ...language import format_count, format_interval, format_percent, text
from ..display import heading, row, unit_name
from .base import Section


def headline(shared, params) -> str:
    """The report's first sentence: the unit's SIPAS with its interval and its rank set."""
    lang = params.lang
    unit = row(shared.units, province_code=params.province_code, term="overall")
    rank = row(shared.ranks, province_code=params.province_code)
    nation = row(shared.national, term="overall")
    name = unit_name(params.unit_set, params.province_code, lang)
    if unit["suppressed"]:
        return text("headline_suppressed", lang, year=params.year, unit=name,
                    threshold=shared.settings.min_n_eff)
    return text("headline", lang, year=params.year, unit=name,
                estimate=format_percent(unit["estimate"], lang),
                ci=format_interval(unit["ci_low"], unit["ci_high"], lang),
                nation=format_percent(nation["estimate"], lang),
                rank_low=int(rank["rank_low"]), rank_high=int(rank["rank_high"]),
                n_units=len(shared.ranks))


def national_headline(shared, lang: str) -> str:
    """The nation's SIPAS of the year with its interval and sample size, as a sentence."""
    nation = row(shared.national, term="overall")
    return text("national_headline", lang, year=shared.year,
                estimate=format_percent(nation["estimate"], lang),
                ci=format_interval(nation["ci_low"], nation["ci_high"], lang),
                n=format_count(shared.n_respondents, lang), n_units=len(shared.ranks))


def synthetic_banner(lang: str) -> str:
    """The banner every output made from synthetic data carries, as a Markdown quote."""
    return f"> **{text('synthetic_banner', lang)}**"


def _cell(shared, params):
    title = heading("report_title", params, level=1, year=params.year,
                    unit=unit_name(params.unit_set, params.province_code, params.lang))
    banner = [synthetic_banner(params.lang)] if shared.synthetic else []
    return [title, *banner, headline(shared, params)]


def _unit_index(shared, params):
    return shared.units[shared.units["province_code"] == params.province_code]


def _versus_nation(shared, params):
    from .factors import versus_nation
    return versus_nation(shared, params)


SECTION = Section(
    name="headline", cells=(("", _cell),),
    text_keys=("report_title", "synthetic_banner", "headline", "headline_suppressed"),
    sheets=(("index", _unit_index), ("national", lambda shared, params: shared.national),
            ("versus_nation", _versus_nation)))
