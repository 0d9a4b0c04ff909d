"""readers.read_raw on files made as offices make them, and legacy_text's tables."""
from __future__ import annotations

import unicodedata
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sipas_analysis import legacy_text, readers
from sipas_analysis.readers import UnreadableFile, find_header_row, read_raw
from tests.own_survey_fixtures import ONLINE, OVERALL, SCALE4, SCALE5, _cp1258

WORDS = ["Rất", "hài lòng", "không", "Thái Nguyên", "Đất đai", "Ủy ban nhân dân", "huyện",
         "phường", "Giới tính", "Nữ", "Bình thường"]


# --------------------------------------------------------------------------------------------
# legacy_text
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", legacy_text.ENCODINGS)
def test_every_letter_with_every_tone_round_trips(encoding):
    letters = legacy_text.vietnamese_letters()
    assert len(letters) == 146 and len(set(letters)) == 146
    table = legacy_text.TCVN3 if encoding == "TCVN3" else legacy_text.VNI
    assert set(letters) <= set(table)
    assert len(set(table.values())) == len(table)          # no two letters share a code
    for letter in letters:
        legacy = legacy_text.from_unicode(letter, encoding)
        assert legacy_text.to_unicode(legacy, encoding) == letter, (letter, legacy)
        if letter.isascii():
            assert legacy == letter
    text = " ".join(letters)
    assert legacy_text.to_unicode(legacy_text.from_unicode(text, encoding), encoding) == text


def test_known_words_in_tcvn3_and_vni():
    # Codes as the ABC and VNI fonts store them (checked against glibc's TCVN5712-1 table).
    tcvn3 = ["RÊt", "hµi lßng", "kh«ng", "Th¸i Nguyªn", "§Êt ®ai", "\u017ey ban nh©n d©n",
             "huyÖn", "ph\xadêng", "Giíi tÝnh", "N÷", "B×nh th\xadêng"]
    vni = ["Raát", "haøi loøng", "khoâng", "Thaùi Nguyeân", "Ñaát ñai", "UÛy ban nhaân daân",
           "huyeän", "phöôøng", "Giôùi tính", "Nöõ", "Bình thöôøng"]
    for word, a, b in zip(WORDS, tcvn3, vni, strict=True):
        assert legacy_text.from_unicode(word, "TCVN3") == a
        assert legacy_text.to_unicode(a, "TCVN3") == word
        assert legacy_text.from_unicode(word, "VNI") == b
        assert legacy_text.to_unicode(b, "VNI") == word
    # TCVN3's undefined Windows-1252 bytes may arrive as C1 controls: Ả is byte 0x81
    assert legacy_text.to_unicode("\x81nh", "TCVN3") == "Ảnh"
    assert legacy_text.to_unicode("\x80", "TCVN3") == legacy_text.to_unicode("€", "TCVN3") == "À"


def test_tcvn3_capitals_typed_with_the_h_fonts():
    assert legacy_text.to_unicode("UBND TØNH TH¸I NGUY£N", "TCVN3") == "UBND TỈNH THÁI NGUYÊN"
    assert legacy_text.to_unicode("Tõ", "TCVN3") == "Từ"          # a capital first letter stays


def test_vietnamese_words():
    good = ["Nguyên", "hài", "lòng", "khuya", "giữa", "gì", "quý", "Ủy", "ĐẤT", "người"]
    bad = ["hµi", "Raát", "RÊt", "thaùi", "lßng", "hàì", "nGuyên", "xyz"]
    assert all(map(legacy_text.is_vietnamese_word, good))
    assert not any(map(legacy_text.is_vietnamese_word, bad))


def test_detection():
    unicode_text = WORDS + ["Rất không hài lòng", "Sở Văn hóa, Thể thao và Du lịch"]
    for encoding in legacy_text.ENCODINGS:
        found = legacy_text.detect_legacy([legacy_text.from_unicode(t, encoding)
                                           for t in unicode_text])
        assert found.encoding == encoding and found.suspect is None
        assert found.converted[encoding] == 1.0 and found.valid < 0.3
    for texts in (unicode_text, ["Có", "Không", "Hà Nội", "Cà Mau"],
                  ["Satisfied", "Very good", "café crème brûlée"], []):
        found = legacy_text.detect_legacy(texts)
        assert found.encoding is None and found.suspect is None, texts
    garbled = ["µ¸¶ ·¹¨ ©ª«", "¬®µ ßã ¸µ", "«¬ µµ ¸¸ ©©"]
    found = legacy_text.detect_legacy(garbled)
    assert found.encoding is None and found.suspect == "TCVN3"


