"""Contact lists (v3 Lists API, "segments" in HubSpot's UI): definitions and memberships.

Paths and shapes from hubspot-api-client 12's `crm.lists` package and HubSpot's Lists API guide:

- `POST /crm/v3/lists/` (ListCreateRequest: name, objectTypeId, processingType required) →
  `{"list": PublicObjectList}`; `GET /crm/v3/lists/{listId}` → `{"list": …}`; `GET /crm/v3/lists/?listIds=…`
  → `{"lists": […]}`; `GET /crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}`;
  `POST /crm/v3/lists/search` (query, count ≤ 500, offset, processingTypes) → `{lists, total, offset, hasMore}`;
  `DELETE /crm/v3/lists/{listId}` → 204 and `PUT …/restore` → 204.
- Memberships, only for `MANUAL` and `SNAPSHOT` lists (the guide: "This endpoint only works for
  lists that have a processingType of MANUAL or SNAPSHOT"): `PUT …/memberships/add` and
  `…/remove` take a JSON array of record ids, `PUT …/memberships/add-and-remove` takes
  `{recordIdsToAdd, recordIdsToRemove}`; all answer MembershipsUpdateResponse, whose "added" key is
  spelled `recordsIdsAdded` in HubSpot's API. Ids that are no record are `recordIdsMissing`.
- `GET /crm/v3/lists/{listId}/memberships` (after, before, limit ≤ 250, default 100): members in
  ascending `recordId` order, `{"results": [{recordId, membershipTimestamp}], "paging", "total"}`.
  `GET /crm/v3/lists/records/{objectTypeId}/{recordId}/memberships` → the lists a record is in.

A `DYNAMIC` (active) list holds the live records matching its `filterBranch`; this emulator
evaluates the filters when the memberships are read and supports PROPERTY filters on string
properties (IS_EQUAL_TO, IS_NOT_EQUAL_TO, CONTAINS, DOES_NOT_CONTAIN, STARTS_WITH, ENDS_WITH,
IS_KNOWN, IS_UNKNOWN) under HubSpot's required OR-of-AND branches; any other filter is refused
with a 400 that says so. HubSpot processes an active list in the background (seconds to minutes):
that lag is not modelled. Deleted records leave every list; a merged-away contact's static
memberships go to the contact it was merged into (UNCONFIRMED: HubSpot's docs do not say).
Error wordings are UNCONFIRMED; the categories follow HubSpot's v3 error body.
"""
from __future__ import annotations

from sandbox.hubspot import shapes
from sandbox.hubspot.util import HubSpotError, iso, json_response, list_arg, validation_error

OBJECT_TYPE_IDS = {"0-1": "contacts", "0-2": "companies", "0-3": "deals"}
PROCESSING_TYPES = ("MANUAL", "DYNAMIC", "SNAPSHOT")
FIRST_LIST_ID = 11
MEMBERS_MAX = 250
SEARCH_MAX = 500
STRING_OPERATORS = ("IS_EQUAL_TO", "IS_NOT_EQUAL_TO", "CONTAINS", "DOES_NOT_CONTAIN", "STARTS_WITH", "ENDS_WITH")
KNOWN_OPERATORS = ("IS_KNOWN", "IS_UNKNOWN")

LIST_CREATE = shapes.Obj("ListCreateRequest", name=shapes.STR, objectTypeId=shapes.STR, processingType=shapes.STR,
                         listFolderId=shapes.INT, customProperties=shapes.Map(shapes.STR))
LIST_SEARCH = shapes.Obj("ListSearchRequest", query=shapes.STR, count=shapes.INT, offset=shapes.INT,
                         processingTypes=shapes.Arr(shapes.STR), listIds=shapes.Arr(shapes.STR))
RECORD_IDS = shapes.Arr(shapes.STR)
ADD_AND_REMOVE = shapes.Obj("MembershipChangeRequest", recordIdsToAdd=RECORD_IDS, recordIdsToRemove=RECORD_IDS)


def _not_found(list_id) -> HubSpotError:
    return HubSpotError(404, "OBJECT_NOT_FOUND", f"List {list_id} does not exist.")


