"""Tracking a desk month by month: series, p-chart on the effective size, year to date, the same
month last year, staff views that are never a ranking."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sipas_analysis import cli
from sipas_analysis.codebook import Codebook
from sipas_analysis.tracking import control_limits, track_unit, write_tracking

DESK = "Bộ phận một cửa UBND xã Yên Lạc"
OTHER = "Bộ phận một cửa UBND xã Yên Trạch"
LABELS = {1: "Rất không hài lòng", 2: "Không hài lòng", 3: "Bình thường", 4: "Hài lòng",
          5: "Rất hài lòng"}
BOOK = {
    "constants": {"province": "Thái Nguyên"},
    "columns": {"unit": "Đơn vị", "date": "Ngày khảo sát", "staff": "Công chức tiếp nhận"},
    "scale": {**{v: k for k, v in LABELS.items()}, "Không ý kiến": None},
    "satisfied": [4, 5],
    "ratings": {"staff": {"staff_polite": "Câu 1", "staff_guidance": "Câu 2"},
                "result": {"result_on_time": "Câu 3"}},
}
CRITERIA = {"staff_polite": "Câu 1", "staff_guidance": "Câu 2", "result_on_time": "Câu 3"}
MONTHS = pd.period_range("2023-07", "2024-12", freq="M")     # 18 months
DROP = pd.Period("2024-12", freq="M")                         # the latest month falls to 75 %
STAFF = ["Trần Văn Bình", "Nguyễn Thị An", "Lê Thị Cúc", "Phạm Dũng"]


def simulate_desk(seed=0, *, with_staff=True):
    """The file of a desk: 30-80 answers a month (80 in the drop month), each criterion
    satisfied with probability 0.92 (0.75 in the drop month), 3 % "no opinion"; another desk
    alongside. Phạm Dũng serves few people."""
    rng = np.random.default_rng(seed)
    rows = []
    for month in MONTHS:
        n = 80 if month == DROP else int(rng.integers(30, 81))
        p = 0.75 if month == DROP else 0.92
        days = rng.integers(0, month.days_in_month, n)
        for day in days:
            row = {"Đơn vị": DESK, "Ngày khảo sát": (month.start_time + pd.Timedelta(days=int(day)))
                   .strftime("%d/%m/%Y"),
                   "Công chức tiếp nhận": rng.choice(STAFF, p=[0.32, 0.32, 0.32, 0.04])}
            for header in CRITERIA.values():
                level = int(rng.choice([4, 5])) if rng.random() < p else int(rng.choice([2, 3]))
                row[header] = "Không ý kiến" if rng.random() < 0.03 else LABELS[level]
            rows.append(row)
    for i in range(40):                                       # the other desk
        rows.append({"Đơn vị": OTHER, "Ngày khảo sát": "15/03/2024",
                     "Công chức tiếp nhận": "Hoàng Văn Em",
                     **{h: LABELS[4 if i % 3 else 2] for h in CRITERIA.values()}})
    raw = pd.DataFrame(rows)
    if not with_staff:
        raw = raw.drop(columns="Công chức tiếp nhận")
    return raw


@functools.lru_cache(maxsize=None)
def _desk_survey(seed, with_staff):
    book = dict(BOOK)
    if not with_staff:
        book = {**BOOK, "columns": {k: v for k, v in BOOK["columns"].items() if k != "staff"}}
    codebook = Codebook.from_dict(book)
    return codebook.apply(simulate_desk(seed, with_staff=with_staff)), codebook


def desk_survey(seed=0, *, with_staff=True):
    """The desk's survey frame (a fresh copy: tests may change it) and its codebook."""
    survey, codebook = _desk_survey(seed, with_staff)
    copy = survey.copy()
    copy.attrs = dict(survey.attrs)
    return copy, codebook


@pytest.fixture(scope="module")
def desk():
    survey, book = desk_survey()
    return survey, book, track_unit(survey, DESK, codebook=book)


def pooled_by_hand(frame) -> float:
    """The index counted by hand: each criterion's satisfied share among its answers, the mean
    of a factor's criteria, the mean of the factors."""
    rate = {c: float((frame[c] >= 4).sum() / frame[c].notna().sum()) for c in CRITERIA}
    staff = (rate["staff_polite"] + rate["staff_guidance"]) / 2
    return 100 * (staff + rate["result_on_time"]) / 2


