"""Survey files made the way provincial offices make them, each with its codebook.

``make_fixtures(folder)`` writes, deterministically (one seeded numpy Generator):

- ``thai_nguyen_2024.xlsx``: three title rows, the header on row 4, Vietnamese headers, answers
  as text ("Rất không hài lòng" ... "Rất hài lòng", some "Không ý kiến", some blanks), 8
  departments and 6 district committees, real Excel dates, no design columns;
- ``thai_nguyen_2023.xlsx``: the same province's survey of the year before (another sample),
  its questions numbered "Câu 1." instead of "Câu 1:" (so read by its own codebook, whose
  ``constants.year`` is 2023), without "UBND thành phố Sông Công" (a new unit in 2024), with
  "UBND huyện Phú Lương" written out ("Ủy ban nhân dân huyện Phú Lương") and "Sở Văn hóa, Thể
  thao và Du lịch" under its old name "Sở Văn hóa và Thể thao" (an alias);
- ``kobo_export.csv`` (";"-separated, UTF-8 with BOM, choice names as values) and
  ``kobo_export.xlsx`` (labels as values) of a KoboToolbox survey, with its XLSForm
  ``kobo_form.xlsx``;
- ``kiosk_monthly.csv``: a one-stop desk kiosk, 12 months, a 4-level scale, Windows-1258;
- ``survey.sav``: SPSS, codes 1-5 with value labels, Vietnamese variable labels;
- ``tcvn3_survey.xlsx``: every text typed in TCVN3 (ABC);
- ``utf16_survey.csv``: Excel's "Unicode text" (UTF-16 with BOM, tab-separated, title rows);
- ``survey.ods``: an OpenDocument spreadsheet;

and next to each a codebook ``<name>.codebook.yaml`` in the format of the README. The files are
generated in tests (never committed); run ``python tests/own_survey_fixtures.py FOLDER`` to
look at them.
"""
from __future__ import annotations

import datetime as dt
import sys
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
import yaml

from sipas_analysis import legacy_text

SEED = 2024
PROVINCE = "Thái Nguyên"
SCALE5 = ["Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng"]
NO_OPINION = "Không ý kiến"
SCALE4 = ["Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng"]

DEPARTMENTS = ["Sở Tư pháp", "Sở Văn hóa, Thể thao và Du lịch", "Sở Giao thông vận tải",
               "Sở Kế hoạch và Đầu tư", "Sở Tài nguyên và Môi trường",
               "Sở Lao động - Thương binh và Xã hội", "Sở Xây dựng", "Sở Công Thương"]
DISTRICTS = ["UBND thành phố Thái Nguyên", "UBND thành phố Sông Công", "UBND huyện Phú Lương",
             "UBND huyện Đại Từ", "UBND huyện Định Hóa", "UBND huyện Võ Nhai"]
TITLE = ["UBND TỈNH THÁI NGUYÊN",
         "KẾT QUẢ KHẢO SÁT MỨC ĐỘ HÀI LÒNG CỦA NGƯỜI DÂN, TỔ CHỨC ĐỐI VỚI SỰ PHỤC VỤ CỦA "
         "CƠ QUAN HÀNH CHÍNH NHÀ NƯỚC NĂM 2024"]

