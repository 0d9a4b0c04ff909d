"""Adjusted p-values against closed forms and statsmodels' multipletests (an independent
implementation of R's p.adjust methods)."""
from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from sipas_analysis.multiple_comparisons import adjust_p_values


@pytest.mark.parametrize("method, theirs", [("holm", "holm"), ("BH", "fdr_bh"),
                                            ("bonferroni", "bonferroni")])
def test_adjusted_p_values_equal_statsmodels(method, theirs):
    rng = np.random.default_rng(7)
    p = np.concatenate([rng.uniform(0, 1, 25), rng.uniform(0, 0.01, 5), [0.02, 0.02]])
    expected = multipletests(p, method=theirs)[1]
    np.testing.assert_allclose(adjust_p_values(p, method), expected, rtol=0, atol=1e-15)


def test_holm_and_bh_closed_forms_and_missing_values():
    # Holm: sorted p times (m - i + 1), running maximum; BH: p times m / i, running minimum
    # from the largest (R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.2), "holm") = 0.05 0.08 0.09
    # 0.09 0.2; "BH" = 0.05 0.05 0.05 0.05 0.2)
    p = [0.01, 0.02, np.nan, 0.03, 0.04, 0.2]
    np.testing.assert_allclose(adjust_p_values(p, "holm"),
                               [0.05, 0.08, np.nan, 0.09, 0.09, 0.2])
    np.testing.assert_allclose(adjust_p_values(p, "BH"), [0.05, 0.05, np.nan, 0.05, 0.05, 0.2])
    assert np.isnan(adjust_p_values([np.nan], "holm")).all()
    with pytest.raises(ValueError, match="method must be one of"):
        adjust_p_values(p, "hochberg")


def test_holm_keeps_the_family_wise_error_rate_of_independent_null_tests():
    # 28 independent null tests per report (a province's terms), 4000 reports: unadjusted,
    # 1 - 0.95^28 = 76 % of reports show a p < 0.05; Holm keeps it at or below 5 %
    rng = np.random.default_rng(11)
    p = rng.uniform(size=(4000, 28))
    any_unadjusted = (p < 0.05).any(axis=1).mean()
    any_holm = np.mean([(adjust_p_values(row, "holm") < 0.05).any() for row in p])
    assert abs(any_unadjusted - (1 - 0.95 ** 28)) < 0.02
    assert any_holm <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 4000)


def test_simultaneous_p_values_closed_forms():
    """Independent tests: Šidák's 1 - (1 - p)^m; perfectly correlated tests: the raw p; one
    test: the two-sided normal (or t) p-value. 200,000 draws: MC SE below 0.0011."""
    from scipy import stats
    from sipas_analysis.multiple_comparisons import simultaneous_p_values
    t = np.array([2.5, 1.0, 0.3])
    raw = 2 * stats.norm.sf(t)
    independent = simultaneous_p_values(t, np.eye(3), n_draws=200_000, seed=1)
    np.testing.assert_allclose(independent, 1 - (1 - raw) ** 3, atol=0.004)
    together = simultaneous_p_values(t, np.full((3, 3), 4.0) + 1e-9 * np.eye(3),
                                     n_draws=200_000, seed=1)
    np.testing.assert_allclose(together, raw, atol=0.004)
    one = simultaneous_p_values([2.0], [[9.0]], df=15, n_draws=200_000, seed=1)
    assert one[0] == pytest.approx(2 * stats.t.sf(2.0, 15), abs=0.004)
    gaps = simultaneous_p_values([np.nan, 2.0], np.eye(2), n_draws=1000)
    assert np.isnan(gaps[0]) and gaps[1] == pytest.approx(2 * stats.norm.sf(2.0), abs=0.05)
    with pytest.raises(ValueError, match="covariance has shape"):
        simultaneous_p_values([1.0, 2.0], np.eye(3))


def test_compare_indices_simultaneous_lies_between_raw_and_bonferroni():
    from sipas_analysis import SurveyDesign, indices, simulate
    survey, _ = simulate.simulate_survey(n=3000, years=[2024], seed=8)
    design = SurveyDesign(survey, weights="weight", strata="stratum", psu="psu")
    terms = ["overall", "staff", "access", "procedure", "result", "feedback"]
    result = indices.compare_indices(design, between="province_code", values=["01", "79"],
                                     reference="all", term=terms, simultaneous=True,
                                     n_draws=20_000, seed=2)
    for _, family in result.groupby("group"):
        raw, joint = family["p_value"], family["p_simultaneous"]
        assert (joint >= raw - 0.01).all()
        assert (joint <= np.minimum(1, len(family) * raw) + 0.01).all()
        # correlated terms (the overall index contains the factors): below Bonferroni somewhere
        assert (joint < np.minimum(1, len(family) * raw) - 0.01).any()
