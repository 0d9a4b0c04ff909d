"""Reports on the units inside a province (departments, district committees) from its own
survey: the units resolved from the data, the shared results (peer rank sets, the province
contrast, PAR points), one real batch of the agency notebook on three units of the Thái
Nguyên fixture, its league table, and the incremental inputs (a changed codebook re-runs)."""
from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from sipas_analysis import batch, cli
from sipas_analysis.codebook import Codebook, unit_slug
from sipas_analysis.io import load_survey
from sipas_analysis.report.agency_shared import (AgencyParams, compute_agency_shared,
                                                 example_files, match_units)
from sipas_analysis.report.kinds import AGENCY_REPORT
from sipas_analysis.report.sections.agency import league_table

UNITS = "sở tư pháp; Sở Văn hóa, Thể thao và Du lịch; Ủy ban nhân dân huyện Phú Lương"


@pytest.fixture(scope="module")
def thai_nguyen(own_survey_files):
    data = own_survey_files["thai_nguyen_2024.xlsx"]
    book = own_survey_files["thai_nguyen_2024.codebook.yaml"]
    codebook = Codebook.from_yaml(book)
    survey = load_survey(data, codebook=codebook)
    return data, book, codebook, survey


@pytest.fixture(scope="module")
def shared(thai_nguyen):
    _, _, codebook, survey = thai_nguyen
    return compute_agency_shared(survey, codebook, 2024)


@pytest.fixture(scope="module")
def agency_batch(thai_nguyen, tmp_path_factory):
    data, book, _, _ = thai_nguyen
    out = tmp_path_factory.mktemp("agency")
    result = batch.run_agency_batch(2024, data=data, codebook=book, units=UNITS, lang="en",
                                    out=out / "reports", cache_dir=out / "cache",
                                    progress=False)
    return result, out


def test_units_come_from_the_data_in_any_spelling():
    names = ["Sở Văn hóa, Thể thao và Du lịch", "UBND huyện Phú Lương", "Sở Tư pháp"]
    assert match_units(names, "all") == sorted(names)
    # names hold commas, so ";" separates them; abbreviations, case and accents do not matter
    assert match_units(names, "Sở văn hoá, thể thao và du lịch; ubnd huyen phu luong") == \
        ["Sở Văn hóa, Thể thao và Du lịch", "UBND huyện Phú Lương"]
    assert match_units(names, ["Ủy ban nhân dân huyện Phú Lương", "UBND huyện Phú Lương"]) == \
        ["UBND huyện Phú Lương"]


def test_unknown_units_are_refused_with_close_matches():
    with pytest.raises(ValueError) as error:
        match_units(["Sở Tư pháp", "Sở Xây dựng"], "Sở Tư phá; Sở Y tế")
    message = str(error.value)
    assert "'Sở Tư phá' (closest: Sở Tư pháp)" in message and "'Sở Y tế'" in message


def test_cli_unknown_unit_exits_2_and_writes_nothing(thai_nguyen, tmp_path, capsys):
    data, book, _, _ = thai_nguyen
    status = cli.main(["reports", "--data", str(data), "--codebook", str(book), "--year", "2024",
                       "--units", "Sở Y tế; Sở Tư pháp", "--out", str(tmp_path / "out"),
                       "--no-progress"])
    assert status == 2
    assert "unknown unit(s) 'Sở Y tế'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_units_from_a_file_one_per_line(tmp_path):
    listing = tmp_path / "units.txt"
    listing.write_text("# departments\nSở Tư pháp\n\nSở Văn hóa, Thể thao và Du lịch\n",
                       encoding="utf-8")
    assert cli._agency_units(f"@{listing}") == ["Sở Tư pháp", "Sở Văn hóa, Thể thao và Du lịch"]
    assert cli._agency_units("all") == "all" and cli._agency_units(None) == "all"
    with pytest.raises(cli.UserError):
        cli._agency_units(f"@{tmp_path / 'missing.txt'}")


