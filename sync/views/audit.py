from __future__ import annotations

import json
from datetime import datetime, time, timezone

from django.db.models import Q
from django.views.decorators.http import require_GET

from sync.models import RULES, AuditEvent
from sync.queries import span
from sync.views.common import page_or_fragment
from sync.views.csv_stream import safe, streamed_csv

PER_PAGE = 50


def _day(value: str, end: bool) -> datetime | None:
    try:
        d = datetime.strptime(value, "%Y-%m-%d").date()
    except (TypeError, ValueError):
        return None
    return datetime.combine(d, time.max if end else time.min, tzinfo=timezone.utc)


def filtered_events(params) -> tuple:
    qs = AuditEvent.objects.all()
    f = {k: (params.get(k) or "").strip()[:200] for k in ("actor", "action", "rule", "object", "target", "q",
                                                           "start", "end")}
    if f["actor"]:
        qs = qs.filter(actor_name=f["actor"])
    if f["action"] in AuditEvent.Action.values:
        qs = qs.filter(action=f["action"])
    if f["rule"] in dict(RULES):
        qs = qs.filter(rule=f["rule"])
    if f["object"]:
        qs = qs.filter(target_type=f["object"])
    if f["target"]:
        qs = qs.filter(target_id=f["target"])
    if f["q"]:
        qs = qs.filter(Q(target_id=f["q"]) | Q(target_repr__icontains=f["q"]) | Q(message__icontains=f["q"]))
    if start := _day(f["start"], end=False):
        qs = qs.filter(created__gte=start)
    if end := _day(f["end"], end=True):
        qs = qs.filter(created__lte=end)
    return qs, f


@require_GET
def audit(request):
    qs, f = filtered_events(request.GET)
    # Keyset paging ("older than event N"): a fixed cost however long the history is.
    try:
        before = int(request.GET.get("before", ""))
    except ValueError:
        before = None
    listed = qs
    if before:
        qs = qs.filter(id__lt=before)
    events = list(qs.order_by("-id")[:PER_PAGE + 1])
    more = len(events) > PER_PAGE
    events = events[:PER_PAGE]
    # A total where an index reads the filter (none, a record, dates): a rare actor, action, rule
    # or word would be looked for through the whole history to count it.
    counted = not any(f[k] for k in ("actor", "action", "rule", "q"))
    where = span(listed, events, earlier=Q(id__gt=events[0].id), at_start=not before,
                 at_end=not more) if counted and events else None
    query = request.GET.copy()
    query.pop("before", None)
    context = {"events": events, "span": where, "more": more, "next_before": events[-1].id if more else None, "f": f,
               # An htmx filter swaps only the rows; the export link follows out of band, so the
               # export is always exactly what the page shows.
               "query": query.urlencode(), "oob": bool(request.htmx),
               "actions": AuditEvent.Action.choices, "rules": [r for r, _ in RULES],
               "objects": ["hubspot.contact", "hubspot.company", "hubspot.deal", "salesforce.Lead",
                           "salesforce.Contact", "salesforce.Opportunity", "settings", "run"]}
    return page_or_fragment(request, "sync/audit.html", "sync/_audit_rows.html", context)


@require_GET
def audit_csv(request):
    """Streams the filtered history as CSV, newest first, without loading it into memory."""
    qs, _ = filtered_events(request.GET)
    columns = ["time", "actor", "action", "rule", "object", "id", "record", "before", "after", "message", "run"]
    rows = ([e[0].isoformat(), safe(e[1]), e[2], e[3], e[4], e[5], safe(e[6]),
             json.dumps(e[7]) if e[7] is not None else "", json.dumps(e[8]) if e[8] is not None else "",
             safe(e[9]), e[10] or ""]
            for e in qs.order_by("-id").values_list("created", "actor_name", "action", "rule", "target_type",
                                                    "target_id", "target_repr", "before", "after", "message",
                                                    "run_id").iterator(chunk_size=2000))
    return streamed_csv(columns, rows, "crmsync-audit.csv")
