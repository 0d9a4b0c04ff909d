"""Sphinx configuration of the SIPAS workbench's documentation site (``make docs``).

Why Sphinx (with the PyData theme) rather than MkDocs Material: the package's docstrings are
numpydoc-style reStructuredText, which Sphinx's autodoc and napoleon read as they are, with
cross-references between functions; MyST lets the prose stay Markdown (the README's sections are
included, not copied), and myst-nb renders the committed notebooks with their outputs without
running them. MkDocs would need mkdocstrings and a second docstring parser for the same result.

Generated at every build, never committed (see .gitignore):
- ``api/public.rst``: the names of ``sipas_analysis.__all__``, each linked to its documentation;
- ``api/generated/``: one page per public module, found by autosummary's recursive walk, so a
  new module appears without any change here;
- ``notebooks/``: copies of ``../notebooks/*.ipynb`` (Sphinx reads only files under docs/).
"""
from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # the checkout's package, whatever is installed

import sipas_analysis  # noqa: E402

project = "SIPAS research workbench"
author = "SIPAS workbench authors"
copyright = "the SIPAS workbench authors (code MIT; data under their own licences)"
version = release = sipas_analysis.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_nb",  # brings myst_parser: Markdown pages and notebooks
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "api/public.rst"]  # public.rst is included
templates_path = ["_templates"]

# --- the API reference ---------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    # A package's __all__ re-exports its modules' names; document each where it is defined.
    "ignore-module-all": True,
}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True  # show `level=0.95`, not the evaluated object
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True  # a class's "Attributes" as fields: no second entry beside its properties

