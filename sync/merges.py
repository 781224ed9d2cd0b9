"""Merging duplicates from the console: a preview that says what a merge will delete or orphan
(R5) before anything happens, and the merge itself, in Salesforce (SOAP merge(), a master and up
to two records per call) or in HubSpot (R7, keeping the synced contact as primary).

Network first, then one short transaction records the result and its audit events."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from sync.audit import record_event
from sync.crm.base import CrmError
from sync.engine import groups
from sync.models import AuditEvent, ContactLink, DuplicateGroup, HsContact, LinkStatus, SfPerson, SyncSettings

A = AuditEvent.Action


@dataclass
class Affected:
    contact: HsContact
    record: SfPerson
    outcome: str  # "deleted" or "lost primary"


@dataclass
class MergePreview:
    key: str
    object_type: str
    primary: SfPerson
    losers: list[SfPerson]
    skipped: list[SfPerson]            # other-type members: Salesforce merges one object type only
    synced: list[SfPerson]             # members a HubSpot contact currently syncs with
    affected: list[Affected] = field(default_factory=list)
    delete_on: bool = False
    members: list[SfPerson] = field(default_factory=list)  # the whole group, in the order Salesforce returned it

    @property
    def calls(self) -> int:
        """SOAP merge() calls: a master and up to two records per call."""
        return -(-len(self.losers) // 2)

    @property
    def primary_is_synced(self) -> bool:
        return not self.synced or self.primary in self.synced


def group_members(key: str) -> list[SfPerson]:
    return list(SfPerson.objects.group_members().filter(email_key=key).order_by("pull_seq"))


def preview_salesforce_merge(*, key: str, primary_id: str | None = None) -> MergePreview:
    members = group_members(key)
    if len(members) < 2:
        raise ValidationError("This group no longer has duplicates to merge.")
    links = list(ContactLink.objects.filter(sf_person__in=members, status=LinkStatus.SYNCED)
                 .select_related("hs_contact", "sf_person"))
    synced = [m for m in members if any(link.sf_person_id == m.pk for link in links)]
    default = synced[0] if synced else members[0]
    primary = next((m for m in members if m.sf_id == primary_id), None) if primary_id else default
    if primary is None:
        raise ValidationError(f"{primary_id} is not a member of this group.")
    losers = [m for m in members if m is not primary and m.object_type == primary.object_type]
    skipped = [m for m in members if m is not primary and m.object_type != primary.object_type]
    delete_on = SyncSettings.load().delete_hubspot_contact_on_delete
    affected = [Affected(link.hs_contact, link.sf_person, "deleted" if delete_on else "lost primary")
                for link in links if link.sf_person in losers]
    return MergePreview(key, primary.object_type, primary, losers, skipped, synced, affected, delete_on, members)


def merge_salesforce_group(*, key: str, primary_id: str, actor, connector=None) -> MergePreview:
    """Merge the group's same-type records into `primary_id` in Salesforce, two per call, then
    mark the losers merged in the mirror and queue a sync so R5 reaches HubSpot."""
    from sync import services
    from sync.crm.salesforce import SalesforceConfig, SalesforceConnector

    preview = preview_salesforce_merge(key=key, primary_id=primary_id)
    if not preview.losers:
        raise ValidationError("Nothing to merge: the other records are of another type "
                              f"({', '.join(m.object_type for m in preview.skipped)}).")
    sf = connector or SalesforceConnector(SalesforceConfig.from_settings())
    merged: list[SfPerson] = []
    try:
        for i in range(0, len(preview.losers), 2):
            chunk = preview.losers[i:i + 2]
            result = sf.merge(preview.object_type, preview.primary.sf_id, [m.sf_id for m in chunk])
            if not result.get("success"):
                errors = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors", []))
                raise CrmError(f"Salesforce refused the merge: {errors or 'no reason given'}", crm="salesforce",
                               permanent=True)
            merged.extend(chunk)
    finally:
        if merged:
            _record_salesforce_merge(preview, merged, actor)
    services.request_sync(full=False, actor=actor)
    return preview


@transaction.atomic
def _record_salesforce_merge(preview: MergePreview, merged: list[SfPerson], actor) -> None:
    SfPerson.objects.filter(pk__in=[m.pk for m in merged]).update(is_deleted=True,
                                                                  master_record_id=preview.primary.sf_id)
    affected = [a.contact.hs_id for a in preview.affected if a.record in merged]
    record_event(actor=actor, action=A.RECORD_MERGED, rule="R5", target_type=f"salesforce.{preview.object_type}",
                 target_id=preview.primary.sf_id, target_repr=f"{preview.primary.name} <{preview.primary.email}>",
                 before={"records": [m.sf_id for m in [preview.primary, *merged]]},
                 after={"master": preview.primary.sf_id, "merged": [m.sf_id for m in merged],
                        "hubspot_contacts_affected": affected},
                 message=f"Merged {len(merged)} record(s) into {preview.primary.sf_id} in Salesforce"
                         + (f"; HubSpot contact(s) {', '.join(affected)} will be "
                            f"{'deleted' if preview.delete_on else 'left without a primary'} (R5)." if affected else "."))
    groups.refresh_keys(DuplicateGroup.Kind.R2, [preview.key])  # the duplicates page is right before the next sync


@dataclass
class HubSpotMergeResult:
    primary: HsContact
    merged: list[HsContact]
    new_id: str


def merge_hubspot_group(*, sf_key: str, actor, connector=None) -> HubSpotMergeResult:
    """R7: merge the HubSpot contacts that name one Salesforce record into the one that syncs
    with it. HubSpot merges two at a time and gives each result a new id, so every next merge
    uses that id. Each merge is recorded as soon as HubSpot answers (mirror, links, an audit
    event): when a later one fails — a member deleted in HubSpot meanwhile, say — what was
    merged stays recorded, and the error says what was merged and what was left."""
    from sync.crm.hubspot import HubSpotConfig, HubSpotConnector
    from sync.engine.schema import hs_contact, hs_properties

    members = list(HsContact.objects.filter(archived=False).filter(salesforce_contact_id=sf_key)
                   | HsContact.objects.filter(archived=False, salesforce_lead_id=sf_key))
    primary = next((m for m in members if ContactLink.objects.filter(
        hs_contact=m, status=LinkStatus.SYNCED, sf_person__sf_id=sf_key).exists()), None)
    if primary is None or len(members) < 2:
        raise ValidationError("No HubSpot contact currently syncs with this record, or there is nothing to merge.")
    others = [m for m in members if m.pk != primary.pk]
    hs = connector or HubSpotConnector(HubSpotConfig.from_settings())
    s = SyncSettings.load()
    current, merged = primary, []
    for step, m in enumerate(others, 1):
        try:
            answer = hs.merge("contacts", current.hs_id, m.hs_id)
        except CrmError as exc:
            left = [o.hs_id for o in others[step - 1:]]
            record_event(actor=actor, action=A.RECORD_MERGED, rule="R7", target_type="hubspot.contact",
                         target_id=current.hs_id, target_repr=f"{current.name} <{current.email}>",
                         before={"primary": primary.hs_id, "merged": [o.hs_id for o in merged]},
                         after={"stopped_at": m.hs_id, "left": left, "error": str(exc)[:500]},
                         message=f"The HubSpot merge stopped at contact {m.hs_id}: {exc}. "
                                 + (f"Merged so far into {current.hs_id}: {', '.join(o.hs_id for o in merged)}. "
                                    if merged else "Nothing was merged. ")
                                 + f"Not merged: {', '.join(left)}.")
            done = (f"merged {', '.join(o.hs_id for o in merged)} into {current.hs_id}; " if merged
                    else "nothing was merged; ")
            raise CrmError(f"HubSpot refused to merge contact {m.hs_id} ({exc}): {done}not merged: {', '.join(left)}.",
                           crm="hubspot", permanent=True) from exc
        current = _record_hubspot_step(answer, current, m, primary, sf_key, actor, s, step, len(others))
        merged.append(m)
    # The merge answer carries only HubSpot's default properties: read the survivor back with the
    # Salesforce-id properties, or the mirror would show it syncing with nothing.
    fresh = next(iter(hs.read_by("contacts", "hs_object_id", [current.hs_id], hs_properties("contacts", s))), None)
    if fresh is not None:
        with transaction.atomic():
            row = hs_contact(fresh, s)
            row.mirrored_at = timezone.now()
            HsContact.objects.filter(pk=current.pk).update(**{f.name: getattr(row, f.name) for f in
                                                              HsContact._meta.concrete_fields if f.name not in ("id", "hs_id")})
    groups.refresh_keys(DuplicateGroup.Kind.R7, {sf_key})
    return HubSpotMergeResult(primary, merged, current.hs_id)


@transaction.atomic
def _record_hubspot_step(answer: dict, into: HsContact, merged: HsContact, primary: HsContact, sf_key: str, actor,
                         s: SyncSettings, step: int, steps: int) -> HsContact:
    """One merge HubSpot made: both old rows archived, merged into the new record (which keeps
    the primary's values, R7); the survivor syncs with `sf_key`, the old links end as merged."""
    from sync.engine.schema import hs_contact

    new_id = str(answer["id"])
    row = hs_contact(answer, s)
    # HubSpot's answer carries its default properties only; the survivor keeps the primary's.
    row.salesforce_contact_id, row.salesforce_lead_id = into.salesforce_contact_id, into.salesforce_lead_id
    row.mirrored_at = timezone.now()
    survivor, _ = HsContact.objects.update_or_create(hs_id=new_id, defaults={
        f.name: getattr(row, f.name) for f in HsContact._meta.concrete_fields if f.name not in ("id", "hs_id")})
    HsContact.objects.filter(pk__in=[into.pk, merged.pk]).exclude(pk=survivor.pk).update(archived=True,
                                                                                         merged_into_id=new_id)
    link = ContactLink.objects.filter(hs_contact=into).select_related("sf_person").first()
    reason = f"Merged into HubSpot contact {new_id} from the console."
    ContactLink.objects.filter(hs_contact__in=[into, merged]).exclude(hs_contact=survivor).update(
        status=LinkStatus.MERGED, status_reason=reason, since=timezone.now())
    if link is not None and link.sf_person is not None:
        ContactLink.objects.update_or_create(hs_contact=survivor, defaults={
            "sf_person": link.sf_person, "status": LinkStatus.SYNCED, "chosen_by": ContactLink.ChosenBy.EXISTING,
            "chosen_by_user": None, "since": timezone.now(), "linked_modstamp": link.linked_modstamp,
            "status_reason": f"The HubSpot merge kept {primary.hs_id}'s link to {link.sf_person.sf_id} (R7)."})
    record_event(actor=actor, action=A.RECORD_MERGED, rule="R7", target_type="hubspot.contact", target_id=new_id,
                 target_repr=f"{survivor.name} <{survivor.email}>",
                 before={"primary": into.hs_id, "merged": [merged.hs_id]},
                 after={"new_id": new_id, "sf_id": sf_key, "step": step, "of": steps},
                 message=f"Merged HubSpot contact {merged.hs_id} into {into.hs_id} (merge {step} of {steps}), which "
                         f"syncs with {sf_key}; HubSpot gave the result the new id {new_id}.")
    return survivor
