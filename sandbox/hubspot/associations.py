"""Associations between contacts, companies and deals: storage, v4 endpoints, v3 `associations=` view.

Type ids are HubSpot's HUBSPOT_DEFINED ones (SDK `hubspot/crm/association_type.py`, reference §1.4).
Companies associate with companies too: unlabeled (450, `company_to_company`) and as a hierarchy,
"parent company to child company" = 13 and "child company to parent company" = 14 (HubSpot developer
changelog 2018-09-11, "Parent <-> Child Associations via API"). A company has one parent at most.
"""
from __future__ import annotations

import base64

from sandbox.hubspot import shapes
from sandbox.hubspot.util import (
    SINGULAR,
    TYPE_ALIASES,
    TYPE_IDS,
    HubSpotError,
    batch_response,
    iso,
    json_response,
    standard_error,
    validation_error,
)

# (from, to) -> (default/unlabeled type id, primary type id or None)
PAIR_TYPES = {
    ("contacts", "companies"): (279, 1),
    ("companies", "contacts"): (280, 2),
    ("deals", "companies"): (341, 5),
    ("companies", "deals"): (342, 6),
    ("deals", "contacts"): (3, None),
    ("contacts", "deals"): (4, None),
    ("companies", "companies"): (450, None),
}
# further HUBSPOT_DEFINED labelled types of a pair
LABELLED = {("companies", "companies"): (13, 14)}
PARENT_TO_CHILD, CHILD_TO_PARENT = 13, 14
REVERSE = {279: 280, 280: 279, 1: 2, 2: 1, 341: 342, 342: 341, 5: 6, 6: 5, 3: 4, 4: 3,
           450: 450, 13: 14, 14: 13}
V3_NAMES = {1: "contact_to_company", 279: "contact_to_company_unlabeled",
            2: "company_to_contact", 280: "company_to_contact_unlabeled",
            5: "deal_to_company", 341: "deal_to_company_unlabeled",
            6: "company_to_deal", 342: "company_to_deal_unlabeled",
            3: "deal_to_contact", 4: "contact_to_deal",
            450: "company_to_company", 13: "parent_to_child_company", 14: "child_to_parent_company"}
PRIMARY_IDS = {1, 2, 5, 6}
# A label names what the *to* record is to the *from* one ("Primary": the company is the contact's
# primary company), so 13 (parent -> child) reads "Child Company" and 14 (child -> parent) "Parent
# Company". UNCONFIRMED: public sources disagree on which id carries which of the two labels.
LABELS = {1: "Primary", 2: "Primary", 5: "Primary", 6: "Primary", 13: "Child Company", 14: "Parent Company"}
V4_BATCH_MAX = 1000  # UNCONFIRMED: v4 batch input cap not in the reference


def label_of(type_id: int) -> str | None:
    return LABELS.get(type_id)


def pair_type_ids(ftype: str, ttype: str) -> set[int]:
    """Every HUBSPOT_DEFINED type id from `ftype` to `ttype` (empty: no associations between them)."""
    if (ftype, ttype) not in PAIR_TYPES:
        return set()
    default, primary = PAIR_TYPES[(ftype, ttype)]
    return {default} | ({primary} if primary else set()) | set(LABELLED.get((ftype, ttype), ()))


def _order(t: int) -> tuple:
    return label_of(t) is None, t  # labelled types first, as HubSpot lists them


