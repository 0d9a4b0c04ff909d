"""A province's own survey files, end to end through the command line: validate, index by unit,
quality, with the codebooks written as the README documents them.

The files are those of tests/own_survey_fixtures.py (title rows, Vietnamese headers and text
answers, a KoboToolbox export, a kiosk file in Windows-1258 with a 4-level scale, SPSS, TCVN3,
UTF-16 and ODS). The expected indices are counted from the files with plain pandas.
"""
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from sipas_analysis import cli

PAIRS = {   # data file -> its codebook
    "thai_nguyen_2024.xlsx": "thai_nguyen_2024.codebook.yaml",
    "kobo_export.csv": "kobo_export_csv.codebook.yaml",
    "kobo_export.xlsx": "kobo_export_xlsx.codebook.yaml",
    "kiosk_monthly.csv": "kiosk_monthly.codebook.yaml",
    "survey.sav": "survey.codebook.yaml",
    "tcvn3_survey.xlsx": "tcvn3_survey.codebook.yaml",
    "utf16_survey.csv": "utf16_survey.codebook.yaml",
    "survey.ods": "survey_ods.codebook.yaml",
    "thai_nguyen_2023.xlsx": "thai_nguyen_2023.codebook.yaml",
}


@pytest.mark.parametrize("data", list(PAIRS))
def test_every_office_file_validates_through_its_codebook(own_survey_files, data, capsys):
    status = cli.main(["validate", str(own_survey_files[data]), "--codebook",
                       str(own_survey_files[PAIRS[data]])])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "valid —" in out and "Traceback" not in err
    assert "simple random sampling" in err        # what the file lacks is said


def _satisfied_share(path, header_row, unit_header, question):
    """The share answering 'Hài lòng' or 'Rất hài lòng' by unit, among the answers that are
    ratings, read with plain pandas."""
    raw = pd.read_excel(path, header=header_row - 1, engine="openpyxl")   # an independent reader
    answers = raw[question]
    rated = answers.notna() & (answers != "Không ý kiến")
    happy = answers.isin(["Hài lòng", "Rất hài lòng"])
    return (happy[rated].groupby(raw.loc[rated, unit_header]).mean() * 100)


def test_index_by_unit_counts_the_file(own_survey_files, tmp_path, capsys):
    data = own_survey_files["thai_nguyen_2024.xlsx"]
    book_path = own_survey_files["thai_nguyen_2024.codebook.yaml"]
    book = yaml.safe_load(book_path.read_text(encoding="utf-8"))
    criterion, question = next(iter(next(iter(book["ratings"].values())).items()))
    out = tmp_path / "index.csv"
    assert cli.main(["index", "--data", str(data), "--codebook", str(book_path), "--kind",
                     "all", "--out", str(out)]) == 0
    capsys.readouterr()
    table = pd.read_csv(out)
    expected = _satisfied_share(data, 4, book["columns"]["unit"], question)
    got = table[table["term"] == criterion].set_index("unit")["estimate"]
    for unit, share in expected.items():
        assert got[unit] == pytest.approx(share, abs=1e-9)
    # the units are ranked among their peers: departments among departments
    overall = table[(table["term"] == "overall") & (table["unit"] != "all respondents")]
    for _, peers in overall.groupby("unit_type"):
        assert sorted(peers["rank"].astype(int)) == sorted(
            peers["estimate"].rank(ascending=False, method="min").astype(int))
        assert (peers["rank_low"] >= 1).all() and (peers["rank_high"] <= len(peers)).all()


def test_par_points_on_the_command_line(own_survey_files, tmp_path, capsys):
    out = tmp_path / "par.csv"
    assert cli.main(["index", "--data", str(own_survey_files["kobo_export.csv"]), "--codebook",
                     str(own_survey_files["kobo_export_csv.codebook.yaml"]), "--par-max", "25",
                     "--out", str(out)]) == 0
    capsys.readouterr()
    table = pd.read_csv(out)
    units = table[table["unit"] != "all respondents"]
    assert np.allclose(units["points"], 25 * units["estimate"] / 100)


def _broken_copy(own_survey_files, tmp_path):
    """The Excel file with an unknown label in three rows and a date that does not parse; the
    codebook asking for a header the file lacks and a province that does not exist."""
    import openpyxl
    source = own_survey_files["thai_nguyen_2024.xlsx"]
    path = tmp_path / "broken.xlsx"
    shutil.copy(source, path)
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[4]]
    codebook = yaml.safe_load(own_survey_files["thai_nguyen_2024.codebook.yaml"].read_text(
        encoding="utf-8"))
    criterion, question = next(iter(next(iter(codebook["ratings"].values())).items()))
    column = header.index(question) + 1
    for row in (6, 9, 12):             # file rows: the header is row 4 under three titles
        sheet.cell(row=row, column=column, value="Rất hài lòng lắm")
    sheet.cell(row=7, column=header.index(codebook["columns"]["date"]) + 1, value="31/02/2024")
    book.save(path)
    codebook["overall"] = "Câu 99: không có trong tệp"
    codebook["constants"]["province"] = "Atlantis"
    book_path = tmp_path / "broken.yaml"
    book_path.write_text(yaml.safe_dump(codebook, allow_unicode=True), encoding="utf-8")
    return path, book_path


