"""Every HubSpot emulator response validates against HubSpot's official OpenAPI schema for its
path + method + status (the specs and their documented relaxations: openapi_specs.py)."""
import re

import pytest
from openapi_schema_validator import OAS30Validator

from sandbox.testing import raw
from tests.sandbox.openapi_specs import NOT_EMULATED, RELAXED, SPECS


def _templates():
    out = []
    for spec_name, spec in RELAXED.items():
        for tpl, ops in spec["paths"].items():
            rx = "^" + re.sub(r"\{[^}]+\}", "[^/]+", tpl) + "$"
            for method in ops:
                if method != "parameters":
                    out.append((spec_name, tpl, method.upper(), re.compile(rx)))
    # longest (most literal) templates first so /batch/read wins over /{contactId}
    out.sort(key=lambda t: (-t[1].count("/"), t[1].count("{")))
    return out


TEMPLATES = _templates()


def _spec_path(path: str) -> str:
    # the deals spec is published under the type id 0-3
    return re.sub(r"^/crm/v3/objects/deals(?=/|$)", "/crm/v3/objects/0-3", path.split("?")[0])


class Checker:
    def __init__(self, server):
        self.server = server
        self.seen: set[tuple[str, str, str, str]] = set()

    def call(self, method, path, body=None, expect=None):
        status, headers, payload = raw(self.server, method, path, body)
        if expect is not None:
            assert status == expect, (method, path, status, payload)
        p = _spec_path(path)
        for spec_name, tpl, m, rx in TEMPLATES:  # noqa: B007 - used after the loop breaks
            if m == method and rx.match(p):
                break
        else:
            raise AssertionError(f"no spec operation for {method} {p}")
        op = RELAXED[spec_name]["paths"][tpl][method.lower()]
        resp = op["responses"].get(str(status))
        if resp is None:
            assert status >= 400, f"{method} {tpl}: status {status} not in the spec"
            resp = op["responses"]["default"]
        if "$ref" in resp:
            resp = RELAXED[spec_name]["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
        content = resp.get("content")
        if not content:
            assert payload is None, f"{method} {tpl} {status} must have no body"
        elif status != 429:
            schema = next(iter(content.values()))["schema"]
            root = {**schema, "components": RELAXED[spec_name]["components"]}
            errors = sorted(OAS30Validator(root).iter_errors(payload), key=lambda e: list(e.path))
            assert not errors, f"{method} {path} {status}: " + "; ".join(
                f"{list(e.path)}: {e.message}" for e in errors[:5])
        self.seen.add((spec_name, method, tpl, str(status)))
        return status, payload


def _seed(emu) -> None:
    """Three contacts, two companies, two deals and one association: what every check reads."""
    emu.load_records("contacts", [
        {"id": "101", "properties": {"email": "a@example.com", "firstname": "A"}},
        {"id": "102", "properties": {"email": "b@example.com", "firstname": "B"}},
        {"id": "103", "properties": {"email": "c@example.com"}}])
    emu.load_records("companies", [{"id": "900", "properties": {"name": "Acme", "domain": "acme.com"}},
                                   {"id": "901", "properties": {"name": "Beta"}}])
    emu.load_records("deals", [{"id": "950", "properties": {"dealname": "D1", "amount": "10"}},
                               {"id": "951", "properties": {"dealname": "D2"}}])
    emu.load_records("associations", [{"from_type": "contacts", "from_id": "101", "to_type": "companies",
                                       "to_id": "900"}])


@pytest.fixture
def chk(server, emu):
    _seed(emu)
    return Checker(server)


FIRST = {"contacts": ("101", "102", "103", "email", "x@example.com"),
         "companies": ("900", "901", None, "name", "Gamma"),
         "deals": ("950", "951", None, "dealname", "D3")}


@pytest.mark.parametrize("otype", ["contacts", "companies", "deals"])
def test_object_endpoints_match_the_spec(chk, otype):
    a, b, _, prop, newval = FIRST[otype]
    base = f"/crm/v3/objects/{otype}"
    chk.call("GET", f"{base}?limit=1&associations=companies,contacts", expect=200)
    chk.call("GET", f"{base}?limit=1&properties={prop}&properties=nosuch&archived=false", expect=200)
    chk.call("GET", f"{base}/{a}?associations=companies&propertiesWithHistory={prop}", expect=200)
    chk.call("GET", f"{base}/424242", expect=404)
    chk.call("GET", f"{base}?limit=500", expect=400)
    st, created = chk.call("POST", base, {"properties": {prop: newval}, "associations": []}, expect=201)
    chk.call("POST", base, {"properties": {"nosuch": "1"}}, expect=400)
    chk.call("PATCH", f"{base}/{created['id']}", {"properties": {prop: newval + "2"}}, expect=200)
    chk.call("PATCH", f"{base}/424242", {"properties": {prop: newval + "9"}}, expect=404)
    chk.call("POST", f"{base}/batch/read", {"inputs": [{"id": a}], "properties": [prop],
                                            "propertiesWithHistory": []}, expect=200)
    chk.call("POST", f"{base}/batch/read", {"inputs": [{"id": a}, {"id": "424242"}], "properties": [prop],
                                            "propertiesWithHistory": []}, expect=207)
    chk.call("POST", f"{base}/batch/read", {"inputs": [{"id": str(i)} for i in range(101)], "properties": [],
                                            "propertiesWithHistory": []}, expect=400)
    st, bc = chk.call("POST", f"{base}/batch/create",
                      {"inputs": [{"properties": {prop: newval + "b"}, "associations": []}]}, expect=201)
    chk.call("POST", f"{base}/batch/update", {"inputs": [{"id": bc["results"][0]["id"],
                                                          "properties": {prop: newval + "c"}}]}, expect=200)
    chk.call("POST", f"{base}/batch/update", {"inputs": [{"id": "424242", "properties": {prop: newval + "z"}},
                                                         {"id": b, "properties": {prop: newval + "d"}}]},
             expect=207)
    chk.server.sandbox.hubspot.props.create(otype, {
        "name": "ukey", "label": "Key", "type": "string", "fieldType": "text", "groupName": "g",
        "hasUniqueValue": True}, 0)
    chk.server.sandbox.hubspot.stores[otype].add_unique_prop("ukey")
    chk.call("POST", f"{base}/batch/upsert", {"inputs": [{"id": "k1", "idProperty": "ukey",
                                                          "properties": {prop: newval + "u"}}]}, expect=200)
    chk.call("POST", f"{base}/batch/upsert", {"inputs": [{"id": "k1", "idProperty": "hs_object_id",
                                                          "properties": {prop: newval + "u"}}]}, expect=400)
    chk.call("POST", f"{base}/search", {"filterGroups": [{"filters": [
        {"propertyName": "hs_object_id", "operator": "GT", "value": "0"}]}],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}], "limit": 1,
        "properties": [prop], "after": "0"}, expect=200)
    chk.call("POST", f"{base}/search", {"filterGroups": [{"filters": [
        {"propertyName": "hs_object_id", "operator": "WAT", "value": "0"}]}]}, expect=400)
    st, merged = chk.call("POST", f"{base}/merge", {"primaryObjectId": a, "objectIdToMerge": b}, expect=200)
    chk.call("POST", f"{base}/merge", {"primaryObjectId": merged["id"], "objectIdToMerge": "424242"},
             expect=404)
    chk.call("DELETE", f"{base}/{created['id']}", expect=204)
    chk.call("POST", f"{base}/batch/archive", {"inputs": [{"id": bc["results"][0]["id"]}]}, expect=204)


