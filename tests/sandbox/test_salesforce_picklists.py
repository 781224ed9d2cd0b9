"""Describe as a real org sends it, restricted picklists and string lengths on every write path,
and the read-only value-set objects (OpportunityStage, LeadStatus) — through simple-salesforce."""
from __future__ import annotations

import pytest
import requests
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest

from tests.sandbox.test_salesforce_merge import NS, merge

ET = pytest.importorskip("xml.etree.ElementTree")

FIELD_KEYS = {"name", "label", "type", "length", "nillable", "createable", "updateable", "unique", "externalId",
              "idLookup", "referenceTo", "relationshipName", "defaultValue", "picklistValues", "restrictedPicklist",
              "soapType", "byteLength", "defaultedOnCreate", "precision", "scale", "digits", "calculated"}
LEAD_STATUSES = ["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"]
LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]
STAGES = ["Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
          "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"]


def rec(t, **kw):
    return {"attributes": {"type": t}, **kw}


def lead(**kw):
    return {"LastName": "Doe", "Company": "Acme", **kw}


def bad_picklist(label, field, value):
    return {"message": f"{label}: bad value for restricted picklist field: {value}",
            "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "fields": [field]}


# -- describe ---------------------------------------------------------------------------------------

def test_lead_describe_has_what_a_sync_reads(sf):
    d = sf.Lead.describe()
    assert d["name"] == "Lead" and d["keyPrefix"] == "00Q" and d["mergeable"] is True and d["undeletable"] is True
    fields = {f["name"]: f for f in d["fields"]}
    for f in fields.values():
        assert FIELD_KEYS <= set(f), f["name"]
    status = fields["Status"]
    assert (status["type"], status["length"], status["restrictedPicklist"], status["nillable"],
            status["defaultedOnCreate"]) == ("picklist", 40, True, False, True)
    assert status["picklistValues"] == [
        {"active": True, "defaultValue": v == "Open - Not Contacted", "label": v, "validFor": None, "value": v}
        for v in LEAD_STATUSES]
    assert [v["value"] for v in fields["LeadSource"]["picklistValues"]] == LEAD_SOURCES
    assert fields["LeadSource"]["restrictedPicklist"] is True and fields["LeadSource"]["nillable"] is True
    email = fields["Email"]
    assert (email["type"], email["length"], email["soapType"], email["picklistValues"],
            email["restrictedPicklist"]) == ("email", 80, "xsd:string", [], False)
    ext = fields["HubSpot_Contact_Id__c"]
    assert ext["externalId"] and ext["unique"] and ext["idLookup"] and ext["custom"] and ext["length"] == 255
    assert fields["Id"]["type"] == "id" and fields["Id"]["createable"] is False and fields["Id"]["idLookup"]
    assert fields["LastName"]["nillable"] is False and fields["FirstName"]["nillable"] is True
    assert fields["IsConverted"]["type"] == "boolean" and fields["IsConverted"]["defaultValue"] is False
    assert fields["IsConverted"]["updateable"] is False
    conv = fields["ConvertedOpportunityId"]
    assert conv["referenceTo"] == ["Opportunity"] and conv["relationshipName"] == "ConvertedOpportunity"
    assert fields["MasterRecordId"]["referenceTo"] == ["Lead"]
    assert fields["Description"]["type"] == "textarea" and fields["Description"]["length"] == 32000
    assert fields["SystemModstamp"]["type"] == "datetime" and fields["SystemModstamp"]["nillable"] is False


def test_other_describes(sf):
    contact = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert contact["AccountId"]["referenceTo"] == ["Account"] and contact["AccountId"]["relationshipName"] == "Account"
    assert [v["value"] for v in contact["LeadSource"]["picklistValues"]] == LEAD_SOURCES
    account = sf.Account.describe()
    afields = {f["name"]: f for f in account["fields"]}
    assert afields["Website"]["type"] == "url" and afields["Phone"]["type"] == "phone"
    assert {r["relationshipName"] for r in account["childRelationships"]} == {"Contacts", "Opportunities"}
    opp = sf.Opportunity.describe()
    ofields = {f["name"]: f for f in opp["fields"]}
    assert opp["mergeable"] is False and "MasterRecordId" not in ofields
    stage = ofields["StageName"]
    assert stage["label"] == "Stage" and stage["restrictedPicklist"] is True and stage["nillable"] is False
    assert [v["value"] for v in stage["picklistValues"]] == STAGES
    assert not any(v["defaultValue"] for v in stage["picklistValues"])
    assert (ofields["Amount"]["type"], ofields["Amount"]["precision"], ofields["Amount"]["scale"]) == ("currency", 18, 2)
    assert ofields["CloseDate"]["type"] == "date" and ofields["CloseDate"]["soapType"] == "xsd:date"


def test_describe_is_not_shared_state(sf):
    d = sf.Lead.describe()
    d["fields"][0]["label"] = "mangled"
    assert sf.Lead.describe()["fields"][0]["label"] == "Lead ID"


# -- restricted picklists on every write path ----------------------------------------------------------

def test_single_record_create_update_upsert(sf):
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Lead.create(lead(Status="Qualified"))
    assert e.value.content == [bad_picklist("Status", "Status", "Qualified")]
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Lead.create(lead(LeadSource="web"))           # values are matched exactly
    assert e.value.content == [bad_picklist("Lead Source", "LeadSource", "web")]
    lid = sf.Lead.create(lead(Status="Working - Contacted", LeadSource="Web"))["id"]
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Lead.update(lid, {"Status": "Nurture"})
    assert e.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Lead.update(lid, {"Status": None})          # required, defaulted on create only
    assert e.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING" and e.value.content[0]["fields"] == ["Status"]
    assert sf.Lead.get(lid)["Status"] == "Working - Contacted"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.Opportunity.upsert("HubSpot_Deal_Id__c/9", {"Name": "D", "StageName": "closedwon",
                                                       "CloseDate": "2024-01-01"})
    assert e.value.content == [bad_picklist("Stage", "StageName", "closedwon")]
    assert sf.Opportunity.upsert("HubSpot_Deal_Id__c/9", {"Name": "D", "StageName": "Closed Won",
                                                          "CloseDate": "2024-01-01"}) == 201
    with pytest.raises(SalesforceMalformedRequest):
        sf.Opportunity.upsert("HubSpot_Deal_Id__c/9", {"StageName": "Won"})
    assert sf.Opportunity.get_by_custom_id("HubSpot_Deal_Id__c", "9")["StageName"] == "Closed Won"
    assert sf.Contact.create({"LastName": "C", "LeadSource": "Partner Referral"})["success"] is True


def test_collections_create_update_upsert(sf):
    res = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        rec("Lead", LastName="A", Company="X", Status="Open - Not Contacted"),
        rec("Lead", LastName="B", Company="X", Status="Open"),
        rec("Opportunity", Name="O", StageName="Stage 1", CloseDate="2024-01-01")]})
    assert res[0]["success"] is True
    assert res[1] == {"success": False, "errors": [{"statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                                    "message": "Status: bad value for restricted picklist field: Open",
                                                    "fields": ["Status"]}]}
    assert res[2]["errors"][0]["message"] == "Stage: bad value for restricted picklist field: Stage 1"
    lid = res[0]["id"]
    res = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": [
        rec("Lead", Id=lid, Title="CEO"), rec("Lead", Id=lid, LeadSource="Trade Show")]})
    assert [r["errors"][0]["statusCode"] for r in res] == ["ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                                          "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"]
    assert sf.Lead.get(lid)["Title"] is None
    res = sf.restful("composite/sobjects/Contact/HubSpot_Contact_Id__c", method="PATCH", json={
        "allOrNone": False, "records": [rec("Contact", HubSpot_Contact_Id__c="1", LastName="A", LeadSource="Other"),
                                        rec("Contact", HubSpot_Contact_Id__c="2", LastName="B", LeadSource="Event")]})
    assert res[0]["success"] is True and res[0]["created"] is True
    assert res[1]["errors"][0] == {"statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "fields": ["LeadSource"],
                                   "message": "Lead Source: bad value for restricted picklist field: Event"}


def test_soap_merge_master_values_are_checked(sf):
    a = sf.Lead.create(lead())["id"]
    b = sf.Lead.create(lead())["id"]
    r = merge(sf, "Lead", a, [b], fields="<urn1:Status>Merged</urn1:Status>")
    result = ET.fromstring(r.content).find(".//s:result", NS)
    assert result.find("s:success", NS).text == "false"
    assert result.find("s:errors/s:statusCode", NS).text == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert result.find("s:errors/s:message", NS).text == "Status: bad value for restricted picklist field: Merged"
    assert result.find("s:errors/s:fields", NS).text == "Status"
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 2   # nothing merged
    r = merge(sf, "Lead", a, [b], fields="<urn1:LeadSource>Web</urn1:LeadSource>")
    assert ET.fromstring(r.content).find(".//s:result/s:success", NS).text == "true"
    assert sf.Lead.get(a)["LeadSource"] == "Web"


def test_touch_is_checked_too(sf, sandbox_server):
    cid = sf.Contact.create({"LastName": "T"})["id"]
    r = requests.post(f"{sandbox_server.url}/_sandbox/salesforce/touch", json={"id": cid,
                                                                              "fields": {"LeadSource": "Fax"}})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


# -- string lengths -----------------------------------------------------------------------------------

@pytest.mark.parametrize("sobject, field, label, value, length", [
    ("Lead", "Title", "Title", "t" * 129, 128),                                    # string
    ("Lead", "Email", "Email", "a" * 70 + "@example.com", 80),                     # email (valid syntax)
    ("Lead", "Phone", "Phone", "1" * 41, 40),                                      # phone
    ("Lead", "Description", "Description", "d" * 32001, 32000),                    # textarea
    ("Account", "Website", "Website", "https://" + "w" * 250, 255),                # url
    ("Contact", "HubSpot_Contact_Id__c", "HubSpot Contact ID", "9" * 256, 255),    # external id
    ("Opportunity", "Name", "Name", "n" * 121, 120),
])
def test_string_too_long(sf, sobject, field, label, value, length):
    base = {"Lead": lead(), "Account": {"Name": "A"}, "Contact": {"LastName": "C"},
            "Opportunity": {"Name": "O", "StageName": "Prospecting", "CloseDate": "2024-01-01"}}[sobject]
    with pytest.raises(SalesforceMalformedRequest) as e:
        getattr(sf, sobject).create(base | {field: value})
    assert e.value.content == [{"message": f"{label}: data value too large: {value} (max length={length})",
                                "errorCode": "STRING_TOO_LONG", "fields": [field]}]
    assert getattr(sf, sobject).create(base | {field: value[:length - 1] + value[-1]})["success"] is True


def test_string_too_long_in_collections_and_invalid_email_first(sf):
    res = sf.restful("composite/sobjects", method="POST", json={"records": [
        rec("Contact", LastName="x" * 81), rec("Contact", LastName="Y", Email="not an email" + "x" * 80)]})
    assert res[0]["errors"][0]["statusCode"] == "STRING_TOO_LONG" and res[0]["errors"][0]["fields"] == ["LastName"]
    assert res[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"     # syntax is checked before length
    assert res[1]["errors"][0]["message"].startswith("Email: invalid email address: not an email")


# -- the value-set objects -----------------------------------------------------------------------------

def test_opportunity_stage_query(sf):
    rows = sf.query("SELECT ApiName, DefaultProbability, IsClosed, IsWon FROM OpportunityStage "
                    "WHERE IsActive = true ORDER BY SortOrder")["records"]
    assert [(r["ApiName"], r["DefaultProbability"], r["IsClosed"], r["IsWon"]) for r in rows] == [
        ("Prospecting", 10.0, False, False), ("Qualification", 10.0, False, False),
        ("Needs Analysis", 20.0, False, False), ("Value Proposition", 50.0, False, False),
        ("Id. Decision Makers", 60.0, False, False), ("Perception Analysis", 70.0, False, False),
        ("Proposal/Price Quote", 75.0, False, False), ("Negotiation/Review", 90.0, False, False),
        ("Closed Won", 100.0, True, True), ("Closed Lost", 0.0, True, False)]
    assert rows[0]["attributes"]["type"] == "OpportunityStage"
    forecast = sf.query("SELECT MasterLabel, ForecastCategoryName FROM OpportunityStage WHERE IsClosed = true "
                        "ORDER BY SortOrder")["records"]
    assert [(r["MasterLabel"], r["ForecastCategoryName"]) for r in forecast] == [("Closed Won", "Closed"),
                                                                                ("Closed Lost", "Omitted")]
    assert sf.query("SELECT COUNT() FROM OpportunityStage WHERE DefaultProbability >= 70")["totalSize"] == 4
    # the picklist and the object agree
    stages = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}["StageName"]["picklistValues"]
    assert [v["value"] for v in stages] == [r["ApiName"] for r in rows]


def test_lead_status_query_and_describe(sf):
    rows = sf.query("SELECT ApiName, MasterLabel, IsConverted, IsDefault, SortOrder FROM LeadStatus "
                    "ORDER BY SortOrder")["records"]
    assert [(r["ApiName"], r["IsConverted"], r["IsDefault"], r["SortOrder"]) for r in rows] == [
        ("Open - Not Contacted", False, True, 1), ("Working - Contacted", False, False, 2),
        ("Closed - Converted", True, False, 3), ("Closed - Not Converted", False, False, 4)]
    converted = sf.query("SELECT ApiName FROM LeadStatus WHERE IsConverted = true")["records"]
    assert [r["ApiName"] for r in converted] == ["Closed - Converted"]
    d = sf.LeadStatus.describe()
    assert d["createable"] is False and d["updateable"] is False and d["deletable"] is False
    assert d["queryable"] is True and d["keyPrefix"] == "01J"
    assert {f["name"] for f in d["fields"]} >= {"Id", "ApiName", "MasterLabel", "IsConverted", "IsDefault",
                                                 "SortOrder", "SystemModstamp"}
    assert all(f["createable"] is False and f["updateable"] is False for f in d["fields"])


def test_value_sets_are_read_only(sf, sandbox):
    stage = sf.query("SELECT Id, ApiName FROM OpportunityStage WHERE ApiName = 'Closed Won'")["records"][0]
    status = sf.query("SELECT Id FROM LeadStatus WHERE ApiName = 'Closed - Converted'")["records"][0]
    assert stage["Id"][:3] == status["Id"][:3] == "01J"
    assert sf.OpportunityStage.get(stage["Id"])["MasterLabel"] == "Closed Won"
    assert "IsDeleted" not in sf.OpportunityStage.get(stage["Id"])
    with pytest.raises(Exception) as e:
        sf.OpportunityStage.get(status["Id"])         # same prefix, other object
    assert e.value.status == 404
    assert sf.query(f"SELECT Id FROM OpportunityStage WHERE Id = '{status['Id']}'")["totalSize"] == 0
    with pytest.raises(SalesforceGeneralError) as e:
        sf.OpportunityStage.create({"ApiName": "Custom", "MasterLabel": "Custom"})
    assert e.value.status == 405
    with pytest.raises(SalesforceGeneralError) as e:
        sf.OpportunityStage.update(stage["Id"], {"DefaultProbability": 99})
    assert e.value.status == 405
    with pytest.raises(SalesforceGeneralError):
        sf.LeadStatus.delete(status["Id"])
    res = sf.restful("composite/sobjects", method="POST", json={"records": [rec("LeadStatus", ApiName="X")]})
    assert res[0]["errors"][0]["statusCode"] == "INVALID_TYPE_FOR_OPERATION"
    res = sf.restful("composite/sobjects", method="DELETE", params={"ids": stage["Id"]})
    assert res[0]["success"] is False and res[0]["errors"][0]["statusCode"] == "INVALID_TYPE_FOR_OPERATION"
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.query("SELECT IsDeleted FROM OpportunityStage")
    assert e.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(ValueError):
        sandbox.load({"salesforce": {"OpportunityStage": [{"ApiName": "X"}]}})
    assert sf.query("SELECT COUNT() FROM OpportunityStage")["totalSize"] == 10


def test_reset_brings_the_value_sets_back(sf, sandbox):
    sandbox.reset()
    assert sf.query("SELECT COUNT() FROM LeadStatus")["totalSize"] == 4
    assert sf.query("SELECT COUNT() FROM OpportunityStage", include_deleted=True)["totalSize"] == 10
