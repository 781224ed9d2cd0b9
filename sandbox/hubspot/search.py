"""`POST /crm/v3/objects/{type}/search` (reference §2.3)."""
from __future__ import annotations

import fnmatch
import json
import re
from bisect import bisect_left, bisect_right

from sandbox.hubspot import shapes
from sandbox.hubspot.util import LASTMOD, TYPE_ALIASES, parse_time, validation_error

OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
             "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
MAX_GROUPS, MAX_PER_GROUP, MAX_TOTAL = 5, 6, 18
MAX_LIMIT, RESULT_CAP, MAX_BODY = 200, 10_000, 3_000
QUERY_PROPS = {
    "contacts": ["firstname", "lastname", "email", "phone", "hs_additional_emails", "fax", "mobilephone",
                 "company", "hs_marketable_until_renewal"],
    "companies": ["website", "phone", "name", "domain"],
    "deals": ["dealname", "pipeline", "dealstage", "description", "dealtype"],
}
_TOKEN_SPLIT = re.compile(r"[\s,;:!?()\[\]{}\"'<>/\\|]+")
_MULTI = {"checkbox"}


class _Prop:
    """How a property's values compare (by type)."""

    __slots__ = ("name", "kind", "multi", "enum")

    def __init__(self, name, ptype, field_type):
        self.name = name
        self.enum = ptype == "enumeration"
        self.multi = field_type in _MULTI
        if name == "hs_object_id" or ptype == "number":
            self.kind = "num"
        elif ptype in ("datetime", "date"):
            self.kind = "time"
        else:
            self.kind = "str"

    def key(self, v):
        """Comparable form of a stored or filter value (None when it doesn't parse)."""
        if v is None:
            return None
        if self.kind == "num":
            try:
                return float(v)
            except (TypeError, ValueError):
                return None
        if self.kind == "time":
            return parse_time(v)
        return str(v) if self.enum else str(v).lower()


def _parts(p: _Prop, v: str) -> list[str]:
    if p.multi:
        return [x for x in v.split(";") if x]
    return [v]


def _tokens(v: str) -> list[str]:
    low = v.lower()
    toks = [t for t in _TOKEN_SPLIT.split(low) if t]
    extra = []
    for t in toks:
        if "@" in t:
            local, _, domain = t.partition("@")
            extra += [local, domain]
    return toks + extra + [low]


class _Compiled:
    """A filter with its comparison values parsed once (not once per record)."""

    __slots__ = ("p", "op", "f", "want", "hi", "keys", "name")

    def __init__(self, p: _Prop, f: dict) -> None:
        self.p, self.f, self.op, self.name = p, f, f["operator"], f["propertyName"]
        self.want = p.key(f.get("value"))
        self.hi = p.key(f.get("highValue"))
        self.keys = {p.key(w) for w in (f.get("values") or [])}


def _match_filter(p: _Prop, op: str, stored, f: dict, c: _Compiled | None = None) -> bool:
    if op == "HAS_PROPERTY":
        return stored is not None and stored != ""
    if op == "NOT_HAS_PROPERTY":
        return stored is None or stored == ""
    negate = op in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN")
    if stored is None or stored == "":
        # UNCONFIRMED: records without a value match the negative operators (NOT(EQ) semantics)
        return negate
    vals = _parts(p, stored) if isinstance(stored, str) else [stored]
    if op in ("EQ", "NEQ"):
        want = c.want if c else p.key(f.get("value"))
        hit = any(p.key(v) == want for v in vals)
        return hit != negate
    if op in ("IN", "NOT_IN"):
        wanted = f.get("values") or []
        if p.kind == "str" and not p.enum:
            # string IN/NOT_IN: HubSpot lower-cases stored values; filter values must be lowercase
            hit = any(v.lower() in wanted for v in vals)
        else:
            keys = c.keys if c else {p.key(w) for w in wanted}
            hit = any(p.key(v) in keys for v in vals)
        return hit != negate
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pat = str(f.get("value") or "").lower()
        hit = False
        for v in vals:
            toks = _tokens(v)
            if "*" in pat:
                hit = any(fnmatch.fnmatchcase(t, pat) for t in toks)
            else:
                hit = pat in toks
            if hit:
                break
        return hit != negate
    k = p.key(stored)
    if k is None:
        return False
    if op == "BETWEEN":
        lo, hi = (c.want, c.hi) if c else (p.key(f.get("value")), p.key(f.get("highValue")))
        return lo is not None and hi is not None and lo <= k <= hi
    want = c.want if c else p.key(f.get("value"))
    if want is None:
        return False
    try:
        return {"LT": k < want, "LTE": k <= want, "GT": k > want, "GTE": k >= want}[op]
    except TypeError:
        return False


