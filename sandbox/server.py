"""The sandbox HTTP server: one loopback port serving both emulators and the control API.

Routing: `/_sandbox/…` → control endpoints, `/services/…` → Salesforce, everything else
(`/crm/…`, `/account-info/…`, …) → HubSpot. Faults are applied here, uniformly, before
(or, for applied-but-lost, after) the emulator handles the request.
"""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from sandbox.core import Clock, Request, Response


class Sandbox:
    """All sandbox state. Thread-safe: emulators take `self.lock` around store access."""

    def __init__(self, *, seed: int = 0, order: str = "random", salesforce_token: str = "sandbox",
                 hubspot_token: str = "sandbox", token_ttl: float = 7200.0) -> None:
        from sandbox.hubspot import HubSpotEmulator
        from sandbox.salesforce import SalesforceEmulator

        self.seed = seed
        self.order = order
        self.lock = threading.RLock()
        self.clock = Clock()
        self.salesforce = SalesforceEmulator(self, token=salesforce_token, token_ttl=token_ttl)
        self.hubspot = HubSpotEmulator(self, token=hubspot_token)

    def dispatch(self, req: Request) -> Response:
        if req.path.startswith("/services/"):
            return self.salesforce.handle(req)
        return self.hubspot.handle(req)


class _Handler(BaseHTTPRequestHandler):
    # Stack notes: without these two, every keep-alive request stalls ~40 ms.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    sandbox: Sandbox  # set on the subclass made by SandboxServer

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request.build(self.command, unquote(parts.path), parts.query, dict(self.headers.items()), body)
        resp = self.sandbox.dispatch(req)
        self._send(resp)

    def _send(self, resp: Response) -> None:
        payload = resp.encoded()
        self.send_response(resp.status)
        if payload or resp.status not in (204, 304):
            self.send_header("Content-Type", resp.content_type)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

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

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
