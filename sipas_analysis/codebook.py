"""Questionnaire codebooks: how one survey file maps to the data contract.

A province's own satisfaction survey arrives as an Excel or KoboToolbox export with Vietnamese
headers, answers as text ("Rất hài lòng"), its own criteria and no design columns. A codebook
(a YAML file, README "Your own survey") names, for that file, which header holds which contract
column, how answer labels become numbers, which criteria belong to which factor and what the
file lacks. :meth:`Codebook.apply` turns the file's table into a respondent frame in the
contract's vocabulary (docs/architecture.md) and says, in ``frame.attrs["assumptions"]``, every
consequence of what is absent (no design columns: simple random sampling within the unit; no
weights: equal weights; fewer than five factors: the overall index is the mean of those present).

The minimal contract: the ratings of at least one factor, the unit (a province, or a unit inside
one), and the year or a date. Everything else is optional.

Labels (headers and answers) match in any Unicode form (NFC/NFD), case and surrounding or
repeated spaces. Problems are collected and raised together, with the file's row numbers (title
rows counted, as Excel numbers them).
"""
from __future__ import annotations

import datetime
import difflib
import math
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import files, language, reference, schema

# --- the format: every key, and what each section may hold --------------------------------------

TOP_KEYS = ("file", "constants", "columns", "scale", "satisfied", "ratings", "overall", "values",
            "design", "extra", "reverse", "scales", "survey_period", "quality", "weighting", "par",
            "unit_aliases", "imputation")
FILE_KEYS = ("sheet", "header_row", "separator", "encoding")
CONSTANT_KEYS = ("year", "province", "unit", "unit_type", "date")
# Roles a header can play (columns:) -> what the contract calls the column it becomes.
COLUMN_ROLES = ("respondent_id", "unit", "unit_type", "date", "year", "province", "start", "end",
                "interviewer", "staff", "unit_size", "service_area", "agency_level", "channel",
                "used_service", "sex", "age_group", "education", "ethnicity", "urban",
                "on_time", "applied_online", "asked_extra_payment", "n_visits")
DESIGN_KEYS = ("weights", "strata", "psu", "fpc")
QUALITY_KEYS = ("exclude",)
WEIGHTING_KEYS = ("margins", "method", "bounds", "by")
PAR_KEYS = ("max", "rule", "bands")
IMPUTATION_KEYS = ("m", "seed", "donors", "iterations")
PAR_RULES = ("linear", "bands")
MIN_LEVELS, MAX_LEVELS = 3, 11
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
# Columns the codebook builds itself: a criterion or extra may not take these names.
RESERVED = set(COLUMN_ROLES) | {"province_code", "unit_set", "weight", "stratum", "psu", "fpc1",
                                "overall_satisfaction", "source_row", "synthetic"} | {
    f"{f}_score" for f in schema.FACTORS}
MERGER_DATE = pd.Timestamp("2025-07-01")  # rows dated from here belong to the 34-unit set


class CodebookError(ValueError):
    """A codebook that cannot be used; ``problems`` lists every one (the message names them all,
    each with the key it concerns)."""

    def __init__(self, problems: list[str], source=None):
        self.problems = list(problems)
        where = f"{files.printable(source)}: " if source else ""
        super().__init__(f"{where}codebook has {len(problems)} problem(s):\n"
                         + "\n".join(f"  - {p}" for p in problems))


def fold(text) -> str:
    """A label as codebooks compare it: NFC, case-folded, spaces collapsed and stripped.

    Examples
    --------
    >>> fold("  Rất  HÀI lòng ") == fold(unicodedata.normalize("NFD", "rất hài lòng"))
    True
    """
    return " ".join(unicodedata.normalize("NFC", str(text)).casefold().split())


# Abbreviations of Vietnamese agency names, expanded before units are compared.
_ABBREVIATIONS = [(re.compile(p, re.IGNORECASE), full) for p, full in (
    (r"\bUBND\b\.?", "Ủy ban nhân dân"), (r"\bHĐND\b\.?", "Hội đồng nhân dân"),
    (r"\bTTHC\b", "thủ tục hành chính"), (r"\bBQL\b", "Ban Quản lý"),
    (r"\bKCN\b", "khu công nghiệp"), (r"\bTTPVHCC\b", "Trung tâm Phục vụ hành chính công"),
    (r"\bTP\b\.?", "thành phố"), (r"\bTX\b\.?", "thị xã"), (r"\bTT\b\.", "thị trấn"))]


def unit_key(name) -> str:
    """The matching key of an agency's name: abbreviations expanded, diacritics, case, spaces
    and punctuation dropped; "UBND huyện Phú Lương" and "Ủy ban nhân dân huyện Phú Lương" (and
    "Uỷ"/"Ủy", NFC/NFD) give the same key.

    Examples
    --------
    >>> unit_key("UBND huyện Phú Lương") == unit_key("Ủy ban nhân dân  huyện Phú lương")
    True
    >>> unit_key("Sở Văn hóa, Thể thao và Du lịch")
    'sovanhoathethaovadulich'
    """
    text = unicodedata.normalize("NFC", str(name))
    for pattern, full in _ABBREVIATIONS:
        text = pattern.sub(full, text)
    return re.sub(r"[^a-z0-9]", "", reference.name_fold(text).lower())


