"""Codebook drafting: a province's Excel file with title rows, a KoboToolbox ';' export, a
kiosk file with a 4-level scale and an XLSForm, each built here as offices make them; the
draft's matches, scales, comments and YAML checked, and the two ``sipas codebook`` commands."""
from __future__ import annotations

import datetime
import re
import unicodedata

import openpyxl
import pandas as pd
import pytest
import yaml

from sipas_analysis import cli
from sipas_analysis.codebook_draft import (draft_codebook, fold, match_header,
                                           quote, read_plain, recognise_scale)
from sipas_analysis.xlsform import XLSFormError, from_xlsform

SATISFACTION = ["Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng",
                "Rất hài lòng"]
POLITE = "Câu 5: Thái độ giao tiếp của công chức (lịch sự, tôn trọng)"
LISTEN = "Câu 6: Công chức chú ý lắng nghe"
GUIDE = "Câu 7: Công chức hướng dẫn kê khai hồ sơ tận tình, chu đáo"
POSTED = "Câu 8: Thủ tục hành chính được niêm yết công khai"
FEES = "Câu 9: Phí, lệ phí phải nộp đúng quy định"
ON_TIME = "Câu 10: Nhận kết quả đúng hẹn"
SEATS = "Câu 4: Nơi ngồi chờ có đủ chỗ ngồi"
ONLINE = "Câu 11: Mức độ hài lòng khi sử dụng dịch vụ công trực tuyến"
OVERALL = "Câu 12: Mức độ hài lòng chung"


def province_rows(n: int = 12) -> dict[str, list]:
    answers = SATISFACTION + ["Không ý kiến", None]
    pick = lambda shift: [answers[(i + shift) % len(answers)] for i in range(n)]  # noqa: E731
    return {
        "STT": list(range(1, n + 1)),
        "Mã phiếu": [f"TN-{i:04d}" for i in range(n)],
        "Đơn vị được khảo sát": [["UBND xã Tân Cương", "Bộ phận một cửa huyện Đại Từ"][i % 2]
                                 for i in range(n)],
        "Loại đơn vị": [["Cấp xã", "Cấp huyện"][i % 2] for i in range(n)],
        "Ngày khảo sát": [datetime.datetime(2024, 3, 1 + i % 28) for i in range(n)],
        "Giới tính": [["Nam", "Nữ"][i % 2] for i in range(n)],
        "Độ tuổi": [["18-29", "30-44", "45-59", "Trên 60 tuổi"][i % 4] for i in range(n)],
        "Trình độ học vấn": [["Tiểu học trở xuống", "THPT", "Đại học"][i % 3] for i in range(n)],
        SEATS: pick(0), POLITE: pick(1), LISTEN: pick(2), GUIDE: pick(3), POSTED: pick(4),
        FEES: pick(5), ON_TIME: pick(6), ONLINE: pick(0), OVERALL: pick(1),
        "Ghi chú": ["" if i % 3 else "khách quen" for i in range(n)],
    }


def write_province_xlsx(path, n: int = 12):
    """The analyst's file: three title rows (a merged-looking title, a subtitle, a blank)."""
    data = province_rows(n)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Phiếu khảo sát"
    sheet.append(["UBND TỈNH THÁI NGUYÊN"])
    sheet.append(["KẾT QUẢ KHẢO SÁT SỰ HÀI LÒNG CỦA NGƯỜI DÂN NĂM 2024"])
    sheet.append([])
    sheet.append(list(data))
    for i in range(n):
        sheet.append([data[h][i] if data[h][i] != "" else None for h in data])
    book.save(path)
    return path


