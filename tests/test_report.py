"""Report wording, numbers written each language's way, parameters checked, suppression."""
from __future__ import annotations

import types

import matplotlib
import numpy as np
import pandas as pd
import pytest

from sipas_analysis import plots, report


@pytest.mark.parametrize("value, lang, expected", [
    (85.149, "vi", "85,15"), (85.149, "en", "85.15"), (1250, "vi", "1.250,00"),
    (1234567.891, "en", "1,234,567.89"), (float("nan"), "vi", "—"), (-3.5, "vi", "-3,50")])
def test_format_number(value, lang, expected):
    assert report.format_number(value, lang) == expected


def test_percent_and_count_follow_the_language():
    assert report.format_percent(85.15, "vi") == "85,15 %"
    assert report.format_percent(85.15, "en") == "85.15 %"
    assert report.format_count(1250, "vi") + " " + report.text("respondents", "vi") == \
        "1.250 người trả lời"
    assert report.format_count(1250, "en") == "1,250"
    with pytest.raises(ValueError, match="lang must be one of"):
        report.format_number(1.0, "fr")


def test_every_text_exists_in_both_languages():
    for key, versions in report.TEXT.items():
        assert set(versions) == {"vi", "en"}, key
        assert versions["vi"] != versions["en"], key


def test_suppression_blanks_but_keeps_rows():
    table = pd.DataFrame({"estimate": [80.0, 90.0], "ci_low": [75, 85], "ci_high": [85, 95],
                          "n_eff": [50.0, 500.0]})
    out = report.suppress_small(table, min_n_eff=100)
    assert len(out) == 2
    assert np.isnan(out.loc[0, "estimate"]) and out.loc[1, "estimate"] == 90.0
    assert out["suppressed"].tolist() == [True, False]


def test_report_params_are_checked():
    params = report.ReportParams(province_code="01", year=2024)
    assert params.unit_set == "63" and params.lang == "vi"
    assert report.ReportParams(province_code="01", year=2025).unit_set == "34"
    with pytest.raises(ValueError, match="year must be int"):
        report.ReportParams(province_code="01", year="2024")
    with pytest.raises(ValueError, match="not a unit of the 34-unit set"):
        report.ReportParams(province_code="02", year=2025)
    with pytest.raises(ValueError, match="lang must be one of"):
        report.ReportParams(province_code="01", year=2024, lang="fr")


def test_unknown_notebook_parameter_is_refused():
    before = {"sa"}
    namespace = {"sa": None, "province_code": "01", "year": 2024, "langg": "en"}
    with pytest.raises(ValueError, match=r"unknown parameter 'langg'"):
        report.ReportParams.from_namespace(namespace, before=before)
    namespace.pop("langg")
    assert report.ReportParams.from_namespace(namespace, before=before).year == 2024


# --------------------------------------------------------------------------------- figures
def _national_tables(estimate=0.425):
    """Hand-built tables of the two national figures (drivers, importance)."""
    ame = pd.DataFrame({"term": ["staff_score", "on_time"], "estimate": [estimate, 0.1],
                        "ci_low": [estimate - 0.1, 0.0], "ci_high": [estimate + 0.1, 0.2]})
    importance = pd.DataFrame({"term": ["staff_score", "procedure_score"], "lmg": [0.2, 0.1],
                               "share": [2 / 3, 1 / 3]})
    ipa = pd.DataFrame({"term": ["staff_score", "procedure_score"], "importance": [0.6, 0.3],
                        "performance": [80.0, 70.0],
                        "quadrant": ["keep_up_the_good_work", "low_priority"],
                        "importance_crosshair": 0.45, "performance_crosshair": 75.0})
    return types.SimpleNamespace(ame=ame, importance=importance, ipa=ipa, synthetic=False)


def test_national_figures_are_drawn_once_and_equal_a_fresh_drawing():
    shared, params = _national_tables(), report.ReportParams(province_code="01", year=2024)
    first = report.figure("drivers", shared, params)
    fresh = plots.render(report.FIGURES["drivers"].build(shared, params)).svg
    assert first.svg == fresh
    # another unit's report (same tables) gets the same drawing, not a new one
    other = report.ReportParams(province_code="79", year=2024)
    assert report.figure("drivers", shared, other) is first


def test_a_national_figure_is_drawn_again_when_what_it_shows_changes():
    shared, params = _national_tables(), report.ReportParams(province_code="01", year=2024)
    first = report.figure("importance", shared, params)
    changed = _national_tables()
    changed.ipa = changed.ipa.assign(performance=[81.0, 70.0])
    assert report.figure("importance", changed, params).svg != first.svg
    english = report.ReportParams(province_code="01", year=2024, lang="en")
    assert report.figure("importance", shared, english).svg != first.svg
    with matplotlib.rc_context({"font.size": 14}):
        assert report.figure("importance", shared, params).svg != first.svg
    assert report.figure("importance", shared, params) is first
    assert report.figure("drivers", _national_tables(0.3), params).svg != \
        report.figure("drivers", shared, params).svg


def test_unknown_figure_is_named():
    with pytest.raises(ValueError, match="unknown figure 'mapp'; choose one of .*'ranking'"):
        report.figure("mapp", _national_tables(), report.ReportParams(province_code="01",
                                                                      year=2024))


def test_a_province_code_read_as_a_number_is_the_code():
    # papermill's `-p province_code 01` gives the int 1
    namespace = {"province_code": 1, "year": 2024}
    params = report.ReportParams.from_namespace(namespace, before=set())
    assert params.province_code == "01"
    assert report.ReportParams(province_code=79, year=2024).province_code == "79"
