# Two commands, each working on a fresh machine with only python3 and make:
#   make demo   set everything up and run the demo
#   make test   set everything up and run every check on $(PYTHON)'s Python
#   make test-all   make test, then the other declared Pythons (what CI runs)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The other Pythons pyproject.toml declares (3.11, the oldest, is meant to be $(PYTHON)'s:
# the $(STAMP) rule refuses one older and names it when it is another). Each
# one found (pyenv's newest X.Y.*, or a pythonX.Y on PATH that runs) gets its own .venv-X.Y and
# runs PYTEST_OTHER; one not found is named and skipped (CI has them all).
OTHER_PYTHONS ?= 3.12 3.13
PYENV_ROOT ?= $(HOME)/.pyenv
# Newest by version, not by text (3.12.10 after 3.12.9).
find_python = $(or $(shell ls -d $(PYENV_ROOT)/versions/$(1).*/bin/python 2>/dev/null | sort -V | tail -n 1),$(shell python$(1) -c 'import sys; print(sys.executable)' 2>/dev/null))
FOUND_PYTHONS := $(foreach v,$(OTHER_PYTHONS),$(if $(call find_python,$(v)),$(v)))
MISSING_PYTHONS := $(filter-out $(FOUND_PYTHONS),$(OTHER_PYTHONS))
# What the other Pythons run: the generated stateful tests, the scenario suite and the
# verifier's tests (the whole suite runs on $(VENV)).
PYTEST_OTHER ?= tests/generated tests/scenarios tests/test_verify.py tests/test_stateful_clock.py \
	tests/test_timers.py tests/test_heap_hold.py tests/test_aiohttp_reading.py tests/test_fast_paths.py \
	tests/test_bench_instructions.py tests/test_bench.py::test_bench_only_runs_the_figures_named
# make flake-check: RUNS runs of the generated stateful tests per Python, fresh seeds.
RUNS ?= 10
FLAKE_TESTS ?= tests/generated

.PHONY: demo test test-all check lint typecheck pytest pytest-other venvs flake-check docs generate clean

# The first run installs for about 40 s: pip's own lines (one per package) show progress.
$(STAMP): pyproject.toml
	@echo "setting up $(VENV): wsstate and its dev extras (about 40 s the first time)"
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(f"$(PYTHON) is Python {v[0]}.{v[1]}: wsstate needs 3.11+" if v < (3, 11) else 0)'
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; v == (3, 11) or print(f"note: $(VENV) is Python {v[0]}.{v[1]}; 3.11, the oldest declared, is then not tested (make PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar off -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m wsstate_tools demo

# .ci/run runs these targets one by one, in this order (to time pytest apart): keep it in step.
test: check lint typecheck docs pytest

# What CI runs (.ci/run): make test on $(VENV), then the other declared Pythons.
test-all: test pytest-other

check: $(STAMP)
	$(PY) -m wsstate_tools check

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict src tests

# The suite on PYTEST_WORKERS pytest-xdist workers, one a core: a third worker made the
# scenario suite no faster here and its load-sensitive tests fail more often (docs/testing.md
# has the figures). Tests that share a module- or session-scoped fixture run on one worker,
# and the stateful tests' coverage is added up from every worker (tests/conftest.py).
# PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
pytest: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS)

# Each other Python's run on PYTEST_OTHER_WORKERS workers, one Python after the other:
# side by side (four processes on two cores) was faster, but its load failed three
# load-sensitive tests in two CI runs of 29 November 2026, where make test's two
# processes failed none (docs/testing.md has the figures).
# PYTEST_OTHER_WORKERS=0: one process each.
PYTEST_OTHER_WORKERS ?= 2

# One venv per other declared Python (same extras as $(VENV)).
.venv-%/.installed: pyproject.toml
	@test -n "$(call find_python,$*)" || { echo "no Python $* (pyenv install $*)"; exit 1; }
	$(call find_python,$*) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-$*/bin/python -m pip install --quiet -e '.[dev]'
	touch $@

venvs: $(foreach v,$(FOUND_PYTHONS),.venv-$(v)/.installed)

pytest-other: venvs
	@$(if $(MISSING_PYTHONS),echo "pytest-other: no Python $(MISSING_PYTHONS) here: not tested" \
		$(if $(REQUIRE_ALL_PYTHONS),"(REQUIRE_ALL_PYTHONS: failing)"; exit 1,),true)
	@# The Pythons run one after the other, each into its log, shown when all are done.
	@failed=0; for v in $(FOUND_PYTHONS); do \
		echo "pytest-other: Python $$v: $(PYTEST_OTHER) (log: .venv-$$v/pytest-other.log)"; \
		{ .venv-$$v/bin/python -VV; .venv-$$v/bin/python -m pytest -q -p no:cacheprovider -n $(PYTEST_OTHER_WORKERS) $(PYTEST_OTHER); } \
			> .venv-$$v/pytest-other.log 2>&1 || failed=1; \
	done; \
	for v in $(FOUND_PYTHONS); do \
		echo "== $$(head -n 1 .venv-$$v/pytest-other.log)"; grep -E "^(FAILED|ERROR)|(passed|failed|error)[^ ]* in " .venv-$$v/pytest-other.log; \
	done; \
	if [ $$failed != 0 ]; then \
		for v in $(FOUND_PYTHONS); do tail -n 80 .venv-$$v/pytest-other.log; done; exit 1; \
	fi

# The generated stateful tests RUNS times per Python with fresh seeds; a failure is
# printed with its steps and the command that replays it (docs/testing.md).
flake-check: $(STAMP) venvs
	$(PY) -m wsstate_tools.flakecheck --runs $(RUNS) --venv $(VENV) \
		$(foreach v,$(FOUND_PYTHONS),--venv .venv-$(v)) $(FLAKE_TESTS)

# The documentation site, into docs/_build/html (warnings are errors). Quiet: only
# warnings and a final line. Mermaid is fetched once from the npm registry.
docs: $(STAMP)
	@$(VENV)/bin/sphinx-build -b html -E -q -W --keep-going -d docs/_build/doctrees docs docs/_build/html
	@echo "docs: built docs/_build/html/index.html"

generate: $(STAMP)
	$(PY) -m wsstate_tools generate

clean:
	rm -rf $(VENV) $(foreach v,$(OTHER_PYTHONS),.venv-$(v)) build dist .mypy_cache .pytest_cache .ruff_cache .hypothesis
