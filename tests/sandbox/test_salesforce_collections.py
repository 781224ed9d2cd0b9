"""sObject Collections through `sf.restful(...)`: create, update, upsert, delete, retrieve, the
200-record cap and allOrNone rollback."""
from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce.composite import ROLLED_BACK


def rec(t, **kw):
    return {"attributes": {"type": t}, **kw}


def test_create_mixed_types_partial_success(sf, sandbox):
    used = sandbox.salesforce.api_used
    res = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        rec("Contact", LastName="Smith", Email="s@x.com"), rec("Lead", LastName="Jones")]})
    assert sandbox.salesforce.api_used == used + 1   # one call, however many records
    assert res[0]["success"] is True and res[0]["id"].startswith("003")
    assert res[1] == {"success": False, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING",
                                                    "message": "Required fields are missing: [Company]",
                                                    "fields": ["Company"]}]}
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 1


def test_all_or_none_rolls_everything_back(sf):
    keep = sf.Contact.create({"LastName": "Before", "HubSpot_Contact_Id__c": "1"})["id"]
    res = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": [
        rec("Contact", Id=keep, LastName="Changed"), rec("Contact", Id=keep, Email="bad-email")]})
    assert res[0]["success"] is False and res[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert res[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert sf.Contact.get(keep)["LastName"] == "Before"
    res = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        rec("Contact", LastName="New"), rec("Contact")]})
    assert [r["success"] for r in res] == [False, False] and "id" not in res[0]
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 1
    res = sf.restful("composite/sobjects/Contact/HubSpot_Contact_Id__c", method="PATCH", json={
        "allOrNone": True, "records": [rec("Contact", HubSpot_Contact_Id__c="1", LastName="Up"),
                                       rec("Contact", HubSpot_Contact_Id__c="2", LastName="New"),
                                       rec("Contact", HubSpot_Contact_Id__c="3")]})
    assert [r["success"] for r in res] == [False, False, False]
    assert sf.Contact.get(keep)["LastName"] == "Before"
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 1


def test_upsert_collection_reports_created(sf):
    sf.Contact.create({"LastName": "Old", "HubSpot_Contact_Id__c": "A1"})
    res = sf.restful("composite/sobjects/Contact/HubSpot_Contact_Id__c", method="PATCH", json={
        "allOrNone": False, "records": [rec("Contact", HubSpot_Contact_Id__c="a1", LastName="Upd"),
                                        rec("Contact", HubSpot_Contact_Id__c="B2", LastName="New")]})
    assert [(r["success"], r["created"]) for r in res] == [(True, False), (True, True)]
    names = sorted(r["LastName"] for r in sf.query("SELECT LastName FROM Contact")["records"])
    assert names == ["New", "Upd"]


def test_delete_and_retrieve(sf):
    a = sf.Account.create({"Name": "A"})["id"]
    b = sf.Account.create({"Name": "B"})["id"]
    got = sf.restful("composite/sobjects/Account", params={"ids": f"{a},{b}", "fields": "Id,Name"})
    assert [g["Name"] for g in got] == ["A", "B"]
    res = sf.restful("composite/sobjects", method="DELETE", params={"ids": f"{a},{a}", "allOrNone": "false"})
    assert res[0] == {"id": a, "success": True, "errors": []}
    assert res[1]["success"] is False and res[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert sf.restful("composite/sobjects/Account", params={"ids": f"{a},{b}", "fields": "Name"})[0] is None


def test_over_200_records_is_rejected(sf):
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.restful("composite/sobjects", method="POST",
                   json={"records": [rec("Account", Name=str(i)) for i in range(201)]})
    assert e.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


UPSERT = "composite/sobjects/Contact/HubSpot_Contact_Id__c"


def dup(value):
    return {"statusCode": "DUPLICATE_VALUE", "message": f"Duplicate external id specified: {value}",
            "fields": ["HubSpot_Contact_Id__c"]}


def test_upsert_with_one_external_id_twice_fails_those_records(sf, sandbox):
    keep = sf.Contact.create({"LastName": "Existing", "HubSpot_Contact_Id__c": "X9"})["id"]
    used = sandbox.salesforce.api_used
    res = sf.restful(UPSERT, method="PATCH", json={"allOrNone": False, "records": [
        rec("Contact", HubSpot_Contact_Id__c="A1", LastName="First"),
        rec("Contact", HubSpot_Contact_Id__c="C3", LastName="Alone"),
        rec("Contact", HubSpot_Contact_Id__c=" a1", LastName="Second"),   # same key: trimmed, any case
        rec("Contact", HubSpot_Contact_Id__c="X9", LastName="Changed once"),
        rec("Contact", HubSpot_Contact_Id__c="X9", LastName="Changed twice"),
        rec("Contact", HubSpot_Contact_Id__c="D4", LastName="Also alone")]})
    assert sandbox.salesforce.api_used == used + 1
    assert res[0] == {"success": False, "errors": [dup("A1")]}
    assert res[2] == {"success": False, "errors": [dup(" a1")]}
    assert res[3] == res[4] == {"success": False, "errors": [dup("X9")]}
    assert [(r["success"], r.get("created")) for r in (res[1], res[5])] == [(True, True), (True, True)]
    names = sorted(r["LastName"] for r in sf.query("SELECT LastName FROM Contact")["records"])
    assert names == ["Alone", "Also alone", "Existing"]          # X9 untouched, no A1 made
    assert sf.Contact.get(keep)["LastName"] == "Existing"


def test_upsert_with_one_external_id_twice_all_or_none(sf):
    res = sf.restful(UPSERT, method="PATCH", json={"allOrNone": True, "records": [
        rec("Contact", HubSpot_Contact_Id__c="7", LastName="A"),
        rec("Contact", HubSpot_Contact_Id__c="8", LastName="B"),
        rec("Contact", HubSpot_Contact_Id__c="7", LastName="C")]})
    assert res[0] == res[2] == {"success": False, "errors": [dup("7")]}
    assert res[1] == {"success": False, "errors": [ROLLED_BACK]}
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_upsert_matching_several_existing_records(sf, sandbox):
    # Data loaded before the uniqueness rule: the single-record resource answers 300 (see
    # test_salesforce_rest); in a collection it is a per-record error.
    sandbox.load({"salesforce": {"Contact": [{"LastName": "A", "HubSpot_Contact_Id__c": "5"},
                                             {"LastName": "B", "HubSpot_Contact_Id__c": "5"}]}})
    ids = sorted(r["Id"] for r in sf.query("SELECT Id FROM Contact")["records"])
    res = sf.restful(UPSERT, method="PATCH", json={"records": [
        rec("Contact", HubSpot_Contact_Id__c="5", LastName="Z"), rec("Contact", HubSpot_Contact_Id__c="6", LastName="Y")]})
    assert res[0]["success"] is False
    err = res[0]["errors"][0]
    assert err["statusCode"] == "DUPLICATE_EXTERNAL_ID" and err["fields"] == ["HubSpot_Contact_Id__c"]
    assert all(i in err["message"] for i in ids)
    assert res[1]["success"] is True and res[1]["created"] is True
