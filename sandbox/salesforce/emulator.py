"""The Salesforce REST emulator: routing, auth (static token + OAuth-issued expiring tokens), the
daily API allocation and its `Sforce-Limit-Info` header, sObject rows, Get Updated/Deleted and
limits. Query, Bulk 2.0 query jobs, describe, collections and SOAP live in their own modules."""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs

from sandbox import ids
from sandbox.core import Request, Response
from sandbox.salesforce import composite, describe, lead_convert, picklists, request_size, soap, writes
from sandbox.salesforce.bulk2 import Bulk2Jobs
from sandbox.salesforce.query import QueryEngine, full_record, page_size
from sandbox.salesforce.schema import (
    PERSON_TOKEN,
    PERSON_USER_ID,
    SOBJECTS,
    SYSTEM_USER_ID,
    SObject,
    format_datetime,
    parse_datetime,
    sobject,
    to_seconds,
)
from sandbox.salesforce.store import ID, IS_DELETED, MODSTAMP, ApiError, Store

API_VERSION = "59.0"
# Any version Salesforce has served (v20.0 … v62.0) is accepted and echoed back in URLs; anything else
# is a 404 NOT_FOUND, as a real org answers an unknown version.
VERSIONS = [f"{v}.0" for v in range(20, 63)]
_RELEASES = {59: "Winter '24", 60: "Spring '24", 61: "Summer '24", 62: "Winter '25"}
_VERSION_PATH = re.compile(r"^/services/data/v(\d+\.\d)(?:/(.*))?$")
INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
ORG_ID = "00DSb0000000001AAA"


def _error(e: ApiError, version: str) -> Response:
    if e.status == 300:
        # Several external-id matches: Salesforce answers 300 with the candidates' URLs.
        return Response(300, [f"/services/data/v{version}/sobjects/{ids.sobject_type(i)}/{i}"
                              for i in e.message.split(",")])
    return Response(e.status, [e.rest()])


