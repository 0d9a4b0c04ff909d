"""The numbers a report prints: intervals that stay in 0-100 with the unit's design df, one
suppression rule (with 0 % and 100 % cells handled) in every table, figure, workbook sheet
and index page, comparisons on t with the contrast's df, and nothing that moves with the
scale of the weights. References: ``intervals.proportion_interval`` (tested against R's
``svyciprop`` in test_intervals.py) and PSU/stratum counts made here from the raw rows."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sipas_analysis import plots, report, schema, simulate
from sipas_analysis.language import text
from sipas_analysis.intervals import proportion_interval
from sipas_analysis.report.sections import local_effect

FAST = report.ReportSettings(n_reps=10)
TINY = "04"            # the unit reduced to 12 respondents, every one of them satisfied


def _survey():
    survey, _ = simulate.simulate_survey(n=4000, years=[2024], seed=5)
    tiny = survey.index[survey["province_code"] == TINY]
    survey = survey.drop(tiny[12:]).reset_index(drop=True)
    rows = survey["province_code"] == TINY
    survey.loc[rows, schema.RATING_COLUMNS + ["overall_satisfaction"]] = 5
    return survey


@pytest.fixture(scope="module")
def shared_and_survey():
    survey = _survey()
    params = report.ReportParams(province_code="01", year=2024)
    return report.compute_shared(survey, params, data_hash="test", settings=FAST), survey


def _unit_df(survey: pd.DataFrame) -> pd.Series:
    """Each province's design df from the rows: its PSUs minus its strata."""
    groups = survey.groupby("province_code")
    psus = groups.apply(lambda g: len(g[["stratum", "psu"]].drop_duplicates()),
                        include_groups=False)
    return psus - groups["stratum"].nunique()


def test_report_intervals_are_korn_graubard_with_each_units_design_df(shared_and_survey):
    shared, survey = shared_and_survey
    units = shared.units
    expected_df = _unit_df(survey)
    assert (units["df"].to_numpy() == expected_df.loc[units["province_code"]].to_numpy()).all()
    # criteria: n / deff; factors and the overall index: the binomial-equivalent size
    low, high = proportion_interval(units["estimate"] / 100, units["std_error"] / 100,
                                    n=units["n"], n_eff=units["n_eff"], df=units["df"],
                                    method="beta")
    default_low, default_high = proportion_interval(
        units["estimate"] / 100, units["std_error"] / 100, n=units["n"], df=units["df"])
    composite = (units["kind"] != "criterion").to_numpy()
    low[composite], high[composite] = default_low[composite], default_high[composite]
    np.testing.assert_allclose(units["ci_low"], 100 * low, rtol=1e-12)
    np.testing.assert_allclose(units["ci_high"], 100 * high, rtol=1e-12)
    for table in (units, shared.national, shared.regions):
        assert ((table["ci_low"] >= 0) & (table["ci_high"] <= 100)).all()
    assert "Korn and Graubard" in " ".join(report.caveats(
        shared, report.ReportParams(province_code="79", year=2024, lang="en")))


def test_a_unit_of_twelve_all_satisfied_is_withheld_everywhere(shared_and_survey):
    """Twelve respondents at 100 %: no design effect (NaN), so NCHS takes n = 12 as the
    effective size, below 30. Its sipas_index row says small_sample; every output withholds
    it. (Before, an undefined n_eff passed `n_eff < 30` and "100 (100-100)" was printed.)"""
    shared, _ = shared_and_survey
    unit = shared.units[shared.units["province_code"] == TINY]
    assert (unit["estimate"] == 100).all() and unit["n_eff"].isna().all()
    assert unit["suppressed"].all() and unit["small_sample"].all()
    params = report.ReportParams(province_code=TINY, year=2024, lang="en")

    assert "not reliable enough to publish" in report.headline(shared, params)
    table = report.comparison_table(shared, params, kind="criterion")
    name = report.unit_name("63", TINY, "en")
    for column in (f"{name} (%)", text("ci", "en"), text("difference", "en"),
                   "p-value (Holm)"):
        assert set(table[column]) == {"—"}, column
    page = report.index_page_table(shared, "en").set_index("province_code").loc[TINY]
    for column in ("estimate", "ci", "rank"):
        assert page[text(column, "en")] == "—", column
    sheets = report.tables_for_workbook(shared, params)
    assert sheets["index"]["estimate"].isna().all() and sheets["index"]["n"].eq(12).all()
    assert sheets["versus_nation"]["p_adjusted"].isna().all()
    assert report.actions(shared, params) == []

    figure = report.PROVINCE_REPORT.figures()["ranking"].build(shared, params)
    labels = [t.get_text() for t in figure.findobj(plt.Text) if t.get_gid() == plots.RANK_LABEL_GID]
    plt.close(figure)
    rank = shared.ranks.set_index("province_code").loc[TINY]
    assert f"— ({int(rank['rank_low'])}–{int(rank['rank_high'])})" in labels


