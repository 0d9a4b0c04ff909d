"""A regular (non-editable) install works without the source tree: the wheel built from the
project, installed in a new virtual environment, imports every module, reads the data it
ships, and runs ``sipas demo`` and a two-unit ``sipas reports`` from a folder outside the
checkout, writing its derived data to ``$XDG_CACHE_HOME/sipas`` and nothing into the package.

The new environment gets the package's dependencies from this test environment's
site-packages through a ``.pth`` line (installing them all from PyPI would take minutes). A
``.pth`` line only adds a folder to ``sys.path``: the ``.pth`` files inside that folder, among
them the editable install's link to the checkout, are not run. The test proves it: the only
``sipas_analysis`` the new interpreter can import is the installed wheel.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from sipas_analysis import resources

ROOT = Path(__file__).resolve().parent.parent
# What a build reads: the metadata, the build hook, the package and the folders it ships.
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE",
                "sipas_analysis", "data", "notebooks", "params")
_NOT_SOURCE = shutil.ignore_patterns("__pycache__", "*.egg-info", "processed",
                                     ".ipynb_checkpoints", resources.PACKAGED_DIR.name)


def _source_copy(target: Path) -> Path:
    """A copy of the project's build inputs: building it leaves no build/ or egg-info in the
    checkout, and runs of the tests at the same time do not share a build folder."""
    target.mkdir(parents=True)
    for name in BUILD_INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=_NOT_SOURCE)
        else:
            shutil.copy2(source, target / name)
    return target


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert out.returncode == 0, f"{args}\nstdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    return out


def _packaged() -> list[str]:
    return sorted(relative.as_posix() for _, relative in resources.packaged_files(ROOT))


# Run in the new environment: every module imports, the shipped data load, files are where the
# resources module says, and the checkout is nowhere on the path.
_CHECK_INSTALLED = textwrap.dedent("""
    import importlib, json, pkgutil, sys
    from importlib.machinery import PathFinder
    from pathlib import Path

    venv = Path(sys.argv[1]).resolve()
    import sipas_analysis as sa
    from sipas_analysis import evaluate, reference, report, resources
    package = Path(sa.__file__).resolve().parent
    assert package.is_relative_to(venv), sa.__file__
    others = [p for p in sys.path if not Path(p or ".").resolve().is_relative_to(venv)]
    assert PathFinder.find_spec("sipas_analysis", others) is None, "another copy is importable"
    assert not [f for f in sys.meta_path if "editable" in type(f).__module__], sys.meta_path
    names = sorted(m.name for m in pkgutil.walk_packages(sa.__path__, "sipas_analysis."))
    for name in names:
        importlib.import_module(name)
    assert resources.checkout() is None
    assert resources.data_dir().is_relative_to(package)
    sizes = {"papi": len(sa.load_papi()), "pci": len(sa.load_pci()),
             "published": len(sa.load_published_sipas()),
             "63": len(reference.provinces("63")), "34": len(reference.provinces("34")),
             "crosswalk": len(reference.crosswalk_2025()),
             "evaluation": len(list(evaluate.EVALUATION_PARAMS.glob("*.yaml"))),
             "unit_params": len(list(report.params.PARAMS_DIR.glob("units/*/*.yaml")))}
    assert report.kinds.DEFAULT_NOTEBOOK.is_file()
    print(json.dumps({"modules": names, "sizes": sizes, "git_commit": report.git_commit(),
                      "processed": str(resources.processed_dir())}))