def unit_slug(name) -> str:
    """A stable folder name for a unit, from its normalised name: ASCII words joined by "-".

    Examples
    --------
    >>> unit_slug("UBND huyện Phú Lương")
    'uy-ban-nhan-dan-huyen-phu-luong'
    """
    text = unicodedata.normalize("NFC", str(name))
    for pattern, full in _ABBREVIATIONS:
        text = pattern.sub(full, text)
    words = re.findall(r"[a-z0-9]+", reference.name_fold(text).lower())
    return "-".join(words)[:80] or "unit"


def _same_units(names: pd.Series, aliases: dict) -> pd.Series:
    """One spelling per unit: names with the same :func:`unit_key` take the file's most common
    spelling (ties: the first met); ``aliases`` (old key -> new name) rename units first."""
    keys = names.map({v: unit_key(v) for v in names.dropna().unique()})
    renamed = keys.map(aliases)
    names = names.where(renamed.isna(), renamed)
    keys = keys.where(renamed.isna(), renamed.map(lambda v: unit_key(v)
                                                  if isinstance(v, str) else v))
    frame = pd.DataFrame({"name": names, "key": keys}).dropna()
    counts = frame.groupby(["key", "name"], sort=False).size().reset_index(name="n")
    counts = counts.sort_values("n", ascending=False, kind="stable")
    shown = counts.drop_duplicates("key").set_index("key")["name"]
    return keys.map(shown).where(names.notna(), None)


