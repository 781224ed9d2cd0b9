"""sObject rows, upsert, Get Updated/Deleted, describe, limits and versions — with the real
simple-salesforce client over HTTP against the emulator."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from sandbox.ids import normalize


def lead(**kw):
    return {"LastName": "Doe", "Company": "Acme", **kw}


def test_create_get_update_delete(sf, sandbox):
    res = sf.Lead.create(lead(Email="Doe@Example.com", FirstName="Jo"))
    assert res["success"] is True and res["errors"] == [] and normalize(res["id"]) == res["id"]
    assert res["id"].startswith("00Q")
    got = sf.Lead.get(res["id"])
    assert got["attributes"] == {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{res['id']}"}
    assert got["Email"] == "Doe@Example.com" and got["IsDeleted"] is False and got["Status"] == "Open - Not Contacted"
    created = got["CreatedDate"]
    assert datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%f%z").tzinfo is not None and created.endswith(".000+0000")
    sandbox.advance_clock(5)
    assert sf.Lead.update(res["id"], {"Title": "CEO"}) == 204
    after = sf.Lead.get(res["id"], params={"fields": "Title,SystemModstamp,LastModifiedDate"})
    assert list(after) == ["attributes", "Title", "SystemModstamp", "LastModifiedDate"]
    assert after["Title"] == "CEO" and after["SystemModstamp"] > created and after["LastModifiedDate"] > created
    assert sf.Lead.delete(res["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as e:
        sf.Lead.get(res["id"])
    assert e.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    with pytest.raises(SalesforceResourceNotFound) as e:
        sf.Lead.update(res["id"], {"Title": "x"})
    assert e.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    q = sf.query_all(f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{res['id']}'", include_deleted=True)
    assert q["records"][0]["IsDeleted"] is True
    assert sf.query(f"SELECT Id FROM Lead WHERE Id = '{res['id']}'")["totalSize"] == 0


def test_15_char_id_accepted(sf):
    rid = sf.Account.create({"Name": "Acme"})["id"]
    assert sf.Account.get(rid[:15])["Id"] == rid


@pytest.mark.parametrize("body, code, fields", [
    ({"LastName": "Doe"}, "REQUIRED_FIELD_MISSING", ["Company"]),
    ({"Company": "Acme"}, "REQUIRED_FIELD_MISSING", ["LastName"]),
    (lead(Nope__c="x"), "INVALID_FIELD", ["Nope__c"]),
    (lead(Email="not-an-email"), "INVALID_EMAIL_ADDRESS", ["Email"]),
    (lead(LastName="x" * 81), "STRING_TOO_LONG", ["LastName"]),
    (lead(SystemModstamp="2024-01-01T00:00:00Z"), "INVALID_FIELD_FOR_INSERT_UPDATE", ["SystemModstamp"]),
])
def test_create_validation_errors(sf, body, code, fields):
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Lead.create(body)
    assert e.value.status == 400
    assert e.value.content[0]["errorCode"] == code and e.value.content[0]["fields"] == fields


def test_required_fields_message_and_opportunity_rules(sf):
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Lead.create({"Email": "a@b.co"})
    assert e.value.content[0]["message"] == "Required fields are missing: [LastName, Company]"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Opportunity.create({"Name": "Deal"})
    assert e.value.content[0]["fields"] == ["StageName", "CloseDate"]
    acc = sf.Account.create({"Name": "Acme"})["id"]
    opp = sf.Opportunity.create({"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2024-06-30",
                                 "Amount": 1000, "AccountId": acc})["id"]
    got = sf.Opportunity.get(opp)
    assert got["Amount"] == 1000.0 and got["CloseDate"] == "2024-06-30" and got["AccountId"] == acc
    assert "MasterRecordId" not in got   # opportunities cannot be merged


def test_bad_references(sf):
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Contact.create({"LastName": "X", "AccountId": "garbage"})
    assert e.value.content[0]["errorCode"] == "MALFORMED_ID"
    lead_id = sf.Lead.create(lead())["id"]
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Contact.create({"LastName": "X", "AccountId": lead_id})
    assert e.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_not_found_and_malformed_id(sf):
    with pytest.raises(SalesforceResourceNotFound) as e:
        sf.Contact.get("003Sb0000000000AAA"[:15])
    assert e.value.content == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND",
                                "fields": []}]
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Contact.get("xyz")
    assert e.value.content[0]["errorCode"] == "MALFORMED_ID" and e.value.content[0]["fields"] == ["Id"]
    with pytest.raises(SalesforceResourceNotFound):
        sf.Widget.get("003Sb0000000000")


def test_upsert_by_external_id(sf):
    assert sf.Contact.upsert("HubSpot_Contact_Id__c/101", {"LastName": "Ames", "Email": "a@x.com"}) == 201
    assert sf.Contact.upsert("HubSpot_Contact_Id__c/101", {"LastName": "Amos"}) == 204
    rows = sf.query("SELECT Id, LastName, HubSpot_Contact_Id__c FROM Contact")["records"]
    assert [(r["LastName"], r["HubSpot_Contact_Id__c"]) for r in rows] == [("Amos", "101")]
    got = sf.Contact.get_by_custom_id("HubSpot_Contact_Id__c", "101")
    assert got["Id"] == rows[0]["Id"]
    with pytest.raises(SalesforceResourceNotFound) as e:
        sf.Contact.upsert("Email/a@x.com", {"LastName": "Z"})
    assert e.value.content[0]["errorCode"] == "NOT_FOUND"
    # unique and case-insensitive
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Contact.create({"LastName": "Dup", "HubSpot_Contact_Id__c": "101"})
    assert e.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_upsert_multiple_matches_is_300(sf, sandbox):
    # Scenario data may predate the uniqueness rule; the API then answers 300 with both URLs.
    sandbox.load({"salesforce": {"Account": [{"Name": "A", "HubSpot_Company_Id__c": "7"},
                                             {"Name": "B", "HubSpot_Company_Id__c": "7"}]}})
    with pytest.raises(SalesforceMoreThanOneRecord) as e:
        sf.Account.upsert("HubSpot_Company_Id__c/7", {"Name": "C"})
    assert e.value.status == 300 and len(e.value.content) == 2
    assert all(u.startswith("/services/data/v59.0/sobjects/Account/001") for u in e.value.content)


def test_converted_lead_is_read_only(sf, sandbox_server, sandbox):
    lid = sf.Lead.create(lead(Email="c@x.com"))["id"]
    r = requests.post(f"{sandbox_server.url}/_sandbox/salesforce/convert-lead", json={"leadId": lid})
    assert r.status_code == 200
    out = r.json()
    assert sf.Contact.get(out["contactId"])["Email"] == "c@x.com"
    got = sf.Lead.get(lid)
    assert got["IsConverted"] is True and got["ConvertedContactId"] == out["contactId"]
    assert got["ConvertedAccountId"] == out["accountId"]
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Lead.update(lid, {"Title": "x"})
    assert e.value.content[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_updated_and_deleted_windows(sf, sandbox):
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    a = sf.Contact.create({"LastName": "A"})["id"]
    b = sf.Contact.create({"LastName": "B"})["id"]
    sf.Contact.delete(b)
    sandbox.advance_clock(120)
    end = datetime.now(timezone.utc) + timedelta(minutes=5)
    upd = sf.Contact.updated(start, end)
    assert upd["ids"] == [a]
    assert upd["latestDateCovered"].endswith(":00.000+0000")
    dele = sf.Contact.deleted(start, end)
    assert [d["id"] for d in dele["deletedRecords"]] == [b]
    assert {"earliestDateAvailable", "latestDateCovered"} <= set(dele)
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Contact.updated(end, start)
    assert e.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Contact.updated(start - timedelta(days=31), end)
    assert e.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_deleted_rows_are_purged_after_15_days(sf, sandbox):
    rid = sf.Contact.create({"LastName": "Gone"})["id"]
    sf.Contact.delete(rid)
    assert sf.query_all("SELECT Id FROM Contact", include_deleted=True)["totalSize"] == 1
    sandbox.advance_clock(16 * 86400)
    assert sf.query_all("SELECT Id FROM Contact", include_deleted=True)["totalSize"] == 0
    with pytest.raises(SalesforceResourceNotFound) as e:
        sf.Contact.get(rid)
    assert e.value.content[0]["errorCode"] == "NOT_FOUND"


def test_describe_limits_versions(sf, sandbox_server):
    d = sf.Lead.describe()
    fields = {f["name"]: f for f in d["fields"]}
    assert d["keyPrefix"] == "00Q"
    assert fields["HubSpot_Contact_Id__c"]["externalId"] is True and fields["HubSpot_Contact_Id__c"]["unique"] is True
    assert fields["Email"]["type"] == "email"
    assert {s["name"] for s in sf.describe()["sobjects"]} == {"Lead", "Contact", "Account", "Opportunity",
                                                               "LeadStatus", "OpportunityStage"}
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert limits["DailyApiRequests"]["Remaining"] == 100_000 - sf.api_usage["api-usage"].used
    versions = requests.get(f"{sandbox_server.url}/services/data/").json()
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
    r = requests.get(f"{sandbox_server.url}/services/data/v99.0/limits/", headers={"Authorization": "Bearer sandbox"})
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"


def test_other_api_versions_are_echoed(sandbox_server):
    from sandbox.testing import salesforce_client
    sf57 = salesforce_client(sandbox_server.url, version="57.0")
    rid = sf57.Account.create({"Name": "Acme"})["id"]
    rec = sf57.query("SELECT Id FROM Account")["records"][0]
    assert rec["attributes"]["url"] == f"/services/data/v57.0/sobjects/Account/{rid}"


def test_method_not_allowed(sf):
    with pytest.raises(SalesforceGeneralError) as e:
        sf.restful("limits", method="POST")
    assert e.value.status == 405


def test_touch_edits_without_api_usage(sf, sandbox_server, sandbox):
    rid = sf.Contact.create({"LastName": "T"})["id"]
    used = sandbox.salesforce.api_used
    r = requests.post(f"{sandbox_server.url}/_sandbox/salesforce/touch", json={"id": rid, "fields": {"Title": "VP"}})
    assert r.status_code == 200 and r.json()["Title"] == "VP"
    assert sandbox.salesforce.api_used == used
    r = requests.post(f"{sandbox_server.url}/_sandbox/salesforce/touch", json={"id": rid, "fields": {"Email": "bad"}})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_EMAIL_ADDRESS"
