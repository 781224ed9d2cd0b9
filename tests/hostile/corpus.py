"""Hostile and odd values for names, emails and companies, as they turn up in real CRMs."""
from __future__ import annotations

from sandbox.ids import to18

SCRIPT = '<script>alert("x")</script>'
NAMES = [SCRIPT, "Robert'); DROP TABLE Contact;--", "100% _under_score", "Zoë Łukasz 山田", "O'Brien",
         "x" * 300, "Tab\there", "back\\slash", '"quoted"', "Null\x00Byte", "   ", "<b>bold</b> & co"]
EMAILS = ["o'brien@example.com", " O'Brien@Example.COM ", "mixed.Case@Example.com", "mixed.case@example.com ",
          "zoë@exämple.com", "pct%under_score@example.com", "quote\"d@example.com", "", None,
          "a" * 70 + "@example.com", "back\\slash@example.com", "semi;colon@example.com"]


def hostile_scenario() -> dict:
    """Salesforce leads and contacts and HubSpot contacts carrying every value above."""
    leads, contacts, hs = [], [], []
    for i, (name, email) in enumerate(zip(NAMES, EMAILS, strict=True)):
        leads.append({"Id": to18(f"00QHx{i:010d}"), "FirstName": name[:40], "LastName": name or "-",
                      "Company": f"{name} Ltd"[:255], "Email": email})
        contacts.append({"Id": to18(f"003Hx{i:010d}"), "FirstName": name[:40], "LastName": name or "-",
                         "Email": email, "Title": name[:128]})
        props = {"firstname": name, "lastname": name, "company": name, "jobtitle": name}
        if email:
            props["email"] = f"hs.{i}.{email.strip()}" if i % 2 else email.strip()
        hs.append({"id": str(500 + i), "properties": props})
    hs.append({"id": "600", "properties": {"firstname": "No", "lastname": "Email"}})  # no email at all
    return {"salesforce": {"Lead": leads, "Contact": contacts}, "hubspot": {"contacts": hs}}


def load_accepted(sandbox, scenario: dict) -> dict[str, int]:
    """Load record by record, keeping what each CRM accepts (each validates as the real one does:
    HubSpot refuses some of these emails, for instance); returns how many of each were taken."""
    taken: dict[str, int] = {}
    for crm, types in scenario.items():
        for object_type, records in types.items():
            for record in records:
                try:
                    sandbox.load_records([(crm, object_type, record)])
                except ValueError:
                    continue
                taken[f"{crm}.{object_type}"] = taken.get(f"{crm}.{object_type}", 0) + 1
    return taken
