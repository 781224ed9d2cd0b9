"""Salesforce connector: the real simple-salesforce client, built from settings, behind retries,
token refresh and the run's API budget.

Auth modes (README): an access token; username + password (+ security token) through the OAuth
password grant; or client credentials. The login flows request a token from
`{instance or https://{domain}.salesforce.com}/services/oauth2/token` themselves and run the client
in "direct" mode, so a 401 INVALID_SESSION_ID can be answered by a refresh and a retry (a part
whose token another part of the step has already renewed just retries with the new one).
"""
from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.bulk2 import Operation
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession, SalesforceRefusedRequest

from sync.crm import base, salesforce_bulk
from sync.crm.base import (
    TURN,
    Budget,
    BudgetExhausted,
    CrmError,
    RetryPolicy,
    WriteResult,
    failed,
    is_loopback_url,
    require_safe_scheme,
    with_retries,
)

log = logging.getLogger(__name__)
CRM = "salesforce"
COLLECTION_LIMIT = 200  # sObject Collections take at most 200 records per call
# Keep GET /query?q=… URIs well under Salesforce's ~16 KB request-line limit (reference §2.9).
MAX_SOQL_CHARS = 12_000
# Bulk API 2.0 query jobs: results pages of 50,000 records (simple-salesforce's default), and
# polls that back off from half a second to every 30 s: a job of a minute costs 7 polls, one of
# two minutes 9 (simple-salesforce's own wait_for_job, from wait=0, would poll 29 and 49 times).
BULK_PAGE_RECORDS = 50_000
BULK_POLL_FIRST, BULK_POLL_MAX = 0.5, 30.0
BULK_JOB_TIMEOUT = 6 * 3600
_BULK_PAGE = threading.Lock()


@dataclass(frozen=True)
class SalesforceConfig:
    instance_url: str = ""
    access_token: str = ""
    username: str = ""
    password: str = ""
    security_token: str = ""
    client_id: str = ""
    client_secret: str = ""
    domain: str = "login"
    version: str = "59.0"
    timeout: tuple[float, float] = (10, 60)
    write_concurrency: int = 1   # collection calls in flight at once (SfConnector._each_chunk)

    @classmethod
    def from_settings(cls) -> SalesforceConfig:
        from django.conf import settings as s
        return cls(instance_url=s.SALESFORCE_INSTANCE_URL, access_token=s.SALESFORCE_ACCESS_TOKEN,
                   username=s.SALESFORCE_USERNAME, password=s.SALESFORCE_PASSWORD,
                   security_token=s.SALESFORCE_SECURITY_TOKEN, client_id=s.SALESFORCE_CLIENT_ID,
                   client_secret=s.SALESFORCE_CLIENT_SECRET, domain=s.SALESFORCE_DOMAIN,
                   version=s.SALESFORCE_API_VERSION, timeout=s.CRM_TIMEOUT,
                   write_concurrency=s.SALESFORCE_WRITE_CONCURRENCY)

    @property
    def configured(self) -> bool:
        return bool(self.access_token or self.username or self.client_id)

    def __repr__(self) -> str:  # never print secrets
        return f"SalesforceConfig(instance_url={self.instance_url!r}, version={self.version!r})"


@dataclass(frozen=True)
class FieldInfo:
    """One field of a describe answer: what the sync checks before writing."""

    name: str
    type: str
    length: int = 0
    picklist: tuple[str, ...] = ()   # active values
    restricted: bool = False         # a value outside `picklist` is refused
    default: str = ""                # the picklist's default value

    @classmethod
    def of(cls, f: dict) -> FieldInfo:
        values = [v for v in f.get("picklistValues") or [] if v.get("active", True)]
        default = next((v["value"] for v in values if v.get("defaultValue")), "")
        return cls(name=f["name"], type=f.get("type", ""), length=int(f.get("length") or 0),
                   picklist=tuple(v["value"] for v in values), restricted=bool(f.get("restrictedPicklist")),
                   default=default)


class _TimeoutHTTP(HTTPAdapter):
    """simple-salesforce has no client-wide timeout and most of its calls pass none: without
    this a stalled connection would hang the run forever."""

    def __init__(self, timeout, **kwargs) -> None:
        self.default_timeout = timeout
        super().__init__(**kwargs)

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().send(request, **kwargs)