def test_cli_refuses_province_options_with_a_codebook(thai_nguyen, capsys):
    data, book, _, _ = thai_nguyen
    assert cli.main(["reports", "--data", str(data), "--codebook", str(book), "--year", "2024",
                     "--unit-set", "63"]) == 2
    assert cli.main(["reports", "--year", "2024", "--par-max", "25"]) == 2
    assert "--par-max applies" in capsys.readouterr().err


def test_rank_sets_within_type_match_sipas_index(thai_nguyen, shared, tmp_path):
    data, book, _, _ = thai_nguyen
    out = tmp_path / "index.csv"
    assert cli.main(["index", "--data", str(data), "--codebook", str(book), "--year", "2024",
                     "--out", str(out)]) == 0
    index = pd.read_csv(out)
    index = index[(index["kind"] == "overall") & index["rank"].notna()].set_index("unit")
    league = league_table(shared).set_index("unit")
    assert set(league.index) == set(index.index) and len(league) == 14
    for column in ["rank", "rank_low", "rank_high"]:
        assert (league[column].astype(int) == index.loc[league.index, column].astype(int)).all()
    # departments are ranked among departments, districts among districts
    for _, rows in league.groupby("unit_type"):
        assert sorted(rows["rank"].astype(int)) == list(range(1, len(rows) + 1))
    assert league["n_peers"].isin([8, 6]).all()


def test_the_province_is_the_equal_weight_mean_without_unit_sizes(shared):
    overall = shared.units[shared.units["kind"] == "overall"]
    province = shared.province.set_index("term").loc["overall"]
    assert shared.province_rule == "equal"
    assert province["estimate"] == pytest.approx(overall["estimate"].mean())
    versus = shared.versus_province[shared.versus_province["term"] == "overall"]
    merged = versus.merge(overall[["unit", "estimate", "std_error"]], on="unit",
                          suffixes=("", "_unit"))
    assert np.allclose(merged["difference"], merged["estimate_unit"] - province["estimate"])
    # units are sampled separately (SRS within each): Var(u - mean) is close to
    # (1 - 1/k)^2 Var(u) + sum of the others' Var / k^2
    k = len(overall)
    var = overall.set_index("unit")["std_error"] ** 2
    expected = [np.sqrt((1 - 1 / k) ** 2 * var[u] + (var.sum() - var[u]) / k ** 2)
                for u in merged["unit"]]
    assert np.allclose(merged["std_error"], expected, rtol=0.05)
    marks = merged.set_index("unit")["mark"]
    assert (marks[merged.set_index("unit")["p_value"] >= 0.05] == "").all()
    assert set(marks) <= {"above", "below", ""}


def test_the_province_is_size_weighted_with_unit_sizes(thai_nguyen):
    _, _, codebook, survey = thai_nguyen
    sizes = {u: float(i + 1) for i, u in enumerate(sorted(survey["unit"].unique()))}
    sized = survey.assign(unit_size=survey["unit"].map(sizes))
    result = compute_agency_shared(sized, codebook, 2024)
    overall = result.units[result.units["kind"] == "overall"].set_index("unit")["estimate"]
    weights = pd.Series(sizes) / sum(sizes.values())
    assert result.province_rule == "weighted"
    assert result.province.set_index("term").loc["overall", "estimate"] == \
        pytest.approx(float((overall * weights[overall.index]).sum()))


def test_par_points_follow_par_max_and_the_codebook_bands(thai_nguyen, shared):
    _, _, codebook, survey = thai_nguyen
    par = shared.par.set_index("unit")
    assert np.allclose(par["points"], 25 * par["index"] / 100)
    assert {"points_low", "points_high", "max_points", "unit_type"} <= set(par.columns)
    ten = compute_agency_shared(survey, codebook, 2024, par_max=10).par.set_index("unit")
    assert np.allclose(ten["points"], 10 * ten["index"] / 100)
    banded = dataclasses.replace(codebook, par={
        "max": 2, "rule": "bands", "bands": [{"from": 80, "points": 1},
                                             {"from": 95, "points": 2}]})
    bands = compute_agency_shared(survey, banded, 2024).par
    assert set(bands["points"]) <= {0.0, 1.0, 2.0} and "p_band_differs" in bands