def _number(value):
    """A scale value as a float, or None for null; anything else raises ValueError."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


def _date(value):
    stamp = _one_date(value)
    if pd.isna(stamp):
        raise ValueError(f"not a date: {value!r}")
    return stamp


@dataclass(frozen=True)
class Scale:
    """Answer labels -> numbers (None: an answer that is no rating, e.g. "Không ý kiến")."""

    labels: dict            # folded label -> number or None
    shown: dict             # folded label -> label as the codebook writes it

    @property
    def levels(self) -> tuple[float, ...]:
        return tuple(sorted({v for v in self.labels.values() if v is not None}))

    def reverse(self, values: np.ndarray) -> np.ndarray:
        return min(self.levels) + max(self.levels) - values


@dataclass(frozen=True)
class Codebook:
    """A parsed, checked codebook. Build one with :meth:`from_yaml` or :meth:`from_dict`.

    Examples
    --------
    >>> import pandas as pd
    >>> book = Codebook.from_dict({
    ...     "constants": {"year": 2024, "province": "Thái Nguyên"},
    ...     "columns": {"unit": "Đơn vị"},
    ...     "scale": {"Không hài lòng": 1, "Bình thường": 2, "Hài lòng": 3, "Rất hài lòng": 4},
    ...     "satisfied": [3, 4],
    ...     "ratings": {"staff": {"staff_polite": "Câu 1: Thái độ"}}})
    >>> raw = pd.DataFrame({"Đơn vị": ["Sở Tư pháp", "Sở Tư pháp", "UBND huyện Phú Lương"],
    ...                     "câu 1: thái độ ": ["Hài lòng", "Rất hài lòng", "Bình thường"]})
    >>> survey = book.apply(raw)
    >>> survey[["unit", "staff_polite", "province_code", "unit_set", "psu"]]
    ... # doctest: +NORMALIZE_WHITESPACE
                       unit  staff_polite province_code unit_set psu
    0            Sở Tư pháp           3.0            19       63   2
    1            Sở Tư pháp           4.0            19       63   3
    2  UBND huyện Phú Lương           2.0            19       63   4
    >>> survey["respondent_id"].tolist()   # no id column: the row number in the file
    ['2', '3', '4']
    >>> print(survey.attrs["assumptions"][0])
    no design columns (strata, clusters): simple random sampling of respondents within each unit
    """

    file: dict
    constants: dict
    columns: dict
    scale: Scale | None
    satisfied: tuple
    ratings: dict            # factor -> {criterion: header}
    overall: str | None
    values: dict             # column -> {folded label: value}
    design: dict             # weights/strata/psu/fpc -> header or None
    extra: dict              # name -> header
    reverse: tuple
    scales: dict             # criterion -> Scale
    satisfied_by: dict       # criterion -> levels, where its scale has its own
    survey_period: tuple | None
    quality: dict
    weighting: dict
    par: dict
    unit_aliases: dict       # unit_key of an old name -> new name
    imputation: dict = field(default_factory=dict)   # m, seed, donors, iterations
    source: str | None = field(default=None, compare=False)

    # --- construction --------------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path) -> "Codebook":
        """Read a codebook file (safe YAML: no aliases, no object tags)."""
        if not Path(path).exists():
            raise FileNotFoundError(f"no such codebook: {path}")
        return cls.from_dict(files.load_yaml(path), source=str(path))

    @classmethod
    def from_dict(cls, mapping, *, source=None) -> "Codebook":
        """Check a codebook given as a mapping; raises :class:`CodebookError` naming every
        problem (unknown keys by name)."""
        p: list[str] = []
        if not isinstance(mapping, dict):
            raise CodebookError([f"must be a mapping of the keys {list(TOP_KEYS)}, got "
                                 f"{type(mapping).__name__}"], source)
        _unknown(mapping, TOP_KEYS, "", p)
        file = _section(mapping, "file", FILE_KEYS, p)
        file = {"sheet": 0, "header_row": "auto", "separator": "auto", "encoding": "auto"} | file
        _check_file(file, p)
        constants = _section(mapping, "constants", CONSTANT_KEYS, p)
        if "year" in constants:
            if not isinstance(constants["year"], int) or isinstance(constants["year"], bool) \
                    or not 2017 <= constants["year"] <= 2100:
                p.append(f"constants.year must be a whole year from 2017, got "
                         f"{files.short_repr(constants['year'])}")
        for key, value in constants.items():
            if value is None or (isinstance(value, str) and not value.strip()):
                p.append(f"constants.{key} is empty: write its value or delete the line")
        constants = {k: v for k, v in constants.items()
                     if v is not None and not (isinstance(v, str) and not v.strip())}
        if "date" in constants:
            try:
                constants = constants | {"date": _date(constants["date"])}
            except (ValueError, TypeError):
                p.append(f"constants.date is not a date: {files.short_repr(constants['date'])}")
        columns = _section(mapping, "columns", COLUMN_ROLES, p)
        _headers(columns, "columns", p)
        for role in set(columns) & set(constants):
            p.append(f"{role} is given both as a column (columns.{role}) and as a constant "
                     f"(constants.{role}); keep one")
        scale = _scale(mapping.get("scale"), "scale", p) if "scale" in mapping else None
        ratings = _ratings(mapping.get("ratings"), p)
        criteria = [c for crits in ratings.values() for c in crits]
        overall = mapping.get("overall")
        if overall is not None and not isinstance(overall, str):
            p.append(f"overall must be the header of the overall-satisfaction question, got "
                     f"{files.short_repr(overall)}")
        extra = _section(mapping, "extra", None, p)
        _headers(extra, "extra", p)
        for name in extra:
            if not _NAME.match(str(name)) or name in RESERVED or name in criteria:
                p.append(f"extra.{name}: a column name must be snake_case (a-z, 0-9, _) and not "
                         "a contract column or a criterion")
        scales = {}
        raw_scales = _section(mapping, "scales", None, p)
        satisfied_by = {}
        for criterion, spec in raw_scales.items():
            if criterion not in criteria and criterion != "overall":
                p.append(f"scales.{criterion}: not a criterion of ratings (nor 'overall')")
                continue
            own_satisfied = None
            if isinstance(spec, dict) and "labels" in spec:
                _unknown(spec, ("labels", "satisfied"), f"scales.{criterion}.", p)
                own_satisfied = spec.get("satisfied")
                spec = spec["labels"]
            parsed = _scale(spec, f"scales.{criterion}", p)
            if parsed is not None:
                scales[criterion] = parsed
                if own_satisfied is not None:
                    satisfied_by[criterion] = own_satisfied
        if scale is None and criteria and len(scales) < len(criteria):
            p.append("scale is missing: give the answer labels and their numbers "
                     "(e.g. {\"Rất không hài lòng\": 1, ..., \"Rất hài lòng\": 5})")
        satisfied = mapping.get("satisfied", [4, 5])
        satisfied = _levels(satisfied, scale, "satisfied", p) if scale is not None else \
            tuple(satisfied) if isinstance(satisfied, (list, tuple)) else ()
        for criterion, levels in list(satisfied_by.items()):
            satisfied_by[criterion] = _levels(levels, scales[criterion],
                                              f"scales.{criterion}.satisfied", p)
        for criterion, own in scales.items():
            if criterion not in satisfied_by and scale is not None and \
                    own.levels != scale.levels:
                p.append(f"scales.{criterion}: its levels {_show_levels(own.levels)} differ "
                         f"from scale's {_show_levels(scale.levels)}; say which count as "
                         f"satisfied: scales.{criterion}: {{labels: {{...}}, satisfied: [...]}}")
        values = {}
        for column, mapping_ in _section(mapping, "values", None, p).items():
            if column not in COLUMN_ROLES:
                p.append(f"values.{column}: not a column role (one of {list(COLUMN_ROLES)})")
            elif not isinstance(mapping_, dict):
                p.append(f"values.{column} must map file labels to contract values")
            else:
                values[column] = {fold(k): v for k, v in mapping_.items()}
        design = _section(mapping, "design", DESIGN_KEYS, p)
        _headers({k: v for k, v in design.items() if v is not None}, "design", p)
        reverse = mapping.get("reverse") or []
        if not isinstance(reverse, list):
            p.append("reverse must be a list of criteria")
            reverse = []
        for criterion in reverse:
            if criterion not in criteria:
                p.append(f"reverse: {files.short_repr(criterion)} is not a criterion of ratings")
        period = mapping.get("survey_period")
        if period is not None:
            try:
                if not isinstance(period, list) or len(period) != 2:
                    raise ValueError
                period = (_date(period[0]), _date(period[1]))
                if period[0] > period[1]:
                    p.append("survey_period: the first date is after the last")
            except (ValueError, TypeError):
                p.append(f"survey_period must be [first date, last date], got "
                         f"{files.short_repr(period)}")
                period = None
        quality = _section(mapping, "quality", QUALITY_KEYS, p)
        if "exclude" in quality and not isinstance(quality["exclude"], list):
            p.append("quality.exclude must be a list of flag names")
        weighting = _section(mapping, "weighting", WEIGHTING_KEYS, p)
        par = _section(mapping, "par", PAR_KEYS, p)
        _check_par(par, p)
        imputation = _section(mapping, "imputation", IMPUTATION_KEYS, p)
        _check_imputation(imputation, p)
        aliases = _section(mapping, "unit_aliases", None, p)
        if not criteria and overall is None:
            p.append("ratings: at least one factor with one criterion is needed for an index")
        if "unit" not in columns and "unit" not in constants and "province" not in columns \
                and "province" not in constants:
            p.append("no unit: give columns.unit (an in-province unit), columns.province, or "
                     "constants.province")
        if not {"year", "date"} & (set(columns) | set(constants)):
            p.append("no year: give constants.year, columns.year or columns.date")
        if p:
            raise CodebookError(p, source)
        return cls(file=file, constants=constants, columns=columns, scale=scale,
                   satisfied=satisfied, ratings=ratings, overall=overall, values=values,
                   design={k: design.get(k) for k in DESIGN_KEYS}, extra=extra,
                   reverse=tuple(reverse), scales=scales, satisfied_by=satisfied_by,
                   survey_period=period, quality=quality, weighting=weighting, par=par,
                   imputation=imputation, unit_aliases={unit_key(k): v for k, v in aliases.items()},
                   source=source)

    # --- what the codebook says ----------------------------------------------------------------

    @property
    def factors(self) -> dict[str, list[str]]:
        """factor -> criteria, as ``sa.sipas_index(factors=...)`` takes them."""
        return {f: list(crits) for f, crits in self.ratings.items()}

    @property
    def criteria(self) -> list[str]:
        return [c for crits in self.ratings.values() for c in crits]

    def satisfied_levels(self):
        """What ``sa.sipas_index(satisfied=...)`` takes: one tuple when every criterion uses
        the main scale, else criterion -> levels."""
        if not self.satisfied_by:
            return self.satisfied
        return {c: self.satisfied_by.get(c, self.satisfied) for c in self.criteria}

    def index_options(self) -> dict:
        """``factors`` and ``satisfied`` for the index functions."""
        return {"factors": self.factors, "satisfied": self.satisfied_levels()}

    def headers(self) -> dict[str, str]:
        """Every header the codebook reads, keyed by where it is said (``columns.unit``)."""
        said = {f"columns.{k}": v for k, v in self.columns.items()}
        said |= {f"ratings.{f}.{c}": h for f, crits in self.ratings.items()
                 for c, h in crits.items()}
        if self.overall:
            said["overall"] = self.overall
        said |= {f"extra.{k}": v for k, v in self.extra.items()}
        said |= {f"design.{k}": v for k, v in self.design.items() if v}
        return said

    @property
    def unit_column(self) -> str:
        """The column a unit's results are grouped by: ``unit``, or ``province_code``."""
        return "unit" if "unit" in self.columns or "unit" in self.constants else "province_code"

    # --- applying it to a table ----------------------------------------------------------------

    def apply(self, table: pd.DataFrame, *, file_rows=None, value_labels=None,
              source=None) -> pd.DataFrame:
        """The file's table in the contract's vocabulary, or one
        :class:`sipas_analysis.schema.SurveyValidationError` naming every problem.

        ``table``: the file's rows under its own headers; ``file_rows``: each row's number in
        the file (default 2, 3, ... as below a header in row 1); ``value_labels``: column ->
        {code: label} (SPSS, Stata), applied before the codebook's labels.
        """
        rows = np.arange(2, len(table) + 2) if file_rows is None else \
            np.asarray(file_rows, dtype=int)
        # Rows with no value at all (spreadsheets keep formatted empty rows) are no respondents.
        empty = _blank_rows(table)
        if empty.any():
            table, rows = table.loc[~empty], rows[~empty]
        n = len(table)
        problems = schema.RowProblems(rows)
        lookup = {fold(h): h for h in table.columns}
        used: dict[str, str] = {}

        def column(key: str, header: str) -> pd.Series | None:
            actual = lookup.get(fold(header))
            if actual is None:
                close = difflib.get_close_matches(fold(header), list(lookup), n=3, cutoff=0.6)
                hint = (" — close: " + "; ".join(files.short_repr(lookup[c], 80) for c in close)
                        ) if close else ""
                problems.add(key, f"header {files.short_repr(header, 120)} is not in the "
                              f"file{hint}")
                return None
            used[key] = actual
            series = table[actual]
            labels = (value_labels or {}).get(actual)
            if labels:
                named = series.map(labels)
                series = named.where(named.notna(), series)
            return series.reset_index(drop=True)

        out: dict[str, object] = {}
        out["source_row"] = rows
        got = {role: column(f"columns.{role}", header) for role, header in self.columns.items()}

        # identity and time
        if got.get("respondent_id") is not None:
            ids = _text(got["respondent_id"])
            problems.add("columns.respondent_id", "missing respondent id", ids.isna())
            # a repeated id is a data-quality finding (sipas quality lists it), not a reason to
            # refuse the file: each row stays a respondent of its own
            repeated_ids = int((ids.duplicated(keep=False) & ids.notna()).sum())
            out["respondent_id"] = ids
        else:
            repeated_ids = 0
            out["respondent_id"] = pd.Series([str(r) for r in rows], dtype=object)
        dates = None
        if got.get("date") is not None:
            dates = _dates(got["date"], "columns.date", problems)
            out["date"] = dates
        elif "date" in self.constants:
            dates = pd.Series(self.constants["date"], index=range(n))
            out["date"] = dates
        for role in ("start", "end"):
            if got.get(role) is not None:
                out[role] = _dates(got[role], f"columns.{role}", problems)
        if got.get("year") is not None:
            year = pd.to_numeric(got["year"], errors="coerce")
            bad = year.isna() | (year != np.round(year)) | (year < 2017) | (year > 2100)
            problems.add("columns.year", "not a year from 2017", bad, got["year"])
            year = year.where(~bad)
        elif "year" in self.constants:
            year = pd.Series(float(self.constants["year"]), index=range(n))
        else:
            year = dates.dt.year.astype(float) if dates is not None else \
                pd.Series(np.nan, index=range(n))
            problems.add("columns.date", "no date, so no year", year.isna())
        out["year"] = year
        # Rows dated before 1 July 2025 belong to the 63-province set, whatever their year.
        by_year = np.where(year.fillna(0) <= reference.LAST_YEAR_OF_63, "63", "34")
        if dates is not None:
            unit_set = np.where(dates.notna(), np.where(dates < MERGER_DATE, "63", "34"),
                                by_year)
        else:
            unit_set = by_year
        out["unit_set"] = pd.Series(unit_set, dtype=object)

        # where: province, unit, type
        if got.get("province") is not None or "province" in self.constants:
            names = got.get("province")
            if names is None:
                names = pd.Series(self.constants["province"], index=range(n))
            key = "columns.province" if got.get("province") is not None else "constants.province"
            out["province_code"] = _provinces(names, out["unit_set"], key, problems)
        for role in ("unit", "unit_type"):
            if got.get(role) is not None:
                text = _text(self._mapped(role, got[role]))
                if role == "unit":
                    problems.add("columns.unit", "missing unit", text.isna())
                    text = _same_units(text, self.unit_aliases)
                out[role] = text
            elif role in self.constants:
                out[role] = pd.Series(str(self.constants[role]), index=range(n), dtype=object)

        # respondent and service facts
        for role in ("sex", "age_group", "education", "ethnicity", "service_area",
                     "agency_level", "channel"):
            if got.get(role) is not None:
                out[role] = self._category(role, got[role], problems)
        for role in ("used_service", "urban"):
            if got.get(role) is not None:
                out[role] = self._flag(role, got[role], problems).astype("boolean")
        for role in ("on_time", "applied_online", "asked_extra_payment"):
            if got.get(role) is not None:
                out[role] = self._flag(role, got[role], problems)
        for role in ("n_visits", "unit_size"):
            if got.get(role) is not None:
                values = self._mapped(role, got[role])
                number = pd.to_numeric(values, errors="coerce")
                bad = (number.isna() & values.notna()) | (number < 0)
                problems.add(f"columns.{role}", "not a number >= 0", bad, values)
                out[role] = number.where(~bad).astype(float)
        for role in ("interviewer", "staff"):
            if got.get(role) is not None:
                out[role] = _text(self._mapped(role, got[role]))

        # ratings
        no_opinion_columns: dict[str, pd.Series] = {}
        for factor, crits in self.ratings.items():
            for criterion, header in crits.items():
                series = column(f"ratings.{factor}.{criterion}", header)
                if series is not None:
                    silent: list = []
                    out[criterion] = self._rating(criterion, series,
                                                  f"ratings.{factor}.{criterion}", problems,
                                                  no_opinion=silent)
                    if silent and silent[0].any():
                        # "no opinion" is missing for the index, but is never imputed
                        no_opinion_columns[f"{criterion}_no_opinion"] = silent[0]
        if self.overall is not None:
            series = column("overall", self.overall)
            if series is not None:
                out["overall_satisfaction"] = self._rating("overall", series, "overall",
                                                           problems)
        for name, header in self.extra.items():
            series = column(f"extra.{name}", header)
            if series is not None:
                out[name] = self._extra(name, series, problems)
        out.update(no_opinion_columns)

        # design
        weights = self.design.get("weights")
        if weights:
            series = column("design.weights", weights)
            if series is not None:
                w = pd.to_numeric(series, errors="coerce")
                bad = w.isna() | ~np.isfinite(w.fillna(0)) | (w < 0)
                problems.add("design.weights", "weight must be a number >= 0", bad, series)
                out["weight"] = w.astype(float)
        else:
            out["weight"] = pd.Series(1.0, index=range(n))
        for key, target in (("strata", "stratum"), ("psu", "psu")):
            header = self.design.get(key)
            if header:
                series = column(f"design.{key}", header)
                if series is not None:
                    text = _text(series)
                    problems.add(f"design.{key}", f"missing {target}", text.isna())
                    out[target] = text
        if self.design.get("fpc"):
            series = column("design.fpc", self.design["fpc"])
            if series is not None:
                fpc = pd.to_numeric(series, errors="coerce")
                problems.add("design.fpc", "fpc must be a number > 0", fpc.isna() | (fpc <= 0),
                             series)
                out["fpc1"] = fpc.astype(float)
        problems.raise_if_any(n, source)

        survey = pd.DataFrame({k: (v.reset_index(drop=True) if isinstance(v, pd.Series) else v)
                               for k, v in out.items()})
        survey["year"] = survey["year"].astype("int64")
        unit = self.unit_column
        if "stratum" not in survey:
            survey["stratum"] = survey[unit].astype(str)
        if "psu" not in survey:      # each row its own PSU (ids may repeat)
            survey["psu"] = survey["source_row"].astype(str)
        for f, crits in self.ratings.items():
            present = [c for c in crits if c in survey]
            survey[f"{f}_score"] = survey[present].mean(axis=1, skipna=True)
        said = {lang: self.assumptions(lang) for lang in language.LANGS}
        for lang in language.LANGS:
            if repeated_ids:
                said[lang].append(language.text("assumption.repeated_ids", lang,
                                                count=repeated_ids))
            if empty.any():
                said[lang].append(language.text("assumption.empty_rows", lang,
                                                count=int(empty.sum())))
        # the English sentences (what the command line prints), and every language's
        survey.attrs["assumptions"] = said["en"]
        survey.attrs["assumptions_by_lang"] = said
        survey.attrs["codebook"] = self.source
        # how the weights start (weighting.weighting_facts): the file's, or equal without any
        survey.attrs["weights"] = "file" if self.design.get("weights") else "equal"
        return survey

    def assumptions(self, lang: str = "en") -> list[str]:
        """What the outputs must say because the file lacks it (one sentence each, in
        ``lang``)."""
        keys = []
        if not self.design.get("strata") and not self.design.get("psu"):
            keys.append(("assumption.no_design", {}))
        elif not self.design.get("psu"):
            keys.append(("assumption.no_clusters", {}))
        if self.weighting:
            by = self.weighting.get("by")
            keys.append(("assumption.calibrated" if not by else "assumption.calibrated_by", {
                "margins": self.weighting.get("margins"),
                "method": self.weighting.get("method", "rake"), "by": by}))
        elif not self.design.get("weights"):
            keys.append(("assumption.no_weights", {}))
        n_factors = len(self.ratings)
        if n_factors < len(schema.FACTORS):
            keys.append(("assumption.few_factors", {"count": n_factors,
                                                    "factors": ", ".join(self.ratings)}))
        if not [c for c in schema.EXPERIENCE_COLUMNS if c in self.columns]:
            keys.append(("assumption.no_experience", {}))
        if not [c for c in ("sex", "age_group", "education", "ethnicity", "urban")
                if c in self.columns]:
            keys.append(("assumption.no_demographics", {}))
        return [language.text(key, lang, **values) for key, values in keys]

    # --- value conversion ----------------------------------------------------------------------

    def _mapped(self, role: str, series: pd.Series) -> pd.Series:
        labels = self.values.get(role)
        if not labels:
            return series
        mapping = {v: labels[fold(v)] for v in series.dropna().unique() if fold(v) in labels}
        return series.map(lambda v: mapping.get(v, v))

    def _category(self, role, series, problems) -> pd.Series:
        values = self._mapped(role, series)
        allowed = schema.CATEGORIES[role]
        defaults = {fold(k): v for k, v in schema.VIETNAMESE_VALUE_LABELS.get(role, {}).items()}
        by_fold = {fold(a): a for a in allowed} | defaults
        if role == "age_group":
            values = values.map(_age_group)
        text = values.map({v: by_fold.get(fold(v)) for v in values.dropna().unique()})
        bad = text.isna() & values.notna()
        problems.add(f"columns.{role}", f"label not known (map it under values.{role} to one "
                     f"of {', '.join(allowed)})", bad, series)
        return pd.Categorical(text.where(~bad, None), categories=list(allowed))

    def _flag(self, role, series, problems) -> pd.Series:
        values = self._mapped(role, series)
        truth = {"1", "1.0", "true", "yes", "có", "co", "đúng"}
        false = {"0", "0.0", "false", "no", "không", "khong", "sai"}

        def as_flag(v):
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                return np.nan
            key = fold(v)
            return 1.0 if key in truth else 0.0 if key in false else -1.0
        out = values.map({v: as_flag(v) for v in values.dropna().unique()}).astype(float)
        problems.add(f"columns.{role}", f"must be yes/no (Có/Không, 1/0; or map it under "
                     f"values.{role})", out == -1, series)
        return out.where(out >= 0)

    def _extra(self, name, series, problems) -> pd.Series:
        """An extra question: numbers stay numbers; answers that are all labels of the scale
        become the scale's numbers; other text (a desk's name) stays text."""
        number = pd.to_numeric(series, errors="coerce")
        given = series.notna() & ~series.map(lambda v: isinstance(v, str) and not v.strip())
        if number[given].notna().all():
            return number.astype(float)
        scale = self.scales.get(name, self.scale)
        if scale is not None:
            texts = {fold(v) for v in series[given].unique() if isinstance(v, str)}
            if texts and texts <= set(scale.labels):
                return self._rating(name, series, f"extra.{name}", problems)
        return _text(series)

    def _rating(self, criterion, series, key, problems, no_opinion=None) -> pd.Series:
        scale = self.scales.get(criterion, self.scale)
        unknown_code = -1.0    # marks an answer off the scale (unless the scale has -1)

        def number_of(value):
            label = fold(value)
            if not label:                           # a blank cell
                return np.nan
            if label in scale.labels:
                found = scale.labels[label]
                return np.nan if found is None else found
            try:                                    # a file that stores the numbers themselves
                number = float(value)
            except (TypeError, ValueError):
                return unknown_code
            return number if number in scale.levels else unknown_code

        if unknown_code in scale.levels:            # a scale from -1 (rare): the slow path
            unknown_code = -1e300
        numbers = _per_distinct(series, number_of, np.nan).astype(float)
        if no_opinion is not None:   # answers whose label maps to no number ("no opinion")
            silent = {v for v, n in scale.labels.items() if n is None}
            if silent:
                no_opinion.append(pd.Series(_per_distinct(
                    series, lambda v: fold(v) in silent if fold(v) else False, False)
                    .astype(bool)))
        unknown = numbers == unknown_code
        numbers[unknown] = np.nan
        problems.add(key, f"answer not on the scale (levels {_show_levels(scale.levels)}; "
                     f"labels: {', '.join(scale.shown.values())})", unknown, series)
        if criterion in self.reverse:
            numbers = scale.reverse(numbers)
        return pd.Series(numbers, dtype=float)


