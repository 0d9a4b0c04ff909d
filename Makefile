# Two commands on a fresh machine (Python 3.11 + make):  make demo  |  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint-imports bench clean

# The venv is rebuilt only when the dependency list changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The demo: the synthetic sample, the national table, then the report batch for all 63 provinces.
demo: $(STAMP)
	$(BIN)/sipas demo --out reports
	$(BIN)/sipas reports --year 2024 --units all --data demo --out reports

lint-imports: $(STAMP)
	$(BIN)/lint-imports

# The docstrings' Examples, unit, reference and browser tests, then the committed notebooks
# re-executed and compared.
test: $(STAMP) lint-imports
	$(BIN)/python -m pytest --doctest-modules sipas_analysis
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest --nbval notebooks --nbval-sanitize-with notebooks/sanitize.cfg

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_foundation.py
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_reports.py
	$(BIN)/python benchmarks/bench_read.py

clean:
	rm -rf $(VENV) reports data/processed .pytest_cache .hypothesis
