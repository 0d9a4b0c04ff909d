"""Figures tested by what was drawn (as seaborn's own tests do): artists, their data, colours,
and the words and numbers on the canvas in each language. Input tables are built by hand."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib._pylab_helpers import Gcf  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from sipas_analysis import language, plots  # noqa: E402

# A missing glyph (e.g. a Vietnamese letter the font lacks) is a warning at draw time: fail on it.
pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture
def ax():
    fig, axes = plt.subplots(figsize=(6, 8))
    yield axes
    plt.close(fig)


def unit_labels(ax) -> list[str]:
    """The unit names of a caterpillar figure, bottom to top."""
    named = [t for t in ax.texts if t.get_gid() == plots.UNIT_LABEL_GID]
    return [t.get_text() for t in sorted(named, key=lambda t: t.get_position()[1])]


def drawn_text(ax) -> list[str]:
    """Every string on the drawn canvas: ticks, labels, title, texts, legend."""
    ax.figure.canvas.draw()
    strings = [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    strings += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title()]
    strings += [t.get_text() for t in ax.texts]
    legend = ax.get_legend()
    if legend is not None:
        strings += [t.get_text() for t in legend.get_texts()]
    return strings


def points(ax) -> list[PathCollection]:
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def segments(ax) -> list[LineCollection]:
    return [c for c in ax.collections if isinstance(c, LineCollection)]


def index_table() -> pd.DataFrame:
    """Overall index of four provinces (Hà Nội 01, Đà Nẵng 48, TP. Hồ Chí Minh 79, Cần Thơ 92)."""
    return pd.DataFrame({
        "unit_set": "63", "province_code": ["01", "48", "79", "92"], "year": 2024,
        "term": "overall", "kind": "overall", "factor": "",
        "estimate": [85.15, 88.40, 82.10, 86.75], "std_error": [1.2, 1.1, 1.4, 2.0],
        "ci_low": [82.80, 86.24, 79.36, 82.83], "ci_high": [87.50, 90.56, 84.84, 90.67],
        "n": [580, 575, 590, 120], "n_eff": [300.0, 310.0, 290.0, 60.0],
        "deff": [1.9, 1.8, 2.0, 2.0], "small_sample": [False, False, False, True]})


def ranks_table() -> pd.DataFrame:
    return pd.DataFrame({"province_code": ["01", "48", "79", "92"],
                         "estimate": [85.15, 88.40, 82.10, 86.75],
                         "std_error": [1.2, 1.1, 1.4, 2.0], "rank": [3, 1, 4, 2],
                         "rank_low": [2, 1, 3, 1], "rank_high": [4, 2, 4, 3],
                         "level": 0.95, "method": "marginal"})


# ------------------------------------------------------------------------------ formatting
def test_formatter_writes_decimals_the_language_way():
    vi, en = plots.LangFormatter("vi"), plots.LangFormatter("en")
    ticks = [84.5, 85.0, 85.5, 1250.0]
    assert vi.format_ticks(ticks) == ["84,5", "85,0", "85,5", "1.250,0"]
    assert en.format_ticks(ticks) == ["84.5", "85.0", "85.5", "1,250.0"]
    assert vi.format_ticks([80.0, 85.0, 90.0]) == ["80", "85", "90"]
    assert vi.format_ticks([0.05, 0.10, 0.15]) == ["0,05", "0,10", "0,15"]
    assert vi.format_ticks([-0.0000000001, 1.0]) == ["0", "1"]  # no "-0"


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_new_text_key_has_both_languages(lang):
    for key, words in language.TEXT.items():
        assert words.get(lang), key


# ------------------------------------------------------------------------- unit ranking
def test_unit_ranking_draws_sorted_estimates_and_intervals(ax):
    index = index_table()
    plots.plot_unit_ranking(index, highlight="01", ax=ax)
    (dots,), (bars,) = points(ax), segments(ax)
    order = index.sort_values("estimate")
    np.testing.assert_allclose(dots.get_offsets()[:, 0], order["estimate"])
    np.testing.assert_allclose(dots.get_offsets()[:, 1], np.arange(4))
    ends = np.array([[s[0][0], s[1][0]] for s in bars.get_segments()])
    np.testing.assert_allclose(ends, order[["ci_low", "ci_high"]].to_numpy())
    assert unit_labels(ax) == ["Hồ Chí Minh", "Hà Nội", "Cần Thơ", "Đà Nẵng"]  # bottom to top
    assert list(ax.get_yticks()) == []  # the names are texts, not 63 ticks


def test_unit_ranking_highlight_colour_differs(ax):
    plots.plot_unit_ranking(index_table(), highlight="01", ax=ax)
    edges = points(ax)[0].get_edgecolors()
    # sorted order: 79, 01, 92, 48 -> Hà Nội is the second row
    assert tuple(edges[1]) == to_rgba(plots.HIGHLIGHT)
    assert all(tuple(edges[i]) != to_rgba(plots.HIGHLIGHT) for i in (0, 2, 3))
    bold = [t for t in ax.texts if t.get_gid() == plots.UNIT_LABEL_GID
            and t.get_fontweight() == "bold"]
    assert [t.get_text() for t in bold] == ["Hà Nội"]
    assert to_rgba(bold[0].get_color()) == to_rgba(plots.HIGHLIGHT)


def test_unit_ranking_small_sample_hollow_and_noted(ax):
    plots.plot_unit_ranking(index_table(), ax=ax)
    faces = points(ax)[0].get_facecolors()
    assert tuple(faces[2]) == to_rgba("white")  # Cần Thơ, n_eff 60
    assert tuple(faces[0]) != to_rgba("white")
    assert "Cỡ mẫu hiệu dụng nhỏ" in drawn_text(ax)


def test_unit_ranking_language_of_labels_and_ticks():
    for lang, title, label in [("vi", "Chỉ số SIPAS", "Tỷ lệ hài lòng (%)"),
                               ("en", "SIPAS index", "Percent satisfied (%)")]:
        fig, ax = plt.subplots()
        plots.plot_unit_ranking(index_table(), lang=lang, ax=ax)
        ax.set_xlim(85.0, 85.3)  # ticks need two decimals here
        strings = drawn_text(ax)
        assert title in strings and label in strings
        if lang == "vi":
            assert "85,15" in strings and "85.15" not in strings
        else:
            assert "85.15" in strings and "85,15" not in strings
        plt.close(fig)


def test_unit_ranking_annotates_rank_sets(ax):
    plots.plot_unit_ranking(index_table(), ranks=ranks_table(), ax=ax)
    strings = drawn_text(ax)
    # rows bottom to top: 79 (4, set 3-4), 01 (3, 2-4), 92 (2, 1-3), 48 (1, 1-2)
    ranks = [t.get_text() for t in ax.texts if t.get_gid() == plots.RANK_LABEL_GID]
    # Cần Thơ (row 3 from the bottom, n_eff 60) is a small sample: no point rank, its set kept
    assert ranks == ["4 (3–4)", "3 (2–4)", "— (1–3)", "1 (1–2)"]
    assert "Hạng (tập tin cậy)" in strings


def test_unit_ranking_uses_34_unit_names_when_the_table_says_so(ax):
    index = index_table().assign(unit_set="34", province_code=["01", "48", "79", "92"])
    plots.plot_unit_ranking(index, ax=ax)
    assert "Hà Nội" in unit_labels(ax)


def test_unit_ranking_errors(ax):
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['ci_low', 'ci_high'\]"):
        plots.plot_unit_ranking(index_table().drop(columns=["ci_low", "ci_high"]), ax=ax)
    with pytest.raises(ValueError, match="highlight \\['1'\\] not found"):
        plots.plot_unit_ranking(index_table(), highlight="1", ax=ax)
    twice = pd.concat([index_table(), index_table().assign(year=2023)])
    with pytest.raises(ValueError, match="several rows for province_code"):
        plots.plot_unit_ranking(twice, ax=ax)
    with pytest.raises(ValueError, match="lang must be one of"):
        plots.plot_unit_ranking(index_table(), lang="fr", ax=ax)
    with pytest.raises(ValueError, match=r"ranks` lacks column\(s\) \['rank_low'\]"):
        plots.plot_unit_ranking(index_table(), ranks=ranks_table().drop(columns="rank_low"),
                                ax=ax)


def test_ax_none_draws_on_current_axes():
    fig = plt.figure()
    try:
        returned = plots.plot_unit_ranking(index_table())
        assert returned is plt.gca() and returned.figure is fig
    finally:
        plt.close(fig)


# ---------------------------------------------------------------------------- rank sets
def test_rank_sets_segments_are_the_sets(ax):
    ranks = ranks_table()
    plots.plot_rank_sets(ranks, highlight="79", ax=ax, lang="en")
    (dots,), (bars,) = points(ax), segments(ax)
    # best on top: y = 3 for rank 1
    by_y = sorted(zip(dots.get_offsets()[:, 1], dots.get_offsets()[:, 0]))
    assert [x for _, x in by_y] == [4, 3, 2, 1]
    ends = sorted((s[0][0], s[1][0]) for s in bars.get_segments())
    assert ends == sorted(zip(ranks["rank_low"], ranks["rank_high"]))
    assert unit_labels(ax)[::-1] == ["Đà Nẵng", "Cần Thơ", "Hà Nội", "Hồ Chí Minh"]
    colours = [tuple(c) for c in dots.get_edgecolors()]
    assert colours.count(to_rgba(plots.HIGHLIGHT)) == 1
    strings = drawn_text(ax)
    assert "Rank (1 = best)" in strings and "95 % rank confidence set" in strings


# ---------------------------------------------------------------------- factor comparison
def factor_table(shift: float) -> pd.DataFrame:
    terms = ["access", "procedure", "staff", "result", "feedback"]
    estimate = np.array([80.25, 85.15, 88.0, 86.5, 70.0]) + shift
    return pd.DataFrame({"term": terms + ["overall"], "kind": ["factor"] * 5 + ["overall"],
                         "estimate": np.append(estimate, 82.0 + shift),
                         "ci_low": np.append(estimate - 2, 80.0 + shift),
                         "ci_high": np.append(estimate + 2, 84.0 + shift)})


def test_factor_comparison_groups_and_labels(ax):
    tables = {"Hà Nội": factor_table(0), "Cả nước": factor_table(1.5),
              "Vùng Đồng bằng sông Hồng": factor_table(-1)}
    plots.plot_factor_comparison(tables, ax=ax)
    dots = points(ax)
    assert len(dots) == 3 and len(segments(ax)) == 3
    for d, (name, table) in zip(dots, tables.items()):
        np.testing.assert_allclose(d.get_offsets()[:, 0], table["estimate"][:5])
        assert d.get_label() == name
    # within a term the groups are dodged, first group on top
    y = np.array([d.get_offsets()[0, 1] for d in dots])
    assert y[0] > y[1] > y[2]
    colours = {tuple(d.get_facecolors()[0]) for d in dots}
    assert len(colours) == 3
    strings = drawn_text(ax)
    assert "Thủ tục hành chính" in strings and "Công chức" in strings
    assert "Cả nước" in strings and "Yếu tố" in strings
    assert "Chỉ số hài lòng chung" not in strings  # overall is another kind


def test_factor_comparison_missing_column_named(ax):
    with pytest.raises(ValueError, match=r"tables\['Cả nước'\]` lacks column\(s\) \['ci_high'\]"):
        plots.plot_factor_comparison({"Hà Nội": factor_table(0),
                                      "Cả nước": factor_table(0).drop(columns="ci_high")}, ax=ax)
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.plot_factor_comparison({}, ax=ax)


# ---------------------------------------------------------------------------- coefficients
def tidy_table() -> pd.DataFrame:
    return pd.DataFrame({
        "term": ["Intercept", "staff_score", "procedure_score", "on_time", "1|2"],
        "kind": ["coefficient"] * 4 + ["cut_point"],
        "estimate": [1.0, 0.425, 0.2, -0.05, -2.0], "std_error": 0.05,
        "statistic": 1.0, "p_value": 0.01,
        "ci_low": [0.9, 0.325, 0.1, -0.15, -2.1], "ci_high": [1.1, 0.525, 0.3, 0.05, -1.9],
        "n": 1000, "model": "linear"})


def test_coefficients_points_zero_line_and_labels(ax):
    plots.plot_coefficients(tidy_table(), ax=ax)
    (dots,) = points(ax)
    np.testing.assert_allclose(dots.get_offsets()[:, 0], [0.425, 0.2, -0.05])
    (zero,) = ax.lines
    assert list(zero.get_xdata()) == [0, 0]
    strings = drawn_text(ax)
    assert "Công chức" in strings and "Nhận kết quả đúng hạn" in strings
    assert "Hệ số hồi quy (khoảng tin cậy 95 %)" in strings
    assert "Intercept" not in strings and "1|2" not in strings
    assert any("," in s for s in ax.xaxis.get_major_formatter().format_ticks([0.1, 0.2]))


def test_coefficients_options(ax):
    plots.plot_coefficients(tidy_table(), exclude_intercept=False, lang="en",
                            labels={"on_time": "On time (yes)"}, null_value=1.0, ax=ax)
    assert len(points(ax)[0].get_offsets()) == 4
    assert list(ax.lines[0].get_xdata()) == [1, 1]
    strings = drawn_text(ax)
    assert "On time (yes)" in strings and "Civil servants" in strings
    assert "Intercept" in strings


def test_coefficients_two_models_dodged_with_legend(ax):
    tidy = pd.concat([tidy_table(), tidy_table().assign(model="province", estimate=0.3)])
    plots.plot_coefficients(tidy, ax=ax, lang="en")
    assert len(points(ax)) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["linear", "province"]


# ----------------------------------------------------------------------------- importance
def importance_table() -> pd.DataFrame:
    return pd.DataFrame({
        "term": ["access_score", "staff_score", "procedure_score"],
        "lmg": [0.05, 0.20, 0.10], "share": [0.1429, 0.5714, 0.2857],
        "ci_low": [0.03, 0.15, np.nan], "ci_high": [0.07, 0.25, np.nan],
        "rank": [3, 1, 2], "rank_low": [3, 1, 2], "rank_high": [3, 1, 2],
        "share_ci_low": [0.10, 0.50, np.nan], "share_ci_high": [0.20, 0.65, np.nan]})


def test_importance_bars_whiskers_and_labels(ax):
    plots.plot_importance(importance_table(), ax=ax)
    widths = [p.get_width() for p in ax.patches]
    np.testing.assert_allclose(widths, [57.14, 28.57, 14.29])  # sorted, largest on top
    assert ax.patches[0].get_y() > ax.patches[1].get_y()
    (whiskers,) = segments(ax)  # procedure_score has no interval: 2 whiskers
    ends = sorted((s[0][0], s[1][0]) for s in whiskers.get_segments())
    np.testing.assert_allclose(ends, [(10, 20), (50, 65)])
    strings = drawn_text(ax)
    assert "57,1 %" in strings and "Tỷ trọng đóng góp vào R² (%)" in strings
    assert "Công chức" in strings


def test_importance_lmg_in_english(ax):
    plots.plot_importance(importance_table(), value="lmg", lang="en", ax=ax)
    np.testing.assert_allclose([p.get_width() for p in ax.patches], [0.20, 0.10, 0.05])
    strings = drawn_text(ax)
    assert "0.200" in strings and "Contribution to R² (LMG)" in strings


def test_importance_without_bootstrap_has_no_whiskers(ax):
    table = importance_table().drop(columns=["share_ci_low", "share_ci_high"])
    plots.plot_importance(table, ax=ax)
    assert segments(ax) == []
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['share'\]"):
        plots.plot_importance(table.drop(columns="share"), ax=ax)
    with pytest.raises(ValueError, match="value must be"):
        plots.plot_importance(table, value="r2", ax=ax)


# ------------------------------------------------------------------------------------ IPA
def ipa_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "term": ["access", "procedure", "staff", "result"],
        "importance": [0.1, 0.3, 0.4, 0.2], "performance": [90.0, 80.0, 88.0, 82.0],
        "quadrant": ["possible_overkill", "concentrate_here", "keep_up_the_good_work",
                     "low_priority"],
        "importance_crosshair": 0.25, "performance_crosshair": 85.0,
        "crosshair_rule": "mean"})


def test_ipa_points_crosshair_and_quadrants(ax):
    ipa = ipa_frame()
    plots.plot_ipa(ipa, ax=ax)
    (dots,) = points(ax)
    np.testing.assert_allclose(dots.get_offsets(), ipa[["importance", "performance"]])
    assert tuple(dots.get_facecolors()[1]) == to_rgba(plots.HIGHLIGHT)
    vertical, horizontal = ax.lines
    assert list(vertical.get_xdata()) == [0.25, 0.25]
    assert list(horizontal.get_ydata()) == [85.0, 85.0]
    strings = drawn_text(ax)
    for words in ["Cần tập trung cải thiện", "Tiếp tục duy trì", "Ưu tiên thấp",
                  "Có thể đang đầu tư quá mức", "Thủ tục hành chính", "Tầm quan trọng"]:
        assert words in strings
    # the crosshair's quadrant names sit in the right corners: overkill top left
    corner = {t.get_text(): t.get_position() for t in ax.texts}
    assert corner["Có thể đang đầu tư quá mức"] == (0.02, 0.98)
    assert corner["Cần tập trung cải thiện"] == (0.98, 0.02)


def test_ipa_english_and_errors(ax):
    plots.plot_ipa(ipa_frame(), lang="en", ax=ax)
    strings = drawn_text(ax)
    assert "Concentrate here" in strings and "Possible overkill" in strings
    with pytest.raises(ValueError, match="unknown quadrant"):
        plots.plot_ipa(ipa_frame().assign(quadrant="fix_it"), ax=ax)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['quadrant'\]"):
        plots.plot_ipa(ipa_frame().drop(columns="quadrant"), ax=ax)


# -------------------------------------------------------------------------- group effects
def effects_table() -> pd.DataFrame:
    codes = ["01", "48", "79", "92"]
    estimate = np.array([0.45, 0.30, 0.52, 0.38])
    rows = pd.DataFrame({"province_code": codes, "term": "staff_score", "estimate": estimate,
                         "std_error": 0.04, "ci_low": estimate - 0.08,
                         "ci_high": estimate + 0.08, "blup": estimate - 0.4, "n": 500})
    other = rows.assign(term="Intercept", estimate=1.0)
    return pd.concat([rows, other], ignore_index=True)


def test_group_effects_sorted_with_national_band(ax):
    plots.plot_group_effects(effects_table(), national=(0.40, 0.36, 0.44), highlight="01",
                             ax=ax)
    (dots,) = points(ax)
    np.testing.assert_allclose(dots.get_offsets()[:, 0], [0.30, 0.38, 0.45, 0.52])
    (line,) = ax.lines
    assert list(line.get_xdata()) == [0.40, 0.40]
    (band,) = ax.patches
    xs = band.get_x(), band.get_x() + band.get_width()
    np.testing.assert_allclose(xs, (0.36, 0.44))
    edges = [tuple(c) for c in dots.get_edgecolors()]
    assert edges[2] == to_rgba(plots.HIGHLIGHT) and edges.count(to_rgba(plots.HIGHLIGHT)) == 1
    strings = drawn_text(ax)
    assert "Hệ số của “Công chức” theo tỉnh (khoảng tin cậy 95 %)" in strings
    assert "Cả nước" in strings and "Đà Nẵng" in strings
    assert any("0,4" in s for s in strings)  # ticks with a decimal comma


def test_group_effects_float_national_and_errors(ax):
    plots.plot_group_effects(effects_table(), national=0.4, lang="en", ax=ax)
    assert len(ax.lines) == 1 and len(ax.patches) == 0
    with pytest.raises(ValueError, match="no rows with term 'staff'"):
        plots.plot_group_effects(effects_table(), term="staff", ax=ax)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['province_code'\]"):
        plots.plot_group_effects(effects_table().drop(columns="province_code"), ax=ax)


# -------------------------------------------------------------------------------- PAPI
def papi_panel() -> pd.DataFrame:
    """Hà Nội (01) and Hải Phòng (31), Red River Delta; Cần Thơ (92), Mekong; 2015-2019
    with Hà Nội's 2017 missing, and its 2018 row absent altogether."""
    rows = []
    for code, base in [("01", 7.0), ("31", 6.0), ("92", 5.0)]:
        for year in range(2015, 2020):
            if code == "01" and year == 2018:
                continue
            d5 = np.nan if (code == "01" and year == 2017) else base + 0.1 * (year - 2015)
            d8 = np.nan if year < 2018 else base / 2
            rows.append({"unit_set": "63", "province_code": code, "year": year, "d5": d5,
                         "d8": d8})
    return pd.DataFrame(rows)


