"""HubSpot emulator: CRM search (filters, operators, sort, paging, 10k cap, per-second limit)."""
import json

import pytest
from hubspot.crm.contacts import ApiException, Filter, FilterGroup, PublicObjectSearchRequest

from sandbox.testing import raw


@pytest.fixture
def people(emu):
    emu.load_records("contacts", [
        {"id": "101", "properties": {"email": "Ann.Lee@Example.com", "firstname": "Ann", "lifecyclestage": "lead",
                                     "salesforceleadid": "00Q1"},
         "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-03-01T00:00:00Z"},
        {"id": "102", "properties": {"email": "bob@example.com", "firstname": "Bob",
                                     "lifecyclestage": "customer", "salesforcecontactid": "0031"},
         "createdAt": "2024-01-02T00:00:00Z", "updatedAt": "2024-03-02T00:00:00Z"},
        {"id": "103", "properties": {"email": "cy@other.org", "firstname": "Cy", "salesforcecontactid": "0032"},
         "createdAt": "2023-12-31T00:00:00Z", "updatedAt": "2024-03-03T00:00:00Z"},
        {"id": "104", "properties": {"email": "gone@example.com"}, "archived": True},
    ])
    return emu


def search(client, filters=None, groups=None, **kw):
    if groups is None:
        groups = [FilterGroup(filters=[Filter(**f) for f in filters])] if filters else []
    return client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(filter_groups=groups, **kw))


def ids(res):
    return [r.id for r in res.results]


def ms(iso):
    from datetime import datetime

    return str(int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000))


def test_eq_on_email_is_case_insensitive_and_archived_never_appear(client, people):
    res = search(client, [{"property_name": "email", "operator": "EQ", "value": "ann.lee@example.COM"}])
    assert ids(res) == ["101"] and res.total == 1
    assert search(client, [{"property_name": "email", "operator": "EQ", "value": "gone@example.com"}]).total == 0


@pytest.mark.parametrize("flt, expected", [
    ({"property_name": "firstname", "operator": "NEQ", "value": "bob"}, ["103", "101"]),
    ({"property_name": "hs_object_id", "operator": "GT", "value": "101"}, ["103", "102"]),
    ({"property_name": "hs_object_id", "operator": "GTE", "value": "102"}, ["103", "102"]),
    ({"property_name": "hs_object_id", "operator": "LT", "value": "102"}, ["101"]),
    ({"property_name": "hs_object_id", "operator": "LTE", "value": "102"}, ["101", "102"]),
    ({"property_name": "hs_object_id", "operator": "BETWEEN", "value": "102", "high_value": "103"}, ["103", "102"]),
    ({"property_name": "email", "operator": "IN", "values": ["bob@example.com", "cy@other.org"]}, ["103", "102"]),
    ({"property_name": "hs_object_id", "operator": "NOT_IN", "values": ["101", "102"]}, ["103"]),
    ({"property_name": "salesforcecontactid", "operator": "HAS_PROPERTY"}, ["103", "102"]),
    ({"property_name": "salesforcecontactid", "operator": "NOT_HAS_PROPERTY"}, ["101"]),
    ({"property_name": "email", "operator": "CONTAINS_TOKEN", "value": "*@example.com"}, ["101", "102"]),
    ({"property_name": "email", "operator": "CONTAINS_TOKEN", "value": "other.org"}, ["103"]),
    ({"property_name": "lifecyclestage", "operator": "EQ", "value": "customer"}, ["102"]),
    ({"property_name": "lifecyclestage", "operator": "EQ", "value": "CUSTOMER"}, []),  # enums: case-sensitive
])
def test_operators(client, people, flt, expected):
    res = search(client, [flt])  # no sort: oldest-created first (103 was created first)
    assert ids(res) == expected
    assert res.total == len(expected)


def test_string_in_values_must_be_lowercase(client, people):
    assert ids(search(client, [{"property_name": "email", "operator": "IN",
                                "values": ["ann.lee@example.com"]}])) == ["101"]
    assert ids(search(client, [{"property_name": "email", "operator": "IN",
                                "values": ["Ann.Lee@Example.com"]}])) == []


def test_dates_as_epoch_ms_or_iso_and_groups_are_or(client, people):
    res = search(client, [{"property_name": "lastmodifieddate", "operator": "GTE", "value": ms("2024-03-02T00:00:00Z")},
                          {"property_name": "lastmodifieddate", "operator": "LTE", "value": "2024-03-02T12:00:00Z"}])
    assert ids(res) == ["102"]
    res = search(client, groups=[
        FilterGroup(filters=[Filter(property_name="firstname", operator="EQ", value="ann")]),
        FilterGroup(filters=[Filter(property_name="firstname", operator="EQ", value="cy")])],
        sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}])
    assert ids(res) == ["101", "103"]


def test_sort_one_rule_both_directions_and_string_form(client, people):
    res = search(client, sorts=[{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}])
    assert ids(res) == ["103", "102", "101"]
    res = search(client, sorts=["-createdate"])
    assert ids(res) == ["102", "101", "103"]
    with pytest.raises(ApiException) as ei:
        search(client, sorts=[{"propertyName": "email", "direction": "ASCENDING"},
                              {"propertyName": "firstname", "direction": "ASCENDING"}])
    assert ei.value.status == 400


