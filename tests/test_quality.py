"""Data-quality checks: each flag on a small frame whose answers say which rows it must flag,
the ANOVA ICC against hand computations, the page and workbook in both languages, nothing
half-written, and the command line end to end."""
from __future__ import annotations

import html.parser
import math

import numpy as np
import openpyxl
import pandas as pd
import pytest

from sipas_analysis import cli, quality
from sipas_analysis.simulate import simulate_survey

CRITERIA = ["q1", "q2", "q3", "q4", "q5"]
NAN = math.nan
TODAY = "2026-12-03"
PERIOD = ("2024-05-01", "2024-05-31")


def small_frame() -> pd.DataFrame:
    """Ten respondents; ``source_row`` as a file with three title rows and a header numbers
    them (row 5 is the first respondent). The comment on each row says what it must get."""
    answers = [
        ("r1", "A", [5, 5, 5, 5, 5], 600, "2024-05-02"),    # 5: straight_lining (all 5)
        ("r2", "A", [1, 2, 3, 4, 5], 600, "2024-05-02"),    # 6: clean, first of a pair
        ("r3", "A", [1, 2, 3, 4, 5], 60, "2024-05-03"),     # 7: duplicate_answers of 6; speeder
        ("r4", "B", [1, 2, 3, 4, 5], 0, "2024-05-03"),      # 8: same answers, other unit: no
        #                                                         duplicate; 0 s duration
        ("r2", "B", [2, 3, 2, 3, 2], -30, "2024-05-04"),    # 9: duplicate_id of 6; negative
        ("r6", "B", [4, 4, 4, 4, NAN], 600, "2024-05-04"),  # 10: only 4 answered: not straight
        ("r7", "B", [3, 3, 3, 3, 3], 600, "2024-05-05"),    # 11: straight_lining (all 3)
        ("r8", "A", [NAN] * 5, NAN, None),                  # 12: nothing answered, no times
        ("r9", "A", [2, 4, 2, 4, 2], 600, "2024-06-02"),    # 13: outside_period
        ("r10", "A", [5, 5, 5, 5, 5], 600, "2030-01-01"),   # 14: straight_lining (not a
        #                                     duplicate of 5: straight rows are left out);
        #                                     outside_period and future_date
    ]
    rows = []
    for position, (rid, unit, values, seconds, day) in enumerate(answers):
        start = pd.Timestamp(day or "2024-05-10") + pd.Timedelta(hours=9)
        end = start + pd.Timedelta(seconds=seconds) if not math.isnan(seconds) else pd.NaT
        rows.append(dict(respondent_id=rid, unit=unit, **dict(zip(CRITERIA, values)),
                         start=start if day else pd.NaT, end=end,
                         date=pd.Timestamp(day) if day else pd.NaT, source_row=position + 5))
    frame = pd.DataFrame(rows)
    frame[CRITERIA] = frame[CRITERIA].astype(float)
    return frame


OPTIONS = dict(criteria=CRITERIA, unit="unit", start="start", end="end", date="date",
               survey_period=PERIOD, today=TODAY)


def flagged(flags, name) -> list[int]:
    return flags.loc[flags["flag"] == name, "source_row"].tolist()


def test_each_flag_marks_the_rows_its_rule_names():
    flags = quality.quality_flags(small_frame(), **OPTIONS)
    assert list(flags.columns) == ["source_row", "respondent_id", "unit", "flag", "detail"]
    # the same answer to all 5 ratings: rows 5, 11, 14; row 10 answered only 4 of 5
    assert flagged(flags, "straight_lining") == [5, 11, 14]
    # row 7 repeats row 6 within unit A; row 8 has the same answers in unit B (not flagged);
    # rows 5 and 14 are identical but straight-lined, so not called duplicates
    assert flagged(flags, "duplicate_answers") == [7]
    assert "row 6" in flags.loc[flags["flag"] == "duplicate_answers", "detail"].iloc[0]
    # id r2 first on row 6, again on row 9
    assert flagged(flags, "duplicate_id") == [9]
    assert "row 6" in flags.loc[flags["flag"] == "duplicate_id", "detail"].iloc[0]
    # 0 s (row 8) and -30 s (row 9)
    assert flagged(flags, "nonpositive_duration") == [8, 9]
    # median positive duration 600 s, threshold 30 % = 180 s: row 7 (60 s)
    assert flagged(flags, "speeder") == [7]
    assert "180" in flags.loc[flags["flag"] == "speeder", "detail"].iloc[0]
    assert flagged(flags, "outside_period") == [13, 14]
    assert flagged(flags, "future_date") == [14]
    # rows in file order, and flags in FLAGS order within a row
    assert flags["source_row"].is_monotonic_increasing
    assert flags[flags["source_row"] == 14]["flag"].tolist() == [
        "straight_lining", "outside_period", "future_date"]


