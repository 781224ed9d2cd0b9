"""HubSpot emulator: company <-> company associations — the parent/child hierarchy (13 parent to child,
14 child to parent; HubSpot changelog 2018-09-11) and the unlabeled 450 — in v4, in v3
`associations=companies`, and carried through merges."""
import json

import pytest
from hubspot.crm.associations.v4 import ApiException as V4Error
from hubspot.crm.associations.v4 import AssociationSpec
from hubspot.crm.companies import PublicMergeInput

from sandbox.testing import raw

PARENT_TO_CHILD, CHILD_TO_PARENT, UNLABELED = 13, 14, 450


def spec(type_id):
    return [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=type_id)]


@pytest.fixture
def firms(emu):
    emu.load_records("companies", [{"id": str(i), "properties": {"name": f"Co {i}"}} for i in range(900, 908)])
    return emu


def types(v4, company):
    return {r.to_object_id: {t.type_id for t in r.association_types}
            for r in v4.get_page("companies", company, "companies").results}


def test_parent_and_child_in_v4_both_directions(client, firms):
    """Making 901 a child of 900 is seen from both ends, labelled, with the unlabeled type alongside."""
    v4 = client.crm.associations.v4.basic_api
    made = v4.create("companies", "900", "companies", "901", spec(PARENT_TO_CHILD))
    assert made.labels == ["Child Company"] and (made.from_object_type_id, made.to_object_type_id) == ("0-2", "0-2")
    assert types(v4, "900") == {"901": {PARENT_TO_CHILD, UNLABELED}}
    assert types(v4, "901") == {"900": {CHILD_TO_PARENT, UNLABELED}}
    row = v4.get_page("companies", "901", "companies").results[0]
    assert [(t.type_id, t.label) for t in row.association_types] == [(CHILD_TO_PARENT, "Parent Company"),
                                                                    (UNLABELED, None)]
    # removing the label keeps the companies associated
    client.crm.associations.v4.batch_api.archive_labels("companies", "companies", {"inputs": [
        {"from": {"id": "900"}, "to": {"id": "901"},
         "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": PARENT_TO_CHILD}]}]})
    assert types(v4, "901") == {"900": {UNLABELED}}


def test_default_association_between_companies_is_unlabeled(client, firms):
    res = client.crm.associations.v4.basic_api.create_default("companies", "902", "companies", "903")
    assert res.results[0].association_spec.association_type_id == UNLABELED
    assert types(client.crm.associations.v4.basic_api, "903") == {"902": {UNLABELED}}


def test_a_company_has_one_parent(client, firms):
    """A second parent replaces the first (like a primary company); the first stays associated."""
    v4 = client.crm.associations.v4.basic_api
    v4.create("companies", "900", "companies", "902", spec(PARENT_TO_CHILD))
    v4.create("companies", "902", "companies", "901", spec(CHILD_TO_PARENT))  # now 901 is 902's parent
    assert types(v4, "902") == {"900": {UNLABELED}, "901": {CHILD_TO_PARENT, UNLABELED}}
    assert types(v4, "900") == {"902": {UNLABELED}}
    v4.create("companies", "901", "companies", "903", spec(PARENT_TO_CHILD))  # a parent has many children
    assert {k for k, t in types(v4, "901").items() if PARENT_TO_CHILD in t} == {"902", "903"}


def test_a_company_is_not_its_own_parent(client, firms):
    with pytest.raises(V4Error) as ei:
        client.crm.associations.v4.basic_api.create("companies", "900", "companies", "900", spec(PARENT_TO_CHILD))
    assert ei.value.status == 400 and json.loads(ei.value.body)["category"] == "VALIDATION_ERROR"
    with pytest.raises(V4Error):
        client.crm.associations.v4.basic_api.create("companies", "900", "companies", "901", spec(279))


def test_v3_associations_companies_on_a_company(client, firms):
    """`?associations=companies` on companies names the hierarchy as v3 does."""
    client.crm.associations.v4.basic_api.create("companies", "900", "companies", "901", spec(PARENT_TO_CHILD))
    got = client.crm.companies.basic_api.get_by_id("900", associations=["companies"])
    assert sorted((r.id, r.type) for r in got.associations["companies"].results) == [
        ("901", "company_to_company"), ("901", "parent_to_child_company")]
    page = client.crm.companies.basic_api.get_page(associations=["companies"], limit=2)
    assert {r.type for r in page.results[1].associations["companies"].results} == {
        "child_to_parent_company", "company_to_company"}


def test_the_labels_definitions(server, firms):
    st, _, body = raw(server, "GET", "/crm/v4/associations/companies/companies/labels")
    assert st == 200 and body["results"] == [
        {"category": "HUBSPOT_DEFINED", "typeId": 13, "label": "Child Company"},
        {"category": "HUBSPOT_DEFINED", "typeId": 14, "label": "Parent Company"},
        {"category": "HUBSPOT_DEFINED", "typeId": 450, "label": None}]


def test_create_with_a_parent_and_load_from_a_scenario(client, emu):
    emu.load_records("companies", [{"id": "900", "properties": {"name": "Group"}},
                                   {"id": "901", "properties": {"name": "Sub"}}])
    emu.load_records("associations", [{"from_type": "companies", "from_id": "901", "to_type": "companies",
                                       "to_id": "900", "type_id": CHILD_TO_PARENT}])
    from hubspot.crm.companies import SimplePublicObjectInputForCreate

    c = client.crm.companies.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"name": "Sub 2"}, associations=[{"to": {"id": "900"}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": CHILD_TO_PARENT}]}]))
    assert types(client.crm.associations.v4.basic_api, "900") == {
        "901": {PARENT_TO_CHILD, UNLABELED}, c.id: {PARENT_TO_CHILD, UNLABELED}}
    with pytest.raises(ValueError):
        emu.load_records("associations", [{"from_type": "companies", "from_id": "900", "to_type": "companies",
                                           "to_id": "901", "type_id": 279}])


def test_merge_carries_parent_and_children_primarys_parent_wins(client, firms):
    """Merging two companies: the survivor keeps the primary's parent (the secondary's parent stays
    associated unlabeled), gets both sets of children, and is never associated with itself."""
    v4 = client.crm.associations.v4.basic_api
    v4.create("companies", "906", "companies", "900", spec(PARENT_TO_CHILD))  # 906 parent of primary 900
    v4.create("companies", "907", "companies", "901", spec(PARENT_TO_CHILD))  # 907 parent of secondary 901
    v4.create("companies", "900", "companies", "902", spec(PARENT_TO_CHILD))  # children 902, 903
    v4.create("companies", "901", "companies", "903", spec(PARENT_TO_CHILD))
    v4.create("companies", "900", "companies", "901", spec(PARENT_TO_CHILD))  # 901 is 900's child too
    merged = client.crm.companies.basic_api.merge(PublicMergeInput(primary_object_id="900", object_id_to_merge="901"))
    got = types(v4, merged.id)
    assert got == {"906": {CHILD_TO_PARENT, UNLABELED}, "907": {UNLABELED},
                   "902": {PARENT_TO_CHILD, UNLABELED}, "903": {PARENT_TO_CHILD, UNLABELED}}
    assert types(v4, "903") == {merged.id: {CHILD_TO_PARENT, UNLABELED}}
    assert types(v4, "907") == {merged.id: {UNLABELED}}
