"""Records merged or deleted on the HubSpot side (by a person in HubSpot, or another tool through
its API), and company/deal links whose Salesforce side was deleted. Runs after the pull and
before reconcile, from the mirror alone: the pull has marked archived every record HubSpot lists
as archived (or no longer lists at all, in a full pull), and a survivor of a merge names the ids
merged into it (`hs_merged_object_ids`).

A merged-away record is marked merged into its survivor and its link ends with an audit event;
the survivor then keeps the link its own properties name (HubSpot keeps the primary's values,
R7) when reconcile adopts it. A deleted record's link ends too, and is kept: the sync never
brings back a record a person deleted. The decisions are rules.decide_contact_removal and
rules.decide_pair."""
from __future__ import annotations

from collections.abc import Iterator

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from sync.engine import rules
from sync.engine.context import RunContext
from sync.engine.pull import Touched
from sync.engine.rules import PairKind, RemovalKind
from sync.models import (
    AuditEvent,
    CompanyLink,
    ContactLink,
    DealLink,
    HsCompany,
    HsContact,
    HsDeal,
    LinkStatus,
    PairStatus,
)

A = AuditEvent.Action
CHUNK = 1000


def follow(ctx: RunContext, touched: Touched) -> None:
    for model, ids in ((HsContact, touched.hs_contact_ids), (HsCompany, touched.company_ids), (HsDeal, touched.deal_ids)):
        ids |= mark_merged(model, None if touched.everything else set(ids))
    _contacts(ctx, touched)
    _pairs(ctx, CompanyLink, "hs_company", "sf_account", None if touched.everything else touched.company_ids,
           None if touched.everything else touched.account_ids)
    _pairs(ctx, DealLink, "hs_deal", "sf_opportunity", None if touched.everything else touched.deal_ids,
           None if touched.everything else touched.opportunity_ids)


def _chunks(values) -> Iterator[list[str]]:
    values = sorted(values)
    for i in range(0, len(values), CHUNK):
        yield values[i:i + CHUNK]


def mark_merged(model, ids: set[str] | None) -> set[str]:
    """Survivors (the `ids` the pull brought, or all) name the records merged into them: those
    are archived, merged into the survivor (a chain of merges ends at the last survivor).
    Returns the ids marked."""
    survivors = model.objects.filter(archived=False).exclude(merged_ids="")
    batches = [survivors] if ids is None else [survivors.filter(hs_id__in=c) for c in _chunks(ids)]
    marked: set[str] = set()
    for qs in batches:
        for hs_id, merged in qs.values_list("hs_id", "merged_ids"):
            old = [i for i in merged.split(";") if i and i != hs_id]
            if not old:
                continue
            rows = model.objects.filter(hs_id__in=old).filter(Q(archived=False) | ~Q(merged_into_id=hs_id)).exclude(
                merged_into_id__in=old)
            found = set(rows.values_list("hs_id", flat=True))
            if found:
                model.objects.filter(hs_id__in=found).update(archived=True, merged_into_id=hs_id, dirty=True)
                marked |= found
    return marked


def _contacts(ctx: RunContext, touched: Touched) -> None:
    links = (ContactLink.objects.filter(hs_contact__archived=True).exclude(status=LinkStatus.MERGED)
             .exclude(status=LinkStatus.DELETED, hs_contact__merged_into_id="").select_related("hs_contact", "sf_person"))
    batches = [links] if touched.everything else [links.filter(hs_contact__hs_id__in=c)
                                                   for c in _chunks(touched.hs_contact_ids)]
    delete_on = ctx.settings.delete_hubspot_contact_on_delete
    for qs in batches:
        changed = []
        for link in qs:
            c = link.hs_contact
            d = rules.decide_contact_removal(status=link.status, merged_into=c.merged_into_id, delete_on=delete_on,
                                             linked_gone=bool(link.sf_person and link.sf_person.is_deleted))
            if d.kind == RemovalKind.NONE:
                continue
            before = {"status": link.status, "sf_id": link.sf_person.sf_id if link.sf_person else None}
            link.status = LinkStatus.MERGED if d.kind == RemovalKind.MERGED else LinkStatus.DELETED
            link.status_reason, link.since = d.message[:255], timezone.now()
            changed.append(link)
            ctx.counts["deleted"] += 1
            ctx.event(action=A.RECORD_MERGED if d.kind == RemovalKind.MERGED else A.RECORD_DELETED, rule=d.rule,
                      target_type="hubspot.contact", target_id=c.hs_id,
                      target_repr=f"{c.name or c.email or c.hs_id} <{c.email}>" if c.email else c.hs_id,
                      before=before, after={"status": link.status, "merged_into": c.merged_into_id or None},
                      message=d.message)
        with transaction.atomic():
            ContactLink.objects.bulk_update(changed, ["status", "status_reason", "since"])
            ctx.flush()


