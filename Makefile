# The two commands in the README: `make run` and `make test`. Both work on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test install dev lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

## Load the bundled demo data into the embedded SQLite database (var/) and show it.
run: install
	$(BIN)/tidewatch demo

## Lint, then run the whole test suite (storage tests on SQLite and, when reachable, PostgreSQL).
test: dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n 2 -q

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf var build dist .pytest_cache .mypy_cache .ruff_cache
