"""The partner SOAP endpoint `/services/Soap/u/{version}`: `merge()` (reference §4.1, the only
API-level merge Salesforce has), `undelete()` and `convertLead()` (§4.3) — the calls
simple-salesforce has no helper for, posted by hand through its session.

Call-level problems (bad session, unknown operation, unmergeable type, malformed or mixed merge
ids, too many records) are SOAP faults with HTTP 500; problems with one record are
`success=false` results with `<errors>`, one `<result>` per request in order. Every call that
gets past the session check and the size check counts one API request."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from sandbox import ids
from sandbox.core import Request, Response
from sandbox.salesforce import lead_convert, writes
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
    token = (session.text or "").strip() if session is not None else ""
    if not token or not emu.token_valid(token):
        raise SoapFault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")
    with emu.acting(token):
        return _call(emu, root)


def _call(emu, root) -> Response:
    body = _find(root, "Body")
    op = next(iter(body), None) if body is not None else None
    call = _CALLS.get(_local(op.tag)) if op is not None else None
    if call is None:
        name = _local(op.tag) if op is not None else "(none)"
        raise SoapFault("INVALID_OPERATION",
                        f"No operation available for request {{urn:partner.soap.sforce.com}}{name}",
                        "InvalidSObjectFault")
    results = call(emu, op)
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Header><LimitInfoHeader><limitInfo>"
        f"<current>{emu.api_used}</current><limit>{emu.daily_limit}</limit><type>API REQUESTS</type>"
        "</limitInfo></LimitInfoHeader></soapenv:Header>"
        f"<soapenv:Body><{_local(op.tag)}Response>{results}</{_local(op.tag)}Response></soapenv:Body>"
        "</soapenv:Envelope>")
    return Response(200, envelope, content_type=XML)


def _spend(emu, items: list, limit: int, what: str) -> None:
    """The size check (a fault, not counted), then one API request for the whole call."""
    if len(items) > limit:
        raise SoapFault("EXCEEDED_ID_LIMIT" if what == "ids" else "LIMIT_EXCEEDED",
                        f"Too many {what}: {len(items)} (max {limit})")
    refused = emu.spend_call()
    if refused:
        raise SoapFault("REQUEST_LIMIT_EXCEEDED", refused.message)


def _errors(e: ApiError) -> str:
    return ("<errors>" + "".join(f"<fields>{escape(f)}</fields>" for f in e.fields) +
            f"<message>{escape(e.message)}</message><statusCode>{e.code}</statusCode></errors>")


def _id(value: str | None) -> str:
    return f"<id>{value}</id>" if value else '<id xsi:nil="true"/>'


def _merge_call(emu, op: ET.Element) -> str:
    requests = _children(op, "request")
    _spend(emu, requests, MAX_REQUESTS, "requests")
    plans = [_plan(r) for r in requests]          # validate every request before applying any
    now = emu.now()
    return "".join(_merge(emu, now, *plan) for plan in plans)


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
        return f"<result>{_errors(e)}<id>{master_id}</id><success>false</success></result>"
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


# -- undelete() -------------------------------------------------------------------------------------

def _undelete_call(emu, op: ET.Element) -> str:
    """`undelete(ids[])` → UndeleteResult[] {id, success, errors}; each id on its own (no
    AllOrNoneHeader support). A failed result keeps the id it was asked about when that id is
    well-formed (UNCONFIRMED: Salesforce may send a nil id there)."""
    raw_ids = [(el.text or "").strip() for el in _children(op, "ids")]
    _spend(emu, raw_ids, MAX_REQUESTS, "ids")
    now, out = emu.now(), []
    for raw in raw_ids:
        try:
            rec = writes.undelete(emu.store, raw, now)
        except ApiError as e:
            out.append(f"<result>{_errors(e)}{_id(ids.normalize(raw))}<success>false</success></result>")
        else:
            out.append(f"<result>{_id(rec[ID])}<success>true</success></result>")
    return "".join(out)


# -- convertLead() ----------------------------------------------------------------------------------

def _text(el: ET.Element, name: str) -> str | None:
    found = _children(el, name)
    if not found or found[0].get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true":
        return None
    return (found[0].text or "").strip() or None


def _flag(el: ET.Element, name: str) -> bool:
    return (_text(el, name) or "").lower() == "true"


def _convert_call(emu, op: ET.Element) -> str:
    """`convertLead(LeadConvert[])` → LeadConvertResult[] {accountId, contactId, leadId,
    opportunityId, success, errors}; each LeadConvert its own transaction. UNCONFIRMED: the
    per-call cap (200, as the other partner calls; Apex recommends 100)."""
    converts = _children(op, "leadConverts")
    _spend(emu, converts, MAX_REQUESTS, "leadConverts")
    now, out = emu.now(), []
    for el in converts:
        lc = lead_convert.LeadConvert(
            lead_id=_text(el, "leadId"), converted_status=_text(el, "convertedStatus"),
            account_id=_text(el, "accountId"), contact_id=_text(el, "contactId"),
            do_not_create_opportunity=_flag(el, "doNotCreateOpportunity"),
            opportunity_name=_text(el, "opportunityName"), overwrite_lead_source=_flag(el, "overwriteLeadSource"))
        try:
            res = lead_convert.convert(emu.store, lc, now)
        except ApiError as e:
            lead_id = ids.normalize(lc.lead_id or "")
            out.append('<result><accountId xsi:nil="true"/><contactId xsi:nil="true"/>' + _errors(e) +
                       (f"<leadId>{lead_id}</leadId>" if lead_id else '<leadId xsi:nil="true"/>') +
                       '<opportunityId xsi:nil="true"/><success>false</success></result>')
            continue
        out.append("<result>" + "".join(
            f"<{k}>{res[k]}</{k}>" if res[k] else f'<{k} xsi:nil="true"/>'
            for k in ("accountId", "contactId", "leadId", "opportunityId")) + "<success>true</success></result>")
    return "".join(out)


_CALLS = {"merge": _merge_call, "undelete": _undelete_call, "convertLead": _convert_call}