def test_the_series_has_every_month_with_intervals_and_sizes(desk):
    survey, _, result = desk
    overall = result.overall
    assert overall["period"].tolist() == [str(m) for m in MONTHS]
    assert set(result.series["term"]) == {"staff", "result", "overall"}
    assert (overall["ci_low"] <= overall["estimate"]).all()
    assert (overall["estimate"] <= overall["ci_high"]).all()
    # Korn-Graubard with the month's design df: respondents - 1 (SRS within the desk)
    mine = survey[survey["unit"] == DESK]
    counts = mine["date"].dt.to_period("M").astype(str).value_counts()
    assert (overall["df"].to_numpy() == counts[overall["period"]].to_numpy() - 1).all()
    assert overall["n_eff"].notna().all()


def test_the_dropped_month_is_flagged_below_and_the_others_mostly_not(desk):
    _, _, result = desk
    overall = result.overall
    assert overall.set_index("period").loc[str(DROP), "signal"] == "below"
    # an in-control month falls outside 3-sigma limits about 3 times in 1,000 (less often for
    # this mean of three criteria, whose design effect is held at 1): among 17 months, at
    # least one false alarm has probability at most about 4.5 %, two or more about 0.1 %
    others = overall[overall["period"] != str(DROP)]
    assert (others["signal"] != "").sum() <= 1
    assert any("below" in s for s in result.sentences["en"])


def test_the_centre_line_is_the_pooled_share_of_the_twelve_months_before(desk):
    survey, _, result = desk
    mine = survey[survey["unit"] == DESK]
    month = mine["date"].dt.to_period("M")
    baseline = mine[(month >= DROP - 12) & (month < DROP)]
    centre = result.centre.iloc[0]
    assert centre["first_period"] == "2023-12" and centre["last_period"] == "2024-11"
    assert centre["n_periods"] == 12 and not centre["whole_series"]
    assert centre["estimate"] == pytest.approx(pooled_by_hand(baseline), abs=1e-9)
    assert (result.overall["centre"] == centre["estimate"]).all()


def test_a_short_series_uses_the_whole_series_and_says_so():
    survey, book = desk_survey()
    short = survey[survey["date"] >= "2024-07-01"].reset_index(drop=True)
    result = track_unit(short, DESK, codebook=book)
    centre = result.centre.iloc[0]
    assert centre["whole_series"] and centre["n_periods"] == 6
    mine = short[short["unit"] == DESK]
    assert centre["estimate"] == pytest.approx(pooled_by_hand(mine), abs=1e-9)
    assert any("whole series" in s for s in result.sentences["en"])
    assert any("cả chuỗi" in s for s in result.sentences["vi"])


def test_the_limits_are_the_p_chart_on_n_over_deff(desk):
    _, _, result = desk
    centre = result.centre.iloc[0]
    p, deff = centre["estimate"] / 100, centre["deff"]
    # the baseline's design effect for a proportion: its variance over p(1 - p)/n
    estimated = (centre["std_error"] / 100) ** 2 / (p * (1 - p) / centre["n"])
    assert centre["deff_estimated"] == pytest.approx(estimated)
    # three criteria answered independently: the index varies less than one yes/no answer,
    # 0.375 p(1 - p) per respondent; a design effect below 1 is not trusted (the limits use 1)
    assert 0.25 < estimated < 0.6 and deff == 1.0
    assert any("below 1 is not trusted" in s for s in result.sentences["en"])
    row = result.overall.iloc[3]
    half = 3 * np.sqrt(p * (1 - p) / (row["n"] / deff))
    assert row["lower_limit"] == pytest.approx(100 * (p - half))
    assert row["upper_limit"] == pytest.approx(min(100.0, 100 * (p + half)))
    m, low, high = control_limits(50.0, [1], 1.0)
    assert low[0] == 0.0 and high[0] == 100.0              # clipped to 0-100


def clustered_desk(seed=3):
    """A desk whose answers come in clusters (interview days) that differ: a clustered design."""
    rng = np.random.default_rng(seed)
    rows = []
    for month in MONTHS:
        for day in range(6):
            rate = rng.beta(18, 2)                         # days differ around 90 %
            for _ in range(10):
                rows.append({"unit": DESK, "date": month.start_time + pd.Timedelta(days=day),
                             "c1": 5.0 if rng.random() < rate else 2.0,
                             "day": f"{month}-{day}"})
    frame = pd.DataFrame(rows)
    frame["weight"], frame["stratum"] = 1.0, DESK
    return frame


