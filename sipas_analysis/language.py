"""Words and numbers in Vietnamese and English, for reports, tables and figures alike.

Numbers are written as each language writes them: 85,15 % and 1.250 người in Vietnamese,
85.15 % and 1,250 in English. Labels of factors and criteria come from ``schema``. This module
sits low in the flow so that both ``plots`` and ``report`` can use it.
"""
from __future__ import annotations

import math

import pandas as pd

from . import schema

LANGS = ("vi", "en")
_SEPARATORS = {"vi": (".", ","), "en": (",", ".")}  # (thousands, decimal)


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------
def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    return lang


def format_number(value, lang: str, *, decimals: int = 2) -> str:
    """85.149 -> '85,15' (vi) or '85.15' (en); 1250 -> '1.250' / '1,250'; NaN -> '—'."""
    check_lang(lang)
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "—"
    thousands, decimal = _SEPARATORS[lang]
    text = f"{float(value):,.{decimals}f}"
    return text.replace(",", "\0").replace(".", decimal).replace("\0", thousands)


def format_percent(value, lang: str, *, decimals: int = 2) -> str:
    """85.149 -> '85,15 %' / '85.15 %' (a space before %, as both languages' style guides)."""
    text = format_number(value, lang, decimals=decimals)
    return text if text == "—" else f"{text} %"


def format_count(value, lang: str) -> str:
    return format_number(value, lang, decimals=0)


def format_interval(low, high, lang: str, *, decimals: int = 2) -> str:
    return f"{format_number(low, lang, decimals=decimals)}–{format_number(high, lang, decimals=decimals)}"


def tick_formatter(lang: str, *, decimals: int = 0, percent: bool = False):
    """A matplotlib formatter writing axis numbers the language's way."""
    from matplotlib.ticker import FuncFormatter
    fmt = format_percent if percent else format_number
    return FuncFormatter(lambda x, _pos: fmt(x, lang, decimals=decimals))


