"""Reconcile and push HubSpot contacts ↔ Salesforce leads/contacts (R1–R8), a chunk at a time:
gather facts from the mirror, decide with sync.engine.rules, write to the CRMs (no transaction
open), then record links, mirror updates and audit events in one short transaction."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from sync.crm.explain import in_words
from sync.engine import bulk, intents, mirror, rules, schema, sidebyside
from sync.engine.context import RunContext
from sync.engine.fit import fit
from sync.engine.pull import Touched
from sync.engine.rules import Kind
from sync.models import AuditEvent, ContactLink, HsContact, LinkStatus, SfPerson

CHUNK = 5000  # contacts per database round: a few queries and a few short write transactions each. At
# HubSpot's and Salesforce's real pace the leads a round creates go out in parallel calls of 200
# (SALESFORCE_WRITE_CONCURRENCY): at 20,000 people 5,000 took reconcile from 11.9 s to 8.0 s (2,000: one call a round)
CONTACT = "hubspot.contact"
A = AuditEvent.Action
LINK_FIELDS = bulk.concrete(ContactLink, skip=("hs_contact",))
# The columns reconcile reads (every other one is left in the database: at 100,000 people the
# datetimes alone cost seconds to parse). Reading any other field of these rows would cost a
# query per row (tests/engine/test_query_counts.py): add it here first.
CONTACT_COLUMNS = ("hs_id", "email", "email_key", "first_name", "last_name", "phone", "company_name", "job_title",
                   "salesforce_lead_id", "salesforce_contact_id", "outside_list")
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
    """Chunk after chunk: decide, create the chunk's leads and commit its links, tell HubSpot.
    Side by side (sidebyside.py), while one chunk's leads are created, the chunk before it is
    told to HubSpot and the chunk after it is decided ahead. Deciding only reads the mirror, so a
    chunk decided ahead is used only if the chunk whose writes went on meanwhile changed none of
    what it read (no link of a record it looked at, no lead with one of its emails: _Decided);
    else it is decided again, as one after another would have. A chunk that deletes contacts
    (R5/R8 with the delete setting on) ends links R7 reads once HubSpot took the deletion: it is
    told before the next chunk is decided."""
    chunks = iter(contacts_to_check(touched))
    chunk = next(chunks, None)
    ahead = _decide(ctx, chunk) if chunk is not None else None
    tell: _Tell | None = None
    while ahead is not None:
        following = next(chunks, None)
        tell, ahead = _round(ctx, ahead, tell, following)
        if ahead is not None and (tell.archive or not ahead.still_valid(tell)):
            if tell.archive:
                tell()
                tell = None
            ahead = _decide(ctx, following)
    if tell is not None:
        tell()
    # R7: duplicates whose record nobody syncs with any more (its contact was merged, deleted or
    # moved on in a later chunk) take it over now rather than a run later.
    for chunk in _chunked(_orphaned_duplicates(), CHUNK):
        _apply(ctx, _decide(ctx, list(HsContact.objects.filter(pk__in=chunk, archived=False)
                                      .only(*CONTACT_COLUMNS).order_by("pk"))))()


def _round(ctx: RunContext, current: _Decided, tell: _Tell | None,
           following: list[HsContact] | None) -> tuple[_Tell, _Decided | None]:
    """One chunk's leads and links, side by side with the chunk before told to HubSpot and the
    chunk after decided ahead; the chunk's own telling, and the decisions made ahead."""
    out: dict[str, object] = {}
    parts = [] if tell is None else [tell]
    parts.append(lambda: out.__setitem__("tell", _apply(ctx, current)))
    if following is not None:
        parts.append(lambda: out.__setitem__("ahead", _decide(ctx, following)))
    sidebyside.run(*parts)
    return out["tell"], out.get("ahead")


def _orphaned_duplicates() -> list[int]:
    held = ContactLink.objects.filter(status=LinkStatus.SYNCED, sf_person=OuterRef("sf_person"))
    return list(ContactLink.objects.filter(status=LinkStatus.DUPLICATE).annotate(held=Exists(held))
                .filter(held=False).order_by("hs_contact_id").values_list("hs_contact_id", flat=True))


