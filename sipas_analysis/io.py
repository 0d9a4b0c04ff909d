"""Reading real files: PAPI and PCI province panels, the published SIPAS figures, and
respondent-level survey files (CSV, Parquet, Excel, SPSS ``.sav``).

The raw files live under ``data/`` (see ``data/README.md``) and are read as they are; set
``SIPAS_DATA_DIR`` to read another copy of that folder. Every loader returns a tidy DataFrame
whose columns its docstring names, keyed by (``unit_set``, ``province_code``, ``year``).
"""
from __future__ import annotations

import unicodedata
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from sipas_analysis import codebook, files, readers, reference, schema
from sipas_analysis.codebook import Codebook

__all__ = [
    "PCI_COLUMNS",
    "SURVEY_FORMATS",
    "load_papi",
    "load_pci",
    "load_published_sipas",
    "load_survey",
]

# --------------------------------------------------------------------------------------------
# PAPI
# --------------------------------------------------------------------------------------------

PAPI_DIMENSIONS = tuple(range(1, 9))


@lru_cache(maxsize=2)
def _papi_sub(folder: str) -> pd.DataFrame:
    papi = Path(folder) / "papi"
    files = sorted((papi / "csv").glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no PAPI files in {papi / 'csv'}")
    code_of = reference.provinces("63").set_index("papi_id")["province_code"]
    frames = []
    for path in files:
        raw = pd.read_csv(path, dtype={"Province": "str"})
        unknown = sorted(set(raw["Province"]) - set(code_of.index))
        if unknown:
            raise ValueError(f"{path.name}: unknown PAPI province ids {unknown}")
        if raw["Province"].duplicated().any():
            raise ValueError(f"{path.name}: duplicated province ids "
                             f"{sorted(raw.loc[raw['Province'].duplicated(), 'Province'])}")
        long = raw.melt(id_vars="Province", var_name="sub_dimension", value_name="score")
        long["year"] = int(path.stem)
        frames.append(long)
    long = pd.concat(frames, ignore_index=True)
    long["province_code"] = long["Province"].map(code_of)
    long["score"] = long["score"].astype("float64")
    # A sub-dimension is part of a year's index if it is published for at least one province.
    published = long.groupby(["year", "sub_dimension"])["score"].transform(lambda s: s.notna().any())
    long = long[published.to_numpy()]

    codebook = papi / "codebook"
    subs = pd.read_csv(codebook / "codebook_subcriteria.csv", dtype="str")
    dims = pd.read_csv(codebook / "codebook_criteria.csv", dtype="str")
    dim_name = dims.set_index("Variable_Code")["Variable_Name"]
    sub_name = subs.set_index("Variable_Code")["Variable_Name"]
    sub_dim = subs.set_index("Variable_Code")["Criteria_Code"]
    unknown = sorted(set(long["sub_dimension"]) - set(sub_name.index))
    if unknown:
        raise ValueError(f"PAPI sub-dimensions missing from the codebook: {unknown}")
    # SCxy belongs to dimension x; the codebook says the same, and we check that it does.
    dimension = long["sub_dimension"].str.slice(2, 3).astype("int64")
    from_codebook = long["sub_dimension"].map(sub_dim).str.slice(1).astype("int64")
    if not (dimension == from_codebook).all():
        raise ValueError("PAPI codebook assigns a sub-dimension SCxy to a dimension other than x")
    out = pd.DataFrame({
        "unit_set": "63",
        "province_code": long["province_code"],
        "year": long["year"].astype("int64"),
        "dimension": dimension,
        "dimension_name": long["sub_dimension"].map(sub_dim).map(dim_name),
        "sub_dimension": long["sub_dimension"],
        "sub_dimension_name": long["sub_dimension"].map(sub_name),
        "score": long["score"],
    })
    return out.sort_values(["year", "province_code", "sub_dimension"]).reset_index(drop=True)


def load_papi(level: str = "dimension") -> pd.DataFrame:
    """PAPI province scores 2011-2024 (63-set), from ``data/papi/csv/*.csv`` as published.

    ``level="dimension"`` (default) returns one row per province-year with columns: unit_set
    ("63"), province_code, year, d1 ... d8, total. A dimension score is the sum of its
    sub-dimensions (SCxy belongs to dimension x) that are published that year, i.e. for at
    least one province. A dimension with any of that year's sub-dimensions missing for the
    province is NaN, never a partial sum; d7 and d8 (environment, e-governance) are NaN before
    2018 because they did not exist. ``total`` is the sum of the dimensions that exist that year
    (6 before 2018, 8 from 2018), NaN if any of them is NaN. A province-year that the source
    leaves blank is kept as a row of NaN so that the gap is visible.

    ``level="sub"`` returns the long table: unit_set, province_code, year, dimension (1-8),
    dimension_name, sub_dimension ("SC51"), sub_dimension_name, score; one row per
    province, year and sub-dimension published that year (score NaN where the province lacks it).

    Examples
    --------
    >>> papi = load_papi()
    >>> hanoi = papi[(papi.province_code == "01") & (papi.year == 2020)]
    >>> hanoi[["year", "d1", "total"]].round(2)  # doctest: +NORMALIZE_WHITESPACE
       year    d1  total
    9  2020  5.06  41.63
    """
    if level not in ("dimension", "sub"):
        raise ValueError(f"level must be 'dimension' or 'sub', got {level!r}")
    sub = _papi_sub(str(reference.data_dir()))
    if level == "sub":
        return sub.copy()
    keys = ["unit_set", "province_code", "year"]
    grouped = sub.groupby(keys + ["dimension"])["score"]
    # sum only where every published sub-dimension is present: count of non-missing == size
    complete = grouped.count() == grouped.size()
    dim = grouped.sum().where(complete).unstack("dimension")
    dim = dim.reindex(columns=list(PAPI_DIMENSIONS))
    dim.columns = [f"d{k}" for k in dim.columns]
    dim = dim.astype("float64")
    exists = sub.groupby(["year", "dimension"]).size().unstack("dimension").notna()
    exists = exists.reindex(columns=list(PAPI_DIMENSIONS), fill_value=False)
    exists.columns = dim.columns
    exists_row = exists.reindex(dim.index.get_level_values("year")).to_numpy()
    values = dim.to_numpy()
    any_missing = (np.isnan(values) & exists_row).any(axis=1)
    total = np.where(any_missing, np.nan, np.nansum(np.where(exists_row, values, 0.0), axis=1))
    dim["total"] = total
    return dim.reset_index()[keys + list(dim.columns)]


# --------------------------------------------------------------------------------------------
# PCI
# --------------------------------------------------------------------------------------------

# Scores kept from the PCI summary sheets, in output order. `pci` is the published (weighted)
# index; the others are as each year's sheet gives them. Definitions and weights of the
# sub-indices were revised (2006, 2009, 2013), so their levels are not comparable across all
# years: pci_implement exists only in 2005; pci_bias is "Ưu đãi đối với DNNN" (SOE bias, higher
# = less bias) in 2005-2008 and "Cạnh tranh bình đẳng" (equal competition) from 2013;
# pci_unweighted is printed only in 2007, 2008 and 2010.
PCI_COLUMNS = ["pci", "pci_unweighted", "pci_entry", "pci_land", "pci_transparency", "pci_time",
               "pci_informal", "pci_implement", "pci_bias", "pci_proactive", "pci_support",
               "pci_labor", "pci_legal"]


@dataclass(frozen=True)
class _PciLayout:
    """Where a year's summary sheet keeps its numbers (0-based rows and columns).

    ``rows`` is the [first, last) range of province rows. ``name_col`` is the province name
    column; None means the sheet is a set of rankings where every score column has its own
    name column just left of it. ``score_header`` must appear in the header cells above the
    `pci` column, so that a changed file fails loudly instead of reading the wrong column.
    """
    sheet: str
    rows: tuple[int, int]
    name_col: int | None
    columns: dict[str, int]
    score_header: str


_SUB_2005_2007 = ("pci_entry", "pci_land", "pci_transparency", "pci_time", "pci_informal")
# Transcribed from inspecting each sheet; it agrees with the origin package's own import table
# (data/pci/PCI/PCI_Import.csv, 1-based), which tests/test_io.py checks.
_PCI_LAYOUTS: dict[int, _PciLayout] = {
    2005: _PciLayout("Bảng tóm tắt chỉ số", (2, 44), 0, {
        "pci_entry": 5, "pci_land": 6, "pci_transparency": 7, "pci_time": 8, "pci_informal": 9,
        "pci_implement": 10, "pci_bias": 11, "pci_proactive": 12, "pci_support": 13, "pci": 14},
        "PCI có trọng số"),
    2006: _PciLayout("PCI Tóm tắt", (2, 66), 1, {
        "pci_entry": 2, "pci_land": 3, "pci_transparency": 4, "pci_time": 5, "pci_informal": 6,
        "pci_bias": 7, "pci_proactive": 8, "pci_support": 9, "pci_labor": 10, "pci_legal": 11,
        "pci": 12}, "đã có trọng số"),
    2007: _PciLayout("Tóm tắt các chỉ số PCI ", (1, 65), 0, {
        "pci_entry": 4, "pci_land": 5, "pci_transparency": 6, "pci_time": 7, "pci_informal": 8,
        "pci_bias": 9, "pci_proactive": 10, "pci_support": 11, "pci_labor": 12, "pci_legal": 13,
        "pci_unweighted": 14, "pci": 15}, "đã có trọng số"),
    2008: _PciLayout("Tổng hợp", (2, 66), None, {
        "pci_entry": 2, "pci_land": 4, "pci_transparency": 6, "pci_time": 8, "pci_informal": 10,
        "pci_bias": 12, "pci_proactive": 14, "pci_support": 16, "pci_labor": 18,
        "pci_legal": 20, "pci_unweighted": 22, "pci": 24}, "Có trọng số"),
    2009: _PciLayout("Tong Hop", (3, 66), 2, {
        "pci_entry": 3, "pci_land": 4, "pci_transparency": 5, "pci_time": 6, "pci_informal": 7,
        "pci_proactive": 8, "pci_support": 9, "pci_labor": 10, "pci_legal": 11, "pci": 12},
        "PCI 2009"),
    2010: _PciLayout("Tong hop", (1, 64), None, {
        "pci_entry": 2, "pci_land": 4, "pci_transparency": 6, "pci_time": 8, "pci_informal": 10,
        "pci_proactive": 12, "pci_support": 14, "pci_labor": 16, "pci_legal": 18,
        "pci_unweighted": 20, "pci": 22}, "PCI 2010"),
    **{year: _PciLayout("Tong hop", (1, 64), None, {
        "pci_entry": 2, "pci_land": 4, "pci_transparency": 6, "pci_time": 8, "pci_informal": 10,
        "pci_proactive": 12, "pci_support": 14, "pci_labor": 16, "pci_legal": 18, "pci": 20},
        f"PCI {year}") for year in (2011, 2012)},
    **{year: _PciLayout("Summary_VN", (1, 64), None, {
        "pci_entry": 2, "pci_land": 4, "pci_transparency": 6, "pci_time": 8, "pci_informal": 10,
        "pci_bias": 12, "pci_proactive": 14, "pci_support": 16, "pci_labor": 18,
        "pci_legal": 20, "pci": 22}, f"PCI {year}") for year in (2013, 2014, 2015, 2016)},
}
# Provinces scored each year: 42 in 2005; 64 while Hà Tây existed (2006-2008); 63 after.
PCI_PROVINCES_PER_YEAR = {2005: 42, 2006: 64, 2007: 64, 2008: 64,
                          **{year: 63 for year in range(2009, 2017)}}


def _read_sheet(path: Path, sheet: str) -> pd.DataFrame:
    """A whole sheet as cells (header=None). ``.xls`` is read with xlrd directly."""
    if path.suffix.lower() == ".xls":
        import xlrd

        book = xlrd.open_workbook(str(path), on_demand=True)
        try:
            cells = book.sheet_by_name(sheet)
            rows = [cells.row_values(i) for i in range(cells.nrows)]
        finally:
            book.release_resources()
        return pd.DataFrame(rows, dtype=object).replace("", np.nan)
    with warnings.catch_warnings():
        # openpyxl warns about Excel extensions it skips (conditional formats); cells are read.
        warnings.filterwarnings("ignore", message="Unknown extension", category=UserWarning)
        return pd.read_excel(path, sheet_name=sheet, header=None, engine="openpyxl")


def _nfc(value) -> str:
    return unicodedata.normalize("NFC", str(value))


def _pci_year(path: Path, year: int, layout: _PciLayout) -> pd.DataFrame:
    cells = _read_sheet(path, layout.sheet)
    first, last = layout.rows
    score_col = layout.columns["pci"]
    header = " ".join(_nfc(v) for v in cells.iloc[:first, score_col].dropna())
    if _nfc(layout.score_header).casefold() not in header.casefold():
        raise ValueError(f"{path.name}, sheet {layout.sheet!r}: expected the PCI score column "
                         f"{score_col} under a header containing {layout.score_header!r}, found "
                         f"{header!r}; the file's layout differs from the one this loader knows")
    block = cells.iloc[first:last]
    by_measure = {}
    names = None
    for measure, col in layout.columns.items():
        name_col = layout.name_col if layout.name_col is not None else col - 1
        pairs = pd.DataFrame({"name": block.iloc[:, name_col], "value": block.iloc[:, col]})
        pairs = pairs[pairs["name"].notna()]
        pairs["name"] = pairs["name"].astype("str").str.strip()
        pairs["code"] = reference.normalise_provinces(pairs["name"], unit_set="63",
                                                      historical=True)
        if pairs["code"].duplicated().any():
            raise ValueError(f"{path.name}: province listed twice in column {col}: "
                             f"{sorted(pairs.loc[pairs['code'].duplicated(), 'name'])}")
        by_measure[measure] = pairs.set_index("code")["value"]
        if measure == "pci":
            names = pairs.set_index("code")["name"]
    codes = set(names.index)
    for measure, values in by_measure.items():
        if set(values.index) != codes:
            raise ValueError(f"{path.name}: column {measure} lists other provinces than the PCI "
                             f"column: {sorted(set(values.index) ^ codes)}")
    out = pd.DataFrame({m: pd.to_numeric(v, errors="raise").astype("float64")
                        for m, v in by_measure.items()})
    out.index.name = "province_code"
    out = out.reset_index()
    out.insert(1, "province_name", out["province_code"].map(names))
    out.insert(2, "year", year)
    return out


@lru_cache(maxsize=2)
def _pci(folder: str) -> pd.DataFrame:
    pci_dir = Path(folder) / "pci" / "PCI"
    frames = []
    for year, layout in _PCI_LAYOUTS.items():
        matches = sorted(pci_dir.glob(f"PCI_{year}.xls*"))
        if len(matches) != 1:
            raise FileNotFoundError(f"expected one PCI_{year}.xls(x) in {pci_dir}, found "
                                    f"{[p.name for p in matches]}")
        frames.append(_pci_year(matches[0], year, layout))
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "unit_set", "63")
    out["year"] = out["year"].astype("int64")
    for column in PCI_COLUMNS:
        if column not in out.columns:
            out[column] = np.nan
    counts = out.groupby("year").size()
    wrong = {y: int(counts.get(y, 0)) for y, n in PCI_PROVINCES_PER_YEAR.items()
             if counts.get(y, 0) != n}
    if wrong:
        raise ValueError(f"PCI sheets gave unexpected numbers of provinces per year: {wrong} "
                         f"(expected {PCI_PROVINCES_PER_YEAR})")
    columns = ["unit_set", "province_code", "province_name", "year"] + PCI_COLUMNS
    return out[columns].sort_values(["year", "province_code"]).reset_index(drop=True)


