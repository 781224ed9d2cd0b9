"""HubSpot emulator: the v3 Lists API (static and active contact lists, memberships), read and
written through hubspot-api-client's real `crm.lists` package."""
import json

import pytest
from hubspot.crm.lists import ApiException, ListCreateRequest, ListSearchRequest, MembershipChangeRequest

from sandbox.testing import raw


@pytest.fixture
def people(emu):
    emu.load_records("contacts", [
        {"id": str(i), "properties": {"email": f"p{i}@{'acme' if i % 2 else 'globex'}.com", "firstname": f"P{i}"}}
        for i in range(101, 111)])
    return emu


def _static(client, name="Sync to Salesforce"):
    return client.crm.lists.lists_api.create(ListCreateRequest(name=name, object_type_id="0-1",
                                                               processing_type="MANUAL")).list


def _body(exc):
    return json.loads(exc.body)


def test_a_static_list_is_created_filled_and_paged_in_record_id_order(client, people):
    created = _static(client)
    assert created.processing_type == "MANUAL" and created.size == 0 and created.list_version == 1
    api = client.crm.lists.memberships_api
    added = api.add(created.list_id, ["109", "103", "105", "999"])
    assert sorted(added.records_ids_added) == ["103", "105", "109"]   # HubSpot's own spelling, "recordsIdsAdded"
    assert added.record_ids_missing == ["999"] and added.record_ids_removed == []
    again = api.add(created.list_id, ["103"])
    assert again.records_ids_added == []                                # already a member: ignored
    api.add(created.list_id, [str(i) for i in (101, 102, 104)])
    first = api.get_page(created.list_id, limit=4)
    assert [m.record_id for m in first.results] == ["101", "102", "103", "104"] and first.total == 6
    assert all(m.membership_timestamp for m in first.results)
    rest = api.get_page(created.list_id, after=first.paging.next.after, limit=4)
    assert [m.record_id for m in rest.results] == ["105", "109"] and rest.paging is None
    assert client.crm.lists.lists_api.get_by_id(created.list_id).list.size == 6


def test_the_memberships_limit_is_250(client, people, server):
    lid = _static(client).list_id
    status, _, body = raw(server, "GET", f"/crm/v3/lists/{lid}/memberships?limit=251")
    assert status == 400 and body["category"] == "VALIDATION_ERROR" and "250" in body["message"]


def test_remove_and_add_and_remove(client, people):
    lid = _static(client).list_id
    api = client.crm.lists.memberships_api
    api.add(lid, ["101", "102", "103"])
    out = api.add_and_remove(lid, MembershipChangeRequest(record_ids_to_add=["104"], record_ids_to_remove=["101", "555"]))
    assert out.records_ids_added == ["104"] and out.record_ids_removed == ["101"] and out.record_ids_missing == ["555"]
    assert api.remove(lid, ["102"]).record_ids_removed == ["102"]
    assert [m.record_id for m in api.get_page(lid).results] == ["103", "104"]


def test_an_active_list_follows_its_filters_and_refuses_manual_members(client, people):
    branch = {"filterBranchType": "OR", "filterBranches": [{"filterBranchType": "AND", "filters": [
        {"filterType": "PROPERTY", "property": "email",
         "operation": {"operationType": "MULTISTRING", "operator": "ENDS_WITH", "values": ["@acme.com"]}}]}]}
    made = client.crm.lists.lists_api.create(ListCreateRequest(name="Acme people", object_type_id="0-1",
                                                               processing_type="DYNAMIC", filter_branch=branch)).list
    api = client.crm.lists.memberships_api
    assert [m.record_id for m in api.get_page(made.list_id).results] == ["101", "103", "105", "107", "109"]
    with pytest.raises(ApiException) as exc:
        api.add(made.list_id, ["102"])
    assert exc.value.status == 400 and "DYNAMIC" in _body(exc.value)["message"]
    people.touch("contacts", 102, {"email": "p102@acme.com"})            # now it matches
    assert "102" in [m.record_id for m in api.get_page(made.list_id).results]
    people.touch("contacts", 101, {"email": "p101@elsewhere.com"})       # and this one no longer does
    assert "101" not in [m.record_id for m in api.get_page(made.list_id).results]