def shown_id(c: HsContact) -> str:
    """The Salesforce id HubSpot's properties name for the contact (the contact id wins)."""
    return c.salesforce_contact_id or c.salesforce_lead_id


def _policy(s) -> rules.Policy:
    return rules.Policy(delete_on=s.delete_hubspot_contact_on_delete, create_leads=s.create_salesforce_leads)


def _decide(ctx: RunContext, chunk: list[HsContact]) -> _Decided:
    """One chunk: gather the facts from the mirror, decide each contact (rules.decide_contact),
    settle R7 across them (rules.settle_claims). Reads only."""
    links = {link.hs_contact_id: link for link in ContactLink.objects.filter(hs_contact__in=[c.pk for c in chunk])
             .select_related("sf_person").defer("sf_person__raw")}
    keys = {c.email_key for c in chunk if c.email_key}
    by_email: dict[str, list[rules.Person]] = defaultdict(list)
    people: dict[str, SfPerson] = {}
    for p in SfPerson.objects.group_members().filter(email_key__in=keys).only(*PERSON_COLUMNS):
        by_email[p.email_key].append(person_facts(p))
        people[p.sf_id] = p
    shown = {shown_id(c) for c in chunk} - {""} - set(people)
    for p in SfPerson.objects.filter(sf_id__in=shown).only(*PERSON_COLUMNS):
        people[p.sf_id] = p
    for link in links.values():
        if link.sf_person:
            people.setdefault(link.sf_person.sf_id, link.sf_person)

    policy = _policy(ctx.settings)
    decided: list[tuple[HsContact, ContactLink | None, rules.Decision]] = []
    for c in chunk:
        link = links.get(c.pk)
        on = link.sf_person if link and link.sf_person else None
        shows = people.get(shown_id(c))
        facts = rules.ContactFacts(
            has_email=bool(c.email_key), candidates=tuple(by_email.get(c.email_key, ())), shows=shown_id(c),
            outside_list=c.outside_list is True,
            link=_facts_link(link), linked=person_facts(on) if on else None, shown=person_facts(shows) if shows else None)
        decided.append((c, link, rules.decide_contact(facts, policy)))
    settled = rules.settle_claims([(c.hs_id, _facts_link(link), d) for c, link, d in decided], _held(decided))
    decided = [(c, link, d) for (c, link, _), d in zip(decided, settled, strict=True) if d.kind != Kind.NONE]
    # Records a decision points at that were not loaded yet (a converted lead's contact).
    missing = {d.sf_id for _, _, d in decided if d.sf_id and d.sf_id not in people}
    for p in SfPerson.objects.filter(sf_id__in=missing).only(*PERSON_COLUMNS):
        people[p.sf_id] = p
    return _Decided(decided, people, read_ids=_wanted(decided) | set(people), emails=keys)


@dataclass
class _Decided:
    """A chunk's decisions, and what they were decided from: the Salesforce records whose links
    and rows they read (R7's `_held` among them) and the emails they looked up."""

    decided: list            # (contact, link, decision), NONE left out
    people: dict[str, SfPerson]
    read_ids: set[str]
    emails: set[str]

    def still_valid(self, tell: _Tell) -> bool:
        """Nothing the chunk `tell` wrote since is among what these decisions read."""
        return self.read_ids.isdisjoint(tell.changed_ids) and self.emails.isdisjoint(tell.lead_emails)


def _wanted(decided) -> set[str]:
    """The records these decisions go to or leave: whose other contacts R7 asks about (_held)."""
    return {d.sf_id for _, _, d in decided if d.sf_id} | {d.previous_sf_id for _, _, d in decided if d.previous_sf_id} \
        | {link.sf_person.sf_id for _, link, _ in decided if link is not None and link.sf_person}


def _facts_link(link: ContactLink | None) -> rules.Link | None:
    if link is None:
        return None
    return rules.Link(link.sf_person.sf_id if link.sf_person else None, link.status, link.chosen_by, link.linked_modstamp)


