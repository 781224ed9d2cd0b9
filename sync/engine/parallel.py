"""A full sync split across workers: the pull runs as one django-q2 task per object type of each
CRM (`pull.STREAMS`), in parallel on as many qcluster workers as there are (one host or many,
sharing the database); HubSpot's rate limit is shared by all of them (crm/ratelimit.py, in
Redis). The last part to finish carries the run on through reconcile, push and field sync.

Every step is safe to run twice: a part claims its row with a conditional update, so a
redelivered task finds it taken and returns; the hand-over to reconcile is a conditional update
of the run's phase, so only one part wins it. A part that fails finishes the whole run with the
reason; the other parts notice at their next heartbeat and stop."""
from __future__ import annotations

import logging

from django.conf import settings as django_settings
from django.db.models import Sum
from django.utils import timezone

from sync.engine import cycle, pull
from sync.models import SyncChunk, SyncRun

log = logging.getLogger(__name__)


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


def pull_chunk(run_id: int, name: str) -> str:
    """Pull one object type of one CRM into the mirror for a running full run."""
    now = timezone.now()
    claimed = SyncChunk.objects.filter(run_id=run_id, name=name, status=SyncChunk.Status.PENDING,
                                       run__status=SyncRun.Status.RUNNING).update(
        status=SyncChunk.Status.RUNNING, worker=cycle.this_worker(), started_at=now)
    if not claimed:
        return "not pending"
    run = SyncRun.objects.get(pk=run_id)
    touched = pull.Touched(everything=True, listed_all=True)

    def body(ctx) -> None:
        pull.pull_stream(name, sf=ctx.sf, hs=ctx.hs, full=True, seq_base=run.pk << 32, settings=ctx.settings,
                         touched=touched, tick=cycle.ticker(ctx, still_running=True))
        ctx.counts["pulled"] += touched.pulled

    ok = cycle.execute(run, body, finish_on_success=False)
    watermark = next(iter(touched.watermarks.values()), None)
    SyncChunk.objects.filter(run_id=run_id, name=name).update(
        status=SyncChunk.Status.DONE if ok else SyncChunk.Status.FAILED, finished_at=timezone.now(),
        pulled=touched.pulled, watermark=watermark)
    if not ok:
        return "failed"
    return "done, carried on" if _carry_on_if_last(run_id) else "done"


def _carry_on_if_last(run_id: int) -> bool:
    """The part that finds every part done takes the run on (a conditional update on the run's
    phase: two parts finishing together cannot both win)."""
    if SyncChunk.objects.filter(run_id=run_id).exclude(status=SyncChunk.Status.DONE).exists():
        return False
    won = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING, phase=SyncRun.Phase.PULL).update(
        phase=SyncRun.Phase.RECONCILE, worker=cycle.this_worker(), heartbeat_at=timezone.now())
    if not won:
        return False
    run = SyncRun.objects.get(pk=run_id)
    touched = pull.Touched(everything=True, listed_all=True)
    for chunk in SyncChunk.objects.filter(run_id=run_id, watermark__isnull=False):
        crm, _, obj = chunk.name.partition(":")
        touched.watermarks[(crm, obj)] = chunk.watermark
    touched.pulled = SyncChunk.objects.filter(run_id=run_id).aggregate(n=Sum("pulled"))["n"] or 0
    log.info("run %s: all %d pull parts done (%d records); reconciling", run_id, len(pull.STREAMS), touched.pulled)
    cycle.execute(run, lambda ctx: cycle.after_pull(ctx, touched))
    return True
