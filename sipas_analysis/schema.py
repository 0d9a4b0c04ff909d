"""The respondent-level data contract (docs/architecture.md) and its validation.

One row per respondent. Column names are English snake_case; the Vietnamese labels live here,
for reports and for reading Vietnamese-labelled files.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import files, reference

# --- The five SIPAS service factors and their criteria (rating columns, 1-5) -----------------
# 22 criteria as in the 2017-2021 questionnaire (Decision 2640/QĐ-BNV); the 2022+ questionnaire
# keeps the same five service factors, so one vocabulary serves both eras.
FACTORS: dict[str, list[str]] = {
    "access": ["access_seating", "access_equipment", "access_modern_equipment", "access_ease"],
    "procedure": ["procedure_posted", "procedure_lawful_components", "procedure_lawful_fees",
                  "procedure_time_limit", "procedure_single_point"],
    "staff": ["staff_polite", "staff_listening", "staff_full_answers", "staff_guidance",
              "staff_follows_rules", "staff_no_harassment"],
    "result": ["result_lawful", "result_accurate", "result_on_time", "result_complete_info"],
    "feedback": ["feedback_channel", "feedback_received", "feedback_resolved"],
}
RATING_COLUMNS: list[str] = [c for cols in FACTORS.values() for c in cols]
SCORE_COLUMNS: list[str] = [f"{f}_score" for f in FACTORS]  # mean of the factor's answered ratings
RATING_LEVELS = (1, 2, 3, 4, 5)

FACTOR_LABELS = {
    "access": {"vi": "Tiếp cận dịch vụ", "en": "Access to services"},
    "procedure": {"vi": "Thủ tục hành chính", "en": "Administrative procedures"},
    "staff": {"vi": "Công chức", "en": "Civil servants"},
    "result": {"vi": "Kết quả giải quyết", "en": "Results"},
    "feedback": {"vi": "Tiếp nhận, xử lý góp ý, phản ánh, kiến nghị", "en": "Feedback handling"},
}
CRITERION_LABELS = {
    "access_seating": {"vi": "Nơi ngồi chờ đủ chỗ", "en": "Enough seats while waiting"},
    "access_equipment": {"vi": "Trang thiết bị đầy đủ", "en": "Adequate equipment"},
    "access_modern_equipment": {"vi": "Trang thiết bị hiện đại", "en": "Modern equipment"},
    "access_ease": {"vi": "Trang thiết bị dễ sử dụng", "en": "Equipment easy to use"},
    "procedure_posted": {"vi": "Thủ tục được niêm yết công khai", "en": "Procedure publicly posted"},
    "procedure_lawful_components": {"vi": "Thành phần hồ sơ đúng quy định",
                                    "en": "Dossier components as the law requires"},
    "procedure_lawful_fees": {"vi": "Phí, lệ phí đúng quy định", "en": "Fees as the law requires"},
    "procedure_time_limit": {"vi": "Giải quyết đúng thời hạn luật định",
                             "en": "Resolved within the legal time limit"},
    "procedure_single_point": {"vi": "Nộp hồ sơ tại một đầu mối", "en": "One point of submission"},
    "staff_polite": {"vi": "Công chức có thái độ lịch sự", "en": "Civil servants are polite"},
    "staff_listening": {"vi": "Công chức chú ý lắng nghe", "en": "Civil servants listen"},
    "staff_full_answers": {"vi": "Công chức trả lời đầy đủ", "en": "Civil servants answer fully"},
    "staff_guidance": {"vi": "Công chức hướng dẫn tận tình, chu đáo",
                       "en": "Civil servants guide thoroughly"},
    "staff_follows_rules": {"vi": "Công chức tuân thủ quy định", "en": "Civil servants follow the rules"},
    "staff_no_harassment": {"vi": "Công chức không gây phiền hà, nhũng nhiễu",
                            "en": "No harassment by civil servants"},
    "result_lawful": {"vi": "Kết quả đúng quy định", "en": "Result is lawful"},
    "result_accurate": {"vi": "Kết quả có thông tin đầy đủ, chính xác", "en": "Result is accurate"},
    "result_on_time": {"vi": "Nhận kết quả đúng hẹn", "en": "Result returned on time"},
    "result_complete_info": {"vi": "Kết quả đầy đủ thông tin", "en": "Result complete"},
    "feedback_channel": {"vi": "Có bố trí hình thức tiếp nhận góp ý",
                         "en": "A channel for feedback exists"},
    "feedback_received": {"vi": "Góp ý được tiếp nhận", "en": "Feedback is received"},
    "feedback_resolved": {"vi": "Góp ý được xử lý kịp thời", "en": "Feedback is handled in time"},
}

# --- Categorical context and respondent columns: allowed values (contract vocabulary) ---------
UNIT_SETS = ("63", "34")
SERVICE_AREAS = ("land", "civil_status", "construction", "business", "labour_social",
                 "justice", "other")
AGENCY_LEVELS = ("province", "district", "commune")
CHANNELS = ("in_person", "online", "postal")
SEXES = ("female", "male")
AGE_GROUPS = ("18-29", "30-44", "45-59", "60+")
EDUCATION_LEVELS = ("primary_or_less", "lower_secondary", "upper_secondary", "tertiary")
ETHNICITIES = ("kinh", "other")

CATEGORIES: dict[str, tuple[str, ...]] = {
    "unit_set": UNIT_SETS,
    "service_area": SERVICE_AREAS,
    "agency_level": AGENCY_LEVELS,
    "channel": CHANNELS,
    "sex": SEXES,
    "age_group": AGE_GROUPS,
    "education": EDUCATION_LEVELS,
    "ethnicity": ETHNICITIES,
}

# Experience facts (exogenous drivers): 0/1 floats (n_visits a count), NaN where not applicable
# (a 2022+ resident who used no service). Floats, not booleans, so that formulas name them plainly.
EXPERIENCE_COLUMNS = ["on_time", "applied_online", "asked_extra_payment", "n_visits"]
BINARY_EXPERIENCE = ["on_time", "applied_online", "asked_extra_payment"]

ID_COLUMNS = ["respondent_id", "year", "unit_set", "province_code"]
DESIGN_COLUMNS = ["district_code", "stratum", "psu", "weight"]
OPTIONAL_DESIGN_COLUMNS = ["ssu", "fpc1", "fpc2"]
CONTEXT_COLUMNS = ["service_area", "agency_level", "channel", "used_service"]
RESPONDENT_COLUMNS = ["sex", "age_group", "education", "ethnicity", "urban"]
REQUIRED_COLUMNS = (ID_COLUMNS + DESIGN_COLUMNS + CONTEXT_COLUMNS + EXPERIENCE_COLUMNS
                    + RATING_COLUMNS + ["overall_satisfaction"] + RESPONDENT_COLUMNS)

# Vietnamese answer labels found in real files, mapped to the contract's values.
VIETNAMESE_VALUE_LABELS: dict[str, dict[str, str]] = {
    "sex": {"Nữ": "female", "Nam": "male"},
    "agency_level": {"Cấp tỉnh": "province", "Cấp huyện": "district", "Cấp xã": "commune"},
    "channel": {"Trực tiếp": "in_person", "Trực tuyến": "online", "Bưu chính": "postal",
                "Dịch vụ bưu chính công ích": "postal"},
    "ethnicity": {"Kinh": "kinh", "Khác": "other", "Dân tộc khác": "other"},
    "education": {"Tiểu học trở xuống": "primary_or_less", "Trung học cơ sở": "lower_secondary",
                  "Trung học phổ thông": "upper_secondary",
                  "Cao đẳng, đại học trở lên": "tertiary"},
    "service_area": {"Đất đai": "land", "Hộ tịch": "civil_status", "Xây dựng": "construction",
                     "Đăng ký kinh doanh": "business", "Lao động, thương binh và xã hội":
                     "labour_social", "Tư pháp": "justice", "Khác": "other"},
}

# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------

CODE_COLUMNS = ["respondent_id", "province_code", "district_code", "stratum", "psu", "ssu"]
BOOLEAN_COLUMNS = ["used_service", "urban", "synthetic"]
# Columns whose missing values are an error (design and identity cannot be guessed).
NON_MISSING = ["respondent_id", "year", "unit_set", "province_code", "stratum", "psu", "weight",
               "used_service"]
# Service-context columns a non-user skips by design.
SERVICE_COLUMNS = (["service_area", "agency_level", "channel"] + EXPERIENCE_COLUMNS
                   + RATING_COLUMNS)
_SHOW = 5  # offending rows shown per problem
_TRUE = {"true", "yes", "1", "1.0", "có", "co", "y", "t"}
_FALSE = {"false", "no", "0", "0.0", "không", "khong", "n", "f"}


class SurveyValidationError(ValueError):
    """Raised by :func:`validate_survey`; ``problems`` is a DataFrame with one row per problem:
    ``column, rule, n_rows, rows, values`` (rows numbered from 1 = first data row). A problem
    of the file as a whole (unreadable, no rows) has the column ``"(file)"``; ``source`` (the
    file's path, when a file was read) starts the message."""

    def __init__(self, problems: pd.DataFrame, n_rows: int, source: str | None = None, *,
                 file_rows: bool = False):
        self.problems = problems
        self.source = source
        where = f"{files.printable(source)}: " if source else ""
        numbering = "as in the file" if file_rows else "from 1, the first data row"
        lines = [f"{where}survey data failed validation: {len(problems)} problem(s) in "
                 f"{n_rows:,} rows (rows numbered {numbering})"]
        for p in problems.itertuples(index=False):
            where = ""
            if p.n_rows:
                shown = ", ".join(f"{r} ({files.short_repr(v, 80)})" if v is not None else str(r)
                                  for r, v in zip(p.rows, p.values))
                more = f" and {p.n_rows - len(p.rows):,} more" if p.n_rows > len(p.rows) else ""
                where = f" — {p.n_rows:,} row(s): {shown}{more}"
            lines.append(f"  - {p.column}: {p.rule}{where}")
        super().__init__("\n".join(lines))


class MissingColumnError(ValueError, KeyError):
    """A table lacks columns that a function needs; ``columns`` lists every missing one.

    The message starts with what was being checked and names all the missing columns at once
    (docs/architecture.md, "Errors"). It is a ``ValueError`` (a mistake in the input) and a
    ``KeyError`` (what pandas raises for an absent column), so either ``except`` catches it;
    unlike a plain ``KeyError`` its message prints without quotes.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"y": [1, 2]})
    >>> try:
    ...     require_columns(table, ["y", "weight", "psu"], "SurveyDesign")
    ... except MissingColumnError as error:
    ...     print(error)
    ...     print(error.columns)
    SurveyDesign: the data lacks column(s) ['weight', 'psu']
    ['weight', 'psu']
    """

    def __init__(self, message: str, columns):
        super().__init__(message)
        self.columns = list(columns)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def require_columns(table: pd.DataFrame, columns, context: str, *, table_name: str = "the data",
                    roles: dict | None = None) -> None:
    """Raise :class:`MissingColumnError` naming every one of ``columns`` that ``table`` lacks.

    The message reads ``"{context}: {table_name} lacks column(s) [...]"``; ``roles`` maps a
    column to what it is for (``{"wt": "weights"}``), said after the list.

    Examples
    --------
    >>> import pandas as pd
    >>> try:
    ...     require_columns(pd.DataFrame({"y": [1]}), ["y", "wt"], "SurveyDesign",
    ...                     roles={"wt": "weights"})
    ... except KeyError as error:   # a MissingColumnError is also a KeyError
    ...     print(error)
    SurveyDesign: the data lacks column(s) ['wt'] (weights column 'wt')
    """
    present = set(table.columns)
    missing = list(dict.fromkeys(c for c in columns if c not in present))
    if missing:
        said = ""
        if roles:
            said = " (" + "; ".join(f"{roles[c]} column {c!r}" for c in missing if c in roles) + ")"
        raise MissingColumnError(f"{context}: {table_name} lacks column(s) {missing}"
                                 + (said if said != " ()" else ""), missing)


class RowProblems:
    """Collects every problem so that one error can name them all; ``file_rows`` (the file's
    own number of each row, as a codebook's reading gives them) replaces the default
    numbering from 1."""

    def __init__(self, file_rows=None):
        self.rows: list[dict] = []
        self.file_rows = None if file_rows is None else np.asarray(file_rows)

    def add(self, column: str, rule: str, bad: np.ndarray | None = None, values=None):
        if bad is None:
            self.rows.append(dict(column=column, rule=rule, n_rows=0, rows=[], values=[]))
            return
        positions = np.flatnonzero(np.asarray(bad, dtype=bool))
        if positions.size == 0:
            return
        first = positions[:_SHOW]
        shown = [None] * len(first) if values is None else \
            [_plain(np.asarray(values, dtype=object)[i]) for i in first]
        numbers = first + 1 if self.file_rows is None else self.file_rows[first]
        self.rows.append(dict(column=column, rule=rule, n_rows=int(positions.size),
                              rows=[int(r) for r in numbers], values=shown))

    def raise_if_any(self, n_rows: int, source: str | None = None):
        if self.rows:
            raise SurveyValidationError(pd.DataFrame(self.rows), n_rows, source=source,
                                        file_rows=self.file_rows is not None)


def _plain(value):
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


def _as_code(series: pd.Series) -> pd.Series:
    """Identifiers as strings; integers read by a spreadsheet (1.0) become '1', NaN stays NaN."""
    if pd.api.types.is_float_dtype(series):
        whole = series.dropna()
        if (whole == np.round(whole)).all():
            out = series.astype("Int64").astype("string").astype(object)
            return out.where(series.notna(), None).astype("str")
    if pd.api.types.is_integer_dtype(series) or pd.api.types.is_bool_dtype(series):
        return series.astype("str")
    return series.astype("str").where(series.notna(), None).astype("str")


def _province_code(series: pd.Series) -> pd.Series:
    code = _as_code(series)
    # '1' -> '01': files exported from spreadsheets lose the leading zero of GSO codes
    short = code.str.fullmatch(r"\d")
    return code.where(~short.fillna(False).astype(bool), "0" + code)


def _as_bool(series: pd.Series, column: str, problems: RowProblems) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.astype("boolean")
    text = series.astype("str").str.strip().str.lower()
    out = pd.Series(pd.NA, index=series.index, dtype="boolean")
    out[text.isin(_TRUE).to_numpy()] = True
    out[text.isin(_FALSE).to_numpy()] = False
    bad = (out.isna() & series.notna()).to_numpy()
    problems.add(column, "must be true/false (or 1/0, yes/no)", bad, series.to_numpy())
    return out


def _as_number(series: pd.Series, column: str, problems: RowProblems) -> pd.Series:
    numbers = pd.to_numeric(series, errors="coerce").astype("float64")
    bad = (numbers.isna() & series.notna()).to_numpy()
    problems.add(column, "must be a number", bad, series.to_numpy())
    return numbers


def _province_hints(out: pd.DataFrame, bad: np.ndarray) -> str:
    """Close matches of the unknown province values (as normalise_provinces words them), so
    that a misspelt name is fixed from the validation report alone."""
    hints = []
    for unit_set in UNIT_SETS:
        rows = bad & (out["unit_set"] == unit_set).to_numpy()
        if rows.any():
            try:
                reference.normalise_provinces(out.loc[rows, "province_code"], unit_set=unit_set)
            except reference.UnknownProvinceError as error:
                hints.append(str(error).split(". See the accepted names")[0])
    return "".join(f"; {hint}" for hint in hints)


def validate_survey(df: pd.DataFrame) -> pd.DataFrame:
    """Check a respondent-level frame against the contract and return it typed.

    Raises :class:`SurveyValidationError` listing every problem at once (column, rule, number
    of rows, first offending rows and values): missing columns, wrong types, values outside the
    allowed set, ratings outside 1-5, unknown (unit_set, province_code) pairs, duplicate
    ``respondent_id``, negative or missing weights, service answers from a respondent who used
    no service, factor scores that disagree with their ratings.

    Missing ratings are allowed (they are counted by :func:`missing_summary`, never dropped).
    ``unit_set`` may be absent: it then defaults from the year ("63" up to 2024, "34" after),
    as the data contract (docs/architecture.md) states. Factor scores are derived when absent. Columns outside the contract are
    kept as they are. The input frame is not modified.

    Returned types: codes (``respondent_id, province_code, district_code, stratum, psu, ssu``)
    as strings, ``year`` int64, categorical columns as pandas Categorical with the contract's
    categories, ``used_service``/``urban``/``synthetic`` boolean, numbers float64.

    Examples
    --------
    Every problem of a frame at once:

    >>> from sipas_analysis.simulate import simulate_survey
    >>> sample, _ = simulate_survey(n=300, seed=1, years=[2024])
    >>> validate_survey(sample).shape
    (300, 52)
    >>> bad = sample.drop(columns=["weight"])
    >>> bad.loc[2, "overall_satisfaction"] = 7
    >>> try:
    ...     validate_survey(bad)
    ... except SurveyValidationError as error:
    ...     print(error)  # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
    survey data failed validation: 2 problem(s) in 300 rows (rows numbered from 1,
    the first data row)
      - weight: required column is missing
      - overall_satisfaction: rating must be 1, 2, 3, 4 or 5 ... — 1 row(s): 3 (7.0)
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"validate_survey expects a pandas DataFrame, got {type(df).__name__}")
    problems = RowProblems()
    out = df.copy()
    out.index = pd.RangeIndex(len(out))
    n = len(out)

    if "unit_set" not in out.columns and "year" in out.columns:
        years = pd.to_numeric(out["year"], errors="coerce")
        out["unit_set"] = np.where(years <= 2024, "63", "34")
    missing_cols = [c for c in REQUIRED_COLUMNS if c not in out.columns]
    for column in missing_cols:
        problems.add(column, "required column is missing")

    for column in NON_MISSING:
        if column in out.columns:
            problems.add(column, "must not be missing", out[column].isna().to_numpy())

    for column in CODE_COLUMNS:
        if column in out.columns:
            out[column] = (_province_code(out[column]) if column == "province_code"
                           else _as_code(out[column]))

    if "respondent_id" in out.columns:
        dup = out["respondent_id"].duplicated(keep=False) & out["respondent_id"].notna()
        problems.add("respondent_id", "must be unique", dup.to_numpy(),
                     out["respondent_id"].to_numpy())

    if "year" in out.columns:
        year = _as_number(out["year"], "year", problems)
        bad = year.notna() & ((year != np.round(year)) | (year < 2017) | (year > 2100))
        problems.add("year", "must be a whole year from 2017 (the first SIPAS)", bad.to_numpy(),
                     out["year"].to_numpy())
        out["year"] = year.fillna(-1).astype("int64") if not bad.any() else year

    if "unit_set" in out.columns:
        out["unit_set"] = _as_code(out["unit_set"]).str.replace(r"\.0$", "", regex=True)

    if {"unit_set", "province_code"} <= set(out.columns):
        known = np.zeros(n, dtype=bool)
        for unit_set in UNIT_SETS:
            codes = reference.provinces(unit_set)["province_code"]
            known |= ((out["unit_set"] == unit_set) & out["province_code"].isin(codes)).to_numpy()
        bad = ~known & out["province_code"].notna().to_numpy() & out["unit_set"].notna().to_numpy()
        pairs = (out["unit_set"].astype("str") + "/" + out["province_code"].astype("str")).to_numpy()
        problems.add("province_code", "unknown unit (unit_set/province_code; see "
                     "sa.reference.provinces())" + _province_hints(out, bad), bad, pairs)

    for column in ["weight", "fpc1", "fpc2"]:
        if column in out.columns:
            values = _as_number(out[column], column, problems)
            rule = "must be >= 0 and finite" if column == "weight" else "must be > 0 and finite"
            bad = values.notna() & ~(np.isfinite(values) & ((values >= 0) if column == "weight"
                                                             else (values > 0)))
            problems.add(column, rule, bad.to_numpy(), out[column].to_numpy())
            out[column] = values

    for column in BOOLEAN_COLUMNS:
        if column in out.columns:
            out[column] = _as_bool(out[column], column, problems)

    for column, allowed in CATEGORIES.items():
        if column in out.columns and column != "unit_set":
            raw = out[column]
            text = raw.astype("str").str.strip()
            text = text.map(VIETNAMESE_VALUE_LABELS.get(column, {})).fillna(text) \
                if column in VIETNAMESE_VALUE_LABELS else text
            text = text.where(raw.notna(), None)
            bad = (text.notna() & ~text.isin(allowed)).to_numpy()
            problems.add(column, f"must be one of {', '.join(allowed)}", bad, raw.to_numpy())
            out[column] = pd.Categorical(text.where(~bad, None), categories=list(allowed))

    for column in BINARY_EXPERIENCE:
        if column in out.columns:
            values = out[column]
            if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
                values = _as_bool(values, column, problems).astype("Float64")
            values = _as_number(values, column, problems)
            problems.add(column, "must be 0 or 1 (missing allowed)",
                         (values.notna() & ~values.isin([0.0, 1.0])).to_numpy(),
                         out[column].to_numpy())
            out[column] = values

    if "n_visits" in out.columns:
        values = _as_number(out["n_visits"], "n_visits", problems)
        bad = values.notna() & ((values != np.round(values)) | (values < 1))
        problems.add("n_visits", "must be a whole number >= 1 (missing allowed)", bad.to_numpy(),
                     out["n_visits"].to_numpy())
        out["n_visits"] = values

    for column in RATING_COLUMNS + ["overall_satisfaction"]:
        if column in out.columns:
            values = _as_number(out[column], column, problems)
            bad = values.notna() & ~values.isin([1.0, 2.0, 3.0, 4.0, 5.0])
            problems.add(column, "rating must be 1, 2, 3, 4 or 5 (missing allowed)",
                         bad.to_numpy(), out[column].to_numpy())
            out[column] = values

    if "used_service" in out.columns:
        non_user = (out["used_service"] == False).fillna(False).to_numpy()  # noqa: E712
        answered = [c for c in SERVICE_COLUMNS if c in out.columns]
        if non_user.any() and answered:
            has_answer = out.loc[non_user, answered].notna().any(axis=1)
            bad = np.zeros(n, dtype=bool)
            bad[np.flatnonzero(non_user)[has_answer.to_numpy()]] = True
            problems.add("used_service", "a respondent who used no service skips the service "
                         "questions, yet has answers to them", bad)

    if not any(r["rule"] == "required column is missing" and r["column"] in RATING_COLUMNS
               for r in problems.rows):
        for factor, columns in FACTORS.items():
            derived = out[columns].mean(axis=1, skipna=True)
            score = f"{factor}_score"
            if score in df.columns:
                given = _as_number(out[score], score, problems)
                bad = (given.isna() != derived.isna()) | ((given - derived).abs() > 1e-6)
                problems.add(score, f"must equal the mean of the answered {factor}_* ratings",
                             bad.fillna(True).to_numpy(), out[score].to_numpy())
            out[score] = derived

    problems.raise_if_any(n)
    return out


def missing_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Missing answers per rating column: ``column, factor, n_missing, n_skipped_by_design,
    share_missing`` — skipped by design = the respondent used no service (2022+ residents).

    ``share_missing`` is over the respondents who were asked (used a service).

    Examples
    --------
    >>> from sipas_analysis.simulate import simulate_survey
    >>> sample, _ = simulate_survey(n=300, seed=1, years=[2024])
    >>> summary = missing_summary(sample)
    >>> summary[["column", "n_missing", "n_skipped_by_design"]].head(3)
    ... # doctest: +NORMALIZE_WHITESPACE
                        column  n_missing  n_skipped_by_design
    0           access_seating          3                  134
    1         access_equipment          2                  134
    2  access_modern_equipment          1                  134
    """
    asked = df["used_service"].fillna(True).astype(bool) if "used_service" in df else \
        pd.Series(True, index=df.index)
    rows = []
    for factor, columns in FACTORS.items():
        for column in columns:
            if column not in df:
                continue
            missing = df[column].isna()
            n_missing = int((missing & asked).sum())
            rows.append(dict(column=column, factor=factor, n_missing=n_missing,
                             n_skipped_by_design=int((missing & ~asked).sum()),
                             share_missing=n_missing / max(int(asked.sum()), 1)))
    if "overall_satisfaction" in df:
        missing = df["overall_satisfaction"].isna()
        rows.append(dict(column="overall_satisfaction", factor="overall",
                         n_missing=int(missing.sum()), n_skipped_by_design=0,
                         share_missing=float(missing.mean()) if len(df) else 0.0))
    return pd.DataFrame(rows)