def test_change_from_an_earlier_year_in_the_same_file():
    data, book = example_files()
    codebook = Codebook.from_yaml(book)
    result = compute_agency_shared(load_survey(data, codebook=codebook), codebook, 2024)
    assert result.previous_year == 2023
    overall = result.change[result.change["term"] == "overall"]
    assert len(overall) == 6 and overall["p_value"].between(0, 1).all()
    first = compute_agency_shared(load_survey(data, codebook=codebook), codebook, 2023)
    assert first.change.empty and first.previous_year is None


def test_a_unit_page_renders_every_section(shared, thai_nguyen):
    data, book, _, _ = thai_nguyen
    params = AgencyParams(unit="ubnd huyen phu luong", year=2024, data=str(data),
                          codebook=str(book), lang="en")
    shown = "\n".join(o for o in AGENCY_REPORT.render(shared, params) if isinstance(o, str))
    for part in ["UBND huyện Phú Lương", "Rank among the 6 units", "equal-weight mean",
                 "PAR-index points", "no design columns", "The file holds no survey year"]:
        assert part in shown, part
    tables = AGENCY_REPORT.workbook_tables(shared, params)
    assert {"index", "versus_province", "par_points", "provenance"} <= set(tables)
    criteria = [o for o in AGENCY_REPORT.outputs("criteria", shared, params)
                if not isinstance(o, str)][0].table
    # criteria by the codebook's header text
    assert criteria.iloc[:, 0].str.startswith("Câu").all()


def test_batch_writes_one_folder_per_unit_and_the_league_table(agency_batch):
    result, _ = agency_batch
    assert result.exit_status == 0 and len(result.results) == 3
    year_dir = result.out_dir
    slugs = {"so-tu-phap", "so-van-hoa-the-thao-va-du-lich", "uy-ban-nhan-dan-huyen-phu-luong"}
    assert {p.name for p in year_dir.iterdir() if p.is_dir()} == slugs
    assert unit_slug("UBND huyện Phú Lương") == "uy-ban-nhan-dan-huyen-phu-luong"
    for slug in slugs:
        assert {"report.ipynb", "report.html", "tables.xlsx", "unit.json"} <= \
            {p.name for p in (year_dir / slug).iterdir()}
    page = (year_dir / "so-tu-phap" / "report.html").read_text(encoding="utf-8")
    assert "Sở Tư pháp" in page and "PAR-index points" in page and "<script" not in page
    index = result.index_path.read_text(encoding="utf-8")
    assert '<a href="so-tu-phap/report.html">' in index
    assert "League table 2024: Sở, ban, ngành" in index and "UBND cấp huyện" in index
    par = pd.read_excel(year_dir / "par_points.xlsx", engine="openpyxl")
    assert len(par) == 14 and {"Unit", "Points", "Points, lower", "Unit type"} <= set(par)
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    assert manifest["kind"] == "agency" and manifest["codebook_hash"]
    assert all(u["inputs"]["codebook"] == manifest["codebook_hash"] for u in manifest["units"])


