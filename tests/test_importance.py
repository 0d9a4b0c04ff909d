"""Relative importance (LMG), dominance, bootstrap intervals and importance–performance tables.

References, test by test:
- published R output: relaimpo 2.2-7 ``calc.relimp(type = "lmg")`` on ``swiss`` (unweighted and
  weighted) and ``mtcars`` (tests/data/importance/SOURCES.md gives the provenance);
- closed forms: uncorrelated predictors (LMG = squared correlation), two predictors
  (LMG_1 = (R²(1) + R²(12) - R²(2)) / 2), sum of LMG = R²;
- brute force: every subset refitted with statsmodels WLS / GLM and averaged over orderings;
- exact identities: frequency weights = expanded data; design domain = subset of the data;
  the design bootstrap is LMG recomputed with ``SurveyDesign.bootstrap_weights`` columns.
The Rao–Wu replicate weights themselves are tested in tests/test_design.py.
"""
from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from sipas_analysis.design import SurveyDesign
from sipas_analysis.models import importance as imp

DATA = Path(__file__).parent / "data" / "importance"
SWISS_FORMULA = "Fertility ~ Agriculture + Examination + Education + Catholic + Infant_Mortality"


@pytest.fixture(scope="module")
def swiss() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "swiss.csv")
    frame.columns = [c.replace(".", "_") for c in frame.columns]
    return frame


def brute_force_lmg(y, columns: dict[str, np.ndarray], w=None) -> tuple[dict, float]:
    """LMG by refitting WLS on every subset of players and averaging over orderings."""
    names = list(columns)
    m = len(names)
    w = np.ones(len(y)) if w is None else w
    cache = {}

    def r2(subset):
        key = frozenset(subset)
        if not key:
            return 0.0
        if key not in cache:
            x = sm.add_constant(np.column_stack([columns[s] for s in names if s in key]))
            cache[key] = sm.WLS(y, x, weights=w).fit().rsquared
        return cache[key]

    out = {}
    for j in names:
        others = [x for x in names if x != j]
        total = 0.0
        for k in range(m):
            weight = math.factorial(k) * math.factorial(m - k - 1) / math.factorial(m)
            for subset in itertools.combinations(others, k):
                total += weight * (r2(subset + (j,)) - r2(subset))
        out[j] = total
    return out, r2(tuple(names))


