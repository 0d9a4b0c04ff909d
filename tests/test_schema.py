"""The data contract: one error that names every problem, typed output, nothing dropped."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sipas_analysis import schema
from sipas_analysis.schema import SurveyValidationError, validate_survey


def test_valid_frame_is_typed_and_keeps_every_row(valid_frame):
    out = validate_survey(valid_frame)
    assert len(out) == len(valid_frame)
    assert out["year"].dtype == "int64"
    assert isinstance(out["sex"].dtype, pd.CategoricalDtype)
    assert list(out["sex"].cat.categories) == list(schema.SEXES)
    assert out["used_service"].dtype == "boolean"
    for score, (factor, columns) in zip(schema.SCORE_COLUMNS, schema.FACTORS.items()):
        np.testing.assert_allclose(out[score], valid_frame[columns].mean(axis=1))


def test_input_frame_is_not_modified(valid_frame):
    before = valid_frame.copy()
    validate_survey(valid_frame)
    pd.testing.assert_frame_equal(valid_frame, before)


def test_every_problem_reported_at_once(valid_frame):
    bad = valid_frame.drop(columns=["channel"])
    bad.loc[3, "staff_polite"] = 7
    bad.loc[5, "staff_polite"] = 0
    bad.loc[4, "weight"] = -1.0
    bad.loc[6, "respondent_id"] = bad.loc[7, "respondent_id"]
    bad.loc[8, "province_code"] = "99"
    bad.loc[9, "sex"] = "unknown"
    with pytest.raises(SurveyValidationError) as caught:
        validate_survey(bad)
    problems = caught.value.problems.set_index("column")
    assert set(problems.index) >= {"channel", "staff_polite", "weight", "respondent_id",
                                   "province_code", "sex"}
    assert problems.loc["staff_polite", "n_rows"] == 2
    assert problems.loc["staff_polite", "rows"] == [4, 6]  # numbered from 1
    assert problems.loc["staff_polite", "values"] == [7.0, 0.0]
    assert problems.loc["respondent_id", "n_rows"] == 2
    assert problems.loc["province_code", "values"] == ["63/99"]
    message = str(caught.value)
    for column in ["channel", "staff_polite", "weight", "respondent_id", "province_code", "sex"]:
        assert column in message
    assert "required column is missing" in message


def test_many_bad_rows_are_counted_and_a_few_shown(valid_frame):
    bad = valid_frame.copy()
    bad["access_seating"] = 9.0
    with pytest.raises(SurveyValidationError) as caught:
        validate_survey(bad)
    row = caught.value.problems.iloc[0]
    assert row["n_rows"] == len(bad) and len(row["rows"]) == 5
    assert f"and {len(bad) - 5} more" in str(caught.value)


def test_missing_ratings_allowed_counted_not_dropped(valid_frame):
    frame = valid_frame.copy()
    frame.loc[[1, 2, 3], "feedback_resolved"] = np.nan
    out = validate_survey(frame)
    assert len(out) == len(frame)
    summary = schema.missing_summary(out).set_index("column")
    assert summary.loc["feedback_resolved", "n_missing"] == 3
    assert summary.loc["staff_polite", "n_missing"] == 0


def test_non_users_skip_service_questions_by_design(valid_frame):
    frame = valid_frame.copy()
    frame.loc[0, "used_service"] = False
    skipped = schema.SERVICE_COLUMNS
    frame.loc[0, skipped] = np.nan
    out = validate_survey(frame)
    summary = schema.missing_summary(out).set_index("column")
    assert summary.loc["staff_polite", "n_skipped_by_design"] == 1
    assert summary.loc["staff_polite", "n_missing"] == 0
    frame.loc[1, "used_service"] = False  # but row 1 still has answers
    with pytest.raises(SurveyValidationError, match="used no service"):
        validate_survey(frame)


def test_codes_keep_leading_zeros_and_unit_set_defaults_from_year(valid_frame):
    frame = valid_frame.drop(columns=["unit_set"])
    frame["province_code"] = 1  # a spreadsheet lost the leading zero of "01"
    frame["year"] = 2025
    frame["district_code"] = np.nan  # two-tier local government since 1 July 2025
    out = validate_survey(frame)
    assert (out["unit_set"] == "34").all() and (out["province_code"] == "01").all()
    frame["province_code"] = 2  # Hà Giang: merged into Tuyên Quang, no unit "02" after 2025
    with pytest.raises(SurveyValidationError, match="34/02"):
        validate_survey(frame)


def test_vietnamese_labels_are_mapped(valid_frame):
    frame = valid_frame.copy()
    frame["sex"] = ["Nữ" if i % 2 else "Nam" for i in range(len(frame))]
    frame["channel"] = "Trực tuyến"
    out = validate_survey(frame)
    assert set(out["sex"]) == {"female", "male"}
    assert (out["channel"] == "online").all()


def test_scores_given_must_match_their_ratings(valid_frame):
    frame = valid_frame.copy()
    frame["staff_score"] = frame[schema.FACTORS["staff"]].mean(axis=1)
    validate_survey(frame)
    frame.loc[2, "staff_score"] = 1.0 if frame.loc[2, "staff_score"] != 1.0 else 2.0
    with pytest.raises(SurveyValidationError, match="staff_score"):
        validate_survey(frame)
