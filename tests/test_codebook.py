"""Codebooks: the format's checks, and a province's own table mapped to the contract.

The expected values are counted by hand from the small tables built here.
"""
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sipas_analysis as sa
from sipas_analysis.codebook import Codebook, CodebookError
from sipas_analysis.design import SurveyDesign

SCALE = {"Rất không hài lòng": 1, "Không hài lòng": 2, "Bình thường": 3, "Hài lòng": 4,
         "Rất hài lòng": 5, "Không ý kiến": None}
BOOK = {
    "constants": {"year": 2024, "province": "Thái Nguyên"},
    "columns": {"respondent_id": "Mã phiếu", "unit": "Đơn vị được khảo sát",
                "unit_type": "Loại đơn vị", "date": "Ngày khảo sát", "sex": "Giới tính"},
    "scale": SCALE,
    "satisfied": [4, 5],
    "ratings": {"staff": {"staff_polite": "Câu 5: Thái độ giao tiếp của công chức"},
                "result": {"result_on_time": "Câu 9: Trả kết quả đúng hẹn"}},
    "overall": "Câu 12: Mức độ hài lòng chung",
    "values": {"sex": {"Nam": "male", "Nữ": "female"}},
    "design": {"weights": None, "strata": None, "psu": None},
}


def _table(n_title_rows=0):
    table = pd.DataFrame({
        "Mã phiếu": ["P1", "P2", "P3", "P4", "P5"],
        # the file's header in NFD, with other case and spaces than the codebook's
        unicodedata.normalize("NFD", " đơn vị được  KHẢO SÁT "): [
            "Sở Tư pháp", "Sở Tư pháp", "UBND huyện Phú Lương", "UBND huyện Phú Lương",
            "Sở Tư pháp"],
        "Loại đơn vị": ["Sở", "Sở", "Huyện", "Huyện", "Sở"],
        "Ngày khảo sát": ["05/03/2024", "2024-03-06", 45360.0, "07/03/2024", None],
        "Giới tính": ["Nam", "Nữ", "nữ", "Nam", None],
        "Câu 5: Thái độ giao tiếp của công chức": [
            "Rất hài lòng", unicodedata.normalize("NFD", "hài lòng"), "Bình thường",
            "Không ý kiến", None],
        "Câu 9: Trả kết quả đúng hẹn": ["Hài lòng", "Không hài lòng", "Rất hài lòng",
                                        "Hài lòng", "Bình thường"],
        "Câu 12: Mức độ hài lòng chung": ["Rất hài lòng", "Hài lòng", "Bình thường",
                                          "Hài lòng", "Hài lòng"],
    })
    return table


def test_applied_table_has_the_contract_vocabulary():
    survey = Codebook.from_dict(BOOK).apply(_table())
    assert survey["respondent_id"].tolist() == ["P1", "P2", "P3", "P4", "P5"]
    assert survey["unit"].tolist()[:3] == ["Sở Tư pháp", "Sở Tư pháp", "UBND huyện Phú Lương"]
    # "Không ý kiến" and a blank are missing answers, never a rating
    assert survey["staff_polite"].tolist()[:3] == [5.0, 4.0, 3.0]
    assert survey["staff_polite"].iloc[3:].isna().all()
    assert survey["result_on_time"].tolist() == [4.0, 2.0, 5.0, 4.0, 3.0]
    assert survey["overall_satisfaction"].tolist() == [5.0, 4.0, 3.0, 4.0, 4.0]
    # day first as Vietnam writes dates, ISO text and an Excel day number (45292 is 2024-01-01, so 45360 is 2024-03-09)
    assert survey["date"].dt.strftime("%Y-%m-%d").tolist()[:4] == [
        "2024-03-05", "2024-03-06", "2024-03-09", "2024-03-07"]
    assert survey["sex"].astype(str).tolist()[:4] == ["male", "female", "female", "male"]
    assert (survey["province_code"] == "19").all() and (survey["unit_set"] == "63").all()
    # no design columns: equal weights, each unit a stratum, each respondent a PSU
    assert (survey["weight"] == 1.0).all()
    assert survey["stratum"].tolist() == survey["unit"].tolist()
    assert survey["psu"].tolist() == ["2", "3", "4", "5", "6"]      # each row its own PSU
    assert survey["staff_score"].tolist()[:3] == [5.0, 4.0, 3.0]
    assert survey["source_row"].tolist() == [2, 3, 4, 5, 6]
    said = " | ".join(survey.attrs["assumptions"])
    assert "simple random sampling" in said and "every respondent counts equally" in said
    assert "2 factor(s) rated (staff, result)" in said


