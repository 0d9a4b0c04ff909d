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
        "vi": "Mô hình đa tầng không dùng trọng số mẫu; ước lượng toàn quốc theo thiết kế mẫu "
              "được đặt bên cạnh để đối chiếu.",
        "en": "The multilevel model does not use the survey weights; the design-based national "
              "estimate is shown beside it for comparison."},
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
    "agency_no_previous": {"vi": "Tệp không có năm khảo sát nào trước {year}.",
                           "en": "The file holds no survey year before {year}."},
    "agency_section_drivers": {"vi": "Yếu tố tác động đến mức hài lòng chung",
                               "en": "What drives overall satisfaction"},
    "agency_drivers_intro": {
        "vi": "Tầm quan trọng tương đối (LMG, phân rã R² = {r2}) của các yếu tố đối với mức hài "
              "lòng chung, từ mô hình riêng của đơn vị ({n} phiếu đủ dữ liệu).",
        "en": "Relative importance (LMG, shares of R² = {r2}) of the factors for overall "
              "satisfaction, from the unit's own model ({n} complete answers)."},
    "agency_drivers_none": {
        "vi": "Không có mô hình tác động: {why}.",
        "en": "No driver model: {why}."},
    "agency_drivers_no_overall": {"vi": "codebook không có câu hỏi hài lòng chung (overall)",
                                  "en": "the codebook has no overall satisfaction question"},
    "agency_drivers_small": {
        "vi": "đơn vị có quá ít phiếu đủ dữ liệu (bậc tự do thiết kế dưới {df})",
        "en": "the unit has too few complete answers (design df below {df})"},
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
    "agency_league_note": {
        "vi": "Thứ hạng tính riêng trong từng loại đơn vị, với tập thứ hạng 95 %; ▲/▼: cao/thấp "
              "hơn toàn tỉnh có ý nghĩa thống kê (5 %).",
        "en": "Ranks within each unit type, with 95 % rank sets; ▲/▼: statistically above/"
              "below the province (5 %)."},
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