def _held(decided) -> dict[str, str]:
    """R7's facts: who syncs with the records these contacts are on or go to, among the contacts
    outside the chunk (the first link made, where an older version of the sync left several)."""
    mine = {c.pk for c, _, _ in decided}
    wanted = _wanted(decided)
    held: dict[str, str] = {}
    for sf_id, hs_id, pk in (ContactLink.objects.filter(status=LinkStatus.SYNCED, sf_person__sf_id__in=wanted)
                             .order_by("since", "pk").values_list("sf_person__sf_id", "hs_contact__hs_id", "hs_contact_id")):
        if pk not in mine:
            held.setdefault(sf_id, hs_id)
    return held


# Decisions that leave the contact on a record, with HubSpot showing it (status, event action).
ON_RECORD = {Kind.LINK: (LinkStatus.SYNCED, A.LINK_CREATED), Kind.ADOPT: (LinkStatus.SYNCED, A.LINK_CREATED),
             Kind.SWITCH: (LinkStatus.SYNCED, A.LINK_SWITCHED), Kind.CONVERTED: (LinkStatus.SYNCED, A.LINK_SWITCHED),
             Kind.CREATE_LEAD: (LinkStatus.SYNCED, A.LINK_CREATED),
             Kind.DUPLICATE: (LinkStatus.DUPLICATE, A.MARKED_DUPLICATE)}


def _apply(ctx: RunContext, chunk: _Decided) -> _Tell:
    """Every step is ordered so that a kill between any two leaves the next run the same work to
    finish: leads are created first (idempotently, by external id); then every link change and
    its audit event is committed; only then is HubSpot told (the _Tell returned, called when the
    caller says), and the mirror learns what HubSpot now shows once HubSpot took it. A run
    killed before HubSpot heard finds links whose contacts show something else and writes the
    properties again (REPAIR); a link is never lost to a write HubSpot did not acknowledge —
    that is how a cleared id once became a new lead (R1) for a record a person had deleted."""
    s, decided, people = ctx.settings, chunk.decided, chunk.people
    leads_for = [c for c, _, d in decided if d.kind == Kind.CREATE_LEAD]
    created = _create_leads(ctx, leads_for, people)
    w = _Writes()
    shows: dict[str, dict] = {}   # HubSpot contact id → the Salesforce-id properties it must show
    archive: list[tuple[HsContact, ContactLink | None, rules.Decision]] = []
    for c, link, d in decided:
        target = created.get(c.hs_id) if d.kind == Kind.CREATE_LEAD else people.get(d.sf_id or "")
        if d.kind in ON_RECORD:
            if target is None:
                continue   # a lead that could not be created (its error is recorded)
            status, action = ON_RECORD[d.kind]
            _set_link(ctx, w, c, link, target, status, action, d, people)
        elif d.kind in rules.STAYS:
            if link and d.linked_modstamp and d.linked_modstamp != link.linked_modstamp:
                w.stamps.append((link.pk, d.linked_modstamp))
        elif d.kind == Kind.LOSE_PRIMARY:
            _set_status(ctx, w, c, link, LinkStatus.LOST_PRIMARY, A.PRIMARY_LOST, d, people)
        elif d.kind == Kind.UNSYNC:
            _set_status(ctx, w, c, link, LinkStatus.UNSYNCED, A.UNSYNCED, d, people)
        elif d.kind == Kind.ARCHIVE:
            archive.append((c, link, d))
        if d.kind in ON_RECORD or d.kind in rules.STAYS:
            if target is not None and shown_id(c) != target.sf_id:
                shows[c.hs_id] = sync_properties(target, s)
        elif d.kind in (Kind.UNSYNC, Kind.CLEAR) and shown_id(c):
            # R8: HubSpot must stop showing a Salesforce id that no longer syncs with anything.
            shows[c.hs_id] = {s.prop_salesforce_contact_id: "", s.prop_salesforce_lead_id: ""}
    with transaction.atomic():
        w.save()
        ctx.flush()
    return _Tell(ctx, {c.hs_id: c for c, _, _ in decided}, shows, archive, people,
                 changed_ids=_wanted(decided) | {p.sf_id for p in created.values()},
                 lead_emails={c.email_key for c in leads_for if c.email_key})


