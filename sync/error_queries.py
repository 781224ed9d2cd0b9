"""Sync errors by type (the console's Sync Health): the current record errors, counted per family
in one aggregate query, a page of one family's errors with the words and the advice of
sync/crm/explain.py, and which records a chosen set of errors names (for Retry and Resync).

"Current" is an error no later run has resolved (resolved_at is null): the partial index
recorderror_current (family, -created_at) serves every read here."""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from sync.crm.explain import ADVICE
from sync.models import HsContact, LinkStatus, RecordError, record_kind

Family = RecordError.Family

# What to do about a family when the CRM's code has no advice of its own in explain.ADVICE.
FAMILY_ADVICE = {
    Family.DUPLICATES: "Another record already holds this value: merge the duplicates (the Duplicates page lists "
                       "them), then retry.",
    Family.MAPPING: "The value is not one the other CRM allows: map it (deal stages on the Settings page) or change "
                    "the value or the picklist, then retry.",
    Family.VALIDATION: "A rule of the receiving CRM refused the record: fill in or correct the value it names, "
                       "then retry.",
    Family.PERMISSIONS: "The integration user may not write this record or field: give it access in that CRM, "
                        "then retry.",
    Family.ASSOCIATIONS: "A related record is missing or cannot be associated: check the company, account or "
                         "deal it points to, then retry.",
    Family.VALUES: "A value is too long or not valid for the receiving field: correct it where it came from; the "
                   "record syncs again once it changes.",
    Family.OTHER: "Read the CRM's message; once the cause is fixed, retry the record.",
}

def current(family: str = "") -> QuerySet:
    """Current errors of one family, newest first; without one, all of them family by family,
    each newest first. Both orders are the partial index's, so a page never sorts every error."""
    qs = RecordError.objects.filter(resolved_at__isnull=True)
    if family in Family.values:
        return qs.filter(family=family).order_by("-created_at", "-pk")
    return qs.order_by("family", "-created_at", "-pk")


@dataclass
class Card:
    family: str
    label: str
    errors: int
    records: int


def family_cards() -> list[Card]:
    """One card per family with current errors: how many errors, and how many distinct records
    they are against. One GROUP BY over the partial index, however many errors there are."""
    rows = (RecordError.objects.filter(resolved_at__isnull=True).values("family")
            .annotate(errors=Count("pk"), records=Count("record_id", distinct=True, filter=~Q(record_id="")))
            .order_by())
    found = {r["family"]: r for r in rows}
    return [Card(value, label, found[value]["errors"], found[value]["records"])
            for value, label in Family.choices if value in found]


def words(error: RecordError) -> tuple[str, str]:
    """The error in words and what to do about it. Messages written by explain.in_words end with
    the advice already: it is shown once, in its own column."""
    advice = ADVICE.get((error.crm, error.code), "") or FAMILY_ADVICE.get(error.family, FAMILY_ADVICE[Family.OTHER])
    message = error.message.strip()
    if advice and message.endswith(advice) and len(message) > len(advice):
        message = message[:-len(advice)].rstrip()
    return message, advice


def decorate(errors: list[RecordError]) -> list[RecordError]:
    """Adds what a row shows: words, advice, the record's kind, whether it is a mirrored HubSpot
    contact (linked to its page) and whether that contact lost its primary (Resync offered).
    One query for the page, whatever its size."""
    for e in errors:
        e.words, e.advice = words(e)
        e.kind = record_kind(e.object_type, e.record_id)
    contact_ids = {e.record_id for e in errors if e.kind == "contact"}
    statuses = dict(HsContact.objects.filter(hs_id__in=contact_ids).values_list("hs_id", "link__status")) \
        if contact_ids else {}
    for e in errors:
        e.is_contact = e.kind == "contact" and e.record_id in statuses
        e.lost_primary = e.is_contact and statuses[e.record_id] == LinkStatus.LOST_PRIMARY
    return errors


def lost_primary_contacts(errors: QuerySet) -> list[str]:
    """The HubSpot contacts (ids) among the records of `errors` that lost their primary: what
    "Resync selected" can do something for."""
    ids = {rid for object_type, rid in errors.values_list("object_type", "record_id")
           if record_kind(object_type, rid) == "contact"}
    if not ids:
        return []
    return sorted(HsContact.objects.filter(hs_id__in=ids, link__status=LinkStatus.LOST_PRIMARY)
                  .values_list("hs_id", flat=True))
