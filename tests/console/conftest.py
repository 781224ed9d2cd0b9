"""Console view tests: Django's test client against the real views and templates.

Views that call a CRM (merges, Resync, Test connection) talk to the sandbox over HTTP with the
real connectors; nothing is mocked. Read-only pages get their mirror rows straight from the ORM;
the helpers that create them refresh the duplicate groups of the keys they wrote, as a sync run
would (sync.engine.groups), since the duplicates pages read DuplicateGroup."""
from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest

from sandbox.ids import IdFactory
from sandbox.testing import running_sandbox
from sync.engine.groups import refresh_keys
from sync.models import ContactLink, DuplicateGroup, HsCompany, HsContact, LinkStatus, SfPerson
from tests.conftest import use_sandbox
from tests.engine.conftest import hs, sf  # noqa: F401 (the real CRM clients on the sandbox, as fixtures)

HX = {"HX-Request": "true"}
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
_ids = IdFactory(seed=5)
_hs_ids = itertools.count(5001)


def sf_id(sobject: str = "Contact") -> str:
    return _ids.new(sobject)


def next_hs_id() -> str:
    return str(next(_hs_ids))


def sf_person(email: str | None, *, object_type: str = "Contact", first: str = "Ann", last: str = "Lee",
              seq: int = 0, modstamp: datetime = T0, **extra) -> SfPerson:
    person = SfPerson.objects.create(sf_id=extra.pop("sf_id", None) or sf_id(object_type), object_type=object_type,
                                     email=email or "", first_name=first, last_name=last, pull_seq=seq,
                                     system_modstamp=modstamp, **extra)
    refresh_keys(DuplicateGroup.Kind.R2, [person.email_key])
    return person


def hs_contact(email: str | None, *, hs_id: str | None = None, first: str = "Ann", last: str = "Lee",
               **extra) -> HsContact:
    contact = HsContact.objects.create(hs_id=hs_id or next_hs_id(), email=email or "", first_name=first,
                                       last_name=last, created_at=T0, last_modified=T0, **extra)
    refresh_keys(DuplicateGroup.Kind.R7, [contact.salesforce_contact_id or contact.salesforce_lead_id])
    return contact


def link(contact: HsContact, person: SfPerson | None, *, status: str = LinkStatus.SYNCED, chosen_by: str = "R3",
         **extra) -> ContactLink:
    return ContactLink.objects.create(hs_contact=contact, sf_person=person, status=status, chosen_by=chosen_by,
                                      since=T0, **extra)


def r2_group(email: str, size: int = 2, *, synced: int | None = 0) -> list[SfPerson]:
    """A duplicate group (R2) of `size` live contacts; member `synced` is linked to a HubSpot contact."""
    members = [sf_person(email, seq=i, last=f"Lee{i}") for i in range(size)]
    if synced is not None:
        link(hs_contact(email), members[synced])
    return members


def r7_group(n: int = 2) -> tuple[SfPerson, list[HsContact]]:
    """One Salesforce contact and `n` HubSpot contacts with different emails carrying its id (R7)."""
    person = sf_person(f"r7-{next_hs_id()}@example.com")
    contacts = [hs_contact(f"r7-{next_hs_id()}@example.com", salesforce_contact_id=person.sf_id) for _ in range(n)]
    link(contacts[0], person)
    return person, contacts


def r9_group(n: int = 2) -> list[HsCompany]:
    account = sf_id("Account")
    companies = [HsCompany.objects.create(hs_id=next_hs_id(), name=f"Acme {i}", salesforce_account_id=account,
                                          created_at=T0, last_modified=T0) for i in range(n)]
    refresh_keys(DuplicateGroup.Kind.R9, [account])
    return companies


@pytest.fixture(scope="session")
def _server():
    with running_sandbox(seed=17) as server:
        yield server


@pytest.fixture
def crm(_server, settings, monkeypatch):
    """The sandbox, emptied, with the console's settings pointing at it (tests.conftest.use_sandbox)."""
    sb = use_sandbox(_server, settings, monkeypatch, order="insertion")
    yield sb
    sb.faults.clear()


def sync_cycle():
    """One sync cycle against the sandbox, the way the worker runs it."""
    from sync import services
    from sync.engine.cycle import run_cycle

    run = run_cycle(services.request_sync(full=False, actor=None, enqueue=False).pk)
    assert run.status == "succeeded", run.error
    return run


def salesforce_row(sb, sobject: str, sf_id: str) -> dict:
    """A Salesforce record (deleted ones too) read back through the real simple-salesforce client."""
    from sandbox.testing import salesforce_client

    rows = salesforce_client(sb.url).query_all(f"SELECT Id, IsDeleted, MasterRecordId FROM {sobject} WHERE Id = '{sf_id}'",
                        include_deleted=True)["records"]
    assert rows, f"{sobject} {sf_id} is not in Salesforce"
    return rows[0]
