"""One sync cycle: claim the run, pull, reconcile and push, sync fields, snapshot, finish.

Only one cycle runs at a time: the claim is a conditional UPDATE guarded by the database's
`syncrun_one_running` unique constraint, so two workers (or a worker and a person clicking
"Sync now") cannot both win. A run whose worker died (stale heartbeat) is marked interrupted
by the next claim."""
from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from sync.crm.base import PART, Budget, BudgetExhausted, CrmError
from sync.crm.hubspot import HubSpotConfig, HubSpotConnector
from sync.crm.salesforce import SalesforceConfig, SalesforceConnector
from sync.engine import (
    bulk,
    companies,
    contacts,
    deals,
    echo,
    fields,
    groups,
    inclusion,
    intents,
    new_contacts,
    pull,
    removals,
    sidebyside,
)
from sync.engine.context import RunContext
from sync.engine.tuning import tuned_for_a_run
from sync.models import AuditEvent, ContactLink, DuplicateGroup, LinkStatus, SyncRun, SyncSettings, Watermark

log = logging.getLogger(__name__)
STALE_AFTER = timedelta(minutes=10)
ANALYZE_AFTER = 10_000  # pulled rows after which the planner's statistics are refreshed (bulk.analyze)


def claim(run_id: int) -> bool:
    """Move a pending run to running. False (and the run marked skipped) if another is running."""
    _interrupt_stale_runs()
    now = timezone.now()
    try:
        with transaction.atomic():
            claimed = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.PENDING).update(
                status=SyncRun.Status.RUNNING, started_at=now, heartbeat_at=now, phase=SyncRun.Phase.PULL,
                worker=this_worker())
    except IntegrityError:
        claimed = 0
        SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.PENDING).update(
            status=SyncRun.Status.SKIPPED, started_at=now, finished_at=now,
            error="Another sync run was in progress; this request was skipped.")
    return claimed == 1


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_gone(worker: str) -> bool:
    """True when `worker` ("host:pid") ran on this host and that process no longer runs (killed,
    crashed, or a zombie nobody reaped). Workers on other hosts are judged by their heartbeat."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def _interrupt_stale_runs() -> None:
    """Runs left "running" by a worker that died: marked interrupted, with the reason, so the next
    run can start (the unfinished run's rows are still dirty and get reconciled by it)."""
    cutoff = timezone.now() - STALE_AFTER
    for run in SyncRun.objects.filter(status=SyncRun.Status.RUNNING):
        phase = run.get_phase_display().lower()
        if run.worker and worker_gone(run.worker):
            mark_interrupted(run.pk, f"The worker process {run.worker} stopped (killed or crashed) during the "
                                     f"{phase} phase; the next run picks up where it left off.")
        elif run.heartbeat_at and run.heartbeat_at < cutoff:
            mark_interrupted(run.pk, f"The worker {run.worker or ''} stopped responding during the {phase} phase "
                                     f"(last heartbeat {run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC).".replace("  ", " "))


def mark_interrupted(run_id: int, reason: str) -> None:
    now = timezone.now()
    SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.INTERRUPTED, finished_at=now, error=reason)


def _spent_last_day(field: str, exclude: int) -> int:
    since = timezone.now() - timedelta(hours=24)
    return SyncRun.objects.filter(started_at__gte=since).exclude(pk=exclude).aggregate(n=Sum(field))["n"] or 0


def connectors(run: SyncRun, settings: SyncSettings) -> tuple[SalesforceConnector, HubSpotConnector]:
    """Connectors whose budgets count what earlier runs of the last day spent, and what this run
    spent already (the parts of a parallel run each bring their own connectors)."""
    own = SyncRun.objects.filter(pk=run.pk).values("sf_api_calls", "hs_api_calls").first() or {}
    sf_budget = Budget("Salesforce", share=settings.salesforce_api_share,
                       spent_before=_spent_last_day("sf_api_calls", run.pk) + own.get("sf_api_calls", 0))
    hs_budget = Budget("HubSpot", share=settings.hubspot_api_share,
                       spent_before=_spent_last_day("hs_api_calls", run.pk) + own.get("hs_api_calls", 0))
    return (SalesforceConnector(SalesforceConfig.from_settings(), budget=sf_budget),
            HubSpotConnector(HubSpotConfig.from_settings(), budget=hs_budget, ledger=echo.Ledger()))


