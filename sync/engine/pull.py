"""Pull: both CRMs into the mirror, page by page, incrementally from saved watermarks.

Salesforce is read through queryAll on SystemModstamp, so deletions and merges arrive with
IsDeleted and MasterRecordId. HubSpot is read by last-modified date through search (or the list
endpoint on a full pull). A small overlap re-reads the edge of the previous window; rows whose
stamp did not change are skipped."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from simple_salesforce import format_soql

from sync.engine import mirror, schema
from sync.models import HsCompany, HsContact, HsDeal, SfAccount, SfOpportunity, SfPerson, SyncSettings, Watermark

OVERLAP = timedelta(seconds=2)


def _next_watermark(since: datetime | None, newest: datetime | None, changed: int) -> datetime | None:
    """The saved watermark; the next pull starts at it minus OVERLAP, re-reading the window's
    edge because a record can show up late (Salesforce commits after stamping SystemModstamp;
    HubSpot's search index lags). When a pull found nothing new, that edge has now been read
    twice, a run apart: the next pull may start at the newest stamp itself (still inclusive), so
    a quiet org costs one request per object instead of re-reading a burst of earlier writes."""
    if newest is None:
        return since
    if changed == 0 and since is not None:
        return max(since, newest + OVERLAP)
    return newest if since is None else max(since, newest)


@dataclass
class Touched:
    """What changed in this pull: the reconcile step looks only at these (unless `everything`)."""

    everything: bool = False
    sf_ids: set[str] = field(default_factory=set)
    email_keys: set[str] = field(default_factory=set)
    hs_contact_ids: set[str] = field(default_factory=set)
    account_ids: set[str] = field(default_factory=set)
    company_ids: set[str] = field(default_factory=set)
    opportunity_ids: set[str] = field(default_factory=set)
    deal_ids: set[str] = field(default_factory=set)
    pulled: int = 0

    def any(self) -> bool:
        return self.everything or any((self.sf_ids, self.email_keys, self.hs_contact_ids, self.account_ids,
                                       self.company_ids, self.opportunity_ids, self.deal_ids))


def _watermark(crm: str, object_type: str) -> datetime | None:
    return Watermark.objects.filter(crm=crm, object_type=object_type).values_list("value", flat=True).first()


def _save_watermark(crm: str, object_type: str, value: datetime | None) -> None:
    if value is not None:
        Watermark.objects.update_or_create(crm=crm, object_type=object_type, defaults={"value": value})


def pull_salesforce(conn, *, full: bool, seq_base: int, touched: Touched, tick: Callable[[int], None]) -> None:
    seq = seq_base
    for obj in schema.SF_PULL_ORDER:
        since = None if full else _watermark("salesforce", obj)
        soql = f"SELECT {', '.join(schema.SF_FIELDS[obj])} FROM {obj}"
        if since is not None:
            soql += format_soql(" WHERE SystemModstamp >= {}", since - OVERLAP)
        newest, changed_total = None, 0
        for records in conn.query_pages(soql, include_deleted=True):
            if obj in ("Contact", "Lead"):
                rows = [schema.sf_person(r, seq + i) for i, r in enumerate(records)]
                seq += len(records)
                model = SfPerson
            elif obj == "Account":
                rows, model = [schema.sf_account(r) for r in records], SfAccount
            else:
                rows, model = [schema.sf_opportunity(r) for r in records], SfOpportunity
            changed = mirror.changed_only(model, rows)
            mirror.upsert(model, changed)
            _note_sf(obj, changed, touched)
            stamps = [r.system_modstamp for r in rows if r.system_modstamp]
            if stamps:
                newest = max([newest, *stamps]) if newest else max(stamps)
            touched.pulled += len(changed)
            changed_total += len(changed)
            tick(len(records))
        _save_watermark("salesforce", obj, _next_watermark(since, newest, changed_total))


def _note_sf(obj: str, rows, touched: Touched) -> None:
    if touched.everything:
        return
    if obj in ("Contact", "Lead"):
        for r in rows:
            touched.sf_ids.add(r.sf_id)
            if r.email_key:
                touched.email_keys.add(r.email_key)
    elif obj == "Account":
        touched.account_ids.update(r.sf_id for r in rows)
    else:
        touched.opportunity_ids.update(r.sf_id for r in rows)


HS_MODELS = {"companies": (HsCompany, schema.hs_company), "contacts": (HsContact, schema.hs_contact),
             "deals": (HsDeal, schema.hs_deal)}


def pull_hubspot(conn, *, full: bool, settings: SyncSettings, touched: Touched,
                 tick: Callable[[int], None]) -> None:
    for object_type, (model, convert) in HS_MODELS.items():
        since = None if full else _watermark("hubspot", object_type)
        props = schema.hs_properties(object_type, settings)
        pages = conn.list_pages(object_type, props) if since is None else \
            conn.modified_since(object_type, since - OVERLAP, props)
        newest, changed_total = None, 0
        for records in pages:
            rows = [convert(r, settings) for r in records]
            changed = mirror.changed_only(model, rows)
            mirror.upsert(model, changed)
            if not touched.everything:
                ids = {r.hs_id for r in changed}
                {"contacts": touched.hs_contact_ids, "companies": touched.company_ids,
                 "deals": touched.deal_ids}[object_type].update(ids)
                if object_type == "contacts":
                    touched.email_keys.update(r.email_key for r in changed if r.email_key)
            stamps = [r.last_modified for r in rows if r.last_modified]
            if stamps:
                newest = max([newest, *stamps]) if newest else max(stamps)
            touched.pulled += len(changed)
            changed_total += len(changed)
            tick(len(records))
        _save_watermark("hubspot", object_type, _next_watermark(since, newest, changed_total))
