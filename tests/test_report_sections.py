"""Reports made of sections: the province notebook follows its kind, a second kind is a list of
sections, a section whose columns the data lack says so, and the index rule has one owner whose
change every description and default follows."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import sipas_analysis as sa
from sipas_analysis import cli, index_rule, indices, language, report, simulate
from sipas_analysis.report.sections.base import ReportKind

FAST = report.ReportSettings(n_reps=10)   # a few bootstrap replicates: only shapes are tested
NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "province_report.ipynb"


@pytest.fixture(scope="module")
def small_shared():
    """Shared results of a small synthetic year (all sections computed)."""
    survey, _ = simulate.simulate_survey(n=4000, years=[2024], seed=3)
    params = report.ReportParams(province_code="01", year=2024)
    return report.compute_shared(survey, params, data_hash="test", settings=FAST), survey


def test_the_notebook_shows_the_kinds_cells_in_order():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    shown = []
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and source.startswith("sa.report.show("):
            shown.append(source.split('"')[1])
    assert shown == report.PROVINCE_REPORT.cell_names()


def test_every_text_key_of_a_section_exists_in_both_languages():
    for kind in report.KINDS.values():
        missing = [k for k in kind.text_keys() if k not in language.TEXT
                   or set(language.TEXT[k]) != set(language.LANGS)]
        assert not missing, missing


def test_workbook_sheets_come_from_the_sections_in_order(small_shared):
    shared, _ = small_shared
    params = report.ReportParams(province_code="79", year=2024)
    tables = report.tables_for_workbook(shared, params)
    # The fixture is the synthetic sample, so its workbook opens with the sheet that says so.
    assert list(tables) == ["synthetic_data", "index", "national", "versus_nation", "ranks", "drivers_ame",
                            "drivers_ordinal", "importance", "ipa", "multilevel", "experience",
                            "published", "settings"]
    assert set(tables["index"]["province_code"]) == {"79"}
    assert set(tables["multilevel"]["province_code"]) == {"79"}


def test_a_second_kind_is_a_list_of_sections(small_shared):
    shared, _ = small_shared
    brief = ReportKind(name="brief", sections=tuple(report.SECTIONS[n] for n in
                                                    ("headline", "factors", "actions", "caveats")))
    params = report.ReportParams(province_code="79", year=2024, lang="en")
    outputs = brief.render(shared, params)
    assert outputs[0].startswith("# SIPAS satisfaction report 2024: Hồ Chí Minh")
    assert brief.cell_names() == ["headline", "factors", "factors.figure", "actions", "caveats"]
    assert any(isinstance(o, report.HtmlTable) for o in outputs)
    assert outputs[-1].startswith("- ")          # the caveats' list
    with pytest.raises(ValueError, match="no cell 'ranking'"):
        brief.outputs("ranking", shared, params)


def test_a_section_whose_columns_are_missing_says_so_in_one_sentence(small_shared):
    _, survey = small_shared
    lacking = survey.drop(columns=["agency_level", "on_time"])
    params = report.ReportParams(province_code="01", year=2024, lang="en")
    shared = report.compute_shared(lacking, params, data_hash="test", settings=FAST)
    kind = report.PROVINCE_REPORT
    said = kind.outputs("breakdowns", shared, params)
    assert said == ["The section “By agency level and service area” is not shown: the data have "
                    "no column agency_level."]
    # the drivers need on_time: one sentence, and the section's second cell shows nothing
    assert len(kind.outputs("local", shared, params)) == 1
    assert kind.outputs("local.regression", shared, params) == []
    assert "on_time" in kind.outputs("drivers", shared, params)[0]
    # the sections that have their columns still show, and the workbook leaves the others out
    assert kind.outputs("headline", shared, params)
    assert "drivers_ame" not in kind.workbook_tables(shared, params)


def test_changing_the_index_rule_changes_every_default_and_description(monkeypatch,
                                                                       small_shared):
    _, survey = small_shared
    design = report.survey_design(survey)
    before = report.ReportSettings()
    assert "answers 4–5" in before.describe("en")["rule"]
    monkeypatch.setattr(index_rule, "DEFAULT", sa.IndexRule(satisfied=(5,),
                                                             aggregation="composite"))
    pd.testing.assert_frame_equal(indices.sipas_index(design),
                                  indices.sipas_index(design, satisfied=(5,), rule="composite"))
    settings = report.ReportSettings()
    described = settings.describe("en")
    assert "answers 5 on the 5-level scale" in described["rule"]
    assert "each respondent's share" in described["rule"]
    assert "(levels 5)" in described["drivers_intro"]
    assert "mức 5" in settings.describe("vi")["drivers_intro"]
    assert settings.logit_formula.startswith("I(overall_satisfaction >= 5) ~")
    assert settings.as_dict()["satisfied"] == [5] and settings.as_dict()["rule"] == "composite"
    args = cli._parser().parse_args(["index"])
    # --satisfied is read from the rule in force when the command runs (or from a codebook)
    assert (args.satisfied, args.rule) == (None, "composite")
    index_help = cli._parser()._subparsers._group_actions[0].choices["index"].format_help()
    assert "(default: 5;" in " ".join(index_help.split())
    assert simulate._satisfied_cut() == 3
    monkeypatch.setattr(index_rule, "DEFAULT", sa.IndexRule(satisfied=(2, 4)))
    with pytest.raises(ValueError, match="top of the scale"):
        simulate._satisfied_cut()


def test_the_demo_data_hash_is_that_of_its_content(tmp_path, monkeypatch):
    monkeypatch.setenv("SIPAS_PROCESSED_DIR", str(tmp_path))
    path = report.shared.demo_data_path()
    content = report.data_hash(pd.read_parquet(path))
    assert report.shared.data_file_hash("demo") == content
    # the same sample written by another writer (other bytes) keeps its hash
    pd.read_parquet(path).to_parquet(path, index=False, compression="gzip")
    assert report.shared.data_file_hash("demo") == content


def test_actions_are_the_criteria_of_largest_potential_gain(small_shared):
    shared, _ = small_shared
    params = report.ReportParams(province_code="79", year=2024, lang="en")
    # independently: gain = importance share of the criterion's factor x (100 - estimate),
    # over the unit's criteria that are not suppressed
    share = {t.replace("_score", ""): s for t, s in
             zip(shared.importance["term"], shared.importance["share"])}
    unit = shared.units[(shared.units["province_code"] == "79")
                        & (shared.units["kind"] == "criterion") & ~shared.units["suppressed"]]
    gains = sorted(((share[f] * (100 - e), t) for t, f, e in
                    zip(unit["term"], unit["factor"], unit["estimate"])), key=lambda g: (-g[0], g[1]))
    expected = [language.term_label(t, "en") for _, t in gains[:3]]
    sentences = report.actions(shared, params)
    assert len(sentences) == min(3, len(gains)) >= 1
    for sentence, label in zip(sentences, expected):
        assert sentence.startswith(f"Raise satisfaction with “{label}”")


def test_the_reports_p_values_are_holm_adjusted_over_the_units_comparisons(small_shared):
    from statsmodels.stats.multitest import multipletests
    shared, _ = small_shared
    params = report.ReportParams(province_code="79", year=2024, lang="en")
    # the family is the comparisons the report shows: those of unsuppressed estimates
    versus = shared.versus_nation[shared.versus_nation["group"] == "79"]
    withheld = set(shared.units.query("province_code == '79' and suppressed")["term"])
    shown_rows = versus[~versus["term"].isin(withheld)]
    holm = dict(zip(shown_rows["term"],
                    multipletests(shown_rows["p_value"], method="holm")[1]))
    table = report.comparison_table(shared, params, kind="criterion")
    assert "p-value (Holm)" in table.columns
    for label, shown in zip(table["Criterion"], table["p-value (Holm)"]):
        term = next(t for t in versus["term"] if language.term_label(t, "en") == label)
        expected = language.format_number(holm[term], "en", decimals=3) if term in holm else "—"
        assert shown == expected
    notes = report.caveats(shared, params)
    assert any(f"Holm method for the report's {len(holm)} comparisons" in n for n in notes)
    sheet = report.tables_for_workbook(shared, params)["versus_nation"].set_index("term")
    assert all(abs(sheet.loc[t, "p_adjusted"] - holm[t]) < 1e-12 for t in holm)
    assert sheet.loc[sorted(withheld), "p_adjusted"].isna().all()


def test_outputs_of_synthetic_data_say_so(small_shared, tmp_path):
    shared, _ = small_shared
    assert shared.synthetic
    params = report.ReportParams(province_code="79", year=2024, lang="en")
    tables = report.tables_for_workbook(shared, params)
    assert list(tables)[0] == "synthetic_data"
    assert tables["synthetic_data"]["note"][0].startswith("SYNTHETIC DATA")
    for name in ("ranking", "drivers"):
        assert "Synthetic data, not real SIPAS results" in report.figure(name, shared, params).svg
    # the command line's files
    assert cli.main(["index", "--by", "none", "--out", str(tmp_path / "index.csv")]) == 0
    assert pd.read_csv(tmp_path / "index.csv")["synthetic"].all()


def test_every_page_states_how_the_weights_were_made(small_shared):
    # the unit's own weighting design effect, n Σw² / (Σw)² over its respondents (Kish)
    shared, survey = small_shared
    params = report.ReportParams(province_code="79", year=2024, lang="en")
    w = survey.loc[(survey["province_code"] == "79") & (survey["weight"] > 0), "weight"]
    deff = len(w) * (w ** 2).sum() / w.sum() ** 2
    sentence = (f"Weights: the design weights of the data file, as given; weighting design "
                f"effect 1 + CV² = {deff:.2f}.")
    assert report.caveats(shared, params)[-1] == sentence
    vietnamese = report.caveats(shared, report.ReportParams(province_code="79", year=2024))[-1]
    assert vietnamese.startswith("Trọng số: trọng số thiết kế trong tệp dữ liệu")
    assert vietnamese.endswith(f"= {deff:.2f}.".replace(".", ",", 1))
    # the national page states the nation's
    w = survey.loc[survey["weight"] > 0, "weight"]
    assert report.caveats(shared, params, unit=False)[-1].endswith(
        f"= {len(w) * (w ** 2).sum() / w.sum() ** 2:.2f}.")


def test_the_ranking_section_maps_the_units_with_the_province_outlined(small_shared):
    import dataclasses
    import re

    from IPython.core.formatters import DisplayFormatter

    shared, _ = small_shared
    for lang, caption, alt in [
            ("en", "Hồ Chí Minh is outlined in bold", "Map of the provinces by SIPAS index group"),
            ("vi", "Hồ Chí Minh được viền đậm", "Bản đồ các tỉnh, thành phố theo nhóm")]:
        params = report.ReportParams(province_code="79", year=2024, lang=lang)
        outputs = report.PROVINCE_REPORT.outputs("ranking", shared, params)
        assert [type(o).__name__ for o in outputs] == ["str", "SVGFigure", "SVGFigure", "str"]
        drawn, words = outputs[2], outputs[3]
        assert caption in words and str(2024) in words
        # the page's image takes its alternative text from the output's metadata
        data, metadata = DisplayFormatter().format(drawn)
        assert data["image/svg+xml"] == drawn.svg
        assert metadata["image/svg+xml"]["alt"].startswith(alt)
        svg = drawn.svg
        assert svg.count('<g id="highlight">') == 1 and "highlight-" not in svg
        outline = re.search(r'<g id="highlight">\s*<path d="([^"]+)"', svg).group(1)
        own = re.search(r'<g id="province-79">\s*<path d="([^"]+)"', svg).group(1)
        assert set(re.findall(r"[ML] (\S+ \S+)", outline)) == \
            set(re.findall(r"[ML] (\S+ \S+)", own))
        # a sample this small leaves most groups uncertain: hatched, with the rule said
        assert (shared.ranks[[f"p_group_{g}" for g in range(1, 5)]].max(axis=1) < 0.8).any()
        assert "<pattern" in svg and ("Hatched" if lang == "en" else "Gạch chéo") in svg
        assert "geoBoundaries" in svg
        # the same unit's map again: the same bytes
        again = report.PROVINCE_REPORT.outputs("ranking", shared, params)[2].svg
        assert again == svg
    # another unit: another outline, the same colours
    other = report.PROVINCE_REPORT.outputs(
        "ranking", shared, report.ReportParams(province_code="01", year=2024, lang="vi"))[2]
    assert other.svg != svg and other.svg.count('<g id="highlight">') == 1
    # shared results without quartile groups: the section shows no map and does not fail
    bare = dataclasses.replace(shared, ranks=shared.ranks.drop(columns="quartile_group"))
    assert len(report.PROVINCE_REPORT.outputs("ranking", bare, params)) == 2