def run_cycle(run_id: int) -> SyncRun:
    if not claim(run_id):
        return SyncRun.objects.get(pk=run_id)
    run = SyncRun.objects.get(pk=run_id)
    execute(run, lambda ctx: _cycle(ctx, full=is_full(run)))
    return SyncRun.objects.get(pk=run_id)


def run_live_cycle(run_id: int) -> SyncRun:
    """A live run (engine/live.py). Until a full sync has finished, the mirror does not know both
    CRMs and a single record could not be matched safely: the run is skipped and its events wait."""
    from sync.engine import live

    if not claim(run_id):
        return SyncRun.objects.get(pk=run_id)
    run = SyncRun.objects.get(pk=run_id)
    if is_full(run):
        _finish(run, None, SyncRun.Status.SKIPPED, "Live sync waits for the first full sync to finish; "
                "the webhooks' events are kept until then.")
    else:
        execute(run, live.run_live)
    return SyncRun.objects.get(pk=run_id)


def is_full(run: SyncRun) -> bool:
    return run.full or not Watermark.objects.exclude(**pull.FULL_PENDING).exists()


def execute(run: SyncRun, body: Callable[[RunContext], None], *, finish_on_success: bool = True) -> bool:
    """Run `body` with the run's connectors and context; a failure finishes the run with the
    reason (stopped at the API budget, a CRM error, or a bug), success finishes it unless the
    body is only a part of the run. True when the body completed."""
    ctx = None
    try:
        settings = SyncSettings.load()
        sf, hs = connectors(run, settings)
        ctx = RunContext(run=run, settings=settings, sf=sf, hs=hs)
        with tuned_for_a_run():
            body(ctx)
    except BudgetExhausted as exc:
        _finish(run, ctx, SyncRun.Status.STOPPED, f"Stopped before exceeding the API budget: {exc}")
    except CrmError as exc:
        _finish(run, ctx, SyncRun.Status.FAILED, str(exc))
    except RunEnded:
        if ctx is not None:
            ctx.flush()
    except Exception as exc:  # record why, then let django-q2 see the failure too
        log.exception("sync run %s failed", run.pk)
        _finish(run, ctx, SyncRun.Status.FAILED, f"{exc.__class__.__name__}: {exc}\n\n{traceback.format_exc(limit=8)}")
        raise
    else:
        if finish_on_success:
            _finish(run, ctx, SyncRun.Status.SUCCEEDED, "")
        else:
            ctx.flush()
        return True
    return False


class RunEnded(Exception):
    """A part of a parallel run found the run already over (another part failed or stopped)."""


def ticker(ctx: RunContext, *, still_running: bool = False) -> Callable[[int], None]:
    """Counts records as the pull stores them; a heartbeat every page or so (a silent run is
    presumed dead). With `still_running`, each heartbeat also checks that the run has not ended
    elsewhere, and stops this part if it has."""
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if done % 2000 < n:
            ctx.progress()
            if still_running and not SyncRun.objects.filter(pk=ctx.run.pk, status=SyncRun.Status.RUNNING).exists():
                raise RunEnded
    return tick


@contextmanager
def step(ctx: RunContext, name: str) -> Iterator[None]:
    """Log how long one step of a run took and the API calls it made to each CRM (where a run's
    time and allowance go, step by step, in the worker's log: `make bench` and an admin reading a
    slow run's log both need it)."""
    part = PART.get()   # beside another part (sidebyside.py), only this part's calls
    started, sf, hs = time.monotonic(), ctx.sf.budget.calls_of(part), ctx.hs.budget.calls_of(part)
    try:
        yield
    finally:
        log.info("run %s: %s took %.1f s (Salesforce %d calls, HubSpot %d)", ctx.run.pk, name,
                 time.monotonic() - started, ctx.sf.budget.calls_of(part) - sf, ctx.hs.budget.calls_of(part) - hs)


