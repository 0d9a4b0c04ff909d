"""Data quality of a respondent file, before any index is trusted: item non-response,
straight-lining, duplicate respondents, interview durations, dates outside the survey period,
and interviewer effects; every flagged row listed.

The frame is in the contract's column vocabulary (what ``sa.load_survey`` returns, with or
without a codebook): the criteria as float ratings (NaN missing; an answer "no opinion" is
already NaN, so it counts as a missing answer here), ``respondent_id``, ``unit`` or
``province_code``, and when present ``start``/``end`` (interview times), ``date``,
``interviewer``, ``staff``, the demographics and ``source_row`` (the row as the file numbers
it).

Flags never drop rows: :func:`quality_flags` lists them, :func:`quality_summary` counts them,
and only :func:`exclude_flagged` removes rows, with the flags it is given by name.

The flags (:data:`FLAGS`):

``straight_lining``
    every rating the respondent answered has the same value, with at least
    ``min_items_straight`` answered (default 5, or every criterion when there are fewer). In
    real SIPAS data "all 5, very satisfied" is common and often sincere: the report shows the
    share and the answer given; drop them only by choice.
``duplicate_answers``
    the same answer vector as an earlier row of the same unit (and year, when the file holds
    several): every criterion, ``overall_satisfaction`` and the demographics present, missing
    answers included, with at least ``min_items_straight`` ratings answered. Straight-lined rows
    are left out of this check (identical "all 5" rows are expected and already flagged as
    such). The first row of a group is not flagged; each later one names it.
``duplicate_id``
    a respondent id already used on an earlier row of the file; the first use is not flagged.
``nonpositive_duration``
    an interview whose end is at or before its start.
``speeder``
    a positive interview duration below the threshold: ``min_duration`` seconds when given,
    else ``seconds_per_item`` × the ratings answered when given, else ``speeder_share``
    (default 30 %) of the median positive duration of the file.
``outside_period``
    a date before the first or after the last day of ``survey_period`` (both days included).
``future_date``
    a date after ``today`` (default: the day the check runs).
``interviewer_outlier``
    every row of an interviewer whose respondents' mean rating is an outlier among the
    interviewers' means: a robust z beyond ``z_limit`` (default 3.5), for interviewers with
    at least ``min_interviewer_n`` respondents (default 10), among at least 3 such. See
    :func:`interviewer_effects` for the statistics. Desks or officers (``staff``) get the same
    table but no row flag: a desk's low mean is a finding about its service, not a data error.

The date checks use ``date``, else the day of ``start``.
"""
from __future__ import annotations

import html
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import files, language, schema

FLAGS = ("straight_lining", "duplicate_answers", "duplicate_id", "nonpositive_duration",
         "speeder", "outside_period", "future_date", "interviewer_outlier")
# Names that stand for several flags (the issue's own example says "duplicate").
FLAG_GROUPS = {"duplicate": ("duplicate_answers", "duplicate_id"),
               "duration": ("nonpositive_duration", "speeder")}
FLAG_COLUMNS = ["source_row", "respondent_id", "unit", "flag", "detail"]

DEFAULT_MIN_ITEMS_STRAIGHT = 5
DEFAULT_SPEEDER_SHARE = 0.3
DEFAULT_Z_LIMIT = 3.5
DEFAULT_MIN_INTERVIEWER_N = 10
ICC_METHOD = ("one-way ANOVA estimator ICC(1) = (MSB - MSW) / (MSB + (n0 - 1) MSW), "
              "n0 = (N - sum(n_i^2) / N) / (k - 1) (Snedecor and Cochran 1989; Donner 1986, "
              "Int. Stat. Rev. 54:67-82), on each respondent's mean rating")


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
def quality_inputs(survey: pd.DataFrame, codebook=None) -> tuple[pd.DataFrame, dict]:
    """The frame and the column options (``criteria``, ``unit``, ``id_column``, ``start``,
    ``end``, ``date``, ``interviewer``, ``staff``, ``survey_period``) that the quality
    functions take, for a loaded survey.

    Without a codebook the frame is in the data contract: the criteria are the contract's
    rating columns present (``schema.RATING_COLUMNS``), the unit is ``province_code``, and
    ``start``, ``end``, ``date``, ``interviewer`` and ``staff`` are used when columns of those
    names exist. With a codebook (``sipas_analysis.codebook.Codebook``) they come from it:
    its criteria, its unit column, its ``survey_period`` and the columns it maps. A frame
    without ``source_row`` gets one: the row's position + 2 (a file whose header is row 1).

    Examples
    --------
    >>> frame = pd.DataFrame({"respondent_id": ["a", "b"], "province_code": ["01", "01"],
    ...                       "staff_polite": [5.0, 4.0]})
    >>> frame, options = quality_inputs(frame)
    >>> options["criteria"], options["unit"], frame["source_row"].tolist()
    (['staff_polite'], 'province_code', [2, 3])
    """
    frame = survey
    if "source_row" not in frame.columns:
        frame = frame.assign(source_row=np.arange(2, len(frame) + 2))
    names = set(frame.columns)
    options = {"id_column": "respondent_id" if "respondent_id" in names else None}
    if codebook is None:
        options["criteria"] = [c for c in schema.RATING_COLUMNS if c in names]
        options["unit"] = "province_code" if "province_code" in names else None
        options["survey_period"] = None
    else:
        options["criteria"] = [c for c in codebook.criteria if c in names]
        unit = getattr(codebook, "unit_column", "unit")
        options["unit"] = unit if unit in names else None
        options["survey_period"] = getattr(codebook, "survey_period", None)
    for role in ("start", "end", "date", "interviewer", "staff"):
        options[role] = role if role in names else None
    return frame, options


def codebook_exclusions(codebook) -> list[str]:
    """The flag names of a codebook's ``quality: {exclude: [...]}`` (empty when none)."""
    quality = getattr(codebook, "quality", None) or {}
    return list(quality.get("exclude") or [])


def _source_rows(survey: pd.DataFrame) -> np.ndarray:
    if "source_row" in survey.columns:
        return survey["source_row"].to_numpy()
    return np.arange(2, len(survey) + 2)


def _check_columns(survey, criteria, named: dict) -> None:
    if not len(criteria):
        raise ValueError("no criteria: the quality checks need at least one rating column")
    missing = [c for c in criteria if c not in survey.columns]
    missing += [f"{c} ({role})" for role, c in named.items()
                if c is not None and c not in survey.columns]
    if missing:
        raise ValueError(f"the data have no column {', '.join(map(str, missing))}; columns are: "
                         f"{files.short_repr(list(survey.columns), 400)}")


def _as_time(survey, column, rows) -> pd.Series:
    """A column as datetime64; values that are given but do not parse are an error naming
    their rows (as the file numbers them)."""
    series = survey[column]
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.reset_index(drop=True)
    parsed = pd.to_datetime(series, errors="coerce").reset_index(drop=True)
    bad = parsed.isna().to_numpy() & series.notna().to_numpy()
    if bad.any():
        shown = ", ".join(str(r) for r in rows[bad][:5])
        raise ValueError(f"column {column}: {int(bad.sum())} value(s) are not dates or times "
                         f"(rows {shown}{' ...' if bad.sum() > 5 else ''})")
    return parsed


def _ratings(survey, criteria) -> pd.DataFrame:
    ratings = survey[list(criteria)].apply(pd.to_numeric, errors="coerce")
    return ratings.reset_index(drop=True).astype(float)


def _asked(survey) -> np.ndarray:
    """Rows asked the service ratings: in the contract a resident who used no service
    (``used_service`` False) skips them by design."""
    if "used_service" in survey.columns:
        return survey["used_service"].fillna(True).astype(bool).to_numpy()
    return np.ones(len(survey), dtype=bool)


def _straight_k(criteria, min_items_straight) -> int:
    return max(1, min(int(min_items_straight), len(criteria)))