class SalesforceEmulator:
    def __init__(self, sandbox, token: str = "sandbox", token_ttl: float = 7200.0, daily_limit: int = 100_000) -> None:
        self.sandbox = sandbox
        self.token = token
        self.token_ttl = token_ttl
        self.daily_limit = daily_limit
        self.credentials = {"username": "sandbox@example.com", "password": "sandbox", "security_token": "sandbox",
                            "client_id": "sandbox", "client_secret": "sandbox"}
        self.reset()

    def reset(self) -> None:
        self.store = Store(self.sandbox.seed)
        self.queries = QueryEngine(self.store, self.sandbox.seed)
        self.bulk2 = Bulk2Jobs(self.queries, self.store, self.now, lambda: self.sandbox.order)
        self.tokens: dict[str, float] = {}
        self.api_used = 0
        self._api_day = None

    def now(self) -> int:
        return to_seconds(self.sandbox.clock.now())

    # -- auth and limits ----------------------------------------------------------------------------

    def token_valid(self, token: str | None) -> bool:
        if not token:
            return False
        if token in (self.token, PERSON_TOKEN):
            return True
        expiry = self.tokens.get(token)
        return expiry is not None and self.sandbox.clock.now().timestamp() < expiry

    def user_for(self, token: str | None) -> str:
        """The user a valid token acts as: the integration user, or the person's static token."""
        return PERSON_USER_ID if token == PERSON_TOKEN else SYSTEM_USER_ID

    @contextmanager
    def acting(self, token: str | None) -> Iterator[None]:
        """Stamp the writes of one API call (sandbox.lock held) with its token's user; between
        calls the sandbox's own controls write as a person."""
        self.store.actor = self.user_for(token)
        try:
            yield
        finally:
            self.store.actor = PERSON_USER_ID

    def _bearer(self, req: Request) -> str | None:
        scheme, _, token = (req.headers.get("authorization") or "").partition(" ")
        return token.strip() if scheme.lower() in ("bearer", "oauth") else None

    def _usage_day(self) -> None:
        # The allocation is a rolling 24 h in Salesforce; a calendar day of sandbox time is close enough
        # to exercise "spent, then back" and keeps tests deterministic.
        day = self.sandbox.clock.now().date()
        if day != self._api_day:
            self._api_day, self.api_used = day, 0

    def limit_header(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.daily_limit}"}

    def spend_call(self) -> ApiError | None:
        """Count one API call, or refuse it when the daily allocation is spent."""
        self._usage_day()
        if self.api_used >= self.daily_limit:
            return ApiError("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", status=403)
        self.api_used += 1
        return None

    # -- entry point ---------------------------------------------------------------------------------

    @staticmethod
    def refuse_oversized(target: str, headers) -> Response | None:
        """Called by the server with the raw request-target and header lines, before faults and
        before `handle`: a 414/431 for requests over Salesforce's 16 KB URI + headers limit."""
        return request_size.refuse(target, headers)

    def handle(self, req: Request) -> Response:
        path = req.path
        if path in ("/services/data", "/services/data/") and req.method == "GET":
            return Response(200, [{"label": _RELEASES.get(int(float(v)), f"API {v}"), "url": f"/services/data/v{v}",
                                   "version": v} for v in VERSIONS])
        if path.rstrip("/") == "/services/oauth2/token":
            return self._oauth(req)
        if path.rstrip("/") == "/services/oauth2/userinfo":
            return self._userinfo(req)
        if path.startswith("/services/Soap/u/"):
            with self.sandbox.lock:
                return soap.handle(self, req)
        m = _VERSION_PATH.match(path)
        if not m or m.group(1) not in VERSIONS:
            return Response(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
        version = m.group(1)
        if not self.token_valid(self._bearer(req)):
            return Response(401, INVALID_SESSION)
        with self.sandbox.lock, self.acting(self._bearer(req)):
            refused = self.spend_call()
            if refused:
                resp = _error(refused, version)
            else:
                try:
                    resp = self._route(req, version, [p for p in (m.group(2) or "").split("/") if p])
                except ApiError as e:
                    resp = _error(e, version)
            resp.headers.update(self.limit_header())
            return resp

    def _route(self, req: Request, version: str, parts: list[str]) -> Response:
        now = self.now()
        head = parts[0] if parts else ""
        if not parts:
            return Response(200, {k: f"/services/data/v{version}/{k}" for k in
                                  ("sobjects", "query", "queryAll", "limits", "composite")})
        if head in ("query", "queryAll"):
            return self._query(req, version, parts, include_deleted=head == "queryAll")
        if head == "limits" and len(parts) == 1:
            self._method(req, "GET")
            return Response(200, self.limits())
        if head == "jobs" and len(parts) >= 2 and parts[1] == "query":
            return self.bulk2.handle(req, version, parts[2:])
        if head == "composite" and len(parts) >= 2 and parts[1] == "sobjects":
            return composite.handle(self.store, req, parts[2:], version, now)
        if head == "sobjects":
            return self._sobjects(req, version, parts[1:], now)
        raise ApiError("NOT_FOUND", "The requested resource does not exist", status=404)

    @staticmethod
    def _method(req: Request, *allowed: str) -> None:
        if req.method not in allowed:
            raise ApiError("METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not allowed. Allowed are "
                           f"{','.join(allowed)}", status=405)

    @staticmethod
    def _body(req: Request) -> dict:
        try:
            body = req.json()
        except ValueError:
            raise ApiError("JSON_PARSER_ERROR", "Unexpected character: was expecting a JSON value "
                           "at [line:1, column:1]") from None
        if not isinstance(body, dict):
            raise ApiError("JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from a non-object value")
        return body

    # -- query ----------------------------------------------------------------------------------------

    def _query(self, req: Request, version: str, parts: list[str], include_deleted: bool) -> Response:
        self._method(req, "GET")
        size = page_size(req.headers.get("sforce-query-options"))
        clock = self.sandbox.clock.now().timestamp()
        if len(parts) == 2:
            locator, _, offset = parts[1].rpartition("-")
            if not locator or not offset.isdigit():
                raise ApiError("INVALID_QUERY_LOCATOR", "invalid query locator")
            return Response(200, self.queries.next_page(locator, int(offset), size=size, version=version, now=clock))
        q = req.arg("q")
        if not q:
            raise ApiError("MALFORMED_QUERY", "A query string has to be specified")
        c, rows = self.queries.run(q, include_deleted=include_deleted, order_mode=self.sandbox.order, now=self.now())
        return Response(200, self.queries.first_page(c, rows, size=size, version=version, now=clock))

    # -- sObjects ---------------------------------------------------------------------------------------

    def _sobjects(self, req: Request, version: str, parts: list[str], now: int) -> Response:
        if not parts:
            self._method(req, "GET")
            return Response(200, {"encoding": "UTF-8", "maxBatchSize": 200,
                                  "sobjects": [describe.brief(o, version) for o in SOBJECTS.values()]})
        obj = sobject(parts[0])
        if obj is None:
            raise ApiError("NOT_FOUND", "The requested resource does not exist", status=404)
        rest = parts[1:]
        if obj.read_only and req.method != "GET":
            # A value-set object only answers reads (UNCONFIRMED: the exact Allowed list).
            self._method(req, "HEAD", "GET")
        if not rest:
            self._method(req, "GET", "POST")
            if req.method == "GET":
                return Response(200, {"objectDescribe": describe.brief(obj, version), "recentItems": []})
            rec = writes.create(self.store, obj, self._body(req), now)
            return Response(201, {"id": rec[ID], "success": True, "errors": []})
        if rest == ["describe"]:
            self._method(req, "GET")
            return Response(200, describe.describe(obj, version))
        if rest[0] in ("updated", "deleted") and len(rest) == 1:
            self._method(req, "GET")
            return Response(200, self._replication(req, obj, rest[0], now))
        if len(rest) == 1:
            return self._row(req, obj, rest[0], version, now)
        if len(rest) == 2:
            return self._by_external_id(req, obj, rest[0], rest[1], version, now)
        raise ApiError("NOT_FOUND", "The requested resource does not exist", status=404)

    def _row(self, req: Request, obj: SObject, raw_id: str, version: str, now: int) -> Response:
        self._method(req, "GET", "PATCH", "DELETE")
        rid = ids.normalize(raw_id)
        if rid is None or rid[:3] != obj.key_prefix:
            raise ApiError("MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {raw_id}", ["Id"])
        rec = self.store.get(rid)
        if rec is not None and self.store.type_of(rid) != obj.name:
            rec = None    # a LeadStatus id asked for as an OpportunityStage (they share a prefix)
        if req.method == "GET":
            writes.check_writable(self.store, obj, rec, now) if rec is None or rec[IS_DELETED] else None
            return Response(200, full_record(self.store, obj, rec, version, self._fields_arg(req, obj)))
        if req.method == "DELETE":
            writes.delete(self.store, obj, rec, now)
            return Response(204)
        body = self._body(req)
        if any(k.lower() == "id" for k in body):
            raise ApiError("INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: Id. Please check the "
                           "security settings of this field and verify that it is read/write for your profile or "
                           "permission set.", ["Id"])
        writes.update(self.store, obj, rec, body, now)
        return Response(204)

    @staticmethod
    def _fields_arg(req: Request, obj: SObject) -> list[str] | None:
        fields = [f.strip() for f in (req.arg("fields") or "").split(",") if f.strip()]
        for f in fields:
            if f.lower() not in obj.by_lower:
                raise ApiError("INVALID_FIELD", f"No such column '{f}' on sobject of type {obj.name}", [f])
        return fields or None

    def _by_external_id(self, req: Request, obj: SObject, field_name: str, value: str, version: str,
                        now: int) -> Response:
        self._method(req, "GET", "PATCH", "DELETE")
        if req.method == "PATCH":
            rec, created = writes.upsert(self.store, obj, field_name, value, self._body(req), now)
            # Upsert-update: 204 as in the documented (pre-v46-style) behaviour the reference confirms;
            # UNCONFIRMED whether v59 answers 200 + created:false instead (reference §9).
            return Response(201, {"id": rec[ID], "success": True, "errors": [], "created": True}) if created \
                else Response(204)
        f = obj.by_lower.get(field_name.lower())
        if f is None or not f.external_id:
            raise ApiError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field_name}",
                           status=404)
        matches = [r for r in self.store.find_ext(obj.name, f.name, value) if not r[IS_DELETED]]
        if not matches:
            raise ApiError("NOT_FOUND", "The requested resource does not exist", status=404)
        if len(matches) > 1:
            raise ApiError("MULTIPLE_RECORDS", ",".join(r[ID] for r in matches), status=300)
        if req.method == "DELETE":
            writes.delete(self.store, obj, matches[0], now)
            return Response(204)
        return Response(200, full_record(self.store, obj, matches[0], version, self._fields_arg(req, obj)))

    def _replication(self, req: Request, obj: SObject, kind: str, now: int) -> dict:
        """Get Updated / Get Deleted: seconds are dropped (windows are whole minutes), start must
        precede end, start may be at most 30 days back; `latestDateCovered` never passes now."""
        bounds = []
        for name in ("start", "end"):
            raw = req.arg(name)
            if not raw:
                raise ApiError("MISSING_ARGUMENT", f"Missing parameter: {name}")
            dt = parse_datetime(raw)
            if dt is None:
                # UNCONFIRMED: the exact code/message Salesforce gives for an unparseable window bound.
                raise ApiError("INVALID_DATE_FORMAT", f"Unable to parse the {name} date: {raw}")
            bounds.append(int(dt.replace(second=0, microsecond=0).timestamp()))
        start, end = bounds
        now_minute = now - now % 60
        if start >= end:
            raise ApiError("INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate by more "
                           "than one minute")
        if start < now - 30 * 86400:
            raise ApiError("INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago")
        covered = min(end, now_minute)
        rows = self.store.rows[obj.name]
        if kind == "updated":
            found = [r[ID] for r in rows if not r[IS_DELETED] and start <= r[MODSTAMP] < covered]
            if len(found) > 600_000:
                raise ApiError("EXCEEDED_ID_LIMIT", "There are more than 600,000 ids in the result")
            return {"ids": found, "latestDateCovered": format_datetime(covered)}
        earliest = now_minute - 15 * 86400
        found = [{"id": r[ID], "deletedDate": format_datetime(r[MODSTAMP])} for r in rows
                 if r[IS_DELETED] and start <= r[MODSTAMP] < covered and r[MODSTAMP] >= now - 15 * 86400]
        return {"deletedRecords": found, "earliestDateAvailable": format_datetime(earliest),
                "latestDateCovered": format_datetime(covered)}

    # -- metadata -------------------------------------------------------------------------------------

    def limits(self) -> dict:
        self._usage_day()
        return {"DailyApiRequests": {"Max": self.daily_limit, "Remaining": max(0, self.daily_limit - self.api_used)},
                "DailyBulkApiRequests": {"Max": 15000, "Remaining": 15000},
                "DataStorageMB": {"Max": 1024, "Remaining": 1024},
                "FileStorageMB": {"Max": 1024, "Remaining": 1024}}

    # -- OAuth token endpoint ---------------------------------------------------------------------------

    def _oauth(self, req: Request) -> Response:
        if req.method != "POST":
            return Response(405, {"error": "invalid_request", "error_description": "must use HTTP POST"})
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        form.update({k: v[0] for k, v in req.query.items() if k not in form})
        grant = form.get("grant_type")
        cred = self.credentials
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        scheme, _, b64 = (req.headers.get("authorization") or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, client_secret = base64.b64decode(b64).decode().partition(":")
            except ValueError:
                client_id = client_secret = None
        if grant not in ("password", "client_credentials"):
            return Response(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        if client_id != cred["client_id"]:
            return Response(400, {"error": "invalid_client_id", "error_description": "client identifier invalid"})
        if client_secret != cred["client_secret"]:
            return Response(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        if grant == "password" and (form.get("username") != cred["username"] or
                                    form.get("password") != cred["password"] + cred["security_token"]):
            return Response(400, {"error": "invalid_grant", "error_description": "authentication failure"})
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(24)}"
        issued = self.sandbox.clock.now()
        with self.sandbox.lock:
            self.tokens[token] = issued.timestamp() + self.token_ttl
        host = req.headers.get("host", "127.0.0.1")
        instance = f"http://{host}"
        return Response(200, {
            "access_token": token, "instance_url": instance, "id": f"{instance}/id/{ORG_ID}/{SYSTEM_USER_ID}",
            "token_type": "Bearer", "issued_at": str(int(issued.timestamp() * 1000)),
            "signature": base64.b64encode(hashlib.sha256(token.encode()).digest()).decode()})

    def _userinfo(self, req: Request) -> Response:
        """OpenID Connect userinfo: who the token acts as. Not counted against the daily API
        allowance (UNCONFIRMED: Salesforce documents it among the OAuth endpoints, not the REST
        API). A bad token: 403 "Bad_OAuth_Token" as plain text (UNCONFIRMED wording)."""
        token = self._bearer(req)
        if req.method not in ("GET", "POST"):
            return Response(405, {"error": "invalid_request", "error_description": "must use HTTP GET or POST"})
        if not self.token_valid(token):
            return Response(403, "Bad_OAuth_Token", content_type="text/plain")
        user = self.user_for(token)
        host = req.headers.get("host", "127.0.0.1")
        username = self.credentials["username"] if user == SYSTEM_USER_ID else "person@example.com"
        return Response(200, {
            "sub": f"http://{host}/id/{ORG_ID}/{user}", "user_id": user, "organization_id": ORG_ID,
            "preferred_username": username, "email": username, "email_verified": True,
            "name": "Integration User" if user == SYSTEM_USER_ID else "A Person", "active": True,
            "user_type": "STANDARD", "language": "en_US", "locale": "en_US", "utcOffset": 0})

    # -- sandbox plumbing -------------------------------------------------------------------------------

    def load_records(self, object_type: str, records: Iterable[dict]) -> int:
        obj = SOBJECTS.get(object_type)
        if obj is None:
            raise ValueError(f"unknown Salesforce object type {object_type!r}")
        if obj.read_only:
            raise ValueError(f"{object_type} is a value set of the org: it is read-only, not loadable")
        now = self.now()
        with self.sandbox.lock:
            return self.store.load_many(((obj.name, r) for r in records), now)

    def fault_response(self, kind: str, req: Request) -> Response:
        if kind == "429":
            # Salesforce never sends 429 on its REST API: throttling is 403 REQUEST_LIMIT_EXCEEDED
            # (reference §2.4/§5: also used for too many concurrent long-running requests).
            body = [{"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
            return Response(403, body, self.limit_header())
        if kind == "503":
            return Response(503, [{"message": "Server temporarily unavailable. Please try again later.",
                                   "errorCode": "SERVER_UNAVAILABLE"}])
        return Response(500, [{"message": "An unexpected error occurred. Please include this ErrorId if you contact "
                               "support: 1234567890-12345 (-1234567890)", "errorCode": "UNKNOWN_EXCEPTION"}])

    def endpoint_label(self, req: Request) -> str:
        path = req.path
        if path.startswith("/services/Soap/"):
            return f"{req.method} soap"
        if path.rstrip("/") == "/services/oauth2/token":
            return f"{req.method} oauth2/token"
        m = _VERSION_PATH.match(path)
        if not m:
            return f"{req.method} {path}"
        parts = [p for p in (m.group(2) or "").split("/") if p]
        if parts[:1] in (["query"], ["queryAll"]) and len(parts) == 2:
            return f"{req.method} {parts[0]} (more)"
        label = [("{id}" if ids.normalize(p) else p) for p in parts[:4]]
        if len(parts) == 4 and parts[0] == "sobjects":
            label[3] = "{value}"
        return f"{req.method} {'/'.join(label) or '/'}"

    # -- sandbox-only controls --------------------------------------------------------------------------

    def touch(self, rid: str, fields: dict) -> dict:
        """Edit a record as a Salesforce user would in the UI: validated, stamped, no API usage."""
        norm = ids.normalize(rid)
        obj = SOBJECTS.get(ids.sobject_type(norm) or "") if norm else None
        if obj is None:
            raise ApiError("MALFORMED_ID", f"id value of incorrect type: {rid}", ["Id"])
        with self.sandbox.lock:
            rec = self.store.get(norm)
            writes.update(self.store, obj, rec, fields or {}, self.now())
            return full_record(self.store, obj, rec, API_VERSION)

    def convert_lead(self, lead_id: str, contact_id: str | None = None, account_id: str | None = None, *,
                     converted_status: str | None = None, do_not_create_opportunity: bool = True,
                     opportunity_name: str | None = None, overwrite_lead_source: bool = False) -> dict:
        """Lead Convert by a Salesforce user (no API usage): the SOAP convertLead implementation
        with the UI's conveniences — the org's converted status unless one is given, the
        contact's own account when only a contact is given. Unlike the UI it makes no opportunity
        unless asked (`do_not_create_opportunity=False`), so a converted lead adds no deal."""
        with self.sandbox.lock:
            now = self.now()
            if contact_id and not account_id:
                contact = self.store.get(ids.normalize(contact_id))
                account_id = contact[SOBJECTS["Contact"].by_lower["accountid"].pos] if contact else None
            lc = lead_convert.LeadConvert(
                lead_id=lead_id, converted_status=converted_status or picklists.DEFAULT_CONVERTED_STATUS,
                account_id=account_id, contact_id=contact_id, do_not_create_opportunity=do_not_create_opportunity,
                opportunity_name=opportunity_name, overwrite_lead_source=overwrite_lead_source)
            return lead_convert.convert(self.store, lc, now)

    def convert_lead_request(self, body: dict) -> dict:
        """`POST /_sandbox/salesforce/convert-lead` {leadId, contactId?, accountId?, convertedStatus?,
        doNotCreateOpportunity? (default true), opportunityName?, overwriteLeadSource?}."""
        return self.convert_lead(
            body["leadId"], body.get("contactId"), body.get("accountId"),
            converted_status=body.get("convertedStatus"),
            do_not_create_opportunity=bool(body.get("doNotCreateOpportunity", True)),
            opportunity_name=body.get("opportunityName"), overwrite_lead_source=bool(body.get("overwriteLeadSource")))


__all__ = ["SalesforceEmulator", "API_VERSION"]