@dataclass
class _Tell:
    """What HubSpot is told once a chunk's links are committed: the Salesforce ids its contacts
    must show, and the contacts R5/R8 delete (HubSpot first, then the link and its event: killed
    in between, the next run finds the contact archived in HubSpot and records it then,
    removals.py)."""

    ctx: RunContext
    by_id: dict[str, HsContact]
    shows: dict[str, dict]   # HubSpot contact id → the Salesforce-id properties it must show
    archive: list            # (contact, link, decision)
    people: dict[str, SfPerson]
    changed_ids: set[str] = field(default_factory=set)   # records whose links or rows the chunk wrote
    lead_emails: set[str] = field(default_factory=set)   # emails of the leads it created

    def __call__(self) -> None:
        ctx, shows, s = self.ctx, self.shows, self.ctx.settings
        results = ctx.hs.update("contacts", [{"id": hs_id, "properties": p} for hs_id, p in shows.items()]) if shows else []
        shown, dated = [], []
        for r in results:
            props = shows[r.key]
            if r.ok:
                row = (self.by_id[r.key].pk, props[s.prop_salesforce_contact_id], props[s.prop_salesforce_lead_id])
                # Dated by HubSpot's answer: the older version its lagging search may still show is
                # never taken for news (mirror.changed_only).
                stamp = schema.parse_dt((r.record or {}).get("updatedAt"))
                (dated.append((*row, stamp)) if stamp else shown.append(row))
                ctx.wrote("update Salesforce id", [r.key])
            else:
                what = f"Showing the synced Salesforce id on contact {r.key}"
                ctx.record_error(crm="hubspot", object_type="contact", record_id=r.key, operation="update Salesforce id",
                                 code=r.code, message=in_words("hubspot", what, r))
        if self.archive:
            ctx.hs.archive("contacts", [c.hs_id for c, _, _ in self.archive])
        gone = _Writes()
        for c, link, d in self.archive:
            _set_status(ctx, gone, c, link, LinkStatus.DELETED, A.RECORD_DELETED, d, self.people)
            gone.archived.append((c.pk, True))
        with transaction.atomic():
            bulk.update(HsContact, shown, fields=("salesforce_contact_id", "salesforce_lead_id"))
            bulk.update(HsContact, dated, fields=("salesforce_contact_id", "salesforce_lead_id", "last_modified"))
            gone.save()
            ctx.flush()


@dataclass
class _Writes:
    """One chunk's database changes, written together (set-based, not per row)."""

    links: list[ContactLink] = field(default_factory=list)
    stamps: list[tuple] = field(default_factory=list)    # (link pk, linked_modstamp)
    archived: list[tuple] = field(default_factory=list)  # (contact pk, True)

    def save(self) -> None:
        bulk.insert(ContactLink, self.links, conflict="hs_contact", update=LINK_FIELDS)
        bulk.update(ContactLink, self.stamps, fields=("linked_modstamp",))
        bulk.update(HsContact, self.archived, fields=("archived",))


def sync_properties(p: SfPerson, s) -> dict:
    """The HubSpot properties that show which Salesforce record a contact syncs with: the
    record's id in the property for its type, the other one cleared."""
    if p.object_type == "Contact":
        return {s.prop_salesforce_contact_id: p.sf_id, s.prop_salesforce_lead_id: ""}
    return {s.prop_salesforce_lead_id: p.sf_id, s.prop_salesforce_contact_id: ""}