def test_contact_specific_endpoints_match_the_spec(chk):
    base = "/crm/v3/objects/contacts"
    chk.call("POST", base, {"properties": {"email": "A@example.com"}}, expect=409)
    chk.call("GET", f"{base}/c%40example.com?idProperty=email", expect=200)
    chk.call("POST", f"{base}/batch/upsert", {"inputs": [
        {"id": "c@example.com", "idProperty": "email", "properties": {"firstname": "C"}},
        {"id": "n@example.com", "idProperty": "email", "properties": {"firstname": "N"}}]}, expect=200)
    chk.call("POST", f"{base}/batch/create", {"inputs": [{"properties": {"email": "c@example.com"},
                                                          "associations": []}]}, expect=409)
    chk.call("POST", f"{base}/gdpr-delete", {"objectId": "103"}, expect=204)


def test_association_endpoints_match_the_spec(chk):
    chk.call("GET", "/crm/v4/objects/contacts/101/associations/companies", expect=200)
    chk.call("GET", "/crm/v4/objects/contacts/101/associations/companies?limit=1000", expect=400)
    chk.call("PUT", "/crm/v4/objects/contacts/102/associations/default/companies/901", expect=200)
    chk.call("PUT", "/crm/v4/objects/contacts/102/associations/default/companies/424242", expect=400)
    chk.call("PUT", "/crm/v4/objects/deals/950/associations/companies/900",
             [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}], expect=201)
    chk.call("DELETE", "/crm/v4/objects/deals/950/associations/companies/900", expect=204)
    base = "/crm/v4/associations/contacts/companies/batch"
    chk.call("POST", f"{base}/read", {"inputs": [{"id": "101"}]}, expect=200)
    chk.call("POST", f"{base}/read", {"inputs": [{"id": "101"}, {"id": "103"}]}, expect=207)
    chk.call("POST", f"{base}/create", {"inputs": [{"from": {"id": "103"}, "to": {"id": "900"},
                                                    "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                               "associationTypeId": 279}]}]}, expect=201)
    chk.call("POST", f"{base}/create", {"inputs": [
        {"from": {"id": "103"}, "to": {"id": "901"},
         "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]},
        {"from": {"id": "424242"}, "to": {"id": "901"},
         "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]}, expect=207)
    chk.call("POST", f"{base}/associate/default", {"inputs": [{"from": {"id": "102"}, "to": {"id": "900"}}]},
             expect=200)
    chk.call("POST", f"{base}/labels/archive", {"inputs": [{"from": {"id": "103"}, "to": {"id": "900"},
                                                            "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                                       "associationTypeId": 1}]}]}, expect=204)
    chk.call("POST", f"{base}/archive", {"inputs": [{"from": {"id": "103"}, "to": [{"id": "900"}]}]},
             expect=204)


def test_property_endpoints_match_the_spec(chk):
    chk.call("GET", "/crm/v3/properties/contacts", expect=200)
    chk.call("GET", "/crm/v3/properties/deals?archived=false", expect=200)
    chk.call("GET", "/crm/v3/properties/companies/salesforceaccountid", expect=200)
    chk.call("GET", "/crm/v3/properties/companies/nosuch", expect=404)
    new = {"name": "ext_id", "label": "Ext", "type": "string", "fieldType": "text",
           "groupName": "contactinformation", "hasUniqueValue": True,
           "options": []}
    chk.call("POST", "/crm/v3/properties/contacts", new, expect=201)
    chk.call("POST", "/crm/v3/properties/contacts", new, expect=409)
    chk.call("PATCH", "/crm/v3/properties/contacts/ext_id", {"label": "External id"}, expect=200)
    chk.call("PATCH", "/crm/v3/properties/contacts/email", {"label": "nope"}, expect=400)
    chk.call("DELETE", "/crm/v3/properties/contacts/ext_id", expect=204)


def test_every_emulated_operation_was_validated(server, emu):
    chk = Checker(server)
    # run the other checks on one shared checker to collect coverage
    for otype in ("contacts", "companies", "deals"):
        test_object_endpoints_match_the_spec(_fresh(chk, emu), otype)
    for fn in (test_contact_specific_endpoints_match_the_spec, test_association_endpoints_match_the_spec,
               test_property_endpoints_match_the_spec):
        fn(_fresh(chk, emu))
    covered = {(s, m, t) for s, m, t, _ in chk.seen}
    expected = {(s, tpl[1], tpl[0]) for s, spec in SPECS.items() for tpl in
                [(p, m.upper()) for p, ops in spec["paths"].items() for m in ops if m != "parameters"]}
    missing = expected - covered - NOT_EMULATED
    assert not missing, sorted(missing)


def _fresh(chk, emu):
    emu.reset()
    emu.configure_limits(burst_max=100_000, search_per_second=100_000)
    _seed(emu)
    return chk
