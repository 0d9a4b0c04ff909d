"""Proportion intervals (sipas_analysis.intervals) against R and closed forms, and by simulation.

References, each independent of the code under test:
- printed output of R's ``survey::svyciprop`` on ``dclus1 <- svydesign(id=~dnum,
  weights=~pw, data=apiclus1, fpc=~fpc)``, as kept by the CRAN package cardx, which calls
  svyciprop and asserts its output equal to svyciprop's in its own tests
  (tests/testthat/test-ard_categorical_ci.survey.design.R):
  tests/testthat/_snaps/ard_categorical_ci.survey.design.md ("logit"), and the examples of
  its reference page ard_categorical_ci.survey.design ("logit" and "xlogit" for sch.wide);
- R's ``confint(svymean(~api00, dclus1), df=degf(dclus1))`` as printed in cardx's
  tests/testthat/_snaps/ard_continuous_ci.survey.design.md: svyciprop's "mean" method is that
  interval (R source, R/svyttest.R: ``confint(m, 1, level=level, df=df)``);
- printed output of R's ``binom.test`` (Clopper-Pearson) and ``prop.test(correct=FALSE)``
  (Wilson), as kept in cardx's tests/testthat/_snaps/proportion_ci.md: the "beta" method
  with an effective size equal to n and no fewer degrees of freedom than a simple random
  sample is exactly Clopper-Pearson, and "wilson" with df = inf is Wilson's interval;
- for "asin" no printed R value was found: it is checked against the textbook
  variance-stabilised interval sin²(asin √p ± z / (2 √n)) on a simple random sample;
- a simulation with known truth (beta-binomial clusters, 15 PSUs of 10, design effect 2).
Tolerances are half a unit in the last digit R printed.
The api data are the R survey package's (tests/data/survey_api/SOURCES.md).
"""
from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sipas_analysis import intervals
from sipas_analysis.design import SurveyDesign
from sipas_analysis.intervals import METHODS, proportion_interval

DATA = Path(__file__).parent / "data" / "survey_api"


