# Every target creates (once) its own virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

# setup.py builds the C extensions: a change to their source reinstalls (and rebuilds) them.
$(STAMP): pyproject.toml setup.py telebench/protocols/teltonika/_avljson.c telebench/hub/_window.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: the main job (grows as the hub and simulator land)
demo: $(STAMP)
	$(BIN)/telebench demo

## test: format check, lint, types, import contracts, then the test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -bb -m pytest -q --doctest-modules telebench simulators tests

## bench: performance figures (never timed tests)
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m telebench.bench protocols
	$(BIN)/python -m telebench.bench calc

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