def test_details_in_vietnamese():
    flags = quality.quality_flags(small_frame(), **OPTIONS, lang="vi")
    details = flags.set_index(["source_row", "flag"])["detail"]
    assert details[(5, "straight_lining")] == "cả 5 tiêu chí đã trả lời đều = 5"
    assert details[(7, "duplicate_answers")] == "trùng mọi câu trả lời với dòng 6"
    assert details[(9, "duplicate_id")] == "mã phiếu r2 đã có ở dòng 6"
    assert details[(7, "speeder")] == "60 giây, dưới ngưỡng 180 giây"


def test_flags_never_drop_rows_and_the_frame_is_left_as_it_was():
    frame = small_frame()
    before = frame.copy()
    quality.quality_flags(frame, **OPTIONS)
    quality.quality_summary(frame, **OPTIONS)
    pd.testing.assert_frame_equal(frame, before)


def test_straight_lining_needs_k_answers_or_all_criteria_when_fewer():
    frame = small_frame()
    # with k = 4, row 10 (4 answered, all 4) is straight-lined too
    flags = quality.quality_flags(frame, **OPTIONS, min_items_straight=4)
    assert flagged(flags, "straight_lining") == [5, 10, 11, 14]
    # two criteria only: k is 2 (all criteria), so two equal answers are enough
    two = pd.DataFrame({"respondent_id": ["a", "b"], "unit": "A", "q1": [4.0, 4.0],
                        "q2": [4.0, 3.0]})
    assert quality.quality_flags(two, criteria=["q1", "q2"])["flag"].tolist() == [
        "straight_lining"]


def test_demographics_are_part_of_the_answer_vector():
    frame = small_frame().assign(sex="female")
    assert flagged(quality.quality_flags(frame, **OPTIONS), "duplicate_answers") == [7]
    frame.loc[2, "sex"] = "male"          # row 7 is now a different person
    assert flagged(quality.quality_flags(frame, **OPTIONS), "duplicate_answers") == []


def test_speeder_threshold_in_seconds_or_seconds_per_item():
    frame = small_frame()
    # a stated minimum of 700 s: every positive duration (600 s and 60 s) is below it
    flags = quality.quality_flags(frame, **OPTIONS, min_duration=700)
    assert flagged(flags, "speeder") == [5, 6, 7, 10, 11, 13, 14]
    # 100 s per rating answered: 5 answered -> 500 s, 4 answered (row 10) -> 400 s
    flags = quality.quality_flags(frame, **OPTIONS, seconds_per_item=100)
    assert flagged(flags, "speeder") == [7]
    flags = quality.quality_flags(frame, **OPTIONS, seconds_per_item=130)   # 650 s and 520 s
    assert flagged(flags, "speeder") == [5, 6, 7, 11, 13, 14]


def test_checks_without_their_columns_do_not_run():
    frame = small_frame().drop(columns=["start", "end", "date"])
    flags = quality.quality_flags(frame, criteria=CRITERIA, unit="unit")
    assert set(flags["flag"]) == {"straight_lining", "duplicate_answers", "duplicate_id"}
    table = quality.quality_summary(frame, criteria=CRITERIA, unit="unit")["flags"]
    unchecked = table.loc[~table["checked"], "flag"].tolist()
    assert unchecked == ["nonpositive_duration", "speeder", "outside_period", "future_date",
                         "interviewer_outlier"]


