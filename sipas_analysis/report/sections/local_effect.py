"""The unit's own effect of staff attitude: the multilevel model's province effect against the
national design-based effect, and the province-only regression when the unit's design allows
one."""
from __future__ import annotations

import numpy as np
from scipy import stats

from ... import plots
from ...language import format_interval, format_number, text
from ..display import HtmlTable, heading, row, unit_name
from ..figures import Figure
from ..settings import ReportSettings
from ..shared import DRIVER_COLUMNS, SharedResults, local_model, year_survey
from .base import Section


def local_effect(shared, params, *, term: str = "staff_score") -> str:
    """The province's own effect of ``term`` from the multilevel model, against the national
    design-based estimate of the same effect, as a sentence."""
    lang = params.lang
    effect = row(shared.multilevel_effects, province_code=params.province_code, term=term)
    national = row(shared.multilevel_national, term=term)
    return text("local_effect", lang, unit=unit_name(params.unit_set, params.province_code, lang),
                estimate=format_number(effect["estimate"], lang, decimals=3),
                ci=format_interval(effect["ci_low"], effect["ci_high"], lang, decimals=3),
                national=format_number(national["design_estimate"], lang, decimals=3))


def national_effect(shared, *, term: str = "staff_score") -> tuple:
    """(design-based estimate, ci_low, ci_high) of ``term`` nationally, for the figure."""
    found = row(shared.multilevel_national, term=term)
    # the design-based coefficient's reference distribution is t with its residual design df
    df = found["design_df"]
    quantile = stats.t.ppf(0.975, df) if np.isfinite(df) and df > 0 else stats.norm.ppf(0.975)
    half = quantile * found["design_std_error"]
    return (found["design_estimate"], found["design_estimate"] - half,
            found["design_estimate"] + half)


def local_regression(source, params):
    """A province-only design-based regression, shown only when the unit's own design
    degrees of freedom (PSUs − strata) reach the settings' ``min_unit_design_df``: below that
    its standard errors are unreliable and the multilevel estimate is the one to read.
    ``source``: the shared results (their precomputed ``local_models``) or the survey (fitted
    here).

    Returns (tidy table or None, the rule applied as a sentence in the language).
    """
    if isinstance(source, SharedResults) and source.local_models is not None \
            and params.province_code in source.local_models:
        settings = source.settings
        df, table = source.local_models[params.province_code]
    else:
        settings = ReportSettings()
        year = year_survey(source, params)
        df, table = local_model(year[(year["province_code"] == params.province_code)
                                     & year["used_service"].astype(bool)].reset_index(drop=True),
                                settings)
    threshold = settings.min_unit_design_df
    if table is None:
        return None, text("local_model_skipped", params.lang, df=df, threshold=threshold)
    return table, text("local_model_shown", params.lang, df=df, threshold=threshold)


def _local_figure(shared, params):
    figure, ax = plots.new_figure((7.5, 0.21 * len(shared.ranks) + 1.5))
    plots.plot_group_effects(shared.multilevel_effects, term="staff_score",
                             national=national_effect(shared), highlight=params.province_code,
                             unit_set=params.unit_set, lang=params.lang, ax=ax)
    return figure


def _effect_cell(shared, params):
    from . import figure
    return [heading("section_local", params), local_effect(shared, params),
            figure("local", shared, params)]


def _regression_cell(shared, params):
    table, rule = local_regression(shared, params)
    return [rule] + ([HtmlTable(table.round(3))] if table is not None else [])


def _multilevel(shared, params):
    effects = shared.multilevel_effects
    return effects[effects["province_code"] == params.province_code]


SECTION = Section(
    name="local", title="section_local",
    cells=(("", _effect_cell), ("regression", _regression_cell)),
    text_keys=("section_local", "local_effect", "local_model_skipped", "local_model_shown"),
    figures=(Figure("local", _local_figure),), sheets=(("multilevel", _multilevel),),
    columns=DRIVER_COLUMNS)