# --------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------
TEXT: dict[str, dict[str, str]] = {
    "synthetic_mark": {"vi": "Dữ liệu mô phỏng, không phải SIPAS thật",
                       "en": "Synthetic data, not real SIPAS results"},
    "synthetic_banner": {
        "vi": "DỮ LIỆU MÔ PHỎNG: các con số dưới đây được tính trên một mẫu tổng hợp có mô hình "
              "gốc đã biết, không phải kết quả SIPAS thật.",
        "en": "SYNTHETIC DATA: the figures below come from a simulated sample with a known true "
              "model, not from real SIPAS results."},
    "sipas": {"vi": "Chỉ số SIPAS", "en": "SIPAS index"},
    "overall": {"vi": "Chỉ số hài lòng chung", "en": "Overall satisfaction index"},
    "nation": {"vi": "Cả nước", "en": "Nation"},
    "region": {"vi": "Vùng", "en": "Region"},
    "estimate": {"vi": "Tỷ lệ hài lòng (%)", "en": "Percent satisfied (%)"},
    "ci": {"vi": "Khoảng tin cậy 95 %", "en": "95 % confidence interval"},
    "rank": {"vi": "Xếp hạng", "en": "Rank"},
    "rank_set": {"vi": "Tập xếp hạng tin cậy 95 %", "en": "95 % rank confidence set"},
    "respondents": {"vi": "người trả lời", "en": "respondents"},
    "n": {"vi": "Số người trả lời", "en": "Respondents"},
    "n_eff": {"vi": "Cỡ mẫu hiệu dụng", "en": "Effective sample size"},
    "factor": {"vi": "Yếu tố", "en": "Factor"},
    "criterion": {"vi": "Tiêu chí", "en": "Criterion"},
    "difference": {"vi": "Chênh lệch (điểm %)", "en": "Difference (points)"},
    "p_value": {"vi": "Giá trị p", "en": "p-value"},
    "p_value_adjusted": {"vi": "Giá trị p (hiệu chỉnh {method})", "en": "p-value ({method})"},
    "p_adjust.none": {"vi": "không hiệu chỉnh", "en": "unadjusted"},
    "suppressed": {
        "vi": "—: ước lượng bị ẩn vì cỡ mẫu hiệu dụng dưới {threshold} người hoặc khoảng tin cậy "
              "quá rộng.",
        "en": "—: estimate suppressed because the effective sample size is below {threshold} "
              "or its interval is too wide."},
    "headline": {
        "vi": "Năm {year}, {unit} đạt chỉ số SIPAS {estimate} (khoảng tin cậy 95 %: {ci}), "
              "so với {nation} của cả nước. Với độ bất định của mẫu, thứ hạng của {unit} nằm "
              "trong khoảng {rank_low}–{rank_high} trên {n_units} đơn vị.",
        "en": "In {year}, {unit} scored {estimate} on SIPAS (95 % confidence interval {ci}), "
              "against {nation} for the nation. Given the sampling uncertainty, {unit} ranks "
              "somewhere from {rank_low} to {rank_high} of {n_units} units."},
    # --- figures (plots.py) -------------------------------------------------------------------
    "plot_rank_axis": {"vi": "Xếp hạng (1 = cao nhất)", "en": "Rank (1 = best)"},
    "plot_rank_column": {"vi": "Hạng (tập tin cậy)", "en": "Rank (confidence set)"},
    "plot_small_sample": {"vi": "Cỡ mẫu hiệu dụng nhỏ", "en": "Small effective sample"},
    "plot_coefficient": {"vi": "Hệ số hồi quy (khoảng tin cậy 95 %)",
                         "en": "Coefficient (95 % confidence interval)"},
    "plot_drivers_title": {"vi": "Các yếu tố tác động đến sự hài lòng",
                           "en": "What drives satisfaction"},
    "plot_share_of_r2": {"vi": "Tỷ trọng đóng góp vào R² (%)", "en": "Share of R² (%)"},
    "plot_lmg": {"vi": "Đóng góp vào R² (LMG)", "en": "Contribution to R² (LMG)"},
    "plot_importance_title": {"vi": "Tầm quan trọng tương đối", "en": "Relative importance"},
    "plot_importance": {"vi": "Tầm quan trọng", "en": "Importance"},
    "plot_ipa_title": {"vi": "Phân tích tầm quan trọng – mức độ thực hiện",
                       "en": "Importance–performance analysis"},
    "ipa_concentrate_here": {"vi": "Cần tập trung cải thiện", "en": "Concentrate here"},
    "ipa_keep_up_the_good_work": {"vi": "Tiếp tục duy trì", "en": "Keep up the good work"},
    "ipa_low_priority": {"vi": "Ưu tiên thấp", "en": "Low priority"},
    "ipa_possible_overkill": {"vi": "Có thể đang đầu tư quá mức", "en": "Possible overkill"},
    "plot_group_effect_axis": {"vi": "Hệ số của “{term}” theo tỉnh (khoảng tin cậy 95 %)",
                               "en": "Coefficient of “{term}” by province (95 % interval)"},
    "plot_group_effect_title": {"vi": "Khác biệt giữa các tỉnh (mô hình đa cấp)",
                                "en": "Differences between provinces (multilevel model)"},
    "plot_region_mean": {"vi": "Trung bình vùng {region}", "en": "{region} average"},
    "plot_nation_mean": {"vi": "Trung bình cả nước", "en": "National average"},
    "plot_papi_axis": {"vi": "PAPI: {dimension} (điểm)", "en": "PAPI: {dimension} (score)"},
    "papi_d1": {"vi": "Tham gia của người dân ở cấp cơ sở", "en": "Participation at local levels"},
    "papi_d2": {"vi": "Công khai, minh bạch", "en": "Transparency"},
    "papi_d3": {"vi": "Trách nhiệm giải trình với người dân", "en": "Vertical accountability"},
    "papi_d4": {"vi": "Kiểm soát tham nhũng trong khu vực công",
                "en": "Control of corruption in the public sector"},
    "papi_d5": {"vi": "Thủ tục hành chính công", "en": "Public administrative procedures"},
    "papi_d6": {"vi": "Cung ứng dịch vụ công", "en": "Public service delivery"},
    "papi_d7": {"vi": "Quản trị môi trường", "en": "Environmental governance"},
    "papi_d8": {"vi": "Quản trị điện tử", "en": "E-governance"},
    "papi_total": {"vi": "Tổng điểm PAPI", "en": "PAPI total"},
    "year": {"vi": "Năm", "en": "Year"},
    "plot_share": {"vi": "Tỷ lệ (%)", "en": "Share (%)"},
    "plot_experience_title": {"vi": "Trải nghiệm: đúng hạn và trực tuyến",
                              "en": "Experience: on time and online"},
    "var_on_time": {"vi": "Nhận kết quả đúng hạn", "en": "Result returned on time"},
    "var_on_time_rate": {"vi": "Tỷ lệ hồ sơ đúng hạn", "en": "On-time rate"},
    "var_applied_online": {"vi": "Nộp hồ sơ trực tuyến", "en": "Applied online"},
    "var_online_share": {"vi": "Tỷ lệ nộp hồ sơ trực tuyến", "en": "Share applied online"},
    "var_asked_extra_payment": {"vi": "Bị đòi thêm tiền", "en": "Asked for extra payment"},
    "var_n_visits": {"vi": "Số lần đi lại", "en": "Number of visits"},
    # --- the province map (plots.plot_province_map) ---
    "map_value_title": {"vi": "{label} theo tỉnh", "en": "{label} by province"},
    "map_group_title": {"vi": "Nhóm xếp hạng theo tỉnh (bốn nhóm, như PAPI)",
                        "en": "Rank groups by province (quarters, as in PAPI)"},
    "map_group_1": {"vi": "Nhóm cao nhất", "en": "Best performing"},
    "map_group_2": {"vi": "Nhóm trung bình cao", "en": "High average"},
    "map_group_3": {"vi": "Nhóm trung bình thấp", "en": "Low average"},
    "map_group_4": {"vi": "Nhóm thấp nhất", "en": "Poor performing"},
    "map_no_data": {"vi": "Không có số liệu", "en": "No data"},
    "map_uncertain_probability": {
        "vi": "Gạch chéo: không nhóm nào có xác suất\ntừ {threshold} trở lên (xấp xỉ)",
        "en": "Hatched: no group has a probability\nof {threshold} or more (approximate)"},
    "map_uncertain_rank_set": {
        "vi": "Gạch chéo: tập xếp hạng tin cậy 95 %\ntrải trên hơn một nhóm",
        "en": "Hatched: the 95 % rank set spans\nmore than one group"},
    "map_hoang_sa": {"vi": "Quần đảo Hoàng Sa ({province})",
                     "en": "Hoang Sa (Paracel) Islands ({province})"},
    "map_truong_sa": {"vi": "Quần đảo Trường Sa ({province})",
                      "en": "Truong Sa (Spratly) Islands ({province})"},
    "map_attribution": {
        "vi": "Ranh giới: geoBoundaries (VNM ADM1, CC BY-SA 4.0), nguồn Open Development Mekong",
        "en": "Boundaries: geoBoundaries (VNM ADM1, CC BY-SA 4.0), from Open Development Mekong"},
    "map_attribution_34": {"vi": "; gộp thành 34 đơn vị theo sắp xếp năm 2025",
                           "en": "; dissolved into the 34 units of 2025"},
    # --- report sections and sentences ---
    "unit": {"vi": "Đơn vị", "en": "Unit"},
    "by_agency_level": {"vi": "Cấp cơ quan", "en": "Agency level"},
    "by_service_area": {"vi": "Lĩnh vực", "en": "Service area"},
    "agency_level.province": {"vi": "Cấp tỉnh", "en": "Province"},
    "agency_level.district": {"vi": "Cấp huyện", "en": "District"},
    "agency_level.commune": {"vi": "Cấp xã", "en": "Commune"},
    "service_area.land": {"vi": "Đất đai", "en": "Land"},
    "service_area.civil_status": {"vi": "Hộ tịch", "en": "Civil status"},
    "service_area.construction": {"vi": "Xây dựng", "en": "Construction"},
    "service_area.business": {"vi": "Đăng ký kinh doanh", "en": "Business registration"},
    "service_area.labour_social": {"vi": "Lao động, thương binh và xã hội",
                                   "en": "Labour and social affairs"},
    "service_area.justice": {"vi": "Tư pháp", "en": "Justice"},
    "service_area.other": {"vi": "Khác", "en": "Other"},
    "overview_title": {"vi": "Tổng quan SIPAS toàn quốc {year}",
                       "en": "National SIPAS overview {year}"},
    "national_headline": {
        "vi": "Năm {year}, chỉ số SIPAS của cả nước là {estimate} (khoảng tin cậy 95 %: {ci}), "
              "ước lượng theo thiết kế mẫu từ {n} người trả lời tại {n_units} đơn vị.",
        "en": "In {year}, the national SIPAS index is {estimate} (95 % confidence interval "
              "{ci}), a design-based estimate from {n} respondents in {n_units} units."},
    "section_regions": {"vi": "So sánh giữa các vùng", "en": "Regions compared"},
    "section_heterogeneity": {"vi": "Khác biệt giữa các tỉnh về tác động của thái độ công chức",
                              "en": "How the effect of staff attitude differs between provinces"},
    "section_34": {"vi": "Góc nhìn 34 đơn vị hành chính từ năm 2025",
                   "en": "The 34-unit view from 2025"},
    "no_34": {"vi": "Dữ liệu không có năm {year} cho 34 đơn vị.",
              "en": "The data have no year {year} for the 34 units."},
    # --- the batch's index page ---
    "index_title": {"vi": "Chỉ số SIPAS năm {year}: xếp hạng {n} đơn vị",
                    "en": "SIPAS {year}: ranking of {n} units"},
    "index_map_alt": {
        "vi": "Bản đồ các tỉnh, thành phố theo nhóm chỉ số SIPAS năm {year}",
        "en": "Map of the provinces by SIPAS index group, {year}",
    },
    "index_intro": {
        "vi": "Mỗi đơn vị có một báo cáo riêng. Thứ hạng kèm tập xếp hạng tin cậy 95 %: hai đơn "
              "vị có tập chồng lên nhau không khác nhau rõ rệt.",
        "en": "Each unit has its own report. Ranks come with their 95 % rank confidence set: "
              "units whose sets overlap are not clearly different."},
    "index_report": {"vi": "Báo cáo", "en": "Report"},
    "index_open": {"vi": "Xem báo cáo", "en": "Open report"},
    "index_pdf": {"vi": "Bản PDF", "en": "PDF"},
    "index_docx": {"vi": "Bản Word", "en": "Word"},
    "index_failed": {"vi": "lỗi khi tạo báo cáo", "en": "report failed"},
    "index_not_run": {"vi": "chưa tạo", "en": "not built"},
    "index_older_link": {"vi": "Xem báo cáo cũ", "en": "Open older report"},
    "index_older_title": {"vi": "Báo cáo cũ hơn", "en": "Older reports shown"},
    "index_older": {
        "vi": "{unit}: hiển thị báo cáo tạo lúc {created} (dữ liệu mã băm {hash}) vì lần chạy "
              "này bị lỗi: {error}",
        "en": "{unit}: shows the report built {created} (data hash {hash}) because this "
              "run failed: {error}"},
    "index_footer": {
        "vi": "Tạo lúc {time}; dữ liệu {data} (mã băm {hash}); sipas_analysis {version}.",
        "en": "Built {time}; data {data} (hash {hash}); sipas_analysis {version}."},
    "report_title": {"vi": "Báo cáo chỉ số hài lòng SIPAS {year}: {unit}",
                     "en": "SIPAS satisfaction report {year}: {unit}"},
    "section_ranking": {"vi": "Vị trí trong cả nước", "en": "Standing among all units"},
    "ranking_map_alt": {
        "vi": "Bản đồ các tỉnh, thành phố theo nhóm chỉ số SIPAS năm {year}, {unit} viền đậm",
        "en": "Map of the provinces by SIPAS index group, {year}, {unit} outlined"},
    "ranking_map_caption": {
        "vi": "Bản đồ: các tỉnh, thành phố theo bốn nhóm xếp hạng chỉ số SIPAS năm {year} "
              "(mỗi nhóm một phần tư số đơn vị, như PAPI); {unit} được viền đậm. Đơn vị có gạch "
              "chéo chưa chắc chắn thuộc nhóm của mình (quy tắc ghi trong chú giải).",
        "en": "Map: the provinces by quarter of the SIPAS {year} ranking (four groups of a "
              "quarter of the units each, as in PAPI); {unit} is outlined in bold. A hatched "
              "unit is not clearly in its group (the legend states the rule)."},
    "section_factors": {"vi": "Các yếu tố so với cả nước và vùng",
                        "en": "Factors against the nation and the region"},
    "section_criteria": {"vi": "Các tiêu chí", "en": "Criteria"},
    "section_former": {"vi": "Các tỉnh cũ hợp thành đơn vị (trước 1/7/2025)",
                       "en": "The former provinces that make up the unit (before 1 July 2025)"},
    "section_breakdowns": {"vi": "Theo cấp cơ quan và lĩnh vực",
                           "en": "By agency level and service area"},
    "section_drivers": {"vi": "Điều gì thúc đẩy sự hài lòng",
                        "en": "What drives satisfaction"},
    "drivers_intro": {
        "vi": "Tác động biên trung bình trên xác suất hài lòng (mức {levels}), tính bằng điểm phần "
              "trăm, từ hồi quy logistic theo thiết kế mẫu trên toàn quốc.",
        "en": "Average marginal effects on the probability of being satisfied (levels {levels}), in "
              "percentage points, from a national design-based logistic regression."},
    "section_importance": {"vi": "Tầm quan trọng tương đối và ma trận ưu tiên",
                           "en": "Relative importance and the priority matrix"},
    "section_local": {"vi": "Tác động của thái độ công chức tại tỉnh",
                      "en": "The effect of staff attitude in this province"},
    "local_effect": {
        "vi": "Tác động riêng của điểm “Công chức” tại {unit}: {estimate} (khoảng tin cậy 95 %: "
              "{ci}); toàn quốc (theo thiết kế mẫu): {national}.",
        "en": "The province's own effect of the “Civil servants” score in {unit}: {estimate} "
              "(95 % interval {ci}); nationally (design-based): {national}."},
    "section_experience": {"vi": "Trả kết quả đúng hẹn và nộp hồ sơ trực tuyến",
                           "en": "On-time results and online applications"},
    "section_context": {"vi": "Bối cảnh: PAPI và SIPAS đã công bố",
                        "en": "Context: PAPI and published SIPAS"},
    "published_value": {"vi": "SIPAS đã công bố (%)", "en": "Published SIPAS (%)"},
    "value_type": {"vi": "Loại số liệu", "en": "Kind of figure"},
    "source": {"vi": "Nguồn", "en": "Source"},
    "value_type.reported": {"vi": "đã công bố", "en": "published"},
    "value_type.reported_rounded": {"vi": "đã công bố (làm tròn)", "en": "published (rounded)"},
    "value_type.reported_order": {"vi": "thứ hạng suy từ danh sách công bố",
                                  "en": "rank read from a published list"},
    "value_type.reported_ambiguous": {"vi": "đã công bố (không rõ phạm vi)",
                                      "en": "published (scope unclear)"},
    "value_type.derived": {"vi": "suy ra từ giá trị và mức thay đổi đã công bố",
                           "en": "derived from a published value and a published change"},
    "value_type.provincial_survey": {"vi": "khảo sát riêng của tỉnh, không phải SIPAS",
                                     "en": "the province's own survey, not SIPAS"},
    "value_type.agency_component": {"vi": "điểm của một sở, không phải của tỉnh",
                                    "en": "a department's score, not the province's"},
    "published_none": {"vi": "Không có số liệu SIPAS đã công bố cho đơn vị này.",
                       "en": "No published SIPAS figures for this unit."},
    "section_actions": {"vi": "Ba việc nên ưu tiên", "en": "Three things worth acting on"},
    "section_caveats": {"vi": "Lưu ý khi đọc", "en": "Caveats"},
    "section_provenance": {"vi": "Nguồn gốc số liệu", "en": "Provenance"},
    "unit_without_estimate": {
        "vi": "Năm {year}, {unit} không có người trả lời nào có trọng số dương trong dữ liệu: "
              "không thể tính chỉ số SIPAS cho đơn vị này.",
        "en": "In {year}, {unit} has no respondent with a positive weight in the data: its SIPAS "
              "index cannot be estimated."},
    "headline_suppressed": {
        "vi": "Năm {year}, mẫu của {unit} không đủ tin cậy để công bố chỉ số SIPAS (cỡ mẫu hiệu "
              "dụng dưới {threshold} người hoặc khoảng tin cậy quá rộng).",
        "en": "In {year}, the sample of {unit} is not reliable enough to publish its SIPAS "
              "index (effective sample size below {threshold}, or an interval too wide)."},
    "local_model_skipped": {
        "vi": "Không ước lượng hồi quy riêng cho tỉnh: bậc tự do của thiết kế mẫu trong tỉnh là "
              "{df}, dưới ngưỡng {threshold}; sai số chuẩn sẽ không đáng tin. Hiệu ứng riêng của "
              "tỉnh được lấy từ mô hình đa tầng.",
        "en": "No province-only regression: the province's own design degrees of freedom are "
              "{df}, below the threshold of {threshold}, so its standard errors would not be "
              "reliable. The province's own effect comes from the multilevel model."},
    "local_model_shown": {
        "vi": "Hồi quy riêng cho tỉnh (theo thiết kế mẫu): bậc tự do của thiết kế là {df} "
              "(ngưỡng {threshold}).",
        "en": "Province-only design-based regression: the design has {df} degrees of freedom "
              "(threshold {threshold})."},
    "action": {
        "vi": "Nâng mức hài lòng về “{criterion}”: hiện {estimate} (cả nước {nation}); yếu tố "
              "“{factor}” giải thích {share} phần biến thiên được giải thích của mức hài lòng "
              "chung.",
        "en": "Raise satisfaction with “{criterion}”: {estimate} now (nation {nation}); the "
              "factor “{factor}” accounts for {share} of the explained variation in overall "
              "satisfaction."},
    "caveat_suppression": {
        "vi": "Theo chuẩn trình bày tỷ lệ của NCHS, một ước lượng bị ẩn (—) khi cỡ mẫu hiệu dụng "
              "dưới {threshold} người (bằng cỡ mẫu khi tỷ lệ là 0 % hoặc 100 %), khi khoảng tin "
              "cậy rộng từ {width} điểm trở lên, hoặc khi khoảng rộng hơn 5 điểm và hơn "
              "{relative} % giá trị ước lượng.",
        "en": "Following the NCHS presentation standards for proportions, an estimate is "
              "suppressed (—) when its effective sample is below {threshold} (the sample size "
              "itself for 0 % or 100 %), when its interval is {width} points wide or wider, or "
              "when the interval is wider than 5 points and than {relative} % of the estimate."},
    "caveat_intervals.beta": {
        "vi": "Khoảng tin cậy 95 % của mỗi tỷ lệ hài lòng là khoảng Korn–Graubard (beta) với cỡ "
              "mẫu hiệu dụng và bậc tự do của thiết kế mẫu: luôn nằm trong 0–100 và vẫn phủ giá "
              "trị thật ít nhất 95 % số lần khi tỷ lệ gần 100 %.",
        "en": "The 95 % interval of each percent satisfied is Korn and Graubard's (beta) with "
              "the effective sample size and the design's degrees of freedom: it stays within "
              "0–100 and still covers the true value at least 95 % of the time near 100 %."},
    "caveat_intervals.logit": {
        "vi": "Khoảng tin cậy 95 % của mỗi tỷ lệ hài lòng được tính trên thang logit với bậc tự "
              "do của thiết kế mẫu.",
        "en": "The 95 % interval of each percent satisfied is formed on the logit scale with the "
              "design's degrees of freedom."},
    "caveat_intervals.xlogit": {
        "vi": "Khoảng tin cậy 95 % của mỗi tỷ lệ hài lòng được tính trên thang logit với bậc tự "
              "do của thiết kế mẫu.",
        "en": "The 95 % interval of each percent satisfied is formed on the logit scale with the "
              "design's degrees of freedom."},
    "caveat_intervals.asin": {
        "vi": "Khoảng tin cậy 95 % của mỗi tỷ lệ hài lòng được tính trên thang arcsin căn bậc "
              "hai với bậc tự do của thiết kế mẫu.",
        "en": "The 95 % interval of each percent satisfied is formed on the arcsine square-root "
              "scale with the design's degrees of freedom."},
    "caveat_intervals.mean": {
        "vi": "Khoảng tin cậy 95 % của mỗi tỷ lệ hài lòng là ước lượng ± t × sai số chuẩn với "
              "bậc tự do của thiết kế mẫu; gần 100 % nó có thể vượt quá 100.",
        "en": "The 95 % interval of each percent satisfied is the estimate ± t × its standard "
              "error with the design's degrees of freedom; near 100 % it can pass 100."},
    "caveat_intervals.wilson": {
        "vi": "Khoảng tin cậy 95 % của mỗi tỷ lệ hài lòng là khoảng Wilson với cỡ mẫu hiệu dụng "
              "và bậc tự do của thiết kế mẫu.",
        "en": "The 95 % interval of each percent satisfied is Wilson's score interval with the "
              "effective sample size and the design's degrees of freedom."},
    "caveat_ranks": {
        "vi": "Thứ hạng đi kèm tập xếp hạng tin cậy 95 % (Mogstad, Romano, Shaikh và Wilhelm, "
              "2024): chênh lệch nhỏ giữa các tỉnh thường nằm trong sai số mẫu.",
        "en": "Ranks come with 95 % rank confidence sets (Mogstad, Romano, Shaikh and Wilhelm, "
              "2024): small differences between provinces are usually within sampling error."},
    "caveat_multiplicity": {
        "vi": "Giá trị p so sánh đơn vị với cả nước đã được hiệu chỉnh theo phương pháp {method} "
              "cho {m} phép so sánh của báo cáo, để một khác biệt “có ý nghĩa” không xuất hiện "
              "chỉ vì có nhiều phép so sánh.",
        "en": "The p-values comparing the unit with the nation are adjusted by the {method} "
              "method for the report's {m} comparisons, so that a “significant” difference does "
              "not appear merely because many are made."},
    "caveat_multilevel": {
        "vi": "Mô hình đa tầng dùng trọng số mẫu (hợp lý giả cực đại, trọng số được chuẩn hoá "
              "theo cỡ mẫu của từng tỉnh; sai số chuẩn vững theo tỉnh); ước lượng toàn quốc theo "
              "thiết kế mẫu được đặt bên cạnh để đối chiếu.",
        "en": "The multilevel model uses the survey weights (pseudo-maximum likelihood, weights "
              "scaled to each province's sample size; standard errors robust, clustered by "
              "province); the design-based national estimate is shown beside it for "
              "comparison."},
    "caveat_rule": {
        "vi": "Cách tính: người trả lời mức {levels} trên thang {scale} được coi là hài lòng; "
              "{aggregation}",
        "en": "Method: answers {levels} on the {scale}-level scale count as satisfied; "
              "{aggregation}"},
    "aggregation.mean_of_criteria": {
        "vi": "chỉ số yếu tố là trung bình các tiêu chí; chỉ số chung là trung bình các yếu tố.",
        "en": "a factor index is the mean of its criteria; the overall index is the mean of the "
              "factors."},
    "aggregation.composite": {
        "vi": "chỉ số yếu tố là trung bình, trên những người trả lời, của tỷ lệ tiêu chí được "
              "đánh giá hài lòng của mỗi người; chỉ số chung là trung bình các yếu tố của mỗi "
              "người.",
        "en": "a factor index is the mean, over respondents, of each respondent's share of "
              "satisfied criteria; the overall index is the mean of each respondent's factors."},
    # how the weights were made (weighting.describe_weighting), on every report page
    "weighting_sentence": {
        "vi": "Trọng số: {how}; hiệu ứng thiết kế do trọng số 1 + CV² = {deff}.",
        "en": "Weights: {how}; weighting design effect 1 + CV² = {deff}."},
    "weighting_base.file": {"vi": "trọng số thiết kế trong tệp dữ liệu, dùng như đã cho",
                            "en": "the design weights of the data file, as given"},
    "weighting_base.equal": {
        "vi": "tệp dữ liệu không có trọng số, mọi người trả lời được tính như nhau",
        "en": "the data file has none, so every respondent counts equally"},
    "weighting_base.file_start": {"vi": "trọng số thiết kế trong tệp dữ liệu",
                                  "en": "the design weights of the data file"},
    "weighting_base.equal_start": {
        "vi": "trọng số ban đầu bằng nhau (tệp dữ liệu không có trọng số)",
        "en": "equal starting weights (the data file has none)"},
    "weighting_calibrated_file": {
        "vi": "được hiệu chỉnh bằng {method} theo các tổng biên của tổng thể trong tệp {file} "
              "({variables})",
        "en": "calibrated by {method} to the population margins in {file} ({variables})"},
    "weighting_calibrated": {
        "vi": "được hiệu chỉnh bằng {method} theo các tổng biên của tổng thể ({variables})",
        "en": "calibrated by {method} to population margins ({variables})"},
    "weighting_within": {"vi": "; trong từng {by}", "en": "; within each {by}"},
    "weighting_bounds": {"vi": ", tỷ số trọng số mới/cũ giới hạn trong [{lower}; {upper}]",
                         "en": ", new/old weight bounded to [{lower}, {upper}]"},
    "weighting_trimmed": {"vi": "rồi cắt trọng số về khoảng [{lower}; {upper}]",
                          "en": "then trimmed to [{lower}, {upper}]"},
    "weighting_method.rake": {"vi": "phương pháp lặp tỷ lệ (raking)", "en": "raking"},
    "weighting_method.post_stratify": {"vi": "hậu phân tầng", "en": "post-stratification"},
    "weighting_method.linear": {"vi": "hiệu chỉnh tuyến tính (GREG)",
                                "en": "linear calibration (GREG)"},
    "weighting_method.raking": {"vi": "hiệu chỉnh dạng mũ (raking)",
                                "en": "calibration with the raking distance"},
    "weighting_method.logit": {"vi": "hiệu chỉnh logit có giới hạn",
                               "en": "bounded logit calibration"},
    "section_missing_columns": {
        "vi": "Phần “{section}” không hiển thị: dữ liệu không có cột {columns}.",
        "en": "The section “{section}” is not shown: the data have no column {columns}."},
}