# --- notebooks: rendered with the outputs committed with them, never executed ------------
nb_execution_mode = "off"
nb_render_image_options = {}
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# --- the site ------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "SIPAS workbench"
html_theme_options = {
    "navigation_depth": 3,
    "show_toc_level": 2,
    "navbar_align": "left",
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = ["_static"]
html_css_files = ["sipas.css"]
html_last_updated_fmt = None  # no build date: the same sources give the same pages
html_copy_source = False
html_show_sourcelink = False


def _is_public(module_name: str) -> bool:
    return not any(part.startswith("_") for part in module_name.split("."))


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def write_public_api() -> None:
    """``api/public.rst``: every name of ``sa.__all__``, grouped as modules and functions/classes."""
    modules, objects = [], []
    for name in sorted(sipas_analysis.__all__, key=str.lower):
        obj = getattr(sipas_analysis, name)
        if inspect.ismodule(obj):
            modules.append(obj.__name__)
            continue
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", name)
        if module and _is_public(module) and hasattr(importlib.import_module(module), qualname.split(".")[0]):
            objects.append(f"~{module}.{qualname}")
    lines = [".. This file is written by docs/conf.py at every build; do not edit.", ""]
    lines += ["Names of ``import sipas_analysis as sa``", "-" * 40, "",
              ".. autosummary::", "   :nosignatures:", ""]
    lines += [f"   {target}" for target in objects]
    lines += ["", "Modules reached as ``sa.<module>``", "-" * 34, "", ".. autosummary::", ""]
    lines += [f"   {target}" for target in modules]
    _write_if_changed(DOCS / "api" / "public.rst", "\n".join(lines) + "\n")


def notebook_title(notebook: dict, stem: str) -> str | None:
    """None when the notebook's first markdown cell has a heading; else a title for its page:
    the first phrase of the HTML comment the report notebooks open with (their title is an
    output of a code cell, which Sphinx does not read), else the file name."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        text = "".join(cell.get("source", ""))
        if re.search(r"^# \S", text, re.MULTILINE):
            return None
        comment = re.match(r"\s*<!--\s*([^:.>]+)", text)
        if comment:
            return comment.group(1).strip()
        break
    return stem.replace("_", " ").capitalize()


def copy_notebooks() -> None:
    """Copies of the committed notebooks, outputs as they are; a page title added where the
    notebook has none in markdown."""
    target = DOCS / "notebooks"
    target.mkdir(exist_ok=True)
    sources = {path.name: path for path in sorted((ROOT / "notebooks").glob("*.ipynb"))}
    for stale in target.glob("*.ipynb"):
        if stale.name not in sources:
            stale.unlink()
    for name, path in sources.items():
        notebook = json.loads(path.read_text(encoding="utf-8"))
        title = notebook_title(notebook, path.stem)
        if title is not None:
            notebook["cells"].insert(0, {"cell_type": "markdown", "id": "docs-title", "metadata": {},
                                         "source": [f"# {title}\n\n",
                                                    f"`notebooks/{name}`, as committed."]})
        _write_if_changed(target / name, json.dumps(notebook, ensure_ascii=False, indent=1) + "\n")


# --- README sections in the pages --------------------------------------------------------
# A page line ``%readme LEVEL HEADING`` (a MyST comment, so it shows nothing by itself) is
# replaced by the README's section of that exact heading, down to the next heading of its level
# or above (``%readme LEVEL HEADING | top``: down to its first subsection), with its headings shifted so that its own heading takes LEVEL on the page. The
# README stays the one copy of that text; a heading that is renamed or gone fails the build.
README = ROOT / "README.md"
_MARKER = re.compile(r"^%readme ([1-6]) (.+?)(\s*\|\s*top)?\s*$", re.MULTILINE)
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6}) (.*)$")
_LINK_INTO_DOCS = re.compile(r"\]\(docs/")


def readme_section(heading: str, level: int, readme: str | None = None, *,
                   top: bool = False) -> str:
    """The README's section titled ``heading`` (without the #s), re-levelled to ``level``;
    ``top``: without its subsections."""
    lines = (README.read_text(encoding="utf-8") if readme is None else readme).splitlines()
    start = own = None
    fenced = False
    out: list[str] = []
    for line in lines:
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if start is None:
            if match and match.group(2).strip() == heading:
                start, own = len(out), len(match.group(1))
                out.append("#" * level + " " + match.group(2))
            continue
        if match and (top or len(match.group(1)) <= own):
            break
        if match:
            depth = min(6, len(match.group(1)) - own + level)
            line = "#" * depth + " " + match.group(2)
        out.append(line)
    if start is None:
        raise ValueError(f"docs: README.md has no heading {heading!r} (a page includes it)")
    # Links written relative to the repository (docs/architecture.md) point into this site.
    return _LINK_INTO_DOCS.sub("](/", "\n".join(out)) + "\n"


def _include_readme(app, docname, source) -> None:
    if "%readme " not in source[0]:
        return
    app.env.note_dependency(str(README))
    source[0] = _MARKER.sub(lambda m: readme_section(m.group(2), int(m.group(1)),
                                                            top=bool(m.group(3))), source[0])


# --- docstrings ----------------------------------------------------------------------------
# The package's docstrings put a list or an unindented sentence right under the line before it,
# as Markdown allows; reStructuredText wants a blank line there ("unexpected unindent"). Adding
# that blank line changes nothing else: every other markup stays the docstring's own.
_BULLET = re.compile(r"^(\s*)[-*+] \S")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def blank_lines_for_rst(lines: list[str]) -> list[str]:
    """``lines`` with a blank line wherever a block ends, a list starts or ends, or a term with
    an indented description follows a line of its own indentation, without one."""
    out: list[str] = []
    doctest = False  # a doctest block runs from a ">>>" line to the next blank line
    for i, line in enumerate(lines):
        if not line.strip():
            doctest = False
        elif line.lstrip().startswith(">>>"):
            doctest = True
        elif out and out[-1].strip() and not doctest:
            before, after = out[-1], lines[i + 1] if i + 1 < len(lines) else ""
            same = _indent(line) == _indent(before)
            starts_list = bool(_BULLET.match(line)) != bool(_BULLET.match(before))  # or ends
            starts_term = after.strip() and _indent(after) > _indent(line) and not _BULLET.match(line)
            if _indent(line) < _indent(before) or (same and (starts_list or starts_term)):
                out.append("")
        out.append(line)
    return out


def end_parameters_before_prose(lines: list[str]) -> list[str]:
    """A sentence such as "Returns a DataFrame ..." written after a ``Parameters`` section, at
    its indentation, is prose, not one more parameter: two blank lines end napoleon's section."""
    out: list[str] = []
    in_parameters = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
            in_parameters = stripped in ("Parameters", "Other Parameters")
        elif in_parameters and _indent(line) == 0 and re.match(r"Returns? \S", stripped):
            out += ["", ""]
            in_parameters = False
        out.append(line)
    return out


def _before_napoleon(app, what, name, obj, options, lines) -> None:
    lines[:] = end_parameters_before_prose(lines)


def _process_docstring(app, what, name, obj, options, lines) -> None:
    lines[:] = blank_lines_for_rst(lines)


def _generate_sources(app) -> None:
    write_public_api()
    copy_notebooks()


def setup(app):
    # Before autosummary (priority 500) reads the sources for the pages it generates.
    app.connect("builder-inited", _generate_sources, priority=100)
    app.connect("source-read", _include_readme)
    app.connect("autodoc-process-docstring", _before_napoleon, priority=400)
    app.connect("autodoc-process-docstring", _process_docstring, priority=600)
    return {"parallel_read_safe": True}


