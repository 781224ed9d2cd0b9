"""Merging an R2 group in Salesforce: a preview that says what the merge will delete or orphan in
HubSpot (R5) before anything happens, and the merge itself (SOAP merge(), a master and up to two
records per call). Network first, then one short transaction records each result and its audit
event."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from sync.audit import record_event
from sync.crm.base import CrmError
from sync.engine import groups, rules
from sync.merges import undo
from sync.models import AuditEvent, ContactLink, DuplicateGroup, HsContact, LinkStatus, SfPerson, SfReread, SyncSettings

A = AuditEvent.Action
# The mirrored fields a merge can keep from any record, as Salesforce's merge screen offers them:
# (API name, mirror attribute, label, object types).
FIELDS = [("FirstName", "first_name", "First name", ("Lead", "Contact")),
          ("LastName", "last_name", "Last name", ("Lead", "Contact")),
          ("Phone", "phone", "Phone", ("Lead", "Contact")),
          ("Title", "title", "Title", ("Lead", "Contact")),
          ("Company", "company", "Company", ("Lead",))]


@dataclass
class FieldChoice:
    """One field the merging records disagree on: each record's value, and whose the survivor keeps."""

    name: str                        # Salesforce API name
    label: str
    options: list[tuple[str, str]]   # (sf_id, value), primary first
    keep: str                        # sf_id of the record whose value is kept
    primary_value: str

    @property
    def value(self) -> str:
        return dict(self.options)[self.keep]

    @property
    def changes(self) -> bool:
        return self.value != self.primary_value


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
    fields: list[FieldChoice] = field(default_factory=list)  # where the merging records disagree
    snapshot_id: int | None = None   # after the merge: what Undo restores (merges/undo.py)

    @property
    def values(self) -> dict[str, str]:
        """What the merge call sets on the primary: the kept values that are not already its own."""
        return {f.name: f.value for f in self.fields if f.changes}

    @property
    def calls(self) -> int:
        """SOAP merge() calls: a master and up to two records per call."""
        return -(-len(self.losers) // 2)

    @property
    def primary_is_synced(self) -> bool:
        return not self.synced or self.primary in self.synced


PAIR = "ids:"   # a key naming records by id (a possible pair, different emails) instead of an email key


def group_key(raw: str) -> str:
    """The key as posted: an email key (compared lower-cased) or "ids:" and Salesforce ids (case kept)."""
    raw = raw.strip()
    return raw if raw.startswith(PAIR) else raw.lower()


def group_members(key: str) -> list[SfPerson]:
    live = SfPerson.objects.group_members()
    if key.startswith(PAIR):
        ids = [i for i in key[len(PAIR):].split(",") if i][:10]
        return list(live.filter(sf_id__in=ids).order_by("pull_seq"))
    return list(live.filter(email_key=key).order_by("pull_seq"))


def preview_salesforce_merge(*, key: str, primary_id: str | None = None,
                             keep: dict[str, str] | None = None, strict: bool = False) -> MergePreview:
    """What merging the group `key` into `primary_id` (default: the synced record) does; `keep`
    picks, per field, the record whose value survives ({API name: sf_id}, else rules.merge_keeps).
    A pick that is not one of the merging records is refused when `strict` (the merge itself),
    else replaced by the default (a preview whose primary just changed type)."""
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
    return MergePreview(key, primary.object_type, primary, losers, skipped, synced, affected, delete_on, members,
                        field_choices(primary, losers, keep or {}, strict=strict))


def field_choices(primary: SfPerson, losers: list[SfPerson], keep: dict[str, str], *,
                  strict: bool) -> list[FieldChoice]:
    fields = [(name, attr, label) for name, attr, label, types in FIELDS if primary.object_type in types]
    records = [(m.sf_id, {name: getattr(m, attr) for name, attr, _ in fields}) for m in [primary, *losers]]
    defaults = rules.merge_keeps([name for name, _, _ in fields], records[0], records[1:])
    choices = []
    for name, _, label in fields:
        options = [(sf_id, values[name]) for sf_id, values in records]
        if len({value for _, value in options}) < 2:
            continue                    # every record says the same: nothing to choose
        chosen = keep.get(name) or defaults[name]
        if chosen not in dict(options):
            if strict:
                raise ValidationError(f"The {label.lower()} to keep must come from one of the records being merged.")
            chosen = defaults[name]
        choices.append(FieldChoice(name, label, options, chosen, records[0][1][name]))
    return choices


def merge_salesforce_group(*, key: str, primary_id: str, actor, keep: dict[str, str] | None = None,
                           connector=None) -> MergePreview:
    """Merge the group's same-type records into `primary_id` in Salesforce, two per call (the
    first call also sets the values kept from the others, field by field), then mark the losers
    merged in the mirror and queue a sync so R5 reaches HubSpot."""
    from sync import services
    from sync.crm.salesforce import SalesforceConfig, SalesforceConnector

    preview = preview_salesforce_merge(key=key, primary_id=primary_id, keep=keep, strict=True)
    if not preview.losers:
        raise ValidationError("Nothing to merge: the other records are of another type "
                              f"({', '.join(m.object_type for m in preview.skipped)}).")
    sf = connector or SalesforceConnector(SalesforceConfig.from_settings())
    snapshot = undo.keep(preview, actor)   # committed before Salesforce is asked: the merge can be undone
    merged: list[SfPerson] = []
    try:
        for i in range(0, len(preview.losers), 2):
            chunk = preview.losers[i:i + 2]
            result = sf.merge(preview.object_type, preview.primary.sf_id, [m.sf_id for m in chunk],
                              values=preview.values if i == 0 else None)
            if not result.get("success"):
                errors = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors", []))
                raise CrmError(f"Salesforce refused the merge: {errors or 'no reason given'}", crm="salesforce",
                               permanent=True)
            merged.extend(chunk)
    finally:
        if merged:
            _record_salesforce_merge(preview, merged, actor)
        undo.merged(snapshot, merged, complete=len(merged) == len(preview.losers))
    services.request_sync(full=False, actor=actor)
    preview.snapshot_id = snapshot.pk
    return preview


@transaction.atomic
def _record_salesforce_merge(preview: MergePreview, merged: list[SfPerson], actor) -> None:
    SfPerson.objects.filter(pk__in=[m.pk for m in merged]).update(is_deleted=True,
                                                                  master_record_id=preview.primary.sf_id)
    kept = [f for f in preview.fields if f.changes]
    attrs = {name: attr for name, attr, _, _ in FIELDS}
    if kept:   # the mirror says what Salesforce now holds, before the next pull confirms it
        master = SfPerson.objects.get(pk=preview.primary.pk)
        for f in kept:
            setattr(master, attrs[f.name], f.value)
        master.raw = {**(master.raw or {}), **{f.name: f.value for f in kept}}
        master.save(update_fields=[*(attrs[f.name] for f in kept), "raw"])
    # The next pull reads the master by id: with SALESFORCE_SKIP_OWN_WRITES crmsync's own merge
    # would not come back, and Salesforce may have changed more than the fields kept.
    SfReread.objects.create(sf_id=preview.primary.sf_id, object_type=preview.object_type, reason="console merge")
    fields_before = {f"{f.label.lower()} of {preview.primary.sf_id}": f.primary_value for f in kept}
    fields_after = {f"{f.label.lower()} of {preview.primary.sf_id}": f"{f.value} (from {f.keep})" for f in kept}
    affected = [a.contact.hs_id for a in preview.affected if a.record in merged]
    record_event(actor=actor, action=A.RECORD_MERGED, rule="R5", target_type=f"salesforce.{preview.object_type}",
                 target_id=preview.primary.sf_id, target_repr=f"{preview.primary.name} <{preview.primary.email}>",
                 before={"records": [m.sf_id for m in [preview.primary, *merged]], **fields_before},
                 after={"master": preview.primary.sf_id, "merged": [m.sf_id for m in merged],
                        "hubspot_contacts_affected": affected, **fields_after},
                 message=f"Merged {len(merged)} record(s) into {preview.primary.sf_id} in Salesforce"
                         + "".join(f"; kept {f.label.lower()} {f.value!r} from {f.keep}" for f in kept)
                         + (f"; HubSpot contact(s) {', '.join(affected)} will be "
                            f"{'deleted' if preview.delete_on else 'left without a primary'} (R5)." if affected else "."))
    # the duplicates page is right before the next sync
    groups.refresh_keys(DuplicateGroup.Kind.R2, {m.email_key for m in preview.members} if preview.key.startswith(PAIR)
                        else [preview.key])
