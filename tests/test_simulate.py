"""The synthetic SIPAS sample: contract, determinism, eras, anchors, and a known truth.

References: the truth itself (declared rates and coefficients, checked within Monte Carlo
error), the published SIPAS national figures in data/sipas_published (anchors), and
statsmodels' OrderedModel as an independent ordered-logit fitter.
"""
from __future__ import annotations

import dataclasses
import io as stdio

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from sipas_analysis import schema
from sipas_analysis import simulate as sim


@pytest.fixture(scope="module")
def truth():
    return sim.Truth().calibrated(sim.DEMO_YEARS)


@pytest.fixture(scope="module")
def small(truth):
    return sim.simulate_survey(n=20_000, truth=truth, seed=3)[0]


@pytest.fixture(scope="module")
def large(truth):
    return sim.simulate_survey(n=400_000, truth=truth, seed=7)[0]


def _index_by_unit(df: pd.DataFrame, by) -> pd.Series:
    """Weighted SIPAS index: percent of ratings 4-5 per criterion, mean over a factor's
    criteria, mean over factors (the workbench's default rule), computed here by hand."""
    users = df[df["used_service"].to_numpy(dtype=bool)]
    ratings = users[schema.RATING_COLUMNS]
    w = users["weight"]
    keys = [users[b].astype(str) if b == "unit_set" else users[b] for b in by]
    satisfied = (ratings >= 4).astype(float).mul(w, axis=0).where(ratings.notna())
    asked = ratings.notna().astype(float).mul(w, axis=0)
    rate = satisfied.groupby(keys, observed=True).sum() / asked.groupby(keys, observed=True).sum()
    factors = pd.concat({f: rate[c].mean(axis=1) for f, c in schema.FACTORS.items()}, axis=1)
    return 100 * factors.mean(axis=1)


# --- the data contract ------------------------------------------------------------------------

def test_columns_and_values_follow_the_contract(small):
    expected = (set(schema.REQUIRED_COLUMNS) | set(schema.SCORE_COLUMNS)
                | {"ssu", "fpc1", "synthetic"})
    assert set(small.columns) == expected
    validated = schema.validate_survey(small)            # raises on any breach of the contract
    assert len(validated) == len(small)
    assert small["synthetic"].all()
    for column, allowed in schema.CATEGORIES.items():
        assert isinstance(small[column].dtype, pd.CategoricalDtype), column
        assert list(small[column].cat.categories) == list(allowed), column
    ratings = pd.unique(small[schema.RATING_COLUMNS + ["overall_satisfaction"]].to_numpy().ravel())
    ratings = ratings[~np.isnan(ratings)]
    assert set(ratings) == {1.0, 2.0, 3.0, 4.0, 5.0}
    for score, columns in zip(schema.SCORE_COLUMNS, schema.FACTORS.values()):
        np.testing.assert_allclose(small[score], small[columns].mean(axis=1))
    assert small["respondent_id"].is_unique


def test_item_missingness_is_a_few_percent_and_more_for_feedback(small):
    users = small[small["used_service"].to_numpy(dtype=bool)]
    share = users[schema.RATING_COLUMNS].isna().mean()
    assert share[schema.FACTORS["staff"]].between(0.01, 0.04).all()
    assert share[schema.FACTORS["feedback"]].between(0.10, 0.20).all()


def test_same_seed_same_bytes(truth):
    first = sim.simulate_survey(n=5_000, truth=truth, seed=11)[0]
    second = sim.simulate_survey(n=5_000, seed=11)[0]       # truth rebuilt from scratch
    assert pd.util.hash_pandas_object(first).equals(pd.util.hash_pandas_object(second))
    buffers = []
    for frame in (first, second):
        buffer = stdio.BytesIO()
        frame.to_parquet(buffer)
        buffers.append(buffer.getvalue())
    assert buffers[0] == buffers[1]
    other = sim.simulate_survey(n=5_000, truth=truth, seed=12)[0]
    assert not pd.util.hash_pandas_object(first).equals(pd.util.hash_pandas_object(other))


