"""In-memory record store for one CRM object type, sized for ~1M records.

Layout (kept compact on purpose):
- `recs`: id(int) -> Record (live, archived and merged-away records);
- `live` / `archived_ids`: sorted id lists, so list paging by `after` is a bisect + slice (O(page));
- `mod`: sorted ints `updated_ms * _M + id` over live records, so a `lastmodifieddate >= x` search
  (the incremental-sync query) bisects instead of scanning;
- `uniq`: property -> lower-cased value -> id for `email` (+ `hs_additional_emails`) and every
  `hasUniqueValue` property.
Property values are stored as given strings; `createdate`, the last-modified property and
`hs_object_id` are derived from the record's slots when rendered (saves three strings per record).
"""
from __future__ import annotations

from bisect import bisect_left, insort

from sandbox.hubspot.util import LASTMOD, iso, parse_time

_M = 10 ** 13  # id multiplier in the modification index (HubSpot ids are < 10^12)


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


class ObjectStore:
    def __init__(self, otype: str, unique_props: list[str], first_id: int) -> None:
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
    def insert(self, rec: Record) -> None:
        self.recs[rec.id] = rec
        if rec.id >= self.next_id:
            self.next_id = rec.id + 1
        if rec.archived:
            insort(self.archived_ids, rec.id)
            return
        if not self.live or rec.id > self.live[-1]:
            self.live.append(rec.id)
        else:
            insort(self.live, rec.id)
        self._mod_add(rec)
        self._index(rec)

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
        if live:
            self._unindex(rec)
            self._mod_remove(rec)
        props = rec.props
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
            self._mod_add(rec)
            self._index(rec)

    def archive(self, rec: Record, now_ms: int) -> None:
        if rec.archived:
            return
        self._unindex(rec)
        self._mod_remove(rec)
        i = bisect_left(self.live, rec.id)
        if i < len(self.live) and self.live[i] == rec.id:
            del self.live[i]
        rec.archived = True
        rec.archived_at = now_ms
        insort(self.archived_ids, rec.id)

    # ---- reads ------------------------------------------------------------------------------
    def page(self, after: int, limit: int, archived: bool) -> tuple[list[Record], int | None]:
        ids = self.archived_ids if archived else self.live
        i = bisect_left(ids, after)
        chunk = ids[i:i + limit]
        nxt = ids[i + limit] if i + limit < len(ids) else None
        return [self.recs[r] for r in chunk], nxt

    def mod_range(self, lo_ms: int | None, hi_ms: int | None) -> list[int]:
        """Live ids with lo <= updated <= hi, in modification order."""
        lo = 0 if lo_ms is None else bisect_left(self.mod, lo_ms * _M)
        hi = len(self.mod) if hi_ms is None else bisect_left(self.mod, (hi_ms + 1) * _M)
        return [k % _M for k in self.mod[lo:hi]]

    def value(self, rec: Record, name: str) -> str | None:
        """A property's current string value, including the derived ones."""
        if name == "hs_object_id":
            return str(rec.id)
        if name == "createdate":
            return iso(rec.created)
        if name == self.lastmod:
            return iso(rec.updated)
        return rec.props.get(name)
