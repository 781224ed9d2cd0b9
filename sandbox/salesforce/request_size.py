"""The size limit Salesforce's front door puts on every REST/SOAP request (reference §2.9, help
article 000386264): request URI plus headers at most 16,384 bytes. Over it the request never
reaches the API — no usage is counted and no `Sforce-Limit-Info` comes back — and the answer is
the web server's own HTML error page (the text real clients have logged: simple-salesforce
#271, jsforce #1134, forcedotcom/cli #63)."""
from __future__ import annotations

from collections.abc import Iterable

from sandbox.core import Response

MAX_BYTES = 16_384
_REASONS = {414: "URI Too Long", 431: "Request Header Fields Too Large"}


def _page(status: int) -> Response:
    # UNCONFIRMED: the exact Content-Type; the body is Jetty's bad-message page as captured.
    return Response(status, f"<h1>Bad Message {status}</h1><pre>reason: {_REASONS[status]}</pre>",
                    {"Connection": "close"}, content_type="text/html;charset=iso-8859-1")


def refuse(target: str, headers: Iterable[tuple[str, str]]) -> Response | None:
    """`target` is the request-target as sent (path and query, still percent-encoded): 414 when
    it alone is over the limit, 431 when it and the header lines together are."""
    uri = len(target.encode("latin-1", "replace"))
    if uri > MAX_BYTES:
        return _page(414)
    if uri + sum(len(k) + len(v) + 4 for k, v in headers) > MAX_BYTES:   # "Name: value\r\n"
        return _page(431)
    return None
