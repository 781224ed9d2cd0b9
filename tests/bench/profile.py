"""Where a full sync's time goes: `python -m tests.bench.profile --size 20000 --db postgres`.

A sandbox process seeded with the scenario (limits raised), a fresh database, then one full
`manage.py sync --wait --full` under pyinstrument (or, with `--run echo`, the incremental run
after it). Writes var/bench/profile-<size>-<db>-<run>.txt (the call tree, frames under 1 %
hidden) and prints the tree's top."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tests.bench.run import ROOT, child_env, create_database, drop_database, log, run_child
from tests.bench.sandbox_proc import SandboxProcess


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run", choices=("full", "echo"), default="full",
                        help="profile the full sync, or the incremental run after it")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench"))
    parser.add_argument("--keep-db", action="store_true", help="leave the database for a look afterwards")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432"))
    args = parser.parse_args(argv)
    args.pg_url = args.pg_url.rstrip("/")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"profile-{args.size}-{args.db}-{args.run}"
    database_url = create_database(args.db, args.size, out, args.pg_url)
    try:
        with SandboxProcess(seed=args.seed, log_path=f"{stem}-sandbox.log") as sb:
            env = child_env(database_url, sb.url)
            if run_child(["manage.py", "migrate", "--verbosity", "0"], env, Path(f"{stem}-migrate.log"))["rc"]:
                raise SystemExit("migrate failed")
            sb.unthrottle()
            from sandbox.scenario import generate

            log(f"loading {args.size:,} people")
            sb.load(generate(args.size, args.seed))
            sync = ["manage.py", "sync", "--wait", "--full"]
            if args.run == "echo":   # the run after a full sync, which reads back the full sync's own writes
                log("full sync (not profiled)")
                run_child(sync, env, Path(f"{stem}-full.log"))
                sync = sync[:-1]
            log(f"{args.run} sync under pyinstrument")
            result = run_child(["-m", "pyinstrument", "--renderer", "text", "--show-all", "-p", "processor_options="
                                "{\"filter_threshold\": 0.01}", "-o", f"{stem}.txt", *sync], env,
                               Path(f"{stem}-sync.log"))
            log(f"sync: rc={result['rc']} wall {result['wall_s']} s; {' | '.join(result['tail'][-3:])}")
    finally:
        if not args.keep_db:
            drop_database(args.db, args.size, out, args.pg_url)
    text = Path(f"{stem}.txt").read_text(encoding="utf-8", errors="replace")
    print("\n".join(text.splitlines()[:80]) + f"\n\nfull tree: {stem}.txt")
    return result["rc"]


if __name__ == "__main__":
    sys.exit(main())