def test_the_limits_widen_with_the_design_effect_of_a_clustered_design():
    frame = clustered_desk()
    srs = track_unit(frame.assign(psu=np.arange(len(frame)).astype(str)), DESK,
                     factors={"f": ["c1"]})
    clustered = track_unit(frame.assign(psu=frame["day"]), DESK, factors={"f": ["c1"]})
    assert srs.centre["estimate"].iloc[0] == pytest.approx(clustered.centre["estimate"].iloc[0])
    # days of 10 answers with an intra-day correlation 1/(18 + 2 + 1): Kish's 1 + 9 rho = 1.43
    assert clustered.centre["deff"].iloc[0] > 1.3 * srs.centre["deff"].iloc[0]
    width = lambda t: (t.overall["upper_limit"] - t.overall["lower_limit"]).to_numpy()  # noqa
    assert (width(clustered) > width(srs)).all()
    # one yes/no question under SRS: the design effect is about 1
    assert srs.centre["deff_estimated"].iloc[0] == pytest.approx(1.0, abs=0.02)


def test_a_baseline_of_100_percent_has_no_limits_and_flags_nothing():
    frame = clustered_desk()
    frame["c1"] = 5.0
    frame.loc[frame["date"] >= "2024-12-01", "c1"] = np.where(
        np.arange((frame["date"] >= "2024-12-01").sum()) % 2, 5.0, 2.0)
    result = track_unit(frame.assign(psu=frame["day"]), DESK, factors={"f": ["c1"]})
    assert result.centre["estimate"].iloc[0] == 100.0
    assert np.isnan(result.centre["deff"].iloc[0])
    assert result.overall["lower_limit"].isna().all()
    assert (result.overall["signal"] == "").all()
    assert any("no control limits" in s for s in result.sentences["en"])


def test_year_to_date_is_counted_by_hand(desk):
    survey, _, result = desk
    mine = survey[(survey["unit"] == DESK) & (survey["date"].dt.year == 2024)]
    ytd = result.year_to_date.set_index("term").loc["overall"]
    assert ytd["year"] == 2024 and ytd["first_period"] == "2024-01"
    assert ytd["last_period"] == "2024-12"
    assert ytd["estimate"] == pytest.approx(pooled_by_hand(mine), abs=1e-9)
    assert ytd["n"] == len(mine)
    assert ytd["ci_low"] < ytd["estimate"] < ytd["ci_high"]


def test_the_same_month_last_year_test_matches_a_hand_computation_for_srs():
    rng = np.random.default_rng(7)
    rows = []
    for month, (n, rate) in {"2023-12": (90, 0.85), "2024-06": (50, 0.9),
                             "2024-12": (80, 0.93)}.items():
        start = pd.Period(month, freq="M").start_time
        rows += [{"unit": DESK, "date": start + pd.Timedelta(days=i % 28),
                  "c1": 5.0 if rng.random() < rate else 2.0} for i in range(n)]
    frame = pd.DataFrame(rows)
    frame["weight"], frame["stratum"], frame["psu"] = 1.0, DESK, np.arange(len(frame)).astype(str)
    result = track_unit(frame, DESK, factors={"f": ["c1"]})
    test = result.same_period_last_year.set_index("term").loc["overall"]
    a = frame.loc[frame["date"].dt.to_period("M") == "2023-12", "c1"] == 5
    b = frame.loc[frame["date"].dt.to_period("M") == "2024-12", "c1"] == 5
    # textbook two-sample test of proportions, unpooled variances
    pa, pb = a.mean(), b.mean()
    se = np.sqrt(pa * (1 - pa) / len(a) + pb * (1 - pb) / len(b))
    z = (pb - pa) / se
    p_hand = 2 * stats.norm.sf(abs(z))
    assert test["estimate"] == pytest.approx(100 * (pb - pa))
    assert test["std_error"] == pytest.approx(100 * se, rel=0.01)
    assert test["p_value"] == pytest.approx(p_hand, rel=0.05, abs=0.005)
    assert 0.01 < p_hand < 0.5                      # a p-value the check can tell apart
    assert test["contrast"] == "2024-12 - 2023-12"
    assert test["df"] == pytest.approx(len(a) + len(b) - 1)     # the two months' rows


def test_no_same_month_last_year_is_said(desk):
    survey, book = desk_survey()
    later = survey[survey["date"] >= "2024-01-01"].reset_index(drop=True)
    result = track_unit(later, DESK, codebook=book)
    assert result.same_period_last_year.empty
    assert any("No answers in Dec 2023" in s for s in result.sentences["en"])