def text(key: str, lang: str, **values) -> str:
    """The sentence or label ``key`` in ``lang``, with ``values`` filled in (already formatted)."""
    check_lang(lang)
    if key not in TEXT:
        raise KeyError(f"no text {key!r}; known: {sorted(TEXT)}")
    return TEXT[key][lang].format(**values)


def term_label(term: str, lang: str) -> str:
    """Label of a criterion, factor or 'overall' term in ``lang`` (the term itself if unknown)."""
    check_lang(lang)
    if term == "overall":
        return TEXT["overall"][lang]
    if term in schema.FACTOR_LABELS:
        return schema.FACTOR_LABELS[term][lang]
    if term in schema.CRITERION_LABELS:
        return schema.CRITERION_LABELS[term][lang]
    return term

# The agency report kind (a unit inside a province: a department, a district or commune
# committee, a one-stop desk) and the province's league table.
AGENCY_TEXT: dict[str, dict[str, str]] = {
    "agency_title": {"vi": "Báo cáo chỉ số hài lòng {year}: {unit}",
                     "en": "Satisfaction index {year}: {unit}"},
    "agency_title_province": {"vi": "Báo cáo chỉ số hài lòng {year}: {unit} ({province})",
                              "en": "Satisfaction index {year}: {unit} ({province})"},
    "agency_headline": {
        "vi": "**{unit}** ({unit_type}): chỉ số hài lòng chung **{estimate}** (khoảng tin cậy "
              "95 %: {ci}; {n} phiếu). Thứ hạng trong {n_peers} đơn vị cùng loại: **{rank}** "
              "(tập thứ hạng 95 %: {rank_low}–{rank_high}).",
        "en": "**{unit}** ({unit_type}): overall satisfaction index **{estimate}** (95 % "
              "interval {ci}; {n} respondents). Rank among the {n_peers} units of its type: "
              "**{rank}** (95 % rank set {rank_low}–{rank_high})."},
    "agency_versus": {
        "vi": "So với toàn tỉnh ({province}): chênh lệch {difference} điểm (khoảng tin cậy "
              "{ci}; p {p}): {verdict}.",
        "en": "Against the province ({province}): a difference of {difference} points "
              "(interval {ci}; p {p}): {verdict}."},
    "agency_versus_adjusted": {
        "vi": "Sau hiệu chỉnh {method} cho {m} đơn vị được so với toàn tỉnh (như bảng xếp "
              "hạng), p {p}: {verdict}.",
        "en": "After {method}'s adjustment over the {m} units compared with the province (as "
              "in the league table), p {p}: {verdict}."},
    "agency_fh": {
        "vi": "Đơn vị nhỏ (cỡ mẫu hiệu dụng dưới {threshold}): **ước lượng dựa trên mô hình** "
              "(Fay–Herriot) **{estimate}** (khoảng {ci}, từ sai số bình phương trung bình), "
              "bên cạnh ước lượng trực tiếp {direct}; ước lượng trực tiếp chiếm {gamma} trọng "
              "số, phần còn lại dựa vào các đơn vị cùng loại.",
        "en": "A small unit (effective sample below {threshold}): the **model-based** "
              "(Fay–Herriot) estimate is **{estimate}** (interval {ci}, from its mean squared "
              "error), beside the direct estimate {direct}; the direct estimate carries {gamma} "
              "of the weight, the rest comes from the units of its type."},
    "agency_withheld": {"vi": "— (không hiển thị: mẫu quá nhỏ)",
                        "en": "— (withheld: sample too small)"},
    "agency_fh_benchmarked": {
        "vi": "Các ước lượng dựa trên mô hình được hiệu chỉnh (benchmark) để trung bình gia "
              "quyền theo quy mô đơn vị bằng ước lượng trực tiếp của toàn tỉnh.",
        "en": "The model-based estimates are benchmarked: their mean weighted by unit size "
              "equals the province's direct estimate."},
    "agency_fh_not_benchmarked": {
        "vi": "Các ước lượng dựa trên mô hình không được hiệu chỉnh theo toàn tỉnh "
              "(benchmark), vì tệp không có quy mô đơn vị (columns.unit_size).",
        "en": "The model-based estimates are not benchmarked to the province: that needs unit "
              "sizes, which the file does not give (columns.unit_size)."},
    "agency_above": {"vi": "cao hơn toàn tỉnh có ý nghĩa thống kê",
                     "en": "statistically above the province"},
    "agency_below": {"vi": "thấp hơn toàn tỉnh có ý nghĩa thống kê",
                     "en": "statistically below the province"},
    "agency_same": {"vi": "không khác toàn tỉnh có ý nghĩa thống kê",
                    "en": "not statistically different from the province"},
    "agency_province_weighted": {
        "vi": "“Toàn tỉnh” là trung bình chỉ số các đơn vị, gia quyền theo quy mô đơn vị "
              "(cột unit_size của codebook).",
        "en": "“The province” is the mean of the units' indices weighted by unit size (the "
              "codebook's unit_size column)."},
    "agency_province_equal": {
        "vi": "“Toàn tỉnh” là trung bình không gia quyền chỉ số các đơn vị (tệp không có quy mô "
              "đơn vị, columns.unit_size).",
        "en": "“The province” is the equal-weight mean of the units' indices (the file gives "
              "no unit sizes, columns.unit_size)."},
    "agency_section_factors": {"vi": "Các yếu tố so với toàn tỉnh và đơn vị cùng loại",
                               "en": "Factors against the province and the unit's type"},
    "agency_section_criteria": {"vi": "Các tiêu chí so với toàn tỉnh và đơn vị cùng loại",
                                "en": "Criteria against the province and the unit's type"},
    "agency_section_change": {"vi": "Thay đổi so với kỳ khảo sát trước",
                              "en": "Change from the previous survey"},
    "agency_no_previous": {"vi": "Tệp không có năm khảo sát nào trước {year}, và không có tệp "
                                 "kỳ trước (--previous).",
                           "en": "The file holds no survey year before {year}, and no previous "
                                 "survey file was given (--previous)."},
    "agency_new_unit": {"vi": "đơn vị mới", "en": "new unit"},
    "agency_new_unit_note": {
        "vi": "{unit}: không có số liệu năm trước ({previous_year}, {source}); đơn vị mới.",
        "en": "{unit}: no data in the previous survey ({previous_year}, {source}); a new "
              "unit."},
    "agency_previous_file": {
        "vi": "Kỳ trước: tệp {source}, một mẫu độc lập (phương sai của chênh lệch là tổng hai "
              "phương sai).",
        "en": "Previous survey: the file {source}, an independent sample (the variance of a "
              "change is the sum of the two variances)."},
    "agency_section_drivers": {"vi": "Yếu tố tác động đến mức hài lòng chung",
                               "en": "What drives overall satisfaction"},
    "agency_drivers_intro": {
        "vi": "Tầm quan trọng tương đối (LMG, phân rã R² = {r2}) của các yếu tố đối với mức hài "
              "lòng chung, từ mô hình riêng của đơn vị ({n} phiếu đủ dữ liệu).",
        "en": "Relative importance (LMG, shares of R² = {r2}) of the factors for overall "
              "satisfaction, from the unit's own model ({n} complete answers)."},
    "agency_drivers_design": {
        "vi": "Hệ số tác động của từng yếu tố (điểm hài lòng chung tăng thêm khi điểm yếu tố "
              "tăng 1) từ **mô hình hồi quy riêng của đơn vị**, theo thiết kế mẫu ({n} phiếu "
              "đủ dữ liệu; {design_df} bậc tự do thiết kế). Mô hình riêng được dùng khi đơn vị "
              "có ít nhất {df} bậc tự do thiết kế: số hệ số của mô hình trừ 1 cộng {residual}, để "
              "khoảng tin cậy t dựa trên ít nhất {residual} bậc tự do phần dư.",
        "en": "Each factor's slope (points of overall satisfaction per point of the factor's "
              "score) from **the unit's own design-based regression** ({n} complete answers; "
              "{design_df} design degrees of freedom). A unit gets its own model when it has at "
              "least {df} design df: the model's coefficients minus one plus {residual}, so "
              "that its t intervals rest on at least {residual} residual df."},
    "agency_drivers_multilevel": {
        "vi": "Đơn vị có {design_df} bậc tự do thiết kế, dưới ngưỡng {df} cần cho mô hình riêng "
              "(số hệ số trừ 1 cộng {residual}): hệ số tác động là **ước lượng của mô hình đa "
              "cấp** (hệ số chung của tỉnh cộng phần riêng của đơn vị, hệ số ngẫu nhiên theo "
              "đơn vị, mượn thông tin từ các đơn vị khác; có dùng trọng số mẫu; khoảng tin "
              "cậy theo phân phối chuẩn). {n} phiếu đủ dữ liệu.",
        "en": "The unit has {design_df} design df, below the {df} its own model needs (the "
              "coefficients minus one plus {residual}): the slopes are **the multilevel "
              "estimate** (the province's slope plus the unit's own deviation, random slopes "
              "by unit, borrowing strength from the other units; survey-weighted; normal "
              "intervals). {n} complete answers."},
    "agency_slope": {"vi": "Hệ số tác động", "en": "Slope"},
    "agency_drivers_none": {
        "vi": "Không có mô hình tác động: {why}.",
        "en": "No driver model: {why}."},
    "agency_drivers_no_overall": {"vi": "codebook không có câu hỏi hài lòng chung (overall)",
                                  "en": "the codebook has no overall satisfaction question"},
    "agency_drivers_small": {
        "vi": "đơn vị có quá ít phiếu đủ dữ liệu (bậc tự do thiết kế dưới {df})",
        "en": "the unit has too few complete answers (design df below {df})"},
    "agency_section_importance": {"vi": "Tầm quan trọng – mức độ thực hiện",
                                  "en": "Importance–performance"},
    "agency_ipa_intro_design": {
        "vi": "Mỗi yếu tố được đặt theo tầm quan trọng (hệ số tác động từ mô hình riêng của "
              "đơn vị, mục trên) và mức độ thực hiện (chỉ số của yếu tố tại đơn vị); các đường "
              "chia là trung bình của các yếu tố.",
        "en": "Each factor placed by its importance (its slope in the unit's own model, above) "
              "and its performance (the factor's index at the unit); the lines are the means "
              "over the factors."},
    "agency_ipa_intro_multilevel": {
        "vi": "Mỗi yếu tố được đặt theo tầm quan trọng (hệ số tác động ước lượng từ mô hình đa "
              "cấp, mục trên) và mức độ thực hiện (chỉ số của yếu tố tại đơn vị); các đường "
              "chia là trung bình của các yếu tố.",
        "en": "Each factor placed by its importance (its slope estimated by the multilevel "
              "model, above) and its performance (the factor's index at the unit); the lines "
              "are the means over the factors."},
    "agency_ipa_none": {
        "vi": "Không có phân tích tầm quan trọng – mức độ thực hiện: cần hệ số tác động và ít "
              "nhất hai yếu tố có chỉ số được hiển thị.",
        "en": "No importance–performance analysis: it needs the driver slopes and at least two "
              "factors whose index is shown."},
    "agency_ipa_suppressed": {
        "vi": "Không đưa vào vì chỉ số không được hiển thị (mẫu quá nhỏ): {terms}.",
        "en": "Left out because their index is withheld (sample too small): {terms}."},
    "agency_quadrant": {"vi": "Nhóm", "en": "Quadrant"},
    "agency_importance_high": {"vi": "Tầm quan trọng cao", "en": "High importance"},
    "agency_importance_low": {"vi": "Tầm quan trọng thấp", "en": "Low importance"},
    "agency_performance_low": {"vi": "Thực hiện thấp", "en": "Low performance"},
    "agency_performance_high": {"vi": "Thực hiện cao", "en": "High performance"},
    "agency_section_tracking": {"vi": "Theo dõi theo thời gian", "en": "Tracking over time"},
    "agency_tracking_intro_month": {
        "vi": "Chỉ số hài lòng chung theo tháng ({n} tháng), với đường trung tâm và giới hạn "
              "kiểm soát (biểu đồ p trên cỡ mẫu hiệu dụng).",
        "en": "The overall index by month ({n} months), with the centre line and control "
              "limits (a p-chart on the effective sample size)."},
    "agency_tracking_intro_quarter": {
        "vi": "Chỉ số hài lòng chung theo quý ({n} quý), với đường trung tâm và giới hạn kiểm "
              "soát (biểu đồ p trên cỡ mẫu hiệu dụng).",
        "en": "The overall index by quarter ({n} quarters), with the centre line and control "
              "limits (a p-chart on the effective sample size)."},
    "agency_period": {"vi": "Kỳ", "en": "Period"},
    "agency_limits": {"vi": "Giới hạn kiểm soát", "en": "Control limits"},
    "agency_signal": {"vi": "Tín hiệu", "en": "Signal"},
    "agency_model_based": {"vi": "Ước lượng dựa trên mô hình", "en": "Model-based"},
    "agency_model_based_ci": {"vi": "Khoảng (mô hình)", "en": "Interval (model)"},
    "agency_section_par": {"vi": "Điểm Chỉ số CCHC (PAR Index)",
                           "en": "PAR-index points"},
    "agency_par": {
        "vi": "Điểm thành phần hài lòng: **{points}** / {maximum} (khoảng {low}–{high}); quy "
              "tắc: {rule}.",
        "en": "Satisfaction component: **{points}** of {maximum} points (interval "
              "{low}–{high}); rule: {rule}."},
    "agency_par_band": {
        "vi": "Xác suất xấp xỉ điểm thuộc mức khác: {p}.",
        "en": "Approximate probability that the band would differ: {p}."},
    "agency_section_actions": {"vi": "Ba việc cần làm", "en": "Three actions"},
    "agency_action": {
        "vi": "Cải thiện “{criterion}”: {estimate} hài lòng, toàn tỉnh {province}.",
        "en": "Improve “{criterion}”: {estimate} satisfied, province {province}."},
    "agency_section_caveats": {"vi": "Lưu ý", "en": "Caveats"},
    "agency_suppressed": {
        "vi": "{count} ước lượng không được hiển thị vì mẫu hiệu dụng quá nhỏ hoặc khoảng tin "
              "cậy quá rộng: {terms}.",
        "en": "{count} estimate(s) are withheld (effective sample too small or interval too "
              "wide): {terms}."},
    "agency_section_provenance": {"vi": "Nguồn gốc số liệu", "en": "Provenance"},
    "agency_league_title": {"vi": "Bảng xếp hạng {year}: {kind}",
                            "en": "League table {year}: {kind}"},
    # the province by its name alone: "tỉnh" would be wrong for a city (thành phố Hà Nội)
    "agency_league_province": {"vi": "Bảng xếp hạng các đơn vị {year}: {province}",
                               "en": "League table of units {year}: {province}"},
    "agency_league_note": {
        "vi": "Thứ hạng tính riêng trong từng loại đơn vị, với tập thứ hạng 95 %; ▲/▼: cao/thấp "
              "hơn toàn tỉnh có ý nghĩa thống kê (5 %), sau hiệu chỉnh {method} cho {m} đơn vị "
              "được so sánh.",
        "en": "Ranks within each unit type, with 95 % rank sets; ▲/▼: statistically above/"
              "below the province (5 %) after {method}'s adjustment over the {m} units "
              "compared."},
    "agency_league_fh": {
        "vi": "Cột “Ước lượng dựa trên mô hình”: ước lượng Fay–Herriot (mô hình theo loại đơn "
              "vị) cho các đơn vị nhỏ (cỡ mẫu hiệu dụng dưới {threshold}), với khoảng từ sai số "
              "bình phương trung bình, bên cạnh ước lượng trực tiếp.",
        "en": "“Model-based”: the Fay–Herriot estimate (a model on the unit type) for small "
              "units (effective sample below {threshold}), with its interval from the mean "
              "squared error, beside the direct estimate."},
    "agency_unit": {"vi": "Đơn vị", "en": "Unit"},
    "agency_type": {"vi": "Loại đơn vị", "en": "Unit type"},
    "agency_rank": {"vi": "Hạng", "en": "Rank"},
    "agency_rank_set": {"vi": "Tập thứ hạng", "en": "Rank set"},
    "agency_points": {"vi": "Điểm CCHC", "en": "PAR points"},
    "agency_change": {"vi": "Thay đổi", "en": "Change"},
    "agency_versus_mark": {"vi": "So với tỉnh", "en": "Vs province"},
    "agency_province": {"vi": "Toàn tỉnh", "en": "Province"},
    "agency_type_mean": {"vi": "TB cùng loại", "en": "Type mean"},
    "agency_difference": {"vi": "Chênh lệch", "en": "Difference"},
}
TEXT.update(AGENCY_TEXT)


