"""Live sync through HubSpot's webhooks, end to end: the sandbox's HubSpot sends signed webhook
batches over HTTP to the console's endpoint (a live server), the live run they queue reads just
those records through the real hubspot-api-client, and Salesforce shows the outcome through
simple-salesforce. Faults: late, duplicated and out-of-order events, failed deliveries."""
from __future__ import annotations

import time

import pytest

from sandbox.ids import IdFactory
from sync import tasks
from sync.models import AuditEvent, ContactLink, FieldRule, HubSpotEvent, LinkStatus, LiveSyncState, SyncRun
from tests.conftest import restore_reference_data
from tests.engine.conftest import events, hs_contact, set_settings, sync_ok, synced_id

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "webhook-test-secret"
LEAD = {"Id": IdFactory(seed=15).new("Lead"), "FirstName": "Ann", "LastName": "Lee", "Email": "ann@example.com",
        "Company": "Acme", "LastModifiedDate": "2024-01-01T00:00:00.000+0000", "CreatedDate": "2024-01-01T00:00:00.000+0000"}
CONTACT = {"id": "101", "properties": {"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee"}}


@pytest.fixture
def hooks(crm, live_server, settings):
    """Webhooks on: the sandbox sends them to the live server, which checks them with SECRET."""
    restore_reference_data()
    FieldRule.objects.filter(hubspot_property="firstname").update(rule=FieldRule.Rule.TWO_WAY)
    settings.HUBSPOT_WEBHOOK_SECRET = SECRET
    settings.HUBSPOT_WEBHOOK_URL = ""
    # Paused between settle()s: SQLite's in-memory test database cannot take the live server's
    # writes while a run in this thread writes (a file database waits for its lock instead).
    crm.hubspot.webhooks.configure({"url": f"{live_server.url}/hooks/hubspot/", "secret": SECRET, "retry_ms": 50,
                                    "paused": True})
    yield crm.hubspot.webhooks
    crm.hubspot.webhooks.reset()


@pytest.fixture
def linked(crm, hooks, hs):
    crm.load({"salesforce": {"Lead": [LEAD]}, "hubspot": {"contacts": [CONTACT]}})
    sync_ok(full=True)
    assert synced_id(hs, 101) == ("Lead", LEAD["Id"])
    settle(hooks)
    return crm


def settle(hooks) -> SyncRun | None:
    """Wait for the sandbox to deliver everything, then run the live run it queued, if any."""
    view = hooks.flush()
    assert view["pending"] == 0 and view["in_flight"] == 0, view
    hooks.configure({"paused": True})
    run = SyncRun.objects.filter(live=True, status=SyncRun.Status.PENDING).first()
    if run is None:
        return None
    tasks.run_sync(run.pk)
    run.refresh_from_db()
    return run


def lead(sf) -> dict:
    return sf.Lead.get(LEAD["Id"])


def test_crmsyncs_own_writes_come_back_as_webhooks_and_are_not_read(crm, hooks, hs):
    crm.load({"salesforce": {"Lead": [LEAD]}, "hubspot": {"contacts": [CONTACT]}})
    sync_ok(full=True)                          # writes the lead id onto contact 101
    crm.reset_stats()
    run = settle(hooks)
    assert run is not None and run.status == SyncRun.Status.SUCCEEDED, run and run.error
    assert hooks.view()["sent"]["events"] >= 2  # crmsync_write and salesforceleadid, at least
    assert crm.stats()["hubspot"]["calls"] == 0, crm.stats()["hubspot"]   # nothing read back
    assert run.sf_api_calls == crm.stats()["salesforce"]["calls"] <= 4     # Salesforce: one query per object
    assert not HubSpotEvent.objects.exists()


def test_a_persons_edit_in_hubspot_reaches_salesforce_in_one_live_run(linked, hs, sf):
    linked.hubspot.touch("contacts", 101, {"firstname": "Annie"})
    linked.reset_stats()
    run = settle(linked.hubspot.webhooks)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert lead(sf)["FirstName"] == "Annie"
    # one batch read of the named contact; no search, no listing
    assert set(linked.stats()["hubspot"]["endpoints"]) <= {"POST /crm/v3/objects/contacts/batch/read",
                                                            "POST /crm/v3/objects/contacts/batch/update"}, \
        linked.stats()["hubspot"]["endpoints"]
    assert run.field_changes >= 1 and not HubSpotEvent.objects.exists()


