# decide — make demo / make test do all the set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/decide demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check procedures store app notify cli flows api web tests bench
	$(BIN)/ruff format --check procedures store app notify cli flows api web tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/calendar.py

clean:
	rm -rf $(VENV) .decide .pytest_cache .hypothesis