# --------------------------------------------------------------------------------------------
# Tables for people (workbooks): headers, and the labels written beside codes
# --------------------------------------------------------------------------------------------
COLUMN_TEXT: dict[str, dict[str, str]] = {
    # codes that get a label column (their code column: CODE_COLUMN_TEXT)
    "term": {"vi": "Chỉ tiêu", "en": "Term"},
    "kind": {"vi": "Loại chỉ tiêu", "en": "Kind of term"},
    "factor": {"vi": "Yếu tố", "en": "Factor"},
    "province_code": {"vi": "Tỉnh, thành phố", "en": "Province"},
    "quadrant": {"vi": "Nhóm ưu tiên", "en": "Priority group"},
    "value_type": {"vi": "Loại số liệu", "en": "Kind of figure"},
    "mark": {"vi": "So với toàn tỉnh", "en": "Against the province"},
    # names and text
    "unit": {"vi": "Đơn vị", "en": "Unit"},
    "unit_type": {"vi": "Loại đơn vị", "en": "Unit type"},
    "province": {"vi": "Tỉnh, thành phố", "en": "Province"},
    "contrast": {"vi": "Phép so sánh", "en": "Contrast"},
    "group": {"vi": "Nhóm", "en": "Group"},
    "versus": {"vi": "So với", "en": "Against"},
    "method": {"vi": "Phương pháp", "en": "Method"},
    "model": {"vi": "Mô hình", "en": "Model"},
    "crosshair_rule": {"vi": "Cách đặt ngưỡng", "en": "Crosshair rule"},
    "source_url": {"vi": "Nguồn", "en": "Source"},
    "setting": {"vi": "Thiết lập", "en": "Setting"},
    "item": {"vi": "Mục", "en": "Item"},
    "value": {"vi": "Giá trị", "en": "Value"},
    "note": {"vi": "Ghi chú", "en": "Note"},
    "content": {"vi": "Nội dung", "en": "Content"},
    "rule": {"vi": "Cách tính", "en": "Rule"},
    # numbers
    "estimate": {"vi": "Ước lượng", "en": "Estimate"},
    "estimate_percent": {"vi": "Tỷ lệ hài lòng (%)", "en": "Percent satisfied (%)"},
    "estimate_unit": {"vi": "Tỷ lệ hài lòng của đơn vị (%)", "en": "Unit, percent satisfied (%)"},
    "estimate_nation": {"vi": "Cả nước (%)", "en": "Nation (%)"},
    "estimate_this_year": {"vi": "Năm nay (%)", "en": "This year (%)"},
    "estimate_previous_year": {"vi": "Năm trước (%)", "en": "Previous year (%)"},
    "estimate_province": {"vi": "Toàn tỉnh (%)", "en": "Province (%)"},
    "estimate_group": {"vi": "Ước lượng của nhóm", "en": "Group estimate"},
    "estimate_versus": {"vi": "Ước lượng đối chiếu", "en": "Reference estimate"},
    "difference": {"vi": "Chênh lệch (điểm %)", "en": "Difference (points)"},
    "marginal_effect": {"vi": "Tác động biên (điểm %)", "en": "Marginal effect (points)"},
    "coefficient": {"vi": "Hệ số", "en": "Coefficient"},
    "share_percent": {"vi": "Tỷ lệ (%)", "en": "Share (%)"},
    "std_error": {"vi": "Sai số chuẩn", "en": "Standard error"},
    "ci_low": {"vi": "Cận dưới KTC 95 %", "en": "95 % interval, lower"},
    "ci_high": {"vi": "Cận trên KTC 95 %", "en": "95 % interval, upper"},
    "n": {"vi": "Số người trả lời", "en": "Respondents"},
    "df": {"vi": "Bậc tự do", "en": "Degrees of freedom"},
    "n_eff": {"vi": "Cỡ mẫu hiệu dụng", "en": "Effective sample size"},
    "deff": {"vi": "Hệ số thiết kế (deff)", "en": "Design effect (deff)"},
    "small_sample": {"vi": "Mẫu hiệu dụng nhỏ", "en": "Small effective sample"},
    "suppressed": {"vi": "Bị ẩn", "en": "Suppressed"},
    "statistic": {"vi": "Thống kê kiểm định", "en": "Test statistic"},
    "p_value": {"vi": "Giá trị p", "en": "p-value"},
    "p_adjusted": {"vi": "Giá trị p hiệu chỉnh", "en": "Adjusted p-value"},
    "p_simultaneous": {"vi": "Giá trị p đồng thời", "en": "Simultaneous p-value"},
    "rank": {"vi": "Xếp hạng", "en": "Rank"},
    "rank_low": {"vi": "Tập xếp hạng 95 %: từ", "en": "95 % rank set: from"},
    "rank_high": {"vi": "Tập xếp hạng 95 %: đến", "en": "95 % rank set: to"},
    "rank_low_simultaneous": {"vi": "Tập xếp hạng đồng thời: từ",
                              "en": "Simultaneous rank set: from"},
    "rank_high_simultaneous": {"vi": "Tập xếp hạng đồng thời: đến",
                               "en": "Simultaneous rank set: to"},
    "n_peers": {"vi": "Số đơn vị cùng loại", "en": "Units of the type"},
    "level": {"vi": "Mức tin cậy", "en": "Confidence level"},
    "could_be_top_5": {"vi": "Có thể thuộc 5 hạng đầu", "en": "Could be in the top 5"},
    "quartile_group": {"vi": "Nhóm xếp hạng (1–4)", "en": "Rank group (1–4)"},
    "p_group_1": {"vi": "Xác suất thuộc nhóm 1", "en": "Probability of group 1"},
    "p_group_2": {"vi": "Xác suất thuộc nhóm 2", "en": "Probability of group 2"},
    "p_group_3": {"vi": "Xác suất thuộc nhóm 3", "en": "Probability of group 3"},
    "p_group_4": {"vi": "Xác suất thuộc nhóm 4", "en": "Probability of group 4"},
    "lmg": {"vi": "Đóng góp vào R² (LMG)", "en": "Contribution to R² (LMG)"},
    "share": {"vi": "Tỷ trọng trong R² (0–1)", "en": "Share of R² (0–1)"},
    "share_ci_low": {"vi": "Tỷ trọng: cận dưới KTC 95 %", "en": "Share: 95 % interval, lower"},
    "share_ci_high": {"vi": "Tỷ trọng: cận trên KTC 95 %", "en": "Share: 95 % interval, upper"},
    "r_squared": {"vi": "R² của mô hình", "en": "Model R²"},
    "importance": {"vi": "Tầm quan trọng", "en": "Importance"},
    "performance": {"vi": "Mức độ thực hiện (%)", "en": "Performance (%)"},
    "importance_crosshair": {"vi": "Ngưỡng tầm quan trọng", "en": "Importance crosshair"},
    "performance_crosshair": {"vi": "Ngưỡng thực hiện (%)", "en": "Performance crosshair (%)"},
    "blup": {"vi": "Hiệu ứng riêng dự báo (BLUP)", "en": "Predicted own effect (BLUP)"},
    "year": {"vi": "Năm", "en": "Year"},
    "previous_year": {"vi": "Năm khảo sát trước", "en": "Previous survey year"},
    "previous": {"vi": "Kỳ trước (%)", "en": "Previous (%)"},
    "sipas_pct": {"vi": "SIPAS đã công bố (%)", "en": "Published SIPAS (%)"},
    "rank_of_63": {"vi": "Hạng trên 63", "en": "Rank of 63"},
    # PAR points (par_points.par_table)
    "index": {"vi": "Chỉ số hài lòng (%)", "en": "Satisfaction index (%)"},
    "index_low": {"vi": "Cận dưới (%)", "en": "Lower bound (%)"},
    "index_high": {"vi": "Cận trên (%)", "en": "Upper bound (%)"},
    "points": {"vi": "Điểm", "en": "Points"},
    "points_low": {"vi": "Điểm cận dưới", "en": "Points, lower"},
    "points_high": {"vi": "Điểm cận trên", "en": "Points, upper"},
    "max_points": {"vi": "Điểm tối đa", "en": "Maximum points"},
    "band": {"vi": "Mức", "en": "Band"},
    "p_band_differs": {"vi": "Xác suất khác mức (xấp xỉ)",
                       "en": "Probability of another band (approximate)"},
}