def write_kobo_csv(path, n: int = 10):
    """A KoboToolbox export: ';'-separated, UTF-8 with BOM, group prefixes, numbers 1-5."""
    header = ["start", "end", "today", "thong_tin/ma_don_vi", "thong_tin/gioi_tinh",
              "thong_tin/do_tuoi", "danh_gia/q1_thai_do", "danh_gia/q2_lang_nghe",
              "danh_gia/q3_huong_dan", "danh_gia/q4_niem_yet", "danh_gia/q5_dung_hen",
              "danh_gia/q6_hai_long_chung", "_id", "_uuid", "_submission_time",
              "_validation_status", "_index"]
    lines = [";".join(header)]
    for i in range(n):
        start = datetime.datetime(2024, 5, 1 + i, 8, 0)
        row = [start.isoformat(), (start + datetime.timedelta(minutes=9)).isoformat(),
               start.date().isoformat(), ["xa_a", "xa_b"][i % 2], ["nam", "nu"][i % 2],
               ["18_29", "30_44"][i % 2]] + [str(1 + (i + k) % 5) for k in range(6)] + [
               str(1000 + i), f"9b1c-{i:04d}", (start + datetime.timedelta(minutes=10))
               .isoformat(), "", str(i + 1)]
        lines.append(";".join(row))
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def write_xlsform(path):
    book = openpyxl.Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", "label::English (en)", "label::Vietnamese (vi)",
                   "required"])
    for row in [
            ("start", "start", None, None), ("end", "end", None, None),
            ("begin_group", "thong_tin", "General", "Thông tin chung"),
            ("select_one don_vi", "ma_don_vi", "Unit", "Đơn vị được khảo sát"),
            ("select_one gt", "gioi_tinh", "Sex", "Giới tính"),
            ("integer", "tuoi", "Age", "Tuổi"),
            ("end_group", None, None, None),
            ("begin_group", "danh_gia", "Ratings", "Đánh giá"),
            ("note", "huong_dan_danh_gia", "Rate each", "Đánh giá từng nội dung"),
            ("select_one hl5", "q1", "Politeness", "Câu 1: Thái độ giao tiếp của công chức"),
            ("select_one hl5", "q2", "Listening", "Câu 2: Công chức chú ý lắng nghe"),
            ("select_one dy5", "q3", "No harassment",
             "Câu 3: Công chức gây phiền hà, nhũng nhiễu"),
            ("select_one hl5 or_other", "q4", "On time", "Câu 4: Nhận kết quả đúng hẹn"),
            ("select_one hl5", "q5", "Overall", "Câu 5: Mức độ hài lòng chung"),
            ("text", "y_kien", "Comments", "Ý kiến khác"),
            ("end_group", None, None, None)]:
        survey.append(list(row) + [None])
    choices = book.create_sheet("choices")
    choices.append(["list_name", "name", "label::English (en)", "label::Vietnamese (vi)"])
    names = ["rat_khong_hl", "khong_hl", "binh_thuong", "hai_long", "rat_hl"]
    for name, label in zip(names, SATISFACTION):
        choices.append(["hl5", name, label, label])
    choices.append(["hl5", "kyk", "No opinion", "Không ý kiến"])
    for name, label in zip(["1", "2", "3", "4", "5"],
                           ["Hoàn toàn không đồng ý", "Không đồng ý", "Trung lập", "Đồng ý",
                            "Hoàn toàn đồng ý"]):
        choices.append(["dy5", int(name), label, label])
    choices.append(["gt", "nam", "Male", "Nam"])
    choices.append(["gt", "nu", "Female", "Nữ"])
    choices.append(["don_vi", "xa_a", "Commune A", "UBND xã A"])
    settings = book.create_sheet("settings")
    settings.append(["form_title", "form_id", "version"])
    settings.append(["Khảo sát sự hài lòng Thái Nguyên 2024", "sipas_tn_2024", "3"])
    book.save(path)
    return path


def active_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.lstrip()
            .startswith("#")]


def draft_file(path, **options) -> str:
    frame, file_options, notes = read_plain(path, **options)
    return draft_codebook(frame, file_options=file_options, notes=notes, source=path.name)


# --------------------------------------------------------------------------------------------
# The province's Excel file
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def province_draft(tmp_path_factory):
    path = write_province_xlsx(tmp_path_factory.mktemp("province") / "khao_sat_2024.xlsx")
    return path, draft_file(path)


def test_header_found_below_title_rows(province_draft):
    _, text = province_draft
    book = yaml.safe_load(text)
    assert book["file"] == {"sheet": 0, "header_row": 4}
    assert "rows 1-3 above it are title rows" in text