def stratified_cluster_frame(seed=3, n_strata=15, psu_per_stratum=(2, 3, 5), rows_per_psu=20,
                             n_x=4) -> pd.DataFrame:
    """A stratified two-stage-looking sample with PSU effects in y and in the predictors."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice(psu_per_stratum, n_strata)
    stratum = np.repeat(np.arange(n_strata), sizes * rows_per_psu)
    psu = np.concatenate([np.repeat(np.arange(s), rows_per_psu) for s in sizes])
    n = stratum.size
    cluster = pd.factorize(stratum * 100 + psu)[0]
    effect = rng.normal(size=cluster.max() + 1)[cluster]
    x = rng.normal(size=(n, n_x)) + 0.6 * effect[:, None]
    y = x @ np.linspace(1.0, 0.2, n_x) + effect + rng.normal(size=n)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(n_x)])
    frame["y"] = y
    frame["stratum"] = [f"h{s:02d}" for s in stratum]
    frame["psu"] = psu
    frame["weight"] = rng.uniform(1, 4, n) * (1 + stratum % 3)
    return frame


# ----------------------------------------------------------------------- published R output
def test_swiss_matches_relaimpo(swiss):
    result = imp.relative_importance(SWISS_FORMULA, swiss)
    assert result.method == "lmg"
    assert result.n == 47 and result.n_dropped == 0
    assert result.r_squared == pytest.approx(0.706735001593, abs=1e-12)
    lmg = [0.0570912207681, 0.1711730289002, 0.2601346786244, 0.1055701503735, 0.1127659229265]
    rela = [0.0807816517357, 0.2422025632160, 0.3680795178364, 0.1493772773891, 0.1595589898228]
    table = result.table
    assert list(table["term"]) == ["Agriculture", "Examination", "Education", "Catholic",
                                   "Infant_Mortality"]
    np.testing.assert_allclose(table["lmg"], lmg, atol=1e-12)
    np.testing.assert_allclose(table["share"], rela, atol=1e-12)
    assert list(table["rank"]) == [5, 2, 1, 4, 3]
    assert table[["ci_low", "ci_high", "rank_low", "rank_high"]].isna().all().all()
    assert result.outrank["probability"].isna().all()


def test_swiss_weighted_matches_relaimpo_for_freq_weights_and_design(swiss):
    frame = swiss.assign(w=1 + np.arange(1, 48) % 3)
    lmg = [0.0518208063017, 0.1549452302086, 0.2559770835712, 0.1019573530969, 0.1296324182449]
    by_freq = imp.relative_importance(SWISS_FORMULA, frame, freq_weights="w")
    by_design = imp.relative_importance(SWISS_FORMULA, SurveyDesign(frame, weights="w"))
    for result in (by_freq, by_design):
        assert result.r_squared == pytest.approx(0.694332891423, abs=1e-12)
        np.testing.assert_allclose(result.table["lmg"], lmg, atol=1e-12)
    assert any("design weights" in note for note in by_design.notes)
    assert any("frequency weights" in note for note in by_freq.notes)
    # the second-hand relaimpo numbers, confirmed by refitting every subset (statsmodels WLS)
    terms = ["Agriculture", "Examination", "Education", "Catholic", "Infant_Mortality"]
    refit, r2 = brute_force_lmg(frame["Fertility"].to_numpy(float),
                                {t: frame[t].to_numpy(float) for t in terms},
                                w=frame["w"].to_numpy(float))
    np.testing.assert_allclose([refit[t] for t in terms], lmg, atol=1e-10)
    assert r2 == pytest.approx(0.694332891423, abs=1e-10)


def test_mtcars_matches_relaimpo():
    cars = pd.read_csv(DATA / "mtcars_subset.csv")
    result = imp.relative_importance("mpg ~ cyl + disp + hp + gear", cars)
    assert result.r_squared == pytest.approx(0.779189638983, abs=1e-12)
    np.testing.assert_allclose(result.table["lmg"],
                               [0.2470520332352, 0.2434995947956, 0.2109128995443,
                                0.0777251114079], atol=1e-12)


# ------------------------------------------------------------------------------ closed forms
def test_uncorrelated_predictors_get_their_squared_correlation():
    rng = np.random.default_rng(0)
    n = 200
    raw = rng.normal(size=(n, 4))
    centred = raw - raw.mean(axis=0)
    q, _ = np.linalg.qr(centred)          # exactly orthogonal, mean-zero columns
    x = q * 10
    y = x @ [0.5, 0.3, 0.2, 0.05] + rng.normal(size=n) * 0.2
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"]).assign(y=y)
    result = imp.relative_importance("y ~ a + b + c + d", frame)
    expected = [np.corrcoef(y, x[:, j])[0, 1] ** 2 for j in range(4)]
    np.testing.assert_allclose(result.table["lmg"], expected, atol=1e-12)
    assert result.table["lmg"].sum() == pytest.approx(result.r_squared, abs=1e-12)


def test_two_predictors_closed_form_and_sums():
    rng = np.random.default_rng(1)
    n = 300
    x1 = rng.normal(size=n)
    x2 = 0.6 * x1 + rng.normal(size=n)
    y = x1 + 0.5 * x2 + rng.normal(size=n)
    frame = pd.DataFrame({"y": y, "x1": x1, "x2": x2})
    result = imp.relative_importance("y ~ x1 + x2", frame)
    r2_1 = np.corrcoef(y, x1)[0, 1] ** 2
    r2_2 = np.corrcoef(y, x2)[0, 1] ** 2
    r2_12 = sm.OLS(y, sm.add_constant(np.column_stack([x1, x2]))).fit().rsquared
    lmg = result.table.set_index("term")["lmg"]
    assert lmg["x1"] == pytest.approx((r2_1 + r2_12 - r2_2) / 2, abs=1e-12)
    assert lmg["x2"] == pytest.approx((r2_2 + r2_12 - r2_1) / 2, abs=1e-12)
    assert result.r_squared == pytest.approx(r2_12, abs=1e-12)
    assert result.table["share"].sum() == pytest.approx(1.0, abs=1e-12)


# ------------------------------------------------------------------ brute force and groups
def test_six_weighted_predictors_match_brute_force_refits():
    rng = np.random.default_rng(2)
    n = 400
    common = rng.normal(size=n)
    x = rng.normal(size=(n, 6)) + 0.7 * common[:, None]
    y = x @ [0.9, 0.6, 0.4, 0.2, 0.1, 0.0] + rng.normal(size=n)
    w = rng.uniform(0.2, 5.0, n)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)]).assign(y=y, w=w)
    result = imp.relative_importance("y ~ " + " + ".join(f"x{i}" for i in range(6)), frame,
                                     freq_weights="w")
    expected, r2 = brute_force_lmg(y, {f"x{i}": x[:, i] for i in range(6)}, w)
    np.testing.assert_allclose(result.table["lmg"], list(expected.values()), atol=1e-10)
    assert result.r_squared == pytest.approx(r2, abs=1e-12)
    assert result.table["lmg"].sum() == pytest.approx(r2, abs=1e-12)


def test_groups_and_categoricals_are_players_of_several_columns():
    rng = np.random.default_rng(4)
    n = 500
    x = rng.normal(size=(n, 5)) + rng.normal(size=(n, 1))
    area = rng.choice(["north", "centre", "south"], n)
    y = x @ [0.8, 0.4, 0.3, 0.2, 0.1] + (area == "south") * 0.7 + rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, n)
    frame = pd.DataFrame(x, columns=["a1", "a2", "b1", "b2", "c"]).assign(y=y, area=area, w=w)
    grouped = imp.relative_importance("y ~ a1 + a2 + b1 + b2 + c + C(area)", frame,
                                      groups={"A": ["a1", "a2"], "B": ["b1", "b2"]},
                                      freq_weights="w")
    dummies = pd.get_dummies(frame["area"], drop_first=True).to_numpy(dtype=float)
    expected, r2 = brute_force_lmg(y, {"A": x[:, :2], "B": x[:, 2:4], "c": x[:, 4],
                                       "C(area)": dummies}, w)
    assert list(grouped.table["term"]) == ["A", "B", "c", "C(area)"]
    np.testing.assert_allclose(grouped.table["lmg"], list(expected.values()), atol=1e-10)
    assert grouped.players["C(area)"] == ["C(area)[T.north]", "C(area)[T.south]"]
    # A categorical is the same player as the group of its dummy columns.
    frame["d_north"], frame["d_south"] = dummies[:, 0], dummies[:, 1]
    as_group = imp.relative_importance("y ~ a1 + a2 + b1 + b2 + c + d_north + d_south", frame,
                                       groups={"A": ["a1", "a2"], "B": ["b1", "b2"],
                                               "C(area)": ["d_north", "d_south"]},
                                       freq_weights="w")
    np.testing.assert_allclose(as_group.table.set_index("term").loc[grouped.table["term"], "lmg"],
                               grouped.table["lmg"], atol=1e-12)


def test_fifteen_players_are_exact_and_fast():
    import time
    rng = np.random.default_rng(8)
    n, m = 2000, 15
    x = rng.normal(size=(n, m)) + rng.normal(size=(n, 1))
    y = x @ np.linspace(1, 0.05, m) + 2 * rng.normal(size=n)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(m)]).assign(y=y)
    formula = "y ~ " + " + ".join(frame.columns[:m])
    start = time.perf_counter()
    result = imp.relative_importance(formula, frame)
    assert time.perf_counter() - start < 3.0     # ~0.3 s; generous for a loaded CI machine
    assert result.table["lmg"].sum() == pytest.approx(result.r_squared, abs=1e-10)
    # the subset-R² engine against a direct solve for a few random subsets
    corr = np.corrcoef(np.column_stack([y, x]).T)
    table = imp._subset_r_squared(corr[None], [np.array([j + 1]) for j in range(m)])[0]
    for mask in rng.integers(1, 1 << m, 20):
        cols = [j + 1 for j in range(m) if (mask >> j) & 1]
        c = corr[0, cols]
        assert table[mask] == pytest.approx(c @ np.linalg.solve(corr[np.ix_(cols, cols)], c),
                                            abs=1e-12)


# ------------------------------------------------------------------- weights and missing rows
def test_frequency_weights_equal_the_expanded_data():
    rng = np.random.default_rng(5)
    n = 120
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    frame["y"] = frame @ [1.0, 0.5, 0.2] + rng.normal(size=n)
    frame["count"] = rng.integers(1, 5, n)
    weighted = imp.relative_importance("y ~ a + b + c", frame, freq_weights="count")
    expanded = imp.relative_importance("y ~ a + b + c",
                                       frame.loc[frame.index.repeat(frame["count"])])
    np.testing.assert_allclose(weighted.table["lmg"], expanded.table["lmg"], atol=1e-12)
    assert weighted.r_squared == pytest.approx(expanded.r_squared, abs=1e-12)


def test_missing_rows_are_dropped_and_counted(swiss):
    frame = swiss.copy()
    frame.loc[[0, 5, 9], "Catholic"] = np.nan
    frame.loc[9, "Education"] = np.nan
    frame.loc[20, "Fertility"] = np.nan
    result = imp.relative_importance(SWISS_FORMULA, frame)
    assert result.n == 43 and result.n_dropped == 4
    assert any("4 row(s) with a missing model variable" in note for note in result.notes)
    complete = imp.relative_importance(SWISS_FORMULA, frame.dropna())
    np.testing.assert_allclose(result.table["lmg"], complete.table["lmg"], atol=1e-14)


def test_design_domain_equals_weighted_subset():
    frame = stratified_cluster_frame()
    design = SurveyDesign(frame, weights="weight", strata="stratum", psu="psu")
    mask = (frame["x0"] > -0.5).to_numpy()
    in_domain = imp.relative_importance("y ~ x0 + x1 + x2 + x3", design.subset(mask))
    subset = imp.relative_importance("y ~ x0 + x1 + x2 + x3", frame[mask],
                                     freq_weights="weight")
    np.testing.assert_allclose(in_domain.table["lmg"], subset.table["lmg"], atol=1e-12)
    assert in_domain.n == int(mask.sum())


# ---------------------------------------------------------------------------- bootstrap
def test_bootstrap_same_seed_same_bytes_and_sane_intervals():
    frame = stratified_cluster_frame()
    design = SurveyDesign(frame, weights="weight", strata="stratum", psu="psu")
    formula = "y ~ x0 + x1 + x2 + x3"
    first = imp.relative_importance(formula, design, n_reps=60, seed=11)
    second = imp.relative_importance(formula, design, n_reps=60, seed=11)
    other = imp.relative_importance(formula, design, n_reps=60, seed=12)
    pd.testing.assert_frame_equal(first.table, second.table)
    pd.testing.assert_frame_equal(first.outrank, second.outrank)
    assert not first.table["ci_low"].equals(other.table["ci_low"])
    table = first.table
    assert (table["ci_low"] <= table["lmg"]).all() and (table["lmg"] <= table["ci_high"]).all()
    assert (table["rank_low"] <= table["rank"]).all()
    assert (table["rank"] <= table["rank_high"]).all()
    assert (table["share_ci_low"] <= table["share"]).all()
    outrank = first.outrank.set_index(["term", "other"])["probability"]
    # P(a > b) + P(b > a) = 1 when there are no ties
    assert outrank[("x0", "x3")] + outrank[("x3", "x0")] == pytest.approx(1.0)
    assert outrank[("x0", "x3")] > 0.9
    assert any("Rao–Wu" in note for note in first.notes)
    assert any("interval that excludes zero proves nothing" in note for note in first.notes)


def test_iid_bootstrap_with_frequency_weights_is_the_expanded_bootstrap(swiss):
    frame = swiss.assign(w=1 + np.arange(47) % 3)
    result = imp.relative_importance(SWISS_FORMULA, frame, freq_weights="w", n_reps=200, seed=1)
    assert result.table[["ci_low", "ci_high", "rank_low", "rank_high"]].notna().all().all()
    assert any("expanded data" in note for note in result.notes)
    # every replicate draws sum(w) respondents: the multipliers turn w into the counts
    w = frame["w"].to_numpy(dtype=float)
    (multipliers, _), = imp._iid_factor_chunks(w, 7, np.random.default_rng(0))
    counts = w[:, None] * multipliers                      # (rows, replicates)
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    np.testing.assert_allclose(counts.sum(axis=0), w.sum())


def test_design_bootstrap_is_lmg_with_the_design_replicate_weights():
    frame = stratified_cluster_frame(seed=6)
    design = SurveyDesign(frame, weights="weight", strata="stratum", psu="psu")
    formula = "y ~ x0 + x1 + x2"
    result = imp.relative_importance(formula, design, n_reps=40, seed=2)
    # replicate r is the point LMG of the data with weights = column r of bootstrap_weights
    reps = design.bootstrap_weights(n_reps=40, seed=2).astype(float)
    lmg = np.array([imp.relative_importance(formula, frame.assign(rw=reps[:, r]),
                                            freq_weights="rw").table["lmg"].to_numpy()
                    for r in range(40)])
    low, high = np.quantile(lmg, [0.025, 0.975], axis=0)
    # float32 replicate weights vs the float64 factors used inside: agree to ~1e-6
    np.testing.assert_allclose(result.table["ci_low"], low, rtol=1e-5)
    np.testing.assert_allclose(result.table["ci_high"], high, rtol=1e-5)


def test_rows_missing_a_variable_when_every_respondent_is_a_psu():
    """Each respondent its own PSU (no psu given, or the respondent id) and some rows missing
    a model variable: the fit and the bootstrap use the complete rows only, as when the
    complete-case domain is passed explicitly, and the replicates are the design's own."""
    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x0", "x1", "x2"])
    frame["y"] = frame["x0"] + 0.5 * frame["x1"] + rng.normal(size=n)
    frame["weight"] = rng.uniform(1, 4, n)
    frame["stratum"] = rng.choice(["north", "centre", "south"], n)
    frame["respondent_id"] = np.arange(n)
    frame.loc[rng.choice(n, 30, replace=False), "x1"] = np.nan
    frame.loc[rng.choice(n, 10, replace=False), "y"] = np.nan
    complete = frame[["y", "x0", "x1", "x2"]].notna().all(axis=1).to_numpy()
    formula = "y ~ x0 + x1 + x2"
    for psu in (None, "respondent_id"):
        design = SurveyDesign(frame, weights="weight", strata="stratum", psu=psu)
        result = imp.relative_importance(formula, design, n_reps=30, seed=4)
        explicit = imp.relative_importance(formula, design.subset(complete), n_reps=30, seed=4)
        pd.testing.assert_frame_equal(result.table, explicit.table)
        assert result.n == int(complete.sum()) and result.n_dropped == n - int(complete.sum())
        assert any(f"{n - int(complete.sum())} row(s) with a missing model variable" in note
                   for note in result.notes)
        # point estimates: the complete rows alone, as a design of their own
        alone = imp.relative_importance(formula, SurveyDesign(frame[complete], weights="weight",
                                                              strata="stratum", psu=psu))
        np.testing.assert_allclose(result.table["lmg"], alone.table["lmg"], atol=1e-12)
        # bootstrap: replicate r is the LMG with the design's replicate weights of column r
        reps = design.subset(complete).bootstrap_weights(n_reps=30, seed=4).astype(float)
        lmg = np.array([imp.relative_importance(formula, frame[complete].assign(
            rw=reps[complete, r]), freq_weights="rw").table["lmg"].to_numpy()
            for r in range(30)])
        low, high = np.quantile(lmg, [0.025, 0.975], axis=0)
        np.testing.assert_allclose(result.table["ci_low"], low, rtol=1e-5)
        np.testing.assert_allclose(result.table["ci_high"], high, rtol=1e-5)