CODE_COLUMN_TEXT: dict[str, dict[str, str]] = {
    "term": {"vi": "Mã chỉ tiêu", "en": "Term code"},
    "kind": {"vi": "Mã loại", "en": "Kind code"},
    "factor": {"vi": "Mã yếu tố", "en": "Factor code"},
    "province_code": {"vi": "Mã tỉnh", "en": "Province code"},
    "quadrant": {"vi": "Mã nhóm ưu tiên", "en": "Priority group code"},
    "value_type": {"vi": "Mã loại số liệu", "en": "Kind-of-figure code"},
    "mark": {"vi": "Mã so sánh", "en": "Comparison code"},
    "rule": {"vi": "Cách tính (tiếng Anh)", "en": "Rule (as recorded)"},
}

# Columns of counts and ranks: whole numbers in a workbook even where a gap made them floats.
INTEGER_COLUMNS = frozenset({
    "n", "df", "rank", "rank_low", "rank_high", "rank_low_simultaneous",
    "rank_high_simultaneous", "n_peers", "quartile_group", "year", "previous_year",
    "rank_of_63", "band"})

# p-values are read to three decimals, as the pages print them.
P_VALUE_COLUMNS = frozenset({"p_value", "p_adjusted", "p_simultaneous", "change_p"})

TEXT.update({
    "kind.criterion": {"vi": "Tiêu chí", "en": "Criterion"},
    "kind.factor": {"vi": "Yếu tố", "en": "Factor"},
    "kind.overall": {"vi": "Chỉ số chung", "en": "Overall index"},
    "kind.ame": {"vi": "Tác động biên trung bình", "en": "Average marginal effect"},
    "kind.coefficient": {"vi": "Hệ số hồi quy", "en": "Regression coefficient"},
    "kind.threshold": {"vi": "Ngưỡng cắt", "en": "Threshold"},
    "kind.cutpoint": {"vi": "Ngưỡng cắt", "en": "Cut-point"},
    "term.Intercept": {"vi": "Hệ số chặn", "en": "Intercept"},
    "mark.above": {"vi": "cao hơn", "en": "above"},
    "mark.below": {"vi": "thấp hơn", "en": "below"},
    "mark.": {"vi": "không khác", "en": "not different"},
})