class AssociationStore:
    def __init__(self) -> None:
        # (from_type, from_id) -> to_type -> to_id -> set(type ids)
        self.links: dict[tuple[str, int], dict[str, dict[int, set[int]]]] = {}

    def reset(self) -> None:
        self.links.clear()

    def targets(self, ftype: str, fid: int, ttype: str) -> dict[int, set[int]]:
        return self.links.get((ftype, fid), {}).get(ttype, {})

    def _add_one(self, ftype, fid, ttype, tid, type_id) -> None:
        self.links.setdefault((ftype, fid), {}).setdefault(ttype, {}).setdefault(tid, set()).add(type_id)

    def _remove_one(self, ftype, fid, ttype, tid, type_id=None) -> None:
        m = self.links.get((ftype, fid), {}).get(ttype)
        if not m or tid not in m:
            return
        if type_id is None:
            del m[tid]
        else:
            m[tid].discard(type_id)
            if not m[tid]:
                del m[tid]

    def add(self, ftype: str, fid: int, ttype: str, tid: int, type_id: int, *, auto_primary: bool = True) -> None:
        if type_id in (2, 6, 280, 342):  # company-side view: store it from the contact/deal side
            return self.add(ttype, tid, ftype, fid, REVERSE[type_id], auto_primary=auto_primary)
        if type_id == PARENT_TO_CHILD:  # store it from the child's side, where the one-parent rule lives
            return self.add(ttype, tid, ftype, fid, CHILD_TO_PARENT, auto_primary=auto_primary)
        if type_id in (1, 5, CHILD_TO_PARENT):
            # a record has at most one primary company (a company one parent): the new one replaces the old
            for other, types in list(self.targets(ftype, fid, ttype).items()):
                if type_id in types and other != tid:
                    self._remove_one(ftype, fid, ttype, other, type_id)
                    self._remove_one(ttype, other, ftype, fid, REVERSE[type_id])
        self._add_one(ftype, fid, ttype, tid, type_id)
        self._add_one(ttype, tid, ftype, fid, REVERSE[type_id])
        if type_id == CHILD_TO_PARENT:
            # UNCONFIRMED: a labelled pair is also associated unlabeled (v4 lists show label + unlabeled
            # types together), so removing the label leaves the two companies associated
            self._add_one(ftype, fid, ttype, tid, 450)
            self._add_one(ttype, tid, ftype, fid, 450)
        if auto_primary and type_id in (279, 341):
            # UNCONFIRMED: the first company associated with a contact/deal becomes its primary company
            # (matches the `contact_to_company` + `contact_to_company_unlabeled` pairs seen in v3 responses).
            primary = PAIR_TYPES[(ftype, ttype)][1]
            if not any(primary in t for t in self.targets(ftype, fid, ttype).values()):
                self._add_one(ftype, fid, ttype, tid, primary)
                self._add_one(ttype, tid, ftype, fid, REVERSE[primary])

    def add_default(self, ftype: str, fid: int, ttype: str, tid: int) -> int:
        default = PAIR_TYPES[(ftype, ttype)][0]
        self.add(ftype, fid, ttype, tid, default)
        return default

    def remove(self, ftype: str, fid: int, ttype: str, tid: int, type_id: int | None = None) -> None:
        self._remove_one(ftype, fid, ttype, tid, type_id)
        self._remove_one(ttype, tid, ftype, fid, None if type_id is None else REVERSE[type_id])

    def drop_record(self, otype: str, rid: int) -> dict[str, dict[int, set[int]]]:
        """Remove every association of a record; returns what it had (for merges)."""
        had = self.links.pop((otype, rid), {})
        for ttype, m in had.items():
            for tid in m:
                self._remove_one(ttype, tid, otype, rid, None)
        return had

    def v3_view(self, otype: str, rid: int, to_types: list[str]) -> dict:
        out = {}
        for name in to_types:
            ttype = TYPE_ALIASES.get(name.lower())
            if ttype is None or (otype, ttype) not in PAIR_TYPES:
                continue  # "If any of the specified associations do not exist, they will be ignored."
            results = []
            for tid in sorted(self.targets(otype, rid, ttype)):
                for type_id in sorted(self.targets(otype, rid, ttype)[tid], key=_order):
                    results.append({"id": str(tid), "type": V3_NAMES[type_id]})
            if results:
                out[ttype] = {"results": results}
        return out


