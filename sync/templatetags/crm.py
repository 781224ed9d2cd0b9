"""Small template helpers: links into each CRM, the words for a link's status, durations."""
from __future__ import annotations

from datetime import timedelta
from functools import cache
from urllib.parse import quote

from django import template
from django.conf import settings
from django.urls import get_script_prefix, reverse
from django.utils.http import RFC3986_SUBDELIMS

register = template.Library()
PLACEHOLDER = "__id__"
SAFE = RFC3986_SUBDELIMS + "~:@"   # what reverse() leaves unquoted in a path segment


@cache
def _record_url(name: str, prefix: str) -> str:
    return reverse(name, args=[PLACEHOLDER])


@register.filter
def contact_url(hs_id) -> str:
    """`{{ id|contact_url }}`: what `{% url 'sync:contact' id %}` gives, reversed once per URL prefix
    (a duplicates page links a hundred records: reversing each was a fifth of its render)."""
    return _record_url("sync:contact", get_script_prefix()).replace(PLACEHOLDER, quote(str(hs_id), safe=SAFE))


@register.filter
def company_url(hs_id) -> str:
    """`{{ id|company_url }}`: `{% url 'sync:company' id %}`, as contact_url."""
    return _record_url("sync:company", get_script_prefix()).replace(PLACEHOLDER, quote(str(hs_id), safe=SAFE))


@register.simple_tag
def sf_url(sf_id: str) -> str:
    """The record in Salesforce (instance URL + id opens it in Lightning and Classic alike)."""
    base = settings.SALESFORCE_INSTANCE_URL
    return f"{base}/{sf_id}" if base and sf_id else ""


@register.simple_tag
def hs_url(hs_id: str, object_type: str = "0-1") -> str:
    """The record in HubSpot when the portal id is known (HUBSPOT_PORTAL_ID), else our own page."""
    portal = getattr(settings, "HUBSPOT_PORTAL_ID", "")
    if portal:
        return f"https://app.hubspot.com/contacts/{portal}/record/{object_type}/{hs_id}"
    return reverse("sync:contact", args=[hs_id]) if object_type == "0-1" else ""


@register.filter
def status_words(link) -> str:
    """The Salesforce Sync card's status line."""
    if not link:  # None, or "" when a template looked up `contact.link` on a contact without one
        return "Not synced"
    p = link.sf_person
    if link.status == "synced" and p:
        return "Synced"
    if link.status == "lost_primary":
        master = p.master_record_id if p else ""
        return ("No longer syncing with Salesforce — its primary was merged into " + master) if master else \
            "No longer syncing with Salesforce"
    if link.status == "deleted":
        return "Deleted"
    if link.status == "duplicate" and p:
        return (f"Duplicate (R7): names {p.sf_id}, which another HubSpot contact syncs with — merge it into that "
                "contact in HubSpot")
    if link.status == "merged":
        return "Merged into another HubSpot contact"
    return "Not synced"


@register.filter
def status_class(link) -> str:
    return {"synced": "ok", "lost_primary": "warn", "duplicate": "warn", "deleted": "bad",
            "merged": "bad"}.get(getattr(link, "status", ""), "")


# What the keys of audit events' before/after mean, for people.
CHANGE_LABELS = {"sf_id": "Salesforce record", "object_type": "type", "status": "status", "chosen_by": "chosen by",
                 "modstamp": "updated in Salesforce", "sf_account_id": "Salesforce account",
                 "sf_opportunity_id": "opportunity", "origin": "origin", "how": "how", "company": "company",
                 "merged_into": "merged into", "new_id": "new HubSpot id", "primary": "primary", "merged": "merged",
                 "hubspot": "HubSpot record", "synced_by": "synced by", "records": "records", "master": "master",
                 "hubspot_contacts_affected": "HubSpot contacts affected", "left": "not merged", "stopped_at": "stopped at",
                 "error": "error", "step": "merge", "of": "of", "salesforce_stage": "Salesforce stage"}
STATUS_WORDS = {"synced": "synced", "lost_primary": "lost its primary", "unsynced": "not synced", "deleted": "deleted",
                "duplicate": "R7 duplicate", "merged": "merged", "hubspot_deleted": "deleted in HubSpot",
                "salesforce_deleted": "deleted in Salesforce"}


def _value(key: str, value) -> str:
    if value is None or value == "" or value == []:
        return "none"
    if key == "status":
        return STATUS_WORDS.get(value, str(value))
    if key == "modstamp" and isinstance(value, str):
        return value[:19].replace("T", " ") + " UTC"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_value(k, v)}" for k, v in value.items())
    return str(value)


@register.filter
def change_words(event) -> str:
    """An audit event's before → after in words ("status: synced → lost its primary"), never a
    Python dict: only what changed, each key by its meaning."""
    before, after = event.before or {}, event.after or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return f"{_value('', before)} → {_value('', after)}"
    parts = []
    for key in dict.fromkeys([*before, *after]):
        b, a = before.get(key), after.get(key)
        label = CHANGE_LABELS.get(key, key.replace("_", " "))
        if key in before and key in after:
            if b != a:
                parts.append(f"{label}: {_value(key, b)} → {_value(key, a)}")
        elif key in after:
            parts.append(f"{label}: {_value(key, a)}")
        else:
            parts.append(f"{label} was {_value(key, b)}")
    return "; ".join(parts)


@register.filter
def chosen_words(link) -> str:
    """Why a link is what it is, said once ("R6 · resynced by ada", not "… by a person by ada")."""
    if link is None or not getattr(link, "chosen_by", ""):
        return "—"
    if link.chosen_by == "R6" and getattr(link, "chosen_by_user", None):
        return f"R6 · resynced by {link.chosen_by_user.get_username()}"
    return link.get_chosen_by_display()


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def duration(span: timedelta | float | None) -> str:
    """How long something took, for people: "0.4 s", "12 s", "3 min 4 s", "2 h 5 min" (never
    "0:00:00.351750"). A timedelta or seconds; "" for none, so `|duration|default:"—"` reads."""
    if span is None or span == "":
        return ""
    seconds = max(0.0, span.total_seconds() if isinstance(span, timedelta) else float(span))
    if seconds < 9.95:  # tenths while they matter
        return "0 s" if seconds == 0 else "under 0.1 s" if seconds < 0.05 else f"{seconds:.1f} s"
    if seconds < 3599.5:
        minutes, secs = divmod(round(seconds), 60)
        return f"{secs} s" if not minutes else f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
