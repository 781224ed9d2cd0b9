"""The engine reads a chunk of records with a fixed number of queries, however many records the
chunk holds: no query per record (a deferred column read by mistake would be one per row, and at
a million people, hours). Mirror rows only: these decisions need no CRM call (the contacts
already carry their Salesforce id, the pair's fields already agree), so the connectors are
stand-ins that would fail on any call."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sync.engine import contacts, fields
from sync.engine.context import RunContext
from sync.engine.pull import Touched
from sync.models import ContactLink, HsContact, SfPerson, SyncRun, SyncSettings

pytestmark = pytest.mark.django_db


class NoCalls:
    """A connector that counts nothing and refuses every request."""

    budget = SimpleNamespace(calls=0)

    def __getattr__(self, name):
        raise AssertionError(f"no CRM call expected, got {name}")


def mirror(n: int, start: int) -> None:
    now = timezone.now()
    for i in range(start, start + n):
        email = f"p{i}@example.com"
        sf_id = f"003{i:015d}"
        SfPerson.objects.create(sf_id=sf_id, object_type="Contact", email=email, email_key=email, last_name=f"P{i}",
                                system_modstamp=now, pull_seq=i,
                                raw={"Id": sf_id, "Email": email, "LastName": f"P{i}", "FirstName": "Ann"})
        HsContact.objects.create(hs_id=str(1000 + i), email=email, last_name=f"P{i}", salesforce_contact_id=sf_id,
                                 last_modified=now, raw={"id": str(1000 + i), "properties": {
                                     "email": email, "lastname": f"P{i}", "firstname": "Ann"}})


def queries(step, touched: Touched | None = None) -> tuple[int, RunContext]:
    run = SyncRun.objects.filter(status="running").first() or SyncRun.objects.create(status="running")
    ctx = RunContext(run=run, settings=SyncSettings.load(), sf=NoCalls(), hs=NoCalls())
    with CaptureQueriesContext(connection) as captured:
        step(ctx, touched or Touched(everything=True))
    return len(captured), ctx


def touched_contacts() -> Touched:
    """An incremental run's scope: every contact and person, on both sides."""
    return Touched(hs_contact_ids=set(HsContact.objects.values_list("hs_id", flat=True)),
                   sf_ids=set(SfPerson.objects.values_list("sf_id", flat=True)))


def test_reconcile_and_field_sync_read_a_chunk_in_a_fixed_number_of_queries():
    """R1 links each contact to its one email match (the id it carries already: nothing to write);
    field sync then finds every pair's fields equal (nothing to write either)."""
    mirror(5, 0)
    small, ctx = queries(contacts.reconcile_contacts)
    ctx.run.refresh_from_db()
    assert ctx.run.linked == 5 and ContactLink.objects.count() == 5
    small_fields, _ = queries(fields.sync_fields)
    small_touched, _ = queries(fields.sync_fields, touched_contacts())

    mirror(150, 5)
    ContactLink.objects.all().delete()
    large, ctx = queries(contacts.reconcile_contacts)
    ctx.run.refresh_from_db()
    assert ctx.run.linked == 5 + 155 and ContactLink.objects.count() == 155
    assert large == small, f"reconcile: {small} queries for 5 contacts, {large} for 155"
    large_fields, _ = queries(fields.sync_fields)
    assert large_fields == small_fields, f"field sync: {small_fields} queries for 5 pairs, {large_fields} for 155"
    large_touched, _ = queries(fields.sync_fields, touched_contacts())  # an incremental run's: by id
    assert large_touched == small_touched, f"incremental field sync: {small_touched} for 5, {large_touched} for 155"
    assert ctx.run.field_changes == 0
