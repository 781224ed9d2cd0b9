"""Reconcile and push HubSpot contacts ↔ Salesforce leads/contacts (R1–R8), a chunk at a time:
gather facts from the mirror, decide with sync.engine.rules, write to the CRMs (no transaction
open), then record links, mirror updates and audit events in one short transaction."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from sync.engine import bulk, rules, schema
from sync.engine.context import RunContext
from sync.engine.mirror import upsert
from sync.engine.pull import Touched
from sync.models import AuditEvent, ContactLink, HsContact, LinkStatus, SfPerson

CHUNK = 2000  # contacts per database round: a few queries and one write transaction each
HS_BATCH = 100
SF_BATCH = 200
CONTACT = "hubspot.contact"
A = AuditEvent.Action
LINK_FIELDS = bulk.concrete(ContactLink, skip=("hs_contact",))
# The columns reconcile reads (every other one is left in the database: at 100,000 people the
# datetimes alone cost seconds to parse). Reading any other field of these rows would cost a
# query per row (tests/engine/test_query_counts.py): add it here first.
CONTACT_COLUMNS = ("hs_id", "email", "email_key", "first_name", "last_name", "phone", "company_name", "job_title",
                   "salesforce_lead_id", "salesforce_contact_id")
PERSON_COLUMNS = ("sf_id", "object_type", "email_key", "is_deleted", "master_record_id", "is_converted",
                  "converted_contact_id", "system_modstamp", "pull_seq", "hubspot_contact_id")


def person_facts(p: SfPerson) -> rules.Person:
    return rules.Person(sf_id=p.sf_id, object_type=p.object_type, email_key=p.email_key, is_deleted=p.is_deleted,
                        master_record_id=p.master_record_id, is_converted=p.is_converted,
                        converted_contact_id=p.converted_contact_id, modstamp=p.system_modstamp,
                        pull_seq=p.pull_seq)


def _chunked(values, size: int) -> Iterator[list]:
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i:i + size]


def contacts_to_check(touched: Touched) -> Iterator[list[HsContact]]:
    """Live HubSpot contacts the pull may have affected, CHUNK at a time, in id order."""
    live = HsContact.objects.filter(archived=False).only(*CONTACT_COLUMNS).order_by("pk")
    if touched.everything:
        last = 0
        while chunk := list(live.filter(pk__gt=last)[:CHUNK]):
            yield chunk
            last = chunk[-1].pk
        return
    pks: set[int] = set()
    for ids in _chunked(touched.hs_contact_ids, 5000):
        pks.update(HsContact.objects.filter(hs_id__in=ids).values_list("pk", flat=True))
    for keys in _chunked(touched.email_keys, 5000):
        pks.update(HsContact.objects.filter(email_key__in=keys).values_list("pk", flat=True))
    for ids in _chunked(touched.sf_ids, 5000):
        pks.update(ContactLink.objects.filter(sf_person__sf_id__in=ids).values_list("hs_contact_id", flat=True))
        pks.update(HsContact.objects.filter(salesforce_contact_id__in=ids).values_list("pk", flat=True))
        pks.update(HsContact.objects.filter(salesforce_lead_id__in=ids).values_list("pk", flat=True))
    for chunk in _chunked(sorted(pks), CHUNK):
        yield list(live.filter(pk__in=chunk))


def reconcile_contacts(ctx: RunContext, touched: Touched) -> None:
    for chunk in contacts_to_check(touched):
        _process(ctx, chunk)


def _process(ctx: RunContext, chunk: list[HsContact]) -> None:
    s = ctx.settings
    links = {link.hs_contact_id: link for link in ContactLink.objects.filter(hs_contact__in=[c.pk for c in chunk])
             .select_related("sf_person").defer("sf_person__raw")}
    keys = {c.email_key for c in chunk if c.email_key}
    by_email: dict[str, list[rules.Person]] = defaultdict(list)
    people: dict[str, SfPerson] = {}
    for p in SfPerson.objects.filter(email_key__in=keys, is_deleted=False, is_converted=False).only(*PERSON_COLUMNS):
        by_email[p.email_key].append(person_facts(p))
        people[p.sf_id] = p
    prop_ids = {c.salesforce_contact_id or c.salesforce_lead_id for c in chunk} - {""} - set(people)
    for p in SfPerson.objects.filter(sf_id__in=prop_ids).only(*PERSON_COLUMNS):
        people[p.sf_id] = p
    for link in links.values():
        if link.sf_person:
            people.setdefault(link.sf_person.sf_id, link.sf_person)

    decisions: list[tuple[HsContact, rules.Decision]] = []
    for c in chunk:
        link = links.get(c.pk)
        linked = person_facts(link.sf_person) if link and link.sf_person else None
        prop = people.get(c.salesforce_contact_id or c.salesforce_lead_id)
        decision = rules.decide_contact(
            link=rules.Link(link.sf_person.sf_id if link and link.sf_person else None, link.status,
                            link.chosen_by, link.linked_modstamp) if link else None,
            linked=linked, candidates=by_email.get(c.email_key, []),
            property_record=person_facts(prop) if prop and link is None else None,
            has_email=bool(c.email_key), delete_on=s.delete_hubspot_contact_on_delete,
            create_leads=s.create_salesforce_leads)
        if decision.kind != "none":
            decisions.append((c, decision))
    # Records a decision points at that were not loaded yet (a converted lead's contact).
    missing = {d.sf_id for _, d in decisions if d.sf_id and d.sf_id not in people}
    for p in SfPerson.objects.filter(sf_id__in=missing).only(*PERSON_COLUMNS):
        people[p.sf_id] = p
    _apply(ctx, decisions, links, people)


def _apply(ctx: RunContext, decisions, links: dict[int, ContactLink], people: dict[str, SfPerson]) -> None:
    s = ctx.settings
    created = _create_leads(ctx, [c for c, d in decisions if d.kind == "create_lead"], people)
    writes: dict[str, dict] = {}
    archive: list[str] = []
    for c, d in decisions:
        if d.kind in ("link", "switch", "adopt") and d.sf_id in people:
            target = people[d.sf_id]
            if _property_of(c, s) != (target.object_type, target.sf_id):
                writes[c.hs_id] = sync_properties(target, s)
        elif d.kind == "create_lead" and c.hs_id in created:
            writes[c.hs_id] = sync_properties(created[c.hs_id], s)
        elif d.kind == "keep" and (link := links.get(c.pk)) and link.status == LinkStatus.SYNCED and link.sf_person:
            if _property_of(c, s) != (link.sf_person.object_type, link.sf_person.sf_id):
                writes[c.hs_id] = sync_properties(link.sf_person, s)  # repair a write lost earlier
        elif d.kind == "archive":
            archive.append(c.hs_id)
        elif d.kind == "unsync" and _property_of(c, s) != ("", ""):
            # R8: HubSpot must stop showing a Salesforce id that no longer syncs with anything.
            writes[c.hs_id] = {s.prop_salesforce_contact_id: "", s.prop_salesforce_lead_id: ""}
    failed = write_properties(ctx, writes)
    archived = archive_contacts(ctx, archive)
    writes_db = _Writes()
    for c, d in decisions:
        if c.hs_id in failed or (d.kind == "archive" and c.hs_id not in archived):
            continue
        link = links.get(c.pk)
        if d.kind == "create_lead":
            if c.hs_id in created:
                _set_link(ctx, writes_db, c, link, created[c.hs_id], "created", d, people)
        elif d.kind == "keep":
            if link and d.linked_modstamp and d.linked_modstamp != link.linked_modstamp:
                writes_db.stamps.append((link.pk, d.linked_modstamp))
        elif d.kind in ("link", "adopt", "switch"):
            if d.sf_id in people:
                chosen = "converted" if d.rule == "R2" else d.chosen_by
                _set_link(ctx, writes_db, c, link, people[d.sf_id], chosen, d, people)
        elif d.kind == "lose_primary":
            _set_status(ctx, writes_db, c, link, LinkStatus.LOST_PRIMARY, A.PRIMARY_LOST, d, people)
        elif d.kind == "unsync":
            _set_status(ctx, writes_db, c, link, LinkStatus.UNSYNCED, A.UNSYNCED, d, people)
        elif d.kind == "archive":
            _set_status(ctx, writes_db, c, link, LinkStatus.DELETED, A.RECORD_DELETED, d, people)
            writes_db.archived.append((c.pk, True))
    with transaction.atomic():
        writes_db.save()
        ctx.flush()


@dataclass
class _Writes:
    """One chunk's database changes, written together after the CRM calls (set-based, not per row)."""

    links: list[ContactLink] = field(default_factory=list)
    props: list[tuple] = field(default_factory=list)     # (contact pk, Salesforce contact id, lead id)
    stamps: list[tuple] = field(default_factory=list)    # (link pk, linked_modstamp)
    archived: list[tuple] = field(default_factory=list)  # (contact pk, True)

    def save(self) -> None:
        bulk.insert(ContactLink, self.links, conflict="hs_contact", update=LINK_FIELDS)
        bulk.update(HsContact, self.props, fields=("salesforce_contact_id", "salesforce_lead_id"))
        bulk.update(ContactLink, self.stamps, fields=("linked_modstamp",))
        bulk.update(HsContact, self.archived, fields=("archived",))


