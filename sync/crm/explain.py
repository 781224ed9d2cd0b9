"""A CRM's refusal in words an admin can act on: what was refused, the CRM's own message, and
what to change (record errors on the run page and on the record's page)."""
from __future__ import annotations

from sync.crm.base import WriteResult

ADVICE = {
    ("salesforce", "INVALID_EMAIL_ADDRESS"):
        "Salesforce does not accept this email address: correct it in HubSpot; the record is synced again once it "
        "changes.",
    ("salesforce", "STRING_TOO_LONG"):
        "A value is longer than the Salesforce field allows: shorten it where it came from.",
    ("salesforce", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"):
        "The value is not one of the field's allowed values in Salesforce: for a deal stage, map the HubSpot stage "
        "to a Salesforce stage on the Settings page; otherwise change the value or the picklist.",
    ("salesforce", "REQUIRED_FIELD_MISSING"):
        "Salesforce requires a value that the HubSpot record does not have: fill it in HubSpot.",
    ("salesforce", "DUPLICATES_DETECTED"):
        "A Salesforce duplicate rule blocked it: merge the duplicates in Salesforce or let the rule allow the "
        "integration user to save.",
    ("salesforce", "DUPLICATE_VALUE"):
        "Another Salesforce record already holds this unique value: merge the two records in Salesforce.",
    ("salesforce", "ENTITY_IS_DELETED"):
        "The Salesforce record was deleted; the next sync follows the deletion.",
    ("salesforce", "INVALID_FIELD_FOR_INSERT_UPDATE"):
        "The integration user may not write this field: give it edit access in Salesforce.",
    ("salesforce", "INSUFFICIENT_ACCESS_OR_READONLY"):
        "The integration user may not change this record: give it edit access in Salesforce.",
    ("salesforce", "FIELD_CUSTOM_VALIDATION_EXCEPTION"):
        "A Salesforce validation rule refused the value: change the value or the rule.",
    ("salesforce", "CANNOT_UPDATE_CONVERTED_LEAD"):
        "The lead was converted in Salesforce; the next sync follows it to its contact.",
    ("hubspot", "CONFLICT"):
        "Another HubSpot contact already has this email (HubSpot keeps one contact per email): merge the two "
        "in HubSpot.",
    ("hubspot", "VALIDATION_ERROR"):
        "HubSpot does not accept a value: correct it where it came from.",
    ("hubspot", "OBJECT_NOT_FOUND"):
        "The HubSpot record was deleted or merged meanwhile; the next sync follows it.",
}


# Error families (RecordError.Family), by the CRM's code.
FAMILIES = {
    "duplicates": {"DUPLICATES_DETECTED", "DUPLICATE_VALUE", "DUPLICATE_EXTERNAL_ID", "CONFLICT", "R7_DUPLICATE"},
    "mapping": {"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "INVALID_OPTION", "UNMAPPED_STAGE", "BAD_PICKLIST"},
    "validation": {"REQUIRED_FIELD_MISSING", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "VALIDATION_ERROR",
                   "CANNOT_UPDATE_CONVERTED_LEAD", "ENTITY_IS_DELETED", "OBJECT_NOT_FOUND"},
    "permissions": {"INSUFFICIENT_ACCESS_OR_READONLY", "INVALID_FIELD_FOR_INSERT_UPDATE", "INSUFFICIENT_ACCESS",
                    "FORBIDDEN", "MISSING_SCOPES", "PROPERTY_NOT_UNIQUE"},
    "associations": {"INVALID_CROSS_REFERENCE_KEY", "ASSOCIATION_LIMIT", "INVALID_ASSOCIATION"},
    "values": {"STRING_TOO_LONG", "INVALID_EMAIL_ADDRESS", "INVALID_EMAIL", "JSON_PARSER_ERROR", "UNSTORABLE"},
}
_FAMILY_OF = {code: family for family, codes in FAMILIES.items() for code in codes}


def family(code: str) -> str:
    """The family of an error code (RecordError.Family); "other" when unknown."""
    return _FAMILY_OF.get(code, "other")


def in_words(crm: str, what: str, result: WriteResult) -> str:
    """`what` (e.g. "Creating a lead for contact 101") failed: the CRM's message and the advice."""
    name = "Salesforce" if crm == "salesforce" else "HubSpot"
    advice = ADVICE.get((crm, result.code), "")
    fields = f" ({', '.join(result.fields)})" if result.fields else ""
    return f"{what}: {name} refused it{fields} — {result.message}." + (f" {advice}" if advice else "")
