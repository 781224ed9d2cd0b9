"""The sandbox HTTP server: one loopback port serving both emulators and the control API.

Routing: `/_sandbox/…` → control endpoints, `/services/…` → Salesforce, everything else
(`/crm/…`, `/account-info/…`, …) → HubSpot. Faults are applied here, uniformly, before
(or, for applied-but-lost, after) the emulator handles the request.
"""
from __future__ import annotations

import email.utils
import itertools
import socket
import struct
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from sandbox.core import Clock, Request, Response
from sandbox.faults import Faults
from sandbox.kills import Killer
from sandbox.salesforce.latency import Latency
from sandbox.salesforce.store import ApiError

ORDERS = ("random", "insertion", "reverse")


class Sandbox:
    """All sandbox state. Thread-safe: emulators take `self.lock` around store access."""

    def __init__(self, *, seed: int = 0, order: str = "random", salesforce_token: str = "sandbox",
                 hubspot_token: str = "sandbox", token_ttl: float = 7200.0, daily_limit: int = 100_000,
                 search_lag=None) -> None:
        from sandbox.hubspot import HubSpotEmulator
        from sandbox.salesforce import SalesforceEmulator

        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}")
        self.seed = seed
        self.order = order
        self.lock = threading.RLock()
        self.clock = Clock()
        self.faults = Faults(seed)
        self.killer = Killer()
        self._stats_lock = threading.Lock()
        self._calls: dict[str, Counter[str]] = {"salesforce": Counter(), "hubspot": Counter()}
        self.salesforce = SalesforceEmulator(self, token=salesforce_token, token_ttl=token_ttl, daily_limit=daily_limit)
        # search_lag: HubSpot's per-write search index delay, {"min_ms", "max_ms"} (sandbox/hubspot/search_lag.py)
        self.hubspot = HubSpotEmulator(self, token=hubspot_token, search_lag=search_lag)
        # Salesforce's response times (off unless SANDBOX_SF_LATENCY or the config says): latency.py
        self.salesforce_latency = Latency.from_env()

    # -- Python API (used in-process by tests and the benchmark) ------------------------------------

    def reset(self) -> None:
        """Empty both CRMs, clear faults and stats, and put the clock back to real time."""
        with self.lock:
            self.clock.reset()
            self.faults.clear()
            self.killer.disarm()
            self.reset_stats()
            self.salesforce.reset()
            self.hubspot.reset()

    def load(self, scenario: dict) -> dict[str, dict[str, int]]:
        """Load a scenario (the shared JSON format); returns counts per CRM and object type."""
        def rows():
            for crm in ("salesforce", "hubspot"):
                for object_type, records in (scenario.get(crm) or {}).items():
                    for record in records:
                        yield crm, object_type, record
        return self.load_records(rows())

    def load_records(self, items: Iterable[tuple[str, str, dict]]) -> dict[str, dict[str, int]]:
        """Stream `(crm, object_type, record)` tuples in without building lists (a million people
        fit); consecutive tuples of one type go to the emulator as one stream. No API usage."""
        counts: dict[str, dict[str, int]] = {"salesforce": {}, "hubspot": {}}
        for (crm, object_type), group in itertools.groupby(items, key=lambda t: (t[0], t[1])):
            if crm not in counts:
                raise ValueError(f"unknown crm {crm!r}")
            emulator = self.salesforce if crm == "salesforce" else self.hubspot
            n = emulator.load_records(object_type, (record for _, _, record in group))
            counts[crm][object_type] = counts[crm].get(object_type, 0) + (n if isinstance(n, int) else 0)
        return counts

    def advance_clock(self, seconds: float) -> str:
        return self.clock.advance(seconds).isoformat()

    def count_call(self, crm: str, label: str) -> None:
        with self._stats_lock:
            self._calls[crm][label] += 1

    def reset_stats(self) -> None:
        with self._stats_lock:
            for c in self._calls.values():
                c.clear()
        self.salesforce_latency.reset_counts()
        self.faults.injected.clear()

    def stats(self) -> dict:
        with self._stats_lock:
            out = {crm: {"calls": sum(c.values()), "endpoints": dict(sorted(c.items()))}
                   for crm, c in self._calls.items()}
        out["salesforce"]["api_usage"] = {"used": self.salesforce.api_used, "max": self.salesforce.daily_limit}
        out["salesforce"]["latency"] = self.salesforce_latency.view()
        out["faults"] = dict(self.faults.injected)
        return out

    def emulator(self, req: Request) -> tuple[str, object]:
        if req.path.startswith("/services/"):
            return "salesforce", self.salesforce
        return "hubspot", self.hubspot

    def dispatch(self, req: Request) -> Response:
        """Handle one request without faults (the server adds those)."""
        if req.path.startswith("/_sandbox/"):
            return self.control(req)
        return self.emulator(req)[1].handle(req)

    # -- control API ----------------------------------------------------------------------------------

    def control(self, req: Request) -> Response:
        """`/_sandbox/…`: JSON in, JSON out; never counted as API usage, never faulted."""
        name = req.path[len("/_sandbox/"):].strip("/")
        route = _CONTROL.get((req.method, name))
        if route is None:
            allowed = sorted(m for m, n in _CONTROL if n == name)
            return Response(405 if allowed else 404, {"error": f"{req.method} not allowed" if allowed
                                                      else f"no control endpoint {name!r}", "allowed": allowed})
        try:
            body = req.json() if req.body else {}
        except ValueError as e:
            return Response(400, {"error": f"malformed JSON: {e}"})
        try:
            return Response(200, route(self, body if body is not None else {}))
        except (ValueError, TypeError, KeyError) as e:
            return Response(400, {"error": str(e)})
        except ApiError as e:
            return Response(e.status if e.status >= 400 else 400, [e.rest()])

    def configure(self, order: str | None = None, salesforce: dict | None = None, hubspot: dict | None = None) -> dict:
        """Change run settings without a reset: result order, Salesforce daily limit and token TTL,
        HubSpot search lag."""
        if order is not None:
            if order not in ORDERS:
                raise ValueError(f"order must be one of {ORDERS}")
            self.order = order
        for key, value in (salesforce or {}).items():
            if key == "daily_limit":
                self.salesforce.daily_limit = int(value)
            elif key == "token_ttl":
                self.salesforce.token_ttl = float(value)
            elif key in ("api_used",):
                self.salesforce.api_used = int(value)
            elif key == "credentials":
                self.salesforce.credentials.update(value)
            elif key == "latency":
                self.salesforce_latency.configure(value)
            else:
                raise ValueError(f"unknown salesforce setting {key!r}")
        hubspot_view = self.hubspot.configure(**(hubspot or {}))
        return {"order": self.order, "salesforce": {"daily_limit": self.salesforce.daily_limit,
                                                    "token_ttl": self.salesforce.token_ttl},
                "hubspot": hubspot_view}