def test_a_new_contact_from_another_tool_gets_its_lead(linked, hs, sf):
    created = hs.crm.contacts.basic_api.create({"properties": {"email": "bo@example.com", "lastname": "Bo"}})
    run = settle(linked.hubspot.webhooks)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    kind, sf_id = synced_id(hs, created.id)
    assert kind == "Lead" and sf.Lead.get(sf_id)["Email"] == "bo@example.com"
    assert run.created == 1


def test_with_an_inclusion_list_a_live_run_asks_hubspot_whether_a_new_contact_is_in_it(linked, hs, sf):
    """A contact created since the last scheduled run was never read against the list: the live
    run asks HubSpot (one request a contact), so one outside the list gets no lead, one inside does."""
    from hubspot.crm.lists import ListCreateRequest

    from sync.models import HsContact

    made = hs.crm.lists.lists_api.create(ListCreateRequest(name="Chosen", object_type_id="0-1",
                                                           processing_type="MANUAL")).list
    # 600 members (no email, so no leads): reading the list costs 3 requests, asking about 2 contacts 2.
    linked.hubspot.load_records("contacts", [{"id": str(i), "properties": {"lastname": f"N{i}"}} for i in range(1000, 1599)])
    for i in range(1000, 1599, 100):
        hs.crm.lists.memberships_api.add(made.list_id, [str(j) for j in range(i, min(i + 100, 1599))])
    hs.crm.lists.memberships_api.add(made.list_id, ["101"])
    set_settings(inclusion_list_id=made.list_id, inclusion_list_name="Chosen")
    sync_ok()                                                     # the scheduled run reads the list
    settle(linked.hubspot.webhooks)
    outsider = hs.crm.contacts.basic_api.create({"properties": {"email": "out@example.com", "lastname": "Out"}})
    insider = hs.crm.contacts.basic_api.create({"properties": {"email": "in@example.com", "lastname": "In"}})
    hs.crm.lists.memberships_api.add(made.list_id, [insider.id])
    linked.reset_stats()
    run = settle(linked.hubspot.webhooks)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert sf.query("SELECT Id FROM Lead WHERE Email = 'out@example.com'")["totalSize"] == 0
    assert sf.query("SELECT Id FROM Lead WHERE Email = 'in@example.com'")["totalSize"] == 1
    assert HsContact.objects.get(hs_id=outsider.id).outside_list is True
    endpoints = linked.stats()["hubspot"]["endpoints"]
    assert endpoints.get("GET /crm/v3/lists/records/0-1/{recordId}/memberships") == 2, endpoints
    assert not any(e.startswith("GET /crm/v3/lists/{listId}/memberships") for e in endpoints)


def test_a_live_run_reads_a_small_inclusion_list_whole_when_that_is_cheaper(linked, hs, sf):
    from hubspot.crm.lists import ListCreateRequest

    made = hs.crm.lists.lists_api.create(ListCreateRequest(name="Small", object_type_id="0-1",
                                                           processing_type="MANUAL")).list
    hs.crm.lists.memberships_api.add(made.list_id, ["101"])
    set_settings(inclusion_list_id=made.list_id, inclusion_list_name="Small")
    sync_ok()
    settle(linked.hubspot.webhooks)
    for email in ("a@example.com", "b@example.com"):
        hs.crm.contacts.basic_api.create({"properties": {"email": email, "lastname": "New"}})
    linked.reset_stats()
    run = settle(linked.hubspot.webhooks)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    endpoints = linked.stats()["hubspot"]["endpoints"]
    assert endpoints.get("GET /crm/v3/lists/{listId}/memberships") == 1, endpoints   # 1 page < 2 contacts
    assert sf.query("SELECT Id FROM Lead WHERE LastName = 'New'")["totalSize"] == 0


def test_a_deletion_in_hubspot_ends_the_link_and_is_audited(linked, hs, sf):
    hs.crm.contacts.basic_api.archive("101")
    run = settle(linked.hubspot.webhooks)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    link = ContactLink.objects.get(hs_contact__hs_id="101")
    assert link.status == LinkStatus.DELETED
    assert events(target_id="101", run=run)
    assert lead(sf)["IsDeleted"] is False           # deleting in HubSpot never deletes in Salesforce