def test_every_problem_of_the_file_at_once_with_its_rows():
    table = _table()
    table.loc[1, "Câu 9: Trả kết quả đúng hẹn"] = "Rất hài lòng lắm"
    table.loc[3, "Câu 9: Trả kết quả đúng hẹn"] = "Rất hài lòng lắm"
    table.loc[2, "Ngày khảo sát"] = "ngày 31/02"
    table = table.drop(columns=["Câu 12: Mức độ hài lòng chung"])
    rows = np.array([5, 6, 7, 8, 9])      # header in row 4 under three title rows
    with pytest.raises(sa.SurveyValidationError) as caught:
        Codebook.from_dict(BOOK).apply(table, file_rows=rows, source="own.xlsx")
    problems = caught.value.problems.set_index("column")
    assert set(problems.index) == {"overall", "ratings.result.result_on_time", "columns.date"}
    assert problems.loc["ratings.result.result_on_time", "rows"] == [6, 8]
    assert problems.loc["ratings.result.result_on_time", "n_rows"] == 2
    assert "Rất hài lòng lắm" in str(caught.value)
    assert problems.loc["columns.date", "rows"] == [7]
    assert "is not in the file" in problems.loc["overall", "rule"]
    assert str(caught.value).startswith("own.xlsx: ")
    assert "rows numbered as in the file" in str(caught.value)


def test_unknown_province_and_unknown_sex_label_are_named():
    book = BOOK | {"constants": {"year": 2024}, "columns": BOOK["columns"] | {
        "province": "Tỉnh"}}
    table = _table().assign(**{"Tỉnh": ["Thái Nguyên", "Thai Nguyen", "Thái Nguyen", "Atlantis",
                                        "Thái Nguyên"]})
    table.loc[0, "Giới tính"] = "Khác"
    with pytest.raises(sa.SurveyValidationError) as caught:
        Codebook.from_dict(book).apply(table)
    problems = caught.value.problems.set_index("column")
    assert problems.loc["columns.province", "rows"] == [5]
    assert problems.loc["columns.sex", "rows"] == [2]


def test_codebook_problems_are_all_named_with_their_keys():
    bad = BOOK | {"scales_typo": {}, "file": {"sheet": 0, "header": 3},
                  "satisfied": [4, 6], "constants": {"year": 1999, "province": "x"},
                  "ratings": {"staff": {"Staff Polite": "Câu 5"}}}
    with pytest.raises(CodebookError) as caught:
        Codebook.from_dict(bad, source="cb.yaml")
    text = str(caught.value)
    assert text.startswith("cb.yaml: codebook has 5 problem(s)")
    assert "unknown key scales_typo" in text and "did you mean 'scales'" in text
    assert "unknown key file.header" in text and "did you mean 'header_row'" in text
    assert "satisfied: {6} not on the scale" in text
    assert "constants.year must be a whole year" in text
    assert "ratings.staff.Staff Polite: a criterion name must be snake_case" in text


def test_minimal_contract_needs_ratings_a_unit_and_a_year():
    with pytest.raises(CodebookError) as caught:
        Codebook.from_dict({"scale": SCALE})
    text = str(caught.value)
    assert "at least one factor" in text and "no unit" in text and "no year" in text


def test_rows_before_1_july_2025_belong_to_the_63_units_by_their_date():
    book = BOOK | {"constants": {"province": "Thái Nguyên"}}
    table = _table().iloc[:2].assign(**{"Ngày khảo sát": ["30/06/2025", "01/07/2025"]})
    survey = Codebook.from_dict(book).apply(table)
    assert survey["year"].tolist() == [2025, 2025]
    assert survey["unit_set"].tolist() == ["63", "34"]
    # Thái Nguyên is 19 in the 63-set; in the 34-set it is the merged Thái Nguyên
    assert survey["province_code"].tolist() == ["19", sa.normalise_province(
        "Thái Nguyên", unit_set="34")]


