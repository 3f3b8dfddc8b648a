# behaviorlab: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
MODEL ?= churn-sim
PORT ?= 5001
TRACKING_URI ?= sqlite:///mlruns/mlflow.db
SERVER_PORT ?= 5050
PG_PORT ?= 5433

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-8s %s\n", $$1, $$2}'

# A dependency change reinstalls into the existing .venv: re-creating it with another
# python3 on the PATH would mix two interpreters' standard libraries.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==26.3
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,spark]'
	touch $(STAMP)

setup: $(STAMP) ## Create .venv and install the project with its dev extra (no-op when current)

demo: setup ## Simulate the built-in data and run the main job on it
	$(BIN)/python -m behaviorlab.apps.demo

test: setup ## Run the test suite
	$(BIN)/pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test-team: setup ## Run only the team stack's tests (PostgreSQL + MLflow server, under 2 minutes)
	$(BIN)/pytest -n 0 -m team tests/e2e/test_team_server.py $(PYTEST_ARGS)

lint: setup ## Lint with ruff
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

ui: setup ## MLflow UI on http://127.0.0.1:5000 over the local store
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri sqlite:///mlruns/mlflow.db --default-artifact-root ./mlruns

serve: setup ## Serve MODEL@champion (MODEL=churn-sim) on http://127.0.0.1:5001 (PORT=)
	PATH="$(abspath $(BIN)):$$PATH" MLFLOW_TRACKING_URI="$(TRACKING_URI)" \
	MLFLOW_REGISTRY_URI="$(TRACKING_URI)" MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false \
	$(BIN)/mlflow models serve -m "models:/$(MODEL)@champion" --env-manager local \
	  -h 127.0.0.1 -p $(PORT)

server: setup ## Team stack in .team/: PostgreSQL + MLflow with basic auth on 127.0.0.1:5050
	$(BIN)/python -m behaviorlab.team.server start --folder .team --port $(SERVER_PORT) --pg-port $(PG_PORT)

server-stop: ## Stop exactly what make server started (its pid files)
	$(BIN)/python -m behaviorlab.team.server stop --folder .team

bench: setup ## Run the benchmarks (they print their figures)
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean: ## Remove the environment, caches, local store and outputs
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis outputs multirun data .cache
	find mlruns -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

.PHONY: help setup demo test lint ui serve server server-stop bench clean
