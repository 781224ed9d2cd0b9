"""In-memory record store for one CRM object type, sized for ~1M records.

Layout (kept compact on purpose):
- `recs`: id(int) -> Record (live, archived and merged-away records);
- `live` / `archived_ids`: sorted id lists, so list paging by `after` is a bisect + slice (O(page));
- `mod`: sorted ints `updated_ms * _M + id` over the *search index's* versions of live records, so a
  `lastmodifieddate >= x` search (the incremental-sync query) bisects instead of scanning;
- search lag (see search_lag.py): while a write is waiting to be indexed, `shadow[id]` holds the
  version search still sees (a frozen Record, or None for "not in the index yet"), `queue[id]` the
  record's pending writes in order, and `heap` their (visible_at, seq, id); `catch_up(now)` moves
  due writes into the index. With the lag off none of these hold anything and `mod` follows writes;
- `uniq`: property -> lower-cased value -> id for `email` (+ `hs_additional_emails`) and every
  `hasUniqueValue` property.
Property values are stored as given strings; `createdate`, the last-modified property and
`hs_object_id` are derived from the record's slots when rendered (saves three strings per record).
"""
from __future__ import annotations

from bisect import bisect_left, insort
from heapq import heappop, heappush

from sandbox.hubspot.util import LASTMOD, iso, parse_time

_M = 10 ** 13  # id multiplier in the modification index (HubSpot ids are < 10^12)
_CURRENT = object()  # a queued write whose version is the record as it is now (the latest write)


class Record:
    __slots__ = ("id", "props", "created", "updated", "archived", "archived_at", "merged_into")

    def __init__(self, rid: int, props: dict, created: int, updated: int) -> None:
        self.id = rid
        self.props = props
        self.created = created
        self.updated = updated
        self.archived = False
        self.archived_at = 0
        self.merged_into = 0  # id of the record this one was merged into (new-id merge)


def _frozen(rec: Record) -> Record | None:
    """The version search would keep of `rec` as it is now (None: not in the index)."""
    if rec.archived:
        return None
    return Record(rec.id, dict(rec.props), rec.created, rec.updated)


