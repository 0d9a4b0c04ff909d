"""The mission's drivers on simulated data with a known truth.

Over many small samples drawn from the declared truth, the 95 % intervals of the on-time,
online and staff-attitude effects must cover each model's true target at a rate within Monte
Carlo error of 0.95. The target is the one the truth declares for that model's quantity: the
census (population-averaged) coefficient of the same model fitted to a simulated population of
a million respondents (``Truth.parameters()``, quantity "population_averaged"), which is what a
design-based estimator estimates.
"""
from __future__ import annotations

import numpy as np
import pytest

from sipas_analysis import simulate
from sipas_analysis.design import SurveyDesign
from sipas_analysis.models import fit_linear, fit_logit, fit_ordinal, tidy

FACTS = "on_time + applied_online + n_visits + asked_extra_payment"
SCORES = "access_score + procedure_score + staff_score + result_score + feedback_score"
MODELS = {
    # name: (fit, formula, {term: parameter of the truth})
    "logit": (fit_logit, f"I(overall_satisfaction >= 4) ~ {FACTS}",
              {"on_time": "logit.satisfied.on_time",
               "applied_online": "logit.satisfied.applied_online"}),
    "ordinal": (fit_ordinal, f"overall_satisfaction ~ {FACTS}",
                {"on_time": "ologit.overall.on_time",
                 "applied_online": "ologit.overall.applied_online"}),
    "linear": (fit_linear, f"overall_satisfaction ~ {SCORES} + {FACTS}",
               {"staff_score": "ols.overall_on_scores.staff_score",
                "on_time": "ols.overall_on_scores.on_time",
                "applied_online": "ols.overall_on_scores.applied_online"}),
}
N_SAMPLES = 60
SAMPLE_SIZE = 12_000


@pytest.fixture(scope="module")
def coverage():
    truth = None
    hits: dict[tuple[str, str], list[bool]] = {}
    for rep in range(N_SAMPLES):
        survey, truth = simulate.simulate_survey(n=SAMPLE_SIZE, seed=1000 + rep, truth=truth)
        design = SurveyDesign(survey, weights="weight", strata="stratum", psu="psu",
                              lonely_psu="adjust")
        targets = truth.parameters().set_index("parameter")["value"]
        for name, (fit, formula, terms) in MODELS.items():
            table = tidy(fit(formula, design)).set_index("term")
            for term, parameter in terms.items():
                low, high = table.loc[term, ["ci_low", "ci_high"]]
                hits.setdefault((name, term), []).append(low <= targets[parameter] <= high)
    return {key: np.mean(values) for key, values in hits.items()}


@pytest.mark.slow
def test_each_interval_covers_its_models_target(coverage):
    mc_se = np.sqrt(0.95 * 0.05 / N_SAMPLES)
    for (model, term), rate in coverage.items():
        assert rate >= 0.95 - 3 * mc_se, (model, term, rate)


@pytest.mark.slow
def test_pooled_coverage_is_095_within_monte_carlo_error(coverage):
    rates = np.array(list(coverage.values()))
    pooled = rates.mean()
    mc_se = np.sqrt(0.95 * 0.05 / (N_SAMPLES * len(rates)))
    # the census targets carry their own Monte Carlo error, so allow a little slack above 3 SE
    assert abs(pooled - 0.95) <= 3.5 * mc_se, pooled