def test_every_missing_column_is_named_at_once():
    with pytest.raises(ValueError) as error:
        quality.quality_flags(small_frame(), criteria=["q1", "q9"], unit="office",
                              start="begin", end="end")
    for name in ["q9", "office", "begin"]:
        assert name in str(error.value)


def test_a_time_that_does_not_parse_names_its_file_row():
    frame = small_frame()
    frame["start"] = frame["start"].astype(object)
    frame.loc[3, "start"] = "yesterday-ish"
    with pytest.raises(ValueError, match=r"start.*rows 8"):
        quality.quality_flags(frame, **OPTIONS)


# --- item non-response ----------------------------------------------------------------------
def test_item_nonresponse_by_item_and_unit():
    tables = quality.quality_summary(small_frame(), **OPTIONS)
    items = tables["item_nonresponse"].set_index("item")
    # q5: row 10 and row 12 have no answer; q1: row 12 only
    assert items.loc["q5", "n_missing"] == 2 and items.loc["q1", "n_missing"] == 1
    assert items.loc["q5", "share"] == pytest.approx(0.2)
    units = tables["unit_nonresponse"].set_index("unit")
    # unit A: 6 respondents x 5 items, 5 missing (row 12); unit B: 4 x 5, 1 missing (row 10)
    assert units.loc["A", ["n_respondents", "n", "n_missing", "n_no_rating"]].tolist() == \
        [6, 30, 5, 1]
    assert units.loc["B", "share"] == pytest.approx(1 / 20)


def test_ratings_skipped_by_design_are_not_missing():
    frame = small_frame().assign(used_service=True)
    frame.loc[7, "used_service"] = False          # row 12 used no service
    items = quality.quality_summary(frame, **OPTIONS)["item_nonresponse"].set_index("item")
    assert items.loc["q1", ["n", "n_missing", "n_skipped_by_design"]].tolist() == [9, 0, 1]


def test_summary_counts_flags_and_straight_lining_by_answer():
    tables = quality.quality_summary(small_frame(), **OPTIONS)
    counts = tables["flags"].set_index("flag")["n_flagged"]
    assert list(tables["flags"]["flag"]) == list(quality.FLAGS)
    assert counts.to_dict() == {"straight_lining": 3, "duplicate_answers": 1,
                                "duplicate_id": 1, "nonpositive_duration": 2, "speeder": 1,
                                "outside_period": 2, "future_date": 1,
                                "interviewer_outlier": 0}
    by_unit = tables["flags_by_unit"]
    straight = by_unit[by_unit["flag"] == "straight_lining"].set_index("unit")["n_flagged"]
    assert straight.to_dict() == {"A": 2, "B": 1}
    # 8 rows answered all 5 ratings (enough to be checked): two said 5 throughout, one 3
    answers = tables["straight_lining"].set_index("answer")
    assert answers["n_respondents"].to_dict() == {3.0: 1, 5.0: 2}
    assert answers.loc[5.0, "share"] == pytest.approx(2 / 8)
    durations = tables["durations"].iloc[0]
    assert durations["median_seconds"] == 600 and durations["threshold_seconds"] == 180
    assert durations["n_nonpositive"] == 2 and durations["n_missing"] == 1


# --- interviewer effects --------------------------------------------------------------------
def test_icc_of_a_balanced_example_by_hand():
    # groups (1,2,3), (2,3,4), (3,4,5): means 2, 3, 4; SSB = 6, MSB = 3; SSW = 6, MSW = 1;
    # n0 = n = 3; ICC = (3 - 1) / (3 + 2 x 1) = 0.4; eta^2 = 6 / 12; F(2, 6) = 3, whose
    # survival function for 2 numerator df is (1 + 2F/6)^-3 = 1/8
    out = quality.anova_icc([1, 2, 3, 2, 3, 4, 3, 4, 5], list("aaabbbccc"))
    assert out["n0"] == pytest.approx(3)
    assert out["icc"] == pytest.approx(0.4)
    assert out["eta_squared"] == pytest.approx(0.5)
    assert out["f_statistic"] == pytest.approx(3)
    assert out["p_value"] == pytest.approx(0.125)


