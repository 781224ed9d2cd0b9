"""Deterministic "users at work" between sync cycles, the same for a given seed and cycle, so a
faulty run and a fault-free replay see exactly the same world: renames in both CRMs (now and then
with a lone UTF-16 surrogate, as a broken import leaves it), new leads and contacts, deletions
and undeletions, lead conversions and merges in Salesforce, merges and deletions in HubSpot.
Edits only touch records whose ids are stable across the two runs (scenario records and records
these edits create with ids of their own; a HubSpot merge's survivor gets a new id, so it is
left alone afterwards)."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from sandbox.ids import to18
from sandbox.salesforce.schema import PERSON_TOKEN

FIRST = ["Ada", "Bo", "Cyd", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo"]


POISON = "Pat\ud800ty"  # a lone surrogate: legal JSON, no character, no UTF-8 encoding


@dataclass
class World:
    sf_people: list[str] = field(default_factory=list)   # live Salesforce lead/contact ids
    hs_contacts: list[str] = field(default_factory=list)  # live HubSpot contact ids
    sf_deleted: list[str] = field(default_factory=list)  # deleted by a user (merged ones excluded)
    # email → when (sandbox time) a person deleted the record carrying it, while not brought back
    gone_emails: dict[str, object] = field(default_factory=dict)
    made: set[str] = field(default_factory=set)          # ids of the records these edits created
    emails: dict[str, str] = field(default_factory=dict)  # id → email key, of the records edits may touch
    next_id: int = 0


def world_from(scenario: dict) -> World:
    w = World()
    for kind in ("Lead", "Contact"):
        w.sf_people += [r["Id"] for r in scenario["salesforce"].get(kind, [])
                        if not r.get("IsDeleted") and not r.get("IsConverted")]
    w.hs_contacts = [str(r["id"]) for r in scenario["hubspot"].get("contacts", []) if not r.get("archived")]
    w.emails = {r["Id"]: (r.get("Email") or "").strip().lower() for kind in ("Lead", "Contact")
                for r in scenario["salesforce"].get(kind, [])}
    w.emails.update({str(r["id"]): (r["properties"].get("email") or "").strip().lower()
                     for r in scenario["hubspot"].get("contacts", [])})
    return w


def apply_edits(sandbox, world: World, *, seed: int, cycle: int, per_cycle: int = 6) -> list[str]:
    """Apply one cycle's edits to the sandbox; returns what was done (for reports)."""
    rng = random.Random(seed * 1000 + cycle)
    done = []
    for n in range(per_cycle):
        op = rng.choice(["sf_rename", "hs_rename", "sf_new_lead", "hs_new_contact", "sf_delete", "hs_title",
                         "sf_poison", "hs_poison", "hs_merge", "hs_delete", "sf_merge", "sf_convert", "sf_undelete"])
        if op == "sf_rename" and world.sf_people:
            sandbox.salesforce.touch(rng.choice(world.sf_people), {"FirstName": rng.choice(FIRST)})
        elif op == "hs_rename" and world.hs_contacts:
            sandbox.hubspot.touch("contacts", rng.choice(world.hs_contacts), {"firstname": rng.choice(FIRST)})
        elif op == "sf_poison" and world.sf_people:
            sandbox.salesforce.touch(rng.choice(world.sf_people), {"FirstName": POISON})
        elif op == "hs_poison" and world.hs_contacts:
            sandbox.hubspot.touch("contacts", rng.choice(world.hs_contacts), {"lastname": POISON})
        elif op == "hs_merge" and len(world.hs_contacts) > 10:
            primary, other = (world.hs_contacts.pop(rng.randrange(len(world.hs_contacts))) for _ in range(2))
            survivor = _api(sandbox.hubspot, "POST", "/crm/v3/objects/contacts/merge",
                            {"primaryObjectId": primary, "objectIdToMerge": other})
            world.made.add(str(survivor["id"]))   # made by the person who merged, not by the sync
        elif op == "hs_delete" and len(world.hs_contacts) > 10:
            gone = world.hs_contacts.pop(rng.randrange(len(world.hs_contacts)))
            _api(sandbox.hubspot, "DELETE", f"/crm/v3/objects/contacts/{gone}", None)
            world.gone_emails[world.emails.get(gone, "")] = sandbox.clock.now()
        elif op == "sf_merge" and len(world.sf_people) > 10:
            master = rng.choice(world.sf_people)
            victims = [p for p in world.sf_people if p[:3] == master[:3] and p != master]
            if not victims:
                continue
            victim = rng.choice(victims)
            world.sf_people.remove(victim)
            _soap(sandbox, "merge", f"<urn:request><urn:masterRecord><urn1:type>{_type(master)}</urn1:type>"
                                    f"<urn1:Id>{master}</urn1:Id></urn:masterRecord>"
                                    f"<urn:recordToMergeIds>{victim}</urn:recordToMergeIds></urn:request>")
        elif op == "sf_convert" and any(p.startswith("00Q") for p in world.sf_people):
            lead = rng.choice([p for p in world.sf_people if p.startswith("00Q")])
            world.sf_people.remove(lead)
            # Its new contact gets an id from the org's sequence, which the sync's own creates also
            # draw from: not stable across the two runs, so no later edit touches it.
            made = sandbox.salesforce.convert_lead_request({"leadId": lead})
            world.made.update(str(made.get(k)) for k in ("contactId", "accountId", "opportunityId") if made.get(k))
        elif op == "sf_undelete" and world.sf_deleted:
            back = world.sf_deleted.pop(rng.randrange(len(world.sf_deleted)))
            _soap(sandbox, "undelete", f"<urn:ids>{back}</urn:ids>")
            world.sf_people.append(back)
            world.gone_emails.pop(world.emails.get(back, ""), None)
        elif op == "hs_title" and world.hs_contacts:
            sandbox.hubspot.touch("contacts", rng.choice(world.hs_contacts), {"jobtitle": f"Title {cycle}-{n}"})
        elif op == "sf_new_lead":
            world.next_id += 1
            rid = to18(f"00QSk{seed % 100:02d}{world.next_id:08d}")
            sandbox.load_records([("salesforce", "Lead", {
                "Id": rid, "LastName": f"Lead{world.next_id}", "Company": "Soak Ltd",
                "Email": f"soak.lead{world.next_id}@example.com"})])
            world.sf_people.append(rid)
            world.made.add(rid)
            world.emails[rid] = f"soak.lead{world.next_id}@example.com"
        elif op == "hs_new_contact":
            world.next_id += 1
            # Counting down from a high id: the emulator numbers its own records upwards past
            # the highest id it has seen, so ours never collide with the ones the sync creates.
            hid = str(9_000_000_000 - world.next_id)
            sandbox.load_records([("hubspot", "contacts", {"id": hid, "properties": {
                "email": f"soak.contact{world.next_id}@example.com", "lastname": f"Contact{world.next_id}"}})])
            world.hs_contacts.append(hid)
            world.made.add(hid)
            world.emails[hid] = f"soak.contact{world.next_id}@example.com"
        elif op == "sf_delete" and len(world.sf_people) > 10:
            gone = world.sf_people.pop(rng.randrange(len(world.sf_people)))
            _sf_delete(sandbox, gone)
            world.sf_deleted.append(gone)
            world.gone_emails[world.emails.get(gone, "")] = sandbox.clock.now()
        else:
            continue
        done.append(op)
    return done


