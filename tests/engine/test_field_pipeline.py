"""Field sync sends one chunk's writes while it decides the next (fields.sync_fields): the same
end state in both CRMs as one chunk at a time, each chunk recorded before the next one's writes
go out, and a chunk whose writes failed leaves the chunks after it unsent and the next run to
finish. Transactional: the sending thread has a connection of its own. PostgreSQL only: on
SQLite (one writer at a time) the chunks go one after another (RunContext.writes_behind)."""
from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from sandbox.scenario import scenario_dict
from sync.crm.base import CrmError
from sync.engine import fields
from sync.models import AuditEvent, SyncRun
from tests.conftest import restore_reference_data
from tests.engine.conftest import sync, sync_ok
from tests.engine.test_faults import observe, wipe_database

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif("postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
                                 reason="PostgreSQL only: SQLite sends no chunk behind (one writer at a time)")]
SIZE, SEED = 300, 31
NOW = "2026-11-01T00:00:00Z"


def _ids(scenario: dict) -> set[str]:
    return {r["Id"] for recs in scenario["salesforce"].values() for r in recs} | \
           {str(r["id"]) for t, recs in scenario["hubspot"].items() if t != "associations" for r in recs}


@pytest.fixture
def world(crm, monkeypatch):
    restore_reference_data()           # the default field rules: the field sync has work to do
    monkeypatch.setattr(fields, "CHUNK", 40)   # several chunks of each object type
    scenario = scenario_dict(SIZE, seed=SEED, now=NOW)
    for i, person in enumerate(scenario["salesforce"]["Contact"] + scenario["salesforce"]["Lead"]):
        person["Title"] = f"Buyer {i}"   # Salesforce's title wins (prefer Salesforce): a change in every chunk

    def fresh() -> None:
        wipe_database()
        crm.reset()
        crm.configure(order="insertion")
        crm.load(scenario)
    fresh()
    return scenario, fresh


def _traced(monkeypatch) -> list[tuple[str, int]]:
    """(step, chunk number) in the order the steps happened: plan, send (started), record; and
    ("call", the first chunk number of the call) as each field sync begins (a full run has two:
    the contacts', beside the companies' and deals' steps, then the companies' and deals')."""
    trace: list[tuple[str, int]] = []
    plan, send, record, sync_fields = fields._plan, fields._send, fields._record, fields.sync_fields

    def traced_sync_fields(*args, **kwargs):
        trace.append(("call", sum(1 for step, _ in trace if step == "plan")))
        return sync_fields(*args, **kwargs)

    def traced_plan(ctx, pairs, *args):
        out = plan(ctx, pairs, *args)
        out.number = sum(1 for step, _ in trace if step == "plan")
        trace.append(("plan", out.number))
        return out

    def traced_send(ctx, p):
        trace.append(("send", p.number))
        return send(ctx, p)

    def traced_record(ctx, p, sent):
        trace.append(("record", p.number))
        return record(ctx, p, sent)

    monkeypatch.setattr(fields, "_plan", traced_plan)
    monkeypatch.setattr(fields, "_send", traced_send)
    monkeypatch.setattr(fields, "_record", traced_record)
    monkeypatch.setattr(fields, "sync_fields", traced_sync_fields)
    return trace


def test_pipelined_field_sync_ends_where_one_chunk_at_a_time_does(world, crm, sf, hs, monkeypatch):
    scenario, fresh = world
    monkeypatch.setattr(fields, "PIPELINE", False)
    one_at_a_time = sync_ok(full=True)
    expected = observe(sf, hs, _ids(scenario), crm)

    fresh()
    monkeypatch.setattr(fields, "PIPELINE", True)
    trace = _traced(monkeypatch)
    run = sync_ok(full=True)
    assert run.field_changes == one_at_a_time.field_changes > 100
    assert observe(sf, hs, _ids(scenario), crm) == expected
    starts = {n for step, n in trace if step == "call"}
    trace = [(step, n) for step, n in trace if step != "call"]
    chunks = max(n for _, n in trace) + 1
    assert chunks >= 5 and len(starts) == 2
    at = {step: trace.index(step) for step in trace}
    for n in range(chunks - 1):
        assert at["record", n] < at["send", n + 1]     # a chunk's outcome is kept before the next one's writes
        if n + 1 not in starts:                        # within one field sync:
            assert at["plan", n + 1] < at["record", n]  # … the next chunk was decided meanwhile
    assert sorted(trace) == sorted((s, n) for s in ("plan", "send", "record") for n in range(chunks))


def test_a_chunk_that_shares_a_record_with_the_one_in_flight_waits_for_it(world, monkeypatch):
    trace = _traced(monkeypatch)
    pairs = fields._pairs

    def repeating(touched, part=None, types=()):   # every chunk again, right after itself: the same records
        for chunk in pairs(touched, part, types):
            if chunk:
                yield chunk
                yield chunk
    monkeypatch.setattr(fields, "_pairs", repeating)
    sync_ok(full=True)
    for n in range(0, max(n for _, n in trace), 2):
        assert trace.index(("record", n)) < trace.index(("plan", n + 1))   # decided on what chunk n wrote


def test_a_failed_chunk_leaves_the_ones_after_it_unsent_and_the_next_run_finishes(world, crm, sf, hs, monkeypatch):
    scenario, fresh = world
    expected_run = sync_ok(full=True)
    expected = observe(sf, hs, _ids(scenario), crm)

    fresh()
    trace = _traced(monkeypatch)
    send = fields._send
    sent_with_changes: list[int] = []

    def failing(ctx, plan):   # the third chunk with changes to send fails
        if plan.changes and len(sent_with_changes) == 2:
            raise CrmError("HubSpot answered 503 three times", crm="hubspot")
        if plan.changes:
            sent_with_changes.append(plan.number)
        return send(ctx, plan)
    monkeypatch.setattr(fields, "_send", failing)
    failed = sync(full=True)
    assert failed.status == SyncRun.Status.FAILED and "503" in failed.error
    broken = max(n for step, n in trace if step == "send") + 1   # traced only once its writes were sent
    assert ("plan", broken + 1) in trace and ("send", broken + 1) not in trace   # decided meanwhile, never sent
    assert [n for step, n in trace if step == "record"] == list(range(broken))
    changed = AuditEvent.objects.filter(action=AuditEvent.Action.FIELD_CHANGED, run=failed).count()
    assert 0 < changed < expected_run.field_changes

    monkeypatch.setattr(fields, "_send", send)
    finished = sync_ok()
    assert observe(sf, hs, _ids(scenario), crm) == expected
    # Every change was made and recorded once: the chunks kept before the failure are not redone.
    assert changed + finished.field_changes == expected_run.field_changes

