"""HubSpot emulator: what the sync relies on after merges and deletes (archived listing, merge
bookkeeping, old ids resolving), and upsert/read by a custom unique-value property — the way
the product makes creates idempotent."""
import pytest
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInputUpsert as CompanyUpsert,
)
from hubspot.crm.companies import (
    BatchReadInputSimplePublicObjectId as CompanyRead,
)
from hubspot.crm.companies import PublicMergeInput
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyCreate
from hubspot.crm.deals import (
    BatchInputSimplePublicObjectBatchInputUpsert as DealUpsert,
)
from hubspot.crm.deals import (
    BatchReadInputSimplePublicObjectId as DealRead,
)
from hubspot.crm.properties import PropertyCreate


@pytest.fixture
def people(emu):
    emu.load_records("contacts", [
        {"id": "101", "properties": {"email": "keep@example.com"}},
        {"id": "102", "properties": {"email": "gone@example.com"}},
        {"id": "103", "properties": {"email": "deleted@example.com"}},
        {"id": "104", "properties": {"email": "live@example.com"}}])
    emu.load_records("companies", [{"id": str(i), "properties": {"name": f"Co {i}"}} for i in (900, 901, 902)])
    emu.load_records("deals", [{"id": str(i), "properties": {"dealname": f"D {i}"}} for i in (950, 951)])
    return emu


def test_archived_listing_shows_merged_away_and_deleted_records_with_archived_at(client, people):
    """`archived=true` is how a sync learns of deletes and merges it did not see happen."""
    basic = client.crm.contacts.basic_api
    merged = basic.merge({"primaryObjectId": "101", "objectIdToMerge": "102"})
    basic.archive("103")
    arch = basic.get_page(archived=True, limit=100)
    assert sorted(r.id for r in arch.results) == ["101", "102", "103"]
    assert all(r.archived is True and r.archived_at is not None for r in arch.results)
    assert sorted(r.id for r in basic.get_page(limit=100).results) == sorted(["104", merged.id])
    client.crm.companies.basic_api.merge(PublicMergeInput(primary_object_id="900", object_id_to_merge="901"))
    client.crm.companies.basic_api.archive("902")
    arch = client.crm.companies.basic_api.get_page(archived=True)
    assert sorted(r.id for r in arch.results) == ["900", "901", "902"]
    assert all(r.archived_at for r in arch.results)


def test_merged_contact_carries_old_ids_and_the_secondarys_email(client, people):
    merged = client.crm.contacts.basic_api.merge({"primaryObjectId": "101", "objectIdToMerge": "102"})
    full = client.crm.contacts.basic_api.get_by_id(merged.id, properties=["hs_merged_object_ids",
                                                                          "hs_additional_emails", "email"])
    assert sorted(full.properties["hs_merged_object_ids"].split(";")) == ["101", "102"]
    assert full.properties["email"] == "keep@example.com"
    assert full.properties["hs_additional_emails"] == "gone@example.com"
    for old in ("101", "102"):
        assert client.crm.contacts.basic_api.get_by_id(old).id == merged.id


@pytest.mark.parametrize("otype, a, b", [("companies", "900", "901"), ("deals", "950", "951")])
def test_merged_companies_and_deals_resolve_old_ids_and_list_them(client, people, otype, a, b):
    api = getattr(client.crm, otype).basic_api
    merged = api.merge({"primaryObjectId": a, "objectIdToMerge": b})
    assert merged.id not in (a, b)
    got = api.get_by_id(merged.id, properties=["hs_merged_object_ids"])
    assert got.properties["hs_merged_object_ids"] in (f"{a};{b}", f"{b};{a}")  # semicolon-separated
    for old in (a, b):
        assert api.get_by_id(old).id == merged.id


def test_a_second_merge_lists_every_id_merged_so_far(client, people):
    api = client.crm.companies.basic_api
    first = api.merge({"primaryObjectId": "900", "objectIdToMerge": "901"})
    second = api.merge({"primaryObjectId": first.id, "objectIdToMerge": "902"})
    assert set(second.properties["hs_merged_object_ids"].split(";")) == {"900", "901", first.id, "902"}
    assert api.get_by_id("900").id == second.id  # resolves through both merges


def _unique_property(client, otype, name):
    created = client.crm.properties.core_api.create(otype, PropertyCreate(
        name=name, label="Salesforce id", type="string", field_type="text",
        group_name=f"{otype[:-1] if otype == 'deals' else 'company'}information", has_unique_value=True))
    assert created.has_unique_value is True


def test_upsert_by_a_unique_property_is_an_idempotent_create_for_companies(client, people):
    """Twice the same upsert: one record, created then updated; batch read finds it by the value."""
    _unique_property(client, "companies", "sf_account_id")
    body = CompanyUpsert(inputs=[{"id": "001AAA", "idProperty": "sf_account_id", "properties": {"name": "Acme"}},
                                 {"id": "001BBB", "idProperty": "sf_account_id", "properties": {"name": "Beta"}}])
    first = client.crm.companies.batch_api.upsert(body)
    second = client.crm.companies.batch_api.upsert(body)
    assert [r.new for r in first.results] == [True, True] and [r.new for r in second.results] == [False, False]
    assert sorted(r.id for r in first.results) == sorted(r.id for r in second.results)
    assert {r.properties["sf_account_id"] for r in second.results} == {"001AAA", "001BBB"}
    read = client.crm.companies.batch_api.read(CompanyRead(
        id_property="sf_account_id", inputs=[{"id": "001aaa"}, {"id": "001BBB"}], properties=["name"],
        properties_with_history=[]))
    assert sorted(r.properties["name"] for r in read.results) == ["Acme", "Beta"]
    assert client.crm.companies.basic_api.get_by_id("001AAA", id_property="sf_account_id").properties["name"] == "Acme"
    from hubspot.crm.companies import ApiException

    with pytest.raises(ApiException) as ei:  # the value is unique: a plain create with it conflicts
        client.crm.companies.basic_api.create(CompanyCreate(properties={"name": "Copy", "sf_account_id": "001AAA"}))
    assert ei.value.status == 409


def test_upsert_by_a_unique_property_is_an_idempotent_create_for_deals(client, people):
    _unique_property(client, "deals", "sf_opportunity_id")
    body = DealUpsert(inputs=[{"id": "006X", "idProperty": "sf_opportunity_id",
                               "properties": {"dealname": "Big", "dealstage": "closedwon"}}])
    first = client.crm.deals.batch_api.upsert(body)
    second = client.crm.deals.batch_api.upsert(body)
    assert (first.results[0].new, second.results[0].new) == (True, False)
    assert first.results[0].id == second.results[0].id
    assert people.counts()["deals"]["live"] == 3
    read = client.crm.deals.batch_api.read(DealRead(id_property="sf_opportunity_id", inputs=[{"id": "006X"}],
                                                    properties=["dealname"], properties_with_history=[]))
    assert [r.id for r in read.results] == [first.results[0].id]
