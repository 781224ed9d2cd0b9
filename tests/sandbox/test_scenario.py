"""The scenario generator: determinism, every rule's case present, valid ids and references,
timestamps in order, flat memory while streaming, and the CLI.

The summary the generator reports is checked against an independent reading of the records
(`analyse`), so a wrong count in either shows up."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tracemalloc
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from sandbox import ids
from sandbox.salesforce.picklists import metadata_rows
from sandbox.scenario import DEFAULT_RATES, DEMO_RATES, expected_cases, generate, scenario_dict

NOW = "2026-11-01T00:00:00Z"
SF_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000$")
HS_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PREFIX = {"Lead": "00Q", "Contact": "003", "Account": "001", "Opportunity": "006"}
HS_TYPES = {"contacts", "companies", "deals"}


def key(email):
    """R1, written out again here on purpose: trim and lower-case, nothing else."""
    return email.strip().lower() if email and email.strip() else None


def sf_seconds(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def analyse(stream) -> dict:
    """Count the cases by reading the records the way the sync will."""
    sf, hs = defaultdict(list), defaultdict(list)
    for crm, otype, rec in stream:
        (sf if crm == "salesforce" else hs)[otype].append(rec)
    people = [r for t in ("Lead", "Contact") for r in sf[t]]
    live = [r for r in people if not r["IsDeleted"] and not r.get("IsConverted")]
    by_key = defaultdict(list)
    for r in live:
        if key(r["Email"]):
            by_key[key(r["Email"])].append(r)
    groups = {k: v for k, v in by_key.items() if len(v) >= 2}
    hs_contacts = hs["contacts"]
    hs_keys = {key(c["properties"]["email"]) for c in hs_contacts} - {None}

    def synced_id(c):
        return c["properties"]["salesforcecontactid"] or c["properties"]["salesforceleadid"]

    group_hs = Counter()
    for k in groups:
        carriers = [c for c in hs_contacts if key(c["properties"]["email"]) == k]
        group_hs["missing" if not carriers else "synced" if synced_id(carriers[0]) else "unsynced"] += 1
    by_contact_id = defaultdict(set)
    for c in hs_contacts:
        if c["properties"]["salesforcecontactid"]:
            by_contact_id[c["properties"]["salesforcecontactid"]].add(key(c["properties"]["email"]))
    by_account = Counter(c["properties"]["salesforceaccountid"] for c in hs["companies"]
                         if c["properties"]["salesforceaccountid"])
    names = defaultdict(set)
    for r in live:
        if key(r["Email"]):
            names[(r["FirstName"], r["LastName"])].add(key(r["Email"]))
    linked_opps = {d["properties"]["hs_salesforceopportunityid"] for d in hs["deals"]} - {None}
    unlinked_opps = Counter((o["Name"], o["Amount"]) for o in sf["Opportunity"] if o["Id"] not in linked_opps)
    unlinked_deals = Counter((d["properties"]["dealname"], float(d["properties"]["amount"]))
                             for d in hs["deals"] if not d["properties"]["hs_salesforceopportunityid"])
    contacts_per_account = Counter(c["AccountId"] for c in sf["Contact"] if c["AccountId"] and not c["IsDeleted"])
    no_id = [c for c in hs_contacts if not synced_id(c) and key(c["properties"]["email"])]
    return {
        "sf": sf, "hs": hs, "groups": groups,
        "r2_groups": len(groups),
        "r2_groups_by_size": dict(Counter(len(v) for v in groups.values())),
        "r2_members": sum(len(v) for v in groups.values()),
        "r2_mixed_groups": sum(1 for v in groups.values() if {r["Id"][:3] for r in v} == {"00Q", "003"}),
        "r2_hubspot": dict(group_hs),
        "same_name_different_email": sum(1 for v in names.values() if len(v) >= 2),
        "converted_leads": sum(1 for r in sf["Lead"] if r["IsConverted"]),
        "r7_sets": sum(1 for v in by_contact_id.values() if len(v) >= 2),
        "r7_hubspot_contacts": sum(len(v) for v in by_contact_id.values() if len(v) >= 2),
        "r9_sets": sum(1 for n in by_account.values() if n >= 2),
        "merged_pairs": sum(1 for r in people if r["IsDeleted"] and r["MasterRecordId"]),
        "deleted_leads": sum(1 for r in sf["Lead"] if r["IsDeleted"] and not r["MasterRecordId"]),
        "hubspot_synced": sum(1 for c in hs_contacts if synced_id(c)),
        "hubspot_unsynced": sum(1 for c in no_id if key(c["properties"]["email"]) in by_key),
        "hubspot_only": sum(1 for c in no_id if key(c["properties"]["email"]) not in by_key),
        "salesforce_only": sum(1 for k in by_key if k not in hs_keys),
        "no_email_salesforce": sum(1 for r in people if not key(r["Email"])),
        "no_email_hubspot": sum(1 for c in hs_contacts if not key(c["properties"]["email"])),
        "accounts_shared": sum(1 for n in contacts_per_account.values() if n >= 2),
        "opportunities_linked": len(linked_opps),
        "name_amount_traps": sum(min(n, unlinked_deals[k]) for k, n in unlinked_opps.items()),
        "apostrophe_emails": len({key(e) for e in _all_emails(sf, hs) if e and "'" in e}),
        "unicode_names": sum(1 for r in people + hs_contacts
                             if not (r.get("FirstName") or r.get("properties", {}).get("firstname") or "").isascii()),
        "long_company_names": sum(1 for a in sf["Account"] if len(a["Name"]) > 150),
    }


def _all_emails(sf, hs):
    yield from (r["Email"] for t in ("Lead", "Contact") for r in sf[t])
    yield from (c["properties"]["email"] for c in hs["contacts"])


@pytest.fixture(scope="module")
def demo():
    summary: dict = {}
    records = list(generate("demo", now=NOW, summary=summary))
    return records, summary, analyse(records)


@pytest.fixture(scope="module")
def ten_thousand():
    summary: dict = {}
    records = list(generate(10_000, seed=7, now=NOW, summary=summary))
    return records, summary, analyse(records)


# -- determinism ------------------------------------------------------------------------------------

def test_same_seed_same_stream_and_different_seed_different_stream():
    first = list(generate(300, seed=5, now=NOW))
    assert first == list(generate(300, seed=5, now=NOW))
    assert first != list(generate(300, seed=6, now=NOW))
    assert list(generate("demo")) == list(generate("demo"))  # default anchor: today 00:00 UTC


def test_anchor_only_moves_the_timeline():
    a = list(generate(200, seed=1, now="2026-01-01T00:00:00Z"))
    b = list(generate(200, seed=1, now="2026-03-01T00:00:00Z"))
    assert [r[2].get("Id") or r[2].get("id") for r in a] == [r[2].get("Id") or r[2].get("id") for r in b]
    assert a != b


def test_empty_and_bad_arguments():
    assert list(generate("empty")) == []
    assert expected_cases("empty")["people"] == 0
    with pytest.raises(ValueError):
        generate("huge")
    with pytest.raises(ValueError):
        generate(-1)
    with pytest.raises(TypeError):
        generate(10, duplicate_rate=0.1)


# -- every case in the demo --------------------------------------------------------------------------

def test_demo_summary_matches_the_records(demo):
    records, s, a = demo
    assert s["people"] == 500
    for name in ("r2_groups", "r2_members", "r2_mixed_groups", "converted_leads", "r7_sets",
                 "r7_hubspot_contacts", "r9_sets", "merged_pairs", "deleted_leads", "hubspot_synced",
                 "hubspot_unsynced", "hubspot_only", "salesforce_only", "no_email_salesforce",
                 "no_email_hubspot", "accounts_shared", "opportunities_linked", "apostrophe_emails",
                 "long_company_names"):
        assert s[name] == a[name], name
    assert s["r2_groups_by_size"] == a["r2_groups_by_size"]
    assert a["r2_hubspot"] == {k: s[f"r2_hubspot_{k}"] for k in ("synced", "unsynced", "missing")}
    assert a["name_amount_traps"] >= s["name_amount_traps"]
    assert s["unicode_names"] <= a["unicode_names"]  # each unicode person may have several records


def test_demo_shows_every_case_several_times(demo):
    _, s, a = demo
    assert s["r2_groups"] >= 10
    assert set(a["r2_groups_by_size"]) == {2, 3, 4, 5}
    assert s["r2_mixed_groups"] >= 3
    assert all(s[f"r2_hubspot_{k}"] >= 2 for k in ("synced", "unsynced", "missing"))
    for name in ("r1_same_name_pairs", "converted_leads", "r7_sets", "r9_sets", "merged_pairs",
                 "merged_secondary_synced", "deleted_leads", "deleted_leads_synced", "no_email_salesforce",
                 "no_email_hubspot", "apostrophe_emails", "unicode_names", "long_company_names",
                 "name_amount_traps", "opportunities_unlinked", "deals_unlinked", "accounts_shared"):
        assert s[name] >= 2, name
    for name in ("hubspot_synced", "hubspot_unsynced", "hubspot_only", "salesforce_only",
                 "companies_linked", "companies_unlinked", "opportunities_linked",
                 "contact_company_associations", "deal_company_associations", "deal_contact_associations"):
        assert s[name] >= 10, name


def test_duplicate_groups_differ_in_case_and_white_space(demo):
    _, _, a = demo
    for members in a["groups"].values():
        spelled = [r["Email"] for r in members]
        assert len(set(spelled)) == len(spelled)
        assert any(e != e.strip() for e in spelled)
        assert any(e.strip() != e.strip().lower() for e in spelled)
    assert any(e.startswith(" ") for g in a["groups"].values() for e in (r["Email"] for r in g))
    assert any(e.endswith(" ") for g in a["groups"].values() for e in (r["Email"] for r in g))


def test_group_members_have_distinct_modification_times(demo):
    _, _, a = demo
    for members in a["groups"].values():
        by_modified = sorted(members, key=lambda r: sf_seconds(r["LastModifiedDate"]))
        by_modstamp = sorted(members, key=lambda r: sf_seconds(r["SystemModstamp"]))
        assert len({r["LastModifiedDate"] for r in members}) == len(members)
        assert len({r["SystemModstamp"] for r in members}) == len(members)
        assert by_modified == by_modstamp  # R4's "most recently updated" agrees on either field


def test_same_name_different_email_people_are_not_grouped(demo):
    records, s, a = demo
    assert a["same_name_different_email"] >= s["r1_same_name_pairs"] >= 2
    grouped = {r["Id"] for v in a["groups"].values() for r in v}
    by_name = defaultdict(set)
    for r in (r for t in ("Lead", "Contact") for r in a["sf"][t] if not r["IsDeleted"] and not r.get("IsConverted")):
        by_name[(r["FirstName"], r["LastName"])].add((key(r["Email"]), r["Id"]))
    for entries in by_name.values():
        emails = {k for k, _ in entries}
        if len(emails) >= 2:
            for k, rid in entries:  # grouped only with records of the *same* email
                if rid in grouped:
                    assert all(key(m["Email"]) == k for m in a["groups"][k])


def test_converted_leads_point_at_their_contact_and_are_not_members(demo):
    _, _, a = demo
    contacts = {c["Id"]: c for c in a["sf"]["Contact"]}
    grouped = {r["Id"] for v in a["groups"].values() for r in v}
    converted = [r for r in a["sf"]["Lead"] if r["IsConverted"]]
    assert converted
    for lead in converted:
        contact = contacts[lead["ConvertedContactId"]]
        assert key(contact["Email"]) == key(lead["Email"])
        assert lead["ConvertedAccountId"] == contact["AccountId"]
        assert lead["Id"] not in grouped and lead["Status"] == "Closed - Converted"
        assert lead["ConvertedDate"] == lead["LastModifiedDate"][:10]
    for lead in a["sf"]["Lead"]:
        if not lead["IsConverted"]:
            assert lead["ConvertedContactId"] is None


def test_r7_contacts_have_different_emails_and_one_contact_id(demo):
    _, _, a = demo
    by_id = defaultdict(list)
    for c in a["hs"]["contacts"]:
        if c["properties"]["salesforcecontactid"]:
            by_id[c["properties"]["salesforcecontactid"]].append(c)
    sets = [v for v in by_id.values() if len(v) >= 2]
    assert len(sets) >= 2
    for v in sets:
        assert len({key(c["properties"]["email"]) for c in v}) == len(v)


def test_hubspot_emails_are_unique_and_canonical(demo):
    _, _, a = demo
    emails = [c["properties"]["email"] for c in a["hs"]["contacts"] if c["properties"]["email"]]
    assert len(emails) == len({key(e) for e in emails})
    assert all(e == e.strip().lower() for e in emails)


def test_odd_values(demo):
    _, _, a = demo
    emails = [e for e in _all_emails(a["sf"], a["hs"]) if e]
    assert any("'" in e for e in emails)
    firsts = {r["FirstName"] for t in ("Lead", "Contact") for r in a["sf"][t]}
    assert not all(n.isascii() for n in firsts)
    assert any(len(acc["Name"]) > 150 for acc in a["sf"]["Account"])
    assert all(len(acc["Name"]) <= 255 for acc in a["sf"]["Account"])
    assert all(len(o["Name"]) <= 120 for o in a["sf"]["Opportunity"])
    assert all(lead["Company"] for lead in a["sf"]["Lead"])
    assert any(r["Email"] is None for t in ("Lead", "Contact") for r in a["sf"][t])


def test_deals_and_opportunities(demo):
    _, s, a = demo
    opps = {o["Id"]: o for o in a["sf"]["Opportunity"]}
    linked = [d for d in a["hs"]["deals"] if d["properties"]["hs_salesforceopportunityid"]]
    ids_ = [d["properties"]["hs_salesforceopportunityid"] for d in linked]
    assert len(ids_) == len(set(ids_))  # R11: one to one
    for d in linked:
        o = opps[d["properties"]["hs_salesforceopportunityid"]]
        assert (d["properties"]["dealname"], float(d["properties"]["amount"])) == (o["Name"], o["Amount"])
    assert len(opps) - len(linked) == s["opportunities_unlinked"] >= 2
    assert len(a["hs"]["deals"]) - len(linked) == s["deals_unlinked"] >= 2
    pipelines = {p["id"]: {st["id"] for st in p["stages"]} for p in a["hs"]["pipelines"]}
    pipelines["default"] = {"appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
                            "decisionmakerboughtin", "contractsent", "closedwon", "closedlost"}
    for d in a["hs"]["deals"]:
        p = d["properties"]
        assert HS_TIME.match(p["closedate"])
        assert p["dealstage"] in pipelines[p["pipeline"]]  # HubSpot refuses a stage of another pipeline
    for o in opps.values():
        assert isinstance(o["Amount"], float) and re.match(r"^\d{4}-\d\d-\d\d$", o["CloseDate"])


def test_one_custom_pipeline_holds_a_few_deals(demo):
    """Real portals have more than the default pipeline, with numeric ids for it and its stages."""
    _, s, a = demo
    (custom,) = a["hs"]["pipelines"]
    assert custom["id"].isdigit() and all(st["id"].isdigit() for st in custom["stages"])
    assert {st["metadata"]["isClosed"] for st in custom["stages"]} == {"true", "false"}
    in_it = [d for d in a["hs"]["deals"] if d["properties"]["pipeline"] == custom["id"]]
    assert len(in_it) == s["deals_custom_pipeline"] >= 2
    assert len(in_it) < len(a["hs"]["deals"]) / 10
    assert any(d["properties"]["hs_salesforceopportunityid"] for d in in_it)


# -- ids, references, order, timestamps ------------------------------------------------------------

@pytest.mark.parametrize("which", ["demo", "ten_thousand"])
def test_ids_valid_unique_and_references_yielded_first(which, request):
    records, _, _ = request.getfixturevalue(which)
    seen_sf: dict[str, dict] = {}
    seen_hs: dict[str, set] = {t: set() for t in HS_TYPES}
    all_hs: set[str] = set()
    for crm, otype, rec in records:
        if crm == "salesforce":
            rid = rec["Id"]
            assert len(rid) == 18 and rid[:3] == PREFIX[otype]
            assert ids.normalize(rid) == rid and ids.to18(rid[:15]) == rid  # checksum
            assert rid not in seen_sf
            for field in ("AccountId", "ConvertedContactId", "ConvertedAccountId", "MasterRecordId"):
                ref = rec.get(field)
                if ref:
                    assert ref in seen_sf, (otype, field)
            if rec.get("AccountId"):
                assert seen_sf[rec["AccountId"]]["Id"].startswith("001")
            if rec.get("ConvertedContactId"):
                assert seen_sf[rec["ConvertedContactId"]]["Id"].startswith("003")
            if rec.get("MasterRecordId"):
                master = seen_sf[rec["MasterRecordId"]]
                assert master["Id"][:3] == rid[:3] and not master["IsDeleted"] and rec["IsDeleted"]
            seen_sf[rid] = rec
        elif otype == "pipelines":
            assert rec["id"].isdigit() and not any(seen_hs.values())  # before any record
        elif otype == "associations":
            assert rec["from_id"] in seen_hs[rec["from_type"]] and rec["to_id"] in seen_hs[rec["to_type"]]
            assert (rec["from_type"], rec["to_type"]) in {("contacts", "companies"), ("deals", "companies"),
                                                          ("deals", "contacts")}
        else:
            assert rec["id"].isdigit() and rec["id"] not in all_hs
            all_hs.add(rec["id"])
            seen_hs[otype].add(rec["id"])
            assert all(v is None or isinstance(v, str) for v in rec["properties"].values())
    for _crm, otype, rec in records:
        if otype == "contacts":
            for field in ("salesforcecontactid", "salesforceleadid"):
                ref = rec["properties"][field]
                assert ref is None or ref in seen_sf and ref[:3] == ("003" if field[10] == "c" else "00Q")
        elif otype == "companies" and rec["properties"]["salesforceaccountid"]:
            assert rec["properties"]["salesforceaccountid"][:3] == "001"
            assert rec["properties"]["salesforceaccountid"] in seen_sf
        elif otype == "deals" and rec["properties"]["hs_salesforceopportunityid"]:
            assert rec["properties"]["hs_salesforceopportunityid"] in seen_sf


@pytest.mark.parametrize("which", ["demo", "ten_thousand"])
def test_salesforce_values_pass_the_write_checks(which, request):
    """Every value the generator gives Salesforce would be accepted by the API: restricted
    picklists (Lead Status, Opportunity Stage), lengths, email syntax (loading does not check)."""
    from sandbox.salesforce.schema import SOBJECTS, STRINGY
    from sandbox.salesforce.writes import check_text

    records = request.getfixturevalue(which)[0]
    seen = Counter()
    for crm, otype, rec in records:
        if crm != "salesforce":
            continue
        obj = SOBJECTS[otype]
        for name, value in rec.items():
            f = obj.by_lower[name.lower()]
            if isinstance(value, str) and f.kind in STRINGY - {"id", "reference"}:
                check_text(f, value)
                seen[f.kind] += 1
    assert {"string", "email", "phone", "url", "picklist"} <= set(seen)


def test_timestamps_are_formatted_and_ordered(demo):
    records, _, _ = demo
    anchor = datetime.fromisoformat(NOW.replace("Z", "+00:00")).timestamp()
    for crm, otype, rec in records:
        if crm == "salesforce":
            c, m, st = rec["CreatedDate"], rec["LastModifiedDate"], rec["SystemModstamp"]
            assert SF_TIME.match(c) and SF_TIME.match(m) and SF_TIME.match(st)
            assert sf_seconds(c) <= sf_seconds(m) <= sf_seconds(st) < anchor
            assert sf_seconds(c) > anchor - 2.1 * 365 * 86400
            if rec["IsDeleted"]:  # still in the 15-day recycle bin, so queryAll shows it
                assert anchor - 11 * 86400 < sf_seconds(st)
        elif otype not in ("associations", "pipelines"):
            p = rec["properties"]
            lastmod = p.get("lastmodifieddate") or p.get("hs_lastmodifieddate")
            assert HS_TIME.match(rec["createdAt"]) and HS_TIME.match(rec["updatedAt"])
            assert rec["createdAt"] == p["createdate"] and rec["updatedAt"] == lastmod
            assert rec["createdAt"] <= rec["updatedAt"] < NOW


def test_deleted_and_merged_records(demo):
    _, s, a = demo
    people = {r["Id"]: r for t in ("Lead", "Contact") for r in a["sf"][t]}
    merged = [r for r in people.values() if r["MasterRecordId"]]
    assert len(merged) == s["merged_pairs"] >= 2
    for r in merged:
        master = people[r["MasterRecordId"]]
        assert r["Id"].startswith("003") and key(master["Email"]) == key(r["Email"])
        assert sf_seconds(master["SystemModstamp"]) >= sf_seconds(r["SystemModstamp"])
    plain = [r for r in a["sf"]["Lead"] if r["IsDeleted"] and not r["MasterRecordId"]]
    assert len(plain) == s["deleted_leads"] >= 2


# -- scale and memory ------------------------------------------------------------------------------

def test_ten_thousand_people(ten_thousand):
    _, s, a = ten_thousand
    assert s["people"] == 10_000
    for name in ("r2_groups", "r2_members", "converted_leads", "r7_sets", "r9_sets", "merged_pairs",
                 "deleted_leads", "hubspot_synced", "hubspot_unsynced", "hubspot_only", "salesforce_only",
                 "accounts_shared", "opportunities_linked"):
        assert s[name] == a[name], name
    assert s["r2_groups_by_size"] == a["r2_groups_by_size"]
    # Quotas, not coin flips: floor(rate * people).
    assert s["r2_groups"] == int(DEFAULT_RATES["duplicate_group_rate"] * 10_000)
    assert s["converted_leads"] == int(DEFAULT_RATES["converted_rate"] * 10_000)
    assert s["r7_sets"] == int(DEFAULT_RATES["shared_contact_id_rate"] * 10_000)
    assert s["r9_sets"] == int(DEFAULT_RATES["duplicate_company_rate"] * s["accounts"])


def test_case_counts_scale_with_size_and_rates():
    small, large = expected_cases(1_000, seed=2, now=NOW), expected_cases(10_000, seed=2, now=NOW)
    for name in ("r2_groups", "converted_leads", "merged_pairs", "hubspot_only", "salesforce_only"):
        assert large[name] == 10 * small[name], name
    assert 8 * small["accounts"] < large["accounts"] < 12 * small["accounts"]
    assert 8 * small["records"]["hubspot.contacts"] < large["records"]["hubspot.contacts"]
    bigger = expected_cases(1_000, seed=2, now=NOW, duplicate_group_rate=0.1, same_name_deal_rate=0.0)
    assert bigger["r2_groups"] == 100 and bigger["name_amount_traps"] == 0
    assert DEMO_RATES["duplicate_group_rate"] > DEFAULT_RATES["duplicate_group_rate"]


def _traced_peak(people: int) -> tuple[int, int]:
    tracemalloc.start()
    try:
        n = sum(1 for _ in generate(people, seed=1, now=NOW))
        return n, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_peak_memory_does_not_grow_with_size():
    n_small, small = _traced_peak(4_000)
    n_large, large = _traced_peak(20_000)
    assert n_large > 4 * n_small
    assert large < 5 * 2 ** 20, f"peak {large / 2 ** 20:.1f} MiB"
    assert large < 1.5 * small + 2 ** 19  # flat: five times the people, about the same peak


_RSS_SCRIPT = """
import resource, sys
from sandbox.scenario import generate
for _ in generate(2_000, now=sys.argv[1]): pass
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n = sum(1 for _ in generate(200_000, seed=1, now=sys.argv[1]))
print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