def test_lonely_psu_fails_or_is_noted():
    frame = stratified_cluster_frame(seed=10)
    frame = frame[~((frame["stratum"] == "h00") & (frame["psu"] > 0))].reset_index(drop=True)
    strict = SurveyDesign(frame, weights="weight", strata="stratum", psu="psu")
    with pytest.raises(ValueError, match="h00"):
        imp.relative_importance("y ~ x0 + x1", strict, n_reps=5)
    lenient = SurveyDesign(frame, weights="weight", strata="stratum", psu="psu",
                           lonely_psu="remove")
    result = imp.relative_importance("y ~ x0 + x1", lenient, n_reps=5)
    assert any("1 stratum/strata with a single PSU keep" in note for note in result.notes)


# ---------------------------------------------------------------------------- dominance
def test_complete_dominance_constructed():
    rng = np.random.default_rng(12)
    n = 2000
    x1 = rng.normal(size=n)
    x2 = 0.3 * x1 + rng.normal(size=n)
    x3 = rng.normal(size=n)
    y = 1.0 * x1 + 0.2 * x2 + 0.5 * x3 + rng.normal(size=n)
    frame = pd.DataFrame({"y": y, "x1": x1, "x2": x2, "x3": x3})
    dom = imp.relative_importance("y ~ x1 + x2 + x3", frame).dominance
    dom = dom.set_index(["term", "other"])
    assert dom.loc[("x1", "x2")].tolist() == [True, True, True]
    assert dom.loc[("x2", "x1")].tolist() == [False, False, False]
    assert dom.loc[("x1", "x3")].tolist() == [True, True, True]


