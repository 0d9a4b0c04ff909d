"""Report wording, numbers written each language's way, parameters checked, suppression."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sipas_analysis import report


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
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['langg'\]"):
        report.ReportParams.from_namespace(namespace, before=before)
    namespace.pop("langg")
    assert report.ReportParams.from_namespace(namespace, before=before).year == 2024
