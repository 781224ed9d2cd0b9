"""Small template helpers: links into each CRM and the words for a link's status."""
from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import reverse

register = template.Library()


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


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