def test_a_merge_in_hubspot_is_followed(linked, hs):
    other = hs.crm.contacts.basic_api.create({"properties": {"email": "ann.lee@example.com", "lastname": "Lee"}})
    settle(linked.hubspot.webhooks)
    merged = hs.crm.contacts.basic_api.merge({"primaryObjectId": "101", "objectIdToMerge": other.id})
    run = settle(linked.hubspot.webhooks)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert synced_id(hs, merged.id) == ("Lead", LEAD["Id"])    # the primary's link carries on (R7)
    old = ContactLink.objects.get(hs_contact__hs_id="101")
    assert old.status == LinkStatus.MERGED
    assert AuditEvent.objects.filter(run=run, target_id="101").exists()


def test_late_duplicated_out_of_order_events_end_where_the_last_edit_is(linked, hs, sf):
    hooks = linked.hubspot.webhooks
    hooks.configure({"delay_ms": [0, 300], "duplicate_rate": 0.5})
    for name in ("B1", "B2", "B3", "B4"):
        linked.hubspot.touch("contacts", 101, {"firstname": name})
    run = settle(hooks)
    assert hooks.view()["sent"]["duplicates"] >= 1, hooks.view()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert lead(sf)["FirstName"] == "B4"
    assert settle(hooks) is None                     # the duplicates queued nothing more


def test_a_failed_delivery_is_retried_and_then_synced(linked, hs, sf, settings):
    settings.HUBSPOT_WEBHOOK_SECRET = ""             # the endpoint answers 503 for now
    linked.hubspot.touch("contacts", 101, {"firstname": "Retried"})
    hooks = linked.hubspot.webhooks
    hooks.configure({"paused": False})
    deadline = time.monotonic() + 5
    while hooks.view()["sent"]["retried"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hooks.view()["sent"]["failed"] >= 1
    settings.HUBSPOT_WEBHOOK_SECRET = SECRET
    run = settle(hooks)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert HubSpotEvent.objects.count() == 0 and lead(sf)["FirstName"] == "Retried"


def test_before_the_first_full_sync_a_live_run_waits_and_keeps_its_events(crm, hooks, hs):
    crm.load({"hubspot": {"contacts": [CONTACT]}})
    crm.hubspot.touch("contacts", 101, {"firstname": "Early"})
    run = settle(hooks)
    assert run.status == SyncRun.Status.SKIPPED and "first full sync" in run.error
    assert HubSpotEvent.objects.exists()
    assert crm.stats()["salesforce"]["calls"] == 0


def test_the_live_poll_brings_a_salesforce_edit_over_at_one_query_per_object(linked, hs):
    linked.advance_clock(2)   # a person's edit a while after crmsync's (Salesforce stamps whole seconds)
    linked.salesforce.touch(LEAD["Id"], {"FirstName": "Polled"})
    linked.advance_clock(3)   # past the Salesforce pull's commit overlap
    linked.reset_stats()
    pk = tasks.live_poll()
    run = SyncRun.objects.get(pk=pk)
    assert run.live and run.status == SyncRun.Status.SUCCEEDED, run.error
    assert hs_contact(hs, 101)["firstname"] == "Polled"
    # quiet now: the next poll costs one Salesforce query per object and nothing in HubSpot
    settle(linked.hubspot.webhooks)                  # crmsync's own HubSpot write, not read back
    linked.reset_stats()
    quiet = SyncRun.objects.get(pk=tasks.live_poll())
    assert quiet.status == SyncRun.Status.SUCCEEDED, quiet.error
    assert linked.stats()["salesforce"]["calls"] <= 4 and linked.stats()["hubspot"]["calls"] == 0, linked.stats()


def test_while_webhooks_arrive_a_quiet_scheduled_run_costs_one_hubspot_request_per_object(linked, settings):
    """Issue 14's quiet-run target: deletions and merges come as webhook events, so the archived
    listings (one request per object type) run only every HUBSPOT_ARCHIVED_LISTING_MINUTES."""
    settle(linked.hubspot.webhooks)
    linked.hubspot.touch("contacts", 101, {"lastname": "Lee-Webb"})
    assert settle(linked.hubspot.webhooks).status == SyncRun.Status.SUCCEEDED   # a batch arrived just now
    sync_ok()
    linked.reset_stats()
    sync_ok()                                      # quiet: the archived listings wait for their hour
    hubspot = linked.stats()["hubspot"]
    assert hubspot["calls"] <= 3 and not any("archived" in k for k in hubspot["endpoints"]), hubspot
    linked.reset_stats()
    LiveSyncState.objects.update(archived_listed={})   # as if their hour had come
    sync_ok()
    assert linked.stats()["hubspot"]["calls"] >= 6     # the safety net lists them again
