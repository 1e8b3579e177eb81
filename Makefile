# Pathways: `make run` sets up and serves; `make test` runs the whole suite on SQLite and PostgreSQL.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000
# The PostgreSQL server the test suite creates its own throwaway database on.
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# Test processes (pytest-xdist); each has its own database.
TEST_WORKERS ?= 2
# The suite runs at a frozen instant (tests/conftest.py): 10:00 on 23 November 2026 on SQLite, and a leap day
# at 23:30 London time on PostgreSQL. The date-sensitive tests run again at instants where dates go wrong:
# London's date ahead of UTC's at a month's start, just after the clocks go back and forward, a month's end
# late in the evening.
POSTGRESQL_INSTANT ?= 2028-02-29T23:30:00+00:00
INSTANTS ?= 2026-07-01T00:30:00+01:00 2026-10-25T01:30:00+00:00 2027-01-31T23:30:00+00:00 2027-03-28T02:30:00+01:00
DATED_TESTS := tests/test_apprenticeship_rules.py tests/test_otj_totals.py tests/test_progress_reviews.py \
	tests/test_placements.py tests/test_runs.py tests/test_learning.py tests/test_enrolment_import.py \
	tests/test_off_the_job.py tests/test_gateway.py tests/test_apprenticeship_lifecycle.py tests/test_reminders.py \
	tests/test_home_apprentice.py tests/test_home_supervisor.py tests/test_home_coordinator.py tests/test_home_admin.py \
	tests/test_home_leader.py tests/test_cpd_record.py

.PHONY: run scheduler install assets db demo test lint test-sqlite test-postgresql test-instants clean

# The scheduler runs beside the web server (its log in instance/scheduler.log) and stops with it, and so does the
# demo council identity provider, on PORT+1 (instance/identity-provider.log), for trying single sign-on.
# FLASK_RUN_HOST and FLASK_RUN_PORT reach every command of the target (the demo data and scheduler too), so
# links in emails and certificates point at this server (config.py, served_address) unless BASE_URL is set.
run: export FLASK_RUN_HOST := $(HOST)
run: export FLASK_RUN_PORT := $(PORT)
run: install assets db demo
	@echo ""
	@echo "Pathways is running at http://$(HOST):$(PORT)  (Ctrl+C to stop)"
	@$(FLASK) demo load --quiet | sed 's/^/  /'
	@echo "The scheduler runs beside it (log: instance/scheduler.log); reminders appear on the Outbox page."
	@echo "The demo council sign-in runs at http://127.0.0.1:$$(($(PORT) + 1)) (log: instance/identity-provider.log):"
	@echo "  type kemi.adebayo@southwark.example or coordinator@southwark.example to sign in with it."
	@echo ""
	@mkdir -p instance; \
	$(FLASK) scheduler run >> instance/scheduler.log 2>&1 & scheduler=$$!; \
	$(FLASK) sso demo-provider >> instance/identity-provider.log 2>&1 & provider=$$!; \
	trap 'kill -TERM $$scheduler $$provider 2>/dev/null; wait $$scheduler $$provider 2>/dev/null' EXIT; \
	trap 'exit 130' INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT)

# The scheduled jobs on their own, in the foreground (one scheduler is active at a time; see README).
scheduler: install db
	@$(FLASK) scheduler run

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.stamp-app: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.stamp-dev: pyproject.toml $(VENV)/.stamp-app
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.stamp-app

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Third-party assets are built into static/dist (git-ignored). GOV.UK's crown images and the
# GDS Transport font are left out: Pathways is not a gov.uk service.
static/dist/.stamp: node_modules/.stamp static/src/pathways.scss
	mkdir -p static/dist
	cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js static/dist/
	npx --no-install sass --no-source-map --quiet --load-path=node_modules --style=compressed \
		static/src/pathways.scss static/dist/pathways.css
	@touch $@

assets: static/dist/.stamp

db: install
	@$(FLASK) db upgrade
	@$(FLASK) organisations load
	@$(FLASK) courses sync
	@$(FLASK) standards load

demo: db
	@$(FLASK) demo load > /dev/null

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check .

test: $(VENV)/.stamp-dev assets lint test-sqlite test-postgresql test-instants

test-sqlite: $(VENV)/.stamp-dev assets
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS)

test-postgresql: $(VENV)/.stamp-dev assets
	PATHWAYS_TEST_DATABASE=postgresql TEST_DATABASE_URL=$(TEST_DATABASE_URL) PATHWAYS_TEST_NOW=$(POSTGRESQL_INSTANT) \
		$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS)

test-instants: $(VENV)/.stamp-dev assets
	@for instant in $(INSTANTS); do \
		echo "The date-sensitive tests at $$instant"; \
		PATHWAYS_TEST_NOW=$$instant $(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) $(DATED_TESTS) || exit 1; \
	done

clean:
	rm -rf $(VENV) node_modules static/dist .pytest_cache .ruff_cache
