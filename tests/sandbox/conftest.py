"""One sandbox server per test module (starting threads is cheap but not free); state is reset
before every test so tests never see each other's records, faults or clock."""
from __future__ import annotations

import pytest

from sandbox.server import Sandbox, SandboxServer
from sandbox.testing import HUBSPOT_TOKEN, running_sandbox, salesforce_client


@pytest.fixture(scope="module")
def _module_server():
    with running_sandbox(seed=7) as server:
        yield server


@pytest.fixture
def sandbox_server(_module_server):
    sb = _module_server.sandbox
    sb.reset()
    sb.order = "random"
    sb.salesforce.daily_limit = 100_000
    sb.salesforce.token_ttl = 7200.0
    yield _module_server
    sb.faults.clear()


@pytest.fixture
def sandbox(sandbox_server):
    return sandbox_server.sandbox


@pytest.fixture
def sf(sandbox_server):
    return salesforce_client(sandbox_server.url)


# --- HubSpot emulator tests ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def hs_server():
    srv = SandboxServer(Sandbox(hubspot_token=HUBSPOT_TOKEN)).start()
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

    return HubSpot(access_token=HUBSPOT_TOKEN, host=server.url)