class Lists:
    def __init__(self, emulator) -> None:
        self.hs = emulator
        self.reset()

    def reset(self) -> None:
        self.defs: dict[int, dict] = {}
        self.members: dict[int, dict[int, int]] = {}   # MANUAL/SNAPSHOT: list id → record id → joined (ms)
        self.next_id = FIRST_LIST_ID

    # ---- definitions -------------------------------------------------------------------------------
    def create(self, body: dict, now: int) -> dict:
        name = (body.get("name") or "").strip()
        if not name:
            raise validation_error("A list needs a name.")
        type_id = body.get("objectTypeId") or ""
        if type_id not in OBJECT_TYPE_IDS:
            raise validation_error(f"Unknown objectTypeId {type_id!r}: use 0-1 (contacts), 0-2 (companies) or 0-3 (deals).")
        kind = body.get("processingType") or ""
        if kind not in PROCESSING_TYPES:
            raise validation_error(f"processingType must be one of {', '.join(PROCESSING_TYPES)}, not {kind!r}.")
        if any(d["name"].lower() == name.lower() and d["objectTypeId"] == type_id and not d["deletedAt"]
               for d in self.defs.values()):
            raise validation_error(f"A list named {name!r} already exists.")
        branch = body.get("filterBranch")
        if kind == "DYNAMIC":
            _check_branch(branch)
        elif branch is not None and kind == "MANUAL":
            raise validation_error("A MANUAL list has no filters: leave filterBranch out.")
        lid = self.next_id
        self.next_id += 1
        d = {"listId": lid, "name": name, "objectTypeId": type_id, "processingType": kind, "processingStatus": "COMPLETE",
             "listVersion": 1, "createdAt": now, "updatedAt": now, "filtersUpdatedAt": now, "deletedAt": 0,
             "createdById": "1", "updatedById": "1", "filterBranch": branch}
        self.defs[lid] = d
        self.members[lid] = {}
        if kind == "SNAPSHOT" and branch is not None:
            self.members[lid] = dict.fromkeys(self._matching(d), now)
        return d

    def get(self, list_id, *, deleted: bool = False) -> dict:
        try:
            d = self.defs.get(int(list_id))
        except (TypeError, ValueError):
            d = None
        if d is None or (d["deletedAt"] and not deleted):
            raise _not_found(list_id)
        return d

    def view(self, d: dict, *, filters: bool = False) -> dict:
        out = {k: d[k] for k in ("name", "objectTypeId", "processingType", "processingStatus", "listVersion",
                                 "createdById", "updatedById")}
        out["listId"] = str(d["listId"])
        out["size"] = len(self.member_ids(d))
        for k in ("createdAt", "updatedAt", "filtersUpdatedAt"):
            out[k] = iso(d[k])
        if d["deletedAt"]:
            out["deletedAt"] = iso(d["deletedAt"])
        if filters and d["filterBranch"] is not None:
            out["filterBranch"] = d["filterBranch"]
        return out

    # ---- memberships -------------------------------------------------------------------------------
    def _store(self, d: dict):
        return self.hs.stores[OBJECT_TYPE_IDS[d["objectTypeId"]]]

    def _matching(self, d: dict) -> list[int]:
        store = self._store(d)
        return [rid for rid in store.live if _matches(d["filterBranch"], lambda n, r=store.recs[rid]: store.value(r, n))]

    def joined(self, d: dict) -> dict[int, int]:
        """record id → when it joined, for the records in the list now (ascending ids)."""
        if d["processingType"] == "DYNAMIC":
            return {rid: d["filtersUpdatedAt"] for rid in sorted(self._matching(d))}
        store, out = self._store(d), {}
        for rid, at in self.members[d["listId"]].items():
            rec = store.resolve(rid)
            if rec is not None and not rec.archived:
                out[rec.id] = min(at, out.get(rec.id, at))
        return dict(sorted(out.items()))

    def member_ids(self, d: dict) -> list[int]:
        return list(self.joined(d))

    def change(self, d: dict, add: list[str], remove: list[str], now: int) -> dict:
        if d["processingType"] == "DYNAMIC":
            raise validation_error(f"List {d['listId']} is a DYNAMIC list: its members follow its filters and cannot "
                                   "be added or removed by hand.")
        store, members = self._store(d), self.members[d["listId"]]
        current = self.joined(d)
        added, removed, missing = [], [], []
        for raw in remove:
            rec = store.resolve(raw)
            if rec is None or rec.archived:
                missing.append(raw)
            elif rec.id in current:
                for rid in [r for r in members if (x := store.resolve(r)) is not None and x.id == rec.id]:
                    del members[rid]
                current.pop(rec.id)
                removed.append(str(rec.id))
        for raw in add:
            rec = store.resolve(raw)
            if rec is None or rec.archived:
                missing.append(raw)
            elif rec.id not in current:
                members[rec.id] = current[rec.id] = now
                added.append(str(rec.id))
        if added or removed:
            d["updatedAt"] = now
        return {"recordIdsRemoved": removed, "recordsIdsAdded": added, "recordIdsMissing": missing}

    # ---- sandbox side ------------------------------------------------------------------------------
    def load(self, raw: dict, now: int) -> dict:
        """A scenario's list: {"name", "processingType" (MANUAL), "objectTypeId" (0-1), "members": [ids],
        "filterBranch"}."""
        d = self.create({"name": raw.get("name"), "objectTypeId": raw.get("objectTypeId", "0-1"),
                         "processingType": raw.get("processingType", "MANUAL"), "filterBranch": raw.get("filterBranch")},
                        now)
        if raw.get("members"):
            result = self.change(d, [str(m) for m in raw["members"]], [], now)
            if result["recordIdsMissing"]:
                raise ValueError(f"list {d['name']!r}: no records {result['recordIdsMissing']}")
        return self.view(d)

    # ---- HTTP ----------------------------------------------------------------------------------------
    def handle(self, req, parts: list[str]):
        """parts: the path after `/crm/v3/lists`."""
        m, now = req.method, self.hs.now_ms()
        if not parts:
            if m == "POST":
                return json_response(200, {"list": self.view(self.create(shapes.parse(req, LIST_CREATE) or {}, now),
                                                             filters=True)})
            if m == "GET":
                ids = list_arg(req, "listIds") or []
                found = []
                for lid in ids:
                    try:
                        found.append(self.view(self.get(lid), filters=_bool(req, "includeFilters")))
                    except HubSpotError:
                        continue
                return json_response(200, {"lists": found})
            return None
        if parts == ["search"] and m == "POST":
            return json_response(200, self._search(shapes.parse(req, LIST_SEARCH) or {}))
        if len(parts) == 4 and parts[0] == "object-type-id" and parts[2] == "name" and m == "GET":
            for d in self.defs.values():
                if d["objectTypeId"] == parts[1] and d["name"].lower() == parts[3].lower() and not d["deletedAt"]:
                    return json_response(200, {"list": self.view(d, filters=_bool(req, "includeFilters"))})
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"List {parts[3]!r} does not exist.")
        if len(parts) == 4 and parts[0] == "records" and parts[3] == "memberships" and m == "GET":
            return json_response(200, self._record_lists(parts[1], parts[2]))
        if len(parts) == 1 and m == "GET":
            return json_response(200, {"list": self.view(self.get(parts[0]), filters=_bool(req, "includeFilters"))})
        if len(parts) == 1 and m == "DELETE":
            d = self.get(parts[0])
            d["deletedAt"] = now
            return json_response(204, None)
        if parts[1:] == ["restore"] and m == "PUT":
            d = self.get(parts[0], deleted=True)
            d["deletedAt"] = 0
            return json_response(204, None)
        if len(parts) >= 2 and parts[1] == "memberships":
            return self._memberships(req, self.get(parts[0]), parts[2:], now)
        return None

    def _memberships(self, req, d: dict, rest: list[str], now: int):
        m = req.method
        if not rest and m == "GET":
            return json_response(200, self._page(req, d))
        if not rest and m == "DELETE":
            self.change(d, [], [str(r) for r in self.member_ids(d)], now)
            return json_response(204, None)
        if rest == ["add"] and m == "PUT":
            return json_response(200, self.change(d, shapes.parse(req, RECORD_IDS) or [], [], now))
        if rest == ["remove"] and m == "PUT":
            return json_response(200, self.change(d, [], shapes.parse(req, RECORD_IDS) or [], now))
        if rest == ["add-and-remove"] and m == "PUT":
            body = shapes.parse(req, ADD_AND_REMOVE) or {}
            return json_response(200, self.change(d, body.get("recordIdsToAdd") or [], body.get("recordIdsToRemove") or [],
                                                  now))
        return None

    def _page(self, req, d: dict) -> dict:
        limit = _int(req, "limit", 100)
        if not 1 <= limit <= MEMBERS_MAX:
            raise validation_error(f"limit must be between 1 and {MEMBERS_MAX}, not {limit}.")
        joined = self.joined(d)
        ids = list(joined)
        after, before = req.arg("after"), req.arg("before")
        if after:
            start = _int_value(after, "after")
            chosen = [r for r in ids if r > start][:limit]
            more = len([r for r in ids if r > start]) > limit
        elif before:
            end = _int_value(before, "before")
            chosen = [r for r in reversed(ids) if r < end][:limit]
            more = len([r for r in ids if r < end]) > limit
        else:
            chosen, more = ids[:limit], len(ids) > limit
        body = {"results": [{"recordId": str(r), "membershipTimestamp": iso(joined[r])} for r in chosen],
                "total": len(ids)}
        if more and chosen:
            body["paging"] = {"next": {"after": str(chosen[-1])}} if not before or after else {
                "prev": {"before": str(chosen[-1])}}
        return body

    def _search(self, body: dict) -> dict:
        count = body.get("count", 20)
        if not 1 <= count <= SEARCH_MAX:
            raise validation_error(f"count must be between 1 and {SEARCH_MAX}, not {count}.")
        offset = max(body.get("offset") or 0, 0)
        kinds = set(body.get("processingTypes") or PROCESSING_TYPES)
        query = (body.get("query") or "").lower()
        wanted_ids = set(body.get("listIds") or [])
        found = [d for d in sorted(self.defs.values(), key=lambda d: d["listId"])
                 if not d["deletedAt"] and d["processingType"] in kinds and query in d["name"].lower()
                 and (not wanted_ids or str(d["listId"]) in wanted_ids)]
        page = found[offset:offset + count]
        out = []
        for d in page:
            v = self.view(d)
            v["additionalProperties"] = {"hs_list_size": str(v.pop("size"))}
            out.append(v)
        return {"lists": out, "total": len(found), "offset": offset + len(page), "hasMore": offset + len(page) < len(found)}

    def _record_lists(self, type_id: str, record_id: str) -> dict:
        if type_id not in OBJECT_TYPE_IDS:
            raise validation_error(f"Unknown objectTypeId {type_id!r}.")
        rec = self.hs.stores[OBJECT_TYPE_IDS[type_id]].resolve(record_id)
        results = []
        if rec is not None and not rec.archived:
            for d in self.defs.values():
                if d["objectTypeId"] != type_id or d["deletedAt"]:
                    continue
                at = self.joined(d).get(rec.id)
                if at is not None:
                    results.append({"listId": str(d["listId"]), "listVersion": d["listVersion"],
                                    "firstAddedTimestamp": iso(at), "lastAddedTimestamp": iso(at)})
        return {"results": results, "total": len(results)}


