from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sync import connection_check, services
from sync.crm.base import CrmError
from sync.forms import FieldRuleFormSet, SyncSettingsForm
from sync.models import FieldRule, HubSpotEvent, LiveSyncState, OrgStage, StageMapping, SyncRun, SyncSettings
from sync.roles import ADMIN, has_role, role_required


def _live(request) -> dict:
    """Live sync as the Settings page shows it: is the webhook endpoint on, the URL to enter in
    HubSpot, what arrived last, what was refused last, and what waits."""
    from django.conf import settings as conf

    return {"on": bool(conf.HUBSPOT_WEBHOOK_SECRET), "state": LiveSyncState.load(),
            "url": conf.HUBSPOT_WEBHOOK_URL or request.build_absolute_uri(reverse("hubspot_webhook")),
            "waiting": HubSpotEvent.objects.count(),
            "last_run": SyncRun.objects.filter(live=True).order_by("-created_at").first()}


def _form(request, current):
    from sync.views.overview import known_limit

    return SyncSettingsForm(request.POST or None, instance=current, sf_daily_limit=known_limit("sf_daily_limit"))


def _context(form, rules, request) -> dict:
    return {"form": form, "rules": rules, "settings_obj": SyncSettings.load(), "live": _live(request),
            "inclusion": _inclusion(),
            "stages": StageMapping.objects.all(), "org_stages": (org := list(OrgStage.objects.all())),
            "org_names": {o.name for o in org}}


@require_http_methods(["GET", "POST"])
def settings_view(request):
    current = SyncSettings.load()
    saved_list = current.inclusion_list_id   # the form's validation writes the posted values onto `current`
    form = _form(request, current)
    # The rules table is optional in a POST (the command line and older forms send settings only).
    rules_posted = "rules-TOTAL_FORMS" in request.POST
    rules = FieldRuleFormSet(request.POST if rules_posted else None, queryset=FieldRule.objects.all(), prefix="rules")
    if request.method == "GET":
        return render(request, "sync/settings.html", _context(form, rules, request))
    if not has_role(request.user, ADMIN):
        messages.error(request, "Only admins can change the sync settings.")
        return render(request, "sync/settings.html", _context(form, rules, request), status=403)
    if form.is_valid():
        # A property name is checked against HubSpot's own properties before it is saved.
        for field, problem in connection_check.check_property_names(form.changed_properties()).items():
            form.add_error(field, problem)
    if form.is_valid() and form.cleaned_data["inclusion_list_id"] != saved_list:
        _check_list(form)
    if form.is_valid() and (not rules_posted or rules.is_valid()):
        try:
            services.update_settings(actor=request.user, changes=form.cleaned_data)
            if rules_posted:
                services.update_field_rules(actor=request.user, changes={
                    f.instance.pk: f.cleaned_data["rule"] for f in rules.forms if f.has_changed()})
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Settings saved.")
            return redirect("sync:settings")
    return render(request, "sync/settings.html", _context(form, rules, request), status=400)


def _check_list(form) -> None:
    """A new inclusion list is checked with HubSpot before it is saved, and its name kept."""
    list_id = form.cleaned_data["inclusion_list_id"]
    name, problem = connection_check.check_inclusion_list(list_id) if list_id else ("", "")
    if problem:
        form.add_error("inclusion_list_id", problem)
    else:
        form.cleaned_data["inclusion_list_name"] = name


def _inclusion() -> dict:
    from sync.crm.hubspot import LIST_PAGE_LIMIT
    from sync.models import InclusionListState

    state = InclusionListState.objects.filter(pk=1).first() or InclusionListState()   # a page never writes
    s = SyncSettings.load()
    return {"state": state, "current": state.list_id == s.inclusion_list_id and state.read_at is not None,
            "requests": max(1, -(-state.members // LIST_PAGE_LIMIT))}


@require_GET
def hubspot_lists(request):
    """The picker's options (loaded by htmx when the Settings page opens): HubSpot's contact lists."""
    lists, problem = connection_check.contact_lists()
    return render(request, "sync/_hubspot_lists.html", {"lists": lists, "problem": problem})


@require_POST
@role_required(ADMIN)
def test_connection(request, crm: str):
    if crm not in ("salesforce", "hubspot"):
        raise Http404("Unknown CRM")
    result = connection_check.check(crm)
    if request.htmx:
        return render(request, "sync/_connection_result.html", {"result": result})
    (messages.success if result.ok else messages.error)(request, result.summary)
    return redirect("sync:settings")


@require_POST
@role_required(ADMIN)
def stage_mapping(request):
    """Save the deal-stage mapping: `stage-<pk>` → a Salesforce stage of the org, or "" for none."""
    changes = {int(k[6:]): v.strip() for k, v in request.POST.items() if k.startswith("stage-") and k[6:].isdigit()}
    try:
        changed = services.update_stage_mappings(actor=request.user, changes=changes)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Deal stage mapping saved ({changed} stage(s) changed)." if changed
                         else "Deal stage mapping unchanged.")
    return redirect(f"{reverse('sync:settings')}#stages")


@require_POST
@role_required(ADMIN)
def refresh_stages(request):
    try:
        added = services.refresh_stage_mapping(actor=request.user)
    except CrmError as exc:
        messages.error(request, f"Could not read the pipelines and stages: {exc}")
    else:
        messages.success(request, f"Read the pipelines and stages: {added} new stage(s) got a proposed mapping.")
    return redirect(f"{reverse('sync:settings')}#stages")
