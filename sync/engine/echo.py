"""Own writes: what crmsync sent to HubSpot, so the next pull does not read it back.

Every batch write to HubSpot carries a marker, the `crmsync_write` property, one value per
call (`Ledger.begin`, committed before the request goes out), and the ledger keeps the newest
`updatedAt` HubSpot answered with (`Ledger.end`). A record whose last change is one of those
writes shows `crmsync_write` = its batch's marker and a last-modified time no later than the
batch's stamp. The incremental search therefore asks only for what the ledger does not explain
(`windows` builds the filter groups, HubSpotConnector.modified_since sends them):

* records modified since the watermark that have no marker, or a marker older than the
  window's first write (written by crmsync before, changed by someone else since);
* for each run of batches in the window, its records modified after the run's newest stamp.

The last point is where this gives something up: HubSpot's search cannot compare a record's
last-modified time with its own marker, only with a constant per filter group, so an edit made
to a record in the seconds between its batch's answer and the newest answer of the same group
(at most ECHO_GROUP_SPAN) is not asked for. Groups are cut at the longest pauses between writes
and never span more than HUBSPOT_ECHO_GROUP_SECONDS; each further search holds five.
A batch whose answer never came (a lost response, a killed run) has no stamp and explains
nothing: its group asks for every record modified in the window.

Salesforce needs none of this: SOQL can say "not last modified by crmsync's user" exactly, so
with SALESFORCE_SKIP_OWN_WRITES (a user crmsync alone logs in as) its incremental query leaves
those rows out (pull._not_own)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

MARKER_PROPERTY = "crmsync_write"
FIRST_SEARCH_GROUPS = 3   # with the two "not ours" groups: HubSpot allows five per search
MORE_SEARCH_GROUPS = 5    # three filters each: 15 of the 18 filters a search may hold
LAST = 2 ** 62            # the last group runs on: a marker beyond the window's belongs to a later write


@dataclass(frozen=True)
class Entry:
    marker: int
    stamp: datetime | None   # None: the batch's answer never came


@dataclass(frozen=True)
class Group:
    """Markers lo..hi (inclusive); records carrying one were written by crmsync and are asked
    for only if modified after `after` (None: every modification in the window is asked for)."""
    lo: int
    hi: int
    after: datetime | None


@dataclass(frozen=True)
class Window:
    first_marker: int            # records with an older marker (or none) are never ours here
    groups: tuple[Group, ...]


def windows(entries: list[Entry], *, floor: datetime, span: timedelta) -> Window | None:
    """The filter groups for an incremental search from `floor`. `entries` are the ledger's
    batches of one object type. Pure: the grouping is tested without HubSpot or a database.

    The window's batches are those with a stamp at or after `floor` or none at all; every
    later marker is grouped too, so the groups cover the markers from the first one on without
    a gap (a record carries the marker of crmsync's last write to it, whichever that was). The
    last group has no end: a write another process made after this window was read carries a
    newer marker and happened after the group's stamp, so its records are read.
    Batches are cut into runs at the longest pauses between stamps (a run's sync writes in
    phases), then any group longer than `span` is cut again."""
    entries = sorted(entries, key=lambda e: e.marker)
    start = next((i for i, e in enumerate(entries) if e.stamp is None or e.stamp >= floor), None)
    if start is None:
        return None
    inside = entries[start:]
    cuts = _longest_pauses(inside, FIRST_SEARCH_GROUPS - 1)
    groups: list[list[Entry]] = []
    for i, e in enumerate(inside):
        if not groups or i in cuts or _too_long(groups[-1], e, span):
            groups.append([])
        groups[-1].append(e)
    out = []
    for k, g in enumerate(groups):
        hi = groups[k + 1][0].marker - 1 if k + 1 < len(groups) else LAST
        stamps = [e.stamp for e in g]
        out.append(Group(lo=g[0].marker, hi=hi, after=None if None in stamps else max(stamps)))
    return Window(first_marker=inside[0].marker, groups=tuple(out))


def _longest_pauses(entries: list[Entry], n: int) -> set[int]:
    gaps = [((entries[i].stamp - entries[i - 1].stamp).total_seconds(), i) for i in range(1, len(entries))
            if entries[i].stamp and entries[i - 1].stamp]
    return {i for gap, i in sorted(gaps, reverse=True)[:n] if gap > 0}


def _too_long(group: list[Entry], e: Entry, span: timedelta) -> bool:
    first = next((x.stamp for x in group if x.stamp), None)
    return bool(first and e.stamp and e.stamp - first > span)


def searches(window: Window | None) -> list[list[Group]]:
    """The groups each search carries: the first also holds the two "not ours" groups."""
    if window is None:
        return []
    groups = list(window.groups)
    out = [groups[:FIRST_SEARCH_GROUPS]]
    rest = groups[FIRST_SEARCH_GROUPS:]
    out += [rest[i:i + MORE_SEARCH_GROUPS] for i in range(0, len(rest), MORE_SEARCH_GROUPS)]
    return out


# -- the ledger in the database ------------------------------------------------------------------

class Ledger:
    """What HubSpotConnector calls around each batch write (it knows no database)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def begin(self, object_type: str, records: int) -> int | None:
        """The batch's marker, committed; None inside a transaction (a marker whose ledger row
        could still be rolled back would hide the write's echo for good): the batch then goes
        without one and is read back like anyone's change."""
        from django.db import connection

        from sync.models import OwnWrite

        if connection.in_atomic_block:
            return None
        with self._lock:
            marker = self._last = max(int(time.time() * 1000), self._last + 1)
        OwnWrite.objects.create(object_type=object_type, marker=marker, records=records)
        return marker

    def end(self, object_type: str, marker: int, stamp: datetime | None) -> None:
        from sync.models import OwnWrite

        if stamp is not None:
            OwnWrite.objects.filter(object_type=object_type, marker=marker, stamp__isnull=True).update(stamp=stamp)


def window_for(object_type: str, floor: datetime) -> Window | None:
    from sync.models import OwnWrite

    rows = OwnWrite.objects.filter(crm="hubspot", object_type=object_type).filter(
        marker__gte=_first_marker(object_type, floor)).values_list("marker", "stamp")
    return windows([Entry(m, s) for m, s in rows], floor=floor, span=group_span())


def _first_marker(object_type: str, floor: datetime) -> int:
    """Markers are milliseconds of the write's start, so nothing before a day ahead of the
    floor can have a stamp inside the window (a batch answers within minutes)."""
    return int((floor - timedelta(days=1)).timestamp() * 1000)


def group_span() -> timedelta:
    return timedelta(seconds=settings.HUBSPOT_ECHO_GROUP_SECONDS)


def prune(before: datetime) -> None:
    """Batches that no watermark can reach any more (called when watermarks are saved)."""
    from sync.models import OwnWrite

    OwnWrite.objects.filter(created_at__lt=before - timedelta(days=2)).delete()
