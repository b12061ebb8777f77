# One way to do each thing: README and CI use these targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench faults lab clean constraints

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-installs when pyproject.toml or constraints.txt changes, at the versions
# constraints.txt pins; pip's own chatter is kept quiet.
PIP := $(BIN)/python -m pip --disable-pip-version-check
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Pin the newest versions pyproject.toml's ranges allow: a fresh venv, then its freeze.
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	{ sed -n '/^#/p' constraints.txt; .venv-constraints/bin/python -m pip freeze \
		--exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .venv-constraints

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
	$(PIP) install --quiet -c constraints.txt -e '.[dev,lab]'
	cd notebooks && ../$(BIN)/jupyter lab $(LAB_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist codeframe-demo