class ObjectStore:
    def __init__(self, otype: str, unique_props: list[str], first_id: int, lag=None) -> None:
        self.otype = otype
        self.lastmod = LASTMOD[otype]
        self.first_id = first_id
        self.recs: dict[int, Record] = {}
        self.live: list[int] = []
        self.archived_ids: list[int] = []
        self.mod: list[int] = []
        self.uniq: dict[str, dict[str, int]] = {p: {} for p in unique_props}
        if otype == "contacts":
            self.uniq.setdefault("email", {})
        self.next_id = first_id
        self.lag = lag  # SearchLag shared with the emulator (None: writes are searchable at once)
        self.shadow: dict[int, Record | None] = {}
        self.queue: dict[int, list[list]] = {}
        self.heap: list[tuple[int, int, int]] = []
        self._seq = 0
        self.webhooks = None   # webhooks.Webhooks: each API write and UI edit becomes an event
        self.muted = False     # a merge sends its own events, not those of the writes it is made of

    def _hooked(self) -> bool:
        return self.webhooks is not None and self.webhooks.on and not self.muted

    # ---- ids ----------------------------------------------------------------------------
    def new_id(self) -> int:
        rid = self.next_id
        self.next_id += 1
        return rid

    def get(self, rid) -> Record | None:
        try:
            return self.recs.get(int(rid))
        except (TypeError, ValueError):
            return None

    def resolve(self, rid) -> Record | None:
        """Follow merged-away ids to the surviving record (HubSpot: old ids keep resolving)."""
        rec = self.get(rid)
        seen = 0
        while rec is not None and rec.merged_into and seen < 50:
            rec = self.recs.get(rec.merged_into)
            seen += 1
        return rec

    # ---- unique indexes -----------------------------------------------------------------
    def add_unique_prop(self, name: str) -> None:
        idx = self.uniq.setdefault(name, {})
        for rid in self.live:
            v = self.recs[rid].props.get(name)
            if v:
                idx.setdefault(v.lower(), rid)

    def unique_keys(self, name: str, value: str | None) -> list[str]:
        if not value:
            return []
        if self.otype == "contacts" and name == "hs_additional_emails":
            return [v.strip().lower() for v in value.split(";") if v.strip()]
        return [value.strip().lower()]

    def _index_name(self, prop: str) -> str | None:
        if self.otype == "contacts" and prop in ("email", "hs_additional_emails"):
            return "email"
        return prop if prop in self.uniq else None

    def conflicts(self, props: dict, self_id: int | None) -> tuple[str, str, int] | None:
        """First (prop, value, existing id) whose unique value is held by another live record."""
        for prop, value in props.items():
            idx_name = self._index_name(prop)
            if idx_name is None or value is None:
                continue
            idx = self.uniq[idx_name]
            for key in self.unique_keys(prop, value):
                other = idx.get(key)
                if other is not None and other != self_id:
                    return prop, value, other
        return None

    def lookup_unique(self, prop: str, value: str) -> Record | None:
        idx_name = self._index_name(prop)
        if idx_name is None or value is None:
            return None
        rid = self.uniq[idx_name].get(str(value).strip().lower())
        return self.recs.get(rid) if rid is not None else None

    def _unindex(self, rec: Record) -> None:
        for prop, value in rec.props.items():
            idx_name = self._index_name(prop)
            if idx_name is None:
                continue
            idx = self.uniq[idx_name]
            for key in self.unique_keys(prop, value):
                if idx.get(key) == rec.id:
                    del idx[key]

    def _index(self, rec: Record) -> None:
        for prop, value in rec.props.items():
            idx_name = self._index_name(prop)
            if idx_name is None:
                continue
            idx = self.uniq[idx_name]
            for key in self.unique_keys(prop, value):
                idx[key] = rec.id

    # ---- writes ---------------------------------------------------------------------------
    def insert(self, rec: Record, written_at: int | None = None) -> None:
        """Add a record. `written_at` (sandbox ms) marks an API write, which search sees only after
        its lag; None (loading a scenario) indexes it at once."""
        self.recs[rec.id] = rec
        if rec.id >= self.next_id:
            self.next_id = rec.id + 1
        if rec.archived:
            insort(self.archived_ids, rec.id)
            return
        queued = written_at is not None and self._queue_write(rec, written_at, new=True)
        if written_at is not None and self._hooked():
            self.webhooks.emit(self.otype, "creation", rec.id, written_at)
        if not self.live or rec.id > self.live[-1]:
            self.live.append(rec.id)
        else:
            insort(self.live, rec.id)
        if not queued:
            self._mod_add(rec)
        self._index(rec)

    # ---- search index lag -----------------------------------------------------------------------
    def _queue_write(self, rec: Record, now_ms: int, *, new: bool = False) -> bool:
        """Called just before `rec` changes. With the lag on, remember what search sees until this
        write is indexed and queue the write; False (lag off) means the caller updates `mod` itself."""
        if self.lag is None or not self.lag.on:
            return False
        rid = rec.id
        q = self.queue.get(rid)
        if q is None:
            # search sees the version from before this write (nothing, for a new record)
            self.shadow[rid] = None if new else _frozen(rec)
            q = self.queue[rid] = []
        elif q[-1][1] is _CURRENT:
            q[-1][1] = _frozen(rec)  # the previous pending write's version, before this one changes it
        # one record's writes reach the index in the order they were made (different records' need not)
        visible = max(now_ms + self.lag.draw(), q[-1][0] if q else 0)
        q.append([visible, _CURRENT])
        heappush(self.heap, (visible, self._seq, rid))
        self._seq += 1
        return True

    def catch_up(self, now_ms: float) -> None:
        """Index every write whose delay has passed by `now_ms` (the sandbox clock)."""
        heap = self.heap
        while heap and heap[0][0] <= now_ms:
            _, _, rid = heappop(heap)
            q = self.queue.get(rid)
            if not q:
                continue  # purged (GDPR delete) while pending
            _, version = q.pop(0)
            old = self.shadow[rid]
            if q:
                self.shadow[rid] = version
                new = version
            else:  # the record's last pending write: search sees the record as it is now
                del self.queue[rid], self.shadow[rid]
                rec = self.recs.get(rid)
                new = rec if rec is not None and not rec.archived else None
            if old is not None:
                self._mod_remove(old)
            if new is not None:
                self._mod_add(new)

    def flush(self) -> None:
        """Index every pending write now (the lag was switched off)."""
        self.catch_up(float("inf"))

    def view(self, rid: int) -> Record | None:
        """The version of a record the search index holds (None: not searchable)."""
        if rid in self.shadow:
            return self.shadow[rid]
        rec = self.recs.get(rid)
        return rec if rec is not None and not rec.archived else None

    def lingering(self) -> list[int]:
        """Ids archived (or merged away) whose removal hasn't reached the index yet."""
        return [rid for rid, v in self.shadow.items() if v is not None and self.recs[rid].archived]

    def _mod_add(self, rec: Record) -> None:
        key = rec.updated * _M + rec.id
        if not self.mod or key > self.mod[-1]:
            self.mod.append(key)
        else:
            insort(self.mod, key)

    def _mod_remove(self, rec: Record) -> None:
        key = rec.updated * _M + rec.id
        i = bisect_left(self.mod, key)
        if i < len(self.mod) and self.mod[i] == key:
            del self.mod[i]

    def apply(self, rec: Record, changes: dict[str, str | None], now_ms: int) -> None:
        """Write normalized property changes and bump the modification time."""
        live = not rec.archived
        queued = live and self._queue_write(rec, now_ms)
        if live:
            self._unindex(rec)
            if not queued:
                self._mod_remove(rec)
        props = rec.props
        before = {k: props.get(k) for k in changes if k != "createdate"} if self._hooked() else None
        for k, v in changes.items():
            if k == "createdate":
                if v is not None:
                    rec.created = parse_time(v) or rec.created
                continue
            if v is None:
                props.pop(k, None)
            else:
                props[k] = v
        rec.updated = max(now_ms, rec.updated)
        if live:
            if not queued:
                self._mod_add(rec)
            self._index(rec)
        if before is not None:
            self.webhooks.property_changes(self.otype, rec.id, before, {k: props.get(k) for k in before}, now_ms)

    def archive(self, rec: Record, now_ms: int) -> None:
        if rec.archived:
            return
        if not self._queue_write(rec, now_ms):
            self._mod_remove(rec)
        self._unindex(rec)
        i = bisect_left(self.live, rec.id)
        if i < len(self.live) and self.live[i] == rec.id:
            del self.live[i]
        rec.archived = True
        rec.archived_at = now_ms
        insort(self.archived_ids, rec.id)
        if self.webhooks is not None and self.webhooks.on:   # a merge's merged-away ids get one too (reference §2.7)
            self.webhooks.emit(self.otype, "deletion", rec.id, now_ms)

    def purge(self, rec: Record) -> None:
        """Remove an archived record for good (GDPR delete); it leaves the search index at once."""
        i = bisect_left(self.archived_ids, rec.id)
        if i < len(self.archived_ids) and self.archived_ids[i] == rec.id:
            del self.archived_ids[i]
        old = self.shadow.pop(rec.id, None)
        self.queue.pop(rec.id, None)
        if old is not None:
            self._mod_remove(old)
        self.recs.pop(rec.id, None)

    # ---- reads ------------------------------------------------------------------------------
    def page(self, after: int, limit: int, archived: bool) -> tuple[list[Record], int | None]:
        ids = self.archived_ids if archived else self.live
        i = bisect_left(ids, after)
        chunk = ids[i:i + limit]
        nxt = ids[i + limit] if i + limit < len(ids) else None
        return [self.recs[r] for r in chunk], nxt

    def mod_bounds(self, lo_ms: int | None, hi_ms: int | None) -> tuple[int, int]:
        """Positions in `mod` of the indexed versions with lo <= updated <= hi."""
        lo = 0 if lo_ms is None else bisect_left(self.mod, lo_ms * _M)
        hi = len(self.mod) if hi_ms is None else bisect_left(self.mod, (hi_ms + 1) * _M)
        return lo, max(lo, hi)

    def mod_range(self, lo_ms: int | None, hi_ms: int | None) -> list[int]:
        """Ids whose indexed version has lo <= updated <= hi, in modification order."""
        lo, hi = self.mod_bounds(lo_ms, hi_ms)
        return [k % _M for k in self.mod[lo:hi]]

    def mod_slice(self, start: int, stop: int) -> list[int]:
        return [k % _M for k in self.mod[start:stop]]

    def value(self, rec: Record, name: str) -> str | None:
        """A property's current string value, including the derived ones."""
        if name == "hs_object_id":
            return str(rec.id)
        if name == "createdate":
            return iso(rec.created)
        if name == self.lastmod:
            return iso(rec.updated)
        return rec.props.get(name)