def test_generator_seed_is_used_and_no_global_state(truth):
    np.random.seed(1)
    a = sim.simulate_survey(n=500, truth=truth, seed=np.random.default_rng(5))[0]
    np.random.seed(2)
    b = sim.simulate_survey(n=500, truth=truth, seed=5)[0]
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("n", [1, 137, 5_000])
def test_n_is_respected(truth, n):
    assert len(sim.simulate_survey(n=n, truth=truth, seed=0)[0]) == n


def test_default_size_is_400_to_600_a_unit(truth):
    df, _ = sim.simulate_survey(truth=truth, seed=1, years=[2024])
    per_unit = df.groupby("province_code").size()
    assert len(per_unit) == 63
    assert per_unit.between(400, 600).all()


def test_bad_arguments_are_refused(truth):
    with pytest.raises(ValueError, match="2017"):
        sim.simulate_survey(n=10, years=[2016, 2020])
    with pytest.raises(ValueError, match="positive whole number"):
        sim.simulate_survey(n=-3, truth=truth)
    with pytest.raises(ValueError, match="seed"):
        sim.simulate_survey(n=10, truth=truth, seed=None)


# --- the design and its eras ------------------------------------------------------------------

def test_eras(small):
    early = small[small["year"] <= 2021]
    late = small[small["year"].between(2022, 2024)]
    after = small[small["year"] >= 2025]
    assert early["used_service"].all()
    assert early["psu"].str.contains("-C").all()            # communes
    non_users = late[~late["used_service"].to_numpy(dtype=bool)]
    assert 0.2 < len(non_users) / len(late) < 0.7
    assert late["psu"].str.contains("-V").all()             # villages
    # non-users skip every service question, overall satisfaction included (by design)
    skipped = schema.SERVICE_COLUMNS + schema.SCORE_COLUMNS + ["overall_satisfaction"]
    assert non_users[skipped].isna().all().all()
    assert (after["unit_set"] == "34").all() and (small.loc[small["year"] <= 2024, "unit_set"]
                                                  == "63").all()
    assert after["province_code"].nunique() == 34
    assert after["district_code"].isna().all()
    assert small.loc[small["year"] <= 2024, "district_code"].notna().all()
    assert after["stratum"].str[-2:].isin(["-U", "-R"]).all()
    assert (after["urban"] == after["stratum"].str.endswith("-U")).all()


def test_psus_nest_in_strata_and_strata_in_units(small):
    assert (small.groupby("psu")["stratum"].nunique() == 1).all()
    assert (small.groupby("stratum")[["year", "province_code"]].nunique() == 1).all().all()
    assert (small.groupby("stratum")["fpc1"].nunique() == 1).all()
    psus_taken = small.groupby("stratum")["psu"].nunique()
    assert (psus_taken <= small.groupby("stratum")["fpc1"].first()).all()


def test_weights_positive_unequal_and_sum_to_the_population(large, truth):
    assert (large["weight"] > 0).all()
    by_unit = large.groupby(["unit_set", "province_code", "year"], observed=True)["weight"]
    cv = by_unit.std() / by_unit.mean()
    assert 0.3 <= cv.median() <= 0.8
    # weights add up to the unit's target population: adults (2022+) or service users
    plan = sim.SamplingPlan()
    pe = truth.province_effects.set_index(["unit_set", "province_code", "year"])
    total = by_unit.sum()
    target = pe.loc[total.index, "population"] * 1000 * plan.adult_share
    target = target.where(total.index.get_level_values("year") >= 2022,
                          target * plan.user_share)
    ratio = total / target
    assert ratio.median() == pytest.approx(1.0, abs=0.1)


