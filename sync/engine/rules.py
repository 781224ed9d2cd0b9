"""The sync's rules (R1–R11, in the README) as pure functions: facts in, one decision out. No
database, no network: each step gathers the facts from the mirror, decides here, and applies."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from rapidfuzz import fuzz

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    """What the rules need to know about one Salesforce lead or contact."""

    sf_id: str
    object_type: str
    email_key: str = ""
    is_deleted: bool = False
    master_record_id: str = ""
    is_converted: bool = False
    converted_contact_id: str = ""
    modstamp: datetime | None = None
    pull_seq: int = 0

    @property
    def live(self) -> bool:
        return not self.is_deleted and not self.is_converted


@dataclass(frozen=True)
class Link:
    sf_id: str | None
    status: str  # synced · lost_primary · unsynced · deleted · duplicate · merged
    chosen_by: str = ""
    linked_modstamp: datetime | None = None


class Kind(StrEnum):
    """What happens to one HubSpot contact's link (and what HubSpot shows for it)."""

    NONE = "none"                  # nothing to do (no email, or creating leads is off)
    KEEP = "keep"                  # the link stays (its R4 stamp may move)
    REPAIR = "repair"              # the link stays; HubSpot's Salesforce-id properties are written again
    LINK = "link"                  # first link (R3), or a duplicate taking over a record nobody syncs with (R7)
    ADOPT = "adopt"                # first sight: HubSpot already syncs it with a record; keep that one
    SWITCH = "switch"              # R4: a record of the same email was updated since the link was made
    CONVERTED = "converted"        # the linked lead was converted: follow it to its contact
    DUPLICATE = "duplicate"        # R7: another HubSpot contact syncs with the record this one names
    LOSE_PRIMARY = "lose_primary"  # R5, delete setting off: its record was merged away
    UNSYNC = "unsync"              # R8, delete setting off: its record was deleted
    CLEAR = "clear"                # unsynced, and HubSpot still names the gone record: clear that
    ARCHIVE = "archive"            # R5/R8, delete setting on: delete the HubSpot contact
    CREATE_LEAD = "create_lead"    # R1: no Salesforce record has its email


# Decisions that put the contact on a record (another contact may sync with it already: R7).
CLAIMS = frozenset({Kind.LINK, Kind.ADOPT, Kind.SWITCH, Kind.CONVERTED})
STAYS = frozenset({Kind.KEEP, Kind.REPAIR})


@dataclass(frozen=True)
class Decision:
    """What should happen to one HubSpot contact's link, and why (`rule`, `message`).
    `sf_id` is the record the contact syncs with afterwards (or the one that went away)."""

    kind: Kind
    sf_id: str | None = None
    chosen_by: str = ""
    rule: str = ""
    linked_modstamp: datetime | None = None
    message: str = ""
    previous_sf_id: str | None = None
    holder: str | None = None  # DUPLICATE: the contact that syncs with the record


@dataclass(frozen=True)
class Policy:
    """The settings the contact rules read."""

    delete_on: bool = False     # R5/R8: delete the HubSpot contact with its Salesforce record
    create_leads: bool = True   # R1: a contact with no matching record creates a lead


@dataclass(frozen=True)
class ContactFacts:
    """What the rules know about one HubSpot contact: its email (R1), its link, the records
    sharing its email, and the Salesforce id HubSpot's own properties name."""

    has_email: bool
    link: Link | None = None
    linked: Person | None = None                 # the record the link names
    candidates: tuple[Person, ...] = ()          # records sharing its email, in any order
    shows: str = ""                              # the Salesforce id HubSpot's properties name
    shown: Person | None = None                  # that record, when the mirror has it
    outside_list: bool = False                   # an inclusion list is set and the contact is not in it


def is_group_member(p: Person) -> bool:
    """R2: live, unconverted records with an email form duplicate groups."""
    return p.live and bool(p.email_key)


def first_returned(candidates: list[Person]) -> Person:
    """R3: the first record Salesforce returned (the pull keeps that order as pull_seq)."""
    return min(candidates, key=lambda p: p.pull_seq)


