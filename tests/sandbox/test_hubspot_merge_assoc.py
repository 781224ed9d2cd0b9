"""HubSpot emulator: merge (new-id semantics), v4 associations and the properties API."""
import json

import pytest
from hubspot.crm.associations.v4 import AssociationSpec
from hubspot.crm.contacts import ApiException, PublicMergeInput
from hubspot.crm.properties import PropertyCreate

from sandbox.testing import raw


@pytest.fixture
def pair(emu):
    emu.load_records("contacts", [
        {"id": "101", "properties": {"email": "primary@example.com", "firstname": "Prim",
                                     "salesforcecontactid": "003P"}, "createdAt": "2024-02-01T00:00:00Z"},
        {"id": "102", "properties": {"email": "second@example.com", "firstname": "Sec", "phone": "555",
                                     "salesforceleadid": "00QS"}, "createdAt": "2024-01-01T00:00:00Z"},
    ])
    emu.load_records("companies", [{"id": "900", "properties": {"name": "P Co"}},
                                   {"id": "901", "properties": {"name": "S Co"}}])
    emu.load_records("deals", [{"id": "950", "properties": {"dealname": "S deal"}}])
    emu.load_records("associations", [
        {"from_type": "contacts", "from_id": "101", "to_type": "companies", "to_id": "900"},
        {"from_type": "contacts", "from_id": "102", "to_type": "companies", "to_id": "901"},
        {"from_type": "deals", "from_id": "950", "to_type": "contacts", "to_id": "102"}])
    return emu


def test_merge_creates_a_new_id_and_old_ids_resolve_to_it(client, pair):
    merged = client.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id="101", object_id_to_merge="102"))
    assert merged.id not in ("101", "102")
    p = merged.properties
    assert p["email"] == "primary@example.com"
    assert set(p["hs_merged_object_ids"].split(";")) == {"101", "102"}
    assert p["hs_object_id"] == merged.id
    full = client.crm.contacts.basic_api.get_by_id(
        merged.id, properties=["hs_additional_emails", "salesforcecontactid", "salesforceleadid", "firstname",
                               "hs_merged_object_ids"])
    fp = full.properties
    assert fp["hs_additional_emails"] == "second@example.com"
    assert fp["firstname"] == "Prim" and fp["salesforcecontactid"] == "003P"
    assert fp["salesforceleadid"] is None  # the secondary's values (and Salesforce link) are not kept
    assert full.created_at.isoformat().startswith("2024-01-01")
    for old in ("101", "102"):
        again = client.crm.contacts.basic_api.get_by_id(old)
        assert again.id == merged.id  # "response id != requested id" is how a merge shows
    # emails (primary and additional) now point at the merged record and stay unique
    assert client.crm.contacts.basic_api.get_by_id("second@example.com", id_property="email").id == merged.id
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate

    with pytest.raises(ApiException) as ei:
        client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"email": "second@example.com"}))
    assert ei.value.status == 409 and f"Existing ID: {merged.id}" in json.loads(ei.value.body)["message"]
    # both old ids are archived; the list shows only the merged record
    page = client.crm.contacts.basic_api.get_page(limit=10)
    assert [r.id for r in page.results] == [merged.id]
    arch = client.crm.contacts.basic_api.get_page(limit=10, archived=True)
    assert sorted(r.id for r in arch.results) == ["101", "102"]


def test_merge_carries_associations_and_primary_company_of_the_primary_wins(client, pair):
    merged = client.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id="101", object_id_to_merge="102"))
    v4 = client.crm.associations.v4.basic_api
    res = v4.get_page("contacts", merged.id, "companies")
    by_company = {r.to_object_id: sorted(t.type_id for t in r.association_types) for r in res.results}
    assert by_company == {"900": [1, 279], "901": [279]}
    deals = v4.get_page("contacts", merged.id, "deals")
    assert [r.to_object_id for r in deals.results] == ["950"]
    back = v4.get_page("deals", "950", "contacts")
    assert [r.to_object_id for r in back.results] == [merged.id]


def test_merge_errors(client, pair):
    with pytest.raises(ApiException) as ei:
        client.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id="101", object_id_to_merge="101"))
    assert ei.value.status == 400
    with pytest.raises(ApiException) as ei:
        client.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id="101", object_id_to_merge="77777"))
    assert ei.value.status == 404


def test_legacy_merge_mode_keeps_the_primary_id(client, pair):
    pair.configure_limits(merge_mode="legacy")
    merged = client.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id="101", object_id_to_merge="102"))
    assert merged.id == "101"
    assert client.crm.contacts.basic_api.get_by_id("102").id == "101"


def test_company_merge_also_gets_a_new_id(client, pair):
    from hubspot.crm.companies import PublicMergeInput as CompanyMerge

    merged = client.crm.companies.basic_api.merge(CompanyMerge(primary_object_id="900", object_id_to_merge="901"))
    assert merged.id not in ("900", "901")
    contacts = client.crm.associations.v4.basic_api.get_page("companies", merged.id, "contacts")
    assert sorted(r.to_object_id for r in contacts.results) == ["101", "102"]


