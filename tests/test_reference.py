"""Province tables, the 2025 crosswalk and name normalisation (sipas_analysis.reference).

Facts checked here come from the GSO lists in data/reference/ and the merger resolution of
12 June 2025 (Resolution 202/2025/QH15): 11 provinces and cities kept unchanged, 23 new units.
"""
from __future__ import annotations

import shutil
import time
import unicodedata

import numpy as np
import pandas as pd
import pytest

from sipas_analysis import reference as ref


# --- tables ------------------------------------------------------------------------------------

def test_provinces_63_table():
    p = ref.provinces("63")
    assert list(p.columns) == ["unit_set", "province_code", "name_vi", "name_official",
                               "name_ascii", "region_id", "region_vi", "region_en", "papi_id",
                               "province_code_34"]
    assert len(p) == 63 and p["province_code"].is_unique
    assert (p["unit_set"] == "63").all()
    assert p["province_code"].str.fullmatch(r"\d{2}").all()
    # PAPI ids P01-P63 follow GSO code order
    assert p["papi_id"].tolist() == [f"P{i:02d}" for i in range(1, 64)]
    assert p["province_code"].tolist() == sorted(p["province_code"])
    hanoi = p.set_index("province_code").loc["01"]
    assert (hanoi["name_vi"], hanoi["name_official"], hanoi["name_ascii"]) == (
        "Hà Nội", "Thành phố Hà Nội", "Ha Noi")
    assert p["region_id"].notna().all()


def test_provinces_34_table_and_regions_of_merged_units():
    p = ref.provinces("34")
    assert len(p) == 34 and p["province_code"].is_unique
    assert list(p.columns) == ["unit_set", "province_code", "name_vi", "name_official",
                               "name_ascii", "region_id", "region_vi", "region_en"]
    by_code = p.set_index("province_code")
    assert by_code.loc["46", "name_vi"] == "Huế"
    assert by_code.loc["46", "name_official"] == "Thành phố Huế"
    assert by_code.loc["66", "name_ascii"] == "Dak Lak"
    assert by_code.loc["40", "name_official"] == "Tỉnh Nghệ An"
    # Phú Thọ joined Vĩnh Phúc (Red River Delta) with Hòa Bình (northern mountains): no region
    assert pd.isna(by_code.loc["25", "region_id"]) and pd.isna(by_code.loc["25", "region_en"])
    # Hà Nội and Hồ Chí Minh (all former parts in one region) keep theirs
    assert by_code.loc["01", "region_en"] == "Red River Delta"
    assert by_code.loc["79", "region_en"] == "South East"


def test_regions():
    r = ref.regions()
    assert list(r.columns) == ["region_id", "region_vi", "region_en"]
    assert r["region_id"].tolist() == [1, 2, 3, 4, 5, 6]
    assert "Mekong River Delta" in set(r["region_en"])


def test_crosswalk_2025_matches_the_merger():
    cw = ref.crosswalk_2025()
    assert list(cw.columns) == ["province_code_63", "name_vi_63", "province_code_34", "name_vi_34"]
    assert len(cw) == 63
    assert set(cw["province_code_34"]) == set(ref.provinces("34")["province_code"])
    sizes = cw.groupby("province_code_34").size()
    assert (sizes == 1).sum() == 11          # 11 units kept unchanged
    assert len(sizes) == 34 and sizes.sum() == 63
    row = cw.set_index("province_code_63").loc["02"]  # Hà Giang -> Tuyên Quang
    assert (row["province_code_34"], row["name_vi_34"]) == ("08", "Tuyên Quang")
    assert set(cw.loc[cw["province_code_34"] == "79", "name_vi_63"]) == {
        "Hồ Chí Minh", "Bình Dương", "Bà Rịa - Vũng Tàu"}


def test_default_unit_set():
    assert ref.default_unit_set(2017) == "63"
    assert ref.default_unit_set(2024) == "63"
    assert ref.default_unit_set(2025) == "34"
    assert ref.default_unit_set(np.int64(2030)) == "34"


def test_unknown_unit_set_is_rejected():
    with pytest.raises(ValueError, match="unit_set must be one of"):
        ref.provinces("64")


# --- normalisation -----------------------------------------------------------------------------

