"""The evaluation workbench: declarations, diagnosis, diagnosands, cross-validation.

References: closed forms for a mean under simple random sampling (coverage of a correct 95 %
interval is 0.95 and bias 0, within Monte Carlo error; power, type-S and type-M of a z-test from
the normal distribution, Gelman & Carlin 2014), the design effect of a one-way cluster design
(naive iid intervals cover far less), and the simulator's exact model index of each province.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from sipas_analysis import cli
from sipas_analysis import evaluate as ev

PARAMS = Path(__file__).resolve().parents[1] / "params" / "evaluation"

# --------------------------------------------------------------------------------------------
# Custom samplers with closed-form answers (module level: worker processes import them)
# --------------------------------------------------------------------------------------------
MU, SIGMA, N = 2.0, 1.0, 100
SMALL_EFFECT = 0.15                     # D / SE = 1.5 with N = 100, SIGMA = 1
N_CLUSTERS, CLUSTER_SIZE, ICC = 40, 25, 0.3


def srs_sampler(rng):
    """Simple random sample of N from Normal(MU, SIGMA): every row its own PSU, weight 1."""
    return pd.DataFrame({"y": rng.normal(MU, SIGMA, N), "small": rng.normal(SMALL_EFFECT,
                                                                             SIGMA, N),
                         "weight": 1.0, "stratum": "s", "psu": np.arange(N).astype(str)})


def cluster_sampler(rng):
    """40 clusters of 25 with intra-cluster correlation 0.3 (design effect 1 + 24 * 0.3 = 8.2)."""
    u = rng.normal(0, math.sqrt(ICC), N_CLUSTERS)
    cluster = np.repeat(np.arange(N_CLUSTERS), CLUSTER_SIZE)
    y = MU + u[cluster] + rng.normal(0, math.sqrt(1 - ICC), cluster.size)
    return pd.DataFrame({"y": y, "weight": 1.0, "stratum": "s", "psu": cluster.astype(str)})


def srs_declaration(**kw):
    return ev.Declaration(
        name="srs", sampler=srs_sampler,
        inquiries={"mean": {"target": "superpopulation", "value": MU},
                   "small": {"target": "superpopulation", "value": SMALL_EFFECT}},
        estimators={"mean": {"model": "mean", "formula": "y + small",
                             "inquiries": {"y": "mean", "small": "small"}}}, **kw)


def cluster_declaration():
    return ev.Declaration(
        name="clusters", sampler=cluster_sampler,
        inquiries={"mean": {"target": "superpopulation", "value": MU}},
        estimators={"design": {"model": "mean", "formula": "y", "inquiries": {"y": "mean"}},
                    "naive": {"model": "mean", "formula": "y", "weighted": False,
                              "design_based": False, "inquiries": {"y": "mean"}}})


@pytest.fixture(scope="module")
def srs_diagnosis():
    return ev.diagnose(srs_declaration(), n_sims=600, seed=11)


def row(table, estimator, inquiry):
    return table[(table["estimator"] == estimator) & (table["inquiry"] == inquiry)].iloc[0]


# --------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------
def test_srs_mean_covers_095_and_is_unbiased_within_monte_carlo_error(srs_diagnosis):
    r = row(srs_diagnosis.diagnosands, "mean", "mean")
    assert r["n_sims"] == 600 and r["n_failed"] == 0
    # the normal interval with an estimated SE covers 0.947 at n = 100 (t_99 vs z): use that
    expected = 2 * stats.t.cdf(1.959964, N - 1) - 1
    mc_se = math.sqrt(0.95 * 0.05 / 600)
    assert abs(r["coverage"] - expected) < 3 * mc_se
    assert abs(r["coverage_mc_se"] - mc_se) < 0.4 * mc_se       # bootstrap ~ binomial SE
    assert abs(r["bias"]) < 3 * r["bias_mc_se"]
    assert r["bias_mc_se"] == pytest.approx(SIGMA / math.sqrt(N) / math.sqrt(600), rel=0.15)
    assert r["sd_estimate"] == pytest.approx(SIGMA / math.sqrt(N), rel=0.1)
    assert r["se_calibration"] == pytest.approx(1.0, abs=3 * r["se_calibration_mc_se"])
    assert r["rmse"] == pytest.approx(SIGMA / math.sqrt(N), rel=0.1)


def test_power_type_s_type_m_match_the_normal_closed_form(srs_diagnosis):
    r = row(srs_diagnosis.diagnosands, "mean", "small")
    ratio = SMALL_EFFECT / (SIGMA / math.sqrt(N))                # true effect / SE = 1.5
    z = stats.norm.ppf(0.975)
    power = stats.norm.sf(z - ratio) + stats.norm.cdf(-z - ratio)
    type_s = stats.norm.cdf(-z - ratio) / power
    # E(|estimate| / D | significant), estimate / SE ~ N(ratio, 1)
    upper = integrate.quad(lambda x: x * stats.norm.pdf(x - ratio), z, np.inf)[0]
    lower = integrate.quad(lambda x: -x * stats.norm.pdf(x - ratio), -np.inf, -z)[0]
    type_m = (upper + lower) / power / ratio
    assert abs(r["power"] - power) < 3 * r["power_mc_se"]
    assert abs(r["type_s"] - type_s) < 0.01
    assert abs(r["type_m"] - type_m) < 3 * r["type_m_mc_se"]
    assert r["type_m"] > 1.5      # significant estimates of a small effect exaggerate it


def test_naive_iid_intervals_on_a_clustered_design_are_caught():
    result = ev.diagnose(cluster_declaration(), n_sims=300, seed=5)
    design, naive = (row(result.diagnosands, e, "mean") for e in ("design", "naive"))
    deff = 1 + (CLUSTER_SIZE - 1) * ICC
    # naive SE is sqrt(deff) too small: coverage 2 Phi(1.96 / sqrt(deff)) - 1 = 0.50
    expected_naive = 2 * stats.norm.cdf(1.959964 / math.sqrt(deff)) - 1
    assert abs(naive["coverage"] - expected_naive) < 3 * naive["coverage_mc_se"] + 0.02
    assert naive["coverage"] < 0.65
    assert naive["se_calibration"] == pytest.approx(1 / math.sqrt(deff), rel=0.15)
    # the design-based interval (40 clusters, normal quantile) is right within MC error
    assert abs(design["coverage"] - 0.95) < 3 * design["coverage_mc_se"] + 0.01
    assert design["se_calibration"] == pytest.approx(1.0, abs=0.1)


def test_diagnosands_of_a_handmade_table():
    """Estimates = target + N(0, 1), SE 1, normal intervals: coverage 0.95, bias 0, RMSE 1."""
    rng = np.random.default_rng(3)
    n = 4000
    est = 5 + rng.normal(size=n)
    table = pd.DataFrame({"sim": np.arange(n), "estimator": "e", "inquiry": "q", "unit": "",
                          "term": "x", "kind": "value", "estimate": est, "std_error": 1.0,
                          "ci_low": est - 1.959964, "ci_high": est + 1.959964,
                          "p_value": 2 * stats.norm.sf(np.abs(est)), "target": 5.0,
                          "target_se": 0.0, "error": "", "seconds": 0.0})
    r = ev.diagnosands(table).iloc[0]
    assert abs(r["coverage"] - 0.95) < 3 * math.sqrt(0.95 * 0.05 / n)
    assert abs(r["bias"]) < 3 / math.sqrt(n)
    assert r["rmse"] == pytest.approx(1, abs=0.05)
    assert r["se_calibration"] == pytest.approx(1, abs=0.05)
    assert r["power"] == pytest.approx(stats.norm.sf(1.96 - 5) + stats.norm.cdf(-1.96 - 5),
                                       abs=0.01)


def test_rank_diagnosands_perfect_and_reversed():
    units = [f"{i:02d}" for i in range(1, 21)]
    truth = np.arange(1, 21, dtype=float)
    rows = []
    for sim, estimate in enumerate([truth, truth[::-1]]):
        rows.append(pd.DataFrame({"sim": sim, "estimator": "r", "inquiry": "rank", "unit": units,
                                  "term": "overall", "kind": "rank", "estimate": estimate,
                                  "std_error": np.nan, "ci_low": estimate, "ci_high": estimate,
                                  "p_value": np.nan, "target": truth, "target_se": np.nan,
                                  "error": "", "seconds": 0.0}))
    both = pd.concat(rows, ignore_index=True)
    perfect = ev.diagnosands(both[both["sim"] == 0]).iloc[0]
    assert perfect[["spearman", "top1_recovered", "top10_recovered", "order_recovered",
                    "coverage"]].tolist() == [1.0, 1.0, 1.0, 1.0, 1.0]
    mixed = ev.diagnosands(both).iloc[0]
    assert mixed["spearman"] == pytest.approx(0.0)          # mean of 1 and -1
    assert mixed["top10_recovered"] == pytest.approx(0.5)   # all, then none
    assert mixed["order_recovered"] == pytest.approx(0.5)


# --------------------------------------------------------------------------------------------
# Reproducibility, parallelism, storage
# --------------------------------------------------------------------------------------------
def _without_seconds(table):
    return table.drop(columns="seconds").reset_index(drop=True)


def test_same_seed_same_diagnosands_with_one_or_two_jobs():
    declaration = srs_declaration()
    one = ev.diagnose(declaration, n_sims=40, seed=3, jobs=1)
    two = ev.diagnose(declaration, n_sims=40, seed=3, jobs=2)
    pd.testing.assert_frame_equal(_without_seconds(one.estimates), _without_seconds(two.estimates))
    pd.testing.assert_frame_equal(one.diagnosands, two.diagnosands)
    other = ev.diagnose(declaration, n_sims=40, seed=4, jobs=1)
    assert not np.allclose(other.estimates["estimate"], one.estimates["estimate"])


def test_sipas_diagnosis_is_the_same_with_one_or_two_jobs():
    """The real simulator and province ranks (whose parametric bootstrap is seeded per sim)."""
    declaration = ev.Declaration(
        name="small", years=[2024], sampling={"respondents_per_province": 150},
        inquiries={"rank": {"target": "superpopulation",
                            "parameter": "province_effects.population_index", "rank": True}},
        estimators={"rank": {"model": "rank", "by": "province_code", "n_draws": 500,
                             "inquiries": {"overall": "rank"}}})
    one = ev.diagnose(declaration, n_sims=4, seed=9, jobs=1)
    two = ev.diagnose(declaration, n_sims=4, seed=9, jobs=2)
    pd.testing.assert_frame_equal(_without_seconds(one.estimates), _without_seconds(two.estimates))
    assert one.estimates["unit"].nunique() == 63
    r = row(one.diagnosands, "rank", "rank")
    assert 0.5 < r["spearman"] < 1 and r["coverage"] > 0.8


def test_interrupted_run_continues_without_recomputing(tmp_path):
    declaration = srs_declaration()
    store = tmp_path / "store"
    first = ev.diagnose(declaration, n_sims=30, seed=2, store=store)
    assert first.n_computed == 30
    parts_before = {p.name: p.read_bytes() for p in store.glob("estimates-*.parquet")}
    second = ev.diagnose(declaration, n_sims=60, seed=2, store=store, jobs=2)
    assert second.n_computed == 30                      # only sims 30..59 ran
    for name, content in parts_before.items():          # the first chunks are untouched
        assert (store / name).read_bytes() == content
    single = ev.diagnose(declaration, n_sims=60, seed=2)
    pd.testing.assert_frame_equal(_without_seconds(second.estimates),
                                  _without_seconds(single.estimates))
    pd.testing.assert_frame_equal(second.diagnosands, single.diagnosands)
    # nothing left to do: everything read back
    third = ev.diagnose(declaration, n_sims=60, seed=2, store=store)
    assert third.n_computed == 0
    # a smaller n_sims reads only the first sims
    assert ev.diagnose(declaration, n_sims=10, seed=2, store=store).estimates["sim"].max() == 9
    assert not list(store.glob(".*.tmp"))               # no half-written chunk


def test_diagnosands_recomputed_from_the_store_equal_the_returned_table(tmp_path):
    result = ev.diagnose(srs_declaration(), n_sims=25, seed=1, store=tmp_path / "s")
    again = ev.diagnosands(ev.read_estimates(tmp_path / "s"))
    pd.testing.assert_frame_equal(again, result.diagnosands)
    stored = pd.read_parquet(sorted((tmp_path / "s").glob("estimates-*.parquet"))[0])
    assert list(stored.columns) == ev.ESTIMATE_COLUMNS


def test_a_store_of_another_seed_or_declaration_is_refused(tmp_path):
    ev.diagnose(srs_declaration(), n_sims=3, seed=1, store=tmp_path)
    with pytest.raises(ValueError, match="another declaration or seed"):
        ev.diagnose(srs_declaration(), n_sims=3, seed=2, store=tmp_path)
    with pytest.raises(ValueError, match="another declaration or seed"):
        ev.diagnose(cluster_declaration(), n_sims=3, seed=1, store=tmp_path)


def test_run_settings_are_checked():
    with pytest.raises(ValueError, match="n_sims must be.*jobs must be"):
        ev.diagnose(srs_declaration(), n_sims=0, seed=1, jobs=0)


def test_a_declaration_mistake_stops_the_run_with_its_message():
    bad = ev.Declaration(sampler=srs_sampler,
                         inquiries={"m": {"target": "superpopulation", "value": 1.0}},
                         estimators={"e": {"model": "mean", "formula": "y",
                                           "inquiries": {"not_a_term": "m"}}})
    with pytest.raises(ValueError, match=r"term\(s\) \['not_a_term'\] are not in its output"):
        ev.diagnose(bad, n_sims=2, seed=0)


# --------------------------------------------------------------------------------------------
# Targets on the simulated population
# --------------------------------------------------------------------------------------------
def test_frame_province_index_agrees_with_the_exact_model_index():
    """The frame's province indices estimate the model's (exact) index within their SE."""
    declaration = ev.Declaration(
        years=[2024], population_size=150_000,
        inquiries={"exact": {"target": "superpopulation",
                             "parameter": "province_effects.population_index"},
                   "frame": {"target": "finite_population", "quantity": "index"},
                   "frame_rank": {"target": "finite_population", "quantity": "rank"}},
        estimators={"index": {"model": "index", "inquiries": {"overall": ["exact", "frame"]}},
                    "rank": {"model": "rank", "inquiries": {"overall": "frame_rank"}}})
    table = ev.targets(declaration)
    exact = table[table["inquiry"] == "exact"].set_index("unit")
    frame = table[table["inquiry"] == "frame"].set_index("unit")
    assert len(exact) == len(frame) == 63
    z = (frame["target"] - exact["target"].reindex(frame.index)) / frame["target_se"]
    assert abs(z.mean()) < 3 / math.sqrt(63) + 0.1 and 0.6 < z.std() < 1.5
    ranks = table[table["inquiry"] == "frame_rank"].set_index("unit")["target"]
    assert sorted(ranks) == list(range(1, 64))
    assert ranks.idxmin() == frame["target"].idxmax()


# --------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------
def test_example_declarations_load():
    paths = sorted(PARAMS.glob("*.yaml"))
    assert {p.stem for p in paths} >= {"default", "benchmark"}
    for path in paths:
        declaration = ev.Declaration.from_yaml(path)
        assert declaration.estimators and declaration.inquiries
        assert set(declaration.run) <= {"n_sims", "seed", "jobs", "out"}
    default = ev.Declaration.from_yaml(PARAMS / "default.yaml")
    assert default.sampling_plan().respondents_per_unit == (500, 500)
    assert {e.model for e in default.estimators} >= {"logit", "index", "rank", "multilevel",
                                                     "importance"}


def write(tmp_path, text):
    path = tmp_path / "d.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
name: "t"
truth:
  staff_slope_sd: 0.5
  experience_effects: {on_time: {staff: 0.9}}
sampling: {respondents_per_province: [300, 400]}
inquiries:
  a: {target: "superpopulation", parameter: "logit.satisfied.on_time"}
estimators:
  e:
    model: "logit"
    formula: "I(overall_satisfaction >= 4) ~ on_time"
    inquiries: {on_time: "a"}
"""


