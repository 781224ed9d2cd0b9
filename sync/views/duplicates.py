from __future__ import annotations

from django.conf import settings as django_settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sync import duplicate_actions, merges, queries
from sync.crm.base import CrmError
from sync.engine import rules
from sync.models import FieldRule
from sync.roles import OPERATOR, role_required
from sync.views.common import back, in_words, int_param, page_or_fragment

LOADERS = {"r2": queries.r2_groups, "r7": queries.r7_groups, "r9": queries.r9_groups, "possible": queries.possible_pairs}


@require_GET
def duplicates(request):
    from sync.engine import possible

    kind = request.GET.get("kind") if request.GET.get("kind") in LOADERS else "r2"
    q = request.GET.get("q", "")[:200]
    options = {"q": q, "page": int_param(request, "page"), "dismissed": request.GET.get("dismissed") == "1"}
    context = {"kind": kind, "kinds": queries.TABS, "kind_help": queries.KIND_HELP[kind], "kind_rule": queries.KIND_RULE[kind],
               "sorts": queries.SORTS, "sf_url": django_settings.SALESFORCE_INSTANCE_URL}
    if kind == "possible":
        build = possible.latest()
        options["build"] = build.pk if build else 0
        context.update(build=build, building=possible.running())
    else:
        options["sort"] = request.GET.get("sort") if request.GET.get("sort") in queries.SORTS else "key"
    if kind == "r2":
        options["mix"] = request.GET.get("mix", "") if request.GET.get("mix") in ("mixed", "leads", "contacts") else ""
    context.update(filters=options, page=LOADERS[kind](**options),
                   pager_query=urlencode({"kind": kind, **{k: v for k, v in options.items()
                                                          if k in ("q", "sort", "mix") and v},
                                          **({"dismissed": 1} if options["dismissed"] else {})}))
    return page_or_fragment(request, "sync/duplicates.html",
                            "sync/_pairs.html" if kind == "possible" else "sync/_groups.html", context)


@require_POST
@role_required(OPERATOR)
def dismiss(request):
    """"Not a duplicate" on a group or a possible pair, with why."""
    kind, key = request.POST.get("kind", ""), request.POST.get("key", "")
    try:
        duplicate_actions.dismiss(actor=request.user, kind=kind, key=key, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        messages.error(request, in_words(exc))
    else:
        messages.success(request, f"Marked not a duplicate: {key}. It is left out of the lists and counts; "
                                  "“Show dismissed” lists it, with Undo.")
    return back(request, "sync:duplicates")


@require_POST
@role_required(OPERATOR)
def undismiss(request, pk: int):
    try:
        d = duplicate_actions.undo_dismissal(actor=request.user, dismissal_id=pk)
    except ValidationError as exc:
        messages.error(request, in_words(exc))
    else:
        messages.success(request, f"Undone: {d.key} is listed and counted again.")
    return back(request, "sync:duplicates")


@require_POST
@role_required(OPERATOR)
def find_possible(request):
    build = duplicate_actions.request_possible_duplicates(actor=request.user)
    messages.success(request, f"Finding possible duplicates (build {build.pk}) in the background; this page shows "
                              "the new pairs when it is done.")
    return redirect(f"{reverse('sync:duplicates')}?kind=possible")


@require_http_methods(["GET", "POST"])
@role_required(OPERATOR)
def resync_to(request):
    """From a possible pair: the preview of syncing a HubSpot contact with a chosen Salesforce
    record (R6), and the change on confirmation."""
    hs_id = (request.POST.get("hs_id") or request.GET.get("hs_id") or "").strip()
    sf_id = (request.POST.get("sf_id") or request.GET.get("sf_id") or "").strip()
    try:
        contact, person, link, holder = duplicate_actions.resync_to_facts(hs_id, sf_id)
    except ValidationError as exc:
        messages.error(request, in_words(exc))
        return redirect(f"{reverse('sync:duplicates')}?kind=possible")
    if request.method == "POST" and request.POST.get("confirm") == "1":
        try:
            duplicate_actions.resync_to(actor=request.user, hs_id=hs_id, sf_id=sf_id)
        except (CrmError, ValidationError) as exc:
            messages.error(request, f"The resync did not happen: {in_words(exc)}")
            return redirect(f"{reverse('sync:resync_to')}?{urlencode({'hs_id': hs_id, 'sf_id': sf_id})}")
        messages.success(request, f"HubSpot contact {hs_id} now syncs with {person.object_type} {sf_id}.")
        return redirect("sync:contact", hs_id)
    email_rule = FieldRule.objects.filter(object="contact", hubspot_property="email").first()
    return page_or_fragment(request, "sync/resync_to.html", "sync/_resync_to.html",
                            {"contact": contact, "person": person, "link": link, "holder": holder,
                             "email_rule": email_rule, "sf_url": django_settings.SALESFORCE_INSTANCE_URL})


@require_http_methods(["GET", "POST"])
@role_required(OPERATOR)
def merge_salesforce(request):
    key = merges.group_key(request.POST.get("key") or request.GET.get("key") or "")
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
            done = merges.merge_salesforce_group(key=key, primary_id=preview.primary.sf_id, actor=request.user, keep=keep)
        except (CrmError, ValidationError) as exc:
            messages.error(request, f"The merge did not complete: {in_words(exc)}")
            return redirect(f"{reverse('sync:merge_salesforce')}?{urlencode({'key': key, 'primary': preview.primary.sf_id})}")
        messages.success(request, f"Merged into {preview.primary.sf_id}. A sync run was queued to apply it in HubSpot. "
                                  f"It can be undone for {rules.RECYCLE_BIN_DAYS} days under Duplicates → Merges "
                                  f"(merge {done.snapshot_id}).")
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
                                      f"HubSpot's merged record is {result.new_id}. Duplicates → Merges can make the "
                                      "merged contacts again.")
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


@require_GET
@role_required(OPERATOR)
def merges_list(request):
    """The console's Salesforce merges, newest first, each with what is left of its undo window."""
    from django.utils import timezone

    from sync.engine.rules import undo_time_left
    from sync.models import MergeSnapshot

    rows = list(MergeSnapshot.objects.select_related("created_by", "undone_by").order_by("-created_at")[:100])
    now = timezone.now()
    for r in rows:
        r.left = undo_time_left(r.created_at, now)
    return render(request, "sync/merges.html", {"merges": rows})


@require_http_methods(["GET", "POST"])
@role_required(OPERATOR)
def undo_merge(request, pk: int):
    """The preview of undoing a Salesforce merge (GET), the undo on confirmation."""
    from sync.merges import undo

    try:
        preview = undo.preview_undo(pk)
    except ValidationError as exc:
        messages.error(request, in_words(exc))
        return redirect("sync:merges")
    if request.method == "POST" and request.POST.get("confirm") == "1":
        try:
            undo.undo_merge(pk, actor=request.user)
        except (CrmError, ValidationError) as exc:
            messages.error(request, in_words(exc))
            return redirect("sync:undo_merge", pk)
        messages.success(request, f"Merge into {preview.snapshot.master_id} undone in Salesforce and HubSpot; a sync "
                                  "run was queued.")
        return redirect("sync:merges")
    return render(request, "sync/undo_merge.html", {"preview": preview,
                                                     "sf_url": django_settings.SALESFORCE_INSTANCE_URL})