# factor -> criterion -> the question as the office words it
QUESTIONS = {
    "access": {
        "access_seating": "Câu 1: Nơi ngồi chờ có đủ chỗ ngồi, thuận tiện",
        "access_equipment": "Câu 2: Trang thiết bị phục vụ người dân đầy đủ, dễ sử dụng",
    },
    "procedure": {
        "procedure_posted": "Câu 3: Thủ tục hành chính được niêm yết công khai, đầy đủ",
        "procedure_time_limit": "Câu 4: Thời gian giải quyết hồ sơ đúng quy định",
    },
    "staff": {
        "staff_polite": "Câu 5: Thái độ giao tiếp của công chức (lịch sự, tôn trọng)",
        "staff_guidance": "Câu 6: Công chức hướng dẫn kê khai hồ sơ tận tình, dễ hiểu",
        "staff_no_harassment": "Câu 7: Công chức không gây phiền hà, nhũng nhiễu",
    },
    "result": {
        "result_accurate": "Câu 8: Kết quả giải quyết đúng quy định, chính xác",
    },
    "feedback": {
        "feedback_received": "Câu 9: Góp ý, phản ánh được tiếp nhận đầy đủ",
        "feedback_resolved": "Câu 10: Góp ý, phản ánh được xử lý, trả lời kịp thời",
    },
}
ONLINE = "Câu 11: Mức độ hài lòng khi sử dụng dịch vụ công trực tuyến"
OVERALL = "Câu 12: Mức độ hài lòng chung"


def _answers(rng: np.random.Generator, n: int, k: int, unit_effect: np.ndarray,
             levels: int = 5) -> np.ndarray:
    """n x k ratings 1..levels, mostly satisfied (85-98 % in the top two levels by unit)."""
    person = rng.normal(0.0, 0.6, size=(n, 1))
    latent = 1.6 + unit_effect[:, None] + person + rng.normal(0.0, 0.5, size=(n, k))
    cuts = np.array([-1.2, -0.4, 0.4, 1.7])[-(levels - 1):] if levels == 5 else \
        np.array([-0.5, 0.4, 1.7])
    return 1 + (latent[..., None] > cuts).sum(axis=-1)


def _with_gaps(rng, labels: np.ndarray, no_opinion: float, blank: float) -> np.ndarray:
    out = labels.astype(object)
    draw = rng.random(out.shape)
    out[draw < no_opinion] = NO_OPINION
    out[(draw >= no_opinion) & (draw < no_opinion + blank)] = None
    return out


def _codebook(path: Path, *, file=None, columns, ratings, scale, satisfied, overall=None,
              extra=None, values=None, constants=None, **more) -> Path:
    book = {"file": {"sheet": 0, "header_row": "auto", "separator": "auto",
                     "encoding": "auto", **(file or {})},
            "constants": constants or {"year": 2024, "province": PROVINCE},
            "columns": columns,
            "scale": scale,
            "satisfied": satisfied,
            "ratings": ratings}
    if overall:
        book["overall"] = overall
    if values:
        book["values"] = values
    book["design"] = {"weights": None, "strata": None, "psu": None}
    if extra:
        book["extra"] = extra
    book.update(more)
    path.write_text(yaml.safe_dump(book, allow_unicode=True, sort_keys=False, width=100),
                    encoding="utf-8")
    return path


def _scale5() -> dict:
    return {**{label: i for i, label in enumerate(SCALE5, start=1)}, NO_OPINION: None}


# --------------------------------------------------------------------------------------------
# 1. The province's Excel workbook
# --------------------------------------------------------------------------------------------

def _thai_nguyen_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    units = DEPARTMENTS + DISTRICTS
    unit = rng.choice(len(units), size=n, p=np.r_[np.full(8, 0.55 / 8), np.full(6, 0.45 / 6)])
    effect = rng.normal(0.0, 0.35, size=len(units))[unit]
    criteria = [q for qs in QUESTIONS.values() for q in qs.values()]
    ratings = _answers(rng, n, len(criteria) + 2, effect)
    labels = np.array(SCALE5, dtype=object)[ratings - 1]
    frame = pd.DataFrame({
        "STT": np.arange(1, n + 1),
        "Mã phiếu": [f"TN-{i:05d}" for i in rng.permutation(n) + 1],
        "Đơn vị được khảo sát": np.array(units, dtype=object)[unit],
        "Loại đơn vị": np.where(unit < 8, "Sở, ban, ngành", "UBND cấp huyện"),
        "Ngày khảo sát": pd.Timestamp("2024-09-03")
        + pd.to_timedelta(rng.integers(0, 88, size=n), unit="D"),
        "Giới tính": rng.choice(["Nam", "Nữ"], size=n, p=[0.47, 0.53]),
    })
    gapped = _with_gaps(rng, labels[:, :len(criteria)], 0.02, 0.012)
    for j, question in enumerate(criteria):
        frame[question] = gapped[:, j]
    online = _with_gaps(rng, labels[:, -2], 0.35, 0.15)
    frame[ONLINE] = online
    frame[OVERALL] = _with_gaps(rng, labels[:, -1], 0.005, 0.005)
    return frame.sort_values(["Ngày khảo sát", "STT"]).assign(STT=np.arange(1, n + 1))


