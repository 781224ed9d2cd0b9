"""Benchmarks at scale: `python -m tests.bench.run --size 10000 [--db sqlite,postgres] [--out DIR]`.

For each database: a fresh sandbox process seeded with the generated scenario (streamed), limits
raised; the raw-transfer baseline; then, each sync in its own `manage.py sync --wait` process (wall
time and peak RSS via wait4): a full sync, a settle run (it re-reads the full sync's own writes), an
incremental sync after 1 % of each side's records were edited as users would, a second settle run
(the echo of that run's writes) and an incremental sync with no changes; requests per CRM come
from the sandbox's stats, reset before each phase.
Then the console's pages, timed with the test client. Prints a table and writes
DIR/bench-<size>-<db>.json. The benchmark databases (PostgreSQL `crmsync_bench_<size>`, SQLite
DIR/bench-<size>.sqlite3) are created, migrated and dropped here.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

from tests.bench import report
from tests.bench.sandbox_proc import EditPicker, SandboxProcess

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_PG = {"test", "test_test", "postgres", "template0", "template1"}
CRM_ENV = ("SALESFORCE_INSTANCE_URL", "SALESFORCE_ACCESS_TOKEN", "SALESFORCE_USERNAME", "SALESFORCE_PASSWORD",
           "SALESFORCE_SECURITY_TOKEN", "SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET", "HUBSPOT_ACCESS_TOKEN",
           "HUBSPOT_BASE_URL", "REDIS_URL")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- databases ----------------------------------------------------------------------------------------

def _pg_admin(base: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def create_database(db: str, size: int, out: Path, pg_base: str) -> str:
    if db == "sqlite":
        path = out / f"bench-{size}.sqlite3"
        drop_database(db, size, out, pg_base)
        return f"sqlite:///{path}"   # absolute path: sqlite:////abs/…
    name = f"crmsync_bench_{size}"
    assert name not in FORBIDDEN_PG
    _pg_admin(pg_base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_admin(pg_base, f'CREATE DATABASE "{name}"')
    return f"{pg_base}/{name}"


def drop_database(db: str, size: int, out: Path, pg_base: str) -> None:
    if db == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{out / f'bench-{size}.sqlite3'}{suffix}").unlink(missing_ok=True)
    else:
        _pg_admin(pg_base, f'DROP DATABASE IF EXISTS "crmsync_bench_{size}" WITH (FORCE)')


# -- child processes ------------------------------------------------------------------------------------

def child_env(database_url: str, sandbox_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CRM_ENV}
    env.update({"DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "crmsync.settings", "DEBUG": "false",
                "SECRET_KEY": env.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(40),
                "SALESFORCE_INSTANCE_URL": sandbox_url, "SALESFORCE_ACCESS_TOKEN": "sandbox",
                "HUBSPOT_BASE_URL": sandbox_url, "HUBSPOT_ACCESS_TOKEN": "sandbox", "PYTHONUNBUFFERED": "1"})
    return env


def run_child(args: list[str], env: dict, log_path: Path) -> dict:
    """Run one process to the end; wall time and its own peak RSS (wait4's ru_maxrss, in KB)."""
    with open(log_path, "w", encoding="utf-8") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log_path.read_text(encoding="utf-8", errors="replace")
    return {"rc": proc.returncode, "wall_s": round(wall, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "tail": text.strip().splitlines()[-6:],
            "log": str(log_path.relative_to(ROOT) if log_path.is_relative_to(ROOT) else log_path)}


def _sync_summary(result: dict) -> None:
    """Fold `manage.py sync --wait`'s summary lines into the phase's figures."""
    text = "\n".join(result["tail"])
    m = re.search(r"Run (\d+): (\S+) in (\d+):(\d{2}):(\d{2}(?:\.\d+)?)", text)
    if m:
        result["run_id"], result["status"] = int(m.group(1)), m.group(2)
        result["run_s"] = round(int(m.group(3)) * 3600 + int(m.group(4)) * 60 + float(m.group(5)), 3)
    for key, value in re.findall(r"(\w[\w ]*?)=(\d+)", text):
        key = key.strip().split()[-1] if key.strip() not in ("field changes", "lost primary") else key.strip()
        result.setdefault("summary", {})[key.replace(" ", "_")] = int(value)
    if "summary" in result:
        result["pulled"] = result["summary"].get("pulled")


def _spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 2)


# -- one database ---------------------------------------------------------------------------------------

def bench_one(db: str, args, out: Path) -> dict:
    size = args.size
    tag = f"{size}-{db}"
    logs = out / f"logs-{tag}"
    logs.mkdir(parents=True, exist_ok=True)
    r: dict = {"size": size, "db": db, "seed": args.seed, "fraction": args.fraction, "phases": {},
               "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    database_url = create_database(db, size, out, args.pg_url)
    try:
        with SandboxProcess(seed=args.seed, log_path=str(logs / "sandbox.log")) as sb:
            env = child_env(database_url, sb.url)
            log(f"{db}: migrate")
            mig = run_child(["manage.py", "migrate", "--verbosity", "0"], env, logs / "migrate.log")
            if mig["rc"]:
                raise SystemExit(f"migrate failed: see {mig['log']}")
            r["limits"] = sb.unthrottle()
            log(f"{db}: generating and loading {size:,} people into the sandbox")
            from sandbox.scenario import generate

            picker = EditPicker(args.fraction, args.seed)
            t0 = time.perf_counter()
            counts = sb.load(picker(generate(size, args.seed)))
            r["load"] = {"seconds": round(time.perf_counter() - t0, 2), "counts": counts,
                         "sandbox_rss_mb": round(sb.rss_mb() or 0, 1)}

            log(f"{db}: raw-transfer baseline")
            sb.reset_stats()
            cpu0 = sb.cpu_s()
            base = run_child(["-m", "tests.bench.baseline", "--url", sb.url, "--out", str(logs / "baseline.json")],
                             env, logs / "baseline.log")
            base["sandbox_cpu_s"] = _spent(cpu0, sb.cpu_s())
            if base["rc"]:
                raise SystemExit(f"baseline failed: see {base['log']}")
            base.update(json.loads((logs / "baseline.json").read_text()))
            base["requests"] = report.classify(sb.stats())
            r["baseline"] = base
            r["records"] = report.records(base)
            r["minimum_requests"] = report.minimums(base)
            base["records_per_s"] = round(r["records"] / base["wall_s"])

            def sync(phase: str, *extra: str) -> dict:
                log(f"{db}: {report.PHASE_NAMES[phase]}")
                sb.reset_stats()
                cpu0 = sb.cpu_s()
                res = run_child(["manage.py", "sync", "--wait", *extra], env, logs / f"sync-{phase}.log")
                res["sandbox_cpu_s"] = _spent(cpu0, sb.cpu_s())
                res["requests"] = report.classify(stats := sb.stats())
                res["endpoints"] = {crm: stats[crm]["endpoints"] for crm in ("salesforce", "hubspot")}
                _sync_summary(res)
                if res["rc"]:
                    log(f"{db}: {phase} exited {res['rc']}: {' | '.join(res['tail'][-2:])}")
                r["phases"][phase] = res
                return res

            full = sync("full", "--full")
            full["records_per_s"] = round(r["records"] / full["wall_s"])
            r["sync_to_raw_ratio"] = round(full["wall_s"] / base["wall_s"], 2)
            if args.full_only:   # e.g. the memory of a 1,000,000-person sync, without the hour the rest takes
                r["pages"] = {"pages": [], "skipped": "--full-only"}
            else:
                _later_phases(r, sb, env, picker, sync, logs, args)
    finally:
        if not args.keep_db:
            drop_database(db, size, out, args.pg_url)
    r["targets"] = report.targets(r)
    return r


def _later_phases(r: dict, sb, env: dict, picker, sync, logs: Path, args) -> None:
    """After the full sync: settle, the 1 % incremental run, settle again, the no-change run,
    then the console's pages."""
    db = r["db"]
    sync("settle")
    per_crm: dict = {}
    for e in picker.edits:
        per_crm[f"{e['crm']}.{e['type']}"] = per_crm.get(f"{e['crm']}.{e['type']}", 0) + 1
    r["edits"] = {**sb.touch(picker.edits), "per_crm": per_crm, "live": picker.live}
    sync("incremental")
    # The 1 % run's own writes come back once; an echo that lands in the next run's overlap
    # window can take one more. "No change" means after that: settle until a run pulls nothing.
    r["settle_runs"] = 1
    while (sync("settle_2").get("pulled") or 0) > 0 and r["settle_runs"] < 4:
        r["settle_runs"] += 1
    sync("no_change")

    log(f"{db}: console pages ({args.repeat} requests each)")
    pages = run_child(["-m", "tests.bench.pages", "--out", str(logs / "pages.json"),
                       "--repeat", str(args.repeat)], env, logs / "pages.log")
    r["pages"] = json.loads((logs / "pages.json").read_text()) if pages["rc"] == 0 else \
        {"error": pages["tail"], "pages": []}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="people in the generated scenario")
    parser.add_argument("--db", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench"), help="directory for reports, logs, SQLite file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fraction", type=float, default=0.01, help="share of each side's records edited")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per console page")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432"),
                        help="PostgreSQL server (no database name); the harness creates crmsync_bench_<size>")
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument("--full-only", action="store_true", help="stop after the full sync (no incremental runs, "
                        "no console pages)")
    args = parser.parse_args(argv)
    args.pg_url = args.pg_url.rstrip("/")
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    if not dbs or set(dbs) - {"sqlite", "postgres"}:
        parser.error("--db takes sqlite, postgres or both")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    failed = False
    for db in dbs:
        r = bench_one(db, args, out)
        path = out / f"bench-{args.size}-{db}.json"
        path.write_text(json.dumps(r, indent=1, default=str), encoding="utf-8")
        print(report.render(r) + f"\n\nreport: {path}\n", flush=True)
        failed |= any(p.get("rc") for p in r["phases"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
