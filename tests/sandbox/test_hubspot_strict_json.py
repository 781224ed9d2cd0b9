"""HubSpot emulator: wrong-typed JSON anywhere in a body is HubSpot's 400 VALIDATION_ERROR (never a
500 or a traceback), Jackson's coercions still apply, and a wrong method on a known path is a 405."""
import json

import pytest
from hubspot.crm.contacts import ApiException

from sandbox.testing import raw

ASSOC = "/crm/v4/associations/contacts/companies/batch"
WRONG = [  # (method, path, body) — each one a type HubSpot's models cannot take
    ("POST", "/crm/v3/objects/contacts/batch/read", {"inputs": ["AAA"]}),
    ("POST", "/crm/v3/objects/contacts/batch/read", {"inputs": [{"id": "1"}], "idProperty": ["email"]}),
    ("POST", "/crm/v3/objects/contacts/batch/read", {"inputs": [{"id": "1"}], "properties": "email"}),
    ("POST", "/crm/v3/objects/contacts", {"properties": [{}]}),
    ("POST", "/crm/v3/objects/contacts", {"properties": {"email": {"a": 1}}}),
    ("POST", "/crm/v3/objects/contacts", {"properties": {}, "associations": [{"to": "1", "types": []}]}),
    ("PATCH", "/crm/v3/objects/contacts/101", {"properties": "x"}),
    ("POST", "/crm/v3/objects/contacts/batch/create", {"inputs": [{"properties": 5}]}),
    ("POST", "/crm/v3/objects/contacts/batch/update", {"inputs": [{"id": {}, "properties": {}}]}),
    ("POST", "/crm/v3/objects/contacts/batch/upsert", {"inputs": [{"id": "a", "idProperty": 1.5e300, "properties": []}]}),
    ("POST", "/crm/v3/objects/contacts/batch/archive", {"inputs": {"id": "1"}}),
    ("POST", "/crm/v3/objects/contacts/merge", {"primaryObjectId": ["1"], "objectIdToMerge": "2"}),
    ("POST", "/crm/v3/objects/contacts/gdpr-delete", {"objectId": {"id": "1"}}),
    ("POST", "/crm/v3/objects/contacts/search", {"filterGroups": "x"}),
    ("POST", "/crm/v3/objects/contacts/search", {"filterGroups": [{"filters": [{"propertyName": 1, "operator": []}]}]}),
    ("POST", "/crm/v3/objects/contacts/search", {"sorts": [1]}),
    ("POST", "/crm/v3/objects/contacts/search", {"limit": "a"}),
    ("POST", "/crm/v3/objects/contacts/search", {"limit": 2 ** 40}),
    ("POST", "/crm/v3/objects/contacts/search", [1, 2]),
    ("POST", f"{ASSOC}/create", {"inputs": [{"from": {"id": "1"}, "to": {"id": "2"}, "types": [0]}]}),
    ("POST", f"{ASSOC}/create", {"inputs": [{"from": "1", "to": {"id": "2"}, "types": []}]}),
    ("POST", f"{ASSOC}/read", {"inputs": [["101"]]}),
    ("POST", f"{ASSOC}/archive", {"inputs": [{"from": {"id": "1"}, "to": {"id": "2"}}]}),
    ("POST", f"{ASSOC}/associate/default", {"inputs": [None]}),
    ("PUT", "/crm/v4/objects/contacts/101/associations/companies/900", {"associationTypeId": 1}),
    ("PUT", "/crm/v4/objects/contacts/101/associations/companies/900",
     [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": "one"}]),
    ("POST", "/crm/v3/properties/contacts", {"name": "x", "label": "X", "type": "string", "fieldType": "text",
                                            "groupName": "g", "options": [{"label": "a", "value": "a", "hidden": "no"}]}),
    ("PATCH", "/crm/v3/properties/contacts/email", {"displayOrder": "first"}),
]


@pytest.fixture
def seeded(emu):
    emu.load_records("contacts", [{"id": "101", "properties": {"email": "a@example.com"}}])
    emu.load_records("companies", [{"id": "900", "properties": {"name": "Acme"}}])
    return emu


@pytest.mark.parametrize("method, path, body", WRONG, ids=[f"{m} {p} {json.dumps(b)[:40]}" for m, p, b in WRONG])
def test_a_wrong_type_is_a_400_in_hubspots_shape(server, seeded, method, path, body):
    status, headers, out = raw(server, method, path, body)
    assert status == 400, out
    assert set(out) == {"status", "message", "correlationId", "category"}
    assert out["status"] == "error" and out["category"] == "VALIDATION_ERROR"
    assert out["message"].startswith("Invalid input JSON on line 1, column "), out["message"]
    assert headers["X-HubSpot-Correlation-Id"] == out["correlationId"]


def test_the_message_says_where_and_which_types(server):
    """Like Jackson: 1-based column of the offending value, the Java type wanted, the JSON token found."""
    st, _, out = raw(server, "POST", "/crm/v3/objects/contacts/batch/read", b'{"inputs": ["AAA"]}')
    assert out["message"] == ("Invalid input JSON on line 1, column 13: Cannot deserialize value of type "
                              "`SimplePublicObjectId` from String value (token `JsonToken.VALUE_STRING`)")
    st, _, out = raw(server, "POST", "/crm/v3/objects/contacts", b'{\n  "properties": [{}]\n}')
    assert out["message"].startswith("Invalid input JSON on line 2, column 17: Cannot deserialize value of type "
                                     "`java.util.LinkedHashMap<java.lang.String,java.lang.String>` from Array value")


def test_the_real_client_surfaces_it_as_an_api_exception(client, seeded):
    """The SDK sends dicts unchanged, so a caller's typo reaches the API as-is and comes back as a 400."""
    with pytest.raises(ApiException) as ei:
        client.crm.contacts.batch_api.read({"inputs": ["101"], "properties": ["email"]})
    assert ei.value.status == 400 and json.loads(ei.value.body)["category"] == "VALIDATION_ERROR"
    with pytest.raises(ApiException) as ei:
        client.crm.contacts.search_api.do_search({"filterGroups": [], "limit": "many"})
    assert ei.value.status == 400


def test_jacksons_coercions_are_accepted(client, seeded):
    """Numbers and booleans where strings are expected, numeric strings where integers are: fine."""
    res = client.crm.contacts.batch_api.read({"inputs": [{"id": 101}], "properties": ["email"],
                                              "propertiesWithHistory": []})
    assert [r.id for r in res.results] == ["101"]
    assert len(client.crm.contacts.search_api.do_search({"limit": "1"}).results) == 1
    created = client.crm.contacts.basic_api.create({"properties": {"email": "n@example.com", "firstname": 7},
                                                    "associations": []})
    assert created.properties["firstname"] == "7"


@pytest.mark.parametrize("method, path, allow", [
    ("PUT", "/crm/v3/objects/contacts", "GET,POST"),
    ("DELETE", "/crm/v3/objects/contacts", "GET,POST"),
    ("GET", "/crm/v3/objects/contacts/search", "POST"),
    ("GET", "/crm/v3/objects/contacts/batch/read", "POST"),
    ("POST", "/crm/v3/objects/contacts/101", "GET,PATCH,DELETE"),
    ("PUT", "/crm/v3/objects/0-3/9001", "GET,PATCH,DELETE"),
    ("GET", "/crm/v4/associations/contacts/companies/batch/read", "POST"),
    ("POST", "/crm/v4/objects/contacts/101/associations/companies/900", "PUT,DELETE"),
    ("DELETE", "/crm/v3/properties/contacts", "GET,POST"),
    ("POST", "/crm/v3/pipelines/deals/default", "GET"),
])
def test_a_wrong_method_on_a_known_path_is_a_405_with_allow(server, method, path, allow):
    """An empty 405 with `Allow`, as HubSpot answers (routes.py); unknown paths stay 404s."""
    status, headers, body = raw(server, method, path, {} if method in ("POST", "PUT", "PATCH") else None)
    assert (status, headers.get("Allow"), body) == (405, allow, None)
    assert "Content-Type" not in headers and headers["Content-Length"] == "0"
    assert raw(server, method, "/crm/v3/nothing/here")[0] == 404


def test_nan_and_infinity_are_not_json(server):
    """Python's json reads them; Jackson (HubSpot) refuses them."""
    for raw_body in (b'{"limit": NaN}', b'{"properties": {"amount": Infinity}}'):
        path = "/crm/v3/objects/deals/search" if b"limit" in raw_body else "/crm/v3/objects/deals"
        status, _, out = raw(server, "POST", path, raw_body)
        assert status == 400 and out["category"] == "VALIDATION_ERROR"