def test_yaml_overrides_merge_into_the_truth_and_plan(tmp_path):
    declaration = ev.Declaration.from_yaml(write(tmp_path, GOOD))
    truth = declaration.truth_object()
    assert truth.staff_slope_sd == 0.5
    assert truth.experience_effects["on_time"]["staff"] == 0.9
    assert truth.experience_effects["on_time"]["result"] == 1.2          # kept
    assert declaration.sampling_plan().respondents_per_unit == (300, 400)
    assert declaration.estimator("e").is_design_based


def test_yaml_errors_name_every_unknown_key(tmp_path):
    text = GOOD.replace('name: "t"', 'name: "t"\ncolour: "red"\npopulaton: {}')
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['colour', 'populaton'\]"):
        ev.Declaration.from_yaml(write(tmp_path, text))
    text = GOOD.replace('parameter: "logit', 'paramter: "x", parameter: "logit')
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['paramter'\] in inquiry 'a'"):
        ev.Declaration.from_yaml(write(tmp_path, text))
    text = GOOD.replace("staff_slope_sd: 0.5", "staff_slope_sdd: 0.5")
    with pytest.raises(ValueError, match=r"unknown truth field\(s\) \['staff_slope_sdd'\]"):
        ev.Declaration.from_yaml(write(tmp_path, text))


