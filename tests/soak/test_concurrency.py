"""Concurrency: while a sync runs, a second run is requested (recorded as skipped), the same
Resync is clicked twice at once (one wins, audited once), and a duplicate group is merged in
Salesforce from the console; all ends consistent, each action audited once."""
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


# A same-type group whose synced member will be merged away into another member.
PICK_GROUP = """
import json
from sync.models import ContactLink, SfPerson
for link in ContactLink.objects.filter(status="synced").select_related("sf_person", "hs_contact"):
    p = link.sf_person
    peers = SfPerson.objects.filter(email_key=p.email_key, object_type=p.object_type, is_deleted=False,
                                    is_converted=False).exclude(pk=p.pk).exclude(email_key="")
    if peers.exists() and not ContactLink.objects.filter(sf_person__in=peers).exists():
        print(json.dumps({"key": p.email_key, "primary": peers.first().sf_id, "loser": p.sf_id,
                           "contact": link.hs_contact.hs_id}))
        break
"""
MERGE = """
from sync.merges import merge_salesforce_group
merge_salesforce_group(key="{key}", primary_id="{primary}", actor=None)
"""
AFTER_MERGE = """
import json
from sync.models import AuditEvent, ContactLink, SfPerson
loser = SfPerson.objects.get(sf_id="{loser}")
print(json.dumps({{"merged_events": AuditEvent.objects.filter(action="record_merged", target_id="{primary}").count(),
                   "loser_deleted": loser.is_deleted, "master": loser.master_record_id,
                   "contact_status": ContactLink.objects.get(hs_contact__hs_id="{contact}").status}}))
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
        group = json.loads(_shell(env, PICK_GROUP))

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
        merged = crash.manage(env, "shell", "-c", MERGE.format(**group))
        outcomes = [c.communicate(timeout=120) + (c.returncode,) for c in clicks]
        out, err = running.communicate(timeout=300)
        assert running.returncode == 0, out + err
        assert second.returncode != 0 and "skipped" in (second.stdout + second.stderr).lower()
        assert merged.returncode == 0, merged.stderr[-2000:]

        crash.settle(env, sandbox=sandbox)
        state = json.loads(_shell(env, DUMP.format(hs_id=lost)))
        after_merge = json.loads(_shell(env, AFTER_MERGE.format(**group)))
    finally:
        server_cm.__exit__(None, None, None)

    print(f"\nconcurrency: runs {state['runs']}; resync outcomes {[o[2] for o in outcomes]}")
    assert sorted(o[2] for o in outcomes) == [0, 1], outcomes  # one click resynced, the other found it done
    assert state["resync_events"] == 1
    assert (state["status"], state["sf_id"], state["chosen_by"]) == ("synced", master, "R6")
    assert master in state["props"]
    assert "skipped" in state["runs"] and "running" not in state["runs"]
    # The merge ran during the sync: Salesforce merged, the contact that synced with the loser lost
    # its primary (the delete setting is off), and the merge is in the history once.
    assert after_merge == {"merged_events": 1, "loser_deleted": True, "master": group["primary"],
                           "contact_status": "lost_primary"}, after_merge
    hs_record = sandbox.hubspot.record("contacts", lost)["properties"]
    assert master in (hs_record.get("salesforcecontactid"), hs_record.get("salesforceleadid"))
