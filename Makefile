# Granary: `make run` brings the whole system up; `make test` runs every test.
# Both create .venv when it is missing and install the project into it.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTO_FILES := $(wildcard proto/granary/v1/*.proto)

.PHONY: run test proto lint bench clean-var
.DEFAULT_GOAL := run

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/granary up

test: $(STAMP)
	$(PY) -m pytest -q

proto: $(STAMP)
	$(PY) proto/generate.py

lint: $(STAMP)
	$(VENV)/bin/ruff check services gateway tests bench

bench: $(STAMP)
	@for f in bench/*_bench.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean-var:
	rm -rf var

# Offline deployment checks (`make k8s-check`), kept beside the chart.
include deploy/k8s-check.mk
k8s-check: $(STAMP)