def test_v4_default_and_labelled_associations_list_and_archive(client, pair, server):
    v4 = client.crm.associations.v4.basic_api
    res = v4.create_default("contacts", "101", "companies", "901")
    assert res.status == "COMPLETE"
    spec = res.results[0].association_spec
    assert (spec.association_category, spec.association_type_id) == ("HUBSPOT_DEFINED", 279)
    labelled = v4.create("contacts", "101", "companies", "901",
                         [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)])
    assert labelled.labels == ["Primary"] and labelled.from_object_type_id == "0-1"
    assert labelled.to_object_type_id == "0-2"
    # primary moved from 900 to 901
    by = {r.to_object_id: {t.type_id for t in r.association_types} for r in v4.get_page("contacts", "101", "companies").results}
    assert by == {"900": {279}, "901": {1, 279}}
    rev = v4.get_page("companies", "901", "contacts")
    assert {r.to_object_id: {t.type_id for t in r.association_types} for r in rev.results}["101"] == {2, 280}
    st, _, body = raw(server, "GET", "/crm/v4/objects/contacts/101/associations/companies")
    assert isinstance(body["results"][0]["toObjectId"], int)  # the live API sends numbers here
    row = next(r for r in body["results"] if r["toObjectId"] == 901)
    assert row["associationTypes"][0] == {"category": "HUBSPOT_DEFINED", "typeId": 1,
                                                         "label": "Primary"}
    v4.archive("contacts", "101", "companies", "900")
    assert [r.to_object_id for r in v4.get_page("contacts", "101", "companies").results] == ["901"]
    from hubspot.crm.associations.v4 import ApiException as V4Error

    with pytest.raises(V4Error) as ei:
        v4.create("contacts", "101", "companies", "901",
                  [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=341)])
    assert ei.value.status == 400
    with pytest.raises(V4Error) as ei:
        v4.create_default("contacts", "101", "companies", "123123")
    assert ei.value.status == 400


def test_v4_list_paging(client, emu):
    emu.load_records("contacts", [{"id": "1", "properties": {"email": "x@example.com"}}])
    emu.load_records("deals", [{"id": str(5000 + i), "properties": {"dealname": f"d{i}"}} for i in range(7)])
    emu.load_records("associations", [{"from_type": "contacts", "from_id": "1", "to_type": "deals",
                                       "to_id": str(5000 + i)} for i in range(7)])
    v4 = client.crm.associations.v4.basic_api
    seen, after = [], None
    while True:
        page = v4.get_page("contacts", "1", "deals", after=after, limit=3)
        seen += [r.to_object_id for r in page.results]
        if not page.paging:
            break
        after = page.paging.next.after
    assert seen == [str(5000 + i) for i in range(7)]


def test_v4_batch_read_create_default_archive(client, pair, server):
    b = client.crm.associations.v4.batch_api
    st, _, out = raw(server, "POST", "/crm/v4/associations/contacts/companies/batch/read",
                     {"inputs": [{"id": "101"}, {"id": "999"}]})
    assert st == 207 and out["results"][0]["from"] == {"id": "101"} and out["numErrors"] == 1
    created = b.create("deals", "companies", {"inputs": [
        {"from": {"id": "950"}, "to": {"id": "900"},
         "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}]}]})
    assert created.results[0].labels == ["Primary"]
    d = b.create_default("contacts", "companies", {"inputs": [{"from": {"id": "102"}, "to": {"id": "900"}}]})
    assert d.results[0].association_spec.association_type_id == 279
    read = b.get_page("contacts", "companies", {"inputs": [{"id": "102"}]})
    assert sorted(t.to_object_id for t in read.results[0].to) == ["900", "901"]
    b.archive("contacts", "companies", {"inputs": [{"from": {"id": "102"}, "to": [{"id": "900"}]}]})
    read = b.get_page("contacts", "companies", {"inputs": [{"id": "102"}]})
    assert [t.to_object_id for t in read.results[0].to] == ["901"]


def test_properties_api_lists_standard_and_salesforce_properties(client):
    core = client.crm.properties.core_api
    names = {p.name for p in core.get_all("contacts").results}
    assert {"email", "firstname", "lastname", "salesforcecontactid", "salesforceleadid", "salesforceaccountid",
            "salesforceownerid", "salesforcelastsynctime", "salesforcedeleted", "hs_additional_emails",
            "hs_merged_object_ids", "lastmodifieddate", "createdate", "hs_object_id"} <= names
    assert "salesforceaccountid" in {p.name for p in core.get_all("companies").results}
    assert "hs_salesforceopportunityid" in {p.name for p in core.get_all("deals").results}
    p = core.get_by_name("contacts", "salesforcecontactid")
    assert (p.type, p.field_type, p.group_name) == ("string", "text", "salesforceinformation")
    assert p.has_unique_value is False
    from hubspot.crm.properties import ApiException as PropError

    with pytest.raises(PropError) as ei:
        core.get_by_name("contacts", "nope")
    assert ei.value.status == 404


def test_properties_create_unique_and_use_it(client):
    core = client.crm.properties.core_api
    created = core.create("contacts", PropertyCreate(name="external_key", label="External key", type="string",
                                                     field_type="text", group_name="contactinformation",
                                                     has_unique_value=True))
    assert created.has_unique_value is True and created.hubspot_defined is False
    from hubspot.crm.properties import ApiException as PropError

    with pytest.raises(PropError) as ei:
        core.create("contacts", PropertyCreate(name="external_key", label="x", type="string", field_type="text",
                                               group_name="contactinformation"))
    assert ei.value.status == 409
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate

    c = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": "k@example.com", "external_key": "K-1"}))
    assert client.crm.contacts.basic_api.get_by_id("K-1", id_property="external_key").id == c.id
    with pytest.raises(ApiException) as ei:
        client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
            properties={"email": "k2@example.com", "external_key": "k-1"}))
    assert ei.value.status == 409