def any_term_label(term: str, lang: str) -> str:
    """:func:`term_label`, and also a factor's score (``staff_score``), an experience variable
    (``on_time``) and a regression intercept; anything else is its own label.

    Examples
    --------
    >>> any_term_label("staff_score", "en"), any_term_label("on_time", "vi")
    ('Civil servants', 'Nhận kết quả đúng hạn')
    """
    label = term_label(term, lang)
    if label != term:
        return label
    if term.endswith("_score") and term[:-len("_score")] in schema.FACTOR_LABELS:
        return schema.FACTOR_LABELS[term[:-len("_score")]][lang]
    for key in (f"var_{term}", f"term.{term}"):
        if key in TEXT:
            return TEXT[key][lang]
    return term


def _code_labeller(prefix: str):
    return lambda code, lang: TEXT[f"{prefix}{code}"][lang] if f"{prefix}{code}" in TEXT \
        else str(code)


CODE_LABELS = {
    "term": any_term_label, "factor": any_term_label, "kind": _code_labeller("kind."),
    "quadrant": _code_labeller("ipa_"), "value_type": _code_labeller("value_type."),
    "mark": _code_labeller("mark.")}


def column_header(column, lang: str, headers: dict | None = None) -> str:
    """The header of ``column`` in ``lang`` (:data:`COLUMN_TEXT`, under the key ``headers``
    gives it, else its own name); a column without one keeps its name."""
    key = (headers or {}).get(column, column)
    return COLUMN_TEXT[key][lang] if key in COLUMN_TEXT else str(column)