def _write_titled_xlsx(path: Path, frame: pd.DataFrame, title: list[str], *,
                       date_columns=(), sheet="Kết quả") -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet_ = book.add_worksheet(sheet)
    bold = book.add_format({"bold": True, "align": "center"})
    header = book.add_format({"bold": True, "text_wrap": True, "border": 1})
    date = book.add_format({"num_format": "dd/mm/yyyy"})
    width = frame.shape[1]
    for r, text in enumerate(title):
        sheet_.merge_range(r, 0, r, width - 1, text, bold)
    top = len(title) + 1            # one blank row under the titles
    for j, name in enumerate(frame.columns):
        sheet_.write_string(top, j, name, header)
    for j, name in enumerate(frame.columns):
        values = frame[name].tolist()
        for i, value in enumerate(values):
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            if name in date_columns:
                sheet_.write_datetime(top + 1 + i, j, pd.Timestamp(value).to_pydatetime(), date)
            elif isinstance(value, str):
                sheet_.write_string(top + 1 + i, j, value)
            else:
                sheet_.write_number(top + 1 + i, j, float(value))
    book.close()


def _thai_nguyen_codebook(path: Path, **file) -> Path:
    return _codebook(
        path, file=file,
        columns={"respondent_id": "Mã phiếu", "unit": "Đơn vị được khảo sát",
                 "unit_type": "Loại đơn vị", "date": "Ngày khảo sát", "sex": "Giới tính"},
        ratings={f: dict(q) for f, q in QUESTIONS.items()},
        scale=_scale5(), satisfied=[4, 5], overall=OVERALL,
        values={"sex": {"Nam": "male", "Nữ": "female"}},
        extra={"online_satisfaction": ONLINE})


OLD_NAMES = {"UBND huyện Phú Lương": "Ủy ban nhân dân huyện Phú Lương",
             "Sở Văn hóa, Thể thao và Du lịch": "Sở Văn hóa và Thể thao"}
NEW_UNIT = "UBND thành phố Sông Công"


def _previous_header(header: str) -> str:
    return header.replace(":", ".", 1)


def _thai_nguyen_previous(folder: Path) -> tuple[Path, Path]:
    """The 2023 workbook and its codebook (see the module's docstring); its own seeded
    Generator, so that the other files do not change."""
    frame = _thai_nguyen_frame(np.random.default_rng(SEED - 1), 900)
    frame = frame[frame["Đơn vị được khảo sát"] != NEW_UNIT].copy()
    frame["Đơn vị được khảo sát"] = frame["Đơn vị được khảo sát"].replace(OLD_NAMES)
    frame["Ngày khảo sát"] = frame["Ngày khảo sát"] - pd.DateOffset(years=1)
    frame["STT"] = np.arange(1, len(frame) + 1)
    frame.columns = [_previous_header(c) if c.startswith("Câu ") else c for c in frame.columns]
    path = folder / "thai_nguyen_2023.xlsx"
    _write_titled_xlsx(path, frame, [TITLE[0], TITLE[1].replace("2024", "2023")],
                       date_columns=("Ngày khảo sát",))
    book = _codebook(
        folder / "thai_nguyen_2023.codebook.yaml",
        constants={"year": 2023, "province": PROVINCE},
        columns={"respondent_id": "Mã phiếu", "unit": "Đơn vị được khảo sát",
                 "unit_type": "Loại đơn vị", "date": "Ngày khảo sát", "sex": "Giới tính"},
        ratings={f: {c: _previous_header(h) for c, h in q.items()} for f, q in QUESTIONS.items()},
        scale=_scale5(), satisfied=[4, 5], overall=_previous_header(OVERALL),
        values={"sex": {"Nam": "male", "Nữ": "female"}},
        extra={"online_satisfaction": _previous_header(ONLINE)})
    return path, book


