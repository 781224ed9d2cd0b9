"""Deterministic crash test: a sync of a mixed scenario is killed (SIGKILL, by the sandbox) at
*every* CRM write it makes — one fresh world per boundary — right after the CRM applied the write
and before the sync heard the answer; `make soak` also kills before each write is applied. Two
runs are cut this way: the first full sync (creates of every kind, links, companies, deals, a
deleted lead's id cleared), and an incremental run after people edited both CRMs (field sync both
ways, a deleted contact unsynced, a new lead, a new deal). Each time, ordinary runs afterwards end
equal to the uninterrupted run: no record lost, none made twice, none a person deleted brought
back, and every record the sync created has exactly one creation event (naming the run that made
it)."""
from __future__ import annotations

import os

import pytest

from sandbox.ids import to18
from sandbox.scenario import scenario_dict
from sandbox.testing import running_sandbox
from tests.soak import crash
from tests.soak.boundaries import EDITED, Databases, edit, killed_sync, settle_and_observe

SIZE = int(os.environ.get("BOUNDARY_SIZE", "30"))
MODES = os.environ.get("BOUNDARY_MODES", "after").split(",")
SEED = 23


def mixed_scenario() -> dict:
    """A generated scenario (duplicates of every kind, companies, deals in two pipelines) plus the
    cases that broke before: a HubSpot contact naming a lead a user deleted (resurrection), and a
    second HubSpot contact naming a record another one syncs with (R7)."""
    sc = scenario_dict(SIZE, seed=SEED, now="2026-11-20T00:00:00Z")
    deleted = to18("00QBd0000000001")
    shared = to18("003Bd0000000001")
    sc["salesforce"]["Lead"].append({"Id": deleted, "LastName": "Gone", "Company": "G", "Email": "gone@example.com",
                                     "IsDeleted": True})
    sc["salesforce"]["Contact"].append({"Id": shared, "LastName": "Hal", "Email": "hal@example.com"})
    sc["hubspot"]["contacts"] += [
        {"id": "8000000001", "properties": {"email": "gone@example.com", "lastname": "Gone", "salesforceleadid": deleted}},
        {"id": "8000000002", "properties": {"email": "hal@example.com", "lastname": "Hal", "salesforcecontactid": shared}},
        {"id": "8000000003", "properties": {"email": "hal.work@example.org", "lastname": "Hal",
                                            "salesforcecontactid": shared}}]
    return sc


@pytest.mark.parametrize("skip_own_writes", ["false", "true"], ids=["echo read", "own writes skipped"])
def test_a_kill_at_every_write_boundary_ends_like_the_uninterrupted_run(tmp_path, skip_own_writes):
    """Both ways of pulling Salesforce: reading crmsync's own writes back, and leaving them out
    (SALESFORCE_SKIP_OWN_WRITES), where what a killed run wrote is never read back by a pull and
    the next run must redo it from its intents and dirty rows alone."""
    scenario = mixed_scenario()
    ids = {r["Id"] for recs in scenario["salesforce"].values() for r in recs} | \
          {str(r["id"]) for t, recs in scenario["hubspot"].items() if t not in ("associations", "pipelines") for r in recs}
    dbs = Databases(tmp_path, "crmsync_bound")
    report = []
    try:
        # No search lag here: each world must replay the same run exactly (the lag is drawn per write).
        with running_sandbox(seed=SEED, order="insertion", search_lag=None) as server:
            sb = server.sandbox

            def world(name: str, phase: str) -> dict:
                sb.reset()
                sb.load(scenario)
                env = {**crash.env_for(dbs.fresh(name), server.url), "SALESFORCE_SKIP_OWN_WRITES": skip_own_writes}
                if phase == "edits":   # the full sync runs whole; people edit; the next run is cut
                    assert killed_sync(env, sb, after_writes=None)[0] > 0
                    edit(sb, scenario)
                return env

            differences = []
            for phase in ("full", "edits"):
                env = world(f"clean_{phase}", phase)
                writes, _ = killed_sync(env, sb, after_writes=None, full=phase == "full")
                theirs = ids | (EDITED if phase == "edits" else set())
                clean = settle_and_observe(env, sb, theirs, tmp_path)
                assert writes >= 3, f"{phase}: the scenario should make many kinds of writes, made {writes}"
                assert clean["created"] and not clean["unaudited"] and not clean["audited_twice"], clean
                report.append(f"{phase}: {writes} writes")
                for mode in MODES:
                    for k in range(1, writes + 1):
                        env = world(f"{phase}_{mode}_{k}", phase)
                        _, fired = killed_sync(env, sb, after_writes=k, mode=mode, full=phase == "full")
                        out = settle_and_observe(env, sb, theirs, tmp_path)
                        problems = [key for key in clean["state"] if out["state"][key] != clean["state"][key]]
                        problems += [f"{name}: {out[name][:3]}" for name in ("unaudited", "audited_twice",
                                                                            "audited_not_made") if out[name]]
                        if not fired:
                            problems.append("the kill did not fire")
                        if out["runs"][-1][:2] != ["succeeded", 0]:
                            problems.append(f"did not settle: {out['runs']}")
                        if "interrupted" not in out["statuses"]:
                            problems.append(f"the killed run was not marked interrupted: {out['statuses']}")
                        if problems:
                            differences.append((phase, mode, k, problems))
    finally:
        dbs.drop_all()
    print(f"\nboundaries ({', '.join(report)}; killed at each, {', '.join(MODES)}): {len(differences)} differed")
    assert not differences, differences