def most_recently_updated(candidates: list[Person]) -> Person:
    """R4: the most recently updated; ties keep the earlier-returned record."""
    return max(candidates, key=lambda p: (p.modstamp or EPOCH, -p.pull_seq))


def _newest_stamp(candidates) -> datetime | None:
    stamps = [p.modstamp for p in candidates if p.modstamp]
    return max(stamps) if stamps else None


def decide_contact(f: ContactFacts, policy: Policy) -> Decision:
    """One HubSpot contact (R1, R3–R8). R7 — one contact per record — is settled afterwards,
    across contacts, by `settle_claims`."""
    candidates = tuple(c for c in f.candidates if is_group_member(c))
    if f.link is None:
        return _first_sight(f, candidates, policy)
    status = f.link.status
    if status in ("synced", "duplicate") and f.linked is not None:
        return _linked(f, candidates, policy)
    if status == "unsynced" and f.shows and (f.shown is None or f.shown.is_deleted):
        # R8's write to HubSpot did not happen yet (interrupted): it must stop naming the record.
        return Decision(Kind.CLEAR, previous_sf_id=f.shows, rule="R8",
                        message=f"HubSpot still named {f.shows}, which was deleted; cleared.")
    return Decision(Kind.KEEP)  # lost primary stays until a person resyncs (R6); unsynced stays unsynced


def _first_sight(f: ContactFacts, candidates: tuple[Person, ...], policy: Policy) -> Decision:
    if f.shows:
        if f.shown is None:
            # HubSpot names a record Salesforce does not have (deleted and purged): a new lead now
            # would bring back what a person deleted.
            return Decision(Kind.UNSYNC, rule="R8", previous_sf_id=f.shows,
                            message=f"HubSpot names Salesforce record {f.shows}, which Salesforce no longer has; "
                                    "left unsynced.")
        # HubSpot already syncs this contact with a record (e.g. R7: another email): keep it.
        adopted = Link(f.shown.sf_id, "synced", "existing", _newest_stamp(candidates + (f.shown,)))
        follow = _linked(replace(f, link=adopted, linked=f.shown), candidates, policy)
        if follow.kind in STAYS:
            return Decision(Kind.ADOPT, sf_id=f.shown.sf_id, chosen_by="existing", linked_modstamp=adopted.linked_modstamp,
                            message="Adopted the Salesforce id HubSpot already had.")
        return follow
    if candidates:
        first = first_returned(list(candidates))
        others = len(candidates) - 1
        return Decision(Kind.LINK, sf_id=first.sf_id, chosen_by="R3", rule="R3", linked_modstamp=_newest_stamp(candidates),
                        message="First record Salesforce returned for this email"
                                + (f" ({others} other record{' shares' if others == 1 else 's share'} it)." if others else "."))
    if f.has_email and policy.create_leads and not f.outside_list:  # outside the inclusion list: no lead
        return Decision(Kind.CREATE_LEAD, rule="R1", message="No Salesforce lead or contact has this email.")
    return Decision(Kind.NONE)


