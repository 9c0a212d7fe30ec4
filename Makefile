# Set-up and everyday commands. `make run` and `make test` work on a fresh machine.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHROMIUM := /usr/bin/chromium
# The interaction store's tests start Debian's PostgreSQL themselves (tests/conftest.py); its initdb lives under a versioned folder.
POSTGRES_INITDB = $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))

.PHONY: run test test-fast lint bench soak postgres

# torch goes in first, from the local CPU wheel; the constraint then keeps every later install from
# replacing it with a CUDA build and several GB of CUDA packages.
$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/course-guide ingest
	$(VENV)/bin/course-guide serve

# Static checks first: a new lint or type error fails the suite before the slow tests run.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint $(CHROMIUM) postgres
	$(VENV)/bin/pytest

# Logic only, with the hashing fake embedder: no model load, no browser (a few seconds).
test-fast: $(STAMP)
	$(VENV)/bin/pytest -m "not model and not browser"

bench: $(STAMP)
	$(PY) -m eval.bench
	$(PY) -m eval.bench_retrieval
	$(PY) -m eval.bench_quiz
	$(PY) -m eval.bench_api
	$(PY) -m eval.bench_insights
	$(PY) -m eval.bench_progress
	$(PY) -m eval.bench_scale

# A running server through 300 publishes: descriptors, threads, memory and disk from /proc, before and after.
soak: $(STAMP)
	$(PY) -m eval.soak --publishes 300

# Browser tests drive Debian's Chromium; Playwright's own browser download does not work here.
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-dejavu-core

# The interaction store runs on PostgreSQL too; the suite initdb's and starts its own server, so none needs to run.
postgres:
	@test -n "$(POSTGRES_INITDB)" || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql; }