""")


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.slow
def test_the_wheel_works_installed_outside_the_checkout(tmp_path):
    started = time.perf_counter()
    # no path of the checkout (PYTHONPATH) or environment setting of the test run reaches any command
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("SIPAS_")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), IPYTHONDIR=str(tmp_path / "ipython"),
               # the dependencies' Jupyter data (nbconvert's templates, the kernel spec)
               JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"))
    src = _source_copy(tmp_path / "src")
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", src, "--no-deps", "--quiet", "-w", wheels],
         cwd=tmp_path, env=env)
    (wheel,) = wheels.glob("sipas_analysis-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = sorted(n.split("/_resources/", 1)[1] for n in archive.namelist()
                         if n.startswith("sipas_analysis/_resources/"))
    assert shipped == _packaged()

    # a new environment of the base interpreter (not this one's site-packages), the wheel in it
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
          "--quiet", wheel], cwd=tmp_path, env=env)
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp_path, env=env).stdout.strip())
    package = site / "sipas_analysis"
    installed = _files(package)
    assert "_resources/notebooks/province_report.ipynb" in installed
    # then the dependencies: this environment's site-packages as a plain path entry
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")

    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    run = dict(cwd=cwd, env=env)

    check = json.loads(_run([python, "-c", _CHECK_INSTALLED, venv], **run).stdout)
    assert {"sipas_analysis.cli", "sipas_analysis.resources", "sipas_analysis.batch.run",
            "sipas_analysis.report.sections.provenance",
            "sipas_analysis.evaluate.run"} <= set(check["modules"])
    sizes = check["sizes"]
    assert sizes["63"] == 63 and sizes["34"] == 34 and sizes["crosswalk"] == 63
    assert sizes["papi"] > 0 and sizes["pci"] > 0 and sizes["published"] > 0
    assert sizes["evaluation"] >= 1 and sizes["unit_params"] == 63 + 34
    assert check["git_commit"] == "unknown"
    processed = tmp_path / "cache" / "sipas"
    assert Path(check["processed"]) == processed

    sipas = venv / "bin" / "sipas"
    demo = _run([sipas, "demo", "--out", "out"], **run)
    assert "SYNTHETIC DATA" in demo.stdout
    assert (cwd / "out" / "sipas_index_2024_demo.csv").is_file()
    assert (processed / "demo_survey.parquet").is_file()

    _run([sipas, "reports", "--year", "2024", "--units", "01,79", "--data", "demo", "--out",
          "out", "--jobs", "1", "--no-progress"], **run)
    year = cwd / "out" / "2024"
    for unit in ("63-01", "63-79"):
        for name in ("report.ipynb", "report.html", "tables.xlsx"):
            assert (year / unit / name).stat().st_size > 0, (unit, name)
    assert "63-79/report.html" in (year / "index.html").read_text(encoding="utf-8")
    manifest = json.loads((year / "manifest.json").read_text(encoding="utf-8"))
    assert [u["status"] for u in manifest["units"]] == ["ok", "ok"]
    assert manifest["git_commit"] == "unknown"
    assert Path(manifest["notebook"]).resolve().is_relative_to(package)
    assert list((processed / "cache").glob("shared-2024-63-*.pkl"))

    # writing params needs a folder of the user's when installed: a message, not a traceback
    params = subprocess.run([sipas, "params"], capture_output=True, text=True, **run)
    assert params.returncode == 2 and "Traceback" not in params.stderr
    assert "--dir" in params.stderr
    _run([sipas, "params", "--dir", "my_params"], **run)
    assert len(list((cwd / "my_params" / "units").glob("*/*.yaml"))) == 63 + 34

    assert _files(package) == installed, "the installed package was written to"
    print(f"wheel {wheel.stat().st_size / 1e6:.1f} MB, test {time.perf_counter() - started:.0f} s")


def test_the_sdist_carries_what_the_wheel_ships(tmp_path):
    """``python -m build`` makes the wheel from the source distribution: MANIFEST.in must
    bring every packaged file along (and no derived data)."""
    build_meta = pytest.importorskip("setuptools.build_meta")
    src = _source_copy(tmp_path / "src")
    (src / "data" / "processed").mkdir()
    (src / "data" / "processed" / "demo_survey.parquet").write_bytes(b"derived")
    dist = tmp_path / "dist"
    name = _run([sys.executable, "-c", f"import {build_meta.__name__} as b; "
                 f"print(b.build_sdist({str(dist)!r}))"], cwd=src).stdout.split()[-1]
    with tarfile.open(dist / name) as archive:
        members = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    assert set(_packaged()) <= members
    assert {"setup.py", "sipas_analysis/resources.py", "pyproject.toml"} <= members
    assert not [m for m in members if m.startswith("data/processed")]