def _linked(f: ContactFacts, candidates: tuple[Person, ...], policy: Policy) -> Decision:
    """A contact on a record (synced, or an R7 duplicate waiting for it): R4, R5, R8, conversion."""
    link, linked = f.link, f.linked
    if linked.is_deleted:
        if linked.master_record_id:
            if policy.delete_on:
                return Decision(Kind.ARCHIVE, sf_id=linked.sf_id, rule="R5", previous_sf_id=linked.sf_id,
                                message=f"Its Salesforce record {linked.sf_id} was merged into "
                                        f"{linked.master_record_id}; the delete setting is on.")
            return Decision(Kind.LOSE_PRIMARY, sf_id=linked.sf_id, rule="R5", previous_sf_id=linked.sf_id,
                            message=f"Its primary {linked.sf_id} was merged into {linked.master_record_id}.")
        if policy.delete_on:
            return Decision(Kind.ARCHIVE, sf_id=linked.sf_id, rule="R8", previous_sf_id=linked.sf_id,
                            message=f"Its Salesforce record {linked.sf_id} was deleted; the delete setting is on.")
        return Decision(Kind.UNSYNC, rule="R8", previous_sf_id=linked.sf_id,
                        message=f"Its Salesforce record {linked.sf_id} was deleted; left unsynced.")

    if linked.is_converted and linked.converted_contact_id:
        return Decision(Kind.CONVERTED, sf_id=linked.converted_contact_id, chosen_by="converted", rule="R4",
                        linked_modstamp=link.linked_modstamp, previous_sf_id=linked.sf_id,
                        message=f"Lead {linked.sf_id} was converted into contact {linked.converted_contact_id}.")

    newest = _newest_stamp(candidates)
    if candidates and newest and (link.linked_modstamp is None or newest > link.linked_modstamp):
        winner = most_recently_updated(list(candidates))
        if winner.sf_id != linked.sf_id and (winner.modstamp and (linked.modstamp is None
                                                                 or winner.modstamp > linked.modstamp)):
            return Decision(Kind.SWITCH, sf_id=winner.sf_id, chosen_by="R4", rule="R4", linked_modstamp=newest,
                            previous_sf_id=linked.sf_id,
                            message=f"{winner.sf_id} was updated in Salesforce at {winner.modstamp:%Y-%m-%d %H:%M:%S} "
                                    f"UTC, after {linked.sf_id} ({_fmt(linked.modstamp)}).")
        return _stay(f, linked_modstamp=newest)
    return _stay(f, linked_modstamp=None)


def _stay(f: ContactFacts, *, linked_modstamp: datetime | None) -> Decision:
    """The link stays; HubSpot's properties are written again if they name something else (a
    write an interrupted run never made, or someone changed them)."""
    kind = Kind.KEEP if f.shows == f.linked.sf_id else Kind.REPAIR
    return Decision(kind, sf_id=f.linked.sf_id, linked_modstamp=linked_modstamp)


def settle_claims(decisions: list[tuple[str, Link | None, Decision]], held: dict[str, str]) -> list[Decision]:
    """R7: a Salesforce record syncs with one HubSpot contact, the one that already does; only it
    may write to the record. `decisions` are (contact, its link, its decision) in a stable order;
    `held` maps records to the contact that syncs with them, among contacts not in `decisions`.
    Contacts whose link leaves a record free it; links that stay keep their record; then new
    claims, in order: a record someone else syncs with makes the claimant a DUPLICATE of it,
    and a duplicate whose record nobody syncs with any more takes it over."""
    held = dict(held)
    out = [d for _, _, d in decisions]
    for who, link, d in decisions:
        current = link.sf_id if link is not None and link.status == "synced" else None
        if current and held.get(current) == who and not (d.kind in STAYS and d.sf_id == current):
            del held[current]
    stays = [i for i, (_, link, d) in enumerate(decisions)
             if d.kind in STAYS and link is not None and link.status == "synced"]
    claims = [i for i, (_, link, d) in enumerate(decisions)
              if d.kind in CLAIMS or (d.kind in STAYS and link is not None and link.status == "duplicate")]
    for i in stays + claims:
        who, link, d = decisions[i]
        holder = held.get(d.sf_id)
        if holder is None or holder == who:
            held[d.sf_id] = who
            if link is not None and link.status == "duplicate" and d.kind in STAYS:
                out[i] = Decision(Kind.LINK, sf_id=d.sf_id, chosen_by="existing", rule="R7", linked_modstamp=d.linked_modstamp,
                                  message=f"No other HubSpot contact syncs with {d.sf_id} any more: this one does.")
        elif not (link is not None and link.status == "duplicate" and link.sf_id == d.sf_id):
            out[i] = Decision(Kind.DUPLICATE, sf_id=d.sf_id, rule="R7", holder=holder,
                              previous_sf_id=link.sf_id if link else None,
                              message=f"HubSpot contact {holder} already syncs with {d.sf_id}; this contact names it "
                                      "and waits to be merged into it in HubSpot (R7).")
        else:
            out[i] = replace(d, kind=Kind.KEEP if d.kind == Kind.KEEP else Kind.REPAIR)
    return out


