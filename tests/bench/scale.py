"""Scale-out benchmark: `python -m tests.bench.scale --size 10000 --workers 1,4`.

For each worker count: a fresh sandbox process seeded with the scenario, a fresh PostgreSQL
database, Redis as django-q2's broker and the shared rate limiter (a Redis database of its own,
emptied first), and `manage.py qcluster` with that many workers. A full sync is queued the way
the console queues one (`manage.py sync --full`); the clock runs until the run has finished.
Reported: wall time and, per phase, its seconds and the speed-up of N workers over one (`phases`):
pull (the run's start to its last pull part's end: the parts run in parallel), reconcile and
push (one task, the last pull part's; the boundary between them is the run's phase turning to
"push", seen by polling it every 0.2 s), field sync (its parts, in parallel: the first's start
to the last's end) and groups (the last field part's end to the run's end). Also each part's
time, 429s the sandbox sent, and the CPU of every process doing the sync (the qcluster's
processes, read from /proc before and after) over a raw-transfer baseline's wall time, the floor
of issue 14's CPU target when the sync runs in several processes.

With `--hubspot-limit real` the sandbox keeps HubSpot's Professional limits (190 requests per
10 s, 5 searches a second) and the report shows whether the workers, together, stayed inside
them; by default every limit is raised so the figure is the machine's, not the CRM's.
`--sf-latency realistic` adds Salesforce's response times (sandbox/salesforce/latency.py)."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.run import ROOT, child_env, create_database, drop_database, log, run_child
from tests.bench.sandbox_proc import SandboxProcess

PHASES = ("pull", "reconcile", "push", "fields", "groups")


def _redis_url(base: str, db: int) -> str:
    import redis

    url = f"{base.rstrip('/')}/{db}"
    redis.Redis.from_url(url).flushdb()   # our own database number: the queue and limiter start empty
    return url


def _pg_query(database_url: str, sql: str, *params):
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as conn:
        return conn.execute(sql, params).fetchall()


def one(workers: int, args, out: Path) -> dict:
    from sandbox.scenario import generate

    tag = f"{args.size}-w{workers}"
    logs = out / f"logs-scale-{tag}"
    logs.mkdir(parents=True, exist_ok=True)
    database_url = create_database("postgres", args.size, out, args.pg_url)
    r: dict = {"workers": workers}
    try:
        with SandboxProcess(seed=args.seed, log_path=str(logs / "sandbox.log")) as sb:
            env = child_env(database_url, sb.url)
            env.update(REDIS_URL=_redis_url(args.redis_url, args.redis_db), Q_WORKERS=str(workers),
                       SYNC_PARALLEL="true", LOG_LEVEL="WARNING")
            mig = run_child(["manage.py", "migrate", "--verbosity", "0"], env, logs / "migrate.log")
            if mig["rc"]:
                raise SystemExit(f"migrate failed: see {mig['log']}")
            if args.hubspot_limit == "unthrottled":
                sb.unthrottle()
            else:
                sb.control("POST", "config", {"salesforce": {"daily_limit": 10 ** 9, "token_ttl": 10 ** 7}})
            if args.sf_latency != "off":
                r["sf_latency"] = sb.latency(args.sf_latency)
            log(f"scale w={workers}: loading {args.size:,} people")
            r["counts"] = sb.load(generate(args.size, args.seed))
            base = run_child(["-m", "tests.bench.baseline", "--url", sb.url, "--out", str(logs / "baseline.json")],
                             env, logs / "baseline.log")
            r["baseline_wall_s"] = base["wall_s"] if base["rc"] == 0 else None
            sb.reset_stats()
            with open(logs / "qcluster.log", "w", encoding="utf-8") as qlog:
                cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                                           stdout=qlog, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                time.sleep(3)   # the cluster's workers start
                log(f"scale w={workers}: full sync")
                cpu0 = group_cpu_s(cluster.pid)
                t0 = time.perf_counter()
                queued = run_child(["manage.py", "sync", "--full"], env, logs / "queue.log")
                if queued["rc"]:
                    raise SystemExit(f"queueing failed: see {queued['log']}")
                status, seen = "pending", {}
                while status in ("pending", "running") and time.perf_counter() - t0 < args.timeout:
                    time.sleep(0.2)
                    status, phase = _pg_query(database_url, "SELECT status, phase FROM sync_syncrun "
                                                            "ORDER BY id DESC LIMIT 1")[0]
                    seen.setdefault(phase, time.time())   # first sight of each phase (wall clock, as the DB's)
                r["wall_s"] = round(time.perf_counter() - t0, 2)
                r["cpu_s"] = round(group_cpu_s(cluster.pid) - cpu0 + queued["cpu_s"], 2)
            finally:
                os.killpg(cluster.pid, signal.SIGTERM)
                try:
                    cluster.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(cluster.pid, signal.SIGKILL)
                    cluster.wait()
            (run,) = _pg_query(database_url, "SELECT id, status, error, pulled, created, sf_api_calls, hs_api_calls, "
                                             "started_at, finished_at FROM sync_syncrun ORDER BY id DESC LIMIT 1")
            r.update(run_id=run[0], status=run[1], error=(run[2] or "")[:300], pulled=run[3], created=run[4],
                     sf_calls=run[5], hs_calls=run[6], run_s=round((run[8] - run[7]).total_seconds(), 2)
                     if run[8] else None)
            parts = _pg_query(database_url, "SELECT name, status, pulled, started_at, finished_at, worker "
                                            "FROM sync_syncchunk WHERE run_id = %s ORDER BY started_at", run[0])
            r["parts"] = [{"name": p[0], "status": p[1], "pulled": p[2], "worker": p[5],
                           "start_s": round((p[3] - run[7]).total_seconds(), 2) if p[3] else None,
                           "seconds": round((p[4] - p[3]).total_seconds(), 2) if p[3] and p[4] else None}
                          for p in parts]
            r["phase_seen_s"] = {k: round(v - run[7].timestamp(), 2) for k, v in seen.items()}
            r.update(stages(r))
            r["phases"] = phases(r, run_s=r["run_s"])
            if r.get("baseline_wall_s"):
                r["cpu_floor"] = round(r["cpu_s"] / r["baseline_wall_s"], 2)
            r["workers_used"] = len({p[5] for p in parts})
            limits = sb.control("POST", "hubspot/limits", {})   # no change: reads the limiter's state
            r["hubspot_429s"] = sum(limits["rejected"].values())
            r["hubspot_limits"] = limits
    finally:
        if not args.keep_db:
            drop_database("postgres", args.size, out, args.pg_url)
    return r


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) of every live process in a process group (the qcluster started
    with start_new_session: its pid is the group), with the children they reaped."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:   # pgrp
            total += sum(int(v) for v in fields[11:15])   # utime, stime, cutime, cstime
    return total / tick


def phases(r: dict, *, run_s: float | None) -> dict:
    """Seconds per phase from the run's start (see the module docstring), from the parts' own
    times where they have them, else from when polling first saw the run's phase change."""
    parts = [p for p in r.get("parts", []) if p.get("seconds") is not None]
    pulls = [p for p in parts if not p["name"].startswith("fields:")]
    fields = [p for p in parts if p["name"].startswith("fields:")]
    seen = r.get("phase_seen_s") or {}
    if run_s is None:
        return {}
    pull_end = max((p["start_s"] + p["seconds"] for p in pulls), default=seen.get("reconcile"))
    push_at = seen.get("push")
    fields_at = min((p["start_s"] for p in fields), default=seen.get("fields"))
    fields_end = max((p["start_s"] + p["seconds"] for p in fields), default=seen.get("done"))
    marks = [0.0, pull_end, push_at, fields_at, fields_end, run_s]
    out = {}
    for i, name in enumerate(PHASES):
        # A phase polling never saw (shorter than 0.2 s) leaves its mark None: the phase before
        # it then runs to the next known mark (push None, reconcile = reconcile + push).
        a = marks[i]
        b = next((m for m in marks[i + 1:] if m is not None), None)
        out[name] = round(max(0.0, b - a), 2) if a is not None and b is not None else None
    return out


