# crmsync — the two commands: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test
CHROMIUM := /usr/bin/chromium

.PHONY: install install-dev test test-sqlite test-postgres demo screenshots soak load bench profile lint lock clean

# Two pinned locks: requirements.lock is what production runs (and the demo needs);
# requirements-dev.lock adds the development tools (tests, lint, benchmarks) at the same pins.
$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	touch $@

$(BIN)/.installed-dev: requirements-dev.lock $(BIN)/.installed
	$(BIN)/pip install -q -r requirements-dev.lock
	touch $@

install: $(BIN)/.installed
install-dev: $(BIN)/.installed-dev

# Browser tests drive Debian's chromium (never `playwright install`: there are no downloads here).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	else echo "Browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi

test: install-dev $(CHROMIUM) test-sqlite test-postgres

test-sqlite: install-dev
	DATABASE_URL= $(BIN)/pytest -q -p no:cacheprovider

# In CI an unreachable PostgreSQL is a failure, not a skip.
test-postgres: install-dev
	DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q -p no:cacheprovider

demo: install
	DEBUG=true DATABASE_URL=sqlite:///var/demo.sqlite3 REDIS_URL= $(BIN)/python manage.py demo

# The README's screenshots (docs/screenshots/), taken from the demo scenario in chromium.
screenshots: install-dev $(CHROMIUM)
	SCREENSHOTS_DIR=docs/screenshots DATABASE_URL= $(BIN)/pytest -q -p no:cacheprovider tests/browser/test_screenshots.py

# Benchmarks at scale (not part of `make test`): SQLite and PostgreSQL, report in var/bench/.
# `make bench SIZE=100000` (up to 1000000); PostgreSQL at BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432).
# Then the scale-out run: the same full sync on 1 and WORKERS qcluster workers (Redis at BENCH_REDIS_URL).
SIZE ?= 10000
WORKERS ?= 4
bench: install-dev
	$(BIN)/python -m tests.bench.run --size $(SIZE)
	$(BIN)/python -m tests.bench.scale --size $(SIZE) --workers 1,$(WORKERS)

# Where a full sync's time goes: pyinstrument's call tree in var/bench/profile-<size>-postgres-<run>.txt
# (PROFILE_RUN=echo: the incremental run after the full sync, which reads its writes back).
PROFILE_SIZE ?= 20000
PROFILE_RUN ?= full
profile: install-dev
	$(BIN)/python -m tests.bench.profile --size $(PROFILE_SIZE) --db postgres --run $(PROFILE_RUN)

lint: install-dev
	$(BIN)/ruff check .

# Re-pin both locks from pyproject.toml, each in a scratch venv: the runtime lock from its
# dependencies alone, then the dev lock from the dev extras with the runtime pins held fixed.
LOCK_VENV := /tmp/crmsync-lock
lock:
	rm -rf $(LOCK_VENV) $(LOCK_VENV)-dev && $(PYTHON) -m venv $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)-dev
	$(LOCK_VENV)/bin/pip install -q --upgrade pip && $(LOCK_VENV)/bin/pip install -q .
	$(LOCK_VENV)/bin/pip freeze --exclude-editable | grep -v '^crmsync' > requirements.lock
	$(LOCK_VENV)-dev/bin/pip install -q --upgrade pip && $(LOCK_VENV)-dev/bin/pip install -q -c requirements.lock ".[dev]"
	$(LOCK_VENV)-dev/bin/pip freeze --exclude-editable | grep -v '^crmsync' > requirements-dev.lock

clean:
	rm -rf $(VENV) var/*.sqlite3 var/static

# Many sync cycles with edits in both CRMs and faults of every kind, compared with a fault-free
# replay; random kills; and a kill at every write boundary, before and after the write is applied
# (a small version of each runs in `make test`).
SOAK_SIZE ?= 5000
SOAK_CYCLES ?= 60
BOUNDARY_SIZE ?= 120
soak: install-dev
	SOAK_SIZE=$(SOAK_SIZE) SOAK_CYCLES=$(SOAK_CYCLES) BOUNDARY_SIZE=$(BOUNDARY_SIZE) BOUNDARY_MODES=after,before \
		$(BIN)/pytest -q -s -p no:cacheprovider tests/soak

# 50 users against gunicorn + PostgreSQL at 100,000 people (a database of its own).
load: install-dev
	$(BIN)/python -m tests.bench.load --size 100000 --users 50 --seconds 30