def resync_target(*, linked: Person | None, by_id: dict[str, Person], candidates: list[Person]) -> Person | None:
    """R6: the new primary is the MasterRecordId of the record the contact synced with (followed
    through chained merges); where there is none, the record R3/R4 would choose now."""
    seen: set[str] = set()
    current = linked
    while current is not None and current.is_deleted and current.master_record_id and current.sf_id not in seen:
        seen.add(current.sf_id)
        current = by_id.get(current.master_record_id)
    if current is not None and current.live:
        return current
    live = [c for c in candidates if is_group_member(c)]
    if not live:
        return None
    return most_recently_updated(live) if any(c.modstamp for c in live) else first_returned(live)


def _fmt(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value else "never"


# --- accounts and companies (R9, R10) ----------------------------------------------------------

def company_for_account(*, account_live: bool, account_linked: bool, carriers: list[str]) -> str | None:
    """R9: of the unlinked companies carrying a live, unlinked account's id (oldest first), the
    oldest is that account's company; the others stay duplicates for the console."""
    return carriers[0] if account_live and not account_linked and carriers else None


class CompanyKind(StrEnum):
    NONE = "none"        # nothing to do (account deleted, or its company deleted in HubSpot)
    REUSE = "reuse"      # R10: the company already linked to the account
    CLAIM = "claim"      # R10: the contact's own company, not linked to any account yet
    CREATE = "create"    # R10: no company: create one for the account


@dataclass(frozen=True)
class AccountFacts:
    """One account with synced contacts (R10): its linked company, and each contact's companies."""

    account_id: str
    live: bool
    company: str | None = None           # the company linked to the account
    company_gone: bool = False           # that company was deleted in HubSpot: the account keeps none
    contacts: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (contact, the companies it is associated with)
    free: frozenset[str] = frozenset()   # companies with no account id and no link: claimable


@dataclass(frozen=True)
class CompanyDecision:
    kind: CompanyKind
    account_id: str
    company: str | None = None
    associate: tuple[str, ...] = ()      # contacts to associate with the company
    message: str = ""


def free_for_r10(*, linked: bool, names_account: bool, archived: bool) -> bool:
    """A company R10 may claim for an account: live, linked to no account and naming none (the
    `free` companies of AccountFacts; companies._follow reads them with exactly these filters).
    Any other company keeps its account whatever R10 decides, so a deal on it can be given its
    opportunity before R10 runs (deals.opportunities_from_deals)."""
    return not (linked or names_account or archived)


def decide_companies(accounts: list[AccountFacts]) -> list[CompanyDecision]:
    """R10 for a batch of accounts, in order: reuse the linked company, else claim the lowest
    numbered free company among the contacts' own (the same answer whatever order the contacts
    came in; a company goes to one account only), else create one. Every synced contact of the
    account ends associated with the account's company."""
    claimed: set[str] = set()
    out = []
    for a in accounts:
        if not a.live:
            out.append(CompanyDecision(CompanyKind.NONE, a.account_id))
            continue
        if a.company_gone:
            out.append(CompanyDecision(CompanyKind.NONE, a.account_id,
                                       message="Its company was deleted in HubSpot; it is not created again."))
            continue
        if a.company is not None:
            out.append(CompanyDecision(CompanyKind.REUSE, a.account_id, a.company, _unassociated(a, a.company)))
            continue
        choices = sorted({i for _, companies in a.contacts for i in companies if i in a.free and i not in claimed},
                         key=lambda i: (len(i), i))
        if choices:
            claimed.add(choices[0])
            out.append(CompanyDecision(CompanyKind.CLAIM, a.account_id, choices[0], _unassociated(a, choices[0]),
                                       f"Linked to account {a.account_id}: the company its contact was associated with."))
        else:
            out.append(CompanyDecision(CompanyKind.CREATE, a.account_id, None, tuple(c for c, _ in a.contacts),
                                       f"Created for account {a.account_id}: no company was linked to it."))
    return out


def _unassociated(a: AccountFacts, company: str) -> tuple[str, ...]:
    return tuple(c for c, companies in a.contacts if company not in companies)


# --- deals and opportunities (R11) -------------------------------------------------------------

class DealKind(StrEnum):
    NONE = "none"
    LINK = "link"        # the deal carries the id of a live opportunity no other deal has
    CREATE = "create"    # a new deal: create its opportunity (or a new opportunity: its deal)


@dataclass(frozen=True)
class DealDecision:
    kind: DealKind
    message: str = ""


def decide_deal(*, names: str, opportunity_live: bool | None, opportunity_linked: bool) -> DealDecision:
    """R11, for an unlinked HubSpot deal: never matched by name or amount, only by the id it
    carries. `opportunity_live` is None when Salesforce has no record of that id."""
    if not names:
        return DealDecision(DealKind.CREATE, "Created from a new HubSpot deal.")
    if opportunity_live is None or not opportunity_live:
        return DealDecision(DealKind.NONE, f"The deal names opportunity {names}, which was deleted in Salesforce; "
                                           "it is not created again.")
    if opportunity_linked:
        return DealDecision(DealKind.NONE, f"Opportunity {names} already syncs with another deal (R11: one to one).")
    return DealDecision(DealKind.LINK, "Linked by the opportunity id the deal carries.")


def decide_opportunity(*, linked: bool, live: bool) -> DealDecision:
    """R11, for a Salesforce opportunity: a live one without a deal gets one."""
    if live and not linked:
        return DealDecision(DealKind.CREATE, "Created from a new Salesforce opportunity.")
    return DealDecision(DealKind.NONE)


def company_for_deal(*, associated: tuple[str, ...], account_company: str) -> tuple[str, bool]:
    """The company a synced deal goes with, and whether crmsync must associate it. A company the
    deal already has (the primary first) stays, whatever its opportunity's account: a person
    chose it. A deal with none is associated with the company that syncs with its opportunity's
    account, as HubSpot's integration does (R11 pairs the deal, R9 the account and company).
    Neither: none."""
    if associated:
        return associated[0], False
    return account_company, bool(account_company)


# --- records removed on the HubSpot side (merged or deleted there), and pairs losing a side -----

class RemovalKind(StrEnum):
    NONE = "none"
    MERGED = "merged"      # merged into another record in HubSpot: the survivor syncs from now on
    DELETED = "deleted"    # deleted in HubSpot (or gone from it)


@dataclass(frozen=True)
class Removal:
    kind: RemovalKind
    rule: str = ""
    message: str = ""


def decide_contact_removal(*, status: str, merged_into: str, linked_gone: bool, delete_on: bool) -> Removal:
    """A HubSpot contact that is archived in HubSpot. Merged (HubSpot names the survivor): its link
    ends, the survivor keeps the link its own properties name (R7: HubSpot keeps the primary's).
    Deleted: its link ends; when its Salesforce record was deleted and the delete setting is on,
    that was the sync's own R5/R8 deletion, whose record an interrupted run did not write."""
    if status == "merged":
        return Removal(RemovalKind.NONE)
    if merged_into:
        return Removal(RemovalKind.MERGED, "R7", f"Merged into HubSpot contact {merged_into} in HubSpot; only that "
                                                 "contact syncs with Salesforce now.")
    if status == "deleted":
        return Removal(RemovalKind.NONE)
    if linked_gone and delete_on and status == "synced":
        return Removal(RemovalKind.DELETED, "R8", "Deleted with its Salesforce record (the delete setting is on); "
                                                  "recorded by the next run after an interruption.")
    return Removal(RemovalKind.DELETED, "", "Deleted in HubSpot.")


class PairKind(StrEnum):
    KEEP = "keep"
    MOVE = "move"                          # the HubSpot side was merged: the survivor takes the link
    HUBSPOT_DELETED = "hubspot_deleted"
    SALESFORCE_DELETED = "salesforce_deleted"
    SYNCED = "synced"                      # the Salesforce side came back (undeleted)


def decide_pair(*, status: str, hs_archived: bool, merged_into: str, survivor_takes: bool, sf_deleted: bool) -> PairKind:
    """A company ↔ account or deal ↔ opportunity link whose sides may have changed. A side a person
    deleted is never created again (the link stays, marked); a HubSpot merge moves the link to
    the survivor when the survivor carries the same Salesforce id and has no link of its own."""
    if hs_archived:
        if merged_into and survivor_takes and status == "synced":
            return PairKind.MOVE
        return PairKind.HUBSPOT_DELETED if status != "hubspot_deleted" else PairKind.KEEP
    if sf_deleted:
        return PairKind.SALESFORCE_DELETED if status == "synced" else PairKind.KEEP
    if status == "salesforce_deleted":
        return PairKind.SYNCED
    return PairKind.KEEP


# --- merges (R2) -------------------------------------------------------------------------------

def merge_keeps(fields: list[str], primary: tuple[str, dict], merged: list[tuple[str, dict]]) -> dict[str, str]:
    """A Salesforce merge, field by field: whose value the surviving record keeps unless the
    operator picks another. The primary's (Salesforce's own default), except where it has none and
    a merged record has one: the first such record in the group's order, so a merge never drops a
    phone number nobody chose to drop. Records are (sf_id, {field: value}); the answer is
    {field: sf_id}."""
    keeps = {}
    for name in fields:
        donor = next((sf_id for sf_id, values in merged if values.get(name)), None)
        keeps[name] = primary[0] if primary[1].get(name) or donor is None else donor
    return keeps


# -- Live sync: which records a batch of HubSpot webhook events asks to read (engine/live.py) ------

@dataclass(frozen=True)
class WebhookEvent:
    object_type: str            # contacts, companies, deals
    object_id: str
    kind: str                   # creation, propertyChange, deletion, merge, restore, associationChange, …
    property_name: str = ""
    occurred_ms: int = 0
    related_ids: tuple[str, ...] = ()


def webhook_reads(events: list[WebhookEvent], *, synced: dict[str, set[str]], marker: str) -> dict[str, list[str]]:
    """The ids to read, per object type, for a batch of webhook events (in any order, with repeats).

    * A change crmsync made itself is not read back: HubSpot sends one event per property a write
      changed, all with the write's time, and each crmsync write sets `marker`; every event of a
      record at the time of a `marker` change is crmsync's own echo.
    * A property change to a property the sync does not use (`synced`, per object type) reads nothing.
    * A deletion or a merge is always read: what HubSpot answers (nothing, or the merged record
      under another id) is what removals.py follows. A merge also reads the ids it names.
    * Anything else (creation, restore, association change, privacy deletion) reads the record."""
    own = {(e.object_type, e.object_id, e.occurred_ms) for e in events
           if e.kind == "propertyChange" and e.property_name == marker}
    reads: dict[str, set[str]] = {}
    for e in events:
        if e.kind in ("deletion", "merge"):
            reads.setdefault(e.object_type, set()).update((e.object_id, *e.related_ids))
            continue
        if (e.object_type, e.object_id, e.occurred_ms) in own:
            continue
        if e.kind == "propertyChange" and e.property_name not in synced.get(e.object_type, set()):
            continue
        reads.setdefault(e.object_type, set()).add(e.object_id)
    return {t: sorted(ids, key=lambda i: (len(i), i)) for t, ids in sorted(reads.items()) if ids}


WEBHOOKS_LIVE_FOR_S = 24 * 3600   # a batch this recent: HubSpot is sending the portal's webhooks


def list_archived_now(*, full: bool, webhooks_on: bool, last_event_age_s: float | None,
                      last_listed_age_s: float | None, every_s: float) -> bool:
    """Whether an incremental HubSpot pull lists the archived records (deleted, merged away),
    which search never returns. Without webhooks that listing is the only way to see a
    deletion, so every run does it; while webhooks arrive, deletions and merges come as events
    and the listing is only the safety net, run every `every_s`. A full pull always lists."""
    if full or not webhooks_on or last_event_age_s is None or last_event_age_s > WEBHOOKS_LIVE_FOR_S:
        return True
    return last_listed_age_s is None or last_listed_age_s >= every_s


# ---- the inclusion list (engine/inclusion.py) ----------------------------------------------------------
# As HubSpot's integration: with an inclusion list set, only the HubSpot contacts in it are created
# in or updated to Salesforce, and a contact outside it stops receiving Salesforce's updates too.
# Salesforce's new records still come into HubSpot (create_hubspot_contacts) and links still
# follow R3-R8, so the console shows which record an outside contact corresponds to.

def fields_exchanged(*, outside_list: bool | None) -> bool:
    """Whether a synced contact pair exchanges field values (either way) in this run (None: the
    contact was never read against a list, e.g. no list is chosen)."""
    return outside_list is not True


def follows_its_account(*, outside_list: bool | None) -> bool:
    """R10 for a synced contact: its Salesforce contact's account reaches it (a company made or
    associated on its behalf) unless it is outside the inclusion list (Salesforce's updates stop there)."""
    return outside_list is not True


def inclusion_flags(outside: dict[str, bool | None], members: set[str] | None) -> dict[str, bool | None]:
    """The contacts whose "outside the list" flag changes, with the new flag: outside = not a
    member of the list; with no list (`members` None) the flag is cleared (None: never read
    against a list, which syncs as inside)."""
    return {i: new for i, out in outside.items()
            if (new := None if members is None else i not in members) != out}


def inclusion_move(before: bool | None, after: bool | None) -> str:
    """"joined" (it syncs to Salesforce again), "left" (it no longer does), or "" (its first read
    against a list, or no change): what the audit says of one contact's new flag."""
    if before is True and after is not True:
        return "joined"
    if before is False and after is True:
        return "left"
    return ""


def ask_per_contact(*, contacts: int, members: int, page: int) -> bool:
    """A live run checks the contacts it read one request each, unless reading the whole list
    (`page` members a request) costs fewer requests."""
    return contacts < max(1, -(-members // page))


# ---- possible duplicates (engine/possible.py; advisory: R1 still links by email alone) -----------------
FREE_MAIL = frozenset({"gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "msn.com",
                       "icloud.com", "me.com", "aol.com", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com",
                       "proton.me", "protonmail.com", "yandex.ru", "yandex.com", "zoho.com", "fastmail.com"})
COMPANY_SUFFIXES = frozenset({"inc", "incorporated", "ltd", "limited", "llc", "llp", "plc", "gmbh", "ag", "ab", "oy",
                              "as", "sa", "sas", "srl", "bv", "nv", "corp", "corporation", "co", "company", "the"})
POSSIBLE_AT = 60          # the lowest score the tab lists
SMALL_BLOCK = 60          # a block this size or smaller: every pair in it is compared
WINDOW = 12               # a larger block: each record against the next WINDOW by name (sorted neighbourhood)


@dataclass(frozen=True, slots=True)
class Profile:
    """What the possible-duplicates comparison knows of one person, from either CRM."""

    side: str               # "sf" (a Salesforce lead or contact) or "hs" (a HubSpot contact)
    id: str
    first: str = ""         # folded: lower case, no accents or punctuation
    last: str = ""
    email_key: str = ""
    domain: str = ""        # the email's domain, unless a free-mail provider's
    company: str = ""       # folded, legal suffixes dropped
    phone: str = ""         # digits only, the last ten
    phone_raw: str = ""

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}".strip()


def fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in plain).split())