def test_papi_trajectory_lines_means_and_gaps(ax):
    plots.plot_papi_trajectory(papi_panel(), province_code="01", ax=ax)
    own, region, nation = ax.lines
    np.testing.assert_array_equal(own.get_xdata(), np.arange(2015, 2020))
    np.testing.assert_allclose(own.get_ydata(), [7.0, 7.1, np.nan, np.nan, 7.4])
    # region: Hà Nội and Hải Phòng; where Hà Nội has no score, Hải Phòng alone
    np.testing.assert_allclose(region.get_ydata(), [6.5, 6.6, 6.2, 6.3, 6.9])
    np.testing.assert_allclose(nation.get_ydata(), [6.0, 6.1, 5.7, 5.8, 6.4])
    strings = drawn_text(ax)
    assert "Hà Nội" in strings and "Năm" in strings
    assert "Trung bình vùng Đồng bằng sông Hồng" in strings
    assert "Trung bình cả nước" in strings
    assert "PAPI: Thủ tục hành chính công (điểm)" in strings
    assert "2017" in strings and "2.017" not in strings  # years without a thousands separator
    assert any("," in s for s in ax.yaxis.get_major_formatter().format_ticks([6.5, 7.0]))


def test_papi_trajectory_d8_in_english(ax):
    plots.plot_papi_trajectory(papi_panel(), province_code="92", dimension="d8", lang="en",
                               ax=ax)
    own = ax.lines[0]
    assert np.isnan(own.get_ydata()[:3]).all()
    strings = drawn_text(ax)
    assert "Mekong River Delta average" in strings
    assert "PAPI: E-governance (score)" in strings and "National average" in strings