def load_pci() -> pd.DataFrame:
    """VCCI Provincial Competitiveness Index 2005-2016, rebuilt from the published score sheets
    (``data/pci/PCI/PCI_<year>.xls(x)``, summary sheet of each year).

    Returns one row per province-year with columns: unit_set ("63"), province_code,
    province_name (as the sheet spells it), year, pci (the published, weighted index, 0-100),
    then the sub-indices as each year's sheet prints them: pci_unweighted, pci_entry, pci_land,
    pci_transparency, pci_time, pci_informal, pci_implement, pci_bias, pci_proactive,
    pci_support, pci_labor, pci_legal (NaN where the year has none; see PCI_COLUMNS for
    which are comparable). 2005 covers 42 provinces, 2006-2008 64, 2009-2016 63.

    Hà Tây (merged into Hà Nội in 2008, scored until 2008) is kept as its own historical unit,
    province_code "28" (reference.HISTORICAL_UNITS), never folded into Hà Nội; it is the one
    code here that is not in reference.provinces("63").

    Examples
    --------
    >>> pci = load_pci()
    >>> pci.groupby("year").size().loc[[2005, 2006, 2016]].to_dict()
    {2005: 42, 2006: 64, 2016: 63}
    >>> pci.loc[(pci.province_code == "01") & (pci.year == 2016), "pci"].round(2).item()
    60.74
    """
    return _pci(str(reference.data_dir())).copy()


