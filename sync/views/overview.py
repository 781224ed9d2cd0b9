from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.db.models import Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from sync import charts, services
from sync.models import ContactLink, LinkStatus, RecordError, SyncRun, SyncSettings
from sync.queries import group_counts
from sync.roles import OPERATOR, role_required


def known_limit(key: str) -> int | None:
    """The daily limit the CRM last reported: a run that made no call carrying the headers (a quiet
    run's HubSpot searches carry none) does not make it unknown again."""
    return (SyncRun.objects.filter(**{f"snapshot__{key}__isnull": False}).exclude(**{f"snapshot__{key}": None})
            .order_by("-created_at").values_list(f"snapshot__{key}", flat=True).first())


def _usage(settings: SyncSettings) -> list[dict]:
    since = timezone.now() - timedelta(hours=24)
    used = SyncRun.objects.filter(started_at__gte=since).aggregate(sf=Sum("sf_api_calls"), hs=Sum("hs_api_calls"))
    rows = []
    for crm, key, share, limit in (("Salesforce", "sf", settings.salesforce_api_share, known_limit("sf_daily_limit")),
                                   ("HubSpot", "hs", settings.hubspot_api_share, known_limit("hs_daily_limit"))):
        budget = limit * share // 100 if limit else None
        calls = used[key] or 0
        rows.append({"crm": crm, "used": calls, "share": share, "limit": limit, "budget": budget,
                     "percent": min(100, round(100 * calls / budget)) if budget else None})
    return rows


@require_GET
def overview(request):
    settings = SyncSettings.load()
    last = SyncRun.objects.exclude(status__in=[SyncRun.Status.PENDING, SyncRun.Status.RUNNING,
                                               SyncRun.Status.SKIPPED]).order_by("-created_at").first()
    current = SyncRun.objects.filter(status__in=[SyncRun.Status.PENDING, SyncRun.Status.RUNNING]) \
        .order_by("-created_at").first()
    history = list(SyncRun.objects.filter(finished_at__isnull=False).exclude(snapshot={})
                   .order_by("-created_at")[:30])[::-1]
    context = {
        "last_run": last, "current": current, "next_run": services.next_scheduled_run(),
        "counts": group_counts(),
        "lost_primary": ContactLink.objects.filter(status=LinkStatus.LOST_PRIMARY).count(),
        "last_errors": RecordError.objects.filter(run=last).count() if last else 0,
        "current_errors": RecordError.objects.filter(resolved_at__isnull=True).count(),  # the partial index
        "usage": _usage(settings), "chart": charts.history_chart(history),
    }
    return render(request, "sync/overview.html", context)


@require_GET
def run_progress(request, pk: int):
    """Polled by the overview while a run is going; answers 286 (stop polling) once it ended."""
    run = get_object_or_404(SyncRun, pk=pk)
    html = render_to_string("sync/_run_progress.html", {"current": run}, request=request)
    if run.finished_at:
        # The run just ended: the "Last run" card follows (out of band), so the page never shows
        # a finished run 5 above a "Last run: run 4".
        html += render_to_string("sync/_last_run.html", {"last_run": run, "oob": True,
                                                         "next_run": services.next_scheduled_run()}, request=request)
        return HttpResponseStopPolling(html)
    return HttpResponse(html)


@require_POST
@role_required(OPERATOR)
def sync_now(request):
    running = SyncRun.objects.filter(status__in=[SyncRun.Status.PENDING, SyncRun.Status.RUNNING]).first()
    run = running or services.request_sync(full=request.POST.get("full") == "1", actor=request.user)
    if request.htmx:  # the progress card says it all; a queued message would pop up on the next page
        return render(request, "sync/_run_progress.html", {"current": run})
    if running:
        messages.info(request, f"Run {running.pk} is already {running.get_status_display().lower()}.")
    else:
        messages.success(request, f"Sync run {run.pk} queued.")
    return redirect("sync:overview")
