"""How long Salesforce takes to answer, so a run can be timed against a real org's pace.

The server (sandbox/server.py) asks `Latency.delay(req, resp)` once the emulator has answered a
Salesforce request and sleeps that long before sending it, outside the sandbox lock (a slow
page of one client does not hold up another, as on a real pod). The delay depends on what the
call was:

* query page (`query`, `queryAll`, query-more): `query_ms` + `row_ms` per record in the page;
* Bulk API 2.0 results page (`jobs/query/{id}/results`): `query_ms` + `bulk_row_ms` per row
  (from `Sforce-NumberOfRecords`); its other calls (create, poll, abort) are plain calls;
* write (any POST/PATCH/PUT/DELETE but a query job's creation, SOAP included): `write_ms` +
  `write_row_ms` per record in the body (a collections call carries up to 200);
* anything else (describe, limits, a record by id, OAuth): `call_ms`.

A write that sets a lookup (AccountId, …) holds its parents' locks while it runs: another write
naming one of them waits for it (`wait`), which is why callers send those one at a time or
keep each parent's children to one call.

OFF by default. The reference (shared/reference/salesforce-api.md) gives no response times, so
`REALISTIC` is an ASSUMPTION, not a measurement: ~100 ms for a small call is a round trip from a
cloud host to a Salesforce pod; a 2,000-row REST page of a dozen fields in 0.5-1 s, a 200-record
collections update in about a second (validation, triggers) and a 50,000-row Bulk 2.0 CSV page
in about a second are the figures integrators commonly report. Set them from a real org's
measurements when there is one: `POST /_sandbox/config {"salesforce": {"latency": {...}}}`
(read back in `GET /_sandbox/stats`), or the environment variable `SANDBOX_SF_LATENCY` when the
sandbox starts ("realistic", "off", or "query_ms=150,row_ms=0.3,..."). Each delay slept is
counted (`view()`): the time a client that made its Salesforce calls one after another had to
wait at least.
"""
from __future__ import annotations

import json
import os
import threading
import time

FIELDS = ("call_ms", "query_ms", "row_ms", "bulk_row_ms", "write_ms", "write_row_ms")
OFF = dict.fromkeys(FIELDS, 0.0)
# ASSUMED figures (see above), not measured against an org.
REALISTIC = {"call_ms": 100.0, "query_ms": 150.0, "row_ms": 0.3, "bulk_row_ms": 0.02, "write_ms": 200.0,
             "write_row_ms": 4.0}
ENV = "SANDBOX_SF_LATENCY"