# --------------------------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------------------------
def quality_flags(survey: pd.DataFrame, *, criteria, id_column="respondent_id", unit="unit",
                  start=None, end=None, date=None, survey_period=None, min_duration=None,
                  seconds_per_item=None, speeder_share=DEFAULT_SPEEDER_SHARE,
                  min_items_straight=DEFAULT_MIN_ITEMS_STRAIGHT, interviewer=None,
                  z_limit=DEFAULT_Z_LIMIT, min_interviewer_n=DEFAULT_MIN_INTERVIEWER_N,
                  demographics=None, today=None, staff=None, lang="en") -> pd.DataFrame:
    """One row per (respondent row, flag), with columns ``source_row, respondent_id, unit,
    flag, detail``, in file order then :data:`FLAGS` order. The rules are in the module's
    docstring; a check whose columns are not given (``start``/``end``, ``date``,
    ``survey_period``, ``interviewer``) is not run. ``unit`` None treats the file as one unit;
    ``demographics`` defaults to the contract's respondent columns present
    (``schema.RESPONDENT_COLUMNS``). Every named column must exist (one ValueError names all
    that do not). ``staff`` is accepted so that :func:`quality_inputs`' options fit both
    functions; desks get no row flag. ``detail`` is written in ``lang`` ("en" or "vi").
    No row is dropped.

    Examples
    --------
    >>> frame = pd.DataFrame({"respondent_id": ["a", "b", "b"], "unit": "Sở Tư pháp",
    ...                       "q1": [5.0, 4.0, 3.0], "q2": [5.0, 2.0, 3.0]})
    >>> quality_flags(frame, criteria=["q1", "q2"])[["source_row", "flag"]]
    ... # doctest: +NORMALIZE_WHITESPACE
       source_row            flag
    0           2 straight_lining
    1           4 straight_lining
    2           4    duplicate_id
    """
    _check_columns(survey, criteria, {"id_column": id_column, "unit": unit, "start": start,
                                      "end": end, "date": date, "interviewer": interviewer})
    if (start is None) != (end is None):
        raise ValueError("interview durations need both start and end columns")
    language.check_lang(lang)

    def say(key, **values):
        return _DETAILS[key][lang].format(**values)
    rows = _source_rows(survey)
    ratings = _ratings(survey, criteria)
    answered = ratings.notna().sum(axis=1).to_numpy()
    ids = (survey[id_column].reset_index(drop=True) if id_column is not None
           else pd.Series([None] * len(survey)))
    units = (survey[unit].reset_index(drop=True) if unit is not None
             else pd.Series([None] * len(survey)))
    found: list[tuple[int, str, str]] = []   # (position, flag, detail)

    # straight-lining
    k = _straight_k(criteria, min_items_straight)
    spread = ratings.max(axis=1) - ratings.min(axis=1)
    straight = (answered >= k) & (spread.to_numpy() == 0)
    first_answer = ratings.bfill(axis=1).iloc[:, 0].to_numpy()
    for i in np.flatnonzero(straight):
        found.append((i, "straight_lining", say("straight", n=answered[i],
                                                value=_number(first_answer[i]))))

    # identical answer vectors within a unit (and year)
    vector = list(criteria)
    if "overall_satisfaction" in survey.columns and "overall_satisfaction" not in vector:
        vector.append("overall_satisfaction")
    if demographics is None:
        demographics = [c for c in schema.RESPONDENT_COLUMNS if c in survey.columns]
    vector += [c for c in demographics if c not in vector]
    keys = pd.DataFrame({"_unit": units})
    if "year" in survey.columns and survey["year"].nunique() > 1:
        keys["_year"] = survey["year"].to_numpy()
    for column in vector:
        keys[column] = (ratings[column] if column in ratings else
                        survey[column].reset_index(drop=True).astype(object))
    eligible = (answered >= k) & ~straight
    candidates = keys[eligible]
    if len(candidates):
        group = candidates.groupby(list(candidates.columns), dropna=False, sort=False).ngroup()
        positions = np.flatnonzero(eligible)
        first = pd.Series(positions).groupby(group.to_numpy()).transform("first").to_numpy()
        for position, first_position in zip(positions, first):
            if position != first_position:
                found.append((position, "duplicate_answers",
                              say("duplicate_answers", row=rows[first_position])))

    # repeated ids
    if id_column is not None:
        present = ids.notna().to_numpy()
        id_text = ids.astype(str)
        repeated = id_text.duplicated(keep="first").to_numpy() & present
        if repeated.any():
            first_row = pd.Series(rows).groupby(id_text.to_numpy()).transform("first").to_numpy()
            for i in np.flatnonzero(repeated):
                found.append((i, "duplicate_id", say("duplicate_id", id=ids.iloc[i],
                                                     row=first_row[i])))

    # durations
    if start is not None:
        durations = _durations(survey, start, end, rows)
        threshold = _speeder_threshold(durations, answered, min_duration=min_duration,
                                       seconds_per_item=seconds_per_item,
                                       speeder_share=speeder_share)
        seconds = durations.to_numpy()
        for i in np.flatnonzero(seconds <= 0):
            found.append((i, "nonpositive_duration",
                          say("negative", seconds=_seconds(-seconds[i])) if seconds[i] < 0
                          else say("zero")))
        limit = threshold["per_row"]
        for i in np.flatnonzero((seconds > 0) & (seconds < limit)):
            found.append((i, "speeder", say("speeder", seconds=_seconds(seconds[i]),
                                            limit=_seconds(limit[i]),
                                            rule=threshold["rule"])))

    # dates
    dates = _check_dates(survey, date, start, rows)
    if dates is not None:
        day = dates.dt.normalize()
        if survey_period is not None:
            first_day, last_day = (pd.Timestamp(d).normalize() for d in survey_period)
            outside = ((day < first_day) | (day > last_day)).to_numpy()
            for i in np.flatnonzero(outside):
                found.append((i, "outside_period",
                              say("outside", day=day.iloc[i].date(), first=first_day.date(),
                                  last=last_day.date())))
        today = pd.Timestamp.now().normalize() if today is None else \
            pd.Timestamp(today).normalize()
        for i in np.flatnonzero((day > today).to_numpy()):
            found.append((i, "future_date", say("future", day=day.iloc[i].date(),
                                                today=today.date())))

    # interviewers whose respondents answer unlike the others'
    if interviewer is not None:
        effects = interviewer_effects(survey, criteria=criteria, by=interviewer,
                                      z_limit=z_limit, min_n=min_interviewer_n)
        outliers = effects[effects["beyond_limit"]]
        if len(outliers):
            who = survey[interviewer].reset_index(drop=True)
            for row in outliers.itertuples(index=False):
                detail = say("interviewer", group=row.group,
                             mean=language.format_number(row.mean_score, lang),
                             others=language.format_number(row.mean_others, lang),
                             z=language.format_number(row.z, lang, decimals=1), n=row.n)
                for i in np.flatnonzero((who == row.group).to_numpy()
                                        & (answered > 0)):
                    found.append((i, "interviewer_outlier", detail))

    order = {name: n for n, name in enumerate(FLAGS)}
    found.sort(key=lambda item: (item[0], order[item[1]]))
    positions = np.array([f[0] for f in found], dtype=int)
    return pd.DataFrame({
        "source_row": rows[positions] if len(found) else np.array([], dtype=int),
        "respondent_id": ids.iloc[positions].to_numpy(dtype=object),
        "unit": units.iloc[positions].to_numpy(dtype=object),
        "flag": [f[1] for f in found],
        "detail": [f[2] for f in found],
    }, columns=FLAG_COLUMNS)