# --------------------------------------------------------------------------------------------
# Published SIPAS figures
# --------------------------------------------------------------------------------------------

def load_published_sipas() -> pd.DataFrame:
    """Published SIPAS figures 2017-2024 with their sources, every row of
    ``data/sipas_published/sipas_published_figures.csv``.

    Returns columns: scope ("national" | "province"), unit_set ("63" for province rows, NA for
    national), province_code (GSO 2-digit str, NA for national), province, year, sipas_pct,
    rank_of_63 (Int64), value_type, note, source_url.

    Only rows whose value_type starts with "reported" ("reported", "reported_rounded",
    "reported_order", "reported_ambiguous") are published SIPAS values. "derived" rows are
    computed from a published value and a published change (say so wherever shown),
    "provincial_survey" is a province's own survey and "agency_component" a department's score:
    neither is the national SIPAS of a province.

    Examples
    --------
    >>> published = load_published_sipas()
    >>> national = published[published.scope == "national"]
    >>> national.set_index("year")["sipas_pct"].loc[2022:2024].to_dict()
    {2022: 80.08, 2023: 82.66, 2024: 83.94}
    """
    path = reference.data_dir() / "sipas_published" / "sipas_published_figures.csv"
    raw = pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""])
    is_province = raw["scope"].eq("province")
    year = raw["year"].astype("int64")
    unit_set = year.map(reference.default_unit_set).where(is_province)
    return pd.DataFrame({
        "scope": raw["scope"],
        "unit_set": unit_set.astype("str"),
        "province_code": raw["gso_code"].str.zfill(2).where(is_province).astype("str"),
        "province": raw["province"],
        "year": year,
        "sipas_pct": pd.to_numeric(raw["sipas_pct"]).astype("float64"),
        "rank_of_63": pd.to_numeric(raw["rank_of_63"]).astype("Int64"),
        "value_type": raw["value_type"],
        "note": raw["note"],
        "source_url": raw["source_url"],
    })