def test_dominance_levels_from_a_hand_made_table():
    # Players A (bit 0), B (bit 1), C (bit 2); R² by mask 0..7:
    #   {} 0, A .30, B .20, AB .32, C .10, AC .31, BC .28, ABC .40
    # A vs B: alone .30 > .20; with C: AC .31 > BC .28  -> A completely dominates B.
    # A vs C: alone .30 > .10 but with B: AB .32 > BC .28 -> complete too.
    # B vs C: alone .20 > .10; with A: AB .32 > AC .31 -> complete.
    r2 = np.array([0, .30, .20, .32, .10, .31, .28, .40])
    dom = imp._dominance(r2, ["A", "B", "C"]).set_index(["term", "other"])
    assert dom.loc[("A", "B"), "complete"] and dom.loc[("B", "C"), "complete"]
    # Now C adds a lot to B only: BC .45, ABC .50. A vs C given B: AB .32 < BC .45, so A does
    # not completely dominate C. Average gains by model size, A vs C:
    #   size 0: .30 vs .10; size 1: A (.12 + .21)/2 = .165 vs C (.01 + .25)/2 = .13;
    #   size 2: A .50 - .45 = .05 vs C .50 - .32 = .18
    # so neither dominates the other conditionally; general dominance compares the means
    # (.515/3 = .1717 vs .41/3 = .1367): A generally dominates C.
    r2 = np.array([0, .30, .20, .32, .10, .31, .45, .50])
    dom = imp._dominance(r2, ["A", "B", "C"]).set_index(["term", "other"])
    assert not dom.loc[("A", "C"), "complete"]
    assert not dom.loc[("A", "C"), "conditional"] and not dom.loc[("C", "A"), "conditional"]
    assert dom.loc[("A", "C"), "general"] and not dom.loc[("C", "A"), "general"]
    np.testing.assert_allclose(imp._shapley(r2, 3)[[0, 2]], [0.515 / 3, 0.41 / 3], atol=1e-12)