def test_reversed_criterion_and_own_scale_with_its_satisfied_levels():
    book = BOOK | {
        "ratings": {"staff": {"staff_polite": "Câu 5: Thái độ giao tiếp của công chức"},
                    "waiting": {"wait_long": "Thời gian chờ quá lâu",
                                "kiosk": "Máy đánh giá"}},
        "reverse": ["wait_long"],
        "scales": {"kiosk": {"labels": {"Không hài lòng": 1, "Bình thường": 2, "Hài lòng": 3,
                                        "Rất hài lòng": 4}, "satisfied": [3, 4]}},
    }
    table = _table().assign(**{"Thời gian chờ quá lâu": [1, 5, 2, 4, None],
                               "Máy đánh giá": ["Rất hài lòng", "Hài lòng", "Không hài lòng",
                                                "Bình thường", "Hài lòng"]})
    book_ = Codebook.from_dict(book)
    survey = book_.apply(table)
    # "waiting too long" 1 (strongly disagree) is a 5 once reversed on the 1-5 scale
    assert survey["wait_long"].tolist()[:4] == [5.0, 1.0, 4.0, 2.0]
    assert survey["kiosk"].tolist() == [4.0, 3.0, 1.0, 2.0, 3.0]
    options = book_.index_options()
    assert options["satisfied"] == {"staff_polite": (4, 5), "wait_long": (4, 5),
                                    "kiosk": (3, 4)}
    table_ = sa.sipas_index(SurveyDesign(survey, psu="psu", strata="stratum", weights="weight"),
                            ci_method="normal", **options).set_index("term")
    # counted by hand: kiosk satisfied (3 or 4) in rows 1, 2, 5 of 5; wait_long 4-5 in 1, 3
    assert table_.loc["kiosk", "estimate"] == pytest.approx(60.0)
    assert table_.loc["wait_long", "estimate"] == pytest.approx(50.0)
    assert table_.loc["waiting", "estimate"] == pytest.approx(55.0)


def test_a_scale_that_differs_needs_its_satisfied_levels():
    book = BOOK | {"scales": {"staff_polite": {"Có": 1, "Một phần": 2, "Không": 3, "x": 4}}}
    with pytest.raises(CodebookError, match="say which count as satisfied"):
        Codebook.from_dict(book)


def test_index_by_unit_counts_the_satisfied_answers():
    rng = np.random.default_rng(3)
    labels = np.array(list(SCALE)[:5])
    units = np.repeat(["Sở A", "Sở B", "UBND huyện C"], 60)
    answers = labels[rng.choice(5, size=180, p=[0.02, 0.03, 0.1, 0.45, 0.4])]
    table = pd.DataFrame({"Đơn vị được khảo sát": units,
                          "Câu 5: Thái độ giao tiếp của công chức": answers,
                          "Câu 9: Trả kết quả đúng hẹn": answers[::-1]})
    book = Codebook.from_dict(BOOK | {"columns": {"unit": "Đơn vị được khảo sát"},
                                      "overall": None})
    survey = book.apply(table)
    design = SurveyDesign(survey, psu="psu", strata="stratum", weights="weight")
    result = sa.sipas_index(design, by="unit", **book.index_options()).set_index(["unit", "term"])
    happy = pd.Series(np.isin(answers, ["Hài lòng", "Rất hài lòng"]))
    expected = happy.groupby(units).mean() * 100
    for unit, share in expected.items():
        assert result.loc[(unit, "staff_polite"), "estimate"] == pytest.approx(share)
        # simple random sampling within the unit: design df = respondents - 1
        assert result.loc[(unit, "staff_polite"), "df"] == 59


def test_from_yaml_reads_the_issue_format(tmp_path):
    path = tmp_path / "cb.yaml"
    path.write_text("""
file:        {sheet: 0, header_row: auto, separator: auto, encoding: auto}
constants:   {year: 2024, province: "Thái Nguyên"}
columns:     {respondent_id: "Mã phiếu", unit: "Đơn vị được khảo sát",
              unit_type: "Loại đơn vị", date: "Ngày khảo sát", sex: "Giới tính"}
scale:       {"Rất không hài lòng": 1, "Không hài lòng": 2, "Bình thường": 3,
              "Hài lòng": 4, "Rất hài lòng": 5, "Không ý kiến": null}
satisfied:   [4, 5]
ratings:
  staff: {staff_polite: "Câu 5: Thái độ giao tiếp của công chức"}
overall:     "Câu 12: Mức độ hài lòng chung"
values:      {sex: {"Nam": male, "Nữ": female}}
design:      {weights: null, strata: null, psu: null}
extra:       {online_satisfaction: "Câu 11: Mức độ hài lòng khi sử dụng dịch vụ công trực tuyến"}
""", encoding="utf-8")
    book = Codebook.from_yaml(path)
    assert book.factors == {"staff": ["staff_polite"]}
    assert book.satisfied == (4, 5) and book.unit_column == "unit"
    table = _table().assign(**{"Câu 11: Mức độ hài lòng khi sử dụng dịch vụ công trực tuyến": [
        "Hài lòng", None, "Rất hài lòng", "Bình thường", "Hài lòng"]})
    survey = book.apply(table)
    # an extra question on the answer scale is kept under its name, as numbers
    assert survey["online_satisfaction"].tolist()[:1] == [4.0]
    assert np.isnan(survey["online_satisfaction"].iloc[1])


