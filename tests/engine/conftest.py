"""Engine tests run the real connectors (simple-salesforce, hubspot-api-client) against the
sandbox over HTTP on 127.0.0.1; nothing is mocked at the method level."""
from __future__ import annotations

import pytest

from sandbox.testing import running_sandbox


@pytest.fixture(scope="module")
def _server():
    with running_sandbox(seed=11) as server:
        yield server


@pytest.fixture
def crm(_server, settings):
    """The sandbox, emptied, with the console's settings pointing at it."""
    sb = _server.sandbox
    sb.reset()
    settings.SALESFORCE_INSTANCE_URL = _server.url
    settings.SALESFORCE_ACCESS_TOKEN = "sandbox"
    settings.SALESFORCE_USERNAME = settings.SALESFORCE_CLIENT_ID = ""
    settings.HUBSPOT_BASE_URL = _server.url
    settings.HUBSPOT_ACCESS_TOKEN = "sandbox"
    settings.CRM_TIMEOUT = (5, 10)
    yield sb
    sb.faults.clear()