def test_icc_of_an_unbalanced_example_uses_n0():
    # sizes 2 and 4: n0 = (6 - (4 + 16) / 6) / 1 = 8/3. Means 1 and 4, grand mean 3:
    # SSB = 2 x 4 + 4 x 1 = 12 = MSB (1 df); SSW = 2 + 4 = 6, MSW = 6 / 4 = 1.5
    out = quality.anova_icc([0, 2, 3, 3, 5, 5], list("aabbbb"))
    n0 = 8 / 3
    assert out["n0"] == pytest.approx(n0)
    assert out["ms_between"] == pytest.approx(12) and out["ms_within"] == pytest.approx(1.5)
    assert out["icc"] == pytest.approx((12 - 1.5) / (12 + (n0 - 1) * 1.5))


def test_icc_matches_the_variance_components_it_estimates():
    # balanced, many groups: the ANOVA ICC recovers sigma_b^2 / (sigma_b^2 + sigma_w^2)
    rng = np.random.default_rng(4)
    k, n = 400, 10
    groups = np.repeat(np.arange(k), n)
    scores = rng.normal(0, 0.5, k)[groups] + rng.normal(0, 1.0, k * n)
    assert quality.anova_icc(scores, groups)["icc"] == pytest.approx(0.25 / 1.25, abs=0.03)


def interviewer_frame() -> pd.DataFrame:
    """Four interviewers of 12 respondents; I4's respondents rate everything 5."""
    rng = np.random.default_rng(7)
    rows = []
    for who in ["I1", "I2", "I3", "I4"]:
        for j in range(12):
            values = [5.0] * 5 if who == "I4" else list(rng.integers(2, 5, 5).astype(float))
            rows.append(dict(respondent_id=f"{who}-{j}", unit="A", interviewer=who,
                             staff=f"desk{j % 2}", **dict(zip(CRITERIA, values))))
    return pd.DataFrame(rows)


def test_an_interviewer_beyond_the_z_limit_flags_all_their_rows():
    frame = interviewer_frame()
    flags = quality.quality_flags(frame, criteria=CRITERIA, unit="unit",
                                  interviewer="interviewer")
    outlier = flags[flags["flag"] == "interviewer_outlier"]
    assert outlier["respondent_id"].str.startswith("I4").all() and len(outlier) == 12
    effects = quality.interviewer_effects(frame, criteria=CRITERIA, by="interviewer")
    i4 = effects.set_index("group").loc["I4"]
    # the modified z by hand: 0.6745 (mean - median of the four means) / MAD
    means = frame[CRITERIA].mean(axis=1).groupby(frame["interviewer"]).mean()
    median = means.median()
    mad = (means - median).abs().median()
    assert effects.set_index("group")["z"].to_numpy() == pytest.approx(
        (0.6745 * (means - median) / mad).to_numpy())
    assert i4["z"] > 3.5 and i4["beyond_limit"]
    # the others are not made extreme by I4 (a comparison with the pooled mean would be)
    assert not effects.set_index("group").loc[["I1", "I2", "I3"], "beyond_limit"].any()
    # fewer respondents than min_n: reported, not flagged
    fewer = quality.quality_flags(frame, criteria=CRITERIA, unit="unit",
                                  interviewer="interviewer", min_interviewer_n=13)
    assert "interviewer_outlier" not in set(fewer["flag"])


def test_desks_get_the_icc_table_but_no_row_flag():
    frame = interviewer_frame()
    tables = quality.quality_summary(frame, criteria=CRITERIA, unit="unit",
                                     interviewer="interviewer", staff="staff")
    icc = tables["interviewer_icc"].set_index("by")
    assert list(icc.index) == ["interviewer", "staff"]
    assert "(MSB - MSW) / (MSB + (n0 - 1) MSW)" in icc.loc["interviewer", "method"]
    assert icc.loc["interviewer", "icc"] > 0.5
    assert set(tables["interviewer_effects"]["by"]) == {"interviewer", "staff"}
    assert tables["flags"].set_index("flag").loc["interviewer_outlier", "n_flagged"] == 12


