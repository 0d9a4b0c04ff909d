"""Monthly (or quarterly) tracking of one desk: the series, a control chart, year to date.

A district surveys each one-stop desk (bộ phận một cửa) every month and reads the month against
the desk's own past. :func:`track_unit` gives, for one unit of a survey file:

- the **series**: the overall index and each factor per period (period from ``date``), with
  the Korn-Graubard interval of :func:`~sipas_analysis.indices.sipas_index` (the period's design
  degrees of freedom), ``n`` and ``n_eff``;
- a **centre line** and **control limits** for the overall index: a p-chart (Montgomery,
  *Introduction to Statistical Quality Control*, 7th ed., ch. 7, the control chart for
  fraction nonconforming with variable sample size) whose sample sizes are effective sizes
  (Kish, *Survey Sampling*, 1965, §8.2: the design effect; the same substitution as Korn and
  Graubard's effective size for intervals). The centre p̄ is the pooled index of the desk's
  twelve months before the latest period (the whole series when it is shorter, said); the
  limits of period t are p̄ ± 3·sqrt(p̄(1 − p̄) / m_t), m_t = n_t / deff̄, clipped to 0–100;
  periods outside are flagged ``above`` or ``below``;
- **year to date** (the latest year's periods so far) and the **change against the same
  period last year** with its design-based test (:func:`~sipas_analysis.indices.compare_indices`:
  t with the contrast's Satterthwaite df);
- **per-staff views**, only when the file names staff and only for staff whose effective size
  reaches ``min_staff_n_eff``: listed alphabetically, never ranked.

deff̄ is the baseline's design effect *for a proportion*: its design variance of the overall
index over p̄(1 − p̄)/n̄ (n̄ its respondents), so that m_t is the binomial-equivalent size the
package's intervals use (p(1 − p)/SE²). For an index of one yes/no question under simple
random sampling it is Kish's deff, about 1; clusters that differ (interview days as PSUs)
raise it and widen the limits. A mean of several criteria not answered alike varies less
than one answer and can give a value below 1; as for the intervals
(:func:`~sipas_analysis.intervals.effective_size`, the NCHS rule), a design effect below 1 is
not trusted: deff̄ is at least 1, so that the limits are never narrower than those of one
yes/no answer per respondent (the estimate is kept as ``deff_estimated`` and said). When p̄ is
0 or 100 % there is no variation and no design effect: no limits are drawn and nothing is
flagged, said. When p̄ is inside (0, 100) but the design variance is zero to rounding, deff̄ = 1
(simple random sampling), said.

Three-sigma limits put an in-control period outside them about 3 times in 1,000 under the
normal approximation for an index of one yes/no question (measured: 3 of 1,020 simulated
in-control months at 92 % with 30-80 answers); for a mean of criteria, whose design effect is
held at 1, less often (none of 680 such months), at some cost in power.
"""
from __future__ import annotations

import difflib
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import files, plots, schema
from .codebook import unit_key, unit_slug
from .design import SurveyDesign
from .indices import compare_indices, sipas_index
from .language import check_lang, format_count, format_number, format_percent, term_label

PERIODS = {"month": "M", "quarter": "Q"}
# Periods in the twelve months before the latest one.
_YEAR_OF = {"month": 12, "quarter": 4}
SIGMA = 3.0
FALSE_ALARM_RATE = 0.0027  # two-sided normal tail beyond 3 sigma

_SERIES_COLUMNS = ["period", "period_start", "term", "kind", "factor", "estimate", "std_error",
                   "ci_low", "ci_high", "n", "df", "n_eff", "deff"]