# --------------------------------------------------------------------------------------------
# Respondent-level survey files
# --------------------------------------------------------------------------------------------

SURVEY_FORMATS = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet", ".xlsx": "Excel",
                  ".xlsm": "Excel", ".xls": "Excel", ".ods": "Excel", ".sav": "SPSS",
                  ".dta": "Stata"}
# Codes are identifiers, not numbers: read them as text so that "01" keeps its zero.
_TEXT_COLUMNS = schema.CODE_COLUMNS + ["unit_set"]
# SPSS columns whose value labels carry the contract's meaning; the others (ratings 1-5, 0/1
# facts, counts) keep their numeric codes.
_LABELLED_COLUMNS = set(schema.CATEGORIES) | set(schema.VIETNAMESE_VALUE_LABELS) | {
    "province_code"}


def _read_sav(path: Path) -> pd.DataFrame:
    import pyreadstat

    df, meta = pyreadstat.read_sav(str(path), apply_value_formats=False)
    df.columns = _unique_labels(list(df.columns))
    # SPSS has no missing value for strings: a skipped answer is stored as blanks
    for column in df.columns:
        if df[column].dtype == object or pd.api.types.is_string_dtype(df[column]):
            blank = df[column].map(lambda v: isinstance(v, str) and not v.strip())
            df[column] = df[column].mask(blank)
    for column, labels in meta.variable_value_labels.items():
        if column in _LABELLED_COLUMNS and column in df.columns:
            codes = df[column]
            named = codes.map(labels)
            # a code without a label stays as it is, for validation to report
            df[column] = named.where(named.notna(), codes)
    return df