def test_a_changed_codebook_reruns_every_unit(agency_batch, thai_nguyen, tmp_path):
    _, out = agency_batch
    data, book, _, _ = thai_nguyen
    copy = tmp_path / "codebook.yaml"
    copy.write_text(book.read_text(encoding="utf-8"), encoding="utf-8")
    reports, unit = tmp_path / "reports", "Sở Tư pháp"
    first = batch.run_agency_batch(2024, data=data, codebook=copy, units=unit, lang="en",
                                   out=reports, cache_dir=out / "cache", progress=False)
    assert first.results[0].reason == "new" and first.exit_status == 0
    same = batch.run_agency_batch(2024, data=data, codebook=copy, units=unit, lang="en",
                                  out=reports, cache_dir=out / "cache", progress=False)
    assert same.results[0].skipped == "unchanged"
    text = book.read_text(encoding="utf-8")
    assert "satisfied:\n- 4\n- 5" in text
    copy.write_text(text.replace("satisfied:\n- 4\n- 5", "satisfied:\n- 5"), encoding="utf-8")
    changed = batch.run_agency_batch(2024, data=data, codebook=copy, units=unit, lang="en",
                                     out=reports, cache_dir=out / "cache", progress=False)
    assert changed.results[0].reason == "codebook changed" and changed.exit_status == 0
    # PAR settings are part of a unit's inputs too
    par = batch.run_agency_batch(2024, data=data, codebook=copy, units=unit, lang="en",
                                 par_max=10, out=reports, cache_dir=out / "cache",
                                 progress=False)
    assert par.results[0].reason == "params changed"
    shown = (reports / "2024" / "so-tu-phap" / "report.html").read_text(encoding="utf-8")
    assert "of 10.00 points" in shown


def test_province_inputs_have_no_codebook_fingerprint():
    inputs = batch.unit_inputs({"province_code": "01"}, params_text="", data_hash="d",
                               notebook_hash="n", package="p")
    assert set(inputs) == {"params", "data", "notebook", "package"}
    assert batch.rerun_reason({"status": "ok", "inputs": inputs, "outputs": []}, inputs,
                              year_dir=None) == "outputs missing"


def test_unit_importance_is_that_of_relative_importance(thai_nguyen, shared):
    from sipas_analysis.models.importance import relative_importance
    from sipas_analysis.report.agency_shared import _design
    _, _, codebook, survey = thai_nguyen
    unit = "Sở Tư pháp"
    scores = [f"{f}_score" for f in codebook.factors]
    rows = survey[(survey["unit"] == unit) & (survey["year"] == 2024)].dropna(
        subset=scores + ["overall_satisfaction"]).reset_index(drop=True)
    expected = relative_importance("overall_satisfaction ~ " + " + ".join(scores),
                                   _design(rows)).table
    got = shared.importance[shared.importance["unit"] == unit]
    assert np.allclose(got["lmg"], expected["lmg"]) and np.allclose(got["share"],
                                                                    expected["share"])
    assert int(got["n"].iloc[0]) == len(rows)


def test_a_unit_without_respondents_says_so(shared, thai_nguyen):
    data, book, _, _ = thai_nguyen
    params = AgencyParams(unit="Sở Y tế", year=2024, data=str(data), codebook=str(book),
                          lang="en")
    shown = AGENCY_REPORT.render(shared, params)
    assert len(shown) == 1 and "Sở Y tế" in shown[0]
    assert list(AGENCY_REPORT.workbook_tables(shared, params)) == ["note"]


def test_the_agency_notebook_shows_the_kinds_cells_in_order():
    nb = json.loads(AGENCY_REPORT.notebook.read_text(encoding="utf-8"))
    shown = ["".join(c["source"]).split('"')[1] for c in nb["cells"]
             if c["cell_type"] == "code" and "".join(c["source"]).startswith("sa.report.show(")]
    assert shown == AGENCY_REPORT.cell_names()
    parameters = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    names = {line.split("=")[0].strip() for line in "".join(parameters[0]["source"]).splitlines()}
    assert names == set(AgencyParams.TYPES)


def test_names_joined_by_a_comma_get_the_separator_hint():
    from sipas_analysis.report.agency_shared import match_units
    with pytest.raises(ValueError, match="separate several names with ';'"):
        match_units(["Sở Tư pháp", "UBND huyện Phú Lương"], "Sở Tư pháp, UBND huyện Phú Lương")
    # a name with its own comma, alone, is found
    assert match_units(["Sở Văn hóa, Thể thao và Du lịch"],
                       "Sở Văn hoá, Thể thao và Du lịch") == ["Sở Văn hóa, Thể thao và Du lịch"]


