"""The project installs the same way for pip and conda users, and its layering holds."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# pip and conda-forge spell a few names differently; none of ours today, but say where it would go.
CONDA_NAME = {}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    pip = {_name(r): r for r in project["dependencies"] + extras}
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = {_name(d): d for d in conda if isinstance(d, str)}
    conda.pop("python"), conda.pop("pip")
    expected = {CONDA_NAME.get(n, n) for n in pip}
    assert set(conda) == expected, (set(conda) ^ expected)
    for name, requirement in pip.items():  # and the same lower bounds
        pin = requirement[len(name):].replace(" ", "")
        assert conda[CONDA_NAME.get(name, name)].endswith(pin), (name, pin)


def test_layers_contract_fails_on_an_import_against_the_flow(tmp_path):
    """The import-linter contract is real: a low module importing a high one breaks it."""
    lint = Path(sys.executable).parent / "lint-imports"
    assert lint.exists(), "import-linter is a test dependency: pip install -e '.[test]'"
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "sipas_analysis", copy / "sipas_analysis",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    run = dict(cwd=copy, capture_output=True, text=True, env={"PYTHONPATH": str(copy)})
    assert subprocess.run([str(lint)], **run).returncode == 0
    reference = copy / "sipas_analysis" / "reference.py"
    reference.write_text(reference.read_text() + "\nfrom . import indices  # against the flow\n")
    broken = subprocess.run([str(lint)], **run)
    assert broken.returncode != 0
    assert "sipas_analysis.reference -> sipas_analysis.indices" in broken.stdout
