"""The one URL HubSpot calls rather than a person: its webhook batches (sync/webhooks.py). No
login and no CSRF token (HubSpot has neither); the v3 signature with the app's client secret is
what authenticates it, and a request without a valid one changes nothing."""
from __future__ import annotations

import logging
import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sync import services, webhooks

log = logging.getLogger(__name__)


@csrf_exempt
@login_not_required
@require_POST
def hubspot(request):
    if not settings.HUBSPOT_WEBHOOK_SECRET:
        return _refused(503, "Live sync is off: HUBSPOT_WEBHOOK_SECRET is not set.")
    try:
        size = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        size = 0
    if size > settings.HUBSPOT_WEBHOOK_MAX_BYTES:
        return _refused(413, f"The body is larger than {settings.HUBSPOT_WEBHOOK_MAX_BYTES} bytes.")
    body = request.read(settings.HUBSPOT_WEBHOOK_MAX_BYTES + 1)
    if len(body) > settings.HUBSPOT_WEBHOOK_MAX_BYTES:
        return _refused(413, f"The body is larger than {settings.HUBSPOT_WEBHOOK_MAX_BYTES} bytes.")
    uri = settings.HUBSPOT_WEBHOOK_URL or request.build_absolute_uri()
    try:
        webhooks.check_signature(secret=settings.HUBSPOT_WEBHOOK_SECRET, method=request.method, uri=uri, body=body,
                                 timestamp=request.headers.get("X-HubSpot-Request-Timestamp"),
                                 given=request.headers.get("X-HubSpot-Signature-v3"), now_ms=int(time.time() * 1000))
        events = webhooks.parse(body)
    except webhooks.WebhookRefused as exc:
        return _refused(exc.status, str(exc))
    got = services.receive_hubspot_events(events)
    return JsonResponse({"stored": got.stored, "duplicates": got.duplicates, "ignored": got.ignored})


def _refused(status: int, message: str) -> HttpResponse:
    log.warning("HubSpot webhook refused (%s): %s", status, message)
    if status != 503:
        services.note_webhook_refused(f"{status}: {message}")
    return JsonResponse({"error": message}, status=status)
