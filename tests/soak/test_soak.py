"""Soak: many sync cycles with users at work in both CRMs between cycles (renames, poison values,
new records, deletions and undeletions, lead conversions and merges in Salesforce, merges and
deletions in HubSpot: tests/soak/edits.py), while the sandbox injects faults of every kind — 429
with headers, 500/503, connection resets, timeouts, applied-but-lost writes — Salesforce tokens
expire, and the daily limit runs out in the middle of a run. After the faults stop and one clean
run, both CRMs and the links equal a fault-free replay of the same edits, and the figures are
all 0: records lost, records doubled, records a person deleted brought back, records the sync
created without a creation event.

`make test` runs a small version; `make soak` a long one (SOAK_SIZE, SOAK_CYCLES)."""
from __future__ import annotations

import os
import time
from collections import Counter

import pytest

from sandbox.scenario import scenario_dict
from sync.models import SyncRun
from tests.conftest import restore_reference_data
from tests.engine.test_faults import _hs_all, observe, settle, wipe_database
from tests.soak.edits import apply_edits, world_from

pytestmark = pytest.mark.django_db(transaction=True)
SIZE = int(os.environ.get("SOAK_SIZE", "300"))
CYCLES = int(os.environ.get("SOAK_CYCLES", "5"))
SEED = int(os.environ.get("SOAK_SEED", "21"))
FAULTS = [
    # each kind once for sure, early (the small version makes few requests) …
    {"kind": "reset", "crm": "hubspot", "method": "POST", "path": "*/search", "count": 1},
    {"kind": "lost", "crm": "salesforce", "method": "PATCH", "path": "*/composite/sobjects/*", "count": 1},
    {"kind": "timeout", "crm": "salesforce", "method": "GET", "path": "*/queryAll*", "count": 1, "seconds": 0.6},
    {"kind": "429", "crm": "hubspot", "method": "POST", "path": "*/batch/*", "count": 1},
    {"kind": "500", "crm": "salesforce", "method": "GET", "path": "*/queryAll*", "count": 1},
    {"kind": "503", "crm": "hubspot", "method": "GET", "path": "*", "count": 1},
    # … and at random throughout
    {"kind": "429", "rate": 0.03}, {"kind": "500", "rate": 0.02}, {"kind": "503", "rate": 0.02},
    {"kind": "reset", "rate": 0.02}, {"kind": "timeout", "rate": 0.02, "seconds": 0.6}, {"kind": "lost", "rate": 0.03},
]


def _cycles(crm, scenario, *, faulty: bool, settings) -> dict:
    """Load the scenario, then for each cycle: users edit, the sync runs. Returns a report."""
    from tests.engine.conftest import sync

    # R3 links the first record Salesforce returns, and an unordered query returns them in any
    # order: the same world can legitimately end differently when a run is repeated. Both runs
    # read in insertion order here, so any difference is the faults' doing.
    crm.configure(order="insertion")
    crm.load(scenario)
    world = world_from(scenario)
    report: Counter = Counter()
    if faulty:
        # Log in with client credentials, with tokens that expire after 2 s of sandbox time:
        # runs must refresh them (the sandbox clock also moves with every retry wait).
        settings.SALESFORCE_ACCESS_TOKEN = ""
        settings.SALESFORCE_CLIENT_ID = settings.SALESFORCE_CLIENT_SECRET = "sandbox"
        crm.configure(salesforce={"token_ttl": 2})
        settings.CRM_TIMEOUT = (2, 0.4)   # the timeout fault answers after 0.6 s
        crm.faults.configure(FAULTS, seed=SEED)
    for cycle in range(CYCLES):
        for op in apply_edits(crm, world, seed=SEED, cycle=cycle):
            report[f"edit:{op}"] += 1
        if faulty and cycle == CYCLES // 2:
            # The org's daily allowance runs out in the middle of this run.
            used = crm.stats()["salesforce"]["api_usage"]["used"]
            crm.configure(salesforce={"daily_limit": used + 3})
        run = sync()
        report[f"run:{run.status}"] += 1
        if faulty and cycle == CYCLES // 2:
            crm.configure(salesforce={"daily_limit": 10_000_000})
        if faulty:
            crm.advance_clock(3)  # let tokens expire between runs too
    if faulty:
        report.update({f"fault:{k}": v for k, v in crm.faults.injected.items()})
        report["logins"] = crm.stats()["salesforce"]["endpoints"].get("POST oauth2/token", 0)
        crm.faults.clear()
    settle()
    return dict(report), world


def _made_by_the_sync(sf, hs, scenario_ids: set[str], world, crm) -> set[str]:
    """Records in either CRM that neither the scenario nor a person made: the sync made them.
    (This reader has no retries: each listing starts in a fresh HubSpot ten-second window.)"""
    ids = set()
    for obj in ("Lead", "Contact", "Account", "Opportunity"):
        ids |= {r["Id"] for r in sf.query_all(f"SELECT Id FROM {obj}", include_deleted=True)["records"]}
    for t in ("contacts", "companies", "deals"):
        for archived in (False, True):
            crm.advance_clock(11)
            ids |= {str(r["id"]) for r in _hs_all(hs, t, [], archived=archived)}
    return ids - scenario_ids - world.made


