"""Duplicate groups (R2, R7, R9) kept in DuplicateGroup, so the console's pages read a small
indexed table instead of grouping the whole mirror on every request.

A full run recomputes each kind in one aggregate pass; an incremental run recomputes the keys it
touched, plus the groups that already exist: the pull knows a record's new email or Salesforce
id but not its old one, and only a recount of the existing groups notices a member that moved
away. That costs one indexed lookup per group member, not a scan of the mirror."""
from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import reduce

from django.db import transaction
from django.db.models import Aggregate, Case, CharField, Count, F, Max, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Concat, Lower
from django.utils import timezone

from sync.engine.pull import Touched
from sync.models import GROUP_MEMBER, ContactLink, DuplicateGroup, HsCompany, HsContact, SfPerson

CHUNK = 1000
R2, R7, R9 = DuplicateGroup.Kind.R2, DuplicateGroup.Kind.R7, DuplicateGroup.Kind.R9


@dataclass(frozen=True)
class Definition:
    """Who belongs to a kind's groups. Each branch is (condition, key field) and repeats the
    condition of a partial index on the key field, so a lookup by keys can use that index."""

    model: type
    branches: tuple[tuple[Q, str], ...]
    key: object          # the group key as an expression
    modified: str        # the member field whose newest value is the group's `modified`
    searched: tuple[str, ...]   # the member fields the tab's search finds (with the key), in part, ignoring case


DEFINITIONS = {
    # R2: live (not deleted, not converted) Salesforce leads and contacts sharing an email key.
    R2: Definition(SfPerson, ((GROUP_MEMBER, "email_key"),),
                   F("email_key"), "system_modstamp", ("sf_id", "first_name", "last_name")),
    # R7: live HubSpot contacts carrying one Salesforce id: the contact id if set, else the lead id.
    R7: Definition(HsContact, ((Q(archived=False) & ~Q(salesforce_contact_id=""), "salesforce_contact_id"),
                               (Q(archived=False, salesforce_contact_id="") & ~Q(salesforce_lead_id=""),
                                "salesforce_lead_id")),
                   Case(When(~Q(salesforce_contact_id=""), then="salesforce_contact_id"), default="salesforce_lead_id",
                        output_field=CharField()), "last_modified",
                   ("email_key", "hs_id", "first_name", "last_name")),
    # R9: live HubSpot companies carrying one Salesforce account id.
    R9: Definition(HsCompany, ((Q(archived=False) & ~Q(salesforce_account_id=""), "salesforce_account_id"),),
                   F("salesforce_account_id"), "last_modified", ("hs_id", "name")),
}


class Joined(Aggregate):
    """The members' values as one text, a line per member (PostgreSQL's STRING_AGG, SQLite's
    GROUP_CONCAT): what DuplicateGroup.search holds."""

    function = "STRING_AGG"
    template = "%(function)s(%(expressions)s, CHR(10))"
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="GROUP_CONCAT", template="%(function)s(%(expressions)s, CHAR(10))",
                              **extra)


def search_text(kind: str) -> Joined:
    """DuplicateGroup.search: each member's key and searched fields, lower-case, space-separated,
    a line per member. One trigram index on it (PostgreSQL, migration 0018) answers a tab's search
    in one index scan of the groups, however common the term is among the mirror's records."""
    d = DEFINITIONS[kind]
    parts: list = [d.key]
    for name in d.searched:
        parts += [Value(" "), F(name)]
    return Joined(Lower(Concat(*parts, output_field=TextField())))


def _any(conditions: Iterable[Q]) -> Q:
    return reduce(operator.or_, conditions)


def live(kind: str) -> QuerySet:
    """Every live member of `kind`'s groups (and the singletons), with its `group_key`."""
    d = DEFINITIONS[kind]
    return d.model.objects.filter(_any(c for c, _ in d.branches)).annotate(group_key=d.key)


def members(kind: str, keys: Iterable[str]) -> QuerySet:
    """The live members whose group key is one of `keys`, found through the key indexes."""
    d, keys = DEFINITIONS[kind], list(keys)
    return d.model.objects.filter(_any(c & Q(**{f"{field}__in": keys}) for c, field in d.branches)) \
        .annotate(group_key=d.key)