def test_yaml_errors_name_every_invalid_reference(tmp_path):
    text = GOOD.replace('inquiries: {on_time: "a"}', 'inquiries: {on_time: "b"}').replace(
        'model: "logit"', 'model: "probit"').replace('target: "superpopulation"',
                                                     'target: "superpop"')
    with pytest.raises(ValueError) as error:
        ev.Declaration.from_yaml(write(tmp_path, text))
    message = str(error.value)
    assert "target must be one of" in message and "'superpop'" in message
    assert "model must be one of" in message and "'probit'" in message
    assert "answered by no estimator" in message
    with pytest.raises(ValueError, match="does not exist"):
        ev.Declaration.from_yaml(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="cannot read"):
        ev.Declaration.from_yaml(write(tmp_path, "a: [1, 2"))


def test_unknown_parameter_of_the_truth_is_named_with_suggestions():
    declaration = ev.Declaration(
        inquiries={"a": {"target": "superpopulation", "parameter": "overall_weights.staf"}},
        estimators={"e": {"model": "logit", "formula": "I(overall_satisfaction >= 4) ~ on_time",
                          "inquiries": {"on_time": "a"}}})
    with pytest.raises(ValueError, match="did you mean overall_weights.staff"):
        ev.targets(declaration)


def test_fingerprint_ignores_names_and_run_settings():
    a = srs_declaration()
    b = a.updated(name="other", description="x", run={"n_sims": 5})
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != a.updated(population_size=10).fingerprint()


