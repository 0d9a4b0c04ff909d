"""Province reference tables: the 63 units before 1 July 2025, the 34 after, regions, the 2025
crosswalk, and province-name normalisation.

A unit is a pair (``unit_set``, ``province_code``): ``unit_set`` is ``"63"`` for the provinces
before 1 July 2025 and ``"34"`` for the units after; ``province_code`` is the GSO 2-digit string.
The two sets reuse codes for different territory ("08" is Tuyên Quang in both, but the 34-set
Tuyên Quang also holds the former Hà Giang), so a code alone is never a key.

The tables are read from ``data/reference/`` (see ``data/README.md``; :mod:`.resources` finds
the folder in a checkout or an installed package); set the environment variable
``SIPAS_DATA_DIR`` to read another copy of the ``data/`` folder.
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import pandas as pd

from .resources import DATA_DIR_ENV, data_dir

__all__ = [
    "DATA_DIR_ENV",
    "HISTORICAL_UNITS",
    "UNIT_SETS",
    "UnknownProvinceError",
    "crosswalk_2025",
    "data_dir",
    "default_unit_set",
    "name_key",
    "normalise_code",
    "normalise_province",
    "normalise_provinces",
    "provinces",
    "regions",
    "to_2025_units",
]

UNIT_SETS = ("63", "34")
LAST_YEAR_OF_63 = 2024  # the merger took effect on 1 July 2025; surveys of 2025+ use the 34-set

# Units that no longer exist in either set but appear in older real data. Hà Tây was merged into
# Hà Nội on 1 August 2008; PCI 2005-2008 scores it separately, so it keeps its own former GSO code
# ("28") and is never folded into Hà Nội. Only accepted where a caller asks for historical units.
HISTORICAL_UNITS = pd.DataFrame(
    {
        "province_code": ["28"],
        "name_vi": ["Hà Tây"],
        "name_official": ["Tỉnh Hà Tây"],
        "name_ascii": ["Ha Tay"],
        "region_id": pd.array([2], dtype="Int64"),
        "merged_into_code_63": ["01"],
        "merged_on": ["2008-08-01"],
        "used_by": ["PCI 2005-2008"],
    }
)

# Spellings found in real files that the folded official names do not cover, as folded keys
# (see `name_key`) mapped to the folded key of the unit's name.
_ALIASES = {
    "hcm": "hochiminh",        # "TP HCM", "TP.HCM", "Tp.HCM" (prefix "tp" is stripped first)
    "hcmc": "hochiminh",       # "HCMC"
    "brvt": "bariavungtau",    # "BRVT"
    "tthue": "thuathienhue",   # "TT-Huế", "TT.Huế", "TT- Huế" (PCI sheets)
    "daclak": "daklak",        # "Đắc Lắk" (PCI 2006)
    "daklac": "daklak",
    "daclac": "daklak",
    "dacnong": "daknong",
    "baccan": "backan",        # "Bắc Cạn" (PCI 2008-2016), older spelling of Bắc Kạn
}
# Folded prefixes and suffixes of administrative type, stripped before lookup. No province name
# itself starts with these letters, so stripping cannot turn one province into another.
_PREFIXES = ("thanhpho", "tinh", "tp")
_SUFFIXES = ("city", "province")


class UnknownProvinceError(ValueError):
    """A province name or code that is not a unit of the requested unit set."""


def default_unit_set(year: int) -> str:
    """The unit set a year means by default: ``"63"`` up to 2024, ``"34"`` from 2025
    (docs/architecture.md).

    Examples
    --------
    >>> default_unit_set(2024), default_unit_set(2025)
    ('63', '34')
    """
    return "63" if int(year) <= LAST_YEAR_OF_63 else "34"


# --- name folding ------------------------------------------------------------------------------

def name_fold(text: str) -> str:
    """The text with diacritics removed and "đ" -> "d" (case, spaces and punctuation kept).

    Examples
    --------
    >>> name_fold("Đắk Lắk")
    'Dak Lak'
    """
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFC", text))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return stripped.replace("đ", "d").replace("Đ", "D")


_fold = name_fold


def name_key(text: str) -> str:
    """The matching key of a province name: folded, letters and digits only, type prefix removed.

    "TP. Hồ Chí Minh", "Thành phố Hồ Chí Minh" and "Ho Chi Minh City" all give "hochiminh";
    "Hòa Bình" and "Hoà Bình" (old and new tone placement) both give "hoabinh".

    Examples
    --------
    >>> name_key("TP. Hồ Chí Minh"), name_key("Hoà Bình")
    ('hochiminh', 'hoabinh')
    """
    key = re.sub(r"[^a-z0-9]", "", _fold(str(text)).lower())
    for prefix in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            key = key[len(prefix):]
            break
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key[: -len(suffix)]
            break
    return _ALIASES.get(key, key)


def _ascii_name(text: str) -> str:
    return _fold(text)


def _short_name(official: str) -> str:
    for prefix in ("Thành phố ", "Tỉnh "):
        if official.startswith(prefix):
            return official[len(prefix):]
    return official


# --- the tables --------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def _tables(folder: str) -> dict[str, pd.DataFrame]:
    ref = Path(folder) / "reference"
    raw63 = pd.read_csv(ref / "provinces_63_gso_regions_2025merger.csv", dtype=str,
                        keep_default_na=False)
    raw34 = pd.read_csv(ref / "34_provinces_2025_915_CTK-CSCL.csv", dtype=str,
                        keep_default_na=False)

    p63 = pd.DataFrame({
        "unit_set": "63",
        "province_code": raw63["gso_code"],
        "name_vi": raw63["name_vi"],
        "name_official": raw63["name_official_20250301"],
        "name_ascii": raw63["name_ascii"],
        "region_id": raw63["region_id"].astype("Int64"),
        "region_vi": raw63["region_vi"],
        "region_en": raw63["region_en"],
        "papi_id": raw63["hnks_code"],
        "province_code_34": raw63["code_2025"],
    })

    official34 = raw34["Tên 34 tỉnh sau sáp nhập"]
    # The 915/CTK-CSCL list writes provinces without "Tỉnh"; the official name carries it.
    official34 = official34.where(official34.str.startswith("Thành phố"), "Tỉnh " + official34)
    p34 = pd.DataFrame({
        "unit_set": "34",
        "province_code": raw34["Mã số"],
        "name_vi": official34.map(_short_name),
        "name_official": official34,
        "name_ascii": official34.map(_short_name).map(_ascii_name),
    })
    # A 34-set unit gets a region only where all its former provinces share one.
    region_of = (p63.groupby("province_code_34")
                 .agg(n_regions=("region_id", "nunique"), region_id=("region_id", "first"),
                      region_vi=("region_vi", "first"), region_en=("region_en", "first")))
    one_region = region_of[region_of["n_regions"] == 1].drop(columns="n_regions")
    p34 = p34.merge(one_region, left_on="province_code", right_index=True, how="left")
    p34["region_id"] = p34["region_id"].astype("Int64")

    unknown_targets = set(p63["province_code_34"]) - set(p34["province_code"])
    if unknown_targets:
        raise ValueError(f"the 63-set table maps to 34-set codes that the 34-set table lacks: "
                         f"{sorted(unknown_targets)}")
    merged = raw63.set_index("gso_code")["merged_2025"].eq("yes")
    return {"63": p63, "34": p34.reset_index(drop=True), "merged": merged}


def _check_unit_set(unit_set: str) -> str:
    unit_set = str(unit_set)
    if unit_set not in UNIT_SETS:
        raise ValueError(f"unit_set must be one of {UNIT_SETS}, got {unit_set!r}")
    return unit_set


def provinces(unit_set: str = "63") -> pd.DataFrame:
    """The provinces of a unit set, one row per unit, in GSO code order.

    Returns columns: unit_set, province_code (GSO 2-digit str), name_vi (short name with
    diacritics, "Hà Nội"), name_official ("Thành phố Hà Nội"), name_ascii ("Ha Noi"), region_id,
    region_vi, region_en; for the 63-set also papi_id ("P01") and province_code_34 (the unit it
    became on 1 July 2025). For the 34-set the region columns are filled only where all of the
    unit's former provinces lie in one region, and are NA otherwise (e.g. Phú Thọ, which joined
    Vĩnh Phúc of the Red River Delta with two provinces of the northern mountains).
    The 34-set's name_official adds "Tỉnh " where the GSO list (letter 915/CTK-CSCL) prints a
    province's bare name; its name_ascii is name_vi without diacritics.
    Historical units (Hà Tây) are not listed here: see HISTORICAL_UNITS.

    Examples
    --------
    >>> table = provinces("63")
    >>> len(table), len(provinces("34"))
    (63, 34)
    >>> table.loc[table.province_code.isin(["01", "79"]),
    ...           ["province_code", "name_vi", "region_en", "province_code_34"]]
    ... # doctest: +NORMALIZE_WHITESPACE
       province_code      name_vi        region_en province_code_34
    0             01       Hà Nội  Red River Delta               01
    49            79  Hồ Chí Minh       South East               79
    """
    return _tables(str(data_dir()))[_check_unit_set(unit_set)].copy()


def regions() -> pd.DataFrame:
    """The 6 socio-economic regions. Returns columns: region_id, region_vi, region_en.

    Examples
    --------
    >>> regions()[["region_id", "region_en"]]  # doctest: +NORMALIZE_WHITESPACE
       region_id                                region_en
    0          1     Northern Midlands and Mountain Areas
    1          2                          Red River Delta
    2          3  North Central and Central Coastal Areas
    3          4                        Central Highlands
    4          5                               South East
    5          6                       Mekong River Delta
    """
    p63 = provinces("63")
    out = p63[["region_id", "region_vi", "region_en"]].drop_duplicates()
    return out.sort_values("region_id").reset_index(drop=True)


def crosswalk_2025() -> pd.DataFrame:
    """The 1 July 2025 merger: which 34-set unit each of the 63 provinces became.

    Returns 63 rows with columns: province_code_63, name_vi_63, province_code_34, name_vi_34.

    Examples
    --------
    The three provinces that became Hồ Chí Minh City:

    >>> table = crosswalk_2025()
    >>> table[table.province_code_34 == "79"]  # doctest: +NORMALIZE_WHITESPACE
       province_code_63         name_vi_63 province_code_34   name_vi_34
    46               74         Bình Dương               79  Hồ Chí Minh
    48               77  Bà Rịa - Vũng Tàu               79  Hồ Chí Minh
    49               79        Hồ Chí Minh               79  Hồ Chí Minh
    """
    p63 = provinces("63")
    names34 = provinces("34").set_index("province_code")["name_vi"]
    return pd.DataFrame({
        "province_code_63": p63["province_code"],
        "name_vi_63": p63["name_vi"],
        "province_code_34": p63["province_code_34"],
        "name_vi_34": p63["province_code_34"].map(names34),
    }).reset_index(drop=True)


# --- normalisation -----------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _lookup(folder: str, unit_set: str) -> dict[str, str]:
    """Folded name key -> province code for one unit set (without historical units)."""
    tables = _tables(folder)
    lookup: dict[str, str] = {}

    def add(name: str, code: str) -> None:
        key = name_key(name)
        if lookup.setdefault(key, code) != code:
            raise ValueError(f"name key {key!r} of {name!r} is claimed by codes "
                             f"{lookup[key]!r} and {code!r}")

    table = tables[unit_set]
    for row in table.itertuples(index=False):  # 63 or 34 rows: building the lookup, not data
        for name in (row.name_vi, row.name_official, row.name_ascii):
            add(name, row.province_code)
    if unit_set == "34":
        # A province that the merger left whole keeps its territory and code, so its old names
        # ("Thừa Thiên Huế") still mean the same unit.
        p63 = tables["63"]
        for row in p63[~p63["province_code"].map(tables["merged"])].itertuples(index=False):
            for name in (row.name_vi, row.name_official, row.name_ascii):
                add(name, row.province_code_34)
    return lookup


def _historical_lookup() -> dict[str, str]:
    out = {}
    for row in HISTORICAL_UNITS.itertuples(index=False):
        for name in (row.name_vi, row.name_official, row.name_ascii):
            out[name_key(name)] = row.province_code
    return out


def _as_code(value) -> str | None:
    """A 1- or 2-digit code given as int, integral float or digit string, zero-padded; else None."""
    if isinstance(value, bool):
        return None
    if pd.api.types.is_integer(value):
        return f"{int(value):02d}" if 0 <= int(value) < 100 else None
    if pd.api.types.is_float(value):
        return f"{int(value):02d}" if float(value).is_integer() and 0 <= value < 100 else None
    text = str(value).strip()
    if text.isdigit() and len(text) <= 2:
        return text.zfill(2)
    return None


def _resolve(value, unit_set: str, historical: bool) -> str | None:
    folder = str(data_dir())
    table = _tables(folder)[unit_set]
    codes = set(table["province_code"])
    hist_codes = set(HISTORICAL_UNITS["province_code"]) if historical and unit_set == "63" else set()
    code = _as_code(value)
    if code is not None:
        return code if code in codes or code in hist_codes else None
    key = name_key(value)
    found = _lookup(folder, unit_set).get(key)
    if found is None and hist_codes:
        found = _historical_lookup().get(key)
    return found


def _explain(value, unit_set: str, historical: bool) -> str:
    """Why `value` is not a unit of `unit_set`: a hint or close matches."""
    folder = str(data_dir())
    tables = _tables(folder)
    if _as_code(value) is not None:
        return f"not a GSO province code of unit_set {unit_set!r}"
    key = name_key(value)
    if key in _historical_lookup():
        unit = HISTORICAL_UNITS.loc[HISTORICAL_UNITS["province_code"] == _historical_lookup()[key]]
        row = unit.iloc[0]
        if unit_set == "63":
            return (f"historical unit {row['name_vi']} (code {row['province_code']}, merged into "
                    f"code {row['merged_into_code_63']} on {row['merged_on']}); pass "
                    f"historical=True to keep it as its own unit")
        return f"historical unit {row['name_vi']}, not a unit of unit_set '34'"
    if unit_set == "34":
        former = _lookup(folder, "63").get(key)
        if former is not None:
            p63 = tables["63"].set_index("province_code")
            new_code = p63.loc[former, "province_code_34"]
            new_name = tables["34"].set_index("province_code").loc[new_code, "name_vi"]
            return (f"a 63-set province ({p63.loc[former, 'name_vi']}, {former}) that became part "
                    f"of {new_name} ({new_code}) in 2025; normalise with unit_set='63' and map "
                    f"the rows with to_2025_units()")
    lookup = _lookup(folder, unit_set)
    names = tables[unit_set].set_index("province_code")["name_vi"]
    close = difflib.get_close_matches(key, list(lookup), n=6, cutoff=0.6)
    close_codes = list(dict.fromkeys(lookup[k] for k in close))[:3]
    if not close_codes:
        return "no close match"
    return "close matches: " + ", ".join(f"{names[c]} ({c})" for c in close_codes)


def _how_to_list(unit_set: str) -> str:
    return (f"See the accepted names with sipas_analysis.reference.provinces({unit_set!r}) "
            f"(columns name_vi, name_official, name_ascii, province_code).")


def normalise_code(value):
    """The GSO 2-digit code string of a province code given as a number or text.

    Parameters read as numbers lose the leading zero: ``papermill … -p province_code 01`` and
    an unquoted ``01`` in YAML both arrive as the int 1. This gives the code back: 1, 1.0,
    ``numpy.int64(1)``, "1", " 01 " -> "01"; 79 -> "79".

    Parameters
    ----------
    value : int, float, str or other
        A province code.

    Returns
    -------
    str or the value as given
        The zero-padded 2-digit code. A value that is not a whole number from 0 to 99 or a
        1- or 2-digit string (a name, "123", a bool, None) is returned unchanged, for the
        caller's own check to report with its other problems. Codes are not looked up in a
        unit set: :func:`normalise_province` does that, and also accepts names.

    Examples
    --------
    >>> normalise_code(1), normalise_code(1.0), normalise_code(" 79 "), normalise_code("Hà Nội")
    ('01', '01', '79', 'Hà Nội')
    """
    code = _as_code(value)
    return value if code is None else code


def normalise_province(name_or_code, *, unit_set: str = "63", historical: bool = False) -> str:
    """The GSO 2-digit code of a province given by name or code, in the given unit set.

    Accepts names with or without diacritics, type prefixes and case ("Hà Nội", "Ha Noi",
    "TP. Hà Nội", "Thành phố Hà Nội", "HA NOI", "hanoi", "Tỉnh Nghệ An"), common short forms
    ("TP HCM", "HCM", "BRVT", "Daklak"), old and new tone placement ("Hòa Bình"/"Hoà Bình"),
    NFC or NFD text, and codes (1, "1", "01"). In the 34-set, the names of provinces that the
    merger left whole ("Thừa Thiên Huế") still resolve; names of merged-away provinces do not.
    ``historical=True`` (63-set only) also accepts HISTORICAL_UNITS (Hà Tây -> "28").

    Raises UnknownProvinceError (a ValueError) naming close matches for anything else.

    Examples
    --------
    >>> normalise_province("TP HCM"), normalise_province("Ha Noi"), normalise_province(1)
    ('79', '01', '01')
    >>> normalise_province("Thừa Thiên Huế", unit_set="34")
    '46'
    >>> try:
    ...     normalise_province("Ha Noy")
    ... except UnknownProvinceError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    Unknown province 'Ha Noy' for unit_set '63': close matches: Hà Nội (01), Thanh Hóa (38), ...
    """
    unit_set = _check_unit_set(unit_set)
    if name_or_code is None or (pd.api.types.is_scalar(name_or_code) and pd.isna(name_or_code)):
        raise UnknownProvinceError(f"missing province (got {name_or_code!r})")
    code = _resolve(name_or_code, unit_set, historical)
    if code is None:
        raise UnknownProvinceError(
            f"Unknown province {name_or_code!r} for unit_set {unit_set!r}: "
            f"{_explain(name_or_code, unit_set, historical)}. {_how_to_list(unit_set)}")
    return code


def normalise_provinces(values, *, unit_set: str = "63", historical: bool = False):
    """Normalise a whole column of province names or codes to GSO 2-digit codes.

    Returns a Series (same index and name, string dtype) when given a Series, else a list.
    Missing values stay missing (whether a province may be missing is the data contract's
    question, not this function's). Each distinct value is resolved once, so a column of a
    million rows costs as much as its distinct values. Raises one UnknownProvinceError listing
    every distinct unknown value with its row count and close matches.

    Examples
    --------
    >>> normalise_provinces(["Hà Nội", "hanoi", None, "Daklak"])
    ['01', '01', None, '66']
    """
    unit_set = _check_unit_set(unit_set)
    as_series = isinstance(values, pd.Series)
    series = values if as_series else pd.Series(list(values) if isinstance(values, Iterable)
                                                and not isinstance(values, str) else [values],
                                                dtype=object)
    present = series[series.notna()]
    distinct = pd.unique(present)
    mapping = {value: _resolve(value, unit_set, historical) for value in distinct}
    unknown = [value for value, code in mapping.items() if code is None]
    if unknown:
        counts = present.value_counts(dropna=True)
        n_rows = {value: int(counts.loc[value]) for value in unknown}
        parts = [f"{value!r} ({n} row{'s' if n != 1 else ''}; "
                 f"{_explain(value, unit_set, historical)})" for value, n in n_rows.items()]
        raise UnknownProvinceError(
            f"{len(unknown)} unknown province value{'s' if len(unknown) != 1 else ''} for "
            f"unit_set {unit_set!r} in {sum(n_rows.values())} rows: " + "; ".join(parts)
            + f". {_how_to_list(unit_set)}")
    codes = series.map(mapping).astype("str")
    codes = codes.where(series.notna())
    if as_series:
        return codes
    return [None if pd.isna(code) else code for code in codes]


def to_2025_units(df: pd.DataFrame) -> pd.DataFrame:
    """Map rows of the 63-set to the 34 units of 1 July 2025.

    Takes any table with columns ``unit_set`` and ``province_code`` (respondent-level rows,
    typically) and returns a copy where every row has unit_set "34" and province_code the
    34-set code; the old code is kept in ``province_code_63`` (NA for rows that were already
    "34"). Raises ValueError naming every unknown (unit_set, province_code) pair.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"unit_set": ["63", "63", "34"], "province_code": ["77", "74", "79"]})
    >>> to_2025_units(table)  # doctest: +NORMALIZE_WHITESPACE
      unit_set province_code province_code_63
    0       34            79               77
    1       34            79               74
    2       34            79              NaN
    """
    missing = [c for c in ("unit_set", "province_code") if c not in df.columns]
    if missing:
        raise ValueError(f"to_2025_units needs columns {missing}, which the table lacks")
    cw = crosswalk_2025().set_index("province_code_63")["province_code_34"]
    codes34 = set(provinces("34")["province_code"])
    unit_set = df["unit_set"].astype("str")
    code = df["province_code"].astype("str")
    is63 = unit_set.eq("63") & df["unit_set"].notna()
    is34 = unit_set.eq("34") & df["unit_set"].notna()
    new_code = code.map(cw)
    bad = (is63 & new_code.isna()) | (is34 & ~code.isin(codes34)) | ~(is63 | is34) \
        | df["province_code"].isna()
    if bad.any():
        pairs = (pd.DataFrame({"unit_set": df["unit_set"][bad], "province_code": df["province_code"][bad]})
                 .value_counts(dropna=False))
        listed = "; ".join(f"({u!r}, {c!r}): {n} rows" for (u, c), n in pairs.items())
        raise ValueError(f"{len(pairs)} unknown (unit_set, province_code) pairs in "
                         f"{int(bad.sum())} rows: {listed}")
    out = df.copy()
    old = df["province_code_63"] if "province_code_63" in df.columns else pd.Series(
        pd.NA, index=df.index, dtype="str")
    out["province_code_63"] = code.where(is63, old.astype("str").where(old.notna()))
    out["province_code"] = new_code.where(is63, code)
    out["unit_set"] = "34"
    # Keep the old code beside the new one, where a reader looks for it.
    cols = [c for c in out.columns if c != "province_code_63"]
    at = cols.index("province_code") + 1
    return out[cols[:at] + ["province_code_63"] + cols[at:]]
