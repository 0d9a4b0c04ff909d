"""PAR-index points: the linear rule and the bands against closed forms; the approximate
probability of another band against the normal distribution's closed form."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sipas_analysis.par_points import ParRule, par_table, write_par_workbook

BANDS = ParRule(maximum=25, rule="bands", bands=((80, 15), (90, 20), (95, 25)))


def _table(estimates, se, **extra):
    estimates, se = np.asarray(estimates, float), np.asarray(se, float)
    return pd.DataFrame({"unit": [f"u{i}" for i in range(len(estimates))],
                         "estimate": estimates, "std_error": se,
                         "ci_low": estimates - 1.96 * se, "ci_high": estimates + 1.96 * se,
                         **extra})


def test_linear_points_are_the_index_share_of_the_maximum():
    # a department at 86.24 % gets 21.56 of 25 points (as the press reports such scores)
    out = par_table(_table([86.24, 100.0, 0.0], [1.0, 0.0, 0.0]), ParRule(maximum=25))
    assert out["points"].tolist() == pytest.approx([21.56, 25.0, 0.0])
    assert out["points_low"].iloc[0] == pytest.approx(25 * (86.24 - 1.96) / 100)
    assert "p_band_differs" not in out


def test_bands_give_the_points_of_the_band_the_index_falls_in():
    out = par_table(_table([79.99, 80.0, 94.99, 95.0, np.nan], [1, 1, 1, 1, 1]), BANDS)
    assert out["points"].iloc[:4].tolist() == [0.0, 15.0, 20.0, 25.0]
    assert out["band"].tolist() == [0, 1, 2, 3, -1]
    assert np.isnan(out["points"].iloc[4]) and np.isnan(out["p_band_differs"].iloc[4])


def test_probability_of_another_band_matches_the_normal_closed_form():
    estimates, se = np.array([92.0, 94.5, 97.0]), np.array([1.5, 1.0, 0.8])
    out = par_table(_table(estimates, se), BANDS, n_draws=200_000, seed=3)
    # band [90, 95) for the first two, [95, 100] for the third
    expected = [stats.norm.cdf((90 - 92) / 1.5) + stats.norm.sf((95 - 92) / 1.5),
                stats.norm.cdf((90 - 94.5) / 1.0) + stats.norm.sf((95 - 94.5) / 1.0),
                stats.norm.cdf((95 - 97) / 0.8)]
    mc_se = np.sqrt(np.array(expected) * (1 - np.array(expected)) / 200_000)
    assert np.all(np.abs(out["p_band_differs"] - expected) < 4 * mc_se + 1e-12)


def test_t_draws_with_few_df_make_another_band_more_likely():
    normal = par_table(_table([92.0], [1.5]), BANDS, n_draws=100_000, seed=1)
    few_df = par_table(_table([92.0], [1.5], df=[4.0]), BANDS, n_draws=100_000, seed=1)
    expected = stats.t.cdf(-2 / 1.5, 4) + stats.t.sf(3 / 1.5, 4)
    assert few_df["p_band_differs"].iloc[0] == pytest.approx(expected, abs=0.006)
    assert few_df["p_band_differs"].iloc[0] > normal["p_band_differs"].iloc[0]


def test_same_seed_same_probabilities():
    a = par_table(_table([92.0, 96.0], [1.5, 2.0]), BANDS, seed=7)
    b = par_table(_table([92.0, 96.0], [1.5, 2.0]), BANDS, seed=7)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("rule, message", [
    (dict(maximum=0), "maximum points must be a number > 0"),
    (dict(rule="steps"), "rule must be one of"),
    (dict(rule="bands"), "needs at least one band"),
    (dict(rule="bands", bands=((90, 20), (80, 15))), "from the lowest index up"),
    (dict(rule="bands", bands=((80, 20), (90, 15))), "may not give fewer points"),
    (dict(maximum=10, rule="bands", bands=((80, 20),)), "give 0-10 points"),
])
def test_a_wrong_rule_is_refused(rule, message):
    with pytest.raises(ValueError, match=message):
        ParRule(**rule)


def test_codebook_par_and_the_command_line_maximum():
    par = {"max": 10, "rule": "bands", "bands": [{"from": 90, "points": 8}, {"from": 95,
                                                                              "points": 10}]}
    assert ParRule.from_codebook(par).points(np.array([96.0])).tolist() == [10.0]
    assert ParRule.from_codebook({"max": 10}, maximum=25).maximum == 25


def test_the_appraisal_workbook_is_in_the_reader_language(tmp_path):
    out = par_table(_table([92.0], [1.5]), BANDS)
    write_par_workbook(out, tmp_path / "par.xlsx", lang="vi")
    sheet = pd.read_excel(tmp_path / "par.xlsx", sheet_name=None)
    assert list(sheet) == ["Điểm CCHC"]
    assert {"Đơn vị", "Điểm", "Xác suất khác mức (xấp xỉ)"} <= set(sheet["Điểm CCHC"].columns)
    assert sheet["Điểm CCHC"]["Điểm"].iloc[0] == 20.0
