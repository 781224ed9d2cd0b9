# crmsync — the two commands: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test
CHROMIUM := /usr/bin/chromium

.PHONY: install test test-sqlite test-postgres demo soak load bench profile lint lock clean

$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	touch $@

install: $(BIN)/.installed

# Browser tests drive Debian's chromium (never `playwright install`: there are no downloads here).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	else echo "Browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi

test: install $(CHROMIUM) test-sqlite test-postgres

test-sqlite: install
	DATABASE_URL= $(BIN)/pytest -q -p no:cacheprovider

# In CI an unreachable PostgreSQL is a failure, not a skip.
test-postgres: install
	DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q -p no:cacheprovider

demo: install
	DEBUG=true $(BIN)/python manage.py demo

# Benchmarks at scale (not part of `make test`): SQLite and PostgreSQL, report in var/bench/.
# `make bench SIZE=100000` (up to 1000000); PostgreSQL at BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432).
# Then the scale-out run: the same full sync on 1 and WORKERS qcluster workers (Redis at BENCH_REDIS_URL).
SIZE ?= 10000
WORKERS ?= 4
bench: install
	$(BIN)/python -m tests.bench.run --size $(SIZE)
	$(BIN)/python -m tests.bench.scale --size $(SIZE) --workers 1,$(WORKERS)

# Where a full sync's time goes: pyinstrument's call tree in var/bench/profile-<size>-postgres-<run>.txt
# (PROFILE_RUN=echo: the incremental run after the full sync, which reads its writes back).
PROFILE_SIZE ?= 20000
PROFILE_RUN ?= full
profile: install
	$(BIN)/python -m tests.bench.profile --size $(PROFILE_SIZE) --db postgres --run $(PROFILE_RUN)

lint: install
	$(BIN)/ruff check .

# Re-pin requirements.lock from pyproject.toml in a scratch venv.
lock:
	rm -rf /tmp/crmsync-lock && $(PYTHON) -m venv /tmp/crmsync-lock
	/tmp/crmsync-lock/bin/pip install -q --upgrade pip && /tmp/crmsync-lock/bin/pip install -q ".[dev]"
	/tmp/crmsync-lock/bin/pip freeze --exclude-editable | grep -v '^crmsync' > requirements.lock

clean:
	rm -rf $(VENV) var/*.sqlite3 var/static

# Many sync cycles with edits in both CRMs and faults of every kind, compared with a fault-free
# replay; random kills; and a kill at every write boundary, before and after the write is applied
# (a small version of each runs in `make test`).
SOAK_SIZE ?= 5000
SOAK_CYCLES ?= 60
BOUNDARY_SIZE ?= 120
soak: install
	SOAK_SIZE=$(SOAK_SIZE) SOAK_CYCLES=$(SOAK_CYCLES) BOUNDARY_SIZE=$(BOUNDARY_SIZE) BOUNDARY_MODES=after,before \
		$(BIN)/pytest -q -s -p no:cacheprovider tests/soak

# 50 users against gunicorn + PostgreSQL at 100,000 people (a database of its own).
load: install
	$(BIN)/python -m tests.bench.load --size 100000 --users 50 --seconds 30
