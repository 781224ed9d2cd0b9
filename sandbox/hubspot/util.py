"""Small helpers shared by the HubSpot emulator modules: time formats, errors, query parsing."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from sandbox.core import Request, Response

OBJECT_TYPES = ("contacts", "companies", "deals")
# Accepted spellings of the three CRM object types (URL path segment -> canonical name).
TYPE_ALIASES = {
    "contacts": "contacts", "contact": "contacts", "0-1": "contacts",
    "companies": "companies", "company": "companies", "0-2": "companies",
    "deals": "deals", "deal": "deals", "0-3": "deals",
}
TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3"}
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal"}
UPPER = {"contacts": "CONTACT", "companies": "COMPANY", "deals": "DEAL"}
LASTMOD = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate"}

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_ms(dt: datetime) -> int:
    return int((dt - _EPOCH).total_seconds() * 1000)


def iso(ms: int) -> str:
    """HubSpot's timestamp format: ISO 8601 UTC with milliseconds and a Z."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


def parse_time(value) -> int | None:
    """Epoch-ms string/number or ISO date/datetime -> epoch ms; None when not a time."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    s = str(value).strip()
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    if not _ISO_RE.match(s):
        return None
    try:
        t = s.replace("Z", "+00:00").replace(" ", "T")
        dt = datetime.fromisoformat(t)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return to_ms(dt)


def list_arg(req: Request, name: str) -> list[str] | None:
    """Array query params: accept repeated (`?p=a&p=b`, what the SDK sends) and comma-joined (`?p=a,b`)."""
    values = req.query.get(name)
    if values is None:
        return None
    out: list[str] = []
    for v in values:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def bool_arg(req: Request, name: str, default: bool = False) -> bool:
    v = req.arg(name)
    if v is None or v == "":
        return default
    return v.strip().lower() == "true"


def json_response(status: int, body, headers: dict | None = None) -> Response:
    return Response(status, body, dict(headers or {}), content_type="application/json;charset=utf-8")


class HubSpotError(Exception):
    """Raised by handlers; turned into HubSpot's error body by the emulator."""

    def __init__(self, status: int, category: str, message: str, *, context: dict | None = None,
                 sub_category: str | None = None, errors: list | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.context = context
        self.sub_category = sub_category
        self.errors = errors
        self.extra = extra or {}

    def body(self, correlation_id: str) -> dict:
        b = {"status": "error", "message": self.message, "correlationId": correlation_id}
        if self.context is not None:
            b["context"] = self.context
        b["category"] = self.category
        if self.sub_category:
            b["subCategory"] = self.sub_category
        if self.errors is not None:
            b["errors"] = self.errors
        b.update(self.extra)
        return b


def validation_error(message: str, **kw) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", message, **kw)


def not_found(ident: str) -> HubSpotError:
    # Real body (hubspot-api-nodejs#669): note the two spaces.
    return HubSpotError(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.",
                        context={"id": [str(ident)]})


def standard_error(category: str, message: str, context: dict | None = None) -> dict:
    """`StandardError` item used inside 207 multi-status bodies."""
    return {"status": "error", "category": category, "message": message,
            "context": context or {}, "errors": [], "links": {}}


def batch_response(results: list, errors: list, started: str, completed: str, ok_status: int) -> Response:
    """A batch endpoint's answer: COMPLETE with the results; 207 with numErrors/errors when some
    inputs failed (HubSpot's multi-status shape)."""
    body = {"status": "COMPLETE", "results": results}
    status = ok_status
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        status = 207
    body["startedAt"] = started
    body["completedAt"] = completed
    return json_response(status, body)