@pytest.mark.parametrize("value, code", [
    ("Hà Nội", "01"), ("Ha Noi", "01"), ("TP. Hà Nội", "01"), ("Thành phố Hà Nội", "01"),
    ("HA NOI", "01"), ("hanoi", "01"), ("Hanoi", "01"), ("  Hà  Nội ", "01"),
    ("Tỉnh Nghệ An", "40"), ("01", "01"), (1, "01"), ("1", "01"), (np.int64(1), "01"), (1.0, "01"),
    ("TP HCM", "79"), ("TP.HCM", "79"), ("Tp.HCM", "79"), ("HCM", "79"), ("HCMC", "79"),
    ("Hồ Chí Minh", "79"), ("Thành phố Hồ Chí Minh", "79"), ("Ho Chi Minh City", "79"),
    ("TP.Hồ Chí Minh", "79"),
    ("Thừa Thiên Huế", "46"), ("Huế", "46"), ("TT-Huế", "46"), ("Thua Thien Hue", "46"),
    ("Bà Rịa - Vũng Tàu", "77"), ("Ba Ria Vung Tau", "77"), ("BRVT", "77"),
    ("Đắk Lắk", "66"), ("Dak Lak", "66"), ("Daklak", "66"), ("Đăk Lăk", "66"), ("Đắc Lắk", "66"),
    ("Hòa Bình", "17"), ("Hoà Bình", "17"), ("Thanh Hoá", "38"), ("Thanh Hóa", "38"),
    ("Khánh Hoà", "56"), ("Khánh Hòa", "56"), ("Bắc Cạn", "06"), ("Bắc Kạn", "06"),
    ("Đà Nẵng", "48"), ("da nang", "48"), ("DA NANG", "48"),
])
def test_normalise_province_63(value, code):
    assert ref.normalise_province(value) == code
    assert ref.normalise_province(value, unit_set="63") == code


def test_nfc_and_nfd_input_are_the_same():
    for name in ["Hà Nội", "Đắk Lắk", "Thừa Thiên Huế", "Hoà Bình", "Bà Rịa - Vũng Tàu"]:
        nfd = unicodedata.normalize("NFD", name)
        assert nfd != unicodedata.normalize("NFC", name)
        assert ref.normalise_province(nfd) == ref.normalise_province(name)


@pytest.mark.parametrize("unit_set", ["63", "34"])
def test_every_table_name_resolves_to_its_own_code(unit_set):
    p = ref.provinces(unit_set)
    for column in ["name_vi", "name_official", "name_ascii"]:
        got = ref.normalise_provinces(p[column], unit_set=unit_set)
        assert got.tolist() == p["province_code"].tolist(), column
        assert ref.normalise_provinces(p[column].str.upper(), unit_set=unit_set).tolist() == \
            p["province_code"].tolist()
    assert ref.normalise_provinces(p["province_code"].astype(int).tolist(),
                                   unit_set=unit_set) == p["province_code"].tolist()


@pytest.mark.parametrize("value, code", [
    ("Thành phố Huế", "46"), ("Huế", "46"), ("Thừa Thiên Huế", "46"),  # Huế was not merged
    ("Tuyên Quang", "08"), ("Hà Nội", "01"), ("TP.HCM", "79"), ("Đắk Lắk", "66"), ("8", "08"),
])
def test_normalise_province_34(value, code):
    assert ref.normalise_province(value, unit_set="34") == code


def test_former_province_in_34_set_points_to_its_new_unit():
    with pytest.raises(ref.UnknownProvinceError, match=r"Tuyên Quang \(08\).*to_2025_units"):
        ref.normalise_province("Hà Giang", unit_set="34")
    with pytest.raises(ref.UnknownProvinceError, match="not a GSO province code"):
        ref.normalise_province("02", unit_set="34")  # Hà Giang's old code is gone


def test_unknown_name_raises_with_close_matches_and_how_to_list():
    with pytest.raises(ValueError) as err:
        ref.normalise_province("Ha Nio")
    assert isinstance(err.value, ref.UnknownProvinceError)
    message = str(err.value)
    assert "'Ha Nio'" in message and "Hà Nội (01)" in message
    assert "provinces('63')" in message
    for bad in ["Atlantis", "", 99, "100", None, np.nan, "Tỉnh"]:
        with pytest.raises(ref.UnknownProvinceError):
            ref.normalise_province(bad)


def test_ha_tay_is_a_historical_unit_never_folded_into_hanoi():
    assert "28" in set(ref.HISTORICAL_UNITS["province_code"])
    assert "28" not in set(ref.provinces("63")["province_code"])
    with pytest.raises(ref.UnknownProvinceError, match="historical=True"):
        ref.normalise_province("Hà Tây")
    assert ref.normalise_province("Hà Tây", historical=True) == "28"
    assert ref.normalise_province("Ha Tay", historical=True) == "28"
    assert ref.normalise_province(28, historical=True) == "28"
    assert ref.normalise_province("Hà Nội", historical=True) == "01"
    with pytest.raises(ref.UnknownProvinceError):
        ref.normalise_province("Hà Tây", unit_set="34", historical=True)


def test_normalise_provinces_series_and_list():
    s = pd.Series(["Hà Nội", None, "TP HCM", "hanoi"], index=[10, 11, 12, 13], name="prov")
    out = ref.normalise_provinces(s)
    assert isinstance(out, pd.Series)
    assert out.index.tolist() == [10, 11, 12, 13] and out.name == "prov"
    assert out[10] == "01" and pd.isna(out[11]) and out[12] == "79" and out[13] == "01"
    assert ref.normalise_provinces(["Huế", 1, "48"]) == ["46", "01", "48"]


