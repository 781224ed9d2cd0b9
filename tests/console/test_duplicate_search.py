"""The duplicate tabs' search finds a group by what its help text names: R2 by email, first or last
name (any part, any case) or a member's Salesforce id; R7 by the Salesforce id, or a contact's
email, last name or HubSpot id; R9 by the account id, a company's name or HubSpot id. The members
are searched once for their groups' keys (sync.queries._search); past KEY_LIST_CAP keys the search
stays a subquery, with the same answers."""
from __future__ import annotations

import pytest
from django.urls import reverse

from sync import queries
from sync.models import HsCompany, HsContact, SfPerson
from tests.console.conftest import hs_contact, r2_group, r7_group, r9_group, sf_person

pytestmark = pytest.mark.django_db
URL = reverse("sync:duplicates")


def found(client, kind: str, q: str) -> list[str]:
    return [g.key for g in client.get(URL, {"kind": kind, "q": q}).context["page"].groups]


@pytest.fixture(params=[False, True], ids=["key list", "subquery past the cap"])
def cap(request, monkeypatch):
    if request.param:
        monkeypatch.setattr(queries, "KEY_LIST_CAP", 0)


def test_r2_finds_a_group_by_first_name_last_name_email_or_salesforce_id(viewer_client, cap):
    ann = r2_group("ann.lee@example.com")
    SfPerson.objects.filter(pk=ann[1].pk).update(first_name="Annabel", last_name="Okafor")
    r2_group("bo.diaz@example.com")
    sf_person("annabel.alone@example.com", first="Annabel")  # no group: never found
    for q in ("Annabel", "nnab", "OKAFOR", "kafo", "ann.lee@", "ANN.LEE@EXAMPLE.COM ", ann[0].sf_id):
        assert found(viewer_client, "r2", q) == ["ann.lee@example.com"], q
    assert found(viewer_client, "r2", "Lee") == ["ann.lee@example.com", "bo.diaz@example.com"]  # last names Lee0, Lee1
    assert found(viewer_client, "r2", ann[0].sf_id[:10]) == []  # an id matches whole, not in part


def test_r2_does_not_find_a_group_by_a_member_that_left_it(viewer_client, cap):
    members = r2_group("ann.lee@example.com", size=3)
    SfPerson.objects.filter(pk=members[2].pk).update(is_deleted=True, last_name="Gone")
    assert found(viewer_client, "r2", "Gone") == []
    assert found(viewer_client, "r2", members[2].sf_id) == []


def test_r7_finds_a_group_by_salesforce_id_email_last_name_or_hubspot_id(viewer_client, cap):
    person, contacts = r7_group()
    HsContact.objects.filter(pk=contacts[1].pk).update(last_name="Ortega")
    other, _ = r7_group()
    for q in (person.sf_id, contacts[1].email, contacts[1].email.upper()[:8], "ortega", "rteg", contacts[1].hs_id):
        assert found(viewer_client, "r7", q) == [person.sf_id], q
    assert sorted(found(viewer_client, "r7", "Lee")) == sorted([person.sf_id, other.sf_id])


def test_r7_finds_contacts_that_carry_a_lead_id(viewer_client, cap):
    lead = sf_person("lead@example.com", object_type="Lead")
    contacts = [hs_contact(f"l{i}@example.com", last=f"Nakamura{i}", salesforce_lead_id=lead.sf_id) for i in range(2)]
    for q in ("nakamura1", contacts[0].hs_id, "l0@", lead.sf_id):
        assert found(viewer_client, "r7", q) == [lead.sf_id], q


def test_r9_finds_a_group_by_account_id_company_name_or_hubspot_id(viewer_client, cap):
    companies = r9_group()
    HsCompany.objects.filter(pk=companies[1].pk).update(name="Globex Corporation")
    account = companies[0].salesforce_account_id
    r9_group()
    for q in (account, "globex", "X CORP", companies[1].hs_id):
        assert found(viewer_client, "r9", q) == [account], q
    assert len(found(viewer_client, "r9", "acme")) == 2


def test_the_total_counts_every_matching_group_past_the_first_page(viewer_client, cap):
    for i in range(23):
        r2_group(f"p{i:02}@example.com", synced=None)
    page = viewer_client.get(URL, {"q": "lee1"}).context["page"]  # every group's second member is Lee1
    assert (page.total, page.pages, len(page.groups)) == (23, 2, 20)
    assert viewer_client.get(URL, {"q": "lee1", "page": 2}).context["page"].groups[-1].key == "p22@example.com"