def test_the_suppression_flags_are_the_nchs_rules(shared_and_survey):
    """Recomputed here from the columns: effective size (n where undefined, at most n) below
    30, an interval 30 points wide or more, or wider than 5 points and 130 % of the estimate."""
    shared, _ = shared_and_survey
    for table in (shared.units, shared.national, shared.regions):
        size = np.minimum(table["n_eff"].fillna(table["n"]), table["n"])
        width = table["ci_high"] - table["ci_low"]
        expected = (size < 30) | (width >= 30) | ((width > 5) & (width / table["estimate"] > 1.3))
        assert (table["suppressed"] == expected).all()
    assert 0 < shared.units["suppressed"].sum() < len(shared.units)


def test_unit_versus_nation_tests_use_t_with_the_contrasts_satterthwaite_df(shared_and_survey):
    """A unit's contrast with the nation involves every stratum, but its variance is mostly the
    unit's own: its Satterthwaite df are near the unit's df, far below the nation's."""
    shared, survey = shared_and_survey
    versus = shared.versus_nation.dropna(subset=["p_value"])
    national_df = len(survey[["stratum", "psu"]].drop_duplicates()) - survey["stratum"].nunique()
    assert (versus["df"] <= national_df + 1e-9).all()
    unit_df = _unit_df(survey).loc[versus["group"]].to_numpy()
    assert np.median(versus["df"]) < 3 * np.median(unit_df) < national_df / 5
    statistic = versus["estimate"] / versus["std_error"]
    np.testing.assert_allclose(versus["p_value"], 2 * stats.t.sf(statistic.abs(), versus["df"]),
                               rtol=1e-10)


def test_the_national_effect_interval_uses_the_coefficients_design_df(shared_and_survey):
    shared, _ = shared_and_survey
    found = shared.multilevel_national.set_index("term").loc["staff_score"]
    estimate, low, high = local_effect.national_effect(shared)
    half = stats.t.ppf(0.975, found["design_df"]) * found["design_std_error"]
    assert np.isfinite(found["design_df"]) and found["design_df"] > 0
    assert (high - estimate) == pytest.approx(half, rel=1e-12)
    assert (estimate - low) == pytest.approx(half, rel=1e-12)


@pytest.mark.parametrize("scale", [1.001, 1000.0])
def test_nothing_a_report_prints_moves_with_the_scale_of_the_weights(shared_and_survey, scale):
    """Every weight times 1.001 or 1000: the same estimates, intervals, effective sizes,
    suppression, comparisons and rank sets (before, n/N-hat in the SRS variance moved a
    province's design effect from 2.2 to 2204 at 1.001, and so its suppression)."""
    shared, survey = shared_and_survey
    scaled = survey.assign(weight=survey["weight"] * scale)
    params = report.ReportParams(province_code="01", year=2024)
    other = report.compute_shared(scaled, params, data_hash="test", settings=FAST)
    columns = ["estimate", "std_error", "ci_low", "ci_high", "n_eff", "deff"]
    for name in ("units", "national", "regions"):
        a, b = getattr(shared, name), getattr(other, name)
        np.testing.assert_allclose(a[columns], b[columns], rtol=1e-8, equal_nan=True)
        assert (a["suppressed"] == b["suppressed"]).all()
    np.testing.assert_allclose(shared.versus_nation[["estimate", "std_error", "p_value"]],
                               other.versus_nation[["estimate", "std_error", "p_value"]],
                               rtol=1e-8, equal_nan=True)
    pd.testing.assert_frame_equal(shared.ranks, other.ranks, check_exact=False, rtol=1e-8)


def test_the_ranks_carry_the_tau_best_set_and_quartile_group_probabilities(shared_and_survey):
    shared, _ = shared_and_survey
    ranks = shared.ranks
    assert (ranks["could_be_top_5"] == (ranks["rank_low_simultaneous"] <= 5)).all()
    probabilities = ranks[[f"p_group_{g}" for g in range(1, 5)]]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    # the point estimate's quarter of the ranking is its quartile group
    p = len(ranks)
    point = ranks["estimate"].rank(ascending=False, method="first")
    assert (ranks["quartile_group"] == np.ceil(point * 4 / p)).all()


def test_the_simultaneous_adjustment_is_a_report_setting():
    survey = _survey()
    settings = report.ReportSettings(n_reps=10, p_adjust="simultaneous")
    params = report.ReportParams(province_code="79", year=2024, lang="en")
    shared = report.compute_shared(survey, params, data_hash="test", settings=settings)
    table = report.comparison_table(shared, params, kind="factor")
    assert "p-value (max-t)" in table.columns
    sheet = report.tables_for_workbook(shared, params)["versus_nation"]
    shown = sheet.dropna(subset=["p_value"])
    np.testing.assert_allclose(shown["p_adjusted"], shown["p_simultaneous"])
    assert (shown["p_adjusted"] >= shown["p_value"] - 0.01).all()
    with pytest.raises(ValueError, match="p_adjust must be one of"):
        report.ReportSettings(p_adjust="tukey")
    with pytest.raises(ValueError, match="ci_method must be one of"):
        report.ReportSettings(ci_method="wald")


