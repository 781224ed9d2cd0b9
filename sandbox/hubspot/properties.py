"""Property definitions (`/crm/v3/properties/{objectType}`) and validation of written values."""
from __future__ import annotations

import copy
import re

from sandbox.hubspot.util import HubSpotError, iso, parse_time, validation_error

_SEED_TS = "2019-08-06T02:41:52.000Z"

# (name, label, type, fieldType, groupName, extra)
_LIFECYCLE = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
              "customer", "evangelist", "other"]
_DEALSTAGES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
               "contractsent", "closedwon", "closedlost"]

_COMMON_TAIL = [
    ("hs_object_id", "Record ID", "number", "number", "{g}information", {"readonly": True}),
    ("hs_merged_object_ids", "Merged record IDs", "enumeration", "checkbox", "{g}information",
     {"readonly": True}),
    ("hubspot_owner_id", "Owner", "enumeration", "select", "{g}information", {}),
    ("salesforcelastsynctime", "Last Salesforce Sync Time", "datetime", "date", "salesforceinformation",
     {"readonly_def": True}),
]

STANDARD: dict[str, list[tuple]] = {
    "contacts": [
        ("email", "Email", "string", "text", "contactinformation", {"email": True}),
        ("firstname", "First Name", "string", "text", "contactinformation", {}),
        ("lastname", "Last Name", "string", "text", "contactinformation", {}),
        ("phone", "Phone Number", "string", "phonenumber", "contactinformation", {}),
        ("mobilephone", "Mobile Phone Number", "string", "phonenumber", "contactinformation", {}),
        ("fax", "Fax Number", "string", "text", "contactinformation", {}),
        ("company", "Company Name", "string", "text", "contactinformation", {}),
        ("website", "Website URL", "string", "text", "contactinformation", {}),
        ("jobtitle", "Job Title", "string", "text", "contactinformation", {}),
        ("address", "Street Address", "string", "text", "contactinformation", {}),
        ("city", "City", "string", "text", "contactinformation", {}),
        ("state", "State/Region", "string", "text", "contactinformation", {}),
        ("zip", "Postal Code", "string", "text", "contactinformation", {}),
        ("country", "Country/Region", "string", "text", "contactinformation", {}),
        ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", "contactinformation",
         {"options": _LIFECYCLE}),
        ("hs_lead_status", "Lead Status", "enumeration", "radio", "sales_properties",
         {"options": ["NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT",
                      "CONNECTED", "BAD_TIMING"]}),
        ("associatedcompanyid", "Primary Associated Company ID", "number", "number", "contactinformation",
         {"readonly": True}),
        ("hs_additional_emails", "Additional email addresses", "enumeration", "checkbox",
         "contactinformation", {"readonly": True}),
        ("hs_calculated_merged_vids", "Merged Contact IDs", "enumeration", "checkbox", "contactinformation",
         {"readonly": True}),
        ("createdate", "Create Date", "datetime", "date", "contactinformation", {}),
        # UNCONFIRMED (reference §3): whether contacts also carry hs_lastmodifieddate; the emulator
        # defines only `lastmodifieddate` on contacts so nothing comes to rely on the other.
        ("lastmodifieddate", "Last Modified Date", "datetime", "date", "contactinformation", {"readonly": True}),
        ("salesforceleadid", "Salesforce Lead ID", "string", "text", "salesforceinformation", {}),
        ("salesforcecontactid", "Salesforce Contact ID", "string", "text", "salesforceinformation", {}),
        ("salesforceaccountid", "Salesforce Account ID", "string", "text", "salesforceinformation", {}),
        ("salesforceownerid", "Salesforce Owner ID", "string", "text", "salesforceinformation", {}),
        ("salesforcedeleted", "Salesforce Deleted", "bool", "booleancheckbox", "salesforceinformation", {}),
        ("salesforcecampaignids", "Salesforce Campaigns", "enumeration", "checkbox", "salesforceinformation",
         {"options": None}),
        ("salesforceopportunitystage", "Salesforce Opportunity Stage", "string", "text",
         "salesforceinformation", {}),
        ("salesforceobjecttype", "Salesforce Object Type", "string", "text", "salesforceinformation", {}),
    ],
    "companies": [
        ("name", "Company name", "string", "text", "companyinformation", {}),
        ("domain", "Company Domain Name", "string", "text", "companyinformation", {}),
        ("website", "Website URL", "string", "text", "companyinformation", {}),
        ("phone", "Phone Number", "string", "phonenumber", "companyinformation", {}),
        ("address", "Street Address", "string", "text", "companyinformation", {}),
        ("city", "City", "string", "text", "companyinformation", {}),
        ("state", "State/Region", "string", "text", "companyinformation", {}),
        ("zip", "Postal Code", "string", "text", "companyinformation", {}),
        ("country", "Country/Region", "string", "text", "companyinformation", {}),
        ("industry", "Industry", "string", "text", "companyinformation", {}),
        ("numberofemployees", "Number of Employees", "number", "number", "companyinformation", {}),
        ("annualrevenue", "Annual Revenue", "number", "number", "companyinformation", {}),
        ("description", "Description", "string", "textarea", "companyinformation", {}),
        ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", "companyinformation",
         {"options": _LIFECYCLE}),
        ("createdate", "Create Date", "datetime", "date", "companyinformation", {}),
        ("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", "companyinformation",
         {"readonly": True}),
        ("salesforceaccountid", "Salesforce Account ID", "string", "text", "salesforceinformation", {}),
        ("salesforceobjecttype", "Salesforce Object Type", "string", "text", "salesforceinformation", {}),
    ],
    "deals": [
        ("dealname", "Deal Name", "string", "text", "dealinformation", {}),
        ("amount", "Amount", "number", "number", "dealinformation", {}),
        ("closedate", "Close Date", "datetime", "date", "dealinformation", {}),
        ("pipeline", "Pipeline", "enumeration", "select", "dealinformation", {"options": ["default"]}),
        ("dealstage", "Deal Stage", "enumeration", "radio", "dealinformation", {"options": _DEALSTAGES}),
        ("dealtype", "Deal Type", "enumeration", "radio", "dealinformation",
         {"options": ["newbusiness", "existingbusiness"]}),
        ("description", "Deal Description", "string", "textarea", "dealinformation", {}),
        ("createdate", "Create Date", "datetime", "date", "dealinformation", {}),
        ("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", "dealinformation", {"readonly": True}),
        ("hs_salesforceopportunityid", "Salesforce Opportunity ID", "string", "text", "salesforceinformation",
         {}),
    ],
}

