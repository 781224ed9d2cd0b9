"""Helpers for the crash test: a sync process we can kill, and a view of its end state taken in
a separate process (the runs live in a database of their own, not the test's)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OBSERVE = """
import json, os, sys
import django
django.setup()
from hubspot import HubSpot
from sandbox.testing import salesforce_client
from tests.engine.test_faults import observe
from sync.models import SyncRun
url = os.environ["SALESFORCE_INSTANCE_URL"]
ids = set(json.load(open(sys.argv[1])))
state = observe(salesforce_client(url), HubSpot(access_token="sandbox", host=url), ids)
state = {k: sorted(map(repr, v.items())) for k, v in state.items()}
state["runs"] = list(SyncRun.objects.order_by("pk").values("status", "error"))
print(json.dumps(state))
"""


def env_for(database_url: str, sandbox_url: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "HUBSPOT_", "DATABASE_"))}
    return {**keep, "DEBUG": "true", "DATABASE_URL": database_url, "SALESFORCE_INSTANCE_URL": sandbox_url,
            "SALESFORCE_ACCESS_TOKEN": "sandbox", "HUBSPOT_BASE_URL": sandbox_url, "HUBSPOT_ACCESS_TOKEN": "sandbox",
            "CRM_READ_TIMEOUT": "10", "PYTHONPATH": str(ROOT)}


def manage(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def start_sync(env: dict, full: bool = False) -> subprocess.Popen:
    args = [sys.executable, "manage.py", "sync", "--wait"] + (["--full"] if full else [])
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def settle(env: dict, runs: int = 5, sandbox=None) -> list[str]:
    """Sync until a run pulls nothing new; returns each run's summary line. With `sandbox`, each
    run comes after HubSpot's search index has caught up (as scheduled runs do, minutes apart)."""
    lines = []
    for _ in range(runs):
        if sandbox is not None:
            sandbox.advance_clock(sandbox.hubspot.search_lag.view()["max_ms"] / 1000)
        done = manage(env, "sync", "--wait")
        summary = next((line for line in done.stdout.splitlines() if "pulled=" in line), done.stdout + done.stderr)
        lines.append(summary.strip())
        if done.returncode == 0 and "pulled=0 " in summary:
            return lines
    raise AssertionError(f"did not settle: {lines}")


def observe_in(env: dict, sandbox, scenario_ids: set[str], tmp: Path) -> dict:
    """The end state as a person sees it later: the sandbox clock first moves past HubSpot's
    ten-second window, so the reader does not inherit the settle runs' spent allowance (the
    reader has no retries; a 429 here would be the sync's traffic, not a finding)."""
    sandbox.advance_clock(11)
    ids_file = tmp / "ids.json"
    ids_file.write_text(json.dumps(sorted(scenario_ids)))
    done = subprocess.run([sys.executable, "-c", OBSERVE, str(ids_file)], cwd=ROOT, capture_output=True, text=True,
                          env={**env, "DJANGO_SETTINGS_MODULE": "crmsync.settings"}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
