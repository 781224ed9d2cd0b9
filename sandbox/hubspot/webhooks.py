"""HubSpot's webhooks, as an app subscribed to contact, company and deal events receives them.

Off until configured (`POST /_sandbox/hubspot/webhooks` with a target `url` and the app's client
`secret`). Every change the emulator makes, through the API or as a person in the UI (`touch`),
becomes an event: `creation`, one `propertyChange` per property whose value changed (with
`propertyName`, `propertyValue`), `deletion`, and for a merge `merge` (`primaryObjectId`,
`mergedObjectIds`, `newObjectId`) followed by a `deletion` for each merged-away id; a merge's own
property changes send none (reference §2.7). A background thread POSTs them in batches of at
most 100, each request signed as HubSpot signs (X-HubSpot-Signature-v3: base64 HMAC-SHA256 of
method + URL + body + X-HubSpot-Request-Timestamp, with the client secret), and retries a batch
that failed (an answer that is not 2xx, or none within the timeout) with `attemptNumber` + 1, up
to `max_attempts` times (HubSpot: 10 over 24 hours; here every `retry_ms`).

HubSpot's delivery is not in order and not exactly once; the faults say how much: each event waits
a random `delay_ms` [min, max] before it can be sent (so later changes can arrive first), and with
probability `duplicate_rate` it is sent twice.

UNCONFIRMED, chosen from HubSpot's documentation: events of one write share its `occurredAt`;
`changeSource` is "CRM_UI" for `touch` and "INTEGRATION" for API writes; `eventId` is unique per
event and kept by a retry or a duplicate.
"""
from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import random
import threading
import time
import urllib.error
import urllib.request

SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal"}
APP_ID = 1_160_452
SUBSCRIPTION_IDS = {(t, k): 7_000 + i for i, (t, k) in enumerate(itertools.product(
    SINGULAR, ("creation", "propertyChange", "deletion", "merge")))}


