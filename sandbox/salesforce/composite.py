"""sObject Collections (`/composite/sobjects`): up to 200 records per call, one API call, per-record
results in request order, and `allOrNone` rollback (reference §2.6)."""
from __future__ import annotations

from collections import Counter

from sandbox import ids
from sandbox.core import Request, Response
from sandbox.salesforce import writes
from sandbox.salesforce.query import full_record
from sandbox.salesforce.schema import sobject
from sandbox.salesforce.store import ID, IS_DELETED, ApiError, Store

MAX_RECORDS = 200
ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
               "message": "Record rolled back because not all records were valid and the request was using "
                          "AllOrNone header", "fields": []}


def _too_many() -> ApiError:
    return ApiError("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")


def _obj_of(item: dict):
    t = (item.get("attributes") or {}).get("type") if isinstance(item, dict) else None
    obj = sobject(t) if isinstance(t, str) else None
    if obj is None:
        raise ApiError("INVALID_TYPE", f"sObject type '{t}' is not supported." if t
                       else "No SObject Type defined in attributes")
    return obj


def handle(store: Store, req: Request, rest: list[str], version: str, now: int) -> Response:
    """`rest` is the path after `composite/sobjects`."""
    if req.method == "GET":
        return _retrieve(store, req, rest, version, now)
    if req.method == "DELETE" and not rest:
        ids_arg = [i for i in (req.arg("ids") or "").split(",") if i]
        if not ids_arg:
            raise ApiError("REQUIRED_FIELD_MISSING", "At least 1 Id is required.", ["ids"])
        if len(ids_arg) > MAX_RECORDS:
            raise _too_many()
        all_or_none = (req.arg("allOrNone") or "false").lower() == "true"
        return _run(store, [("delete", i) for i in ids_arg], all_or_none, now)
    try:
        body = req.json()
    except ValueError:
        raise ApiError("JSON_PARSER_ERROR", "Unexpected character: was expecting a JSON value") from None
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ApiError("JSON_PARSER_ERROR", "Cannot deserialize request body: 'records' is required")
    records = body["records"]
    if len(records) > MAX_RECORDS:
        raise _too_many()
    all_or_none = bool(body.get("allOrNone", False))
    if req.method == "POST" and not rest:
        return _run(store, [("create", r) for r in records], all_or_none, now)
    if req.method == "PATCH" and not rest:
        return _run(store, [("update", r) for r in records], all_or_none, now)
    if req.method == "PATCH" and len(rest) == 2:
        obj = sobject(rest[0])
        if obj is None:
            raise ApiError("NOT_FOUND", "The requested resource does not exist", status=404)
        return _run(store, _upserts(obj, rest[1], records), all_or_none, now)
    raise ApiError("METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not allowed. Allowed are GET,POST,PATCH,DELETE",
                   status=405)


def _upserts(obj, field_name: str, records: list) -> list:
    """One upsert op per record — except that every record whose external id (compared as the
    unique index does: trimmed, case-insensitive) appears more than once in the request fails
    with DUPLICATE_VALUE "Duplicate external id specified: <value>" [field], as Salesforce
    answers an upsert list holding one key twice; the other records are processed as usual."""
    f = obj.by_lower.get(field_name.lower())
    ops = [("upsert", (obj, field_name, r)) for r in records]
    if f is None or not f.external_id:
        return ops
    values = [next((v for k, v in r.items() if k.lower() == f.name.lower()), None) if isinstance(r, dict) else None
              for r in records]
    keys = [str(v).strip().lower() if v not in (None, "") else None for v in values]
    counts = Counter(k for k in keys if k is not None)
    for i, key in enumerate(keys):
        if key is not None and counts[key] > 1:
            ops[i] = ("error", ApiError("DUPLICATE_VALUE", f"Duplicate external id specified: {values[i]}", [f.name]))
    return ops