def test_papi_trajectory_errors(ax):
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['d9'\]"):
        plots.plot_papi_trajectory(papi_panel(), province_code="01", dimension="d9", ax=ax)
    with pytest.raises(ValueError, match="not a province of the 63-unit set"):
        plots.plot_papi_trajectory(papi_panel(), province_code="99", ax=ax)
    with pytest.raises(ValueError, match="no rows for province '79'"):
        plots.plot_papi_trajectory(papi_panel(), province_code="79", ax=ax)


# --------------------------------------------------------------------------- experience
def experience_table() -> pd.DataFrame:
    rows = []
    for group, shift in [("Hà Nội", 0.0), ("Cả nước", -3.0)]:
        for term, base in [("on_time", 90.0), ("applied_online", 30.0)]:
            for year in (2022, 2024):  # 2023 absent: a gap
                estimate = base + shift + (year - 2022) * 5
                rows.append({"year": year, "group": group, "term": term,
                             "estimate": estimate, "ci_low": estimate - 2,
                             "ci_high": estimate + 2})
    return pd.DataFrame(rows)


def test_experience_lines_bands_and_gaps(ax):
    plots.plot_experience(experience_table(), ax=ax)
    assert len(ax.lines) == 4 and len(ax.collections) == 4
    first = ax.lines[0]
    np.testing.assert_allclose(first.get_ydata(), [90.0, np.nan, 100.0])
    assert first.get_linestyle() == "-" and ax.lines[1].get_linestyle() == "--"
    strings = drawn_text(ax)
    assert "Nhận kết quả đúng hạn – Hà Nội" in strings
    assert "Nộp hồ sơ trực tuyến – Cả nước" in strings
    assert "Tỷ lệ (%)" in strings and "2024" in strings