def _aggregate(kind: str, people: QuerySet) -> QuerySet:
    extra = {"leads": Count("pk", filter=Q(object_type="Lead"))} if kind == R2 else {}
    return people.values("group_key").annotate(size=Count("pk"), modified=Max(DEFINITIONS[kind].modified),
                                               search=search_text(kind), **extra) \
        .filter(size__gt=1).order_by()


def _rows(kind: str, rows: Iterable[dict], now) -> Iterator[DuplicateGroup]:
    for r in rows:
        yield DuplicateGroup(kind=kind, key=r["group_key"], size=r["size"], leads=r.get("leads", 0),
                             modified=r["modified"], search=r["search"], refreshed_at=now)


def _upsert(groups: list[DuplicateGroup]) -> None:
    DuplicateGroup.objects.bulk_create(groups, update_conflicts=True, unique_fields=["kind", "key"],
                                       update_fields=["size", "leads", "modified", "search", "refreshed_at"], batch_size=CHUNK)


@transaction.atomic
def refresh_all(kind: str) -> None:
    """Recompute every group of `kind`: one aggregate pass over the mirror, an upsert of what it
    found and one delete of the groups it did not find (their stamp is older). Readers see the
    old groups until the transaction commits."""
    now = timezone.now()
    batch: list[DuplicateGroup] = []
    for group in _rows(kind, _aggregate(kind, live(kind)).iterator(chunk_size=5000), now):
        batch.append(group)
        if len(batch) >= 5000:
            _upsert(batch)
            batch = []
    _upsert(batch)
    DuplicateGroup.objects.filter(kind=kind).exclude(refreshed_at=now).delete()


def refresh_keys(kind: str, keys: Iterable[str]) -> None:
    """Recompute the groups of these keys, CHUNK keys per transaction; a key left with fewer
    than two live members loses its group."""
    keys = sorted({k for k in keys if k})
    for i in range(0, len(keys), CHUNK):
        chunk = keys[i:i + CHUNK]
        with transaction.atomic():
            now = timezone.now()
            found = list(_rows(kind, _aggregate(kind, members(kind, chunk)), now))
            _upsert(found)
            DuplicateGroup.objects.filter(kind=kind, key__in=chunk).exclude(key__in=[g.key for g in found]).delete()


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    values = sorted(values)
    for i in range(0, len(values), CHUNK):
        yield values[i:i + CHUNK]


def _sf_keys(contacts: QuerySet) -> set[str]:
    return {k for k in contacts.annotate(group_key=DEFINITIONS[R7].key).values_list("group_key", flat=True) if k}


def touched_keys(touched: Touched) -> dict[str, set[str]]:
    """The keys whose groups a run may have changed: those of the records it pulled, read now
    (after reconcile wrote the Salesforce ids it chose), and every existing group."""
    keys = {kind: set(DuplicateGroup.objects.filter(kind=kind).values_list("key", flat=True)) for kind in DEFINITIONS}
    keys[R2] |= touched.email_keys
    keys[R7] |= touched.sf_ids
    keys[R9] |= touched.account_ids
    for ids in _chunks(touched.sf_ids):
        keys[R2].update(SfPerson.objects.filter(sf_id__in=ids).exclude(email_key="").values_list("email_key", flat=True))
        keys[R7] |= _sf_keys(HsContact.objects.filter(pk__in=ContactLink.objects.filter(sf_person__sf_id__in=ids)
                                                      .values("hs_contact_id")))
    for ids in _chunks(touched.hs_contact_ids):
        keys[R7] |= _sf_keys(HsContact.objects.filter(hs_id__in=ids))
    for email_keys in _chunks(touched.email_keys):
        keys[R7] |= _sf_keys(HsContact.objects.filter(email_key__in=email_keys))
    for ids in _chunks(touched.company_ids):
        keys[R9].update(HsCompany.objects.filter(hs_id__in=ids).exclude(salesforce_account_id="")
                        .values_list("salesforce_account_id", flat=True))
    return keys


def refresh_groups(touched: Touched) -> None:
    """Bring DuplicateGroup up to date after a sync run (the end of `cycle._cycle`)."""
    if touched.everything:
        for kind in DEFINITIONS:
            refresh_all(kind)
        return
    for kind, keys in touched_keys(touched).items():
        refresh_keys(kind, keys)