def _set_link(ctx: RunContext, w: _Writes, c: HsContact, link: ContactLink | None, target: SfPerson, status: str,
              action: str, d: rules.Decision, people: dict[str, SfPerson]) -> None:
    before = _link_state(link)
    chosen_by = "created" if d.kind == Kind.CREATE_LEAD else d.chosen_by or (link.chosen_by if link else "existing")
    if link is None:
        link = bulk.build(ContactLink, {"hs_contact_id": c.pk})
    link.sf_person, link.status, link.chosen_by, link.chosen_by_user = target, status, chosen_by, None
    link.since, link.linked_modstamp = timezone.now(), d.linked_modstamp or target.system_modstamp
    link.status_reason = d.message[:255]
    w.links.append(link)
    if status == LinkStatus.SYNCED:
        ctx.counts["switched" if action == A.LINK_SWITCHED else "linked"] += 1
    previous = people.get(d.previous_sf_id) if d.previous_sf_id else None
    after = {"sf_id": target.sf_id, "object_type": target.object_type, "status": status, "chosen_by": chosen_by,
             "modstamp": _iso(target.system_modstamp)}
    if d.holder:
        after["synced_by"] = d.holder
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
        link = bulk.build(ContactLink, {"hs_contact_id": c.pk, "sf_person": people.get(d.previous_sf_id or ""),
                                        "chosen_by": "existing"})
    link.status, link.since, link.status_reason = status, timezone.now(), d.message[:255]
    if status == LinkStatus.UNSYNCED:
        link.sf_person = None
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


def _create_leads(ctx: RunContext, contacts: list[HsContact], people: dict[str, SfPerson]) -> dict[str, SfPerson]:
    """New HubSpot contacts with no Salesforce match become leads, upserted by our external id
    (HubSpot contact id) so a retry after a lost response cannot create a second lead; each gets
    its one creation event (intents.py), also when the answer was lost."""
    if not contacts:
        return {}
    fields = ctx.sf.describe("Lead")
    records, notes = {}, {}
    for c in contacts:
        record = {schema.EXT_CONTACT_ID: c.hs_id, "Email": c.email.strip(), "FirstName": c.first_name or None,
                  "LastName": c.last_name or schema.PLACEHOLDER, "Company": c.company_name or schema.PLACEHOLDER,
                  "Phone": c.phone or None, "Title": c.job_title or None}
        records[c.hs_id], notes[c.hs_id] = fit(fields, record)
    by_id = {c.hs_id: c for c in contacts}
    events = {hs_id: {"rule": "R1", "target_type": "salesforce.Lead", "target_repr": f"Lead for {by_id[hs_id].email}",
                      "after": {"Email": by_id[hs_id].email, "HubSpot contact": hs_id,
                                **({"cut": notes[hs_id]} if notes[hs_id] else {})},
                      "message": "Created from a HubSpot contact whose email matched no Salesforce record."
                                 + (f" {'; '.join(notes[hs_id])}." if notes[hs_id] else "")} for hs_id in records}
    written, prior = intents.send(ctx, "salesforce", "Lead", events,
                                  lambda: ctx.sf.upsert("Lead", schema.EXT_CONTACT_ID, list(records.values())),
                                  record_type="Lead", operation="create lead",
                                  what=lambda key: f"Creating a lead for HubSpot contact {key}")
    created: dict[str, SfPerson] = {}
    with transaction.atomic():
        # Each lead's row as Salesforce now holds it, stamped from the write (schema.sf_written),
        # numbered after every record pulled so far, as a pull would return it: last (R3).
        known = mirror.payloads(SfPerson, [r.id for r in written])
        seq = ctx.created_person_seq(len(written))
        rows = [schema.sf_written("Lead", {**known.get(r.id, {}), **records[r.key], "Id": r.id}, r.at, seq=seq + i,
                                  created=r.id not in known) for i, r in enumerate(written)]
        mirror.upsert_written(SfPerson, rows)
        for row in SfPerson.objects.filter(sf_id__in=[r.sf_id for r in rows]).only(*PERSON_COLUMNS):
            people[row.sf_id] = row
            created[row.hubspot_contact_id] = row
        intents.settle(ctx, "salesforce", "Lead", written, prior)
        ctx.flush()
    return created
