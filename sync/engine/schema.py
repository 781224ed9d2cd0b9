"""What the sync reads and writes in each CRM, and how a CRM payload becomes a mirror row."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from sync.engine.bulk import build
from sync.models import HsCompany, HsContact, HsDeal, SfAccount, SfOpportunity, SfPerson, SyncSettings, email_key

# Custom external-id fields on the Salesforce side (unique, case-insensitive). Creating by upsert
# on them makes every create idempotent: a retry after a lost response finds the first record.
EXT_CONTACT_ID = "HubSpot_Contact_Id__c"
EXT_COMPANY_ID = "HubSpot_Company_Id__c"
EXT_DEAL_ID = "HubSpot_Deal_Id__c"

# Unique-value HubSpot properties holding the Salesforce id a company or deal was created from
# (created by the sync when missing: HubSpotConnector.ensure_unique_property). Creating by upsert
# on them makes those creates idempotent without asking HubSpot's lagging search index.
UNIQUE_ID = {"companies": "crmsync_salesforce_account_id", "deals": "crmsync_salesforce_opportunity_id"}

# What goes into a required Salesforce field (Lead.LastName, Lead.Company) HubSpot has no value
# for; field sync treats it as blank.
PLACEHOLDER = "[not provided]"

SF_FIELDS = {
    "Contact": ["Id", "FirstName", "LastName", "Email", "Phone", "Title", "AccountId", "IsDeleted",
                "MasterRecordId", EXT_CONTACT_ID, "CreatedDate", "LastModifiedDate", "SystemModstamp"],
    "Lead": ["Id", "FirstName", "LastName", "Email", "Company", "Phone", "Title", "IsDeleted", "MasterRecordId",
             "IsConverted", "ConvertedContactId", EXT_CONTACT_ID, "CreatedDate", "LastModifiedDate", "SystemModstamp"],
    "Account": ["Id", "Name", "IsDeleted", "MasterRecordId", EXT_COMPANY_ID, "LastModifiedDate", "SystemModstamp"],
    "Opportunity": ["Id", "Name", "AccountId", "StageName", "CloseDate", "Amount", "IsDeleted", EXT_DEAL_ID,
                    "LastModifiedDate", "SystemModstamp"],
}


def sf_select(obj: str) -> str:
    """`SELECT <every pulled field> FROM obj`: what a pull, a re-read and a recovery look-up ask."""
    return f"SELECT {', '.join(SF_FIELDS[obj])} FROM {obj}"


# Contacts before leads: the pull order is what "first record returned" (R3) refers to.
SF_PULL_ORDER = ("Account", "Contact", "Lead", "Opportunity")


def hs_properties(object_type: str, s: SyncSettings) -> list[str]:
    if object_type == "contacts":
        return ["email", "firstname", "lastname", "phone", "company", "jobtitle", s.prop_salesforce_contact_id,
                s.prop_salesforce_lead_id, "createdate", "lastmodifieddate", "hs_merged_object_ids"]
    if object_type == "companies":
        return ["name", "domain", s.prop_salesforce_account_id, "createdate", "hs_lastmodifieddate",
                "hs_merged_object_ids"]
    return ["dealname", "amount", "dealstage", "closedate", "pipeline", s.prop_salesforce_opportunity_id,
            "createdate", "hs_lastmodifieddate", "hs_merged_object_ids"]


def parse_dt(value) -> datetime | None:
    """Salesforce `2024-01-01T00:00:00.000+0000`, HubSpot `…Z` or epoch milliseconds → aware UTC.
    Python 3.11's `fromisoformat` reads both CRMs' forms itself."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def parse_date(value) -> date | None:
    if not value:
        return None
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC).date()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def parse_decimal(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    return d if d.is_finite() and abs(d) < Decimal(10) ** 16 else None


# A lone UTF-16 surrogate: legal in JSON text ("\ud800"), so both CRMs accept and return it, but
# not a character: no database can store it as UTF-8, and a person sees nothing where it stood.
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """Text as a database can store it: without NUL bytes (PostgreSQL refuses them) and without
    lone surrogates (UTF-8 cannot encode them). Nothing a person could read is lost."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii() and _SURROGATE.search(value):
        value = _SURROGATE.sub("", value)
    return value


def _clean(value):
    """`clean_text` through a payload's nested dicts and lists (HubSpot properties, Salesforce
    relationship objects)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _s(value, limit: int) -> str:
    """A string field, cut to the column's length, stored cleanly (`clean_text`)."""
    return clean_text("" if value is None else str(value))[:limit]


def sf_person(record: dict, seq: int) -> SfPerson:
    email = _s(record.get("Email"), 255)
    return build(SfPerson, dict(
        sf_id=record["Id"], object_type=record["attributes"]["type"], email=email, email_key=email_key(email),
        first_name=_s(record.get("FirstName"), 120), last_name=_s(record.get("LastName"), 120),
        company=_s(record.get("Company"), 255), phone=_s(record.get("Phone"), 60), title=_s(record.get("Title"), 128),
        account_id=_s(record.get("AccountId"), 18), is_deleted=bool(record.get("IsDeleted")),
        master_record_id=_s(record.get("MasterRecordId"), 18), is_converted=bool(record.get("IsConverted")),
        converted_contact_id=_s(record.get("ConvertedContactId"), 18),
        hubspot_contact_id=_s(record.get(EXT_CONTACT_ID), 40), created_date=parse_dt(record.get("CreatedDate")),
        last_modified_date=parse_dt(record.get("LastModifiedDate")),
        system_modstamp=parse_dt(record.get("SystemModstamp")), pull_seq=seq, raw=_raw(record)))


