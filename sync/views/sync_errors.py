"""Sync errors by type, as HubSpot's Sync Health shows them: a card per family of current errors,
the list of one family's errors with what to do, Retry/Resync of a selection, and the CSV."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from sync import error_queries, services
from sync.models import RecordError
from sync.roles import OPERATOR, role_required
from sync.views.common import back, page_or_fragment
from sync.views.common import in_words as refusal_words
from sync.views.csv_stream import safe, streamed_csv

PER_PAGE = 50


def _family(params) -> str:
    family = params.get("family", "")
    return family if family in RecordError.Family.values else ""


@require_GET
def sync_errors(request):
    family = _family(request.GET)
    page = Paginator(error_queries.current(family), PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = error_queries.decorate(list(page.object_list))
    context = {"cards": error_queries.family_cards(), "family": family, "page": page,
               "family_label": RecordError.Family(family).label if family else "",
               "query": urlencode({"family": family}) if family else "",
               "select_all": request.GET.get("select") == "all",
               "offers_resync": any(e.lost_primary for e in page.object_list)}
    return page_or_fragment(request, "sync/sync_errors.html", "sync/_sync_errors.html", context)


def _chosen(request):
    """The errors a POST names: the ticked ones, or every current one of the list (all=1)."""
    family = _family(request.POST)
    if request.POST.get("all") == "1":
        return error_queries.current(family)
    ids = [i for i in request.POST.getlist("ids") if i.isdigit()]
    return RecordError.objects.filter(pk__in=ids, resolved_at__isnull=True) if ids else None


def _back(request):
    """To the list the form was posted from (its family and page), else the page itself."""
    return back(request, "sync:sync_errors")


@require_POST
@role_required(OPERATOR)
def retry_sync_errors(request):
    errors = _chosen(request)
    if errors is None:
        messages.error(request, "Select at least one error to retry.")
        return _back(request)
    try:
        retry = services.retry_record_errors(errors=errors, actor=request.user)
    except ValidationError as exc:
        messages.error(request, refusal_words(exc))
        return _back(request)
    gone = f" {retry.missing} could not be: the record is no longer in the mirror." if retry.missing else ""
    if retry.run is None:
        messages.error(request, "Nothing to retry." + gone)
        return _back(request)
    what = f"{retry.errors} error{'s' if retry.errors != 1 else ''} on {retry.records} record{'s' if retry.records != 1 else ''}"
    messages.success(request, (f"Run {retry.run.pk} queued to retry {what}." if retry.queued
                               else f"The queued run {retry.run.pk} will retry {what}.") + gone)
    return redirect("sync:run", retry.run.pk)


@require_POST
@role_required(OPERATOR)
def resync_sync_errors(request):
    errors = _chosen(request)
    hs_ids = error_queries.lost_primary_contacts(errors) if errors is not None else []
    if not hs_ids:
        messages.error(request, "Select at least one error of a HubSpot contact that lost its primary.")
        return _back(request)
    job = services.request_bulk_resync(hs_ids=hs_ids, actor=request.user)
    messages.success(request, f"Resyncing {job.total} contact{'s' if job.total != 1 else ''} in the background.")
    return redirect("sync:job", job.pk)


@require_GET
def sync_errors_csv(request):
    """The list the page shows (same family), every page of it, streamed newest first."""
    family = _family(request.GET)
    columns = ["time", "family", "crm", "object", "record", "operation", "code", "error", "what to do", "run",
               "retried"]
    labels = dict(RecordError.Family.choices)
    errors = error_queries.current(family).only(
        "created_at", "family", "crm", "object_type", "record_id", "operation", "code", "message", "run_id",
        "retried_at").iterator(chunk_size=2000)
    rows = ([e.created_at.isoformat(), labels.get(e.family, e.family), e.crm, safe(e.object_type), safe(e.record_id),
             safe(e.operation), safe(e.code), *(safe(t) for t in error_queries.words(e)), e.run_id,
             e.retried_at.isoformat() if e.retried_at else ""] for e in errors)
    return streamed_csv(columns, rows, f"crmsync-sync-errors{'-' + family if family else ''}.csv")
