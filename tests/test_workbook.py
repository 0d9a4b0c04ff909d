"""The report's workbook as its reader opens it: read back with openpyxl (an independent
reader of the file), in Vietnamese and English, for a province report and an in-province
unit's report. Sheet names, headers and labels follow the language, codes stay in columns of
their own, numbers are the tables' numbers to the last digit, shown with two decimals, the
header row is frozen and the first sheet explains every sheet and the method."""
from __future__ import annotations

import dataclasses
import math

import openpyxl
import pandas as pd
import pytest

from sipas_analysis import files, language, report, schema, simulate
from sipas_analysis.codebook import Codebook
from sipas_analysis.io import load_survey
from sipas_analysis.par_points import ParRule
from sipas_analysis.report.agency_shared import (AgencyParams, compute_agency_shared,
                                                 example_files)
from sipas_analysis.report.kinds import AGENCY_REPORT

FAST = report.ReportSettings(n_reps=10)


@pytest.fixture(scope="module")
def province():
    survey, _ = simulate.simulate_survey(n=1500, years=[2024], seed=3)
    params = report.ReportParams(province_code="01", year=2024)
    return report.compute_shared(survey, params, data_hash="test", settings=FAST)


@pytest.fixture(scope="module")
def agency(tmp_path_factory):
    data, book = example_files(tmp_path_factory.mktemp("example"))
    codebook = Codebook.from_yaml(book)
    survey = load_survey(data, codebook=codebook)
    return compute_agency_shared(survey, codebook, 2024), data, book


def _values(sheet) -> pd.DataFrame:
    rows = list(sheet.iter_rows(values_only=True))
    return pd.DataFrame(rows[1:], columns=rows[0])