def _bool(req, name: str) -> bool:
    return (req.arg(name) or "").strip().lower() == "true"


def _int(req, name: str, default: int) -> int:
    raw = req.arg(name)
    return default if raw in (None, "") else _int_value(raw, name)


def _int_value(raw: str, name: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise validation_error(f"{name} must be a number, not {raw!r}.") from None


# ---- active-list filters ---------------------------------------------------------------------------------
def _check_branch(branch) -> None:
    if not isinstance(branch, dict) or branch.get("filterBranchType") != "OR":
        raise validation_error("A DYNAMIC list needs a filterBranch whose filterBranchType is OR.")
    for sub in branch.get("filterBranches") or []:
        if not isinstance(sub, dict) or sub.get("filterBranchType") != "AND":
            raise validation_error("Each branch under the OR filterBranch must be an AND filterBranch.")
        for f in sub.get("filters") or []:
            _check_filter(f)


def _check_filter(f) -> None:
    if not isinstance(f, dict) or f.get("filterType") != "PROPERTY":
        kind = f.get("filterType") if isinstance(f, dict) else f
        raise validation_error(f"The sandbox emulates PROPERTY filters only, not {kind!r}.")
    op = f.get("operation") or {}
    operator = op.get("operator")
    if not isinstance(f.get("property"), str) or not f["property"]:
        raise validation_error("A PROPERTY filter names its property.")
    if operator in KNOWN_OPERATORS:
        return
    if operator not in STRING_OPERATORS:
        raise validation_error(f"The sandbox emulates the operators {', '.join(STRING_OPERATORS + KNOWN_OPERATORS)}, "
                               f"not {operator!r}.")
    if not isinstance(op.get("value"), str) and not isinstance(op.get("values"), list):
        raise validation_error(f"Operator {operator} needs a value.")


def _matches(branch: dict, value_of) -> bool:
    return any(all(_filter(f, value_of) for f in sub.get("filters") or [])
               for sub in branch.get("filterBranches") or [])


def _filter(f: dict, value_of) -> bool:
    op = f["operation"]
    operator = op["operator"]
    have = (value_of(f["property"]) or "").lower()
    if operator == "IS_KNOWN":
        return have != ""
    if operator == "IS_UNKNOWN":
        return have == ""
    wanted = [v.lower() for v in (op.get("values") or [op.get("value")]) if isinstance(v, str)]
    test = {"IS_EQUAL_TO": lambda w: have == w, "IS_NOT_EQUAL_TO": lambda w: have != w,
            "CONTAINS": lambda w: w in have, "DOES_NOT_CONTAIN": lambda w: w not in have,
            "STARTS_WITH": lambda w: have.startswith(w), "ENDS_WITH": lambda w: have.endswith(w)}[operator]
    negative = operator in ("IS_NOT_EQUAL_TO", "DOES_NOT_CONTAIN")
    return all(map(test, wanted)) if negative else any(map(test, wanted))
