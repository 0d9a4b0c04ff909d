"""params/: every file loads, has only known keys of the right types, names a real unit, is what
the generator writes, and is accepted by the report notebook (papermill --prepare-only)."""
from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import pytest
import yaml

from sipas_analysis import batch, cli, reference, report

PARAMS = batch.PARAMS_DIR
UNIT_FILES = sorted(PARAMS.glob("units/*/*.yaml"))
NOTEBOOK = batch.DEFAULT_NOTEBOOK


def merged(path: Path) -> dict:
    """defaults.yaml overlaid with one unit's file, with a year of the unit's set."""
    values = batch.load_params_file(PARAMS / "defaults.yaml") | batch.load_params_file(path)
    if values["unit_set"] == "34":
        values["year"] = 2025  # the 34-unit set starts on 1 July 2025
    return values


def test_one_file_per_unit_of_each_set():
    for unit_set in reference.UNIT_SETS:
        codes = sorted(reference.provinces(unit_set)["province_code"])
        assert sorted(p.stem for p in PARAMS.glob(f"units/{unit_set}/*.yaml")) == codes
    assert len(UNIT_FILES) == 63 + 34


@pytest.mark.parametrize("path", [PARAMS / "defaults.yaml", *UNIT_FILES],
                         ids=lambda p: p.relative_to(PARAMS).as_posix())
def test_file_loads_with_known_keys_of_the_right_type(path):
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(values, dict) and values
    assert set(values) <= set(batch.PARAMETER_TYPES)
    batch.check_parameters(values, source=str(path))  # raises naming every problem
    # strings are quoted in the file, so YAML never reads "01" as 1 or "ON" as true
    for key, value in values.items():
        if isinstance(value, str):
            assert re.search(rf'^{key}: "', path.read_text(encoding="utf-8"), re.M)


@pytest.mark.parametrize("path", UNIT_FILES, ids=lambda p: p.relative_to(PARAMS).as_posix())
def test_unit_file_names_a_real_unit_of_its_folder(path):
    values = batch.load_params_file(path)
    assert set(values) == {"province_code", "unit_set"}
    assert values["unit_set"] == path.parent.name
    assert values["province_code"] == path.stem
    assert values["province_code"] in set(reference.provinces(values["unit_set"])["province_code"])
    # and the report's own parameter check accepts it
    fields = {f.name for f in dataclasses.fields(report.ReportParams)}
    report.ReportParams(**{k: v for k, v in merged(path).items() if k in fields})


def test_check_parameters_names_every_problem():
    with pytest.raises(ValueError) as error:
        batch.check_parameters({"province_code": 1.5, "year": True, "colour": "red"})
    message = str(error.value)
    assert "province_code must be str or int" in message
    assert "year must be int" in message
    assert "unknown parameter 'colour'" in message


def test_files_are_up_to_date_with_the_generator(tmp_path):
    batch.write_params(tmp_path)
    # the report's files only: params/ also holds other commands' files (params/evaluation/)
    def report_files(folder):
        paths = [folder / "defaults.yaml", *folder.glob("units/*/*.yaml")]
        return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8") for p in paths}

    generated, committed = report_files(tmp_path), report_files(PARAMS)
    assert len(generated) == 1 + 63 + 34
    assert committed == generated, "params/ is stale: run `sipas params`"
    assert batch.stale_params() == []


def test_params_check_command_finds_a_stale_file(tmp_path, capsys):
    batch.write_params(tmp_path)
    assert cli.main(["params", "--check", "--dir", str(tmp_path)]) == 0
    (tmp_path / "units" / "63" / "01.yaml").write_text('province_code: "1"\n', encoding="utf-8")
    (tmp_path / "units" / "63" / "00.yaml").write_text('province_code: "00"\n', encoding="utf-8")
    assert cli.main(["params", "--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "units/63/01.yaml" in err and "units/63/00.yaml" in err
    assert cli.main(["params", "--dir", str(tmp_path)]) == 0  # rewrites and removes the extra
    assert batch.stale_params(tmp_path) == []
    # the removed file is named
    assert "removed units/63/00.yaml: not a unit" in capsys.readouterr().err


def test_every_params_file_passes_papermill_prepare_only(tmp_path, caplog):
    assert NOTEBOOK.exists(), f"{NOTEBOOK} is missing"
    import nbformat
    import papermill
    out = tmp_path / "prepared.ipynb"
    for path in UNIT_FILES:
        values = merged(path)
        with caplog.at_level(logging.WARNING, logger="papermill"):
            papermill.execute_notebook(str(NOTEBOOK), str(out), parameters=values,
                                       prepare_only=True, kernel_name=batch.KERNEL_NAME,
                                       progress_bar=False)
        # papermill only warns about a parameter the notebook does not declare
        assert not [r for r in caplog.records if "unknown parameter" in r.getMessage().lower()], \
            path
        injected = [c for c in nbformat.read(out, 4).cells
                    if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1
        assert f'province_code = "{values["province_code"]}"' in injected[0].source
        assert f'unit_set = "{values["unit_set"]}"' in injected[0].source


def parameters_cell(path: Path) -> dict:
    """The names and literal values of a notebook's cell tagged 'parameters'."""
    import ast

    import nbformat
    cells = [c for c in nbformat.read(path, 4).cells
             if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path} must have exactly one cell tagged 'parameters'"
    return {node.targets[0].id: ast.literal_eval(node.value)
            for node in ast.parse(cells[0].source).body if isinstance(node, ast.Assign)}


@pytest.mark.parametrize("path", [NOTEBOOK, *sorted(Path(__file__).parent.glob(
    "data/notebooks/*.ipynb"))], ids=lambda p: p.name)
def test_notebook_parameters_are_the_params_vocabulary(path):
    """The report notebook (and the tiny test notebooks that stand in for it) declare exactly
    the parameters the params files and the batch use, with the pinned defaults."""
    assert path.exists(), f"{path} is missing"
    declared = parameters_cell(path)
    assert set(declared) == set(batch.PARAMETER_TYPES)
    batch.check_parameters(declared, source=str(path))
    assert declared == {"province_code": "01", **batch.DEFAULT_PARAMETERS}