def _property_of(c: HsContact, s) -> tuple[str, str]:
    if c.salesforce_contact_id:
        return "Contact", c.salesforce_contact_id
    if c.salesforce_lead_id:
        return "Lead", c.salesforce_lead_id
    return "", ""


def sync_properties(p: SfPerson, s) -> dict:
    """The HubSpot properties that show which Salesforce record a contact syncs with: the
    record's id in the property for its type, the other one cleared."""
    if p.object_type == "Contact":
        return {s.prop_salesforce_contact_id: p.sf_id, s.prop_salesforce_lead_id: ""}
    return {s.prop_salesforce_lead_id: p.sf_id, s.prop_salesforce_contact_id: ""}


def _set_link(ctx: RunContext, w: _Writes, c: HsContact, link: ContactLink | None, target: SfPerson,
              chosen_by: str, d: rules.Decision, people: dict[str, SfPerson]) -> None:
    before = _link_state(link)
    status = LinkStatus.SYNCED
    if link is None:
        link = bulk.build(ContactLink, {"hs_contact_id": c.pk})
    link.sf_person, link.status, link.chosen_by, link.chosen_by_user = target, status, chosen_by, None
    link.since, link.linked_modstamp = timezone.now(), d.linked_modstamp or target.system_modstamp
    link.status_reason = d.message[:255]
    w.links.append(link)
    props = sync_properties(target, ctx.settings)
    ids = (props.get(ctx.settings.prop_salesforce_contact_id, ""), props.get(ctx.settings.prop_salesforce_lead_id, ""))
    if ids != (c.salesforce_contact_id, c.salesforce_lead_id):  # most contacts carry the id already
        w.props.append((c.pk, *ids))
    action = A.LINK_SWITCHED if d.kind == "switch" else A.LINK_CREATED
    ctx.counts["switched" if d.kind == "switch" else "linked"] += 1
    previous = people.get(d.previous_sf_id) if d.previous_sf_id else None
    after = {"sf_id": target.sf_id, "object_type": target.object_type, "status": status, "chosen_by": chosen_by,
             "modstamp": _iso(target.system_modstamp)}
    if previous is not None:
        before["modstamp"] = _iso(previous.system_modstamp)
    ctx.event(action=action, rule=d.rule, target_type=CONTACT, target_id=c.hs_id, target_repr=_repr(c),
              before=before, after=after, message=d.message)


