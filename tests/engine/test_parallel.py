"""A full sync split across workers (sync/engine/parallel.py): one pull task per object type of
each CRM, run concurrently, the last one carrying the run on. The queue is a list here (the
broker is not what is tested); the tasks, connectors and sandbox are the real ones, and on
PostgreSQL the parts run in four threads at once, each with its own database connection."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.utils.module_loading import import_string

from sandbox.scenario import scenario_dict
from sync import services, tasks
from sync.crm.base import CrmError
from sync.engine import fields, parallel, pull
from sync.models import AuditEvent, CompanyLink, ContactLink, DealLink, SyncChunk, SyncRun, Watermark
from tests.conftest import restore_reference_data
from tests.engine.conftest import sync_ok
from tests.engine.test_faults import observe, wipe_database

pytestmark = pytest.mark.django_db(transaction=True)
SIZE, SEED = 400, 23


@pytest.fixture
def queue(monkeypatch) -> list[tuple[str, tuple]]:
    """What the code under test hands django-q2, in order."""
    queued: list[tuple[str, tuple]] = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kw: queued.append((func, args)))
    return queued


def drain(queued: list[tuple[str, tuple]], workers: int) -> list[str]:
    """Run queued tasks (and what they queue) on `workers` threads, as a qcluster would."""
    results: list[str] = []

    def work(item) -> str:
        func, args = item
        try:
            return import_string(func)(*args)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(workers) as pool:
        while queued:
            batch, queued[:] = list(queued), []
            results += list(pool.map(work, batch))
    return results


def _ids(scenario: dict) -> set[str]:
    return {r["Id"] for recs in scenario["salesforce"].values() for r in recs} | \
           {str(r["id"]) for t, recs in scenario["hubspot"].items() if t != "associations" for r in recs}


def test_parallel_full_sync_ends_where_the_sequential_one_does(crm, sf, hs, settings, queue, monkeypatch):
    restore_reference_data()           # the default field rules: the field-sync parts have work to do
    crm.configure(order="insertion")   # both worlds get the same answers, whatever order the parts ask in
    scenario = scenario_dict(SIZE, seed=SEED, now="2026-11-01T00:00:00Z")
    crm.load(scenario)
    sequential = sync_ok(full=True)
    expected = observe(sf, hs, _ids(scenario), crm)

    wipe_database()
    crm.reset()
    crm.configure(order="insertion")
    crm.load(scenario)
    settings.SYNC_PARALLEL = True
    monkeypatch.setattr(parallel, "PAIRS_PER_PART", 100)   # several field-sync parts of contacts
    run = services.request_sync(full=True, actor=None, enqueue=False)
    queue.append(("sync.tasks.run_sync", (run.pk,)))
    workers = 4 if connection.vendor == "postgresql" else 1   # SQLite: one writer at a time
    results = drain(queue, workers)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    # The pull in its seven parts, the last carrying the run through reconcile and push; then the
    # field sync in parts by ranges of links, the last finishing the run.
    field_parts = [c.name for c in SyncChunk.objects.filter(run=run, name__startswith="fields:").order_by("pk")]
    for hs_type, model in (("contacts", ContactLink), ("companies", CompanyLink), ("deals", DealLink)):
        ranges = [fields.Part.from_name(n) for n in field_parts if n.split(":")[1] == hs_type]
        pks = sorted(model.objects.values_list("pk", flat=True))
        assert len(ranges) == -(-len(pks) // 100) >= (3 if hs_type == "contacts" else 1)
        assert sorted(pk for r in ranges for pk in pks if r.lo < pk <= r.hi) == pks  # each link in one part
    assert results[0] == f"split into {len(pull.STREAMS)} parts"
    assert sorted(results[1:]) == ["done"] * (len(pull.STREAMS) - 1 + len(field_parts) - 1) + [
        "done, carried on", "done, finished the run"]
    chunks = list(SyncChunk.objects.filter(run=run))
    assert {c.name for c in chunks} == {*pull.STREAMS, *field_parts} and all(c.status == "done" for c in chunks)
    assert run.pulled == sum(c.pulled for c in chunks) == sequential.pulled
    assert run.field_changes == sequential.field_changes > 0
    stats = crm.stats()
    assert (run.sf_api_calls, run.hs_api_calls) == (stats["salesforce"]["calls"], stats["hubspot"]["calls"])
    assert (run.created, run.linked) == (sequential.created, sequential.linked)
    assert Watermark.objects.count() == len(pull.STREAMS)
    assert observe(sf, hs, _ids(scenario), crm) == expected

    # Redelivered tasks find their work done and change nothing.
    calls = crm.stats()["salesforce"]["calls"] + crm.stats()["hubspot"]["calls"]
    assert tasks.pull_chunk(run.pk, "salesforce:Contact") == "not pending"
    assert tasks.field_chunk(run.pk, field_parts[0]) == "not pending"
    assert tasks.run_sync(run.pk) == "not pending"
    assert crm.stats()["salesforce"]["calls"] + crm.stats()["hubspot"]["calls"] == calls


def test_a_failing_part_fails_the_run_and_the_others_stop(crm, settings, queue):
    crm.load(scenario_dict(200, seed=SEED))
    settings.SYNC_PARALLEL = True
    settings.HUBSPOT_ACCESS_TOKEN = "revoked"   # every HubSpot part fails at its first request (401)
    run = services.request_sync(full=True, actor=None, enqueue=False)
    queue.append(("sync.tasks.run_sync", (run.pk,)))
    results = drain(queue, 1)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and "HubSpot" in run.error
    statuses = dict(SyncChunk.objects.filter(run=run).values_list("name", "status"))
    assert statuses["hubspot:companies"] == "failed"
    # Parts queued behind the failure never start; nothing carried the run on.
    assert "done, carried on" not in results and results.count("not pending") >= 1
    assert all(statuses[name] == "pending" for name in pull.STREAMS[pull.STREAMS.index("hubspot:companies") + 1:])
    # The next run pulls everything again (no object's watermark) and reconciles everything (the mark).
    assert list(Watermark.objects.values_list("crm", "object_type")) == [tuple(pull.FULL_PENDING.values())]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RUN_FINISHED, target_id=str(run.pk)).count() == 1


def test_incremental_runs_stay_in_one_task(crm, settings, queue):
    crm.load(scenario_dict(50, seed=SEED))
    settings.SYNC_PARALLEL = True
    sync_ok(full=True)
    run = services.request_sync(full=False, actor=None, enqueue=False)
    assert tasks.run_sync(run.pk) == SyncRun.Status.SUCCEEDED   # incremental: not split
    assert not queue and not SyncChunk.objects.filter(run=run).exists()


def test_a_failing_field_sync_part_fails_the_run_and_leaves_it_to_the_next(crm, settings, queue, monkeypatch):
    """A field-sync part that hits a CRM error finishes the run as failed: no part finishes it as
    succeeded, no watermark is saved, and the full-run mark makes the next run reconcile all."""
    restore_reference_data()
    crm.load(scenario_dict(200, seed=SEED))
    settings.SYNC_PARALLEL = True
    monkeypatch.setattr(parallel, "PAIRS_PER_PART", 50)
    real = fields._plan

    def flaky(ctx, pairs, *args):
        if pairs and pairs[0].hs_type == "companies":
            raise CrmError("HubSpot answered 503 three times", crm="hubspot")
        return real(ctx, pairs, *args)

    monkeypatch.setattr(fields, "_plan", flaky)
    run = services.request_sync(full=True, actor=None, enqueue=False)
    queue.append(("sync.tasks.run_sync", (run.pk,)))
    results = drain(queue, 1)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and "503" in run.error
    assert "failed" in results and "done, finished the run" not in results
    statuses = dict(SyncChunk.objects.filter(run=run, name__startswith="fields:").values_list("name", "status"))
    assert "failed" in statuses.values() and set(statuses.values()) <= {"done", "failed", "pending"}
    assert list(Watermark.objects.values_list("crm", "object_type")) == [tuple(pull.FULL_PENDING.values())]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RUN_FINISHED, target_id=str(run.pk)).count() == 1