def test_the_codebooks_weighting_step_is_applied_year_by_year_and_stated(tmp_path):
    import yaml
    from sipas_analysis.report.sections.agency import _caveats
    data, book = example_files()
    spec = yaml.safe_load(book.read_text(encoding="utf-8"))
    spec["weighting"] = {"margins": "margins.csv", "method": "post_stratify"}
    (tmp_path / "book.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True),
                                        encoding="utf-8")
    totals = {"Sở, ban, ngành": 3000.0, "UBND cấp huyện": 9000.0}
    pd.DataFrame({"variable": "unit_type", "level": list(totals),
                  "total": list(totals.values())}).to_csv(tmp_path / "margins.csv", index=False)
    codebook = Codebook.from_yaml(tmp_path / "book.yaml")
    survey = load_survey(data, codebook=codebook)
    from sipas_analysis.report.agency_shared import _calibrated_by_year
    calibrated = _calibrated_by_year(survey, codebook)
    for _, rows in calibrated.groupby("year"):     # each year meets the margins on its own
        assert rows.groupby("unit_type")["weight"].sum().to_dict() == pytest.approx(totals)
    result = compute_agency_shared(survey, codebook, 2024)
    assert not result.change.empty
    step, = result.weighting["steps"]
    assert (step["method"], step["margins"], step["variables"]) == \
        ("post_stratify", "margins.csv", ["unit_type"])
    params = AgencyParams(unit="Sở Tư pháp", year=2024, data=str(data),
                          codebook=str(tmp_path / "book.yaml"), lang="en")
    # equal within each unit: the unit's weighting design effect is 1
    assert ("Weights: equal starting weights (the data file has none), calibrated by "
            "post-stratification to the population margins in margins.csv (unit_type); "
            "weighting design effect 1 + CV² = 1.00." in _caveats(result, params)[1])


# --------------------------------------------------------------------------------------------
# The unit models: drivers, importance-performance, small-area estimates, tracking, Holm
# --------------------------------------------------------------------------------------------
SMALL = "Sở Tư pháp"


@pytest.fixture(scope="module")
def small_unit(thai_nguyen):
    """The fixture with one department cut to its first 25 answers (24 design df, below the
    35 its own driver model needs)."""
    _, _, codebook, survey = thai_nguyen
    keep = ~((survey["unit"] == SMALL) & (survey.groupby("unit").cumcount() >= 25))
    cut = survey[keep].reset_index(drop=True)
    return cut, compute_agency_shared(cut, codebook, 2024)


def _page(shared, thai_nguyen, unit, lang="en"):
    data, book, _, _ = thai_nguyen
    params = AgencyParams(unit=unit, year=2024, data=str(data), codebook=str(book), lang=lang)
    return params, "\n".join(o for o in AGENCY_REPORT.render(shared, params)
                             if isinstance(o, str))


def _scores(codebook):
    return [f"{f}_score" for f in codebook.factors]


def test_a_unit_with_enough_df_gets_its_own_design_based_driver_model(thai_nguyen, shared):
    # the reference: fit_linear (tested against R's svyglm) on the unit's complete answers
    from sipas_analysis.models import fit_linear, tidy
    from sipas_analysis.report.agency_shared import _design
    _, _, codebook, survey = thai_nguyen
    scores = _scores(codebook)
    unit = "Sở Công Thương"
    rows = survey[survey["unit"] == unit].dropna(
        subset=scores + ["overall_satisfaction"]).reset_index(drop=True)
    fit = fit_linear("overall_satisfaction ~ " + " + ".join(scores), _design(rows))
    expected = tidy(fit).set_index("term").loc[scores]
    got = shared.unit_drivers[shared.unit_drivers["unit"] == unit].set_index("term").loc[
        list(codebook.factors)]
    assert (got["model"] == "design").all() and shared.driver_min_df == 6 - 1 + 30
    for column in ["estimate", "std_error", "ci_low", "ci_high", "p_value"]:
        assert np.allclose(got[column], expected[column].to_numpy()), column
    assert (got["df"] == fit.df).all() and (got["n"] == len(rows)).all()
    _, page = _page(shared, thai_nguyen, unit)
    assert "the unit's own design-based regression" in page and "at least 35 design df" in page