# --------------------------------------------------------------------------------------------
# 2. KoboToolbox
# --------------------------------------------------------------------------------------------

KOBO_CHOICES = [("rat_khong_hai_long", SCALE5[0]), ("khong_hai_long", SCALE5[1]),
                ("binh_thuong", SCALE5[2]), ("hai_long", SCALE5[3]),
                ("rat_hai_long", SCALE5[4]), ("khong_y_kien", NO_OPINION)]
KOBO_QUESTIONS = {   # name -> (factor, criterion, label)
    "q1_thai_do": ("staff", "staff_polite", "Thái độ giao tiếp của công chức"),
    "q2_huong_dan": ("staff", "staff_guidance", "Công chức hướng dẫn tận tình, dễ hiểu"),
    "q3_niem_yet": ("procedure", "procedure_posted", "Thủ tục được niêm yết công khai"),
    "q4_dung_hen": ("result", "result_on_time", "Nhận kết quả đúng hẹn"),
    "q5_co_so": ("access", "access_seating", "Nơi chờ tiện nghi, đủ chỗ ngồi"),
    "q6_gop_y": ("feedback", "feedback_resolved", "Góp ý, phản ánh được trả lời kịp thời"),
}
KOBO_UNITS = [("so_tu_phap", "Sở Tư pháp"), ("so_xay_dung", "Sở Xây dựng"),
              ("ubnd_phu_luong", "UBND huyện Phú Lương"),
              ("ubnd_dai_tu", "UBND huyện Đại Từ")]


