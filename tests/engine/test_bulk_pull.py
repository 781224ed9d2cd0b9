"""Full pulls through Bulk API 2.0 (sync/engine/bulk_pull.py, SalesforceConnector.bulk_query_pages):
the records are those REST queryAll returns, value for value; one scenario synced through REST
and through Bulk ends in the same CRMs and the same mirror; the threshold is read from the REST
first page; a failed results page is asked again from its locator. The real connector and the
sandbox over HTTP throughout."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sandbox.salesforce.schema import SOBJECTS
from sandbox.scenario import scenario_dict
from sync.crm.salesforce import SalesforceConfig, SalesforceConnector
from sync.engine import pull, schema
from sync.models import SfAccount, SfOpportunity, SfPerson
from tests.conftest import restore_reference_data
from tests.engine.conftest import sync_ok
from tests.engine.test_faults import observe, wipe_database

pytestmark = pytest.mark.django_db(transaction=True)
SF_OBJECTS = schema.SF_PULL_ORDER


def connector() -> SalesforceConnector:
    return SalesforceConnector(SalesforceConfig.from_settings())


def soql(obj: str) -> str:
    return f"SELECT {', '.join(schema.SF_FIELDS[obj])} FROM {obj}"


def _ids(scenario: dict) -> set[str]:
    return {r["Id"] for recs in scenario["salesforce"].values() for r in recs} | \
           {str(r["id"]) for t, recs in scenario["hubspot"].items() if t != "associations" for r in recs}


def test_bulk_records_are_the_rest_records(crm, sf):
    """Every pulled field of every object, deleted and merged-away rows included, as REST has it:
    booleans, numbers, dates, datetimes in REST's +0000 form, nulls, attributes."""
    crm.load(scenario_dict(300, seed=4, now="2026-01-10T00:00:00Z"))
    lead = sf.Lead.create({"LastName": 'Quote "and", comma', "Company": "Line\nbreak", "Email": "q@example.com"})["id"]
    sf.Lead.delete(sf.Lead.create({"LastName": "Gone", "Company": "X"})["id"])
    merged = sf.Lead.create({"LastName": "M", "Company": "X"})["id"]
    with crm.lock:   # merged away into `lead`, as Salesforce's merge leaves it
        store = crm.salesforce.store
        store.delete(SOBJECTS["Lead"], store.get(merged), crm.salesforce.now(), master=lead)
    conn = connector()
    for obj in SF_OBJECTS:
        rest = [r for page in conn.query_pages(soql(obj), include_deleted=True) for r in page]
        bulk = [r for page in conn.bulk_query_pages(soql(obj), include_deleted=True) for r in page]
        assert sorted(bulk, key=lambda r: r["Id"]) == sorted(rest, key=lambda r: r["Id"]), obj
        assert len(bulk) > 0
    people = {r["Id"]: r for r in conn.bulk_query_pages(soql("Lead"), include_deleted=True) for r in r}
    assert people[lead]["LastName"] == 'Quote "and", comma' and people[lead]["Company"] == "Line\nbreak"
    assert any(r["IsDeleted"] and r["MasterRecordId"] == lead for r in people.values())
    # What the schema makes of them: a datetime from REST's form, the type from attributes.
    row = schema.sf_person(people[lead], 1)
    assert row.object_type == "Lead" and row.system_modstamp is not None and row.system_modstamp.utcoffset().seconds == 0
    amounts = [r["Amount"] for page in conn.bulk_query_pages(soql("Opportunity")) for r in page]
    assert any(isinstance(a, float) for a in amounts)


def test_a_full_sync_through_bulk_ends_where_rest_does(crm, sf, hs, settings):
    restore_reference_data()
    scenario = scenario_dict(400, seed=31, now="2026-11-01T00:00:00Z")
    worlds = []
    for threshold in (None, 0):          # REST always; Bulk always
        wipe_database()
        restore_reference_data()
        crm.reset()
        crm.configure(order="insertion")   # both paths get the same answers in the same order (R3)
        crm.load(scenario)
        settings.SALESFORCE_BULK_THRESHOLD = threshold
        run = sync_ok(full=True)
        endpoints = crm.stats()["salesforce"]["endpoints"]
        worlds.append((observe(sf, hs, _ids(scenario), crm), mirror(), run, endpoints))
    (rest_crms, rest_mirror, rest_run, rest_calls), (bulk_crms, bulk_mirror, bulk_run, bulk_calls) = worlds
    assert bulk_calls["POST jobs/query"] == len(SF_OBJECTS) and "POST jobs/query" not in rest_calls
    assert bulk_calls["GET jobs/query/{id}/results"] == len(SF_OBJECTS)   # < 50,000 rows each: one page
    assert bulk_crms == rest_crms
    assert bulk_mirror == rest_mirror
    stamps = [p[4] for p in bulk_mirror["people"]]
    assert "written by the sync" in stamps and any(isinstance(s, datetime) for s in stamps)   # both kinds compared
    assert (bulk_run.pulled, bulk_run.created, bulk_run.linked) == (rest_run.pulled, rest_run.created, rest_run.linked)
    print(f"\nSalesforce calls of a full sync of 400 people: REST {rest_run.sf_api_calls}, Bulk {bulk_run.sf_api_calls}")


