"""One sandbox server per test module (starting threads is cheap but not free); state is reset
before every test so tests never see each other's records, faults or clock."""
from __future__ import annotations

import pytest

from sandbox.testing import running_sandbox, salesforce_client


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