def _unaudited(made: set[str]) -> list[str]:
    """Records the sync made that have no creation event in the audit."""
    from sync.models import AuditEvent

    audited = set(AuditEvent.objects.filter(action=AuditEvent.Action.RECORD_CREATED).values_list("target_id", flat=True))
    return sorted(made - audited)


def _resurrected(sf, hs, world, made: set[str], crm) -> int:
    """Live records the sync made, after a person deleted a record carrying the same email (and did
    not bring it back): what a person deleted, back under another id. (A record the sync had made
    before the deletion — the other side of the deleted record's pair — is no resurrection.)"""
    from sync.engine.schema import parse_dt

    gone = {e: at for e, at in world.gone_emails.items() if e}
    live = [(r["Id"], r["Email"], r["CreatedDate"]) for obj in ("Lead", "Contact")
            for r in sf.query_all(f"SELECT Id, Email, CreatedDate FROM {obj}")["records"]]
    crm.advance_clock(11)
    live += [(str(r["id"]), r.get("email"), r.get("createdate")) for r in _hs_all(hs, "contacts", ["email", "createdate"])]
    return sum(1 for i, e, created in live if i in made and (key := (e or "").strip().lower()) in gone
               and parse_dt(created) and parse_dt(created) > gone[key])


def test_soak_ends_in_the_state_of_a_fault_free_replay(crm, sf, hs, settings):
    restore_reference_data()  # earlier transactional tests may have flushed the default field rules
    scenario = scenario_dict(SIZE, seed=SEED)
    scenario_ids = {r["Id"] for recs in scenario["salesforce"].values() for r in recs} | \
                   {str(r["id"]) for t, recs in scenario["hubspot"].items() if t != "associations" for r in recs}
    started = time.monotonic()
    faulty_report, world = _cycles(crm, scenario, faulty=True, settings=settings)
    faulty = observe(sf, hs, scenario_ids, crm)
    faulty_runs = list(SyncRun.objects.values_list("status", flat=True))
    made = _made_by_the_sync(sf, hs, scenario_ids, world, crm)
    unaudited = _unaudited(made)
    resurrected = _resurrected(sf, hs, world, made, crm)

    wipe_database()
    crm.reset()
    settings.SALESFORCE_ACCESS_TOKEN, settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_CLIENT_SECRET = "sandbox", "", ""
    crm.configure(salesforce={"token_ttl": 7200, "daily_limit": 10_000_000})
    clean_report, clean_world = _cycles(crm, scenario, faulty=False, settings=settings)
    clean = observe(sf, hs, scenario_ids, crm)
    clean_resurrected = _resurrected(sf, hs, clean_world, _made_by_the_sync(sf, hs, scenario_ids, clean_world, crm), crm)

    lost = sum(sum((clean[k] - faulty[k]).values()) if isinstance(clean[k], Counter) else int(clean[k] != faulty[k])
               for k in clean)
    doubled = sum(n - 1 for key in ("sf_people", "sf_opps", "hs_contacts", "hs_companies", "hs_deals")
                  for n in faulty[key].values() if n > 1)
    print(f"\nsoak: {SIZE} people, {CYCLES} cycles, {time.monotonic() - started:.1f} s; faulty run: {faulty_report}; "
          f"replay: {clean_report}; run statuses: {Counter(faulty_runs)}; "
          f"lost {lost}, doubled {doubled}, resurrected {resurrected}, unaudited {len(unaudited)}")
    assert (lost, doubled, resurrected, len(unaudited), clean_resurrected) == (0, 0, 0, 0, 0), unaudited[:5]
    assert {k: v for k, v in faulty_report.items() if k.startswith("edit:")} == \
           {k: v for k, v in clean_report.items() if k.startswith("edit:")}
    for key in clean:
        assert faulty[key] == clean[key], f"{key} differs from the fault-free replay"
    for key in ("sf_people", "sf_opps", "hs_contacts", "hs_companies", "hs_deals"):
        assert not [k for k, n in faulty[key].items() if n > 1], f"{key}: a record was created twice"
    injected = {k[6:]: v for k, v in faulty_report.items() if k.startswith("fault:")}
    for kind in ("429", "500", "503", "reset", "timeout", "lost"):
        assert injected.get(kind, 0) >= 1, f"no {kind} fault was survived: {injected}"
    assert faulty_report["logins"] > CYCLES, "expired Salesforce tokens were not refreshed"
    assert "stopped" in Counter(faulty_runs) or "failed" in Counter(faulty_runs), \
        "the daily limit did not run out mid-run"