# --- parsing helpers -----------------------------------------------------------------------------

def _unknown(mapping: dict, allowed, prefix: str, p: list[str]) -> None:
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            p.append(f"unknown key {prefix}{files.printable(str(key))}{hint}; known: "
                     f"{', '.join(allowed)}")


def _section(mapping, key, allowed, p) -> dict:
    value = mapping.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        p.append(f"{key} must be a mapping, got {type(value).__name__}")
        return {}
    if allowed is not None:
        _unknown(value, allowed, f"{key}.", p)
        return {k: v for k, v in value.items() if k in allowed}
    return dict(value)


def _headers(mapping: dict, where: str, p: list[str]) -> None:
    for key, header in mapping.items():
        if not isinstance(header, str) or not header.strip():
            p.append(f"{where}.{key} must be the file's header (text), got "
                     f"{files.short_repr(header)}")


def _check_file(file: dict, p: list[str]) -> None:
    sheet, header = file["sheet"], file["header_row"]
    if isinstance(sheet, bool) or not isinstance(sheet, (int, str)) or \
            (isinstance(sheet, int) and sheet < 0):
        p.append(f"file.sheet must be a sheet name or a 0-based index, got {sheet!r}")
    if header != "auto" and (isinstance(header, bool) or not isinstance(header, int)
                             or header < 1):
        p.append(f"file.header_row must be 'auto' or a row number from 1, got {header!r}")
    for key in ("separator", "encoding"):
        if not isinstance(file[key], str) or not file[key]:
            p.append(f"file.{key} must be 'auto' or a text, got {file[key]!r}")


