# churn_assets: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
# Use uv from PATH when present, else bootstrap a pinned one from PyPI into .tools/.
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
RUN := $(UV) run --frozen --no-sync

# All local state lives under CHURN_HOME (default .churn/ here). Third-party tools read their own
# variables: derive them from CHURN_HOME, unless they are set explicitly (those win).
export CHURN_HOME ?= $(CURDIR)/.churn
# Absolute: some recipes run tools from another folder (bentoml containerize from /tmp).
override CHURN_HOME := $(abspath $(CHURN_HOME))
export DAGSTER_HOME ?= $(CHURN_HOME)/dagster_home
export BENTOML_HOME ?= $(CHURN_HOME)/bentoml
export BENTOML_DO_NOT_TRACK := true
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false
export UV_PYTHON_DOWNLOADS := never
export PYTHONUNBUFFERED := 1
# Compile site-packages to bytecode at install time: with PYTHONDONTWRITEBYTECODE set (as on CI
# machines) every process, e.g. each Dagster step subprocess, would otherwise re-compile dagster,
# mlflow and sklearn from source (measured: 9 s per step start instead of ~3 s).
export UV_COMPILE_BYTECODE := 1

.PHONY: help install demo test test-fast bench bench-serve serve dagster mlflow-ui rollback lint check settings-docs clean system-deps postgres bento-lock container test-container bench-explain test-faults

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python 3.11
	@touch $@

install: .venv/.synced  ## create .venv from uv.lock (bootstraps uv if missing)

demo: install  ## train on 100k synthetic customers, serve a sample, run the loop that learns
	$(RUN) churn-assets demo

test: install postgres  ## everything, what .ci/run runs: the suite, the fault and the container tiers in one pool of test workers
	$(RUN) pytest -n $(TEST_WORKERS) --dist loadfile --durations=40

test-core: install postgres  ## the test suite but the container and fault tiers (PostgreSQL on 127.0.0.1:5432; started if down)
	$(RUN) pytest -n $(TEST_WORKERS) --dist loadfile -m "not container and not faults" --durations=40

test-faults: install postgres  ## fault tests: SIGKILL a tuning worker, MLflow and Postgres down mid-run (~13 min alone)
	$(RUN) pytest -n 2 --dist loadfile -m faults -p no:cacheprovider -q

test-container: install  ## build, run and check the Bento image in a real Docker engine (started if none runs)
	$(RUN) pytest -m container churn_assets_tests/test_container.py

# pytest-xdist workers of the suite (a module's tests stay on one worker: --dist loadfile). The suite
# spends much of its time waiting on servers, daemons' sensor ticks, outages and run subprocesses (the
# loop test alone: 5-10 min, mostly waiting). Clean-clone `.ci/run` on a 2-core host (2026-12-04,
# host speed 0.049 s): 3 workers left ~30% of the CPU idle (27:24); 4 workers kept it busy and ran
# 26 more tests in 27:01.
TEST_WORKERS ?= 4

# Extra CA certificates in the image build: auto (those the host adds to Debian's set), host, none or a PEM file.
CA_CERTS ?= auto
container: install  ## the Bento image (bentoml containerize); offline base from Debian packages if no registry; prints its size
	scripts/container_build.sh --ca-certs $(CA_CERTS) $(if $(OFFLINE),--offline) $(if $(KEEP_ENGINE),--keep-engine)

test-fast: install  ## unit and in-process tests only (no servers, Postgres, daemons or slow runs): < 2 min
	$(RUN) pytest -n 2 --dist loadfile -m "not integration and not slow and not faults and not container" --durations=15

postgres:
	@scripts/ensure_postgres.sh

system-deps:  ## Debian packages used by the serving benchmark (wrk for HTTP, h2load for gRPC)
	@(command -v wrk && command -v h2load) >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq wrk nghttp2-client)

bench: install postgres  ## training, drift and distributed-tuning benchmarks -> bench/results/
	$(RUN) python -m bench.training

bench-serve: install system-deps  ## serving benchmark: Bento HTTP and gRPC vs naive FastAPI vs in-process
	$(RUN) python -m bench.serving

bench-explain: install  ## exact explanations: rows/s per model family and single-record latency -> bench/results/
	$(RUN) python -m bench.explain

serve: install  ## serve the latest built Bento: HTTP :3000, gRPC :50051 (CHURN_HTTP_PORT, CHURN_GRPC_PORT)
	$(RUN) python -m bento.serve

# `exec`: the recipe's shell becomes the launcher, which execs `dg dev` (churn_assets/local/dev.py), so a
# SIGTERM to make reaches the dev server (make passes SIGTERM on to its child; uv run forwards it).
dagster: install  ## dg dev on the embedded instance -> http://127.0.0.1:3000 (DAGSTER_PORT)
	exec $(RUN) python -m churn_assets.local.dev dagster --host 127.0.0.1 --port $${DAGSTER_PORT:-3000}

mlflow-ui: install  ## MLflow UI on the local store, at MLFLOW_UI_URL (where the Dagster links point) -> http://127.0.0.1:5000
	exec $(RUN) python -m churn_assets.local.dev mlflow-ui

rollback: install  ## give `champion` back to the previous champion
	$(RUN) churn-assets rollback

lint: install  ## ruff, and `dg check defs` (the code location loads and every definition is valid)
	$(RUN) ruff check churn_assets churn_assets_tests bento bench
	@mkdir -p "$(DAGSTER_HOME)"
	$(RUN) dg check defs

check: lint  ## lint + the generated docs are current (what .ci/run calls before `make test`)
	$(RUN) python -m churn_assets.local.settings_docs --check

settings-docs: install  ## rewrite the variable table of docs/OPERATIONS.md from churn_assets/model/settings.py
	$(RUN) python -m churn_assets.local.settings_docs

clean:  ## remove local state (.churn/) and the virtualenv
	rm -rf .churn .venv .tools
	@[[ "$(CHURN_HOME)" == "$(CURDIR)/.churn" ]] || echo "CHURN_HOME=$(CHURN_HOME) is not removed: delete it yourself"

bento-lock:  ## regenerate bento/requirements.lock.txt (the serving subset of uv.lock) and the gRPC stubs
	$(UV) export --only-group serving --no-hashes --no-emit-project --frozen -o bento/requirements.lock.txt
	$(RUN) python -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. --pyi_out=. bento/churn.proto
