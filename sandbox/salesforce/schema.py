"""The sObjects the sync touches (Lead, Contact, Account, Opportunity, and the read-only
value-set objects LeadStatus and OpportunityStage): their fields, how values are stored
compactly, and how Salesforce formats and validates them.

A record is a plain list indexed by field position (a million of them must fit in memory, and a
list is a third the size of a dict). Datetimes are stored as int epoch seconds: Salesforce keeps
second precision (API values always end in `.000+0000`), so several writes can share a
SystemModstamp, which a sync's high-water mark must cope with."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sandbox.ids import KEY_PREFIXES
from sandbox.salesforce import picklists as pv

UTC = timezone.utc
SYSTEM_USER_ID = "005Sb0000000001IAA"   # the integration user every API token acts as
PERSON_USER_ID = "005Sb0000000002IAA"   # a person: the UI, an admin's other tools, scenario loads
PERSON_TOKEN = "sandbox-person"         # a static token whose calls act as that person


@dataclass
class Field:
    name: str
    kind: str                     # a describe type: id reference string email phone url textarea picklist
                                  # boolean datetime date currency percent double int
    label: str = ""
    length: int = 0
    required: bool = False        # on create (and may not be blanked on update)
    createable: bool = True
    updateable: bool = True
    external_id: bool = False     # unique, case-insensitive external id
    reference_to: str | None = None
    relationship: str | None = None
    default: object = None
    picklist: tuple[pv.PicklistValue, ...] = ()
    restricted: bool = False      # writes outside `picklist` fail (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST)
    hidden: bool = False          # kept in the row for the store's sake, unknown to the API
    system: bool = False          # audit fields Salesforce always sets (never null)
    precision: int = 0
    scale: int = 0
    pos: int = -1
    allowed: frozenset = frozenset()

    @property
    def nillable(self) -> bool:
        return not (self.required or self.kind in ("boolean", "id") or self.system)


@dataclass
class SObject:
    name: str
    label: str
    fields: list[Field]
    mergeable: bool = True
    read_only: bool = False       # a value-set object: queryable, never writable through the API
    label_plural: str = ""
    prefix: str | None = None
    by_lower: dict[str, Field] = field(default_factory=dict)
    relationships: dict[str, Field] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.label_plural = self.label_plural or self.label + "s"
        self._visible = [f for f in self.fields if not f.hidden]
        for i, f in enumerate(self.fields):
            f.pos = i
            f.label = f.label or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", f.name.removesuffix("__c")).replace(" Id", " ID")
            f.allowed = frozenset(v.value for v in f.picklist if v.active)
            if f.hidden:
                continue
            self.by_lower[f.name.lower()] = f
            if f.relationship:
                self.relationships[f.relationship.lower()] = f

    @property
    def key_prefix(self) -> str:
        return self.prefix or KEY_PREFIXES[self.name]

    def external_ids(self) -> list[Field]:
        return [f for f in self.fields if f.external_id]

    def visible(self) -> list[Field]:
        """The fields the API knows (describe, full records), in order."""
        return self._visible


def _system(label: str, mergeable: bool = True, read_only: bool = False) -> list[Field]:
    # Positions 0–6 are the same in every type (store.ID … store.MODSTAMP). The value-set objects
    # have no IsDeleted in the API; theirs is hidden so the store can treat every row alike.
    out = [
        Field("Id", "id", label=f"{label} ID", length=18, createable=False, updateable=False),
        Field("IsDeleted", "boolean", label="Deleted", createable=False, updateable=False, default=False,
              hidden=read_only),
        Field("CreatedDate", "datetime", createable=False, updateable=False, system=True),
        Field("CreatedById", "reference", createable=False, updateable=False, reference_to="User", length=18,
              system=True),
        Field("LastModifiedDate", "datetime", createable=False, updateable=False, system=True),
        Field("LastModifiedById", "reference", createable=False, updateable=False, reference_to="User", length=18,
              system=True),
        Field("SystemModstamp", "datetime", createable=False, updateable=False, system=True),
    ]
    if mergeable:
        out.append(Field("MasterRecordId", "reference", createable=False, updateable=False, length=18,
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


def _lead_source() -> Field:
    return Field("LeadSource", "picklist", label="Lead Source", length=40, picklist=pv.LEAD_SOURCE_VALUES,
                 restricted=True)


def _description() -> Field:
    return Field("Description", "textarea", length=32000)


# Salesforce lets an admin restrict a standard picklist to its value set; the sandbox runs with every
# standard picklist restricted, the unkind setting, so a sync that invents values fails here first.
SOBJECTS: dict[str, SObject] = {s.name: s for s in [
    SObject("Lead", "Lead", _system("Lead") + _person() + [
        Field("Company", "string", length=255, required=True),
        # Required but defaulted on create: describe says nillable false, a PATCH to null fails.
        Field("Status", "picklist", label="Status", length=40, required=True, default=pv.DEFAULT_LEAD_STATUS,
              picklist=pv.LEAD_STATUS_VALUES, restricted=True),
        _lead_source(),
        # Createable (imports may bring converted leads) but never updateable, as in Salesforce.
        Field("IsConverted", "boolean", label="Converted", updateable=False, default=False),
        Field("ConvertedDate", "date", updateable=False),
        Field("ConvertedContactId", "reference", updateable=False, reference_to="Contact", length=18,
              relationship="ConvertedContact"),
        Field("ConvertedAccountId", "reference", updateable=False, reference_to="Account", length=18,
              relationship="ConvertedAccount"),
        Field("ConvertedOpportunityId", "reference", updateable=False, reference_to="Opportunity", length=18,
              relationship="ConvertedOpportunity"),
        _description(),
        Field("HubSpot_Contact_Id__c", "string", label="HubSpot Contact ID", length=255, external_id=True),
    ]),
    SObject("Contact", "Contact", _system("Contact") + _person() + [
        Field("AccountId", "reference", label="Account ID", reference_to="Account", length=18,
              relationship="Account"),
        _lead_source(),
        _description(),
        Field("HubSpot_Contact_Id__c", "string", label="HubSpot Contact ID", length=255, external_id=True),
    ]),
    SObject("Account", "Account", _system("Account") + [
        Field("Name", "string", label="Account Name", length=255, required=True),
        Field("Phone", "phone", length=40),
        Field("Website", "url", length=255),
        _description(),
        Field("HubSpot_Company_Id__c", "string", label="HubSpot Company ID", length=255, external_id=True),
    ]),
    # Opportunities cannot be merged, so they have no MasterRecordId (reference §3.2).
    SObject("Opportunity", "Opportunity", _system("Opportunity", mergeable=False) + [
        Field("Name", "string", label="Name", length=120, required=True),
        Field("StageName", "picklist", label="Stage", length=40, required=True, picklist=pv.STAGE_VALUES,
              restricted=True),
        Field("CloseDate", "date", required=True),
        Field("Amount", "currency", precision=18, scale=2),
        Field("AccountId", "reference", label="Account ID", reference_to="Account", length=18,
              relationship="Account"),
        _description(),
        Field("HubSpot_Deal_Id__c", "string", label="HubSpot Deal ID", length=255, external_id=True),
    ], mergeable=False),
    SObject("LeadStatus", "Lead Status Value", _system("Lead Status Value", False, True) + [
        Field("MasterLabel", "string", label="Master Label", length=255),
        Field("ApiName", "string", label="Api Name", length=255),
        Field("SortOrder", "int", label="Sort Order", precision=9),
        Field("IsDefault", "boolean", label="Is Default", default=False),
        Field("IsConverted", "boolean", label="Is Converted", default=False),
    ], mergeable=False, read_only=True, prefix=pv.METADATA_PREFIX),
    SObject("OpportunityStage", "Opportunity Stage", _system("Opportunity Stage", False, True) + [
        Field("MasterLabel", "string", label="Master Label", length=255),
        Field("ApiName", "string", label="Api Name", length=255),
        Field("IsActive", "boolean", label="Is Active", default=True),
        Field("SortOrder", "int", label="Sort Order", precision=9),
        Field("IsClosed", "boolean", label="Closed", default=False),
        Field("IsWon", "boolean", label="Won", default=False),
        Field("ForecastCategoryName", "picklist", label="Forecast Category Name", length=40,
              picklist=pv.FORECAST_VALUES),
        Field("DefaultProbability", "percent", label="Probability (%)", precision=3),
    ], mergeable=False, read_only=True, prefix=pv.METADATA_PREFIX),
]}

STRINGY = {"id", "reference", "string", "email", "phone", "url", "textarea", "picklist"}
NUMERIC = {"currency", "percent", "double"}
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
