"""The index rule: which answers count as satisfied and how criteria combine into a factor and
the overall index.

It is the one owner of that choice. The indices, the reports' method sentences and formulas,
the simulator's true values, the command line's defaults and the evaluation all read it from
here (``current()``), so a province that counts only "very satisfied" answers changes it once::

    import sipas_analysis as sa
    sa.index_rule.DEFAULT = sa.IndexRule(satisfied=(5,))

Aggregations (the module docstring of :mod:`sipas_analysis.indices` gives the formulas):
``"mean_of_criteria"`` (a factor is the mean of its criteria's shares, the overall index the
mean of the factors, as the published SIPAS) and ``"composite"`` (a respondent's share of
satisfied answers, averaged over respondents).
"""
from __future__ import annotations

from dataclasses import dataclass

from . import schema

AGGREGATIONS = ("mean_of_criteria", "composite")


@dataclass(frozen=True)
class IndexRule:
    """Which rating levels count as satisfied, on which scale, and the aggregation.

    Examples
    --------
    >>> rule = IndexRule()
    >>> rule.satisfied, rule.aggregation
    ((4, 5), 'mean_of_criteria')
    >>> rule.levels_text
    '4–5'
    >>> rule.indicator("overall_satisfaction")
    'I(overall_satisfaction >= 4)'
    >>> IndexRule(satisfied=(5,)).levels_text
    '5'
    """

    satisfied: tuple[int, ...] = (4, 5)
    aggregation: str = "mean_of_criteria"
    scale: tuple[int, ...] = schema.RATING_LEVELS

    def __post_init__(self):
        object.__setattr__(self, "satisfied", tuple(int(v) for v in self.satisfied))
        object.__setattr__(self, "scale", tuple(int(v) for v in self.scale))
        problems = []
        if self.aggregation not in AGGREGATIONS:
            problems.append(f"aggregation must be one of {AGGREGATIONS}, got "
                            f"{self.aggregation!r}")
        if not self.satisfied or not set(self.satisfied) <= set(self.scale):
            problems.append(f"satisfied must be a non-empty subset of the scale {self.scale}, "
                            f"got {self.satisfied!r}")
        if problems:
            raise ValueError("index rule: " + "; ".join(problems))

    @property
    def levels_text(self) -> str:
        """The satisfied levels as a reader writes them: "4–5" for a run, "1, 3" otherwise."""
        levels = sorted(self.satisfied)
        if len(levels) > 1 and levels == list(range(levels[0], levels[-1] + 1)):
            return f"{levels[0]}–{levels[-1]}"
        return ", ".join(map(str, levels))

    @property
    def n_levels(self) -> int:
        return len(self.scale)

    def indicator(self, column: str) -> str:
        """A formula term that is 1 where ``column`` counts as satisfied (NaN stays NaN when the
        satisfied levels are the top of the scale, as they are in SIPAS)."""
        levels = sorted(self.satisfied)
        if levels == [v for v in sorted(self.scale) if v >= levels[0]]:
            return f"I({column} >= {levels[0]})"
        return f"I({column}.isin({tuple(levels)!r}))"

    def as_dict(self) -> dict:
        return {"satisfied": list(self.satisfied), "rule": self.aggregation}


DEFAULT = IndexRule()


def current() -> IndexRule:
    """The rule in force: :data:`DEFAULT`, read at call time so that a changed default is
    followed everywhere."""
    return DEFAULT


def resolve(satisfied=None, rule=None) -> tuple[tuple[int, ...], str]:
    """(satisfied levels, aggregation) from a function's arguments: an :class:`IndexRule`
    passed as ``rule``, explicit values, or the rule in force for what is not given.

    Examples
    --------
    >>> resolve()
    ((4, 5), 'mean_of_criteria')
    >>> resolve(rule=IndexRule(satisfied=(5,), aggregation="composite"))
    ((5,), 'composite')
    >>> resolve(satisfied=[3, 4, 5])
    ((3, 4, 5), 'mean_of_criteria')
    """
    if isinstance(rule, IndexRule):
        if satisfied is not None and tuple(satisfied) != rule.satisfied:
            raise ValueError("give the satisfied levels in the IndexRule or as satisfied=, "
                             "not both")
        return rule.satisfied, rule.aggregation
    default = current()
    if isinstance(satisfied, dict):   # levels by criterion (criteria on different scales)
        return dict(satisfied), rule if rule is not None else default.aggregation
    return (tuple(satisfied) if satisfied is not None else default.satisfied,
            rule if rule is not None else default.aggregation)
