"""The documentation site builds without a warning, its API pages and notebooks are there, and
every internal link resolves (`make docs` does the same into docs/_build/html).

One build of the whole site, shared by the tests below: about 25 CPU-seconds (60 s of wall time
on the 2-core machine while other jobs ran).
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

pytest.importorskip("sphinx", reason="the docs extra: pip install -e '.[docs]' (make test does)")
pytest.importorskip("myst_nb", reason="the docs extra: pip install -e '.[docs]' (make test does)")
pytest.importorskip("pydata_sphinx_theme", reason="the docs extra: pip install -e '.[docs]'")


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    html = out / "html"
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
         "-d", str(out / "doctrees"), str(DOCS), str(html)],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    return html, run


@pytest.mark.slow
def test_the_site_builds_without_warnings(site):
    html, run = site
    assert run.returncode == 0, run.stderr[-3000:]
    assert "WARNING" not in run.stderr and "ERROR" not in run.stderr, run.stderr[-3000:]
    assert (html / "index.html").exists()


@pytest.mark.slow
def test_every_internal_link_resolves(site):
    html, _ = site
    check = _module(DOCS / "check_links.py", "check_links")
    assert check.broken_links(html) == []


@pytest.mark.slow
@pytest.mark.parametrize("page, anchor", [
    ("sipas_analysis.design", "sipas_analysis.design.SurveyDesign.rake"),
    ("sipas_analysis.design", "sipas_analysis.design.SurveyDesign"),
    ("sipas_analysis.indices", "sipas_analysis.indices.sipas_index"),
    ("sipas_analysis.codebook", "sipas_analysis.codebook.Codebook"),
    ("sipas_analysis.intervals", "sipas_analysis.intervals.proportion_interval"),
    ("sipas_analysis.models.regression", "sipas_analysis.models.regression.fit_ordinal"),
])
def test_api_pages_document_the_key_functions(site, page, anchor):
    text = (site[0] / "api" / "generated" / f"{page}.html").read_text(encoding="utf-8")
    assert f'id="{anchor}"' in text


@pytest.mark.slow
def test_every_public_module_and_name_has_its_entry(site):
    """Modules found by walking the package, names from sa.__all__: new ones need no docs edit."""
    import pkgutil

    import sipas_analysis as sa
    generated = site[0] / "api" / "generated"
    for module in pkgutil.walk_packages(sa.__path__, "sipas_analysis."):
        if not any(part.startswith("_") for part in module.name.split(".")):
            assert (generated / f"{module.name}.html").exists(), module.name
    public = (site[0] / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("SurveyDesign", "sipas_index", "Codebook", "fay_herriot", "load_survey"):
        obj = getattr(sa, name)
        assert f'href="generated/{obj.__module__}.html#{obj.__module__}.{obj.__qualname__}"' in public


@pytest.mark.slow
def test_notebooks_are_rendered_with_their_committed_outputs(site):
    pages = sorted((site[0] / "notebooks").glob("*.html"))
    assert {page.stem for page in pages} == {nb.stem for nb in (ROOT / "notebooks").glob("*.ipynb")}
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "<img" in text or "<svg" in text or "<table" in text, page.name
        assert "cell_output" in text, page.name


@pytest.mark.slow
def test_guide_pages_carry_the_readme_sections(site):
    guide = (site[0] / "guide" / "own-survey.html").read_text(encoding="utf-8")
    assert "Drafting a codebook" in guide and "Do not write it from scratch" in guide
    methods = (site[0] / "methods.html").read_text(encoding="utf-8")
    assert "Korn" in methods and "Fay" in methods


def test_a_readme_section_is_cut_at_its_heading_and_relevelled():
    conf = _module(DOCS / "conf.py", "docs_conf")
    readme = ("# T\n\n## Data quality\nq\n\n## Data\nd\n```sh\n# not a heading\n```\n"
              "### Sub\ns\n## Next\nn\n")
    assert conf.readme_section("Data", 1, readme) == (
        "# Data\nd\n```sh\n# not a heading\n```\n## Sub\ns\n")
    assert conf.readme_section("Data", 2, readme, top=True) == "## Data\nd\n```sh\n# not a heading\n```\n"
    with pytest.raises(ValueError, match="no heading 'Gone'"):
        conf.readme_section("Gone", 2, readme)


def test_blank_lines_are_added_where_rst_needs_them_and_nowhere_else():
    conf = _module(DOCS / "conf.py", "docs_conf")
    lines = ["Conventions:", "- one", "  more", "- two", "After.", "",
             "name: a term", "    its description", "other: next", "    more", "",
             ">>> frame", "  a  b", "0  1  2"]
    assert conf.blank_lines_for_rst(lines) == [
        "Conventions:", "", "- one", "  more", "", "- two", "", "After.", "",
        "name: a term", "    its description", "", "other: next", "    more", "",
        ">>> frame", "  a  b", "0  1  2"]
    prose = ["Parameters", "----------", "x : int", "    the x.", "Returns a frame, with",
             "a list."]
    assert conf.end_parameters_before_prose(prose) == prose[:4] + ["", ""] + prose[4:]