def test_clustering_gives_a_design_effect(large):
    # intra-cluster correlation of a rating: between-PSU share of the variance, well above 0
    users = large[large["used_service"].to_numpy(dtype=bool) & (large["year"] == 2023)]
    y = users["staff_polite"]
    psu_mean = y.groupby(users["psu"]).transform("mean")
    unit_mean = y.groupby(users["province_code"]).transform("mean")
    between = ((psu_mean - unit_mean) ** 2).mean()
    size = users.groupby("psu").size().mean()
    icc = (between - y.var() / size) / y.var()
    assert 0.01 < icc < 0.2


# --- anchors and the truth --------------------------------------------------------------------

def test_province_indices_track_their_anchors(large, truth):
    simulated = _index_by_unit(large, ["unit_set", "province_code", "year"]).rename("sim")
    pe = truth.province_effects.set_index(["unit_set", "province_code", "year"])
    both = pd.concat([simulated, pe["anchor"]], axis=1, join="inner")
    assert len(both) == 63 * 6 + 34
    assert spearmanr(both["sim"], both["anchor"]).statistic > 0.8
    # published province values are anchors as published
    assert pe.loc[("63", "22", 2019), "anchor"] == pytest.approx(95.26)
    assert pe.loc[("63", "06", 2023), "anchor"] == pytest.approx(75.03)


def test_national_level_near_the_published_figure(large):
    # published national SIPAS (data/sipas_published); tolerance 1.5 pp: the national
    # estimate's sampling SD here is about 0.4-0.6 pp (cluster effects and unequal weights)
    published = {2019: 84.45, 2020: 85.48, 2021: 87.16, 2022: 80.08, 2023: 82.66, 2024: 83.94}
    national = _index_by_unit(large, ["year"])
    for year, value in published.items():
        assert national[year] == pytest.approx(value, abs=1.5), year
    assert national[2021] - national[2022] > 4      # the era shift of 2022


def test_anchor_sources_and_the_2025_units(truth):
    pe = truth.province_effects
    assert set(pe["anchor_source"]) == {"published", "papi_d5", "constituents"}
    assert (pe.loc[pe["unit_set"] == "34", "anchor_source"] == "constituents").all()
    # a 2025 unit's anchor is the population-weighted mean of its constituents' 2024 anchors
    hcm = pe[(pe["year"] == 2024) & pe["province_code"].isin(["74", "77", "79"])]
    expected = np.average(hcm["anchor"], weights=hcm["population"])
    got = pe[(pe["year"] == 2025) & (pe["province_code"] == "79")]["anchor"].item()
    assert got == pytest.approx(expected)
    # the model's own population index lands on the anchor
    np.testing.assert_allclose(pe["population_index"], pe["anchor"], atol=0.05)
    # online share rises over time
    online = pe.groupby("year")["online_share"].mean()
    assert online.is_monotonic_increasing and online[2024] > 3 * online[2019]


def test_on_time_rate_equals_its_declared_rate(large, truth):
    # on_time depends only on the unit-year and on applying online, never on clusters or
    # demographics, so the unweighted mean is binomial around the declared rates
    users = large[large["used_service"].to_numpy(dtype=bool)]
    pe = truth.province_effects.set_index(["unit_set", "province_code", "year"])
    key = pd.MultiIndex.from_arrays([users["unit_set"].astype(str), users["province_code"],
                                     users["year"]])
    rate = pe["on_time_rate"].reindex(key).to_numpy()
    se = np.sqrt(np.sum(rate * (1 - rate))) / len(users)
    assert abs(users["on_time"].mean() - rate.mean()) < 4 * se