def _type(rid: str) -> str:
    return {"00Q": "Lead", "003": "Contact"}[rid[:3]]


def _api(emulator, method: str, path: str, body) -> dict | None:
    """A request to a CRM as a person's tool makes it (counted as API usage, never faulted)."""
    import json

    from sandbox.core import Request

    token = emulator.token
    req = Request.build(method, path, "", {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                        json.dumps(body).encode() if body is not None else b"")
    response = emulator.handle(req)
    assert response.status < 300, response.body
    return response.body if isinstance(response.body, dict) else None


def _soap(sandbox, call: str, inner: str) -> None:
    """A SOAP call (merge, undelete) as an admin's tool sends it."""
    from sandbox.core import Request

    envelope = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com" '
                'xmlns:urn1="urn:sobject.partner.soap.sforce.com"><soapenv:Header><urn:SessionHeader>'
                f"<urn:sessionId>{PERSON_TOKEN}</urn:sessionId></urn:SessionHeader></soapenv:Header>"
                f"<soapenv:Body><urn:{call}>{inner}</urn:{call}></soapenv:Body></soapenv:Envelope>")
    req = Request.build("POST", "/services/Soap/u/59.0", "", {"Content-Type": "text/xml", "SOAPAction": call},
                        envelope.encode())
    response = sandbox.salesforce.handle(req)
    assert response.status == 200 and b"<success>true</success>" in response.encoded(), response.body


def _sf_delete(sandbox, rid: str) -> None:
    """Delete as a user would (through the REST API, which also counts usage)."""
    from sandbox.core import Request

    version = "59.0"
    obj = {"00Q": "Lead", "003": "Contact"}[rid[:3]]
    token = PERSON_TOKEN    # a person's call: with SALESFORCE_SKIP_OWN_WRITES the sync leaves crmsync's own out
    req = Request.build("DELETE", f"/services/data/v{version}/sobjects/{obj}/{rid}", "",
                       {"Authorization": f"Bearer {token}"}, b"")
    response = sandbox.salesforce.handle(req)
    assert response.status in (204, 404), response.body

