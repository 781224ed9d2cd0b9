"""SOAP `merge()` on the partner endpoint `/services/Soap/u/{version}` (reference §4.1) — the only
API-level merge Salesforce has, and the one thing simple-salesforce cannot do for the sync.

Call-level problems (bad session, unknown operation, unmergeable type, malformed or mixed ids,
too many records) are SOAP faults with HTTP 500; problems with one request's records (not found,
already deleted) are `success=false` results, one `<result>` per request in order."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from sandbox import ids
from sandbox.core import Request, Response
from sandbox.salesforce import writes
from sandbox.salesforce.schema import SOBJECTS
from sandbox.salesforce.store import ID, IS_DELETED, MODSTAMP, ApiError

XML = "text/xml;charset=UTF-8"
MERGEABLE = ("Lead", "Contact", "Account")
MAX_REQUESTS = 200


class SoapFault(Exception):
    def __init__(self, code: str, message: str, fault_type: str = "UnexpectedErrorFault") -> None:
        super().__init__(message)
        self.code, self.message, self.fault_type = code, message, fault_type


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _find(el: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in el.iter() if _local(c.tag) == name), None)


def fault(f: SoapFault) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>sf:{f.code}</faultcode><faultstring>{escape(f.code)}: {escape(f.message)}</faultstring>"
        f'<detail><sf:{f.fault_type} xsi:type="sf:{f.fault_type}"><sf:exceptionCode>{f.code}</sf:exceptionCode>'
        f"<sf:exceptionMessage>{escape(f.message)}</sf:exceptionMessage></sf:{f.fault_type}></detail>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>")
    return Response(500, body, content_type=XML)


def handle(emu, req: Request) -> Response:
    """Runs with `sandbox.lock` held."""
    try:
        return _handle(emu, req)
    except SoapFault as f:
        return fault(f)


def _handle(emu, req: Request) -> Response:
    try:
        root = ET.fromstring(req.body)
    except ET.ParseError as e:
        raise SoapFault("INVALID_XML", f"Unable to parse the request: {e}", "UnexpectedErrorFault") from None
    session = _find(root, "sessionId")
    if session is None or not emu.token_valid((session.text or "").strip()):
        raise SoapFault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")
    body = _find(root, "Body")
    op = next(iter(body), None) if body is not None else None
    if op is None or _local(op.tag) != "merge":
        name = _local(op.tag) if op is not None else "(none)"
        raise SoapFault("INVALID_OPERATION",
                        f"No operation available for request {{urn:partner.soap.sforce.com}}{name}",
                        "InvalidSObjectFault")
    requests = _children(op, "request")
    if len(requests) > MAX_REQUESTS:
        raise SoapFault("LIMIT_EXCEEDED", f"Too many requests: {len(requests)} (max {MAX_REQUESTS})")
    refused = emu.spend_call()
    if refused:
        raise SoapFault("REQUEST_LIMIT_EXCEEDED", refused.message)
    plans = [_plan(r) for r in requests]          # validate every request before applying any
    now = emu.now()
    results = "".join(_merge(emu, now, *plan) for plan in plans)
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Header><LimitInfoHeader><limitInfo>"
        f"<current>{emu.api_used}</current><limit>{emu.daily_limit}</limit><type>API REQUESTS</type>"
        "</limitInfo></LimitInfoHeader></soapenv:Header>"
        f"<soapenv:Body><mergeResponse>{results}</mergeResponse></soapenv:Body></soapenv:Envelope>")
    return Response(200, envelope, content_type=XML)


def _plan(request: ET.Element) -> tuple[str, str, dict, list[str], list[str]]:
    master = _find(request, "masterRecord")
    if master is None:
        raise SoapFault("INVALID_ARGUMENT", "masterRecord is required", "InvalidSObjectFault")
    type_el = _children(master, "type")
    sobject = (type_el[0].text or "").strip() if type_el else ""
    if sobject not in SOBJECTS:
        raise SoapFault("INVALID_TYPE", f"sObject type '{sobject}' is not supported.", "InvalidSObjectFault")
    if sobject not in MERGEABLE:
        raise SoapFault("INVALID_TYPE_FOR_OPERATION", "entity type does not support merge", "InvalidSObjectFault")
    fields, to_null, master_id = {}, [], None
    for c in master:
        name = _local(c.tag)
        if name == "type":
            continue
        if name == "Id":
            master_id = (c.text or "").strip()
        elif name == "fieldsToNull":
            to_null.append((c.text or "").strip())
        else:
            fields[name] = c.text if c.text is not None else ""
    victims = [(v.text or "").strip() for v in _children(request, "recordToMergeIds")]
    if not victims:
        raise SoapFault("INVALID_ARGUMENT", "recordToMergeIds: at least one record to merge is required")
    if len(victims) > 2:
        raise SoapFault("LIMIT_EXCEEDED", "Maximum of 3 records can be merged at a time (a master and 2 others)")
    prefix = SOBJECTS[sobject].key_prefix
    checked = []
    for raw in [master_id or ""] + victims:
        norm = ids.normalize(raw)
        if norm is None or norm[:3] != prefix:
            raise SoapFault("INVALID_ID_FIELD", f"invalid record id: {raw} is not a valid {sobject} id",
                            "InvalidIdFault")
        checked.append(norm)
    return sobject, checked[0], fields, to_null, checked[1:]


def _merge(emu, now: int, sobject: str, master_id: str, fields: dict, to_null: list[str], victims: list[str]) -> str:
    store, obj = emu.store, SOBJECTS[sobject]
    try:
        if master_id in victims:
            raise ApiError("INVALID_ID_FIELD", "The master record id appears in the records to merge", ["Id"])
        master = writes.check_writable(store, obj, store.get(master_id), now)
        losers = [writes.check_writable(store, obj, store.get(v), now) for v in victims]
        body = {k: _typed(obj, k, v) for k, v in fields.items()} | {k: None for k in to_null}
        values = writes.coerce(store, obj, body, creating=False, now=now)
    except ApiError as e:
        return ("<result><errors>" + "".join(f"<fields>{escape(f)}</fields>" for f in e.fields) +
                f"<message>{escape(e.message)}</message><statusCode>{e.code}</statusCode></errors>"
                f"<id>{master_id}</id><success>false</success></result>")
    related = []
    if sobject == "Account":
        # Children follow the surviving account. Their SystemModstamp moves (UNCONFIRMED in the docs,
        # but a re-parent is a write); LastModifiedDate does not, it is not a user edit.
        for child_type in ("Contact", "Opportunity"):
            child_obj = SOBJECTS[child_type]
            pos = child_obj.by_lower["accountid"].pos
            for row in store.rows[child_type]:
                if row[pos] in victims and not row[IS_DELETED]:
                    store.update(child_obj, row, {"AccountId": master_id}, now, user=False)
                    related.append(row[ID])
    for loser in losers:
        # A merged-away contact keeps its AccountId as it was.
        store.delete(obj, loser, now, master=master_id)
    store.update(obj, master, values, now)
    master[MODSTAMP] = now
    return (f"<result><id>{master_id}</id>" + "".join(f"<mergedRecordIds>{v}</mergedRecordIds>" for v in victims) +
            "<success>true</success>" + "".join(f"<updatedRelatedIds>{r}</updatedRelatedIds>" for r in related) +
            "</result>")


def _typed(obj, name: str, text: str):
    """SOAP carries every value as text: give booleans and numbers their JSON types for validation."""
    f = obj.by_lower.get(name.lower())
    if f is None:
        return text
    if f.kind == "boolean":
        return text.strip().lower() == "true"
    if f.kind == "currency":
        try:
            return float(text)
        except ValueError:
            return text
    return text