TEXT = {
    "title": {"vi": "Theo dõi sự hài lòng: {unit}", "en": "Satisfaction tracking: {unit}"},
    "by.month": {"vi": "theo tháng", "en": "by month"},
    "by.quarter": {"vi": "theo quý", "en": "by quarter"},
    "overall": {"vi": "Chỉ số chung (%)", "en": "Overall index (%)"},
    "estimate": {"vi": "chỉ số", "en": "index"},
    "interval": {"vi": "khoảng tin cậy {level}", "en": "{level} interval"},
    "centre": {"vi": "đường trung tâm", "en": "centre line"},
    "limits": {"vi": "giới hạn kiểm soát", "en": "control limits"},
    "flagged": {"vi": "ngoài giới hạn", "en": "out of limits"},
    "above": {"vi": "trên", "en": "above"},
    "below": {"vi": "dưới", "en": "below"},
    "h.series": {"vi": "Chuỗi chỉ số chung", "en": "The overall index, period by period"},
    "h.factors": {"vi": "Các yếu tố theo kỳ", "en": "Factors, period by period"},
    "h.ytd": {"vi": "Từ đầu năm đến nay", "en": "Year to date"},
    "h.last_year": {"vi": "So với cùng kỳ năm trước", "en": "Against the same period last year"},
    "h.staff": {"vi": "Theo công chức", "en": "By member of staff"},
    "h.notes": {"vi": "Ghi chú", "en": "Notes"},
    "col.period": {"vi": "Kỳ", "en": "Period"},
    "col.term": {"vi": "Chỉ tiêu", "en": "Term"},
    "col.estimate": {"vi": "Chỉ số (%)", "en": "Index (%)"},
    "col.interval": {"vi": "Khoảng tin cậy", "en": "Interval"},
    "col.n": {"vi": "Số người trả lời", "en": "Answers"},
    "col.n_eff": {"vi": "Cỡ mẫu hiệu dụng", "en": "Effective size"},
    "col.limits": {"vi": "Giới hạn kiểm soát", "en": "Control limits"},
    "col.signal": {"vi": "Tín hiệu", "en": "Signal"},
    "col.staff": {"vi": "Công chức", "en": "Staff"},
    "col.change": {"vi": "Thay đổi (điểm %)", "en": "Change (points)"},
    "col.p": {"vi": "p", "en": "p"},
    "baseline": {
        "vi": "Đường trung tâm: chỉ số gộp của {n} kỳ trong mười hai tháng trước {latest} "
              "({first} – {last}): {p}.",
        "en": "Centre line: the pooled index of the {n} period(s) in the twelve months before "
              "{latest} ({first} – {last}): {p}."},
    "baseline_whole": {
        "vi": "Chuỗi chưa đủ mười hai tháng trước {latest}, nên đường trung tâm là chỉ số gộp "
              "của cả chuỗi ({first} – {last}, {n} kỳ): {p}.",
        "en": "The series is shorter than twelve months before {latest}, so the centre line is "
              "the pooled index of the whole series ({first} – {last}, {n} period(s)): {p}."},
    "limits_rule": {
        "vi": "Giới hạn kiểm soát (biểu đồ p trên cỡ mẫu hiệu dụng): trung tâm ± "
              "3·√(p̄(1 − p̄)/m), "
              "m = n / {deff} (hệ số thiết kế của kỳ gốc). Một kỳ không có thay đổi thực nằm ngoài "
              "giới hạn do ngẫu nhiên khoảng 3 lần trong 1.000 với chỉ số một câu hỏi, ít hơn "
              "với trung bình nhiều tiêu chí.",
        "en": "Control limits (a p-chart on the effective sample size): centre ± "
              "3·√(p̄(1 − p̄)/m), m = n / {deff} (the baseline's design effect). A period "
              "without any real change falls outside them by chance about 3 times in 1,000 "
              "for an index of one question, less often for a mean of criteria."},
    "deff_undefined": {
        "vi": "Kỳ gốc đạt {p}, không có biến động: hệ số thiết kế không xác định, không vẽ giới "
              "hạn kiểm soát và không kỳ nào bị đánh dấu.",
        "en": "The baseline is {p}, without variation: its design effect is undefined, so no "
              "control limits are drawn and no period is flagged."},
    "deff_srs": {
        "vi": "Phương sai thiết kế của kỳ gốc bằng không: giới hạn dùng mẫu ngẫu nhiên đơn "
              "giản (hệ số thiết kế 1).",
        "en": "The baseline's design variance is zero: the limits assume simple random "
              "sampling (design effect 1)."},
    "deff_below_one": {
        "vi": "Hệ số thiết kế ước lượng của kỳ gốc là {deff}, nhỏ hơn 1 (trung bình của nhiều "
              "tiêu chí ít biến động hơn một câu trả lời); như với khoảng tin cậy, hệ số dưới 1 "
              "không được dùng: giới hạn tính với hệ số 1.",
        "en": "The baseline's estimated design effect is {deff}, below 1 (a mean of several "
              "criteria varies less than one answer); as for the intervals, a design effect "
              "below 1 is not trusted: the limits use 1."},
    "signal": {
        "vi": "{period}: {estimate}, {direction} giới hạn kiểm soát ({low} – {high}).",
        "en": "{period}: {estimate}, {direction} the control limits ({low} – {high})."},
    "no_signal": {"vi": "Không kỳ nào nằm ngoài giới hạn kiểm soát.",
                  "en": "No period is outside the control limits."},
    "ytd": {
        "vi": "Từ đầu năm {year} đến nay ({first} – {last}): {estimate} (khoảng tin cậy "
              "{interval}), {n} người trả lời.",
        "en": "Year to date {year} ({first} – {last}): {estimate} (interval {interval}), "
              "{n} answers."},
    "last_year": {
        "vi": "{latest} so với {previous} ({before}): {change} điểm phần trăm (khoảng tin cậy "
              "{interval}; t = {t}, bậc tự do {df}, p {p}).",
        "en": "{latest} against {previous} ({before}): {change} points (interval {interval}; "
              "t = {t}, df {df}, p {p})."},
    "no_last_year": {
        "vi": "Không có câu trả lời trong {previous}: chưa so được với cùng kỳ năm trước.",
        "en": "No answers in {previous}: no comparison with the same period last year."},
    "staff_why": {
        "vi": "Công chức được liệt kê theo thứ tự chữ cái, không xếp hạng: mỗi người chỉ được "
              "ít người dân đánh giá, các khoảng tin cậy chồng lên nhau, và xếp hạng từng cá "
              "nhân trên mẫu nhỏ như vậy là không công bằng. Chỉ hiển thị công chức có cỡ mẫu "
              "hiệu dụng từ {min} trở lên trong {window}.",
        "en": "Staff are listed alphabetically, never ranked: each is rated by few people, "
              "their intervals overlap, and a ranking of individuals on such small samples "
              "would be unfair. Only staff with an effective sample size of at least {min} over "
              "{window} are shown."},
    "staff_hidden": {
        "vi": "{k} công chức dưới cỡ mẫu đó được đếm, không hiển thị.",
        "en": "{k} member(s) of staff below that size are counted, not shown."},
    "no_staff": {"vi": "Tệp không ghi tên công chức: không có phần theo công chức.",
                 "en": "The file names no member of staff: no per-staff view."},
    "undated": {"vi": "{k} câu trả lời của đơn vị không có ngày, không đưa vào chuỗi.",
                "en": "{k} answer(s) of the unit without a date are left out of the series."},
    "future": {"vi": "{k} câu trả lời ghi ngày sau {today}, không đưa vào chuỗi.",
               "en": "{k} answer(s) dated after {today} are left out of the series."},
    "not_yet": {"vi": "Chưa có câu trả lời cho {current}; kỳ mới nhất là {latest}.",
                "en": "No answers yet for {current}; the latest period is {latest}."},
    "window": {"vi": "{first} – {last}", "en": "{first} – {last}"},
}


