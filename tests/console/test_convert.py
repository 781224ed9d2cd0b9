"""Lead + contact groups have a way forward: convert the lead into the contact (Salesforce's
convertLead() through SOAP, into the contact's account), after a preview of what happens in both
CRMs; audited; the lead's HubSpot contact follows it to the contact in the next run."""
from __future__ import annotations

import pytest
from django.urls import reverse

from sandbox.ids import IdFactory
from sync.models import AuditEvent, ContactLink, LinkStatus, SfPerson
from tests.conftest import client_for, restore_reference_data
from tests.console.test_merge import messages_of
from tests.engine.conftest import set_settings, sync_ok

pytestmark = pytest.mark.django_db(transaction=True)
URL = reverse("sync:convert_lead")
_ids = IdFactory(seed=41)
OLD = "2024-01-01T00:00:00.000+0000"


@pytest.fixture
def group(crm):
    return lead_and_contact(crm)


def lead_and_contact(crm) -> tuple[str, str, str]:
    """Lead L and contact C (of account A) share ann@example.com; HubSpot contact 101 syncs with L."""
    restore_reference_data()
    set_settings(create_hubspot_contacts=False, create_salesforce_leads=False)
    account = {"Id": _ids.new("Account"), "Name": "Acme", "LastModifiedDate": OLD}
    contact = {"Id": _ids.new("Contact"), "LastName": "Ann", "Email": "ann@example.com", "AccountId": account["Id"],
               "LastModifiedDate": OLD}
    lead = {"Id": _ids.new("Lead"), "LastName": "Ann", "Company": "Acme", "Email": "ann@example.com",
            "LastModifiedDate": OLD}
    crm.load({"salesforce": {"Account": [account], "Contact": [contact], "Lead": [lead]},
              "hubspot": {"contacts": [{"id": "101", "properties": {"email": "ann@example.com", "lastname": "Ann",
                                                                    "salesforceleadid": lead["Id"]}}]}})
    sync_ok(full=True)
    return lead["Id"], contact["Id"], account["Id"]


def test_a_lead_and_contact_group_offers_the_conversion(group, operator_client):
    html = operator_client.get(reverse("sync:duplicates"), {"kind": "r2"}).content.decode()
    assert "Convert the lead into this contact" in html


def test_the_preview_says_what_happens_in_both_crms(group, operator_client):
    lead, contact, account = group
    response = operator_client.get(URL, {"key": "ann@example.com"})
    html = response.content.decode()
    assert response.context["preview"].lead.sf_id == lead and response.context["preview"].contact.sf_id == contact
    assert "is converted into contact" in html and account in html
    assert "HubSpot contact <a" in html and "follows it and syncs with the contact" in html
    assert not AuditEvent.objects.filter(action="record_merged").exists()   # a preview changes nothing


def test_the_conversion_is_done_audited_and_followed_in_hubspot(group, crm, operator_client, operator, hs, sf):
    lead, contact, account = group
    response = operator_client.post(URL, {"key": "ann@example.com", "lead": lead, "contact": contact, "confirm": "1"},
                                    follow=True)
    assert messages_of(response)[0].startswith(f"Converted lead {lead} into contact {contact}.")
    [row] = sf.query(f"SELECT IsConverted, ConvertedContactId, ConvertedAccountId FROM Lead WHERE Id = '{lead}'")["records"]
    assert (row["IsConverted"], row["ConvertedContactId"], row["ConvertedAccountId"]) == (True, contact, account)
    assert SfPerson.objects.get(sf_id=lead).is_converted
    event = AuditEvent.objects.get(action="record_merged", rule="R2")
    assert event.actor == operator and event.after["hubspot_contact_follows"] == "101"
    sync_ok()
    link = ContactLink.objects.get(hs_contact__hs_id="101")
    assert (link.status, link.sf_person.sf_id) == (LinkStatus.SYNCED, contact)
    assert hs.crm.contacts.basic_api.get_by_id("101", properties=["salesforcecontactid"]).properties[
        "salesforcecontactid"] == contact


def test_a_contact_without_an_account_is_refused_in_words(group, crm, operator_client):
    lead, contact, _ = group
    SfPerson.objects.filter(sf_id=contact).update(account_id="")
    html = operator_client.get(URL, {"key": "ann@example.com"}).content.decode()
    assert "belongs to no account" in html and 'name="confirm"' not in html
    response = operator_client.post(URL, {"key": "ann@example.com", "lead": lead, "contact": contact, "confirm": "1"},
                                    follow=True)
    assert messages_of(response)[0].startswith("The conversion did not complete: ")
    assert not SfPerson.objects.get(sf_id=lead).is_converted


def test_only_operators_convert_and_only_with_the_csrf_token(group, viewer_client, operator):
    lead, contact, _ = group
    data = {"key": "ann@example.com", "lead": lead, "contact": contact, "confirm": "1"}
    assert viewer_client.post(URL, data).status_code == 403
    assert client_for(operator, csrf=True).post(URL, data).status_code == 403
    assert not SfPerson.objects.get(sf_id=lead).is_converted