def test_a_small_unit_gets_the_multilevel_estimate_of_its_slopes(thai_nguyen, small_unit):
    # the reference: fit_multilevel's group effects (fixed effect + BLUP, tested against
    # lme4) with random slopes of every factor score by unit
    from sipas_analysis.models import fit_multilevel
    _, _, codebook, _ = thai_nguyen
    cut, shared = small_unit
    scores = _scores(codebook)
    complete = cut[cut["year"] == 2024].dropna(subset=scores + ["overall_satisfaction"])
    fit = fit_multilevel("overall_satisfaction ~ " + " + ".join(scores), complete,
                         groups="unit", re_formula="~" + " + ".join(scores), weights="weight")
    effects = fit.extra["group_effects"]
    expected = effects[(effects["unit"] == SMALL) & effects["term"].isin(scores)].set_index(
        "term").loc[scores]
    got = shared.unit_drivers[shared.unit_drivers["unit"] == SMALL].set_index("term").loc[
        list(codebook.factors)]
    assert (got["model"] == "multilevel").all() and (got["design_df"] == 24).all()
    assert np.allclose(got["estimate"], expected["estimate"].to_numpy(), rtol=1e-6)
    assert np.allclose(got["std_error"], expected["std_error"].to_numpy(), rtol=1e-6)
    # the other units keep their own models
    others = shared.unit_drivers[shared.unit_drivers["unit"] != SMALL]
    assert (others["model"] == "design").all()
    _, page = _page(shared, thai_nguyen, SMALL)
    assert "the multilevel estimate" in page and "below the 35 its own model needs" in page
    _, vi = _page(shared, thai_nguyen, SMALL, lang="vi")
    assert "ước lượng của mô hình đa cấp" in vi


def test_importance_performance_uses_the_drivers_and_respects_suppression(
        thai_nguyen, shared, small_unit):
    from sipas_analysis.models.importance import ipa_table
    from sipas_analysis.report.sections.agency import ipa, term_name
    data, book, codebook, _ = thai_nguyen
    unit = "Sở Công Thương"
    params = AgencyParams(unit=unit, year=2024, data=str(data), codebook=str(book), lang="en")
    table = ipa(shared, params).set_index("term")
    slopes = shared.unit_drivers[shared.unit_drivers["unit"] == unit]
    factors = shared.units[(shared.units["unit"] == unit) & (shared.units["kind"] == "factor")]
    expected = ipa_table(slopes[["term", "estimate"]], factors[["term", "estimate"]],
                         importance_column="estimate").set_index("term")
    assert list(table.index) == list(expected.index)
    assert (table["quadrant"] == expected["quadrant"]).all()
    # importance is the slope, performance the factor's index; the crosshairs their means
    assert np.allclose(table["importance"], slopes.set_index("term").loc[table.index,
                                                                        "estimate"])
    assert table["importance_crosshair"].iloc[0] == pytest.approx(table["importance"].mean())
    grid = [o for o in AGENCY_REPORT.outputs("importance", shared, params)
            if not isinstance(o, str)][0].table
    concentrate = [t for t in table.index if table.loc[t, "quadrant"] == "concentrate_here"]
    cell = grid.loc[0, "Low performance"]     # high importance, low performance
    assert cell.startswith("Concentrate here") and all(
        term_name(shared, t, "en") in cell for t in concentrate)
    # every factor of the cut unit is withheld: no quadrants from withheld estimates
    _, cut = small_unit
    params = dataclasses.replace(params, unit=SMALL)
    assert cut.units[(cut.units["unit"] == SMALL) & (cut.units["kind"] == "factor")][
        "suppressed"].all()
    assert ipa(cut, params).empty
    assert "No importance–performance analysis" in "\n".join(
        AGENCY_REPORT.outputs("importance", cut, params))


