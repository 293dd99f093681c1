# userq: `make dev` runs the whole system locally, `make test` runs every test. Both from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install infra dev stop test test-unit test-integration test-e2e test-faults test-tooling lint fmt clean bench soak diagrams

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[server,dev]"
	touch $@

install: $(VENV)/.installed  ## virtualenv with userq, its server dependencies and its dev tools

infra: install  ## Kafka and PostgreSQL (native, no Docker), migrated, topics created
	infra/local/postgres.sh start
	infra/local/kafka.sh start
	$(PY) -m runtime setup

dev: install  ## everything: Kafka, PostgreSQL, the API on :3000, two workers; Ctrl-C stops it all
	infra/local/dev.sh up

stop:  ## stop what `make dev` started
	infra/local/dev.sh stop

lint: install  ## ruff and mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint  ## the whole suite on real Kafka and PostgreSQL (started natively when not given), tier by tier
	$(PY) -m pytest

test-unit: install  ## pure logic: no Kafka, no PostgreSQL, no process, no network; seconds
	$(PY) -m pytest -m unit

test-integration: install  ## one service at a time (API processes, the producer) on real PostgreSQL and Kafka
	$(PY) -m pytest -m integration

test-e2e: install  ## the whole system: API and workers on Kafka and PostgreSQL, the OpenAPI contract
	$(PY) -m pytest -m e2e

test-faults: install  ## the fault scenarios (the outage ones stop and restart the infra/local services)
	$(PY) -m pytest -m faults

test-tooling: install  ## containers, Prometheus and Grafana files, diagrams, README, the bench's parts
	$(PY) -m pytest -m tooling

bench: install  ## the benchmark (docs/performance.md): starts or uses Kafka and PostgreSQL, prints a table, JSON in bench/results/
	$(PY) -m bench

soak: install  ## 30 minutes of mixed load with faults on a schedule (docs/soak.md), on Kafka and PostgreSQL of its own (29192, 55491)
	$(PY) -m bench.soak --minutes 30 --window-minutes 5

diagrams:  ## render docs/diagrams/*.mmd to SVG (mermaid-cli from npm, Debian's Chromium; installed when missing)
	docs/diagrams/render.sh

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:  ## delete local Kafka and PostgreSQL data
	infra/local/kafka.sh reset
	infra/local/postgres.sh reset
	infra/local/kafka-cluster.sh reset
	infra/local/prometheus.sh reset