# --- excluding ------------------------------------------------------------------------------
def test_exclude_flagged_drops_the_named_flags_and_counts_them():
    frame = small_frame()
    flags = quality.quality_flags(frame, **OPTIONS)
    kept, removed = quality.exclude_flagged(frame, flags, ["straight_lining", "speeder"])
    assert removed == {"straight_lining": 3, "speeder": 1}
    assert sorted(set(frame["source_row"]) - set(kept["source_row"])) == [5, 7, 11, 14]
    # "duplicate" stands for both duplicate flags
    kept, removed = quality.exclude_flagged(frame, flags, "duplicate")
    assert removed == {"duplicate_answers": 1, "duplicate_id": 1}
    assert len(kept) == 8


def test_unknown_flag_names_are_named_with_the_list_of_flags():
    with pytest.raises(ValueError) as error:
        quality.exclude_flagged(small_frame(), quality.quality_flags(small_frame(), **OPTIONS),
                                ["straight_lining", "sped", "dupes"])
    message = str(error.value)
    assert "'sped'" in message and "'dupes'" in message
    for name in quality.FLAGS:
        assert name in message


# --- the report files -----------------------------------------------------------------------
class _Checker(html.parser.HTMLParser):
    """Every opened element closed in order (void elements aside); no external resource."""
    VOID = {"meta", "br", "hr", "img", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.problems = [], []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "link", "img", "iframe"):
            self.problems.append(f"<{tag}> element")
        if any(name in ("src", "href") for name, _ in attrs):
            self.problems.append(f"{tag} links out")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.problems.append(f"</{tag}> out of order")


def hostile_frame() -> pd.DataFrame:
    frame = small_frame()
    frame.loc[frame["unit"] == "A", "unit"] = '<script>alert("x")</script>'
    frame.loc[0, "respondent_id"] = "=HYPERLINK(\"http://evil\")"
    return frame


@pytest.mark.parametrize("lang, words", [("vi", ["Báo cáo chất lượng dữ liệu", "Trả lời một mức",
                                                 "Không ý kiến"]),
                                         ("en", ["Survey data-quality report", "Straight-lining",
                                                 "no opinion"])])
def test_page_workbook_and_rows_written_in_each_language(tmp_path, lang, words):
    paths = quality.write_quality_report(hostile_frame(), tmp_path, lang=lang,
                                         source="survey<1>.xlsx", **OPTIONS)
    assert {p.name for p in tmp_path.iterdir()} == {"quality.html", "quality.xlsx",
                                                    "flagged_rows.csv"}
    page = paths["html"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and f'<html lang="{lang}">' in page
    for word in words:
        assert word in page
    assert "<script>" not in page and "&lt;script&gt;" in page      # cells are escaped
    assert "survey&lt;1&gt;.xlsx" in page
    checker = _Checker()
    checker.feed(page)
    assert checker.problems == [] and checker.stack == []
    # every flag has its sentence with its count
    sentence = {"vi": "(straight_lining): 3/10 dòng", "en": "(straight_lining): 3 of 10 rows"}
    assert sentence[lang] in page
    book = openpyxl.load_workbook(paths["xlsx"])
    assert book.sheetnames[-1] == "flagged_rows"
    assert {"flags", "item_nonresponse", "unit_nonresponse", "durations"} <= set(book.sheetnames)
    rows = pd.read_csv(paths["csv"])
    assert len(rows) == 11 and list(rows.columns) == quality.FLAG_COLUMNS
    # a cell a spreadsheet would run as a formula is text
    assert rows["respondent_id"].iloc[0].startswith("'=")


def test_an_error_writes_nothing_and_keeps_the_old_report(tmp_path, monkeypatch):
    with pytest.raises(ValueError):
        quality.write_quality_report(small_frame(), tmp_path / "new", criteria=["q1", "nope"])
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())
    quality.write_quality_report(small_frame(), tmp_path, **OPTIONS)
    old = (tmp_path / "quality.html").read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(quality.files, "write_table", broken)
    with pytest.raises(OSError):
        quality.write_quality_report(small_frame().assign(unit="Z"), tmp_path, lang="en",
                                     **OPTIONS)
    assert (tmp_path / "quality.html").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flagged_rows.csv", "quality.html",
                                                          "quality.xlsx"]