def _pairs(ctx: RunContext, model, hs_side: str, sf_side: str, hs_ids: set[str] | None, sf_ids: set[str] | None) -> None:
    """Company and deal links: their HubSpot side archived or merged, their Salesforce side deleted
    or back from the recycle bin."""
    wanted = (Q(**{f"{hs_side}__archived": True}) & ~Q(status=PairStatus.HUBSPOT_DELETED)) | (
        Q(**{f"{sf_side}__is_deleted": True}, status=PairStatus.SYNCED)) | (
        Q(**{f"{sf_side}__is_deleted": False}, status=PairStatus.SALESFORCE_DELETED))
    qs = model.objects.filter(wanted).select_related(hs_side, sf_side)
    if hs_ids is not None:
        batches = [qs.filter(**{f"{hs_side}__hs_id__in": c}) for c in _chunks(hs_ids)]
        batches += [qs.filter(**{f"{sf_side}__sf_id__in": c}) for c in _chunks(sf_ids or ())]
    else:
        batches = [qs]
    hs_model = model._meta.get_field(hs_side).related_model
    key = "salesforce_account_id" if hs_model is HsCompany else "salesforce_opportunity_id"
    kind = "company" if hs_model is HsCompany else "deal"
    seen: set[int] = set()
    for batch in batches:
        changed, moved = [], []
        for link in batch:
            if link.pk in seen:
                continue
            seen.add(link.pk)
            record, other = getattr(link, hs_side), getattr(link, sf_side)
            survivor = (hs_model.objects.filter(hs_id=record.merged_into_id, archived=False).first()
                        if record.merged_into_id else None)
            takes = bool(survivor and getattr(survivor, key) == other.sf_id and not model.objects.filter(
                **{hs_side: survivor}).exists())
            d = rules.decide_pair(status=link.status, hs_archived=record.archived, merged_into=record.merged_into_id,
                                  survivor_takes=takes, sf_deleted=other.is_deleted)
            if d == PairKind.KEEP:
                continue
            before = {"status": link.status, "hubspot": record.hs_id}
            if d == PairKind.MOVE:
                setattr(link, hs_side, survivor)
                moved.append(link)
                message = (f"HubSpot {kind} {record.hs_id} was merged into {survivor.hs_id}, which keeps syncing "
                           f"with {other.sf_id}.")
            else:
                link.status = {PairKind.HUBSPOT_DELETED: PairStatus.HUBSPOT_DELETED, PairKind.SYNCED: PairStatus.SYNCED,
                               PairKind.SALESFORCE_DELETED: PairStatus.SALESFORCE_DELETED}[d]
                message = {PairKind.HUBSPOT_DELETED: (f"Merged into {record.merged_into_id} in HubSpot, which syncs with "
                                                      "another record or none; this link ends." if record.merged_into_id
                                                      else "Deleted in HubSpot; it is not created again."),
                           PairKind.SALESFORCE_DELETED: f"{other.sf_id} was deleted in Salesforce; it is not created again.",
                           PairKind.SYNCED: f"{other.sf_id} was restored in Salesforce; syncing again."}[d]
                link.status_reason = message[:255]
                changed.append(link)
            ctx.event(action=A.LINK_SWITCHED if d in (PairKind.MOVE, PairKind.SYNCED) else A.RECORD_DELETED,
                      rule="R9" if hs_model is HsCompany else "R11", target_type=f"hubspot.{kind}",
                      target_id=record.hs_id, target_repr=record.name, before=before,
                      after={"status": link.status, "hubspot": getattr(link, hs_side).hs_id}, message=message)
        with transaction.atomic():
            model.objects.bulk_update(changed, ["status", "status_reason"])
            model.objects.bulk_update(moved, [hs_side])
            ctx.flush()