def test_small_units_show_the_fay_herriot_estimate_beside_the_direct_one(thai_nguyen,
                                                                          small_unit):
    # the reference: small_area_index (tested against R's sae) on the units' direct indices
    from sipas_analysis.report.agency_shared import SMALL_AREA_N_BOOT
    from sipas_analysis.small_area import small_area_index
    cut, shared = small_unit
    expected = small_area_index(shared.units, unit="unit", group="unit_type",
                                n_reps=SMALL_AREA_N_BOOT, seed=0).table.set_index("unit")
    got = shared.small_area.set_index("unit")
    for column in ["estimate", "ci_low", "ci_high", "direct_estimate", "gamma"]:
        assert np.allclose(got[column], expected.loc[got.index, column]), column
    assert got.loc[SMALL, "small"] and not shared.small_area_benchmarked
    params, page = _page(shared, thai_nguyen, SMALL)
    assert "**model-based** (Fay–Herriot) estimate is **" in page
    assert "withheld: sample too small" in page and "not benchmarked" in page
    row = AGENCY_REPORT.workbook_tables(shared, params)["small_area"]
    assert row["direct_estimate"].isna().all() and row["model_based"].all()
    league = league_table(shared).set_index("unit")
    assert league.loc[SMALL, "model_estimate"] == pytest.approx(got.loc[SMALL, "estimate"])
    assert league.loc[~league.index.isin(got.index[got["small"]]),
                      "model_estimate"].isna().all()
    _, vi = _page(shared, thai_nguyen, SMALL, lang="vi")
    assert "ước lượng dựa trên mô hình" in vi


def test_with_unit_sizes_the_model_based_estimates_are_benchmarked(thai_nguyen):
    _, _, codebook, survey = thai_nguyen
    sizes = {u: float(i + 1) for i, u in enumerate(sorted(survey["unit"].unique()))}
    result = compute_agency_shared(survey.assign(unit_size=survey["unit"].map(sizes)),
                                   codebook, 2024)
    table = result.small_area.set_index("unit")
    weights = pd.Series(sizes)[table.index] / sum(sizes.values())
    assert result.small_area_benchmarked and table["benchmarked"].all()
    # the size-weighted mean of the estimates is the province's (size-weighted) direct one
    assert float((table["estimate"] * weights).sum()) == pytest.approx(
        float((table["direct_estimate"] * weights).sum()), abs=1e-7)
    from sipas_analysis.report.sections.agency import league_notes
    assert "are benchmarked" in " ".join(league_notes(result, "en"))


def test_dated_answers_over_several_months_get_a_tracking_section(thai_nguyen, shared):
    from sipas_analysis.tracking import track_unit
    _, _, codebook, survey = thai_nguyen
    unit = "Sở Công Thương"
    assert set(shared.tracking) == set(shared.unit_names.values())   # Sep-Nov: 3 months
    expected = track_unit(survey[survey["unit"] == unit].reset_index(drop=True), unit,
                          codebook=codebook, unit="unit", lonely_psu="adjust").overall
    got = shared.tracking[unit].overall
    assert list(got["period"]) == ["2024-09", "2024-10", "2024-11"]
    for column in ["estimate", "centre", "lower_limit", "upper_limit"]:
        assert np.allclose(got[column], expected[column]), column
    params, page = _page(shared, thai_nguyen, unit)
    assert "The overall index by month (3 months)" in page
    assert len(AGENCY_REPORT.workbook_tables(shared, params)["tracking"]) == 3


def test_undated_answers_have_no_tracking_section():
    data, book = example_files()
    codebook = Codebook.from_yaml(book)
    result = compute_agency_shared(load_survey(data, codebook=codebook), codebook, 2024)
    params = AgencyParams(unit="Sở Tư pháp", year=2024, data=str(data), codebook=str(book))
    assert result.tracking == {}
    assert AGENCY_REPORT.outputs("tracking", result, params) == []
    assert AGENCY_REPORT.workbook_tables(result, params)["tracking"].empty


