"""HubSpot webhooks without HTTP: the v3 signature, a batch's parsing, and which records a batch
of events asks to read (rules.webhook_reads)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from sandbox.hubspot.webhooks import sign
from sync import webhooks
from sync.engine.rules import WebhookEvent, webhook_reads
from sync.webhooks import WebhookRefused, check_signature, parse

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URL = "https://crm.example.com/hooks/hubspot/"
NOW = 1_764_700_000_000


def hubspot_signature(method: str, uri: str, body: bytes, ts: str) -> str:
    """HubSpot's v3 recipe written out once more, independently of sync.webhooks."""
    return base64.b64encode(hmac.new(SECRET.encode(), f"{method}{uri}{body.decode()}{ts}".encode(),
                                     hashlib.sha256).digest()).decode()


def check(body: bytes = b"[]", *, ts: int = NOW, uri: str = URL, given: str | None = None, now: int = NOW):
    given = hubspot_signature("POST", URL, body, str(ts)) if given is None else given
    check_signature(secret=SECRET, method="POST", uri=uri, body=body, timestamp=str(ts), given=given, now_ms=now)


def test_a_request_signed_as_hubspot_signs_passes_and_the_sandbox_signs_the_same():
    body = b'[{"eventId":1}]'
    check(body)
    assert sign(SECRET, "POST", URL, body, str(NOW)) == hubspot_signature("POST", URL, body, str(NOW))


@pytest.mark.parametrize("change", ["body", "uri", "timestamp", "secret"])
def test_any_change_to_what_was_signed_is_refused(change):
    body = b'[{"eventId":1}]'
    good = hubspot_signature("POST", URL, body, str(NOW))
    with pytest.raises(WebhookRefused) as refused:
        if change == "body":
            check(b'[{"eventId":2}]', given=good)
        elif change == "uri":
            check(body, uri=URL + "?x=1", given=good)
        elif change == "timestamp":
            check(body, ts=NOW + 1, given=good)
        else:
            check_signature(secret="other", method="POST", uri=URL, body=body, timestamp=str(NOW), given=good,
                            now_ms=NOW)
    assert refused.value.status == 401 and "signature" in str(refused.value)


def test_encoded_characters_hubspot_decodes_before_signing_are_decoded():
    signed_as = "https://crm.example.com/hooks/hubspot/?portal=1:2"
    given = hubspot_signature("POST", signed_as, b"[]", str(NOW))
    check(uri="https://crm.example.com/hooks/hubspot/?portal=1%3A2", given=given)


@pytest.mark.parametrize("age_ms", [5 * 60 * 1000 + 1, -(5 * 60 * 1000 + 1)])
def test_a_request_older_than_five_minutes_is_a_replay(age_ms):
    with pytest.raises(WebhookRefused, match="five minutes") as refused:
        check(ts=NOW - age_ms)
    assert refused.value.status == 401


@pytest.mark.parametrize("headers", [(None, "sig"), ("123", None), ("12ab", "sig")])
def test_missing_or_malformed_headers_are_refused(headers):
    ts, given = headers
    with pytest.raises(WebhookRefused) as refused:
        check_signature(secret=SECRET, method="POST", uri=URL, body=b"[]", timestamp=ts, given=given, now_ms=NOW)
    assert refused.value.status == 401


EVENT = {"eventId": 10, "subscriptionId": 7, "portalId": 62515, "appId": 1, "occurredAt": NOW,
         "subscriptionType": "contact.propertyChange", "attemptNumber": 2, "objectId": 123,
         "propertyName": "firstname", "propertyValue": "Ada", "changeSource": "CRM_UI"}


def test_parse_reads_every_field_the_sync_uses():
    merge = {**EVENT, "eventId": 11, "subscriptionType": "contact.merge", "primaryObjectId": 5,
             "mergedObjectIds": [6], "newObjectId": 7}
    new_style = {**EVENT, "eventId": 12, "subscriptionType": "object.creation", "objectTypeId": "0-3"}
    other = {**EVENT, "eventId": 13, "subscriptionType": "ticket.creation"}
    a, b, c, d = parse(json.dumps([EVENT, merge, new_style, other]).encode())
    assert (a.object_type, a.object_id, a.property_name, a.property_value, a.attempt, a.change_source) == (
        "contacts", "123", "firstname", "Ada", 2, "CRM_UI")
    assert int(a.occurred_at.timestamp() * 1000) == NOW
    assert b.related_ids == ("5", "6", "7")
    assert c.object_type == "deals"
    assert d.object_type is None   # tickets: not synced, dropped on arrival


