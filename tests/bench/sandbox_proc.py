"""The CRM sandbox in its own process, seeded by streaming a generated scenario over HTTP.

Child side (`python -m tests.bench.sandbox_proc --port 0 --seed N`): the same `Sandbox` +
`SandboxServer` as `manage.py sandbox --scenario empty`, plus three bench-only control endpoints
that the stock control API does not have (HubSpot's rate limits and user edits are only reachable
through Python methods there):

    POST /_sandbox/hubspot/limits   body → HubSpotEmulator.configure_limits(**body)
    POST /_sandbox/hubspot/touch    {type, id, properties} → HubSpotEmulator.touch(...)
    POST /_sandbox/bench/touch      {edits: [{crm, type, id, fields}]} → salesforce.touch / hubspot.touch
                                    for each (one request for thousands of user edits)
    GET|DELETE /_sandbox/bench/pull-pages   the Salesforce pull's calls per object (`PullPages`)

Parent side: `SandboxProcess` starts it, waits for the readiness line, and talks to the control API.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

# Load order inside one chunk: every record after the records it refers to.
TYPE_ORDER = {"salesforce": ("Account", "Contact", "Lead", "Opportunity"),
              "hubspot": ("pipelines", "companies", "contacts", "deals", "associations")}
CHUNK = 20_000          # records per POST /_sandbox/load
TOUCH_BATCH = 2_000     # edits per POST /_sandbox/bench/touch
UNLIMITED = 10 ** 9


# -- child ----------------------------------------------------------------------------------------------

def _bench_touch(sb, body: dict) -> dict:
    done, failed = 0, []
    for e in body.get("edits") or []:
        try:
            if e["crm"] == "salesforce":
                sb.salesforce.touch(e["id"], e["fields"])
            else:
                sb.hubspot.touch(e["type"], e["id"], e["fields"])
            done += 1
        except Exception as exc:  # a record the sync deleted/merged/converted: count it, go on
            failed.append({"crm": e.get("crm"), "type": e.get("type"), "id": e.get("id"), "error": repr(exc)[:200]})
    return {"touched": done, "failed": failed}


LAST_MODIFIED = {"lastmodifieddate", "hs_lastmodifieddate"}


def _label_lookups(sb) -> None:
    """Tell pull pages from look-ups in the stats (labels only; nothing else changes): a SOQL query
    with a WHERE clause not on SystemModstamp, or a HubSpot search not filtered on the last-modified
    date, is counted under "<label> (lookup)"."""
    sf_label, hs_label = sb.salesforce.endpoint_label, sb.hubspot.endpoint_label

    def salesforce(req):
        label = sf_label(req)
        if label in ("GET query", "GET queryAll"):
            where = re.split(r"\bWHERE\b", req.arg("q") or "", maxsplit=1, flags=re.I)
            if len(where) == 2 and "systemmodstamp" not in where[1].lower():
                label += " (lookup)"
        return label

    def hubspot(req):
        label = hs_label(req)
        if label.endswith("/search"):
            try:
                groups = (json.loads(req.body or b"{}") or {}).get("filterGroups") or []
            except ValueError:
                groups = []
            names = {f.get("propertyName") for g in groups for f in (g.get("filters") or [])}
            if not names & LAST_MODIFIED:
                label += " (lookup)"
        return label

    sb.salesforce.endpoint_label = salesforce
    sb.hubspot.endpoint_label = hubspot


_FROM = re.compile(r"\bFROM\s+(\w+)", re.I)


def _is_lookup(soql: str) -> bool:
    where = re.split(r"\bWHERE\b", soql or "", maxsplit=1, flags=re.I)
    return len(where) == 2 and "systemmodstamp" not in where[1].lower()


class PullPages:
    """The Salesforce pull's calls per object, to extrapolate a full pull to other sizes: page
    calls (REST query pages, first and more; Bulk API 2.0 result pages) with the rows they
    carried and the page size asked for (`batchSize`, `maxRecords`) or seen (a page another
    followed was full), and the other calls (a Bulk job's create, polls, delete). Look-ups (a
    WHERE not on SystemModstamp) are not the pull and are left out."""

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> dict:
        with self.lock:
            self.objects: dict[str, dict] = {}
            self.cursors: dict[str, str] = {}   # REST query locator or Bulk job id → object
        return {}

    def view(self) -> dict:
        with self.lock:
            return {k: dict(v) for k, v in self.objects.items()}

    def _obj(self, name: str) -> dict:
        return self.objects.setdefault(name, {"page_calls": 0, "rows": 0, "other_calls": 0, "asked_page": 0,
                                              "full_page": 0})

    def _page(self, obj: str, rows: int, asked: int, more: bool) -> None:
        o = self._obj(obj)
        o["page_calls"] += 1
        o["rows"] += rows
        o["asked_page"] = max(o["asked_page"], asked)
        if more:
            o["full_page"] = max(o["full_page"], rows)

    def note(self, req, resp) -> None:
        from sandbox.salesforce.query import page_size

        if resp.status >= 300 or not req.path.startswith("/services/data/"):
            return
        parts = [p for p in req.path.split("/") if p][3:]   # after services/data/vNN.N
        body = resp.body if isinstance(resp.body, dict) else {}
        with self.lock:
            if req.method == "GET" and parts[:1] in (["query"], ["queryAll"]):
                if len(parts) == 1:
                    soql = req.arg("q") or ""
                    m = _FROM.search(soql)
                    if not m or _is_lookup(soql):
                        return
                    obj = m.group(1)
                else:
                    obj = self.cursors.get(parts[1].rpartition("-")[0])
                    if obj is None:
                        return
                nxt = body.get("nextRecordsUrl")
                if nxt:
                    self.cursors[nxt.rstrip("/").rsplit("/", 1)[1].rpartition("-")[0]] = obj
                self._page(obj, len(body.get("records") or ()), page_size(req.headers.get("sforce-query-options")),
                           bool(nxt))
            elif parts[:2] == ["jobs", "query"]:
                if len(parts) == 2 and req.method == "POST":
                    try:
                        soql = (req.json() or {}).get("query") or ""
                    except ValueError:
                        return
                    m = _FROM.search(soql)
                    if m and not _is_lookup(soql) and body.get("id"):
                        self.cursors[body["id"]] = m.group(1)
                        self._obj(m.group(1))["other_calls"] += 1
                    return
                obj = self.cursors.get(parts[2]) if len(parts) > 2 else None
                if obj is None:
                    return
                if parts[3:] == ["results"] and req.method == "GET":
                    from sandbox.salesforce import bulk2  # its page when the client names none

                    locator = resp.headers.get("Sforce-Locator") or ""
                    self._page(obj, int(resp.headers.get("Sforce-NumberOfRecords") or 0),
                               int(req.arg("maxRecords") or getattr(bulk2, "DEFAULT_PAGE", 0)),
                               locator not in ("", "null"))
                else:
                    self._obj(obj)["other_calls"] += 1


def _track_pull_pages(sb) -> PullPages:
    tracker = PullPages()
    handle = sb.salesforce.handle

    def tracked(req):
        resp = handle(req)
        tracker.note(req, resp)
        return resp

    sb.salesforce.handle = tracked
    return tracker


def serve(argv: list[str] | None = None) -> int:
    from sandbox import server as srv

    parser = argparse.ArgumentParser(prog="python -m tests.bench.sandbox_proc")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--order", choices=srv.ORDERS, default="random")
    args = parser.parse_args(argv)
    srv._CONTROL.update({
        ("POST", "hubspot/limits"): lambda sb, body: sb.hubspot.configure_limits(**body),
        ("POST", "hubspot/touch"): lambda sb, body: sb.hubspot.touch(body["type"], body["id"],
                                                                    body.get("properties") or {}),
        ("POST", "bench/touch"): _bench_touch,
    })
    from sandbox.hubspot.search_lag import RECOMMENDED

    sandbox = srv.Sandbox(seed=args.seed, order=args.order, search_lag=RECOMMENDED)  # HubSpot's index lags
    _label_lookups(sandbox)
    pages = _track_pull_pages(sandbox)
    srv._CONTROL.update({("GET", "bench/pull-pages"): lambda sb, body: pages.view(),
                         ("DELETE", "bench/pull-pages"): lambda sb, body: pages.reset()})
    server = srv.SandboxServer(sandbox, port=args.port).start()
    print(f"Sandbox ready on {server.url} (scenario empty: no records)", flush=True)
    server.serve_until_interrupted()
    return 0


# -- parent ---------------------------------------------------------------------------------------------

class SandboxProcess:
    def __init__(self, *, seed: int, log_path: str) -> None:
        self.seed = seed
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self._conn: http.client.HTTPConnection | None = None

    def __enter__(self) -> SandboxProcess:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> None:
        self._log = open(self.log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.bench.sandbox_proc", "--port", "0",
                                      "--seed", str(self.seed)], stdout=subprocess.PIPE, stderr=self._log, text=True)
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            if line.startswith("Sandbox ready on "):
                self.url = line.split()[3]
                return
        self.stop()
        raise RuntimeError(f"sandbox did not start (last line {line!r}; see {self.log_path})")

    def stop(self) -> None:
        if self._conn:
            self._conn.close()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()   # our own child, by pid
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def rss_mb(self) -> float | None:
        try:
            with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def cpu_s(self) -> float | None:
        """CPU seconds (user + system) the sandbox process has used so far: its share of a
        phase's work, read before and after the phase."""
        try:
            with open(f"/proc/{self.proc.pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    # -- control API (keep-alive; the sandbox sets Nagle off and HTTP/1.1) --------------------------------
    def control(self, method: str, name: str, body=None):
        payload = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        for attempt in (1, 2):
            if self._conn is None:
                netloc = urlsplit(self.url).netloc
                self._conn = http.client.HTTPConnection(netloc, timeout=600)
            try:
                self._conn.request(method, f"/_sandbox/{name}", body=payload,
                                   headers={"Content-Type": "application/json"} if payload else {})
                resp = self._conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, OSError):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        if resp.status >= 400:
            raise RuntimeError(f"sandbox {method} {name}: {resp.status} {data[:500]!r}")
        return json.loads(data) if data else None

    def unthrottle(self) -> dict:
        """No API limit may slow the benchmark down: Salesforce's daily allocation and token TTL,
        HubSpot's 10-second burst, secondly search and daily windows are all raised (and HubSpot's
        limiter switched off; it still counts and sends its headers)."""
        sf = self.control("POST", "config", {"salesforce": {"daily_limit": UNLIMITED, "token_ttl": 10 ** 7}})
        hs = self.control("POST", "hubspot/limits", {"burst_max": UNLIMITED, "daily_max": UNLIMITED,
                                                     "search_per_second": UNLIMITED, "enabled": False})
        self.latency("off")
        return {"salesforce": sf["salesforce"], "hubspot": {k: hs[k] for k in ("burst_max", "daily_max",
                                                                               "search_per_second", "enabled")}}

    def real_limits(self, sf_latency="realistic") -> dict:
        """The limits a real org has: HubSpot's Professional 190 requests per 10 s and 5 searches a
        second, enforced (the daily quota stays raised: one bench spends a fraction of it anyway),
        and Salesforce's response times (sandbox/salesforce/latency.py; `sf_latency` as its
        `parse` takes it). Salesforce's daily allocation stays raised."""
        from sandbox.hubspot.limits import Limits

        real = Limits()
        hs = self.control("POST", "hubspot/limits", {"burst_max": real.burst_max, "interval_ms": real.interval_ms,
                                                     "search_per_second": real.search_per_second,
                                                     "daily_max": UNLIMITED, "enabled": True})
        sf = self.control("POST", "config", {"salesforce": {"daily_limit": UNLIMITED, "token_ttl": 10 ** 7,
                                                            "latency": sf_latency}})
        return {"salesforce": {**sf["salesforce"], "latency": self.control("GET", "stats")["salesforce"]["latency"]},
                "hubspot": {k: hs[k] for k in ("burst_max", "interval_ms", "search_per_second", "enabled")}}

    def latency(self, settings) -> dict:
        """Set Salesforce's response times (sandbox/salesforce/latency.py): "realistic", "off", a dict."""
        self.control("POST", "config", {"salesforce": {"latency": settings}})
        return self.control("GET", "stats")["salesforce"]["latency"]   # the config's answer leaves it out

    def stats(self) -> dict:
        """The sandbox's call counts, plus the Salesforce pull's calls per object (`PullPages`)."""
        return {**self.control("GET", "stats"), "pull_pages": self.control("GET", "bench/pull-pages")}

    def reset_stats(self) -> None:
        self.control("DELETE", "stats")
        self.control("DELETE", "bench/pull-pages")

    def load(self, items: Iterable[tuple[str, str, dict]]) -> dict:
        """Stream `(crm, type, record)` into the sandbox, CHUNK records per POST /_sandbox/load."""
        counts: dict = {"salesforce": {}, "hubspot": {}}
        for chunk in _chunks(items, CHUNK):
            loaded = self.control("POST", "load", chunk)["loaded"]
            for crm, types in loaded.items():
                for t, n in types.items():
                    counts[crm][t] = counts[crm].get(t, 0) + n
        return counts

    def touch(self, edits: list[dict]) -> dict:
        out = {"requested": len(edits), "touched": 0, "failed": []}
        for i in range(0, len(edits), TOUCH_BATCH):
            r = self.control("POST", "bench/touch", {"edits": edits[i:i + TOUCH_BATCH]})
            out["touched"] += r["touched"]
            out["failed"] += r["failed"]
        out["failed_count"] = len(out["failed"])
        out["failed"] = out["failed"][:20]
        return out


