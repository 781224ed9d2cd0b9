"""Query execution, result projection and server-side cursors (`nextRecordsUrl`).

A cursor snapshots the matching rows when the first page is served, so later pages cost
O(page) and stay consistent while other writes happen (values are read live, as Salesforce
reads them when it serves a page)."""
from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter, OrderedDict
from dataclasses import dataclass
from functools import lru_cache

from sandbox.salesforce.schema import SObject, format_datetime
from sandbox.salesforce.store import ID, IS_DELETED, MODSTAMP, RECYCLE_BIN_SECONDS, ApiError, Store
from sandbox.soql import Compiled, SoqlError, compile_query

CURSOR_IDLE_SECONDS = 15 * 60     # Salesforce closes query cursors after 15 idle minutes
MAX_CURSORS = 2000


@dataclass
class Cursor:
    compiled: Compiled
    rows: list[list]
    last_used: float


@lru_cache(maxsize=512)
def compiled(text: str) -> Compiled:
    return compile_query(text)


def page_size(header: str | None) -> int:
    """`Sforce-Query-Options: batchSize=N`: default 2,000, clamped to 200–2,000 (reference §2.1)."""
    size = 2000
    for part in (header or "").split(","):
        name, _, value = part.partition("=")
        if name.strip().lower() == "batchsize" and value.strip().isdigit():
            size = min(2000, max(200, int(value.strip())))
    return size


class QueryEngine:
    def __init__(self, store: Store, seed: int) -> None:
        self.store = store
        self.seed = seed
        # How many times each query text was run: its n-th run's shuffle. Keyed by the text, not one
        # counter for all, so queries that arrive side by side (a client's parallel pulls) get the
        # same orders whichever lands first, and a repeated query still comes back reordered.
        self.runs: Counter[str] = Counter()
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self.locators = itertools.count(1)

    def run(self, text: str, *, include_deleted: bool, order_mode: str, now: int) -> tuple[Compiled, list[list]]:
        try:
            c = compiled(text)
        except SoqlError as e:
            raise ApiError(e.code, e.message) from None
        store = self.store
        rows = store.candidates(c.sobject, c.index_hint)
        pred, lookup = c.predicate, store.records.get
        purge_before = now - RECYCLE_BIN_SECONDS
        if include_deleted:
            keep = [r for r in rows if not (r[IS_DELETED] and r[MODSTAMP] < purge_before)
                    and (pred is None or pred(r, lookup))]
        elif pred is None:
            keep = [r for r in rows if not r[IS_DELETED]]
        else:
            keep = [r for r in rows if not r[IS_DELETED] and pred(r, lookup)]
        # No ORDER BY means no order: never hand back insertion order by accident. Shuffling before
        # an ORDER BY too makes ties come back in arbitrary order, as Salesforce warns they may
        # (pointless when Id is a sort key: there are no ties then).
        total_order = any(col.relationship is None and col.field.name == "Id" for col in c.order_columns)
        if order_mode == "random" and not total_order:
            self.runs[text] += 1
            random.Random(f"{self.seed}:{text}:{self.runs[text]}").shuffle(keep)
        elif order_mode == "reverse":
            keep.reverse()
        if c.order:
            keep = self._sort(keep, c, lookup)
        if c.offset:
            keep = keep[c.offset:]
        if c.limit is not None:
            keep = keep[:c.limit]
        return c, keep

    @staticmethod
    def _sort(rows: list[list], c: Compiled, lookup) -> list[list]:
        def part(get, desc, nulls_last, fold):
            def key(r):
                v = get(r, lookup)
                if v is None:
                    return (0 if nulls_last == desc else 2, 0)
                return (1, v.lower() if fold and isinstance(v, str) else v)
            return key
        parts = [(part(get, desc, nulls_last, fold), desc) for get, desc, nulls_last, fold in c.order]
        if len({desc for _, desc in parts}) == 1:
            # One direction: a single tuple key, and only the first LIMIT+OFFSET rows when limited.
            keys = [k for k, _ in parts]
            desc = parts[0][1]
            key = keys[0] if len(keys) == 1 else (lambda r: tuple(k(r) for k in keys))
            if c.limit is not None and c.limit + (c.offset or 0) < len(rows) // 4:
                pick = heapq.nlargest if desc else heapq.nsmallest
                return pick(c.limit + (c.offset or 0), rows, key=key)
            rows.sort(key=key, reverse=desc)
            return rows
        for key, desc in reversed(parts):     # mixed directions: stable passes, last key first
            rows.sort(key=key, reverse=desc)
        return rows

    def first_page(self, c: Compiled, rows: list[list], *, size: int, version: str, now: float) -> dict:
        if c.count:
            return {"totalSize": len(rows), "done": True, "records": []}
        return self._page(c, rows, 0, size, version, None, now)

    def next_page(self, locator: str, offset: int, *, size: int, version: str, now: float) -> dict:
        cur = self.cursors.get(locator)
        if cur is None or now - cur.last_used > CURSOR_IDLE_SECONDS or offset > len(cur.rows):
            self.cursors.pop(locator, None)
            raise ApiError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(cur.compiled, cur.rows, offset, size, version, locator, now)

    def _page(self, c: Compiled, rows: list[list], offset: int, size: int, version: str,
              locator: str | None, now: float) -> dict:
        chunk = rows[offset: offset + size]
        out = {"totalSize": len(rows), "done": offset + size >= len(rows),
               "records": [project(self.store, c, r, version) for r in chunk]}
        if not out["done"]:
            if locator is None:
                locator = f"01gSb{next(self.locators):010d}AAA"
                self.cursors[locator] = Cursor(c, rows, now)
                while len(self.cursors) > MAX_CURSORS:
                    self.cursors.popitem(last=False)
            else:
                self.cursors[locator].last_used = now
                self.cursors.move_to_end(locator)
            out["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{offset + size}"
        elif locator is not None:
            self.cursors.pop(locator, None)
        return out


def value_out(kind: str, v: object) -> object:
    return format_datetime(v) if kind == "datetime" and v is not None else v


def attributes(obj: SObject, rid: str, version: str) -> dict:
    return {"type": obj.name, "url": f"/services/data/v{version}/sobjects/{obj.name}/{rid}"}


def project(store: Store, c: Compiled, rec: list, version: str) -> dict:
    out: dict = {"attributes": attributes(c.sobject, rec[ID], version)}
    for col in c.columns:
        if col.relationship is None:
            out[col.field.name] = value_out(col.field.kind, rec[col.field.pos])
            continue
        name = col.relationship.relationship
        if name not in out:
            parent = store.get(rec[col.relationship.pos])
            out[name] = None if parent is None else {"attributes": attributes(col.target, parent[ID], version)}
        if out[name] is not None:
            parent = store.get(rec[col.relationship.pos])
            out[name][col.field.name] = value_out(col.field.kind, parent[col.field.pos])
    return out


def full_record(store: Store, obj: SObject, rec: list, version: str, fields: list[str] | None = None) -> dict:
    out: dict = {"attributes": attributes(obj, rec[ID], version)}
    chosen = obj.visible() if not fields else [obj.by_lower[f.lower()] for f in fields]
    for f in chosen:
        out[f.name] = value_out(f.kind, rec[f.pos])
    return out
