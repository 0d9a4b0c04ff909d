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