def _run(store: Store, ops: list, all_or_none: bool, now: int) -> Response:
    results: list[dict] = []
    undo: list[tuple] = []       # (obj, rec, snapshot-or-None) in application order
    failed = False
    for op, arg in ops:
        try:
            results.append(_one(store, op, arg, now, undo))
        except ApiError as e:
            failed = True
            results.append({"id": arg if op == "delete" else None, "success": False, "errors": [e.result()]}
                           if op == "delete" else {"success": False, "errors": [e.result()]})
    if all_or_none and failed:
        for obj, rec, snap in reversed(undo):
            store.restore(obj, rec, snap)
        results = [r if not r["success"] else {"success": False, "errors": [ROLLED_BACK]} for r in results]
    return Response(200, results)


def _one(store: Store, op: str, arg, now: int, undo: list) -> dict:
    if op == "error":
        raise arg
    if op == "delete":
        rid = ids.normalize(arg)
        obj = sobject(store.type_of(rid) or "") if rid else None
        if obj is None:
            raise ApiError("MALFORMED_ID", f"malformed id {arg}", [])
        rec = store.get(rid)
        snap = list(rec) if rec is not None else None
        writes.delete(store, obj, rec, now)
        undo.append((obj, rec, snap))
        return {"id": rid, "success": True, "errors": []}
    if op == "create":
        obj = _obj_of(arg)
        rec = writes.create(store, obj, arg, now)
        undo.append((obj, rec, None))
        return {"id": rec[ID], "success": True, "errors": []}
    if op == "update":
        obj = _obj_of(arg)
        raw = next((v for k, v in arg.items() if k.lower() == "id"), None)
        if raw is None:
            raise ApiError("MISSING_ARGUMENT", "Id not specified in an update call", [])
        rid = ids.normalize(raw)
        if rid is None or rid[:3] != obj.key_prefix:
            raise ApiError("MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {raw}", ["Id"])
        rec = store.get(rid)
        snap = list(rec) if rec is not None else None
        writes.update(store, obj, rec, {k: v for k, v in arg.items() if k.lower() != "id"}, now)
        undo.append((obj, rec, snap))
        return {"id": rid, "success": True, "errors": []}
    obj, field_name, item = arg
    if _obj_of(item).name != obj.name:
        raise ApiError("INVALID_TYPE", "Record type does not match the URL type", [])
    value = next((v for k, v in item.items() if k.lower() == field_name.lower()), None)
    if value in (None, ""):
        raise ApiError("MISSING_ARGUMENT", f"{field_name} not specified", [])
    f = obj.by_lower.get(field_name.lower())
    matches = [r for r in store.find_ext(obj.name, f.name, str(value)) if not r[IS_DELETED]] \
        if f is not None and f.external_id else []
    if len(matches) > 1:
        # The single-record resource answers 300; inside a collection it is this per-record error
        # (wording as Salesforce's bulk/SOAP upsert reports it; UNCONFIRMED for REST collections).
        raise ApiError("DUPLICATE_EXTERNAL_ID", "more than one record found for external id field: "
                       f"[{', '.join(r[ID] for r in matches)}]", [f.name])
    snap = list(matches[0]) if len(matches) == 1 else None
    rec, created = writes.upsert(store, obj, field_name, str(value), item, now)
    undo.append((obj, rec, None if created else snap))
    return {"id": rec[ID], "success": True, "errors": [], "created": created}


def _retrieve(store: Store, req: Request, rest: list[str], version: str, now: int) -> Response:
    obj = sobject(rest[0]) if rest else None
    if obj is None:
        raise ApiError("NOT_FOUND", "The requested resource does not exist", status=404)
    wanted = [i for i in (req.arg("ids") or "").split(",") if i]
    fields = [f for f in (req.arg("fields") or "").split(",") if f]
    if not wanted or not fields:
        raise ApiError("MISSING_ARGUMENT", "ids and fields are required", [])
    if len(wanted) > MAX_RECORDS:
        raise _too_many()
    for f in fields:
        if f.lower() not in obj.by_lower:
            raise ApiError("INVALID_FIELD", f"No such column '{f}' on sobject of type {obj.name}", [f])
    out = []
    for raw in wanted:
        rec = store.get(ids.normalize(raw))
        ok = rec is not None and rec[ID][:3] == obj.key_prefix and not rec[IS_DELETED]
        out.append(full_record(store, obj, rec, version, fields) if ok else None)
    return Response(200, out)