def parse(value) -> dict[str, float]:
    """`"realistic"`, `"off"`, `"name=ms,…"`, a dict of FIELDS, or None → a full settings dict
    (unnamed fields 0)."""
    if value is None or value in ("", "off", "0", False):
        return dict(OFF)
    if value == "realistic":
        return dict(REALISTIC)
    if isinstance(value, str):
        pairs = [p.partition("=") for p in value.split(",") if p.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ValueError(f"{ENV} takes 'realistic', 'off' or name=ms pairs, not {value!r}")
        value = {k.strip(): v.strip() for k, _, v in pairs}
    if not isinstance(value, dict):
        raise ValueError(f"latency must be 'realistic', 'off' or a dict of {', '.join(FIELDS)}, not {value!r}")
    unknown = set(value) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown latency setting(s): {', '.join(sorted(unknown))}")
    out = dict(OFF)
    for k, v in value.items():
        if isinstance(v, bool):
            raise ValueError(f"latency {k} must be a number of milliseconds, not {v!r}")
        out[k] = float(v)
        if out[k] < 0:
            raise ValueError(f"latency {k} must be >= 0, got {v!r}")
    return out


def _records_in_body(body: bytes) -> int:
    """Records a write carries: a collections body's `records`, a composite's subrequests, else 1."""
    if not body or body[:1] not in (b"{", b"["):
        return 1
    try:
        data = json.loads(body)
    except ValueError:
        return 1
    if isinstance(data, dict):
        for key in ("records", "compositeRequest", "batchRequests"):
            if isinstance(data.get(key), list):
                return max(1, len(data[key]))
    if isinstance(data, list):
        return max(1, len(data))
    return 1


def _parents(req) -> set[str]:
    """The records a write's lookups name (fields ending in `Id` but `Id`: AccountId, OwnerId…),
    which Salesforce locks while the write's transaction runs."""
    body = req.body
    if not body or body[:1] not in (b"{", b"["):
        return set()
    try:
        data = json.loads(body)
    except ValueError:
        return set()
    records = data.get("records") if isinstance(data, dict) and isinstance(data.get("records"), list) else [data]
    return {str(v) for r in records if isinstance(r, dict) for k, v in r.items()
            if k.endswith("Id") and k != "Id" and isinstance(v, str) and v}


class Latency:
    def __init__(self, settings=None) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, float] = {}   # parent id → when the write holding its lock is done
        self.configure(settings)

    @classmethod
    def from_env(cls) -> Latency:
        return cls(os.environ.get(ENV))

    def configure(self, settings=None, **fields) -> dict:
        """Replace the settings (`settings` as `parse` takes it), or change only the named fields."""
        if settings is not None or not fields:
            self.settings = parse(settings)
        if fields:
            self.settings.update({k: v for k, v in parse(fields).items() if k in fields})
        self.reset_counts()
        return self.view()

    @property
    def enabled(self) -> bool:
        return any(self.settings.values())

    def view(self) -> dict:
        with self._lock:
            return {**self.settings, "enabled": self.enabled, "slept_s": round(self.slept_s, 3), "calls": self.calls,
                    "lock_waits": self.lock_waits, "writes_at_once": self.writes_at_once}

    def reset_counts(self) -> None:
        with self._lock:
            self.slept_s, self.calls = 0.0, 0
            # writes that set a lookup: how many waited for another's parent lock, and the most
            # that were in flight at once
            self.lock_waits, self.writes_at_once, self._writing = 0, 0, 0

    def seconds(self, req, resp) -> float:
        """The delay for one answered request (see the module docstring for the cases)."""
        s, method = self.settings, req.method
        tail = req.path.rstrip("/")
        if "/jobs/query" in tail and tail.endswith("/results") and method == "GET":
            rows = int(resp.headers.get("Sforce-NumberOfRecords") or 0) if resp.status < 300 else 0
            ms = s["query_ms"] + s["bulk_row_ms"] * rows
        elif method == "GET" and ("/query" in tail or "/queryAll" in tail) and "/jobs/" not in tail:
            records = resp.body.get("records") if isinstance(resp.body, dict) else None
            ms = s["query_ms"] + s["row_ms"] * len(records or ())
        elif method in ("POST", "PATCH", "PUT", "DELETE") and not tail.endswith("/jobs/query") \
                and not tail.endswith("oauth2/token"):
            ids = (req.arg("ids") or "") if method == "DELETE" else ""   # collections delete: ?ids=a,b,…
            ms = s["write_ms"] + s["write_row_ms"] * (len(ids.split(",")) if ids else _records_in_body(req.body))
        else:
            ms = s["call_ms"]
        return ms / 1000

    def wait(self, req, resp) -> None:
        """Sleep this request's delay (call outside any sandbox lock) and count it. A write that
        sets a lookup holds its parent records' locks for its whole delay, as an org's transaction
        does: a write naming a parent another write in flight holds waits for it first (that wait
        is the caller's doing, not counted in `slept_s`). An org that waits more than 10 s for a
        lock answers UNABLE_TO_LOCK_ROW instead; the sandbox has applied the write already and
        only waits (NOT emulated: the failure)."""
        if not self.enabled:
            return
        delay = self.seconds(req, resp)
        parents = _parents(req) if req.method in ("POST", "PATCH", "PUT") else set()
        with self._lock:
            self.slept_s += delay
            self.calls += 1
            now = time.monotonic()
            start = max([now] + [self._held[p] for p in parents if self._held.get(p, 0) > now])
            self.lock_waits += start > now
            for p in parents:
                self._held[p] = start + delay
            if len(self._held) > 10_000:
                self._held = {p: t for p, t in self._held.items() if t > now}
            self._writing += bool(parents)
            self.writes_at_once = max(self.writes_at_once, self._writing)
        try:
            if start + delay - now > 0:
                time.sleep(start + delay - now)
        finally:
            if parents:
                with self._lock:
                    self._writing -= 1
