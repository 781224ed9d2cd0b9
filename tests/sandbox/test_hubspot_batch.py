"""HubSpot emulator: CRM v3 batch endpoints (read/create/update/upsert/archive) via the real client."""
import json

import pytest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
)

from sandbox.testing import raw


@pytest.fixture
def seeded(emu):
    emu.load_records("contacts", [
        {"id": "101", "properties": {"email": "a@example.com", "firstname": "A", "salesforcecontactid": "003A"}},
        {"id": "102", "properties": {"email": "b@example.com", "firstname": "B"}},
        {"id": "103", "properties": {"email": "c@example.com", "firstname": "C"}},
    ])
    return emu


def test_batch_read_all_found_is_200_complete(client, seeded):
    res = client.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[{"id": "101"}, {"id": "103"}], properties=["email", "salesforcecontactid"]))
    assert res.status == "COMPLETE"
    assert [(r.id, r.properties["email"]) for r in res.results] == [("101", "a@example.com"),
                                                                    ("103", "c@example.com")]
    assert res.results[0].properties["salesforcecontactid"] == "003A"
    assert res.started_at <= res.completed_at


def test_batch_read_by_email_with_a_missing_one_is_207_with_errors(client, seeded, server):
    body = {"idProperty": "email", "properties": ["email"], "propertiesWithHistory": [],
            "inputs": [{"id": "B@example.com"}, {"id": "missing@example.com"}]}
    status, _, out = raw(server, "POST", "/crm/v3/objects/contacts/batch/read", body)
    assert status == 207
    assert [r["id"] for r in out["results"]] == ["102"]
    assert out["numErrors"] == 1
    err = out["errors"][0]
    assert err["status"] == "error" and err["category"] == "OBJECT_NOT_FOUND"
    assert err["message"] == ("Could not get some CONTACT objects, they may be deleted or not exist. "
                              "Check that ids are valid.")
    assert err["context"] == {"ids": ["missing@example.com"]}
    # the client deserialises the 207 into the WithErrors model
    res = client.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        id_property="email", properties=["email"], inputs=[{"id": "a@example.com"}, {"id": "zz@example.com"}]))
    assert res.num_errors == 1 and res.errors[0].context == {"ids": ["zz@example.com"]}


def test_more_than_100_inputs_is_a_400_validation_error(client, seeded):
    for call in (
        lambda: client.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
            inputs=[{"id": str(i)} for i in range(101)], properties=["email"])),
        lambda: client.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[{"properties": {"email": f"n{i}@example.com"}} for i in range(101)])),
        lambda: client.crm.contacts.batch_api.archive(BatchInputSimplePublicObjectId(
            inputs=[{"id": str(i)} for i in range(101)])),
    ):
        with pytest.raises(ApiException) as ei:
            call()
        assert ei.value.status == 400
        assert json.loads(ei.value.body)["category"] == "VALIDATION_ERROR"
    assert seeded.counts()["contacts"]["live"] == 3  # nothing was created


def test_batch_create_201_and_whole_batch_409_on_taken_email(client, seeded):
    res = client.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
        {"properties": {"email": "new1@example.com"}, "associations": []},
        {"properties": {"email": "new2@example.com"}, "associations": []}]))
    assert res.status == "COMPLETE" and len(res.results) == 2
    assert {r.properties["email"] for r in res.results} == {"new1@example.com", "new2@example.com"}
    before = seeded.counts()["contacts"]["live"]
    with pytest.raises(ApiException) as ei:
        client.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            {"properties": {"email": "fresh@example.com"}, "associations": []},
            {"properties": {"email": "A@example.com"}, "associations": []}]))
    assert ei.value.status == 409
    assert json.loads(ei.value.body)["message"] == "Contact already exists. Existing ID: 101"
    assert seeded.counts()["contacts"]["live"] == before  # nothing from the failed batch was written
    with pytest.raises(ApiException) as ei:  # two inputs with one email
        client.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            {"properties": {"email": "twin@example.com"}, "associations": []},
            {"properties": {"email": "TWIN@example.com"}, "associations": []}]))
    assert ei.value.status == 409


