"""A full sync split across workers, in two fan-outs. The pull runs as one django-q2 task per
object type of each CRM (`pull.STREAMS`), in parallel on as many qcluster workers as there are
(one host or many, sharing the database); HubSpot's rate limit is shared by all of them
(crm/ratelimit.py, in Redis). The last pull part carries the run on through reconcile and push
(one task: R1–R11 decide across records), then queues the field sync as parts of about
PAIRS_PER_PART links each (`fields.Part`, independent pairs); the last of those refreshes the
duplicate groups and finishes the run.

Every step is safe to run twice: a part claims its row with a conditional update, so a
redelivered task finds it taken and returns; each hand-over is a conditional update of the run's
phase (pull → reconcile, fields → done), so only one part wins it. A part that fails finishes the
whole run with the reason; the other parts notice at their next heartbeat and stop."""
from __future__ import annotations

import logging

from django.conf import settings as django_settings
from django.db.models import Sum
from django.utils import timezone

from sync.engine import cycle, deals, fields, inclusion, pull
from sync.models import SyncChunk, SyncRun

log = logging.getLogger(__name__)
PAIRS_PER_PART = 25_000  # links a field-sync part compares: 8 parts at 100,000 people
FIELDS = "fields:"       # the prefix of a field-sync part's name


def wanted(run: SyncRun) -> bool:
    """Split this run? Full runs only (an incremental run reads a few pages), and only when
    the deployment asks for it (SYNC_PARALLEL: on by default with PostgreSQL, whose writers
    don't wait on one database lock as SQLite's do)."""
    return django_settings.SYNC_PARALLEL and not run.retry_of_id and cycle.is_full(run)


def start(run_id: int) -> str:
    """Claim the run and queue its parts. Returns what happened, for the task's result."""
    from django_q.tasks import async_task

    if not cycle.claim(run_id):
        return "skipped"
    pull.begin_full()
    SyncChunk.objects.bulk_create([SyncChunk(run_id=run_id, name=name) for name in pull.STREAMS],
                                  ignore_conflicts=True)
    for name in pull.STREAMS:
        async_task("sync.tasks.pull_chunk", run_id, name, task_name=f"sync-run-{run_id}-{name}", group="sync")
    return f"split into {len(pull.STREAMS)} parts"


def _claim(run_id: int, name: str) -> bool:
    return bool(SyncChunk.objects.filter(run_id=run_id, name=name, status=SyncChunk.Status.PENDING,
                                         run__status=SyncRun.Status.RUNNING).update(
        status=SyncChunk.Status.RUNNING, worker=cycle.this_worker(), started_at=timezone.now()))


def pull_chunk(run_id: int, name: str) -> str:
    """Pull one object type of one CRM into the mirror for a running full run."""
    if not _claim(run_id, name):
        return "not pending"
    run = SyncRun.objects.get(pk=run_id)
    touched = pull.Touched(everything=True, listed_all=True)

    def body(ctx) -> None:
        pull.pull_stream(name, sf=ctx.sf, hs=ctx.hs, full=True, seq_base=run.pk << 32, settings=ctx.settings,
                         touched=touched, tick=cycle.ticker(ctx, still_running=True), reject=ctx.reject_row)
        ctx.counts["pulled"] += touched.pulled

    ok = cycle.execute(run, body, finish_on_success=False)
    watermark = next(iter(touched.watermarks.values()), None)
    SyncChunk.objects.filter(run_id=run_id, name=name).update(
        status=SyncChunk.Status.DONE if ok else SyncChunk.Status.FAILED, finished_at=timezone.now(),
        pulled=touched.pulled, watermark=watermark)
    if not ok:
        return "failed"
    return "done, carried on" if _carry_on_if_last(run_id) else "done"


def _won(run_id: int, *, stage: str, phase: str, then: str) -> bool:
    """True for the one part that finds every part of its stage done and moves the run's phase
    on (a conditional update: two parts finishing together cannot both win)."""
    parts = SyncChunk.objects.filter(run_id=run_id)
    parts = parts.filter(name__startswith=FIELDS) if stage == "fields" else parts.exclude(name__startswith=FIELDS)
    if parts.exclude(status=SyncChunk.Status.DONE).exists():
        return False
    return bool(SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING, phase=phase).update(
        phase=then, worker=cycle.this_worker(), heartbeat_at=timezone.now()))


def _touched(run_id: int) -> pull.Touched:
    """A full run's scope, with the watermarks its pull parts reached."""
    touched = pull.Touched(everything=True, listed_all=True)
    pulls = SyncChunk.objects.filter(run_id=run_id).exclude(name__startswith=FIELDS)
    for chunk in pulls.filter(watermark__isnull=False):
        crm, _, obj = chunk.name.partition(":")
        touched.watermarks[(crm, obj)] = chunk.watermark
    touched.pulled = pulls.aggregate(n=Sum("pulled"))["n"] or 0
    return touched


def _carry_on_if_last(run_id: int) -> bool:
    """The last pull part reconciles and pushes, then queues the field-sync parts."""
    from django_q.tasks import async_task

    if not _won(run_id, stage="pull", phase=SyncRun.Phase.PULL, then=SyncRun.Phase.RECONCILE):
        return False
    run = SyncRun.objects.get(pk=run_id)
    touched = _touched(run_id)
    log.info("run %s: all %d pull parts done (%d records); reconciling", run_id, len(pull.STREAMS), touched.pulled)
    def reconcile(ctx) -> None:
        inclusion.refresh(ctx, touched)
        cycle.before_fields(ctx, touched)
        with cycle.step(ctx, "deals follow their opportunities' accounts"):
            deals.follow_accounts(ctx, touched)

    if not cycle.execute(run, reconcile, finish_on_success=False):
        return True
    names = [part.name for part in fields.parts(PAIRS_PER_PART)]
    if not names:  # nothing linked: nothing to compare
        cycle.execute(run, lambda ctx: cycle.after_fields(ctx, touched))
        return True
    SyncChunk.objects.bulk_create([SyncChunk(run_id=run_id, name=name) for name in names], ignore_conflicts=True)
    for name in names:
        async_task("sync.tasks.field_chunk", run_id, name, task_name=f"sync-run-{run_id}-{name}", group="sync")
    return True


def field_chunk(run_id: int, name: str) -> str:
    """Sync the fields of one part of the links; the last part to finish finishes the run."""
    if not _claim(run_id, name):
        return "not pending"
    run = SyncRun.objects.get(pk=run_id)
    part = fields.Part.from_name(name)
    ok = cycle.execute(run, lambda ctx: fields.sync_fields(ctx, pull.Touched(everything=True), part=part,
                                                         tick=cycle.ticker(ctx, still_running=True)),
                       finish_on_success=False)
    SyncChunk.objects.filter(run_id=run_id, name=name).update(
        status=SyncChunk.Status.DONE if ok else SyncChunk.Status.FAILED, finished_at=timezone.now())
    if not ok:
        return "failed"
    if not _won(run_id, stage="fields", phase=SyncRun.Phase.FIELDS, then=SyncRun.Phase.DONE):
        return "done"
    touched = _touched(run_id)
    log.info("run %s: all field-sync parts done; refreshing the duplicate groups", run_id)
    cycle.execute(run, lambda ctx: cycle.after_fields(ctx, touched))
    return "done, finished the run"