def sign(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    source = method.encode() + url.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


class Webhooks:
    def __init__(self, portal_id: int, seed: int = 0) -> None:
        self.portal_id = portal_id
        self.seed = seed
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.reset()

    def reset(self) -> None:
        with self._cond:
            self.url = ""
            self.secret = ""
            self.delay_ms = (0, 0)
            self.duplicate_rate = 0.0
            self.max_batch = 100
            self.retry_ms = 1000
            self.max_attempts = 10
            self.timeout = 5.0
            self.source = "INTEGRATION"
            self.paused = False
            self._rng = random.Random(self.seed)
            self._queue: list[tuple[float, int, dict]] = []
            self._seq = itertools.count()
            self._event_ids = itertools.count(1)
            self._in_flight = 0
            self.sent = {"requests": 0, "events": 0, "failed": 0, "retried": 0, "gave_up": 0, "duplicates": 0}
            self._cond.notify_all()

    @property
    def on(self) -> bool:
        return bool(self.url and self.secret)

    def configure(self, body: dict) -> dict:
        with self._cond:
            for key, value in body.items():
                if key == "url":
                    self.url = str(value)
                elif key == "secret":
                    self.secret = str(value)
                elif key == "delay_ms":
                    lo, hi = (int(v) for v in value)
                    if not 0 <= lo <= hi:
                        raise ValueError("delay_ms must be [min, max] with 0 <= min <= max")
                    self.delay_ms = (lo, hi)
                elif key == "duplicate_rate":
                    if not 0 <= float(value) <= 1:
                        raise ValueError("duplicate_rate must be between 0 and 1")
                    self.duplicate_rate = float(value)
                elif key in ("max_batch", "retry_ms", "max_attempts"):
                    if int(value) < 1 or (key == "max_batch" and int(value) > 100):
                        raise ValueError(f"{key} must be at least 1" + (" and at most 100" if key == "max_batch" else ""))
                    setattr(self, key, int(value))
                elif key == "timeout":
                    self.timeout = float(value)
                elif key == "paused":   # events wait until unpaused (a receiver that is down, or a test's turn)
                    self.paused = bool(value)
                else:
                    raise ValueError(f"unknown webhooks setting {key!r}")
            if self.on and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
                self._thread.start()
            return self.view()

    def view(self) -> dict:
        with self._cond:
            return {"url": self.url, "on": self.on, "paused": self.paused, "delay_ms": list(self.delay_ms),
                    "duplicate_rate": self.duplicate_rate, "max_batch": self.max_batch, "pending": len(self._queue),
                    "in_flight": self._in_flight, "sent": dict(self.sent)}

    # ---- events, from the emulator's writes (called under the sandbox lock) ----------------------------
    def emit(self, otype: str, kind: str, object_id: int, occurred_ms: int, **extra) -> None:
        if not self.on or otype not in SINGULAR:
            return
        event = {"eventId": next(self._event_ids), "subscriptionId": SUBSCRIPTION_IDS[otype, kind],
                 "portalId": self.portal_id, "appId": APP_ID, "occurredAt": int(occurred_ms),
                 "subscriptionType": f"{SINGULAR[otype]}.{kind}", "attemptNumber": 0, "objectId": int(object_id),
                 "changeSource": extra.pop("source", None) or self.source, **extra}
        if kind == "creation":
            event["changeFlag"] = "NEW"
        with self._cond:
            copies = 2 if self._rng.random() < self.duplicate_rate else 1
            self.sent["duplicates"] += copies - 1
            for _ in range(copies):
                self._push(time.monotonic() + self._rng.uniform(*self.delay_ms) / 1000, dict(event))
            self._cond.notify_all()

    def property_changes(self, otype: str, object_id: int, before: dict, after: dict, occurred_ms: int,
                         source: str | None = None) -> None:
        if not self.on:
            return
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                self.emit(otype, "propertyChange", object_id, occurred_ms, propertyName=name,
                          propertyValue=after.get(name) or "", source=source)

    def _push(self, due: float, event: dict) -> None:
        heapq.heappush(self._queue, (due, next(self._seq), event))

    # ---- delivery ------------------------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> dict:
        """Wait until every event has been delivered or given up (tests); a pause ends for it."""
        end = time.monotonic() + timeout
        with self._cond:
            self.paused = False
            self._cond.notify_all()
            while (self._queue or self._in_flight) and time.monotonic() < end:
                self._cond.wait(0.05)
            return self.view()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self.on:
                    return
                now = time.monotonic()
                if self.paused or not self._queue or self._queue[0][0] > now:
                    self._cond.wait(0.05 if not self._queue else min(0.05, self._queue[0][0] - now))
                    continue
                batch = []
                while self._queue and self._queue[0][0] <= now and len(batch) < self.max_batch:
                    batch.append(heapq.heappop(self._queue)[2])
                self._in_flight += len(batch)
                url, secret, timeout = self.url, self.secret, self.timeout
            ok = self._post(url, secret, batch, timeout)
            with self._cond:
                self._in_flight -= len(batch)
                self.sent["requests"] += 1
                if ok:
                    self.sent["events"] += len(batch)
                else:
                    self.sent["failed"] += 1
                    for event in batch:
                        if event["attemptNumber"] + 1 >= self.max_attempts:
                            self.sent["gave_up"] += 1
                            continue
                        self.sent["retried"] += 1
                        again = {**event, "attemptNumber": event["attemptNumber"] + 1}
                        self._push(time.monotonic() + self.retry_ms / 1000, again)
                self._cond.notify_all()

    @staticmethod
    def _post(url: str, secret: str, batch: list[dict], timeout: float) -> bool:
        body = json.dumps(batch, separators=(",", ":")).encode()
        timestamp = str(int(time.time() * 1000))
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "HubSpot Connect 2.0 (sandbox)",
            "X-HubSpot-Request-Timestamp": timestamp, "X-HubSpot-Signature-Version": "v3",
            "X-HubSpot-Signature-v3": sign(secret, "POST", url, body, timestamp)})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return 200 <= resp.status < 300
        except (urllib.error.URLError, OSError, ValueError):
            return False