def _set_status(ctx: RunContext, w: _Writes, c: HsContact, link: ContactLink | None, status: str, action: str,
                d: rules.Decision, people: dict[str, SfPerson]) -> None:
    before = _link_state(link)
    if link is None:
        # First sight of a contact whose HubSpot Salesforce-id property names a record that was
        # already merged away or deleted: the link it had is recorded with its consequence.
        link = ContactLink(hs_contact=c, sf_person=people.get(d.previous_sf_id or ""), chosen_by="existing")
    link.status, link.since, link.status_reason = status, timezone.now(), d.message[:255]
    if status == LinkStatus.UNSYNCED:
        link.sf_person = None
        if c.salesforce_contact_id or c.salesforce_lead_id:
            w.props.append((c.pk, "", ""))
    w.links.append(link)
    ctx.counts["lost_primary" if status == LinkStatus.LOST_PRIMARY else "deleted"] += (
        1 if status in (LinkStatus.LOST_PRIMARY, LinkStatus.DELETED) else 0)
    ctx.event(action=action, rule=d.rule, target_type=CONTACT, target_id=c.hs_id, target_repr=_repr(c),
              before=before, after=_link_state(link), message=d.message)


def _link_state(link: ContactLink | None) -> dict:
    if link is None:
        return {"sf_id": None, "status": None}
    return {"sf_id": link.sf_person.sf_id if link.sf_person else None,
            "object_type": link.sf_person.object_type if link.sf_person else None,
            "status": link.status, "chosen_by": link.chosen_by}


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _repr(c: HsContact) -> str:
    return f"{c.name or c.email or c.hs_id} <{c.email}>" if c.email else (c.name or c.hs_id)