# --------------------------------------------------------------------------------------------
# find_header_row
# --------------------------------------------------------------------------------------------

def test_header_row_below_titles():
    body = [[i, f"A{i:02d}", "Nam", "Hài lòng"] for i in range(1, 20)]
    header = ["STT", "Mã phiếu", "Giới tính", "Câu 1"]
    titles = [["UBND TỈNH THÁI NGUYÊN", "", "", ""], ["KẾT QUẢ KHẢO SÁT", "", "", ""],
              ["", "", "", ""]]
    assert find_header_row(titles + [header] + body) == 3
    assert find_header_row([header] + body) == 0
    # a sub-title with two cells over a four-column table is not the header
    assert find_header_row([["Kỳ:", "Quý 3"]] + [header] + body) == 1
    # a header row whose texts repeat is not a header (a row of answers)
    assert find_header_row([["Hài lòng", "Hài lòng", "Hài lòng", "Hài lòng"]] + [header]
                           + body) == 1
    assert find_header_row([]) == 0
    # question numbers as header cells, below a title
    numbered = [["Phiếu", "Đơn vị"] + list(range(1, 6))] + [
        [f"P{i}", "Sở Tư pháp"] + [4, 5, 4, 3, 5] for i in range(10)]
    assert find_header_row([["KẾT QUẢ KHẢO SÁT"], []] + numbered) == 2


# --------------------------------------------------------------------------------------------
# The fixtures, format by format
# --------------------------------------------------------------------------------------------

def test_excel_with_title_rows(own_survey_files):
    table = read_raw(own_survey_files["thai_nguyen_2024.xlsx"])
    frame = table.frame
    assert table.header_row == 4 and table.sheet == "Kết quả"
    assert table.file_rows[0] == 5 and table.file_rows[-1] == 1504 and len(frame) == 1500
    assert list(frame.columns[:6]) == ["STT", "Mã phiếu", "Đơn vị được khảo sát", "Loại đơn vị",
                                       "Ngày khảo sát", "Giới tính"]
    assert OVERALL in frame.columns and ONLINE in frame.columns
    assert frame["STT"].tolist() == list(range(1, 1501))
    assert pd.api.types.is_datetime64_any_dtype(frame["Ngày khảo sát"])
    assert frame["Ngày khảo sát"].min() >= pd.Timestamp("2024-09-01")
    answers = frame["Câu 5: Thái độ giao tiếp của công chức (lịch sự, tôn trọng)"]
    assert set(answers.dropna()) <= set(SCALE5) | {"Không ý kiến"}
    assert answers.isna().any() and (answers == "Không ý kiến").any()
    satisfied = answers.isin(SCALE5[3:]).sum() / answers.isin(SCALE5).sum()
    assert 0.85 <= satisfied <= 0.98
    assert frame["Đơn vị được khảo sát"].nunique() == 14
    assert any("row 4" in note for note in table.notes)
    assert table.separator is None and table.legacy_encoding is None


def test_kobo_exports(own_survey_files):
    csv_table = read_raw(own_survey_files["kobo_export.csv"])
    assert (csv_table.separator, csv_table.encoding, csv_table.header_row) == (";", "utf-8-sig", 1)
    for name in ["danh_gia/q1_thai_do", "_uuid", "_submission_time", "start", "end"]:
        assert name in csv_table.frame.columns
    assert csv_table.file_rows[:2].tolist() == [2, 3]
    assert set(csv_table.frame["danh_gia/q1_thai_do"]) <= {
        "rat_khong_hai_long", "khong_hai_long", "binh_thuong", "hai_long", "rat_hai_long",
        "khong_y_kien"}
    xlsx_table = read_raw(own_survey_files["kobo_export.xlsx"])
    assert list(xlsx_table.frame.columns) == list(csv_table.frame.columns)
    assert set(xlsx_table.frame["danh_gia/q1_thai_do"]) <= set(SCALE5) | {"Không ý kiến"}
    assert (xlsx_table.frame["_uuid"] == csv_table.frame["_uuid"]).all()
    form = read_raw(own_survey_files["kobo_form.xlsx"], sheet="choices")
    assert list(form.frame.columns) == ["list_name", "name", "label::Vietnamese (vi)"]
    survey = read_raw(own_survey_files["kobo_form.xlsx"], sheet="survey")
    assert {"begin_group", "end_group", "select_one hai_long"} <= set(survey.frame["type"])


