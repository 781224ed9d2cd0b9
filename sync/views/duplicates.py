from __future__ import annotations

from django.conf import settings as django_settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from sync import merges, queries
from sync.crm.base import CrmError
from sync.roles import OPERATOR, role_required
from sync.views.common import in_words, int_param, page_or_fragment

LOADERS = {"r2": queries.r2_groups, "r7": queries.r7_groups, "r9": queries.r9_groups}


@require_GET
def duplicates(request):
    kind = request.GET.get("kind") if request.GET.get("kind") in LOADERS else "r2"
    q = request.GET.get("q", "")[:200]
    sort = request.GET.get("sort") if request.GET.get("sort") in queries.SORTS else "key"
    options = {"q": q, "sort": sort, "page": int_param(request, "page")}
    if kind == "r2":
        options["mix"] = request.GET.get("mix", "") if request.GET.get("mix") in ("mixed", "leads", "contacts") else ""
    context = {"kind": kind, "kinds": queries.KINDS, "kind_help": queries.KIND_HELP[kind], "kind_rule": queries.KIND_RULE[kind],
               "sorts": queries.SORTS, "filters": options, "page": LOADERS[kind](**options),
               "sf_url": django_settings.SALESFORCE_INSTANCE_URL}
    return page_or_fragment(request, "sync/duplicates.html", "sync/_groups.html", context)


@require_http_methods(["GET", "POST"])
@role_required(OPERATOR)
def merge_salesforce(request):
    key = (request.POST.get("key") or request.GET.get("key") or "").strip().lower()
    primary = request.POST.get("primary") or request.GET.get("primary")
    data = request.POST if request.method == "POST" else request.GET
    keep = {name[5:]: value for name, value in data.items() if name.startswith("keep_") and value}
    try:
        preview = merges.preview_salesforce_merge(key=key, primary_id=primary, keep=keep)
    except ValidationError as exc:
        messages.error(request, in_words(exc))
        return redirect("sync:duplicates")
    if request.method == "POST" and request.POST.get("confirm") == "1":
        try:
            merges.merge_salesforce_group(key=key, primary_id=preview.primary.sf_id, actor=request.user, keep=keep)
        except (CrmError, ValidationError) as exc:
            messages.error(request, f"The merge did not complete: {in_words(exc)}")
            return redirect(f"{reverse('sync:merge_salesforce')}?{urlencode({'key': key, 'primary': preview.primary.sf_id})}")
        messages.success(request, f"Merged into {preview.primary.sf_id}. A sync run was queued to apply it in HubSpot.")
        return redirect(f"{reverse('sync:duplicates')}?{urlencode({'q': key})}")
    return page_or_fragment(request, "sync/merge_preview.html", "sync/_merge_preview.html",
                            {"preview": preview, "sf_url": django_settings.SALESFORCE_INSTANCE_URL})


@require_http_methods(["GET", "POST"])
@role_required(OPERATOR)
def merge_hubspot(request):
    """R7: the preview of merging an R7 group in HubSpot (GET, or a POST without `confirm`), the
    merge itself on confirmation."""
    sf_key = (request.POST.get("sf_id") or request.GET.get("sf_id") or "").strip()
    primary = request.POST.get("primary") or request.GET.get("primary")
    try:
        preview = merges.preview_hubspot_merge(sf_key=sf_key, primary_id=primary)
    except ValidationError as exc:
        messages.error(request, in_words(exc))
        return redirect(f"{reverse('sync:duplicates')}?kind=r7")
    if request.method == "POST" and request.POST.get("confirm") == "1":
        try:
            result = merges.merge_hubspot_group(sf_key=sf_key, actor=request.user, primary_id=primary)
        except (CrmError, ValidationError) as exc:
            messages.error(request, f"The HubSpot merge did not complete: {in_words(exc)}")
        else:
            messages.success(request, f"Merged {len(result.merged)} HubSpot contact(s) into {result.primary.hs_id}; "
                                      f"HubSpot's merged record is {result.new_id}.")
        return redirect(f"{reverse('sync:duplicates')}?kind=r7")
    return page_or_fragment(request, "sync/merge_hubspot.html", "sync/_merge_hubspot.html", {"preview": preview})


@require_http_methods(["GET", "POST"])
@role_required(OPERATOR)
def convert_lead(request):
    """A lead and a contact of one email: the preview of converting the lead into the contact
    (GET), the conversion on confirmation."""
    key = (request.POST.get("key") or request.GET.get("key") or "").strip().lower()
    lead, contact = (request.POST.get(n) or request.GET.get(n) for n in ("lead", "contact"))
    try:
        preview = merges.preview_conversion(key=key, lead_id=lead, contact_id=contact)
    except ValidationError as exc:
        messages.error(request, in_words(exc))
        return redirect("sync:duplicates")
    if request.method == "POST" and request.POST.get("confirm") == "1":
        try:
            merges.convert_lead(key=key, lead_id=preview.lead.sf_id, contact_id=preview.contact.sf_id,
                                actor=request.user)
        except (CrmError, ValidationError) as exc:
            messages.error(request, f"The conversion did not complete: {in_words(exc)}")
            query = urlencode({"key": key, "lead": preview.lead.sf_id, "contact": preview.contact.sf_id})
            return redirect(f"{reverse('sync:convert_lead')}?{query}")
        messages.success(request, f"Converted lead {preview.lead.sf_id} into contact {preview.contact.sf_id}. "
                                  "A sync run was queued to apply it in HubSpot.")
        return redirect(f"{reverse('sync:duplicates')}?{urlencode({'q': key})}")
    return page_or_fragment(request, "sync/convert_lead.html", "sync/_convert_lead.html",
                            {"preview": preview, "sf_url": django_settings.SALESFORCE_INSTANCE_URL})


@require_http_methods(["GET", "POST"])
@role_required(OPERATOR)
def merge_companies(request):
    """R9: the preview of merging the HubSpot companies that carry one account id (GET), the
    merge on confirmation."""
    account = (request.POST.get("account") or request.GET.get("account") or "").strip()
    primary = request.POST.get("primary") or request.GET.get("primary")
    back_to = f"{reverse('sync:duplicates')}?kind=r9"
    try:
        preview = merges.preview_company_merge(account_id=account, primary_id=primary)
    except ValidationError as exc:
        messages.error(request, in_words(exc))
        return redirect(back_to)
    if request.method == "POST" and request.POST.get("confirm") == "1":
        try:
            survivor = merges.merge_company_group(account_id=account, actor=request.user, primary_id=preview.primary.hs_id)
        except (CrmError, ValidationError) as exc:
            messages.error(request, f"The HubSpot merge did not complete: {in_words(exc)}")
        else:
            messages.success(request, f"Merged {len(preview.others)} HubSpot compan{'y' if len(preview.others) == 1 else 'ies'} "
                                      f"into {preview.primary.hs_id}; HubSpot's merged company is {survivor.hs_id}.")
        return redirect(back_to)
    return page_or_fragment(request, "sync/merge_companies.html", "sync/_merge_companies.html",
                            {"preview": merges.count_associations(preview)})
