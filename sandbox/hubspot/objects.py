"""CRM v3 object endpoints: basic (list/get/create/update/archive), batch, merge, gdpr-delete."""
from __future__ import annotations

from sandbox.hubspot import shapes
from sandbox.hubspot.associations import CHILD_TO_PARENT, PAIR_TYPES, REVERSE, pair_type_ids
from sandbox.hubspot.store import Record
from sandbox.hubspot.util import (
    LASTMOD,
    SINGULAR,
    UPPER,
    HubSpotError,
    batch_response,
    bool_arg,
    iso,
    json_response,
    list_arg,
    not_found,
    parse_time,
    standard_error,
    validation_error,
)

DEFAULT_PROPS = {
    "contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
    "companies": ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
    "deals": ["amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate",
              "hs_object_id", "pipeline"],
}
BATCH_MAX = 100
LIST_MAX = 100
# association type id -> (from type, to type)
TYPE_PAIR = {t: pair for pair in PAIR_TYPES for t in pair_type_ids(*pair)}


class ObjectsApi:
    def __init__(self, emu) -> None:
        self.emu = emu

    # ---- rendering ----------------------------------------------------------------------------
    def names(self, otype: str, requested: list[str] | None) -> list[str]:
        """Property names to render: the defaults, or the requested ones plus createdate,
        the last-modified property and hs_object_id (reference §2.1; for GET: UNCONFIRMED, assumed).
        Requested properties that don't exist are silently omitted."""
        if not requested:
            return DEFAULT_PROPS[otype]
        reg = self.emu.props
        out = []
        for n in list(requested) + ["createdate", LASTMOD[otype], "hs_object_id"]:
            if n not in out and reg.get(otype, n) is not None:
                out.append(n)
        return out

    search_names = names

    def render(self, otype: str, rec: Record, names: list[str], *, assoc: list[str] | None = None,
               history: list[str] | None = None, extra: dict | None = None) -> dict:
        store = self.emu.stores[otype]
        props = {}
        for n in names:
            if n == "associatedcompanyid" and otype == "contacts":
                prim = [t for t, ty in self.emu.assoc.targets("contacts", rec.id, "companies").items() if 1 in ty]
                props[n] = str(prim[0]) if prim else None
            else:
                props[n] = store.value(rec, n)
        body = {"id": str(rec.id), "properties": props, "createdAt": iso(rec.created),
                "updatedAt": iso(rec.updated), "archived": rec.archived}
        if rec.archived:
            body["archivedAt"] = iso(rec.archived_at or rec.updated)
        if history:
            hist = {}
            for n in history:
                if self.emu.props.get(otype, n) is None:
                    continue
                v = store.value(rec, n)
                hist[n] = [] if v is None else [{"value": v, "timestamp": iso(rec.updated), "sourceType": "API"}]
            body["propertiesWithHistory"] = hist
        if assoc:
            a = self.emu.assoc.v3_view(otype, rec.id, assoc)
            if a:
                body["associations"] = a
        if extra:
            body.update(extra)
        return body

    # ---- lookups ---------------------------------------------------------------------------------
    def _id_property(self, otype: str, id_property: str | None) -> str | None:
        if not id_property or id_property == "hs_object_id":
            return None
        if (otype == "contacts" and id_property == "email") or self.emu.props.is_unique(otype, id_property):
            return id_property
        raise validation_error(f"{id_property} is not a unique identifier property for {otype}. "
                               "idProperty must be email (contacts) or a property with hasUniqueValue=true.")

    def find(self, otype: str, ident, id_property: str | None, *, archived: bool = False) -> Record | None:
        store = self.emu.stores[otype]
        prop = self._id_property(otype, id_property)
        if prop is None:
            rec = store.get(ident)
            if rec is not None and rec.merged_into:
                # Reference §2.7: merged-away ids keep resolving to the merged record (a 200 whose `id`
                # differs from the one asked for; no 301 is documented for the v3 API).
                rec = store.resolve(ident)
        else:
            rec = store.lookup_unique(prop, str(ident))
        if rec is None or rec.archived != archived:
            return None
        return rec

    # ---- validation helpers ------------------------------------------------------------------------
    def _conflict(self, otype: str, props: dict, self_id: int | None) -> None:
        hit = self.emu.stores[otype].conflicts(props, self_id)
        if hit:
            prop, value, other = hit
            if otype == "contacts" and prop in ("email", "hs_additional_emails"):
                msg = f"Contact already exists. Existing ID: {other}"
            else:  # UNCONFIRMED wording for unique custom properties
                msg = f"{SINGULAR[otype].capitalize()} already exists. Existing ID: {other}"
            raise HubSpotError(409, "CONFLICT", msg)

    def _properties_of(self, item) -> dict:
        if not isinstance(item, dict) or not isinstance(item.get("properties"), dict):
            raise validation_error("Invalid input JSON on line 1, column 2: Some required fields were not set: "
                                   "[properties]")
        return item["properties"]

    def _assoc_inputs(self, otype: str, assocs) -> list[tuple[str, int, int]]:
        out = []
        for a in assocs or []:
            to_id = ((a or {}).get("to") or {}).get("id")
            for t in (a or {}).get("types") or []:
                try:
                    type_id = int(t.get("associationTypeId"))
                except (TypeError, ValueError):
                    raise validation_error("associationTypeId must be an integer") from None
                pair = TYPE_PAIR.get(type_id)
                if pair is None or pair[0] != otype or t.get("associationCategory") != "HUBSPOT_DEFINED":
                    raise validation_error(f"{t.get('associationCategory')}:{type_id} is not a valid association "
                                           f"type from {otype}.")
                target = self.emu.stores[pair[1]].resolve(to_id)
                if target is None or target.archived:
                    raise validation_error(f"{SINGULAR[pair[1]].capitalize()} ids are not valid: [{to_id}]",
                                           context={"ids": [str(to_id)]})
                out.append((pair[1], target.id, type_id))
        return out

    def _create(self, otype: str, changes: dict, now: int) -> Record:
        store = self.emu.stores[otype]
        rec = Record(store.new_id(), {}, now, now)
        for k, v in changes.items():
            if k == "createdate":
                rec.created = parse_time(v) if v is not None else now
            elif v is not None:
                rec.props[k] = v
        store.insert(rec, written_at=now)
        return rec

    # ---- endpoints ------------------------------------------------------------------------------------
    def handle(self, req, otype: str, rest: list[str]):
        m = req.method
        if not rest:
            if m == "GET":
                return self.list(req, otype)
            if m == "POST":
                return self.create(req, otype)
        elif len(rest) == 1 and rest[0] == "search" and m == "POST":
            q = self.emu.search.parse(otype, req)
            return json_response(200, self.emu.search.run(otype, q, self.emu.now_ms()))
        elif len(rest) == 1 and rest[0] == "merge" and m == "POST":
            return self.merge(req, otype)
        elif len(rest) == 1 and rest[0] == "gdpr-delete" and m == "POST" and otype == "contacts":
            return self.gdpr_delete(req, otype)
        elif len(rest) == 2 and rest[0] == "batch" and m == "POST":
            op = rest[1]
            fn = {"read": self.batch_read, "create": self.batch_create, "update": self.batch_update,
                  "upsert": self.batch_upsert, "archive": self.batch_archive}.get(op)
            if fn:
                return fn(req, otype)
        elif len(rest) == 1:
            if m == "GET":
                return self.get(req, otype, rest[0])
            if m == "PATCH":
                return self.update(req, otype, rest[0])
            if m == "DELETE":
                return self.archive(req, otype, rest[0])
        return None

    def list(self, req, otype):
        try:
            limit = int(req.arg("limit") or 10)
        except ValueError:
            raise validation_error(f"Invalid limit: {req.arg('limit')}") from None
        if limit < 1 or limit > LIST_MAX:
            # UNCONFIRMED whether HubSpot clamps or rejects; the emulator rejects (stricter).
            raise validation_error(f"limit must be between 1 and {LIST_MAX}, was {limit}")
        after_raw = req.arg("after")
        after = 0
        if after_raw:
            try:
                after = int(after_raw)
            except ValueError:
                raise validation_error(f"Invalid after cursor: {after_raw}") from None
        archived = bool_arg(req, "archived")
        names = self.names(otype, list_arg(req, "properties"))
        assoc = list_arg(req, "associations")
        history = list_arg(req, "propertiesWithHistory")
        recs, nxt = self.emu.stores[otype].page(after, limit, archived)
        body = {"results": [self.render(otype, r, names, assoc=assoc, history=history) for r in recs]}
        if nxt is not None:
            body["paging"] = {"next": {"after": str(nxt),
                                       "link": f"https://api.hubapi.com/crm/v3/objects/{otype}?after={nxt}"}}
        return json_response(200, body)

    def get(self, req, otype, ident):
        archived = bool_arg(req, "archived")
        rec = self.find(otype, ident, req.arg("idProperty"), archived=archived)
        if rec is None:
            raise not_found(ident)
        names = self.names(otype, list_arg(req, "properties"))
        return json_response(200, self.render(otype, rec, names, assoc=list_arg(req, "associations"),
                                              history=list_arg(req, "propertiesWithHistory")))

    def create(self, req, otype):
        body = shapes.parse(req, shapes.CREATE)
        props = self._properties_of(body)
        changes = self.emu.props.normalize(otype, props)
        links = self._assoc_inputs(otype, body.get("associations"))
        self.emu.check_write(otype, changes, None)
        self._conflict(otype, changes, None)
        now = self.emu.now_ms()
        rec = self._create(otype, changes, now)
        for ttype, tid, type_id in links:
            self.emu.assoc.add(otype, rec.id, ttype, tid, type_id)
        return json_response(201, self.render(otype, rec, self.names(otype, list(props))))

    def update(self, req, otype, ident):
        rec = self.find(otype, ident, req.arg("idProperty"))
        body = shapes.parse(req, shapes.UPDATE)
        props = self._properties_of(body)
        changes = self.emu.props.normalize(otype, props)
        if rec is None:
            raise not_found(ident)
        self.emu.check_write(otype, changes, rec)
        self._conflict(otype, changes, rec.id)
        self.emu.stores[otype].apply(rec, changes, self.emu.now_ms())
        return json_response(200, self.render(otype, rec, self.names(otype, list(props))))

    def archive(self, req, otype, ident):
        rec = self.emu.stores[otype].resolve(ident)
        if rec is not None and not rec.archived:
            self._archive(otype, rec)
        return json_response(204, None)  # idempotent: unknown ids are a 204 too

    def _archive(self, otype, rec):
        self.emu.stores[otype].archive(rec, self.emu.now_ms())
        self.emu.assoc.drop_record(otype, rec.id)

    def gdpr_delete(self, req, otype):
        body = shapes.parse(req, shapes.GDPR_DELETE) or {}
        if not body.get("objectId"):
            raise validation_error("Some required fields were not set: [objectId]")
        rec = self.find(otype, body["objectId"], body.get("idProperty"))
        if rec is None:
            raise not_found(body["objectId"])
        self._archive(otype, rec)
        self.emu.stores[otype].purge(rec)
        return json_response(204, None)

    # ---- batch -------------------------------------------------------------------------------------
    def _inputs(self, body) -> list:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise validation_error("Invalid input JSON on line 1, column 1: Some required fields were not set: "
                                   "[inputs]")
        inputs = body["inputs"]
        if len(inputs) > BATCH_MAX:
            # UNCONFIRMED exact text (reference §2.4: "limited to 100 records at a time")
            raise validation_error(f"Batch input size {len(inputs)} exceeds the maximum of {BATCH_MAX} inputs.",
                                   context={"inputsSize": [str(len(inputs))], "maxInputsSize": [str(BATCH_MAX)]})
        return inputs

    def _batch_body(self, results, errors, started, ok_status):
        return batch_response(results, errors, started, self.emu.now_iso(), ok_status)

    @staticmethod
    def _dupes(ids: list[str]) -> None:
        seen, dup = set(), []
        for i in ids:
            if i in seen and i not in dup:
                dup.append(i)
            seen.add(i)
        if dup:
            raise validation_error(f"Duplicate IDs found in batch input: {dup}. IDs must be unique",
                                   context={"ids": dup})

    def batch_read(self, req, otype):
        body = shapes.parse(req, shapes.BATCH_READ)
        inputs = self._inputs(body)
        started = self.emu.now_iso()
        archived = bool_arg(req, "archived")
        id_prop = body.get("idProperty")
        self._id_property(otype, id_prop)
        names = self.names(otype, body.get("properties"))
        history = body.get("propertiesWithHistory")
        results, missing, done = [], [], set()
        for inp in inputs:
            ident = str((inp or {}).get("id"))
            rec = self.find(otype, ident, id_prop, archived=archived)
            if rec is None:
                if ident not in missing:
                    missing.append(ident)
                continue
            if rec.id in done:
                continue
            done.add(rec.id)
            results.append(self.render(otype, rec, names, history=history))
        errors = []
        if missing:
            errors.append(standard_error(
                "OBJECT_NOT_FOUND",
                f"Could not get some {UPPER[otype]} objects, they may be deleted or not exist. "
                "Check that ids are valid.", {"ids": missing}))
        return self._batch_body(results, errors, started, 200)

    def batch_create(self, req, otype):
        body = shapes.parse(req, shapes.BATCH_CREATE)
        inputs = self._inputs(body)
        started = self.emu.now_iso()
        prepared = []
        pending: dict[str, dict[str, str]] = {}
        store = self.emu.stores[otype]
        for inp in inputs:
            changes = self.emu.props.normalize(otype, self._properties_of(inp))
            links = self._assoc_inputs(otype, inp.get("associations"))
            self.emu.check_write(otype, changes, None)
            # Reference §2.4: a taken email fails the WHOLE batch with one 409 naming the first conflict
            # (hubspot-api-python#51); same for two inputs sharing an email.
            self._conflict(otype, changes, None)
            for prop, value in changes.items():
                idx = store._index_name(prop)
                if idx is None:
                    continue
                for key in store.unique_keys(prop, value):
                    if key in pending.setdefault(idx, {}):
                        # two inputs share a unique value: the first one "exists" by the time the second
                        # is written; its id isn't known to the caller (UNCONFIRMED text).
                        raise HubSpotError(409, "CONFLICT", f"{SINGULAR[otype].capitalize()} already exists. "
                                           f"Existing ID: {store.next_id + pending[idx][key]}")
                    pending[idx][key] = len(prepared)
            prepared.append((inp, changes, links))
        now = self.emu.now_ms()
        results = []
        for inp, changes, links in prepared:
            rec = self._create(otype, changes, now)
            for ttype, tid, type_id in links:
                self.emu.assoc.add(otype, rec.id, ttype, tid, type_id)
            extra = {"objectWriteTraceId": inp["objectWriteTraceId"]} if inp.get("objectWriteTraceId") else None
            results.append(self.render(otype, rec, self.names(otype, list(inp["properties"])), extra=extra))
        return self._batch_body(results, [], started, 201)

    def batch_update(self, req, otype):
        body = shapes.parse(req, shapes.BATCH_UPDATE)
        inputs = self._inputs(body)
        started = self.emu.now_iso()
        self._dupes([str((i or {}).get("id")) for i in inputs])
        todo, errors = [], []
        for inp in inputs:
            changes = self.emu.props.normalize(otype, self._properties_of(inp))
            ident = str(inp.get("id"))
            rec = self.find(otype, ident, inp.get("idProperty") or body.get("idProperty"))
            if rec is None:
                ctx = {"ids": [ident]}
                if inp.get("objectWriteTraceId"):
                    ctx["objectWriteTraceId"] = [str(inp["objectWriteTraceId"])]
                # UNCONFIRMED wording; per-item OBJECT_NOT_FOUND in a 207 (multi-status)
                errors.append(standard_error("OBJECT_NOT_FOUND",
                                             f"Could not update some {UPPER[otype]} objects, they may be deleted "
                                             "or not exist. Check that ids are valid.", ctx))
                continue
            self.emu.check_write(otype, changes, rec)
            self._conflict(otype, changes, rec.id)
            todo.append((inp, rec, changes))
        now = self.emu.now_ms()
        results = []
        for inp, rec, changes in todo:
            self.emu.stores[otype].apply(rec, changes, now)
            extra = {"objectWriteTraceId": inp["objectWriteTraceId"]} if inp.get("objectWriteTraceId") else None
            results.append(self.render(otype, rec, self.names(otype, list(inp["properties"])), extra=extra))
        return self._batch_body(results, errors, started, 200)

    def batch_upsert(self, req, otype):
        body = shapes.parse(req, shapes.BATCH_UPSERT)
        inputs = self._inputs(body)
        started = self.emu.now_iso()
        self._dupes([str((i or {}).get("id")) for i in inputs])
        todo = []
        for inp in inputs:
            changes = self.emu.props.normalize(otype, self._properties_of(inp))
            id_prop = inp.get("idProperty")
            if not id_prop or self._id_property(otype, id_prop) is None:
                raise validation_error("idProperty is required for upsert and must be email (contacts) or a "
                                       "property with hasUniqueValue=true.")
            ident = str(inp.get("id"))
            rec = self.find(otype, ident, id_prop)
            self.emu.check_write(otype, changes, rec)
            if rec is None:
                changes = dict(changes)
                changes.setdefault(id_prop, ident if id_prop != "email" else ident.strip())
                self._conflict(otype, changes, None)
            else:
                self._conflict(otype, changes, rec.id)
            todo.append((inp, rec, changes))
        now = self.emu.now_ms()
        results = []
        for inp, rec, changes in todo:
            new = rec is None
            if new:
                rec = self._create(otype, changes, now)
            else:
                self.emu.stores[otype].apply(rec, changes, now)
            extra = {"new": new}
            if inp.get("objectWriteTraceId"):
                extra["objectWriteTraceId"] = inp["objectWriteTraceId"]
            names = self.names(otype, list(inp["properties"]) + [inp["idProperty"]])
            results.append(self.render(otype, rec, names, extra=extra))
        return self._batch_body(results, [], started, 200)

    def batch_archive(self, req, otype):
        inputs = self._inputs(shapes.parse(req, shapes.BATCH_ARCHIVE))
        store = self.emu.stores[otype]
        for inp in inputs:
            rec = store.resolve((inp or {}).get("id"))
            if rec is not None and not rec.archived:
                self._archive(otype, rec)
        return json_response(204, None)

    # ---- merge -----------------------------------------------------------------------------------------
    def merge(self, req, otype):
        body = shapes.parse(req, shapes.MERGE)
        if not isinstance(body, dict) or not body.get("primaryObjectId") or not body.get("objectIdToMerge"):
            raise validation_error("Some required fields were not set: [objectIdToMerge, primaryObjectId]")
        store = self.emu.stores[otype]
        prim = store.resolve(body["primaryObjectId"])
        sec = store.resolve(body["objectIdToMerge"])
        if prim is None or prim.archived:
            raise not_found(body["primaryObjectId"])
        if sec is None or sec.archived:
            raise not_found(body["objectIdToMerge"])
        if prim.id == sec.id:
            raise validation_error(f"Cannot merge {SINGULAR[otype]} {prim.id} into itself.")
        now = self.emu.now_ms()
        merged_ids = []
        for r in (prim, sec):
            merged_ids += [x for x in (r.props.get("hs_merged_object_ids") or "").split(";") if x]
        props = dict(prim.props)  # the primary's current values win (reference §2.7)
        if otype == "contacts":
            extra_emails = []
            for r in (prim, sec):
                extra_emails += [e for e in (r.props.get("hs_additional_emails") or "").split(";") if e]
            if sec.props.get("email"):
                extra_emails.append(sec.props["email"])
            if not props.get("email") and sec.props.get("email"):
                props["email"] = sec.props["email"]  # UNCONFIRMED: an email-less primary takes the secondary's
            own = (props.get("email") or "").lower()
            uniq = []
            for e in extra_emails:
                if e.lower() != own and e.lower() not in (u.lower() for u in uniq):
                    uniq.append(e)
            if uniq:
                props["hs_additional_emails"] = ";".join(uniq)
        store.muted = True   # one merge event (and deletions), not the writes it is made of
        try:
            survivor = self._merge_into(otype, store, prim, sec, props, merged_ids, now)
        finally:
            store.muted = False
        self.emu.webhooks.emit(otype, "merge", survivor.id, now, primaryObjectId=prim.id,
                               mergedObjectIds=[sec.id], newObjectId=survivor.id)
        return json_response(200, self.render(otype, survivor, self._merge_names(otype)))

    def _merge_into(self, otype, store, prim, sec, props, merged_ids, now):
        if self.emu.merge_mode == "legacy":
            # Older behaviour: the primary keeps its id; the secondary is archived and resolves to it.
            merged_ids.append(str(sec.id))
            props["hs_merged_object_ids"] = ";".join(dict.fromkeys(merged_ids))
            sec_links = self.emu.assoc.drop_record(otype, sec.id)
            store.archive(sec, now)
            sec.merged_into = prim.id
            changes = {k: v for k, v in props.items()}
            store.apply(prim, changes, now)
            self._carry_links(otype, prim.id, sec_links, (prim.id, sec.id))
            return prim
        merged_ids += [str(prim.id), str(sec.id)]
        props["hs_merged_object_ids"] = ";".join(dict.fromkeys(merged_ids))
        prim_links = self.emu.assoc.drop_record(otype, prim.id)
        sec_links = self.emu.assoc.drop_record(otype, sec.id)
        created = min(prim.created, sec.created)  # UNCONFIRMED: the merged record keeps the oldest create date
        store.archive(prim, now)
        store.archive(sec, now)
        new = Record(store.new_id(), props, created, now)
        store.insert(new, written_at=now)
        prim.merged_into = sec.merged_into = new.id
        self._carry_links(otype, new.id, prim_links, (prim.id, sec.id))
        self._carry_links(otype, new.id, sec_links, (prim.id, sec.id))
        return new

    @staticmethod
    def _merge_names(otype: str) -> list[str]:
        # UNCONFIRMED which properties the merge response carries: the defaults plus the merge bookkeeping
        extra = ["hs_merged_object_ids"] + (["hs_additional_emails"] if otype == "contacts" else [])
        return DEFAULT_PROPS[otype] + extra

    def _carry_links(self, otype: str, new_id: int, links: dict, merged: tuple[int, ...]) -> None:
        """Re-create a merged-away record's associations on the survivor; a primary-company label
        (or, for companies, a parent) already held by the survivor wins over the secondary's
        (reference §2.7). Links between the merged records themselves (one company the other's
        parent) are dropped: the survivor is not associated with itself."""
        assoc = self.emu.assoc
        for ttype, targets in links.items():
            for tid, types in targets.items():
                if ttype == otype and (tid in merged or tid == new_id):
                    continue
                for t in sorted(types):
                    if t in (1, 5, CHILD_TO_PARENT):
                        if any(t in ty for ty in assoc.targets(otype, new_id, ttype).values()):
                            t = PAIR_TYPES[(otype, ttype)][0]
                    assoc.add(otype, new_id, ttype, tid, t, auto_primary=False)


__all__ = ["ObjectsApi", "DEFAULT_PROPS", "REVERSE"]