def test_league_marks_are_holm_adjusted_over_the_units_compared(shared):
    from sipas_analysis.multiple_comparisons import adjust_p_values
    versus = shared.versus_province[shared.versus_province["term"] == "overall"]
    marks = shared.league_marks.set_index("unit").loc[versus["unit"]]
    assert np.allclose(marks["p_adjusted"], adjust_p_values(versus["p_value"], "holm"))
    assert (marks["method"] == "holm").all() and (marks["m"] == 14).all()
    league = league_table(shared).set_index("unit")
    adjusted = marks["p_adjusted"] < 0.05
    assert (league.loc[marks.index[~adjusted], "mark"] == "").all()
    assert (league.loc[marks.index[adjusted], "mark"] != "").all()
    # Holm is stricter: a unit significant before the adjustment may not be after it
    assert (marks["p_adjusted"] >= marks["p_value"]).all()
    from sipas_analysis.report.sections.agency import league_notes
    assert "after Holm's adjustment over the 14 units compared" in league_notes(shared, "en")[0]


def test_own_driver_models_keep_each_units_strata_and_psus():
    # two units with strata, clusters, weights and a stratum holding one PSU ("adjust"): each
    # unit's slopes are fit_linear's on the unit's own design (tested against R's svyglm)
    from types import SimpleNamespace

    from sipas_analysis.models import fit_linear, tidy
    from sipas_analysis.report.agency_shared import ReportSettings, _design, unit_drivers
    rng = np.random.default_rng(3)
    n = 400
    data = pd.DataFrame({"unit": rng.choice(["A", "B"], n), "weight": rng.uniform(1, 3, n),
                         "stratum": rng.choice(["s1", "s2", "s3"], n),
                         "psu": rng.integers(0, 12, n).astype(str)})
    data["psu"] = data["stratum"] + data["psu"]
    data.loc[(data["unit"] == "A") & (data["stratum"] == "s3"), "psu"] = "lonely"
    for factor in "abc":
        data[f"{factor}_score"] = rng.normal(3, 1, n)
    data["overall_satisfaction"] = 1 + 0.3 * data["a_score"] + rng.normal(0, 1, n)
    table, needed, _ = unit_drivers(data, SimpleNamespace(factors=dict.fromkeys("abc")),
                                    ReportSettings(min_unit_design_df=5))
    assert needed == 4 - 1 + 5
    for unit in ["A", "B"]:
        rows = data[data["unit"] == unit].reset_index(drop=True)
        fit = fit_linear("overall_satisfaction ~ a_score + b_score + c_score", _design(rows))
        expected = tidy(fit).set_index("term").loc[["a_score", "b_score", "c_score"]]
        got = table[table["unit"] == unit].set_index("term").loc[list("abc")]
        for column in ["estimate", "std_error", "ci_low", "ci_high", "p_value"]:
            assert np.allclose(got[column], expected[column].to_numpy(), rtol=1e-10), column
        assert (got["df"] == fit.df).all() and (got["model"] == "design").all()


def test_the_league_table_links_each_units_pdf_and_word_document(shared):
    from sipas_analysis.report.export import league_page

    def result(slug, outputs, status="ok"):
        return batch.UnitResult(unit_set="agency", province_code=slug, parameters={},
                                status=status, seconds=0.0, outputs=outputs)

    results = {"so-tu-phap": result("so-tu-phap", ["so-tu-phap/report.html",
                                                   "so-tu-phap/report.pdf",
                                                   "so-tu-phap/report.docx"]),
               "uy-ban-nhan-dan-huyen-phu-luong": result(
                   "uy-ban-nhan-dan-huyen-phu-luong",
                   ["uy-ban-nhan-dan-huyen-phu-luong/report.html"])}
    page = league_page(shared, results, lang="en", footer="f")
    (row,) = [r for r in page.split("<tr>") if 'href="so-tu-phap/report.html"' in r]
    assert '<a href="so-tu-phap/report.pdf">PDF</a>' in row
    assert '<a href="so-tu-phap/report.docx">Word</a>' in row
    (row,) = [r for r in page.split("<tr>")
              if 'href="uy-ban-nhan-dan-huyen-phu-luong/report.html"' in r]
    assert ".pdf" not in row and ".docx" not in row
