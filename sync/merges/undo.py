"""Undo a console merge in Salesforce, across both CRMs.

Before every Salesforce merge the console sends, `keep` commits a MergeSnapshot: each merging
record's fields, the master's values the merge replaced, and the HubSpot contacts linked to any
of them. Undo (while Salesforce keeps the merged-away records in its recycle bin, 15 days) runs
rules.UNDO_STEPS in order, each recorded when done, each safe to run again, so an undo cut short
by a crash or a refusal goes on from where it stopped when it is asked again:

1. undelete — SOAP undelete() of each merged-away record (one already live counts as done);
2. fields — their fields as they were, and the master's values the merge replaced;
3. links — each affected HubSpot contact syncs with its own record again: HubSpot's Salesforce-id
   properties written back (a contact R5 deleted is created again from the snapshot, by upsert on
   its email so a retry cannot make two: it gets a new id, and its activities and history in
   HubSpot do not come back);
4. mirror — the records live again in the mirror, read again by the next sync, which is queued.

A HubSpot merge (an R7 group, `keep_hubspot`) is permanent in HubSpot: its undo makes the
merged-away contacts again from the snapshot, any time —

1. emails — each of their emails taken off the merged record's secondary emails (the legacy v1
   secondary-email API: v3 cannot), or HubSpot would refuse the email to a new contact;
2. contacts — each created again by upsert on its email (new ids; their activities, timeline and
   list memberships in HubSpot do not come back, and the page says so);
3. links — the mirror's rows and links for them, as they were (an R7 duplicate is one again);
4. mirror — the duplicate groups refreshed, and a sync queued.

Every step is audited; a failed step leaves the undo "partly undone" with the error in words.
A lead conversion cannot be undone (Salesforce's API has no "unconvert"): it is not offered."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from sync.audit import record_event
from sync.crm.base import CrmError
from sync.engine import rules
from sync.models import (
    AuditEvent,
    ContactLink,
    HsContact,
    LinkStatus,
    MergeSnapshot,
    SfPerson,
    SfReread,
    SyncSettings,
)

A = AuditEvent.Action
PROPERTIES = {"email": "email", "firstname": "first_name", "lastname": "last_name", "phone": "phone",
              "company": "company_name", "jobtitle": "job_title"}


def keep(preview, actor) -> MergeSnapshot:
    """Commit what the merge is about to change (called before Salesforce is asked)."""
    from sync.merges.salesforce import FIELDS

    names = [(name, attr) for name, attr, _, types in FIELDS if preview.object_type in types] + [("Email", "email")]
    members = [preview.primary, *preview.losers]
    links = []
    for link in ContactLink.objects.filter(sf_person__in=members).select_related("hs_contact", "sf_person"):
        c = link.hs_contact
        links.append({"hs_id": c.hs_id, "sf_id": link.sf_person.sf_id, "status": link.status,
                      "chosen_by": link.chosen_by, "properties": {p: getattr(c, a) for p, a in PROPERTIES.items()}})
    return MergeSnapshot.objects.create(
        object_type=preview.object_type, master_id=preview.primary.sf_id, merged_ids=[m.sf_id for m in preview.losers],
        records={m.sf_id: {name: getattr(m, attr) for name, attr in names} for m in members},
        master_changed={f.name: f.primary_value for f in preview.fields if f.changes}, links=links,
        delete_on=preview.delete_on, created_by=actor)


def keep_hubspot(preview, actor) -> MergeSnapshot:
    """Commit the R7 group's contacts (properties and links) before HubSpot is asked to merge them."""
    members = [preview.primary, *preview.others]
    links = {link.hs_contact_id: link for link in ContactLink.objects.filter(hs_contact__in=members)
             .select_related("sf_person")}
    return MergeSnapshot.objects.create(
        crm=MergeSnapshot.Crm.HUBSPOT, object_type="contacts", master_id=preview.primary.hs_id, group_key=preview.sf_key,
        merged_ids=[m.hs_id for m in preview.others],
        records={m.hs_id: {**{p: getattr(m, a) for p, a in PROPERTIES.items()},
                           "salesforcecontactid": m.salesforce_contact_id, "salesforceleadid": m.salesforce_lead_id}
                 for m in members},
        links=[{"hs_id": m.hs_id, "sf_id": links[m.pk].sf_person.sf_id if m.pk in links and links[m.pk].sf_person else "",
                "status": links[m.pk].status if m.pk in links else "", "chosen_by": links[m.pk].chosen_by if m.pk in links
                else "", "properties": {p: getattr(m, a) for p, a in PROPERTIES.items()}} for m in members],
        created_by=actor)


