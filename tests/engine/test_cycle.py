"""Running the sync: one cycle at a time, stale runs, the management commands, the schedule, and
the request-count targets (full pull near the page-size minimum; a quiet org costs one request per
object type per CRM)."""
from __future__ import annotations

import math
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from sandbox.scenario import scenario_dict
from sync import services, tasks
from sync.models import AuditEvent, HsDeal, SyncRun, SyncSettings
from tests.engine.conftest import sync, sync_ok

pytestmark = pytest.mark.django_db(transaction=True)
SF_OBJECTS = ("Account", "Contact", "Lead", "Opportunity")


def test_second_request_while_running_is_skipped(crm):
    busy = SyncRun.objects.create(status=SyncRun.Status.RUNNING, started_at=timezone.now(),
                                  heartbeat_at=timezone.now())
    run = services.request_sync(full=False, actor=None, enqueue=False)
    assert tasks.run_sync(run.pk) == SyncRun.Status.SKIPPED
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SKIPPED and "in progress" in run.error
    busy.refresh_from_db()
    assert busy.status == SyncRun.Status.RUNNING       # the running one is left alone
    assert crm.stats()["salesforce"]["calls"] == 0     # and the skipped one touched no CRM


def test_stale_run_is_marked_interrupted(crm):
    dead = SyncRun.objects.create(status=SyncRun.Status.RUNNING, phase=SyncRun.Phase.PUSH,
                                  started_at=timezone.now() - timedelta(hours=1),
                                  heartbeat_at=timezone.now() - timedelta(minutes=30))
    run = sync_ok()
    dead.refresh_from_db()
    assert dead.status == SyncRun.Status.INTERRUPTED and "pushing" in dead.error
    assert run.status == SyncRun.Status.SUCCEEDED


def test_redelivered_task_does_nothing(crm):
    run = services.request_sync(full=False, actor=None, enqueue=False)
    assert tasks.run_sync(run.pk) == SyncRun.Status.SUCCEEDED
    assert tasks.run_sync(run.pk) == "not pending"
    assert SyncRun.objects.count() == 1


def test_sync_command_wait_prints_summary(crm, capsys):
    crm.load({"hubspot": {"contacts": [{"id": "101", "properties": {"email": "a@example.com", "lastname": "A"}}]}})
    call_command("sync", "--wait")
    out = capsys.readouterr().out
    assert "Succeeded" in out and "created=1" in out and "API calls: Salesforce=" in out
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RUN_FINISHED, target_id=str(run.pk)).exists()


def test_a_run_logs_how_long_each_of_its_steps_took(crm, caplog):
    """Where a run's time goes, step by step, in the worker's log (make bench reads it too)."""
    crm.load({"hubspot": {"contacts": [{"id": "101", "properties": {"email": "a@example.com", "lastname": "A"}}]}})
    with caplog.at_level("INFO", logger="sync.engine.cycle"):
        run = sync_ok(full=True)
    steps = [r.getMessage() for r in caplog.records if " took " in r.getMessage()]
    named = [m.split(": ", 1)[1].rsplit(" took ", 1)[0] for m in steps]
    calls = [tuple(map(int, re.search(r"\(Salesforce (\d+) calls, HubSpot (\d+)\)$", m).groups())) for m in steps]
    # The steps' calls are the run's calls (no inclusion list here), each counted in the step that made it.
    assert tuple(map(sum, zip(*calls, strict=True))) == (run.sf_api_calls, run.hs_api_calls)
    assert calls[0][1] > 0  # the pull lists HubSpot's contacts
    assert named[:3] == ["pull", "recovery and removals", "deals named by an opportunity id"]
    assert named[-4] == "deals from opportunities carrying a deal id" and named[-1] == "duplicate groups"
    assert sorted(named[-3:-1]) == ["deals follow their opportunities' accounts (beside the field sync)",
                                    "field sync of companies and deals"]
    # Side by side (sidebyside.py): the new opportunities' deals beside reconcile and push, the
    # contacts' field sync beside the companies' and deals' steps.
    assert sorted(named[3:-4]) == sorted(["reconcile and push of contacts", "new HubSpot contacts",
                                          "companies by account id", "companies follow contacts (R10)",
                                          "opportunities from new deals R10 cannot move (beside R10)",
                                          "opportunities from the other new deals",
                                          "field sync of contacts (beside companies and deals)",
                                          "deals from new opportunities (beside the steps below)"])
    assert all(m.startswith(f"run {run.pk}: ") and " s (Salesforce " in m for m in steps)


def test_sync_command_wait_fails_with_nonzero_exit(crm, settings, capsys):
    settings.HUBSPOT_ACCESS_TOKEN = "wrong"
    with pytest.raises(CommandError, match="failed"):
        call_command("sync", "--wait", "--full")
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.FAILED and "401" in run.error
    assert "Failed" in capsys.readouterr().out


