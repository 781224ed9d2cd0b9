"""Crash and resume: the worker running a sync is killed (SIGKILL) at random points, twenty
times. Each next run completes, every interrupted run is marked so with its reason, and the end
state of both CRMs and the links is the same as after an uninterrupted run."""
from __future__ import annotations

import os
import random
import signal
import time

import psycopg
from django.conf import settings as django_settings

from sandbox.scenario import scenario_dict
from sandbox.testing import running_sandbox
from tests.soak import crash

KILLS = int(os.environ.get("CRASH_KILLS", "20"))
SIZE, SEED = 1500, 17


def _database_url(name: str, tmp_path) -> str:
    """A database of its own for the killed workers: a SQLite file, or a fresh PostgreSQL database
    when the suite runs on PostgreSQL."""
    db = django_settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{tmp_path}/{name}.sqlite3"
    auth = f"{db['USER']}@" if db["USER"] else ""
    admin = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER'] or 'postgres'} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgres://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def _world(tmp_path, name: str, scenario: dict):
    server_cm = running_sandbox(seed=SEED)
    server = server_cm.__enter__()
    server_cm.server = server
    server.sandbox.load(scenario)
    env = crash.env_for(_database_url(f"crmsync_crash_{name}_{os.getpid()}", tmp_path), server.url)
    migrated = crash.manage(env, "migrate", "-v0")
    assert migrated.returncode == 0, migrated.stderr
    return server_cm, env


def _calls(sandbox) -> int:
    stats = sandbox.stats()
    return stats["salesforce"]["calls"] + stats["hubspot"]["calls"]


def test_killed_workers_resume_to_the_uninterrupted_end_state(tmp_path):
    scenario = scenario_dict(SIZE, seed=SEED, now="2026-11-20T00:00:00Z")
    scenario_ids = {r["Id"] for recs in scenario["salesforce"].values() for r in recs} | \
                   {str(r["id"]) for t, recs in scenario["hubspot"].items() if t != "associations" for r in recs}
    rng = random.Random(SEED)

    killed_cm, killed_env = _world(tmp_path, "killed", scenario)
    try:
        kills = 0
        sandbox = killed_cm.server.sandbox
        for attempt in range(KILLS):
            # Kill after the k-th CRM request of the run: always inside it, at a random point of
            # the pull, reconcile, push or field sync (a full run makes ~40 requests here).
            k = rng.randint(1, 35)
            before = _calls(sandbox)
            proc = crash.start_sync(killed_env, full=(attempt % 2 == 0))
            while proc.poll() is None and _calls(sandbox) - before < k:
                time.sleep(0.005)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=60)
        summaries = crash.settle(killed_env, sandbox=sandbox)
        killed = crash.observe_in(killed_env, sandbox, scenario_ids, tmp_path)
    finally:
        killed_cm.__exit__(None, None, None)

    clean_cm, clean_env = _world(tmp_path, "clean", scenario)
    try:
        crash.settle(clean_env, sandbox=clean_cm.server.sandbox)
        clean = crash.observe_in(clean_env, clean_cm.server.sandbox, scenario_ids, tmp_path)
    finally:
        clean_cm.__exit__(None, None, None)

    runs = killed.pop("runs")
    statuses = [r["status"] for r in runs]
    clean.pop("runs")
    print(f"\ncrash: {kills} kills; run statuses {dict((s, statuses.count(s)) for s in set(statuses))}; "
          f"settled with {summaries}")
    assert kills >= KILLS // 2, "most kills should land while a sync is running"
    interrupted = [r for r in statuses if r == "interrupted"]
    assert len(interrupted) >= kills - 2   # a kill right before the claim or after the finish leaves nothing to mark
    assert all("worker" in r["error"] for r in runs if r["status"] == "interrupted"), "an interruption has no reason"
    assert "running" not in statuses
    assert statuses[-1] == "succeeded"
    for key in clean:
        assert killed[key] == clean[key], f"{key} differs from the uninterrupted run"
