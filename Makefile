# Two commands, each working on a fresh machine with only python3 and make:
#   make demo   set everything up and run the demo
#   make test   set everything up and run every check CI runs
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test check lint typecheck pytest docs generate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m wsstate_tools demo

test: check lint typecheck docs pytest

check: $(STAMP)
	$(PY) -m wsstate_tools check

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict src

pytest: $(STAMP)
	$(PY) -m pytest

# The documentation site, into docs/_build/html (warnings are errors). Quiet: only
# warnings and a final line. Mermaid is fetched once from the npm registry.
docs: $(STAMP)
	@$(VENV)/bin/sphinx-build -b html -E -q -W --keep-going -d docs/_build/doctrees docs docs/_build/html
	@echo "docs: built docs/_build/html/index.html"

generate: $(STAMP)
	$(PY) -m wsstate_tools generate

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache .hypothesis