def _scale(spec, where: str, p: list[str]) -> Scale | None:
    if not isinstance(spec, dict) or not spec:
        p.append(f"{where} must map answer labels to numbers (null: not a rating)")
        return None
    labels, shown = {}, {}
    for label, value in spec.items():
        try:
            number = _number(value)
        except (TypeError, ValueError):
            p.append(f"{where}: {files.short_repr(label)} must map to a number or null, got "
                     f"{files.short_repr(value)}")
            continue
        key = fold(label)
        if key in labels and labels[key] != number:
            p.append(f"{where}: the label {files.short_repr(label)} is given twice")
        labels[key], shown[key] = number, str(label)
    levels = {v for v in labels.values() if v is not None}
    if labels and not MIN_LEVELS <= len(levels) <= MAX_LEVELS:
        p.append(f"{where}: a scale has {MIN_LEVELS}-{MAX_LEVELS} levels, this one "
                 f"{len(levels)}")
    return Scale(labels, shown)


def _levels(levels, scale: Scale, where: str, p: list[str]) -> tuple:
    if not isinstance(levels, (list, tuple)) or not levels:
        p.append(f"{where} must be a non-empty list of scale values")
        return ()
    try:
        numbers = tuple(_number(v) for v in levels)
    except (TypeError, ValueError):
        p.append(f"{where} must list numbers, got {files.short_repr(levels)}")
        return ()
    outside = [v for v in numbers if v not in scale.levels]
    if outside:
        p.append(f"{where}: {_show_levels(outside)} not on the scale "
                 f"{_show_levels(scale.levels)}")
    return tuple(int(v) if float(v).is_integer() else v for v in numbers)


