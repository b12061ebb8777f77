# One way to do each thing: README and CI use these targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check codeframe tests benchmarks

test: lint
	env -u ANTHROPIC_API_KEY $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist
