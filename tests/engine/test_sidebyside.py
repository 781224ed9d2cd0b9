"""Parts of a step side by side (engine/sidebyside.py): they wait for the CRMs at the same time,
but decide and write one at a time; an error is raised only once every part has finished;
inside a transaction, or inside a part, they run one after another."""
from __future__ import annotations

import threading
import time

import pytest
from django.db import transaction

from sync.crm.base import TURN
from sync.engine import sidebyside


@pytest.fixture(autouse=True)
def _side_by_side(settings):
    """On for these tests, whatever the environment says (SYNC_STEPS_SIDE_BY_SIDE)."""
    settings.SYNC_STEPS_SIDE_BY_SIDE = True


def test_parts_wait_for_the_crms_together_and_work_one_at_a_time():
    both_waiting = threading.Barrier(2, timeout=10)
    working, most, lock = 0, 0, threading.Lock()

    def work():
        nonlocal working, most
        with lock:
            working += 1
            most = max(most, working)
        time.sleep(0.02)  # a part deciding: the other must not run meanwhile
        with lock:
            working -= 1

    def part():
        work()
        with TURN.waiting():  # a CRM call: the other part goes on
            both_waiting.wait()
        work()

    sidebyside.run(part, part)
    assert most == 1                  # never two parts working at once
    assert not both_waiting.broken    # yet both were waiting for a CRM at the same time
    assert not TURN.holding()         # the caller never held the turn


def test_an_error_is_raised_once_every_part_has_finished():
    finished = threading.Event()

    def fails():
        raise ValueError("a bug in one part")

    def carries_on():
        with TURN.waiting():
            time.sleep(0.05)
        finished.set()

    with pytest.raises(ValueError, match="a bug in one part"):
        sidebyside.run(fails, carries_on)
    assert finished.is_set()


def test_parts_inside_a_part_run_side_by_side_with_each_other_and_the_outer_parts():
    everyone = threading.Barrier(3, timeout=10)   # two inner parts and the outer part beside them
    threads = []

    def waits():
        threads.append(threading.get_ident())
        with TURN.waiting():
            everyone.wait()

    sidebyside.run(lambda: sidebyside.run(waits, waits), waits)
    assert not everyone.broken and len(set(threads)) == 3
    assert not TURN.holding()


@pytest.mark.django_db
def test_inside_a_transaction_the_parts_run_in_order_in_the_callers_thread():
    seen = []
    with transaction.atomic():
        sidebyside.run(lambda: seen.append(("a", threading.current_thread())),
                       lambda: seen.append(("b", threading.current_thread())))
    assert seen == [("a", threading.current_thread()), ("b", threading.current_thread())]


def test_a_thread_without_the_turn_is_not_affected_by_waiting():
    with TURN.waiting():  # an ordinary run: nothing to release
        assert not TURN.holding()
    with TURN.held():
        with TURN.waiting():
            assert not TURN.holding()
        assert TURN.holding()
    assert not TURN.holding()


# --- a full run: new opportunities → deals (R11) beside reconcile and push ---------------------

def _ids(scenario: dict) -> set[str]:
    return {r["Id"] for recs in scenario["salesforce"].values() for r in recs} | \
           {str(r["id"]) for t, recs in scenario["hubspot"].items() if t != "associations" for r in recs}


@pytest.mark.django_db(transaction=True)
def test_new_opportunities_get_their_deals_beside_reconcile_and_push_and_end_where_in_turn_does(
        crm, sf, hs, monkeypatch):
    """A full run sends the new opportunities' deals (HubSpot's pace) beside reconcile, push and
    the new deals' opportunities (Salesforce's): both CRMs, the links and their origins end as
    they do with every part in turn."""
    from sandbox.scenario import scenario_dict
    from sync.engine import cycle, deals
    from sync.models import DealLink
    from tests.engine.conftest import sync_ok
    from tests.engine.test_faults import observe, wipe_database

    scenario = scenario_dict(400, seed=23, now="2026-11-01T00:00:00Z")

    def fresh() -> None:
        wipe_database()
        crm.reset()
        crm.configure(order="insertion")
        crm.load(scenario)
        crm.salesforce_latency.configure({"write_ms": 150})  # opportunities take a while to come back

    fresh()
    monkeypatch.setattr(sidebyside, "run", lambda *parts: [part() for part in parts])
    in_turn = sync_ok(full=True)
    expected = observe(sf, hs, _ids(scenario), crm)
    expected_links = sorted(DealLink.objects.values_list("hs_deal__name", "sf_opportunity__name", "origin"))
    monkeypatch.undo()

    fresh()
    spans: dict[str, list[tuple[float, float]]] = {"push": [], "deals": []}

    def timed(real, key):
        def part(*args, **kwargs):
            started = time.monotonic()
            real(*args, **kwargs)
            spans[key].append((started, time.monotonic()))
        return part

    monkeypatch.setattr(cycle, "_reconcile_and_push", timed(cycle._reconcile_and_push, "push"))
    monkeypatch.setattr(deals, "_deals_from_opportunities", timed(deals._deals_from_opportunities, "deals"))
    side_by_side = sync_ok(full=True)

    assert observe(sf, hs, _ids(scenario), crm) == expected
    assert sorted(DealLink.objects.values_list("hs_deal__name", "sf_opportunity__name", "origin")) == expected_links
    assert side_by_side.created == in_turn.created and side_by_side.linked == in_turn.linked
    assert {origin for _, _, origin in expected_links} >= {"hubspot", "salesforce"}  # both directions had work
    [(push_start, push_end)] = spans["push"]
    assert spans["deals"] and all(push_start < end and start < push_end for start, end in spans["deals"])


@pytest.mark.django_db(transaction=True)
def test_reconcile_decides_the_next_chunk_while_hubspot_hears_the_one_before_and_ends_where_in_turn_does(
        crm, sf, hs, monkeypatch, caplog):
    """Reconcile's chunks overlap: a chunk's leads are created while HubSpot is told the chunk
    before (contacts._beside). Both CRMs, the links and the audit end as with one chunk after
    another, and the step log still counts every call of the run, in the step that made it."""
    import re
    from collections import Counter

    from sandbox.scenario import scenario_dict
    from sync.engine import contacts
    from sync.models import AuditEvent
    from tests.engine.conftest import sync_ok
    from tests.engine.test_faults import observe, wipe_database

    scenario = scenario_dict(400, seed=29, now="2026-11-01T00:00:00Z")
    monkeypatch.setattr(contacts, "CHUNK", 60)   # several chunks

    def fresh() -> None:
        wipe_database()
        crm.reset()
        crm.configure(order="insertion")
        crm.load(scenario)
        crm.salesforce_latency.configure({"write_ms": 100})

    def audit() -> Counter:
        return Counter(AuditEvent.objects.exclude(action=AuditEvent.Action.RUN_FINISHED).values_list("action", "target_id"))

    fresh()
    with monkeypatch.context() as m:
        m.setattr(sidebyside, "run", lambda *parts: [part() for part in parts])
        in_turn = sync_ok(full=True)
    expected, expected_audit = observe(sf, hs, _ids(scenario), crm), audit()

    fresh()
    spans: dict[str, list[tuple[float, float]]] = {"tell": [], "leads": []}

    def timed(real, key):
        def part(*args, **kwargs):
            started = time.monotonic()
            try:
                return real(*args, **kwargs)
            finally:
                spans[key].append((started, time.monotonic()))
        return part

    monkeypatch.setattr(contacts._Tell, "__call__", timed(contacts._Tell.__call__, "tell"))
    monkeypatch.setattr(contacts, "_create_leads", timed(contacts._create_leads, "leads"))
    with caplog.at_level("INFO", logger="sync.engine.cycle"):
        side_by_side = sync_ok(full=True)
    steps = {m.split(": ", 1)[1].rsplit(" took ", 1)[0]: tuple(map(int, re.search(
        r"\(Salesforce (\d+) calls, HubSpot (\d+)\)$", m).groups())) for r in caplog.records if " took " in (m := r.getMessage())}
    assert tuple(map(sum, zip(*steps.values(), strict=True))) == (side_by_side.sf_api_calls, side_by_side.hs_api_calls)
    assert steps["reconcile and push of contacts"][1] > 3   # its chunks' HubSpot writes, told from beside

    assert observe(sf, hs, _ids(scenario), crm) == expected
    assert audit() == expected_audit
    assert (side_by_side.created, side_by_side.linked) == (in_turn.created, in_turn.linked) and in_turn.created
    assert len(spans["tell"]) > 3
    assert any(t0 < l1 and l0 < t1 for t0, t1 in spans["tell"] for l0, l1 in spans["leads"])


