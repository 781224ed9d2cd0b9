"""The deterministic crash test's machinery: one world per CRM-write boundary of a full sync.

A world is a sandbox loaded with the scenario and a database of its own (copied from a migrated
template: a SQLite file, or a PostgreSQL `CREATE DATABASE … TEMPLATE`). In each world a sync runs
in a process of its own, which the sandbox kills (SIGKILL) at the k-th write it receives, right
after applying it (`after`: the CRM has the write, the sync never hears of it) or instead of it
(`before`); then a second process finishes the work with ordinary runs until one pulls nothing,
and reports both CRMs, the links, and what the audit says was created."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from django.conf import settings as django_settings

from tests.soak import crash

SETTLE = """
import json, os, sys
import django
django.setup()
from collections import Counter
from hubspot import HubSpot
from sandbox.testing import salesforce_client
from sync import services
from sync.engine.cycle import run_cycle
from sync.models import AuditEvent, SyncRun
from tests.engine.test_faults import observe
url = os.environ["SALESFORCE_INSTANCE_URL"]
ids = set(json.load(open(sys.argv[1])))
runs = []
for _ in range(6):
    run = run_cycle(services.request_sync(full=False, actor=None, enqueue=False).pk)
    runs.append((run.status, run.pulled, run.error[:300]))
    if run.status == "succeeded" and run.pulled == 0:
        break
sf, hs = salesforce_client(url), HubSpot(access_token="sandbox", host=url)
state = observe(sf, hs, ids)
state = {k: sorted(map(repr, v.items())) for k, v in state.items()}
made = set()
for obj in ("Lead", "Contact", "Account", "Opportunity"):
    made |= {r["Id"] for r in sf.query_all(f"SELECT Id FROM {obj}", include_deleted=True)["records"]}
for t in ("contacts", "companies", "deals"):
    for archived in (False, True):
        after = None
        while True:
            page = getattr(hs.crm, t).basic_api.get_page(limit=100, after=after, archived=archived)
            made |= {r.id for r in page.results}
            if not page.paging or not page.paging.next:
                break
            after = page.paging.next.after
made -= ids
events = Counter(AuditEvent.objects.filter(action="record_created").values_list("target_id", flat=True))
print(json.dumps({"state": state, "runs": runs, "created": sorted(made),
                  "unaudited": sorted(i for i in made if events[i] == 0),
                  "audited_twice": sorted(i for i, n in events.items() if n > 1),
                  "audited_not_made": sorted(i for i in events if i not in made),
                  "statuses": list(SyncRun.objects.order_by("pk").values_list("status", flat=True))}))
"""


class Databases:
    """Fresh databases from one migrated template, on the suite's database engine."""

    def __init__(self, tmp: Path, name: str) -> None:
        self.tmp, self.name = tmp, f"{name}_{os.getpid()}"
        db = django_settings.DATABASES["default"]
        self.sqlite = db["ENGINE"].endswith("sqlite3")
        if not self.sqlite:
            self.host, self.port, self.user = db["HOST"] or "127.0.0.1", db["PORT"] or 5432, db["USER"] or "postgres"
        self.template = self._make(f"{self.name}_tpl")
        self.made: list[str] = []

    def _admin(self):
        return psycopg.connect(f"host={self.host} port={self.port} user={self.user} dbname=postgres", autocommit=True)

    def url(self, name: str) -> str:
        if self.sqlite:
            return f"sqlite:///{self.tmp}/{name}.sqlite3"
        return f"postgres://{self.user}@{self.host}:{self.port}/{name}"

    def _make(self, name: str) -> str:
        if not self.sqlite:
            with self._admin() as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")
                conn.execute(f"CREATE DATABASE {name}")
        env = crash.env_for(self.url(name), "http://127.0.0.1:1")
        done = crash.manage(env, "migrate", "-v0")
        assert done.returncode == 0, done.stderr
        return name

    def fresh(self, name: str) -> str:
        """A new database holding just the migrated schema and its reference rows."""
        name = f"{self.name}_{name}"
        if self.sqlite:
            shutil.copy(f"{self.tmp}/{self.template}.sqlite3", f"{self.tmp}/{name}.sqlite3")
        else:
            with self._admin() as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")
                conn.execute(f"CREATE DATABASE {name} TEMPLATE {self.template}")
            self.made.append(name)
        return self.url(name)

    def drop_all(self) -> None:
        if self.sqlite:
            return
        with self._admin() as conn:
            for name in [*self.made, self.template]:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")


def killed_sync(env: dict, sandbox, *, after_writes: int | None, mode: str = "after",
                full: bool = True) -> tuple[int, bool]:
    """A sync in its own process; the sandbox kills it at write `after_writes` (None: never, only
    count). Returns the writes the sandbox saw and whether the kill fired."""
    return killed(env, sandbox, ["manage.py", "sync", "--wait"] + (["--full"] if full else []),
                  after_writes=after_writes, mode=mode)


def killed(env: dict, sandbox, args: list[str], *, after_writes: int | None, mode: str = "after") -> tuple[int, bool]:
    """`python args…` in its own process, killed by the sandbox at write `after_writes` (None: only count)."""
    proc = subprocess.Popen([sys.executable, *args], cwd=crash.ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    sandbox.killer.arm(pid=proc.pid if after_writes else None, after_writes=after_writes, mode=mode)
    try:
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    view = sandbox.killer.view()
    sandbox.killer.disarm()
    return view["writes"], view["fired"]


EDITED = {"8100000001", "006Bd0000000001IAA"}   # the records `edit` makes (people's, not the sync's)


def edit(sandbox, scenario: dict) -> None:
    """What people do in both CRMs between two runs, the same in every world: a Salesforce lead
    and a HubSpot contact renamed (field sync both ways), a synced Salesforce contact deleted
    (R8), a new HubSpot contact (a lead is created), a new opportunity (a deal is created)."""
    from sandbox.ids import to18
    from tests.soak.edits import _sf_delete

    leads = [r for r in scenario["salesforce"]["Lead"] if r.get("Email") and not r.get("IsDeleted")
             and not r.get("IsConverted")]
    contacts = [r for r in scenario["salesforce"]["Contact"] if r.get("Email") and not r.get("IsDeleted")]
    people = [r for r in scenario["hubspot"]["contacts"] if (r.get("properties") or {}).get("email")]
    sandbox.advance_clock(5)
    sandbox.salesforce.touch(leads[0]["Id"], {"FirstName": "Renamed"})
    sandbox.hubspot.touch("contacts", people[0]["id"], {"jobtitle": "Chief Renamer"})
    _sf_delete(sandbox, contacts[-1]["Id"])
    sandbox.load_records([("hubspot", "contacts", {"id": "8100000001", "properties": {
        "email": "new.person@example.com", "lastname": "New"}})])
    sandbox.load_records([("salesforce", "Opportunity", {
        "Id": to18("006Bd0000000001"), "Name": "New deal", "StageName": "Qualification", "CloseDate": "2027-01-31"})])
    sandbox.advance_clock(5)


def settle_and_observe(env: dict, sandbox, scenario_ids: set[str], tmp: Path) -> dict:
    sandbox.advance_clock(11)  # a person looking later: HubSpot's ten-second window is free again
    ids_file = tmp / "ids.json"
    ids_file.write_text(json.dumps(sorted(scenario_ids)))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", SETTLE, str(ids_file)], cwd=crash.ROOT, capture_output=True,
                          text=True, env={**env, "DJANGO_SETTINGS_MODULE": "crmsync.settings"}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["seconds"] = time.monotonic() - started
    return out
