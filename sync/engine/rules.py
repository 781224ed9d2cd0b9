"""The rules of ../shared/domain.md as pure functions: facts in, one decision out. No database,
no network: the reconcile step gathers the facts from the mirror and applies the decisions."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

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
    status: str  # synced · lost_primary · unsynced · deleted
    chosen_by: str = ""
    linked_modstamp: datetime | None = None


@dataclass(frozen=True)
class Decision:
    """What should happen to one HubSpot contact's link.

    kind: keep · link · adopt · switch · lose_primary · unsync · archive · create_lead · none"""

    kind: str
    sf_id: str | None = None
    chosen_by: str = ""
    rule: str = ""
    linked_modstamp: datetime | None = None
    message: str = ""
    previous_sf_id: str | None = None


def is_group_member(p: Person) -> bool:
    """R2: live, unconverted records with an email form duplicate groups."""
    return p.live and bool(p.email_key)


def first_returned(candidates: list[Person]) -> Person:
    """R3: the first record Salesforce returned (the pull keeps that order as pull_seq)."""
    return min(candidates, key=lambda p: p.pull_seq)


def most_recently_updated(candidates: list[Person]) -> Person:
    """R4: the most recently updated; ties keep the earlier-returned record."""
    return max(candidates, key=lambda p: (p.modstamp or EPOCH, -p.pull_seq))


def _newest_stamp(candidates: list[Person]) -> datetime | None:
    stamps = [p.modstamp for p in candidates if p.modstamp]
    return max(stamps) if stamps else None


def decide_contact(*, link: Link | None, linked: Person | None, candidates: list[Person],
                   property_record: Person | None, has_email: bool, delete_on: bool,
                   create_leads: bool) -> Decision:
    """One HubSpot contact. `candidates` are the live records sharing its email (R1), in any
    order; `linked` is the record the current link names; `property_record` the record named by
    the contact's Salesforce-id property in HubSpot, if we have it mirrored."""
    candidates = [c for c in candidates if is_group_member(c)]
    if link is None:
        if property_record is not None:
            # HubSpot already syncs this contact with a record (e.g. R7: another email): keep it.
            adopted = Link(property_record.sf_id, "synced", "existing", _newest_stamp(candidates + [property_record]))
            follow = decide_contact(link=adopted, linked=property_record, candidates=candidates,
                                    property_record=None, has_email=has_email, delete_on=delete_on,
                                    create_leads=create_leads)
            if follow.kind == "keep":
                return Decision("adopt", property_record.sf_id, "existing", "", adopted.linked_modstamp,
                                "Adopted the Salesforce id HubSpot already had.")
            return follow
        if candidates:
            first = first_returned(candidates)
            others = len(candidates) - 1
            return Decision("link", first.sf_id, "R3", "R3", _newest_stamp(candidates),
                            "First record Salesforce returned for this email"
                            + (f" ({others} other record{' shares' if others == 1 else 's share'} it)." if others else "."))
        if has_email and create_leads:
            return Decision("create_lead", rule="R1", message="No Salesforce lead or contact has this email.")
        return Decision("none")

    if link.status != "synced" or linked is None:
        return Decision("keep")  # lost primary stays until a person resyncs (R6); unsynced stays unsynced

    if linked.is_deleted:
        if linked.master_record_id:
            if delete_on:
                return Decision("archive", linked.sf_id, rule="R5", previous_sf_id=linked.sf_id,
                                message=f"Its Salesforce record {linked.sf_id} was merged into "
                                        f"{linked.master_record_id}; the delete setting is on.")
            return Decision("lose_primary", linked.sf_id, rule="R5", previous_sf_id=linked.sf_id,
                            message=f"Its primary {linked.sf_id} was merged into {linked.master_record_id}.")
        if delete_on:
            return Decision("archive", linked.sf_id, rule="R8", previous_sf_id=linked.sf_id,
                            message=f"Its Salesforce record {linked.sf_id} was deleted; the delete setting is on.")
        return Decision("unsync", None, rule="R8", previous_sf_id=linked.sf_id,
                        message=f"Its Salesforce record {linked.sf_id} was deleted; left unsynced.")

    if linked.is_converted and linked.converted_contact_id:
        return Decision("switch", linked.converted_contact_id, "R4", "R2", link.linked_modstamp,
                        f"Lead {linked.sf_id} was converted into contact {linked.converted_contact_id}.",
                        previous_sf_id=linked.sf_id)

    newest = _newest_stamp(candidates)
    if candidates and newest and (link.linked_modstamp is None or newest > link.linked_modstamp):
        winner = most_recently_updated(candidates)
        if winner.sf_id != linked.sf_id and (winner.modstamp and (linked.modstamp is None
                                                                 or winner.modstamp > linked.modstamp)):
            return Decision("switch", winner.sf_id, "R4", "R4", newest,
                            f"{winner.sf_id} was updated in Salesforce at {winner.modstamp:%Y-%m-%d %H:%M:%S} UTC, "
                            f"after {linked.sf_id} ({_fmt(linked.modstamp)}).", previous_sf_id=linked.sf_id)
        return Decision("keep", linked.sf_id, linked_modstamp=newest)
    return Decision("keep")


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