def test_dominance_hierarchy_on_random_data():
    rng = np.random.default_rng(13)
    for _ in range(5):
        n, m = 300, 5
        x = rng.normal(size=(n, m)) @ rng.normal(size=(m, m))
        y = x @ rng.normal(size=m) + rng.normal(size=n) * 3
        frame = pd.DataFrame(x, columns=list("abcde")).assign(y=y)
        dom = imp.relative_importance("y ~ a + b + c + d + e", frame).dominance
        # complete => conditional => general
        assert not (dom["complete"] & ~dom["conditional"]).any()
        assert not (dom["conditional"] & ~dom["general"]).any()


# ----------------------------------------------------------------------------- logit
def test_logit_mcfadden_matches_statsmodels_refits():
    rng = np.random.default_rng(14)
    n = 1500
    x = rng.normal(size=(n, 3))
    x[:, 1] += 0.5 * x[:, 0]
    area = rng.choice(["u", "v", "x"], n)
    eta = x @ [1.0, 0.5, -0.5] + (area == "x") * 0.4 - 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    w = rng.uniform(0.5, 2.0, n)
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(y=y, w=w, area=area)
    result = imp.relative_importance("y ~ a + b + c + C(area)", frame, freq_weights="w",
                                     family="logit")
    assert result.method == "lmg_mcfadden_refit"
    assert any("McFadden" in note for note in result.notes)
    dummies = pd.get_dummies(frame["area"], drop_first=True).to_numpy(dtype=float)
    players = {"a": x[:, [0]], "b": x[:, [1]], "c": x[:, [2]], "C(area)": dummies}
    null = sm.GLM(y, np.ones((n, 1)), family=sm.families.Binomial(), var_weights=w).fit().llf

    def mcfadden(subset):
        if not subset:
            return 0.0
        design = sm.add_constant(np.hstack([players[p] for p in subset]))
        fit = sm.GLM(y, design, family=sm.families.Binomial(), var_weights=w).fit(tol=1e-12)
        return 1 - fit.llf / null

    names = list(players)
    expected = []
    for j in names:
        others = [p for p in names if p != j]
        value = 0.0
        for k in range(len(names)):
            weight = math.factorial(k) * math.factorial(len(names) - k - 1) / math.factorial(
                len(names))
            for subset in itertools.combinations(others, k):
                value += weight * (mcfadden(list(subset) + [j]) - mcfadden(list(subset)))
        expected.append(value)
    np.testing.assert_allclose(result.table["lmg"], expected, atol=1e-8)
    assert result.r_squared == pytest.approx(mcfadden(names), abs=1e-8)


