"""/hooks/hubspot/: the one URL HubSpot calls. No login, no CSRF token; the v3 signature is what
lets a request in, and a refused one stores nothing and queues nothing."""
from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from sandbox.hubspot.webhooks import sign
from sync.models import HubSpotEvent, SyncRun

pytestmark = pytest.mark.django_db
SECRET = "app-client-secret"
PATH = "/hooks/hubspot/"
URL = "http://testserver" + PATH


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.HUBSPOT_WEBHOOK_SECRET = SECRET
    settings.HUBSPOT_WEBHOOK_URL = ""


def event(event_id: int, object_id: int = 101, kind: str = "contact.propertyChange", **extra) -> dict:
    return {"eventId": event_id, "subscriptionId": 1, "portalId": 1, "appId": 1,
            "occurredAt": int(time.time() * 1000), "subscriptionType": kind, "attemptNumber": 0,
            "objectId": object_id, "propertyName": "firstname", "propertyValue": "Ada", "changeSource": "CRM_UI",
            **extra}


def post(events, *, secret: str = SECRET, url: str = URL, ts: int | None = None, body: bytes | None = None,
         headers: dict | None = None):
    body = json.dumps(events).encode() if body is None else body
    ts = str(int(time.time() * 1000) if ts is None else ts)
    signed = {"HTTP_X_HUBSPOT_REQUEST_TIMESTAMP": ts,
              "HTTP_X_HUBSPOT_SIGNATURE_V3": sign(secret, "POST", url, body, ts)}
    return Client(enforce_csrf_checks=True).post(PATH, body, content_type="application/json",
                                                 **(signed if headers is None else headers))


def test_a_signed_batch_is_stored_and_queues_one_live_run():
    resp = post([event(1), event(2, 102, "contact.deletion"), event(3, 5, "ticket.creation")])
    assert resp.status_code == 200, resp.content
    assert resp.json() == {"stored": 2, "duplicates": 0, "ignored": 1}
    assert sorted(HubSpotEvent.objects.values_list("event_id", "object_type", "object_id", "subscription_type")) == [
        (1, "contacts", "101", "contact.propertyChange"), (2, "contacts", "102", "contact.deletion")]
    assert list(SyncRun.objects.values_list("live", "status")) == [(True, SyncRun.Status.PENDING)]
    # a second batch while that run waits joins it
    assert post([event(4, 103)]).json()["stored"] == 1
    assert SyncRun.objects.count() == 1 and HubSpotEvent.objects.count() == 3


def test_retries_and_duplicates_are_dropped_by_event_id():
    assert post([event(1), event(1)]).json() == {"stored": 1, "duplicates": 1, "ignored": 0}
    again = post([{**event(1), "attemptNumber": 1}, event(2)])
    assert again.json() == {"stored": 1, "duplicates": 1, "ignored": 0}
    assert sorted(HubSpotEvent.objects.values_list("event_id", flat=True)) == [1, 2]


@pytest.mark.parametrize(("kwargs", "status", "words"), [
    ({"secret": "someone-else"}, 401, "signature does not match"),
    ({"url": "http://testserver/elsewhere/"}, 401, "signature does not match"),
    ({"ts": int(time.time() * 1000) - 6 * 60 * 1000}, 401, "five minutes"),
    ({"headers": {}}, 401, "Missing"),
    ({"body": b"[{]"}, 400, "not JSON"),
])
def test_a_refused_request_says_why_and_stores_nothing(kwargs, status, words):
    resp = post([event(1)], **kwargs)
    assert resp.status_code == status and words in resp.json()["error"]
    assert not HubSpotEvent.objects.exists() and not SyncRun.objects.exists()


def test_a_replayed_request_inside_five_minutes_adds_nothing():
    body = json.dumps([event(1)]).encode()
    ts = str(int(time.time() * 1000))
    headers = {"HTTP_X_HUBSPOT_REQUEST_TIMESTAMP": ts, "HTTP_X_HUBSPOT_SIGNATURE_V3": sign(SECRET, "POST", URL, body, ts)}
    assert post(None, body=body, headers=headers).json()["stored"] == 1
    assert post(None, body=body, headers=headers).json() == {"stored": 0, "duplicates": 1, "ignored": 0}
    assert HubSpotEvent.objects.count() == 1


def test_an_oversized_body_is_refused_before_it_is_read(settings):
    settings.HUBSPOT_WEBHOOK_MAX_BYTES = 2048
    resp = post([event(i) for i in range(40)])
    assert resp.status_code == 413 and "2048 bytes" in resp.json()["error"]
    assert not HubSpotEvent.objects.exists()


def test_the_url_entered_in_hubspot_is_what_the_signature_covers(settings):
    settings.HUBSPOT_WEBHOOK_URL = "https://crm.example.com/hooks/hubspot/"   # behind a TLS proxy
    assert post([event(1)]).status_code == 401
    assert post([event(1)], url="https://crm.example.com/hooks/hubspot/").status_code == 200


def test_off_without_a_secret(settings):
    settings.HUBSPOT_WEBHOOK_SECRET = ""
    resp = post([event(1)], secret="")
    assert resp.status_code == 503 and "HUBSPOT_WEBHOOK_SECRET" in resp.json()["error"]
    assert not HubSpotEvent.objects.exists()


def test_only_post_is_answered():
    assert Client().get(PATH).status_code == 405
    assert not SyncRun.objects.exists()