def test_province_file_round_trips_to_the_intended_mapping(province_draft):
    _, text = province_draft
    expected = {
        "file": {"sheet": 0, "header_row": 4},
        "columns": {"respondent_id": "Mã phiếu", "unit": "Đơn vị được khảo sát",
                    "unit_type": "Loại đơn vị", "date": "Ngày khảo sát", "sex": "Giới tính",
                    "age_group": "Độ tuổi", "education": "Trình độ học vấn"},
        "scale": {"Rất không hài lòng": 1, "Không hài lòng": 2, "Bình thường": 3,
                  "Hài lòng": 4, "Rất hài lòng": 5, "Không ý kiến": None},
        "satisfied": [4, 5],
        "ratings": {"access": {"access_seating": SEATS},
                    "procedure": {"procedure_posted": POSTED, "procedure_lawful_fees": FEES},
                    "staff": {"staff_polite": POLITE, "staff_listening": LISTEN,
                              "staff_guidance": GUIDE},
                    "result": {"result_on_time": ON_TIME}},
        "overall": OVERALL,
        "values": {"sex": {"Nam": "male", "Nữ": "female"},
                   "age_group": {"18-29": "18-29", "30-44": "30-44", "45-59": "45-59",
                                 "Trên 60 tuổi": "60+"},
                   "education": {"Tiểu học trở xuống": "primary_or_less",
                                 "THPT": "upper_secondary", "Đại học": "tertiary"}},
        "design": {"weights": None, "strata": None, "psu": None},
        "extra": {"online_satisfaction": ONLINE},
    }
    assert yaml.safe_load(text) == expected


def test_every_active_guess_is_commented(province_draft):
    _, text = province_draft
    book = yaml.safe_load(text)
    headers = set(book["columns"].values()) | {h for f in book["ratings"].values()
                                               for h in f.values()}
    for line in active_lines(text):
        for header in headers:
            if line.strip().endswith(quote(header)) or f": {quote(header)}" in line:
                assert re.search(r"# (sure|likely) \(\d\.\d\d\): ", line), line
    # what was not in the file is said, not assumed: year and province are commented out
    assert re.search(r"^  # year: 2024 .*every date is in 2024", text, re.M)
    assert re.search(r"^  # province: .*no province column", text, re.M)
    assert "constants" not in book


def test_unmatched_headers_are_listed(province_draft):
    _, text = province_draft
    tail = text[text.index("header(s) not matched"):]
    assert '"STT"' in tail and '"Ghi chú"' in tail
    assert "Mã phiếu" not in tail
    assert text.count("not matched") == 1


def test_province_and_year_guessed_from_title_rows_stay_comments():
    frame = pd.DataFrame({"Mã phiếu": ["1", "2"], "Tên cơ quan": ["Sở Tư pháp", "Sở Y tế"],
                          POLITE: ["Hài lòng", "Rất hài lòng"]})
    text = draft_codebook(frame, file_options={"header_row": 3},
                          notes=["title rows: 'UBND TỈNH THÁI NGUYÊN'; 'NĂM 2024'"])
    assert re.search(r'^  # province: "Thái Nguyên" +# guess', text, re.M)
    assert re.search(r"^  # year: 2024 +# fill in: the file has no date", text, re.M)
    assert yaml.safe_load(text)["columns"] == {"respondent_id": "Mã phiếu",
                                               "unit": "Tên cơ quan"}


# --------------------------------------------------------------------------------------------
# The KoboToolbox export
# --------------------------------------------------------------------------------------------

def test_kobo_csv_separator_groups_and_metadata(tmp_path):
    text = draft_file(write_kobo_csv(tmp_path / "kobo.csv"))
    book = yaml.safe_load(text)
    assert book["file"] == {"header_row": 1, "separator": ";", "encoding": "utf-8-sig"}
    assert book["columns"] == {"respondent_id": "_uuid", "unit": "thong_tin/ma_don_vi",
                               "date": "_submission_time", "start": "start", "end": "end",
                               "sex": "thong_tin/gioi_tinh", "age_group": "thong_tin/do_tuoi"}
    assert book["ratings"] == {
        "procedure": {"procedure_posted": "danh_gia/q4_niem_yet"},
        "staff": {"staff_polite": "danh_gia/q1_thai_do",
                  "staff_listening": "danh_gia/q2_lang_nghe",
                  "staff_guidance": "danh_gia/q3_huong_dan"},
        "result": {"result_on_time": "danh_gia/q5_dung_hen"}}
    assert book["overall"] == "danh_gia/q6_hai_long_chung"
    # numbers 1-5: no label scale to write, the satisfied levels still a commented guess
    assert "scale" not in book and book["satisfied"] == [4, 5]
    assert "numbers 1–5" in text
    assert '"_id": KoboToolbox/ODK metadata' in text
    assert '"today"' in text          # a second date column, not silently used


