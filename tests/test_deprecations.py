"""The replicate count is called ``n_reps`` everywhere in the public API; ``n_boot``, its old
name, keeps working for one release with a DeprecationWarning that names the new one, and
gives the same numbers (the same seed, the same replicates)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sipas_analysis as sa
from sipas_analysis import evaluate as ev
from sipas_analysis.report import ReportSettings

WARNING = "n_boot= is deprecated; use n_reps="


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    data = pd.DataFrame(rng.normal(size=(120, 2)), columns=["x1", "x2"])
    data["y"] = data["x1"] + 0.5 * data["x2"] + rng.normal(size=120)
    data["psu"] = np.arange(120) // 4
    return data


def test_relative_importance(small):
    design = sa.SurveyDesign(small, psu="psu")
    new = sa.relative_importance("y ~ x1 + x2", design, n_reps=20, seed=1)
    with pytest.warns(DeprecationWarning, match=WARNING):
        old = sa.relative_importance("y ~ x1 + x2", design, n_boot=20, seed=1)
    pd.testing.assert_frame_equal(new.table, old.table)
    assert new.n_reps == old.n_reps == 20
    with pytest.warns(DeprecationWarning, match="ImportanceResult.n_boot"):
        assert new.n_boot == 20
    with pytest.raises(TypeError, match="not both n_reps= and n_boot="):
        sa.relative_importance("y ~ x1 + x2", design, n_reps=10, n_boot=20)


def test_small_area_index():
    units = pd.DataFrame({"unit": list("ABCDEF"), "unit_type": ["a"] * 3 + ["b"] * 3,
                          "estimate": [96.0, 92.0, 98.0, 88.0, 84.0, 91.0],
                          "n": [200, 150, 60, 40, 50, 45],
                          "n_eff": [150, 110, 50, 30, 40, 35]})
    new = sa.small_area_index(units, n_reps=30, seed=2).table
    with pytest.warns(DeprecationWarning, match=WARNING):
        old = sa.small_area_index(units, n_boot=30, seed=2).table
    pd.testing.assert_frame_equal(new, old)


def test_report_settings():
    with pytest.warns(DeprecationWarning, match=WARNING):
        old = ReportSettings(n_boot=10)
    assert old == ReportSettings(n_reps=10)
    assert "n_boot" not in old.as_dict() and old.as_dict()["n_reps"] == 10
    with pytest.warns(DeprecationWarning, match="ReportSettings.n_boot"):
        assert old.n_boot == 10


def test_evaluation_declarations_and_diagnosands():
    spec = {"model": "importance", "inquiries": {"share": "driver_share"},
            "formula": "overall_satisfaction ~ access_score + staff_score"}
    inquiries = {"driver_share": {"target": "census", "estimator": "imp", "term": "share"}}
    with pytest.warns(DeprecationWarning, match=WARNING):
        old = ev.Declaration(name="d", inquiries=inquiries,
                             estimators={"imp": {**spec, "n_boot": 7}})
    new = ev.Declaration(name="d", inquiries=inquiries, estimators={"imp": {**spec, "n_reps": 7}})
    assert old.estimator("imp") == new.estimator("imp")
    assert old.estimator("imp").to_dict()["n_reps"] == 7
    estimates = pd.DataFrame({
        "sim": np.repeat(np.arange(20), 1), "estimator": "e", "inquiry": "i", "term": "t",
        "unit": "", "kind": "value", "estimate": np.linspace(0, 1, 20), "std_error": 0.1,
        "ci_low": np.linspace(0, 1, 20) - 0.2, "ci_high": np.linspace(0, 1, 20) + 0.2,
        "p_value": 0.5, "target": 0.5, "target_se": 0.0})
    with pytest.warns(DeprecationWarning, match=WARNING):
        before = ev.diagnosands(estimates, n_boot=50)
    pd.testing.assert_frame_equal(before, ev.diagnosands(estimates, n_reps=50))
