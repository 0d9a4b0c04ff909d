"""Hostile input: duplicate headers, spreadsheet formulas, YAML aliases and tags, garbage
files, control characters."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from sipas_analysis import files

ROOT = Path(__file__).resolve().parents[1]

INJECTIONS = ['=HYPERLINK("http://x","y")', "+1", "@SUM(A1)", "-2+3", "\tx", "\r=1"]


def _injected_table():
    return pd.DataFrame({"note": INJECTIONS + ["plain"],
                         "value": [-1.5, -2.0, 0.0, 3.0, -4.0, 5.0, 6.0],
                         "count": [-1, 2, 3, 4, 5, 6, 7]})


def _assert_no_formulas(path, n_rows):
    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        cells = [cell for row in sheet.iter_rows() for cell in row]
        assert cells
        assert all(cell.data_type != "f" for cell in cells), \
            [cell.value for cell in cells if cell.data_type == "f"]
        header = [cell.value for cell in sheet[1]]
        notes = [sheet.cell(row=r, column=header.index("note") + 1).value.replace("_x000D_", "\r")
                 for r in range(2, n_rows + 2)]
        assert notes == ["'" + v for v in INJECTIONS] + ["plain"]
        for name in ("value", "count"):
            column = header.index(name) + 1
            values = [sheet.cell(row=r, column=column) for r in range(2, n_rows + 2)]
            assert all(cell.data_type == "n" for cell in values)
            assert values[0].value < 0


def test_neutralise_formulas_prefixes_text_keeps_numbers():
    table = _injected_table().assign(mixed=[-1, "-1", "=A1", 2.5, None, "ok", "@x"])
    out = files.neutralise_formulas(table)
    assert out["note"].tolist()[:4] == ["'" + v for v in INJECTIONS[:4]]
    assert out["mixed"].tolist()[:4] == [-1, "'-1", "'=A1", 2.5]
    assert out["mixed"].isna().iloc[4]
    assert out["value"].dtype == np.float64 and out["count"].dtype == np.int64
    categorical = files.neutralise_formulas(pd.DataFrame({"c": pd.Categorical(["=1", "a"])}))
    assert categorical["c"].tolist() == ["'=1", "a"]
    assert table["note"].iloc[0] == INJECTIONS[0]   # the input is not modified


def test_write_table_xlsx_has_no_formulas(tmp_path):
    path = files.write_table(_injected_table(), tmp_path / "t.xlsx")
    _assert_no_formulas(path, len(INJECTIONS) + 1)


def test_write_table_csv_neutralised_and_suffix_checked(tmp_path):
    path = files.write_table(_injected_table(), tmp_path / "t.csv")
    back = pd.read_csv(path, keep_default_na=False)
    assert len(back) == len(INJECTIONS) + 1
    assert all(v.startswith("'") for v in back["note"].iloc[:-1])
    assert back["value"].dtype == np.float64 and back["value"].iloc[0] == -1.5
    with pytest.raises(ValueError, match=r"\.csv or \.xlsx"):
        files.write_table(_injected_table(), tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()


def test_report_workbook_has_no_formulas(tmp_path):
    from sipas_analysis.report.export import write_tables
    path = write_tables({"a": _injected_table(), "b": _injected_table()}, tmp_path / "w.xlsx")
    _assert_no_formulas(path, len(INJECTIONS) + 1)
    assert [p.name for p in tmp_path.iterdir()] == ["w.xlsx"]   # no temporary file left


# ------------------------------------------------------------------------------------------
# YAML
# ------------------------------------------------------------------------------------------

LAUGHS = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n" + "".join(
    f"{chr(c)}: &{chr(c)} [*{chr(c - 1)},*{chr(c - 1)},*{chr(c - 1)},*{chr(c - 1)},*{chr(c - 1)},"
    f"*{chr(c - 1)},*{chr(c - 1)},*{chr(c - 1)},*{chr(c - 1)}]\n" for c in range(ord("b"), ord("j")))
LAUGHS += "year: *i\n"


def _readers():
    from sipas_analysis.evaluate.declaration import Declaration
    from sipas_analysis.report.params import load_params_file
    return [load_params_file, Declaration.from_yaml]


@pytest.mark.parametrize("reader", range(2))
def test_yaml_aliases_refused(tmp_path, reader):
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS)
    with pytest.raises(ValueError, match="anchors and aliases") as error:
        _readers()[reader](path)
    assert str(path) in str(error.value) and len(str(error.value)) < 500


@pytest.mark.parametrize("reader", range(2))
def test_yaml_object_tags_refused(tmp_path, reader):
    path = tmp_path / "tag.yaml"
    path.write_text("year: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ValueError, match="tags that build objects") as error:
        _readers()[reader](path)
    assert str(path) in str(error.value)


def test_yaml_syntax_error_and_long_values_bounded(tmp_path):
    from sipas_analysis.report.params import load_params_file
    path = tmp_path / "bad.yaml"
    path.write_text("year: [1, 2\n")
    with pytest.raises(ValueError, match="cannot read as YAML"):
        load_params_file(path)
    path.write_text("lang: [" + ", ".join(["lol"] * 100_000) + "]\n")
    with pytest.raises(ValueError, match="lang must be str") as error:
        load_params_file(path)
    assert len(str(error.value)) < 600


def test_params_files_still_read():
    from sipas_analysis.report.params import PARAMS_DIR, load_params_file
    assert load_params_file(PARAMS_DIR / "units" / "63" / "01.yaml")["province_code"] == "01"


def test_printable_escapes_controls():
    assert files.printable("a\x1b]0;title\x07b\x9bc\nd\te") == "a\\x1b]0;title\\x07b\\x9bc\nd\te"
