"""Values cut to what the Salesforce org accepts before they are sent: a HubSpot name longer than
Salesforce's field would otherwise be refused (STRING_TOO_LONG) on every run, for ever. Lengths
come from the org's own describe; the cut is said in the audit event of the write."""
from __future__ import annotations

# Free text only: an email or a picklist value cut short would be another value, not a shorter one.
CUTTABLE = frozenset({"string", "textarea", "phone"})


def fit(fields: dict, record: dict) -> tuple[dict, list[str]]:
    """`record` with over-long free-text values cut to their field's length (`fields` from
    SalesforceConnector.describe), and a note for each cut."""
    out, notes = dict(record), []
    for name, value in record.items():
        info = fields.get(name)
        if (info is not None and info.type in CUTTABLE and info.length and isinstance(value, str)
                and len(value) > info.length):
            out[name] = value[:info.length]
            notes.append(f"{name} cut to Salesforce's {info.length} characters")
    return out, notes
