"""The four sObjects the sync touches: their fields, how values are stored compactly, and how
Salesforce formats and validates them.

A record is a plain list indexed by field position (a million of them must fit in memory, and a
list is a third the size of a dict). Datetimes are stored as int epoch seconds: Salesforce keeps
second precision (API values always end in `.000+0000`), so several writes can share a
SystemModstamp, which a sync's high-water mark must cope with."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sandbox.ids import KEY_PREFIXES

UTC = timezone.utc
SYSTEM_USER_ID = "005Sb0000000001AAA"


@dataclass
class Field:
    name: str
    kind: str                     # id reference string email phone picklist boolean datetime date currency
    label: str = ""
    length: int = 0
    required: bool = False        # on create (and may not be blanked on update)
    createable: bool = True
    updateable: bool = True
    external_id: bool = False     # unique, case-insensitive external id
    reference_to: str | None = None
    relationship: str | None = None
    default: object = None
    pos: int = -1


@dataclass
class SObject:
    name: str
    label: str
    fields: list[Field]
    mergeable: bool = True
    by_lower: dict[str, Field] = field(default_factory=dict)
    relationships: dict[str, Field] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i, f in enumerate(self.fields):
            f.pos = i
            f.label = f.label or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", f.name.removesuffix("__c")).replace(" Id", " ID")
            self.by_lower[f.name.lower()] = f
            if f.relationship:
                self.relationships[f.relationship.lower()] = f

    @property
    def key_prefix(self) -> str:
        return KEY_PREFIXES[self.name]

    def external_ids(self) -> list[Field]:
        return [f for f in self.fields if f.external_id]


def _system(mergeable: bool) -> list[Field]:
    out = [
        Field("Id", "id", createable=False, updateable=False),
        Field("IsDeleted", "boolean", createable=False, updateable=False, default=False),
        Field("CreatedDate", "datetime", createable=False, updateable=False),
        Field("CreatedById", "reference", createable=False, updateable=False, reference_to="User"),
        Field("LastModifiedDate", "datetime", createable=False, updateable=False),
        Field("LastModifiedById", "reference", createable=False, updateable=False, reference_to="User"),
        Field("SystemModstamp", "datetime", createable=False, updateable=False),
    ]
    if mergeable:
        out.append(Field("MasterRecordId", "reference", createable=False, updateable=False,
                         reference_to="self", relationship="MasterRecord"))
    return out


def _person() -> list[Field]:
    return [
        Field("FirstName", "string", length=40),
        Field("LastName", "string", length=80, required=True),
        Field("Email", "email", length=80),
        Field("Phone", "phone", length=40),
        Field("Title", "string", length=128),
    ]


SOBJECTS: dict[str, SObject] = {s.name: s for s in [
    SObject("Lead", "Lead", _system(True) + _person() + [
        Field("Company", "string", length=255, required=True),
        Field("Status", "picklist", length=255, default="Open - Not Contacted"),
        # Createable (imports may bring converted leads) but never updateable, as in Salesforce.
        Field("IsConverted", "boolean", updateable=False, default=False),
        Field("ConvertedDate", "date", updateable=False),
        Field("ConvertedContactId", "reference", updateable=False, reference_to="Contact",
              relationship="ConvertedContact"),
        Field("ConvertedAccountId", "reference", updateable=False, reference_to="Account",
              relationship="ConvertedAccount"),
        Field("HubSpot_Contact_Id__c", "string", label="HubSpot Contact ID", length=255, external_id=True),
    ]),
    SObject("Contact", "Contact", _system(True) + _person() + [
        Field("AccountId", "reference", reference_to="Account", relationship="Account"),
        Field("HubSpot_Contact_Id__c", "string", label="HubSpot Contact ID", length=255, external_id=True),
    ]),
    SObject("Account", "Account", _system(True) + [
        Field("Name", "string", length=255, required=True),
        Field("Phone", "phone", length=40),
        Field("Website", "string", length=255),
        Field("HubSpot_Company_Id__c", "string", label="HubSpot Company ID", length=255, external_id=True),
    ]),
    # Opportunities cannot be merged, so they have no MasterRecordId (reference §3.2).
    SObject("Opportunity", "Opportunity", _system(False) + [
        Field("Name", "string", length=120, required=True),
        Field("StageName", "picklist", length=255, required=True),
        Field("CloseDate", "date", required=True),
        Field("Amount", "currency"),
        Field("AccountId", "reference", reference_to="Account", relationship="Account"),
        Field("HubSpot_Deal_Id__c", "string", label="HubSpot Deal ID", length=255, external_id=True),
    ], mergeable=False),
]}

STRINGY = {"id", "reference", "string", "email", "phone", "picklist"}
_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def sobject(name: str) -> SObject | None:
    """Type names are case-insensitive in URLs and SOQL."""
    for s in SOBJECTS.values():
        if s.name.lower() == name.lower():
            return s
    return None


def email_key(value: str | None) -> str | None:
    """The dedup key of domain rule R1: lower-cased, trimmed, nothing else."""
    if not value:
        return None
    key = value.strip().lower()
    return key or None


def valid_email(value: str) -> bool:
    return bool(_EMAIL_RE.match(value))


# -- datetimes -------------------------------------------------------------------------------------

def format_datetime(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def to_seconds(dt: datetime) -> int:
    return int(dt.timestamp())


_DT_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_datetime(value: str) -> datetime | None:
    """Accepts the forms Salesforce emits and accepts: `…Z`, `…+00:00`, `….000+0000`.
    A missing offset means UTC (as the REST API assumes)."""
    m = _DT_RE.match(value.strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s),
                      int(float(frac) * 1_000_000) if frac else 0, tzinfo=UTC)
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        from datetime import timedelta
        dt -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return dt


def valid_date(value: str) -> bool:
    if not _DATE_RE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
