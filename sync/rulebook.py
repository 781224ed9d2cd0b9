"""The rules R1–R11 in plain words, for the Rules page and every link to it. The engine applies
them in sync/engine/rules.py; this module only says what they mean, with an example each and
where the console shows each one at work."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    words: str
    example: str
    see: tuple[tuple[str, str], ...] = ()  # (label, console path) where the rule shows

    @property
    def anchor(self) -> str:
        return self.id.lower()


_AUDIT = "/audit/?rule="
RULEBOOK: tuple[Rule, ...] = (
    Rule("R1", "Email is the only key",
         "A HubSpot contact matches Salesforce leads and contacts by email alone, compared without case and "
         "surrounding spaces, and nothing else: same name or phone with another email is another person, and "
         "dots and +tags count. A record without an email never matches. A new HubSpot contact whose email "
         "matches nothing creates a lead when the setting says so.",
         "Ann Lee <ann@acme.com> and Ann Lee <a.lee@acme.com> are two people; ANN@acme.com is ann@acme.com.",
         (("Contacts", "/contacts/"),)),
    Rule("R2", "Duplicate group",
         "Two or more live Salesforce leads or contacts with one email are a duplicate group. Deleted records "
         "and converted leads (read-only history of the contact they became) are not members.",
         "A lead and a contact both at ann@acme.com are one group of two; merge them in Salesforce keeping the "
         "one HubSpot syncs with, or convert the lead into the contact.",
         (("Duplicate groups", "/duplicates/?kind=r2"),)),
    Rule("R3", "First link: the first record returned",
         "A contact syncing for the first time links to the first record Salesforce returns for its email. "
         "Salesforce returns them in no particular order, so the link says it was chosen this way.",
         "A new contact ann@acme.com, with a lead and a contact in Salesforce: it syncs with whichever came "
         "first, shown as \u201cR3 \u00b7 first record returned\u201d.",
         (("Links chosen this way", f"{_AUDIT}R3"),)),
    Rule("R4", "Afterwards: the most recently updated",
         "Once linked, the link stays put until a record of the same email is updated in Salesforce after the "
         "link was made; then it moves to the most recently updated of them. Each move is in the audit history "
         "with both records and both times.",
         "Someone edits the other record of ann@acme.com's group: the contact now syncs with that one.",
         (("Links that moved", f"{_AUDIT}R4"),)),
    Rule("R5", "Merging in Salesforce",
         "Merged-away records are deleted and name their master. A HubSpot contact that synced with one is "
         "deleted in HubSpot when the delete setting is on; otherwise it loses its primary (\u201cno longer "
         "syncing with Salesforce\u201d) until someone resyncs it. Merge into the record the contact syncs with "
         "and nothing is lost: the merge preview says which record that is.",
         "The contact syncs with lead 00Q1; merging 00Q1 into contact 003A leaves it without a primary until "
         "Resync.",
         (("Merges", f"{_AUDIT}R5"), ("Contacts without a primary", "/contacts/?status=lost_primary"))),
    Rule("R6", "Resync",
         "One click re-links a contact that lost its primary to its new primary: the merged record's master, "
         "or where there is none, the record R3 and R4 would choose now. The audit names who clicked.",
         "After the merge above, Resync links the contact to 003A.",
         (("Contacts without a primary", "/contacts/?status=lost_primary"), ("Resyncs", f"{_AUDIT}R6"))),
    Rule("R7", "Several HubSpot contacts, one Salesforce record",
         "HubSpot contacts with different emails can name one Salesforce record. They are duplicates in "
         "HubSpot, merged there keeping the contact that currently syncs with the record. Until then only that "
         "contact writes to the record; the others are marked duplicate.",
         "ann@acme.com syncs with contact 003A; ann@gmail.com names 003A too and waits to be merged into it.",
         (("Shared-record groups", "/duplicates/?kind=r7"),)),
    Rule("R8", "Deleting in Salesforce",
         "Deleting (not merging) a Salesforce lead or contact deletes its HubSpot contact when the delete "
         "setting is on, or leaves it unsynced when off. An unsynced contact is never given a new lead: that "
         "would bring back what a person deleted.",
         "A rep deletes lead 00Q9: its HubSpot contact is left unsynced (setting off) and stays so.",
         (("Deletions", f"{_AUDIT}R8"),)),
    Rule("R9", "The account id is the key",
         "Salesforce accounts match HubSpot companies by the account id stored on the company. Several "
         "companies with one account id are duplicates, merged in HubSpot keeping the one linked to the "
         "account.",
         "Acme and Acme Inc. both carry account 001A: one company group of two.",
         (("Company groups", "/duplicates/?kind=r9"),)),
    Rule("R10", "Companies follow contacts",
         "When a synced Salesforce contact belongs to an account, that account's company is reused if one is "
         "linked, else the contact's own company takes the link, else a company is created and associated. "
         "Never a second company for one account.",
         "Ann's contact belongs to account 001A, which has no company yet: her company Acme is linked to it.",
         (("Company links", f"{_AUDIT}R10"),)),
    Rule("R11", "Deals are never deduplicated",
         "A new deal creates an opportunity and a new opportunity a deal, one to one by the opportunity id, "
         "never matched by name or amount; a retry or a crash never makes a second copy. A deal's stage becomes "
         "a stage the org offers (the stage mapping in Settings), never a raw HubSpot stage id. A new deal's "
         "opportunity goes on the account of the deal's company, and a synced deal without a company is "
         "associated with the company of its opportunity's account; a deal that has a company keeps it.",
         "Two deals named \u201cRenewal 2027\u201d for one company are two opportunities.",
         (("Deal events", f"{_AUDIT}R11"),)),
)
BY_ID = {rule.id: rule for rule in RULEBOOK}
