from __future__ import annotations

from django.conf import settings as django_settings
from django.contrib import messages
from django.db.models import Exists, OuterRef, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from sync import services
from sync.models import (
    AuditEvent,
    BulkJob,
    CompanyLink,
    ContactLink,
    HsCompany,
    HsContact,
    LinkStatus,
    RecordError,
    SfPerson,
    SyncSettings,
)
from sync.queries import contact_search, keyset_page, span
from sync.roles import OPERATOR, role_required
from sync.views.common import back, page_or_fragment

PER_PAGE = 50
STATUS_FILTERS = {"synced": "Synced", "lost_primary": "No longer syncing", "unsynced": "Not synced",
                  "deleted": "Deleted"}


@require_GET
def contacts(request):
    # The link and its record come by prefetch (two indexed queries for the page), not a join:
    # a LEFT JOIN under "id > N ORDER BY id LIMIT 51" makes PostgreSQL merge the links from the
    # first row on, 0.3 s in the middle of a million contacts.
    qs = HsContact.objects.filter(archived=False).prefetch_related("link__sf_person")
    q = request.GET.get("q", "").strip()[:200]
    if q:
        qs = qs.filter(contact_search(q))
    status, also = request.GET.get("status", ""), ()
    after, before = _pk_param(request, "after"), _pk_param(request, "before")
    if status == "unsynced":  # no link, or a link left unsynced
        syncing = ContactLink.objects.filter(hs_contact=OuterRef("pk")).exclude(status=LinkStatus.UNSYNCED)
        # The page's bounds inside the subquery too: PostgreSQL then reads the links from the
        # page's start instead of from the first (45 ms instead of 150 in the middle of a million).
        if after is not None:
            syncing = syncing.filter(hs_contact_id__gt=after)
        if before is not None:
            syncing = syncing.filter(hs_contact_id__lt=before)
        qs = qs.filter(~Exists(syncing))
    elif status in STATUS_FILTERS:
        qs, also = qs.filter(link__status=status), ("link__hs_contact_id",)
    page = keyset_page(qs, per_page=PER_PAGE, after=after, before=before, also=also)
    # No total under a status filter: counting a rare status reads each of its links and contacts
    # from the heap (120-180 ms at a million, measured), and "not synced" is an anti-join that would
    # be read to the end. The whole list and a search are counted (bounded: sync.queries.span).
    where = None if status else \
        span(qs, page.object_list, earlier=Q(pk__lt=page.object_list[0].pk) if page.object_list else Q(),
             at_start=after is None and before is None, at_end=not page.has_next)
    query = urlencode({"q": q, "status": status})
    context = {"page": page, "span": where, "q": q, "status": status, "statuses": STATUS_FILTERS, "query": query,
               "lost_total": ContactLink.objects.filter(status=LinkStatus.LOST_PRIMARY).count()}
    return page_or_fragment(request, "sync/contacts.html", "sync/_contact_table.html", context)


def _pk_param(request, name: str) -> int | None:
    try:
        return max(0, int(request.GET.get(name, "")))
    except ValueError:
        return None


@require_GET
def contact(request, hs_id: str):
    c = get_object_or_404(HsContact.objects.select_related("link__sf_person", "link__chosen_by_user"), hs_id=hs_id)
    link = getattr(c, "link", None)
    same_email = list(SfPerson.objects.filter(email_key=c.email_key).exclude(email_key="").order_by("pull_seq")) \
        if c.email_key else []
    master = None
    if link and link.sf_person and link.sf_person.master_record_id:
        master = SfPerson.objects.filter(sf_id=link.sf_person.master_record_id).first()
    company = HsCompany.objects.filter(hs_id=c.primary_company_id).first() if c.primary_company_id else None
    company_link = CompanyLink.objects.filter(hs_company=company).select_related("sf_account").first() if company else None
    events = AuditEvent.objects.filter(target_type="hubspot.contact", target_id=c.hs_id).select_related("run")[:200]
    ids = [c.hs_id] + ([link.sf_person.sf_id] if link and link.sf_person else [])
    errors = RecordError.objects.filter(record_id__in=ids, retried_at__isnull=True).order_by("-created_at")[:5]
    context = {"contact": c, "link": link, "same_email": same_email, "master": master, "company": company,
               "company_link": company_link, "events": events, "errors": errors,
               "sf_url": django_settings.SALESFORCE_INSTANCE_URL, "inclusion_list": SyncSettings.load()}
    return render(request, "sync/contact.html", context)


@require_POST
@role_required(OPERATOR)
def resync(request, hs_id: str):
    c = get_object_or_404(HsContact, hs_id=hs_id)
    try:
        result = services.resync_contacts(hs_ids=[c.hs_id], actor=request.user)[0]
    except services.CrmError as exc:
        result = services.ResyncResult(c.hs_id, False, f"The CRM refused: {exc}")
    if request.htmx:
        c = HsContact.objects.select_related("link__sf_person").get(pk=c.pk)
        return render(request, "sync/_contact_row.html", {"c": c, "flash": result})
    (messages.success if result.ok else messages.error)(request, f"Contact {c.hs_id}: {result.message}")
    return back(request, "sync:contact", c.hs_id)


@require_POST
@role_required(OPERATOR)
def bulk_resync(request):
    if request.POST.get("all") == "1":
        ids = list(ContactLink.objects.filter(status=LinkStatus.LOST_PRIMARY)
                   .values_list("hs_contact__hs_id", flat=True))
    else:
        ids = request.POST.getlist("ids")
    if not ids:
        messages.error(request, "Select at least one contact that lost its primary.")
        return redirect("sync:contacts")
    job = services.request_bulk_resync(hs_ids=ids, actor=request.user)
    messages.success(request, f"Resyncing {job.total} contact(s) in the background.")
    return redirect("sync:job", job.pk)


JOB_LIST = 500  # outcomes listed per kind on the job page (it is polled every second while it runs)


@require_GET
def job(request, pk: int):
    obj = get_object_or_404(BulkJob, pk=pk)
    context = {"job": obj, **_outcomes(obj)}
    if request.htmx:
        html = render_to_string("sync/_job_progress.html", context, request=request)
        done = obj.status in (BulkJob.Status.DONE, BulkJob.Status.FAILED)
        return HttpResponseStopPolling(html) if done else HttpResponse(html)
    return render(request, "sync/job.html", context)


def _outcomes(job: BulkJob) -> dict:
    """The contacts the job resynced, with the record each now syncs with, and those it could not,
    with why: the first JOB_LIST of each, in the order they were done."""
    failed = list(job.items.filter(ok=False).order_by("pk")[:JOB_LIST])
    resynced = list(job.items.filter(ok=True).order_by("pk")[:JOB_LIST])
    items = failed + resynced
    contacts = HsContact.objects.in_bulk([i.hs_id for i in items], field_name="hs_id")
    people = SfPerson.objects.in_bulk([i.sf_id for i in resynced if i.sf_id], field_name="sf_id")
    for item in items:
        item.contact, item.person = contacts.get(item.hs_id), people.get(item.sf_id)
    return {"not_resynced": failed, "resynced": resynced, "resynced_total": job.done - job.failed,
            "job_list": JOB_LIST}