def test_sync_settings_command(crm, capsys):
    call_command("sync_settings", "--set", "create_salesforce_leads=false", "--set", "schedule_minutes=15")
    s = SyncSettings.load()
    assert s.create_salesforce_leads is False and s.schedule_minutes == 15
    assert "schedule_minutes = 15" in capsys.readouterr().out
    [event] = AuditEvent.objects.filter(action=AuditEvent.Action.SETTINGS_CHANGED)
    assert event.before == {"create_salesforce_leads": True, "schedule_minutes": 5}
    with pytest.raises(CommandError):
        call_command("sync_settings", "--set", "salesforce_api_share=500")
    with pytest.raises(CommandError):
        call_command("sync_settings", "--set", "no_such_setting=1")
    assert SyncSettings.load().salesforce_api_share == 50


def test_schedule_created_idempotently(crm):
    from django_q.models import Schedule

    services.ensure_schedule()
    services.ensure_schedule()
    [schedule] = Schedule.objects.filter(name=services.SCHEDULE_NAME)
    assert (schedule.func, schedule.minutes, schedule.repeats) == ("sync.tasks.scheduled_sync", 5, -1)
    services.update_settings(actor=None, changes={"schedule_minutes": 30})
    assert Schedule.objects.get(name=services.SCHEDULE_NAME).minutes == 30
    assert Schedule.objects.filter(name=services.SCHEDULE_NAME).count() == 1


def _calls(stats: dict, crm_name: str) -> dict[str, int]:
    return stats[crm_name]["endpoints"]


def test_request_counts_full_pull_and_quiet_org(crm):
    """Full pull ≤ 110 % of ⌈N/2000⌉ per Salesforce object + ⌈N/100⌉ per HubSpot object (live
    and archived listings); after a settling run, a run with no changes makes one request per
    Salesforce object and two per HubSpot object: its search, and the page of archived records
    that shows what was merged or deleted in HubSpot (search never returns those)."""
    crm.hubspot.configure_limits(search_per_second=10_000)   # count requests, not rate-limit retries
    scenario = scenario_dict(2000, seed=5, now="2026-01-10T00:00:00Z")
    crm.load(scenario)
    run = sync_ok(full=True)
    first = crm.stats()
    sf_min = sum(math.ceil(len(scenario["salesforce"][o]) / 2000) for o in SF_OBJECTS)
    hs_min = sum(math.ceil(sum(1 for r in scenario["hubspot"][o] if bool(r.get("archived")) is archived) / 100) or 1
                 for o in ("contacts", "companies", "deals") for archived in (False, True))
    sf_reads = _calls(first, "salesforce").get("GET queryAll", 0) + _calls(first, "salesforce").get("GET queryAll (more)", 0)
    hs_reads = sum(n for label, n in _calls(first, "hubspot").items()
                   if label in ("GET /crm/v3/objects/contacts", "GET /crm/v3/objects/companies",
                                "GET /crm/v3/objects/deals"))
    print(f"\nfull pull: Salesforce {sf_reads} (minimum {sf_min}), HubSpot {hs_reads} (minimum {hs_min}); "
          f"whole run SF={run.sf_api_calls} HS={run.hs_api_calls}")
    assert sf_reads <= math.floor(sf_min * 1.1) or sf_reads == sf_min
    assert hs_reads <= math.floor(hs_min * 1.1)

    for _ in range(4):          # settle: our own writes come back once through the pull
        if sync_ok().pulled == 0:
            break
    crm.reset_stats()
    quiet = sync_ok()
    stats = crm.stats()
    print(f"no-change run: {stats['salesforce']['endpoints']} {stats['hubspot']['endpoints']}")
    assert quiet.pulled == 0 and quiet.created == 0
    assert _calls(stats, "salesforce") == {"GET queryAll": len(SF_OBJECTS)}
    types = ("companies", "contacts", "deals")
    assert _calls(stats, "hubspot") == {**{f"POST /crm/v3/objects/{t}/search": 1 for t in types},
                                        **{f"GET /crm/v3/objects/{t}": 1 for t in types}}
    assert (quiet.sf_api_calls, quiet.hs_api_calls) == (4, 6)


def test_an_object_the_portal_has_none_of_is_searched_after_the_first_run_not_listed_again(crm, hs):
    """A portal without deals: the full pull's empty listing still leaves a watermark, so the runs
    after it search from there (one request, besides the archived page), and a deal made later is
    found by that search."""
    crm.load({"hubspot": {"contacts": [{"id": "101", "properties": {"email": "a@example.com", "lastname": "A"}}]}})
    sync_ok(full=True)
    sync_ok()
    crm.reset_stats()
    sync_ok()
    calls = _calls(crm.stats(), "hubspot")
    assert calls.get("POST /crm/v3/objects/deals/search") == 1 and calls.get("GET /crm/v3/objects/deals") == 1, calls
    deal = hs.crm.deals.basic_api.create({"properties": {"dealname": "Later", "pipeline": "default",
                                                          "dealstage": "appointmentscheduled"}})
    sync_ok()
    assert HsDeal.objects.filter(hs_id=deal.id).exists()