def test_kobo_age_labels_not_recognised_are_left_to_fill(tmp_path):
    text = draft_file(write_kobo_csv(tmp_path / "kobo.csv"))
    assert re.search(r'^    # "18_29": "\?" +# not recognised: write one of 18-29', text, re.M) \
        or re.search(r'^    "18_29": "18-29" +# guess', text, re.M)


# --------------------------------------------------------------------------------------------
# Scales
# --------------------------------------------------------------------------------------------

def test_four_level_kiosk_scale():
    labels = ["Rất hài lòng", "Hài lòng", "Không hài lòng", "Rất không hài lòng"]
    frame = pd.DataFrame({"Ngày": ["01/06/2024", "02/06/2024", "03/06/2024", "04/06/2024"],
                          "Bộ phận một cửa": ["Quầy 1"] * 4,
                          "Thái độ cán bộ": labels, "Đúng hẹn": labels[::-1],
                          "Mức độ hài lòng chung": labels})
    book = yaml.safe_load(draft_codebook(frame, file_options={"header_row": 1}))
    assert book["scale"] == {"Rất không hài lòng": 1, "Không hài lòng": 2, "Hài lòng": 3,
                             "Rất hài lòng": 4}
    assert book["satisfied"] == [3, 4]
    assert book["columns"]["date"] == "Ngày" and book["columns"]["unit"] == "Bộ phận một cửa"
    assert book["ratings"]["staff"] == {"staff_polite": "Thái độ cán bộ"}


def test_middle_answer_anywhere_makes_every_column_five_level():
    frame = pd.DataFrame({"Thái độ": ["Rất hài lòng", "Hài lòng"],
                          "Lắng nghe": ["Bình thường", "Hài lòng"]})
    book = yaml.safe_load(draft_codebook(frame, file_options={}))
    assert book["scale"]["Rất hài lòng"] == 5 and book["satisfied"] == [4, 5]


def test_a_criterion_on_another_scale_gets_its_own():
    agree = ["Hoàn toàn đồng ý", "Đồng ý", "Trung lập"]
    frame = pd.DataFrame({POLITE: ["Hài lòng", "Rất hài lòng", "Bình thường"],
                          LISTEN: ["Hài lòng", "Không hài lòng", "Bình thường"],
                          "Câu 9: Công chức không gây phiền hà, nhũng nhiễu": agree})
    text = draft_codebook(frame, file_options={})
    book = yaml.safe_load(text)
    assert book["scale"]["Hài lòng"] == 4
    assert book["scales"] == {"staff_no_harassment": {
        "Hoàn toàn không đồng ý": 1, "Không đồng ý": 2, "Trung lập": 3, "Đồng ý": 4,
        "Hoàn toàn đồng ý": 5}}
    assert "reverse" not in text      # worded "không gây": agreeing is better


def test_recognise_scale_rules():
    assert recognise_scale(["Hài lòng", "Rất hài lòng", "Khác"]) is None
    assert recognise_scale(["Hài lòng", "Đồng ý"]) is None          # two families
    numbered = recognise_scale(["1. Rất không hài lòng", "5. Rất hài lòng", "3. Bình thường"])
    assert numbered.mapping["1. Rất không hài lòng"] == 1
    assert numbered.mapping["5. Rất hài lòng"] == 5
    nfd = unicodedata.normalize("NFD", "RẤT HÀI LÒNG")
    assert recognise_scale([nfd, "không hài lòng", "Bình thường"]).mapping[nfd] == 5
    assert recognise_scale(["Không biết", "Hài lòng", "Bình thường"]).mapping["Không biết"] \
        is None
    assert recognise_scale([1, 2, 3, 9]) is not None and recognise_scale([1, 2, 99]) is None
    assert recognise_scale([0, 5, 10]).satisfied == [9, 10]
    english = recognise_scale(["Very satisfied", "Neutral", "Dissatisfied"])
    assert english.family == "satisfaction_en" and english.mapping["Very satisfied"] == 5


