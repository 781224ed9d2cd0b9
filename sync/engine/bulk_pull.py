"""Which API a full pull of a Salesforce object reads through: REST queryAll pages of 2,000
(one call each), or a Bulk API 2.0 queryAll job when the object holds at least
SALESFORCE_BULK_THRESHOLD records (one call to create it, a few polls, one call per 50,000).

How many there are is read from the REST query's first page, whose `totalSize` counts the whole
result: below the threshold the pull simply goes on from that page, so deciding costs nothing;
above it the page is left unread (one call, as a `SELECT COUNT()` would have cost, and the open
cursor expires on Salesforce's side). The mirror's row count would cost nothing either way but
cannot tell on the first sync, when the mirror is empty and the pull is the biggest it will
ever be, nor after the org grew since the last full run. A threshold of 0 takes Bulk without
asking; None (`off`) never does. Incremental pulls stay on REST: they read few rows."""
from __future__ import annotations

from collections.abc import Iterator


def full_pages(conn, obj: str, soql: str) -> Iterator[list[dict]]:
    """The records of a full pull of `obj`, in the order Salesforce returned them (R3 numbers
    people in that order, whichever API answered). A generator: its calls are made by whoever
    iterates it (the pull's fetching thread), never inside a database transaction."""
    from django.conf import settings

    threshold = settings.SALESFORCE_BULK_THRESHOLD
    if threshold == 0:
        yield from conn.bulk_query_pages(soql, include_deleted=True)
        return
    first = conn.query_page(soql, include_deleted=True)
    if threshold is not None and not first.get("done", True) and first.get("totalSize", 0) >= threshold:
        first = None   # its 2,000 records are not kept for as long as the job's pages take
        yield from conn.bulk_query_pages(soql, include_deleted=True)
    else:
        yield from conn.query_pages(soql, include_deleted=True, first=first)
