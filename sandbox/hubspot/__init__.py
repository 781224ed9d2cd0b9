"""HubSpot CRM emulator of the sandbox.

Serves the CRM v3 objects API (contacts, companies, deals: basic, batch, search, merge), v4
associations, the v3 properties, deal pipelines and lists APIs and account info, with HubSpot's auth, error bodies and rate
limits (see /work/shared/reference/hubspot-api.md). All state lives in memory under `sandbox.lock`.
"""
from __future__ import annotations

import random
import re
import uuid

from sandbox.core import Request, Response
from sandbox.hubspot import shapes
from sandbox.hubspot.associations import PAIR_TYPES, AssociationsApi, AssociationStore, pair_type_ids
from sandbox.hubspot.limits import Limits
from sandbox.hubspot.lists import Lists
from sandbox.hubspot.objects import ObjectsApi
from sandbox.hubspot.pipelines import PipelineRegistry
from sandbox.hubspot.properties import PropertyRegistry
from sandbox.hubspot.routes import allowed
from sandbox.hubspot.search import SearchApi
from sandbox.hubspot.search_lag import SearchLag
from sandbox.hubspot.store import ObjectStore, Record
from sandbox.hubspot.util import (
    LASTMOD,
    OBJECT_TYPES,
    TYPE_ALIASES,
    HubSpotError,
    iso,
    json_response,
    parse_time,
    to_ms,
    validation_error,
)
from sandbox.hubspot.webhooks import Webhooks

__all__ = ["HubSpotEmulator"]

PORTAL_ID = 4_206_842
FIRST_IDS = {"contacts": 101, "companies": 5_001, "deals": 9_001}
AUTH_MESSAGE = ("Authentication credentials not found. This API supports both API Key and OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview")
_RATE_BODIES = {
    # Reference §2.6 (verbatim shapes; 429 bodies carry `errorType`, not `category`).
    "TEN_SECONDLY_ROLLING": ("You have reached your ten_secondly_rolling limit.",
                             "publicapi:hapikey-api-calls-ten-secondly:{portal}"),
    "SECONDLY": ("You have reached your secondly limit.", "publicapi:hapikey-secondly:{portal}"),
    "DAILY": ("You have reached your daily limit.", "publicapi:hapikey-api-calls-daily:{portal}"),
}


