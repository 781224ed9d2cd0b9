"""A live run: sync just the HubSpot records that webhooks named (sync/webhooks.py).

It reads those records by id (100 a request), stores them in the mirror as a pull would, marks
gone the ones HubSpot no longer answers for under their own id (deleted, or merged away: the
merged record comes back under its new id and names them), and hands what changed to the same
reconcile, push and field sync as a sweep (cycle.after_pull), so R1–R11 decide as always. Which
events cost a read is rules.webhook_reads. The events are removed only when the run has finished:
a run that fails or is killed leaves them for the next live run, and reading a record twice
changes nothing. HubSpot's watermarks stay where the sweep left them: the sweep still reads
everything modified since, so an event HubSpot never delivered is caught there. Salesforce is
pulled incrementally first, as in any run, and its watermarks move on as any run's do.
"""
from __future__ import annotations

from django.db.models import Max

from sync.engine import echo, inclusion, mirror, pull, rules, schema
from sync.engine.context import RunContext
from sync.models import HubSpotEvent, SyncRun

LAST_PART = {"creation": "creation", "propertyChange": "propertyChange", "deletion": "deletion",
             "merge": "merge", "restore": "restore", "associationChange": "associationChange",
             "privacyDeletion": "deletion"}


def events_upto(upto: int) -> list[rules.WebhookEvent]:
    rows = HubSpotEvent.objects.filter(pk__lte=upto).values_list(
        "object_type", "object_id", "subscription_type", "property_name", "occurred_at", "related_ids")
    return [rules.WebhookEvent(object_type=t, object_id=i, kind=_kind(sub), property_name=prop,
                               occurred_ms=int(at.timestamp() * 1000), related_ids=tuple(filter(None, rel.split(";"))))
            for t, i, sub, prop, at, rel in rows.iterator(chunk_size=2000)]


def _kind(subscription_type: str) -> str:
    return LAST_PART.get(subscription_type.rsplit(".", 1)[-1], "other")


def run_live(ctx: RunContext) -> None:
    """Salesforce's changes since the last run first (an incremental pull: one query per object
    when nothing changed), so R1–R4 decide on a current Salesforce side, e.g. a new HubSpot
    contact whose lead was created a minute ago is linked to it, not given a second lead; then the
    HubSpot records the webhooks named."""
    from sync.engine.cycle import after_pull, ticker

    upto = HubSpotEvent.objects.aggregate(m=Max("pk"))["m"] or 0
    touched = pull.Touched()
    ctx.progress(phase=SyncRun.Phase.PULL)
    pull.pull_all(ctx.sf, ctx.hs, full=False, seq_base=ctx.run.pk << 32, settings=ctx.settings, touched=touched,
                  tick=ticker(ctx), reject=ctx.reject_row, crms=("salesforce",))
    synced = {t: set(schema.hs_properties(t, ctx.settings)) for t in pull.HS_MODELS}
    reads = rules.webhook_reads(events_upto(upto), synced=synced, marker=echo.MARKER_PROPERTY)
    for object_type, ids in reads.items():
        read(ctx, object_type, ids, touched)
    inclusion.check_contacts(ctx, reads.get("contacts", []), touched)   # new contacts: in the list or not
    ctx.counts["pulled"] += touched.pulled
    ctx.flush()
    pull.touch_dirty(touched)
    if touched.any():
        after_pull(ctx, touched)
    else:
        pull.save_watermarks(touched)
    HubSpotEvent.objects.filter(pk__lte=upto).delete()


def read(ctx: RunContext, object_type: str, ids: list[str], touched: pull.Touched) -> None:
    """Read `ids` into the mirror; mark gone the ones HubSpot did not answer for under their own id."""
    model, convert = pull.HS_MODELS[object_type]
    records = ctx.hs.read_ids(object_type, ids, schema.hs_properties(object_type, ctx.settings))
    rows = [convert(r, ctx.settings) for r in records]
    with pull.STORE:
        changed = mirror.changed_only(model, rows)
        mirror.upsert(model, mirror.mark_dirty(changed), reject=ctx.reject_row)
        pull.note_hs(object_type, changed, touched)
        touched.pulled += len(changed)
        answered = {r.hs_id for r in rows}
        gone = list(model.objects.filter(hs_id__in=[i for i in ids if i not in answered], archived=False)
                    .values_list("hs_id", flat=True))
        if gone:
            model.objects.filter(hs_id__in=gone).update(archived=True, dirty=True)
            pull.note_hs(object_type, model.objects.filter(hs_id__in=gone), touched)
            touched.pulled += len(gone)
