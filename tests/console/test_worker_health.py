"""Worker health: pages that wait on a task worker (a pending run's progress card on the overview
and its run page, the Sync now answer, a pending bulk job) say so in words when no django-q2
cluster is alive, and say nothing when one is: from a heartbeat saved the way django-q2 saves it,
and from a real `qcluster` in a subprocess, with the ORM broker and with Redis."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.core.management import call_command
from django.urls import reverse
from django_q.conf import Conf

from sync import workers
from sync.models import BulkJob, SyncRun
from tests.console.conftest import HX
from tests.workers import heartbeat, isolate

ROOT = Path(__file__).resolve().parents[2]
NO_WORKER = "No task worker is running: start <code>python manage.py qcluster</code>"
OVERVIEW, SYNC = reverse("sync:overview"), reverse("sync:sync_now")


@pytest.fixture(autouse=True)
def heartbeats(settings, tmp_path):
    isolate(settings, tmp_path)


def pending_pages(client, run: SyncRun, job: BulkJob) -> dict[str, str]:
    return {"overview": client.get(OVERVIEW).content.decode(),
            "run page": client.get(reverse("sync:run", args=[run.pk])).content.decode(),
            "progress poll": client.get(reverse("sync:run_progress", args=[run.pk]), headers=HX).content.decode(),
            "job page": client.get(reverse("sync:job", args=[job.pk])).content.decode(),
            "job poll": client.get(reverse("sync:job", args=[job.pk]), headers=HX).content.decode()}


@pytest.mark.django_db
def test_without_a_cluster_every_waiting_page_says_so(viewer_client, operator):
    run = SyncRun.objects.create()
    job = BulkJob.objects.create(kind="resync", requested_by=operator, targets=["1"], total=1)
    for name, html in pending_pages(viewer_client, run, job).items():
        assert NO_WORKER in html, name


@pytest.mark.django_db
def test_with_a_cluster_heartbeat_nothing_is_said(viewer_client, operator):
    run = SyncRun.objects.create()
    job = BulkJob.objects.create(kind="resync", requested_by=operator, targets=["1"], total=1)
    heartbeat()
    for name, html in pending_pages(viewer_client, run, job).items():
        assert "No task worker" not in html, name
        assert "Pending" in html, name


@pytest.mark.django_db
def test_sync_now_says_so_without_a_cluster_and_not_with_one(operator_client):
    answer = operator_client.post(SYNC, headers=HX).content.decode()
    assert "Pending" in answer and NO_WORKER in answer
    page = operator_client.post(SYNC, follow=True).content.decode()  # the same pending run, on the overview
    assert "is already pending" in page and NO_WORKER in page
    heartbeat()
    assert "No task worker" not in operator_client.post(SYNC, headers=HX).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Conf.STOPPING, Conf.STOPPED])
def test_a_stopping_or_stopped_cluster_is_no_worker(viewer_client, status):
    SyncRun.objects.create()
    heartbeat(status)
    assert NO_WORKER in viewer_client.get(OVERVIEW).content.decode()


@pytest.mark.django_db
def test_runs_and_jobs_under_way_or_done_do_not_ask_for_a_worker(viewer_client, operator):
    """A running run may be `manage.py sync --wait`'s, with no cluster at all; a finished one waits for nothing."""
    from django.utils import timezone

    running = SyncRun.objects.create(status="running", started_at=timezone.now())
    job = BulkJob.objects.create(kind="resync", requested_by=operator, targets=["1"], total=1, status="done", done=1)
    assert "No task worker" not in viewer_client.get(reverse("sync:run", args=[running.pk])).content.decode()
    assert "No task worker" not in viewer_client.get(OVERVIEW).content.decode()
    assert "No task worker" not in viewer_client.get(reverse("sync:job", args=[job.pk])).content.decode()


@pytest.mark.django_db
def test_the_broker_is_asked_once_per_request(viewer_client, operator, monkeypatch):
    SyncRun.objects.create()
    calls = []
    real = workers._heartbeats
    monkeypatch.setattr(workers, "_heartbeats", lambda: calls.append(1) or real())
    viewer_client.get(OVERVIEW)
    assert len(calls) == 1
    viewer_client.get(reverse("sync:runs"))  # nothing waits here: not asked at all
    assert len(calls) == 1


@pytest.mark.django_db
def test_a_broker_that_does_not_answer_is_said_too(viewer_client, monkeypatch):
    SyncRun.objects.create()

    def down():
        raise redis.exceptions.ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(workers, "_heartbeats", down)
    html = viewer_client.get(OVERVIEW).content.decode()
    assert "Can't tell whether a task worker is running: the task broker did not answer (ConnectionError)" in html
    assert "No task worker is running" not in html


@pytest.mark.django_db
def test_the_database_cache_that_postgresql_uses_carries_the_heartbeat(settings):
    """With PostgreSQL and the ORM broker the heartbeat lives in a table (any host can see it)."""
    settings.CACHES = {**settings.CACHES, Conf.CACHE: {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                                                       "LOCATION": "test_worker_heartbeat"}}
    call_command("createcachetable", verbosity=0)
    assert workers.check().missing
    heartbeat()
    assert workers.check().clusters == 1 and not workers.check().missing


# --- a real cluster -----------------------------------------------------------------------------

WAIT = """
import sys, time
import django
django.setup()
from sync import workers
want, deadline = sys.argv[1] == "alive", time.monotonic() + float(sys.argv[2])
while True:
    health = workers.check()
    if (health.clusters > 0) == want or time.monotonic() > deadline:
        break
    time.sleep(0.3)
print(health.clusters, health.error)
"""


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> str:
    """A database of their own for the cluster and the console processes (the test database lives
    in this process's memory)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cluster')}/db.sqlite3"
    done = subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=_env(url, ""),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return url


def _env(database_url: str, redis_url: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "DJANGO_"))}
    env = {**keep, "DEBUG": "true", "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "crmsync.settings",
           "PYTHONPATH": str(ROOT)}
    return {**env, "REDIS_URL": redis_url} if redis_url else env


def _wait(env: dict, state: str, seconds: float) -> str:
    done = subprocess.run([sys.executable, "-c", WAIT, state, str(seconds)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=seconds + 60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_a_real_cluster_is_seen_by_another_process_while_it_runs(migrated, broker):
    """The console (another process, as on another host) sees a real qcluster's heartbeat through
    the broker the settings choose, and stops seeing it within seconds of the cluster stopping."""
    redis_url = ""
    if broker == "redis":
        redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
        redis.Redis.from_url(redis_url).ping()  # CI starts Redis (.ci/run): a missing server is a failure
    env = _env(migrated, redis_url)
    assert _wait(env, "gone", 0) == "0"
    cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait(env, "alive", 60) == "1"
    finally:
        cluster.send_signal(signal.SIGTERM)  # the main process only: it stops its workers itself
        cluster.wait(timeout=60)
    assert _wait(env, "gone", 15) == "0"


def test_health_says_nothing_is_missing_when_tasks_run_inline(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)
    assert not workers.check().missing