def test_an_unsupported_active_filter_is_refused_in_words(client):
    branch = {"filterBranchType": "OR", "filterBranches": [{"filterBranchType": "AND", "filters": [
        {"filterType": "FORM_SUBMISSION", "formId": "x"}]}]}
    with pytest.raises(ApiException) as exc:
        client.crm.lists.lists_api.create(ListCreateRequest(name="Forms", object_type_id="0-1", processing_type="DYNAMIC",
                                                            filter_branch=branch))
    assert exc.value.status == 400 and "FORM_SUBMISSION" in _body(exc.value)["message"]


def test_deleted_contacts_leave_and_merged_ones_pass_their_membership_on(client, people, server):
    lid = _static(client).list_id
    api = client.crm.lists.memberships_api
    api.add(lid, ["101", "102"])
    client.crm.contacts.basic_api.archive("101")
    assert [m.record_id for m in api.get_page(lid).results] == ["102"]
    status, _, merged = raw(server, "POST", "/crm/v3/objects/contacts/merge",
                            {"primaryObjectId": "103", "objectIdToMerge": "102"})
    assert status == 200
    assert [m.record_id for m in api.get_page(lid).results] == [merged["id"]]


def test_lists_are_found_by_id_name_and_search_and_a_missing_one_is_a_404(client, people):
    lists = client.crm.lists.lists_api
    a = _static(client, "Sync to Salesforce")
    b = _static(client, "Newsletter")
    found = lists.do_search(ListSearchRequest(query="sync", count=10, processing_types=["MANUAL"]))
    assert [x.list_id for x in found.lists] == [a.list_id] and found.total == 1 and found.has_more is False
    assert lists.get_by_name("newsletter", "0-1").list.list_id == b.list_id
    assert {x.list_id for x in lists.get_all(list_ids=[a.list_id, b.list_id, "99999"]).lists} == {a.list_id, b.list_id}
    with pytest.raises(ApiException) as exc:
        lists.get_by_id("99999")
    assert exc.value.status == 404 and _body(exc.value)["category"] == "OBJECT_NOT_FOUND"
    with pytest.raises(ApiException) as exc:
        _static(client, "newsletter")
    assert exc.value.status == 400                                      # names are unique per object type


def test_a_deleted_list_is_gone_until_restored(client, people):
    lists = client.crm.lists.lists_api
    lid = _static(client).list_id
    lists.remove(lid)
    with pytest.raises(ApiException) as exc:
        lists.get_by_id(lid)
    assert exc.value.status == 404
    lists.restore(lid)
    assert lists.get_by_id(lid).list.name == "Sync to Salesforce"


def test_the_lists_a_contact_is_in(client, people):
    a, b = _static(client, "A").list_id, _static(client, "B").list_id
    client.crm.lists.memberships_api.add(a, ["104"])
    client.crm.lists.memberships_api.add(b, ["104", "105"])
    got = client.crm.lists.memberships_api.get_lists("0-1", "104")
    assert sorted(m.list_id for m in got.results) == sorted([a, b]) and got.total == 2


def test_a_scenario_loads_lists_with_members(emu, client):
    emu.load_records("contacts", [{"id": "201", "properties": {"email": "x@y.com"}}])
    emu.load_records("lists", [{"name": "Chosen", "members": ["201"]}])
    found = client.crm.lists.lists_api.get_by_name("Chosen", "0-1").list
    assert found.size == 1
    with pytest.raises(ValueError, match="no records"):
        emu.load_records("lists", [{"name": "Bad", "members": ["777"]}])