def _faults_post(sb: Sandbox, body: dict) -> dict:
    sb.faults.configure(body.get("rules", []), seed=body.get("seed"), append=bool(body.get("append")))
    return sb.faults.snapshot()


def _clock(sb: Sandbox, body: dict) -> dict:
    return {"now": sb.advance_clock(float(body.get("advance", 0)))}


# (method, name) -> handler(sandbox, body) -> JSON-able result
_CONTROL = {
    ("POST", "reset"): lambda sb, body: sb.reset() or {"ok": True},
    ("POST", "load"): lambda sb, body: {"loaded": sb.load(body)},
    ("GET", "faults"): lambda sb, body: sb.faults.snapshot(),
    ("POST", "faults"): _faults_post,
    ("DELETE", "faults"): lambda sb, body: sb.faults.clear() or sb.faults.snapshot(),
    ("GET", "stats"): lambda sb, body: sb.stats(),
    ("DELETE", "stats"): lambda sb, body: sb.reset_stats() or sb.stats(),
    ("GET", "clock"): lambda sb, body: {"now": sb.clock.now().isoformat()},
    ("POST", "clock"): _clock,
    ("GET", "config"): lambda sb, body: sb.configure(),
    ("POST", "config"): lambda sb, body: sb.configure(body.get("order"), body.get("salesforce"),
                                                      body.get("hubspot")),
    ("GET", "kill"): lambda sb, body: sb.killer.view(),
    ("POST", "kill"): lambda sb, body: sb.killer.arm(pid=body.get("pid"), after_writes=body.get("after_writes"),
                                                     mode=body.get("mode", "after")),
    ("DELETE", "kill"): lambda sb, body: sb.killer.disarm(),
    ("POST", "salesforce/convert-lead"): lambda sb, body: sb.salesforce.convert_lead_request(body),
    ("GET", "hubspot/webhooks"): lambda sb, body: sb.hubspot.webhooks.view(),
    ("POST", "hubspot/webhooks"): lambda sb, body: sb.hubspot.webhooks.configure(body),
    ("POST", "hubspot/webhooks/flush"): lambda sb, body: sb.hubspot.webhooks.flush(float(body.get("timeout", 10))),
    ("POST", "salesforce/touch"): lambda sb, body: sb.salesforce.touch(body["id"], body.get("fields") or {}),
}


