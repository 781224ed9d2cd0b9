from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from sync import services
from sync.models import SyncRun
from sync.roles import OPERATOR, role_required


@require_GET
def runs(request):
    page = Paginator(SyncRun.objects.order_by("-created_at"), 50).get_page(request.GET.get("page"))
    return render(request, "sync/runs.html", {"page": page})


@require_GET
def run(request, pk: int):
    obj = get_object_or_404(SyncRun.objects.select_related("requested_by", "retry_of"), pk=pk)
    errors = obj.record_errors.order_by("created_at")
    return render(request, "sync/run.html", {"run": obj, "record_errors": errors[:500], "parts": obj.parts(),
                                             "error_total": errors.count(),
                                             "open_errors": errors.filter(retried_at__isnull=True).count()})


@require_POST
@role_required(OPERATOR)
def retry_errors(request, pk: int):
    obj = get_object_or_404(SyncRun, pk=pk)
    retry = services.request_retry(run=obj, actor=request.user)
    if retry is None:
        messages.info(request, "No failed records left to retry in this run.")
        return redirect("sync:run", obj.pk)
    messages.success(request, f"Run {retry.pk} queued to retry the failed records of run {obj.pk}.")
    return redirect("sync:run", retry.pk)