def _text(key: str, lang: str, **values) -> str:
    return TEXT[key][check_lang(lang)].format(**values)


@dataclass
class Tracking:
    """What :func:`track_unit` found for one unit (tables in percentage points).

    ``series``: one row per period and term (factors, then ``overall``) with ``period`` (ISO
    label, "2024-03" or "2024Q1"), ``period_start``, the columns of ``sipas_index``
    (``estimate, std_error, ci_low, ci_high, n, df, n_eff, deff``) and, on the overall rows,
    ``centre, m_eff, lower_limit, upper_limit, signal`` (``"above"``, ``"below"`` or ``""``).
    ``centre``: one row: the pooled baseline ``estimate, std_error, n, deff`` (the design
    effect for a proportion used by the limits, at least 1; NaN when undefined),
    ``deff_estimated`` (before that floor), ``first_period,
    last_period, n_periods, whole_series``. ``year_to_date``: the index of the latest year's
    periods so far (factors and overall). ``same_period_last_year``: ``compare_indices``' table
    (latest minus the same period a year earlier), empty when that period has no answers.
    ``staff``: shown staff, alphabetical, ``staff, estimate, std_error, ci_low, ci_high, n,
    n_eff`` (no rank); ``staff_hidden``: how many are below the minimum (None without a staff
    column). ``sentences``: lang -> the page's sentences.
    """
    unit: str
    by: str
    level: float
    latest: str
    series: pd.DataFrame
    centre: pd.DataFrame
    year_to_date: pd.DataFrame
    same_period_last_year: pd.DataFrame
    staff: pd.DataFrame
    staff_hidden: int | None
    min_staff_n_eff: float
    sentences: dict = field(default_factory=dict)
    assumptions: list = field(default_factory=list)
    assumptions_by_lang: dict = field(default_factory=dict)

    def assumptions_in(self, lang: str) -> list:
        """The codebook's sentences on what the file lacks, in ``lang`` (English where the
        survey carries no other)."""
        return list(self.assumptions_by_lang.get(lang, self.assumptions))

    @property
    def overall(self) -> pd.DataFrame:
        """The overall rows of ``series`` (the control chart's data)."""
        return self.series[self.series["term"] == "overall"].reset_index(drop=True)

    @property
    def slug(self) -> str:
        return unit_slug(self.unit)


# --------------------------------------------------------------------------------------------
# Finding the unit
# --------------------------------------------------------------------------------------------