class HubSpotEmulator:
    def __init__(self, sandbox, *, token: str = "sandbox", search_lag=None) -> None:
        self.sandbox = sandbox
        self.token = token
        self.portal_id = PORTAL_ID
        self.merge_mode = "new_id"  # or "legacy" (primary keeps its id)
        self.ratelimits = Limits()
        self.props = PropertyRegistry()
        self.pipelines = PipelineRegistry()
        self.assoc = AssociationStore()
        self.objects = ObjectsApi(self)
        self.search = SearchApi(self)
        self.v4 = AssociationsApi(self)
        self.lists = Lists(self)
        self._rng = random.Random(getattr(sandbox, "seed", 0))
        self.search_lag = SearchLag(search_lag, getattr(sandbox, "seed", 0))
        self.stores: dict[str, ObjectStore] = {}
        self.usage: dict[str, int] = {}
        self.webhooks = Webhooks(PORTAL_ID, getattr(sandbox, "seed", 0))   # off until configured
        self.reset()

    # ---- sandbox-side API ----------------------------------------------------------------------------
    def reset(self) -> None:
        with self.sandbox.lock:
            self.props.reset()
            self.pipelines.reset()
            self._pipeline_options()
            self.assoc.reset()
            self.lists.reset()
            self.search_lag.reset()  # back to the constructor's lag, RNG re-seeded
            self.stores = {t: ObjectStore(t, self.props.unique_names(t), FIRST_IDS[t], self.search_lag)
                           for t in OBJECT_TYPES}
            self.webhooks.reset()
            for store in self.stores.values():
                store.webhooks = self.webhooks
            self.ratelimits.configure(reset=True)
            self.merge_mode = "new_id"
            self.usage = {}

    def check_write(self, otype: str, changes: dict, rec: Record | None) -> None:
        """Checks across properties that HubSpot makes on a write (deal stage within its pipeline)."""
        if otype == "deals":
            self.pipelines.check_deal(changes, rec.props if rec is not None else None)

    def _pipeline_options(self) -> None:
        """The deal `pipeline` and `dealstage` properties list every pipeline and stage as options."""
        pipes, stages = self.pipelines.option_values()
        for name, values in (("pipeline", pipes), ("dealstage", stages)):
            self.props.defs["deals"][name]["options"] = [
                {"label": label, "value": value, "displayOrder": i, "hidden": False}
                for i, (value, label) in enumerate(values)]

    def configure(self, *, search_lag=None) -> dict:
        """Run settings of the HubSpot side (`/_sandbox/config` `{"hubspot": {...}}`): `search_lag`
        ({"min_ms", "max_ms"}, see search_lag.py). Switching the lag off indexes pending writes now."""
        with self.sandbox.lock:
            if search_lag is not None:
                self.search_lag.set(search_lag)
                if not self.search_lag.on:
                    for store in self.stores.values():
                        store.flush()
            return {"search_lag": self.search_lag.view()}

    def configure_limits(self, **kw) -> dict:
        """burst_max, interval_ms, daily_max, search_per_second, secondly_headers, time_zone, enabled;
        plus merge_mode ("new_id" | "legacy")."""
        with self.sandbox.lock:
            mode = kw.pop("merge_mode", None)
            if mode is not None:
                if mode not in ("new_id", "legacy"):
                    raise ValueError(f"merge_mode must be 'new_id' or 'legacy', not {mode!r}")
                self.merge_mode = mode
            self.ratelimits.configure(**kw)
            return self.limits

    @property
    def limits(self) -> dict:
        with self.sandbox.lock:
            now = self.sandbox.clock.now()
            return self.ratelimits.view(now, to_ms(now))

    def now_ms(self) -> int:
        return to_ms(self.sandbox.clock.now())

    def now_iso(self) -> str:
        return iso(self.now_ms())

    def load_records(self, object_type: str, records) -> int:
        """Load scenario records from any iterable (keeps given ids; no API usage). Returns how many."""
        n = 0
        with self.sandbox.lock:
            if object_type == "pipelines":
                for p in records:
                    self.pipelines.load(p)
                    n += 1
                self._pipeline_options()
                return n
            if object_type == "lists":
                for raw in records:
                    self.lists.load(raw, self.now_ms())
                    n += 1
                return n
            if object_type == "associations":
                for a in records:
                    ft, tt = TYPE_ALIASES[a["from_type"]], TYPE_ALIASES[a["to_type"]]
                    if (ft, tt) not in PAIR_TYPES:
                        raise ValueError(f"no association between {ft} and {tt}")
                    fr, tr = self.stores[ft].get(a["from_id"]), self.stores[tt].get(a["to_id"])
                    if fr is None or tr is None:
                        raise ValueError(f"association to an unknown record: {a}")
                    if ft == tt and fr.id == tr.id:
                        raise ValueError(f"a record cannot be associated with itself: {a}")
                    if a.get("type_id") is not None:
                        if int(a["type_id"]) not in pair_type_ids(ft, tt):
                            raise ValueError(f"type_id {a['type_id']} is not an association type from {ft} to {tt}")
                        self.assoc.add(ft, fr.id, tt, tr.id, int(a["type_id"]))
                    else:
                        self.assoc.add_default(ft, fr.id, tt, tr.id)
                    n += 1
                return n
            otype = TYPE_ALIASES[object_type]
            store = self.stores[otype]
            now = self.now_ms()
            for r in records:
                raw = dict(r.get("properties") or {})
                lastmod = raw.pop(LASTMOD[otype], None)
                raw.pop("hs_object_id", None)
                raw.pop("lastmodifieddate", None)
                created_prop = raw.pop("createdate", None)
                try:
                    changes = self.props.normalize(otype, raw, allow_readonly=True)
                    self.check_write(otype, changes, None)
                except HubSpotError as e:
                    raise ValueError(f"{otype} record {r.get('id')}: {e.message}") from None
                rid = int(r["id"]) if r.get("id") not in (None, "") else store.new_id()
                if store.get(rid) is not None:
                    raise ValueError(f"{otype} id {rid} loaded twice")
                created = parse_time(r.get("createdAt")) or parse_time(created_prop) or now
                updated = parse_time(r.get("updatedAt")) or parse_time(lastmod) or max(created, now)
                rec = Record(rid, {k: v for k, v in changes.items() if v is not None}, created, updated)
                if r.get("archived"):
                    rec.archived = True
                    rec.archived_at = updated
                else:
                    hit = store.conflicts(rec.props, None)
                    if hit:
                        raise ValueError(f"{otype} record {rid}: {hit[0]}={hit[1]!r} already used by {hit[2]}")
                store.insert(rec)
                n += 1
            return n

    def touch(self, object_type: str, id, properties: dict) -> dict:
        """Edit a record as a HubSpot user would in the UI (bumps the last-modified time; no API usage)."""
        with self.sandbox.lock:
            otype = TYPE_ALIASES[object_type]
            rec = self.stores[otype].resolve(id)
            if rec is None or rec.archived:
                raise KeyError(f"{otype} {id} not found")
            changes = self.props.normalize(otype, properties)
            self.check_write(otype, changes, rec)
            self.objects._conflict(otype, changes, rec.id)
            self.webhooks.source = "CRM_UI"   # a person's edit, as webhooks tell it
            try:
                self.stores[otype].apply(rec, changes, self.now_ms())
            finally:
                self.webhooks.source = "INTEGRATION"
            return self.objects.render(otype, rec, self.objects.names(otype, list(properties)))

    def record(self, object_type: str, id) -> dict | None:
        """Sandbox-side read of a record with all its properties (no API usage)."""
        with self.sandbox.lock:
            otype = TYPE_ALIASES[object_type]
            rec = self.stores[otype].get(id)
            if rec is None:
                return None
            names = list(dict.fromkeys(list(rec.props) + ["createdate", LASTMOD[otype], "hs_object_id"]))
            body = self.objects.render(otype, rec, names)
            if rec.merged_into:
                body["mergedInto"] = str(rec.merged_into)
            return body

    def counts(self) -> dict:
        with self.sandbox.lock:
            return {t: {"live": len(s.live), "archived": len(s.archived_ids)} for t, s in self.stores.items()}

    # ---- HTTP ------------------------------------------------------------------------------------------
    def _cid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    @staticmethod
    def _is_search(req: Request) -> bool:
        return req.method == "POST" and req.path.rstrip("/").endswith("/search") and \
            req.path.startswith("/crm/v3/objects/")

    def endpoint_label(self, req: Request) -> str:
        parts = [p for p in req.path.split("/") if p]
        if parts[:3] == ["crm", "v3", "pipelines"] and len(parts) >= 4:
            names = ["{pipelineId}", "stages", "{stageId}"]
            return f"{req.method} /crm/v3/pipelines/{TYPE_ALIASES.get(parts[3], parts[3])}" + "".join(
                f"/{names[i] if i < len(names) else p}" for i, p in enumerate(parts[4:]))
        if parts[:3] == ["crm", "v3", "lists"]:
            return f"{req.method} /crm/v3/lists" + "".join(
                "/{listId}" if p.isdigit() and i == 0 else "/{recordId}" if p.isdigit() else f"/{p}"
                for i, p in enumerate(parts[3:]))
        out = []
        for i, p in enumerate(parts):
            prev = parts[i - 1] if i else ""
            prev2 = parts[i - 2] if i > 1 else ""
            if prev == "objects" or (prev2 == "associations" and prev != "default") or prev in (
                    "properties", "associations"):
                out.append(TYPE_ALIASES.get(p, p))
            elif prev in TYPE_ALIASES and prev2 in ("objects",) and p not in (
                    "search", "batch", "merge", "gdpr-delete", "associations"):
                out.append("{id}")
            elif prev in TYPE_ALIASES and prev2 in ("associations", "default"):
                out.append("{toId}")
            elif prev in TYPE_ALIASES and prev2 == "properties":
                out.append("{propertyName}")
            else:
                out.append(p)
        return f"{req.method} /" + "/".join(out)

    def _error(self, e: HubSpotError, headers: dict) -> Response:
        cid = self._cid()
        return json_response(e.status, e.body(cid), {**headers, "X-HubSpot-Correlation-Id": cid})

    def fault_response(self, kind: str, req: Request) -> Response:
        """An injected failure in HubSpot's shapes (no Retry-After: see reference §1.2 / stack notes)."""
        with self.sandbox.lock:
            cid = self._cid()
            now = self.sandbox.clock.now()
            search = self._is_search(req)
            headers = {"X-HubSpot-Correlation-Id": cid}
            if kind == "429":
                policy = "SECONDLY" if search else "TEN_SECONDLY_ROLLING"
                if not search:
                    headers.update(self.ratelimits.headers(now, to_ms(now)))
                    headers["X-HubSpot-RateLimit-Remaining"] = "0"
                return json_response(429, self._rate_body(policy, cid), headers)
            if kind in ("500", "503"):
                # UNCONFIRMED: HubSpot's 5xx body; the spec's `Error` shape with an internal category.
                status = int(kind)
                msg = ("internal error" if status == 500 else
                       "The service is temporarily unavailable. Please try again later.")
                cat = "INTERNAL_ERROR" if status == 500 else "SERVICE_UNAVAILABLE"
                return json_response(status, {"status": "error", "message": msg, "correlationId": cid,
                                               "category": cat}, headers)
            raise ValueError(f"unknown fault kind {kind!r}")

    def _rate_body(self, policy: str, cid: str) -> dict:
        msg, group = _RATE_BODIES[policy]
        body = {"status": "error", "message": msg, "errorType": "RATE_LIMIT", "correlationId": cid,
                "policyName": policy, "groupName": group.format(portal=self.portal_id)}
        if policy == "DAILY":
            body["requestId"] = cid
        return body

    def handle(self, req: Request) -> Response:
        with self.sandbox.lock:
            auth = req.headers.get("authorization", "")
            if auth != f"Bearer {self.token}":
                cid = self._cid()
                return json_response(401, {"status": "error", "message": AUTH_MESSAGE, "correlationId": cid,
                                           "category": "INVALID_AUTHENTICATION"},
                                     {"X-HubSpot-Correlation-Id": cid})
            now = self.sandbox.clock.now()
            now_ms = to_ms(now)
            search = self._is_search(req)
            policy = self.ratelimits.check(now, now_ms, search=search)
            headers = {} if search else self.ratelimits.headers(now, now_ms)
            if policy:
                cid = self._cid()
                return json_response(429, self._rate_body(policy, cid), {**headers, "X-HubSpot-Correlation-Id": cid})
            label = self.endpoint_label(req)
            self.usage[label] = self.usage.get(label, 0) + 1
            methods = allowed(req.path)
            if methods is not None and req.method not in methods:
                # see routes.py: an empty 405 naming the methods the path does answer
                return Response(405, None, {**headers, "X-HubSpot-Correlation-Id": self._cid(),
                                            "Allow": ",".join(methods)}, content_type="")
            try:
                resp = self._route(req)
                if resp is None:
                    raise HubSpotError(404, "OBJECT_NOT_FOUND",
                                       f"Unable to route {req.method} {req.path}: no such endpoint.")
            except HubSpotError as e:
                return self._error(e, headers)
            except ValueError as e:  # malformed JSON body
                return self._error(validation_error(f"Invalid input JSON on line 1, column 1: {e}"), headers)
            resp.headers = {**headers, "X-HubSpot-Correlation-Id": self._cid(), **resp.headers}
            return resp

    def _route(self, req: Request) -> Response | None:
        parts = [p for p in req.path.split("/") if p]
        if len(parts) >= 4 and parts[0] == "crm" and parts[1] == "v3" and parts[2] == "objects":
            otype = TYPE_ALIASES.get(parts[3].lower())
            if otype is None:
                raise HubSpotError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {parts[3]}")
            return self.objects.handle(req, otype, parts[4:])
        if len(parts) >= 4 and parts[:2] == ["crm", "v4"]:
            return self.v4.handle(req, parts[2:])
        if len(parts) >= 4 and parts[:3] == ["crm", "v3", "properties"]:
            return self._properties(req, parts[3:])
        if len(parts) >= 4 and parts[:3] == ["crm", "v3", "pipelines"]:
            return self.pipelines.handle(req, parts[3:])
        if parts[:3] == ["crm", "v3", "lists"]:
            return self.lists.handle(req, parts[3:])
        if parts[:3] == ["contacts", "v1", "secondary-email"]:
            return self._secondary_email(req, parts[3:])
        if len(parts) >= 3 and parts[0] == "account-info":
            return self._account_info(req, parts[2:])
        return None

    def _properties(self, req: Request, parts: list[str]) -> Response | None:
        otype = TYPE_ALIASES.get(parts[0].lower())
        if otype is None:
            raise HubSpotError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {parts[0]}")
        reg, m = self.props, req.method
        if len(parts) == 1 and m == "GET":
            archived = (req.arg("archived") or "").lower() == "true"
            wanted = None
            if req.query.get("properties"):
                wanted = {x for v in req.query["properties"] for x in v.split(",") if x}
            results = [reg.public(d) for n, d in reg.defs[otype].items()
                       if d["archived"] == archived and (wanted is None or n in wanted)]
            return json_response(200, {"results": results})
        if len(parts) == 1 and m == "POST":
            d = reg.create(otype, shapes.parse(req, shapes.PROPERTY_CREATE), self.now_ms())
            if d["hasUniqueValue"]:
                self.stores[otype].add_unique_prop(d["name"])
            return json_response(201, reg.public(d))
        if len(parts) == 2 and parts[1] not in ("batch", "groups"):
            name = parts[1]
            if m == "GET":
                d = reg.get(otype, name)
                if d is None:
                    raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find property {name}")
                return json_response(200, reg.public(d))
            if m == "PATCH":
                return json_response(200, reg.public(reg.update(otype, name, shapes.parse(req, shapes.PROPERTY_UPDATE) or {},
                                                                self.now_ms())))
            if m == "DELETE":
                reg.archive(otype, name, self.now_ms())
                return json_response(204, None)
        return None

    def _secondary_email(self, req: Request, parts: list[str]) -> Response | None:
        """Legacy v1 `DELETE /contacts/v1/secondary-email/{vid}/email/{email}`: take one email off a
        contact's additional emails (the only API that can: hs_additional_emails is read-only in v3).
        Answers `{portalId, vid, secondaryEmails}`; an unknown contact, or an email it does not have,
        is a 404 (UNCONFIRMED: the legacy docs show only the 200)."""
        from urllib.parse import unquote

        if len(parts) != 3 or parts[1] != "email" or req.method != "DELETE":
            return None
        store = self.stores["contacts"]
        rec = store.resolve(parts[0])
        if rec is None or rec.archived:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"contact {parts[0]} does not exist")
        email = unquote(parts[2]).strip().lower()
        emails = [e for e in (rec.props.get("hs_additional_emails") or "").split(";") if e]
        if email not in (e.lower() for e in emails):
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"{email} is not a secondary email of contact {rec.id}")
        kept = [e for e in emails if e.lower() != email]
        store.apply(rec, {"hs_additional_emails": ";".join(kept) or None}, self.now_ms())
        return json_response(200, {"portalId": self.portal_id, "vid": rec.id, "secondaryEmails": kept})

    def _account_info(self, req: Request, parts: list[str]) -> Response | None:
        # /account-info/v3/details (also the dated /account-info/2026-03/details); not in the reference:
        # shape from HubSpot's API reference page (all fields required there).
        if parts == ["details"] and req.method == "GET":
            return json_response(200, {
                "portalId": self.portal_id, "accountType": "STANDARD", "timeZone": self.ratelimits.time_zone,
                "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": self._utc_offset()[0],
                "utcOffsetMilliseconds": self._utc_offset()[1], "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1"})
        if parts[:2] == ["api-usage", "daily"] and req.method == "GET":
            # UNCONFIRMED shape (legacy private apps daily usage).
            now = self.sandbox.clock.now()
            v = self.ratelimits.view(now, to_ms(now))
            return json_response(200, {"results": [{
                "name": "api-calls-daily", "usageLimit": v["daily_max"], "currentUsage": v["daily_used"],
                "collectedAt": iso(to_ms(now)), "fetchStatus": "SUCCESS",
                "resetsAt": iso(to_ms(self.ratelimits.daily_resets_at(now)))}]})
        return None

    def _utc_offset(self) -> tuple[str, int]:
        from zoneinfo import ZoneInfo

        off = self.sandbox.clock.now().astimezone(ZoneInfo(self.ratelimits.time_zone)).utcoffset()
        ms = int(off.total_seconds() * 1000)
        sign = "-" if ms < 0 else "+"
        mins = abs(ms) // 60000
        return f"{sign}{mins // 60:02d}:{mins % 60:02d}", ms


_ = re
