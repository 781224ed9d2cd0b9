"""Faults: with the sandbox injecting ~10 % faults of every kind (429, 500, 503, connection reset,
timeout, applied-but-lost) into both CRMs, syncing a generated 2,000-person scenario ends in the
same state as a fault-free run, and no record is created twice (R11 and every create).

Records the sync creates get new ids in each run, so both CRMs are compared by canonical keys:
scenario records by their own ids, created ones by what identifies them (email, external id,
the record they were made from)."""
from __future__ import annotations

import time
from collections import Counter

import pytest
from django.db import connection

from sandbox.scenario import scenario_dict
from sync.models import (
    AuditEvent,
    CompanyLink,
    ContactLink,
    DealLink,
    HsCompany,
    HsContact,
    HsDeal,
    RecordError,
    SfAccount,
    SfOpportunity,
    SfPerson,
    SyncChunk,
    SyncRun,
    Watermark,
    email_key,
)
from tests.engine.conftest import sync

pytestmark = pytest.mark.django_db(transaction=True)
SIZE, SEED, FAULT_SEED = 2000, 7, 3
# Each kind once at a spot where it hurts most (creates answered "lost" or timing out while
# being applied), then ≈ 10 % of all requests at random, every kind, both CRMs.
TARGETED = [
    {"kind": "lost", "crm": "hubspot", "method": "POST", "path": "/crm/v3/objects/companies/batch/create", "count": 1},
    {"kind": "timeout", "crm": "hubspot", "method": "POST", "path": "/crm/v3/objects/deals/batch/create", "count": 1,
     "seconds": 0.6},
    {"kind": "lost", "crm": "salesforce", "method": "PATCH", "path": "*/composite/sobjects/Lead/*", "count": 1},
    {"kind": "reset", "crm": "salesforce", "method": "PATCH", "path": "*/composite/sobjects/Opportunity/*", "count": 1},
    {"kind": "429", "crm": "hubspot", "method": "POST", "path": "/crm/v3/objects/contacts/batch/upsert", "count": 1},
    {"kind": "503", "crm": "hubspot", "method": "GET", "path": "/crm/v3/objects/contacts", "count": 1},
    {"kind": "500", "crm": "salesforce", "method": "GET", "path": "*/queryAll*", "count": 1},
    {"kind": "429", "crm": "salesforce", "method": "PATCH", "path": "*/composite/sobjects", "count": 1},
]
FAULTS = TARGETED + [  # ≈ 10 % of all requests, every kind, both CRMs
    {"kind": "429", "rate": 0.02}, {"kind": "500", "rate": 0.01}, {"kind": "503", "rate": 0.01},
    {"kind": "reset", "rate": 0.02}, {"kind": "timeout", "rate": 0.02, "seconds": 0.6},
    {"kind": "lost", "rate": 0.02},
]


def settle(max_runs: int = 4) -> list[SyncRun]:
    runs = []
    for _ in range(max_runs):
        run = sync()
        assert run.status == SyncRun.Status.SUCCEEDED, run.error
        runs.append(run)
        if run.pulled == 0:
            return runs
    raise AssertionError(f"did not settle in {max_runs} runs: {[r.pulled for r in runs]}")


def wipe_database() -> None:
    """Forget everything the first sync learnt (audit rows are append-only for the app, so the
    tables are emptied in SQL, children first)."""
    with connection.cursor() as cursor:
        for model in (AuditEvent, RecordError, ContactLink, CompanyLink, DealLink, SfPerson, SfAccount,
                      SfOpportunity, HsContact, HsCompany, HsDeal, Watermark, SyncChunk, SyncRun):
            cursor.execute(f"DELETE FROM {model._meta.db_table}")


def _hs_all(hs, object_type: str, props: list[str], archived: bool = False) -> list[dict]:
    api = getattr(hs.crm, object_type).basic_api
    out, after = [], None
    while True:
        page = api.get_page(limit=100, after=after, properties=props, archived=archived)
        out += [{"id": r.id, **r.properties} for r in page.results]
        if not page.paging or not page.paging.next:
            return out
        after = page.paging.next.after


