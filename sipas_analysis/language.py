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
    "suppressed": {
        "vi": "—: ước lượng bị ẩn vì cỡ mẫu hiệu dụng dưới {threshold} người.",
        "en": "—: estimate suppressed because the effective sample size is below {threshold}."},
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