def test_logit_refuses_a_non_binary_outcome(swiss):
    with pytest.raises(ValueError, match="0/1 outcome"):
        imp.relative_importance(SWISS_FORMULA, swiss, family="logit")


# ---------------------------------------------------------------------------- errors
def test_errors_name_the_offending_things(swiss):
    with pytest.raises(ValueError, match=r"names terms not in the formula \['Nope'\]"):
        imp.relative_importance(SWISS_FORMULA, swiss, groups={"g": ["Agriculture", "Nope"]})
    with pytest.raises(ValueError, match="already in another group"):
        imp.relative_importance(SWISS_FORMULA, swiss, groups={"g": ["Agriculture"],
                                                              "h": ["Agriculture"]})
    with pytest.raises(ValueError, match="interaction"):
        imp.relative_importance("Fertility ~ Agriculture * Catholic", swiss)
    with pytest.raises(ValueError, match="intercept"):
        imp.relative_importance("Fertility ~ Agriculture + Catholic - 1", swiss)
    with pytest.raises(ValueError, match="collinear"):
        imp.relative_importance("Fertility ~ Agriculture + Catholic + twice",
                                swiss.assign(twice=2 * swiss["Agriculture"]))
    with pytest.raises(ValueError, match="method"):
        imp.relative_importance(SWISS_FORMULA, swiss, method="pmvd")
    with pytest.raises(ValueError, match="freq_weights is for a plain DataFrame"):
        imp.relative_importance(SWISS_FORMULA, SurveyDesign(swiss), freq_weights="x")


