"""The duplicate tabs' search finds a group by what its help text names, any part, any case: R2 by
email, first or last name or a member's Salesforce id; R7 by the Salesforce id, or a contact's
email, name or HubSpot id; R9 by the account id, a company's name or HubSpot id. It reads the
group's search text (DuplicateGroup.search), which the groups' refresh writes from the live
members, as a sync run's end does; the same text is written by migration 0018 for groups that
existed before it."""
from __future__ import annotations

import pytest
from django.urls import reverse

from sync.engine.groups import DEFINITIONS, refresh_all
from sync.models import HsCompany, HsContact, SfPerson
from tests.console.conftest import hs_contact, r2_group, r7_group, r9_group, sf_person

pytestmark = pytest.mark.django_db
URL = reverse("sync:duplicates")


def found(client, kind: str, q: str) -> list[str]:
    return [g.key for g in client.get(URL, {"kind": kind, "q": q}).context["page"].groups]


def refresh() -> None:
    """What the end of a sync run does after the pull brought the members' new names."""
    for kind in DEFINITIONS:
        refresh_all(kind)


def test_r2_finds_a_group_by_first_name_last_name_email_or_salesforce_id(viewer_client):
    ann = r2_group("ann.lee@example.com")
    SfPerson.objects.filter(pk=ann[1].pk).update(first_name="Annabel", last_name="Okafor")
    r2_group("bo.diaz@example.com")
    sf_person("annabel.alone@example.com", first="Annabel")  # no group: never found
    refresh()
    for q in ("Annabel", "nnab", "OKAFOR", "kafo", "ann.lee@", "ANN.LEE@EXAMPLE.COM ", ann[0].sf_id):
        assert found(viewer_client, "r2", q) == ["ann.lee@example.com"], q
    assert found(viewer_client, "r2", "Lee") == ["ann.lee@example.com", "bo.diaz@example.com"]  # last names Lee0, Lee1
    assert found(viewer_client, "r2", ann[0].sf_id[-6:]) == ["ann.lee@example.com"]  # an id in part, too
    assert found(viewer_client, "r2", "Annabel Okafor") == ["ann.lee@example.com"]  # a whole name
    assert found(viewer_client, "r2", "Okafor ann.lee") == []  # a search text is never one member's end and the next's start


def test_r2_does_not_find_a_group_by_a_member_that_left_it(viewer_client):
    members = r2_group("ann.lee@example.com", size=3)
    SfPerson.objects.filter(pk=members[2].pk).update(is_deleted=True, last_name="Gone")
    refresh()
    assert found(viewer_client, "r2", "Gone") == []
    assert found(viewer_client, "r2", members[2].sf_id) == []


def test_r7_finds_a_group_by_salesforce_id_email_last_name_or_hubspot_id(viewer_client):
    person, contacts = r7_group()
    HsContact.objects.filter(pk=contacts[1].pk).update(last_name="Ortega")
    other, _ = r7_group()
    refresh()
    for q in (person.sf_id, contacts[1].email, contacts[1].email.upper()[:8], "ortega", "rteg", contacts[1].hs_id):
        assert found(viewer_client, "r7", q) == [person.sf_id], q
    assert sorted(found(viewer_client, "r7", "Lee")) == sorted([person.sf_id, other.sf_id])


def test_r7_finds_contacts_that_carry_a_lead_id(viewer_client):
    lead = sf_person("lead@example.com", object_type="Lead")
    contacts = [hs_contact(f"l{i}@example.com", last=f"Nakamura{i}", salesforce_lead_id=lead.sf_id) for i in range(2)]
    for q in ("nakamura1", contacts[0].hs_id, "l0@", lead.sf_id):
        assert found(viewer_client, "r7", q) == [lead.sf_id], q


def test_r9_finds_a_group_by_account_id_company_name_or_hubspot_id(viewer_client):
    companies = r9_group()
    HsCompany.objects.filter(pk=companies[1].pk).update(name="Globex Corporation")
    account = companies[0].salesforce_account_id
    r9_group()
    refresh()
    for q in (account, "globex", "X CORP", companies[1].hs_id):
        assert found(viewer_client, "r9", q) == [account], q
    assert len(found(viewer_client, "r9", "acme")) == 2


def test_the_total_counts_every_matching_group_past_the_first_page(viewer_client):
    for i in range(23):
        r2_group(f"p{i:02}@example.com", synced=None)
    page = viewer_client.get(URL, {"q": "lee1"}).context["page"]  # every group's second member is Lee1
    assert (page.total, page.pages, len(page.groups)) == (23, 2, 20)
    assert viewer_client.get(URL, {"q": "lee1", "page": 2}).context["page"].groups[-1].key == "p22@example.com"


def test_migration_0018_fills_existing_groups_with_the_text_a_refresh_writes():
    from importlib import import_module

    from django.apps import apps

    from sync.models import DuplicateGroup

    r2_group("ann.lee@example.com", size=3)
    r7_group()
    lead = sf_person("lead@example.com", object_type="Lead")
    for i in range(2):
        hs_contact(f"l{i}@example.com", last=f"Nakamura{i}", salesforce_lead_id=lead.sf_id)
    r9_group()
    refresh()

    def texts() -> dict:
        return {(g.kind, g.key): sorted(g.search.splitlines()) for g in DuplicateGroup.objects.all()}

    written = texts()
    assert len(written) == 4 and all(written.values())
    DuplicateGroup.objects.update(search="")
    import_module("sync.migrations.0018_search_text").fill(apps, None)
    assert texts() == written
