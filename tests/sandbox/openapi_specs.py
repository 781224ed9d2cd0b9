"""HubSpot's OpenAPI specs (copies in hubspot-openapi/), with the documented relaxations for where
HubSpot's live wire format differs from its own spec (reference §2.1 and §2.9):

* requested-but-unset property values are JSON null (`properties` maps allow null);
* v4 `MultiAssociatedObjectWithLabel.toObjectId` is a JSON number (the spec says string);
* `AssociationSpecWithLabel.label` is null for unlabeled types.

429 bodies use `errorType` instead of `category` (reference §2.6): they are checked against that
shape in test_hubspot_limits.py, and the spec checks run with limits high enough never to see one.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

SPEC_DIR = Path(__file__).with_name("hubspot-openapi")
SPEC_NAMES = ("contacts", "companies", "deals", "associations", "properties")
SPECS = {name: json.loads((SPEC_DIR / f"{name}.json").read_text()) for name in SPEC_NAMES}

# Operations in the specs that the sandbox does not implement (the sync does not use them).
NOT_EMULATED = {
    ("associations", "POST", "/crm/v4/associations/usage/high-usage-report/{userId}"),
    ("properties", "POST", "/crm/v3/properties/{objectType}/batch/archive"),
    ("properties", "POST", "/crm/v3/properties/{objectType}/batch/create"),
    ("properties", "POST", "/crm/v3/properties/{objectType}/batch/read"),
    ("properties", "GET", "/crm/v3/properties/{objectType}/groups"),
    ("properties", "POST", "/crm/v3/properties/{objectType}/groups"),
    ("properties", "GET", "/crm/v3/properties/{objectType}/groups/{groupName}"),
    ("properties", "DELETE", "/crm/v3/properties/{objectType}/groups/{groupName}"),
    ("properties", "PATCH", "/crm/v3/properties/{objectType}/groups/{groupName}"),
}


def relax(spec: dict) -> dict:
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    for s in schemas.values():
        props = s.get("properties", {})
        if "properties" in props and props["properties"].get("additionalProperties", {}).get("type") == "string":
            props["properties"]["additionalProperties"]["nullable"] = True
    if "MultiAssociatedObjectWithLabel" in schemas:
        schemas["MultiAssociatedObjectWithLabel"]["properties"]["toObjectId"] = {
            "anyOf": [{"type": "string"}, {"type": "integer"}]}
    if "AssociationSpecWithLabel" in schemas:
        schemas["AssociationSpecWithLabel"]["properties"]["label"]["nullable"] = True
    return spec


RELAXED = {name: relax(spec) for name, spec in SPECS.items()}
