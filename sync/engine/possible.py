"""Possible duplicates: people who are probably one person but have different emails.

Advisory only (R1 still links by email alone). A background task reads every live Salesforce
lead/contact and HubSpot contact from the mirror into a compact profile (rules.profile), puts
each into its blocks (rules.blocking_keys: last name + initial, first name + last initial, phone,
company domain + first letters), compares only people sharing a block (rules.block_pairs: every
pair of a small block, a sorted neighbourhood in a large one) with rapidfuzz's token-sort ratio
(rules.likeness), and writes the pairs that score as a new build; the tab reads the newest
finished build, so a build in progress or a failed one never empties the page.

No CRM is called: the mirror is what the last sync read."""
from __future__ import annotations

import logging
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from sync.engine import rules
from sync.models import GROUP_MEMBER, ContactLink, HsContact, LinkStatus, PossibleBuild, PossiblePair, SfAccount, SfPerson

log = logging.getLogger(__name__)
CHUNK = 10_000
WRITE = 5_000


def _people() -> tuple[list[rules.Profile], dict[str, str]]:
    """Every live person as a profile, and which Salesforce record each HubSpot contact syncs with."""
    accounts = dict(SfAccount.objects.filter(is_deleted=False).values_list("sf_id", "name"))
    out: list[rules.Profile] = []
    people = SfPerson.objects.filter(GROUP_MEMBER).order_by("pk").values_list(
        "pk", "sf_id", "first_name", "last_name", "email_key", "company", "account_id", "phone")
    last = 0
    while rows := list(people.filter(pk__gt=last)[:CHUNK]):
        last = rows[-1][0]
        out += [rules.profile("sf", sf_id, first=first, last=surname, email_key=key,
                              company=company or accounts.get(account, ""), phone=phone)
                for _, sf_id, first, surname, key, company, account, phone in rows]
    contacts = HsContact.objects.filter(archived=False).order_by("pk").values_list(
        "pk", "hs_id", "first_name", "last_name", "email_key", "company_name", "phone")
    last = 0
    while rows := list(contacts.filter(pk__gt=last)[:CHUNK]):
        last = rows[-1][0]
        out += [rules.profile("hs", hs_id, first=first, last=surname, email_key=key, company=company, phone=phone)
                for _, hs_id, first, surname, key, company, phone in rows]
    synced = dict(ContactLink.objects.filter(status__in=(LinkStatus.SYNCED, LinkStatus.DUPLICATE))
                  .values_list("hs_contact__hs_id", "sf_person__sf_id"))
    return out, synced


def _same_record(a: rules.Profile, b: rules.Profile, synced: dict[str, str]) -> bool:
    """The sync already treats them as one: a contact and its record, or two contacts of one record (R7)."""
    if a.side == "hs" and b.side == "hs":
        return synced.get(a.id) is not None and synced.get(a.id) == synced.get(b.id)
    if a.side != b.side:
        contact, record = (a, b) if a.side == "hs" else (b, a)
        return synced.get(contact.id) == record.id
    return False


def _searched(p: rules.Profile) -> str:
    """What the tab's search finds a person by (PossiblePair.search): id, email, folded names."""
    return f"{p.id} {p.email_key} {p.first} {p.last}".lower()


def build(build_id: int) -> PossibleBuild:
    run = PossibleBuild.objects.get(pk=build_id)
    people, synced = _people()
    found: dict[tuple[int, int], tuple[int, list[str]]] = {}
    comparisons = block_count = 0
    for blocking in range(rules.BLOCKINGS):   # one blocking at a time: one index of blocks in memory
        blocks: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(people):
            if key := rules.blocking_keys(p)[blocking]:
                blocks[key].append(i)
        for members in blocks.values():
            if len(members) < 2:
                continue
            block_count += 1
            for i, j in rules.block_pairs(members, [people[m].name for m in members]):
                pair = (i, j) if i < j else (j, i)
                if pair in found:
                    continue
                comparisons += 1
                hit = rules.likeness(people[i], people[j], same_record=_same_record(people[i], people[j], synced))
                if hit is not None:
                    found[pair] = hit
        del blocks
    rows = []
    for (i, j), (score, reasons) in found.items():   # model rows a WRITE at a time: never all in memory
        a, b = sorted((people[i], people[j]), key=lambda p: (p.side, p.id))
        rows.append(PossiblePair(a_side=a.side, a_id=a.id, b_side=b.side, b_id=b.id,
                                 key=f"{a.side}:{a.id}|{b.side}:{b.id}", score=score, reasons=reasons, build=run.pk,
                                 search=f"{_searched(a)}\n{_searched(b)}"))
        if len(rows) == WRITE:
            PossiblePair.objects.bulk_create(rows, ignore_conflicts=True)
            rows = []
    PossiblePair.objects.bulk_create(rows, ignore_conflicts=True)
    with transaction.atomic():
        run.people, run.blocks, run.comparisons, run.pairs = len(people), block_count, comparisons, len(found)
        run.finished_at = timezone.now()
        run.save()
    PossiblePair.objects.filter(build__lt=run.pk).delete()   # the older builds' pairs, once this one shows
    log.info("possible duplicates: %d people, %d comparisons, %d pairs", len(people), comparisons, len(found))
    return run


def latest() -> PossibleBuild | None:
    return PossibleBuild.objects.filter(finished_at__isnull=False, error="").order_by("-pk").first()


def running() -> PossibleBuild | None:
    return PossibleBuild.objects.filter(finished_at__isnull=True, error="").order_by("-pk").first()

