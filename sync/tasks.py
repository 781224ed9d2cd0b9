"""django-q2 entry points: thin, take primary keys, safe to run twice."""
from __future__ import annotations

from sync.models import SyncRun


def run_sync(run_id: int) -> str:
    """Run one queued sync cycle, or split a full one across the workers (engine/parallel.py).
    A redelivered task finds the run no longer pending and stops."""
    from sync.engine import parallel
    from sync.engine.cycle import run_cycle, run_live_cycle

    run = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.PENDING).first()
    if run is None:
        return "not pending"
    if run.live:
        return run_live_cycle(run_id).status
    if parallel.wanted(run):
        return parallel.start(run_id)
    status = run_cycle(run_id).status
    _events_left()
    return status


def _events_left() -> None:
    """Webhook events that arrived while a sweep ran (their live run was skipped) get one now."""
    from sync import services
    from sync.models import HubSpotEvent

    if HubSpotEvent.objects.exists():
        services.request_live_sync()


def pull_chunk(run_id: int, name: str) -> str:
    """One part of a parallel full sync's pull; the last part carries the run through reconcile
    and push, then queues the field-sync parts."""
    from sync.engine import parallel

    return _then_events_left(run_id, parallel.pull_chunk(run_id, name))


def field_chunk(run_id: int, name: str) -> str:
    """One part of a parallel full sync's field sync; the last part finishes the run."""
    from sync.engine import parallel

    return _then_events_left(run_id, parallel.field_chunk(run_id, name))


def _then_events_left(run_id: int, outcome: str) -> str:
    """The part that ended a parallel run: the webhook events that came meanwhile get their live run."""
    if SyncRun.objects.filter(pk=run_id).exclude(status__in=(SyncRun.Status.PENDING, SyncRun.Status.RUNNING)).exists():
        _events_left()
    return outcome


def scheduled_sync() -> int:
    """The schedule's entry point: queue (and run) an incremental cycle."""
    from sync import services

    run = services.request_sync(full=False, actor=None, enqueue=False)
    run_sync(run.pk)
    return run.pk


def live_poll() -> int | None:
    """The live poll's schedule: a live run (Salesforce's changes, and any webhook events waiting)
    unless one is already queued."""
    from sync import services

    run = services.request_live_sync(enqueue=False)
    if run is None:
        return None
    run_sync(run.pk)
    return run.pk


def bulk_resync(job_id: int) -> str:
    from sync import services
    from sync.models import BulkJob

    job = BulkJob.objects.filter(pk=job_id).first()
    if job is None:
        return "gone"
    return services.run_bulk_resync(job).status


def send_alert_digest() -> str:
    """The alert digest's schedule: email the admins what is new, if anything (sync/alerts.py)."""
    from sync import alerts

    digest = alerts.send_digest()
    return digest.status if digest else "nothing new"


def find_possible_duplicates(build_id: int) -> str:
    """Build the Possible duplicates tab's pairs (sync/engine/possible.py); safe to run twice."""
    from sync import duplicate_actions

    build = duplicate_actions.run_possible_build(build_id)
    return "gone" if build is None else f"{build.pairs} pairs"