_DETAILS = {
    "straight": {"en": "all {n} ratings answered = {value}",
                 "vi": "cả {n} tiêu chí đã trả lời đều = {value}"},
    "duplicate_answers": {"en": "same answers as row {row}",
                          "vi": "trùng mọi câu trả lời với dòng {row}"},
    "duplicate_id": {"en": "id {id} already on row {row}",
                     "vi": "mã phiếu {id} đã có ở dòng {row}"},
    "negative": {"en": "ends {seconds} s before it starts",
                 "vi": "kết thúc trước giờ bắt đầu {seconds} giây"},
    "zero": {"en": "ends when it starts (0 s)", "vi": "kết thúc ngay lúc bắt đầu (0 giây)"},
    "speeder": {"en": "{seconds} s, below {limit} s ({rule})",
                "vi": "{seconds} giây, dưới ngưỡng {limit} giây"},
    "outside": {"en": "{day} is outside {first} – {last}",
                "vi": "ngày {day} ngoài thời gian khảo sát {first} – {last}"},
    "future": {"en": "{day} is after {today}", "vi": "ngày {day} sau ngày kiểm tra {today}"},
    "interviewer": {
        "en": "interviewer {group}: mean rating {mean}, the other respondents {others} "
              "(robust z = {z}, n = {n})",
        "vi": "điều tra viên {group}: điểm trung bình {mean}, những người trả lời khác "
              "{others} (z bền vững = {z}, n = {n})"},
}


def _number(value) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _seconds(value) -> str:
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.1f}"


def _durations(survey, start, end, rows) -> pd.Series:
    """Interview length in seconds (NaN where a time is missing)."""
    begin = _as_time(survey, start, rows)
    finish = _as_time(survey, end, rows)
    return (finish - begin).dt.total_seconds()


def _speeder_threshold(durations, answered, *, min_duration, seconds_per_item, speeder_share):
    positive = durations[durations > 0]
    median = float(positive.median()) if len(positive) else math.nan
    if min_duration is not None:
        if isinstance(min_duration, pd.Timedelta) or hasattr(min_duration, "total_seconds"):
            min_duration = min_duration.total_seconds()
        value = float(min_duration)
        rule = f"the stated minimum of {_seconds(value)} s"
        kind = "stated_minimum"
        per_row = np.full(len(durations), value)
    elif seconds_per_item is not None:
        value = float(seconds_per_item)
        rule = f"{_seconds(value)} s per rating answered"
        kind = "per_item"
        per_row = value * np.asarray(answered, dtype=float)
    else:
        if not 0 < speeder_share < 1:
            raise ValueError(f"speeder_share must be between 0 and 1, got {speeder_share!r}")
        value = speeder_share * median
        shown = _seconds(median) if median == median else "—"
        rule = f"{speeder_share:.0%} of the median duration {shown} s"
        per_row = np.full(len(durations), value)
        kind = "share_of_median"
    return {"per_row": per_row, "value": value, "rule": rule, "median": median, "kind": kind}


def _check_dates(survey, date, start, rows):
    if date is not None:
        return _as_time(survey, date, rows)
    if start is not None:
        return _as_time(survey, start, rows)
    return None


# --------------------------------------------------------------------------------------------
# Interviewer effects
# --------------------------------------------------------------------------------------------
def mean_rating(survey: pd.DataFrame, criteria) -> pd.Series:
    """Each respondent's mean over the ratings answered (NaN when none)."""
    return _ratings(survey, criteria).mean(axis=1)


def anova_icc(scores, groups) -> dict:
    """One-way ANOVA of ``scores`` by ``groups`` (NaN scores and groups left out).

    Returns ``n, n_groups, n0, ms_between, ms_within, f_statistic, p_value, icc,
    eta_squared``: ``icc`` is the ANOVA estimator ``(MSB - MSW) / (MSB + (n0 - 1) MSW)`` with
    ``n0 = (N - sum n_i^2 / N) / (k - 1)`` (Snedecor and Cochran 1989; Donner 1986), which
    can be negative when groups differ less than chance would make them (it is not
    truncated); ``eta_squared`` is the share of the sum of squares between groups. Fewer
    than two groups, or no more respondents than groups, give NaN.

    Examples
    --------
    Two groups of two with means 1 and 3: MSB = 4, MSW = 2, n0 = 2, so
    ICC = (4 - 2) / (4 + 2) = 1/3, and half the sum of squares lies between the groups.

    >>> out = anova_icc([0.0, 2.0, 2.0, 4.0], ["a", "a", "b", "b"])
    >>> round(out["icc"], 4), round(out["eta_squared"], 4)
    (0.3333, 0.5)
    """
    frame = pd.DataFrame({"y": pd.to_numeric(pd.Series(scores), errors="coerce").to_numpy(),
                          "g": pd.Series(groups).to_numpy()}).dropna()
    n_total = len(frame)
    stats = frame.groupby("g", sort=False)["y"].agg(["size", "mean"])
    k = len(stats)
    out = dict(n=n_total, n_groups=k, n0=math.nan, ms_between=math.nan, ms_within=math.nan,
               f_statistic=math.nan, p_value=math.nan, icc=math.nan, eta_squared=math.nan)
    if k < 2 or n_total <= k:
        return out
    grand = frame["y"].mean()
    ss_between = float((stats["size"] * (stats["mean"] - grand) ** 2).sum())
    within = frame["y"] - frame["g"].map(stats["mean"])
    ss_within = float((within ** 2).sum())
    msb = ss_between / (k - 1)
    msw = ss_within / (n_total - k)
    n0 = (n_total - float((stats["size"] ** 2).sum()) / n_total) / (k - 1)
    total = ss_between + ss_within
    out.update(n0=n0, ms_between=msb, ms_within=msw,
               eta_squared=ss_between / total if total > 0 else math.nan)
    if msw > 0:
        from scipy import stats as sps
        out["f_statistic"] = msb / msw
        out["p_value"] = float(sps.f.sf(msb / msw, k - 1, n_total - k))
    denominator = msb + (n0 - 1) * msw
    out["icc"] = (msb - msw) / denominator if denominator > 0 else math.nan
    return out


