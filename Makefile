# Quick start: `make run` (set up and serve on http://127.0.0.1:5000) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install run setup serve test test-postgres lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

setup: install
	$(BIN)/triage setup

run: setup
	$(BIN)/triage serve

serve: install
	$(BIN)/triage serve

# The whole suite on SQLite, plus the tests that need PostgreSQL or Redis when they are there
# (in CI, with CI=true, a missing PostgreSQL or Redis fails those tests instead of skipping them).
test: install
	$(BIN)/python -m pytest

# The same suite with PostgreSQL as the service's database.
test-postgres: install
	TRIAGE_DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check triage tests bench

bench: install
	$(BIN)/python bench/model.py
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) instance .pytest_cache
