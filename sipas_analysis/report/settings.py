"""Every analysis setting a report depends on, in one object: the index rule, the suppression
and model thresholds, the model formulas, the bootstrap size.

:class:`ReportSettings` is part of the shared results' cache key, is shown in each report's
provenance and workbook, and writes the report's method sentences (:meth:`describe`), so that
the words a reader sees always follow the numbers' settings.
"""
from __future__ import annotations

import warnings
import functools
from dataclasses import dataclass, field

from .. import index_rule, schema
from .._deprecation import renamed_keyword
from ..index_rule import IndexRule
from ..language import text

FACTOR_SCORES = [f"{f}_score" for f in schema.FACTORS]
# Method names are proper names, the same in both languages.
P_ADJUST_NAMES = {"holm": "Holm", "BH": "Benjamini–Hochberg", "bonferroni": "Bonferroni",
                  "simultaneous": "max-t"}
FACTS = ["on_time", "applied_online", "n_visits", "asked_extra_payment"]


@dataclass(frozen=True)
class ReportSettings:
    """The settings of a report's analysis.

    ``rule`` (default: the rule in force, :func:`sipas_analysis.index_rule.current`);
    ``min_n_eff``: an estimate whose effective sample size (n / design effect) is below it is
    suppressed (the usual "fewer than 30" rule of statistical offices, applied to the effective
    size because SIPAS samples are clustered, with design effects of 3-7 for the overall index;
    at 30, a 95 % interval of a share near 85 % is about ±13 points wide);
    ``max_ci_width``, ``max_relative_ci_width``: the NCHS width rules (points, and percent of
    the estimate) that also suppress an estimate whose interval is too wide to be useful
    (see ``display.suppression_flags``); ``ci_method``: the interval of every percent
    satisfied (a method of :func:`sipas_analysis.intervals.proportion_interval`; the default
    Korn-Graubard interval with the design's degrees of freedom never leaves 0-100 and keeps
    its coverage near 100 %);
    ``min_unit_design_df``: a province-only regression is shown only with this many design
    degrees of freedom; ``n_reps``: Rao-Wu replicates for relative importance (``n_boot``, its
    deprecated name, still accepted with a DeprecationWarning); ``p_adjust``:
    how the unit-versus-nation p-values of one report are adjusted for their number (a
    method of :func:`sipas_analysis.multiple_comparisons.adjust_p_values`; Holm keeps the
    chance of any false "significant" difference in a report at 5 %; ``"simultaneous"``: the
    max-t adjustment from the covariance of the unit's contrasts, which holds it at 5 % for
    their actual correlation and so adjusts less).

    Examples
    --------
    >>> settings = ReportSettings()
    >>> settings.logit_formula
    'I(overall_satisfaction >= 4) ~ access_score + procedure_score + staff_score + result_score + feedback_score + on_time + applied_online + n_visits + asked_extra_payment'
    >>> print(settings.describe("en")["rule"])
    Method: answers 4–5 on the 5-level scale count as satisfied; a factor index is the mean of its criteria; the overall index is the mean of the factors.
    """

    rule: IndexRule = field(default_factory=index_rule.current)
    n_reps: int = 200
    min_n_eff: float = 30
    max_ci_width: float = 30.0
    max_relative_ci_width: float = 130.0
    ci_method: str = "beta"
    min_unit_design_df: int = 30
    p_adjust: str = "holm"

    def __post_init__(self):
        from ..intervals import METHODS as CI_METHODS
        from ..multiple_comparisons import METHODS as P_METHODS
        problems = []
        if self.p_adjust not in (*P_METHODS, "simultaneous"):
            problems.append(f"p_adjust must be one of {(*P_METHODS, 'simultaneous')}, "
                            f"got {self.p_adjust!r}")
        if self.ci_method not in CI_METHODS:
            problems.append(f"ci_method must be one of {CI_METHODS}, got {self.ci_method!r}")
        if problems:
            raise ValueError("ReportSettings: " + "; ".join(problems))

    @property
    def satisfied(self) -> tuple[int, ...]:
        return self.rule.satisfied

    @property
    def index_options(self) -> dict:
        """The keyword arguments of ``indices.sipas_index`` these settings fix."""
        return dict(satisfied=self.rule.satisfied, rule=self.rule.aggregation,
                    min_n_eff=self.min_n_eff, ci_method=self.ci_method)

    @property
    def suppression_options(self) -> dict:
        """The keyword arguments of ``display.suppression_flags`` these settings fix."""
        return dict(min_n_eff=self.min_n_eff, max_ci_width=self.max_ci_width,
                    max_relative_ci_width=self.max_relative_ci_width)

    @property
    def driver_formula(self) -> str:
        return "overall_satisfaction ~ " + " + ".join(FACTOR_SCORES + FACTS)

    @property
    def logit_formula(self) -> str:
        """The driver model of being satisfied overall (the rule's levels of the overall
        question) on the factor scores and the facts of the visit."""
        return self.driver_formula.replace("overall_satisfaction ~",
                                           self.rule.indicator("overall_satisfaction") + " ~")

    @property
    def importance_formula(self) -> str:
        return "overall_satisfaction ~ " + " + ".join(FACTOR_SCORES)

    @property
    def multilevel_formula(self) -> str:
        return "overall_satisfaction ~ " + " + ".join(FACTOR_SCORES
                                                      + ["on_time", "applied_online"])

    def as_dict(self) -> dict:
        """The settings as plain values (the provenance rows and the workbook's sheet)."""
        return {**self.rule.as_dict(), "n_reps": self.n_reps, "min_n_eff": self.min_n_eff,
                "max_ci_width": self.max_ci_width,
                "max_relative_ci_width": self.max_relative_ci_width, "ci_method": self.ci_method,
                "min_unit_design_df": self.min_unit_design_df, "p_adjust": self.p_adjust,
                "driver_formula": self.driver_formula,
                "importance_formula": self.importance_formula,
                "multilevel_formula": self.multilevel_formula}

    def describe(self, lang: str, *, comparisons: int | None = None) -> dict[str, str]:
        """The report's method sentences in ``lang``, written from these settings: ``rule``
        (which answers count and how they combine), ``suppression``, ``drivers_intro`` and,
        given the number of a report's comparisons, ``multiplicity``."""
        rule = self.rule
        method = (text("p_adjust.none", lang) if self.p_adjust == "none"
                  else P_ADJUST_NAMES[self.p_adjust])
        extra = {} if comparisons is None else {
            "multiplicity": text("caveat_multiplicity", lang, method=method, m=comparisons)}
        return extra | {
            "rule": text("caveat_rule", lang, levels=rule.levels_text, scale=rule.n_levels,
                         aggregation=text(f"aggregation.{rule.aggregation}", lang)),
            "suppression": text("caveat_suppression", lang, threshold=_number(self.min_n_eff),
                                width=_number(self.max_ci_width),
                                relative=_number(self.max_relative_ci_width)),
            "intervals": text(f"caveat_intervals.{self.ci_method}", lang),
            "drivers_intro": text("drivers_intro", lang, levels=rule.levels_text),
            "p_value_label": text("p_value_adjusted", lang, method=method)
            if self.p_adjust != "none" else text("p_value", lang),
        }


def _number(value) -> str:
    """30.0 -> "30": thresholds read as whole numbers when they are."""
    return str(int(value)) if float(value).is_integer() else str(value)


# ``n_boot``, the deprecated name of ``n_reps``, for one release: a keyword of the constructor
# and a read-only attribute, both with a DeprecationWarning (outside the dataclass's fields,
# so that dataclasses.replace and the settings' dictionary know only n_reps)
_dataclass_init = ReportSettings.__init__


@functools.wraps(_dataclass_init)
def _init_accepting_n_boot(self, *args, n_boot=None, **kwargs):
    if n_boot is not None:
        kwargs["n_reps"] = renamed_keyword(kwargs.get("n_reps"), n_boot, new="n_reps",
                                           old="n_boot", function="ReportSettings",
                                           default=200)
    _dataclass_init(self, *args, **kwargs)


def _deprecated_n_boot(settings: ReportSettings) -> int:
    warnings.warn("ReportSettings.n_boot is deprecated; use n_reps", DeprecationWarning,
                  stacklevel=2)
    return settings.n_reps


ReportSettings.__init__ = _init_accepting_n_boot
ReportSettings.n_boot = property(_deprecated_n_boot)