def mirror() -> dict:
    """The Salesforce mirror: each row's payload and flags, and people in the order they were
    numbered (R3's "first returned"), by Salesforce id (the scenario's, identical in both runs).
    What the sync wrote itself is stamped with Salesforce's clock at the write
    (schema.sf_written), which differs from run to run: those stamps are compared as "written"."""
    def stamp(value):
        return "written by the sync" if value is not None and value >= WRITTEN_AFTER else value

    def payload(raw: dict) -> dict:
        return {k: "written by the sync" if k in STAMPS and v and v >= SF_WRITTEN_AFTER else v for k, v in raw.items()}

    people = [(i, payload(raw), gone, master, stamp(at), kind) for i, raw, gone, master, at, kind in
              SfPerson.objects.order_by("pull_seq", "sf_id").values_list("sf_id", "raw", "is_deleted",
                                                                         "master_record_id", "system_modstamp",
                                                                         "object_type")]
    return {"people": people,
            "accounts": sorted((i, payload(raw), gone, stamp(at)) for i, raw, gone, at in
                               SfAccount.objects.values_list("sf_id", "raw", "is_deleted", "system_modstamp")),
            "opportunities": sorted((i, payload(raw), amount, close) for i, raw, amount, close in
                                    SfOpportunity.objects.values_list("sf_id", "raw", "amount", "close_date"))}


WRITTEN_AFTER = datetime(2026, 11, 1, tzinfo=UTC)      # the scenario's records are all older
SF_WRITTEN_AFTER = "2026-11-01"
STAMPS = ("CreatedDate", "LastModifiedDate", "SystemModstamp")


def test_the_first_rest_page_decides(crm, settings):
    """Objects under the threshold go on from the REST page that counted them (no call spent on
    deciding); an object over it is read through Bulk, its first REST page left unread."""
    crm.load(scenario_dict(300, seed=8, now="2026-01-10T00:00:00Z"))
    crm.load_records(("salesforce", "Lead", {"LastName": f"L{i}", "Company": "Acme", "Email": f"l{i}@example.com"})
                     for i in range(2100))
    settings.SALESFORCE_BULK_THRESHOLD = 2001
    conn, touched = connector(), pull.Touched(everything=True)
    seq = 0
    for obj in SF_OBJECTS:
        seq = pull.pull_salesforce_object(conn, obj, full=True, seq_base=seq, touched=touched, tick=lambda n: None)
    calls = crm.stats()["salesforce"]["endpoints"]
    assert calls["POST jobs/query"] == 1 and calls["GET jobs/query/{id}/results"] == 1     # the leads only
    # One first page per object and not one page more: the small ones fit in it, the leads went
    # to Bulk after theirs.
    assert "GET queryAll (more)" not in calls and calls["GET queryAll"] == len(SF_OBJECTS)
    assert SfPerson.objects.filter(object_type="Lead").count() == 2100 + 130
    assert seq == SfPerson.objects.count()
    # People are numbered in the order Salesforce returned them, through either API.
    assert sorted(SfPerson.objects.values_list("pull_seq", flat=True)) == list(range(seq))


def test_a_failed_results_page_is_asked_again_from_its_locator(crm, sf):
    crm.load(scenario_dict(300, seed=4, now="2026-01-10T00:00:00Z"))
    conn = connector()
    expected = sorted(r["Id"] for page in conn.query_pages(soql("Lead"), include_deleted=True) for r in page)
    crm.faults.configure([{"kind": "503", "crm": "salesforce", "method": "GET", "path": "*/results", "count": 1},
                          {"kind": "reset", "crm": "salesforce", "method": "GET", "path": "re:/jobs/query/[^/]+$",
                           "count": 1}])
    crm.reset_stats()
    before = conn.budget.calls
    got = [r["Id"] for page in conn.bulk_query_pages(soql("Lead"), include_deleted=True) for r in page]
    assert sorted(got) == expected and len(got) == len(set(got))
    calls = crm.stats()["salesforce"]["endpoints"]
    assert calls["POST jobs/query"] == 1 and calls["GET jobs/query/{id}/results"] == 2
    assert calls["GET jobs/query/{id}"] == 3      # two polls and the one that was cut off
    assert conn.budget.calls - before == sum(calls.values())     # each attempt charged, as Salesforce counts it


def test_a_failed_job_is_a_crm_error(crm, sf):
    from sync.crm.base import CrmError

    conn = connector()
    pages = conn.bulk_query_pages(soql("Lead"), include_deleted=True)
    crm.salesforce.bulk2.polls_to_complete = 99
    original = crm.salesforce.bulk2.poll

    def abort_on_poll(job):
        original(job)
        job.state = "Failed"
    crm.salesforce.bulk2.poll = abort_on_poll
    try:
        with pytest.raises(CrmError) as e:
            next(pages)
    finally:
        crm.salesforce.bulk2.poll = original
    assert e.value.code == "BULK_JOB_FAILED" and not e.value.permanent
