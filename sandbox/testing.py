"""Test helpers: an in-process sandbox on a free port, and real clients pointed at it.

simple-salesforce hard-codes `https://`; `LoopbackHTTPS` (stack notes §2) rewrites those URLs
to the sandbox's plain-HTTP address, and refuses to point anywhere but a loopback host."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from sandbox.hubspot.search_lag import RECOMMENDED
from sandbox.server import Sandbox, SandboxServer

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@contextlib.contextmanager
def running_sandbox(**kw) -> Iterator[SandboxServer]:
    """`with running_sandbox(seed=1) as server:` → `server.url`, `server.sandbox`. HubSpot's
    search index lags by default, as the real one does (`search_lag=None` turns it off)."""
    kw.setdefault("search_lag", RECOMMENDED)
    server = SandboxServer(Sandbox(**kw)).start()
    try:
        yield server
    finally:
        server.stop()


class LoopbackHTTPS(HTTPAdapter):
    """Sends requests for an `https://…` prefix to the sandbox's `http://127.0.0.1:PORT` instead."""

    def __init__(self, target: str, **kw) -> None:
        self._target = urlsplit(target)
        if self._target.hostname not in LOOPBACK_HOSTS:
            raise ValueError(f"LoopbackHTTPS only targets loopback hosts, not {self._target.hostname!r}")
        super().__init__(**kw)

    def send(self, request, **kw):
        u = urlsplit(request.url)
        request.url = urlunsplit((self._target.scheme, self._target.netloc, u.path, u.query, u.fragment))
        return super().send(request, **kw)


def loopback_session(url: str, *extra_prefixes: str) -> requests.Session:
    """A session whose `https://<sandbox host:port>` (and any extra https prefixes, e.g. the
    `https://sandbox.salesforce.com` token URL) go to the sandbox over plain HTTP."""
    s = requests.Session()
    s.trust_env = False   # env proxies / CA bundles must not touch loopback traffic
    netloc = urlsplit(url).netloc
    for prefix in (f"https://{netloc}", *extra_prefixes):
        s.mount(prefix, LoopbackHTTPS(url))
    return s


def salesforce_client(url: str, token: str = "sandbox", version: str = "59.0", **kw):
    """A real `simple_salesforce.Salesforce` in direct (session id) mode against the sandbox."""
    from simple_salesforce import Salesforce

    return Salesforce(instance_url=url, session_id=token, session=loopback_session(url), version=version, **kw)


def salesforce_login(url: str, *, domain: str = "sandbox", **credentials):
    """A real client that logs in through the sandbox's OAuth token endpoint
    (`https://{domain}.salesforce.com/services/oauth2/token` is routed to the sandbox)."""
    from simple_salesforce import Salesforce

    session = loopback_session(url, f"https://{domain}.salesforce.com")
    return Salesforce(domain=domain, session=session, version="59.0", **credentials)


HUBSPOT_TOKEN = "sandbox"


def raw(server, method: str, path: str, body=None, token: str | None = HUBSPOT_TOKEN, headers: dict | None = None):
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
