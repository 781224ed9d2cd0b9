"""Concurrency: while a sync runs, a second run is requested (recorded as skipped) and the same
Resync is clicked twice at once (one wins, audited once); all ends consistent."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from sandbox.scenario import scenario_dict
from tests.soak import crash
from tests.soak.test_crash import _world

DUMP = """
import json
from sync.models import AuditEvent, ContactLink, SyncRun
link = ContactLink.objects.select_related("sf_person", "hs_contact").get(hs_contact__hs_id="{hs_id}")
print(json.dumps({{
    "runs": list(SyncRun.objects.order_by("pk").values_list("status", flat=True)),
    "resync_events": AuditEvent.objects.filter(action="resynced", target_id="{hs_id}").count(),
    "status": link.status, "sf_id": link.sf_person.sf_id if link.sf_person else None,
    "chosen_by": link.chosen_by, "props": [link.hs_contact.salesforce_contact_id, link.hs_contact.salesforce_lead_id],
}}))
"""


def _shell(env: dict, code: str) -> str:
    done = crash.manage(env, "shell", "-c", code)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_resync_clicked_twice_during_a_run_and_a_second_run_requested(tmp_path):
    server_cm, env = _world(tmp_path, "concurrent", scenario_dict("demo", seed=0))
    try:
        sandbox = server_cm.server.sandbox
        assert crash.manage(env, "sync", "--wait", "--full").returncode == 0
        lost = _shell(env, "from sync.models import ContactLink; print(ContactLink.objects.filter("
                           "status='lost_primary').values_list('hs_contact__hs_id', flat=True).first())")
        assert lost != "None", "the demo scenario has contacts that lost their primary"
        master = _shell(env, f"from sync.models import ContactLink; print(ContactLink.objects.get("
                             f"hs_contact__hs_id='{lost}').sf_person.master_record_id)")

        # Hold the next run in its pull for a few seconds: every Salesforce query answers slowly.
        sandbox.faults.configure([{"kind": "timeout", "crm": "salesforce", "path": "*/queryAll*", "seconds": 1.5,
                                   "count": 4}])
        running = subprocess.Popen([sys.executable, "manage.py", "sync", "--wait", "--full"], cwd=crash.ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while sandbox.faults.injected.get("timeout", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        clicks = [subprocess.Popen([sys.executable, "manage.py", "resync", lost], cwd=crash.ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        second = crash.manage(env, "sync", "--wait")
        outcomes = [c.communicate(timeout=120) + (c.returncode,) for c in clicks]
        out, err = running.communicate(timeout=300)
        assert running.returncode == 0, out + err
        assert second.returncode != 0 and "skipped" in (second.stdout + second.stderr).lower()

        crash.settle(env)
        state = json.loads(_shell(env, DUMP.format(hs_id=lost)))
    finally:
        server_cm.__exit__(None, None, None)

    print(f"\nconcurrency: runs {state['runs']}; resync outcomes {[o[2] for o in outcomes]}")
    assert sorted(o[2] for o in outcomes) == [0, 1], outcomes  # one click resynced, the other found it done
    assert state["resync_events"] == 1
    assert (state["status"], state["sf_id"], state["chosen_by"]) == ("synced", master, "R6")
    assert master in state["props"]
    assert "skipped" in state["runs"] and "running" not in state["runs"]
    hs_record = sandbox.hubspot.record("contacts", lost)["properties"]
    assert master in (hs_record.get("salesforcecontactid"), hs_record.get("salesforceleadid"))