def test_ratings_whose_answers_are_not_a_scale_are_not_used():
    frame = pd.DataFrame({"Mã phiếu": ["a", "b", "c"],
                          "Thái độ của công chức": ["tốt", "rất tốt", "chưa tốt"]})
    text = draft_codebook(frame, file_options={})
    book = yaml.safe_load(text)
    assert "ratings" not in book or not book["ratings"]
    assert re.search(r'^    # staff_polite: "Thái độ của công chức" +# possible .*not a rating '
                     r'scale', text, re.M)


# --------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("header, target", [
    ("Số phiếu", "respondent_id"), ("ID", "respondent_id"), ("Tên cơ quan", "unit"),
    ("Cấp", "unit_type"), ("_submission_time", "date"), ("Giới tính", "sex"),
    ("Tuổi", "age_group"), ("Dân tộc", "ethnicity"), ("Tỉnh/thành phố", "province"),
    ("Điều tra viên", "interviewer"), ("Cán bộ tiếp nhận", "staff"), ("Năm", "year"),
    ("Trọng số", "weights"), ("Địa bàn", "psu"),
    (unicodedata.normalize("NFD", "Câu 3. CÔNG CHỨC LẮNG NGHE"), "staff_listening"),
    ("Công chức không có hành vi nhũng nhiễu, gây phiền hà", "staff_no_harassment"),
    ("Q7: Có đủ chỗ ngồi chờ", "access_seating"),
    ("Hồ sơ được trả đúng hẹn", "result_on_time"),
    ("phan_II/c12_muc_do_hai_long_chung", "overall"),
    ("Đánh giá/Câu 8: Thủ tục được niêm yết công khai", "procedure_posted"),
    ("Câu 11: Mức độ hài lòng khi sử dụng dịch vụ công trực tuyến", "online_satisfaction"),
])
def test_match_header(header, target):
    best = match_header(header)[0]
    assert best.target.name == target and best.score >= 0.8, best


def test_words_inside_longer_questions_are_not_exact_columns():
    # "cấp" (level) inside "cung cấp" (provide), "năm" inside a question: no contract column
    for header in ["Công chức cung cấp thông tin đầy đủ", "Số năm sinh sống tại địa phương"]:
        assert all(m.target.section != "columns" or m.score < 0.8
                   for m in match_header(header))


def test_ambiguous_and_weak_matches_are_commented_out():
    frame = pd.DataFrame({"Câu 10: Góp ý, phản ánh": ["Hài lòng", "Rất hài lòng"],
                          "Công chức lịch sự và lắng nghe": ["Hài lòng", "Bình thường"]})
    text = draft_codebook(frame, file_options={})
    book = yaml.safe_load(text)
    assert "ratings" not in book
    assert re.search(r'^    # feedback_\w+: "Câu 10: Góp ý, phản ánh" +# possible', text, re.M)
    assert re.search(r'# staff_\w+: "Công chức lịch sự và lắng nghe" +# possible .*could also '
                     r'be staff_', text)
    assert "possibly" in text[text.index("not matched"):]


def test_fold_and_headers_in_any_unicode_form():
    assert fold("Đơn VỊ") == fold(unicodedata.normalize("NFD", "đơn vị")) == "don vi"
    frame = pd.DataFrame({unicodedata.normalize("NFD", "Mã phiếu"): ["1"]})
    book = yaml.safe_load(draft_codebook(frame, file_options={}))
    assert book["columns"]["respondent_id"] == unicodedata.normalize("NFD", "Mã phiếu")


def test_hostile_headers_round_trip():
    headers = ['Câu 5: "Thái độ"\n(lịch sự) # 1', "ý: kiến\x85khác", "- *alias &a: {x}",
               "yes", "2024"]
    frame = pd.DataFrame({h: ["Hài lòng", "Rất hài lòng"] for h in headers})
    frame[headers[-1]] = [1, 2]
    text = draft_codebook(frame, file_options={"sheet": "Sheet #1: \"x\""})
    book = yaml.safe_load(text)
    assert book["file"]["sheet"] == 'Sheet #1: "x"'
    assert book["ratings"]["staff"]["staff_polite"] == headers[0]
    assert "\x85" not in text and "\x1b" not in text