def profile(side: str, record_id: str, *, first: str, last: str, email_key: str, company: str, phone: str) -> Profile:
    domain = email_key.rpartition("@")[2] if "@" in email_key else ""
    words = [w for w in fold(company).split() if w not in COMPANY_SUFFIXES]
    digits = "".join(ch for ch in phone or "" if ch.isdigit())[-10:]
    return Profile(side, record_id, fold(first), fold(last), email_key, "" if domain in FREE_MAIL else domain,
                   " ".join(words), digits if len(digits) >= 7 else "", (phone or "").strip())


BLOCKINGS = 4


def blocking_keys(p: Profile) -> tuple[str, str, str, str]:
    """The blocks a person is compared in, one per blocking ("" for none): only people sharing a
    block are ever compared, so the cost grows with the block sizes, not the square of the people."""
    return (f"{p.last}:{p.first[:1]}" if p.last else "",                        # same last name and initial
            f"{p.first}:{p.last[:1]}" if p.first and p.last else "",            # a typo in the last name
            p.phone[-7:],                                                       # one phone number (its local part)
            f"{p.domain}:{p.first[:2]}" if p.domain and p.first else "")        # one company's domain


def _ratio(a: str, b: str) -> float:
    return fuzz.token_sort_ratio(a, b)


def likeness(a: Profile, b: Profile, *, same_record: bool = False) -> tuple[int, list[str]] | None:
    """How likely two people with different emails are one person, 0–100, and why in words; None
    when they are not worth listing: the same email (R1 already links them), a pair the sync
    already treats as one (`same_record`: a contact and the record it syncs with, or two contacts
    of one record, R7), no name in common, or a score under POSSIBLE_AT."""
    if same_record or (a.email_key and a.email_key == b.email_key) or not a.last or not b.last:
        return None
    reasons, score = [], 0
    name = _ratio(a.name, b.name)
    if name >= 97:
        score, reasons = 50, ["same name"]
    elif name >= 85:
        score, reasons = 40, [f"similar name ({name:.0f} %)"]
    elif a.last == b.last and a.first[:1] == b.first[:1]:
        score, reasons = 30, ["same last name and initial"]
    else:
        return None
    if a.domain and a.domain == b.domain:
        score += 25
        reasons.append("same company domain")
    elif a.company and b.company:
        similar = _ratio(a.company, b.company)
        if similar >= 92:
            score += 25
            reasons.append("same company")
        elif similar >= 80:
            score += 15
            reasons.append(f"similar company ({similar:.0f} %)")
        else:
            score -= 10
            reasons.append("company differs")
    elif (a.domain and b.company and a.domain.split(".")[0] in b.company.replace(" ", "")) or (
            b.domain and a.company and b.domain.split(".")[0] in a.company.replace(" ", "")):
        score += 20
        reasons.append("company matches the other's email domain")
    if a.phone and b.phone:
        short, long_ = sorted((a.phone, b.phone), key=len)
        if long_.endswith(short):   # with or without the country and area code
            score += 25
            reasons.append("same phone" if a.phone_raw == b.phone_raw else "phone differs by format")
        else:
            score -= 10
            reasons.append("phone differs")
    score = max(0, min(100, score))
    return (score, reasons) if score >= POSSIBLE_AT else None


