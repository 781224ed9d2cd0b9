"""Tokens and passwords never appear in pages, logs, audit events, run errors or record errors —
neither on the happy path nor when a CRM refuses them."""
from __future__ import annotations

import logging

import pytest
from django.core import serializers

from sandbox.scenario import scenario_dict
from sandbox.testing import running_sandbox
from sync import services
from sync.engine.cycle import run_cycle
from sync.models import AuditEvent, RecordError, SyncRun
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

SECRETS = {
    "SALESFORCE_PASSWORD": "pw-Zq81-never-show",
    "SALESFORCE_SECURITY_TOKEN": "st-Kx44-never-show",
    "SALESFORCE_CLIENT_SECRET": "cs-Wm29-never-show",
    "HUBSPOT_ACCESS_TOKEN": "pat-na1-Hs77-never-show",
}


@pytest.fixture
def crm(settings):
    with running_sandbox(seed=3, hubspot_token=SECRETS["HUBSPOT_ACCESS_TOKEN"]) as server:
        server.sandbox.salesforce.credentials.update(
            username="integration@example.com", password=SECRETS["SALESFORCE_PASSWORD"],
            security_token=SECRETS["SALESFORCE_SECURITY_TOKEN"], client_id="crmsync-app",
            client_secret=SECRETS["SALESFORCE_CLIENT_SECRET"])
        settings.SALESFORCE_INSTANCE_URL = server.url
        settings.SALESFORCE_ACCESS_TOKEN = ""
        settings.SALESFORCE_USERNAME = "integration@example.com"
        settings.SALESFORCE_CLIENT_ID = "crmsync-app"
        settings.HUBSPOT_BASE_URL = server.url
        for name, value in SECRETS.items():
            setattr(settings, name, value)
        server.sandbox.load(scenario_dict(40, seed=3))
        yield server


def _leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


def test_secrets_stay_out_of_pages_logs_and_history(crm, admin_user, caplog, settings):
    caplog.set_level(logging.DEBUG)
    run = run_cycle(services.request_sync(full=True, actor=admin_user, enqueue=False).pk)
    assert run.status == "succeeded", run.error

    client = client_for(admin_user)
    pages = ["/", "/duplicates/", "/duplicates/?kind=r7", "/contacts/", "/runs/", f"/runs/{run.pk}/", "/audit/",
             "/audit/export.csv", "/settings/"]
    bodies = []
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        bodies.append(b"".join(response.streaming_content).decode() if response.streaming else response.content.decode())
    for crm_name in ("salesforce", "hubspot"):
        bodies.append(client.post(f"/settings/test/{crm_name}/", headers={"HX-Request": "true"}).content.decode())
    assert "connected" in bodies[-1] and "connected" in bodies[-2]

    # And when the CRMs refuse the credentials, the error says why without repeating them.
    crm.sandbox.salesforce.credentials["client_secret"] = "rotated"
    settings.HUBSPOT_ACCESS_TOKEN = SECRETS["HUBSPOT_ACCESS_TOKEN"] + "-revoked"
    for crm_name in ("salesforce", "hubspot"):
        refused = client.post(f"/settings/test/{crm_name}/", headers={"HX-Request": "true"}).content.decode()
        assert "error" in refused
        bodies.append(refused)
    failed = run_cycle(services.request_sync(full=False, actor=admin_user, enqueue=False).pk)
    assert failed.status == "failed" and "login failed" in failed.error.lower()

    stored = serializers.serialize("json", [*AuditEvent.objects.all(), *SyncRun.objects.all(),
                                            *RecordError.objects.all()])
    assert _leaks("\n".join(bodies)) == []
    assert _leaks(caplog.text) == [], "a secret was logged"
    assert _leaks(stored) == [], "a secret was stored in the history"
    assert "revoked" not in "\n".join(bodies)