@pytest.mark.parametrize(("body", "message"), [
    (b"not json", "not JSON"),
    (b'{"eventId": 1}', "array"),
    (json.dumps([EVENT] * 101).encode(), "at most 100"),
    (b"[1]", "not an object"),
    (json.dumps([{**EVENT, "eventId": "x"}]).encode(), "eventId"),
    (json.dumps([{**EVENT, "objectId": True}]).encode(), "objectId"),
    (json.dumps([{**EVENT, "subscriptionType": "creation"}]).encode(), "subscriptionType"),
])
def test_a_malformed_batch_is_refused_whole_with_the_reason(body, message):
    with pytest.raises(WebhookRefused, match=message) as refused:
        parse(body)
    assert refused.value.status == 400


SYNCED = {"contacts": {"email", "firstname"}, "companies": {"name"}, "deals": {"dealname"}}


def ev(object_id: str, kind: str, prop: str = "", at: int = 1, object_type: str = "contacts", related=()):
    return WebhookEvent(object_type=object_type, object_id=object_id, kind=kind, property_name=prop,
                        occurred_ms=at, related_ids=related)


def test_reads_skip_crmsyncs_own_writes_and_properties_the_sync_does_not_use():
    events = [
        ev("1", "propertyChange", "firstname", at=5), ev("1", "propertyChange", "crmsync_write", at=5),  # own write
        ev("1", "propertyChange", "firstname", at=9),            # a person's edit after it: read
        ev("2", "propertyChange", "hs_analytics_source", at=3),  # not a synced property
        ev("3", "creation", at=4), ev("3", "propertyChange", "crmsync_write", at=4),  # crmsync created it
        ev("4", "creation", at=4),                               # someone else did
    ]
    assert webhook_reads(events, synced=SYNCED, marker="crmsync_write") == {"contacts": ["1", "4"]}


def test_deletions_and_merges_are_always_read_with_every_id_a_merge_names():
    events = [ev("8", "deletion", at=2), ev("8", "propertyChange", "crmsync_write", at=2),
              ev("30", "merge", related=("10", "20", "30"), at=7, object_type="companies"),
              ev("10", "deletion", at=7, object_type="companies"), ev("9", "deletion"), ev("9", "deletion")]
    assert webhook_reads(events, synced=SYNCED, marker="crmsync_write") == {
        "companies": ["10", "20", "30"], "contacts": ["8", "9"]}


def test_reads_are_the_same_whatever_order_the_events_came_in():
    events = [ev("1", "propertyChange", "firstname", at=5), ev("1", "propertyChange", "crmsync_write", at=5),
              ev("12", "creation"), ev("2", "propertyChange", "email", at=1)]
    want = webhook_reads(events, synced=SYNCED, marker="crmsync_write")
    assert want == {"contacts": ["2", "12"]}
    assert webhook_reads(events[::-1], synced=SYNCED, marker="crmsync_write") == want
    assert webhooks.MAX_EVENTS == 100


@pytest.mark.parametrize(("facts", "lists"), [
    ({"full": True, "webhooks_on": True, "last_event_age_s": 5, "last_listed_age_s": 5}, True),
    ({"full": False, "webhooks_on": False, "last_event_age_s": 5, "last_listed_age_s": 5}, True),   # no webhooks
    ({"full": False, "webhooks_on": True, "last_event_age_s": None, "last_listed_age_s": 5}, True),  # none came yet
    ({"full": False, "webhooks_on": True, "last_event_age_s": 90_000, "last_listed_age_s": 5}, True),  # stopped
    ({"full": False, "webhooks_on": True, "last_event_age_s": 5, "last_listed_age_s": None}, True),
    ({"full": False, "webhooks_on": True, "last_event_age_s": 5, "last_listed_age_s": 3600}, True),  # its hour is up
    ({"full": False, "webhooks_on": True, "last_event_age_s": 5, "last_listed_age_s": 60}, False),
])
def test_the_archived_listing_is_skipped_only_while_webhooks_bring_deletions(facts, lists):
    from sync.engine.rules import list_archived_now

    assert list_archived_now(**facts, every_s=3600) is lists


@pytest.mark.django_db
def test_the_part_that_ends_a_parallel_full_run_queues_a_live_run_for_events_that_waited():
    """Webhook batches that came during a parallel sweep had their live run skipped: the task that
    finishes the sweep asks for one, as a sweep run in one task does; an unfinished run does not."""
    from django.utils import timezone

    from sync import tasks
    from sync.models import HubSpotEvent, SyncRun

    HubSpotEvent.objects.create(event_id=1, subscription_type="contact.propertyChange", object_type="contacts",
                                object_id="101", occurred_at=timezone.now())
    running = SyncRun.objects.create(status=SyncRun.Status.RUNNING, full=True, started_at=timezone.now())
    assert tasks._then_events_left(running.pk, "done") == "done"
    assert not SyncRun.objects.filter(live=True).exists()
    SyncRun.objects.filter(pk=running.pk).update(status=SyncRun.Status.SUCCEEDED, finished_at=timezone.now())
    tasks._then_events_left(running.pk, "done, finished the run")
    assert SyncRun.objects.filter(live=True, status=SyncRun.Status.PENDING).count() == 1