def _chunks(items: Iterable[tuple[str, str, dict]], size: int) -> Iterator[dict]:
    chunk = {crm: {t: [] for t in types} for crm, types in TYPE_ORDER.items()}
    n = 0
    for crm, otype, record in items:
        chunk[crm][otype].append(record)
        n += 1
        if n >= size:
            yield chunk
            chunk = {crm: {t: [] for t in types} for crm, types in TYPE_ORDER.items()}
            n = 0
    if n:
        yield chunk


class EditPicker:
    """Passes the scenario stream through and picks `fraction` of each object type's live records
    (deterministic by seed) with the edit a user would make to a field the sync maps."""

    def __init__(self, fraction: float, seed: int) -> None:
        self.fraction = fraction
        self.rng = random.Random(f"crmsync-bench-edits:{seed}")
        self.edits: list[dict] = []
        self.live: dict[str, int] = {}

    def __call__(self, items: Iterable[tuple[str, str, dict]]) -> Iterator[tuple[str, str, dict]]:
        for item in items:
            crm, otype, rec = item
            fields = self._edit(crm, otype, rec)
            if fields is not None:
                self.live[f"{crm}.{otype}"] = self.live.get(f"{crm}.{otype}", 0) + 1
                if self.rng.random() < self.fraction:
                    rid = rec["Id"] if crm == "salesforce" else str(rec["id"])
                    self.edits.append({"crm": crm, "type": otype, "id": rid, "fields": fields})
            yield item

    def _edit(self, crm: str, otype: str, rec: dict) -> dict | None:
        n = len(self.edits)
        if crm == "salesforce":
            if rec.get("IsDeleted") or rec.get("IsConverted"):
                return None
            if otype in ("Contact", "Lead"):
                return {"Title": f"Bench title {n}"}
            if otype == "Account":
                return {"Name": f"{(rec.get('Name') or 'Account')[:200]} (edit {n})"}
            if otype == "Opportunity":
                return {"Amount": round(float(rec.get("Amount") or 0) + 1, 2)}
            return None
        if otype == "associations" or rec.get("archived"):
            return None
        props = rec.get("properties") or {}
        if otype == "contacts":
            return {"jobtitle": f"Bench title {n}"}
        if otype == "companies":
            return {"name": f"{(props.get('name') or 'Company')[:200]} (edit {n})"}
        if otype == "deals":
            return {"amount": str(round(float(props.get("amount") or 0) + 1, 2))}
        return None


if __name__ == "__main__":
    sys.exit(serve())
