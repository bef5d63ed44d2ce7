# Two commands, each working on a fresh machine with only python3 and make:
#   make demo   set everything up and run the demo
#   make test   set everything up and run every check CI runs
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test check lint typecheck pytest generate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m wsstate_tools demo

test: check lint typecheck pytest

check: $(STAMP)
	$(PY) -m wsstate_tools check

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict src

pytest: $(STAMP)
	$(PY) -m pytest

generate: $(STAMP)
	$(PY) -m wsstate_tools generate

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache .hypothesis