class _Handler(BaseHTTPRequestHandler):
    # Stack notes: without these two, every keep-alive request stalls ~40 ms.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    sandbox: Sandbox  # set on the subclass made by SandboxServer

    def date_time_string(self, timestamp=None) -> str:
        """Every response's Date header, in sandbox time as the CRMs' servers send their own: a
        client that dates its writes by the answer (Salesforce's write results carry no stamp)
        sees the clock the records are stamped with."""
        return email.utils.format_datetime(self.sandbox.clock.now(), usegmt=True)

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request.build(self.command, unquote(parts.path), parts.query, dict(self.headers.items()), body)
        sb = self.sandbox
        if req.path.startswith("/_sandbox/"):
            self._send(self._safe(lambda: sb.control(req)))
            return
        crm, emulator = sb.emulator(req)
        sb.count_call(crm, emulator.endpoint_label(req))
        # A CRM's front door may refuse a request for its size before anything else sees it.
        refuse = getattr(emulator, "refuse_oversized", None)
        refused = refuse(self.path, self.headers.items()) if refuse else None
        if refused is not None:
            self.close_connection = True
            self._send(refused)
            return
        when = sb.killer.on_request(req)   # a crash test's kill at a write boundary (kills.py)
        if when is not None:
            if when == "after":
                self._safe(lambda: emulator.handle(req))
            sb.killer.fire()
            self._drop()
            return
        rule = sb.faults.pick(crm, req)
        kind = rule.kind if rule else None
        if kind in ("429", "500", "503"):
            self._send(emulator.fault_response(kind, req))
        elif kind == "reset":
            self._drop()
        elif kind == "lost":
            self._safe(lambda: emulator.handle(req))   # the write happens …
            self._drop()                                  # … and the answer never arrives
        elif kind == "truncated":
            self._send(self._safe(lambda: emulator.handle(req)), cut=True)
        elif kind == "malformed":
            self._safe(lambda: emulator.handle(req))
            self._send(Response(200, b'{"results": [{"id": "1", "properties": {"email": "broken'))
        else:
            if kind == "timeout":
                time.sleep(rule.seconds)
            resp = self._safe(lambda: emulator.handle(req))
            if crm == "salesforce":
                sb.salesforce_latency.wait(req, resp)   # a real org's response time, outside the lock
            self._send(resp)

    @staticmethod
    def _safe(fn) -> Response:
        try:
            return fn()
        except ApiError as e:
            return Response(e.status, [e.rest()])
        except Exception as e:  # a sandbox bug must show up as a 500, not a hung client
            traceback.print_exc(file=sys.stderr)
            return Response(500, {"error": "sandbox internal error", "detail": repr(e)})

    def _drop(self) -> None:
        # SO_LINGER 0: close with a RST, the way a crashed proxy or a dropped link looks to a client.
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    def _send(self, resp: Response, cut: bool = False) -> None:
        payload = resp.encoded()
        try:
            self.send_response(resp.status)
            if resp.content_type and (payload or resp.status not in (204, 304)):
                self.send_header("Content-Type", resp.content_type)
            for name, value in resp.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if cut:  # the full length was announced; half of it arrives, then the link drops
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self._drop()
            elif payload:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True   # the client gave up (timeout fault) — nothing to do

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass


class SandboxServer:
    """Runs a Sandbox on 127.0.0.1 in a background thread (port 0 = a free port)."""

    def __init__(self, sandbox: Sandbox, *, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"sandbox": sandbox})
        self.sandbox = sandbox
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SandboxServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="sandbox", daemon=True)
        self.thread.start()
        return self

    def serve_until_interrupted(self) -> None:
        """Block until Ctrl-C (the server runs in its thread), then stop."""
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
