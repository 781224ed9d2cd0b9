"""HubSpot's webhooks: check a batch's v3 signature, read its events, keep them for a live run.

HubSpot POSTs a JSON array of at most 100 events to the URL entered in the app's settings, signed
with the app's client secret (HUBSPOT_WEBHOOK_SECRET):

    X-HubSpot-Signature-v3   base64(HMAC-SHA256(secret, method + uri + body + timestamp))
    X-HubSpot-Request-Timestamp   milliseconds since the epoch

where `uri` is the URL HubSpot called with a few URL-encoded characters decoded. A request older
than five minutes is refused (a replay), as is one whose signature does not match; an event HubSpot
sends again (a retry, a duplicate) is dropped by its `eventId`. Accepted events are stored and a
live run queued (services.request_live_sync): the run reads just those records (engine/live.py),
and the scheduled sweep stays the safety net for anything a webhook never brought.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_AGE_MS = 5 * 60 * 1000
MAX_EVENTS = 100   # HubSpot sends at most 100 events per request
# HubSpot's v3 instructions: decode these in the URI before signing (not the "?" of the query).
_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
           "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}
# Legacy apps name the object in the subscription type; the developer platform's "object.*"
# subscriptions name it by type id.
OBJECT_PREFIXES = {"contact": "contacts", "company": "companies", "deal": "deals"}
OBJECT_TYPE_IDS = {"0-1": "contacts", "0-2": "companies", "0-3": "deals"}


class WebhookRefused(Exception):
    """A request that is not a valid HubSpot webhook batch; `status` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Event:
    event_id: int
    subscription_type: str
    object_type: str | None      # None: an object crmsync does not sync (tickets, …)
    object_id: str
    property_name: str
    property_value: str
    related_ids: tuple[str, ...]
    change_source: str
    occurred_at: datetime
    attempt: int


def signing_uri(uri: str) -> str:
    for encoded, char in _DECODE.items():
        uri = uri.replace(encoded, char).replace(encoded.lower(), char)
    return uri


def signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    source = method.upper().encode() + signing_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def check_signature(*, secret: str, method: str, uri: str, body: bytes, timestamp: str | None,
                    given: str | None, now_ms: int) -> None:
    """Raise WebhookRefused unless the request is signed with `secret` and at most five minutes old."""
    if not given or not timestamp:
        raise WebhookRefused(401, "Missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp.")
    if not timestamp.isdigit():
        raise WebhookRefused(401, "X-HubSpot-Request-Timestamp is not a number of milliseconds.")
    if abs(now_ms - int(timestamp)) > MAX_AGE_MS:
        raise WebhookRefused(401, "The request is more than five minutes old (or from the future): refused as a replay.")
    if not hmac.compare_digest(signature(secret, method, uri, body, timestamp), given.strip()):
        raise WebhookRefused(401, "The signature does not match this request and the configured secret.")


def parse(body: bytes) -> list[Event]:
    """The events of a batch, or WebhookRefused(400) naming what is wrong with it."""
    try:
        items = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookRefused(400, "The body is not JSON.") from None
    if not isinstance(items, list):
        raise WebhookRefused(400, "The body is not a JSON array of events.")
    if len(items) > MAX_EVENTS:
        raise WebhookRefused(400, f"{len(items)} events in one request; HubSpot sends at most {MAX_EVENTS}.")
    return [_event(i, item) for i, item in enumerate(items)]


def _event(i: int, item) -> Event:
    if not isinstance(item, dict):
        raise WebhookRefused(400, f"Event {i} is not an object.")
    sub = item.get("subscriptionType")
    event_id, object_id, occurred = item.get("eventId"), item.get("objectId"), item.get("occurredAt")
    for name, value in (("eventId", event_id), ("objectId", object_id), ("occurredAt", occurred)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise WebhookRefused(400, f"Event {i}: {name} must be a non-negative integer.")
    if not isinstance(sub, str) or "." not in sub:
        raise WebhookRefused(400, f"Event {i}: subscriptionType must name an object and an event, e.g. contact.creation.")
    prefix = sub.split(".", 1)[0]
    object_type = (OBJECT_TYPE_IDS.get(str(item.get("objectTypeId", ""))) if prefix == "object"
                   else OBJECT_PREFIXES.get(prefix))
    related = [item.get("primaryObjectId"), *(item.get("mergedObjectIds") or []), item.get("newObjectId")]
    value = item.get("propertyValue")
    return Event(event_id=event_id, subscription_type=sub, object_type=object_type, object_id=str(object_id),
                 property_name=str(item.get("propertyName") or "")[:100],
                 property_value="" if value is None else str(value),
                 related_ids=tuple(str(r) for r in related if isinstance(r, int) and not isinstance(r, bool)),
                 change_source=str(item.get("changeSource") or "")[:40],
                 occurred_at=datetime.fromtimestamp(occurred / 1000, tz=UTC),
                 attempt=item.get("attemptNumber") if isinstance(item.get("attemptNumber"), int) else 0)
