"""Loaders of real files (sipas_analysis.io): PAPI, PCI, published SIPAS figures, survey files.

References used here, each independent of the loader under test:
- published PAPI totals: 2020 Đồng Tháp 46.961 (8 dimensions) and 2022 Quảng Ninh 47.88, top of
  63 (UNDP PAPI reports 2020 and 2022, as quoted in data/SOURCES.md);
- the R package vietnamdata's own tidy panels (data/pci/papi_from_rda.csv, pci_from_rda.csv),
  built by different code from different PAPI files and from the same PCI sheets;
- cells of the PCI sheets read by hand (address given in each test), including the 2005 ranking
  sheet, which the loader does not read.
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import openpyxl
import pandas as pd
import pytest
import xlrd

from sipas_analysis import io, reference, schema

DATA = reference.data_dir()


# --- PAPI --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def papi():
    return io.load_papi()


@pytest.fixture(scope="module")
def papi_sub():
    return io.load_papi(level="sub")


def _papi_value(frame, year, code, column="total"):
    row = frame[(frame["year"] == year) & (frame["province_code"] == code)]
    assert len(row) == 1
    return row[column].iloc[0]


def test_papi_shape_and_columns(papi):
    assert list(papi.columns) == ["unit_set", "province_code", "year", "d1", "d2", "d3", "d4",
                                  "d5", "d6", "d7", "d8", "total"]
    assert (papi["unit_set"] == "63").all()
    assert sorted(papi["year"].unique()) == list(range(2011, 2025))
    # every province-year is a row, blank ones included
    assert papi.groupby("year").size().eq(63).all()
    assert set(papi["province_code"]) == set(reference.provinces("63")["province_code"])
    assert not papi.duplicated(["province_code", "year"]).any()


def test_papi_reproduces_published_totals(papi):
    # PAPI 2020: Đồng Tháp (GSO 87) 46.961, printed to 3 decimals
    assert _papi_value(papi, 2020, "87") == pytest.approx(46.961, abs=0.0005)
    # PAPI 2022: Quảng Ninh (GSO 22) 47.88, printed to 2 decimals, top of the 63 provinces
    assert _papi_value(papi, 2022, "22") == pytest.approx(47.88, abs=0.005)
    year2022 = papi[papi["year"] == 2022]
    assert year2022.loc[year2022["total"].idxmax(), "province_code"] == "22"


def test_papi_dimensions_7_8_only_from_2018(papi):
    before = papi[papi["year"] < 2018]
    assert before[["d7", "d8"]].isna().all().all()
    assert before["total"].notna().sum() > 0
    # before 2018 the total is the sum of 6 dimensions
    ok = before.dropna(subset=["total"])
    np.testing.assert_allclose(ok["total"], ok[[f"d{k}" for k in range(1, 7)]].sum(axis=1))
    after = papi[papi["year"] >= 2018].dropna(subset=["total"])
    np.testing.assert_allclose(after["total"], after[[f"d{k}" for k in range(1, 9)]].sum(axis=1))


def test_papi_missing_is_missing_never_a_partial_sum(papi, papi_sub):
    # 2021: Bắc Giang (24), Bắc Ninh (27), Quảng Ninh (22) are not in the source
    for code in ["24", "27", "22"]:
        assert np.isnan(_papi_value(papi, 2021, code))
    # 2014 has whole blank rows: kept, all NaN
    blank = papi[(papi["year"] == 2014) & papi["d1"].isna()]
    assert len(blank) >= 1
    assert blank[[f"d{k}" for k in range(1, 7)] + ["total"]].isna().all().all()
    # A dimension is NaN exactly where one of that year's published sub-dimensions is missing.
    missing_sub = (papi_sub.assign(missing=papi_sub["score"].isna())
                   .groupby(["year", "province_code", "dimension"])["missing"].any()
                   .unstack("dimension"))
    merged = papi.set_index(["year", "province_code"])
    for k in range(1, 9):
        expected_nan = missing_sub[k].reindex(merged.index)
        exists = expected_nan.notna()
        assert (merged.loc[exists, f"d{k}"].isna() == expected_nan[exists].astype(bool)).all()
    # partial rows exist in 2022 (a province with some dimensions and not others)
    y22 = papi[papi["year"] == 2022]
    partial = y22[y22[[f"d{k}" for k in range(1, 9)]].isna().any(axis=1)
                  & y22[[f"d{k}" for k in range(1, 9)]].notna().any(axis=1)]
    assert len(partial) >= 1 and partial["total"].isna().all()


def test_papi_dimensions_agree_with_vietnamdata_panel_2011_2016(papi):
    """An independent build of the same index (R package vietnamdata, from UNDP's files)."""
    rda = pd.read_csv(DATA / "pci" / "papi_from_rda.csv")
    rda["province_code"] = reference.normalise_provinces(rda["prov"])
    merged = papi.merge(rda, on=["province_code", "year"], how="inner")
    assert len(merged) == 6 * 63
    names = ["participation", "transparency", "accountability", "corruption", "procedures",
             "service"]
    compared = 0
    for k, name in enumerate(names, start=1):
        both = merged[[f"d{k}", f"papi_{name}"]].dropna()
        # the panel prints 7 significant digits and sums rounded sub-dimensions
        np.testing.assert_allclose(both[f"d{k}"], both[f"papi_{name}"], atol=1e-5)
        compared += len(both)
    assert compared >= 6 * 6 * 61
    # where the source row is blank, the panel has numbers but we do not invent them
    assert merged["d1"].isna().sum() == 2


def test_papi_sub_level(papi_sub):
    assert list(papi_sub.columns) == ["unit_set", "province_code", "year", "dimension",
                                      "dimension_name", "sub_dimension", "sub_dimension_name",
                                      "score"]
    row = papi_sub[(papi_sub["sub_dimension"] == "SC51")].iloc[0]
    assert row["dimension"] == 5
    assert row["dimension_name"] == "Public Administrative Procedures"
    assert row["sub_dimension_name"] == "Certification Procedures"
    years_of = papi_sub.groupby("sub_dimension")["year"].agg(["min", "max"])
    assert years_of.loc["SC83", "min"] == 2019          # SC83 starts in 2019
    assert years_of.loc["SC24", "min"] == 2018          # SC24 starts in 2018
    assert years_of.loc["SC52", "max"] == 2020          # construction permits: none from 2021
    assert years_of.loc["SC81", "min"] == 2018
    assert papi_sub["dimension_name"].notna().all() and papi_sub["sub_dimension_name"].notna().all()


def test_load_papi_rejects_unknown_level():
    with pytest.raises(ValueError, match="level must be"):
        io.load_papi(level="province")


# --- PCI ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pci():
    return io.load_pci()


def test_pci_rows_per_year_and_names(pci):
    assert list(pci.columns) == ["unit_set", "province_code", "province_name", "year"] + \
        io.PCI_COLUMNS
    counts = pci.groupby("year").size()
    assert counts[2005] == 42
    assert counts[[2006, 2007, 2008]].eq(64).all()
    assert counts[list(range(2009, 2017))].eq(63).all()
    assert pci["province_name"].notna().all() and pci["pci"].notna().all()
    assert not pci.duplicated(["province_code", "year"]).any()
    known = set(reference.provinces("63")["province_code"]) | {"28"}
    assert set(pci["province_code"]) <= known
    # every year from 2009 covers exactly the 63 provinces
    for year in range(2009, 2017):
        assert set(pci.loc[pci["year"] == year, "province_code"]) == known - {"28"}
    # every name the sheets print maps back to the code we gave it
    again = reference.normalise_provinces(pci["province_name"], historical=True)
    assert (again == pci["province_code"]).all()


def test_pci_ha_tay_kept_as_its_own_unit(pci):
    ha_tay = pci[pci["province_code"] == "28"]
    assert ha_tay["year"].tolist() == [2005, 2006, 2007, 2008]
    assert set(ha_tay["province_name"]) == {"Hà Tây"}
    both = pci[pci["province_code"].isin(["01", "28"]) & (pci["year"] == 2006)]
    assert len(both) == 2 and both["pci"].nunique() == 2


def test_pci_2005_matches_the_ranking_sheet():
    """PCI_2005.xls, sheet 'Xếp hạng theo chỉ số PCI' (not read by the loader): column A names,
    column B weighted PCI, rows 2-43; B2 = 76.818965 for Bình Dương, B43 = 38.806473 Hà Tây."""
    book = xlrd.open_workbook(str(DATA / "pci" / "PCI" / "PCI_2005.xls"))
    sheet = book.sheet_by_name("Xếp hạng theo chỉ số PCI")
    assert sheet.cell_value(1, 0) == "Bình Dương"
    assert sheet.cell_value(1, 1) == pytest.approx(76.818965, abs=1e-6)
    ranking = pd.DataFrame({"name": [sheet.cell_value(i, 0) for i in range(1, 43)],
                            "pci_rank_sheet": [sheet.cell_value(i, 1) for i in range(1, 43)]})
    ranking["province_code"] = reference.normalise_provinces(ranking["name"], historical=True)
    loaded = io.load_pci()
    merged = loaded[loaded["year"] == 2005].merge(ranking, on="province_code", how="outer")
    assert len(merged) == 42
    np.testing.assert_allclose(merged["pci"], merged["pci_rank_sheet"], rtol=0, atol=1e-9)
    assert loaded.set_index(["year", "province_code"]).loc[(2005, "74"), "pci"] == \
        pytest.approx(76.818965, abs=1e-6)
    assert loaded.set_index(["year", "province_code"]).loc[(2005, "28"), "pci"] == \
        pytest.approx(38.806473, abs=1e-6)


def test_pci_2016_cells_by_hand(pci):
    """PCI_2016.xlsx, sheet Summary_VN: V2/W2 = Đà Nẵng 70.00 (first of 2016), V3/W3 = Quảng Ninh
    65.60 (second), V64/W64 = Cao Bằng 52.99 (last) — as the published 2016 ranking reads."""
    sheet = openpyxl.load_workbook(DATA / "pci" / "PCI" / "PCI_2016.xlsx", read_only=True,
                                   data_only=True)["Summary_VN"]
    cells = {sheet[f"V{r}"].value: sheet[f"W{r}"].value for r in (2, 3, 64)}
    by_code = pci[pci["year"] == 2016].set_index("province_code")
    for code, name, value in [("48", "Đà Nẵng", 70.00), ("22", "Quảng Ninh", 65.60),
                              ("04", "Cao Bằng", 52.99)]:
        assert by_code.loc[code, "province_name"] == name
        assert by_code.loc[code, "pci"] == pytest.approx(value, abs=0.005)
        assert by_code.loc[code, "pci"] == pytest.approx(cells[name], abs=1e-12)
    assert by_code["pci"].idxmax() == "48" and by_code["pci"].idxmin() == "04"


def test_pci_agrees_with_vietnamdata_panel_except_2013(pci):
    rda = pd.read_csv(DATA / "pci" / "pci_from_rda.csv")
    rda = rda[rda["year"] != 2013].copy()
    rda["year"] = rda["year"].astype("int64")
    rda["province_code"] = reference.normalise_provinces(rda["prov"].str.strip(), historical=True)
    merged = pci[pci["year"] != 2013].merge(rda, on=["province_code", "year"], how="outer",
                                            suffixes=("", "_rda"), indicator=True)
    assert (merged["_merge"] == "both").all()
    np.testing.assert_allclose(merged["pci"], merged["pci_weighted"], atol=1e-6)
    for column in io.PCI_COLUMNS[1:]:
        both = merged[[column, f"{column}_rda"]].dropna()
        np.testing.assert_allclose(both[column], both[f"{column}_rda"], atol=1e-6, err_msg=column)


def test_pci_2013_rebuilt_with_names(pci):
    rda = pd.read_csv(DATA / "pci" / "pci_from_rda.csv")
    assert rda.loc[rda["year"] == 2013, "prov"].isna().sum() == 50  # the known defect
    y2013 = pci[pci["year"] == 2013]
    assert len(y2013) == 63 and y2013["province_name"].notna().all()
    # PCI_2013.xlsx, Summary_VN, first ranked row V2/W2 is the year's top province
    sheet = openpyxl.load_workbook(DATA / "pci" / "PCI" / "PCI_2013.xlsx", read_only=True,
                                   data_only=True)["Summary_VN"]
    top_name, top_value = sheet["V2"].value, sheet["W2"].value
    top = y2013.loc[y2013["pci"].idxmax()]
    assert top["province_name"] == top_name and top["pci"] == pytest.approx(top_value)
    # the panel's 2013 scores (names lost) are the same set of numbers
    np.testing.assert_allclose(np.sort(y2013["pci"]),
                               np.sort(rda.loc[rda["year"] == 2013, "pci_weighted"]), atol=1e-6)


def test_pci_layouts_agree_with_origin_import_table():
    """Our layout table was read off the sheets; the origin package's PCI_Import.csv (1-based
    rows and columns, Province 0 = a name column left of each score) must say the same."""
    spec = pd.read_csv(DATA / "pci" / "PCI" / "PCI_Import.csv")
    names = {"Entry Costs": "pci_entry", "Land Access and Security of Tenure": "pci_land",
             "Transparency and Access to Information": "pci_transparency",
             "Time Costs and Regulatory Compliance": "pci_time",
             "Informal Charges": "pci_informal",
             "Implementation and Consistency of Policies": "pci_implement",
             "Policy Bias": "pci_bias", "Proactivity of Provincial Leadership": "pci_proactive",
             "Business Support Services": "pci_support", "Labor and Training": "pci_labor",
             "Legal Institutions": "pci_legal", "Unweighted Col": "pci_unweighted",
             "Weighted Col": "pci"}
    assert sorted(spec["Year"]) == sorted(io._PCI_LAYOUTS)
    for row in spec.to_dict("records"):
        layout = io._PCI_LAYOUTS[row["Year"]]
        assert layout.rows == (row["Begin Row"] - 1, row["End Row"]), row["Year"]
        assert layout.name_col == (None if row["Province"] == 0 else row["Province"] - 1)
        expected = {ours: int(row[theirs]) - 1 for theirs, ours in names.items()
                    if not pd.isna(row[theirs])}
        assert layout.columns == expected, row["Year"]


# --- published SIPAS ---------------------------------------------------------------------------

def test_published_sipas():
    pub = io.load_published_sipas()
    assert list(pub.columns) == ["scope", "unit_set", "province_code", "province", "year",
                                 "sipas_pct", "rank_of_63", "value_type", "note", "source_url"]
    assert len(pub) == 62
    national = pub[pub["scope"] == "national"]
    assert national["province_code"].isna().all() and national["unit_set"].isna().all()
    prov = pub[pub["scope"] == "province"]
    assert prov["province_code"].str.fullmatch(r"\d{2}").all()
    assert (prov["unit_set"] == "63").all()
    # the code printed beside each province name is the one its name normalises to
    assert (reference.normalise_provinces(prov["province"]) == prov["province_code"]).all()
    assert pub.loc[(pub["scope"] == "national") & (pub["year"] == 2024), "sipas_pct"].item() == 83.94
    assert pub["rank_of_63"].dropna().between(1, 63).all()
    assert pub["value_type"].str.startswith("reported").sum() == 55
    has_source = pub["source_url"].str.startswith("http").fillna(False)
    assert has_source.sum() >= 60
    assert has_source[pub["value_type"].str.startswith("reported")].all()


# --- survey files ------------------------------------------------------------------------------

def _codes_frame(valid_frame: pd.DataFrame) -> pd.DataFrame:
    frame = valid_frame.copy()
    frame["district_code"] = "001"
    frame["psu"] = "007"
    return frame


def test_load_survey_csv_keeps_leading_zeros_and_validates(valid_frame, tmp_path):
    frame = _codes_frame(valid_frame)
    path = tmp_path / "survey.csv"
    frame.to_csv(path, index=False)
    raw = io.load_survey(path, validate=False)
    assert raw["district_code"].eq("001").all() and raw["psu"].eq("007").all()
    assert raw["province_code"].isin(["01", "79", "48"]).all()
    assert raw["unit_set"].eq("63").all()
    checked = io.load_survey(path)
    assert checked["province_code"].tolist() == frame["province_code"].tolist()
    assert checked["year"].dtype == "int64"


def test_load_survey_parquet(valid_frame, tmp_path):
    frame = _codes_frame(valid_frame)
    frame["province_code"] = frame["province_code"].astype(int)  # codes stored as numbers
    path = tmp_path / "survey.parquet"
    frame.to_parquet(path)
    out = io.load_survey(path)
    assert set(out["province_code"]) <= {"01", "79", "48"}
    assert out["psu"].eq("007").all()


def test_load_survey_excel_with_vietnamese_labels_and_names(valid_frame, tmp_path):
    frame = _codes_frame(valid_frame)
    to_vi = {column: {v: k for k, v in labels.items()}
             for column, labels in schema.VIETNAMESE_VALUE_LABELS.items()}
    for column, labels in to_vi.items():
        frame[column] = frame[column].map(labels)
    # NFD text, as some Mac and web exports write it
    frame["sex"] = frame["sex"].map(lambda s: unicodedata.normalize("NFD", s))
    frame["province_code"] = frame["province_code"].map(
        {"01": "TP. Hà Nội", "79": "TP HCM", "48": "Đà Nẵng"})
    path = tmp_path / "survey.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(writer, sheet_name="cover", index=False)
        frame.to_excel(writer, sheet_name="data", index=False)
    out = io.load_survey(path, sheet="data")
    assert out["province_code"].tolist() == valid_frame["province_code"].tolist()
    assert out["sex"].astype(str).tolist() == valid_frame["sex"].tolist()
    assert out["education"].astype(str).tolist() == valid_frame["education"].tolist()
    assert out["district_code"].eq("001").all()


def test_load_survey_sav_applies_value_labels(valid_frame, tmp_path):
    import pyreadstat

    frame = _codes_frame(valid_frame)
    codes = {"sex": {1.0: "Nữ", 2.0: "Nam"},
             "province_code": {1.0: "Hà Nội", 79.0: "Thành phố Hồ Chí Minh", 48.0: "Đà Nẵng"},
             "overall_satisfaction": {1.0: "Rất không hài lòng", 5.0: "Rất hài lòng"}}
    frame["sex"] = frame["sex"].map({"female": 1.0, "male": 2.0})
    frame["province_code"] = frame["province_code"].astype(float)
    frame["urban"] = frame["urban"].astype(float)
    frame["used_service"] = 1.0
    path = tmp_path / "survey.sav"
    pyreadstat.write_sav(frame, str(path), variable_value_labels=codes)
    raw = io.load_survey(path, validate=False)
    assert set(raw["sex"]) == {"female", "male"}
    assert raw["province_code"].tolist() == valid_frame["province_code"].tolist()
    # ratings keep their numbers even though they carry labels
    assert pd.api.types.is_numeric_dtype(raw["overall_satisfaction"])
    assert raw["psu"].eq("007").all()
    out = io.load_survey(path)
    assert out["sex"].astype(str).tolist() == valid_frame["sex"].tolist()


def test_load_survey_unknown_province_name_is_reported_with_the_other_problems(valid_frame,
                                                                              tmp_path):
    frame = valid_frame.copy()
    frame.loc[:2, "province_code"] = "Hanio"
    frame.loc[5, "staff_polite"] = 7
    path = tmp_path / "survey.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(schema.SurveyValidationError) as error:
        io.load_survey(path)
    problems = error.value.problems.set_index("column")
    assert set(problems.index) == {"province_code", "staff_polite"}
    assert problems.loc["province_code", "rows"] == [1, 2, 3]
    assert problems.loc["province_code", "values"] == ["63/Hanio"] * 3
    assert re.search(r"'Hanio' \(3 rows.*Hà Nội \(01\)", problems.loc["province_code", "rule"])
    # without validation the unknown name is kept as it is, the known codes normalised
    raw = io.load_survey(path, validate=False)
    assert raw["province_code"].iloc[:3].tolist() == ["Hanio"] * 3


def test_load_survey_invalid_data_raises_validation_error(valid_frame, tmp_path):
    frame = valid_frame.copy()
    frame.loc[0, "staff_polite"] = 7
    path = tmp_path / "survey.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(schema.SurveyValidationError, match="staff_polite"):
        io.load_survey(path)


def test_load_survey_unknown_extension_lists_supported(tmp_path):
    path = tmp_path / "survey.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match=r"unknown file extension '.json'.*\.csv.*\.parquet.*"
                                         r"\.xlsx.*\.sav"):
        io.load_survey(path)
    with pytest.raises(FileNotFoundError):
        io.load_survey(tmp_path / "nowhere.csv")