# --------------------------------------------------------------------------------------------
# Cross-validation
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def survey():
    from sipas_analysis import simulate
    data, _ = simulate.simulate_survey(years=[2024], seed=4,
                                       sampling=simulate.SamplingPlan(respondents_per_unit=(
                                           200, 200)))
    return data[data["used_service"].astype(bool)].reset_index(drop=True)


def test_kfold_keeps_psus_whole_and_balances_folds(survey):
    folds = ev.cv_folds(survey, scheme="kfold", k=5, cluster=["stratum", "psu"], seed=1)
    per_psu = pd.DataFrame({"psu": survey["stratum"] + "/" + survey["psu"], "fold": folds})
    assert (per_psu.groupby("psu")["fold"].nunique() == 1).all()
    counts = per_psu.drop_duplicates("psu")["fold"].value_counts()
    assert set(counts.index) == set(range(5)) and counts.max() - counts.min() <= 1
    lopo = ev.cv_folds(survey, scheme="province")
    assert (pd.Series(lopo).groupby(survey["province_code"]).nunique() == 1).all()
    assert len(np.unique(lopo)) == 63
    with pytest.raises(ValueError, match="scheme must be"):
        ev.cv_folds(survey, scheme="random")


def test_cross_validation_prefers_the_true_drivers_and_matches_the_base_rate(survey):
    specs = {"drivers": ("logit", "I(overall_satisfaction >= 4) ~ on_time + asked_extra_payment"
                                  " + n_visits"),
             "intercept": ("logit", "I(overall_satisfaction >= 4) ~ 1"),
             "scores": ("linear", "overall_satisfaction ~ staff_score + result_score"),
             "staff_only": ("linear", "overall_satisfaction ~ staff_score")}
    table = ev.cross_validate(survey, specs, scheme="kfold", k=5, cluster="psu", seed=0)
    assert list(table.columns) == ev.CV_COLUMNS
    get = table.set_index(["spec", "metric"])["estimate"]
    assert get[("drivers", "log_loss")] < get[("intercept", "log_loss")]
    assert get[("drivers", "brier")] < get[("intercept", "brier")]
    assert get[("scores", "rmse")] < get[("staff_only", "rmse")]
    # closed form: an intercept-only model predicts the training folds' base rate q_f, so on
    # fold f (rate p_f) the log loss is -(p_f log q_f + (1 - p_f) log(1 - q_f)) and the Brier
    # score p_f (1 - p_f) + (p_f - q_f)^2, pooled with the folds' weight shares
    answered = survey["overall_satisfaction"].notna().to_numpy()
    y = (survey["overall_satisfaction"] >= 4).to_numpy(float)[answered]
    w = survey["weight"].to_numpy()[answered]
    fold = ev.cv_folds(survey, scheme="kfold", k=5, cluster="psu", seed=0)[answered]
    loss = brier = 0.0
    for f in range(5):
        test, train = fold == f, fold != f
        p_f, q_f = np.average(y[test], weights=w[test]), np.average(y[train], weights=w[train])
        share = w[test].sum() / w.sum()
        loss += share * -(p_f * np.log(q_f) + (1 - p_f) * np.log(1 - q_f))
        brier += share * (p_f * (1 - p_f) + (p_f - q_f) ** 2)
    assert get[("intercept", "log_loss")] == pytest.approx(loss, rel=1e-9)
    assert get[("intercept", "brier")] == pytest.approx(brier, rel=1e-9)
    best = table[table["difference"] == 0]
    assert set(best["spec"]) == {"drivers", "scores"}
    lopo = ev.cross_validate(survey, {"drivers": specs["drivers"]}, scheme="province")
    assert (lopo["n_folds"] == 63).all()


