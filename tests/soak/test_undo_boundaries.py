"""Deterministic crash test of Undo merge: the undo runs in a process of its own, which the
sandbox kills (SIGKILL) at *every* CRM write it makes — one fresh world per boundary, right
after Salesforce or HubSpot applied the write and before the undo heard the answer, and instead
of the write — then Undo is asked again in a new process. Each time both CRMs, the links and the
snapshot end as after an uninterrupted undo. A Salesforce merge: the merged record undeleted
once, the master's value put back, the HubSpot contact syncing with its own record. A HubSpot
merge (R7): the merged contact's email off the merged record, the contact made again once."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sandbox.ids import IdFactory
from sandbox.testing import running_sandbox
from tests.soak import crash
from tests.soak.boundaries import Databases, killed

_ids = IdFactory(seed=31)
LOSER, MASTER, THIRD = _ids.new("Contact"), _ids.new("Contact"), _ids.new("Contact")
SCENARIO = {"salesforce": {"Contact": [
    {"Id": LOSER, "FirstName": "Ann", "LastName": "Lee", "Email": "ann@example.com", "Title": "CEO",
     "LastModifiedDate": "2024-01-01T00:00:00.000+0000"},
    {"Id": MASTER, "FirstName": "Ann", "LastName": "Lee", "Email": "ann@example.com",
     "LastModifiedDate": "2024-01-02T00:00:00.000+0000"},
    {"Id": THIRD, "FirstName": "Bo", "LastName": "Berg", "Email": "bo@example.com",
     "LastModifiedDate": "2024-01-02T00:00:00.000+0000"}]},
    "hubspot": {"contacts": [{"id": "701", "properties": {"email": "ann@example.com", "lastname": "Lee",
                                                          "salesforcecontactid": LOSER}},
                             # An R7 group: a second contact, with another email, names the record 702 syncs with.
                             {"id": "702", "properties": {"email": "bo@example.com", "firstname": "Bo",
                                                          "lastname": "Berg", "salesforcecontactid": THIRD}},
                             {"id": "703", "properties": {"email": "bo.berg@example.org", "firstname": "Bob",
                                                          "lastname": "Berg", "salesforcecontactid": THIRD}}]}}

PREP = f"""
import sys
import django
django.setup()
from sync import merges, services
from sync.engine.cycle import run_cycle
from sync.models import MergeSnapshot
for full in (True, False):
    assert run_cycle(services.request_sync(full=full, actor=None, enqueue=False).pk).status == "succeeded"
if sys.argv[1] == "salesforce":
    done = merges.merge_salesforce_group(key="ann@example.com", primary_id="{MASTER}", actor=None,
                                         keep={{"Title": "{LOSER}"}})
else:
    merges.merge_hubspot_group(sf_key="{THIRD}", actor=None)
assert run_cycle(services.request_sync(full=False, actor=None, enqueue=False).pk).status == "succeeded"
print(MergeSnapshot.objects.get().pk)
"""
UNDO = """
import sys
import django
django.setup()
from django.core.exceptions import ValidationError
from sync.merges import undo
try:
    undo.undo_merge(int(sys.argv[1]), actor=None)
except ValidationError as exc:
    print("refused:", exc.messages)
"""
OBSERVE = """
import json, os, sys
import django
django.setup()
from hubspot import HubSpot
from sandbox.testing import salesforce_client
from sync.models import ContactLink, MergeSnapshot
url = os.environ["SALESFORCE_INSTANCE_URL"]
sf, hs = salesforce_client(url), HubSpot(access_token="sandbox", host=url)
rows = sf.query_all("SELECT Id, IsDeleted, MasterRecordId, Title FROM Contact", include_deleted=True)["records"]
s = MergeSnapshot.objects.get(pk=int(sys.argv[1]))
contacts, after = [], None
while True:
    page = hs.crm.contacts.basic_api.get_page(limit=100, after=after, properties=[
        "email", "firstname", "salesforcecontactid", "hs_additional_emails"])
    contacts += [(c.id, c.properties.get("email"), c.properties.get("firstname"), c.properties.get("salesforcecontactid"),
                  c.properties.get("hs_additional_emails")) for c in page.results]
    if not page.paging or not page.paging.next:
        break
    after = page.paging.next.after
print(json.dumps({
    "salesforce": sorted((r["Id"], r["IsDeleted"], r["MasterRecordId"], r["Title"]) for r in rows),
    "hubspot": sorted(contacts),
    "links": sorted((l.hs_contact.hs_id, l.sf_person.sf_id if l.sf_person else None, l.status)
                    for l in ContactLink.objects.select_related("hs_contact", "sf_person")),
    "undo": [s.undo_status, s.steps_done]}))
"""


def _py(env: dict, script: str, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=crash.ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _killed_undo(env: dict, sb, snapshot: str, after_writes: int | None, mode: str) -> tuple[int, bool]:
    return killed(env, sb, ["-c", UNDO, snapshot], after_writes=after_writes, mode=mode)


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
@pytest.mark.parametrize("mode", ["after", "before"])
def test_undo_killed_at_every_write_ends_like_the_uninterrupted_undo(tmp_path, mode, crm):
    dbs = Databases(tmp_path, f"crmsync_undo_{mode}_{crm[:2]}")
    try:
        with running_sandbox(seed=31, order="insertion", search_lag=None) as server:
            sb = server.sandbox

            def world(name: str) -> tuple[dict, str]:
                sb.reset()
                sb.load(SCENARIO)
                env = crash.env_for(dbs.fresh(name), server.url)
                return env, _py(env, PREP, crm).stdout.strip().splitlines()[-1]

            env, snapshot = world("clean")
            writes, _ = _killed_undo(env, sb, snapshot, None, mode)
            clean = json.loads(_py(env, OBSERVE, snapshot).stdout)
            people = [tuple(r) for r in clean["salesforce"]]
            emails = {c[1]: c for c in clean["hubspot"]}
            if crm == "salesforce":
                assert clean["undo"] == ["undone", ["undelete", "fields", "links", "mirror"]], clean
                assert (LOSER, False, None, "CEO") in people and (MASTER, False, None, None) in people, clean
                assert emails["ann@example.com"][3] == LOSER and ["701", LOSER, "synced"] in clean["links"], clean
                assert writes >= 3, f"the undo should write to both CRMs, wrote {writes} times"
            else:
                assert clean["undo"] == ["undone", ["emails", "contacts", "links", "mirror"]], clean
                made = emails["bo.berg@example.org"]
                assert made[0] not in ("702", "703") and made[2:4] == ["Bob", THIRD], clean
                assert not emails["bo@example.com"][4], clean      # no secondary email left on the merged record
                assert writes == 2, f"the undo should remove an email and make a contact, wrote {writes} times"
            for k in range(1, writes + 1):
                env, snapshot = world(f"k{k}")
                _, fired = _killed_undo(env, sb, snapshot, k, mode)
                assert fired, f"write {k} of {writes}: the kill did not fire"
                _py(env, UNDO, snapshot)                      # a person clicks Undo again
                got = json.loads(_py(env, OBSERVE, snapshot).stdout)
                assert got == clean, (f"killed {mode} write {k} of {writes}", got, clean)
    finally:
        dbs.drop_all()
