"""One form for a missing column: every entry point that reads columns by name raises
``MissingColumnError`` (a ValueError and a KeyError) naming all the missing columns at once,
after a prefix that says what was being checked (docs/architecture.md, "Errors")."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sipas_analysis as sa
from sipas_analysis import evaluate, indices, plots, schema
from sipas_analysis.schema import MissingColumnError

TWO = {"f1": ["c1", "c2"], "f2": ["c3"]}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 40
    return pd.DataFrame({
        "stratum": np.repeat([1, 2], n // 2), "psu": np.tile(np.repeat([1, 2, 3, 4], 5), 2),
        "w": rng.uniform(1, 3, n), "y": rng.normal(size=n), "x": rng.normal(size=n),
        "g": np.tile(["a", "b"], n // 2), "year": np.repeat([2023, 2024], n // 2),
        "c1": rng.integers(1, 6, n).astype(float), "c2": rng.integers(1, 6, n).astype(float),
        "c3": rng.integers(1, 6, n).astype(float),
    })


@pytest.fixture(scope="module")
def design(data):
    return sa.SurveyDesign(data, weights="w", strata="stratum", psu="psu")


def _raises(call, prefix: str, columns: list[str]) -> MissingColumnError:
    with pytest.raises(MissingColumnError) as caught:
        call()
    error = caught.value
    message = str(error)
    assert message.startswith(prefix), message
    assert not message.startswith(("'", '"')), "printed without KeyError's quotes"
    assert sorted(error.columns) == sorted(columns)
    for column in columns:
        assert repr(column) in message, (column, message)
    return error


def test_the_error_is_a_value_error_and_a_key_error():
    error = MissingColumnError("f: the data lacks column(s) ['a']", ["a"])
    assert isinstance(error, ValueError) and isinstance(error, KeyError)
    assert str(error) == "f: the data lacks column(s) ['a']"
    assert sa.MissingColumnError is MissingColumnError and "MissingColumnError" in sa.__all__
    with pytest.raises(KeyError):
        schema.require_columns(pd.DataFrame({"a": [1]}), ["a", "b"], "f")
    schema.require_columns(pd.DataFrame({"a": [1]}), ["a"], "f")   # nothing missing


def test_survey_design_names_every_missing_design_column(data):
    error = _raises(lambda: sa.SurveyDesign(data, weights="wt", strata="s", psu=["psu", "ssu"],
                                            fpc="n_pop"),
                    "SurveyDesign: the data lacks column(s)", ["wt", "s", "ssu", "n_pop"])
    assert "weights column 'wt'" in str(error) and "fpc column 'n_pop'" in str(error)


@pytest.mark.parametrize("method, call", [
    ("mean", lambda d: d.mean(["y", "a", "b"])),
    ("total", lambda d: d.total(["a", "y", "b"])),
    ("ratio", lambda d: d.ratio("a", "b")),
    ("by", lambda d: d.by(["a", "y"], ["b", "g"])),
])
def test_design_estimators_name_every_missing_variable(design, method, call):
    _raises(lambda: call(design), f"SurveyDesign.{method}: the data lacks column(s)", ["a", "b"])


def test_indices_name_every_missing_rating_and_by_column(design, data):
    factors = {"f1": ["c1", "c9"], "f2": ["c3", "c8"]}
    _raises(lambda: sa.sipas_index(design, by=["g", "region"], factors=factors),
            "sipas_index settings are invalid", ["region", "c9", "c8"])
    _raises(lambda: sa.compare_indices(design, between="wave", values=(1, 2), factors=factors),
            "sipas_index settings are invalid", ["wave", "c9", "c8"])
    _raises(lambda: indices.sipas_index_vcov(design, by="region", factors=TWO),
            "sipas_index settings are invalid", ["region"])
    table = sa.sipas_index(design, by="g", factors=TWO)
    _raises(lambda: sa.rank_units(table.drop(columns=["std_error"]), unit=["g", "unit_set"]),
            "rank_units:", ["std_error", "unit_set"])
    _raises(lambda: sa.rank_units(table[table.term == "overall"], unit="g", df="psus"),
            "rank_units: df column", ["psus"])


@pytest.mark.parametrize("fit", [sa.fit_linear, sa.fit_logit, sa.fit_ordinal])
def test_regressions_name_every_missing_formula_column(design, data, fit):
    name = fit.__name__
    _raises(lambda: fit("y ~ x + z + C(region)", design), f"{name}: the data lacks column(s)",
            ["z", "region"])
    error = _raises(lambda: fit("y ~ x + z", data, freq_weights="count"),
                    f"{name}: the data lacks column(s)", ["count", "z"])
    assert "freq_weights column 'count'" in str(error)


def test_formula_functions_are_not_taken_for_columns(data):
    """A patsy function with a long name (center, standardize) is not a missing column."""
    result = sa.fit_linear("y ~ center(x) + standardize(c1)", data)
    assert list(result.params.index) == ["Intercept", "center(x)", "standardize(c1)"]
    assert sa.fit_linear("y ~ C(g, Treatment(reference='b'))", data).params.size == 2


def test_multilevel_and_panel_name_every_missing_column(data):
    _raises(lambda: sa.fit_multilevel("y ~ x + z", data, groups="province", re_formula="~q"),
            "fit_multilevel: the data lacks column(s)", ["province", "z", "q"])
    error = _raises(lambda: sa.fit_panel("y ~ x + z", data, entity="province", time="year",
                                         effects="bad"),
                    "fit_panel: effects must be one of", ["province", "z"])
    assert "the panel lacks column(s)" in str(error)


def test_importance_names_every_missing_column(design, data):
    _raises(lambda: sa.relative_importance("y ~ x + z + q", design),
            "relative_importance: the data lacks column(s)", ["z", "q"])
    _raises(lambda: sa.relative_importance("y ~ x + z", data, freq_weights="count"),
            "relative_importance: the data lacks column(s)", ["count", "z"])
    _raises(lambda: sa.ipa_table(pd.DataFrame({"term": ["a"]}), pd.DataFrame({"x": [1.0]})),
            "ipa_table: the importance table lacks column(s)", ["share", "term", "estimate"])


def test_evaluation_and_plots_name_missing_columns(data):
    _raises(lambda: evaluate.cv_folds(data, scheme="kfold", cluster=["stratum", "cluster"],
                                      seed=0),
            "cv_folds: the data lacks column(s)", ["cluster"])
    _raises(lambda: evaluate.diagnosands(pd.DataFrame({"estimator": [], "inquiry": []})),
            "diagnosands: the estimates lack column(s)",
            sorted(set(evaluate.ESTIMATE_COLUMNS) - {"seconds", "error", "estimator",
                                                     "inquiry"}))
    _raises(lambda: plots._require(pd.DataFrame({"term": []}), ["term", "estimate", "ci_low"],
                                   "plot_estimates", "table"),
            "plot_estimates: `table` lacks column(s)", ["estimate", "ci_low"])
