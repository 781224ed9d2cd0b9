"""Merging an R7 group in HubSpot: the contacts that name one Salesforce record, merged into the
one that syncs with it (or another the operator chose, with a warning), after a preview of what
HubSpot will do. HubSpot merges two at a time and gives each result a new id."""
from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from sync.audit import record_event
from sync.crm.base import CrmError
from sync.engine import groups
from sync.merges import undo
from sync.models import AuditEvent, ContactLink, DuplicateGroup, HsContact, LinkStatus, SfPerson, SyncSettings

A = AuditEvent.Action


@dataclass
class HubSpotMergeResult:
    primary: HsContact
    merged: list[HsContact]
    new_id: str


@dataclass
class HubSpotMergePreview:
    sf_key: str
    record: SfPerson | None        # the Salesforce record the contacts name
    members: list[HsContact]
    primary: HsContact             # the contact that survives (its values win in HubSpot)
    synced: HsContact | None       # the contact that syncs with the record: R7's right primary
    others: list[HsContact]

    @property
    def primary_is_synced(self) -> bool:
        return self.synced is None or self.synced.pk == self.primary.pk

    @property
    def calls(self) -> int:
        """HubSpot merges two contacts per call."""
        return len(self.others)

    @property
    def additional_emails(self) -> list[str]:
        """The others' emails, kept on the merged contact as additional emails."""
        own = self.primary.email_key
        return list(dict.fromkeys(o.email for o in self.others if o.email and o.email_key != own))


def preview_hubspot_merge(*, sf_key: str, primary_id: str | None = None) -> HubSpotMergePreview:
    """What merging the R7 group of `sf_key` would do: the synced contact survives unless the
    operator names another (`primary_id`)."""
    members = list((HsContact.objects.filter(archived=False, salesforce_contact_id=sf_key)
                    | HsContact.objects.filter(archived=False, salesforce_lead_id=sf_key)).order_by("pk"))
    if len(members) < 2:
        raise ValidationError("This group no longer has HubSpot contacts to merge.")
    synced = next((m for m in members if ContactLink.objects.filter(
        hs_contact=m, status=LinkStatus.SYNCED, sf_person__sf_id=sf_key).exists()), None)
    primary = next((m for m in members if m.hs_id == primary_id), None) if primary_id else synced or members[0]
    if primary is None:
        raise ValidationError(f"HubSpot contact {primary_id} is not a member of this group.")
    record = SfPerson.objects.filter(sf_id=sf_key).first()
    return HubSpotMergePreview(sf_key, record, members, primary, synced, [m for m in members if m.pk != primary.pk])


def merge_hubspot_group(*, sf_key: str, actor, primary_id: str | None = None, connector=None) -> HubSpotMergeResult:
    """R7: merge the HubSpot contacts that name one Salesforce record into the one that syncs
    with it (or `primary_id`, the operator's choice). HubSpot merges two at a time and gives each
    result a new id, so every next merge uses that id. Each merge is recorded as soon as HubSpot
    answers (mirror, links, an audit event): when a later one fails — a member deleted in HubSpot
    meanwhile, say — what was merged stays recorded, and the error says what was merged and what
    was left."""
    from sync.crm.hubspot import HubSpotConfig, HubSpotConnector
    from sync.engine.schema import hs_contact, hs_properties

    preview = preview_hubspot_merge(sf_key=sf_key, primary_id=primary_id)
    if preview.synced is None and primary_id is None:
        raise ValidationError("No HubSpot contact currently syncs with this record: choose the primary.")
    primary, others = preview.primary, preview.others
    hs = connector or HubSpotConnector(HubSpotConfig.from_settings())
    s = SyncSettings.load()
    snapshot = undo.keep_hubspot(preview, actor)   # committed first: the merge can be undone
    done: list = []
    survivor = [primary]

    def step(answer, into, m, n):
        survivor[0] = _record_hubspot_step(answer, into, m, primary, sf_key, actor, s, n, len(others))
        done.append(m)
        undo.merged_hubspot(snapshot, list(done), survivor[0].hs_id)
        return survivor[0]

    try:
        current, merged = merge_in_turn(hs, "contacts", primary, others, rule="R7", actor=actor,
                                        describe=lambda c: f"{c.name} <{c.email}>", step=step)
    finally:
        if not done:
            undo.merged_hubspot(snapshot, [], primary.hs_id)
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


def merge_in_turn(hs, object_type: str, primary, others: list, *, step, rule: str, actor, describe) -> tuple:
    """Merge `others` into `primary` in HubSpot one at a time: each merge gives the result a new
    id, so the next one merges into that. `step(answer, into, merged, n)` records a merge as soon as
    HubSpot answers and returns the survivor's row; when HubSpot refuses one, an audit event and a
    CrmError say what was merged and what was left. Returns the survivor and what was merged into it."""
    noun = {"contacts": "contact", "companies": "company"}[object_type]
    current, merged = primary, []
    for n, m in enumerate(others, 1):
        try:
            answer = hs.merge(object_type, current.hs_id, m.hs_id)
        except CrmError as exc:
            left = [o.hs_id for o in others[n - 1:]]
            record_event(actor=actor, action=A.RECORD_MERGED, rule=rule, target_type=f"hubspot.{noun}",
                         target_id=current.hs_id, target_repr=describe(current),
                         before={"primary": primary.hs_id, "merged": [o.hs_id for o in merged]},
                         after={"stopped_at": m.hs_id, "left": left, "error": str(exc)[:500]},
                         message=f"The HubSpot merge stopped at {noun} {m.hs_id}: {exc}. "
                                 + (f"Merged so far into {current.hs_id}: {', '.join(o.hs_id for o in merged)}. "
                                    if merged else "Nothing was merged. ")
                                 + f"Not merged: {', '.join(left)}.")
            done = (f"merged {', '.join(o.hs_id for o in merged)} into {current.hs_id}; " if merged
                    else "nothing was merged; ")
            raise CrmError(f"HubSpot refused to merge {noun} {m.hs_id} ({exc}): {done}not merged: {', '.join(left)}.",
                           crm="hubspot", permanent=True) from exc
        current = step(answer, current, m, n)
        merged.append(m)
    return current, merged


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
    # The link the survivor takes: the synced one of the pair (R7), whichever was merged into which.
    pair = list(ContactLink.objects.filter(hs_contact__in=[into, merged], sf_person__sf_id=sf_key)
                .select_related("sf_person"))
    link = next((p for p in pair if p.status == LinkStatus.SYNCED), pair[0] if pair else None)
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
