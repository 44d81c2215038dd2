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

.PHONY: setup run test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

run: setup
	$(VENV)/bin/frus ingest --source $(SOURCE) --mirror $(CORPUS) --data $(DATA) $(if $(VOLUMES),--volumes $(VOLUMES))
	$(VENV)/bin/frus search "Outer Mongolia" --data $(DATA)

test: setup
	PREFECT_HOME=$(CURDIR)/.prefect/test $(VENV)/bin/pytest -q

bench: setup
	$(VENV)/bin/python benchmarks/ingest.py

clean:
	rm -rf $(DATA) .prefect
