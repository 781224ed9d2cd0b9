"""The CRM sandbox in its own process, seeded by streaming a generated scenario over HTTP.

Child side (`python -m tests.bench.sandbox_proc --port 0 --seed N`): the same `Sandbox` +
`SandboxServer` as `manage.py sandbox --scenario empty`, plus three bench-only control endpoints
that the stock control API does not have (HubSpot's rate limits and user edits are only reachable
through Python methods there):

    POST /_sandbox/hubspot/limits   body → HubSpotEmulator.configure_limits(**body)
    POST /_sandbox/hubspot/touch    {type, id, properties} → HubSpotEmulator.touch(...)
    POST /_sandbox/bench/touch      {edits: [{crm, type, id, fields}]} → salesforce.touch / hubspot.touch
                                    for each (one request for thousands of user edits)

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
        return {"salesforce": sf["salesforce"], "hubspot": {k: hs[k] for k in ("burst_max", "daily_max",
                                                                               "search_per_second", "enabled")}}

    def stats(self) -> dict:
        return self.control("GET", "stats")

    def reset_stats(self) -> None:
        self.control("DELETE", "stats")

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