@pytest.mark.slow
def test_streaming_200k_people_keeps_peak_memory_small():
    """200,000 people (~760,000 records) in a fresh process: peak RSS grows by < 50 MB.
    (Under tracemalloc the same run peaks at about 1 MiB but takes ~55 s, hence RSS here.)"""
    proc = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, NOW], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=300)
    assert proc.returncode == 0, proc.stderr
    n, grown_kib = map(int, proc.stdout.split())
    assert n > 700_000
    assert grown_kib < 50 * 1024, f"peak RSS grew by {grown_kib / 1024:.1f} MiB"


# -- outputs ---------------------------------------------------------------------------------------

def test_scenario_dict_groups_the_stream():
    d = scenario_dict(120, seed=3, now=NOW)
    assert set(d) == {"salesforce", "hubspot"}
    assert set(d["salesforce"]) == {"Account", "Contact", "Lead", "Opportunity"}
    assert set(d["hubspot"]) == {"pipelines", "companies", "contacts", "deals", "associations"}
    flat = sorted(json.dumps(r, sort_keys=True) for crm in d.values() for recs in crm.values() for r in recs)
    assert flat == sorted(json.dumps(r, sort_keys=True) for _, _, r in generate(120, seed=3, now=NOW))


def test_cli_writes_valid_json(tmp_path: Path):
    out = tmp_path / "scenario.json"
    proc = subprocess.run([sys.executable, "-m", "sandbox.scenario", "--size", "300", "--seed", "3",
                           "--now", NOW, "--out", str(out)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text(encoding="utf-8")) == scenario_dict(300, seed=3, now=NOW)
    assert json.loads(proc.stderr)["people"] == 300
    assert not list(tmp_path.glob(".scenario-*"))  # temporary parts cleaned up


def test_demo_loads_into_the_sandbox(demo):
    server = pytest.importorskip("sandbox.server")
    records, s, _ = demo
    sandbox = server.Sandbox(seed=0)
    counts = sandbox.load_records(iter(records))
    for otype in ("Account", "Contact", "Lead", "Opportunity"):
        assert counts["salesforce"][otype] == s["records"][f"salesforce.{otype}"]
    for otype in ("companies", "contacts", "deals"):
        assert len(sandbox.hubspot.stores[otype].recs) == s["records"][f"hubspot.{otype}"]
    loaded = sum(len(sandbox.salesforce.store.rows[t]) for t in ("Account", "Contact", "Lead", "Opportunity"))
    assert loaded == sum(n for label, n in s["records"].items() if label.startswith("salesforce."))
    assert len(sandbox.salesforce.store.records) == loaded + len(metadata_rows())   # + the org's value sets
