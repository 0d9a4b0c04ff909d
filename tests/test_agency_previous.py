"""The previous survey of an agency batch as a second file (``--previous FILE``, read through
its own ``--previous-codebook``): the change is the difference of two independent samples
(closed form: the difference of the two years' estimates, its variance the sum of theirs, the
Welch-Satterthwaite df), units are matched by ``unit_key`` and ``unit_aliases``, a unit the
previous file lacks is a new unit, refusals are clear, and in a real batch the previous file's
hash is among each unit's inputs (a changed previous file re-runs the units).

Fixtures: tests/own_survey_fixtures.py's ``thai_nguyen_2024.xlsx`` and ``thai_nguyen_2023.xlsx``
(another seeded sample of the same province, other headers, one unit fewer, two units spelled
otherwise)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from sipas_analysis import batch, cli
from sipas_analysis.codebook import Codebook, unit_key
from sipas_analysis.io import load_survey
from sipas_analysis.report.agency_shared import AgencyParams, compute_agency_shared
from sipas_analysis.report.kinds import AGENCY_REPORT
from sipas_analysis.report.sections.agency import league_table, provenance
from tests.own_survey_fixtures import NEW_UNIT, OLD_NAMES

RENAMED = "Sở Văn hóa, Thể thao và Du lịch"   # its 2023 name is only known through an alias


@pytest.fixture(scope="module")
def files(own_survey_files):
    names = ["thai_nguyen_2024.xlsx", "thai_nguyen_2024.codebook.yaml", "thai_nguyen_2023.xlsx",
             "thai_nguyen_2023.codebook.yaml"]
    return [own_survey_files[n] for n in names]


@pytest.fixture(scope="module")
def surveys(files):
    data, book, previous, previous_book = files
    book, previous_book = Codebook.from_yaml(book), Codebook.from_yaml(previous_book)
    return (load_survey(data, codebook=book), book, load_survey(previous, codebook=previous_book),
            previous_book)


@pytest.fixture(scope="module")
def shared(surveys):
    survey, book, previous, previous_book = surveys
    return compute_agency_shared(survey, book, 2024, previous=previous,
                                 previous_codebook=previous_book,
                                 previous_name="thai_nguyen_2023.xlsx", previous_hash="h")


def _aliased(path, tmp_path):
    book = yaml.safe_load(path.read_text(encoding="utf-8"))
    book["unit_aliases"] = {OLD_NAMES[RENAMED]: RENAMED}
    target = tmp_path / "aliased.codebook.yaml"
    target.write_text(yaml.safe_dump(book, allow_unicode=True, sort_keys=False), "utf-8")
    return target


def test_the_change_is_the_difference_of_two_independent_samples(surveys, shared):
    _, _, previous, previous_book = surveys
    last = compute_agency_shared(previous, previous_book, 2023).units
    last = last.assign(unit=last["unit"].map(lambda u: {unit_key(v): v for v in OLD_NAMES}.get(
        unit_key(u), u))).set_index(["unit", "term"])
    this = shared.units.set_index(["unit", "term"])
    change = shared.change.set_index(["unit", "term"])
    assert shared.previous_year == 2023 and (shared.change["previous_year"] == 2023).all()
    assert len(change) == 12 * 6          # 12 units in both years, overall and five factors
    now, before = this.loc[change.index], last.loc[change.index]
    assert np.allclose(change["estimate"], now["estimate"] - before["estimate"], atol=1e-12)
    # independent samples: Var(difference) = Var(this year) + Var(last year)
    assert np.allclose(change["std_error"], np.hypot(now["std_error"], before["std_error"]),
                       rtol=1e-12)
    # the contrast's design df is Welch-Satterthwaite's of the two samples
    v1, v2 = now["std_error"] ** 2, before["std_error"] ** 2
    welch = (v1 + v2) ** 2 / (v1 ** 2 / now["df"] + v2 ** 2 / before["df"])
    assert np.allclose(change["df"], welch, rtol=1e-10)
    t = change["estimate"] / change["std_error"]
    assert np.allclose(change["p_value"], 2 * stats.t.sf(t.abs(), change["df"]), rtol=1e-10)


def test_units_are_matched_by_their_key_and_the_aliases(surveys, shared, files, tmp_path):
    survey, _, previous, previous_book = surveys
    # "Ủy ban nhân dân huyện Phú Lương" last year is this year's "UBND huyện Phú Lương"
    assert "UBND huyện Phú Lương" in set(shared.change["unit"])
    # without an alias the renamed department has no previous data: it is new, as Sông Công
    assert shared.new_units == (RENAMED, NEW_UNIT)
    league = league_table(shared).set_index("unit")
    assert league.loc[list(shared.new_units), "change"].isna().all()
    assert league.drop(index=list(shared.new_units))["change"].notna().all()
    aliased = Codebook.from_yaml(_aliased(files[1], tmp_path))
    matched = compute_agency_shared(survey, aliased, 2024, previous=previous,
                                    previous_codebook=previous_book)
    assert matched.new_units == (NEW_UNIT,) and RENAMED in set(matched.change["unit"])


def test_a_unit_page_says_where_its_previous_survey_comes_from(shared, files):
    data, book, previous, previous_book = files
    params = AgencyParams(unit="Sở Tư pháp", year=2024, data=str(data), codebook=str(book),
                          lang="en", previous=str(previous), previous_codebook=str(previous_book))
    shown = "\n".join(getattr(cell, "_repr_html_", cell.__str__)()
                      for cell in AGENCY_REPORT.render(shared, params))
    assert "2023 → 2024" in shown and "the file thai_nguyen_2023.xlsx, an independent" in shown
    assert "Satisfaction index 2024: Sở Tư pháp (Thái Nguyên)" in shown
    rows = provenance(shared, params).set_index("item")["value"]
    assert rows["previous_data"] == "thai_nguyen_2023.xlsx" and rows["previous_year"] == "2023"
    assert rows["param.previous"] == "thai_nguyen_2023.xlsx"
    assert rows["province_name"] == "Thái Nguyên"


def test_a_previous_survey_that_cannot_be_compared_is_refused(surveys, files):
    survey, book, previous, previous_book = surveys
    both = pd.concat([previous.assign(unit=previous["unit"]), survey], ignore_index=True)
    with pytest.raises(ValueError, match=r"holds an earlier year \(2023\) and a previous "):
        compute_agency_shared(both, book, 2024, previous=previous,
                              previous_codebook=previous_book)
    # last year's file read through this year's codebook: its constants.year says 2024, and
    # its headers are not this year's
    with pytest.raises(ValueError) as error:
        load_survey(files[2], codebook=book)
    assert "Câu 1: Nơi ngồi chờ" in str(error.value)
    as_this_year = previous.assign(year=2024.0)
    with pytest.raises(ValueError, match="no year before 2024, only \\[2024\\]"):
        compute_agency_shared(survey, book, 2024, previous=as_this_year)
    elsewhere = previous.assign(province_code="01")
    with pytest.raises(ValueError, match=r"of province\(s\) \['01'\]"):
        compute_agency_shared(survey, book, 2024, previous=elsewhere,
                              previous_codebook=previous_book)


def test_cli_previous_options_need_their_companions(files, capsys):
    data, book, previous, previous_book = files
    assert cli.main(["reports", "--year", "2024", "--previous", str(previous)]) == 2
    assert "--previous applies to the reports of your own survey" in capsys.readouterr().err
    assert cli.main(["reports", "--year", "2024", "--data", str(data), "--codebook", str(book),
                     "--previous-codebook", str(previous_book)]) == 2
    assert "give --previous FILE" in capsys.readouterr().err


def test_a_batch_with_a_previous_file(files, tmp_path, monkeypatch, capsys):
    data, book, previous, previous_book = files
    last_year = tmp_path / previous.name   # a copy, corrected below
    last_year.write_bytes(previous.read_bytes())
    monkeypatch.setenv(batch.CACHE_DIR_ENV, str(tmp_path / "cache"))
    out, units = tmp_path / "reports", NEW_UNIT
    status = cli.main(["reports", "--year", "2024", "--data", str(data), "--codebook", str(book),
                       "--previous", str(last_year), "--previous-codebook", str(previous_book),
                       "--units", units, "--lang", "en", "--out", str(out), "--no-progress"])
    assert status == 0, capsys.readouterr().err
    year_dir = out / "2024"
    assert not (year_dir / ".batch.lock").exists()
    league = (year_dir / "index.html").read_text(encoding="utf-8")
    assert "League table of units 2024: Thái Nguyên" in league
    assert "<td>new unit</td>" in league
    page = (year_dir / "uy-ban-nhan-dan-thanh-pho-song-cong" / "report.html").read_text("utf-8")
    assert "no data in the previous survey (2023, thai_nguyen_2023.xlsx)" in page
    assert "Sông Công (Thái Nguyên)" in page
    record = json.loads((year_dir / "uy-ban-nhan-dan-thanh-pho-song-cong" /
                         batch.UNIT_RECORD).read_text("utf-8"))
    assert set(record["inputs"]) >= {"previous", "previous_codebook"}
    manifest = json.loads((year_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["previous"] == str(last_year.resolve())
    # last year's file corrected in place (one answer changed): the unit runs again
    import openpyxl
    workbook = openpyxl.load_workbook(last_year)
    cell = workbook.active.cell(row=6, column=8)
    cell.value = "Hài lòng" if cell.value != "Hài lòng" else "Bình thường"
    workbook.save(last_year)
    again = batch.run_agency_batch(2024, data=data, codebook=book, units=NEW_UNIT,
                                   lang="en", out=out, progress=False, previous=last_year,
                                   previous_codebook=previous_book)
    assert [r.reason for r in again.results] == ["previous survey changed"]