class _Unreadable(Exception):
    """The file cannot be read; the message says why (turned into one validation error)."""


def _file_problem(rule: str) -> dict:
    return dict(column="(file)", rule=rule, n_rows=0, rows=[], values=[])


def _header_key(name) -> str:
    """A header as the contract compares it: NFC, stripped, case-folded; blank is ""."""
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return ""
    return unicodedata.normalize("NFC", str(name)).strip().casefold()


_CONTRACT_KEYS = {_header_key(c): c for c in
                  list(schema.REQUIRED_COLUMNS) + schema.OPTIONAL_DESIGN_COLUMNS
                  + schema.SCORE_COLUMNS + ["synthetic", "unit_set"]}


def _header_problems(path: Path, names: list) -> list[dict]:
    """Problems of a file's header row (its names as the file holds them, before pandas makes
    them unique): a header of the data contract that appears more than once, in any Unicode
    form, case or surrounding whitespace. Other repeated headers (blank ones, columns the
    contract does not use) are ignored, with a warning naming them."""
    groups: dict[str, list[tuple[int, object]]] = {}
    for position, name in enumerate(names, start=1):
        groups.setdefault(_header_key(name), []).append((position, name))
    problems, ignored = [], []
    for key, group in groups.items():
        if len(group) < 2:
            continue
        where = ", ".join(f"{position} ({files.short_repr(name if key else '', 40)})"
                          for position, name in group)
        if key in _CONTRACT_KEYS:
            problems.append(dict(
                column=_CONTRACT_KEYS[key],
                rule=f"header appears {len(group)} times, at columns {where} (numbered from 1): "
                     "a reader would keep one and silently drop or rename the others; keep "
                     "one column of that name", n_rows=0, rows=[], values=[]))
        else:
            ignored.append(where)
    if ignored:
        warnings.warn(f"{path}: repeated headers outside the data contract, ignored: "
                      + "; ".join(ignored), UserWarning, stacklevel=3)
    return problems


def _unique_labels(names: list) -> list:
    """Column labels made unique the way pandas' CSV reader does it (``x``, ``x.1``, ...)."""
    return readers.unique_labels(names)


