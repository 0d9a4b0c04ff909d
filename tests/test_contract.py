"""One column vocabulary (docs/architecture.md), held for every public function that returns a table.

Tables of estimates carry ``term, estimate, std_error, ci_low, ci_high`` and, where a test is
defined, ``statistic, p_value``; tables of another kind name their own columns in their
docstring, and those are checked here too. No table may use a synonym of the vocabulary.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sipas_analysis as sa

ESTIMATE = {"term", "estimate", "std_error", "ci_low", "ci_high"}
TEST = {"statistic", "p_value"}
SYNONYMS = {"se", "stderr", "std_err", "lower", "upper", "ci_lower", "ci_upper", "pvalue",
            "p", "coef", "coefficient", "t", "z", "conf_low", "conf_high", "value_se"}


@pytest.fixture(scope="module")
def sample():
    survey, _ = sa.simulate_survey(n=6000, seed=5, years=(2023, 2024))
    design = sa.SurveyDesign(survey, weights="weight", strata="stratum", psu="psu",
                             lonely_psu="adjust")
    users = survey[survey["used_service"].astype(bool)].reset_index(drop=True)
    user_design = sa.SurveyDesign(users, weights="weight", strata="stratum", psu="psu",
                                  lonely_psu="adjust")
    return survey, design, users, user_design


def _tables(sample):
    survey, design, users, user_design = sample
    facts = "staff_score + on_time + applied_online"
    ordinal = sa.fit_ordinal(f"overall_satisfaction ~ {facts}", user_design)
    logit = sa.fit_logit(f"I(overall_satisfaction >= 4) ~ {facts}", user_design)
    complete = users.dropna(subset=["overall_satisfaction", "staff_score", "on_time",
                                    "applied_online"])
    multilevel = sa.fit_multilevel(f"overall_satisfaction ~ {facts}", complete)
    index = sa.sipas_index(design, by="province_code")
    overall = index[(index["kind"] == "overall")]
    importance = sa.relative_importance("overall_satisfaction ~ staff_score + access_score",
                                        user_design, n_reps=20, seed=0)
    papi = sa.load_papi()
    imputed = sa.impute_ratings(design, m=2, iterations=2, seed=0)
    estimates = {
        "design.mean": design.mean(["on_time"], na_rm=True),
        "design.total": design.total("weight"),
        "design.ratio": design.ratio("on_time", "applied_online", na_rm=True),
        "design.by": design.by("on_time", "year", na_rm=True),
        "sipas_index": index,
        "tidy(linear)": sa.tidy(sa.fit_linear(f"overall_satisfaction ~ {facts}", user_design)),
        "tidy(logit)": sa.tidy(logit),
        "tidy(ordinal)": sa.tidy(ordinal),
        "tidy(odds ratios)": sa.tidy(ordinal, exponentiate=True),
        "tidy(multilevel)": sa.tidy(multilevel),
        "tidy(panel)": sa.tidy(sa.fit_panel("d5 ~ d8", papi[papi["year"] >= 2018])),
        "average_marginal_effects": sa.average_marginal_effects(logit),
        "multilevel group effects": multilevel.extra["group_effects"],
        "MultipleImputation.sipas_index": imputed.sipas_index(by="province_code"),
        "MultipleImputation.mean": imputed.mean("staff_polite", na_rm=True),
        "pool_imputations": sa.pool_imputations(
            [d.mean("staff_polite", na_rm=True, df=True) for d in imputed.designs]),
    }
    tests = {
        "compare_indices": sa.compare_indices(design, between="year", values=(2023, 2024)),
        "tidy(linear)": estimates["tidy(linear)"],
        "tidy(ordinal)": estimates["tidy(ordinal)"],
        "average_marginal_effects": estimates["average_marginal_effects"],
        "parallel_lines_test": sa.parallel_lines_test(ordinal),
    }
    own = {   # tables of another kind: the columns their docstrings name
        "rank_units": (sa.rank_units(overall, unit="province_code", seed=0),
                       ["province_code", "estimate", "std_error", "rank", "rank_low",
                        "rank_high", "level", "method"]),
        "relative_importance": (importance.table,
                                ["term", "lmg", "share", "ci_low", "ci_high", "rank",
                                 "rank_low", "rank_high", "share_ci_low", "share_ci_high"]),
        "ipa_table": (sa.ipa_table(importance.table, pd.DataFrame(
            {"term": ["staff_score", "access_score"], "estimate": [80.0, 75.0]})),
                      ["term", "importance", "performance", "quadrant",
                       "importance_crosshair", "performance_crosshair", "crosshair_rule"]),
        "glance": (sa.glance(ordinal).iloc[:, :5], ["model", "formula", "n", "df", "variance"]),
        "load_papi": (papi[["unit_set", "province_code", "year", "d1", "d5", "d8", "total"]],
                      ["unit_set", "province_code", "year", "d1", "d5", "d8", "total"]),
        "MultipleImputation.imputed_share": (
            imputed.imputed_share(),
            ["term", "kind", "factor", "n_answered", "n_imputed", "n_no_opinion",
             "n_by_design", "share_imputed"]),
        "missing_summary": (sa.missing_summary(survey),
                            ["column", "factor", "n_missing", "n_skipped_by_design",
                             "share_missing"]),
    }
    return estimates, tests, own


@pytest.fixture(scope="module")
def tables(sample):
    return _tables(sample)


def test_estimate_tables_share_the_vocabulary(tables):
    estimates, _, _ = tables
    for name, table in estimates.items():
        assert ESTIMATE <= set(table.columns), (name, ESTIMATE - set(table.columns))
        assert np.isfinite(table["estimate"].to_numpy(dtype=float)).any(), name


def test_tables_with_a_test_carry_statistic_and_p_value(tables):
    _, tests, _ = tables
    for name, table in tests.items():
        assert TEST <= set(table.columns), (name, TEST - set(table.columns))
        p = table["p_value"].to_numpy(dtype=float)
        assert ((p >= 0) & (p <= 1)).all(), name


def test_other_tables_have_their_documented_columns(tables):
    _, _, own = tables
    for name, (table, columns) in own.items():
        assert list(table.columns)[:len(columns)] == columns, (name, list(table.columns))


def test_no_table_uses_a_synonym(tables):
    estimates, tests, own = tables
    every = list(estimates.items()) + list(tests.items()) + [(k, v[0]) for k, v in own.items()]
    for name, table in every:
        bad = {c.lower() for c in table.columns} & SYNONYMS
        assert not bad, (name, bad)


def test_nothing_is_hung_on_dataframes(tables):
    """Results are tables and result objects; nothing rides along in DataFrame.attrs."""
    estimates, tests, own = tables
    for name, table in list(estimates.items()) + list(tests.items()):
        assert table.attrs == {}, name