def test_properties_and_result_shape(client, people):
    res = search(client, [{"property_name": "hs_object_id", "operator": "EQ", "value": "102"}],
                 properties=["email", "salesforcecontactid"])
    props = res.results[0].properties
    assert set(props) == {"email", "salesforcecontactid", "createdate", "lastmodifieddate", "hs_object_id"}
    assert props["lastmodifieddate"] == "2024-03-02T00:00:00.000Z"


def test_filter_limits_5_groups_6_per_group_18_total(client, people):
    f = Filter(property_name="hs_object_id", operator="GT", value="0")
    for groups in ([FilterGroup(filters=[f])] * 6, [FilterGroup(filters=[f] * 7)],
                   [FilterGroup(filters=[f] * 4)] * 5):
        with pytest.raises(ApiException) as ei:
            search(client, groups=groups)
        assert ei.value.status == 400 and json.loads(ei.value.body)["category"] == "VALIDATION_ERROR"
    assert search(client, groups=[FilterGroup(filters=[f] * 6)] * 3).total == 3  # 18 is fine
    with pytest.raises(ApiException):
        search(client, limit=201)


def test_paging_and_the_10000_result_cap(client, emu):
    emu.load_records("contacts", [{"properties": {"email": f"p{i}@example.com"}} for i in range(10_050)])
    req = dict(sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}], limit=200,
               properties=["email"])
    first = search(client, [{"property_name": "hs_object_id", "operator": "GT", "value": "0"}], **req)
    assert first.total == 10_050 and len(first.results) == 200 and first.paging.next.after == "200"
    second = search(client, [{"property_name": "hs_object_id", "operator": "GT", "value": "0"}],
                    after=first.paging.next.after, **req)
    assert int(second.results[0].id) == int(first.results[-1].id) + 1
    near = search(client, [{"property_name": "hs_object_id", "operator": "GT", "value": "0"}], after="9900", **req)
    assert len(near.results) == 100 and near.paging.next.after == "10000"
    with pytest.raises(ApiException) as ei:
        search(client, [{"property_name": "hs_object_id", "operator": "GT", "value": "0"}], after="10000", **req)
    assert ei.value.status == 400 and json.loads(ei.value.body)["category"] == "VALIDATION_ERROR"
    # the documented workaround: restart from the highest id seen
    restart = search(client, [{"property_name": "hs_object_id", "operator": "GT",
                               "value": near.results[-1].id}], **req)
    assert restart.total == 50


def test_search_has_its_own_per_second_limit_and_no_ratelimit_headers(client, people, server, emu):
    emu.configure_limits(search_per_second=5)
    server.sandbox.clock.advance(2)
    statuses, bodies = [], []
    for _ in range(6):
        st, headers, body = raw(server, "POST", "/crm/v3/objects/contacts/search", {"limit": 1})
        statuses.append(st)
        bodies.append(body)
        assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in headers)
    assert statuses[:5] == [200] * 5 and statuses[5] == 429
    body = bodies[5]
    assert body["policyName"] == "SECONDLY" and body["errorType"] == "RATE_LIMIT"
    assert body["message"] == "You have reached your secondly limit."
    # non-search calls are not affected by the search window
    assert raw(server, "GET", "/crm/v3/objects/contacts?limit=1")[0] == 200
    with pytest.raises(ApiException) as ei:  # a POST 429 is not retried by the client: it surfaces
        search(client)
    assert ei.value.status == 429
    server.sandbox.clock.advance(1.5)
    assert search(client).total == 3
    assert emu.limits["rejected"]["SECONDLY"] == 2


def test_incremental_sync_query_at_100k(emu, client):
    """The sync's incremental query over 100,000 contacts: the right window, in order (its speed
    is measured in the sandbox README, not asserted here)."""
    emu.load_records("contacts", [{"properties": {"email": f"bulk{i}@example.com"},
                                   "updatedAt": f"2024-01-01T00:{i // 6000:02d}:{(i // 100) % 60:02d}.{i % 100:03d}Z"}
                                  for i in range(100_000)])
    res = search(client, [{"property_name": "lastmodifieddate", "operator": "GTE", "value": ms("2024-01-01T00:16:00Z")}],
                 sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}], limit=200,
                 properties=["email"])
    assert res.total == 4_000
    stamps = [r.properties["lastmodifieddate"] for r in res.results]
    assert stamps == sorted(stamps) and stamps[0] >= "2024-01-01T00:16:00.000Z"


def test_legacy_top_level_filters_and_associations_pseudo_property(server, emu, people):
    emu.load_records("companies", [{"id": "900", "properties": {"name": "Acme"}}])
    emu.load_records("associations", [{"from_type": "contacts", "from_id": "102", "to_type": "companies",
                                       "to_id": "900"}])
    st, _, body = raw(server, "POST", "/crm/v3/objects/contacts/search",
                      {"filters": [{"propertyName": "associations.company", "operator": "EQ", "value": "900"}]})
    assert st == 200 and [r["id"] for r in body["results"]] == ["102"]
    st, _, body = raw(server, "POST", "/crm/v3/objects/contacts/search", b"{" + b" " * 3001 + b"}")
    assert st == 400