class _LoopbackHTTP(_TimeoutHTTP):
    """simple-salesforce always builds https:// URLs; the sandbox on 127.0.0.1 speaks plain HTTP.
    Mounted only for loopback hosts (stack notes §2)."""

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        request.url = urlunsplit(("http", parts.netloc, parts.path, parts.query, parts.fragment))
        return super().send(request, **kwargs)


RENEWALS = 3   # token renewals one attempt of a call may make (_call)


def _session_for(instance_url: str, timeout=(10, 60)) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # env proxies / CA bundles must not hijack CRM traffic
    session.mount("https://", _TimeoutHTTP(timeout))
    if instance_url and is_loopback_url(instance_url):
        netloc = urlsplit(instance_url).netloc
        session.mount(f"https://{netloc}", _LoopbackHTTP(timeout))
    return session


def _error_code(content: Any) -> tuple[str, str]:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode", ""), content[0].get("message", "")
    return "", str(content)[:500]


def translate(exc: Exception) -> CrmError:
    """Map simple-salesforce / requests exceptions onto CrmError(permanent=…)."""
    if isinstance(exc, CrmError):
        return exc
    if isinstance(exc, requests.Timeout):
        return CrmError(f"Salesforce timed out: {exc}", crm=CRM)
    if isinstance(exc, requests.ConnectionError):
        return CrmError(f"Connection to Salesforce failed: {exc.__class__.__name__}", crm=CRM)
    if isinstance(exc, (requests.RequestException, ValueError)):
        # A body cut short (ChunkedEncodingError) or not JSON at all: the request may have been
        # applied, but every call we retry is idempotent, so asking again is safe.
        return CrmError(f"Salesforce sent an unreadable response ({exc.__class__.__name__})", crm=CRM)
    if isinstance(exc, SalesforceError):
        code, message = _error_code(exc.content)
        if isinstance(exc, SalesforceRefusedRequest) and code == "REQUEST_LIMIT_EXCEEDED":
            # "TotalRequests Limit exceeded." is the daily allocation: stop the run. Any other
            # limit (e.g. ConcurrentPerOrgLongTxn: too many long requests at once) passes: back off.
            if "totalrequests" in message.lower().replace(" ", ""):
                return BudgetExhausted(f"Salesforce refused the request: {message or code}", crm=CRM)
            return CrmError(f"Salesforce throttled the request: {message or code}", crm=CRM, status=403, code=code)
        if isinstance(exc, SalesforceExpiredSession):
            return CrmError(f"Salesforce session invalid: {message}", crm=CRM, status=401, code="INVALID_SESSION_ID")
        transient = exc.status in (429, 500, 502, 503, 504) or code in ("UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE")
        return CrmError(f"Salesforce {exc.status} {code}: {message}".strip(), crm=CRM, permanent=not transient,
                        status=exc.status, code=code)
    raise exc


