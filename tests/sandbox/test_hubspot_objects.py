"""HubSpot emulator: CRM v3 basic object endpoints, driven through the real hubspot-api-client."""
import json

import pytest
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyCreate
from hubspot.crm.contacts import ApiException, SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.contacts.exceptions import NotFoundException, UnauthorizedException

from sandbox.testing import raw


def _contacts(n, start=0):
    return [{"properties": {"email": f"user{i}@example.com", "firstname": f"F{i}", "lastname": f"L{i}"}}
            for i in range(start, start + n)]


def test_wrong_or_missing_token_is_401_with_hubspots_body(server):
    from hubspot import HubSpot

    bad = HubSpot(access_token="nope", host=server.url).crm.contacts.basic_api
    with pytest.raises(UnauthorizedException) as ei:
        bad.get_page()
    body = json.loads(ei.value.body)
    assert ei.value.status == 401
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["status"] == "error"
    assert body["message"].startswith("Authentication credentials not found.")
    assert "correlationId" in body
    status, headers, body = raw(server, "GET", "/crm/v3/objects/contacts", token=None)
    assert status == 401 and body["category"] == "INVALID_AUTHENTICATION"
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in headers)


def test_create_get_update_archive_roundtrip(client, server):
    basic = client.crm.contacts.basic_api
    created = basic.create(SimplePublicObjectInputForCreate(
        properties={"email": "Ada@Example.com", "firstname": "Ada", "salesforcecontactid": "003A"}))
    assert created.id.isdigit()
    p = created.properties
    assert p["hs_object_id"] == created.id and p["email"] == "Ada@Example.com"
    assert p["createdate"].endswith("Z") and len(p["createdate"]) == 24  # 2024-01-01T00:00:00.000Z
    assert p["lastmodifieddate"] == p["createdate"]

    got = basic.get_by_id(created.id)
    assert set(got.properties) == {"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate",
                                   "lastname"}
    assert got.properties["lastname"] is None  # unset default property comes back as null

    got = basic.get_by_id(created.id, properties=["salesforcecontactid", "nosuchprop"])
    assert got.properties["salesforcecontactid"] == "003A"
    assert "nosuchprop" not in got.properties
    assert {"createdate", "lastmodifieddate", "hs_object_id"} <= set(got.properties)

    server.sandbox.clock.advance(5)
    upd = basic.update(created.id, SimplePublicObjectInput(properties={"lastname": "Lovelace"}))
    assert upd.properties["lastname"] == "Lovelace"
    assert upd.updated_at > got.updated_at
    assert upd.properties["lastmodifieddate"] > got.properties["lastmodifieddate"]

    assert basic.archive(created.id) is None
    with pytest.raises(NotFoundException) as ei:
        basic.get_by_id(created.id)
    body = json.loads(ei.value.body)
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert body["message"] == "Object not found.  objectId are usually numeric."
    archived = basic.get_by_id(created.id, archived=True)
    assert archived.archived is True and archived.archived_at is not None
    basic.archive("999999999")  # unknown id: still a 204


def test_get_by_email_id_property_is_case_insensitive_and_url_decoded(client, emu):
    emu.load_records("contacts", [{"id": "501", "properties": {"email": "Grace.Hopper+navy@Example.com"}}])
    basic = client.crm.contacts.basic_api
    got = basic.get_by_id("grace.hopper+navy@example.com", id_property="email")
    assert got.id == "501"
    with pytest.raises(NotFoundException):
        basic.get_by_id("nobody@example.com", id_property="email")
    with pytest.raises(ApiException) as ei:
        basic.get_by_id("Ada", id_property="firstname")  # not a unique property
    assert ei.value.status == 400 and json.loads(ei.value.body)["category"] == "VALIDATION_ERROR"


def test_duplicate_email_on_create_and_update_is_409_with_existing_id(client, emu):
    emu.load_records("contacts", [{"id": "700", "properties": {"email": "taken@example.com"}},
                                  {"id": "701", "properties": {"email": "other@example.com"}}])
    basic = client.crm.contacts.basic_api
    with pytest.raises(ApiException) as ei:
        basic.create(SimplePublicObjectInputForCreate(properties={"email": "TAKEN@example.com"}))
    assert ei.value.status == 409
    body = json.loads(ei.value.body)
    assert body["category"] == "CONFLICT"
    assert body["message"] == "Contact already exists. Existing ID: 700"
    assert set(body) == {"status", "message", "correlationId", "category"}
    with pytest.raises(ApiException) as ei:
        basic.update("701", SimplePublicObjectInput(properties={"email": "taken@example.com"}))
    assert ei.value.status == 409 and "Existing ID: 700" in json.loads(ei.value.body)["message"]


def test_unknown_property_and_bad_values_are_400_validation_errors(client):
    basic = client.crm.contacts.basic_api
    with pytest.raises(ApiException) as ei:
        basic.create(SimplePublicObjectInputForCreate(properties={"email": "x@example.com", "shoe_size": "9"}))
    body = json.loads(ei.value.body)
    assert ei.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: ")
    detail = json.loads(body["message"][len("Property values were not valid: "):])
    assert detail[0]["error"] == "PROPERTY_DOESNT_EXIST" and detail[0]["name"] == "shoe_size"
    for props, code in (({"email": "not-an-email"}, "INVALID_EMAIL"),
                        ({"lifecyclestage": "Customer"}, "INVALID_OPTION"),
                        ({"hs_object_id": "5"}, "READ_ONLY_VALUE")):
        with pytest.raises(ApiException) as ei:
            basic.create(SimplePublicObjectInputForCreate(properties=props))
        assert ei.value.status == 400 and code in json.loads(ei.value.body)["message"]


