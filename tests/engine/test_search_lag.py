"""HubSpot's search index shows a write seconds after it was made, and not in order (the sandbox
draws each write's delay). An incremental pull reads HubSpot through that index, so an edit made
just before a run is missed by it — and must still reach Salesforce in the next run: the pull
re-reads HUBSPOT_SEARCH_OVERLAP before its watermark, and an older version of a record the index
still shows never undoes a newer one in the mirror."""
from __future__ import annotations

import pytest

from sandbox.ids import IdFactory
from sync.models import HsContact
from tests.conftest import restore_reference_data
from tests.engine.conftest import sync, sync_at_once, sync_ok

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _field_rules(transactional_db):
    restore_reference_data()   # the default field rules (transactional tests empty every table)
_ids = IdFactory(seed=12)
OLD = "2024-01-01T00:00:00.000+0000"


def _pair(crm, n: int = 1) -> list[tuple[str, str]]:
    """Salesforce contacts synced with HubSpot contacts of the same email (job title: prefer
    Salesforce unless blank, so an edit in HubSpot reaches a blank Salesforce title)."""
    people = [({"Id": _ids.new("Contact"), "LastName": f"P{i}", "Email": f"p{i}@example.com", "LastModifiedDate": OLD,
                "CreatedDate": OLD}, str(101 + i)) for i in range(n)]
    crm.load({"salesforce": {"Contact": [p for p, _ in people]},
              "hubspot": {"contacts": [{"id": hs_id, "properties": {"email": p["Email"], "lastname": p["LastName"]}}
                                       for p, hs_id in people]}})
    sync_ok(full=True)
    sync_ok()
    crm.advance_clock(5)   # the sync's own writes are indexed by now
    return [(p["Id"], hs_id) for p, hs_id in people]


def _title(sf, sf_id: str) -> str | None:
    return sf.query(f"SELECT Title FROM Contact WHERE Id = '{sf_id}'")["records"][0]["Title"]


def test_an_edit_made_inside_the_lag_reaches_salesforce_in_the_next_run(crm, sf, hs):
    crm.hubspot.configure(search_lag={"min_ms": 3000, "max_ms": 3000})
    [(sf_id, hs_id)] = _pair(crm)
    hs.crm.contacts.basic_api.update(hs_id, {"properties": {"jobtitle": "Head of Lag"}})
    missed = sync_at_once()                      # the index does not show the edit yet
    assert missed.status == "succeeded" and _title(sf, sf_id) is None
    sync()                                       # the next run, seconds later
    assert _title(sf, sf_id) == "Head of Lag"


def test_edits_the_index_shows_out_of_order_are_all_read(crm, sf, hs):
    """The later edit becomes searchable first; the run that reads it moves the watermark past
    the earlier edit, which the index shows a moment later: the overlap still reads it."""
    [(a_sf, a_hs), (b_sf, b_hs)] = _pair(crm, 2)
    crm.hubspot.configure(search_lag={"min_ms": 6000, "max_ms": 6000})
    hs.crm.contacts.basic_api.update(a_hs, {"properties": {"jobtitle": "Early"}})   # searchable in 6 s
    crm.hubspot.configure(search_lag={"min_ms": 500, "max_ms": 500})
    crm.advance_clock(1)
    hs.crm.contacts.basic_api.update(b_hs, {"properties": {"jobtitle": "Late"}})    # searchable in 0.5 s
    crm.advance_clock(1)
    sync_at_once()
    assert (_title(sf, a_sf), _title(sf, b_sf)) == (None, "Late")
    crm.advance_clock(6)
    sync_at_once()
    assert (_title(sf, a_sf), _title(sf, b_sf)) == ("Early", "Late")


def test_an_older_version_the_index_still_shows_does_not_undo_a_newer_one(crm, sf, hs):
    """The sync writes the Salesforce id to a new HubSpot contact; HubSpot's search still shows
    the contact as it was before that write. The mirror keeps the newer version."""
    crm.hubspot.configure(search_lag={"min_ms": 30_000, "max_ms": 30_000})
    lead = {"Id": _ids.new("Lead"), "LastName": "Lee", "Company": "Acme", "Email": "lee@example.com",
            "LastModifiedDate": OLD, "CreatedDate": OLD}
    crm.load({"salesforce": {"Lead": [lead]},
              "hubspot": {"contacts": [{"id": "101", "properties": {"email": "lee@example.com", "lastname": "Lee"}}]}})
    sync_ok(full=True)
    hs.crm.contacts.basic_api.update("101", {"properties": {"firstname": "Lee"}})  # its old version stays searchable
    for _ in range(3):
        run = sync_at_once()
        assert run.status == "succeeded" and HsContact.objects.get(hs_id="101").salesforce_lead_id == lead["Id"]
    assert run.hs_api_calls <= 6   # no write repeated each run to "repair" what a stale hit showed