def test_experience_missing_columns_named(ax):
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['group', 'term'\]"):
        plots.plot_experience(experience_table().drop(columns=["group", "term"]), ax=ax)


# ------------------------------------------------------------------------ no global state
def test_importing_and_plotting_leaves_rcparams_alone(ax):
    before = dict(matplotlib.rcParams)
    plots.plot_ipa(ipa_frame(), ax=ax)
    plt.figure()
    plots.plot_unit_ranking(index_table())  # ax=None: axes made inside the seaborn style
    after = dict(matplotlib.rcParams)
    assert {k for k in before if before[k] != after[k]} == set()
    plt.close("all")


def test_the_missing_glyph_guard_is_armed(ax):
    # The module's warnings-as-errors mark is what proves Vietnamese renders: check it bites.
    ax.set_title("漢")  # not in DejaVu Sans
    with pytest.raises(UserWarning, match="missing from font"):
        ax.figure.canvas.draw()


# ------------------------------------------------------------------- rendering for reports
def _ranking_svg(lang="vi"):
    figure, ax = plots.new_figure((6, 4))
    plots.plot_unit_ranking(index_table(), highlight="01", ranks=ranks_table(), lang=lang, ax=ax)
    return plots.render(figure)


def test_render_writes_svg_with_real_text_and_the_same_bytes_every_time():
    before = dict(matplotlib.rcParams)
    first, second = _ranking_svg(), _ranking_svg()
    assert first.svg == second.svg  # fixed id salt, no date: a figure is always the same bytes
    assert first.svg.lstrip().startswith("<?xml") and "<svg" in first.svg
    assert "<dc:date>" not in first.svg
    # words stay text (selectable, drawn by the browser), not glyph outlines
    assert ">Chỉ số SIPAS</text>" in first.svg and ">Hà Nội</text>" in first.svg
    assert "font-weight: 700" in first.svg  # the highlighted unit's name is bold
    assert _ranking_svg("en").svg != first.svg
    assert dict(matplotlib.rcParams) == before  # the SVG settings were not left behind
    assert repr(first) == "<SVG figure: Chỉ số SIPAS>"  # no memory address in the notebook
    assert first._repr_svg_() == str(first) == first.svg


def test_new_figure_is_outside_pyplot():
    figure, (left, right) = plots.new_figure((8, 3), ncols=2)
    assert figure.canvas.manager is None  # nothing (pyplot, the inline backend) draws it
    assert figure not in [manager.canvas.figure for manager in Gcf.get_all_fig_managers()]
    assert left.figure is right.figure is figure