def test_list_paging_get_all_over_100_and_limits(client, emu, server):
    emu.load_records("contacts", _contacts(250))
    basic = client.crm.contacts.basic_api
    page = basic.get_page(limit=100, properties=["email"])
    assert len(page.results) == 100
    ids = [int(r.id) for r in page.results]
    assert ids == sorted(ids)
    assert page.paging.next.after == str(ids[-1] + 1)
    everything = client.crm.contacts.get_all(properties=["email"])
    assert len(everything) == 250 and len({c.id for c in everything}) == 250
    assert everything[-1].properties["email"] == "user249@example.com"
    last = basic.get_page(limit=100, after=page.paging.next.after)
    last = basic.get_page(limit=100, after=last.paging.next.after)
    assert len(last.results) == 50 and last.paging is None
    with pytest.raises(ApiException) as ei:
        basic.get_page(limit=101)
    assert ei.value.status == 400
    # comma-joined array params are accepted as well as repeated ones
    status, _, body = raw(server, "GET", "/crm/v3/objects/contacts?limit=2&properties=email,firstname")
    assert status == 200 and set(body["results"][0]["properties"]) >= {"email", "firstname"}
    status, _, body = raw(server, "GET", "/crm/v3/objects/contacts?limit=2&archived=True")
    assert status == 200 and body["results"] == []


def test_companies_and_deals_default_properties_and_lastmodified(client, emu):
    c = client.crm.companies.basic_api.create(CompanyCreate(properties={"name": "Acme", "domain": "acme.com",
                                                                        "salesforceaccountid": "001X"}))
    assert "hs_lastmodifieddate" in c.properties and "lastmodifieddate" not in c.properties
    got = client.crm.companies.basic_api.get_by_id(c.id)
    assert set(got.properties) == {"createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"}
    # API-created companies are not deduplicated by domain
    c2 = client.crm.companies.basic_api.create(CompanyCreate(properties={"name": "Acme 2", "domain": "acme.com"}))
    assert c2.id != c.id
    from hubspot.crm.deals import SimplePublicObjectInputForCreate as DealCreate

    d = client.crm.deals.basic_api.create(DealCreate(properties={
        "dealname": "Big", "amount": 1000, "closedate": "2025-03-01", "pipeline": "default",
        "dealstage": "closedwon", "hs_salesforceopportunityid": "006A"}))
    assert d.properties["amount"] == "1000"
    assert d.properties["closedate"] == "2025-03-01T00:00:00.000Z"
    got = client.crm.deals.basic_api.get_by_id(d.id)
    assert set(got.properties) == {"amount", "closedate", "createdate", "dealname", "dealstage",
                                   "hs_lastmodifieddate", "hs_object_id", "pipeline"}


def test_touch_bumps_lastmodified_without_counting_usage(emu, server):
    emu.load_records("contacts", [{"id": "42", "properties": {"email": "t@example.com"},
                                   "updatedAt": "2024-01-01T00:00:00.000Z"}])
    before = emu.limits["daily_used"]
    rec = emu.touch("contacts", "42", {"firstname": "Edited"})
    assert rec["properties"]["firstname"] == "Edited"
    assert rec["properties"]["lastmodifieddate"] > "2024-01-01T00:00:00.000Z"
    assert emu.limits["daily_used"] == before
    status, _, body = raw(server, "GET", "/crm/v3/objects/contacts/42?properties=firstname")
    assert body["properties"]["firstname"] == "Edited" and body["updatedAt"] == rec["updatedAt"]


def test_associations_on_get_and_create_with_associations(client, emu):
    emu.load_records("companies", [{"id": "900", "properties": {"name": "Acme"}}])
    c = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": "assoc@example.com"},
        associations=[{"to": {"id": "900"},
                       "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]))
    got = client.crm.contacts.basic_api.get_by_id(c.id, associations=["companies"])
    types = sorted((r.id, r.type) for r in got.associations["companies"].results)
    assert types == [("900", "contact_to_company"), ("900", "contact_to_company_unlabeled")]
    page = client.crm.companies.basic_api.get_page(associations=["contacts"])
    assert {r.id for r in page.results[0].associations["contacts"].results} == {c.id}
    with pytest.raises(ApiException) as ei:
        client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
            properties={"email": "assoc2@example.com"},
            associations=[{"to": {"id": "123456"},
                           "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]))
    assert ei.value.status == 400


def test_load_records_keeps_ids_and_timestamps(emu, server):
    n = emu.load_records("contacts", (r for r in [
        {"id": "12345", "properties": {"email": "keep@example.com"}, "createdAt": "2023-05-01T10:00:00Z",
         "updatedAt": "2023-06-01T10:00:00.123Z"},
        {"id": "12346", "properties": {"email": "gone@example.com"}, "archived": True}]))
    assert n == 2
    status, _, body = raw(server, "GET", "/crm/v3/objects/contacts/12345")
    assert body["createdAt"] == "2023-05-01T10:00:00.000Z"
    assert body["updatedAt"] == "2023-06-01T10:00:00.123Z"
    assert body["properties"]["lastmodifieddate"] == "2023-06-01T10:00:00.123Z"
    assert raw(server, "GET", "/crm/v3/objects/contacts/12346")[0] == 404
    assert emu.counts()["contacts"] == {"live": 1, "archived": 1}
    with pytest.raises(ValueError):
        emu.load_records("contacts", [{"properties": {"email": "KEEP@example.com"}}])
