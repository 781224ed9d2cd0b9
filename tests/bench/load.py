"""Load: the console under concurrent users — gunicorn and PostgreSQL at 100,000 people, from
loopback, bounded in time. Reports p50/p95/p99 latency, throughput and the error count.

    .venv/bin/python -m tests.bench.load [--size 100000] [--users 50] [--seconds 30] [--workers 3]

Uses its own database (`crmsync_load` on the local PostgreSQL; created, filled with
`tests.bench.console_scale.fill`, then left for a rerun with --no-fill). Every user logs in
with a session of its own and walks the list pages at random until the time is up, reading
each page for about `--think` seconds (0 makes every user a tight loop: a stress test, where
the 2 cores, not the console, set the latency)."""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[2]
PG = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
PASSWORD = "load-test-password-1"
TARGET_P95_MS = 300


def database(name: str, create: bool) -> str:
    parts = urllib.parse.urlsplit(PG)
    with psycopg.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres",
                         dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if create and not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG}/{name}"


def prepare(db_url: str, size: int, users: int, fill: bool) -> list[str]:
    """Migrate and fill the database (in a child process, so this one stays free of Django)."""
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": db_url}
    if fill:
        subprocess.run([sys.executable, "-m", "tests.bench.console_scale", "--size", str(size), "--repeat", "1",
                        "--json", "var/bench/load-fill.json"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
    code = f"""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from sync.models import DuplicateGroup, HsContact
User = get_user_model()
for i in range({users}):
    u, _ = User.objects.get_or_create(username=f"load{{i}}")
    u.set_password({PASSWORD!r}); u.save(); u.groups.add(Group.objects.get(name="operator"))
print(HsContact.objects.filter(link__status="synced").order_by("pk").values_list("hs_id", flat=True)[100])
print(max(1, -(-DuplicateGroup.objects.filter(kind="r2").count() // 20)))
"""
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    # The production storage (DEBUG off) serves hashed names from a manifest collectstatic writes.
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, check=True,
                   env={**env, "DEBUG": "false", "SECRET_KEY": "collectstatic-only-" + "x" * 40})
    contact, last = out[-2], out[-1]
    return ["/", "/duplicates/", f"/duplicates/?kind=r2&page={last}", "/duplicates/?kind=r7",
            "/duplicates/?kind=r9", "/contacts/", "/contacts/?status=lost_primary", f"/contacts/{contact}/",
            "/audit/", "/runs/"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(db_url: str, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": "load-test-" + "x" * 50, "DATABASE_URL": db_url,
           "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "false", "SESSION_COOKIE_SECURE": "false",
           "CSRF_COOKIE_SECURE": "false", "SECURE_HSTS_SECONDS": "0", "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "crmsync.wsgi", "-b", f"127.0.0.1:{port}",
                             "-w", str(workers), "--threads", "4", "--timeout", "60"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/login/", timeout=2).status_code == 200:
                return proc
        except requests.RequestException:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("gunicorn did not start: " + proc.stderr.read().decode()[-2000:])


def login(base: str, username: str) -> requests.Session:
    s = requests.Session()
    page = s.get(f"{base}/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    r = s.post(f"{base}/login/", data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
               headers={"Referer": f"{base}/login/"}, allow_redirects=False, timeout=30)
    assert r.status_code == 302, (r.status_code, r.text[:300])
    return s


def user_loop(base: str, session: requests.Session, paths: list[str], until: float, seed: int,
              results: list, lock: threading.Lock, think: float) -> None:
    rng = random.Random(seed)
    mine = []
    time.sleep(rng.uniform(0, think))  # users don't all click at the same instant
    while time.monotonic() < until:
        path = rng.choice(paths)
        start = time.perf_counter()
        try:
            r = session.get(base + path, timeout=30, allow_redirects=False)
            ok = r.status_code == 200
            status = r.status_code
        except requests.RequestException as exc:
            ok, status = False, exc.__class__.__name__
        mine.append((path, (time.perf_counter() - start) * 1000, ok, status))
        if think:  # a person reads the page before the next click
            time.sleep(rng.uniform(0.5 * think, 1.5 * think))
    with lock:
        results.extend(mine)


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean seconds a user reads a page before the next click (0: no pause)")
    parser.add_argument("--no-fill", action="store_true")
    parser.add_argument("--json", default="var/bench/load.json")
    args = parser.parse_args()

    db_url = database("crmsync_load", create=True)
    print(f"Preparing {db_url} with {args.size:,} people…", flush=True)
    paths = prepare(db_url, args.size, args.users, fill=not args.no_fill)
    port = free_port()
    server = start_gunicorn(db_url, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        sessions = [login(base, f"load{i}") for i in range(args.users)]
        results: list = []
        lock = threading.Lock()
        until = time.monotonic() + args.seconds
        threads = [threading.Thread(target=user_loop, args=(base, s, paths, until, i, results, lock, args.think))
                   for i, s in enumerate(sessions)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    times = [ms for _, ms, _, _ in results]
    errors = [(p, s) for p, _, ok, s in results if not ok]
    report = {"size": args.size, "users": args.users, "think_s": args.think, "seconds": round(elapsed, 1),
              "gunicorn_workers": args.workers,
              "requests": len(results), "rps": round(len(results) / elapsed, 1), "errors": len(errors),
              "error_samples": errors[:10], "p50_ms": pct(times, 50), "p95_ms": pct(times, 95),
              "p99_ms": pct(times, 99), "pages": {}}
    for path in paths:
        mine = [ms for p, ms, _, _ in results if p == path]
        report["pages"][path] = {"n": len(mine), "p50_ms": pct(mine, 50), "p95_ms": pct(mine, 95),
                                 "mean_ms": round(statistics.mean(mine), 1) if mine else 0}
    report["pass"] = report["errors"] == 0 and report["p95_ms"] < TARGET_P95_MS
    print(f"\n{args.users} users (think {args.think} s), {elapsed:.0f} s, {len(results):,} requests ({report['rps']}/s), "
          f"{len(errors)} errors; p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms, p99 {report['p99_ms']} ms "
          f"→ {'PASS' if report['pass'] else 'FAIL'} (target: no errors, p95 < {TARGET_P95_MS} ms)")
    print(f"{'page':<40} {'n':>6} {'p50 ms':>8} {'p95 ms':>8}")
    for path, m in report["pages"].items():
        print(f"{path:<40} {m['n']:>6} {m['p50_ms']:>8} {m['p95_ms']:>8}")
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