def test_every_problem_at_once_with_the_file_row_numbers(own_survey_files, tmp_path, capsys):
    path, book_path = _broken_copy(own_survey_files, tmp_path)
    out = tmp_path / "o" / "index.csv"
    status = cli.main(["index", "--data", str(path), "--codebook", str(book_path),
                       "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 1
    assert "Rất hài lòng lắm" in err and "3 row(s): 6" in err and "9" in err and "12" in err
    assert "31/02/2024" in err and "— 1 row(s): 7" in err
    assert "Câu 99: không có trong tệp" in err and "Atlantis" in err
    assert "Traceback" not in err
    assert not out.exists() and not out.parent.exists()


def test_codebook_mistakes_are_named(own_survey_files, tmp_path, capsys):
    book = yaml.safe_load(own_survey_files["kobo_export_csv.codebook.yaml"].read_text(
        encoding="utf-8"))
    book["colums"] = book.pop("columns")
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(book, allow_unicode=True), encoding="utf-8")
    status = cli.main(["validate", str(own_survey_files["kobo_export.csv"]), "--codebook",
                       str(path)])
    err = capsys.readouterr().err
    assert status == 1 and "unknown key colums (did you mean 'columns'?)" in err
    assert cli.main(["validate", str(own_survey_files["kobo_export.csv"]), "--codebook",
                     str(tmp_path / "none.yaml")]) == 2
    assert "no such codebook" in capsys.readouterr().err


def test_quality_of_an_own_survey(own_survey_files, tmp_path, capsys):
    out = tmp_path / "q"
    assert cli.main(["quality", str(own_survey_files["kobo_export.csv"]), "--codebook",
                     str(own_survey_files["kobo_export_csv.codebook.yaml"]), "--out",
                     str(out), "--lang", "en"]) == 0
    capsys.readouterr()
    assert {p.name for p in out.iterdir()} >= {"quality.html", "quality.xlsx",
                                               "flagged_rows.csv"}
    rows = pd.read_csv(out / "flagged_rows.csv")
    assert rows["source_row"].min() >= 2        # rows as the file numbers them


@pytest.mark.parametrize("data", ["thai_nguyen_2024.xlsx", "kobo_export.csv", "kobo_export.xlsx",
                                  "kiosk_monthly.csv", "survey.sav", "tcvn3_survey.xlsx",
                                  "utf16_survey.csv", "survey.ods"])
def test_a_draft_codebook_takes_the_file_to_an_index_by_unit(own_survey_files, data, tmp_path,
                                                              capsys):
    """draft -> validate -> index, with the draft as written (the analyst would still check
    it): the header row, separator, encoding and scale it found are right enough to read."""
    book = tmp_path / "draft.yaml"
    source = str(own_survey_files[data])
    assert cli.main(["codebook", "draft", source, "-o", str(book)]) == 0
    assert cli.main(["validate", source, "--codebook", str(book)]) == 0
    out = tmp_path / "index.csv"
    assert cli.main(["index", "--data", source, "--codebook", str(book), "--out", str(out)]) == 0
    capsys.readouterr()
    table = pd.read_csv(out)
    assert table["unit"].nunique() >= 4 and table["estimate"].between(0, 100).all()


def test_kobo_choice_names_become_the_unit_names(own_survey_files):
    import sipas_analysis as sa
    survey = sa.load_survey(own_survey_files["kobo_export.csv"],
                            codebook=own_survey_files["kobo_export_csv.codebook.yaml"])
    assert "Sở Tư pháp" in set(survey["unit"]) and "so_tu_phap" not in set(survey["unit"])


@pytest.mark.parametrize("data", ["kobo_export.csv", "kobo_export.xlsx"])
def test_a_codebook_from_the_xlsform_reads_both_kobo_exports(own_survey_files, data, tmp_path,
                                                              capsys):
    book = tmp_path / "form.yaml"
    assert cli.main(["codebook", "from-xlsform", str(own_survey_files["kobo_form.xlsx"]), "-o",
                     str(book)]) == 0
    out = tmp_path / "index.csv"
    assert cli.main(["index", "--data", str(own_survey_files[data]), "--codebook", str(book),
                     "--out", str(out)]) == 0
    capsys.readouterr()
    units = set(pd.read_csv(out)["unit"]) - {"all respondents"}
    assert "Sở Tư pháp" in units and len(units) == 4


def test_an_own_survey_without_its_codebook_gets_a_hint(own_survey_files, capsys):
    assert cli.main(["validate", str(own_survey_files["kobo_export.csv"])]) == 1
    err = capsys.readouterr().err
    assert "required column is missing" in err
    assert "hint: this file is not in the data contract" in err and "--codebook" in err


def test_an_empty_constant_is_named(own_survey_files, tmp_path, capsys):
    book = yaml.safe_load(own_survey_files["kobo_export_csv.codebook.yaml"].read_text(
        encoding="utf-8"))
    book["constants"]["province"] = ""
    path = tmp_path / "empty.yaml"
    path.write_text(yaml.safe_dump(book, allow_unicode=True), encoding="utf-8")
    assert cli.main(["validate", str(own_survey_files["kobo_export.csv"]), "--codebook",
                     str(path)]) == 1
    assert "constants.province is empty" in capsys.readouterr().err
