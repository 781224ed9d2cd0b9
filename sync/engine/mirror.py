"""Bulk writes into the mirror: one INSERT … ON CONFLICT UPDATE per page, never row by row."""
from __future__ import annotations

from collections.abc import Callable

from django.db import DatabaseError, models, transaction
from django.utils import timezone

from sync.engine import bulk
from sync.models import HsCompany, HsContact, HsDeal, SfAccount, SfOpportunity, SfPerson

KEYS = {SfPerson: "sf_id", SfAccount: "sf_id", SfOpportunity: "sf_id", HsContact: "hs_id", HsCompany: "hs_id",
        HsDeal: "hs_id"}
STAMP = {SfPerson: "system_modstamp", SfAccount: "system_modstamp", SfOpportunity: "system_modstamp",
         HsContact: "last_modified", HsCompany: "last_modified", HsDeal: "last_modified"}


# Kept by the steps that know them, not by the pull: list/search pages carry no associations,
# so a pulled row must not blank the company R10 (contacts) or deals.py (deals) read for it.
NOT_PULLED = {HsContact: {"primary_company_id", "outside_list"}, HsDeal: {"company_id"}}


def pulled_fields(model: type[models.Model], keep: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The columns a pulled row overwrites, but for `keep`."""
    return bulk.concrete(model, skip=(KEYS[model], *keep, *NOT_PULLED.get(model, ())))


def payloads(model: type[models.Model], keys: list[str]) -> dict[str, dict]:
    """The mirror's payloads of these records, by key (what a write lays its fields over)."""
    key = KEYS[model]
    return {k: raw or {} for k, raw in model.objects.filter(**{f"{key}__in": keys}).values_list(key, "raw")}


def upsert_written(model: type[models.Model], objs: list[models.Model]) -> None:
    """Rows of records crmsync has just written (schema.sf_written): new ones inserted, known ones
    overwritten except what the pull owns: its order (R3) and whether the run still has to
    reconcile the row."""
    upsert(model, objs, update=pulled_fields(model, keep=("dirty", "pull_seq") if model is SfPerson else ("dirty",)))


def is_empty(model: type[models.Model]) -> bool:
    """An empty mirror table (a first full pull): every row is new, so changed_only is skipped."""
    return not model.objects.exists()


GONE = {SfPerson: "is_deleted", SfAccount: "is_deleted", SfOpportunity: "is_deleted", HsContact: "archived",
        HsCompany: "archived", HsDeal: "archived"}


def changed_only(model: type[models.Model], objs: list[models.Model]) -> list[models.Model]:
    """The rows that are news to the mirror (one query for the page). Incremental pulls re-read an
    overlap window; unchanged rows are skipped, not rewritten. The stamp alone is not enough:
    Salesforce stamps have whole-second precision, so two edits within one second carry the
    same SystemModstamp — the payload is compared too. A row older than the mirror's is not
    news either: HubSpot's lagging search index goes on showing a record's previous version for
    a while after a write (ours included), and that must not undo the newer one."""
    key, stamp, gone = KEYS[model], STAMP[model], GONE[model]
    ids = [getattr(o, key) for o in objs]
    known = {k: (s, raw, g) for k, s, raw, g in
             model.objects.filter(**{f"{key}__in": ids}).values_list(key, stamp, "raw", gone)}

    def news(o) -> bool:
        old = known.get(getattr(o, key))
        if old is None:
            return True
        old_stamp, old_raw, old_gone = old
        new_stamp = getattr(o, stamp)
        newer = new_stamp is not None and (old_stamp is None or new_stamp > old_stamp)
        if getattr(o, gone) != old_gone:
            # Gone is always news; back again only with a newer stamp (a search hit of the
            # record's last live version is not a restore).
            return getattr(o, gone) or newer
        if new_stamp is not None and old_stamp is not None and new_stamp < old_stamp:
            return False
        return (new_stamp, o.raw) != (old_stamp, old_raw)

    return [o for o in objs if news(o)]


def mark_dirty(objs: list[models.Model]) -> list[models.Model]:
    """Pulled rows that changed: reconciled by this run, or by the next if this one never finishes."""
    for o in objs:
        o.dirty = True
    return objs


# What a row the database refuses raises: a driver's DataError, or an encoding error on the way.
REFUSED = (DatabaseError, UnicodeError, ValueError)
Reject = Callable[[models.Model, Exception], None]


def upsert(model: type[models.Model], objs: list[models.Model], *, update: tuple[str, ...] | None = None,
           reject: Reject | None = None) -> None:
    """Insert new rows, overwrite existing ones (all pulled fields, or only `update`). With
    `reject`, a batch the database refuses is written again row by row, and each row it still
    refuses goes to `reject` instead of failing the run: one odd record must not halt a sync."""
    if not objs:
        return
    now = timezone.now()
    for o in objs:
        o.mirrored_at = now
    fields = pulled_fields(model) if update is None else update
    try:
        with transaction.atomic():
            bulk.insert(model, objs, conflict=KEYS[model], update=fields)
    except REFUSED as exc:
        if reject is None:
            raise
        if len(objs) == 1:
            reject(objs[0], exc)
            return
        for o in objs:
            upsert(model, [o], update=update, reject=reject)