def test_weights_and_clusters_found():
    frame = pd.DataFrame({"Mã phiếu": ["1", "2"], "Trọng số": [1.5, 2.0],
                          "Cụm": ["c1", "c2"], "Thái độ": ["Hài lòng", "Rất hài lòng"]})
    book = yaml.safe_load(draft_codebook(frame, file_options={}))
    assert book["design"] == {"weights": "Trọng số", "strata": None, "psu": "Cụm"}


# --------------------------------------------------------------------------------------------
# The XLSForm
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def form_draft(tmp_path_factory):
    path = write_xlsform(tmp_path_factory.mktemp("form") / "sipas_form.xlsx")
    return path, from_xlsform(path)


def test_xlsform_maps_group_prefixed_names(form_draft):
    _, text = form_draft
    book = yaml.safe_load(text)
    assert book["columns"] == {"respondent_id": "_uuid", "unit": "thong_tin/ma_don_vi",
                               "date": "_submission_time", "start": "start", "end": "end",
                               "sex": "thong_tin/gioi_tinh", "age_group": "thong_tin/tuoi"}
    assert book["ratings"] == {
        "staff": {"staff_polite": "danh_gia/q1", "staff_listening": "danh_gia/q2",
                  "staff_no_harassment": "danh_gia/q3"},
        "result": {"result_on_time": "danh_gia/q4"}}
    assert book["overall"] == "danh_gia/q5"
    assert '"danh_gia/y_kien" (text)' in text
    assert "huong_dan_danh_gia" not in text      # a note is no column of the export


def test_xlsform_scale_maps_choice_names_and_labels(form_draft):
    _, text = form_draft
    book = yaml.safe_load(text)
    scale = book["scale"]
    assert scale["rat_khong_hl"] == scale["Rất không hài lòng"] == 1
    assert scale["rat_hl"] == scale["Rất hài lòng"] == 5
    assert scale["kyk"] is None and scale["Không ý kiến"] is None
    assert book["satisfied"] == [4, 5]
    assert book["scales"]["staff_no_harassment"]["1"] == 1
    assert book["scales"]["staff_no_harassment"]["Hoàn toàn đồng ý"] == 5
    assert book["values"]["sex"] == {"nam": "male", "Nam": "male", "nu": "female",
                                     "Nữ": "female"}
    # the negative statement asked as agreement: reversing is proposed, not done
    assert re.search(r'^# reverse: \["staff_no_harassment"\] +# guess', text, re.M)
    assert "Khảo sát sự hài lòng Thái Nguyên 2024" in text.splitlines()[0]


def test_xlsform_errors_name_the_problem(tmp_path):
    path = tmp_path / "not_form.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "data"
    book.save(path)
    with pytest.raises(XLSFormError, match="no 'survey' sheet"):
        from_xlsform(path)
    import zipfile
    hostile = tmp_path / "xxe.xlsx"
    with zipfile.ZipFile(write_xlsform(tmp_path / "ok.xlsx")) as good, \
            zipfile.ZipFile(hostile, "w") as bad:
        for item in good.infolist():
            data = good.read(item)
            if item.filename == "xl/workbook.xml":
                data = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + data
            bad.writestr(item, data)
    with pytest.raises(XLSFormError, match="document type or entities"):
        from_xlsform(hostile)
    form = write_xlsform(tmp_path / "form.xlsx")
    book = openpyxl.load_workbook(form)
    book["survey"].append(["select_one missing_list", "q9", "x", "Câu 9"])
    book["survey"].append(["begin_group", "g", "G", "G"])
    book.save(form)
    with pytest.raises(XLSFormError, match=r"row 18: q9 .*'missing_list'.*not closed"):
        from_xlsform(form)


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------