def _check_workbook(path: Path) -> None:
    """readers.check_workbook (zip, size and XML-entity guards) as an _Unreadable error."""
    try:
        readers.check_workbook(path)
    except readers.UnreadableFile as error:
        raise _Unreadable(error.reason) from None


def _excel_header(path: Path, sheet) -> tuple[list, object]:
    """The first row of the sheet as the workbook holds it, and the sheet pandas should read."""
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheets = book.sheetnames
        if sheet is None:
            sheet = 0
        if isinstance(sheet, int):
            if not 0 <= sheet < len(sheets):
                raise _Unreadable(f"has no sheet number {sheet} (0-based); its sheets: {sheets}")
            name = sheets[sheet]
        elif sheet in sheets:
            name = sheet
        else:
            raise _Unreadable(f"has no sheet {files.short_repr(sheet)}; its sheets: {sheets}")
        first = next(book[name].iter_rows(max_row=1, values_only=True), ())
        return list(first), name
    finally:
        book.close()


def _check_path(path: Path) -> None:
    """The guards every reader shares (readers.check_path) as an _Unreadable error."""
    try:
        readers.check_path(path, SURVEY_FORMATS)
    except readers.UnreadableFile as error:
        raise _Unreadable(error.reason) from None


def _read_survey_file(path: Path, sheet) -> tuple[pd.DataFrame, list[dict]]:
    """The file's table and the problems of its header row; raises _Unreadable."""
    suffix = path.suffix.lower()
    if path.is_dir() or suffix not in SURVEY_FORMATS:
        _check_path(path)
    if sheet is not None and SURVEY_FORMATS[suffix] != "Excel":
        raise ValueError(f"sheet= applies to Excel files only, not to {path.name}")
    _check_path(path)
    if suffix == ".csv":
        import csv

        import io as _stdio

        # UTF-8 (with or without BOM), UTF-16 (as Excel's "Unicode text" saves) or
        # Windows-1258, found as the readers find it; binary noise is refused there.
        try:
            content, used, _ = readers.decode_text(path, path.read_bytes(), "auto")
        except readers.UnreadableFile as error:
            raise _Unreadable(error.reason) from None
        # The header as written: pandas would rename a repeated one before we saw it.
        names = next(csv.reader(_stdio.StringIO(content[:1 << 20], newline="")), [])
        if not any(_header_key(n) for n in names):
            raise _Unreadable("has no header row (its first line is blank)")
        text = {c: "str" for c in _TEXT_COLUMNS if c in names}
        if used in ("utf-8", "utf-8-sig"):
            # the usual case: pandas reads the file itself, without a second copy in memory
            del content
            df = pd.read_csv(path, dtype=text, encoding="utf-8-sig")
        else:
            df = pd.read_csv(_stdio.StringIO(content, newline=""), dtype=text)
    elif suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        table = pq.ParquetFile(path).read()
        names = list(table.column_names)
        if len(set(names)) < len(names):   # pandas cannot read a table with repeated names
            table = table.rename_columns([str(n) for n in _unique_labels(names)])
        df = table.to_pandas()
    elif suffix in (".xls", ".ods", ".dta"):
        # legacy Excel, OpenDocument and Stata through the readers (header in row 1, as the
        # contract's files have it)
        try:
            raw = readers.read_raw(path, sheet=0 if sheet is None else sheet, header_row=1)
        except readers.UnreadableFile as error:
            raise _Unreadable(error.reason) from None
        df = raw.frame
        names = list(df.columns)
        for key, positions in raw.repeated_headers.items():
            for position in positions:       # the header as written, before it was made unique
                names[position - 1] = key
        if suffix == ".dta":
            for column, labels in raw.value_labels.items():
                if column in _LABELLED_COLUMNS and column in df.columns:
                    named = df[column].map(labels)
                    df[column] = named.where(named.notna(), df[column])
    elif suffix in (".xlsx", ".xlsm"):
        _check_workbook(path)
        names, sheet = _excel_header(path, sheet)
        # Cells typed as text keep their zeros; cells typed as numbers lost them in the file.
        text = {c: "str" for c in _TEXT_COLUMNS}
        df = pd.read_excel(path, sheet_name=sheet, dtype=text, engine="openpyxl")
    else:
        import pyreadstat

        _, meta = pyreadstat.read_sav(str(path), metadataonly=True)
        names = list(meta.column_names)
        df = _read_sav(path)
    return df, _header_problems(path, names)


