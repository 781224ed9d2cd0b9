"""HubSpot connector: the real hubspot-api-client, built from settings, behind retries, the
ten-second/secondly rate-limit windows and the run's API budget.

Calls go through the client's generated `*_with_http_info` methods with `_preload_content=False`:
the same HTTP path as the plain methods, but we get the response headers (rate-limit and daily
usage) and skip the generated models' slow deserialisation, which dominates a large pull.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
import urllib3
from hubspot import HubSpot
from hubspot.discovery.discovery_base import DiscoveryBase
from urllib3.util.retry import Retry

from sync.crm.base import (
    Budget,
    BudgetExhausted,
    CrmError,
    RetryPolicy,
    WriteResult,
    failed,
    require_safe_scheme,
    with_retries,
)
from sync.crm.ratelimit import Limiter, Rate, shared_window

log = logging.getLogger(__name__)
CRM = "hubspot"
BATCH_LIMIT = 100
SEARCH_LIMIT = 200
SEARCH_CAP = 10_000
V4_BATCH_LIMIT = 1_000  # HubSpot refuses to page a search past 10,000 results
SEARCH_RATE = Rate(5, 1.0)  # search endpoints: 5 requests a second per account, whatever the tier
LIST_PAGE_LIMIT = 250    # list memberships a page, the most HubSpot gives
CONTACT_LIST_TYPE = "0-1"
LAST_MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate"}


@dataclass(frozen=True)
class HubSpotConfig:
    access_token: str = ""
    base_url: str = "https://api.hubapi.com"
    timeout: tuple[float, float] = (10, 60)
    rate_limit: Rate = Rate(100, 10.0)  # until HubSpot's own X-HubSpot-RateLimit-Max says otherwise
    redis_url: str = ""                 # where the workers share the rate-limit windows (else: in memory)

    @classmethod
    def from_settings(cls) -> HubSpotConfig:
        from django.conf import settings as s
        return cls(access_token=s.HUBSPOT_ACCESS_TOKEN, base_url=s.HUBSPOT_BASE_URL, timeout=s.CRM_TIMEOUT,
                   rate_limit=s.HUBSPOT_RATE_LIMIT, redis_url=s.REDIS_URL)

    def limiter_key(self) -> str:
        """HubSpot counts per app and account: one window per token, named by a digest of it."""
        return "hubspot:" + hashlib.sha256(f"{self.base_url}|{self.access_token}".encode()).hexdigest()[:16]

    def __repr__(self) -> str:  # never print the token
        return f"HubSpotConfig(base_url={self.base_url!r})"


def _cached_factory():
    """Each `client.crm.contacts.basic_api` access builds a new ApiClient and connection pool
    (stack notes §3); cache one per API so keep-alive connections are reused."""
    cache: dict[tuple, Any] = {}

    def factory(api_client_package, api_name, config):
        key = (api_client_package.__name__, api_name)
        if key not in cache:
            cache[key] = DiscoveryBase._default_api_factory(api_client_package, api_name, config)
        return cache[key]

    return factory


def _json(body: Any) -> Any:
    if not body:
        return None
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        return json.loads(body)
    except ValueError:
        return None


class _HttpError(Exception):
    """An HTTP error from `api_request` (which does not raise), shaped like the SDK's ApiException."""

    def __init__(self, status: int, body: str, headers, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.body, self.headers, self.reason = status, body, headers, reason


def translate(exc: Exception) -> CrmError:
    if isinstance(exc, CrmError):
        return exc
    status = getattr(exc, "status", None)
    if status is not None and hasattr(exc, "body"):
        body = _json(exc.body) or {}
        message = body.get("message") or getattr(exc, "reason", "") or "error"
        category = body.get("category") or body.get("errorType") or ""
        if status == 429:
            policy = body.get("policyName", "")
            if policy == "DAILY":
                return BudgetExhausted(f"HubSpot daily API limit reached: {message}", crm=CRM)
            headers = getattr(exc, "headers", None) or {}
            retry_after = headers.get("Retry-After")
            wait = float(retry_after) if retry_after else (1.0 if policy == "SECONDLY" else
                                                           int(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds",
                                                                           10_000)) / 1000)
            return CrmError(f"HubSpot rate limit ({policy or 'unknown policy'}): {message}", crm=CRM, status=429,
                            code="RATE_LIMIT", retry_after=wait)
        if status == 0:
            return CrmError(f"HubSpot connection failed: {getattr(exc, 'reason', exc)}", crm=CRM)
        transient = status in (500, 502, 503, 504)
        return CrmError(f"HubSpot {status} {category}: {message}".strip(), crm=CRM, permanent=not transient,
                        status=status, code=category)
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
        timed_out = isinstance(exc, urllib3.exceptions.TimeoutError) or isinstance(
            getattr(exc, "reason", None), urllib3.exceptions.TimeoutError)
        return CrmError(f"HubSpot connection failed: {exc.__class__.__name__}", crm=CRM,
                        code="TIMEOUT" if timed_out else "")
    raise exc