def test_numeric_ages_become_the_contract_age_groups():
    book = Codebook.from_dict(BOOK | {"columns": BOOK["columns"] | {"age_group": "Tuổi"}})
    survey = book.apply(_table().assign(Tuổi=[25, "47", 63, 30, None]))
    assert survey["age_group"].astype(str).tolist()[:4] == ["18-29", "45-59", "60+", "30-44"]


def test_one_unit_whatever_its_spelling_and_renamed_desks_keep_one_name():
    book = Codebook.from_dict(BOOK | {"columns": {"unit": "Đơn vị được khảo sát"},
                                      "overall": None,
                                      "unit_aliases": {"UBND xã Cũ": "UBND xã Mới"}})
    names = ["UBND huyện Phú Lương", "Ủy ban nhân dân huyện Phú Lương",
             unicodedata.normalize("NFD", "UBND  huyện phú lương"), "UBND xã Cũ", "UBND xã Mới"]
    table = pd.DataFrame({"Đơn vị được khảo sát": names,
                          "Câu 5: Thái độ giao tiếp của công chức": ["Hài lòng"] * 5,
                          "Câu 9: Trả kết quả đúng hẹn": ["Hài lòng"] * 5})
    survey = book.apply(table)
    assert survey["unit"].tolist() == ["UBND huyện Phú Lương"] * 3 + ["UBND xã Mới"] * 2
    assert sa.codebook.unit_slug("UBND huyện Phú Lương") == "uy-ban-nhan-dan-huyen-phu-luong"


def test_repeated_ids_are_said_not_refused():
    table = _table()
    table.loc[1, "Mã phiếu"] = "P1"
    survey = Codebook.from_dict(BOOK).apply(table)
    assert survey["respondent_id"].tolist()[:2] == ["P1", "P1"]
    assert survey["psu"].nunique() == 5
    assert any("2 rows share a respondent id" in s for s in survey.attrs["assumptions"])


def _weighting_book(tmp_path, margins: pd.DataFrame, ages=(25, 35, 50, 70, 28, 35, 25, 70, 50, 40,
                                                            50, 70, 25, 35, 60, 70, 50, 35, 25,
                                                            20), **spec):
    path = tmp_path / "margins.csv"
    margins.to_csv(path, index=False)
    book = Codebook.from_dict(BOOK | {"columns": BOOK["columns"] | {"age_group": "Tuổi"},
                                      "weighting": {"margins": "margins.csv", **spec}},
                              source=str(tmp_path / "cb.yaml"))
    table = pd.concat([_table()] * 4, ignore_index=True)
    table["Mã phiếu"] = [f"P{i}" for i in range(len(table))]
    table["Tuổi"] = list(ages)
    return book, book.apply(table)


def test_the_codebook_weighting_step_post_stratifies_to_the_margins(tmp_path):
    from sipas_analysis.design import design_for
    margins = pd.DataFrame({"variable": ["sex", "sex"], "level": ["female", "male"],
                            "total": [6000, 4000]})
    book, survey = _weighting_book(tmp_path, margins.iloc[:2], method="post_stratify")
    survey = survey[survey["sex"].notna()]
    design = design_for(survey, book)
    # closed form: the post-stratified mean is the population-weighted mean of the cell means
    y = survey["result_on_time"]
    cell = y.groupby(survey["sex"].astype(str)).mean()
    expected = 0.6 * cell["female"] + 0.4 * cell["male"]
    assert float(design.mean("result_on_time")["estimate"].iloc[0]) == pytest.approx(expected)
    assert design.weighting_steps[0].method == "post_stratify"
    assert any("calibrated to the population margins in margins.csv" in s
               for s in survey.attrs["assumptions"])