# --- the command line -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory):
    """A demo-like file: the simulator's sample, with one respondent entered twice under a new
    id (a duplicate_answers row) and one answering 1 throughout (straight-lining)."""
    sample, _ = simulate_survey(n=400, seed=3, years=[2024])
    users = sample.index[sample["used_service"]]
    copy = sample.loc[[users[0]]].assign(respondent_id="COPY1")
    sample.loc[users[1], quality.schema.RATING_COLUMNS + quality.schema.SCORE_COLUMNS] = 1.0
    sample = pd.concat([sample, copy], ignore_index=True)
    path = tmp_path_factory.mktemp("cli") / "survey.csv"
    sample.to_csv(path, index=False)
    return path, sample


def test_cli_quality_end_to_end(demo_csv, tmp_path, capsys):
    path, sample = demo_csv
    out = tmp_path / "q"
    assert cli.main(["quality", str(path), "--out", str(out), "--lang", "en"]) == 0
    printed = capsys.readouterr().out
    assert "SYNTHETIC" in printed and "duplicate_answers: 1" in printed
    assert "speeder: not checked" in printed
    rows = pd.read_csv(out / "flagged_rows.csv", dtype={"unit": str})
    dup = rows[rows["flag"] == "duplicate_answers"]
    # the copy is the file's last row: header row 1, so row len + 1
    assert dup["source_row"].tolist() == [len(sample) + 1]
    assert dup["respondent_id"].tolist() == ["COPY1"]
    assert "DỮ LIỆU MÔ PHỎNG" not in (out / "quality.html").read_text(encoding="utf-8")
    assert cli.main(["quality", str(path), "--out", str(out)]) == 0      # Vietnamese page
    assert "DỮ LIỆU MÔ PHỎNG" in (out / "quality.html").read_text(encoding="utf-8")


def test_cli_quality_reports_repeated_ids_that_validation_refuses(demo_csv, tmp_path, capsys):
    _, sample = demo_csv
    path = tmp_path / "repeated.csv"
    sample.assign(respondent_id=sample["respondent_id"].where(sample.index != 5,
                                                              sample["respondent_id"][4])
                  ).to_csv(path, index=False)
    assert cli.main(["quality", str(path), "--out", str(tmp_path / "q")]) == 0
    assert "duplicate_id" in capsys.readouterr().err
    rows = pd.read_csv(tmp_path / "q" / "flagged_rows.csv")
    assert rows.loc[rows["flag"] == "duplicate_id", "source_row"].tolist() == [7]   # 6th row
    # any other problem still stops it, with the validation report
    sample.assign(weight=-1.0).to_csv(path, index=False)
    assert cli.main(["quality", str(path), "--out", str(tmp_path / "r")]) == 1
    assert not (tmp_path / "r").exists()


def test_cli_index_exclude_flagged_says_what_each_flag_removed(demo_csv, capsys):
    path, sample = demo_csv
    frame, options = quality.quality_inputs(sample)
    expected = quality.quality_flags(frame, **options)
    n_straight = int((expected["flag"] == "straight_lining").sum())
    assert cli.main(["index", "--data", str(path), "--by", "none", "--lonely-psu", "adjust",
                     "--exclude-flagged", "straight_lining,duplicate"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    line = [x for x in err if "--exclude-flagged" in x]
    assert len(line) == 1
    assert (f"removed {n_straight + 1} of {len(sample)} rows (straight_lining {n_straight}, "
            "duplicate_answers 1, duplicate_id 0)") in line[0]


def test_cli_index_unknown_flag_exits_2_with_the_list(demo_csv, capsys):
    path, _ = demo_csv
    assert cli.main(["index", "--data", str(path), "--exclude-flagged", "straight"]) == 2
    err = capsys.readouterr().err
    assert "'straight'" in err and "straight_lining" in err and "interviewer_outlier" in err
    assert "Traceback" not in err


def test_cli_quality_bad_input(tmp_path, capsys):
    assert cli.main(["quality", str(tmp_path / "none.csv"), "--out", str(tmp_path)]) == 2
    target = tmp_path / "a_file"
    target.write_text("x")
    assert cli.main(["quality", str(target), "--out", str(target)]) == 2
    assert "Traceback" not in capsys.readouterr().err