def test_kiosk_in_windows_1258(own_survey_files):
    path = own_survey_files["kiosk_monthly.csv"]
    raw = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    table = read_raw(path)
    assert (table.encoding, table.separator, table.header_row) == ("cp1258", ",", 2)
    frame = table.frame
    assert list(frame.columns[:4]) == ["Thời gian", "Quầy", "Đơn vị", "Cán bộ tiếp nhận"]
    assert set(frame["Đánh giá chung"]) <= set(SCALE4) and frame["Đánh giá chung"].nunique() == 4
    for value in list(frame.columns) + frame["Cán bộ tiếp nhận"].unique().tolist():
        assert unicodedata.is_normalized("NFC", value)
    months = pd.to_datetime(frame["Thời gian"], format="%d/%m/%Y %H:%M").dt.month
    assert months.nunique() == 12
    assert table.file_rows[0] == 3


def test_spss_keeps_codes_and_value_labels(own_survey_files):
    table = read_raw(own_survey_files["survey.sav"])
    assert table.header_row == 0 and table.file_rows[:3].tolist() == [1, 2, 3]
    assert set(table.frame["c1"].dropna()) <= {1.0, 2.0, 3.0, 4.0, 5.0, 9.0}
    assert table.value_labels["c1"][5.0] == "Rất hài lòng"
    assert table.value_labels["c1"][9.0] == "Không ý kiến"
    assert table.value_labels["gioi_tinh"] == {1.0: "Nam", 2.0: "Nữ"}
    assert pd.api.types.is_datetime64_any_dtype(table.frame["ngay"])


def test_tcvn3_workbook_is_converted(own_survey_files):
    plain = read_raw(own_survey_files["thai_nguyen_2024.xlsx"])
    table = read_raw(own_survey_files["tcvn3_survey.xlsx"])
    assert table.legacy_encoding == "TCVN3" and table.header_row == 4
    assert list(table.frame.columns) == list(plain.frame.columns)
    answers = table.frame[OVERALL]
    assert set(answers.dropna()) <= set(SCALE5) | {"Không ý kiến"}
    assert table.frame["Giới tính"].isin(["Nam", "Nữ"]).all()
    assert any("TCVN3" in note for note in table.notes)


def test_utf16_text_and_ods(own_survey_files):
    table = read_raw(own_survey_files["utf16_survey.csv"])
    assert (table.encoding, table.separator, table.header_row) == ("utf-16", "\t", 4)
    assert table.file_rows[0] == 5 and len(table.frame) == 400
    assert table.frame["STT"].dtype == "int64"
    assert table.frame["Mã phiếu"].str.startswith("TN-").all()
    ods = read_raw(own_survey_files["survey.ods"])
    assert ods.header_row == 4 and ods.sheet == "Khảo sát" and len(ods.frame) == 250
    assert ods.file_rows[0] == 5
    assert pd.api.types.is_datetime64_any_dtype(ods.frame["Ngày khảo sát"])


def test_codebooks_are_written_for_each_file(own_survey_files):
    import yaml

    for name, path in own_survey_files.items():
        if not name.endswith(".codebook.yaml"):
            continue
        book = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert book["design"] == {"weights": None, "strata": None, "psu": None}
        year = 2023 if name.startswith("thai_nguyen_2023") else 2024  # last year's survey
        assert book["constants"] == {"year": year, "province": "Thái Nguyên"}
        assert book["file"]["header_row"] == "auto"
    book = yaml.safe_load(own_survey_files["thai_nguyen_2024.codebook.yaml"].read_text("utf-8"))
    headers = set(read_raw(own_survey_files["thai_nguyen_2024.xlsx"]).frame.columns)
    named = [h for f in book["ratings"].values() for h in f.values()]
    assert set(named) | {book["overall"], *book["columns"].values(),
                         *book["extra"].values()} <= headers


def test_fixtures_are_deterministic(own_survey_files, tmp_path):
    from tests.own_survey_fixtures import make_fixtures

    again = make_fixtures(tmp_path)
    for name in ["kobo_export.csv", "kiosk_monthly.csv", "utf16_survey.csv"]:
        assert again[name].read_bytes() == own_survey_files[name].read_bytes(), name
    first = read_raw(own_survey_files["thai_nguyen_2024.xlsx"]).frame
    pd.testing.assert_frame_equal(first, read_raw(again["thai_nguyen_2024.xlsx"]).frame)


