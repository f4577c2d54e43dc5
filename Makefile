# Quick start: `make run` (set up and serve on http://127.0.0.1:5000) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install run setup serve test test-postgres lint bench load fuzz clean

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

# The longer schemathesis run: TRIAGE_FUZZ_EXAMPLES cases per API operation (make test runs 10),
# plus longer stateful runs of the ticket life cycle. FUZZ_DB_URL=postgresql+psycopg://... to fuzz
# on PostgreSQL.
fuzz: install
	TRIAGE_FUZZ_EXAMPLES=$(or $(EXAMPLES),500) TRIAGE_STATEFUL_EXAMPLES=$(or $(STATEFUL),100) \
	$(if $(FUZZ_DB_URL),TRIAGE_DATABASE_URL=$(FUZZ_DB_URL)) \
	$(BIN)/python -m pytest tests/test_fuzz.py tests/test_lifecycle_stateful.py -p no:cacheprovider

lint: install
	$(BIN)/ruff check triage tests bench

bench: install
	$(BIN)/python bench/model.py
	$(BIN)/python bench/api.py

# 60 s of mixed load on the production server (gunicorn, PostgreSQL in a schema of its own), then
# a check that every acknowledged ticket is stored exactly once; see bench/load.py.
load: install
	$(BIN)/python -m pip install --quiet -e '.[load]'
	$(BIN)/python bench/load.py --duration $(or $(DURATION),60)

clean:
	rm -rf $(VENV) instance .pytest_cache