def test_cli_draft_prints_writes_and_refuses_to_overwrite(tmp_path, capsys):
    data = write_province_xlsx(tmp_path / "khao sat.xlsx")
    assert cli.main(["codebook", "draft", str(data)]) == 0
    printed = capsys.readouterr().out
    assert yaml.safe_load(printed)["overall"] == OVERALL
    out = tmp_path / "codebook.yaml"
    assert cli.main(["codebook", "draft", str(data), "-o", str(out)]) == 0
    assert "written" in capsys.readouterr().out
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["file"]["header_row"] == 4
    out.write_text("# edited by hand\n", encoding="utf-8")
    assert cli.main(["codebook", "draft", str(data), "--out", str(out)]) == cli.EXIT_USAGE
    assert "exists; add --force" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "# edited by hand\n"
    assert cli.main(["codebook", "draft", str(data), "-o", str(out), "--force"]) == 0
    assert "ratings" in yaml.safe_load(out.read_text(encoding="utf-8"))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_cli_draft_options_and_errors(tmp_path, capsys):
    data = write_province_xlsx(tmp_path / "survey.xlsx")
    assert cli.main(["codebook", "draft", str(data), "--header-row", "4",
                     "--sheet", "Phiếu khảo sát"]) == 0
    book = yaml.safe_load(capsys.readouterr().out)
    assert book["file"]["header_row"] == 4 and book["columns"]["respondent_id"] == "Mã phiếu"
    assert cli.main(["codebook", "draft", str(tmp_path / "none.xlsx")]) == cli.EXIT_USAGE
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        cli.main(["codebook", "draft", str(data), "--header-row", "0"])
    assert stop.value.code == cli.EXIT_USAGE
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a workbook")
    assert cli.main(["codebook", "draft", str(broken)]) == cli.EXIT_INVALID
    assert "broken.xlsx" in capsys.readouterr().err


def test_cli_from_xlsform(tmp_path, capsys):
    form = write_xlsform(tmp_path / "form.xlsx")
    out = tmp_path / "codebook.yaml"
    assert cli.main(["codebook", "from-xlsform", str(form), "-o", str(out)]) == 0
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["ratings"]["staff"][
        "staff_polite"] == "danh_gia/q1"
    assert cli.main(["codebook", "from-xlsform", str(form), "-o", str(out)]) == cli.EXIT_USAGE
    capsys.readouterr()
    assert cli.main(["codebook", "from-xlsform", str(write_province_xlsx(
        tmp_path / "data.xlsx"))]) == cli.EXIT_INVALID
    assert "no 'survey' sheet" in capsys.readouterr().err


def test_spss_value_labels_give_the_scale_of_codes():
    frame = pd.DataFrame({"q5": [5.0, 4.0, 3.0, 9.0], "gioitinh": [1.0, 2.0, 1.0, 2.0]})
    labels = {"q5": {1.0: "Rất không hài lòng", 2.0: "Không hài lòng", 3.0: "Bình thường",
                     4.0: "Hài lòng", 5.0: "Rất hài lòng", 9.0: "Không biết"},
              "gioitinh": {1.0: "Nam", 2.0: "Nữ"}}
    text = draft_codebook(frame.rename(columns={"q5": "Câu 5: Thái độ công chức",
                                                "gioitinh": "Giới tính"}),
                          file_options={}, value_labels={
                              "Câu 5: Thái độ công chức": labels["q5"],
                              "Giới tính": labels["gioitinh"]})
    book = yaml.safe_load(text)
    assert book["ratings"]["staff"]["staff_polite"] == "Câu 5: Thái độ công chức"
    assert book["scale"]["5"] == book["scale"]["Rất hài lòng"] == 5
    assert book["scale"]["1"] == 1 and book["scale"]["9"] is None
    assert book["values"]["sex"] == {"1": "male", "Nam": "male", "2": "female",
                                     "Nữ": "female"}


def test_a_label_with_a_tone_slip_is_left_for_validation_to_report():
    answers = ["Rất hài lòng", "Hài lòng", "Bình thường", "Không hài lòng", "Rất không hài lòng",
               "Rất hai long"]
    frame = pd.DataFrame({"Câu 1: Công chức có thái độ lịch sự": answers * 3})
    text = draft_codebook(frame, file_options={"header_row": 1})
    scale = yaml.safe_load(text)["scale"]
    assert scale["Rất hài lòng"] == 5 and "Rất hai long" not in scale
    slip = [line for line in text.splitlines() if "Rất hai long" in line]
    assert len(slip) == 1 and slip[0].lstrip().startswith("#")
    assert "a typo in the file?" in slip[0]
