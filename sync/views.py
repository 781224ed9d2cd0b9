"""Console pages. Function-based; each returns the full page, or its fragment for htmx."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from sync import services
from sync.forms import SyncSettingsForm
from sync.models import AuditEvent, ContactLink, HsContact, LinkStatus, SfPerson, SyncRun, SyncSettings
from sync.roles import ADMIN, has_role


@require_GET
def overview(request):
    runs = SyncRun.objects.order_by("-created_at")
    context = {
        "last_run": runs.exclude(status=SyncRun.Status.SKIPPED).first(),
        "lost_primary": ContactLink.objects.filter(status=LinkStatus.LOST_PRIMARY).count(),
        "mirrored": {"salesforce": SfPerson.objects.count(), "hubspot": HsContact.objects.count()},
    }
    return render(request, "sync/overview.html", context)


@require_GET
def duplicates(request):
    return render(request, "sync/duplicates.html", {"has_data": SfPerson.objects.exists()})


@require_GET
def contacts(request):
    qs = HsContact.objects.select_related("link__sf_person").order_by("hs_id")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "sync/contacts.html", {"page": page})


@require_GET
def contact(request, hs_id: str):
    obj = get_object_or_404(HsContact.objects.select_related("link__sf_person"), hs_id=hs_id)
    events = AuditEvent.objects.filter(target_type="hubspot.contact", target_id=hs_id)[:100]
    return render(request, "sync/contact.html", {"contact": obj, "events": events})


@require_GET
def runs(request):
    page = Paginator(SyncRun.objects.order_by("-created_at"), 50).get_page(request.GET.get("page"))
    return render(request, "sync/runs.html", {"page": page})


@require_GET
def run(request, pk: int):
    obj = get_object_or_404(SyncRun, pk=pk)
    return render(request, "sync/run.html", {"run": obj, "record_errors": obj.record_errors.all()[:500]})


@require_GET
def audit(request):
    page = Paginator(AuditEvent.objects.all(), 100).get_page(request.GET.get("page"))
    return render(request, "sync/audit.html", {"page": page})


@require_http_methods(["GET", "POST"])
def settings_view(request):
    current = SyncSettings.load()
    form = SyncSettingsForm(request.POST or None, instance=current)
    if request.method == "POST":
        if not has_role(request.user, ADMIN):
            messages.error(request, "Only admins can change the sync settings.")
            return render(request, "sync/settings.html", {"form": form}, status=403)
        if form.is_valid():
            try:
                services.update_settings(actor=request.user, changes=form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, "Settings saved.")
                return redirect("sync:settings")
        return render(request, "sync/settings.html", {"form": form}, status=400)
    return render(request, "sync/settings.html", {"form": form})
