"""What people do in Salesforce that the sync must follow, through SOAP as an admin's tool does:
a lead converted into a contact (its HubSpot contact moves with it, audited), and a record
brought back from the recycle bin (live again, back in its duplicate group; the HubSpot contact
that was left unsynced when it was deleted stays so until a person resyncs it, as R5/R8 say)."""
from __future__ import annotations

import pytest

from sandbox.ids import IdFactory
from sync import services
from sync.models import AuditEvent, ContactLink, DuplicateGroup, LinkStatus, SfPerson
from tests.engine.conftest import set_settings, sync_ok, synced_id

pytestmark = pytest.mark.django_db(transaction=True)
A = AuditEvent.Action
_ids = IdFactory(seed=31)
OLD = "2024-01-01T00:00:00.000+0000"


def _soap(crm, call: str, inner: str) -> str:
    import requests

    envelope = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com">'
                '<soapenv:Header><urn:SessionHeader><urn:sessionId>sandbox-person</urn:sessionId></urn:SessionHeader>'
                f"</soapenv:Header><soapenv:Body><urn:{call}>{inner}</urn:{call}></soapenv:Body></soapenv:Envelope>")
    response = requests.post(f"{crm.url}/services/Soap/u/59.0", data=envelope.encode(),
                             headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": call}, timeout=10)
    assert response.status_code == 200 and "<success>true</success>" in response.text, response.text
    return response.text


def test_a_converted_lead_takes_its_hubspot_contact_to_the_contact_it_became(crm, sf, hs):
    set_settings(create_hubspot_contacts=False)
    lead = {"Id": _ids.new("Lead"), "LastName": "Ng", "Company": "Acme", "Email": "ng@example.com",
            "LastModifiedDate": OLD, "CreatedDate": OLD}
    crm.load({"salesforce": {"Lead": [lead]},
              "hubspot": {"contacts": [{"id": "101", "properties": {"email": "ng@example.com", "lastname": "Ng"}}]}})
    sync_ok(full=True)
    assert synced_id(hs, 101) == ("Lead", lead["Id"])
    answer = _soap(crm, "convertLead", f"<urn:leadConverts><urn:leadId>{lead['Id']}</urn:leadId>"
                                       "<urn:convertedStatus>Closed - Converted</urn:convertedStatus>"
                                       "<urn:doNotCreateOpportunity>true</urn:doNotCreateOpportunity></urn:leadConverts>")
    contact_id = answer.split("<contactId>")[1].split("</contactId>")[0]
    sync_ok()
    assert synced_id(hs, 101) == ("Contact", contact_id)
    [event] = AuditEvent.objects.filter(action=A.LINK_SWITCHED, target_id="101")
    assert event.before["sf_id"] == lead["Id"] and event.after["sf_id"] == contact_id
    assert f"Lead {lead['Id']} was converted into contact {contact_id}" in event.message


def test_an_undeleted_record_is_live_again_and_its_unsynced_contact_waits_for_a_resync(crm, sf, hs, django_user_model):
    set_settings(create_hubspot_contacts=False, create_salesforce_leads=False)
    a = {"Id": _ids.new("Lead"), "LastName": "Ida", "Company": "Acme", "Email": "ida@example.com",
         "LastModifiedDate": OLD, "CreatedDate": OLD}
    b = {"Id": _ids.new("Contact"), "LastName": "Ida", "Email": "ida@example.com", "LastModifiedDate": OLD,
         "CreatedDate": OLD}
    crm.load({"salesforce": {"Lead": [a], "Contact": [b]},
              "hubspot": {"contacts": [{"id": "101", "properties": {"email": "ida@example.com", "lastname": "Ida",
                                                                    "salesforceleadid": a["Id"]}}]}})
    sync_ok(full=True)
    assert DuplicateGroup.objects.filter(kind="r2", key="ida@example.com", size=2).exists()
    sf.Lead.delete(a["Id"])
    sync_ok()
    assert ContactLink.objects.get(hs_contact__hs_id="101").status == LinkStatus.UNSYNCED
    assert not DuplicateGroup.objects.filter(kind="r2", key="ida@example.com").exists()

    _soap(crm, "undelete", f"<urn:ids>{a['Id']}</urn:ids>")
    sync_ok()
    assert not SfPerson.objects.get(sf_id=a["Id"]).is_deleted                     # live again
    assert DuplicateGroup.objects.filter(kind="r2", key="ida@example.com", size=2).exists()  # back in its group
    assert ContactLink.objects.get(hs_contact__hs_id="101").status == LinkStatus.UNSYNCED    # until a person resyncs
    assert synced_id(hs, 101) == ("", "")
    [result] = services.resync_contacts(hs_ids=["101"], actor=django_user_model.objects.create_user("rae"))
    assert result.ok and result.sf_id == a["Id"]     # R6: R4's most recently updated — the undeleted lead
    assert synced_id(hs, 101) == ("Lead", a["Id"])