def test_normalise_provinces_one_error_naming_every_unknown_with_counts():
    values = pd.Series(["Hà Nội", "Hanio", "Hanio", "Xyz", "Hanio", 77, 99])
    with pytest.raises(ref.UnknownProvinceError) as err:
        ref.normalise_provinces(values)
    message = str(err.value)
    assert "3 unknown province values" in message and "in 5 rows" in message
    assert "'Hanio' (3 rows" in message and "'Xyz' (1 row;" in message and "99 (1 row;" in message
    assert "Hà Nội (01)" in message


def test_normalise_provinces_is_fast_on_a_million_rows():
    names = ref.provinces("63")["name_vi"].to_numpy()
    big = pd.Series(np.random.default_rng(0).choice(names, 1_000_000))
    start = time.perf_counter()
    out = ref.normalise_provinces(big)
    assert time.perf_counter() - start < 10  # generous: a shared CI machine
    assert out.notna().all() and out.str.len().eq(2).all()


# --- to_2025_units -----------------------------------------------------------------------------

def test_to_2025_units_maps_63_rows_and_keeps_34_rows():
    df = pd.DataFrame({"respondent_id": ["a", "b", "c", "d"],
                       "unit_set": ["63", "63", "34", "63"],
                       "province_code": ["02", "01", "08", "77"],
                       "y": [1.0, 2.0, 3.0, 4.0]})
    before = df.copy()
    out = ref.to_2025_units(df)
    pd.testing.assert_frame_equal(df, before)  # input untouched
    assert list(out.columns) == ["respondent_id", "unit_set", "province_code",
                                 "province_code_63", "y"]
    assert out["unit_set"].tolist() == ["34"] * 4
    assert out["province_code"].tolist() == ["08", "01", "08", "79"]
    assert out["province_code_63"].tolist()[:2] == ["02", "01"]
    assert pd.isna(out["province_code_63"].iloc[2]) and out["province_code_63"].iloc[3] == "77"
    pd.testing.assert_frame_equal(ref.to_2025_units(out), out)  # idempotent


def test_to_2025_units_names_every_unknown_pair():
    df = pd.DataFrame({"unit_set": ["63", "63", "34", "34", "64", "63"],
                       "province_code": ["01", "28", "02", "01", "01", "28"]})
    with pytest.raises(ValueError) as err:
        ref.to_2025_units(df)
    message = str(err.value)
    assert "3 unknown (unit_set, province_code) pairs in 4 rows" in message
    assert "('63', '28'): 2 rows" in message and "('34', '02')" in message
    assert "('64', '01')" in message
    with pytest.raises(ValueError, match="needs columns"):
        ref.to_2025_units(pd.DataFrame({"province_code": ["01"]}))


def test_to_2025_units_vectorised_on_a_million_rows():
    codes = ref.provinces("63")["province_code"].to_numpy()
    df = pd.DataFrame({"unit_set": "63",
                       "province_code": np.random.default_rng(1).choice(codes, 1_000_000)})
    start = time.perf_counter()
    out = ref.to_2025_units(df)
    assert time.perf_counter() - start < 10  # generous: a shared CI machine
    cw = ref.crosswalk_2025().set_index("province_code_63")["province_code_34"]
    assert (out["province_code"] == out["province_code_63"].map(cw)).all()


# --- data location -----------------------------------------------------------------------------

def test_data_dir_is_package_relative_and_overridable(tmp_path, monkeypatch):
    monkeypatch.delenv(ref.DATA_DIR_ENV, raising=False)
    assert (ref.data_dir() / "reference" / "provinces_63_gso_regions_2025merger.csv").exists()
    shutil.copytree(ref.data_dir() / "reference", tmp_path / "reference")
    # a copy whose 34-set list renames one unit proves the override is what gets read
    path = tmp_path / "reference" / "34_provinces_2025_915_CTK-CSCL.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("Cao Bằng", "Cao Bang Test"),
                    encoding="utf-8")
    monkeypatch.setenv(ref.DATA_DIR_ENV, str(tmp_path))
    assert ref.data_dir() == tmp_path.resolve()
    assert ref.provinces("34").set_index("province_code").loc["04", "name_vi"] == "Cao Bang Test"
    monkeypatch.setenv(ref.DATA_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError):
        ref.provinces("63")


@pytest.mark.parametrize("value, code", [
    (1, "01"), (79, "79"), (8, "08"), (0, "00"), (1.0, "01"), (np.int64(1), "01"),
    ("1", "01"), ("01", "01"), (" 01 ", "01"), ("79", "79"),
])
def test_normalise_code_pads_a_code_given_as_a_number(value, code):
    assert ref.normalise_code(value) == code


@pytest.mark.parametrize("value", ["Hà Nội", "123", "1a", "", 123, -1, 1.5, True, None])
def test_normalise_code_leaves_what_is_not_a_code_for_the_caller_to_report(value):
    result = ref.normalise_code(value)
    assert result is value


def test_normalise_code_undoes_papermills_reading_of_a_parameter():
    """``papermill … -p province_code 01`` reads "01" as the int 1 (papermill's own parser)."""
    from papermill.cli import _resolve_type
    assert _resolve_type("01") == 1
    for text in ["01", "79", "08"]:
        assert ref.normalise_code(_resolve_type(text)) == text