def test_staff_are_shown_above_the_minimum_alphabetically_never_ranked(desk):
    _, _, result = desk
    shown = result.staff["staff"].tolist()
    assert shown == ["Lê Thị Cúc", "Nguyễn Thị An", "Trần Văn Bình"]   # alphabetical
    assert "rank" not in "".join(result.staff.columns)
    assert result.staff_hidden == 1                                  # Phạm Dũng: few answers
    assert (result.staff["n_eff"] >= 100).all()
    assert (result.staff["ci_low"] < result.staff["estimate"]).all()
    assert any("never ranked" in s and "unfair" in s for s in result.sentences["en"])
    assert any("counted, not shown" in s for s in result.sentences["en"])


def test_staff_below_the_minimum_are_counted_not_shown(desk):
    survey, book, _ = desk
    result = track_unit(survey, DESK, codebook=book, min_staff_n_eff=10_000)
    assert result.staff.empty and result.staff_hidden == 4
    plain, plain_book = desk_survey(with_staff=False)
    no_staff = track_unit(plain, DESK, codebook=plain_book)
    assert no_staff.staff_hidden is None and no_staff.staff.empty


def test_any_spelling_of_the_unit_and_unknown_names_listed(desk):
    survey, book, result = desk
    again = track_unit(survey, "bộ phận một cửa Ủy ban nhân dân xã yên lạc", codebook=book)
    assert again.unit == DESK
    with pytest.raises(ValueError) as error:
        track_unit(survey, "Bộ phận một cửa xã Yên Lạc", codebook=book)
    message = str(error.value)
    assert "no unit" in message and DESK in message and OTHER in message


def test_an_old_name_of_the_desk_finds_its_series():
    survey, _ = desk_survey()
    book = Codebook.from_dict({**BOOK, "unit_aliases": {"Bộ phận một cửa UBND huyện Cũ": DESK}})
    result = track_unit(survey, "Bộ phận một cửa UBND huyện Cũ", codebook=book)
    assert result.unit == DESK


def test_tracking_needs_dates():
    survey, book = desk_survey()
    with pytest.raises(ValueError, match="tracking needs dates"):
        track_unit(survey.drop(columns="date"), DESK, codebook=book)


def test_by_quarter(desk):
    survey, book, _ = desk
    result = track_unit(survey, DESK, codebook=book, by="quarter")
    assert result.overall["period"].tolist()[:2] == ["2023Q3", "2023Q4"]
    assert result.centre["n_periods"].iloc[0] == 4
    assert result.same_period_last_year["contrast"].iloc[0] == "2024Q4 - 2023Q4"


def test_page_and_workbook_in_both_languages(desk, tmp_path):
    _, _, result = desk
    for lang, word in (("vi", "Đường trung tâm"), ("en", "Centre line")):
        written = write_tracking(result, tmp_path / lang, lang=lang)
        page = written["html"].read_text(encoding="utf-8")
        assert page.startswith("<!DOCTYPE html>") and "<svg" in page
        assert word in page and "<script" not in page
        assert 'href="http' not in page and "src=" not in page          # self-contained
        sheets = pd.read_excel(written["workbook"], sheet_name=None, engine="openpyxl")
        assert {"series", "centre_line", "year_to_date", "same_period_last_year", "staff",
                "notes"} <= set(sheets)
        assert len(sheets["series"]) == len(result.series)
    assert "tháng 12/2024" in (tmp_path / "vi" / "tracking.html").read_text(encoding="utf-8")
    assert "Dec 2024" in (tmp_path / "en" / "tracking.html").read_text(encoding="utf-8")


def test_the_page_escapes_text_and_the_workbook_neutralises_formulas(tmp_path):
    survey, book = desk_survey()
    odd = "=HYPERLINK(\"x\") <b>&"
    survey["unit"] = survey["unit"].replace(DESK, odd)
    survey["staff"] = survey["staff"].replace("Lê Thị Cúc", "<script>alert(1)</script>")
    result = track_unit(survey, odd, codebook=book)
    written = write_tracking(result, tmp_path, lang="en")
    page = written["html"].read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;&amp;" in page
    staff = pd.read_excel(written["workbook"], sheet_name="series", engine="openpyxl")
    assert staff["unit"].iloc[0].startswith("'=")