_GROUP_PREFIX = {"contacts": "contact", "companies": "company", "deals": "deal"}
_EMAIL_RE = re.compile(r"^[^@\s;,]+@[^@\s;,]+\.[^@\s;,]+$")
_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")


def _make(name, label, ptype, field_type, group, extra, *, hubspot_defined=True) -> dict:
    opts = extra.get("options")
    d = {
        "name": name, "label": label, "type": ptype, "fieldType": field_type, "groupName": group,
        "description": "", "options": [
            {"label": o, "value": o, "displayOrder": i, "hidden": False} for i, o in enumerate(opts or [])
        ],
        "displayOrder": -1, "calculated": False, "externalOptions": False,
        "hasUniqueValue": bool(extra.get("unique", False)), "hidden": False,
        "hubspotDefined": hubspot_defined, "formField": field_type not in ("calculation_equation",),
        "archived": False, "createdAt": _SEED_TS, "updatedAt": _SEED_TS,
        "modificationMetadata": {"archivable": not hubspot_defined,
                                 "readOnlyDefinition": hubspot_defined,
                                 "readOnlyValue": bool(extra.get("readonly", False))},
    }
    return d


class PropertyRegistry:
    """Per object type: name -> definition (the API's `Property` shape)."""

    def __init__(self) -> None:
        self.defs: dict[str, dict[str, dict]] = {}
        self.reset()

    def reset(self) -> None:
        self.defs = {}
        for otype, rows in STANDARD.items():
            table: dict[str, dict] = {}
            for name, label, ptype, ft, group, extra in rows + _COMMON_TAIL:
                table[name] = _make(name, label, ptype, ft, group.format(g=_GROUP_PREFIX[otype]), extra)
            # enumerations with free options (multi-checkbox id lists) accept any value
            for name, *_rest, extra in rows + _COMMON_TAIL:
                if extra.get("options", []) is None or name in ("hs_additional_emails", "hs_merged_object_ids",
                                                                 "hs_calculated_merged_vids", "hubspot_owner_id"):
                    table[name]["_free"] = True
            self.defs[otype] = table

    # ---- lookups -------------------------------------------------------------------------
    def get(self, otype: str, name: str) -> dict | None:
        d = self.defs[otype].get(name)
        return d if d and not d["archived"] else None

    def public(self, d: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in d.items() if not k.startswith("_")}

    def unique_names(self, otype: str) -> list[str]:
        return [n for n, d in self.defs[otype].items() if d["hasUniqueValue"] and not d["archived"]]

    def is_unique(self, otype: str, name: str) -> bool:
        d = self.get(otype, name)
        return bool(d and d["hasUniqueValue"])

    def ptype(self, otype: str, name: str) -> str | None:
        d = self.get(otype, name)
        return d["type"] if d else None

    # ---- create --------------------------------------------------------------------------
    def create(self, otype: str, body: dict, now_ms: int) -> dict:
        if not isinstance(body, dict):
            raise validation_error("Invalid input JSON on line 1, column 1: Cannot build PropertyCreate")
        missing = [f for f in ("name", "label", "type", "fieldType", "groupName") if not body.get(f)]
        if missing:
            raise validation_error(f"Invalid input JSON: missing required fields {missing}")
        name = str(body["name"])
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise validation_error(f"Property name '{name}' is invalid. Names must be lowercase and contain only "
                                   "letters, numbers and underscores.")
        if name in self.defs[otype] and not self.defs[otype][name]["archived"]:
            # UNCONFIRMED exact text; category per HubSpot's conflict responses.
            raise HubSpotError(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
        if body["type"] not in ("string", "number", "date", "datetime", "enumeration", "bool", "phone_number"):
            raise validation_error(f"Invalid property type '{body['type']}'")
        d = _make(name, str(body["label"]), body["type"], body["fieldType"], str(body["groupName"]),
                  {"unique": bool(body.get("hasUniqueValue"))}, hubspot_defined=False)
        d["description"] = str(body.get("description") or "")
        d["options"] = [
            {"label": o.get("label", o.get("value")), "value": o.get("value"),
             "displayOrder": o.get("displayOrder", i), "hidden": bool(o.get("hidden", False)),
             **({"description": o["description"]} if o.get("description") else {})}
            for i, o in enumerate(body.get("options") or [])
        ]
        if "displayOrder" in body:
            d["displayOrder"] = int(body["displayOrder"])
        d["hidden"] = bool(body.get("hidden", False))
        d["formField"] = bool(body.get("formField", False))
        d["createdAt"] = d["updatedAt"] = iso(now_ms)
        d["createdUserId"] = d["updatedUserId"] = "0"
        self.defs[otype][name] = d
        return d

    def update(self, otype: str, name: str, body: dict, now_ms: int) -> dict:
        d = self.get(otype, name)
        if d is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find property {name}")
        if d["hubspotDefined"] and d["modificationMetadata"]["readOnlyDefinition"]:
            raise validation_error(f"Property {name} is a HubSpot-defined property and its definition is read-only.")
        for k in ("label", "description", "groupName", "fieldType", "type", "hidden", "formField", "displayOrder"):
            if k in body:
                d[k] = body[k]
        if "options" in body:
            d["options"] = [{"label": o.get("label", o.get("value")), "value": o.get("value"),
                             "displayOrder": o.get("displayOrder", i), "hidden": bool(o.get("hidden", False))}
                            for i, o in enumerate(body["options"] or [])]
        d["updatedAt"] = iso(now_ms)
        return d

    def archive(self, otype: str, name: str, now_ms: int) -> None:
        d = self.get(otype, name)
        if d is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find property {name}")
        if not d["modificationMetadata"]["archivable"]:
            raise validation_error(f"Property {name} is a HubSpot-defined property and can't be archived.")
        d["archived"] = True
        d["archivedAt"] = iso(now_ms)

    # ---- value validation ----------------------------------------------------------------
    def normalize(self, otype: str, props: dict, *, allow_readonly: bool = False) -> dict[str, str | None]:
        """Validate written property values; returns name -> normalized string (None = clear).
        Raises HubSpot's `Property values were not valid: [...]` 400 listing every bad value."""
        if not isinstance(props, dict):
            raise validation_error("Invalid input JSON: properties must be an object")
        out: dict[str, str | None] = {}
        bad: list[dict] = []
        for name, raw in props.items():
            d = self.get(otype, name)
            if d is None:
                msg = f'Property "{name}" does not exist'
                bad.append({"isValid": False, "message": msg, "error": "PROPERTY_DOESNT_EXIST", "name": name,
                            "localizedErrorMessage": msg})
                continue
            if d["modificationMetadata"]["readOnlyValue"] and not allow_readonly:
                # UNCONFIRMED code name READ_ONLY_VALUE (reference §2.5).
                msg = f"{name} is a read only property; its value cannot be set."
                bad.append({"isValid": False, "message": msg, "error": "READ_ONLY_VALUE", "name": name,
                            "localizedErrorMessage": msg})
                continue
            if raw is None:
                out[name] = None
                continue
            if isinstance(raw, bool):
                value = "true" if raw else "false"
            elif isinstance(raw, (int, float)):
                value = str(raw) if not (isinstance(raw, float) and raw.is_integer()) else str(int(raw))
            elif isinstance(raw, str):
                value = raw
            else:
                msg = f"{raw!r} is not a valid value for {name}"
                bad.append({"isValid": False, "message": msg, "error": "INVALID_VALUE", "name": name,
                            "localizedErrorMessage": msg})
                continue
            if value == "":
                out[name] = None
                continue
            err = self._check(d, value)
            if isinstance(err, dict):
                bad.append(err)
            else:
                out[name] = err
        if bad:
            import json

            raise validation_error("Property values were not valid: " + json.dumps(bad, separators=(",", ":")))
        return out

    def _check(self, d: dict, value: str):
        name, ptype = d["name"], d["type"]

        def err(code, msg):
            return {"isValid": False, "message": msg, "error": code, "name": name, "localizedErrorMessage": msg}

        if name == "email":
            v = value.strip()
            if not _EMAIL_RE.match(v):
                return err("INVALID_EMAIL", f"Email address {value} is invalid")
            return v
        if ptype == "number":
            if not _NUMBER_RE.match(value.strip()):
                return err("INVALID_LONG" if "." not in value else "INVALID_DOUBLE",
                           f"{value} was not a valid number.")
            return value.strip()
        if ptype in ("datetime", "date"):
            ms = parse_time(value)
            if ms is None:
                return err("INVALID_DATE", f"{value} was not a valid date/datetime (expected ISO 8601 or epoch ms).")
            if ptype == "date":
                if ms % 86_400_000:
                    return err("INVALID_DATE", f"{value} is at {ms % 86_400_000} ms past midnight UTC; "
                                               "date values must be at midnight UTC.")
                return iso(ms)[:10]
            return iso(ms)
        if ptype == "bool":
            low = value.strip().lower()
            if low not in ("true", "false"):
                return err("INVALID_BOOLEAN", f"{value} was not a valid boolean (true/false).")
            return low
        if ptype == "enumeration" and d["options"] and not d.get("_free"):
            allowed = [o["value"] for o in d["options"]]
            parts = value.split(";") if d["fieldType"] == "checkbox" else [value]
            for p in parts:
                if p not in allowed:
                    return err("INVALID_OPTION", f"{p} was not one of the allowed options: {allowed}")
            return value
        return value