def reader_table(table: pd.DataFrame, lang: str, *, labels: dict | None = None,
                 headers: dict | None = None) -> pd.DataFrame:
    """``table`` for a reader in ``lang``: every column under its header in the language
    (:data:`COLUMN_TEXT`; ``headers`` maps a column to another key of it), each coded column
    (``term``, ``kind``, ``factor``, ``quadrant``, ``value_type``, ``mark``, and the keys of
    ``labels``: column -> ``f(code, lang)``) shown as its label with the code kept in a
    column of its own just after it, for machines. Numbers are not touched, except that
    counts and ranks (:data:`INTEGER_COLUMNS`) that are whole numbers become integers. A
    column without a header keeps its name.

    Examples
    --------
    >>> table = pd.DataFrame({"term": ["staff", "overall"], "estimate": [81.25, 80.0],
    ...                       "n": [120.0, 300.0]})
    >>> reader_table(table, "vi").to_dict("list")  # doctest: +NORMALIZE_WHITESPACE
    {'Chỉ tiêu': ['Công chức', 'Chỉ số hài lòng chung'], 'Mã chỉ tiêu': ['staff', 'overall'],
     'Ước lượng': [81.25, 80.0], 'Số người trả lời': [120, 300]}
    """
    check_lang(lang)
    coders = CODE_LABELS | (labels or {})
    headers = headers or {}
    columns = {}
    for name in table.columns:
        values = table[name]
        header = column_header(name, lang, headers)
        if name in coders:
            codes = values.astype(object)
            known = {c: coders[name](c, lang) for c in dict.fromkeys(codes) if not _missing(c)}
            shown = [None if _missing(c) else known[c] for c in codes]   # each code once
            columns[header] = pd.Series(shown, index=table.index, dtype=object)
            code_header = CODE_COLUMN_TEXT[name][lang] if name in CODE_COLUMN_TEXT \
                else f"{header} ({name})"
            columns[code_header] = values
            continue
        if name in INTEGER_COLUMNS and pd.api.types.is_float_dtype(values.dtype):
            finite = values.dropna()
            if (finite == finite.round()).all():
                values = values.astype("Int64")
        columns[header] = values
    if len(columns) < len(table.columns) + sum(c in coders for c in table.columns):
        raise ValueError(f"reader_table: two columns of {list(table.columns)} get the same "
                         f"header in {lang!r}")
    return pd.DataFrame(columns, index=table.index).reset_index(drop=True)


def _missing(value) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