def test_cross_validation_refuses_a_province_level_predictor_when_leaving_provinces_out(survey):
    with pytest.raises(ValueError, match="cannot predict a left-out province"):
        ev.cross_validate(survey, {"fe": ("linear", "overall_satisfaction ~ C(province_code)")},
                          scheme="province")


# --------------------------------------------------------------------------------------------
# Sample size
# --------------------------------------------------------------------------------------------
def test_sample_size_recovers_the_variance_model_and_solves_for_n():
    a, b = 0.2, 600.0                            # Var(n) = a + b / n, in pp^2
    sizes = np.array([250, 500, 1000])
    result = ev.sample_size(pd.DataFrame({"respondents": sizes, "sd": np.sqrt(a + b / sizes)}),
                            between_sd=3.3, difference=3.0, power=0.8)
    assert result.psu_variance == pytest.approx(a)
    assert result.respondent_variance == pytest.approx(b)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    needed = (3.0 / z) ** 2 / 2
    assert result.respondents_for_difference == pytest.approx(b / (needed - a))
    curve = result.curve.set_index("respondents")
    n = result.respondents_for_difference
    power_at_n = ev.sample_size(pd.DataFrame({"respondents": sizes,
                                              "sd": np.sqrt(a + b / sizes)}),
                                between_sd=3.3, sizes=[n]).curve["power_same_psus"].iloc[0]
    assert power_at_n == pytest.approx(0.8, abs=1e-6)
    assert curve["reliability_same_psus"].is_monotonic_increasing
    rel_needed = 3.3 ** 2 * 0.1 / 0.9
    assert result.respondents_for_ranking == pytest.approx(b / (rel_needed - a))
    # with a PSU floor above what is needed, only more PSUs help
    floor = ev.sample_size(pd.DataFrame({"respondents": sizes, "sd": np.sqrt(5 + b / sizes)}),
                           between_sd=3.3)
    assert math.isinf(floor.respondents_for_difference)
    assert math.isfinite(floor.respondents_for_difference_more_psus)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def test_cli_evaluate_writes_a_resumable_folder(tmp_path, capsys):
    path = write(tmp_path, """
name: "cli"
sampler: "tests.test_evaluate:srs_sampler"
run: {n_sims: 8, seed: 3}
inquiries:
  m: {target: "superpopulation", value: 2.0}
estimators:
  e: {model: "mean", formula: "y", inquiries: {y: "m"}}
""")
    out = tmp_path / "out"
    assert cli.cli_evaluate(path, out=out, progress=False) == 0
    printed = capsys.readouterr().out
    assert "8 simulation(s) computed" in printed and "coverage" in printed
    assert (out / "diagnosands.csv").exists() and (out / "declaration.json").exists()
    assert cli.cli_evaluate(path, out=out, n_sims=12, progress=False) == 0
    assert "4 simulation(s) computed, 8 read from the store" in capsys.readouterr().out
    with pytest.raises(ValueError, match="n_sims must be"):
        cli.cli_evaluate(path, out=out, n_sims=-1, progress=False)
    with pytest.raises(ValueError, match="does not exist"):
        cli.cli_evaluate(tmp_path / "nope.yaml", progress=False)


def test_folds_and_diagnosands_refuse_a_missing_seed():
    # seed=None would draw fresh entropy: two calls would give different folds
    data = pd.DataFrame({"psu": np.repeat(np.arange(20), 3)})
    with pytest.raises(ValueError, match="not None"):
        ev.cv_folds(data, scheme="kfold", k=5, cluster="psu", seed=None)
    np.testing.assert_array_equal(ev.cv_folds(data, scheme="kfold", k=5, cluster="psu", seed=4),
                                  ev.cv_folds(data, scheme="kfold", k=5, cluster="psu", seed=4))
