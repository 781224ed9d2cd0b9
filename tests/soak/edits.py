"""Deterministic "users at work" between sync cycles: edits, creations and deletions in both
CRMs, the same for a given seed and cycle, so a faulty run and a fault-free replay see exactly
the same world. Edits only touch records whose ids are stable across the two runs (scenario
records and records these edits create with ids of their own)."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from sandbox.ids import to18

FIRST = ["Ada", "Bo", "Cyd", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo"]


@dataclass
class World:
    sf_people: list[str] = field(default_factory=list)   # live Salesforce lead/contact ids
    hs_contacts: list[str] = field(default_factory=list)  # live HubSpot contact ids
    next_id: int = 0


def world_from(scenario: dict) -> World:
    w = World()
    for kind in ("Lead", "Contact"):
        w.sf_people += [r["Id"] for r in scenario["salesforce"].get(kind, [])
                        if not r.get("IsDeleted") and not r.get("IsConverted")]
    w.hs_contacts = [str(r["id"]) for r in scenario["hubspot"].get("contacts", []) if not r.get("archived")]
    return w


def apply_edits(sandbox, world: World, *, seed: int, cycle: int, per_cycle: int = 6) -> list[str]:
    """Apply one cycle's edits to the sandbox; returns what was done (for reports)."""
    rng = random.Random(seed * 1000 + cycle)
    done = []
    for n in range(per_cycle):
        op = rng.choice(["sf_rename", "hs_rename", "sf_new_lead", "hs_new_contact", "sf_delete", "hs_title"])
        if op == "sf_rename" and world.sf_people:
            sandbox.salesforce.touch(rng.choice(world.sf_people), {"FirstName": rng.choice(FIRST)})
        elif op == "hs_rename" and world.hs_contacts:
            sandbox.hubspot.touch("contacts", rng.choice(world.hs_contacts), {"firstname": rng.choice(FIRST)})
        elif op == "hs_title" and world.hs_contacts:
            sandbox.hubspot.touch("contacts", rng.choice(world.hs_contacts), {"jobtitle": f"Title {cycle}-{n}"})
        elif op == "sf_new_lead":
            world.next_id += 1
            rid = to18(f"00QSk{seed % 100:02d}{world.next_id:08d}")
            sandbox.load_records([("salesforce", "Lead", {
                "Id": rid, "LastName": f"Lead{world.next_id}", "Company": "Soak Ltd",
                "Email": f"soak.lead{world.next_id}@example.com"})])
            world.sf_people.append(rid)
        elif op == "hs_new_contact":
            world.next_id += 1
            # Counting down from a high id: the emulator numbers its own records upwards past
            # the highest id it has seen, so ours never collide with the ones the sync creates.
            hid = str(9_000_000_000 - world.next_id)
            sandbox.load_records([("hubspot", "contacts", {"id": hid, "properties": {
                "email": f"soak.contact{world.next_id}@example.com", "lastname": f"Contact{world.next_id}"}})])
            world.hs_contacts.append(hid)
        elif op == "sf_delete" and len(world.sf_people) > 10:
            _sf_delete(sandbox, world.sf_people.pop(rng.randrange(len(world.sf_people))))
        else:
            continue
        done.append(op)
    return done


def _sf_delete(sandbox, rid: str) -> None:
    """Delete as a user would (through the REST API, which also counts usage)."""
    from sandbox.core import Request

    version = "59.0"
    obj = {"00Q": "Lead", "003": "Contact"}[rid[:3]]
    token = sandbox.salesforce.token
    req = Request.build("DELETE", f"/services/data/v{version}/sobjects/{obj}/{rid}", "",
                       {"Authorization": f"Bearer {token}"}, b"")
    response = sandbox.salesforce.handle(req)
    assert response.status in (204, 404), response.body