class SearchApi:
    def __init__(self, emu) -> None:
        self.emu = emu

    def _prop(self, otype: str, name: str) -> _Prop:
        d = self.emu.props.get(otype, name)
        if d is None:
            # UNCONFIRMED: unknown properties are treated as never set (no 400)
            return _Prop(name, "string", "text")
        return _Prop(name, d["type"], d["fieldType"])

    def parse(self, otype: str, req) -> dict:
        if len(req.body) > MAX_BODY:
            raise validation_error(f"Search request body exceeds the maximum length of {MAX_BODY} characters.")
        body = shapes.parse(req, shapes.SEARCH) or {}
        if not isinstance(body, dict):
            raise validation_error("Invalid input JSON: expected a search request object")
        groups = body.get("filterGroups")
        if groups is None and body.get("filters"):
            groups = [{"filters": body["filters"]}]  # legacy top-level `filters`
        groups = groups or []
        if not isinstance(groups, list):
            raise validation_error("filterGroups must be an array")
        if len(groups) > MAX_GROUPS:
            raise validation_error(f"Too many filter groups: {len(groups)}. The maximum is {MAX_GROUPS}.")
        total = 0
        parsed_groups = []
        for g in groups:
            filters = (g or {}).get("filters") or []
            if len(filters) > MAX_PER_GROUP:
                raise validation_error(f"Too many filters in a filter group: {len(filters)}. "
                                       f"The maximum is {MAX_PER_GROUP}.")
            total += len(filters)
            pg = []
            for f in filters:
                op = (f or {}).get("operator")
                name = (f or {}).get("propertyName")
                if op not in OPERATORS:
                    raise validation_error(f"Invalid operator: {op}")
                if not name:
                    raise validation_error("propertyName is required on every filter")
                if op in ("IN", "NOT_IN") and not isinstance(f.get("values"), list):
                    raise validation_error(f"Operator {op} requires `values`")
                if op == "BETWEEN" and (f.get("value") is None or f.get("highValue") is None):
                    raise validation_error("Operator BETWEEN requires `value` and `highValue`")
                if op in ("EQ", "NEQ", "LT", "LTE", "GT", "GTE", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN") \
                        and f.get("value") is None:
                    raise validation_error(f"Operator {op} requires `value`")
                pg.append(f)
            parsed_groups.append(pg)
        if total > MAX_TOTAL:
            raise validation_error(f"Too many filters: {total}. The maximum is {MAX_TOTAL} across all groups.")
        sorts = body.get("sorts") or []
        if len(sorts) > 1:
            raise validation_error("Only one sort is allowed per search request.")
        sort = None
        if sorts:
            s = sorts[0]
            if isinstance(s, str):  # "-createdate" / "createdate" (string form some clients send)
                sort = (s.lstrip("-"), s.startswith("-"))
            elif isinstance(s, dict) and s.get("propertyName"):
                direction = str(s.get("direction") or "ASCENDING").upper()
                if direction not in ("ASCENDING", "DESCENDING"):
                    raise validation_error(f"Invalid sort direction: {direction}")
                sort = (s["propertyName"], direction == "DESCENDING")
            else:
                raise validation_error("Invalid sort")
        try:
            limit = int(body.get("limit", 10) if body.get("limit") is not None else 10)
            after = int(body.get("after") or 0)
        except (TypeError, ValueError):
            raise validation_error("limit and after must be integers") from None
        if limit < 0 or limit > MAX_LIMIT:
            raise validation_error(f"limit must be between 0 and {MAX_LIMIT}, was {limit}")
        if after < 0:
            raise validation_error("after must not be negative")
        if after >= RESULT_CAP:
            # Reference §2.3: the 10,000-result cap; paging to offset 10,000 is a 400 (boundary and
            # text UNCONFIRMED; Airbyte restarts its query when after >= 10000).
            raise validation_error(f"Searching past {RESULT_CAP} results is not supported: after={after}. "
                                   "Narrow the query (e.g. by hs_object_id or a time window) instead.")
        props = body.get("properties")
        if props is not None and not isinstance(props, list):
            raise validation_error("properties must be an array")
        query = body.get("query")
        return {"groups": parsed_groups, "sort": sort, "limit": limit, "after": after, "properties": props,
                "query": query}

    # ---- candidate narrowing -----------------------------------------------------------------
    # Candidates are ids; which version of each the index holds (if any) is `store.view(id)`, and
    # every filter is checked again on that version, so a candidate list may be generous.
    @staticmethod
    def _lastmod_bounds(lastmod: str, group: list[dict]) -> tuple[int | None, int | None] | None:
        """(lo, hi) inclusive ms bounds from a group's range filters on the last-modified property;
        None when the group has none."""
        lo = hi = None
        found = False
        for f in group:
            name, op = f["propertyName"], f["operator"]
            if name != lastmod or op not in ("GT", "GTE", "LT", "LTE", "BETWEEN", "EQ"):
                continue
            v = parse_time(f.get("value"))
            if v is None:
                continue
            found = True
            if op in ("GTE", "BETWEEN", "EQ", "GT"):
                v_lo = v + 1 if op == "GT" else v
                lo = v_lo if lo is None else max(lo, v_lo)
            if op in ("LT", "LTE", "EQ"):
                v_hi = v - 1 if op == "LT" else v
                hi = v_hi if hi is None else min(hi, v_hi)
            if op == "BETWEEN":
                h = parse_time(f.get("highValue"))
                if h is not None:
                    hi = h if hi is None else min(hi, h)
        return (lo, hi) if found else None

    def _everything(self, store) -> list[int]:
        """Every id the index may hold: live records plus removals not indexed yet."""
        return store.live + store.lingering() if store.shadow else store.live

    def _candidates(self, otype, group) -> list[int] | None:
        store = self.emu.stores[otype]
        for f in group:
            name, op = f["propertyName"], f["operator"]
            if name == "hs_object_id" and op in ("EQ", "IN"):
                vals = [f.get("value")] if op == "EQ" else f.get("values")
                out = []
                for v in vals:
                    rec = store.get(v)
                    if rec is not None and rec.id not in out:
                        out.append(rec.id)
                return out
            if otype == "contacts" and name == "email" and op == "EQ" or (
                    name != "email" and name in store.uniq and op == "EQ"):
                rec = store.lookup_unique(name, f.get("value"))
                # the unique index follows current values; records with a pending write may still be
                # indexed under an old one
                out = [rec.id] if rec is not None else []
                return out + [r for r in store.shadow if not out or r != out[0]]
        bounds = self._lastmod_bounds(LASTMOD[otype], group)
        if bounds is not None:
            return store.mod_range(*bounds)
        for f in group:
            if f["propertyName"] == "hs_object_id" and f["operator"] in ("GT", "GTE", "BETWEEN"):
                try:
                    v = float(f.get("value"))
                except (TypeError, ValueError):
                    continue
                i = bisect_right(store.live, v) if f["operator"] == "GT" else bisect_left(store.live, v)
                return store.live[i:] + [r for r in store.lingering() if r >= v]
        return None

    def _fast(self, otype: str, q: dict) -> dict | None:
        """The incremental-sync query — one group of last-modified range filters, sorted by the
        last-modified property, no free text — answered from `mod` positions: O(page), not O(window)."""
        lastmod = LASTMOD[otype]
        if len(q["groups"]) != 1 or q.get("query") or not q["sort"] or q["sort"][0] != lastmod:
            return None
        group = q["groups"][0]
        if any(f["propertyName"] != lastmod or f["operator"] not in ("GT", "GTE", "LT", "LTE", "BETWEEN", "EQ")
               or parse_time(f.get("value")) is None
               or (f["operator"] == "BETWEEN" and parse_time(f.get("highValue")) is None) for f in group):
            return None
        store = self.emu.stores[otype]
        lo, hi = store.mod_bounds(*self._lastmod_bounds(lastmod, group))
        total = hi - lo
        after, limit = q["after"], q["limit"]
        end = min(after + limit, RESULT_CAP, total)
        if q["sort"][1]:  # descending: newest first, ties by id descending (as the general path sorts)
            ids = store.mod_slice(hi - end, hi - after)[::-1] if end > after else []
        else:
            ids = store.mod_slice(lo + after, lo + end) if end > after else []
        return self._page(otype, q, [store.view(rid) for rid in ids], total, end)

    def _page(self, otype: str, q: dict, page: list, total: int, end: int) -> dict:
        names = self.emu.objects.search_names(otype, q["properties"])
        body = {"total": total, "results": [self.emu.objects.render(otype, r, names) for r in page]}
        if end < total and q["limit"] > 0:
            body["paging"] = {"next": {"after": str(end)}}
        return body

    def run(self, otype: str, q: dict, now_ms: int) -> dict:
        emu = self.emu
        store = emu.stores[otype]
        store.catch_up(now_ms)  # writes whose delay has passed are searchable now
        fast = self._fast(otype, q)
        if fast is not None:
            return fast
        groups = q["groups"]
        # Each group over its own candidates (a search's groups are ORed): the echo filter's groups
        # of crmsync's own writes are narrow, and a record none of them names is checked once.
        per_group = [self._candidates(otype, g) for g in groups] if groups else None
        if per_group is not None and any(c is None for c in per_group):
            per_group = None
        compiled = [[_Compiled(self._prop(otype, f["propertyName"]), f) for f in g] for g in groups]
        view = store.view
        query = str(q["query"]).lower().strip() if q.get("query") else None
        lastmod = LASTMOD[otype]

        def value(rec, name):
            # derived properties compare as numbers straight from the record (no ISO round trip)
            if name == lastmod:
                return rec.updated
            if name == "createdate":
                return rec.created
            if name == "hs_object_id":
                return rec.id
            return rec.props.get(name)

        def passes(rec, rid, g) -> bool:
            for c in g:
                name = c.name
                if name.startswith("associations."):
                    if not self._assoc_match(otype, rid, name, c.f):
                        return False
                elif not _match_filter(c.p, c.op, value(rec, name), c.f, c):
                    return False
            return True

        def wanted(rec, rid) -> bool:
            return not query or any(query in (rec.props.get(n) or "").lower() for n in QUERY_PROPS[otype]) \
                or query == str(rid)

        matched = []
        if per_group is not None:
            seen: set[int] = set()
            for g, cand in zip(compiled, per_group, strict=True):
                for rid in cand:
                    if rid in seen:
                        continue
                    rec = view(rid)  # the indexed version: what search sees, which may lag the record
                    if rec is None or not passes(rec, rid, g):
                        continue
                    seen.add(rid)
                    if wanted(rec, rid):
                        matched.append(rec)
        else:
            for rid in self._everything(store):
                rec = view(rid)
                if rec is None or (compiled and not any(passes(rec, rid, g) for g in compiled)):
                    continue
                if wanted(rec, rid):
                    matched.append(rec)
        if q["sort"]:
            name, desc = q["sort"]
            p = self._prop(otype, name)
            if name in (lastmod, "createdate", "hs_object_id"):
                have = [(value(r, name), r.id, r) for r in matched]
            else:
                have = [(p.key(value(r, name)), r.id, r) for r in matched]
            present = [t for t in have if t[0] is not None]
            missing = [t[2] for t in have if t[0] is None]
            try:
                present.sort(key=lambda t: (t[0], t[1]), reverse=desc)
            except TypeError:
                present.sort(key=lambda t: (str(t[0]), t[1]), reverse=desc)
            # UNCONFIRMED: records without the sort property come last
            matched = [t[2] for t in present] + sorted(missing, key=lambda r: r.id)
        else:
            matched.sort(key=lambda r: (r.created, r.id))  # "oldest-created first"
        total = len(matched)
        end = min(q["after"] + q["limit"], RESULT_CAP)
        return self._page(otype, q, matched[q["after"]:end], total, end)

    def _assoc_match(self, otype, rid, name, f) -> bool:
        ttype = TYPE_ALIASES.get(name.split(".", 1)[1].lower())
        if ttype is None:
            return False
        targets = self.emu.assoc.targets(otype, rid, ttype)
        op = f["operator"]
        if op == "HAS_PROPERTY":
            return bool(targets)
        if op == "NOT_HAS_PROPERTY":
            return not targets
        vals = [f.get("value")] if op in ("EQ", "NEQ") else (f.get("values") or [])
        try:
            hit = any(int(v) in targets for v in vals)
        except (TypeError, ValueError):
            hit = False
        return (not hit) if op in ("NEQ", "NOT_IN") else hit


__all__ = ["SearchApi", "json"]