def test_retry_run_puts_failed_records_back_in_scope():
    """"Retry these records" on the run page: the failed records are reconciled again even though
    nothing changed in either CRM since."""
    from sync.engine.cycle import _touch_failed_records
    from sync.engine.pull import Touched
    from sync.models import RecordError, SyncRun

    failed = SyncRun.objects.create(status="failed")
    for crm, obj, rid in [("hubspot", "contact", "101"), ("salesforce", "Lead", "00Q000000000001AAA"),
                          ("hubspot", "companies", "7"), ("salesforce", "Opportunity", "006000000000001AAA"),
                          ("hubspot", "deals", "9"), ("salesforce", "Account", "001000000000001AAA")]:
        RecordError.objects.create(run=failed, crm=crm, object_type=obj, record_id=rid, operation="x", message="m")
    touched = Touched()
    _touch_failed_records(failed.pk, touched)
    assert touched.hs_contact_ids == {"101"} and touched.sf_ids == {"00Q000000000001AAA"}
    assert touched.company_ids == {"7"} and touched.deal_ids == {"9"}
    assert touched.opportunity_ids == {"006000000000001AAA"} and touched.account_ids == {"001000000000001AAA"}


def test_a_run_whose_worker_was_killed_is_marked_interrupted_at_the_next_claim():
    import signal
    import socket
    import subprocess
    import sys

    from sync.engine.cycle import claim, this_worker, worker_gone

    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    dead = SyncRun.objects.create(status="running", started_at=timezone.now(), heartbeat_at=timezone.now(),
                                  phase="reconcile", worker=f"{socket.gethostname()}:{victim.pid}")
    assert worker_gone(dead.worker) and not worker_gone(this_worker())
    assert not worker_gone(f"other-host:{victim.pid}")  # other hosts: only the heartbeat tells
    queued = SyncRun.objects.create()
    assert claim(queued.pk)
    dead.refresh_from_db()
    assert dead.status == "interrupted" and dead.finished_at is not None
    assert f"worker process {dead.worker} stopped" in dead.error and "reconciling phase" in dead.error
    queued.refresh_from_db()
    assert queued.status == "running" and queued.worker == this_worker()


def test_an_unfinished_full_run_makes_the_next_run_reconcile_everything(crm, monkeypatch):
    """A full run writes its pulled rows clean (it reconciles everything anyway) and marks itself
    pending; when it stops after the pull, the next, incremental run finds the mark and
    reconciles every record (R1 here), though its own pull read nothing new."""
    from sync.engine import contacts, pull
    from sync.models import ContactLink, HsContact, SfPerson, Watermark

    crm.load({"salesforce": {"Lead": [{"LastName": "Lind", "Company": "C", "Email": "ann@example.com"}]},
              "hubspot": {"contacts": [{"id": "101", "properties": {"email": "ann@example.com", "lastname": "Lind"}}]}})
    sync_ok()  # watermarks exist: later runs are incremental unless asked
    ContactLink.objects.all().delete()  # as if the link had never been made

    def crash(ctx, touched):
        raise RuntimeError("worker lost after the pull")

    monkeypatch.setattr(contacts, "reconcile_contacts", crash)
    with pytest.raises(RuntimeError):  # a bug is raised after the run is marked failed
        sync(full=True)
    failed = SyncRun.objects.latest("pk")
    assert failed.status == SyncRun.Status.FAILED and "worker lost" in failed.error
    assert Watermark.objects.filter(**pull.FULL_PENDING).exists()
    assert not SfPerson.objects.filter(dirty=True).exists() and not HsContact.objects.filter(dirty=True).exists()
    monkeypatch.undo()

    after = sync_ok()  # incremental: nothing changed in either CRM
    assert not after.full and after.linked == 1
    link = ContactLink.objects.select_related("sf_person", "hs_contact").get()
    assert (link.hs_contact.hs_id, link.sf_person.email) == ("101", "ann@example.com")
    assert not Watermark.objects.filter(**pull.FULL_PENDING).exists()
    assert sync_ok().linked == 0  # and the mark is gone: the next run looks at what changed only


def test_a_full_run_refreshes_the_planner_statistics_on_postgresql(crm):
    """After a full pull the planner must know the mirror's size (bulk.analyze): with a freshly
    COPYed table it guessed a few thousand rows and scanned it whole for every chunk."""
    from django.db import connection

    from sync.models import ContactLink, HsContact, SfPerson

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite keeps no planner statistics unless asked")
    crm.load(scenario_dict(150, seed=3, now="2026-01-10T00:00:00Z"))
    sync_ok(full=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)",
                       [[m._meta.db_table for m in (HsContact, SfPerson, ContactLink)]])
        estimated = dict(cursor.fetchall())
    # The links exactly (analyzed once written); the mirror as pulled, before the run's creates.
    assert estimated[ContactLink._meta.db_table] == ContactLink.objects.count() > 100
    for model in (HsContact, SfPerson):
        assert 0.8 * model.objects.count() <= estimated[model._meta.db_table] <= model.objects.count()
