"""Pytest fixtures for the HubSpot emulator tests (imported by tests/sandbox/test_hubspot_*.py).

Uses the real `sandbox.server.Sandbox` when it can be built; while the Salesforce half of the
sandbox isn't importable it falls back to a minimal stand-in with the same attributes.
"""
from __future__ import annotations

import threading

import pytest

from sandbox.core import Clock, Request
from sandbox.server import SandboxServer

TOKEN = "sandbox"


class _StubSandbox:
    def __init__(self, seed: int = 0) -> None:
        from sandbox.hubspot import HubSpotEmulator

        self.seed, self.order = seed, "random"
        self.lock = threading.RLock()
        self.clock = Clock()
        self.hubspot = HubSpotEmulator(self, token=TOKEN)

    def dispatch(self, req: Request):
        return self.hubspot.handle(req)


def make_sandbox():
    try:
        from sandbox.server import Sandbox

        return Sandbox(hubspot_token=TOKEN)
    except ImportError:
        return _StubSandbox()


@pytest.fixture(scope="module")
def hs_server():
    sb = make_sandbox()
    srv = SandboxServer(sb).start()
    yield srv
    srv.stop()


@pytest.fixture
def server(hs_server):
    """A running sandbox with an empty HubSpot side and generous limits unless a test changes them."""
    hs_server.sandbox.hubspot.reset()
    hs_server.sandbox.hubspot.configure_limits(burst_max=100_000, search_per_second=100_000)
    return hs_server


@pytest.fixture
def emu(server):
    return server.sandbox.hubspot


@pytest.fixture
def client(server):
    from hubspot import HubSpot

    return HubSpot(access_token=TOKEN, host=server.url)


def raw(server, method: str, path: str, body=None, token: str | None = TOKEN, headers: dict | None = None):
    """Plain HTTP call (for wire-level assertions); returns (status, headers, parsed JSON or None)."""
    import json
    import urllib.error
    import urllib.request

    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(server.url + path, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req) as r:
            payload = r.read()
            return r.status, dict(r.headers.items()), (json.loads(payload) if payload else None)
    except urllib.error.HTTPError as e:
        payload = e.read()
        return e.code, dict(e.headers.items()), (json.loads(payload) if payload else None)