def merged_hubspot(snapshot: MergeSnapshot, done: list, survivor_id: str) -> None:
    """The HubSpot merge's outcome: the contacts merged, and the merged record's (new) id."""
    if not done:
        snapshot.delete()
        return
    snapshot.merged_ids, snapshot.master_id = [m.hs_id for m in done], survivor_id
    snapshot.merge_status = (MergeSnapshot.MergeStatus.MERGED if len(done) == len(snapshot.records) - 1
                             else MergeSnapshot.MergeStatus.PARTIAL)
    snapshot.save(update_fields=["merged_ids", "master_id", "merge_status"])


def merged(snapshot: MergeSnapshot, done: list, *, complete: bool) -> None:
    """The merge's outcome: which records Salesforce merged (nothing merged: nothing to undo)."""
    if not done:
        snapshot.delete()
        return
    snapshot.merged_ids = [m.sf_id for m in done]
    snapshot.merge_status = MergeSnapshot.MergeStatus.MERGED if complete else MergeSnapshot.MergeStatus.PARTIAL
    snapshot.save(update_fields=["merged_ids", "merge_status"])


@dataclass
class UndoPreview:
    snapshot: MergeSnapshot
    left: timedelta | None
    undelete: list[str]
    fields: list[tuple[str, str, object, object]] = field(default_factory=list)   # (record, field, now, back)
    relink: list[dict] = field(default_factory=list)                              # links put back
    recreate: list[dict] = field(default_factory=list)                            # contacts made again
    cannot: list[str] = field(default_factory=list)

    @property
    def days_left(self) -> int:
        return self.left.days if self.left else 0

    @property
    def hours_left(self) -> int:
        return int(self.left.total_seconds() // 3600) % 24 if self.left else 0


def preview_undo(snapshot_id: int) -> UndoPreview:
    s = MergeSnapshot.objects.filter(pk=snapshot_id).first()
    if s is None:
        raise ValidationError("There is no such merge to undo.")
    if s.undo_status == MergeSnapshot.UndoStatus.UNDONE:
        raise ValidationError(f"This merge was already undone ({s.undone_at:%Y-%m-%d %H:%M} UTC).")
    left = rules.undo_time_left(s.created_at, timezone.now(), s.crm)
    if s.crm == MergeSnapshot.Crm.HUBSPOT:
        return _preview_hubspot(s, left)
    people = {p.sf_id: p for p in SfPerson.objects.filter(sf_id__in=list(s.records))}
    p = UndoPreview(s, left, list(s.merged_ids))
    for sf_id, values in s.records.items():
        now = people.get(sf_id)
        wanted = s.master_changed if sf_id == s.master_id else values
        for name, back in wanted.items():
            current = (now.raw or {}).get(name, values.get(name)) if now else None
            if sf_id != s.master_id or current != back:
                p.fields.append((sf_id, name, current, back))
    contacts = {c.hs_id: c for c in HsContact.objects.filter(hs_id__in=[x["hs_id"] for x in s.links])}
    for x in s.links:
        if x["sf_id"] not in s.merged_ids or x["status"] != LinkStatus.SYNCED:
            continue
        (p.recreate if contacts.get(x["hs_id"]) is None or contacts[x["hs_id"]].archived else p.relink).append(x)
    if p.recreate:
        p.cannot.append("HubSpot contacts the merge deleted (R5) are created again from what was kept: with new ids, "
                        "and without their activities, emails and history in HubSpot, which do not come back.")
    p.cannot.append("Related records Salesforce moved to the master (activities, opportunities, campaign members) "
                    "stay with the master: undelete() does not move them back.")
    if left is None:
        p.cannot.insert(0, f"More than {rules.RECYCLE_BIN_DAYS} days have passed: Salesforce may have purged the "
                           "merged records from its recycle bin, so the merge can no longer be undone.")
    return p


def _preview_hubspot(s: MergeSnapshot, left) -> UndoPreview:
    p = UndoPreview(s, left, [])
    p.recreate = [x for x in s.links if x["hs_id"] in s.merged_ids]
    p.cannot = [f"The merged contacts come back with new ids, not {', '.join(s.merged_ids)}: HubSpot keeps a merge for "
                "good. Their activities, emails, timeline, form submissions and list memberships stay on the merged "
                f"record {s.master_id}, which keeps its own values.",
                "Deals, companies and tickets HubSpot moved onto the merged record stay there."]
    return p


def undo_merge(snapshot_id: int, *, actor, salesforce=None, hubspot=None) -> MergeSnapshot:
    """Run the undo's steps that are not done yet (see the module's docstring)."""
    from sync import services
    from sync.crm.hubspot import HubSpotConfig, HubSpotConnector
    from sync.crm.salesforce import SalesforceConfig, SalesforceConnector
    from sync.engine import echo

    p = preview_undo(snapshot_id)
    if p.left is None:
        raise ValidationError(p.cannot[0])
    s = p.snapshot
    MergeSnapshot.objects.filter(pk=s.pk).update(undo_status=MergeSnapshot.UndoStatus.UNDOING)
    hs = hubspot or HubSpotConnector(HubSpotConfig.from_settings(), ledger=echo.Ledger())
    if s.crm == MergeSnapshot.Crm.HUBSPOT:
        steps = {"emails": lambda: _emails(s, hs), "contacts": lambda: _recreate(s, hs),
                 "links": lambda: _hubspot_links(s), "mirror": lambda: _hubspot_mirror(s)}
    else:
        sf = salesforce or SalesforceConnector(SalesforceConfig.from_settings())
        steps = {"undelete": lambda: _undelete(s, sf), "fields": lambda: _fields(s, sf),
                 "links": lambda: _links(s, hs, sf), "mirror": lambda: _mirror(s)}
    while (step := rules.next_undo_step(s.steps_done, s.crm)) is not None:
        try:
            said = steps[step]()
        except (CrmError, ValidationError) as exc:
            words = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            s.undo_status, s.undo_error = MergeSnapshot.UndoStatus.PARTIAL, f"{step}: {words}"[:2000]
            s.save(update_fields=["undo_status", "undo_error"])
            _event(s, actor, f"Undoing the merge into {s.master_id} stopped at “{step}”: {words}",
                   after={"step": step, "error": words[:500], "done": s.steps_done})
            raise ValidationError(f"The undo stopped at “{step}”: {words}. What was done is kept; Undo again goes on "
                                  "from there.") from None
        with transaction.atomic():
            s.steps_done = [*s.steps_done, step]
            s.save(update_fields=["steps_done"])
            _event(s, actor, said, after={"step": step})
    s.undo_status, s.undone_at, s.undone_by, s.undo_error = MergeSnapshot.UndoStatus.UNDONE, timezone.now(), actor, ""
    s.save(update_fields=["undo_status", "undone_at", "undone_by", "undo_error"])
    services.request_sync(full=False, actor=actor)
    return s


def _event(s: MergeSnapshot, actor, message: str, *, after: dict) -> None:
    hubspot = s.crm == MergeSnapshot.Crm.HUBSPOT
    record_event(actor=actor, action=A.MERGE_UNDONE, rule="R7" if hubspot else "R5",
                 target_type="hubspot.contact" if hubspot else f"salesforce.{s.object_type}",
                 target_id=s.master_id, target_repr=f"Merge of {len(s.merged_ids)} record(s) into {s.master_id}",
                 before={"merged": s.merged_ids, "snapshot": s.pk}, after=after, message=message)


def _undelete(s: MergeSnapshot, sf) -> str:
    back = []
    for sf_id in s.merged_ids:
        result = sf.undelete(sf_id)
        if result.get("success"):
            back.append(sf_id)
            continue
        codes = {e.get("statusCode") for e in result.get("errors", [])}
        live = list(sf.query_in(f"SELECT Id FROM {s.object_type} WHERE Id IN {{}}", [sf_id]))
        if "UNDELETE_FAILED" in codes and live:
            continue                    # already back (an earlier try, or a person)
        words = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors", []))
        raise CrmError(f"Salesforce would not undelete {sf_id}: {words or 'no reason given'}", crm="salesforce",
                       permanent=True)
    return f"Undeleted {', '.join(s.merged_ids)} in Salesforce" + ("." if back else " (they were already back).")


def _fields(s: MergeSnapshot, sf) -> str:
    records = [{"attributes": {"type": s.object_type}, "Id": sf_id, **_writable(values)}
               for sf_id, values in s.records.items() if sf_id in s.merged_ids]
    if s.master_changed:
        records.append({"attributes": {"type": s.object_type}, "Id": s.master_id, **_writable(s.master_changed)})
    _all_written(sf.update(records) if records else [], "salesforce")
    return (f"Put back the fields of {', '.join(s.merged_ids)}"
            + (f" and the master's {', '.join(sorted(s.master_changed))}" if s.master_changed else "") + ".")


def _all_written(results: list, crm: str) -> None:
    """A step's writes all made, or a CrmError naming each record the CRM refused and why."""
    refused = [r for r in results if not r.ok]
    if refused:
        raise CrmError(f"{'Salesforce' if crm == 'salesforce' else 'HubSpot'} refused "
                       + "; ".join(f"{r.key}: {r.message}" for r in refused), crm=crm, permanent=True)


def _writable(values: dict) -> dict:
    return {k: (v if v != "" else None) for k, v in values.items()}


def _links(s: MergeSnapshot, hs, sf) -> str:
    from sync.engine import schema
    from sync.engine.contacts import sync_properties
    from sync.engine.mirror import upsert
    from sync.engine.schema import parse_dt

    settings = SyncSettings.load()
    wanted = [x for x in s.links if x["sf_id"] in s.merged_ids and x["status"] == LinkStatus.SYNCED]
    if not wanted:
        return "No HubSpot contact had synced with the merged records."
    people = {p.sf_id: p for p in SfPerson.objects.filter(sf_id__in=[x["sf_id"] for x in wanted])}
    contacts = {c.hs_id: c for c in HsContact.objects.filter(hs_id__in=[x["hs_id"] for x in wanted])}
    relink = [x for x in wanted if contacts.get(x["hs_id"]) is not None and not contacts[x["hs_id"]].archived]
    recreate = [x for x in wanted if x not in relink]
    said = []
    if relink:
        results = hs.update("contacts", [{"id": x["hs_id"], "properties": sync_properties(people[x["sf_id"]], settings)}
                                         for x in relink])
        _all_written(results, "hubspot")
        said.append(f"HubSpot contact(s) {', '.join(x['hs_id'] for x in relink)} sync with their own records again")
    made: dict[str, str] = {}
    if recreate:   # by upsert on the email: a retry after a lost answer updates the contact the first try made
        inputs = [{"id": x["properties"]["email"], "properties": {
            **{k: v for k, v in x["properties"].items() if v}, **sync_properties(people[x["sf_id"]], settings)}}
            for x in recreate if x["properties"].get("email")]
        results = hs.upsert("contacts", "email", inputs) if inputs else []
        _all_written(results, "hubspot")
        upsert(HsContact, [schema.hs_contact(r.record, settings) for r in results if r.record])
        by_email = {r.key.strip().lower(): r.id for r in results}
        made = {x["hs_id"]: by_email[x["properties"]["email"].strip().lower()] for x in recreate
                if x["properties"].get("email", "").strip().lower() in by_email}
        said.append("created again in HubSpot: " + ", ".join(f"{old} as {new}" for old, new in made.items()))
    # R4 moves a link for updates made after it: the undo's own writes (the undelete, the fields)
    # are before it, so the link starts from their stamps, read back from Salesforce.
    stamps = [r.get("SystemModstamp") for r in sf.query_in(
        f"SELECT Id, SystemModstamp FROM {s.object_type} WHERE Id IN {{}}", [s.master_id, *s.merged_ids])]
    newest = max((parse_dt(x) for x in stamps if x), default=None)
    with transaction.atomic():
        now = timezone.now()
        for x in relink + [x for x in recreate if x["hs_id"] in made]:
            contact = HsContact.objects.get(hs_id=made.get(x["hs_id"], x["hs_id"]))
            person = people[x["sf_id"]]
            ContactLink.objects.update_or_create(hs_contact=contact, defaults=dict(
                sf_person=person, status=LinkStatus.SYNCED, chosen_by=x.get("chosen_by") or "R3", since=now,
                linked_modstamp=max(filter(None, (newest, person.system_modstamp)), default=None),
                status_reason=f"Merge into {s.master_id} undone."))
    return "; ".join(said) + "."


def _mirror(s: MergeSnapshot) -> str:
    with transaction.atomic():
        SfPerson.objects.filter(sf_id__in=s.merged_ids).update(is_deleted=False, master_record_id="")
        SfReread.objects.bulk_create([SfReread(sf_id=i, object_type=s.object_type, reason="merge undone")
                                      for i in [s.master_id, *s.merged_ids]])
    from sync.engine.groups import refresh_keys
    from sync.models import DuplicateGroup

    refresh_keys(DuplicateGroup.Kind.R2, set(SfPerson.objects.filter(sf_id__in=list(s.records))
                                               .values_list("email_key", flat=True)) - {""})
    return "The records are live again in crmsync's mirror; the next sync reads them again."


# ---- a HubSpot merge ----------------------------------------------------------------------------------
def _emails(s: MergeSnapshot, hs) -> str:
    """Take the merged-away contacts' emails off the merged record's secondary emails."""
    wanted = {(s.records[i].get("email") or "").strip().lower() for i in s.merged_ids} - {""}
    found = hs.read_ids("contacts", [s.master_id], ["email", "hs_additional_emails"])
    have = {e.strip().lower() for e in ((found[0]["properties"].get("hs_additional_emails") or "").split(";")
                                        if found else []) if e}
    for email in sorted(wanted & have):
        try:
            hs.remove_secondary_email(s.master_id, email)
        except CrmError as exc:
            if exc.status != 404:   # 404: already gone (an earlier try whose answer was lost)
                raise
    return (f"Took {', '.join(sorted(wanted & have))} off HubSpot contact {s.master_id}'s secondary emails."
            if wanted & have else "No email of the merged contacts was left on the merged record.")


def _recreate(s: MergeSnapshot, hs) -> str:
    """Create the merged-away contacts again, by upsert on their email (a retry updates what the
    first try made); a contact without an email cannot be told apart on a retry, so it is refused."""
    from sync.engine import schema
    from sync.engine.mirror import upsert

    settings = SyncSettings.load()
    props = {i: {**{k: v for k, v in s.records[i].items() if v and k in PROPERTIES},
                 settings.prop_salesforce_contact_id: s.records[i].get("salesforcecontactid") or "",
                 settings.prop_salesforce_lead_id: s.records[i].get("salesforceleadid") or ""} for i in s.merged_ids}
    missing = [i for i in s.merged_ids if not props[i].get("email")]
    if missing:
        raise ValidationError(f"HubSpot contact(s) {', '.join(missing)} had no email: they cannot be made again safely.")
    results = hs.upsert("contacts", "email", [{"id": props[i]["email"], "properties": props[i]} for i in s.merged_ids])
    _all_written(results, "hubspot")
    upsert(HsContact, [schema.hs_contact(r.record, settings) for r in results if r.record])
    return "Made again in HubSpot: " + ", ".join(f"{r.key} as {r.id}" for r in results) + "."


def _new_ids(s: MergeSnapshot) -> dict[str, HsContact]:
    emails = {i: (s.records[i].get("email") or "").strip().lower() for i in s.merged_ids}
    rows = {c.email_key: c for c in HsContact.objects.filter(email_key__in=list(emails.values()), archived=False)}
    return {i: rows[e] for i, e in emails.items() if e in rows}


def _hubspot_links(s: MergeSnapshot) -> str:
    """The re-made contacts' links, as the snapshot had them (an R7 duplicate is one again)."""
    made = _new_ids(s)
    people = {p.sf_id: p for p in SfPerson.objects.filter(sf_id__in=[x["sf_id"] for x in s.links if x["sf_id"]])}
    with transaction.atomic():
        for x in s.links:
            contact = made.get(x["hs_id"])
            if contact is None or not x["status"]:
                continue
            person = people.get(x["sf_id"])
            status = LinkStatus.DUPLICATE if x["status"] in (LinkStatus.SYNCED, LinkStatus.DUPLICATE) and person else \
                x["status"]
            ContactLink.objects.update_or_create(hs_contact=contact, defaults=dict(
                sf_person=person, status=status, chosen_by=x.get("chosen_by") or "", since=timezone.now(),
                status_reason=f"Made again: the HubSpot merge into {s.master_id} was undone."))
    return "Linked again: " + ", ".join(f"{old} (now {c.hs_id})" for old, c in made.items()) + "."


def _hubspot_mirror(s: MergeSnapshot) -> str:
    from sync.engine.groups import refresh_keys
    from sync.models import DuplicateGroup

    if s.group_key:
        refresh_keys(DuplicateGroup.Kind.R7, [s.group_key])
    return "The duplicate groups are current again; the next sync reads the contacts made again."