# ------------------------------------------------------------------------------- IPA
def test_ipa_quadrants_and_crosshair_rules():
    importance = pd.DataFrame({"term": ["staff", "procedure", "access", "result"],
                               "share": [0.4, 0.3, 0.1, 0.2]})
    performance = pd.DataFrame({
        "term": ["staff", "procedure", "access", "result", "overall"],
        "kind": ["factor", "factor", "factor", "factor", "overall"],
        "estimate": [70.0, 90.0, 60.0, 95.0, 80.0]})
    table = imp.ipa_table(importance, performance)
    assert list(table.columns) == imp.IPA_COLUMNS
    # mean importance .25, mean performance 78.75
    assert table["importance_crosshair"].iloc[0] == pytest.approx(0.25)
    assert table["performance_crosshair"].iloc[0] == pytest.approx(78.75)
    assert table.set_index("term")["quadrant"].to_dict() == {
        "staff": "concentrate_here", "procedure": "keep_up_the_good_work",
        "access": "low_priority", "result": "possible_overkill"}
    assert table["crosshair_rule"].iloc[0].startswith("mean")
    fixed = imp.ipa_table(importance, performance,
                          crosshair={"importance": 0.35, "performance": 65})
    assert fixed.set_index("term")["quadrant"]["procedure"] == "possible_overkill"
    assert fixed["crosshair_rule"].iloc[0] == "fixed: importance 0.35, performance 65"
    median = imp.ipa_table(importance, performance, crosshair="median")
    assert median["performance_crosshair"].iloc[0] == pytest.approx(80.0)