def _kobo(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    unit = rng.integers(0, len(KOBO_UNITS), size=n)
    ratings = _answers(rng, n, len(KOBO_QUESTIONS) + 1, rng.normal(0, 0.3, 4)[unit])
    start = (pd.Timestamp("2024-10-01 07:30") + pd.to_timedelta(rng.integers(0, 60 * 24 * 40, n),
                                                                 unit="min"))
    end = start + pd.to_timedelta(rng.gamma(4.0, 90.0, n).round(), unit="s")
    names = np.array([c for c, _ in KOBO_CHOICES], dtype=object)
    labels = np.array([l for _, l in KOBO_CHOICES], dtype=object)
    stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.000+07:00")   # noqa: E731
    uuids = [f"{rng.integers(0, 2**32):08x}-{rng.integers(0, 2**16):04x}-4{rng.integers(0, 2**12):03x}-"
             f"a{rng.integers(0, 2**12):03x}-{rng.integers(0, 2**48):012x}" for _ in range(n)]
    base = {"start": [stamp(t) for t in start], "end": [stamp(t) for t in end],
            "today": [t.strftime("%Y-%m-%d") for t in start],
            "deviceid": [f"collect:{rng.integers(10**9, 10**10)}" for _ in range(n)]}
    coded, labelled = dict(base), dict(base)
    coded["thong_tin/don_vi"] = [KOBO_UNITS[u][0] for u in unit]
    labelled["thong_tin/don_vi"] = [KOBO_UNITS[u][1] for u in unit]
    sex = rng.choice(2, size=n)
    coded["thong_tin/gioi_tinh"] = np.array(["nam", "nu"], dtype=object)[sex]
    labelled["thong_tin/gioi_tinh"] = np.array(["Nam", "Nữ"], dtype=object)[sex]
    draw = rng.random(ratings.shape)
    for j, name in enumerate(list(KOBO_QUESTIONS) + ["q7_hai_long_chung"]):
        index = np.where(draw[:, j] < 0.02, 5, ratings[:, j] - 1)
        coded[f"danh_gia/{name}"] = names[index]
        labelled[f"danh_gia/{name}"] = labels[index]
    tail = {"_id": np.arange(310_000, 310_000 + n), "_uuid": uuids,
            "_submission_time": [(t - pd.Timedelta(hours=7) + pd.Timedelta(minutes=3))
                                 .strftime("%Y-%m-%dT%H:%M:%S") for t in end],
            "_validation_status": "", "_notes": "", "_status": "submitted_via_web",
            "_submitted_by": "", "__version__": "vQmXk3hG8bT2", "_tags": "",
            "_index": np.arange(1, n + 1)}
    return pd.DataFrame({**coded, **tail}), pd.DataFrame({**labelled, **tail})


def _kobo_form(path: Path) -> None:
    survey = [("start", "start", ""), ("end", "end", ""), ("today", "today", ""),
              ("deviceid", "deviceid", ""),
              ("begin_group", "thong_tin", "Thông tin chung"),
              ("select_one don_vi", "don_vi", "Đơn vị anh/chị đến giao dịch"),
              ("select_one gioi_tinh", "gioi_tinh", "Giới tính"),
              ("end_group", "", ""),
              ("begin_group", "danh_gia", "Đánh giá mức độ hài lòng")]
    survey += [("select_one hai_long", name, label)
               for name, (_, _, label) in KOBO_QUESTIONS.items()]
    survey += [("select_one hai_long", "q7_hai_long_chung", "Mức độ hài lòng chung"),
               ("end_group", "", "")]
    choices = ([("hai_long", n, l) for n, l in KOBO_CHOICES]
               + [("don_vi", n, l) for n, l in KOBO_UNITS]
               + [("gioi_tinh", "nam", "Nam"), ("gioi_tinh", "nu", "Nữ")])
    with pd.ExcelWriter(path, engine="xlsxwriter") as writer:
        pd.DataFrame(survey, columns=["type", "name", "label::Vietnamese (vi)"]).assign(
            required=lambda d: np.where(d["type"].str.startswith("select_one"), "true", "")
        ).to_excel(writer, sheet_name="survey", index=False)
        pd.DataFrame(choices, columns=["list_name", "name", "label::Vietnamese (vi)"]).to_excel(
            writer, sheet_name="choices", index=False)
        pd.DataFrame([{"form_title": "Khảo sát mức độ hài lòng 2024", "form_id": "sipas_tn_2024",
                       "version": "2024100101", "default_language": "Vietnamese (vi)"}]).to_excel(
            writer, sheet_name="settings", index=False)


def _kobo_codebook(path: Path, *, labels: bool, **file) -> Path:
    scale = ({l: (i if i <= 5 else None) for i, (_, l) in enumerate(KOBO_CHOICES, start=1)}
             if labels else
             {n: (i if i <= 5 else None) for i, (n, _) in enumerate(KOBO_CHOICES, start=1)})
    ratings: dict = {}
    for name, (factor, criterion, _) in KOBO_QUESTIONS.items():
        ratings.setdefault(factor, {})[criterion] = f"danh_gia/{name}"
    units = {(l if labels else n): l for n, l in KOBO_UNITS}
    sex = {"Nam": "male", "Nữ": "female"} if labels else {"nam": "male", "nu": "female"}
    return _codebook(
        path, file=file,
        columns={"respondent_id": "_uuid", "unit": "thong_tin/don_vi", "date": "today",
                 "sex": "thong_tin/gioi_tinh", "start": "start", "end": "end"},
        ratings=ratings, scale=scale, satisfied=[4, 5], overall="danh_gia/q7_hai_long_chung",
        values={"sex": sex, "unit": units})


# --------------------------------------------------------------------------------------------
# 3. The one-stop kiosk
# --------------------------------------------------------------------------------------------

KIOSK_RATINGS = {"staff": {"staff_polite": "Thái độ phục vụ"},
                 "procedure": {"procedure_time_limit": "Thời gian chờ"},
                 "result": {"result_on_time": "Kết quả giải quyết"}}
KIOSK_DESKS = {"Quầy 1": "Sở Tư pháp", "Quầy 2": "Sở Tư pháp", "Quầy 3": "Sở Xây dựng",
               "Quầy 4": "Sở Tài nguyên và Môi trường", "Quầy 5": "Sở Giao thông vận tải",
               "Quầy 6": "Sở Kế hoạch và Đầu tư"}
KIOSK_STAFF = ["Nguyễn Thị Hương", "Trần Văn Đức", "Lê Thu Trang", "Phạm Quốc Việt",
               "Hoàng Minh Ngọc", "Đỗ Thị Lan", "Vũ Đình Thắng", "Bùi Thị Yến"]


def _cp1258(text: str) -> bytes:
    """Text as Windows encodes it in code page 1258: tones as combining marks where the code
    page has no precomposed letter."""
    import unicodedata

    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        parts = unicodedata.normalize("NFD", char)
        tones = "".join(c for c in parts if c in "\u0300\u0301\u0303\u0309\u0323")
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in tones))
        out += base.encode("cp1258") + tones.encode("cp1258")
    return bytes(out)


