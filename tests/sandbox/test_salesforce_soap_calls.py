"""SOAP undelete() and convertLead() on the partner endpoint, posted through simple-salesforce's
session as the connector posts merge(); and the control endpoint that shares convertLead."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone

import requests

from sandbox.ids import to18
from tests.sandbox.test_salesforce_merge import NS, fault_code, merge

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def call(sf, body: str, session: str = "sandbox"):
    envelope = f"""<?xml version="1.0" encoding="UTF-8"?>
    <soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
      xmlns:urn="urn:partner.soap.sforce.com">
      <soapenv:Header><urn:SessionHeader><urn:sessionId>{session}</urn:sessionId></urn:SessionHeader></soapenv:Header>
      <soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"""
    return sf.session.post(f"https://{sf.sf_instance}/services/Soap/u/{sf.sf_version}", data=envelope.encode(),
                           headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'})


def undelete(sf, ids, **kw):
    return call(sf, "<urn:undelete>" + "".join(f"<urn:ids>{i}</urn:ids>" for i in ids) + "</urn:undelete>", **kw)


def convert(sf, *converts, **kw):
    body = "".join("<urn:leadConverts>" + "".join(f"<urn:{k}>{v}</urn:{k}>" for k, v in c.items()) +
                   "</urn:leadConverts>" for c in converts)
    return call(sf, f"<urn:convertLead>{body}</urn:convertLead>", **kw)


def results(resp, op):
    assert resp.status_code == 200, resp.text
    root = ET.fromstring(resp.content)
    assert root.find(".//s:LimitInfoHeader/s:limitInfo/s:type", NS).text == "API REQUESTS"
    out = []
    for r in root.findall(f".//s:{op}Response/s:result", NS):
        item = {}
        for child in r:
            name = child.tag.rsplit("}", 1)[-1]
            if name == "errors":
                item.setdefault("errors", []).append({
                    "statusCode": child.find("s:statusCode", NS).text, "message": child.find("s:message", NS).text,
                    "fields": [f.text for f in child.findall("s:fields", NS)]})
            else:
                item[name] = None if child.get(XSI_NIL) == "true" else child.text
        item["success"] = item["success"] == "true"
        out.append(item)
    return out


NOT_IN_BIN = {"statusCode": "UNDELETE_FAILED", "message": "Entity is not in the recycle bin", "fields": []}


# -- undelete -------------------------------------------------------------------------------------------

def test_undelete_brings_a_deleted_record_back(sf, sandbox):
    rid = sf.Contact.create({"LastName": "Back", "Email": "b@x.com", "HubSpot_Contact_Id__c": "42"})["id"]
    sf.Contact.delete(rid)
    gone = sf.query_all(f"SELECT SystemModstamp FROM Contact WHERE Id = '{rid}'", include_deleted=True)
    assert sf.query(f"SELECT Id FROM Contact WHERE Id = '{rid}'")["totalSize"] == 0
    sandbox.advance_clock(5)
    used = sandbox.salesforce.api_used
    res = results(undelete(sf, [rid]), "undelete")
    assert sandbox.salesforce.api_used == used + 1
    assert res == [{"id": rid, "success": True}]
    got = sf.Contact.get(rid)
    assert got["IsDeleted"] is False and got["LastName"] == "Back"
    assert got["SystemModstamp"] > gone["records"][0]["SystemModstamp"]
    assert [r["Id"] for r in sf.query("SELECT Id FROM Contact WHERE Email = 'b@x.com'")["records"]] == [rid]
    assert sf.Contact.get_by_custom_id("HubSpot_Contact_Id__c", "42")["Id"] == rid    # indexes still hold it
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    sandbox.advance_clock(120)
    assert rid in sf.Contact.updated(start, datetime.now(timezone.utc) + timedelta(minutes=5))["ids"]


def test_undelete_a_merged_away_record(sf):
    master = sf.Lead.create({"LastName": "M", "Company": "X"})["id"]
    loser = sf.Lead.create({"LastName": "L", "Company": "X"})["id"]
    merge(sf, "Lead", master, [loser])
    row = sf.query_all(f"SELECT IsDeleted, MasterRecordId FROM Lead WHERE Id = '{loser}'", include_deleted=True)
    assert row["records"][0]["MasterRecordId"] == master
    assert results(undelete(sf, [loser]), "undelete")[0]["success"] is True
    got = sf.Lead.get(loser)
    assert got["IsDeleted"] is False and got["MasterRecordId"] is None     # UNCONFIRMED in the docs
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 2


def test_undelete_per_record_errors(sf, sandbox):
    live = sf.Account.create({"Name": "Live"})["id"]
    deleted = sf.Account.create({"Name": "Deleted"})["id"]
    sf.Account.delete(deleted)
    purged = sf.Account.create({"Name": "Purged"})["id"]
    sf.Account.delete(purged)
    sandbox.advance_clock(16 * 86400)                   # out of the 15-day recycle bin
    deleted_again = sf.Account.create({"Name": "Still in the bin"})["id"]
    sf.Account.delete(deleted_again)
    unknown = to18("001Sb0000000000")
    stage = sf.query("SELECT Id FROM OpportunityStage LIMIT 1")["records"][0]["Id"]
    res = results(undelete(sf, [live, purged, unknown, "garbage", deleted_again, stage, deleted_again]), "undelete")
    assert res[0] == {"id": live, "success": False, "errors": [NOT_IN_BIN]}
    assert res[1] == {"id": purged, "success": False, "errors": [NOT_IN_BIN]}
    assert res[2] == {"id": unknown, "success": False, "errors": [NOT_IN_BIN]}
    assert res[3] == {"id": None, "success": False,
                      "errors": [{"statusCode": "MALFORMED_ID", "message": "malformed id garbage", "fields": []}]}
    assert res[4] == {"id": deleted_again, "success": True}
    assert res[5]["errors"][0]["statusCode"] == "INVALID_TYPE_FOR_OPERATION"
    assert res[6] == {"id": deleted_again, "success": False, "errors": [NOT_IN_BIN]}   # back already
    assert sf.Account.get(deleted_again)["IsDeleted"] is False


def test_undelete_refuses_an_external_id_taken_meanwhile(sf):
    old = sf.Contact.create({"LastName": "Old", "HubSpot_Contact_Id__c": "7"})["id"]
    sf.Contact.delete(old)
    new = sf.Contact.create({"LastName": "New", "HubSpot_Contact_Id__c": "7"})["id"]
    res = results(undelete(sf, [old]), "undelete")
    assert res[0]["success"] is False and res[0]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    assert new in res[0]["errors"][0]["message"]
    assert sf.query_all(f"SELECT IsDeleted FROM Contact WHERE Id = '{old}'", include_deleted=True)[
        "records"][0]["IsDeleted"] is True


def test_undelete_faults(sf, sandbox):
    assert fault_code(undelete(sf, ["001Sb0000000000AAA"], session="bogus")) == "sf:INVALID_SESSION_ID"
    used = sandbox.salesforce.api_used
    r = undelete(sf, ["001Sb0000000000AAA"] * 201)
    assert r.status_code == 500 and fault_code(r) == "sf:EXCEEDED_ID_LIMIT"
    assert sandbox.salesforce.api_used == used
    assert fault_code(call(sf, "<urn:purge/>")) == "sf:INVALID_OPERATION"


# -- convertLead -----------------------------------------------------------------------------------------

def make_lead(sf, **kw):
    return sf.Lead.create({"FirstName": "Ann", "LastName": "Lee", "Company": "Lee Corp", "Email": "ann@lee.com",
                           "Phone": "555 0100", "Title": "CEO", "LeadSource": "Web", **kw})["id"]


def quarter_end(today: date) -> str:
    month = (today.month - 1) // 3 * 3 + 3
    nxt = date(today.year + 1, 1, 1) if month == 12 else date(today.year, month + 1, 1)
    return (nxt - timedelta(days=1)).isoformat()


def test_convert_into_new_account_contact_and_opportunity(sf, sandbox):
    lid = make_lead(sf)
    before = sf.Lead.get(lid)["SystemModstamp"]
    sandbox.advance_clock(5)
    used = sandbox.salesforce.api_used
    [res] = results(convert(sf, {"leadId": lid, "convertedStatus": "Closed - Converted",
                                 "opportunityName": "Lee Corp - pilot"}), "convertLead")
    assert sandbox.salesforce.api_used == used + 1
    assert res["success"] is True and res["leadId"] == lid
    assert res["accountId"].startswith("001") and res["contactId"].startswith("003")
    assert res["opportunityId"].startswith("006")
    account = sf.Account.get(res["accountId"])
    assert account["Name"] == "Lee Corp" and account["Phone"] == "555 0100"
    contact = sf.Contact.get(res["contactId"])
    assert (contact["FirstName"], contact["LastName"], contact["Email"], contact["Title"], contact["LeadSource"],
            contact["AccountId"]) == ("Ann", "Lee", "ann@lee.com", "CEO", "Web", res["accountId"])
    opp = sf.Opportunity.get(res["opportunityId"])
    assert (opp["Name"], opp["AccountId"], opp["StageName"]) == ("Lee Corp - pilot", res["accountId"], "Prospecting")
    today = sandbox.clock.now().date()
    assert opp["CloseDate"] == quarter_end(today)
    lead = sf.Lead.get(lid)
    assert (lead["IsConverted"], lead["Status"], lead["ConvertedDate"], lead["ConvertedAccountId"],
            lead["ConvertedContactId"], lead["ConvertedOpportunityId"]) == (
        True, "Closed - Converted", today.isoformat(), res["accountId"], res["contactId"], res["opportunityId"])
    assert lead["SystemModstamp"] > before
    # still queryable, never writable, never convertible again
    assert sf.query("SELECT COUNT() FROM Lead WHERE IsConverted = true")["totalSize"] == 1
    [again] = results(convert(sf, {"leadId": lid, "convertedStatus": "Closed - Converted"}), "convertLead")
    assert again == {"accountId": None, "contactId": None, "leadId": lid, "opportunityId": None, "success": False,
                     "errors": [{"statusCode": "CANNOT_UPDATE_CONVERTED_LEAD",
                                 "message": "cannot reference converted lead", "fields": []}]}
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1


def test_convert_without_opportunity_default_names(sf):
    lid = make_lead(sf, Company="C" * 200)
    [res] = results(convert(sf, {"leadId": lid, "convertedStatus": "Closed - Converted",
                                 "doNotCreateOpportunity": "true"}), "convertLead")
    assert res["success"] is True and res["opportunityId"] is None
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 0
    assert sf.Lead.get(lid)["ConvertedOpportunityId"] is None
    other = make_lead(sf, Company="D" * 200)
    [res] = results(convert(sf, {"leadId": other, "convertedStatus": "Closed - Converted"}), "convertLead")
    assert sf.Opportunity.get(res["opportunityId"])["Name"] == "D" * 120      # the company, cut to fit


def test_convert_into_existing_account_and_contact(sf):
    acc = sf.Account.create({"Name": "Existing Inc", "Phone": "111"})["id"]
    cid = sf.Contact.create({"LastName": "Lee", "Email": "old@lee.com", "AccountId": acc,
                             "LeadSource": "Other"})["id"]
    lid = make_lead(sf)
    [res] = results(convert(sf, {"leadId": lid, "convertedStatus": "Closed - Converted", "accountId": acc,
                                 "contactId": cid, "doNotCreateOpportunity": "true"}), "convertLead")
    assert (res["success"], res["accountId"], res["contactId"]) == (True, acc, cid)
    assert sf.Account.get(acc)["Name"] == "Existing Inc" and sf.Account.get(acc)["Phone"] == "111"   # kept
    contact = sf.Contact.get(cid)
    assert contact["Email"] == "old@lee.com" and contact["LeadSource"] == "Other"      # existing values kept
    assert contact["FirstName"] == "Ann" and contact["Title"] == "CEO"                  # empty ones filled
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 1
    # overwriteLeadSource replaces the contact's LeadSource
    other = make_lead(sf, LeadSource="Partner Referral")
    [res] = results(convert(sf, {"leadId": other, "convertedStatus": "Closed - Converted", "accountId": acc,
                                 "contactId": cid, "overwriteLeadSource": "true",
                                 "doNotCreateOpportunity": "true"}), "convertLead")
    assert res["success"] is True and sf.Contact.get(cid)["LeadSource"] == "Partner Referral"
    # into an existing account only: a new contact on it
    third = make_lead(sf, Email="third@lee.com")
    [res] = results(convert(sf, {"leadId": third, "convertedStatus": "Closed - Converted", "accountId": acc,
                                 "doNotCreateOpportunity": "true"}), "convertLead")
    assert res["accountId"] == acc and res["contactId"] != cid
    assert sf.Contact.get(res["contactId"])["AccountId"] == acc


def test_convert_errors_leave_nothing_behind(sf):
    acc = sf.Account.create({"Name": "A"})["id"]
    other_acc = sf.Account.create({"Name": "B"})["id"]
    cid = sf.Contact.create({"LastName": "C", "AccountId": other_acc})["id"]
    lid = make_lead(sf)
    deleted = make_lead(sf)
    sf.Lead.delete(deleted)
    cases = [
        ({"convertedStatus": "Closed - Converted"}, "REQUIRED_FIELD_MISSING", ["leadId"]),
        ({"leadId": lid}, "REQUIRED_FIELD_MISSING", ["convertedStatus"]),
        ({"leadId": lid, "convertedStatus": "Working - Contacted"}, "INVALID_STATUS", ["Status"]),
        ({"leadId": lid, "convertedStatus": "Qualified"}, "INVALID_STATUS", ["Status"]),
        ({"leadId": to18("00QSb0000000000"), "convertedStatus": "Closed - Converted"}, "INVALID_CROSS_REFERENCE_KEY",
         ["leadId"]),
        ({"leadId": deleted, "convertedStatus": "Closed - Converted"}, "ENTITY_IS_DELETED", []),
        ({"leadId": lid, "convertedStatus": "Closed - Converted", "contactId": cid}, "REQUIRED_FIELD_MISSING",
         ["accountId"]),
        ({"leadId": lid, "convertedStatus": "Closed - Converted", "accountId": acc, "contactId": cid},
         "INVALID_CROSS_REFERENCE_KEY", ["contactId"]),
        ({"leadId": lid, "convertedStatus": "Closed - Converted", "accountId": cid}, "INVALID_CROSS_REFERENCE_KEY",
         ["accountId"]),
        ({"leadId": lid, "convertedStatus": "Closed - Converted", "opportunityName": "n" * 121}, "STRING_TOO_LONG",
         ["Name"]),
    ]
    res = results(convert(sf, *[c for c, _, _ in cases]), "convertLead")
    for (_, code, fields), r in zip(cases, res, strict=True):
        assert r["success"] is False and r["accountId"] is None and r["opportunityId"] is None
        assert (r["errors"][0]["statusCode"], r["errors"][0]["fields"]) == (code, fields)
    assert res[2]["errors"][0]["message"] == "invalid convertedStatus: Working - Contacted"
    assert res[0]["leadId"] is None and res[2]["leadId"] == lid
    # the last one failed after making an account and a contact: both were rolled back
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 2
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 1
    assert sf.Lead.get(lid)["IsConverted"] is False
    # a good one in the same call as a bad one: each conversion is its own transaction
    res = results(convert(sf, {"leadId": lid, "convertedStatus": "Closed - Converted"},
                          {"leadId": lid, "convertedStatus": "Closed - Converted"}), "convertLead")
    assert [r["success"] for r in res] == [True, False]


def test_convert_faults(sf, sandbox):
    lid = make_lead(sf)
    assert fault_code(convert(sf, {"leadId": lid, "convertedStatus": "Closed - Converted"},
                              session="nope")) == "sf:INVALID_SESSION_ID"
    used = sandbox.salesforce.api_used
    r = convert(sf, *[{"leadId": lid, "convertedStatus": "Closed - Converted"}] * 201)
    assert r.status_code == 500 and fault_code(r) == "sf:LIMIT_EXCEEDED"
    assert sandbox.salesforce.api_used == used and sf.Lead.get(lid)["IsConverted"] is False


def test_control_endpoint_shares_the_implementation(sf, sandbox_server, sandbox):
    base = f"{sandbox_server.url}/_sandbox/salesforce/convert-lead"
    lid = make_lead(sf)
    used = sandbox.salesforce.api_used
    r = requests.post(base, json={"leadId": lid})
    assert r.status_code == 200 and sandbox.salesforce.api_used == used      # a user's action: no API usage
    out = r.json()
    assert out["opportunityId"] is None                                     # none unless asked for
    lead = sf.Lead.get(lid)
    assert lead["Status"] == "Closed - Converted" and lead["ConvertedContactId"] == out["contactId"]
    r = requests.post(base, json={"leadId": lid})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    # a contact alone: its own account, as the UI picks it
    acc = sf.Account.create({"Name": "Acc"})["id"]
    cid = sf.Contact.create({"LastName": "Lee", "AccountId": acc})["id"]
    second = make_lead(sf)
    out = requests.post(base, json={"leadId": second, "contactId": cid, "doNotCreateOpportunity": False}).json()
    assert (out["accountId"], out["contactId"]) == (acc, cid) and out["opportunityId"].startswith("006")
    r = requests.post(base, json={"leadId": make_lead(sf), "convertedStatus": "Open - Not Contacted"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_STATUS"