def _code_text(series: pd.Series) -> pd.Series:
    """Codes as text: 1 and 1.0 (numbers from spreadsheets and SPSS) become "1"; NA stays NA."""
    if pd.api.types.is_bool_dtype(series):
        return series
    if pd.api.types.is_numeric_dtype(series):
        whole = series.dropna()
        if (whole == np.round(whole)).all():
            return series.astype("Int64").astype("str").where(series.notna())
        return series.astype("str").where(series.notna())
    text = series.astype("str").str.strip()
    # "1.0" from a column that mixes numbers and text
    ends = text.str.endswith(".0").fillna(False).astype(bool)
    if ends.any():
        head = text[ends].str.slice(0, -2)
        whole = head[head.str.isdigit().fillna(False).astype(bool)]
        text.loc[whole.index] = whole
    return text.where(series.notna())


def _map_labels(series: pd.Series, labels: dict[str, str]) -> pd.Series:
    """Vietnamese answer labels -> contract values, whatever the Unicode form and case."""
    def fold(text: str) -> str:
        return unicodedata.normalize("NFC", text).strip().casefold()

    by_key = {fold(k): v for k, v in labels.items()}
    # Resolve each distinct value once: a million rows hold a handful of labels.
    mapping = {v: by_key[fold(v)] for v in series.dropna().unique()
               if isinstance(v, str) and fold(v) in by_key}
    return series.replace(mapping) if mapping else series


def _province_codes(df: pd.DataFrame) -> pd.Series:
    """province_code normalised per unit set (names or unpadded codes -> GSO 2-digit strings)."""
    codes = df["province_code"]
    if "unit_set" in df.columns:
        unit_set = df["unit_set"]
    elif "year" in df.columns:
        years = pd.to_numeric(df["year"], errors="coerce")
        unit_set = pd.Series(np.where(years > reference.LAST_YEAR_OF_63, "34", "63"),
                             index=df.index).where(years.notna())
    else:
        unit_set = pd.Series("63", index=df.index)
    out = codes.astype("object").copy()
    for value in reference.UNIT_SETS:
        rows = unit_set.eq(value).fillna(False).to_numpy() & codes.notna().to_numpy()
        if rows.any():
            out[rows] = _known_codes(codes[rows], value).to_numpy()
    # Rows with a missing or unknown unit_set are left for validation to report.
    return out.astype("str").where(codes.notna())


def _known_codes(codes: pd.Series, unit_set: str) -> pd.Series:
    """GSO codes of the values that name a unit of ``unit_set``; any other value is kept as it
    is, so that validation reports it (its rows, close matches) with every other problem
    instead of stopping at it."""
    mapping = {}
    for value in pd.unique(codes):   # a million rows hold a few dozen distinct values
        try:
            mapping[value] = reference.normalise_province(value, unit_set=unit_set)
        except reference.UnknownProvinceError:
            mapping[value] = value
    return codes.map(mapping)


def _load_with_codebook(path: Path, book, sheet) -> pd.DataFrame:
    """The file read as the codebook's ``file:`` options say, then mapped by the codebook."""
    options = book.file
    try:
        raw = readers.read_raw(path, sheet=options["sheet"] if sheet is None else sheet,
                               header_row=options["header_row"],
                               separator=options["separator"], encoding=options["encoding"])
    except readers.UnreadableFile as error:
        reason = str(error)
        if reason.startswith(str(path)):
            reason = reason[len(str(path)):].lstrip(" :")
        raise schema.SurveyValidationError(pd.DataFrame([_file_problem(reason)]), 0,
                                           source=str(path)) from None
    problems = []
    repeated = {codebook.fold(k): v for k, v in (raw.repeated_headers or {}).items()}
    for key, header in book.headers().items():
        positions = repeated.get(codebook.fold(header))
        if positions:
            problems.append(dict(
                column=key, rule=f"header {files.short_repr(header, 80)} appears "
                f"{len(positions)} times, at columns {positions} (numbered from 1): keep one",
                n_rows=0, rows=[], values=[]))
    if len(raw.frame) == 0:
        problems.append(_file_problem("has a header but no data rows"))
    if problems:
        raise schema.SurveyValidationError(pd.DataFrame(problems), len(raw.frame),
                                           source=str(path))
    survey = book.apply(raw.frame, file_rows=raw.file_rows, value_labels=raw.value_labels,
                        source=str(path))
    survey.attrs["read"] = list(raw.notes)
    return survey


