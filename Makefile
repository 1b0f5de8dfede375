# ferpipe: the obvious targets. `make repro` and `make test` set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# DVC stage commands call `python`: make it the project's interpreter.
export PATH := $(abspath $(BIN)):$(PATH)
.DEFAULT_GOAL := help

.PHONY: help setup repro test test-fast ci docs docs-check comment stale gate runs report bench loadtest lint format mlflow server plots restore clean clean-mlflow

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

$(BIN)/ferpipe: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/ferpipe ## create .venv and install ferpipe with its dependencies

repro: setup ## run the whole DVC pipeline on the built-in data
	dvc repro

# Two pytest workers of one thread each (a test file stays on one worker, so a module's fixture is
# built once): the suite is CPU-bound and half of it is process start-up, so on 2 cores this takes
# 16 minutes where one worker takes 20, and two workers of two threads each contend (19).
test: setup ## run the test suite (two workers) and the linter
	OMP_NUM_THREADS=1 pytest -n 2 --dist loadfile
	ruff check .

test-fast: setup ## the edit-test loop: every test but the slow end-to-end ones (a few minutes), and the linter
	pytest -m "not slow" -q
	ruff check .

ci: test docs-check ## what CI runs: tests, the docs, staleness check, pipeline, the metric gate, the PR comment
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ferpipe.yml
	check-jsonschema --builtin-schema vendor.gitlab-ci .gitlab-ci.yml
	ferpipe stale
	dvc repro
	ferpipe gate
	ferpipe comment --base HEAD --out ci_comment

# Material for MkDocs prints a banner about its successor on every build; the choice is explained in docs/index.md
export NO_MKDOCS_2_WARNING := 1

docs: setup ## build the docs site (site/) and serve it on 127.0.0.1:8000
	mkdocs serve --dev-addr 127.0.0.1:8000

docs-check: setup ## build the docs site strictly: a broken link, reference or generated block fails
	mkdocs build --strict

BASE ?= main
comment: setup ## the pull-request comment against BASE (make comment BASE=origin/main): gate table, plots diff
	ferpipe comment --base $(BASE) --out ci_comment

stale: setup ## fail when committed metrics do not match committed code and params
	ferpipe stale

gate: setup ## fail when a tracked metric fell past thresholds.yaml's tolerance or floor
	ferpipe gate

runs: setup ## compare MLflow runs: pipelines with their model and ensemble runs
	ferpipe runs

report: setup ## write reports/report.html from the current metrics
	ferpipe report

bench: setup ## time the data path against the usual loaders, and each model's training step
	ferpipe bench

loadtest: setup ## the served champion under load: good and hostile requests, 1-8 clients
	ferpipe loadtest

lint: setup ## ruff check
	ruff check .

format: setup ## ruff format
	ruff format .

mlflow: setup ## open the MLflow UI on 127.0.0.1:5000
	ferpipe ui

server: setup ## shared MLflow server: PostgreSQL (FERPIPE_BACKEND_STORE_URI), artifacts served
	ferpipe server

plots: setup ## render dvc plots to dvc_plots/index.html
	dvc plots show

restore: setup ## back to the committed params and results after a preset (retrains nothing DVC has cached)
	ferpipe restore

clean: ## remove stage outputs (keeps .venv, DVC's cache and the MLflow store)
	rm -rf data metrics/details metrics/curves metrics/skipped.csv dvc_plots reports/report.html exports
	find metrics reports -name ".*.tmp" -delete 2>/dev/null || true

clean-mlflow: ## DELETE the local MLflow store: every run and the model registry (asks first)
	@printf "delete mlflow.db and mlruns/ (every run and registered model)? [y/N] "; read answer; \
	[ "$$answer" = y ] && rm -rf mlflow.db mlruns && echo deleted || echo kept
