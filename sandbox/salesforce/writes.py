"""Create/update/upsert/delete with Salesforce's validation rules and error wording.

Every function raises `ApiError` for the first problem found (Salesforce reports one error per
record in practice) and leaves the store untouched when it does."""
from __future__ import annotations

from sandbox import ids
from sandbox.salesforce.schema import NUMERIC, SOBJECTS, STRINGY, Field, SObject, valid_date, valid_email
from sandbox.salesforce.store import ID, IS_DELETED, ApiError, Store

LEAD_IS_CONVERTED = SOBJECTS["Lead"].by_lower["isconverted"].pos


def _json_error(kind: str, value: object) -> ApiError:
    jtype = {str: "VALUE_STRING", bool: "VALUE_TRUE" if value else "VALUE_FALSE", int: "VALUE_NUMBER_INT",
             float: "VALUE_NUMBER_FLOAT", list: "START_ARRAY", dict: "START_OBJECT"}.get(type(value), "VALUE_STRING")
    return ApiError("JSON_PARSER_ERROR", f"Cannot deserialize instance of {kind} from {jtype} value {value} "
                    "or request may be missing a required field at [line:1, column:1]")


def writable_type(obj: SObject, verb: str) -> None:
    """The value-set objects (LeadStatus, OpportunityStage) take no DML. UNCONFIRMED: the exact
    wording; this is the shape of Salesforce's "entity type cannot be …" errors."""
    if obj.read_only:
        raise ApiError("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be {verb}: {obj.label}", [])


def check_text(f: Field, value: str) -> None:
    """The checks on a string-like value: email syntax, restricted picklist, length — in that
    order, each with Salesforce's code and wording (`<label>: …`, fields [the field])."""
    if f.kind == "email" and not valid_email(value.strip()):
        raise ApiError("INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {value}", [f.name])
    if f.restricted and value not in f.allowed:
        # UNCONFIRMED: whether Salesforce matches restricted values case-insensitively; exact here.
        raise ApiError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                       f"{f.label}: bad value for restricted picklist field: {value}", [f.name])
    if f.length and len(value) > f.length:
        raise ApiError("STRING_TOO_LONG", f"{f.label}: data value too large: {value} "
                       f"(max length={f.length})", [f.name])


def coerce(store: Store, obj: SObject, body: dict, *, creating: bool, now: int,
           allow_readonly: bool = False) -> dict:
    """Turn a JSON body into stored values, with Salesforce's checks and messages."""
    if not isinstance(body, dict):
        raise _json_error("SObject", body)
    writable_type(obj, "inserted" if creating else "updated")
    values: dict = {}
    readonly = []
    for key, value in body.items():
        if key == "attributes":
            continue
        f = obj.by_lower.get(key.lower())
        if f is None:
            raise ApiError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key])
        if not allow_readonly and not (f.createable if creating else f.updateable):
            readonly.append(f.name)
            continue
        if value is None or value == "":
            values[f.name] = False if f.kind == "boolean" else None
            continue
        if f.kind == "boolean":
            if not isinstance(value, bool):
                raise _json_error("boolean", value)
        elif f.kind in NUMERIC:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise _json_error("double", value)
            try:
                value = float(value)
            except ValueError:
                raise _json_error("double", value) from None
        elif f.kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                raise _json_error("int", value)
            value = int(value)
        elif f.kind == "date":
            if not isinstance(value, str) or not valid_date(value[:10]):
                raise _json_error("date", value)
            value = value[:10]
        elif f.kind in STRINGY:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise _json_error("string", value)
            if f.kind == "reference":
                value = _reference(store, obj, f, value, now)
            else:
                check_text(f, value)
        values[f.name] = value
    if readonly:
        raise ApiError("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {', '.join(readonly)}. "
                       "Please check the security settings of this field and verify that it is read/write for "
                       "your profile or permission set.", readonly)
    return values


def _reference(store: Store, obj: SObject, f, value: str, now: int) -> str:
    norm = ids.normalize(value)
    target_type = obj.name if f.reference_to == "self" else f.reference_to
    if norm is None or ids.sobject_type(norm) != target_type:
        raise ApiError("MALFORMED_ID" if norm is None else "FIELD_INTEGRITY_EXCEPTION",
                       f"{f.label}: id value of incorrect type: {value}", [f.name])
    target = store.get(norm)
    if target is None or store.purged(target, now):
        raise ApiError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
    if target[IS_DELETED]:
        raise ApiError("ENTITY_IS_DELETED", "entity is deleted", [f.name])
    return norm


def _required(obj: SObject, merged: dict) -> None:
    missing = [f.name for f in obj.fields if f.required and merged.get(f.name) in (None, "")]
    if missing:
        raise ApiError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)


