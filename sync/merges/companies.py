"""Merging an R9 group in HubSpot: the companies that carry one Salesforce account id, merged
into the one that syncs with the account (or, when none does, the oldest: the one R9 would
link), after a preview. HubSpot merges two at a time, gives each result a new id and moves the
merged companies' contacts and deals to it; the account link follows the survivor."""
from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from sync.audit import record_event
from sync.engine import groups
from sync.merges.hubspot import merge_in_turn
from sync.models import AuditEvent, CompanyLink, DuplicateGroup, HsCompany, HsContact, HsDeal, SfAccount, SyncSettings

A = AuditEvent.Action


@dataclass
class CompanyMergePreview:
    account_id: str
    account: SfAccount | None
    members: list[HsCompany]       # oldest first
    primary: HsCompany             # its values win in HubSpot
    synced: HsCompany | None       # the company linked to the account: R9's right primary
    others: list[HsCompany]
    contacts: int | None = None    # contacts associated with the others in HubSpot (they move with the merge)
    deals: int | None = None
    count_error: str = ""           # why HubSpot could not say

    @property
    def primary_is_synced(self) -> bool:
        return self.synced is None or self.synced.pk == self.primary.pk

    @property
    def calls(self) -> int:
        return len(self.others)


def preview_company_merge(*, account_id: str, primary_id: str | None = None) -> CompanyMergePreview:
    members = list(HsCompany.objects.filter(archived=False, salesforce_account_id=account_id)
                   .select_related("link").order_by("created_at", "pk"))
    if len(members) < 2:
        raise ValidationError("This group no longer has HubSpot companies to merge.")
    synced = next((m for m in members if getattr(m, "link", None) is not None), None)
    primary = next((m for m in members if m.hs_id == primary_id), None) if primary_id else synced or members[0]
    if primary is None:
        raise ValidationError(f"HubSpot company {primary_id} is not a member of this group.")
    return CompanyMergePreview(account_id, SfAccount.objects.filter(sf_id=account_id).first(), members, primary,
                               synced, [m for m in members if m.pk != primary.pk])


def count_associations(preview: CompanyMergePreview, connector=None) -> CompanyMergePreview:
    """Ask HubSpot how many contacts and deals the other companies have (two calls): the mirror
    knows only the associations of contacts that sync, and the preview must not guess."""
    from sync.crm.base import CrmError
    from sync.crm.hubspot import HubSpotConfig, HubSpotConnector

    hs = connector or HubSpotConnector(HubSpotConfig.from_settings())
    ids = [o.hs_id for o in preview.others]
    try:
        preview.contacts = len({c for cs in hs.associated("companies", "contacts", ids).values() for c in cs})
        preview.deals = len({d for ds in hs.associated("companies", "deals", ids).values() for d in ds})
    except CrmError as exc:
        preview.count_error = str(exc)
    return preview


def merge_company_group(*, account_id: str, actor, primary_id: str | None = None, connector=None) -> HsCompany:
    """R9: merge the group's companies into the primary in HubSpot, one at a time, each merge
    recorded as soon as HubSpot answers; returns the surviving company."""
    from sync.crm.hubspot import HubSpotConfig, HubSpotConnector
    from sync.engine.schema import hs_company, hs_properties

    preview = preview_company_merge(account_id=account_id, primary_id=primary_id)
    hs = connector or HubSpotConnector(HubSpotConfig.from_settings())
    s = SyncSettings.load()
    current, _ = merge_in_turn(hs, "companies", preview.primary, preview.others, rule="R9", actor=actor,
                               describe=lambda c: c.name, step=lambda answer, into, m, n: (
                                   _record_step(answer, into, m, preview, actor, s, n)))
    # The answer carries HubSpot's default properties only: read the survivor back with the account id.
    fresh = next(iter(hs.read_by("companies", "hs_object_id", [current.hs_id], hs_properties("companies", s))), None)
    if fresh is not None:
        row = hs_company(fresh, s)
        HsCompany.objects.filter(pk=current.pk).update(
            mirrored_at=timezone.now(), **{f.name: getattr(row, f.name) for f in HsCompany._meta.concrete_fields
                                           if f.name not in ("id", "hs_id", "mirrored_at")})
    groups.refresh_keys(DuplicateGroup.Kind.R9, {account_id})
    current.refresh_from_db()
    return current


@transaction.atomic
def _record_step(answer: dict, into: HsCompany, merged: HsCompany, preview: CompanyMergePreview, actor,
                 s: SyncSettings, n: int) -> HsCompany:
    """One merge HubSpot made: both old rows archived into the new record (the primary's values),
    their contacts and deals associated with it, the account link on it."""
    from sync.engine.schema import hs_company

    new_id = str(answer["id"])
    row = hs_company(answer, s)
    row.salesforce_account_id = into.salesforce_account_id   # the answer lacks it; the primary's value wins
    survivor, _ = HsCompany.objects.update_or_create(hs_id=new_id, defaults={
        f.name: getattr(row, f.name) for f in HsCompany._meta.concrete_fields if f.name not in ("id", "hs_id")})
    old = [into.hs_id, merged.hs_id]
    HsCompany.objects.filter(hs_id__in=old).exclude(pk=survivor.pk).update(archived=True, merged_into_id=new_id)
    HsContact.objects.filter(primary_company_id__in=old).update(primary_company_id=new_id)
    HsDeal.objects.filter(company_id__in=old).update(company_id=new_id)
    # The link to this account moves to the survivor; a link of either to another account (its
    # account id changed since) ends in the next run as merged away (sync.engine.removals).
    link = CompanyLink.objects.filter(hs_company__hs_id__in=old, sf_account__sf_id=preview.account_id).first()
    if link is not None:
        link.hs_company = survivor
        link.status_reason = f"The HubSpot merge kept the link on {new_id} (R9)."[:255]
        link.save(update_fields=["hs_company", "status_reason"])
    record_event(actor=actor, action=A.RECORD_MERGED, rule="R9", target_type="hubspot.company", target_id=new_id,
                 target_repr=survivor.name, before={"primary": into.hs_id, "merged": [merged.hs_id]},
                 after={"new_id": new_id, "account": preview.account_id, "step": n, "of": len(preview.others)},
                 message=f"Merged HubSpot company {merged.hs_id} into {into.hs_id} (merge {n} of {len(preview.others)}), "
                         f"which carries account {preview.account_id}; HubSpot gave the result the new id {new_id}"
                         + (" and it keeps syncing with the account." if link is not None else "."))
    return survivor
