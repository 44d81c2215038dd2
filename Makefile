# Two entry points for a fresh machine: `make run` (set up, ingest, search) and `make test`.
# `make run` fetches the upstream repository (SOURCE=git); offline, it ingests the local
# mirror CORPUS instead.
PYTHON ?= python3
VENV   ?= .venv
CORPUS ?= $(or $(FRUS_CORPUS),../shared/corpus)
SOURCE ?= git
VOLUMES ?=
DATA   ?= data
export PREFECT_SERVER_ANALYTICS_ENABLED = false
export DO_NOT_TRACK = 1
export PREFECT_HOME ?= $(CURDIR)/.prefect/home

.PHONY: system setup run test test-quick bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

# Debian packages the tests and benchmarks need: postgresql (a throwaway server for the
# DuckLake-on-PostgreSQL test) and ripgrep (a benchmark baseline). A quick check when present.
system:
	@missing=""; \
	command -v rg >/dev/null 2>&1 || missing="$$missing ripgrep"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "make setup: missing Debian packages:$$missing; run make setup as root, or: sudo apt-get install$$missing" >&2; \
	  exit 1; \
	fi; \
	echo "installing Debian packages:$$missing"; \
	apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing

setup: system $(VENV)/.installed

run: $(VENV)/.installed
	$(VENV)/bin/frus ingest --source $(SOURCE) --mirror $(CORPUS) --data $(DATA) $(if $(VOLUMES),--volumes $(VOLUMES))
	$(VENV)/bin/frus search "Outer Mongolia" --data $(DATA)

# The whole suite on TEST_WORKERS processes (pytest-xdist; a test file stays on one worker, so
# its module fixtures are built once). Files go out in tests/conftest.py's order, the longest
# first, so both workers end together. `make test-quick` runs the tests not marked slow;
# PYTEST_ARGS adds pytest options (`make test PYTEST_ARGS=--durations=15`).
TEST_WORKERS ?= 2
test: setup
	PREFECT_HOME=$(CURDIR)/.prefect/test $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

test-quick: setup
	PREFECT_HOME=$(CURDIR)/.prefect/test $(VENV)/bin/pytest -q -m "not slow"

bench: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/ingest.py

clean:
	rm -rf $(DATA) .prefect