# --------------------------------------------------------------------------------------------
# Explicit options
# --------------------------------------------------------------------------------------------

def test_explicit_options_are_honoured(own_survey_files, tmp_path):
    path = own_survey_files["thai_nguyen_2024.xlsx"]
    as_given = read_raw(path, header_row=4)
    pd.testing.assert_frame_equal(as_given.frame, read_raw(path).frame)
    pd.testing.assert_frame_equal(read_raw(path, header_row="4").frame, as_given.frame)
    assert read_raw(path, header_row="Auto").header_row == 4
    assert any("as given" in note for note in as_given.notes)
    title = read_raw(path, header_row=1)
    assert title.frame.columns[0] == "UBND TỈNH THÁI NGUYÊN" and title.file_rows[0] == 2
    assert read_raw(path, sheet="Kết quả").sheet == read_raw(path, sheet=0).sheet == "Kết quả"
    with pytest.raises(UnreadableFile, match=r"has no sheet 'Data'; its sheets: \['Kết quả'\]"):
        read_raw(path, sheet="Data")
    with pytest.raises(UnreadableFile, match="has no sheet number 3"):
        read_raw(path, sheet=3)
    kobo = own_survey_files["kobo_export.csv"]
    assert read_raw(kobo, separator=",").frame.shape[1] < 5
    assert read_raw(kobo, separator=";", encoding="utf-8-sig").encoding == "utf-8-sig"
    with pytest.raises(UnreadableFile, match="is not utf-8 text"):
        read_raw(own_survey_files["kiosk_monthly.csv"], encoding="utf-8")
    latin = read_raw(own_survey_files["kiosk_monthly.csv"], encoding="cp1252")
    assert latin.encoding == "cp1252" and "Thời gian" not in latin.frame.columns
    with pytest.raises(ValueError, match="header_row must be"):
        read_raw(path, header_row=0)


def test_openpyxl_fallback(own_survey_files, monkeypatch):
    path = own_survey_files["kobo_export.xlsx"]
    fast = read_raw(path)

    def broken(*args):
        raise RuntimeError("calamine cannot")

    monkeypatch.setattr(readers, "_excel_rows_calamine", broken)
    slow = read_raw(path)
    pd.testing.assert_frame_equal(fast.frame, slow.frame)
    assert any("openpyxl" in note for note in slow.notes)
    monkeypatch.setattr(readers, "_excel_rows_calamine", broken)
    with pytest.raises(UnreadableFile, match="cannot be read as OpenDocument"):
        read_raw(own_survey_files["survey.ods"])


# --------------------------------------------------------------------------------------------
# Cells, rows, headers
# --------------------------------------------------------------------------------------------

def test_csv_cells_rows_and_repeated_headers(tmp_path):
    path = tmp_path / "survey.csv"
    path.write_text('Mã phiếu,Câu 1,câu 1 ,,Câu 1,Điểm\n'
                    '001,Hài lòng,a,,b,4\n'
                    ',,,,,\n'
                    '002,"Rất\nhài lòng",c,,d,5\n'
                    '003,  ,e,,f,3.5\n', encoding="utf-8")
    table = read_raw(path)
    assert list(table.frame.columns) == ["Mã phiếu", "Câu 1", "câu 1", "Unnamed: 3", "Câu 1.1",
                                         "Điểm"]
    assert table.repeated_headers == {"câu 1": [2, 3, 5]}
    # record numbers as Excel shows them: the blank record is row 3, the quoted line break
    # stays inside row 4
    assert table.file_rows.tolist() == [2, 4, 5]
    assert table.frame["Mã phiếu"].tolist() == ["001", "002", "003"]       # codes keep zeros
    assert table.frame["Điểm"].tolist() == [4.0, 5.0, 3.5]
    assert pd.isna(table.frame["Câu 1"].iloc[2])                            # spaces are blank
    assert table.frame["Unnamed: 3"].isna().all()


def test_nfd_text_is_normalised(tmp_path):
    path = tmp_path / "nfd.csv"
    text = unicodedata.normalize("NFD", "Mã phiếu,Giới tính\nA1,Nữ\nA2,Nam\n")
    path.write_text(text, encoding="utf-8")
    table = read_raw(path)
    assert list(table.frame.columns) == ["Mã phiếu", "Giới tính"]
    assert table.frame["Giới tính"].tolist() == ["Nữ", "Nam"]