class SalesforceConnector:
    """All Salesforce I/O of the sync. Every request is charged to `budget` and retried when
    retrying is safe; callers get plain dicts and CrmError."""

    def __init__(self, config: SalesforceConfig, *, budget: Budget | None = None,
                 retry: RetryPolicy | None = None) -> None:
        if not config.configured:
            raise CrmError("Salesforce is not configured: set SALESFORCE_ACCESS_TOKEN (+ SALESFORCE_INSTANCE_URL), "
                           "SALESFORCE_USERNAME/PASSWORD or SALESFORCE_CLIENT_ID/SECRET.", crm=CRM, permanent=True)
        self.config = config
        self.budget = budget or Budget(CRM)
        self.retry = retry or RetryPolicy()
        self._token = config.access_token
        self._instance_url = config.instance_url
        self._client: Salesforce | None = None
        self._described: dict[str, dict[str, FieldInfo]] = {}
        self._user: dict = {}
        self._user_lock = threading.Lock()
        self._auth_lock = threading.Lock()   # one login at a time: parts of a step share the token
        self._answered: str | None = None   # the Date header of the latest answer (answered_before)

    # --- auth ---------------------------------------------------------------------------------
    @property
    def client(self) -> Salesforce:
        client = self._client
        if client is not None:
            return client
        with TURN.waiting(), self._auth_lock:
            if self._client is None:
                if not self._token:
                    self._login()
                require_safe_scheme(self._instance_url, crm=CRM)
                session = _session_for(self._instance_url, self.config.timeout)
                session.hooks["response"].append(self._note_answer)
                self._client = Salesforce(instance_url=self._instance_url, session_id=self._token,
                                          session=session, version=self.config.version)
            return self._client

    def _note_answer(self, response: requests.Response, *args, **kwargs) -> None:
        self._answered = response.headers.get("Date") or self._answered

    def answered_before(self) -> datetime | None:
        """Salesforce's clock at an answer already received (the Date header, whole seconds, cut
        down): a write sent after it gets a SystemModstamp no earlier than this. The mirror stamps
        what crmsync wrote with it instead of reading the records back: never later than the
        stamp Salesforce gave them, so a person's edit right after is still newer, and news."""
        value = self._answered
        try:
            at = parsedate_to_datetime(value) if value else None
        except (TypeError, ValueError):
            return None
        return at.astimezone(timezone.utc) if at is not None and at.tzinfo else None

    def identity_key(self) -> str:
        """Names the user these credentials act as without holding them: a SHA-256 of the
        instance and the username, client id or access token (CrmUser.key)."""
        cfg = self.config
        who = cfg.username or cfg.client_id or cfg.access_token
        return hashlib.sha256(f"{cfg.instance_url or cfg.domain}\n{who}".encode()).hexdigest()

    def user_info(self) -> dict:
        """Who crmsync is logged in as (OAuth userinfo: `user_id`, `preferred_username`, …, which
        Salesforce does not count against the API allowance), asked once per connector."""
        # Waiting for the lock is waiting for a CRM: a part holding the turn (base.Turn) must not
        # block the one that holds the lock and needs the turn back.
        with TURN.waiting(), self._user_lock:
            if not self._user:
                info = self._call(lambda sf: sf.oauth2("userinfo"), describe="userinfo")
                if not isinstance(info, dict) or not info.get("user_id"):
                    raise CrmError("Salesforce's userinfo named no user", crm=CRM, code="NO_USER_ID")
                self._user = info
            return self._user

    def own_user_id(self) -> str:
        return str(self.user_info()["user_id"])

    def _can_login(self) -> bool:
        return bool(self.config.username or self.config.client_id)

    def _login(self) -> None:
        """OAuth token request (password or client-credentials grant). Not retried blindly on
        bad credentials: that is permanent."""
        cfg = self.config
        base = cfg.instance_url or f"https://{cfg.domain}.salesforce.com"
        require_safe_scheme(base, crm=CRM)
        if cfg.username:
            data = {"grant_type": "password", "username": cfg.username,
                    "password": cfg.password + cfg.security_token}
            if cfg.client_id:
                data.update(client_id=cfg.client_id, client_secret=cfg.client_secret)
        else:
            data = {"grant_type": "client_credentials", "client_id": cfg.client_id,
                    "client_secret": cfg.client_secret}
        self.budget.charge()
        try:
            response = _session_for(base, cfg.timeout).post(f"{base}/services/oauth2/token", data=data, timeout=cfg.timeout)
        except requests.RequestException as exc:
            raise translate(exc) from None
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = response.text[:200]
            if isinstance(body, dict):  # OAuth errors: {"error": ..., "error_description": ...}
                detail = f"{body.get('error')}: {body.get('error_description')}"
            else:  # REST-style errors (limits, outages) come as a list
                detail = " ".join(_error_code(body)).strip()
            # Bad credentials are permanent; an outage or a limit on the token endpoint is not.
            raise CrmError(f"Salesforce login failed ({response.status_code}) {detail}", crm=CRM,
                           permanent=response.status_code in (400, 401), status=response.status_code,
                           code="LOGIN_FAILED")
        body = response.json()
        self._token = body["access_token"]
        self._instance_url = body.get("instance_url") or self._instance_url
        self._client = None

    def _renew(self, refused: str) -> bool:
        """A fresh token after Salesforce refused `refused`; False if there is no way to get one.
        When parts of a step share the connector, the first to see the refusal logs in and the
        others, whose requests carried the same old token, take the new one."""
        with TURN.waiting(), self._auth_lock:
            if self._token and self._token != refused:
                return True
            if not self._can_login():
                return False
            self._login()
            return True

    # --- the call wrapper ---------------------------------------------------------------------
    def _call(self, fn: Callable[[Salesforce], Any], *, describe: str) -> Any:
        def attempt():
            # A refused token is renewed and the request sent again within the attempt: an
            # expired session is not a fault of the service, and must not use up the retries a
            # 500 or a timeout may need. A refusal never applied the request, so resending is
            # safe. Refused again and again right after renewals, or with no credentials to log
            # in with, the session is not coming back: permanent.
            for renewal in range(RENEWALS + 1):
                self.budget.charge()
                client = self.client
                try:
                    result = fn(client)
                except (SalesforceError, requests.RequestException, ValueError) as exc:
                    error = translate(exc)
                    if error.code == "INVALID_SESSION_ID":
                        if renewal < RENEWALS and self._renew(client.session_id):
                            log.info("Salesforce %s: the session had expired; sent again with a new one", describe)
                            continue
                        error.permanent = True
                    raise error from None
                self._observe_usage()
                return result

        return with_retries(attempt, policy=self.retry, describe=f"Salesforce {describe}")

    def _observe_usage(self) -> None:
        usage = (self._client.api_usage or {}).get("api-usage") if self._client else None
        if usage is not None:
            self.budget.observe(usage.used, usage.total)

    # --- reads --------------------------------------------------------------------------------
    def query_page(self, soql: str, *, include_deleted: bool = False) -> dict:
        """A query's first page as Salesforce sent it: `totalSize` counts the whole result."""
        return self._call(lambda sf: sf.query(soql, include_deleted=include_deleted), describe="query")

    def query_pages(self, soql: str, *, include_deleted: bool = False, first: dict | None = None) -> Iterator[list[dict]]:
        """Yield the records of a SOQL query page by page (2,000 rows a page), in the order
        Salesforce returned them, from `first` (query_page's answer) when given. A failed page
        is retried from its own nextRecordsUrl."""
        page = first or self.query_page(soql, include_deleted=include_deleted)
        while True:
            yield page["records"]
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            next_url = page["nextRecordsUrl"]
            page = self._call(lambda sf, u=next_url: sf.query_more(u, identifier_is_url=True,
                                                                  include_deleted=include_deleted),
                              describe="query more")

    def query_in(self, template: str, values: list[str], *, include_deleted: bool = False) -> Iterator[dict]:
        """Run `template` (with one `{}` for an IN list) over `values`, split so no query URI
        gets too long. Values are escaped with format_soql."""
        chunk: list[str] = []
        size = len(template)
        for value in values:
            cost = len(value) * 3 + 4  # worst case after URL encoding
            if chunk and size + cost > MAX_SOQL_CHARS:
                yield from self._query_chunk(template, chunk, include_deleted)
                chunk, size = [], len(template)
            chunk.append(value)
            size += cost
        if chunk:
            yield from self._query_chunk(template, chunk, include_deleted)

    def _query_chunk(self, template: str, chunk: list[str], include_deleted: bool) -> Iterator[dict]:
        for records in self.query_pages(format_soql(template, chunk), include_deleted=include_deleted):
            yield from records

    def bulk_query_pages(self, soql: str, *, include_deleted: bool = True) -> Iterator[list[dict]]:
        """The records of a SOQL query through a Bulk API 2.0 query job (queryAll with
        `include_deleted`, so deleted and merged-away rows come as through REST queryAll), in the
        order Salesforce returned them, shaped as REST query records (salesforce_bulk) in lists
        of at most 2,000. Each call (create, every poll, every results page) is charged and
        retried on its own, a page from its own locator; a lost create answer may leave an unread
        job behind (Salesforce deletes it after 7 days). simple-salesforce's `query_all` would
        make the same calls, but as one generator nothing can resume halfway."""
        sobject = salesforce_bulk.sobject_of(soql)
        types = {name: f.type for name, f in self.describe(sobject).items()}

        def jobs(sf: Salesforce):
            return getattr(sf.bulk2, sobject)._client

        operation = Operation.query_all if include_deleted else Operation.query
        job = self._call(lambda sf: jobs(sf).create_job(operation, soql), describe=f"bulk query {sobject}")
        job_id = job["id"]
        self._wait_for_job(jobs, job_id, sobject)
        locator = ""
        while True:
            # One results page (50,000 rows of CSV) in memory at a time across the pull's streams:
            # four objects' pages at once held 150 MB more at 100,000 people.
            with _BULK_PAGE:
                page = self._call(lambda sf, loc=locator: jobs(sf).get_query_results(job_id, loc, BULK_PAGE_RECORDS),
                                  describe=f"bulk results {sobject}")
                yield from salesforce_bulk.records(page["records"], sobject=sobject, types=types,
                                                   version=self.config.version)
                locator = page["locator"]
                del page
            if not locator:
                return

    def _wait_for_job(self, jobs, job_id: str, sobject: str) -> None:
        delay, deadline = BULK_POLL_FIRST, base.monotonic() + BULK_JOB_TIMEOUT
        while True:
            base.sleep(delay)
            state = self._call(lambda sf: jobs(sf).get_job(job_id, True), describe=f"bulk job {sobject}")
            if state["state"] == "JobComplete":
                return
            if state["state"] in ("Aborted", "Failed"):
                # A failed query job (a timeout on Salesforce's side, mostly) may well run next time.
                raise CrmError(f"Salesforce bulk query job {job_id} on {sobject} {state['state'].lower()}: "
                               f"{state.get('errorMessage') or 'no reason given'}", crm=CRM, code="BULK_JOB_FAILED")
            if base.monotonic() > deadline:
                raise CrmError(f"Salesforce bulk query job {job_id} on {sobject} still {state['state']} after "
                               f"{BULK_JOB_TIMEOUT // 3600} h", crm=CRM, code="BULK_JOB_TIMEOUT")
            delay = min(BULK_POLL_MAX, delay * 2)

    def limits(self) -> dict:
        return self._call(lambda sf: sf.limits(), describe="limits")

    def describe(self, sobject: str) -> dict[str, FieldInfo]:
        """The object's fields as the org defines them (lengths, picklist values), read once per
        connector: what a write must fit before Salesforce refuses it."""
        if sobject not in self._described:
            body = self._call(lambda sf: getattr(sf, sobject).describe(), describe=f"describe {sobject}")
            self._described[sobject] = {f["name"]: FieldInfo.of(f) for f in (body or {}).get("fields", [])}
        return self._described[sobject]

    # --- writes (all idempotent: updates, and creates as upserts by external id) ---------------
    def upsert(self, sobject: str, external_field: str, records: list[dict]) -> list[WriteResult]:
        """sObject Collections upsert, 200 records a call, one result per record in order, keyed
        by its external-id value. Creating by external id means a response lost after Salesforce
        applied it cannot make a second record on retry (the retry answers `created: false`)."""
        def send(chunk: list[dict]) -> list[WriteResult]:
            body = {"allOrNone": False, "records": [{"attributes": {"type": sobject}, **r} for r in chunk]}
            tries: list[int] = []   # one entry per attempt (this call's own: others may be in flight)

            def call(sf: Salesforce):
                tries.append(1)
                return sf.restful(f"composite/sobjects/{sobject}/{external_field}", method="PATCH", json=body)

            at = self.answered_before()
            answers = self._call(call, describe=f"upsert {sobject}")
            return [replace(_result(str(r.get(external_field) or ""), a), retried=len(tries) > 1, at=at)
                    for r, a in zip(chunk, answers, strict=True)]

        return self._each_chunk(records, send)

    def update(self, records: list[dict]) -> list[WriteResult]:
        """sObject Collections update (each record carries attributes.type and Id), 200 a call,
        one result per record in order, keyed by Id."""
        def send(chunk: list[dict]) -> list[WriteResult]:
            at = self.answered_before()
            answers = self._call(lambda sf: sf.restful("composite/sobjects", method="PATCH",
                                                       json={"allOrNone": False, "records": chunk}),
                                 describe="update collection")
            return [replace(_result(r["Id"], a), at=at) for r, a in zip(chunk, answers, strict=True)]

        return self._each_chunk(records, send)

    def _each_chunk(self, records: list[dict], send: Callable[[list[dict]], list[WriteResult]]) -> list[WriteResult]:
        """Collections of 200, their answers in the records' order, up to `write_concurrency`
        calls in flight. Salesforce locks the parent a child's lookup names (a field ending in Id)
        while the write runs, and two calls writing children of one account at once wait for each
        other or fail with UNABLE_TO_LOCK_ROW: records that set lookups go into calls whose parents
        no other call names (`_disjoint_chunks`), or one call at a time when a parent has more
        children than one call holds."""
        if any(_sets_lookup(r) for r in records):
            chunks = _disjoint_chunks(records, COLLECTION_LIMIT)
            if chunks is None:
                return [result for chunk in _chunks(records, COLLECTION_LIMIT) for result in send(chunk)]
        else:
            chunks = [list(range(i, min(i + COLLECTION_LIMIT, len(records))))
                      for i in range(0, len(records), COLLECTION_LIMIT)]
        workers = min(self.config.write_concurrency, len(chunks))
        out: list[WriteResult | None] = [None] * len(records)

        def one(chunk: list[int]) -> None:
            for i, result in zip(chunk, send([records[i] for i in chunk]), strict=True):
                out[i] = result

        if workers <= 1:
            for chunk in chunks:
                one(chunk)
        else:
            # Each call in the caller's context (base.PART: whose calls they are).
            contexts = [contextvars.copy_context() for _ in chunks]
            with TURN.waiting(), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sf-write") as pool:
                list(pool.map(lambda context, chunk: context.run(one, chunk), contexts, chunks))
        return out  # type: ignore[return-value]

    def merge(self, sobject: str, master_id: str, merge_ids: list[str], values: dict | None = None) -> dict:
        """SOAP merge(): a master and up to two records; `values` are set on the master by the
        same call (how Salesforce's own merge screen keeps a field of a merged record). Not
        retried: a merge that may have been applied is re-checked by the caller instead."""
        if not 1 <= len(merge_ids) <= 2:
            raise ValueError("Salesforce merges a master with one or two records per call")
        fields = "".join(f"<urn1:{escape(k)}>{escape(str(v))}</urn1:{escape(k)}>" for k, v in (values or {}).items()
                         if v not in (None, ""))
        empty = "".join(f"<urn1:fieldsToNull>{escape(k)}</urn1:fieldsToNull>" for k, v in (values or {}).items()
                        if v in (None, ""))
        ids = "".join(f"<urn:recordToMergeIds>{escape(i)}</urn:recordToMergeIds>" for i in merge_ids)
        return self._soap("merge", f"<urn:request><urn:masterRecord><urn1:type>{escape(sobject)}</urn1:type>{empty}"
                                   f"<urn1:Id>{escape(master_id)}</urn1:Id>{fields}</urn:masterRecord>{ids}</urn:request>")

    def undelete(self, record_id: str) -> dict:
        """SOAP undelete() of one record in the recycle bin (a merged-away record too, for 15 days):
        `{id, success, errors}`; a record that is not in the bin answers UNDELETE_FAILED."""
        return self._soap("undelete", f"<urn:ids>{escape(record_id)}</urn:ids>")

    def convert_lead(self, lead_id: str, *, contact_id: str, account_id: str, converted_status: str) -> dict:
        """SOAP convertLead() into an existing contact and its account, without an opportunity."""
        return self._soap("convertLead", "<urn:leadConverts>"
                                         f"<urn:accountId>{escape(account_id)}</urn:accountId>"
                                         f"<urn:contactId>{escape(contact_id)}</urn:contactId>"
                                         f"<urn:convertedStatus>{escape(converted_status)}</urn:convertedStatus>"
                                         "<urn:doNotCreateOpportunity>true</urn:doNotCreateOpportunity>"
                                         f"<urn:leadId>{escape(lead_id)}</urn:leadId></urn:leadConverts>")

    def _soap(self, call: str, body: str) -> dict:
        """One SOAP call on the partner endpoint (simple-salesforce has none): its first result."""
        token = escape(self._token or self.client.session_id)
        envelope = ('<?xml version="1.0" encoding="UTF-8"?>'
                    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                    'xmlns:urn="urn:partner.soap.sforce.com" xmlns:urn1="urn:sobject.partner.soap.sforce.com">'
                    f"<soapenv:Header><urn:SessionHeader><urn:sessionId>{token}</urn:sessionId></urn:SessionHeader>"
                    f"</soapenv:Header><soapenv:Body><urn:{call}>{body}</urn:{call}></soapenv:Body></soapenv:Envelope>")
        self.budget.charge()
        sf = self.client
        try:
            response = sf.session.post(f"https://{sf.sf_instance}/services/Soap/u/{sf.sf_version}",
                                       data=envelope.encode("utf-8"), timeout=self.config.timeout,
                                       headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": call})
        except requests.RequestException as exc:
            raise translate(exc) from None
        return _parse_soap_response(response, call)


def _result(key: str, answer: dict) -> WriteResult:
    """A collection answer (`{id, success, errors[{statusCode, message, fields}]}`) as a WriteResult."""
    if answer.get("success"):
        return WriteResult(key=key, ok=True, id=answer.get("id") or key, created=bool(answer.get("created")))
    errors = answer.get("errors") or []
    first = errors[0] if errors else {}
    return failed(key, "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors) or "refused",
                  code=first.get("statusCode", ""), fields=tuple(first.get("fields") or ()))


def _lookups(record: dict) -> set[str]:
    return {str(v) for k, v in record.items() if k.endswith("Id") and k != "Id" and v}


def _sets_lookup(record: dict) -> bool:
    return bool(_lookups(record))


def _disjoint_chunks(records: list[dict], size: int) -> list[list[int]] | None:
    """The records' positions in calls of at most `size` such that no two calls name one parent:
    the records that share a parent (through any lookup, transitively) stay in one call. None when
    such a family is larger than a call: then the calls go one at a time, in order."""
    parent_of: dict[str, int] = {}
    family = list(range(len(records)))

    def root(i: int) -> int:
        while family[i] != i:
            family[i] = family[family[i]]
            i = family[i]
        return i

    for i, r in enumerate(records):
        for p in _lookups(r):
            if p in parent_of:
                family[root(i)] = root(parent_of[p])
            else:
                parent_of[p] = i
    members: dict[int, list[int]] = {}
    for i in range(len(records)):
        members.setdefault(root(i), []).append(i)
    if any(len(m) > size for m in members.values()):
        return None
    chunks: list[list[int]] = []
    current: list[int] = []
    for m in members.values():   # in order of each family's first record
        if len(current) + len(m) > size:
            chunks.append(current)
            current = []
        current.extend(m)
    if current:
        chunks.append(current)
    return chunks


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


REPEATED = {"mergedRecordIds", "updatedRelatedIds", "errors"}


def _parse_soap_response(response: requests.Response, call: str) -> dict:
    """A SOAP answer's first <result> as a dict (repeated elements as lists, `success` a bool); a
    fault is a CrmError with its code."""
    try:
        root = ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        raise CrmError(f"Salesforce {call} answered {response.status_code} with no SOAP body", crm=CRM,
                       status=response.status_code) from None
    for el in root.iter():
        if _local(el.tag) == "Fault":
            fields = {_local(c.tag): (c.text or "") for c in el.iter()}
            code = fields.get("faultcode", "").split(":")[-1]
            raise CrmError(f"Salesforce {call} refused: {fields.get('faultstring', code)}", crm=CRM,
                           permanent=code != "SERVER_UNAVAILABLE", status=response.status_code, code=code)
    result = next((el for el in root.iter() if _local(el.tag) == "result"), None)
    if result is None:
        raise CrmError(f"Salesforce {call} response had no result", crm=CRM, status=response.status_code)
    out: dict[str, Any] = {name: [] for name in REPEATED} | {"id": "", "success": False}
    for child in result:
        name = _local(child.tag)
        if name == "errors":
            out["errors"].append({_local(c.tag): c.text or "" for c in child})
        elif name in REPEATED:
            out[name].append(child.text or "")
        elif name == "success":
            out["success"] = (child.text or "").strip() == "true"
        else:
            out[name] = child.text or ""
    return out
