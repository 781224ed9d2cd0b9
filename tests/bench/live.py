"""Live sync's latency and cost: `python -m tests.bench.live --size 2000 [--edits 20] [--out DIR]`.

A sandbox process seeded with the generated scenario, a full sync, then the console as it runs in
production: `manage.py runserver` receiving HubSpot's webhooks at /hooks/hubspot/ and one
`manage.py qcluster` worker running the live runs they queue (the sweep's schedule removed, so
only live runs run). The sandbox's HubSpot sends each change as a signed webhook after a random
delay (`--delay-ms`, HubSpot's own delivery lag is not documented; 0.5–3 s assumed). Each edit is a
deal's amount changed through HubSpot's API by another tool; its latency is the time until
Salesforce's opportunity shows the new amount (read through simple-salesforce every 0.1 s). Then
the cost of a quiet live poll (Salesforce requests of one live run with nothing to do) and what
the Settings page's poll intervals cost a day. Prints a table and writes DIR/live-<size>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.run import ROOT, child_env, create_database, drop_database, log, run_child
from tests.bench.sandbox_proc import SandboxProcess

SECRET = "bench-webhook-secret"
QUIET_POLLS = ("import urllib.request as u; from sync import tasks; tasks.live_poll(); "
               "u.urlopen(u.Request('{url}/_sandbox/stats', method='DELETE')); tasks.live_poll()")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    out = open(log_path, "w", encoding="utf-8")   # closed with the process (the OS keeps it open for it)
    # a session of its own: qcluster's worker processes are stopped with it (_stop), not orphaned
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(procs: list[subprocess.Popen], sig: int = signal.SIGTERM) -> None:
    for p in procs:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
    procs.clear()


def _wait_for(url: str, timeout: float = 30) -> None:
    import urllib.error
    import urllib.request

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return   # answering (405 for GET): up
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def linked_deals(hs, limit: int) -> list[tuple[str, str]]:
    """(deal id, opportunity id) of deals the full sync linked, read through HubSpot's API."""
    out, after = [], None
    while len(out) < limit:
        page = hs.crm.deals.basic_api.get_page(limit=100, after=after, properties=["hs_salesforceopportunityid"])
        out += [(d.id, d.properties["hs_salesforceopportunityid"]) for d in page.results
                if d.properties.get("hs_salesforceopportunityid")]
        if not page.paging or not page.paging.next:
            break
        after = page.paging.next.after
    return out[:limit]


