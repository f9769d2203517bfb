# BorgOS: `make dev` starts the local stack, `make test` runs every test. Both work on a fresh
# machine (Python 3.11): they create .venv, install the requirements and (as root) the Debian
# packages, and start dockerd when it is not running.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# Unit and integration tests in one run; the integration tests share one stack, so they all go
# to one xdist worker (xdist_group "local-stack"); --dist loadgroup keeps them together.
PYTEST := $(PY) -m pytest -n 2 --dist loadgroup

.PHONY: dev test unit integration lint bench clean clean-state setup docker

$(INSTALLED): requirements.txt requirements-worker.txt requirements-dev.txt
	scripts/setup.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

setup: $(INSTALLED)

docker:
	scripts/ensure-docker.sh

dev: setup docker
	$(PY) -m infra.local.stack

test: setup docker
	$(PYTEST) tests

unit: setup
	$(PYTEST) tests/unit

integration: setup docker
	$(PYTEST) -m integration tests

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy .

bench: setup docker
	for b in cold_start dynamodb_calls list_latency docker_baseline deploy_latency scan_search \
		realtime_fanout realtime_webhooks webhooks_throughput scheduler_tick; do \
		$(PY) -m bench.$$b || exit 1; done

# Caches and the virtualenv. The local stack's data (.borgos/) stays: `make clean-state` drops it.
clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .benchmarks
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +

clean-state:
	rm -rf .borgos