def _ratings(spec, p: list[str]) -> dict:
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        p.append("ratings must map factor -> {criterion: header}")
        return {}
    out, seen = {}, set()
    for factor, crits in spec.items():
        if not _NAME.match(str(factor)) or factor == "overall":
            p.append(f"ratings.{factor}: a factor name must be snake_case and not 'overall'")
        if not isinstance(crits, dict) or not crits:
            p.append(f"ratings.{factor} must map criterion names to the file's headers")
            continue
        _headers(crits, f"ratings.{factor}", p)
        for criterion in crits:
            if not _NAME.match(str(criterion)) or criterion in RESERVED:
                p.append(f"ratings.{factor}.{criterion}: a criterion name must be snake_case "
                         "(a-z, 0-9, _) and not a contract column")
            if criterion in seen:
                p.append(f"ratings.{factor}.{criterion}: the criterion is listed twice")
            seen.add(criterion)
        out[str(factor)] = {str(c): h for c, h in crits.items()}
    return out


def _check_par(par: dict, p: list[str]) -> None:
    if not par:
        return
    maximum = par.get("max")
    if maximum is not None and (isinstance(maximum, bool) or not isinstance(maximum, (int, float))
                                or maximum <= 0):
        p.append(f"par.max must be a number of points > 0, got {files.short_repr(maximum)}")
    rule = par.get("rule", "linear")
    if rule not in PAR_RULES:
        p.append(f"par.rule must be one of {PAR_RULES}, got {files.short_repr(rule)}")
    if rule == "bands" and not isinstance(par.get("bands"), list):
        p.append("par.bands must list the bands ({from: index, points: points}) for rule 'bands'")