def stages(r: dict) -> dict:
    """Seconds from the run's start to its last pull part's end (pull), from there to the run's
    end (rest: reconcile and push, the field-sync parts, the groups), and the field-sync parts'
    own span (fields), from the parts' start offsets and durations."""
    def ends(field_parts: bool) -> list[tuple[float, float]]:
        return [(p["start_s"], p["start_s"] + p["seconds"]) for p in r.get("parts", [])
                if p["seconds"] is not None and p["name"].startswith("fields:") == field_parts]
    out = {}
    pulls, fields = ends(False), ends(True)
    if pulls and r.get("run_s"):
        out["pull_s"] = round(max(e for _, e in pulls), 2)
        out["after_pull_s"] = round(r["run_s"] - out["pull_s"], 2)
    if fields:
        out["fields_s"] = round(max(e for _, e in fields) - min(s for s, _ in fields), 2)
    return out


def render(results: list[dict], args) -> str:
    lines = [f"crmsync scale-out: full sync of {args.size:,} people, PostgreSQL, Redis broker and limiter, "
             f"HubSpot limits {args.hubspot_limit}", "",
             f"{'workers':>8}{'status':>11}{'wall s':>9}{'pull s':>9}{'rest s':>9}{'fields s':>10}{'speed-up':>10}"
             f"{'HS 429s':>9}{'SF calls':>10}{'HS calls':>10}"]
    first = results[0].get("wall_s") if results else None
    for r in results:
        speed = f"{first / r['wall_s']:.2f}x" if first and r.get("wall_s") else "-"
        lines.append(f"{r['workers']:>8}{r.get('status', '?'):>11}{r.get('wall_s', 0):>9.1f}"
                     f"{r.get('pull_s') or 0:>9.1f}{r.get('after_pull_s') or 0:>9.1f}{r.get('fields_s') or 0:>10.1f}"
                     f"{speed:>10}"
                     f"{r.get('hubspot_429s', 0):>9}{r.get('sf_calls', 0):>10}{r.get('hs_calls', 0):>10}")
    lines += ["", "per phase, seconds (speed-up over the first worker count):",
              f"{'workers':>8}" + "".join(f"{name:>18}" for name in PHASES) + f"{'cpu s':>9}{'cpu floor':>11}"]
    base = results[0].get("phases") or {} if results else {}
    for r in results:
        cells = []
        for name in PHASES:
            v, v0 = (r.get("phases") or {}).get(name), base.get(name)
            speed = f" ({v0 / v:.2f}x)" if v and v0 else ""
            cells.append(f"{'-' if v is None else f'{v:.1f}'}{speed}")
        floor = f"{r['cpu_floor']:.2f}x" if r.get("cpu_floor") is not None else "-"
        lines.append(f"{r['workers']:>8}" + "".join(f"{c:>18}" for c in cells) + f"{_num(r.get('cpu_s')):>9}{floor:>11}")
    lines.append("cpu floor: every qcluster process's CPU during the run ÷ the raw-transfer baseline's wall "
                 "(issue 14's floor when the sync runs in several processes; target ≤ 1.5× at 100,000)")
    for r in results:
        parts = ", ".join(f"{p['name']} {p['seconds']}s@{p['start_s']}" for p in r.get("parts", []))
        lines.append(f"  w={r['workers']} parts (seconds @ start offset): {parts}")
    return "\n".join(lines)


def _num(v) -> str:
    return "-" if v is None else f"{v:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--workers", default="1,4", help="comma-separated worker counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hubspot-limit", choices=("unthrottled", "real"), default="unthrottled")
    parser.add_argument("--sf-latency", default="off", help="Salesforce's response times (sandbox/salesforce/"
                        "latency.py): off, realistic, or name=ms pairs")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench"))
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379"),
                        help="Redis server (no database number)")
    parser.add_argument("--redis-db", type=int, default=13, help="Redis database number the benchmark may empty")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args(argv)
    args.pg_url = args.pg_url.rstrip("/")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = [one(int(w), args, out) for w in args.workers.split(",") if w.strip()]
    path = out / f"scale-{args.size}-{args.hubspot_limit}.json"
    path.write_text(json.dumps({"size": args.size, "hubspot_limit": args.hubspot_limit, "results": results},
                               indent=1, default=str), encoding="utf-8")
    print(render(results, args) + f"\n\nreport: {path}", flush=True)
    return 0 if all(r.get("status") == "succeeded" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