@pytest.mark.parametrize("encoding", legacy_text.ENCODINGS)
def test_legacy_csv_bytes(tmp_path, encoding):
    lines = ["Mã phiếu;Giới tính;Đánh giá"] + [
        f"{i:03d};{'Nữ' if i % 2 else 'Nam'};{SCALE5[i % 5]}" for i in range(40)]
    text = "\n".join(legacy_text.from_unicode(line, encoding) for line in lines) + "\n"
    as_bytes = tmp_path / "bytes.csv"       # saved by an old program: Windows-1252 bytes
    as_bytes.write_bytes(text.encode("cp1252", errors="strict"))
    as_utf8 = tmp_path / "utf8.csv"         # the same text saved again as UTF-8
    as_utf8.write_text(text, encoding="utf-8")
    for path in (as_bytes, as_utf8):
        table = read_raw(path)
        assert table.legacy_encoding == encoding, path.name
        assert list(table.frame.columns) == ["Mã phiếu", "Giới tính", "Đánh giá"]
        assert table.frame["Đánh giá"].tolist()[:5] == [SCALE5[i % 5] for i in range(5)]
        assert table.frame["Mã phiếu"].iloc[1] == "001"


def test_windows_1258_bytes_are_not_taken_for_legacy(tmp_path):
    path = tmp_path / "cp1258.csv"
    path.write_bytes(_cp1258("Đơn vị,Đánh giá\r\nUBND phường Phan Đình Phùng,Rất hài lòng\r\n"
                             "Sở Tư pháp,Bình thường\r\n"))
    table = read_raw(path)
    assert table.encoding == "cp1258" and table.legacy_encoding is None
    assert table.frame["Đơn vị"].tolist() == ["UBND phường Phan Đình Phùng", "Sở Tư pháp"]


