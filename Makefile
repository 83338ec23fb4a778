# covidsync: one command per habit. `make help` lists them.
#
# Everything runs from a project-local virtual environment (.venv) installed from requirements.lock,
# so a fresh machine gets exactly what CI tested. After the first install nothing here reaches a
# package registry.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed

# Project-local state (git-ignored): the embedded warehouse, Airflow's home, generated sample data.
export COVIDSYNC_HOME ?= $(CURDIR)
export COVIDSYNC_DATA_DIR ?= $(CURDIR)/data
export AIRFLOW_HOME ?= $(CURDIR)/.airflow

.PHONY: help install lock warehouse warehouse-stop migrate demo test test-fast property lint format bench airflow cluster cluster-stop clean

help: ## list the commands
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	# --compile-bytecode: every CLI command and Airflow task imports GX, Airflow and polars; where the
	# environment sets PYTHONDONTWRITEBYTECODE (as these machines do), nothing else would ever write their .pyc
	# and each process would compile them again (about 20 s of CPU for `covidsync validate`'s imports)
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install exactly requirements.lock (once)

lock: ## re-resolve requirements.lock from pyproject.toml (needs the network)
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet uv==$(UV_VERSION); }
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" -o requirements.lock

warehouse: install ## start the warehouse (embedded PostgreSQL unless COVIDSYNC_WAREHOUSE_URL is set)
	$(BIN)/covidsync warehouse start

warehouse-stop: install ## stop the embedded PostgreSQL
	$(BIN)/covidsync warehouse stop

migrate: warehouse ## apply the SQL migrations in sql/migrations (a no-op when up to date)
	$(BIN)/covidsync db upgrade

demo: migrate ## install, start the warehouse, lay out sample data, run the DAGs once, print a summary
	$(BIN)/covidsync demo

test: install ## the whole test suite (a real PostgreSQL; see README "Tests"); the cluster test runs beside the rest
	tests/run-suite $(BIN)/python $(PYTEST_ARGS)

test-fast: install ## the suite without the slow Airflow end-to-end runs
	$(BIN)/python -m pytest -m "not airflow" $(PYTEST_ARGS)

SEEDS ?= 200
property: install ## the status property test on seeds 1..SEEDS (default 200; `make test` runs 2 fixed seeds)
	COVIDSYNC_PROPERTY_SEEDS=$(SEEDS) $(BIN)/python -m pytest tests/property -m property $(PYTEST_ARGS)

lint: install ## ruff (with Airflow's AIR rules) and sqlfluff over sql/ and what its templates render
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint sql --disable-progress-bar
	rm -rf .covidsync/rendered-sql && $(BIN)/python -m covidsync.sqlfiles .covidsync/rendered-sql > /dev/null
	$(BIN)/sqlfluff lint .covidsync/rendered-sql --disable-progress-bar

format: install ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: migrate ## benchmarks: figures on the terminal and JSON under bench/results/ (not part of `make test`)
	$(BIN)/python -m bench $(BENCH_ARGS)

airflow: migrate ## the Airflow UI: `airflow standalone` on this project (http://localhost:$COVIDSYNC_AIRFLOW_PORT, default 8080)
	$(BIN)/covidsync airflow standalone

# The Celery cluster (docs/deployment.md): PostgreSQL metadata database beside the warehouse, Redis broker,
# scheduler, DAG processor, triggerer, API server, two Celery workers; settings from deploy/cluster.env.
# Needs `redis-server`: `apt-get install redis-server` (Debian/Ubuntu), `brew install redis` (macOS), or
# COVIDSYNC_REDIS_SERVER=/path/to/redis-server. Ports: COVIDSYNC_AIRFLOW_PORT (8080), COVIDSYNC_REDIS_PORT
# (6379), COVIDSYNC_WORKER_LOG_PORT (8793); COVIDSYNC_AIRFLOW_DB_URL for a metadata database elsewhere.
cluster: migrate ## start the CeleryExecutor cluster: scheduler, DAG processor, triggerer, API server, 2 workers
	$(BIN)/python -m covidsync.cluster start

cluster-stop: install ## stop every process `make cluster` started, each by its own pid
	$(BIN)/python -m covidsync.cluster stop

clean: ## stop the embedded warehouse and remove local state (.venv, .airflow, .covidsync, data)
	-test -x $(BIN)/python && $(BIN)/python -m covidsync.cluster stop
	-test -x $(BIN)/covidsync && $(BIN)/covidsync warehouse stop
	rm -rf $(VENV) .airflow .covidsync data