def test_spss_blank_strings_are_missing_answers(valid_frame, tmp_path):
    """SPSS stores a skipped string answer as blanks; it is read as missing (and then checked
    like any missing value), not as a category "" that validation refuses."""
    import pyreadstat

    frame = _codes_frame(valid_frame)
    frame["urban"] = frame["urban"].astype(float)
    frame["used_service"] = 1.0
    frame["province_code"] = frame["province_code"].astype(float)
    frame["education"] = frame["education"].astype(str)
    frame.loc[[0, 3], "education"] = ""
    frame.loc[5, "education"] = "   "
    path = tmp_path / "survey.sav"
    pyreadstat.write_sav(frame, str(path),
                         variable_value_labels={"province_code": {1.0: "Hà Nội",
                                                                  79.0: "Thành phố Hồ Chí Minh",
                                                                  48.0: "Đà Nẵng"}})
    raw = io.load_survey(path, validate=False)
    assert raw["education"].isna().tolist()[:6] == [True, False, False, True, False, True]
    assert raw["education"].notna().sum() == len(frame) - 3


@pytest.mark.parametrize("encoding", ["utf-16", "cp1258", "utf-8-sig"])
def test_a_contract_csv_in_another_encoding_reads_the_same(tmp_path, encoding):
    """Excel's "Unicode text" (UTF-16) and Vietnamese Windows (Windows-1258) files, with a
    Vietnamese label in them, read as the UTF-8 file does."""
    from sipas_analysis.simulate import simulate_survey
    sample, _ = simulate_survey(n=120, seed=4, years=[2024])
    sample["sex"] = sample["sex"].map({"female": "Nữ", "male": "Nam"})
    reference = tmp_path / "utf8.csv"
    sample.to_csv(reference, index=False)
    other = tmp_path / f"{encoding}.csv"
    text = reference.read_text(encoding="utf-8")
    # Windows-1258 holds ư, ơ, â ... whole and the tone as a combining mark
    from tests.own_survey_fixtures import _cp1258
    other.write_bytes(_cp1258(text) if encoding == "cp1258" else text.encode(encoding))
    pd.testing.assert_frame_equal(io.load_survey(other), io.load_survey(reference))


def test_contract_files_in_ods_and_stata_read_as_the_csv(tmp_path):
    import pyreadstat

    from sipas_analysis.simulate import simulate_survey
    from tests.own_survey_fixtures import _ods
    sample, _ = simulate_survey(n=80, seed=5, years=[2024])
    plain = sample.copy()
    for column in plain.columns:
        if str(plain[column].dtype) in ("category", "boolean", "bool"):
            plain[column] = plain[column].astype(str).where(sample[column].notna(), None)
    reference = tmp_path / "survey.csv"
    sample.to_csv(reference, index=False)
    expected = io.load_survey(reference)
    pyreadstat.write_dta(plain, str(tmp_path / "survey.dta"))
    _ods(tmp_path / "survey.ods", [list(plain.columns)] + [
        [None if pd.isna(v) else v for v in row] for row in plain.itertuples(index=False)])
    for name in ("survey.dta", "survey.ods"):
        got = io.load_survey(tmp_path / name)
        pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False,
                                      obj=name)