def observe(sf, hs, scenario_ids: set[str], crm=None) -> dict:
    """Both CRMs as a person sees them, read through the real clients, in canonical keys.
    With `crm` (the sandbox) its clock first moves past HubSpot's ten-second window: this reader
    has no retries, and must not inherit the allowance the sync just spent."""
    if crm is not None:
        crm.advance_clock(11)
    people = sf.query_all("SELECT Id, Email, FirstName, LastName, Title, Phone, HubSpot_Contact_Id__c FROM Lead "
                          "WHERE IsConverted = false")["records"]
    people += sf.query_all("SELECT Id, Email, FirstName, LastName, Title, Phone, AccountId, HubSpot_Contact_Id__c "
                           "FROM Contact")["records"]
    accounts = sf.query_all("SELECT Id, Name FROM Account")["records"]
    opps = sf.query_all("SELECT Id, Name, StageName, Amount, AccountId, HubSpot_Deal_Id__c FROM Opportunity")["records"]
    contacts = _hs_all(hs, "contacts", ["email", "firstname", "lastname", "salesforcecontactid", "salesforceleadid"])
    archived = _hs_all(hs, "contacts", ["email"], archived=True)
    companies = _hs_all(hs, "companies", ["name", "salesforceaccountid"])
    deals = _hs_all(hs, "deals", ["dealname", "amount", "dealstage", "hs_salesforceopportunityid"])

    canon: dict[str, object] = {i: i for i in scenario_ids}
    for p in people:
        canon.setdefault(p["Id"], ("new", p["attributes"]["type"], email_key(p["Email"])))
    for c in contacts + archived:
        canon.setdefault(str(c["id"]), ("new contact", email_key(c.get("email"))))
    for o in opps:
        canon.setdefault(o["Id"], ("new opp", canon.get(o["HubSpot_Deal_Id__c"], o["HubSpot_Deal_Id__c"])))
    for c in companies:
        canon.setdefault(str(c["id"]), ("new company", canon.get(c.get("salesforceaccountid") or "", "")))
    for d in deals:
        canon.setdefault(str(d["id"]), ("new deal", canon.get(d.get("hs_salesforceopportunityid") or "", "")))
    k = lambda v: canon.get(v, v) if v else None  # noqa: E731

    def associations(from_type: str, records: list[dict]) -> dict:
        out, ids = {}, [str(r["id"]) for r in records]
        for i in range(0, len(ids), 1000):
            page = hs.crm.associations.v4.batch_api.get_page(
                from_type, "companies", {"inputs": [{"id": x} for x in ids[i:i + 1000]]})
            for r in page.results:
                out[k(str(r._from.id))] = sorted(map(str, (k(str(t.to_object_id)) for t in r.to)))
        return out
    return {
        "sf_people": Counter((p["attributes"]["type"], k(p["Id"]), email_key(p["Email"]), p["FirstName"], p["LastName"],
                              p["Title"], p["Phone"], k(p.get("AccountId")), k(p["HubSpot_Contact_Id__c"]))
                             for p in people),
        "sf_accounts": Counter((k(a["Id"]), a["Name"]) for a in accounts),
        "sf_opps": Counter((k(o["Id"]), o["Name"], o["StageName"], o["Amount"], k(o["AccountId"]),
                            k(o["HubSpot_Deal_Id__c"])) for o in opps),
        "hs_contacts": Counter((k(str(c["id"])), email_key(c.get("email")), c.get("firstname"), c.get("lastname"),
                                k(c.get("salesforcecontactid")), k(c.get("salesforceleadid"))) for c in contacts),
        "hs_archived": Counter(k(str(c["id"])) for c in archived),
        "hs_companies": Counter((k(str(c["id"])), c.get("name"), k(c.get("salesforceaccountid"))) for c in companies),
        "hs_deals": Counter((k(str(d["id"])), d.get("dealname"), d.get("amount"), d.get("dealstage"),
                             k(d.get("hs_salesforceopportunityid"))) for d in deals),
        "associations": associations("contacts", contacts),
        "deal_companies": associations("deals", deals),
        "contact_links": Counter((k(link.hs_contact.hs_id), link.status, k(link.sf_person.sf_id if link.sf_person else ""))
                                 for link in ContactLink.objects.select_related("hs_contact", "sf_person")),
        "company_links": Counter((k(cl.hs_company.hs_id), k(cl.sf_account.sf_id))
                                 for cl in CompanyLink.objects.select_related("hs_company", "sf_account")),
        "deal_links": Counter((k(dl.hs_deal.hs_id), k(dl.sf_opportunity.sf_id))
                              for dl in DealLink.objects.select_related("hs_deal", "sf_opportunity")),
    }


def test_ten_percent_faults_end_in_the_fault_free_state(crm, sf, hs, settings):
    scenario = scenario_dict(SIZE, seed=SEED, now="2026-01-10T00:00:00Z")
    scenario_ids = {r["Id"] for recs in scenario["salesforce"].values() for r in recs} | \
                   {str(r["id"]) for t, recs in scenario["hubspot"].items() if t != "associations" for r in recs}

    crm.load(scenario)
    clean_runs = settle()
    clean = observe(sf, hs, scenario_ids, crm)
    created_clean = sum(r.created for r in clean_runs)
    assert created_clean > 300   # the scenario makes leads, contacts, companies, deals and opportunities

    wipe_database()
    crm.reset()
    crm.load(scenario)
    settings.CRM_TIMEOUT = (2, 0.4)    # the `timeout` fault answers after 0.6 s: past the read timeout
    crm.faults.configure(FAULTS, seed=FAULT_SEED)
    started = time.monotonic()
    faulty_runs = settle()
    elapsed = time.monotonic() - started
    injected = dict(crm.faults.injected)
    crm.faults.clear()
    faulty = observe(sf, hs, scenario_ids, crm)

    print(f"\nfaults injected: {injected}; faulty sync took {elapsed:.1f} s in {len(faulty_runs)} runs; "
          f"requests SF={sum(r.sf_api_calls for r in faulty_runs)} HS={sum(r.hs_api_calls for r in faulty_runs)}")
    for key in clean:
        assert faulty[key] == clean[key], f"{key} differs after the faulty run"
    # Nothing created twice: every created record's key occurs once.
    for key in ("sf_people", "sf_opps", "hs_contacts", "hs_companies", "hs_deals"):
        dup = [k for k, n in faulty[key].items() if n > 1]
        assert not dup, f"{key}: created twice: {dup[:5]}"
    assert sum(r.errors for r in faulty_runs) == 0, list(RecordError.objects.values_list("operation", "message"))
    for kind in ("429", "500", "503", "reset", "timeout", "lost"):
        assert injected.get(kind, 0) >= 1, f"no {kind} fault was injected: {injected}"
