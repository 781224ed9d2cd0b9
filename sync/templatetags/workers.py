"""{% worker_warning %}: says in words that no task worker is running (sync/workers.py)."""
from __future__ import annotations

from django import template

from sync import workers

register = template.Library()


@register.inclusion_tag("sync/_no_worker.html", takes_context=True)
def worker_warning(context):
    request = context.get("request")
    return {"health": workers.for_request(request) if request is not None else workers.check()}