def test_ambiguous_legacy_text_is_refused(tmp_path):
    path = tmp_path / "garbled.csv"
    chars = "µ¸¶·¹¨©ª«¬®"
    notes = [" ".join(chars[(i + k) % 11] * 3 for k in range(3)) for i in range(11)]
    rows = ["Mã,Ghi chú"] + [f"{i},{note}" for i, note in enumerate(notes)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(UnreadableFile, match="legacy TCVN3 encoding"):
        read_raw(path)


def test_parquet_and_stata(tmp_path, valid_frame):
    frame = valid_frame.head(20)[["respondent_id", "province_code", "year", "staff_polite"]]
    frame.to_parquet(tmp_path / "s.parquet")
    table = read_raw(tmp_path / "s.parquet")
    assert table.header_row == 0 and table.file_rows.tolist() == list(range(1, 21))
    assert list(table.frame.columns) == list(frame.columns)
    import pyreadstat

    data = pd.DataFrame({"q1": [1.0, 2.0, 5.0], "ma": ["a", "b", "c"]})
    pyreadstat.write_dta(data, str(tmp_path / "s.dta"),
                         variable_value_labels={"q1": {1: "Rất không hài lòng",
                                                       5: "Rất hài lòng"}})
    table = read_raw(tmp_path / "s.dta")
    assert table.frame["q1"].tolist() == [1.0, 2.0, 5.0]
    assert table.value_labels["q1"][5] == "Rất hài lòng"


# --------------------------------------------------------------------------------------------
# Hostile and broken files: one UnreadableFile each, starting with the path, one line
# --------------------------------------------------------------------------------------------

def _hostile(tmp_path: Path, own_survey_files) -> dict:
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    cases = {}
    for name in ["empty.csv", "empty.xlsx", "empty.sav", "empty.ods"]:
        (tmp_path / name).write_bytes(b"")
        cases[name] = "is empty"
    for suffix in [".csv", ".xlsx", ".xls", ".ods", ".sav", ".dta", ".parquet"]:
        (tmp_path / f"noise{suffix}").write_bytes(noise)
        cases[f"noise{suffix}"] = ("NUL bytes|not an Excel|not an OpenDocument|cannot be read"
                                   "|Excel 97-2003")
    (tmp_path / "controls.csv").write_bytes(bytes(range(1, 9)) * 200)
    cases["controls.csv"] = "control characters"
    (tmp_path / "header.csv").write_text("Mã phiếu;Câu 1\n", encoding="utf-8")
    cases["header.csv"] = "header but no data rows"
    pd.DataFrame(columns=["Mã phiếu", "Câu 1"]).to_excel(tmp_path / "header.xlsx", index=False)
    cases["header.xlsx"] = "header but no data rows"
    (tmp_path / "blank.csv").write_text("\n\n;;\n")
    cases["blank.csv"] = "no header row"
    with zipfile.ZipFile(tmp_path / "archive.xlsx", "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    cases["archive.xlsx"] = "zip archive but not an Excel workbook"
    with zipfile.ZipFile(tmp_path / "archive.ods", "w") as archive:
        archive.writestr("readme.txt", "not a spreadsheet")
    cases["archive.ods"] = "zip archive but not an OpenDocument"
    (tmp_path / "folder.xlsx").mkdir()
    cases["folder.xlsx"] = "is a folder"
    (tmp_path / "survey.docx").write_bytes(b"PK")
    cases["survey.docx"] = r"unknown file extension '.docx'; supported: .xlsx \(Excel\)"
    xxe = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           b'<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')
    for source, name, part in [("kobo_export.xlsx", "xxe.xlsx", "xl/worksheets/sheet1.xml"),
                               ("survey.ods", "xxe.ods", "content.xml")]:
        with zipfile.ZipFile(own_survey_files[source]) as src, \
                zipfile.ZipFile(tmp_path / name, "w") as target:
            for item in src.infolist():
                data = src.read(item)
                if item.filename == part:
                    data = xxe + data.split(b"?>", 1)[1]
                target.writestr(item, data)
        cases[name] = "document type or entities"
    return cases


def test_hostile_files_raise_one_unreadable_file(tmp_path, own_survey_files):
    cases = _hostile(tmp_path, own_survey_files)
    for name, expected in cases.items():
        path = tmp_path / name
        with pytest.raises(UnreadableFile, match=expected) as error:
            read_raw(path)
        message = str(error.value)
        assert message.startswith(str(path) + ": "), (name, message)
        assert "\n" not in message and len(message) < 700, (name, message)
    with pytest.raises(UnreadableFile, match="unknown file extension") as error:
        read_raw("/dev/null")
    assert str(error.value).startswith("/dev/null: ")
    with pytest.raises(FileNotFoundError):
        read_raw(tmp_path / "missing.csv")


def test_a_device_with_a_survey_extension(tmp_path):
    link = tmp_path / "null.csv"
    link.symlink_to("/dev/null")
    with pytest.raises(UnreadableFile, match="not a regular file"):
        read_raw(link)


def test_two_row_header_with_cells_merged_down(tmp_path):
    import xlsxwriter

    path = tmp_path / "merged.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.merge_range(0, 0, 0, 4, "KẾT QUẢ KHẢO SÁT")
    sheet.merge_range(2, 0, 3, 0, "STT")
    sheet.merge_range(2, 1, 3, 1, "Mã phiếu")
    sheet.merge_range(2, 2, 2, 4, "Tiếp cận dịch vụ")
    sheet.write_row(3, 2, ["Câu 1", "Câu 2:\nTrang thiết bị", "Câu\xa03"])
    for i in range(5):
        sheet.write_row(4 + i, 0, [i + 1, f"P{i}", "Hài lòng", "Rất hài lòng", "Hài lòng"])
    book.close()
    table = read_raw(path)
    assert table.header_row == 4 and table.file_rows[0] == 5
    assert list(table.frame.columns) == ["STT", "Mã phiếu", "Câu 1", "Câu 2: Trang thiết bị",
                                         "Câu 3"]


def test_footer_rows_are_left_out(tmp_path):
    rows = ["Mã phiếu;Đơn vị;Câu 1;Câu 2;Câu 3;Câu 4"] + [
        f"P{i};Sở Tư pháp;Hài lòng;Hài lòng;Rất hài lòng;Hài lòng" for i in range(6)]
    rows += [";;;;;", "Người lập biểu;;;;Thủ trưởng đơn vị;",
             ";;;;Thái Nguyên, ngày 30 tháng 11 năm 2024;"]
    path = tmp_path / "footer.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    table = read_raw(path)
    assert len(table.frame) == 6 and table.file_rows[-1] == 7
    assert any("10" in note and "footer" in note for note in table.notes)
    # a respondent who answered one question is kept
    path.write_text("\n".join(rows[:7] + ["P9;Sở Xây dựng;;;;"]) + "\n", encoding="utf-8")
    assert len(read_raw(path).frame) == 7