CODEBOOK_YAML = """\
constants: {province: "Thái Nguyên"}
columns: {unit: "Đơn vị", date: "Ngày khảo sát", staff: "Công chức tiếp nhận"}
scale: {"Rất không hài lòng": 1, "Không hài lòng": 2, "Bình thường": 3, "Hài lòng": 4,
        "Rất hài lòng": 5, "Không ý kiến": null}
satisfied: [4, 5]
ratings:
  staff: {staff_polite: "Câu 1", staff_guidance: "Câu 2"}
  result: {result_on_time: "Câu 3"}
"""


def test_cli_without_a_date_in_the_codebook_is_a_command_line_mistake(tmp_path, capsys):
    book = tmp_path / "codebook.yaml"
    no_date = CODEBOOK_YAML.replace(', date: "Ngày khảo sát"', "").replace(
        'constants: {province: "Thái Nguyên"}', 'constants: {province: "Thái Nguyên", year: 2024}')
    book.write_text(no_date, encoding="utf-8")
    data = tmp_path / "desk.csv"
    data.write_text("x\n1\n", encoding="utf-8")
    status = cli.main(["track", "--data", str(data), "--codebook", str(book), "--unit", DESK])
    assert status == cli.EXIT_USAGE
    assert "tracking needs the date" in capsys.readouterr().err


def test_cli_end_to_end(tmp_path, capsys, monkeypatch):
    pytest.importorskip("sipas_analysis.readers")
    book = tmp_path / "codebook.yaml"
    book.write_text(CODEBOOK_YAML, encoding="utf-8")
    data = tmp_path / "desk.csv"
    simulate_desk().to_csv(data, index=False, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    status = cli.main(["track", "--data", str(data), "--codebook", str(book),
                       "--unit", "bo phan mot cua uy ban nhan dan xa yen lac", "--lang", "en"])
    out = capsys.readouterr()
    assert status == 0, out.err
    folder = tmp_path / "tracking" / "bo-phan-mot-cua-uy-ban-nhan-dan-xa-yen-lac"
    assert (folder / "tracking.html").exists() and (folder / "tracking.xlsx").exists()
    assert "below the control limits" in out.out
    status = cli.main(["track", "--data", str(data), "--codebook", str(book),
                       "--unit", "Sở Tư pháp", "--out", str(tmp_path / "x")])
    assert status == cli.EXIT_USAGE
    assert "no unit" in capsys.readouterr().err


def test_undated_and_future_answers_are_left_out_and_said():
    survey, book = desk_survey()
    mine = survey.index[survey["unit"] == DESK]
    survey.loc[mine[:3], "date"] = pd.NaT
    result = track_unit(survey, DESK, codebook=book, today="2024-11-20")
    assert result.latest == "2024-11"
    counted = survey.loc[mine, "date"]
    late = int((counted > "2024-11-20").sum())
    assert f"{late} answer(s) dated after 2024-11-20" in " ".join(result.sentences["en"])
    assert "3 answer(s) of the unit without a date" in " ".join(result.sentences["en"])
    assert result.overall["n"].sum() == len(mine) - 3 - late
    later = track_unit(survey, DESK, codebook=book, today="2025-02-03")
    assert any("No answers yet for Feb 2025" in s for s in later.sentences["en"])


def test_a_desk_renamed_on_1_july_2025_keeps_one_series():
    old, new = "Bộ phận một cửa UBND huyện Phú Lương", "Bộ phận một cửa UBND xã Phú Lương"
    rng = np.random.default_rng(5)
    rows = [{"Đơn vị": old if month < pd.Period("2025-07", freq="M") else new,
             "Ngày khảo sát": (month.start_time + pd.Timedelta(days=i % 25)).strftime("%d/%m/%Y"),
             "Công chức tiếp nhận": "Nguyễn Thị An",
             **{h: LABELS[5 if rng.random() < 0.9 else 2] for h in CRITERIA.values()}}
            for month in pd.period_range("2025-01", "2025-12", freq="M") for i in range(40)]
    book = Codebook.from_dict({**BOOK, "unit_aliases": {old: new}})
    survey = book.apply(pd.DataFrame(rows))
    assert set(survey["unit_set"]) == {"63", "34"}           # rows assigned by their date
    for name in (old, new):
        result = track_unit(survey, name, codebook=book)
        assert result.unit == new and len(result.overall) == 12
        assert result.overall["n"].sum() == len(rows)