def block_pairs(members: list[int], names: list[str]) -> list[tuple[int, int]]:
    """The pairs of one block to compare (indexes into `members`): all of them in a small block;
    in a large one (a common name) each against its WINDOW neighbours in name order, so a block
    of n costs n·WINDOW comparisons, not n²."""
    if len(members) <= SMALL_BLOCK:
        return [(members[i], members[j]) for i in range(len(members)) for j in range(i + 1, len(members))]
    order = sorted(range(len(members)), key=lambda i: names[i])
    return [(members[order[i]], members[order[j]]) for i in range(len(order))
            for j in range(i + 1, min(i + 1 + WINDOW, len(order)))]


def is_dismissed(*, dismissed_size: int | None, size: int) -> bool:
    """"Not a duplicate" holds while the group has no more members than when it was said."""
    return dismissed_size is not None and size <= dismissed_size



# ---- undoing a console merge (sync/merges/undo.py) ---------------------------------------------------
RECYCLE_BIN_DAYS = 15   # Salesforce keeps deleted (and merged-away) records this long, then purges them


def undo_time_left(merged_at: datetime, now: datetime, crm: str = "salesforce") -> timedelta | None:
    """How long a merge can still be undone, or None once it cannot: a Salesforce merge while the
    recycle bin keeps the merged records (undelete() needs them); a HubSpot merge any time (its
    contacts are made again from the snapshot: nothing in HubSpot is waited for)."""
    if crm == "hubspot":
        return timedelta.max
    left = merged_at + timedelta(days=RECYCLE_BIN_DAYS) - now
    return left if left > timedelta(0) else None


# In order; each can be run again.
UNDO_STEPS = {"salesforce": ("undelete", "fields", "links", "mirror"),
              "hubspot": ("emails", "contacts", "links", "mirror")}


def next_undo_step(done: list[str], crm: str = "salesforce") -> str | None:
    """The first undo step not done yet (a crashed undo goes on from there)."""
    return next((s for s in UNDO_STEPS[crm] if s not in done), None)