def _unique(store: Store, obj: SObject, values: dict, self_id: str | None) -> None:
    for f in obj.external_ids():
        value = values.get(f.name)
        if value is None:
            continue
        for other in store.find_ext(obj.name, f.name, value):
            if other[ID] != self_id and not other[IS_DELETED]:
                raise ApiError("DUPLICATE_VALUE", f"duplicate value found: {f.name} duplicates value on record "
                               f"with id: {other[ID]}", [])


def create(store: Store, obj: SObject, body: dict, now: int) -> list:
    if isinstance(body, dict) and any(k.lower() == "id" for k in body):
        raise ApiError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
    values = coerce(store, obj, body, creating=True, now=now)
    _required(obj, {f.name: f.default for f in obj.fields} | values)
    _unique(store, obj, values, None)
    return store.insert(obj, values, now)


def check_writable(store: Store, obj: SObject, rec: list | None, now: int) -> list:
    if rec is None or store.purged(rec, now):
        raise ApiError("NOT_FOUND", "The requested resource does not exist", status=404)
    if rec[IS_DELETED]:
        raise ApiError("ENTITY_IS_DELETED", "entity is deleted", status=404)
    if obj.name == "Lead" and rec[LEAD_IS_CONVERTED]:
        raise ApiError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
    return rec


def update(store: Store, obj: SObject, rec: list, body: dict, now: int, *, user: bool = True) -> None:
    check_writable(store, obj, rec, now)
    values = coerce(store, obj, body, creating=False, now=now)
    _required(obj, {f.name: rec[f.pos] for f in obj.fields} | values)
    _unique(store, obj, values, rec[ID])
    store.update(obj, rec, values, now, user=user)


def delete(store: Store, obj: SObject, rec: list | None, now: int) -> None:
    writable_type(obj, "deleted")
    if rec is None or store.purged(rec, now):
        raise ApiError("NOT_FOUND", "The requested resource does not exist", status=404)
    if rec[IS_DELETED]:
        raise ApiError("ENTITY_IS_DELETED", "entity is deleted", status=404)
    store.delete(obj, rec, now)


def upsert(store: Store, obj: SObject, field_name: str, value: str, body: dict, now: int) -> tuple[list, bool]:
    """Returns (record, created). Raises 300 (as ApiError status 300) on several matches."""
    writable_type(obj, "upserted")
    f = obj.by_lower.get(field_name.lower())
    if f is None or not (f.external_id or f.name == "Id"):
        raise ApiError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field_name}",
                       status=404)
    if isinstance(body, dict) and any(k.lower() == f.name.lower() for k in body) and \
            str(next(v for k, v in body.items() if k.lower() == f.name.lower())) != value:
        raise ApiError("INVALID_FIELD", f"The value of {f.name} in the request body does not match the "
                       "value in the URL", [f.name])
    if f.name == "Id":
        rec = store.get(ids.normalize(value))
        matches = [rec] if rec is not None and not rec[IS_DELETED] else []
    else:
        matches = [r for r in store.find_ext(obj.name, f.name, value) if not r[IS_DELETED]]
    if len(matches) > 1:
        raise ApiError("MULTIPLE_RECORDS", ",".join(r[ID] for r in matches), status=300)
    if matches:
        body = {k: v for k, v in body.items() if k.lower() != f.name.lower()}
        update(store, obj, matches[0], body, now)
        return matches[0], False
    if f.name == "Id":
        raise ApiError("NOT_FOUND", "The requested resource does not exist", status=404)
    body = {k: v for k, v in body.items() if k.lower() != f.name.lower()} | {f.name: value}
    return create(store, obj, body, now), True


NOT_IN_BIN = "Entity is not in the recycle bin"


def undelete(store: Store, raw_id: str, now: int) -> list:
    """SOAP undelete() of one id (UndeleteResult errors as Salesforce words them). A row that is
    live, purged from the bin, or unknown is UNDELETE_FAILED "Entity is not in the recycle bin"
    (the documented answer for a purged row; UNCONFIRMED that a live or never-seen id gets the
    same); an external id a live row took meanwhile is DUPLICATE_VALUE, as on any write."""
    rid = ids.normalize(raw_id)
    if rid is None:
        # UNCONFIRMED: SOAP may fault on a malformed ID instead; per record, as delete() reports it.
        raise ApiError("MALFORMED_ID", f"malformed id {raw_id}", [])
    name = store.type_of(rid)
    obj = SOBJECTS.get(name) if name else None
    rec = store.get(rid)
    if obj is not None:
        writable_type(obj, "undeleted")
    if obj is None or rec is None or not rec[IS_DELETED] or store.purged(rec, now):
        raise ApiError("UNDELETE_FAILED", NOT_IN_BIN, [])
    _unique(store, obj, {f.name: rec[f.pos] for f in obj.external_ids()}, rid)
    store.undelete(obj, rec, now)
    return rec