# The workbook of a report (report.write_workbook): its sheets' names (at most 31 characters)
# and what each holds, for its first sheet.
WORKBOOK_TEXT: dict[str, dict[str, str]] = {
    "sheet.about": {"vi": "Giới thiệu", "en": "About"},
    "sheet.index": {"vi": "Chỉ số của đơn vị", "en": "Unit index"},
    "sheet.national": {"vi": "Cả nước", "en": "Nation"},
    "sheet.versus_nation": {"vi": "So với cả nước", "en": "Versus nation"},
    "sheet.ranks": {"vi": "Xếp hạng", "en": "Ranks"},
    "sheet.drivers_ame": {"vi": "Tác động biên", "en": "Marginal effects"},
    "sheet.drivers_ordinal": {"vi": "Hồi quy thứ bậc", "en": "Ordinal regression"},
    "sheet.importance": {"vi": "Tầm quan trọng", "en": "Importance"},
    "sheet.ipa": {"vi": "Ma trận ưu tiên", "en": "Priority matrix"},
    "sheet.multilevel": {"vi": "Mô hình đa tầng", "en": "Multilevel model"},
    "sheet.experience": {"vi": "Đúng hẹn và trực tuyến", "en": "On time and online"},
    "sheet.published": {"vi": "SIPAS đã công bố", "en": "Published SIPAS"},
    "sheet.settings": {"vi": "Thiết lập", "en": "Settings"},
    "sheet.note": {"vi": "Ghi chú", "en": "Note"},
    "sheet.versus_province": {"vi": "So với toàn tỉnh", "en": "Versus province"},
    "sheet.change": {"vi": "Thay đổi", "en": "Change"},
    "sheet.drivers": {"vi": "Yếu tố tác động", "en": "Drivers"},
    "sheet.par_points": {"vi": "Điểm CCHC", "en": "PAR points"},
    "sheet.provenance": {"vi": "Nguồn gốc số liệu", "en": "Provenance"},
    "sheet.small_area": {"vi": "Ước lượng mô hình", "en": "Model-based"},
    "sheet.tracking": {"vi": "Theo dõi theo tháng", "en": "Monthly tracking"},
    "about.province.index": {
        "vi": "Tỷ lệ hài lòng (%) của đơn vị theo từng tiêu chí, yếu tố và chỉ số chung, với sai "
              "số chuẩn, khoảng tin cậy 95 %, số người trả lời, cỡ mẫu hiệu dụng và cột cho biết "
              "ước lượng có bị ẩn hay không.",
        "en": "The unit's percent satisfied for every criterion, factor and the overall index, "
              "with standard error, 95 % interval, respondents, effective sample size and "
              "whether the estimate is suppressed."},
    "about.province.national": {
        "vi": "Các chỉ số tương ứng của cả nước (ước lượng theo thiết kế mẫu).",
        "en": "The same indices for the nation (design-based estimates)."},
    "about.province.versus_nation": {
        "vi": "Chênh lệch giữa đơn vị và cả nước (điểm %) theo từng chỉ tiêu, với khoảng tin "
              "cậy, giá trị p và giá trị p đã hiệu chỉnh cho nhiều phép so sánh.",
        "en": "The unit minus the nation (points) for every term, with interval, p-value and "
              "the p-value adjusted for multiple comparisons."},
    "about.province.ranks": {
        "vi": "Xếp hạng mọi đơn vị theo chỉ số chung, với tập xếp hạng tin cậy 95 % và xác "
              "suất thuộc từng nhóm xếp hạng.",
        "en": "Every unit ranked by the overall index, with its 95 % rank confidence set and "
              "the probability of each rank group."},
    "about.province.drivers_ame": {
        "vi": "Tác động biên trung bình (điểm %) của trải nghiệm lên xác suất hài lòng, từ hồi "
              "quy logistic theo thiết kế mẫu trên toàn quốc.",
        "en": "Average marginal effects (points) of the experience on the probability of being "
              "satisfied, from a national design-based logistic regression."},
    "about.province.drivers_ordinal": {
        "vi": "Hệ số của hồi quy thứ bậc (tỷ lệ chênh tích lũy) của mức hài lòng chung theo "
              "điểm các yếu tố, trên toàn quốc.",
        "en": "Coefficients of the national ordinal (cumulative-logit) regression of overall "
              "satisfaction on the factor scores."},
    "about.province.importance": {
        "vi": "Tầm quan trọng tương đối của các yếu tố (phân rã R² theo LMG) với khoảng tin cậy "
              "bootstrap và thứ hạng.",
        "en": "Relative importance of the factors (LMG shares of R²) with bootstrap intervals "
              "and ranks."},
    "about.province.ipa": {
        "vi": "Ma trận tầm quan trọng – mức độ thực hiện: nhóm ưu tiên của từng yếu tố.",
        "en": "Importance–performance matrix: the priority group of each factor."},
    "about.province.multilevel": {
        "vi": "Hiệu ứng riêng của tỉnh từ mô hình đa tầng (hệ số chặn và điểm “Công chức”).",
        "en": "The province's own effects from the multilevel model (intercept and the “Civil "
              "servants” score)."},
    "about.province.experience": {
        "vi": "Tỷ lệ nhận kết quả đúng hẹn và nộp hồ sơ trực tuyến của đơn vị và cả nước.",
        "en": "Shares of results on time and of online applications, the unit and the nation."},
    "about.province.published": {
        "vi": "Số liệu SIPAS đã công bố của đơn vị, đúng như công bố, kèm nguồn.",
        "en": "Published SIPAS figures of the unit, as published, with their source."},
    "about.province.settings": {
        "vi": "Các thiết lập tính toán của báo cáo.",
        "en": "The report's computation settings."},
    "about.province.note": {"vi": "Vì sao đơn vị không có số liệu.",
                            "en": "Why the unit has no figures."},
    "about.agency.index": {
        "vi": "Tỷ lệ hài lòng (%) của đơn vị theo từng tiêu chí, yếu tố và chỉ số chung, với sai "
              "số chuẩn, khoảng tin cậy 95 %, số phiếu, cỡ mẫu hiệu dụng và cột cho biết ước "
              "lượng có bị ẩn hay không.",
        "en": "The unit's percent satisfied for every criterion, factor and the overall index, "
              "with standard error, 95 % interval, respondents, effective sample size and "
              "whether the estimate is suppressed."},
    "about.agency.versus_province": {
        "vi": "Đơn vị so với toàn tỉnh theo từng chỉ tiêu: chênh lệch (điểm %), khoảng tin cậy, "
              "giá trị p và kết luận ở mức 5 %.",
        "en": "The unit against the province for every term: difference (points), interval, "
              "p-value and the verdict at the 5 % level."},
    "about.agency.change": {
        "vi": "Thay đổi so với kỳ khảo sát trước (điểm %), với khoảng tin cậy và giá trị p.",
        "en": "Change from the previous survey (points), with interval and p-value."},
    "about.agency.drivers": {
        "vi": "Tầm quan trọng tương đối của các yếu tố đối với mức hài lòng chung (LMG), từ mô "
              "hình riêng của đơn vị.",
        "en": "Relative importance of the factors for overall satisfaction (LMG), from the "
              "unit's own model."},
    "about.agency.par_points": {
        "vi": "Điểm thành phần hài lòng của Chỉ số CCHC, với khoảng tương ứng và quy tắc tính.",
        "en": "The satisfaction component of the PAR index in points, with its interval and "
              "rule."},
    "about.agency.provenance": {
        "vi": "Tệp dữ liệu, codebook, mã băm, phiên bản và thiết lập đã dùng.",
        "en": "The data file, codebook, hashes, version and settings used."},
    "about.agency.small_area": {
        "vi": "Ước lượng dựa trên mô hình (Fay–Herriot) của chỉ số chung bên cạnh ước lượng trực "
              "tiếp, với khoảng tin cậy từ sai số bình phương trung bình.",
        "en": "The model-based (Fay–Herriot) estimate of the overall index beside the direct "
              "estimate, with its MSE-based interval."},
    "about.agency.importance": {
        "vi": "Tầm quan trọng tương đối (LMG) của các yếu tố đối với mức hài lòng chung.",
        "en": "The factors' relative importance (LMG) for overall satisfaction."},
    "about.agency.ipa": {
        "vi": "Ma trận tầm quan trọng – kết quả: hệ số tác động và chỉ số của từng yếu tố.",
        "en": "Importance–performance: each factor's slope and index, and its quadrant."},
    "about.agency.tracking": {
        "vi": "Chuỗi theo tháng (hoặc quý) với khoảng tin cậy, đường trung tâm và giới hạn "
              "kiểm soát.",
        "en": "The monthly (or quarterly) series with intervals, centre line and control "
              "limits."},
    "about.agency.note": {"vi": "Vì sao đơn vị không có số liệu.",
                          "en": "Why the unit has no figures."},
    "about_report": {"vi": "Báo cáo", "en": "Report"},
    "about_warning": {"vi": "Lưu ý", "en": "Warning"},
    "about_data": {"vi": "Dữ liệu", "en": "Data"},
    "about_data_value": {"vi": "{data} (mã băm {hash})", "en": "{data} (hash {hash})"},
    "about_year": {"vi": "Năm khảo sát", "en": "Survey year"},
    "about_sheet": {"vi": "Trang “{sheet}”", "en": "Sheet “{sheet}”"},
    "about_method": {"vi": "Phương pháp", "en": "Method"},
    "about_numbers": {"vi": "Cách đọc số", "en": "Reading the numbers"},
    "about_numbers_value": {
        "vi": "Mọi con số được lưu đủ chữ số và hiển thị với hai chữ số thập phân (giá trị p: "
              "ba); ô trống là ước lượng bị ẩn hoặc không có. Cột “Mã …” giữ mã gốc cho máy "
              "đọc.",
        "en": "Every number is stored in full and shown with two decimals (p-values: three); an "
              "empty cell is an estimate suppressed or not available. The “… code” columns keep "
              "the original codes for machines."},
    "about_estimates": {
        "vi": "Các tỷ lệ là ước lượng theo thiết kế mẫu (có trọng số, phân tầng và cụm), không "
              "phải tỷ lệ thô của mẫu.",
        "en": "Percentages are design-based estimates (weights, strata and clusters), not raw "
              "sample shares."},
    "about_par_rule": {"vi": "Quy tắc điểm CCHC: {rule}.", "en": "PAR points rule: {rule}."},
}
TEXT.update(WORKBOOK_TEXT)


# What a survey file read through a codebook lacks, said in every output (codebook.py); the
# English sentences are also printed by the command line.
ASSUMPTION_TEXT: dict[str, dict[str, str]] = {
    "assumption.no_design": {
        "vi": "tệp không có cột thiết kế mẫu (tầng, cụm): coi như chọn mẫu ngẫu nhiên đơn giản "
              "người trả lời trong từng đơn vị",
        "en": "no design columns (strata, clusters): simple random sampling of respondents "
              "within each unit"},
    "assumption.no_clusters": {
        "vi": "tệp không có cột cụm: mỗi người trả lời là một đơn vị mẫu",
        "en": "no cluster column: respondents are the sampling units"},
    "assumption.calibrated": {
        "vi": "trọng số được hiệu chỉnh theo các tổng biên của tổng thể trong {margins} "
              "({method})",
        "en": "weights calibrated to the population margins in {margins} ({method})"},
    "assumption.calibrated_by": {
        "vi": "trọng số được hiệu chỉnh theo các tổng biên của tổng thể trong {margins} "
              "({method}, trong từng {by})",
        "en": "weights calibrated to the population margins in {margins} ({method}, within "
              "{by})"},
    "assumption.no_weights": {
        "vi": "tệp không có trọng số: mọi người trả lời được tính như nhau",
        "en": "no weights: every respondent counts equally"},
    "assumption.few_factors": {
        "vi": "chỉ có {count} yếu tố được đánh giá ({factors}): chỉ số chung là trung bình các "
              "yếu tố có mặt, không phải của năm yếu tố SIPAS",
        "en": "{count} factor(s) rated ({factors}): the overall index is the mean of the "
              "factors present, not of the five SIPAS factors"},
    "assumption.no_experience": {
        "vi": "tệp không có dữ kiện trải nghiệm (đúng hẹn, trực tuyến, bị đòi thêm tiền, số lần "
              "đi lại): mô hình tác động dùng các câu đánh giá và các cột codebook cung cấp",
        "en": "no experience facts (on time, online, extra payment, visits): driver models use "
              "the ratings and the columns the codebook gives"},
    "assumption.no_demographics": {
        "vi": "tệp không có thông tin nhân khẩu: không phân tích theo giới tính, tuổi hay học "
              "vấn",
        "en": "no demographics: no breakdown by sex, age or education"},
    "assumption.repeated_ids": {
        "vi": "{count} dòng có mã phiếu trùng với một dòng khác; mỗi dòng vẫn được tính là một "
              "người trả lời (sipas quality liệt kê chúng là duplicate_id)",
        "en": "{count} rows share a respondent id with another row; each is counted as a "
              "respondent (sipas quality lists them as duplicate_id)"},
    "assumption.empty_rows": {
        "vi": "bỏ qua {count} dòng trống của tệp (không có giá trị ở ô nào)",
        "en": "{count} empty row(s) of the file skipped (no value in any cell)"},
}
TEXT.update(ASSUMPTION_TEXT)