def _same_numbers(written: pd.Series, table: pd.Series) -> None:
    """Every number as the table holds it (exact, not rounded); an empty cell where it has
    none."""
    assert len(written) == len(table)
    for got, want in zip(written, table):
        if pd.isna(want):
            assert got is None or (isinstance(got, float) and math.isnan(got))  # an empty cell
        else:
            assert got == want and isinstance(got, (int, float))


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_province_workbook_is_in_the_reader_language(province, tmp_path, lang):
    path = tmp_path / "tables.xlsx"
    params = report.ReportParams(province_code="01", year=2024, lang=lang,
                                 tables_path=str(path))
    report.write_workbook(province, params)
    tables = report.tables_for_workbook(province, params)
    book = openpyxl.load_workbook(path)
    t = lambda key, **values: language.text(key, lang, **values)   # noqa: E731
    header = lambda column: language.COLUMN_TEXT[column][lang]     # noqa: E731

    expected = [t("sheet.about")] + [t(f"sheet.{name}") for name in tables
                                     if name != "synthetic_data"]
    assert book.sheetnames == expected
    assert ("Giới thiệu" if lang == "vi" else "About") == book.sheetnames[0]
    assert all(len(name) <= 31 for name in book.sheetnames)
    assert len({name.casefold() for name in book.sheetnames}) == len(book.sheetnames)
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title

    index = book[t("sheet.index")]
    shown = _values(index)
    assert list(shown.columns[:8]) == [header("province_code"), language.CODE_COLUMN_TEXT[
        "province_code"][lang], header("term"), language.CODE_COLUMN_TEXT["term"][lang],
        header("kind"), language.CODE_COLUMN_TEXT["kind"][lang], header("factor"),
        language.CODE_COLUMN_TEXT["factor"][lang]]
    assert header("estimate_percent") in shown and header("ci_low") in shown
    # a label beside its code
    row = shown[shown[language.CODE_COLUMN_TEXT["term"][lang]] == "access_seating"].iloc[0]
    assert row[header("term")] == schema.CRITERION_LABELS["access_seating"][lang]
    assert row[header("province_code")] == "Hà Nội" and row[language.CODE_COLUMN_TEXT[
        "province_code"][lang]] == "01"
    # numbers: the tables' own, to the last digit; counts as integers
    raw = tables["index"].reset_index(drop=True)
    _same_numbers(shown[header("estimate_percent")], raw["estimate"])
    _same_numbers(shown[header("n_eff")], raw["n_eff"])
    assert all(type(v) is int for v in shown[header("n")])
    national = _values(book[t("sheet.national")])
    _same_numbers(national[header("estimate_percent")], tables["national"]["estimate"]
                  .reset_index(drop=True))
    assert national[header("estimate_percent")].notna().all()
    # the display formats: two decimals for estimates, whole numbers, p-values to three
    sheet = book[t("sheet.national")]
    columns = {cell.value: cell.column_letter for cell in sheet[1]}
    assert sheet[f"{columns[header('estimate_percent')]}2"].number_format == "0.00"
    assert sheet[f"{columns[header('n')]}2"].number_format == "0"
    drivers = book[t("sheet.drivers_ame")]
    columns = {cell.value: cell.column_letter for cell in drivers[1]}
    p_cells = [drivers[f"{columns[header('p_value')]}{r}"] for r in range(2, drivers.max_row + 1)]
    assert p_cells and {c.number_format for c in p_cells} == {"0.000"}
    _same_numbers(pd.Series([c.value for c in p_cells]), tables["drivers_ame"]["p_value"])
    # widths that fit: every column at least as wide as its header, none past the bound
    for sheet in book.worksheets:
        widths = {i: d.width for d in sheet.column_dimensions.values()   # a <col> may span
                  for i in range(d.min, d.max + 1)}                       # several columns
        for cell in sheet[1]:
            width = widths[cell.column]
            assert min(len(str(cell.value)) + 2, 60) <= width <= 62, (sheet.title, cell.value)

    about = _values(book[t("sheet.about")])
    items, content = list(about.iloc[:, 0]), list(about.iloc[:, 1])
    assert content[0] == t("report_title", year=2024, unit="Hà Nội")
    assert t("synthetic_banner") in content                        # the fixture is synthetic
    assert str(2024) in content
    for name in book.sheetnames[1:]:
        row = items.index(t("about_sheet", sheet=name))
        assert content[row], name                                  # every sheet said
    method = province.settings.describe(lang, comparisons=int(
        tables["versus_nation"]["p_value"].notna().sum()))
    for key in ("intervals", "suppression", "multiplicity", "rule"):
        assert method[key] in content, key
    assert ("Korn–Graubard" if lang == "vi" else "Korn and Graubard") in method["intervals"]
    assert t("about_estimates") in content


