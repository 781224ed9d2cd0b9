"""Engine tests run the real connectors (simple-salesforce, hubspot-api-client) against the
sandbox over HTTP on 127.0.0.1; nothing is mocked at the method level.

Helpers here read both CRMs back the way a person (or another integration) would: through the
real clients, never through the engine's own mirror."""
from __future__ import annotations

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException

from sandbox.testing import running_sandbox, salesforce_client
from sync import services
from sync.engine.cycle import run_cycle
from sync.models import AuditEvent, SyncRun, SyncSettings
from tests.conftest import use_sandbox


@pytest.fixture(scope="module")
def _server():
    with running_sandbox(seed=11) as server:
        yield server


@pytest.fixture
def crm(_server, settings, monkeypatch):
    """The sandbox, emptied, with the console's settings pointing at it (tests.conftest.use_sandbox)."""
    sb = use_sandbox(_server, settings, monkeypatch)
    yield sb
    sb.faults.clear()


@pytest.fixture
def sf(crm):
    """A real simple-salesforce client on the sandbox."""
    return salesforce_client(crm.url)


@pytest.fixture
def hs(crm):
    """A real hubspot-api-client on the sandbox."""
    return HubSpot(access_token="sandbox", host=crm.url)


def sync(full: bool = False) -> SyncRun:
    """One cycle, the way the worker runs it — minutes after the last one, as scheduled: the
    sandbox clock first moves past HubSpot's search-index lag, so what was written before is
    searchable now. `sync_at_once` is a run right away, inside the lag."""
    from tests import conftest

    if conftest.CURRENT_SANDBOX is not None:
        conftest.CURRENT_SANDBOX.advance_clock(conftest.CURRENT_SANDBOX.hubspot.search_lag.view()["max_ms"] / 1000)
    return sync_at_once(full)


def sync_at_once(full: bool = False) -> SyncRun:
    """One cycle right now: HubSpot's search may not show the latest writes yet."""
    return run_cycle(services.request_sync(full=full, actor=None, enqueue=False).pk)


def sync_ok(full: bool = False) -> SyncRun:
    run = sync(full)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def set_settings(**changes) -> None:
    services.update_settings(actor=None, changes=changes)


PERSON_PROPS = ["email", "firstname", "lastname", "salesforcecontactid", "salesforceleadid"]


def hs_contact(hs: HubSpot, hs_id, *, archived: bool = False) -> dict | None:
    """A HubSpot contact's properties read through the real client; None if it does not exist
    (archived contacts are only visible with `archived=True`)."""
    try:
        obj = hs.crm.contacts.basic_api.get_by_id(str(hs_id), properties=PERSON_PROPS, archived=archived)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return {**obj.properties, "archived": bool(obj.archived)}


def synced_id(hs: HubSpot, hs_id) -> tuple[str, str]:
    """(Lead|Contact|"", id) as HubSpot shows the contact's currently synced Salesforce record."""
    p = hs_contact(hs, hs_id)
    assert p is not None, f"HubSpot contact {hs_id} is gone"
    if p.get("salesforcecontactid"):
        assert not p.get("salesforceleadid"), p
        return "Contact", p["salesforcecontactid"]
    if p.get("salesforceleadid"):
        return "Lead", p["salesforceleadid"]
    return "", ""


def all_hs(hs: HubSpot, object_type: str, props: list[str]) -> list[dict]:
    api = getattr(hs.crm, object_type).basic_api
    out, after = [], None
    while True:
        page = api.get_page(limit=100, after=after, properties=props)
        out += [{"id": r.id, **r.properties} for r in page.results]
        if not page.paging or not page.paging.next:
            return out
        after = page.paging.next.after


def associated_companies(hs: HubSpot, contact_id) -> set[str]:
    page = hs.crm.associations.v4.basic_api.get_page("contacts", str(contact_id), "companies", limit=500)
    return {str(r.to_object_id) for r in page.results}


def events(action: str | None = None, **filters) -> list[AuditEvent]:
    qs = AuditEvent.objects.all()
    if action:
        qs = qs.filter(action=action)
    return list(qs.filter(**filters).order_by("id"))


def settings_row() -> SyncSettings:
    return SyncSettings.load()