def test_batch_update_with_unknown_id_is_207_and_updates_the_rest(client, seeded, server):
    server.sandbox.clock.advance(1)
    status, _, out = raw(server, "POST", "/crm/v3/objects/contacts/batch/update", {"inputs": [
        {"id": "101", "properties": {"lastname": "One"}},
        {"id": "555555", "properties": {"lastname": "Ghost"}, "objectWriteTraceId": "t-1"}]})
    assert status == 207
    assert [r["id"] for r in out["results"]] == ["101"]
    assert out["results"][0]["properties"]["lastname"] == "One"
    assert out["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert out["errors"][0]["context"]["ids"] == ["555555"]
    res = client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        {"id": "102", "properties": {"lastname": "Two"}}, {"id": "103", "properties": {"lastname": "Three"}}]))
    assert res.status == "COMPLETE" and sorted(r.properties["lastname"] for r in res.results) == ["Three", "Two"]
    with pytest.raises(ApiException) as ei:  # duplicate ids in one batch
        client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
            {"id": "102", "properties": {"lastname": "x"}}, {"id": "102", "properties": {"lastname": "y"}}]))
    assert ei.value.status == 400 and "Duplicate IDs" in json.loads(ei.value.body)["message"]
    with pytest.raises(ApiException) as ei:  # an unknown property fails the whole batch
        client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
            {"id": "102", "properties": {"lastname": "ok"}}, {"id": "103", "properties": {"bogus": "1"}}]))
    assert ei.value.status == 400 and "PROPERTY_DOESNT_EXIST" in json.loads(ei.value.body)["message"]


def test_batch_upsert_by_email_creates_and_updates(client, seeded):
    res = client.crm.contacts.batch_api.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
        {"id": "A@example.com", "idProperty": "email", "properties": {"firstname": "Alpha"}},
        {"id": "zed@example.com", "idProperty": "email", "properties": {"firstname": "Zed"}}]))
    assert res.status == "COMPLETE"
    by_new = {r.new: r for r in res.results}
    assert by_new[False].id == "101" and by_new[False].properties["firstname"] == "Alpha"
    assert by_new[True].properties["email"] == "zed@example.com"
    assert client.crm.contacts.basic_api.get_by_id("zed@example.com", id_property="email").id == by_new[True].id


def test_upsert_requires_a_unique_id_property(client, seeded, server):
    with pytest.raises(ApiException) as ei:
        client.crm.contacts.batch_api.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
            {"id": "A", "idProperty": "firstname", "properties": {"lastname": "x"}}]))
    assert ei.value.status == 400
    # a custom property created with hasUniqueValue becomes a valid idProperty (companies)
    status, _, _ = raw(server, "POST", "/crm/v3/properties/companies", {
        "name": "sf_account_key", "label": "SF account key", "type": "string", "fieldType": "text",
        "groupName": "companyinformation", "hasUniqueValue": True})
    assert status == 201
    from hubspot.crm.companies import BatchInputSimplePublicObjectBatchInputUpsert as CompanyUpsert

    body = CompanyUpsert(inputs=[{"id": "001A", "idProperty": "sf_account_key", "properties": {"name": "Acme"}}])
    first = client.crm.companies.batch_api.upsert(body)
    second = client.crm.companies.batch_api.upsert(body)
    assert first.results[0].new is True and second.results[0].new is False
    assert first.results[0].id == second.results[0].id
    from hubspot.crm.companies import ApiException as CompanyApiException

    with pytest.raises(CompanyApiException) as ei:  # salesforceaccountid is not hasUniqueValue
        client.crm.companies.batch_api.upsert(CompanyUpsert(inputs=[
            {"id": "001A", "idProperty": "salesforceaccountid", "properties": {"name": "Acme"}}]))
    assert ei.value.status == 400


def test_batch_archive_is_204_and_ignores_unknown_ids(client, seeded):
    assert client.crm.contacts.batch_api.archive(BatchInputSimplePublicObjectId(
        inputs=[{"id": "101"}, {"id": "424242"}])) is None
    assert seeded.counts()["contacts"] == {"live": 2, "archived": 1}
    # the email is free again after archiving
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate

    again = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": "a@example.com"}))
    assert again.id != "101"
