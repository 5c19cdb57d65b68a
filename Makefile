# The two commands in the README: `make run` and `make test`. Both work on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test install dev system-deps lint typecheck bench clean

# System packages some stages use: Tesseract OCR with English, Arabic and Persian (Debian has
# no Sorani pack; the Arabic and Persian models read Kurdish in Arabic script) and fonts.
SYSTEM_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-ara tesseract-ocr-fas fonts-dejavu-core
# Chromium, for the evidence screenshots (Playwright drives Debian's build; no `playwright install`).
SYSTEM_PACKAGES += chromium
# Video hashes (vPDQ): the ffmpeg program, and FFmpeg's libraries with a compiler for Meta's
# vpdq package (pip install '.[video]').
SYSTEM_PACKAGES += ffmpeg libavcodec-dev libavformat-dev libavdevice-dev libavfilter-dev libavutil-dev libswscale-dev libswresample-dev pkg-config cmake g++

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev,scale]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

## Load the bundled demo data into the embedded SQLite database (var/), show it, and serve the
## console on http://127.0.0.1:8000 (the demo users and their password are printed).
run: install
	$(BIN)/tidewatch demo
	$(BIN)/tidewatch serve --host 127.0.0.1 --port 8000

## Lint, then run the whole test suite (storage tests on SQLite and, when reachable, PostgreSQL).
test: dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n 2 -q

## Install the system packages (Debian/Ubuntu, as root). Tests that need them skip without them,
## except in CI, which installs them and requires them.
system-deps:
	@if command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -q '^fas$$' \
		&& command -v chromium >/dev/null && command -v ffmpeg >/dev/null; then \
		echo "system packages already installed"; \
	else \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSTEM_PACKAGES); \
	fi

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf var build dist .pytest_cache .mypy_cache .ruff_cache
