"""Each search box says what it searches, in the words of its tab or page, and each thing it
names finds the row."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from sync.audit import record_event
from sync.engine.groups import refresh_keys
from sync.models import AuditEvent, DuplicateGroup
from tests.console.conftest import hs_contact, link, r2_group, r7_group, r9_group

pytestmark = pytest.mark.django_db


def placeholder(html: str) -> str:
    return re.search(r'<input type="search" name="q"[^>]*placeholder="([^"]*)"', html).group(1)


def groups_found(client, kind: str, q: str) -> int:
    return client.get(reverse("sync:duplicates"), {"kind": kind, "q": q}).context["page"].total


def test_r2_searches_email_name_or_salesforce_id(viewer_client):
    members = r2_group("ann.lee@example.com")
    html = viewer_client.get(reverse("sync:duplicates"), {"kind": "r2"}).content.decode()
    assert placeholder(html) == "email, name or Salesforce id"
    for q in ("ann.lee@", "Lee1", members[1].sf_id):
        assert groups_found(viewer_client, "r2", q) == 1, q


def test_r7_searches_the_salesforce_id_or_a_contacts_email_last_name_or_hubspot_id(viewer_client):
    person, contacts = r7_group()
    contacts[1].last_name = "Ortega"
    contacts[1].save()
    refresh_keys(DuplicateGroup.Kind.R7, [person.sf_id])   # as the run that pulled the new name does
    html = viewer_client.get(reverse("sync:duplicates"), {"kind": "r7"}).content.decode()
    assert placeholder(html) == "Salesforce id, email, name or HubSpot id"  # the contacts' (the tab says so)
    for q in (person.sf_id, contacts[1].email, "Ortega", contacts[1].first_name, contacts[1].hs_id):
        assert groups_found(viewer_client, "r7", q) == 1, q


def test_r9_searches_the_account_id_a_company_name_or_its_hubspot_id(viewer_client):
    companies = r9_group()
    html = viewer_client.get(reverse("sync:duplicates"), {"kind": "r9"}).content.decode()
    assert placeholder(html) == "account id, company name or HubSpot id"
    for q in (companies[0].salesforce_account_id, "Acme 1", companies[1].hs_id):
        assert groups_found(viewer_client, "r9", q) == 1, q


def test_contacts_search_email_name_hubspot_id_or_the_synced_salesforce_id(viewer_client):
    r2_group("bo@example.com", synced=1)  # another synced contact, which none of these finds
    contact = hs_contact("zed@example.com", first="Zed", last="Quinn")
    link(contact, r2_group("zed@example.com", synced=None)[0])
    html = viewer_client.get(reverse("sync:contacts")).content.decode()
    assert placeholder(html) == "email, name, HubSpot id or synced Salesforce id"
    for q in ("zed@", "Quinn", contact.hs_id, contact.link.sf_person.sf_id):
        rows = viewer_client.get(reverse("sync:contacts"), {"q": q}).context["page"].object_list
        assert [c.hs_id for c in rows] == [contact.hs_id], q


def test_audit_searches_a_record_id_or_name_or_the_message(viewer_client):
    record_event(action=AuditEvent.Action.LINK_CREATED, target_type="hubspot.contact", target_id="4711",
                 target_repr="Ann Lee", message="linked by R3")
    html = viewer_client.get(reverse("sync:audit")).content.decode()
    assert placeholder(html) == "record id or name, or words of the message"
    for q in ("4711", "Ann", "by R3"):
        assert len(viewer_client.get(reverse("sync:audit"), {"q": q}).context["events"]) == 1, q