def write_properties(ctx: RunContext, writes: dict[str, dict]) -> set[str]:
    """Batch-update HubSpot contacts (≤ 100 a call); returns the ids that failed."""
    failed: set[str] = set()
    items = list(writes.items())
    for i in range(0, len(items), HS_BATCH):
        batch = items[i:i + HS_BATCH]
        response = ctx.hs.update("contacts", [{"id": hs_id, "properties": props} for hs_id, props in batch])
        for error in response.get("errors") or []:
            ids = (error.get("context") or {}).get("ids") or [None]
            for hs_id in ids:
                failed.add(hs_id)
                ctx.record_error(crm="hubspot", object_type="contact", record_id=hs_id or "",
                                 operation="update Salesforce id", message=error.get("message", "update failed"))
    return failed


def archive_contacts(ctx: RunContext, ids: list[str]) -> set[str]:
    if ids:
        ctx.hs.archive("contacts", ids)
    return set(ids)


def _create_leads(ctx: RunContext, contacts: list[HsContact], people: dict[str, SfPerson]) -> dict[str, SfPerson]:
    """New HubSpot contacts with no Salesforce match become leads, upserted by our external id
    (HubSpot contact id) so a retry after a lost response cannot create a second lead."""
    created: dict[str, SfPerson] = {}
    for i in range(0, len(contacts), SF_BATCH):
        batch = contacts[i:i + SF_BATCH]
        records = [{schema.EXT_CONTACT_ID: c.hs_id, "Email": c.email.strip(), "FirstName": c.first_name or None,
                    "LastName": c.last_name or schema.PLACEHOLDER, "Company": c.company_name or schema.PLACEHOLDER,
                    "Phone": c.phone or None, "Title": c.job_title or None} for c in batch]
        results = ctx.sf.upsert_collection("Lead", schema.EXT_CONTACT_ID, records)
        rows = []
        for c, record, result in zip(batch, records, results, strict=False):
            if not result.get("success"):
                message = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors", []))
                ctx.record_error(crm="salesforce", object_type="Lead", record_id=c.hs_id,
                                 operation="create lead", message=message or "create failed")
                continue
            payload = {**record, "Id": result["id"], "attributes": {"type": "Lead"}}
            rows.append(schema.sf_person(payload, 0))
            if result.get("created", True):
                ctx.counts["created"] += 1
                ctx.event(action=A.RECORD_CREATED, rule="R1", target_type="salesforce.Lead", target_id=result["id"],
                          target_repr=f"Lead for {c.email}", after={"Email": c.email, "HubSpot contact": c.hs_id},
                          message="Created from a HubSpot contact whose email matched no Salesforce record.")
        # The pull's own fields (order, stamp) stay as the pull set them; the next pull fills them.
        upsert(SfPerson, rows, update=bulk.concrete(SfPerson, skip=("sf_id", "pull_seq", "system_modstamp")))
        for row in SfPerson.objects.filter(sf_id__in=[r.sf_id for r in rows]).only(*PERSON_COLUMNS):
            people[row.sf_id] = row
            created[row.hubspot_contact_id] = row
    return created
