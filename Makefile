# One way to do each thing: README and CI use these targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench faults lab clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-installs when pyproject.toml changes; pip's own chatter is kept quiet.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The offline demo: a sample project, a scripted Claude, real pytest runs.
demo: $(STAMP)
	env -u ANTHROPIC_API_KEY $(BIN)/codeframe demo

lint: $(STAMP)
	$(BIN)/ruff check codeframe tests benchmarks
	$(BIN)/ruff format --check codeframe tests benchmarks
	$(BIN)/mypy

# Lint (ruff, format, mypy --strict), then the whole suite (unit, integration, notebooks),
# offline: the key is never visible to it.
test: lint
	env -u ANTHROPIC_API_KEY $(BIN)/python -m pytest

bench: $(STAMP)
	env -u ANTHROPIC_API_KEY $(BIN)/python -m benchmarks.run

# The long fault-injection run (thousands of seeded cases; 12–16 min on two shared
# cores); rewrites docs/reliability.md. More or other cases: make faults FAULTS_ARGS="--trials 300 --seed 7".
faults: $(STAMP)
	env -u ANTHROPIC_API_KEY $(BIN)/python -m tests.faults $(FAULTS_ARGS)

# JupyterLab on the notebooks; an extra, since the demo and the tests do not need it.
# More options through LAB_ARGS, e.g. make lab LAB_ARGS="--no-browser --port 8890".
lab: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,lab]'
	cd notebooks && ../$(BIN)/jupyter lab $(LAB_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist codeframe-demo