def test_ipa_from_an_importance_result_and_term_mismatch(swiss):
    result = imp.relative_importance(SWISS_FORMULA, swiss)
    performance = pd.DataFrame({"term": list(result.table["term"]),
                                "estimate": [60.0, 70.0, 80.0, 90.0, 50.0]})
    table = imp.ipa_table(result, performance)
    assert table["importance"].tolist() == result.table["share"].tolist()
    wrong = performance.assign(term=performance["term"].replace({"Catholic": "Religion"}))
    with pytest.raises(ValueError, match=r"only in importance \['Catholic'\]; only in "
                                         r"performance \['Religion'\]"):
        imp.ipa_table(result, wrong)


def test_missing_outcome_inside_an_expression_is_left_out_not_counted_as_zero():
    """A missing y inside I((y >= 4) * 1.0) must drop the row, as fit_logit does, never count
    as 0 (patsy would evaluate the comparison before dropping anything)."""
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x1": rng.normal(size=400), "x2": rng.normal(size=400)})
    frame["y"] = np.clip(np.round(3 + frame.x1 + rng.normal(size=400)), 1, 5)
    frame.loc[:99, "y"] = np.nan
    result = imp.relative_importance("I((y >= 4) * 1.0) ~ x1 + x2", frame)
    assert result.n == 300
    assert any("100 row(s) with a missing model variable" in note for note in result.notes)