def printed(text: str) -> dict:
    """pytest.approx keywords for a number R printed as ``text``."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return {"abs": 0.5 * 10.0 ** -decimals}


@pytest.fixture(scope="module")
def dclus1():
    apiclus1 = pd.read_csv(DATA / "apiclus1.csv", dtype={"cds": str})
    # R: dclus1 <- svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc)
    return SurveyDesign(apiclus1, weights="pw", psu="dnum", fpc="fpc")


def pair(bounds):
    """(low, high) of proportion_interval as plain floats, for pytest.approx."""
    return tuple(float(b) for b in bounds)


def level_of(design, variable, level):
    row = design.mean(variable).set_index("term").loc[f"{variable}[{level}]"]
    return row["estimate"], row["std_error"], row["n"]


# --- 1. R's svyciprop on the api cluster sample ---------------------------------------------

# svyciprop(~I(both == "No"), dclus1, method="logit") etc. (cardx snapshot, see the module doc)
R_LOGIT = [("both", "No", "0.273224", "0.2131745", "0.342819"),
           ("both", "Yes", "0.726776", "0.657181", "0.7868255"),
           ("awards", "No", "0.2896175", "0.2241835", "0.3651608"),
           ("awards", "Yes", "0.7103825", "0.6348392", "0.7758165"),
           ("sch.wide", "No", "0.1256831", "0.08809992", "0.1762011"),
           ("sch.wide", "Yes", "0.8743169", "0.8237989", "0.9119001")]


@pytest.mark.parametrize("variable, level, estimate, low, high", R_LOGIT)
def test_logit_matches_r_svyciprop_on_dclus1(dclus1, variable, level, estimate, low, high):
    p, se, n = level_of(dclus1, variable, level)
    assert p == pytest.approx(float(estimate), **printed(estimate))
    # svyciprop's default df = degf(dclus1) = 15 PSUs - 1 stratum
    assert dclus1.df == 14
    got = proportion_interval(p, se, n=n, df=dclus1.df, method="logit")
    assert got[0] == pytest.approx(float(low), **printed(low))
    assert got[1] == pytest.approx(float(high), **printed(high))


def test_xlogit_matches_r_svyciprop_on_dclus1(dclus1):
    # ard_categorical_ci(dclus1, sch.wide, value = sch.wide ~ "Yes", method = "xlogit"):
    # 0.8743169 (0.8237989, 0.9119001), the same numbers as "logit" in R too.
    p, se, n = level_of(dclus1, "sch.wide", "Yes")
    low, high = proportion_interval(p, se, n=n, df=dclus1.df, method="xlogit")
    assert low == pytest.approx(0.8237989, **printed("0.8237989"))
    assert high == pytest.approx(0.9119001, **printed("0.9119001"))


def test_mean_is_r_confint_of_svymean_with_design_df(dclus1):
    # confint(svymean(~api00, dclus1), df = 14): 644.1694 (23.54224), 593.6763 to 694.6625.
    # "mean" is affine in the estimate, so api00 / 1000 gives the interval / 1000.
    row = dclus1.mean("api00").iloc[0]
    assert row["estimate"] == pytest.approx(644.1694, **printed("644.1694"))
    low, high = proportion_interval(row["estimate"] / 1000, row["std_error"] / 1000,
                                    n=row["n"], df=dclus1.df, method="mean")
    assert 1000 * low == pytest.approx(593.6763, **printed("593.6763"))
    assert 1000 * high == pytest.approx(694.6625, **printed("694.6625"))


def test_mean_is_not_clipped_as_in_r(dclus1):
    """svyciprop(~I(ell == 0), dclus1, method = "mean"): 4 of 183 schools, the lower bound is
    below 0 (R does not clip it)."""
    frame = dclus1.data.assign(no_ell=(dclus1.data["ell"] == 0).astype(float))
    design = SurveyDesign(frame, weights="pw", psu="dnum", fpc="fpc")
    row = design.mean("no_ell").iloc[0]
    low, high = proportion_interval(row["estimate"], row["std_error"], n=row["n"],
                                    df=design.df, method="mean")
    t = stats.t.ppf(0.975, 14)
    assert low < 0
    assert (low, high) == pytest.approx((row["estimate"] - t * row["std_error"],
                                         row["estimate"] + t * row["std_error"]), rel=1e-12)


def r_beta(p, se, n, degf, level=0.95):
    """R/svyttest.R, svyciprop method "beta", line by line."""
    alpha = 1 - level
    n_eff = p * (1 - p) / se**2
    n_eff = n_eff * (stats.t.ppf(alpha / 2, n - 1) / stats.t.ppf(alpha / 2, degf)) ** 2
    return (stats.beta.ppf(alpha / 2, n_eff * p, n_eff * (1 - p) + 1),
            stats.beta.ppf(1 - alpha / 2, n_eff * p + 1, n_eff * (1 - p)))


def test_beta_follows_r_svyciprop_source_on_dclus1(dclus1):
    """No printed R value of method "beta" was found; this is R's source line by line, on
    proportions whose variance-based effective size p(1-p)/SE² is below n (school types:
    design effects 1.4-2.4), where the NCHS cap does not act."""
    for level in ["E", "H", "M"]:
        p, se, n = level_of(dclus1, "stype", level)
        assert p * (1 - p) / se**2 < n
        got = proportion_interval(p, se, n=n, df=dclus1.df, method="beta")
        assert pair(got) == pytest.approx(r_beta(p, se, n, 14), rel=1e-10)


def test_beta_departs_from_r_only_where_the_design_effect_is_below_one(dclus1):
    """both == "No": design effect 0.87, so p(1-p)/SE² = 216 > n = 183. R uses 216; the NCHS
    rule caps it at 183, a slightly wider interval."""
    p, se, n = level_of(dclus1, "both", "No")
    assert p * (1 - p) / se**2 > n
    ours = proportion_interval(p, se, n=n, df=dclus1.df, method="beta")
    r = r_beta(p, se, n, 14)
    assert ours[0] < r[0] and ours[1] > r[1]
    capped_se = np.sqrt(p * (1 - p) / n)     # the SE whose effective size is exactly n
    assert pair(ours) == pytest.approx(r_beta(p, capped_se, n, 14), rel=1e-10)


# --- 2. closed forms -----------------------------------------------------------------------

def test_beta_is_clopper_pearson_when_the_design_is_a_simple_random_sample():
    # R: binom.test(5, 10)$conf.int = 0.187086 0.812914. With SE² = p(1-p)/n the effective
    # size is n, and with df = n - 1 R's degrees-of-freedom factor is 1.
    low, high = proportion_interval(0.5, np.sqrt(0.25 / 10), n=10, df=9, method="beta")
    assert low == pytest.approx(0.187086, **printed("0.187086"))
    assert high == pytest.approx(0.812914, **printed("0.812914"))
    # df above n - 1 (here normal quantiles) is taken as n - 1: the same interval
    assert pair(proportion_interval(0.5, np.sqrt(0.25 / 10), n=10, df=np.inf)) == \
        pytest.approx((float(low), float(high)), rel=1e-12)


def test_wilson_is_the_score_interval_of_prop_test():
    # R: prop.test(5, 10, conf.level = 0.9, correct = FALSE)$conf.int = 0.2692718 0.7307282
    low, high = proportion_interval(0.5, np.sqrt(0.25 / 10), n=10, df=np.inf, method="wilson",
                                    level=0.9)
    assert low == pytest.approx(0.2692718, **printed("0.2692718"))
    assert high == pytest.approx(0.7307282, **printed("0.7307282"))


def test_wilson_at_zero_and_one_uses_the_sample_size():
    # prop.test(32, 32, correct = FALSE): 0.8928208 to 1; prop.test(0, 32): 0 to 0.1071792.
    # The estimate has no variance, so the effective size is n (NCHS rule).
    low, high = proportion_interval(np.array([1.0, 0.0]), np.zeros(2), n=32, df=np.inf,
                                    method="wilson")
    assert low == pytest.approx([0.8928208, 0.0], abs=5e-8)
    assert high == pytest.approx([1.0, 0.1071792], abs=5e-8)


def test_beta_at_zero_and_one_is_exact_binomial_of_n_not_a_point():
    """NCHS (Parker et al. 2017): an estimate of 0 or 1 gets effective size n, shrunk by the
    degrees-of-freedom factor; Clopper-Pearson then has the closed form (alpha/2)^(1/m).
    R returns NaN there."""
    n, df = 150, 14
    m = n * (stats.t.ppf(0.025, n - 1) / stats.t.ppf(0.025, df)) ** 2
    low, high = proportion_interval(np.array([1.0, 0.0]), np.zeros(2), n=n, df=df)
    assert low == pytest.approx([0.025 ** (1 / m), 0.0], rel=1e-10)
    assert high == pytest.approx([1.0, 1 - 0.025 ** (1 / m)], rel=1e-10)
    assert (high - low > 0.02).all()


def test_effective_size_is_capped_at_n():
    """A design effect below 1 does not narrow the Korn-Graubard or Wilson interval below that
    of a simple random sample of n (NCHS)."""
    for method in ("beta", "wilson"):
        capped = proportion_interval(0.8, 0.01, n=100, df=30, method=method)
        at_n = proportion_interval(0.8, 0.01, n=100, n_eff=100, df=30, method=method)
        srs = proportion_interval(0.8, np.sqrt(0.16 / 100), n=100, df=30, method=method)
        assert pair(capped) == pytest.approx(pair(at_n), rel=1e-12)
        assert pair(capped) == pytest.approx(pair(srs), rel=1e-12)


def test_given_n_eff_replaces_the_variance_based_one():
    p, se, n = 0.9, 0.03, 150
    implied = p * (1 - p) / se**2
    assert pair(proportion_interval(p, se, n=n, n_eff=implied, df=14)) == \
        pytest.approx(pair(proportion_interval(p, se, n=n, df=14)), rel=1e-12)
    wider = proportion_interval(p, se, n=n, n_eff=implied / 2, df=14)
    assert wider[1] - wider[0] > np.subtract(*proportion_interval(p, se, n=n, df=14)[::-1])


def test_asin_is_the_variance_stabilised_interval_on_a_simple_random_sample():
    # On an SRS (SE² = p(1-p)/n) the arcsine SE is 1/(2 sqrt(n)): sin²(asin √p ± z/(2 √n)).
    p, n = np.array([0.3, 0.9]), 200
    z = stats.norm.ppf(0.975)
    low, high = proportion_interval(p, np.sqrt(p * (1 - p) / n), n=n, df=np.inf, method="asin")
    assert low == pytest.approx(np.sin(np.arcsin(np.sqrt(p)) - z / (2 * np.sqrt(n))) ** 2,
                                rel=1e-12)
    assert high == pytest.approx(np.sin(np.arcsin(np.sqrt(p)) + z / (2 * np.sqrt(n))) ** 2,
                                 rel=1e-12)


def test_logit_and_xlogit_are_the_delta_method_on_the_log_odds():
    p, se, df = 0.7, 0.05, 20
    t = stats.t.ppf(0.975, df)
    half = t * se / (p * (1 - p))
    expected = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + np.array([-half, half]))))
    for method in ("logit", "xlogit"):
        assert pair(proportion_interval(p, se, n=100, df=df, method=method)) == \
            pytest.approx(tuple(expected), rel=1e-12)


def test_degenerate_estimates_of_the_transformed_methods_follow_r():
    low, high = proportion_interval(np.array([0.0, 1.0]), np.zeros(2), n=50, df=10,
                                    method="mean")
    assert (low == [0.0, 1.0]).all() and (high == [0.0, 1.0]).all()
    for method in ("logit", "xlogit", "asin"):
        low, high = proportion_interval(np.array([0.0, 1.0]), np.zeros(2), n=50, df=10,
                                        method=method)
        assert np.isnan(low).all() and np.isnan(high).all()


# --- 3. behaviour ---------------------------------------------------------------------------

def test_arrays_broadcast_and_missing_values_pass_through():
    p = np.array([[0.5, np.nan], [0.9, 0.95]])
    low, high = proportion_interval(p, 0.02, n=np.array([100, 200]), df=np.array([[10], [0]]))
    assert low.shape == high.shape == (2, 2)
    assert np.isnan(low[0, 1]) and np.isnan(high[0, 1])
    assert np.isnan(low[1]).all()                            # df = 0: no interval
    assert proportion_interval(0.5, 0.02, n=100, df=10)[0].shape == ()


def test_default_method_is_korn_graubard():
    assert intervals.DEFAULT_METHOD == "beta"
    assert pair(proportion_interval(0.9, 0.03, n=150, df=14)) == \
        pair(proportion_interval(0.9, 0.03, n=150, df=14, method="beta"))


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="method must be one of"):
        proportion_interval(0.5, 0.1, n=10, method="wald")
    with pytest.raises(ValueError, match="divide percentages by 100"):
        proportion_interval(85.0, 2.0, n=10)
    with pytest.raises(ValueError, match="std_error must be >= 0"):
        proportion_interval(0.5, -0.1, n=10)
    with pytest.raises(ValueError, match="level"):
        proportion_interval(0.5, 0.1, n=10, level=95)


@settings(max_examples=200, deadline=None)
@given(p=st.floats(0.0, 1.0), se=st.floats(0.0, 0.5), n=st.integers(2, 5000),
       df=st.integers(1, 200), level=st.floats(0.5, 0.999))
def test_beta_and_wilson_stay_in_zero_one_and_contain_the_estimate(p, se, n, df, level):
    for method in ("beta", "wilson"):
        low, high = proportion_interval(p, se, n=n, df=df, method=method, level=level)
        if np.isnan(low):      # se = 0 with 0 < p < 1 is capped at n, so never NaN
            pytest.fail(f"{method} gave NaN at p={p}, se={se}")
        assert 0.0 <= low <= p <= high <= 1.0, (method, low, p, high)


def test_docstring_examples_run():
    assert doctest.testmod(intervals, raise_on_error=False).failed == 0


# --- 4. simulation: coverage of the default near 100 % in small clustered samples ----------

def clustered_samples(p, n_reps, rng, n_psu=15, psu_size=10, icc=1 / 9):
    """0/1 answers (n_psu * psu_size, n_reps): PSU rates ~ Beta(mean p, ICC 1/9), so the
    design effect of the mean is 1 + (psu_size - 1) * icc = 2."""
    concentration = 1 / icc - 1
    rates = rng.beta(p * concentration, (1 - p) * concentration, size=(n_psu, n_reps))
    return (rng.random((n_psu, psu_size, n_reps)) < rates[:, None, :]).reshape(-1, n_reps)


@pytest.mark.parametrize("p", [0.85, 0.90, 0.95, 0.98])
def test_default_interval_covers_near_one_in_small_clustered_samples(p):
    """15 PSUs x 10 respondents, equal weights, design effect 2, df = 14: the default interval
    covers the true proportion at least 93 % of the time, and never leaves [0, 1].

    4,000 replications per value (one SurveyDesign, one column each); the Monte Carlo SE of a
    coverage of 0.93 is sqrt(0.93 * 0.07 / 4000) = 0.0040, and the assertion allows 3 of them
    (0.93 - 0.012). The whole test takes a few seconds on one core; the full table is
    benchmarks/bench_intervals.py. Samples with every respondent satisfied (about 1 in 9 at
    p = 0.98) get the NCHS interval, not R's NaN.
    """
    n_reps, batch = 4000, 1000     # a batch of replications is the columns of one design
    rng = np.random.default_rng(int(p * 1000))
    tables = []
    for _ in range(n_reps // batch):
        columns = [f"y{j}" for j in range(batch)]
        frame = pd.DataFrame(clustered_samples(p, batch, rng).astype(float), columns=columns)
        frame["psu"] = np.repeat(np.arange(15), 10)
        tables.append(SurveyDesign(frame, psu="psu").mean(columns, df=True))
    table = pd.concat(tables, ignore_index=True)
    assert (table["df"] == 14).all()
    estimate = table["estimate"].to_numpy()
    # the simulated design really has a design effect of about 2
    assert estimate.var() / (p * (1 - p) / 150) == pytest.approx(2.0, rel=0.15)
    low, high = proportion_interval(estimate, table["std_error"].to_numpy(),
                                    n=table["n"].to_numpy(), df=table["df"].to_numpy())
    assert ((0 <= low) & (low <= estimate) & (estimate <= high) & (high <= 1)).all()
    coverage = np.mean((low <= p) & (p <= high))
    mc_se = np.sqrt(0.93 * 0.07 / n_reps)
    assert coverage >= 0.93 - 3 * mc_se, coverage