def test_raking_to_margins_reproduces_them_and_bad_margins_are_named(tmp_path):
    from sipas_analysis.design import design_for
    margins = pd.DataFrame({"variable": ["sex", "sex", "age_group", "age_group", "age_group",
                                         "age_group"],
                            "level": ["female", "male", "18-29", "30-44", "45-59", "60+"],
                            "total": [520, 480, 300, 250, 250, 200]})
    book, survey = _weighting_book(tmp_path, margins)
    survey = survey[survey["sex"].notna()]
    raked = design_for(survey, book)
    frame = raked.data.assign(w=raked.weights)
    assert frame.groupby("sex")["w"].sum().to_dict() == pytest.approx({"female": 520,
                                                                        "male": 480})
    assert frame.groupby("age_group")["w"].sum().to_dict() == pytest.approx(
        {"18-29": 300, "30-44": 250, "45-59": 250, "60+": 200})
    bad = margins.assign(total=margins["total"].where(margins["level"] != "60+", 999))
    book, survey = _weighting_book(tmp_path, bad)
    with pytest.raises(ValueError, match="total"):
        design_for(survey[survey["sex"].notna()], book)
    # every man in two age groups, every woman in the other two: the margins cannot both hold
    book, survey = _weighting_book(tmp_path, margins, ages=[25, 35, 50, 70, 28] * 4)
    with pytest.raises(ValueError, match="cannot all be met"):
        design_for(survey[survey["sex"].notna()], book)


def test_the_weighting_sentence_names_the_method_the_margins_file_and_the_bounds(tmp_path):
    from sipas_analysis.design import design_for
    from sipas_analysis.weighting import describe_weighting, weighting_deff
    margins = pd.DataFrame({"variable": ["sex", "sex", "age_group", "age_group", "age_group",
                                         "age_group"],
                            "level": ["female", "male", "18-29", "30-44", "45-59", "60+"],
                            "total": [520, 480, 300, 250, 250, 200]})
    book, survey = _weighting_book(tmp_path, margins, method="raking", bounds=[0.5, 2.0])
    design = design_for(survey[survey["sex"].notna()], book)
    deff = weighting_deff(design.weights)
    assert describe_weighting(design, "en") == (
        "Weights: equal starting weights (the data file has none), calibrated by calibration "
        "with the raking distance to the population margins in margins.csv (sex, age_group), "
        f"new/old weight bounded to [0.50, 2.00]; weighting design effect 1 + CV² = "
        f"{deff:.2f}.")
    assert describe_weighting(design, "vi").startswith(
        "Trọng số: trọng số ban đầu bằng nhau (tệp dữ liệu không có trọng số), được hiệu chỉnh "
        "bằng hiệu chỉnh dạng mũ (raking) theo các tổng biên của tổng thể trong tệp "
        "margins.csv (sex, age_group), tỷ số trọng số mới/cũ giới hạn trong [0,50; 2,00]")
    # raking within units, then trimmed: the groups and the trimming are said
    by_unit = pd.concat([margins.assign(unit=u) for u in survey["unit"].unique()])
    by_unit["total"] = by_unit["total"] / survey["unit"].nunique()
    book, survey = _weighting_book(tmp_path, by_unit, by="unit")
    design = design_for(survey[survey["sex"].notna()], book).trim_weights(upper=1e9)
    assert ("calibrated by raking to the population margins in margins.csv (sex, age_group; "
            "within each unit), then trimmed to [−∞, 1,000,000,000.00]"
            in describe_weighting(design, "en"))


def test_the_documented_margins_file_rakes_a_survey_within_its_units():
    # docs/examples/weighting_margins.csv: the margins format (unit, variable, level, total)
    from types import SimpleNamespace
    from sipas_analysis.design import design_for
    examples = Path(__file__).resolve().parent.parent / "docs" / "examples"
    margins = pd.read_csv(examples / "weighting_margins.csv")
    rng = np.random.default_rng(0)
    n = 400
    survey = pd.DataFrame({
        "unit": rng.choice(["Sở Tư pháp", "UBND huyện Phú Lương"], n),
        "sex": rng.choice(["female", "male"], n),
        "age_group": rng.choice(["18-29", "30-44", "45-59", "60+"], n),
        "weight": 1.0, "stratum": "s", "psu": np.arange(n).astype(str)})
    book = SimpleNamespace(weighting={"margins": "weighting_margins.csv", "by": "unit"},
                           source=None)
    design = design_for(survey, book, base_dir=examples)
    frame = design.data.assign(w=design.weights)
    for variable in ("sex", "age_group"):
        raked = frame.groupby(["unit", variable])["w"].sum()
        wanted = margins[margins["variable"] == variable].set_index(["unit", "level"])["total"]
        assert raked.to_numpy() == pytest.approx(wanted.loc[raked.index].to_numpy())