class HubSpotConnector:
    def __init__(self, config: HubSpotConfig, *, budget: Budget | None = None,
                 retry: RetryPolicy | None = None, ledger=None) -> None:
        """`ledger` (sync.engine.echo.Ledger, or None): told about every batch write, which then
        carries the ledger's marker in the `crmsync_write` property (see echo.py)."""
        if not config.access_token:
            raise CrmError("HubSpot is not configured: set HUBSPOT_ACCESS_TOKEN.", crm=CRM, permanent=True)
        require_safe_scheme(config.base_url, crm=CRM)
        self.config = config
        self.budget = budget or Budget(CRM)
        self.retry = retry or RetryPolicy()
        # Our own retry loop decides what to retry; urllib3 must not retry behind its back
        # (by default it silently retries GETs that carry Retry-After).
        no_retry = Retry(total=0, connect=0, read=0, status=0, redirect=0, raise_on_status=False,
                         respect_retry_after_header=False)
        self.client = HubSpot(access_token=config.access_token, host=config.base_url, base_url=config.base_url,
                              retry=no_retry, api_factory=_cached_factory())
        key = config.limiter_key()
        self._burst_key, self._search_key = f"{key}:burst", f"{key}:search"
        self.limiter = Limiter(shared_window(config.redis_url),
                               {self._burst_key: config.rate_limit, self._search_key: SEARCH_RATE})
        self._ensured: set[tuple[str, str]] = set()  # unique properties known to exist (ensure_unique_property)
        self.ledger = ledger

    def _api(self, object_type: str, name: str):
        return getattr(getattr(self.client.crm, object_type), name)

    def _call(self, api, method: str, *args, describe: str, **kwargs) -> Any:
        search = method == "do_search" and type(api).__name__ != "ListsApi"  # lists search: not a CRM search

        def attempt():
            self.budget.charge()
            self._wait_turn(search=search)
            try:
                response = getattr(api, f"{method}_with_http_info")(
                    *args, _preload_content=False, _request_timeout=self.config.timeout, **kwargs)
                data = response.data  # read here: a body cut short fails now, inside the retry
            except Exception as exc:  # every sub-package has its own ApiException class
                raise translate(exc) from None
            self._observe(response.headers)
            body = _json(data)
            if data and body is None:  # a 2xx whose body is not JSON: idempotent calls ask again
                raise CrmError(f"HubSpot sent an unreadable response to {describe}", crm=CRM)
            return body

        return with_retries(attempt, policy=self.retry, describe=f"HubSpot {describe}")

    def _wait_turn(self, *, search: bool = False) -> None:
        """Every worker's requests share HubSpot's windows (ratelimit.py): wait for a slot."""
        if search:
            self.limiter.acquire(self._search_key)
        self.limiter.acquire(self._burst_key)

    def _observe(self, headers) -> None:
        burst, interval = headers.get("X-HubSpot-RateLimit-Max"), headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
        if burst and interval and burst.isdigit() and interval.isdigit() and int(burst) > 0 and int(interval) > 0:
            self.limiter.set_rate(self._burst_key, Rate(int(burst), int(interval) / 1000))
        daily = headers.get("X-HubSpot-RateLimit-Daily")
        remaining = headers.get("X-HubSpot-RateLimit-Daily-Remaining")
        if daily and remaining is not None:
            self.budget.observe(int(daily) - int(remaining), int(daily))

    # --- reads --------------------------------------------------------------------------------
    def list_pages(self, object_type: str, properties: list[str], *, archived: bool = False) -> Iterator[list[dict]]:
        """Every live record (or, `archived`, every deleted or merged-away one HubSpot still
        keeps, with `archivedAt`), 100 a page (the most the list endpoint gives)."""
        after = None
        api = self._api(object_type, "basic_api")
        while True:
            kwargs = {"limit": BATCH_LIMIT, "properties": properties, "archived": archived}
            if after:
                kwargs["after"] = after
            page = self._call(api, "get_page", describe=f"list {object_type}", **kwargs)
            yield page.get("results", [])
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def modified_since(self, object_type: str, since: datetime, properties: list[str], *,
                       window=None) -> Iterator[list[dict]]:
        """Records modified at or after `since`, oldest change first, 200 a page. With `window`
        (echo.Window), only those crmsync's own writes do not explain, in as many searches as
        the window's groups need (echo.searches). When a query reaches HubSpot's 10,000-result
        cap it restarts from the last timestamp seen (re-reading that instant; callers
        de-duplicate by id)."""
        from sync.engine.echo import MARKER_PROPERTY, searches

        prop = LAST_MODIFIED[object_type]
        if window is None:
            yield from self._search_since(object_type, since, properties, lambda floor: [[_gte(prop, floor)]])
            return
        for n, groups in enumerate(searches(window)):
            def filter_groups(floor: int, groups=groups, first=n == 0) -> list[list[dict]]:
                out = [[_gte(prop, floor), {"propertyName": MARKER_PROPERTY, "operator": "NOT_HAS_PROPERTY"}],
                       [_gte(prop, floor), {"propertyName": MARKER_PROPERTY, "operator": "LT",
                                            "value": str(window.first_marker)}]] if first else []
                for g in groups:
                    fs = [_gte(prop, floor), {"propertyName": MARKER_PROPERTY, "operator": "BETWEEN",
                                              "value": str(g.lo), "highValue": str(g.hi)}]
                    if g.after is not None:
                        fs.append({"propertyName": prop, "operator": "GT", "value": str(int(g.after.timestamp() * 1000))})
                    out.append(fs)
                return out
            yield from self._search_since(object_type, since, properties, filter_groups)

    def _search_since(self, object_type: str, since: datetime, properties: list[str], groups) -> Iterator[list[dict]]:
        prop = LAST_MODIFIED[object_type]
        api = self._api(object_type, "search_api")
        floor = int(since.timestamp() * 1000)
        seen_at_floor: set[str] = set()
        while True:
            after, last_ts, restart = 0, floor, False
            while True:
                body = {"filterGroups": [{"filters": fs} for fs in groups(floor)],
                        "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
                        "properties": properties, "limit": SEARCH_LIMIT, "after": str(after)}
                page = self._call(api, "do_search", body, describe=f"search {object_type}")
                results = page.get("results", [])
                fresh = [r for r in results if r["id"] not in seen_at_floor]
                if fresh:
                    yield fresh
                for r in results:
                    ts = _epoch_ms(r.get("updatedAt") or r["properties"].get(prop))
                    if ts > last_ts:
                        last_ts, seen_at_floor = ts, set()
                    if ts == last_ts:
                        seen_at_floor.add(r["id"])
                nxt = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not nxt:
                    return
                after = int(nxt)
                if after + SEARCH_LIMIT > SEARCH_CAP:
                    restart = True
                    break
            if restart:
                if last_ts == floor and len(seen_at_floor) >= SEARCH_CAP:
                    raise CrmError(f"More than {SEARCH_CAP} {object_type} share one modification time; "
                                   "run a full sync instead.", crm=CRM, permanent=True)
                floor = last_ts

    def read_by(self, object_type: str, id_property: str | None, values: list[str], properties: list[str]) -> list[dict]:
        """Batch read by a unique property (e.g. email), or by record id when `id_property` is None,
        ≤ 100 values a call; missing ones are skipped."""
        out: list[dict] = []
        api = self._api(object_type, "batch_api")
        for chunk in _chunks(values, BATCH_LIMIT):
            body = {"properties": properties, "propertiesWithHistory": [], "inputs": [{"id": v} for v in chunk],
                    **({"idProperty": id_property} if id_property else {})}
            out.extend((self._call(api, "read", body, describe=f"batch read {object_type}") or {}).get("results", []))
        return out

    def read_ids(self, object_type: str, ids: list[str], properties: list[str]) -> list[dict]:
        """Batch read by record id. A deleted id is left out; a merged-away id comes back as the
        record it was merged into, under that record's id."""
        return self.read_by(object_type, None, ids, properties)

    def associated(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[str]]:
        """The ids each `from` record is associated with (v4 batch read, ≤ 1,000 ids a call),
        the primary association first. Records with none are left out."""
        out: dict[str, list[str]] = {}
        api = self.client.crm.associations.v4.batch_api
        for chunk in _chunks(ids, V4_BATCH_LIMIT):
            page = self._call(api, "get_page", from_type, to_type, {"inputs": [{"id": i} for i in chunk]},
                              describe=f"read {from_type} associations") or {}
            for result in page.get("results", []):
                targets = sorted(result.get("to", []), key=lambda t: not any(
                    (a.get("label") or "").lower() == "primary" for a in t.get("associationTypes", [])))
                out[str(result["from"]["id"])] = [str(t["toObjectId"]) for t in targets]
        return out

    def pipelines(self, object_type: str) -> list[dict]:
        """The object's pipelines with their stages (`GET /crm/v3/pipelines/{objectType}`)."""
        api = self.client.crm.pipelines.pipelines_api
        return (self._call(api, "get_all", object_type, describe=f"read {object_type} pipelines") or {}).get("results", [])

    # --- contact lists (the inclusion list) -------------------------------------------------------
    def contact_lists(self) -> list[dict]:
        """The portal's contact lists (v3 lists search, 500 a page): listId, name, processingType
        and, in `additionalProperties.hs_list_size`, the member count."""
        api = self.client.crm.lists.lists_api
        out, offset = [], 0
        while True:
            page = self._call(api, "do_search", {"count": 500, "offset": offset}, describe="search lists") or {}
            out.extend(x for x in page.get("lists", []) if x.get("objectTypeId") == CONTACT_LIST_TYPE)
            if not page.get("hasMore") or page.get("offset", offset) <= offset:
                return out
            offset = page["offset"]

    def contact_list(self, list_id: str) -> dict:
        """One list's definition (`size` is its member count); a CrmError with status 404 when
        HubSpot has no such list (or it was deleted)."""
        api = self.client.crm.lists.lists_api
        return (self._call(api, "get_by_id", list_id, describe=f"read list {list_id}") or {}).get("list") or {}

    def list_member_ids(self, list_id: str) -> Iterator[list[str]]:
        """The list's member record ids, 250 a page (the most HubSpot gives), in record-id order."""
        api = self.client.crm.lists.memberships_api
        after = None
        while True:
            kwargs = {"limit": LIST_PAGE_LIMIT, **({"after": after} if after else {})}
            page = self._call(api, "get_page", list_id, describe=f"read list {list_id} members", **kwargs) or {}
            yield [str(m["recordId"]) for m in page.get("results", [])]
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def lists_of_contact(self, contact_id: str) -> set[str]:
        """The ids of the lists a contact is in now (one request)."""
        api = self.client.crm.lists.memberships_api
        page = self._call(api, "get_lists", CONTACT_LIST_TYPE, contact_id, describe=f"read contact {contact_id}'s lists")
        return {str(m["listId"]) for m in (page or {}).get("results", [])}

    def account_details(self) -> dict:
        """GET /account-info/v3/details (portal id, time zone) for "Test connection"."""
        return self._raw("GET", "/account-info/v3/details", describe="HubSpot account details")

    def remove_secondary_email(self, contact_id: str, email: str) -> dict:
        """Take `email` off a contact's secondary (additional) emails: the legacy v1 endpoint,
        the only API that can (v3's hs_additional_emails is read-only). Answers
        `{portalId, vid, secondaryEmails}`."""
        return self._raw("DELETE", f"/contacts/v1/secondary-email/{quote(contact_id)}/email/{quote(email, safe='@')}",
                         describe=f"remove a secondary email of contact {contact_id}")

    def _raw(self, method: str, path: str, *, describe: str) -> dict:
        """A call the SDK has no model for, through the client's generic `api_request`."""
        def attempt():
            self.budget.charge()
            self._wait_turn()
            try:
                r = self.client.api_request({"method": method, "path": path})
            except requests.RequestException as exc:
                raise CrmError(f"HubSpot connection failed: {exc.__class__.__name__}", crm=CRM) from None
            if r.status_code >= 300:
                raise translate(_HttpError(r.status_code, r.text, r.headers, r.reason))
            self._observe(r.headers)
            return r.json() if r.content else {}

        return with_retries(attempt, policy=self.retry, describe=describe)

    # --- writes -------------------------------------------------------------------------------
    def upsert(self, object_type: str, id_property: str, inputs: list[dict]) -> list[WriteResult]:
        """Create-or-update by a unique property (`email` for contacts, a unique-value property
        holding the Salesforce id for companies and deals), 100 a call: a retry after a lost
        response updates the record the first attempt created instead of making a second one,
        and nothing depends on the search index having caught up. `inputs` are
        `{"id": value, "properties": {...}}`; one result per input, in order, keyed by the value."""
        api = self._api(object_type, "batch_api")
        wire = [{"idProperty": id_property, "id": i["id"], "properties": i["properties"]} for i in inputs]
        retried: set[str] = set()

        if self.ledger is not None:
            # Before any chunk: its own calls must not pass for a retried upsert (`retried`).
            self.ensure_marker_property(object_type)

        def send(chunk):
            before = self.budget.calls
            page = self._marked(object_type, chunk, lambda c: self._call(api, "upsert", {"inputs": c},
                                                                         describe=f"upsert {object_type}"))
            if self.budget.calls - before > 1:
                retried.update(_fold(i["id"]) for i in chunk)
            return page

        answer = self._isolating(send, wire, key=lambda i: str(i["id"]))
        by_value = {_fold((r.get("properties") or {}).get(id_property)): r for r in answer["results"]}
        return [replace(_write_result(str(i["id"]), by_value.get(_fold(i["id"])), answer["refused"], created_key="new"),
                        retried=_fold(i["id"]) in retried) for i in inputs]

    def update(self, object_type: str, inputs: list[dict]) -> list[WriteResult]:
        """Batch update of `{"id", "properties"}`, 100 a call; one result per input, in order,
        keyed by its id."""
        api = self._api(object_type, "batch_api")
        answer = self._isolating(lambda chunk: self._marked(object_type, chunk, lambda c: self._call(
            api, "update", {"inputs": c}, describe=f"update {object_type}")), inputs, key=lambda i: str(i["id"]))
        by_id = {str(r.get("id")): r for r in answer["results"]}
        return [_write_result(str(i["id"]), by_id.get(str(i["id"])), answer["refused"]) for i in inputs]

    def _marked(self, object_type: str, chunk: list[dict], send) -> dict:
        """One batch write, told to the ledger: its marker goes on every record it writes, and
        the newest `updatedAt` of the answer becomes the batch's stamp (echo.py)."""
        if self.ledger is None:
            return send(chunk)
        from sync.engine.echo import MARKER_PROPERTY

        self.ensure_marker_property(object_type)
        marker = self.ledger.begin(object_type, len(chunk))
        if marker is None:
            return send(chunk)
        page = send([{**i, "properties": {**i["properties"], MARKER_PROPERTY: str(marker)}} for i in chunk])
        stamps = [r.get("updatedAt") for r in (page or {}).get("results", []) if r.get("updatedAt")]
        self.ledger.end(object_type, marker, max(map(_parse_time, stamps)) if stamps else None)
        return page

    def ensure_marker_property(self, object_type: str) -> None:
        """The number property `crmsync_write` each batch write sets (created if missing, once per
        connector): which of crmsync's writes a record last received."""
        from sync.engine.echo import MARKER_PROPERTY

        if (object_type, MARKER_PROPERTY) in self._ensured:
            return
        if self.property(object_type, MARKER_PROPERTY) is None:
            self._create_property(object_type, {
                "name": MARKER_PROPERTY, "label": "crmsync write", "type": "number", "fieldType": "number",
                "description": "Set by crmsync on every record it writes: which of its writes the record last "
                               "received, so its next sync does not read its own changes back."})
        self._ensured.add((object_type, MARKER_PROPERTY))

    def _create_property(self, object_type: str, definition: dict) -> dict:
        """A property crmsync needs, in the object's own information group (the schema write scope)."""
        group = {"companies": "companyinformation", "deals": "dealinformation"}.get(object_type, "contactinformation")
        try:
            return self._call(self.client.crm.properties.core_api, "create", object_type,
                              {**definition, "groupName": group}, describe=f"create property {definition['name']}")
        except CrmError as error:
            # Made meanwhile by another worker, or another part of this step (409): use that one.
            if error.status == 409 and (made := self.property(object_type, definition["name"])) is not None:
                return made
            raise

    def _isolating(self, send, inputs: list[dict], *, key) -> dict:
        """Send `inputs` 100 at a time. HubSpot refuses a whole batch for one bad record (an invalid
        email, a conflict): then the batch is sent again one record at a time, so the error is
        reported against the record that caused it. Returns the records HubSpot answered with and
        the refused keys with HubSpot's error (per-item errors of a 207 included)."""
        out: dict = {"results": [], "refused": {}}
        for chunk in _chunks(inputs, BATCH_LIMIT):
            try:
                page = send(chunk) or {}
            except CrmError as error:
                if not error.permanent or error.code == "BUDGET":
                    raise
                if len(chunk) > 1:
                    for item in chunk:
                        sub = self._isolating(send, [item], key=key)
                        out["results"] += sub["results"]
                        out["refused"].update(sub["refused"])
                else:
                    out["refused"][key(chunk[0])] = error
                continue
            out["results"] += page.get("results") or []
            for e in page.get("errors") or []:
                error = CrmError(e.get("message", "refused"), crm=CRM, permanent=True, code=e.get("category", ""))
                for refused in (e.get("context") or {}).get("ids") or []:
                    out["refused"][str(refused)] = error
        return out

    def property(self, object_type: str, name: str) -> dict | None:
        """The property's definition (`GET /crm/v3/properties/{type}/{name}`), None if HubSpot has none."""
        try:
            return self._call(self.client.crm.properties.core_api, "get_by_name", object_type, name,
                              describe=f"read property {name}")
        except CrmError as error:
            if error.status == 404:
                return None
            raise

    def ensure_unique_property(self, object_type: str, name: str, label: str) -> None:
        """Make sure `object_type` has the text property `name` with unique values (created if it
        is missing; the private app needs the schema write scope for that), once per connector.
        Upserts by it are what make creating companies and deals idempotent."""
        if (object_type, name) in self._ensured:
            return
        found = self.property(object_type, name) or self._create_property(object_type, {
            "name": name, "label": label, "type": "string", "fieldType": "text", "hasUniqueValue": True,
            "description": "Set by crmsync: the Salesforce record this one was created from (unique, so a "
                           "retried create can never make a second record)."})
        if not (found or {}).get("hasUniqueValue"):
            raise CrmError(f"The HubSpot {object_type} property {name!r} exists but does not require unique values; "
                           "crmsync needs it unique to create records safely. Delete it in HubSpot (crmsync "
                           "re-creates it) or mark it unique.", crm=CRM, permanent=True, code="PROPERTY_NOT_UNIQUE")
        self._ensured.add((object_type, name))

    def archive(self, object_type: str, ids: list[str]) -> None:
        for chunk in _chunks(ids, BATCH_LIMIT):
            self._call(self._api(object_type, "batch_api"), "archive", {"inputs": [{"id": i} for i in chunk]},
                       describe=f"archive {object_type}")

    def associate_default(self, from_type: str, to_type: str, pairs: list[tuple[str, str]]) -> None:
        api = self.client.crm.associations.v4.batch_api
        for chunk in _chunks(pairs, BATCH_LIMIT):
            body = {"inputs": [{"from": {"id": a}, "to": {"id": b}} for a, b in chunk]}
            self._call(api, "create_default", from_type, to_type, body, describe=f"associate {from_type}")

    def merge(self, object_type: str, primary_id: str, merge_id: str) -> dict:
        """Merge `merge_id` into `primary_id`. Today HubSpot answers with a NEW record id."""
        body = {"primaryObjectId": primary_id, "objectIdToMerge": merge_id}
        self.budget.charge()
        self._wait_turn()
        try:
            response = self._api(object_type, "basic_api").merge_with_http_info(
                body, _preload_content=False, _request_timeout=self.config.timeout)
            data = response.data
        except Exception as exc:
            raise translate(exc) from None
        merged = _json(data)
        if not merged:
            raise CrmError("HubSpot's answer to the merge was unreadable; check the contacts in HubSpot before "
                           "trying again.", crm=CRM, permanent=True)
        return merged


def _fold(value) -> str:
    """HubSpot compares unique values (emails, ids) case-insensitively, and trims emails."""
    return str(value or "").strip().lower()


def _write_result(key: str, record: dict | None, refused: dict, *, created_key: str = "") -> WriteResult:
    if record is not None:
        return WriteResult(key=key, ok=True, id=str(record.get("id")), record=record,
                           created=bool(record.get(created_key)) if created_key else False)
    error = refused.get(key) or next((e for k, e in refused.items() if _fold(k) == _fold(key)), None)
    if error is None:  # answered for none of them: merged or deleted meanwhile
        return failed(key, "HubSpot did not return this record (it may have been merged or deleted).",
                      code="OBJECT_NOT_FOUND")
    return failed(key, str(error), code=error.code)


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _gte(prop: str, floor: int) -> dict:
    return {"propertyName": prop, "operator": "GTE", "value": str(floor)}


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _epoch_ms(value: str | None) -> int:
    if not value:
        return 0
    if value.isdigit():
        return int(value)
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