def measure(args) -> dict:
    from hubspot import HubSpot

    from sandbox.scenario import generate
    from sandbox.testing import salesforce_client
    from sync.forms import poll_calls_per_day

    out = Path(args.out).resolve()
    logs = out / f"logs-live-{args.size}"
    logs.mkdir(parents=True, exist_ok=True)
    database_url = create_database("sqlite", args.size, out, "")
    procs: list[subprocess.Popen] = []
    r: dict = {"size": args.size, "edits": args.edits, "delay_ms": args.delay_ms,
               "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        with SandboxProcess(seed=args.seed, log_path=str(logs / "sandbox.log")) as sb:
            port = _free_port()
            env = {**child_env(database_url, sb.url), "HUBSPOT_WEBHOOK_SECRET": SECRET, "ALLOWED_HOSTS": "127.0.0.1",
                   "SECURE_SSL_REDIRECT": "false",
                   "HUBSPOT_WEBHOOK_URL": f"http://127.0.0.1:{port}/hooks/hubspot/", "Q_WORKERS": "1"}
            if run_child(["manage.py", "migrate", "--verbosity", "0"], env, logs / "migrate.log")["rc"]:
                raise SystemExit("migrate failed")
            sb.unthrottle()
            log(f"live: loading {args.size:,} people and a full sync")
            sb.load(generate(args.size, args.seed))
            full = run_child(["manage.py", "sync", "--full", "--wait"], env, logs / "full.log")
            if full["rc"]:
                raise SystemExit(f"full sync failed: see {full['log']}")
            r["full_s"] = full["wall_s"]
            run_child(["manage.py", "shell", "-c", "from django_q.models import Schedule; Schedule.objects.all().delete()"],
                      env, logs / "schedules.log")
            procs.append(_start(["manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], env, logs / "web.log"))
            procs.append(_start(["manage.py", "qcluster"], env, logs / "qcluster.log"))
            _wait_for(f"http://127.0.0.1:{port}/hooks/hubspot/")
            lo, hi = args.delay_ms
            sb.control("POST", "hubspot/webhooks", {"url": env["HUBSPOT_WEBHOOK_URL"], "secret": SECRET,
                                                    "delay_ms": [lo, hi]})
            time.sleep(3)   # the full sync's own echoes arrive and are dropped by a first live run
            hs, sf = HubSpot(access_token="sandbox", host=sb.url), salesforce_client(sb.url)
            deals = linked_deals(hs, args.edits)
            if len(deals) < args.edits:
                raise SystemExit(f"only {len(deals)} linked deals for {args.edits} edits")
            rng = random.Random(args.seed)
            latencies, missed = [], 0
            sb.reset_stats()
            for deal_id, opp_id in deals:
                amount = rng.randrange(1_000, 900_000)
                hs.crm.deals.basic_api.update(deal_id, {"properties": {"amount": str(amount)}})
                t0 = time.perf_counter()
                while time.perf_counter() - t0 < args.timeout:
                    if float(sf.Opportunity.get(opp_id).get("Amount") or 0) == amount:
                        latencies.append(time.perf_counter() - t0)
                        break
                    time.sleep(0.1)
                else:
                    missed += 1
            stats = sb.stats()
            r["latency_s"] = {"p50": round(statistics.median(latencies), 2), "p95": round(percentile(latencies, 95), 2),
                              "max": round(max(latencies), 2)} if latencies else None
            r["missed"] = missed
            r["webhooks"] = sb.control("GET", "hubspot/webhooks")["sent"]
            # the edit loop's own reads of Salesforce are the benchmark's, not the sync's: HubSpot's only
            r["hubspot_requests_per_edit"] = round(stats["hubspot"]["calls"] / args.edits, 2)
            _stop(procs)
            # Two polls in one process, as the worker runs them: the first pays what a process asks
            # once (HubSpot's marker property, Salesforce's describe); the second is what each costs.
            quiet = run_child(["manage.py", "shell", "-c", QUIET_POLLS.format(url=sb.url)], env, logs / "quiet-poll.log")
            stats = sb.stats()
            r["quiet_poll"] = {"rc": quiet["rc"], "salesforce": stats["salesforce"]["calls"],
                               "hubspot": stats["hubspot"]["calls"]}
            r["poll_calls_per_day"] = {m: stats["salesforce"]["calls"] * (24 * 60 // m) for m in (1, 2, 5, 10, 15, 30)}
            r["poll_calls_per_day_on_settings_page"] = {m: poll_calls_per_day(m) for m in (1, 2, 5, 10, 15, 30)}
    finally:
        _stop(procs, signal.SIGKILL)
        drop_database("sqlite", args.size, out, "")
    return r


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--delay-ms", type=lambda s: [int(x) for x in s.split(",")], default=[500, 3000])
    parser.add_argument("--out", default=os.environ.get("BENCH_OUT", "var/bench"))
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")
    os.environ.setdefault("DEBUG", "true")   # this process only reads the Settings page's formula; the children set their own
    import django

    django.setup()
    r = measure(args)
    Path(args.out, f"live-{args.size}.json").write_text(json.dumps(r, indent=2))
    lat = r["latency_s"] or {}
    print(f"live sync, {args.size:,} people, {args.edits} HubSpot edits, webhook delay {args.delay_ms} ms")
    print(f"  HubSpot edit → Salesforce: p50 {lat.get('p50')} s, p95 {lat.get('p95')} s (target < 10 s), "
          f"max {lat.get('max')} s, missed {r['missed']}")
    print(f"  webhooks: {r['webhooks']}; HubSpot requests per edit {r['hubspot_requests_per_edit']}")
    print(f"  quiet live poll: Salesforce {r['quiet_poll']['salesforce']}, HubSpot {r['quiet_poll']['hubspot']} "
          f"requests; a day: {r['poll_calls_per_day']}")
    ok = lat.get("p95") is not None and lat["p95"] < 10 and not r["missed"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
