# Two commands on a fresh machine (Python 3.11 + make):  make demo  |  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo lab sync-notebooks test lint-imports bench docs clean

# The venv is rebuilt only when the dependency list changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The documentation site's tools (Sphinx, its theme, myst-nb): the `docs` extra, into the same venv.
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

# The demo: the synthetic sample, the national table, then the report batch for all 63 provinces.
demo: $(STAMP)
	$(BIN)/sipas demo --out reports
	$(BIN)/sipas reports --year 2024 --units all --data demo --out reports

# JupyterLab on the guided notebook: its front page ("/") leads to notebooks/explore.ipynb.
LAB_URL := /lab/tree/notebooks/explore.ipynb
LAB_OPTIONS ?=
lab: $(STAMP)
	$(BIN)/jupyter lab --LabApp.default_url=$(LAB_URL) $(LAB_OPTIONS)

# Each notebook's percent-format script (notebooks/jupytext.toml), rewritten from the notebook;
# tests/test_notebook_pairs.py fails when one disagrees with its notebook's cells.
sync-notebooks: $(STAMP)
	$(BIN)/jupytext --quiet --to py:percent notebooks/*.ipynb

lint-imports: $(STAMP)
	$(BIN)/lint-imports

# The docstrings' Examples, unit, reference and browser tests (the documentation site's build
# among them: tests/test_docs.py), then the committed notebooks re-executed and compared.
test: $(STAMP) $(DOCS_STAMP) lint-imports
	$(BIN)/python -m pytest --doctest-modules sipas_analysis
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest --nbval notebooks --nbval-sanitize-with notebooks/sanitize.cfg

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_foundation.py
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_reports.py
	$(BIN)/python benchmarks/bench_read.py

# The documentation site, into docs/_build/html (not committed): every Sphinx warning is an
# error, then every internal link and anchor of the built pages is checked (offline).
docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -b html -W --keep-going -q docs docs/_build/html
	$(BIN)/python docs/check_links.py docs/_build/html
	@echo "open docs/_build/html/index.html"

clean:
	rm -rf $(VENV) reports data/processed .pytest_cache .hypothesis
	rm -rf docs/_build docs/api/generated docs/api/public.rst docs/notebooks