def interviewer_effects(survey: pd.DataFrame, *, criteria, by: str, z_limit=DEFAULT_Z_LIMIT,
                        min_n=DEFAULT_MIN_INTERVIEWER_N) -> pd.DataFrame:
    """One row per interviewer (or desk: any grouping column ``by``) of the respondents who
    answered at least one rating: ``by, group, n, mean_score, sd, mean_others, z,
    beyond_limit``.

    ``mean_score`` is the mean of its respondents' mean ratings and ``mean_others`` that of
    the other respondents. ``z`` is Iglewicz and Hoaglin's (1993) robust ("modified") z of the
    group's mean among the groups' means, ``0.6745 (mean_score - median) / MAD``, median and
    MAD (median absolute deviation) over the groups of at least ``min_n`` respondents: one
    fabricating interviewer cannot make the others look extreme, as a comparison with the
    pooled mean would. When the MAD is 0 the scale is the group mean's standard error
    ``sqrt(MSW / n)`` (MSW of :func:`anova_icc`); with fewer than 3 such groups ``z`` is NaN.
    ``beyond_limit`` is ``|z| > z_limit`` (default 3.5, their recommendation) for groups of at
    least ``min_n``. Interviewers who work in different units carry the units' differences.
    """
    scores = mean_rating(survey, criteria)
    groups = survey[by].reset_index(drop=True)
    frame = pd.DataFrame({"y": scores, "g": groups}).dropna()
    columns = ["by", "group", "n", "mean_score", "sd", "mean_others", "z", "beyond_limit"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    msw = anova_icc(frame["y"], frame["g"])["ms_within"]
    stats = frame.groupby("g", sort=True)["y"].agg(["size", "mean", "std"])
    total_n, total_sum = len(frame), float(frame["y"].sum())
    others_n = total_n - stats["size"]
    mean_others = (total_sum - stats["size"] * stats["mean"]) / others_n.where(others_n > 0)
    eligible = stats.loc[stats["size"] >= min_n, "mean"]
    if len(eligible) >= 3:
        median = float(eligible.median())
        mad = float((eligible - median).abs().median())
        scale = (pd.Series(mad / 0.6745, index=stats.index) if mad > 0
                 else np.sqrt(msw / stats["size"]))
        z = (stats["mean"] - median) / scale.where(scale > 0)
    else:
        z = pd.Series(math.nan, index=stats.index)
    beyond = (z.abs() > z_limit) & (stats["size"] >= min_n)
    return pd.DataFrame({"by": by, "group": stats.index.to_numpy(dtype=object),
                         "n": stats["size"].to_numpy(), "mean_score": stats["mean"].to_numpy(),
                         "sd": stats["std"].to_numpy(), "mean_others": mean_others.to_numpy(),
                         "z": z.to_numpy(), "beyond_limit": beyond.fillna(False).to_numpy()},
                        columns=columns)


# --------------------------------------------------------------------------------------------
# Summary tables
# --------------------------------------------------------------------------------------------
def quality_summary(survey: pd.DataFrame, *, criteria, id_column="respondent_id", unit="unit",
                    start=None, end=None, date=None, survey_period=None, interviewer=None,
                    staff=None, min_duration=None, seconds_per_item=None,
                    speeder_share=DEFAULT_SPEEDER_SHARE,
                    min_items_straight=DEFAULT_MIN_ITEMS_STRAIGHT, z_limit=DEFAULT_Z_LIMIT,
                    min_interviewer_n=DEFAULT_MIN_INTERVIEWER_N, demographics=None,
                    today=None, flags=None, lang="en") -> dict[str, pd.DataFrame]:
    """The quality report's tables (tidy DataFrames), by name:

    ``flags``
        ``flag, checked, n_flagged, n_rows, share, rule``: every flag of :data:`FLAGS`,
        ``checked`` False (and the reason in ``rule``) when its columns are absent.
    ``flags_by_unit``
        ``unit, flag, n_flagged, n_rows, share`` for every unit with a flagged row.
    ``item_nonresponse``
        ``item, n, n_missing, share, n_skipped_by_design``: by criterion (and
        ``overall_satisfaction``); ``n`` counts the rows asked (a contract row with
        ``used_service`` False skips the ratings by design); "no opinion" is missing.
    ``unit_nonresponse``
        ``unit, n_respondents, n, n_missing, share, n_no_rating``: the same over all
        criteria by unit (``n`` answers expected, ``n_no_rating`` rows asked that answered none).
    ``straight_lining``
        ``answer, n_respondents, share``: straight-lined rows by the answer given, share of
        the rows with enough ratings answered to be checked.
    ``durations``
        one row when ``start``/``end`` are given: ``n, n_missing, n_nonpositive,
        median_seconds, q10_seconds, q25_seconds, q75_seconds, q90_seconds,
        threshold_seconds, rule, rule_kind, n_speeders`` (quantiles of the positive
        durations; ``rule_kind`` is ``share_of_median``, ``stated_minimum`` or ``per_item``,
        and for ``per_item`` the threshold is in seconds per rating answered).
    ``interviewer_icc``
        per grouping column given (``interviewer``, ``staff``): ``by, n, n_groups, n0,
        ms_between, ms_within, f_statistic, p_value, icc, eta_squared, method``
        (:func:`anova_icc` on each respondent's mean rating; ``method`` states the formula).
    ``interviewer_effects``
        :func:`interviewer_effects` for each grouping column given.
    ``flagged_rows``
        :func:`quality_flags` (pass ``flags`` to reuse a table already computed), its
        ``detail`` in ``lang``.
    """
    options = dict(criteria=criteria, id_column=id_column, unit=unit, start=start, end=end,
                   date=date, survey_period=survey_period, min_duration=min_duration,
                   seconds_per_item=seconds_per_item, speeder_share=speeder_share,
                   min_items_straight=min_items_straight, interviewer=interviewer,
                   z_limit=z_limit, min_interviewer_n=min_interviewer_n,
                   demographics=demographics, today=today, lang=lang)
    _check_columns(survey, criteria, {"staff": staff})
    if flags is None:
        flags = quality_flags(survey, **options)
    rows = _source_rows(survey)
    n_rows = len(survey)
    ratings = _ratings(survey, criteria)
    asked = _asked(survey)
    answered = ratings.notna().sum(axis=1).to_numpy()
    units = (survey[unit].reset_index(drop=True).astype(object) if unit is not None
             else pd.Series(["(all)"] * n_rows, dtype=object))

    # item non-response
    items = []
    item_columns = list(criteria) + (["overall_satisfaction"] if "overall_satisfaction" in
                                     survey.columns and "overall_satisfaction" not in criteria
                                     else [])
    for item in item_columns:
        values = ratings[item] if item in ratings else pd.to_numeric(
            survey[item], errors="coerce").reset_index(drop=True)
        item_asked = asked if item in criteria else np.ones(n_rows, dtype=bool)
        missing = values.isna().to_numpy()
        n = int(item_asked.sum())
        n_missing = int((missing & item_asked).sum())
        items.append(dict(item=item, n=n, n_missing=n_missing,
                          share=n_missing / n if n else math.nan,
                          n_skipped_by_design=int((missing & ~item_asked).sum())))
    item_nonresponse = pd.DataFrame(items, columns=["item", "n", "n_missing", "share",
                                                    "n_skipped_by_design"])
    per_row_missing = ratings.isna().sum(axis=1).to_numpy()
    by_unit = pd.DataFrame({"unit": units, "asked": asked,
                            "missing": np.where(asked, per_row_missing, 0),
                            "no_rating": asked & (answered == 0)})
    grouped = by_unit.groupby("unit", dropna=False, sort=True)
    unit_nonresponse = pd.DataFrame({
        "unit": list(grouped.groups.keys()) if len(by_unit) else [],
        "n_respondents": grouped.size().to_numpy(),
        "n": (grouped["asked"].sum() * len(criteria)).to_numpy(),
        "n_missing": grouped["missing"].sum().to_numpy(),
        "n_no_rating": grouped["no_rating"].sum().to_numpy()})
    unit_nonresponse.insert(4, "share", unit_nonresponse["n_missing"]
                            / unit_nonresponse["n"].where(unit_nonresponse["n"] > 0))

    # flags, counted
    k = _straight_k(criteria, min_items_straight)
    checks = {
        "straight_lining": (True, f"the same answer to every rating answered, at least {k} "
                                  "answered"),
        "duplicate_answers": (True, "the same answers (criteria, overall, demographics) as an "
                                    f"earlier row of the unit, at least {k} ratings answered"),
        "duplicate_id": (id_column is not None, "an id used on an earlier row" if id_column
                         is not None else "no respondent id column"),
    }
    durations = pd.DataFrame(columns=["n", "n_missing", "n_nonpositive", "median_seconds",
                                      "q10_seconds", "q25_seconds", "q75_seconds",
                                      "q90_seconds", "threshold_seconds", "rule", "rule_kind",
                                      "n_speeders"])
    if start is not None and end is not None:
        seconds = _durations(survey, start, end, rows)
        threshold = _speeder_threshold(seconds, answered, min_duration=min_duration,
                                       seconds_per_item=seconds_per_item,
                                       speeder_share=speeder_share)
        positive = seconds[seconds > 0]
        quantiles = positive.quantile([0.1, 0.25, 0.75, 0.9]) if len(positive) else \
            pd.Series(math.nan, index=[0.1, 0.25, 0.75, 0.9])
        durations = pd.DataFrame([dict(
            n=int(seconds.notna().sum()), n_missing=int(seconds.isna().sum()),
            n_nonpositive=int((seconds <= 0).sum()), median_seconds=threshold["median"],
            q10_seconds=quantiles[0.1], q25_seconds=quantiles[0.25],
            q75_seconds=quantiles[0.75], q90_seconds=quantiles[0.9],
            threshold_seconds=threshold["value"], rule=threshold["rule"],
            rule_kind=threshold["kind"],
            n_speeders=int((flags["flag"] == "speeder").sum()))], columns=durations.columns)
        checks["nonpositive_duration"] = (True, "the interview ends at or before its start")
        checks["speeder"] = (True, f"a duration below {threshold['rule']}")
    else:
        checks["nonpositive_duration"] = checks["speeder"] = (False, "no start and end times")
    has_dates = date is not None or start is not None
    if survey_period is not None and has_dates:
        first_day, last_day = (pd.Timestamp(d).date() for d in survey_period)
        checks["outside_period"] = (True, f"a date outside {first_day} – {last_day}")
    else:
        checks["outside_period"] = (False, "no survey period given" if has_dates
                                    else "no date column")
    checks["future_date"] = (has_dates, "a date after the day of the check" if has_dates
                             else "no date column")
    checks["interviewer_outlier"] = (
        interviewer is not None,
        f"the interviewer's mean rating an outlier among interviewers (robust z beyond "
        f"{z_limit:g}), "
        f"at least {min_interviewer_n} respondents" if interviewer is not None
        else "no interviewer column")
    counts = flags.groupby("flag").size()
    flag_table = pd.DataFrame([dict(flag=name, checked=checks[name][0],
                                    n_flagged=int(counts.get(name, 0)), n_rows=n_rows,
                                    share=counts.get(name, 0) / n_rows if n_rows else math.nan,
                                    rule=checks[name][1]) for name in FLAGS])
    unit_sizes = units.value_counts(dropna=False)
    if len(flags):
        flag_units = flags["unit"].astype(object) if unit is not None else \
            pd.Series(["(all)"] * len(flags), dtype=object)
        by = flags.assign(unit=flag_units.to_numpy()).groupby(["unit", "flag"], dropna=False,
                                                             sort=False).size()
        flags_by_unit = by.rename("n_flagged").reset_index()
        flags_by_unit["n_rows"] = flags_by_unit["unit"].map(unit_sizes).to_numpy()
        flags_by_unit["share"] = flags_by_unit["n_flagged"] / flags_by_unit["n_rows"]
        flags_by_unit["_order"] = flags_by_unit["flag"].map({f: i for i, f in enumerate(FLAGS)})
        flags_by_unit = flags_by_unit.sort_values(["unit", "_order"], kind="stable") \
            .drop(columns="_order").reset_index(drop=True)
    else:
        flags_by_unit = pd.DataFrame(columns=["unit", "flag", "n_flagged", "n_rows", "share"])

    # straight-lining by answer
    eligible = answered >= k
    straight_rows = flags.loc[flags["flag"] == "straight_lining", "source_row"]
    is_straight = np.isin(rows, straight_rows.to_numpy())
    answer = ratings.bfill(axis=1).iloc[:, 0][is_straight]
    by_answer = answer.value_counts().sort_index()
    straight_table = pd.DataFrame({"answer": by_answer.index.to_numpy(dtype=float),
                                   "n_respondents": by_answer.to_numpy(dtype=int),
                                   "share": by_answer.to_numpy() / max(int(eligible.sum()), 1)})

    # interviewer effects
    icc_rows, effect_tables = [], []
    for column in (interviewer, staff):
        if column is None:
            continue
        scores = mean_rating(survey, criteria)
        result = anova_icc(scores, survey[column].reset_index(drop=True))
        icc_rows.append(dict(by=column, **result, method=ICC_METHOD))
        effect_tables.append(interviewer_effects(survey, criteria=criteria, by=column,
                                                 z_limit=z_limit, min_n=min_interviewer_n))
    icc_table = pd.DataFrame(icc_rows, columns=["by", "n", "n_groups", "n0", "ms_between",
                                                "ms_within", "f_statistic", "p_value", "icc",
                                                "eta_squared", "method"])
    effects = (pd.concat(effect_tables, ignore_index=True) if effect_tables else
               pd.DataFrame(columns=["by", "group", "n", "mean_score", "sd", "mean_others",
                                     "z", "beyond_limit"]))
    return {"flags": flag_table, "flags_by_unit": flags_by_unit,
            "item_nonresponse": item_nonresponse, "unit_nonresponse": unit_nonresponse,
            "straight_lining": straight_table, "durations": durations,
            "interviewer_icc": icc_table, "interviewer_effects": effects,
            "flagged_rows": flags.reset_index(drop=True)}


# --------------------------------------------------------------------------------------------
# Excluding flagged rows
# --------------------------------------------------------------------------------------------
def flag_names(names) -> list[str]:
    """``names`` (a list, or one comma-separated string) as flags of :data:`FLAGS`, groups
    (:data:`FLAG_GROUPS`: ``duplicate`` = both duplicate flags) expanded; unknown names raise
    one ValueError naming them and listing the flags.

    Examples
    --------
    >>> flag_names("straight_lining,duplicate")
    ['straight_lining', 'duplicate_answers', 'duplicate_id']
    """
    if isinstance(names, str):
        names = names.split(",")
    out, unknown = [], []
    for name in names:
        name = str(name).strip()
        if not name:
            continue
        expanded = FLAG_GROUPS.get(name, (name,) if name in FLAGS else ())
        if not expanded:
            unknown.append(name)
        out += [f for f in expanded if f not in out]
    if unknown:
        raise ValueError(f"unknown quality flag(s) {', '.join(map(files.short_repr, unknown))}; "
                         f"the flags are: {', '.join(FLAGS)} (and "
                         + ", ".join(f"{g} = {' + '.join(m)}" for g, m in FLAG_GROUPS.items())
                         + ")")
    return out


def exclude_flagged(survey: pd.DataFrame, flags: pd.DataFrame, names) -> tuple[pd.DataFrame,
                                                                              dict[str, int]]:
    """``survey`` without the rows that carry any of the flags ``names`` (see
    :func:`flag_names`), and for each named flag the number of rows it removed (a row with
    two of them counts under both; the rows removed are ``len(survey) - len(result)``).

    Rows are matched by ``source_row``: the frame's column, or its position + 2 when it has
    none, so pass the same frame the flags were computed on.

    Examples
    --------
    >>> frame = pd.DataFrame({"respondent_id": ["a", "b", "b"], "unit": "u",
    ...                       "q1": [5.0, 4.0, 3.0], "q2": [5.0, 2.0, 3.0]})
    >>> flags = quality_flags(frame, criteria=["q1", "q2"])
    >>> kept, removed = exclude_flagged(frame, flags, ["duplicate_id"])
    >>> kept["respondent_id"].tolist(), removed
    (['a', 'b'], {'duplicate_id': 1})
    """
    wanted = flag_names(names)
    rows = _source_rows(survey)
    chosen = flags[flags["flag"].isin(wanted)]
    drop = np.isin(rows, chosen["source_row"].to_numpy())
    removed = {}
    for name in wanted:
        flagged = chosen.loc[chosen["flag"] == name, "source_row"].to_numpy()
        removed[name] = int(np.isin(rows, flagged).sum())
    return survey[~drop], removed


# --------------------------------------------------------------------------------------------
# The report: an HTML page, a workbook, the flagged rows
# --------------------------------------------------------------------------------------------
TEXT: dict[str, dict[str, str]] = {
    "title": {"vi": "Báo cáo chất lượng dữ liệu khảo sát", "en": "Survey data-quality report"},
    "intro": {
        "vi": "Tệp {source}: {n} dòng người trả lời, {n_units} đơn vị, {n_criteria} tiêu chí. "
              "Các cờ dưới đây chỉ đánh dấu, không loại dòng nào; muốn loại, dùng "
              "“sipas index --exclude-flagged TÊN_CỜ” hoặc “quality: {{exclude: [...]}}” trong "
              "codebook.",
        "en": "File {source}: {n} respondent rows, {n_units} units, {n_criteria} criteria. The "
              "flags below only mark rows, none is dropped; to drop them use "
              "“sipas index --exclude-flagged FLAG” or “quality: {{exclude: [...]}}” in the "
              "codebook."},
    "section_flags": {"vi": "Các cờ chất lượng", "en": "Quality flags"},
    "section_flags_by_unit": {"vi": "Cờ theo đơn vị", "en": "Flags by unit"},
    "section_items": {"vi": "Câu hỏi bỏ trống theo tiêu chí", "en": "Item non-response by item"},
    "section_units": {"vi": "Câu hỏi bỏ trống theo đơn vị", "en": "Item non-response by unit"},
    "section_straight": {"vi": "Trả lời một mức cho mọi tiêu chí",
                         "en": "The same answer to every rating"},
    "section_durations": {"vi": "Thời gian phỏng vấn", "en": "Interview durations"},
    "section_interviewers": {"vi": "Khác biệt giữa điều tra viên, bàn tiếp nhận",
                             "en": "Differences between interviewers or desks"},
    "section_rows": {"vi": "Các dòng bị gắn cờ", "en": "Flagged rows"},
    "nonresponse_note": {
        "vi": "Câu trả lời “Không ý kiến” được tính là bỏ trống. Người không sử dụng dịch vụ "
              "(used_service sai) bỏ qua các tiêu chí theo thiết kế, không tính là bỏ trống.",
        "en": "An answer “no opinion” counts as missing. A resident who used no service "
              "(used_service false) skips the ratings by design; that is not counted as "
              "missing."},
    "not_checked": {"vi": "không kiểm tra: {reason}", "en": "not checked: {reason}"},
    "flag_sentence": {"vi": "{label}: {count}/{n} dòng ({share}). {meaning}",
                      "en": "{label}: {count} of {n} rows ({share}). {meaning}"},
    "flag_unchecked": {"vi": "{label}: không kiểm tra ({reason}).",
                       "en": "{label}: not checked ({reason})."},
    "flag.straight_lining": {"vi": "Trả lời một mức", "en": "Straight-lining"},
    "flag.duplicate_answers": {"vi": "Câu trả lời trùng nhau", "en": "Duplicate answers"},
    "flag.duplicate_id": {"vi": "Mã phiếu trùng", "en": "Repeated respondent id"},
    "flag.nonpositive_duration": {"vi": "Thời gian phỏng vấn không dương",
                                  "en": "Non-positive duration"},
    "flag.speeder": {"vi": "Phỏng vấn quá nhanh", "en": "Speeder"},
    "flag.outside_period": {"vi": "Ngày ngoài thời gian khảo sát",
                            "en": "Date outside the survey period"},
    "flag.future_date": {"vi": "Ngày trong tương lai", "en": "Date in the future"},
    "flag.interviewer_outlier": {"vi": "Điều tra viên khác thường", "en": "Outlying interviewer"},
    "meaning.straight_lining": {
        "vi": "Mọi tiêu chí đã trả lời cùng một mức (ít nhất {k} tiêu chí). “Tất cả 5 – rất hài "
              "lòng” là thường gặp trong SIPAS và thường là thật: chỉ để xem, không tự loại.",
        "en": "Every rating answered has the same value (at least {k} answered). “All 5, very "
              "satisfied” is common in SIPAS and often sincere: shown, never dropped by "
              "itself."},
    "meaning.duplicate_answers": {
        "vi": "Cùng mọi câu trả lời (tiêu chí, hài lòng chung, nhân khẩu học) với một dòng trước "
              "đó của cùng đơn vị: có thể là phiếu nhập hai lần hoặc sao chép. Dòng đầu tiên "
              "không bị gắn cờ.",
        "en": "The same answers (criteria, overall, demographics) as an earlier row of the same "
              "unit: a form entered twice, or copied. The first row is not flagged."},
    "meaning.duplicate_id": {
        "vi": "Mã phiếu đã dùng ở một dòng trước đó; lần dùng đầu không bị gắn cờ.",
        "en": "A respondent id already used on an earlier row; its first use is not flagged."},
    "meaning.nonpositive_duration": {
        "vi": "Giờ kết thúc không sau giờ bắt đầu: giờ bị ghi sai.",
        "en": "The end time is not after the start time: a time was recorded wrongly."},
    "meaning.speeder": {
        "vi": "Thời gian phỏng vấn dưới ngưỡng ({rule}): khó đọc hết các câu hỏi.",
        "en": "An interview shorter than the threshold ({rule}): too short to have read the "
              "questions."},
    "meaning.outside_period": {"vi": "Ngày khảo sát ngoài khoảng {period}.",
                               "en": "A survey date outside {period}."},
    "meaning.future_date": {"vi": "Ngày khảo sát sau ngày kiểm tra.",
                            "en": "A survey date after the day of the check."},
    "meaning.interviewer_outlier": {
        "vi": "Mọi dòng của điều tra viên có điểm trung bình của người trả lời khác thường so "
              "với các điều tra viên khác: z bền vững (trung vị, độ lệch tuyệt đối trung vị; "
              "Iglewicz và Hoaglin 1993) vượt quá {z}, với ít nhất {n} người trả lời.",
        "en": "Every row of an interviewer whose respondents' mean rating is an outlier among "
              "the interviewers': a robust z (median and median absolute deviation; Iglewicz "
              "and Hoaglin 1993) beyond {z}, with at least {n} respondents."},
    "icc_sentence": {
        "vi": "Theo {by}: hệ số tương quan nội lớp (ICC) của điểm trung bình mỗi người là "
              "{icc}; {share} tổng biến thiên nằm giữa các nhóm ({k} nhóm, {n} người). Cách "
              "tính: {method}.",
        "en": "By {by}: the intraclass correlation (ICC) of each respondent's mean rating is "
              "{icc}; {share} of the total variation lies between the groups ({k} groups, {n} "
              "respondents). Method: {method}."},
    "icc_none": {
        "vi": "Theo {by}: không tính được ICC ({k} nhóm, {n} người trả lời; cần ít nhất hai "
              "nhóm và nhiều người hơn số nhóm).",
        "en": "By {by}: no ICC ({k} groups, {n} respondents; it needs two groups or more, and "
              "more respondents than groups)."},
    "staff_note": {
        "vi": "Một bàn tiếp nhận hay công chức có điểm thấp là một phát hiện về chất lượng phục "
              "vụ, không phải lỗi dữ liệu: chỉ điều tra viên mới bị gắn cờ.",
        "en": "A desk or officer with a low mean is a finding about the service, not a data "
              "error: only interviewers are flagged."},
    "none": {"vi": "Không có.", "en": "None."},
    "reason.no_times": {"vi": "tệp không có giờ bắt đầu và kết thúc phỏng vấn",
                        "en": "the file has no interview start and end times"},
    "reason.no_date": {"vi": "tệp không có cột ngày", "en": "the file has no date column"},
    "reason.no_period": {"vi": "chưa khai báo thời gian khảo sát (survey_period)",
                         "en": "no survey period (survey_period) was given"},
    "reason.no_id": {"vi": "tệp không có mã phiếu", "en": "the file has no respondent id"},
    "reason.no_interviewer": {"vi": "tệp không có cột điều tra viên",
                              "en": "the file has no interviewer column"},
    "rule.share_of_median": {
        "vi": "{share} trung vị thời gian phỏng vấn {median} giây, tức {threshold} giây",
        "en": "{share} of the median duration of {median} s, that is {threshold} s"},
    "rule.stated_minimum": {"vi": "mức tối thiểu đã khai báo {threshold} giây",
                            "en": "the stated minimum of {threshold} s"},
    "rule.per_item": {"vi": "{per_item} giây cho mỗi tiêu chí đã trả lời",
                      "en": "{per_item} s per rating answered"},
    "icc_method": {
        "vi": "ước lượng ANOVA một chiều ICC(1) = (MSB − MSW) / (MSB + (n0 − 1) MSW), với "
              "n0 = (N − Σ n_i² / N) / (k − 1) (Snedecor và Cochran 1989; Donner 1986), trên "
              "điểm trung bình các tiêu chí của mỗi người; tỷ lệ biến thiên giữa các nhóm là "
              "SSB / (SSB + SSW)",
        "en": "the one-way ANOVA estimator ICC(1) = (MSB − MSW) / (MSB + (n0 − 1) MSW), with "
              "n0 = (N − Σ n_i² / N) / (k − 1) (Snedecor and Cochran 1989; Donner 1986), on "
              "each respondent's mean rating; the share between groups is SSB / (SSB + SSW)"},
    "rows_note": {"vi": "Danh sách đầy đủ: flagged_rows.csv và trang flagged_rows của "
                        "quality.xlsx ({n} dòng cờ). Hiển thị {shown} dòng đầu.",
                  "en": "The full list: flagged_rows.csv and the flagged_rows sheet of "
                        "quality.xlsx ({n} flags). The first {shown} are shown."},
}

_HEADERS = {
    "flag": {"vi": "Cờ", "en": "Flag"}, "checked": {"vi": "Đã kiểm tra", "en": "Checked"},
    "n_flagged": {"vi": "Số dòng", "en": "Rows flagged"},
    "n_rows": {"vi": "Tổng số dòng", "en": "Rows"}, "share": {"vi": "Tỷ lệ", "en": "Share"},
    "rule": {"vi": "Quy tắc", "en": "Rule"}, "unit": {"vi": "Đơn vị", "en": "Unit"},
    "item": {"vi": "Tiêu chí", "en": "Item"}, "n": {"vi": "Số người được hỏi", "en": "Asked"},
    "n_missing": {"vi": "Bỏ trống", "en": "Missing"},
    "n_skipped_by_design": {"vi": "Bỏ qua theo thiết kế", "en": "Skipped by design"},
    "n_respondents": {"vi": "Số người trả lời", "en": "Respondents"},
    "n_no_rating": {"vi": "Không trả lời tiêu chí nào", "en": "No rating answered"},
    "answer": {"vi": "Mức trả lời", "en": "Answer"},
    "source_row": {"vi": "Dòng trong tệp", "en": "File row"},
    "respondent_id": {"vi": "Mã phiếu", "en": "Respondent id"},
    "detail": {"vi": "Chi tiết", "en": "Detail"},
    "group": {"vi": "Nhóm", "en": "Group"}, "by": {"vi": "Theo", "en": "By"},
    "mean_score": {"vi": "Điểm trung bình", "en": "Mean rating"},
    "mean_others": {"vi": "Trung bình những người khác", "en": "Others' mean"},
    "beyond_limit": {"vi": "Vượt ngưỡng", "en": "Beyond limit"},
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;
max-width:70rem;padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d0d0d0;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
p.note{color:#444;font-size:.9rem}p.synthetic{background:#fff3cd;padding:.5rem}
"""
_SHOWN_ROWS = 500


def _t(key, lang, **values) -> str:
    return TEXT[key][lang].format(**values)


def _cell(value, column, lang) -> tuple[str, bool]:
    """A table cell as escaped text, and whether it is a number."""
    if isinstance(value, (bool, np.bool_)):
        words = {"vi": ("có", "không"), "en": ("yes", "no")}[lang]
        return html.escape(words[0] if value else words[1]), False
    if isinstance(value, (int, np.integer)):
        return html.escape(language.format_count(value, lang)), True
    if isinstance(value, (float, np.floating)):
        if column in ("share", "eta_squared"):
            return html.escape(language.format_percent(100 * value, lang)), True
        if column in ("answer",):
            return html.escape(language.format_number(value, lang, decimals=0)), True
        if column == "p_value":
            return html.escape(language.format_number(value, lang, decimals=4)), True
        return html.escape(language.format_number(value, lang, decimals=2)), True
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—", False
    if column == "flag" and f"flag.{value}" in TEXT:
        return html.escape(f"{_t('flag.' + value, lang)} ({value})"), False
    return html.escape(str(value)), False


# Columns a page table shows, with the headers that differ from _HEADERS in that table.
_VIEWS = {
    "durations": {
        "n": {"vi": "Số cuộc có giờ", "en": "Timed interviews"},
        "n_missing": {"vi": "Thiếu giờ", "en": "Times missing"},
        "n_nonpositive": {"vi": "Không dương", "en": "Non-positive"},
        "median_seconds": {"vi": "Trung vị (giây)", "en": "Median (s)"},
        "q10_seconds": {"vi": "Phân vị 10 % (giây)", "en": "10th percentile (s)"},
        "q25_seconds": {"vi": "Phân vị 25 % (giây)", "en": "25th percentile (s)"},
        "q75_seconds": {"vi": "Phân vị 75 % (giây)", "en": "75th percentile (s)"},
        "q90_seconds": {"vi": "Phân vị 90 % (giây)", "en": "90th percentile (s)"},
        "threshold_seconds": {"vi": "Ngưỡng (giây)", "en": "Threshold (s)"},
        "n_speeders": {"vi": "Quá nhanh", "en": "Speeders"}},
    "interviewer_icc": {
        "by": {}, "n": {"vi": "Số người trả lời", "en": "Respondents"},
        "n_groups": {"vi": "Số nhóm", "en": "Groups"}, "n0": {},
        "ms_between": {"vi": "MSB", "en": "MSB"}, "ms_within": {"vi": "MSW", "en": "MSW"},
        "f_statistic": {"vi": "F", "en": "F"}, "p_value": {"vi": "Giá trị p", "en": "p-value"},
        "icc": {"vi": "ICC", "en": "ICC"},
        "eta_squared": {"vi": "Tỷ lệ biến thiên giữa nhóm", "en": "Share between groups"}},
    "interviewer_effects": {
        "by": {}, "group": {}, "n": {"vi": "Số người trả lời", "en": "Respondents"},
        "mean_score": {}, "sd": {"vi": "Độ lệch chuẩn", "en": "SD"}, "mean_others": {},
        "z": {"vi": "z bền vững", "en": "Robust z"}, "beyond_limit": {}},
    "straight_lining": {
        "answer": {}, "n_respondents": {},
        "share": {"vi": "Tỷ lệ trên số người đủ tiêu chí để xét",
                  "en": "Share of the rows checked"}},
    "flags": {"flag": {}, "checked": {}, "n_flagged": {}, "n_rows": {}, "share": {}},
}


def _html_table(table: pd.DataFrame, lang, *, limit=None, view=None) -> str:
    if table.empty:
        return f"<p>{html.escape(_t('none', lang))}</p>"
    labels = _VIEWS.get(view, {})
    shown = table if limit is None else table.head(limit)
    if labels:
        shown = shown[[c for c in labels if c in shown.columns]]

    def header(column):
        label = labels.get(column) or _HEADERS.get(column, {})
        return label.get(lang, str(column))
    head = "".join(f"<th>{html.escape(header(c))}</th>" for c in shown.columns)
    body = []
    for record in shown.itertuples(index=False):
        cells = []
        for column, value in zip(shown.columns, record):
            text, numeric = _cell(value, column, lang)
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ("<table><thead><tr>" + head + "</tr></thead><tbody>\n" + "\n".join(body)
            + "\n</tbody></table>")


def _unchecked_reason(flag, checked: dict) -> str:
    if flag in ("nonpositive_duration", "speeder"):
        return "reason.no_times"
    if flag == "outside_period":
        return "reason.no_period" if checked["future_date"] else "reason.no_date"
    if flag == "future_date":
        return "reason.no_date"
    if flag == "duplicate_id":
        return "reason.no_id"
    return "reason.no_interviewer"


def _speeder_rule(durations, lang) -> str:
    if durations.empty:
        return "—"
    row = durations.iloc[0]
    return _t(f"rule.{row.rule_kind}", lang,
              threshold=language.format_number(row.threshold_seconds, lang, decimals=0),
              median=language.format_number(row.median_seconds, lang, decimals=0),
              share=language.format_percent(100 * row.threshold_seconds / row.median_seconds
                                            if row.median_seconds else math.nan, lang,
                                            decimals=0),
              per_item=language.format_number(row.threshold_seconds, lang, decimals=1))


def _flag_sentences(tables, lang, *, k, period, z_limit, min_n) -> list[str]:
    out = []
    checked = dict(zip(tables["flags"]["flag"], tables["flags"]["checked"]))
    rule = _speeder_rule(tables["durations"], lang)
    for row in tables["flags"].itertuples(index=False):
        label = _t(f"flag.{row.flag}", lang)
        if not row.checked:
            out.append(_t("flag_unchecked", lang, label=label,
                          reason=_t(_unchecked_reason(row.flag, checked), lang)))
            continue
        meaning = _t(f"meaning.{row.flag}", lang, k=k, rule=rule, period=period,
                     z=language.format_number(z_limit, lang, decimals=1), n=min_n)
        out.append(_t("flag_sentence", lang, label=f"{label} ({row.flag})",
                      count=language.format_count(row.n_flagged, lang),
                      n=language.format_count(row.n_rows, lang),
                      share=language.format_percent(100 * row.share, lang), meaning=meaning))
    return out


def quality_page(tables: dict[str, pd.DataFrame], *, lang="vi", source=None, n_units=None,
                 n_criteria=None, min_items_straight=DEFAULT_MIN_ITEMS_STRAIGHT,
                 survey_period=None, z_limit=DEFAULT_Z_LIMIT,
                 min_interviewer_n=DEFAULT_MIN_INTERVIEWER_N, synthetic=False) -> str:
    """The quality report as one self-contained HTML page (no external resource): the flags
    with a sentence each on what it means and how many rows carry it, then the tables of
    :func:`quality_summary`. Every value is escaped."""
    language.check_lang(lang)
    n_rows = int(tables["flags"]["n_rows"].iloc[0]) if len(tables["flags"]) else 0
    period = (" – ".join(str(pd.Timestamp(d).date()) for d in survey_period)
              if survey_period is not None else "—")
    parts = [f"<h1>{html.escape(_t('title', lang))}</h1>"]
    if synthetic:
        parts.append(f'<p class="synthetic"><strong>'
                     f'{html.escape(language.text("synthetic_banner", lang))}</strong></p>')
    parts += [
             "<p>" + html.escape(_t("intro", lang, source=source or "—",
                                    n=language.format_count(n_rows, lang),
                                    n_units=language.format_count(n_units or 0, lang),
                                    n_criteria=language.format_count(n_criteria or 0, lang)))
             + "</p>",
             f"<h2>{html.escape(_t('section_flags', lang))}</h2>", "<ul>"]
    for sentence in _flag_sentences(tables, lang, k=min_items_straight, period=period,
                                    z_limit=z_limit, min_n=min_interviewer_n):
        parts.append(f"<li>{html.escape(sentence)}</li>")
    parts.append("</ul>")
    parts.append(_html_table(tables["flags"], lang, view="flags"))
    sections = [("section_flags_by_unit", "flags_by_unit", None),
                ("section_items", "item_nonresponse", "nonresponse_note"),
                ("section_units", "unit_nonresponse", None),
                ("section_straight", "straight_lining", None),
                ("section_durations", "durations", None)]
    for title, name, note in sections:
        parts.append(f"<h2>{html.escape(_t(title, lang))}</h2>")
        if note:
            parts.append(f'<p class="note">{html.escape(_t(note, lang))}</p>')
        parts.append(_html_table(tables[name], lang, view=name))
    parts.append(f"<h2>{html.escape(_t('section_interviewers', lang))}</h2>")
    if tables["interviewer_icc"].empty:
        parts.append(f"<p>{html.escape(_t('reason.no_interviewer', lang))}.</p>")
    for row in tables["interviewer_icc"].itertuples(index=False):
        if not row.icc == row.icc:       # NaN: one group, or no more respondents than groups
            parts.append("<p>" + html.escape(_t(
                "icc_none", lang, by=row.by, k=language.format_count(row.n_groups, lang),
                n=language.format_count(row.n, lang))) + "</p>")
            continue
        parts.append("<p>" + html.escape(_t(
            "icc_sentence", lang, by=row.by, icc=language.format_number(row.icc, lang,
                                                                        decimals=3),
            share=language.format_percent(100 * row.eta_squared, lang, decimals=1),
            k=language.format_count(row.n_groups, lang), n=language.format_count(row.n, lang),
            method=_t("icc_method", lang))) + "</p>")
    if "staff" in set(tables["interviewer_icc"]["by"]):
        parts.append(f'<p class="note">{html.escape(_t("staff_note", lang))}</p>')
    if not tables["interviewer_icc"].empty:
        parts.append(_html_table(tables["interviewer_icc"], lang, view="interviewer_icc"))
        parts.append(_html_table(tables["interviewer_effects"], lang,
                                 view="interviewer_effects"))
    flagged = tables["flagged_rows"]
    parts.append(f"<h2>{html.escape(_t('section_rows', lang))}</h2>")
    parts.append('<p class="note">' + html.escape(_t(
        "rows_note", lang, n=language.format_count(len(flagged), lang),
        shown=language.format_count(min(len(flagged), _SHOWN_ROWS), lang))) + "</p>")
    parts.append(_html_table(flagged, lang, limit=_SHOWN_ROWS))
    title = html.escape(_t("title", lang) + (f": {source}" if source else ""))
    return ("<!DOCTYPE html>\n"
            f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(parts) + "\n</body>\n</html>\n")


REPORT_FILES = {"html": "quality.html", "xlsx": "quality.xlsx", "csv": "flagged_rows.csv"}


def write_quality_report(survey: pd.DataFrame, out_dir, *, criteria, lang="vi", source=None,
                         tables=None, **columns) -> dict[str, Path]:
    """Check ``survey`` (:func:`quality_summary` with ``columns``: ``unit``, ``start``,
    ``interviewer``, ...) and write into ``out_dir``: ``quality.html`` (the page, in ``lang``),
    ``quality.xlsx`` (a sheet per table, the last ``flagged_rows``) and ``flagged_rows.csv``.
    ``source`` is the file name the page shows. The three are written to a temporary folder
    inside ``out_dir`` and then renamed into place, so an error leaves ``out_dir`` as it was.
    ``tables``: what :func:`quality_summary` returned for the same arguments, when the caller
    has it already. A frame with a true ``synthetic`` column gets the synthetic-data banner.
    Returns ``{"html": path, "xlsx": path, "csv": path}``.
    """
    language.check_lang(lang)
    if tables is None:
        tables = quality_summary(survey, criteria=criteria, lang=lang, **columns)
    unit = columns.get("unit", "unit")
    n_units = survey[unit].nunique() if unit is not None else 1
    page = quality_page(tables, lang=lang, source=source, n_units=n_units,
                        n_criteria=len(criteria),
                        min_items_straight=_straight_k(criteria, columns.get(
                            "min_items_straight", DEFAULT_MIN_ITEMS_STRAIGHT)),
                        survey_period=columns.get("survey_period"),
                        z_limit=columns.get("z_limit", DEFAULT_Z_LIMIT),
                        min_interviewer_n=columns.get("min_interviewer_n",
                                                      DEFAULT_MIN_INTERVIEWER_N),
                        synthetic="synthetic" in survey.columns
                        and bool(survey["synthetic"].fillna(False).astype(bool).any()))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".quality-"))
    try:
        paths = {kind: staging / name for kind, name in REPORT_FILES.items()}
        paths["html"].write_text(page, encoding="utf-8")
        files.write_workbook(tables, paths["xlsx"])
        files.write_table(tables["flagged_rows"], paths["csv"])
        final = {}
        for kind, path in paths.items():
            final[kind] = out_dir / REPORT_FILES[kind]
            os.replace(path, final[kind])
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)