def _check_imputation(imputation: dict, p: list[str]) -> None:
    """``imputation: {m: 10, seed: 1, donors: 5, iterations: 5}``: whole numbers; m and seed
    are required (an unseeded imputation could not be reproduced)."""
    if not imputation:
        return
    for key, low in (("m", 2), ("seed", 0), ("donors", 1), ("iterations", 1)):
        if key not in imputation:
            if key in ("m", "seed"):
                p.append(f"imputation.{key} is required (e.g. imputation: {{m: 10, seed: 1}})")
            continue
        value = imputation[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            p.append(f"imputation.{key} must be a whole number >= {low}, got "
                     f"{files.short_repr(value)}")


def _show_levels(levels) -> str:
    return "{" + ", ".join(f"{v:g}" for v in levels) + "}"


# --- table helpers -------------------------------------------------------------------------------

def _blank_rows(table: pd.DataFrame) -> np.ndarray:
    if table.shape[1] == 0:
        return np.zeros(len(table), dtype=bool)
    blank = np.ones(len(table), dtype=bool)
    for position in range(table.shape[1]):
        values = table.iloc[:, position]
        empty = values.isna().to_numpy()
        if values.dtype == object:
            spaces = [v for v in values.dropna().unique() if isinstance(v, str) and not v.strip()]
            if spaces:
                empty |= values.isin(spaces).to_numpy()
        blank &= empty
        if not blank.any():
            break
    return blank


def _per_distinct(series: pd.Series, function, missing) -> np.ndarray:
    """``function`` of every value, computed once per distinct value (a survey column holds a
    handful of labels over thousands of rows); ``missing`` where the value is missing."""
    codes, distinct = pd.factorize(series, use_na_sentinel=True)
    results = np.empty(len(distinct) + 1, dtype=object)
    for position, value in enumerate(distinct):
        results[position] = function(value)
    results[-1] = missing
    return results[codes]


def _text(series: pd.Series) -> pd.Series:
    """Names and codes as NFC text with single spaces; 12.0 -> "12"; blanks are missing."""
    def one(v):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        text = " ".join(unicodedata.normalize("NFC", str(v)).split())
        return text or None
    return pd.Series(_per_distinct(series, one, None), index=series.index, dtype=object)


def _dates(series: pd.Series, key: str, problems: schema.RowProblems) -> pd.Series:
    """Dates as Excel, Kobo and people write them: datetimes, Excel day numbers, ISO text
    (Kobo's 2024-05-01T09:30:00.000+07:00), or day first (01/05/2024, as Vietnam writes)."""
    # a survey has a few hundred distinct days (or times): parse each once
    parsed = {v: _one_date(v) for v in series.dropna().unique()}
    out = pd.to_datetime(series.map(parsed), errors="coerce")
    if out.dt.tz is not None:
        out = out.dt.tz_localize(None)
    bad = out.isna() & series.notna() & ~series.map(lambda v: isinstance(v, str)
                                                    and not v.strip())
    problems.add(key, "not a date (write day/month/year or year-month-day)", bad, series)
    return out


def _one_date(value):
    if isinstance(value, (pd.Timestamp, datetime.datetime, datetime.date)):
        stamp = pd.Timestamp(value)
        return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if 20000 < value < 80000:    # an Excel day number (1954-2119)
            return pd.Timestamp("1899-12-30") + pd.to_timedelta(float(value), unit="D")
        return pd.NaT
    text = str(value).strip()
    try:
        if re.match(r"\d{4}-\d{1,2}-\d{1,2}", text):
            stamp = pd.Timestamp(text)
            return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp
        with warnings.catch_warnings():   # pandas warns when a text is not day first
            warnings.simplefilter("ignore", UserWarning)
            return pd.Timestamp(pd.to_datetime(text, dayfirst=True))
    except (ValueError, TypeError, OverflowError):
        return pd.NaT


def _provinces(names: pd.Series, unit_set: pd.Series, key: str, problems) -> pd.Series:
    codes = pd.Series(None, index=names.index, dtype=object)
    explain = {}
    for (name, us), rows in pd.DataFrame({"n": names, "u": unit_set}).groupby(
            ["n", "u"], dropna=True).groups.items():
        try:
            codes.loc[rows] = reference.normalise_province(name, unit_set=us)
        except reference.UnknownProvinceError as error:
            explain[(name, us)] = str(error).split(". See the accepted names")[0]
    bad = codes.isna()
    problems.add(key, "province not known" + "".join(f"; {e}" for e in explain.values()),
                 bad, names)
    return codes


_AGES = [(18, 29, "18-29"), (30, 44, "30-44"), (45, 59, "45-59"), (60, 200, "60+")]


def _age_group(value):
    """A numeric age becomes its contract group; a label is left for the label map."""
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            return value
        value = int(text)
    if value is None or pd.isna(value):
        return value
    for low, high, group in _AGES:
        if low <= float(value) <= high:
            return group
    return value