def _cycle(ctx: RunContext, *, full: bool) -> None:
    touched = pull.Touched(everything=full, listed_all=full)
    tick = ticker(ctx)
    ctx.progress(phase=SyncRun.Phase.PULL)
    if full:
        pull.begin_full()
    with step(ctx, "pull"):
        pull.pull_all(ctx.sf, ctx.hs, full=full, seq_base=ctx.run.pk << 32, settings=ctx.settings, touched=touched,
                      tick=tick, reject=ctx.reject_row)
    ctx.counts["pulled"] += touched.pulled
    ctx.flush()
    pull.touch_dirty(touched)
    if ctx.run.retry_of_id:
        _touch_failed_records(ctx.run.retry_of_id, touched)
    inclusion.refresh(ctx, touched)  # contacts that joined the inclusion list are in scope
    if not touched.any():
        pull.save_watermarks(touched)
        return
    after_pull(ctx, touched)


def after_pull(ctx: RunContext, touched: pull.Touched) -> None:
    """Reconcile, push, field sync and duplicate groups over what the pull touched; then the
    watermarks, so a run that stops before here pulls the same window again. The contacts'
    field sync goes beside the companies' and deals' steps (before_fields); the companies' and
    deals' beside the deals following their accounts, which only add associations and the
    company crmsync knows a deal by (HsDeal.company_id, a column no field sync writes)."""
    before_fields(ctx, touched, contact_fields=True)

    def deal_companies() -> None:
        with step(ctx, "deals follow their opportunities' accounts (beside the field sync)"):
            deals.follow_accounts(ctx, touched)

    def company_and_deal_fields() -> None:
        with step(ctx, "field sync of companies and deals"):
            fields.sync_fields(ctx, touched, types=("companies", "deals"))

    sidebyside.run(company_and_deal_fields, deal_companies)
    after_fields(ctx, touched)


def before_fields(ctx: RunContext, touched: pull.Touched, *, contact_fields: bool = False) -> None:
    """Reconcile and push: every link the field sync will compare exists once this returns. New
    opportunities' deals (HubSpot's pace) go out beside the rest (Salesforce's answers and the
    deciding): they need nothing reconcile and push decide (deals.deals_from_opportunities).
    With `contact_fields`, the contacts' field sync too, once their links are made: beside the
    companies' and deals' steps, which change no contact link and no field it compares. The new
    deals whose account R10 cannot change get their opportunities beside R10 (Salesforce's pace
    beside HubSpot's). The deals follow their opportunities' accounts after this returns, once
    R10 made the companies (the caller's step: beside the field sync in after_pull)."""
    ctx.progress(phase=SyncRun.Phase.RECONCILE)
    with step(ctx, "recovery and removals"):
        intents.recover(ctx, intents.finders(ctx))  # creates of runs that ended before recording them
        removals.follow(ctx, touched)               # merged and deleted on the HubSpot side
    big = touched.listed_all or touched.pulled >= ANALYZE_AFTER
    if big:
        bulk.analyze(*pull.MIRROR_MODELS)
    with step(ctx, "deals named by an opportunity id"):
        deals.link_named(ctx, touched)

    def new_opportunities() -> None:
        with step(ctx, "deals from new opportunities (beside the steps below)"):
            deals.deals_from_opportunities(ctx, touched, carrying_deal_id=False)

    sidebyside.run(lambda: _reconcile_and_push(ctx, touched, big=big, contact_fields=contact_fields),
                   new_opportunities)
    with step(ctx, "deals from opportunities carrying a deal id"):
        deals.deals_from_opportunities(ctx, touched, carrying_deal_id=True)
    ctx.progress(phase=SyncRun.Phase.FIELDS)