@pytest.mark.django_db(transaction=True)
def test_a_chunk_decided_ahead_is_decided_again_when_the_chunk_before_linked_its_record(crm, hs, monkeypatch):
    """R7 across chunks: contact 101 (first chunk) takes record P while its chunk's lead for 102
    is being created; contact 103 (next chunk, decided ahead meanwhile) shows P too. Decided
    before 101's link was committed, 103 would take P as well: it is decided again and is P's
    duplicate, as one chunk after another makes it."""
    from sync.engine import contacts
    from sync.models import ContactLink, LinkStatus
    from tests.engine.conftest import set_settings, sync_ok

    set_settings(create_salesforce_leads=True, create_hubspot_contacts=False)
    monkeypatch.setattr(contacts, "CHUNK", 2)
    from sandbox.ids import IdFactory

    record = {"Id": IdFactory(seed=31).new("Contact"), "FirstName": "Hal", "LastName": "Lee", "Email": "hal@example.com",
              "LastModifiedDate": "2024-01-01T00:00:00.000+0000", "CreatedDate": "2024-01-01T00:00:00.000+0000"}
    crm.load({"salesforce": {"Contact": [record]}, "hubspot": {"contacts": [
        {"id": "101", "properties": {"email": "hal@example.com", "lastname": "Lee"}},
        {"id": "102", "properties": {"email": "new@example.com", "lastname": "New"}},
        {"id": "103", "properties": {"email": "hal.work@example.org", "lastname": "Lee",
                                     "salesforcecontactid": record["Id"]}}]}})
    crm.salesforce_latency.configure({"write_ms": 100})   # the lead's creation takes a while
    decided_again = []
    still_valid = contacts._Decided.still_valid
    monkeypatch.setattr(contacts._Decided, "still_valid",
                        lambda self, tell: still_valid(self, tell) or decided_again.append(self) or False)
    sync_ok(full=True)
    links = dict(ContactLink.objects.values_list("hs_contact__hs_id", "status"))
    assert links == {"101": LinkStatus.SYNCED, "102": LinkStatus.SYNCED, "103": LinkStatus.DUPLICATE}
    assert decided_again   # the chunk decided ahead read what the chunk before went on to change


@pytest.mark.django_db
def test_only_deals_whose_account_r10_cannot_change_go_beside_r10():
    """A deal on a company R10 may still claim (live, unlinked, naming no account) waits for R10:
    its opportunity's account is the one R10 gives that company. Deals on any other company, or
    on none, go beside R10. A company the mirror lacks waits too."""
    from sync.engine import deals
    from sync.models import CompanyLink, HsCompany, HsDeal, SfAccount

    account = SfAccount.objects.create(sf_id="001000000000001AAA", name="Acme")
    companies = {name: HsCompany.objects.create(hs_id=hs_id, name=name, **extra) for name, hs_id, extra in (
        ("free", "5001", {}), ("linked", "5002", {}), ("names an account", "5003", {"salesforce_account_id": "001x"}),
        ("archived", "5004", {"archived": True}))}
    CompanyLink.objects.create(hs_company=companies["linked"], sf_account=account)
    on = {company: HsDeal.objects.create(hs_id=f"90{i}", name=company, company_id=hs_id)
          for i, (company, hs_id) in enumerate([("free", "5001"), ("linked", "5002"), ("names an account", "5003"),
                                                ("archived", "5004"), ("none", ""), ("not mirrored", "5999")])}
    settled = deals._accounts_settled(list(on.values()))
    assert [d.name for d in settled] == ["linked", "names an account", "archived", "none"]


def test_with_side_by_side_off_the_parts_run_in_order_in_the_callers_thread(settings):
    settings.SYNC_STEPS_SIDE_BY_SIDE = False
    seen = []
    sidebyside.run(lambda: seen.append(("a", threading.current_thread())),
                   lambda: seen.append(("b", threading.current_thread())))
    assert seen == [("a", threading.current_thread()), ("b", threading.current_thread())]