def sf_account(record: dict) -> SfAccount:
    return build(SfAccount, dict(
        sf_id=record["Id"], name=_s(record.get("Name"), 255), is_deleted=bool(record.get("IsDeleted")),
        master_record_id=_s(record.get("MasterRecordId"), 18), hubspot_company_id=_s(record.get(EXT_COMPANY_ID), 40),
        last_modified_date=parse_dt(record.get("LastModifiedDate")),
        system_modstamp=parse_dt(record.get("SystemModstamp")), raw=_raw(record)))


def sf_opportunity(record: dict) -> SfOpportunity:
    return build(SfOpportunity, dict(
        sf_id=record["Id"], name=_s(record.get("Name"), 255), account_id=_s(record.get("AccountId"), 18),
        stage_name=_s(record.get("StageName"), 120), close_date=parse_date(record.get("CloseDate")),
        amount=parse_decimal(record.get("Amount")), is_deleted=bool(record.get("IsDeleted")),
        hubspot_deal_id=_s(record.get(EXT_DEAL_ID), 40), last_modified_date=parse_dt(record.get("LastModifiedDate")),
        system_modstamp=parse_dt(record.get("SystemModstamp")), raw=_raw(record)))


def sf_stamp(at: datetime) -> str:
    """A datetime as Salesforce writes one (`2024-01-01T00:00:00.000+0000`)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def sf_written(obj: str, record: dict, at: datetime | None, *, seq: int = 0, created: bool = False):
    """The mirror row of a record crmsync has just written: `record` is the record as Salesforce
    now holds it (the mirror's payload with the written fields laid over it), stamped with
    Salesforce's clock before the write (`at`, WriteResult.at), so the mirror needs no echo of
    its own write (SALESFORCE_SKIP_OWN_WRITES)."""
    record = {**record, "attributes": {"type": obj}}
    if at is not None:
        record["LastModifiedDate"] = record["SystemModstamp"] = sf_stamp(at)
        if created:
            record["CreatedDate"] = record["LastModifiedDate"]
    if created:
        record.setdefault("IsDeleted", False)
    if obj == "Account":
        return sf_account(record)
    if obj == "Opportunity":
        return sf_opportunity(record)
    return sf_person(record, seq)


def hs_contact(record: dict, s: SyncSettings) -> HsContact:
    p = record.get("properties") or {}
    email = _s(p.get("email"), 255)
    return build(HsContact, dict(
        hs_id=str(record["id"]), email=email, email_key=email_key(email), first_name=_s(p.get("firstname"), 120),
        last_name=_s(p.get("lastname"), 120), phone=_s(p.get("phone"), 60), company_name=_s(p.get("company"), 255),
        job_title=_s(p.get("jobtitle"), 128), salesforce_contact_id=_s(p.get(s.prop_salesforce_contact_id), 18),
        salesforce_lead_id=_s(p.get(s.prop_salesforce_lead_id), 18), archived=bool(record.get("archived")),
        merged_ids=_s(p.get("hs_merged_object_ids"), 10_000),
        created_at=parse_dt(record.get("createdAt") or p.get("createdate")),
        last_modified=parse_dt(record.get("updatedAt") or p.get("lastmodifieddate")), raw=_raw(record)))


def hs_company(record: dict, s: SyncSettings) -> HsCompany:
    p = record.get("properties") or {}
    return build(HsCompany, dict(
        hs_id=str(record["id"]), name=_s(p.get("name"), 255), domain=_s(p.get("domain"), 255),
        salesforce_account_id=_s(p.get(s.prop_salesforce_account_id), 18), archived=bool(record.get("archived")),
        merged_ids=_s(p.get("hs_merged_object_ids"), 10_000),
        created_at=parse_dt(record.get("createdAt")), last_modified=parse_dt(record.get("updatedAt")),
        raw=_raw(record)))


def hs_deal(record: dict, s: SyncSettings) -> HsDeal:
    p = record.get("properties") or {}
    return build(HsDeal, dict(
        hs_id=str(record["id"]), name=_s(p.get("dealname"), 255), amount=parse_decimal(p.get("amount")),
        stage=_s(p.get("dealstage"), 120), pipeline=_s(p.get("pipeline"), 120), close_date=parse_date(p.get("closedate")),
        salesforce_opportunity_id=_s(p.get(s.prop_salesforce_opportunity_id), 18),
        archived=bool(record.get("archived")), merged_ids=_s(p.get("hs_merged_object_ids"), 10_000),
        created_at=parse_dt(record.get("createdAt")), last_modified=parse_dt(record.get("updatedAt")), raw=_raw(record)))


def _raw(record: dict) -> dict:
    """The payload as received, minus Salesforce's per-record `attributes` noise, its text cleaned
    (`clean_text`)."""
    return {k: _clean(v) for k, v in record.items() if k != "attributes"}