def match_unit(names, unit_name, *, aliases=None) -> str:
    """The file's spelling of ``unit_name`` among ``names``, compared by
    :func:`~sipas_analysis.codebook.unit_key` (abbreviations, diacritics, case, spaces) and
    through ``aliases`` (a codebook's ``unit_aliases``: old key -> new name). An unknown name
    raises ValueError listing the closest of the file's units.

    Examples
    --------
    >>> match_unit(["Bộ phận một cửa UBND xã Yên Lạc", "Sở Tư pháp"],
    ...            "bo phan mot cua uy ban nhan dan xa yen lac")
    'Bộ phận một cửa UBND xã Yên Lạc'
    """
    names = sorted({str(n) for n in pd.Series(list(names)).dropna()})
    by_key = {unit_key(n): n for n in names}
    key = unit_key(unit_name)
    renamed = (aliases or {}).get(key)
    if renamed is not None:
        key = unit_key(renamed)
    if key in by_key:
        return by_key[key]
    close = difflib.get_close_matches(key, list(by_key), n=5, cutoff=0.5)
    shown = [by_key[c] for c in close] or names[:10]
    label = "closest" if close else "units"
    more = "" if close or len(names) <= 10 else f" (and {len(names) - 10} more)"
    raise ValueError(f"no unit {files.short_repr(str(unit_name), 120)} in the file; {label}: "
                     + "; ".join(shown) + more)


# --------------------------------------------------------------------------------------------
# The computation
# --------------------------------------------------------------------------------------------

def _design(survey: pd.DataFrame, lonely_psu: str) -> SurveyDesign:
    return SurveyDesign(survey, weights="weight" if "weight" in survey else None,
                        strata="stratum" if "stratum" in survey else None,
                        psu="psu" if "psu" in survey else None, lonely_psu=lonely_psu)


def _binomial_deff(p: float, se: float, n: float) -> float:
    """Design variance over p(1 - p)/n; NaN when p is 0 or 1 (no variation)."""
    if not (0.0 < p < 1.0) or not n > 0:
        return math.nan
    return se ** 2 / (p * (1 - p) / n)