def test_headline_sentence_carries_the_units_numbers(shared_and_survey):
    """The headline's numbers are the unit's row and rank set, formatted as the language
    writes them (computed here from the shared tables, not from the sentence's code)."""
    from sipas_analysis.language import format_interval, format_percent
    shared, _ = shared_and_survey
    shown = shared.units.query("term == 'overall' and not suppressed")
    code = str(shown.iloc[0]["province_code"])
    unit = shown.iloc[0]
    rank = shared.ranks.set_index("province_code").loc[code]
    for lang in ("vi", "en"):
        params = report.ReportParams(province_code=code, year=2024, lang=lang)
        sentence = report.headline(shared, params)
        assert format_percent(unit["estimate"], lang) in sentence
        assert format_interval(unit["ci_low"], unit["ci_high"], lang) in sentence
        low, high = int(rank["rank_low"]), int(rank["rank_high"])
        assert (f"{low}–{high}" if lang == "vi" else f"from {low} to {high}") in sentence
        assert report.unit_name("63", code, lang) in sentence


def test_breakdown_is_the_units_domain_of_the_national_design(shared_and_survey):
    """The breakdown table (from the shared results) shows, level by level, the estimate and
    interval of sipas_index on the unit's rows of the national design, with the suppression
    rule applied."""
    from sipas_analysis import indices
    from sipas_analysis.language import format_interval, format_number
    from sipas_analysis.report.shared import survey_design, year_survey
    shared, survey = shared_and_survey
    params = report.ReportParams(province_code="79", year=2024, lang="en")
    year = year_survey(survey, params)
    rows = ((year["province_code"] == "79") & year["agency_level"].notna()).to_numpy()
    expected = indices.sipas_index(survey_design(year).subset(rows), by="agency_level",
                                   ci_method="beta").query("term == 'overall'")
    flags = report.suppression_flags(expected, min_n_eff=30)
    table = report.breakdown(shared, params, by="agency_level")
    assert len(table) == len(expected)
    for shown, (_, row), hidden in zip(table.itertuples(index=False), expected.iterrows(), flags):
        if hidden:
            assert shown[2] == "—"
        else:
            assert shown[1] == format_number(row["estimate"], "en")
            assert shown[2] == format_interval(row["ci_low"], row["ci_high"], "en")


def test_local_regression_follows_the_units_own_design_df(shared_and_survey):
    """A unit's own regression is shown only with at least 30 design df of its service users
    (PSUs minus strata, counted here); below, the sentence names the df and the threshold."""
    shared, survey = shared_and_survey
    users = survey[survey["used_service"].astype(bool)]
    unit_df = _unit_df(users)
    for code in ("01", "79"):
        df, table = shared.local_models[code]
        assert df == unit_df.loc[code]
        params = report.ReportParams(province_code=code, year=2024, lang="en")
        shown, sentence = report.local_regression(shared, params)
        if df < 30:
            assert shown is None and f"are {df}, below the threshold of 30" in sentence
        else:
            assert shown is not None


def test_provenance_names_the_data_file_not_the_analysts_folders(shared_and_survey,
                                                                 tmp_path):
    shared, survey = shared_and_survey
    folder = tmp_path / "analyst" / "private"
    folder.mkdir(parents=True)
    data = folder / "survey_2024.parquet"
    survey.to_parquet(data)
    params = report.ReportParams(province_code="01", year=2024, data=str(data))
    rows = report.provenance(params, shared).set_index("item")["value"]
    assert rows["param.data"] == "survey_2024.parquet"
    assert not any(str(folder) in str(v) for v in rows)
    with pytest.raises(ValueError, match="from 2017 .* to 2100, got 2200"):
        report.ReportParams(province_code="01", year=2200)


def test_a_unit_with_only_zero_weights_does_not_stop_the_shared_results():
    """One respondent with weight 0 in a province: the national results are computed for the
    other units (that unit has no estimate), instead of one error stopping every report."""
    survey, _ = simulate.simulate_survey(n=4000, years=[2024], seed=5)
    tiny = survey.index[survey["province_code"] == TINY]
    survey = survey.drop(tiny[1:]).reset_index(drop=True)
    survey.loc[survey["province_code"] == TINY, "weight"] = 0.0
    params = report.ReportParams(province_code="01", year=2024)
    shared = report.compute_shared(survey, params, data_hash="test", settings=FAST)
    assert TINY not in set(shared.units["province_code"])
    assert len(shared.ranks) == survey["province_code"].nunique() - 1
    # that unit's report is one sentence saying so, in every cell and the workbook
    unit = report.ReportParams(province_code=TINY, year=2024, lang="en")
    shown = report.PROVINCE_REPORT.render(shared, unit)
    assert len(shown) == 2 and "has no respondent with a positive weight" in shown[1]
    assert list(report.tables_for_workbook(shared, unit)) == ["note"]