def _kiosk(rng: np.random.Generator, folder: Path) -> Path:
    desks = list(KIOSK_DESKS)
    rows = []
    for month in range(1, 13):
        n = int(rng.integers(80, 130))
        days = rng.integers(1, 29, size=n)
        minutes = rng.integers(7 * 60 + 30, 16 * 60 + 45, size=n)
        desk = rng.integers(0, len(desks), size=n)
        staff = rng.integers(0, len(KIOSK_STAFF), size=n)
        levels = _answers(rng, n, 4, rng.normal(0, 0.25, len(desks))[desk], levels=4)
        for i in np.argsort(days * 10_000 + minutes, kind="stable"):
            when = dt.datetime(2024, month, int(days[i]), int(minutes[i] // 60),
                               int(minutes[i] % 60))
            rows.append([when.strftime("%d/%m/%Y %H:%M"), desks[desk[i]],
                         KIOSK_DESKS[desks[desk[i]]], KIOSK_STAFF[staff[i]]]
                        + [SCALE4[v - 1] for v in levels[i]])
    header = ["Thời gian", "Quầy", "Đơn vị", "Cán bộ tiếp nhận"] + [
        q for qs in KIOSK_RATINGS.values() for q in qs.values()] + ["Đánh giá chung"]
    lines = ["BÁO CÁO KẾT QUẢ ĐÁNH GIÁ TẠI KIOSK - TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG TỈNH "
             "THÁI NGUYÊN" + "," * (len(header) - 1), ",".join(header)]
    lines += [",".join(row) for row in rows]
    path = folder / "kiosk_monthly.csv"
    path.write_bytes(_cp1258("\r\n".join(lines) + "\r\n"))
    _codebook(folder / "kiosk_monthly.codebook.yaml",
              columns={"date": "Thời gian", "unit": "Đơn vị", "staff": "Cán bộ tiếp nhận"},
              ratings={f: dict(q) for f, q in KIOSK_RATINGS.items()},
              scale={label: i for i, label in enumerate(SCALE4, start=1)},
              satisfied=[3, 4], overall="Đánh giá chung", extra={"desk": "Quầy"},
              survey_period=["2024-01-01", "2024-12-31"])
    return path


# --------------------------------------------------------------------------------------------
# 4. SPSS
# --------------------------------------------------------------------------------------------

def _spss(rng: np.random.Generator, folder: Path) -> Path:
    import pyreadstat

    n = 600
    units = DEPARTMENTS[:4] + DISTRICTS[:3]
    unit = rng.integers(0, len(units), size=n)
    criteria = [(f, c, q) for f, qs in QUESTIONS.items() for c, q in qs.items()]
    codes = _answers(rng, n, len(criteria) + 1, rng.normal(0, 0.3, len(units))[unit])
    codes = codes.astype("float64")
    codes[rng.random(codes.shape) < 0.015] = 9        # "Không ý kiến"
    codes[rng.random(codes.shape) < 0.01] = np.nan
    frame = pd.DataFrame({"ma_phieu": [f"P{i:04d}" for i in range(1, n + 1)],
                          "don_vi": (unit + 1).astype("float64"),
                          "gioi_tinh": rng.choice([1.0, 2.0], size=n),
                          "ngay": [dt.date(2024, 10, 1) + dt.timedelta(days=int(d))
                                   for d in rng.integers(0, 45, size=n)]})
    labels = {"ma_phieu": "Mã phiếu", "don_vi": "Đơn vị được khảo sát",
              "gioi_tinh": "Giới tính", "ngay": "Ngày khảo sát"}
    answer_labels = {**{float(i): l for i, l in enumerate(SCALE5, start=1)}, 9.0: NO_OPINION}
    value_labels = {"don_vi": {float(i + 1): u for i, u in enumerate(units)},
                    "gioi_tinh": {1.0: "Nam", 2.0: "Nữ"}}
    ratings: dict = {}
    for j, (factor, criterion, question) in enumerate(criteria):
        name = f"c{j + 1}"
        frame[name] = codes[:, j]
        labels[name] = question
        value_labels[name] = answer_labels
        ratings.setdefault(factor, {})[criterion] = name
    frame["c12"] = codes[:, -1]
    labels["c12"] = OVERALL
    value_labels["c12"] = answer_labels
    path = folder / "survey.sav"
    pyreadstat.write_sav(frame, str(path), column_labels=[labels[c] for c in frame.columns],
                         variable_value_labels=value_labels)
    _codebook(folder / "survey.codebook.yaml",
              columns={"respondent_id": "ma_phieu", "unit": "don_vi", "date": "ngay",
                       "sex": "gioi_tinh"},
              ratings=ratings, scale=_scale5(), satisfied=[4, 5], overall="c12",
              values={"sex": {"Nam": "male", "Nữ": "female"}})
    return path


# --------------------------------------------------------------------------------------------
# 5-6. TCVN3, UTF-16 text, OpenDocument
# --------------------------------------------------------------------------------------------

def _ods(path: Path, rows: list[list]) -> None:
    """A minimal OpenDocument spreadsheet (what LibreOffice saves, less the styles)."""
    def cell(value) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "<table:table-cell/>"
        if isinstance(value, (dt.date, pd.Timestamp)):
            day = pd.Timestamp(value).strftime("%Y-%m-%d")
            return (f'<table:table-cell office:value-type="date" office:date-value="{day}">'
                    f"<text:p>{day}</text:p></table:table-cell>")
        if isinstance(value, (int, float, np.integer, np.floating)):
            return (f'<table:table-cell office:value-type="float" office:value="{value}">'
                    f"<text:p>{value}</text:p></table:table-cell>")
        return (f'<table:table-cell office:value-type="string"><text:p>{escape(str(value))}'
                f"</text:p></table:table-cell>")

    body = "".join("<table:table-row>" + "".join(cell(v) for v in row) + "</table:table-row>"
                   for row in rows)
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
               f'office:version="1.2"><office:body><office:spreadsheet>'
               f'<table:table table:name="Khảo sát">{body}</table:table>'
               f"</office:spreadsheet></office:body></office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
                '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" manifest:media-type='
                '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry '
                'manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"),
                         "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)


def make_fixtures(folder) -> dict[str, Path]:
    """Write every fixture file and its codebook into ``folder``; returns name -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    out: dict[str, Path] = {}

    frame = _thai_nguyen_frame(rng, 1500)
    path = folder / "thai_nguyen_2024.xlsx"
    _write_titled_xlsx(path, frame, TITLE, date_columns=("Ngày khảo sát",))
    out[path.name] = path
    out["thai_nguyen_2024.codebook.yaml"] = _thai_nguyen_codebook(
        folder / "thai_nguyen_2024.codebook.yaml")

    coded, labelled = _kobo(rng, 400)
    path = folder / "kobo_export.csv"
    coded.to_csv(path, sep=";", index=False, encoding="utf-8-sig")
    out[path.name] = path
    path = folder / "kobo_export.xlsx"
    labelled.to_excel(path, index=False, sheet_name="Khảo sát hài lòng 2024", engine="xlsxwriter")
    out[path.name] = path
    out["kobo_export_csv.codebook.yaml"] = _kobo_codebook(
        folder / "kobo_export_csv.codebook.yaml", labels=False)
    out["kobo_export_xlsx.codebook.yaml"] = _kobo_codebook(
        folder / "kobo_export_xlsx.codebook.yaml", labels=True)
    form = folder / "kobo_form.xlsx"
    _kobo_form(form)
    out[form.name] = form

    path = _kiosk(rng, folder)
    out[path.name] = path
    out["kiosk_monthly.codebook.yaml"] = folder / "kiosk_monthly.codebook.yaml"

    path, book = _thai_nguyen_previous(folder)
    out[path.name], out[book.name] = path, book

    path = _spss(rng, folder)
    out[path.name] = path
    out["survey.codebook.yaml"] = folder / "survey.codebook.yaml"

    # TCVN3: an older office's workbook, every text typed with the ABC keyboard.
    small = _thai_nguyen_frame(rng, 300)
    legacy = small.copy()
    for column in legacy.columns:
        if not pd.api.types.is_numeric_dtype(legacy[column]) \
                and not pd.api.types.is_datetime64_any_dtype(legacy[column]):
            legacy[column] = legacy[column].map(
                lambda v: legacy_text.from_unicode(v, "TCVN3") if isinstance(v, str) else v)
    legacy.columns = [legacy_text.from_unicode(c, "TCVN3") for c in small.columns]
    path = folder / "tcvn3_survey.xlsx"
    _write_titled_xlsx(path, legacy, [legacy_text.from_unicode(t, "TCVN3") for t in TITLE],
                       date_columns=(legacy.columns[4],), sheet="Sheet1")
    out[path.name] = path
    out["tcvn3_survey.codebook.yaml"] = _thai_nguyen_codebook(
        folder / "tcvn3_survey.codebook.yaml")

    # Excel's "Unicode text": UTF-16 with BOM, tab-separated, title rows kept, dates as shown.
    small = _thai_nguyen_frame(rng, 400)
    shown = small.assign(**{"Ngày khảo sát": small["Ngày khảo sát"].dt.strftime("%d/%m/%Y")})
    lines = [TITLE[0], TITLE[1], ""] + ["\t".join(shown.columns)] + [
        "\t".join("" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                  for v in row) for row in shown.itertuples(index=False)]
    path = folder / "utf16_survey.csv"
    path.write_bytes("\r\n".join(lines).encode("utf-16") + "\r\n".encode("utf-16-le"))
    out[path.name] = path
    out["utf16_survey.codebook.yaml"] = _thai_nguyen_codebook(
        folder / "utf16_survey.codebook.yaml")

    small = _thai_nguyen_frame(rng, 250)
    rows = [[TITLE[0]], [TITLE[1]], [], list(small.columns)] + [
        [None if isinstance(v, float) and np.isnan(v) else v for v in row]
        for row in small.itertuples(index=False)]
    path = folder / "survey.ods"
    _ods(path, rows)
    out[path.name] = path
    out["survey_ods.codebook.yaml"] = _thai_nguyen_codebook(folder / "survey_ods.codebook.yaml")
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "own_survey_fixtures")
    for name, where in make_fixtures(target).items():
        print(f"{name:34s} {where}")
