"""New Salesforce leads/contacts create HubSpot contacts (a setting, default on).

One HubSpot contact per email: a duplicate group (R2) gets one contact, linked to the record
Salesforce returned first (R3). Created by batch upsert on email, so a retry after a lost
response updates the contact the first attempt made instead of creating a second one."""
from __future__ import annotations

from dataclasses import replace

from django.db import transaction
from django.db.models import Exists, Max, OuterRef

from sync.engine import bulk, intents, schema
from sync.engine.contacts import CONTACT, LINK_FIELDS, sync_properties
from sync.engine.context import RunContext
from sync.engine.mirror import upsert
from sync.engine.pull import Touched
from sync.models import AuditEvent, ContactLink, HsContact, LinkStatus, SfPerson

HS_BATCH = 100


def _orphans(touched: Touched):
    qs = (SfPerson.objects.group_members()
          .annotate(has_contact=Exists(HsContact.objects.filter(email_key=OuterRef("email_key"))),
                    has_link=Exists(ContactLink.objects.filter(sf_person=OuterRef("pk"))))
          .filter(has_contact=False, has_link=False).defer("raw").order_by("email_key", "pull_seq"))
    if touched.everything:
        last = ""
        while True:
            page = list(qs.filter(email_key__gt=last)[:1000])
            if not page:
                return
            yield from page
            # Paging on email_key > last skips the rest of the last group, which is fine: only a
            # group's first record (lowest pull_seq, seen first) is used.
            last = page[-1].email_key
    else:
        # Whole groups, not just the touched members, so a group is never split across chunks.
        keys = sorted(touched.email_keys)
        for i in range(0, len(keys), 5000):
            yield from qs.filter(email_key__in=keys[i:i + 5000])


def create_hubspot_contacts(ctx: RunContext, touched: Touched) -> None:
    if not ctx.settings.create_hubspot_contacts:
        return
    batch: dict[str, SfPerson] = {}
    previous = None
    for person in _orphans(touched):
        if person.email_key == previous:
            continue  # R3: the group's first-returned record is already chosen (ordered by pull_seq)
        previous = person.email_key
        batch[person.email_key] = person
        if len(batch) == HS_BATCH:
            _create(ctx, list(batch.values()))
            batch = {}
    if batch:
        _create(ctx, list(batch.values()))


def _create(ctx: RunContext, people: list[SfPerson]) -> None:
    s = ctx.settings
    inputs = {}
    for p in people:
        props = {"email": p.email.strip(), "firstname": p.first_name, "lastname": p.last_name, "phone": p.phone,
                 "jobtitle": p.title, **sync_properties(p, s)}
        if p.object_type == "Lead":
            props["company"] = p.company
        inputs[p.email_key] = {"id": p.email.strip(),
                               "properties": {k: v for k, v in props.items() if v != "" or k.startswith("salesforce")}}
    events = {p.email_key: {"rule": "R3", "target_type": CONTACT, "target_repr": f"{p.name or p.email} <{p.email}>",
                            "after": {"sf_id": p.sf_id, "email": p.email},
                            "message": f"Created from Salesforce {p.object_type} {p.sf_id}, which had no HubSpot contact."}
              for p in people}
    by_key = {p.email_key: p for p in people}
    written, prior = intents.send(
        ctx, "hubspot", "contacts", events, lambda: [replace(r, key=r.key.strip().lower()) for r in
                                                     ctx.hs.upsert("contacts", "email", list(inputs.values()))],
        record_type="contact", operation="create contact", record_id=lambda key: by_key[key].sf_id,
        what=lambda key: f"Creating a HubSpot contact for {by_key[key].object_type} {by_key[key].sf_id} ({key})")
    links = [(by_key[r.key], r) for r in written]
    rows = [schema.hs_contact(r.record, s) for _, r in links]
    # R4 only moves a first link for updates made after it: the link starts from the newest stamp
    # of the record's whole group, so an older group member does not take it over next run.
    newest = dict(SfPerson.objects.group_members().filter(email_key__in=[p.email_key for p, _ in links])
                  .values_list("email_key")
                  .annotate(newest=Max("system_modstamp")))
    with transaction.atomic():
        upsert(HsContact, rows)
        contacts = {c.hs_id: c for c in HsContact.objects.filter(hs_id__in=[r.hs_id for r in rows]).defer("raw")}
        made = []
        audited = intents.settle(ctx, "hubspot", "contacts", written, prior)
        for p, result in links:
            c = contacts[result.id]
            made.append(bulk.build(ContactLink, dict(
                hs_contact=c, sf_person=p, status=LinkStatus.SYNCED, chosen_by=ContactLink.ChosenBy.CREATED,
                linked_modstamp=newest.get(p.email_key) or p.system_modstamp,
                status_reason=f"Created from Salesforce {p.object_type} {p.sf_id}.")))
            if p.email_key not in audited:
                # The upsert found a contact with this email that no attempt of ours made: created
                # in HubSpot since the pull. The link is new and is audited.
                ctx.event(action=AuditEvent.Action.LINK_CREATED, rule="R3", target_type=CONTACT, target_id=c.hs_id,
                          target_repr=f"{c.name or c.email} <{c.email}>",
                          after={"sf_id": p.sf_id, "object_type": p.object_type, "status": LinkStatus.SYNCED,
                                 "chosen_by": ContactLink.ChosenBy.CREATED},
                          message=f"Linked to Salesforce {p.object_type} {p.sf_id}: HubSpot already had a "
                                  "contact with its email.")
            ctx.counts["linked"] += 1
        bulk.insert(ContactLink, made, conflict="hs_contact", update=LINK_FIELDS)
        ctx.flush()