_ITSELF = "A record cannot be associated with itself: {id}."  # UNCONFIRMED wording
_BATCH_SHAPES = {"read": shapes.V4_BATCH_READ, "create": shapes.V4_BATCH_CREATE,
                 "associate/default": shapes.V4_BATCH_DEFAULT, "archive": shapes.V4_BATCH_ARCHIVE,
                 "labels/archive": shapes.V4_BATCH_CREATE}


def _type_spec(type_id: int) -> dict:
    return {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": label_of(type_id)}


def _to_entry(tid: int, types: set[int]) -> dict:
    # toObjectId: the spec types it as a string; HubSpot sends a JSON number (reference §2.9). We send
    # the number, as the live API does; the SDK turns it into a str either way.
    ordered = sorted(types, key=_order)
    return {"toObjectId": tid, "associationTypes": [_type_spec(t) for t in ordered]}


class AssociationsApi:
    """Handlers for `/crm/v4/...`; `emu` is the HubSpotEmulator (stores, clock)."""

    def __init__(self, emu) -> None:
        self.emu = emu

    @property
    def store(self) -> AssociationStore:
        return self.emu.assoc

    def _otype(self, name: str) -> str:
        t = TYPE_ALIASES.get(name.lower())
        if t is None:
            raise HubSpotError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}")
        return t

    def _pair(self, ftype: str, ttype: str) -> tuple[int, int | None]:
        if (ftype, ttype) not in PAIR_TYPES:
            raise validation_error(f"There are no associations defined between {ftype} and {ttype}.")
        return PAIR_TYPES[(ftype, ttype)]

    def _live_id(self, otype: str, ident) -> int | None:
        rec = self.emu.stores[otype].resolve(ident)
        return rec.id if rec is not None and not rec.archived else None

    def _require(self, otype: str, ident) -> int:
        rid = self._live_id(otype, ident)
        if rid is None:
            raise HubSpotError(400, "VALIDATION_ERROR",
                               f"{SINGULAR[otype].capitalize()} ids are not valid: [{ident}]",
                               context={"ids": [str(ident)]})
        return rid

    @staticmethod
    def _not_itself(ftype: str, a: int, ttype: str, b: int) -> None:
        if ftype == ttype and a == b:
            raise validation_error(_ITSELF.format(id=a), context={"ids": [str(a)]})

    def _valid_types(self, ftype: str, ttype: str, specs) -> list[int]:
        self._pair(ftype, ttype)
        allowed = pair_type_ids(ftype, ttype)
        out = []
        if not isinstance(specs, list) or not specs:
            raise validation_error("Invalid input JSON: expected a non-empty array of association specs")
        for s in specs:
            if not isinstance(s, dict) or "associationTypeId" not in s:
                raise validation_error("Invalid input JSON: associationCategory and associationTypeId are required")
            try:
                tid = int(s.get("associationTypeId"))
            except (TypeError, ValueError):
                raise validation_error("associationTypeId must be an integer") from None
            cat = s.get("associationCategory")
            if cat != "HUBSPOT_DEFINED" or tid not in allowed:
                raise validation_error(f"{cat}:{tid} is not a valid association type between {ftype} and {ttype}.")
            out.append(tid)
        return out

    def _labels(self, ftype, fid, ttype, tid) -> dict:
        types = self.store.targets(ftype, fid, ttype).get(tid, set())
        return {"fromObjectTypeId": TYPE_IDS[ftype], "fromObjectId": str(fid),
                "toObjectTypeId": TYPE_IDS[ttype], "toObjectId": str(tid),
                "labels": [lbl for t in sorted(types) if (lbl := label_of(t))]}

    def _batch_inputs(self, body, cap=V4_BATCH_MAX) -> list:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise validation_error("Invalid input JSON on line 1, column 1: inputs is required")
        if len(body["inputs"]) > cap:
            raise validation_error(f"Batch input size {len(body['inputs'])} exceeds the limit of {cap}.")
        return body["inputs"]

    # ---- endpoints ------------------------------------------------------------------------------
    def handle(self, req, parts: list[str]):
        """parts: path split after `/crm/v4/`."""
        emu = self.emu
        m = req.method
        if parts[0] == "objects" and len(parts) >= 5 and parts[3] == "associations":
            ftype, fid = self._otype(parts[1]), parts[2]
            if len(parts) == 5 and m == "GET":
                return self.list(req, ftype, fid, self._otype(parts[4]))
            if len(parts) == 7 and parts[4] == "default" and m == "PUT":
                ttype = self._otype(parts[5])
                self._pair(ftype, ttype)
                a, b = self._require(ftype, fid), self._require(ttype, parts[6])
                self._not_itself(ftype, a, ttype, b)
                type_id = self.store.add_default(ftype, a, ttype, b)
                now = emu.now_iso()
                return json_response(200, {"status": "COMPLETE", "results": [
                    {"from": {"id": str(a)}, "to": {"id": str(b)},
                     "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}}],
                    "startedAt": now, "completedAt": now})
            if len(parts) == 6 and m == "PUT":
                ttype = self._otype(parts[4])
                types = self._valid_types(ftype, ttype, shapes.parse(req, shapes.V4_SPECS))
                a, b = self._require(ftype, fid), self._require(ttype, parts[5])
                self._not_itself(ftype, a, ttype, b)
                for t in types:
                    self.store.add(ftype, a, ttype, b, t)
                return json_response(201, self._labels(ftype, a, ttype, b))
            if len(parts) == 6 and m == "DELETE":
                ttype = self._otype(parts[4])
                self._pair(ftype, ttype)
                a, b = self._live_id(ftype, fid), self._live_id(ttype, parts[5])
                if a is not None and b is not None:
                    self.store.remove(ftype, a, ttype, b)
                return json_response(204, None)
        if parts[0] == "associations" and len(parts) == 4 and parts[3] == "labels" and m == "GET":
            # the association schema API's definitions: GET /crm/v4/associations/{from}/{to}/labels
            ftype, ttype = self._otype(parts[1]), self._otype(parts[2])
            self._pair(ftype, ttype)
            return json_response(200, {"results": [_type_spec(t) for t in sorted(pair_type_ids(ftype, ttype),
                                                                                  key=_order)]})
        if parts[0] == "associations" and len(parts) >= 5 and parts[3] == "batch" and m == "POST":
            ftype, ttype = self._otype(parts[1]), self._otype(parts[2])
            self._pair(ftype, ttype)
            op = "/".join(parts[4:])
            body = shapes.parse(req, _BATCH_SHAPES.get(op, shapes.V4_BATCH_READ))
            if op == "read":
                return self.batch_read(ftype, ttype, self._batch_inputs(body))
            if op == "create":
                return self.batch_create(ftype, ttype, self._batch_inputs(body))
            if op == "associate/default":
                return self.batch_default(ftype, ttype, self._batch_inputs(body))
            if op == "archive":
                for inp in self._batch_inputs(body):
                    a = self._live_id(ftype, (inp.get("from") or {}).get("id"))
                    for to in inp.get("to") or []:
                        b = self._live_id(ttype, (to or {}).get("id"))
                        if a is not None and b is not None:
                            self.store.remove(ftype, a, ttype, b)
                return json_response(204, None)
            if op == "labels/archive":
                for inp in self._batch_inputs(body):
                    a = self._live_id(ftype, (inp.get("from") or {}).get("id"))
                    b = self._live_id(ttype, (inp.get("to") or {}).get("id"))
                    if a is None or b is None:
                        continue
                    for t in self._valid_types(ftype, ttype, inp.get("types")):
                        self.store.remove(ftype, a, ttype, b, t)
                return json_response(204, None)
        return None

    def list(self, req, ftype, fid, ttype):
        self._pair(ftype, ttype)
        try:
            limit = int(req.arg("limit") or 500)
        except ValueError:
            raise validation_error("limit must be an integer") from None
        if limit < 1 or limit > 500:
            raise validation_error(f"limit must be between 1 and 500, was {limit}")
        a = self._live_id(ftype, fid)
        targets = self.store.targets(ftype, a, ttype) if a is not None else {}
        ids = sorted(targets)
        start = 0
        after = req.arg("after")
        if after:
            try:
                cursor = int(base64.b64decode(after.encode()).decode())
            except Exception:
                raise validation_error(f"Invalid after cursor: {after}") from None
            from bisect import bisect_right

            start = bisect_right(ids, cursor)
        chunk = ids[start:start + limit]
        body = {"results": [_to_entry(t, targets[t]) for t in chunk]}
        if start + limit < len(ids):
            cur = base64.b64encode(str(chunk[-1]).encode()).decode()
            body["paging"] = {"next": {"after": cur, "link": f"?after={cur}"}}
        return json_response(200, body)

    def batch_read(self, ftype, ttype, inputs):
        started = self.emu.now_iso()
        results, errors = [], []
        for inp in inputs:
            ident = str((inp or {}).get("id"))
            a = self._live_id(ftype, ident)
            targets = self.store.targets(ftype, a, ttype) if a is not None else {}
            if not targets:
                errors.append(standard_error(
                    "OBJECT_NOT_FOUND",
                    f"No {SINGULAR[ttype]} is associated with {SINGULAR[ftype]} {ident}.",
                    {"fromObjectId": [ident]}))
                continue
            results.append({"from": {"id": ident}, "to": [_to_entry(t, targets[t]) for t in sorted(targets)]})
        return self._batch_response(results, errors, started, ok_status=200)

    def batch_create(self, ftype, ttype, inputs):
        started = self.emu.now_iso()
        results, errors = [], []
        for inp in inputs:
            types = self._valid_types(ftype, ttype, (inp or {}).get("types"))
            fid, tid = (inp.get("from") or {}).get("id"), (inp.get("to") or {}).get("id")
            a, b = self._live_id(ftype, fid), self._live_id(ttype, tid)
            if a is None or b is None:
                bad = [str(x) for x, r in ((fid, a), (tid, b)) if r is None]
                errors.append(standard_error("VALIDATION_ERROR", f"Object ids are not valid: {bad}", {"ids": bad}))
                continue
            if ftype == ttype and a == b:
                errors.append(standard_error("VALIDATION_ERROR", _ITSELF.format(id=a), {"ids": [str(a)]}))
                continue
            for t in types:
                self.store.add(ftype, a, ttype, b, t)
            results.append(self._labels(ftype, a, ttype, b))
        return self._batch_response(results, errors, started, ok_status=201)

    def batch_default(self, ftype, ttype, inputs):
        started = self.emu.now_iso()
        results, errors = [], []
        for inp in inputs:
            fid, tid = (inp.get("from") or {}).get("id"), (inp.get("to") or {}).get("id")
            a, b = self._live_id(ftype, fid), self._live_id(ttype, tid)
            if a is None or b is None:
                bad = [str(x) for x, r in ((fid, a), (tid, b)) if r is None]
                errors.append(standard_error("VALIDATION_ERROR", f"Object ids are not valid: {bad}", {"ids": bad}))
                continue
            if ftype == ttype and a == b:
                errors.append(standard_error("VALIDATION_ERROR", _ITSELF.format(id=a), {"ids": [str(a)]}))
                continue
            type_id = self.store.add_default(ftype, a, ttype, b)
            results.append({"from": {"id": str(a)}, "to": {"id": str(b)},
                            "associationSpec": {"associationCategory": "HUBSPOT_DEFINED",
                                                "associationTypeId": type_id}})
        # the spec lists only 200 for associate/default; errors ride along in the same body
        body = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": self.emu.now_iso()}
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        return json_response(200, body)

    def _batch_response(self, results, errors, started, ok_status):
        return batch_response(results, errors, started, self.emu.now_iso(), ok_status)


__all__ = ["AssociationStore", "AssociationsApi", "LABELLED", "PAIR_TYPES", "REVERSE", "V3_NAMES", "iso",
           "pair_type_ids"]