def _reconcile_and_push(ctx: RunContext, touched: pull.Touched, *, big: bool, contact_fields: bool) -> None:
    with step(ctx, "reconcile and push of contacts"):
        contacts.reconcile_contacts(ctx, touched)
    ctx.progress(phase=SyncRun.Phase.PUSH)
    with step(ctx, "new HubSpot contacts"):
        new_contacts.create_hubspot_contacts(ctx, touched)
    if big:
        bulk.analyze(ContactLink)  # the steps below join through the links reconcile just wrote

    def companies_and_deals() -> None:
        with step(ctx, "companies by account id"):
            companies.link_companies_by_account_id(ctx, touched)

        def r10() -> None:
            with step(ctx, "companies follow contacts (R10)"):
                companies.companies_follow_contacts(ctx, touched)

        tried: set[int] = set()

        def settled() -> None:
            with step(ctx, "opportunities from new deals R10 cannot move (beside R10)"):
                tried.update(deals.opportunities_from_deals(ctx, touched, beside_r10=True))

        sidebyside.run(r10, settled)
        with step(ctx, "opportunities from the other new deals"):
            deals.opportunities_from_deals(ctx, touched, tried=frozenset(tried))

    def contacts_fields() -> None:
        with step(ctx, "field sync of contacts (beside companies and deals)"):
            fields.sync_fields(ctx, touched, types=("contacts",))

    sidebyside.run(companies_and_deals, *([contacts_fields] if contact_fields else []))


def after_fields(ctx: RunContext, touched: pull.Touched) -> None:
    with step(ctx, "duplicate groups"):
        groups.refresh_groups(touched)
    ctx.flush()
    pull.save_watermarks(touched)  # only now: see Touched.watermarks


def _touch_failed_records(run_id: int, touched: pull.Touched) -> None:
    """"Retry these records": put the records that failed in an earlier run back in scope."""
    from sync.models import RecordError, record_kind

    by_kind = {"person": touched.sf_ids, "account": touched.account_ids, "opportunity": touched.opportunity_ids,
               "company": touched.company_ids, "deal": touched.deal_ids, "contact": touched.hs_contact_ids}
    for object_type, record_id in RecordError.objects.filter(run_id=run_id).values_list("object_type", "record_id"):
        if kind := record_kind(object_type, record_id):
            by_kind[kind].add(record_id)


def snapshot() -> dict:
    """Duplicate groups by kind and lost primaries now: drawn over time on the overview. Counted
    from the groups the sync keeps (the same numbers the Duplicates tabs show)."""
    counts = dict(DuplicateGroup.objects.standing().values_list("kind").annotate(n=Count("id")))
    lost = ContactLink.objects.filter(status=LinkStatus.LOST_PRIMARY).count()
    return {"r2_groups": counts.get("r2", 0), "r7_groups": counts.get("r7", 0), "r9_groups": counts.get("r9", 0),
            "lost_primary": lost}


def _finish(run: SyncRun, ctx: RunContext | None, status: str, error: str) -> None:
    if ctx is not None:
        try:
            ctx.flush()
        except Exception:  # the run is finishing anyway; don't mask the original error
            log.exception("could not save the last counters of run %s", run.pk)
    now = timezone.now()
    state = snapshot()
    if ctx is not None:  # the daily limits the CRMs reported: the overview's budget figures
        state.update(sf_daily_limit=ctx.sf.budget.daily_limit, hs_daily_limit=ctx.hs.budget.daily_limit)
    # Only a running run: a parallel run's other part may have finished it already, and a run
    # presumed dead (marked interrupted) keeps that verdict.
    finished = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
        status=status, phase=SyncRun.Phase.DONE, finished_at=now, error=error[:10000], snapshot=state, heartbeat_at=now)
    run.refresh_from_db()
    if not finished:
        log.warning("run %s was already %s; not marking it %s (%s)", run.pk, run.status, status, error.split("\n")[0])
        return
    AuditEvent.objects.create(
        actor_name="sync", action=AuditEvent.Action.RUN_FINISHED, target_type="run", target_id=str(run.pk),
        target_repr=f"Run {run.pk}", run=run, after={k: getattr(run, k) for k in (
            "status", "pulled", "linked", "switched", "lost_primary", "created", "deleted", "field_changes", "errors",
            "sf_api_calls", "hs_api_calls")}, message=error.split("\n")[0][:500])