def test_staff_coefficient_is_recovered_by_an_ordered_logit(truth):
    # Ordered logit (statsmodels, independent of this code) of overall satisfaction on the
    # latent qualities and the facts: the model that generated it, so every coefficient must
    # be recovered within its standard error.
    from statsmodels.miscmodels.ordinal_model import OrderedModel
    df, _ = sim.simulate_survey(n=60_000, truth=truth, seed=12, keep_latent=True)
    users = df[df["used_service"].to_numpy(dtype=bool) & df["overall_satisfaction"].notna()]
    x = pd.DataFrame({f: users[f"latent_{f}"] for f in sim.FACTOR_NAMES})
    x["staff_x_province_deviation"] = users["latent_staff"] * (
        users["staff_slope"] - truth.overall_weights["staff"])
    for fact in sim.FACTS:
        x[fact] = users[fact]
    model = OrderedModel(users["overall_satisfaction"].astype(int).to_numpy(), x.to_numpy(),
                         distr="logit")
    fit = model.fit(method="bfgs", disp=False, maxiter=1000)
    expected = ([truth.overall_weights[f] for f in sim.FACTOR_NAMES] + [1.0]
                + [truth.overall_direct[f] for f in sim.FACTS])
    k = len(expected)
    z = (fit.params[:k] - expected) / fit.bse[:k]
    assert abs(z[sim.FACTOR_NAMES.index("staff")]) < 3
    assert np.all(np.abs(z) < 4), dict(zip(x.columns, np.round(z, 2)))
    thresholds = model.transform_threshold_params(fit.params)[1:-1]
    np.testing.assert_allclose(thresholds, truth.overall_thresholds, atol=0.15)


def test_parameters_table_names_every_parameter_and_its_quantity(truth):
    table = truth.parameters()
    assert list(table.columns) == ["parameter", "value", "quantity", "description", "mc_se"]
    assert table["parameter"].is_unique
    assert set(table["quantity"]) == {"declared", "conditional", "population_averaged"}
    assert table["description"].notna().all()
    row = table.set_index("parameter")
    assert row.loc["overall_weights.staff", "value"] == 0.8
    assert row.loc["overall_weights.staff", "quantity"] == "conditional"
    assert row.loc["experience_effects.on_time.result", "quantity"] == "conditional"
    assert row.loc["ame.on_time.p_overall_satisfied", "quantity"] == "population_averaged"
    assert row.loc["ame.on_time.p_overall_satisfied", "value"] > 0
    assert row.loc["logit.satisfied.asked_extra_payment", "value"] < 0
    assert row.loc["sipas_index.2021", "value"] == pytest.approx(87.16, abs=0.1)
    pa = table[table["quantity"] == "population_averaged"]
    assert pa["mc_se"].notna().all()


def test_population_averaged_quantity_matches_a_big_sample(truth, large):
    # the census P(overall >= 4) among service users against the design-weighted sample share
    value = truth.parameters().set_index("parameter").loc["p_overall_satisfied", "value"]
    users = large[large["used_service"].to_numpy(dtype=bool)
                  & large["overall_satisfaction"].notna()]
    share = np.average(users["overall_satisfaction"] >= 4, weights=users["weight"])
    assert share == pytest.approx(value, abs=0.01)


def test_changed_parameters_are_recalibrated_and_edits_kept(truth):
    changed = dataclasses.replace(truth, staff_slope_sd=0.0).calibrated(sim.DEMO_YEARS)
    assert changed.province_effects is not truth.province_effects
    assert np.allclose(changed.province_effects["staff_slope"], 0.8)
    # an edited province_effects table is used as given (a counterfactual)
    table = truth.province_effects.copy()
    table.loc[table["province_code"] == "01", "on_time_logit"] = 10.0
    edited = dataclasses.replace(truth, province_effects=table)
    df, used = sim.simulate_survey(n=30_000, truth=edited, seed=2)
    assert used.province_effects is table
    hanoi = df[(df["province_code"] == "01") & df["used_service"].to_numpy(dtype=bool)]
    assert hanoi["on_time"].mean() > 0.999


def test_demo_survey():
    demo = sim.demo_survey()
    assert demo["synthetic"].all()
    counts = demo.groupby(["year", "unit_set"], observed=True)["province_code"].nunique()
    assert counts.loc[(2025, "34")] == 34
    assert all(counts.loc[(y, "63")] == 63 for y in range(2019, 2025))
    per_unit = demo.groupby(["year", "province_code"]).size()
    assert per_unit.between(400, 600).all()
    demo.loc[0, "weight"] = -1.0
    assert sim.demo_survey().loc[0, "weight"] > 0      # a copy each time
