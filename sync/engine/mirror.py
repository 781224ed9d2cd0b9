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
# so a pulled contact row must not blank the company R10 read for it.
NOT_PULLED = {HsContact: {"primary_company_id"}}


def _update_fields(model: type[models.Model]) -> tuple[str, ...]:
    return bulk.concrete(model, skip=(KEYS[model], *NOT_PULLED.get(model, ())))


def is_empty(model: type[models.Model]) -> bool:
    """An empty mirror table (a first full pull): every row is new, so changed_only is skipped."""
    return not model.objects.exists()


def changed_only(model: type[models.Model], objs: list[models.Model]) -> list[models.Model]:
    """The rows that differ from the mirror (one query for the page). Incremental pulls re-read an
    overlap window; unchanged rows are skipped, not rewritten. The stamp alone is not enough:
    Salesforce stamps have whole-second precision, so two edits within one second carry the
    same SystemModstamp — the payload is compared too."""
    key, stamp = KEYS[model], STAMP[model]
    ids = [getattr(o, key) for o in objs]
    known = {k: (s, raw) for k, s, raw in model.objects.filter(**{f"{key}__in": ids}).values_list(key, stamp, "raw")}
    return [o for o in objs if known.get(getattr(o, key)) != (getattr(o, stamp), o.raw)]


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
    fields = _update_fields(model) if update is None else update
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
