"""Describe: `GET …/sobjects/` (the global list) and `GET …/sobjects/{Type}/describe/` in the
shape a real org sends (DescribeSObjectResult / DescribeFieldResult), built from `schema`.

Every key a real field describe carries is present, so code written against a real org's
describe (simple-salesforce hands back the parsed JSON as is) finds what it looks for; the
values the sync relies on (type, length, nillable, createable/updateable, unique, externalId,
idLookup, referenceTo, relationshipName, picklistValues, restrictedPicklist) are the real ones."""
from __future__ import annotations

import copy
from functools import lru_cache

from sandbox.salesforce.schema import SOBJECTS, Field, SObject

_SOAP_TYPES = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "datetime": "xsd:dateTime",
               "date": "xsd:date", "currency": "xsd:double", "percent": "xsd:double", "double": "xsd:double",
               "int": "xsd:int"}
_TEXT = {"string", "email", "phone", "url", "textarea", "picklist", "id", "reference"}
# Parent → child relationships a sync may walk (Account.Contacts, Account.Opportunities).
_CHILDREN = {"Account": [("Contact", "AccountId", "Contacts"), ("Opportunity", "AccountId", "Opportunities")]}


def _urls(obj: SObject, version: str) -> dict:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def brief(obj: SObject, version: str) -> dict:
    """One entry of the global describe (DescribeGlobalSObjectResult)."""
    writable = not obj.read_only
    return {
        "activateable": False, "createable": writable, "custom": False, "customSetting": False,
        "deepCloneable": False, "deletable": writable, "deprecatedAndHidden": False, "feedEnabled": writable,
        "hasSubtypes": False, "isInterface": False, "isSubtype": False, "keyPrefix": obj.key_prefix,
        "label": obj.label, "labelPlural": obj.label_plural, "layoutable": writable,
        "mergeable": obj.mergeable, "mruEnabled": writable, "name": obj.name, "queryable": True,
        "replicateable": writable, "retrieveable": True, "searchable": writable, "triggerable": writable,
        "undeletable": writable, "updateable": writable, "urls": _urls(obj, version)}


def field(obj: SObject, f: Field) -> dict:
    text = f.kind in _TEXT
    length = f.length if text else 0
    reference_to = [obj.name if f.reference_to == "self" else f.reference_to] if f.reference_to else []
    return {
        "aggregatable": f.kind not in ("textarea", "boolean"), "aiPredictionField": False, "autoNumber": False,
        "byteLength": length * 3 if f.kind not in ("id", "reference") else length,
        "calculated": False, "calculatedFormula": None, "cascadeDelete": False,
        "caseSensitive": False, "compoundFieldName": None, "controllerName": None,
        "createable": f.createable and not obj.read_only, "custom": f.name.endswith("__c"),
        "defaultValue": f.default if f.kind == "boolean" else None, "defaultValueFormula": None,
        "defaultedOnCreate": f.default is not None or f.system or f.kind == "id",
        "dependentPicklist": False, "deprecatedAndHidden": False,
        "digits": f.precision if f.kind == "int" else 0, "displayLocationInDecimal": False,
        "encrypted": False, "externalId": f.external_id, "extraTypeInfo": None,
        "filterable": f.kind != "textarea", "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False, "groupable": f.kind not in ("textarea", "datetime", "currency",
                                                                           "percent", "double"),
        "highScaleNumber": False, "htmlFormatted": False,
        # A real org also marks Email and Name idLookup; the sandbox upserts by Id and external
        # ids only, and says so here rather than promise what it refuses.
        "idLookup": f.external_id or f.kind == "id",
        "inlineHelpText": None, "label": f.label, "length": length, "mask": None, "maskType": None,
        "name": f.name, "nameField": f.name == "Name",
        "namePointing": False, "nillable": f.nillable, "permissionable": f.nillable and not f.system,
        "picklistValues": [v.describe() for v in f.picklist],
        "polymorphicForeignKey": False, "precision": f.precision if f.kind != "int" else 0,
        "queryByDistance": False, "referenceTargetField": None, "referenceTo": reference_to,
        "relationshipName": f.relationship, "relationshipOrder": None, "restrictedDelete": False,
        "restrictedPicklist": f.restricted, "scale": f.scale, "searchPrefilterable": False,
        "soapType": _SOAP_TYPES.get(f.kind, "xsd:string"), "sortable": f.kind != "textarea",
        "type": f.kind, "unique": f.external_id,
        "updateable": f.updateable and not obj.read_only, "writeRequiresMasterRead": False}


@lru_cache(maxsize=64)
def _fields(name: str) -> tuple:
    obj = SOBJECTS[name]
    return tuple(field(obj, f) for f in obj.visible())


def describe(obj: SObject, version: str) -> dict:
    """DescribeSObjectResult (fresh dicts each call: callers may mutate what they get)."""
    children = [{"cascadeDelete": False, "childSObject": child, "deprecatedAndHidden": False, "field": fk,
                 "junctionIdListNames": [], "junctionReferenceTo": [], "relationshipName": rel,
                 "restrictedDelete": False} for child, fk, rel in _CHILDREN.get(obj.name, [])]
    return brief(obj, version) | {
        "actionOverrides": [], "childRelationships": children, "compactLayoutable": not obj.read_only,
        "defaultImplementation": None, "extendedBy": None, "extendsInterfaces": None,
        "fields": copy.deepcopy(list(_fields(obj.name))), "implementedBy": None, "implementsInterfaces": None,
        "listviewable": None, "lookupLayoutable": None, "namedLayoutInfos": [], "networkScopeFieldName": None,
        "recordTypeInfos": [], "searchLayoutable": not obj.read_only, "sobjectDescribeOption": "FULL",
        "supportedScopes": [{"label": "All " + obj.label_plural.lower(), "name": "everything"}],
        "urls": _urls(obj, version) | {"compactLayouts": f"/services/data/v{version}/sobjects/{obj.name}"
                                                          "/describe/compactLayouts"}}