def load_survey(path, *, sheet=None, validate: bool = True, codebook=None) -> pd.DataFrame:
    """Read a respondent-level survey file into the data contract (docs/architecture.md,
    "The data contract").

    Reads CSV, Parquet, Excel (.xlsx, .xlsm; ``sheet`` = name or 0-based index, default the
    first) and SPSS .sav (value labels applied to the categorical columns and province_code;
    ratings, 0/1 facts and counts keep their numeric codes). Then:
    codes (respondent_id, province_code, district_code, stratum, psu, ssu, unit_set) become
    strings with their leading zeros; Vietnamese answer labels become the contract's values
    (schema.VIETNAMESE_VALUE_LABELS, in any Unicode form or case); province names or unpadded
    codes in province_code become GSO codes of the row's unit_set (from the year when there is
    no unit_set column); a value that names no unit is kept as it is, for validation to report
    with its rows and close matches. With ``validate=True`` (default) the result is
    ``schema.validate_survey(df)``, which raises schema.SurveyValidationError naming every
    problem; with ``validate=False`` the frame is returned after these conversions only.

    Returns the contract's columns (and any others the file has), one row per respondent.

    With ``codebook`` (a :class:`sipas_analysis.codebook.Codebook`, or the path of its YAML
    file) the file is the province's own survey: it is read as the codebook's ``file:``
    options say (sheet, header row below title rows, separator, encoding; also .xls, .ods,
    .dta and legacy Vietnamese encodings) and mapped to the minimal contract by
    :meth:`Codebook.apply`; every problem (a header the file lacks, a label the scale does not
    know, a province that does not resolve, a date that does not parse) is raised at once with
    the file's row numbers. ``validate`` does not apply (the codebook validates).

    Examples
    --------
    A file whose province codes lost their leading zero (as a spreadsheet saves them):

    >>> import pathlib, tempfile
    >>> from sipas_analysis.simulate import simulate_survey
    >>> sample, _ = simulate_survey(n=300, seed=1, years=[2024])
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(folder.name) / "survey.csv"
    >>> sample.assign(province_code=sample["province_code"].astype(int)).to_csv(path, index=False)
    >>> survey = load_survey(path)
    >>> survey.shape, survey["province_code"].iloc[0], str(survey["channel"].dtype)
    ((300, 52), '01', 'category')
    >>> folder.cleanup()
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such survey file: {path}")
    if codebook is not None:
        book = codebook if isinstance(codebook, Codebook) else Codebook.from_yaml(codebook)
        return _load_with_codebook(path, book, sheet)
    kind = SURVEY_FORMATS.get(path.suffix.lower(), "survey")
    try:
        df, problems = _read_survey_file(path, sheet)
    except _Unreadable as error:
        raise schema.SurveyValidationError(pd.DataFrame([_file_problem(str(error))]), 0,
                                           source=str(path)) from None
    except UnicodeDecodeError:
        raise schema.SurveyValidationError(pd.DataFrame([_file_problem(
            f"cannot be read as {kind} data: it is not UTF-8 text")]), 0,
            source=str(path)) from None
    except (ValueError, MemoryError) as error:
        if isinstance(error, schema.SurveyValidationError) or str(error).startswith("sheet="):
            raise
        raise _unreadable(path, kind, error) from None
    except Exception as error:   # whatever pandas, pyarrow, openpyxl or pyreadstat raise
        raise _unreadable(path, kind, error) from None
    if len(df) == 0:
        problems.append(_file_problem("has a header but no data rows: a survey file needs at "
                                      "least one respondent"))
    for column in _TEXT_COLUMNS:
        if column in df.columns:
            df[column] = _code_text(df[column])
    for column, labels in schema.VIETNAMESE_VALUE_LABELS.items():
        if column in df.columns and not pd.api.types.is_numeric_dtype(df[column]):
            df[column] = _map_labels(df[column], labels)
    if "province_code" in df.columns:
        df["province_code"] = _province_codes(df)
    if not validate:
        if problems:
            raise schema.SurveyValidationError(pd.DataFrame(problems), len(df), source=str(path))
        return df
    try:
        out = schema.validate_survey(df)
    except schema.SurveyValidationError as error:
        rows = problems + error.problems.to_dict("records")
        raise schema.SurveyValidationError(pd.DataFrame(rows), len(df), source=str(path)) \
            from None
    if len(out) and out["weight"].eq(0).all():
        problems.append(dict(column="weight", rule="every weight is 0: nothing would be "
                             "estimated", n_rows=0, rows=[], values=[]))
    if problems:
        raise schema.SurveyValidationError(pd.DataFrame(problems), len(df), source=str(path))
    return out


def _unreadable(path: Path, kind: str, error: BaseException) -> "schema.SurveyValidationError":
    reason = files.printable((str(error).splitlines() or [""])[0])
    reason = reason if len(reason) <= 160 else reason[:157] + "..."
    rule = (f"cannot be read as {kind} data "
            f"({type(error).__name__}{': ' + reason if reason else ''})")
    return schema.SurveyValidationError(pd.DataFrame([_file_problem(rule)]), 0,
                                        source=str(path))