def test_the_same_tables_give_the_same_workbook_bytes(province, tmp_path):
    paths = [tmp_path / "a.xlsx", tmp_path / "b.xlsx"]
    for path in paths:
        report.write_workbook(province, report.ReportParams(
            province_code="01", year=2024, lang="vi", tables_path=str(path)))
    assert paths[0].read_bytes() == paths[1].read_bytes()


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_unit_workbook_and_page_follow_the_language(agency, tmp_path, lang):
    shared, data, book = agency
    shared = dataclasses.replace(shared, synthetic=True)   # as the example's batch marks it
    path = tmp_path / "tables.xlsx"
    params = AgencyParams(unit="Sở Tư pháp", year=2024, data=str(data), codebook=str(book),
                          lang=lang, tables_path=str(path))
    report.write_workbook(shared, params)
    workbook = openpyxl.load_workbook(path)
    t = lambda key, **values: language.text(key, lang, **values)   # noqa: E731
    # the unit models' sheets (small-area, importance, IPA) come with the unit's data; every
    # sheet is named in the reader's language, the first is the explanation
    names = workbook.sheetnames
    assert names[0] == t("sheet.about")
    assert {t("sheet.index"), t("sheet.versus_province"), t("sheet.change"),
            t("sheet.drivers"), t("sheet.par_points"), t("sheet.provenance")} <= set(names)
    assert not [name for name in names if "_" in name]
    # the codebook's header is the criterion's label, its code beside it
    index = _values(workbook[t("sheet.index")])
    code = language.CODE_COLUMN_TEXT["term"][lang]
    row = index[index[code] == "access_1"].iloc[0]
    assert row[language.COLUMN_TEXT["term"][lang]] == "Câu 1: access 1"
    raw = AGENCY_REPORT.workbook_tables(shared, params)["index"]
    _same_numbers(index[language.COLUMN_TEXT["estimate_percent"][lang]], raw["estimate"])

    # what the file lacks and the PAR rule, in the reader's language, on the first sheet
    # and on the page
    said = Codebook.from_yaml(book).assumptions(lang)
    rule = ParRule(maximum=25).describe(lang)
    about = list(_values(workbook[t("sheet.about")]).iloc[:, 1])
    assert set(said) <= set(about) and t("about_par_rule", rule=rule) in about
    assert t("synthetic_banner") in about
    caveats = AGENCY_REPORT.outputs("caveats", shared, params)
    page = "\n".join(o for o in caveats if isinstance(o, str))
    assert all(sentence in page for sentence in said)
    par = "\n".join(o for o in AGENCY_REPORT.outputs("par", shared, params)
                    if isinstance(o, str))
    assert rule in par
    points = _values(workbook[t("sheet.par_points")])
    assert list(points[language.COLUMN_TEXT["rule"][lang]]) == [rule]
    assert list(points[language.CODE_COLUMN_TEXT["rule"][lang]]) == [shared.par_rule]
    if lang == "vi":
        assert "tệp không có trọng số: mọi người trả lời được tính như nhau" in page
        assert rule == "điểm = 25 × chỉ số / 100"


def test_every_assumption_is_said_in_both_languages_and_english_is_unchanged():
    book = Codebook.from_dict({
        "columns": {"unit": "Đơn vị"}, "constants": {"province": "Thái Nguyên", "year": 2024},
        "scale": {"Không hài lòng": 1, "Bình thường": 2, "Hài lòng": 3}, "satisfied": [3],
        "ratings": {"staff": {"staff_polite": "Câu 1"}}})
    english, vietnamese = book.assumptions("en"), book.assumptions("vi")
    assert english == book.assumptions()      # what the command line prints
    assert english == [
        "no design columns (strata, clusters): simple random sampling of respondents within "
        "each unit",
        "no weights: every respondent counts equally",
        "1 factor(s) rated (staff): the overall index is the mean of the factors present, not "
        "of the five SIPAS factors",
        "no experience facts (on time, online, extra payment, visits): driver models use the "
        "ratings and the columns the codebook gives",
        "no demographics: no breakdown by sex, age or education"]
    assert len(vietnamese) == len(english) and vietnamese[1] == \
        "tệp không có trọng số: mọi người trả lời được tính như nhau"
    for key, sentences in language.ASSUMPTION_TEXT.items():
        assert set(sentences) == set(language.LANGS), key


def test_every_sheet_has_a_valid_name_and_a_description_in_both_languages():
    for kind in report.KINDS.values():
        sheets = [name for section in kind.sections for name, _ in section.sheets] + ["note"]
        for lang in language.LANGS:
            names = [language.text(f"sheet.{name}", lang) for name in ["about", *sheets]]
            assert files.sheet_names(names) == names, (kind.name, lang)
            for name in sheets:
                assert language.text(f"about.{kind.name}.{name}", lang)


def test_sheet_names_are_made_valid_and_distinct():
    assert files.sheet_names(["a/b", "'x'", "A/B", "", "c" * 40, "C" * 40]) == \
        ["a b", "x", "A B (2)", "Sheet", "c" * 31, "C" * 27 + " (2)"]


def test_a_reader_table_refuses_two_columns_under_one_header():
    table = pd.DataFrame({"estimate": [1.0], "Ước lượng": [2.0]})
    with pytest.raises(ValueError, match="same header"):
        language.reader_table(table, "vi")