def control_limits(centre: float, n, deff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p-chart limits on the effective size, in percent: (m, lower, upper) per period.

    ``centre`` in percent, ``n`` the periods' respondents, ``deff`` the baseline's design
    effect for a proportion; m = n / deff, limits centre ± 3 sqrt(p(1 - p)/m), clipped to
    0-100. NaN limits where ``deff`` is NaN.

    Examples
    --------
    >>> m, low, high = control_limits(90.0, [100, 400], 2.0)
    >>> m.tolist(), low.round(2).tolist(), high.round(2).tolist()
    ([50.0, 200.0], [77.27, 83.64], [100.0, 96.36])
    """
    n = np.asarray(n, dtype=float)
    p = centre / 100.0
    with np.errstate(divide="ignore", invalid="ignore"):
        m = n / deff
        half = SIGMA * np.sqrt(p * (1 - p) / m)
    low = np.clip(100.0 * (p - half), 0.0, 100.0)
    high = np.clip(100.0 * (p + half), 0.0, 100.0)
    return m, low, high


def _period_label(label: str, by: str, lang: str, *, short: bool = False) -> str:
    period = pd.Period(label, freq=PERIODS[by])
    if by == "month":
        if lang == "vi":
            return f"{period.month}/{period.year}" if short else \
                f"tháng {period.month}/{period.year}"
        return period.strftime("%b %Y")
    return f"quý {period.quarter}/{period.year}" if lang == "vi" else \
        f"{period.year} Q{period.quarter}"


def track_unit(survey: pd.DataFrame, unit_name, *, codebook=None, factors=None,
               satisfied=None, unit: str | None = None, by: str = "month", level: float = 0.95,
               min_staff_n_eff: float = 100, today=None, lonely_psu: str = "fail") -> Tracking:
    """Track one unit (a desk) period by period: series, control chart, year to date, the same
    period last year and per-staff views (module docstring for the rules).

    Parameters
    ----------
    survey : the respondent frame (``Codebook.apply`` / ``load_survey``), with ``date``, the
        unit column, the ratings and, when present, ``weight``, ``stratum``, ``psu``, ``staff``.
    unit_name : the unit in any accepted spelling ("UBND" or "Ủy ban nhân dân", diacritics,
        case; an old name of ``codebook.unit_aliases``).
    codebook : gives ``factors``, ``satisfied``, the unit column and the aliases; or pass
        ``factors=`` and ``satisfied=`` (the index defaults otherwise).
    unit : the unit column (default: the codebook's ``unit_column``, else ``"unit"``).
    by : ``"month"`` or ``"quarter"``.
    min_staff_n_eff : a member of staff is shown only at or above this effective size (over the
        twelve months up to the latest period).
    today : a date; answers dated after it are left out (said), and a later current period
        without answers is said. Default: no such check.

    Returns
    -------
    Tracking
    """
    if by not in PERIODS:
        raise ValueError(f"by must be 'month' or 'quarter', got {by!r}")
    if codebook is not None:
        options = codebook.index_options()
        factors = factors if factors is not None else options["factors"]
        satisfied = satisfied if satisfied is not None else options["satisfied"]
        unit = unit or codebook.unit_column
        aliases = codebook.unit_aliases
    else:
        unit = unit or "unit"
        aliases = {}
    schema.require_columns(survey, ["date", unit], "track_unit",
                           roles={"date": "tracking needs dates (columns.date): the answers' "
                                          "date", unit: "the unit"})
    name = match_unit(survey[unit].dropna().unique(), unit_name, aliases=aliases)
    index_options = {"factors": factors, "satisfied": satisfied, "level": level}
    notes: list[tuple[str, dict]] = []

    data = survey.reset_index(drop=True)
    dates = pd.to_datetime(data["date"], errors="coerce")
    in_unit = (data[unit] == name).to_numpy()
    undated = in_unit & dates.isna().to_numpy()
    if undated.any():
        notes.append(("undated", {"k": int(undated.sum())}))
    usable = in_unit & dates.notna().to_numpy()
    if today is not None:
        today = pd.Timestamp(today)
        future = usable & (dates.dt.normalize() > today.normalize()).to_numpy()
        if future.any():
            notes.append(("future", {"k": int(future.sum()), "today": today.date().isoformat()}))
        usable &= ~future
    if not usable.any():
        raise ValueError(f"{name}: no dated answers to track")
    freq = PERIODS[by]
    periods = dates.dt.to_period(freq)
    data = data.assign(period=periods.astype(str).where(dates.notna(), None))
    design = _design(data, lonely_psu).subset(usable)

    # the series
    table = sipas_index(design, by="period", **index_options)
    table = table[table["kind"].isin(["factor", "overall"])].reset_index(drop=True)
    table["period_start"] = [pd.Period(p, freq=freq).start_time for p in table["period"]]
    series = table[_SERIES_COLUMNS].copy()
    labels = sorted(series["period"].unique())
    latest = labels[-1]
    latest_p = pd.Period(latest, freq=freq)
    if today is not None and today.to_period(freq) > latest_p:
        notes.append(("not_yet", {"current": str(today.to_period(freq)), "latest": latest}))

    # the centre line: the twelve months before the latest period, or the whole series
    year_back = _YEAR_OF[by]
    first_p = pd.Period(labels[0], freq=freq)
    whole = first_p > latest_p - year_back
    if whole:
        baseline = labels
    else:
        baseline = [p for p in labels if latest_p - year_back <= pd.Period(p, freq=freq) < latest_p]
    period_of_row = data["period"].to_numpy()
    in_base = usable & np.isin(period_of_row, baseline)
    pooled = sipas_index(design.subset(in_base), **index_options)
    pooled = pooled[pooled["kind"] == "overall"].iloc[0]
    p_bar, se_bar, n_bar = float(pooled["estimate"]), float(pooled["std_error"]), float(pooled["n"])
    deff_estimated = _binomial_deff(p_bar / 100, se_bar / 100, n_bar)
    fallback = math.isnan(deff_estimated) and 0 < p_bar < 100
    # below 1 is not trusted (as the intervals' effective size is capped at n)
    deff_bar = 1.0 if fallback else max(deff_estimated, 1.0)
    centre = pd.DataFrame([{
        "term": "overall", "estimate": p_bar, "std_error": se_bar, "n": int(n_bar),
        "deff": deff_bar, "deff_estimated": deff_estimated, "first_period": baseline[0], "last_period": baseline[-1],
        "n_periods": len(baseline), "whole_series": bool(whole)}])
    overall = series["term"] == "overall"
    m, low, high = control_limits(p_bar, series.loc[overall, "n"], deff_bar)
    for column in ("centre", "m_eff", "lower_limit", "upper_limit"):
        series[column] = np.nan
    series["signal"] = ""
    series.loc[overall, "centre"] = p_bar
    series.loc[overall, "m_eff"] = m
    series.loc[overall, "lower_limit"] = low
    series.loc[overall, "upper_limit"] = high
    estimate = series["estimate"]
    series.loc[overall & (estimate > series["upper_limit"]), "signal"] = "above"
    series.loc[overall & (estimate < series["lower_limit"]), "signal"] = "below"

    # year to date
    year = latest_p.year
    ytd_labels = [p for p in labels if pd.Period(p, freq=freq).year == year]
    in_ytd = usable & np.isin(period_of_row, ytd_labels)
    ytd = sipas_index(design.subset(in_ytd), **index_options)
    ytd = ytd[ytd["kind"].isin(["factor", "overall"])].reset_index(drop=True)
    ytd.insert(0, "last_period", latest)
    ytd.insert(0, "first_period", ytd_labels[0])
    ytd.insert(0, "year", year)

    # the same period last year
    previous = str(latest_p - year_back)
    terms = list(dict.fromkeys(series["term"]))
    if previous in labels:
        # the two periods' rows as a design of their own: the contrast's df are those of
        # its rows (respondents - 1 under SRS), not of the desk's whole file
        both = usable & np.isin(period_of_row, [previous, latest])
        pair = _design(data.loc[both].reset_index(drop=True), lonely_psu)
        last_year = compare_indices(pair, between="period",
                                    values=(previous, latest), term=terms,
                                    factors=factors, satisfied=satisfied, level=level)
    else:
        last_year = pd.DataFrame(columns=["term", "contrast", "group", "versus",
                                          "estimate_group", "estimate_versus", "estimate",
                                          "std_error", "ci_low", "ci_high", "df", "statistic",
                                          "p_value"])

    # staff
    window = [p for p in labels if latest_p - year_back < pd.Period(p, freq=freq) <= latest_p]
    staff_table = pd.DataFrame(columns=["staff", "estimate", "std_error", "ci_low", "ci_high",
                                        "n", "n_eff"])
    hidden = None
    if "staff" in data.columns:
        in_window = usable & np.isin(period_of_row, window) & data["staff"].notna().to_numpy()
        hidden = 0
        if in_window.any():
            by_staff = sipas_index(design.subset(in_window), by="staff", **index_options)
            by_staff = by_staff[by_staff["kind"] == "overall"]
            size = np.where(by_staff["n_eff"].isna(), by_staff["n"], by_staff["n_eff"])
            shown = by_staff[size >= min_staff_n_eff]
            hidden = int(len(by_staff) - len(shown))
            order = sorted(shown.index, key=lambda i: (unit_key(shown.at[i, "staff"]),
                                                       str(shown.at[i, "staff"])))
            staff_table = shown.loc[order, list(staff_table.columns)].reset_index(drop=True)

    tracking = Tracking(unit=name, by=by, level=level, latest=latest, series=series,
                        centre=centre, year_to_date=ytd, same_period_last_year=last_year,
                        staff=staff_table, staff_hidden=hidden, min_staff_n_eff=min_staff_n_eff,
                        assumptions=list(survey.attrs.get("assumptions", [])),
                        assumptions_by_lang=dict(survey.attrs.get("assumptions_by_lang", {})))
    tracking.sentences = {lang: _sentences(tracking, notes, previous, window, fallback, lang)
                          for lang in ("vi", "en")}
    return tracking


def _sentences(t: Tracking, notes, previous, window, fallback, lang) -> list[str]:
    def pct(v):
        return format_percent(v, lang)

    def label(p):
        return _period_label(p, t.by, lang)

    said = []
    c = t.centre.iloc[0]
    values = {"n": int(c["n_periods"]), "latest": label(t.latest),
              "first": label(c["first_period"]),
              "last": label(c["last_period"]), "p": pct(c["estimate"])}
    said.append(_text("baseline_whole" if c["whole_series"] else "baseline", lang, **values))
    if math.isnan(c["deff"]):
        said.append(_text("deff_undefined", lang, p=pct(c["estimate"])))
    else:
        if fallback:
            said.append(_text("deff_srs", lang))
        elif c["deff_estimated"] < 1:
            said.append(_text("deff_below_one", lang,
                              deff=format_number(c["deff_estimated"], lang)))
        said.append(_text("limits_rule", lang, deff=format_number(c["deff"], lang)))
        out = t.overall[t.overall["signal"] != ""]
        for row in out.itertuples(index=False):
            said.append(_text("signal", lang, period=label(row.period), estimate=pct(row.estimate),
                              direction=_text(row.signal, lang),
                              low=pct(row.lower_limit), high=pct(row.upper_limit)))
        if out.empty:
            said.append(_text("no_signal", lang))
    y = t.year_to_date[t.year_to_date["term"] == "overall"].iloc[0]
    said.append(_text("ytd", lang, year=int(y["year"]), first=label(y["first_period"]),
                      last=label(y["last_period"]), estimate=pct(y["estimate"]),
                      interval=_interval_pct(y["ci_low"], y["ci_high"], lang),
                      n=format_count(y["n"], lang)))
    ly = t.same_period_last_year
    if len(ly):
        r = ly[ly["term"] == "overall"].iloc[0]
        said.append(_text("last_year", lang, latest=label(t.latest), previous=label(previous),
                          before=pct(r["estimate_versus"]),
                          change=_signed(r["estimate"], lang),
                          interval=_span(r["ci_low"], r["ci_high"], lang),
                          t=format_number(r["statistic"], lang),
                          df=format_number(r["df"], lang, decimals=0),
                          p=_p_value(r["p_value"], lang)))
    else:
        said.append(_text("no_last_year", lang, previous=label(previous)))
    if t.staff_hidden is None:
        said.append(_text("no_staff", lang))
    else:
        span = _text("window", lang, first=label(window[0]), last=label(window[-1]))
        said.append(_text("staff_why", lang, min=format_count(t.min_staff_n_eff, lang),
                          window=span))
        if t.staff_hidden:
            said.append(_text("staff_hidden", lang, k=format_count(t.staff_hidden, lang)))
    for key, values in notes:
        if key == "not_yet":
            values = {"current": label(values["current"]), "latest": label(values["latest"])}
        said.append(_text(key, lang, **values))
    # "tháng 12/2024: ..." begins a sentence
    return [s[:1].upper() + s[1:] for s in said]


def _interval_pct(low, high, lang: str) -> str:
    return f"{format_percent(low, lang)} – {format_percent(high, lang)}"


def _signed(value, lang: str) -> str:
    text = format_number(value, lang)
    return text if text == "—" or value < 0 else f"+{text}"


def _span(low, high, lang: str) -> str:
    """An interval of a change, whose bounds may be negative: "-26.32 to -10.70"."""
    word = "đến" if lang == "vi" else "to"
    return f"{_signed(low, lang)} {word} {_signed(high, lang)}"


def _p_value(p, lang: str) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "—"
    return ("< " + format_number(0.001, lang, decimals=3)) if p < 0.001 else \
        "= " + format_number(p, lang, decimals=3)


# --------------------------------------------------------------------------------------------
# The page and the workbook
# --------------------------------------------------------------------------------------------

def plot_tracking(tracking: Tracking, *, lang: str = "vi", ax=None):
    """The overall index per period with its intervals, the centre line and the control limits;
    periods out of limits in red. Returns the Axes."""
    check_lang(lang)
    if ax is None:
        _, ax = plots.new_figure((7.5, 3.6))
    rows = tracking.overall
    x = np.arange(len(rows))
    est = rows["estimate"].to_numpy(dtype=float)
    lo, hi = rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float)
    ax.errorbar(x, est, yerr=[est - lo, hi - est], fmt="none", ecolor="#9aa5b1", elinewidth=1,
                capsize=2, label=_text("interval", lang, level=format_percent(
                    100 * tracking.level, lang, decimals=0)))
    flagged = (rows["signal"] != "").to_numpy()
    ax.plot(x, est, "-", color="#2f5d8a", linewidth=1)
    ax.plot(x[~flagged], est[~flagged], "o", color="#2f5d8a", markersize=4,
            label=_text("estimate", lang))
    if flagged.any():
        ax.plot(x[flagged], est[flagged], "o", color="#c0392b", markersize=6,
                label=_text("flagged", lang))
    if rows["lower_limit"].notna().any():
        ax.step(x, rows["upper_limit"], where="mid", color="#c0392b", linestyle="--",
                linewidth=0.9, label=_text("limits", lang))
        ax.step(x, rows["lower_limit"], where="mid", color="#c0392b", linestyle="--",
                linewidth=0.9)
    ax.axhline(float(tracking.centre["estimate"].iloc[0]), color="#333333", linewidth=0.9,
               label=_text("centre", lang))
    ax.set_xticks(x)
    ax.set_xticklabels([_period_label(p, tracking.by, lang, short=True) for p in rows["period"]],
                       rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(_text("overall", lang))
    ax.set_ylim(max(0.0, float(np.nanmin(np.r_[lo, rows["lower_limit"].fillna(100)])) - 5),
                100.5)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    ax.legend(fontsize=7, loc="lower left", frameon=False, ncol=3)
    return ax


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
          "color:#222}table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border-bottom:"
          "1px solid #ddd;padding:.25rem .6rem;text-align:left;font-size:.9rem}"
          "td.flag{color:#c0392b}svg{max-width:100%;height:auto}")


def render_html(tracking: Tracking, *, lang: str = "vi") -> str:
    """The tracking page as one self-contained HTML document (the chart inline as SVG)."""
    check_lang(lang)
    t = tracking

    def pct(v):
        return format_percent(v, lang)

    def label(p):
        return _period_label(p, t.by, lang)

    figure, ax = plots.new_figure((7.5, 3.6))
    plot_tracking(t, lang=lang, ax=ax)
    svg = str(plots.render(figure))
    svg = svg[svg.find("<svg"):]          # inline: no XML declaration or DOCTYPE
    o = t.overall
    series_rows = [[label(r.period), pct(r.estimate),
                    _interval_pct(r.ci_low, r.ci_high, lang),
                    format_count(r.n, lang), format_number(r.n_eff, lang, decimals=0),
                    _interval_pct(r.lower_limit, r.upper_limit, lang),
                    _text(r.signal, lang) if r.signal else ""] for r in o.itertuples(index=False)]
    factors = t.series[t.series["term"] != "overall"]
    factor_rows = [[label(r.period), term_label(r.term, lang), pct(r.estimate),
                    _interval_pct(r.ci_low, r.ci_high, lang), format_count(r.n, lang)]
                   for r in factors.itertuples(index=False)]
    ytd_rows = [[term_label(r.term, lang), pct(r.estimate),
                 _interval_pct(r.ci_low, r.ci_high, lang), format_count(r.n, lang)]
                for r in t.year_to_date.itertuples(index=False)]
    ly_rows = [[term_label(r.term, lang), _signed(r.estimate, lang),
                _span(r.ci_low, r.ci_high, lang), _p_value(r.p_value, lang)]
               for r in t.same_period_last_year.itertuples(index=False)]
    staff_rows = [[r.staff, pct(r.estimate), _interval_pct(r.ci_low, r.ci_high, lang),
                   format_count(r.n, lang), format_number(r.n_eff, lang, decimals=0)]
                  for r in t.staff.itertuples(index=False)]
    c = lambda key: _text(f"col.{key}", lang)  # noqa: E731
    parts = [f"<h1>{html.escape(_text('title', lang, unit=t.unit))}</h1>",
             f"<p>{html.escape(_text('by.' + t.by, lang))}: "
             f"{html.escape(label(o['period'].iloc[0]))} – {html.escape(label(t.latest))}</p>",
             "".join(f"<p>{html.escape(s)}</p>" for s in t.sentences[lang]),
             f"<figure>{svg}</figure>",
             f"<h2>{html.escape(_text('h.series', lang))}</h2>",
             _html_table([c("period"), c("estimate"), c("interval"), c("n"), c("n_eff"),
                          c("limits"), c("signal")], series_rows),
             f"<h2>{html.escape(_text('h.ytd', lang))}</h2>",
             _html_table([c("term"), c("estimate"), c("interval"), c("n")], ytd_rows)]
    if ly_rows:
        parts += [f"<h2>{html.escape(_text('h.last_year', lang))}</h2>",
                  _html_table([c("term"), c("change"), c("interval"), c("p")], ly_rows)]
    if staff_rows:
        parts += [f"<h2>{html.escape(_text('h.staff', lang))}</h2>",
                  _html_table([c("staff"), c("estimate"), c("interval"), c("n"), c("n_eff")],
                              staff_rows)]
    parts += [f"<h2>{html.escape(_text('h.factors', lang))}</h2>",
              _html_table([c("period"), c("term"), c("estimate"), c("interval"), c("n")],
                          factor_rows)]
    if t.assumptions_in(lang):
        parts += [f"<h2>{html.escape(_text('h.notes', lang))}</h2>",
                  "<ul>" + "".join(f"<li>{html.escape(a)}</li>" for a in t.assumptions_in(lang))
                  + "</ul>"]
    title = html.escape(_text("title", lang, unit=t.unit))
    return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{_STYLE}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def write_tracking(tracking: Tracking, out_dir, *, lang: str = "vi") -> dict:
    """Write ``tracking.html`` (self-contained) and ``tracking.xlsx`` (every table, formulas
    neutralised) into ``out_dir``, each atomically. Returns {"html": path, "workbook": path}."""
    check_lang(lang)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page = render_html(tracking, lang=lang)
    html_path = out / "tracking.html"
    files.atomic_write(html_path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    notes = pd.DataFrame({"note": tracking.sentences[lang] + tracking.assumptions_in(lang)})
    tables = {"series": tracking.series, "centre_line": tracking.centre,
              "year_to_date": tracking.year_to_date,
              "same_period_last_year": tracking.same_period_last_year,
              "staff": tracking.staff, "notes": notes}
    tables = {k: v.assign(period_start=v["period_start"].dt.date) if "period_start" in v else v
              for k, v in tables.items()}
    book = files.write_workbook({k: v.assign(unit=tracking.unit) if k != "notes" else v
                                 for k, v in tables.items()}, out / "tracking.xlsx")
    return {"html": html_path, "workbook": book}
