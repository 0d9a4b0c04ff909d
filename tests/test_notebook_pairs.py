"""Every notebook in notebooks/ is paired with a percent-format script (jupytext), so that a
change to its cells reviews as a plain diff: the script's cells (type, source, tags) are the
notebook's, outputs aside. `make sync-notebooks` rewrites the scripts from the notebooks. The
scripts stay out of what runs the notebooks (nbval, pytest) and out of the wheel; and
`make lab` opens JupyterLab on the guided notebook."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import jupytext
import nbformat
import pytest

from sipas_analysis import resources

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CONFIG = NOTEBOOKS / "jupytext.toml"
SYNC = "make sync-notebooks"


def cells(notebook) -> list[tuple[str, str, tuple]]:
    """What a pair must agree on: each cell's type, source and tags (papermill finds its
    parameters cell by its tag), in order."""
    return [(cell.cell_type, cell.source, tuple(cell.get("metadata", {}).get("tags", [])))
            for cell in notebook.cells]


def disagreements(notebook_path: Path, script_path: Path) -> list[str]:
    """The cells in which the script ``script_path`` differs from the notebook, said as
    "cell N: ..." (empty when they agree)."""
    notebook = cells(nbformat.read(notebook_path, as_version=4))
    script = cells(jupytext.read(script_path))
    problems = [f"cell {i}: notebook {a!r} != script {b!r}"
                for i, (a, b) in enumerate(zip(notebook, script)) if a != b]
    if len(notebook) != len(script):
        problems.append(f"{len(notebook)} cells in the notebook, {len(script)} in the script")
    return problems


def notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def test_the_pairing_is_configured_for_percent_scripts():
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    assert config["formats"] == "ipynb,py:percent"
    assert config["notebook_metadata_filter"] == "-all"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^sync-notebooks:.*\n\t.*jupytext .*--to py:percent notebooks/\*\.ipynb",
                     makefile, re.M)


@pytest.mark.parametrize("notebook", notebooks(), ids=lambda p: p.name)
def test_each_notebook_agrees_with_its_script(notebook):
    script = notebook.with_suffix(".py")
    assert script.is_file(), f"{script.name} is missing: run {SYNC}"
    problems = disagreements(notebook, script)
    assert not problems, f"{script.name} disagrees with {notebook.name} (run {SYNC}):\n" + \
        "\n".join(problems[:5])


def test_every_script_has_its_notebook():
    orphans = [p.name for p in NOTEBOOKS.glob("*.py") if not p.with_suffix(".ipynb").exists()]
    assert not orphans, orphans


def test_a_changed_cell_an_added_cell_and_a_changed_tag_are_seen(tmp_path):
    source = NOTEBOOKS / "province_report.ipynb"
    notebook, script = tmp_path / source.name, tmp_path / "province_report.py"
    shutil.copy(source, notebook)
    shutil.copy(source.with_suffix(".py"), script)
    assert disagreements(notebook, script) == []
    edited = nbformat.read(notebook, as_version=4)
    edited.cells[5].source = 'sa.report.show("factors", shared, params)'
    nbformat.write(edited, notebook)
    (problem,) = disagreements(notebook, script)
    assert problem.startswith("cell 5:")
    edited.cells.append(nbformat.v4.new_code_cell("1 + 1"))
    nbformat.write(edited, notebook)
    assert disagreements(notebook, script)[-1] == "23 cells in the notebook, 22 in the script"
    # outputs are no part of the comparison; the parameters tag is
    fresh = nbformat.read(source, as_version=4)
    for cell in fresh.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    nbformat.write(fresh, notebook)
    assert disagreements(notebook, script) == []
    fresh.cells[2].metadata["tags"] = []
    nbformat.write(fresh, notebook)
    assert [p[:7] for p in disagreements(notebook, script)] == ["cell 2:"]


def test_the_sync_command_writes_what_the_pairs_are_checked_against(tmp_path):
    """What `make sync-notebooks` runs, on a copy: the script it writes agrees with its
    notebook and is byte for byte the committed one."""
    shutil.copy(CONFIG, tmp_path / CONFIG.name)
    shutil.copy(NOTEBOOKS / "explore.ipynb", tmp_path / "explore.ipynb")
    subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--to", "py:percent",
                    str(tmp_path / "explore.ipynb")], check=True)
    assert disagreements(tmp_path / "explore.ipynb", tmp_path / "explore.py") == []
    assert (tmp_path / "explore.py").read_bytes() == (NOTEBOOKS / "explore.py").read_bytes()


def test_the_scripts_are_neither_collected_nor_packaged():
    # nbval (`pytest --nbval notebooks`, as make test runs it) collects the notebooks only
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--nbval", "notebooks",
         "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True)
    collected = {line.split("::")[0] for line in listed.stdout.splitlines() if "::" in line}
    assert collected == {f"notebooks/{p.name}" for p in notebooks()}, listed.stdout[-2000:]
    # the wheel carries the notebooks the package runs, never their scripts
    packaged = [str(relative) for _, relative in resources.packaged_files(ROOT)]
    assert "notebooks/province_report.ipynb" in packaged
    assert not [p for p in packaged if p.startswith("notebooks/") and p.endswith(".py")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_lab_lands_on_the_guided_notebook(tmp_path):
    """`make lab` starts JupyterLab whose front page leads to notebooks/explore.ipynb (started
    here on a free port without a browser, asked for "/", then stopped)."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    landing = re.search(r"^LAB_URL\s*:=\s*(\S+)", makefile, re.M).group(1)
    assert landing == "/lab/tree/notebooks/explore.ipynb"
    assert (ROOT / landing.removeprefix("/lab/tree/")).is_file()
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    port, token = _free_port(), "sipas-test"
    options = f"--no-browser --port={port} --IdentityProvider.token={token}"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        options += " --allow-root"
    env = os.environ | {"JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
                        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
                        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    # the Makefile's own recipe, with this interpreter's environment and no install step
    lab = subprocess.Popen(["make", "--no-print-directory", "lab",
                            f"BIN={Path(sys.executable).parent}", "STAMP=",
                            f"LAB_OPTIONS={options}"], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        deadline, location = time.monotonic() + 90, None
        while time.monotonic() < deadline and lab.poll() is None:
            try:
                opener.open(f"http://127.0.0.1:{port}/?token={token}", timeout=5)
            except urllib.error.HTTPError as response:
                location = response.headers.get("Location")
                break
            except OSError:
                time.sleep(0.5)
        assert location is not None, "JupyterLab did not answer within 90 s"
        assert location.split("?")[0].endswith(landing), location
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{landing}?token={token}",
                                    timeout=10) as page:
            assert page.status == 200
    finally:
        os.killpg(lab.pid, 15)
        lab.wait(timeout=30)
