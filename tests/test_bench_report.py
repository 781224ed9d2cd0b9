"""The benchmark report's arithmetic (tests/bench/report.py, scale.py): request classes, the
API-bound minimum at the real limits, the full pull's extrapolation, the echo rows, and a report
that shows a failed phase as FAIL instead of crashing."""
from __future__ import annotations

import pytest

from tests.bench import report, scale


def _requests(sf_calls=4, hs_calls=3, hs_search=0, sf_pull=4, hs_pull=3):
    return {"salesforce": {"calls": sf_calls, "reads": sf_calls, "pull": sf_pull, "writes": 0, "auth": 0, "search": 0},
            "hubspot": {"calls": hs_calls, "reads": hs_calls, "pull": hs_pull, "writes": 0, "auth": 0,
                        "search": hs_search}}


def _phase(wall=2.0, **kw):
    return {"rc": 0, "wall_s": wall, "run_s": kw.pop("run_s", None), "cpu_s": 1.0, "peak_rss_mb": 90.0,
            "requests": kw.pop("requests", None) or _requests(), **kw}


def _bench(**phases):
    return {"size": 10_000, "db": "sqlite", "seed": 0, "records": 28_000, "load": {"seconds": 1, "sandbox_rss_mb": 50},
            "baseline": {"wall_s": 4.0, "requests": _requests()}, "minimum_requests": {"salesforce": 4, "hubspot": 3},
            "phases": phases, "pages": {"pages": []}}


def _row(rows, start):
    (row,) = [t for t in rows if t["target"].startswith(start)]
    return row


def test_classify_counts_bulk_query_jobs_as_pull_and_hubspot_searches():
    stats = {"salesforce": {"endpoints": {"POST jobs/query": 4, "GET jobs/query/{id}": 9,
                                          "GET jobs/query/{id}/results": 5, "GET query": 2,
                                          "GET query (lookup)": 3, "PATCH composite/sobjects": 6}},
             "hubspot": {"endpoints": {"POST /crm/v3/objects/contacts/search": 7,
                                       "POST /crm/v3/objects/contacts/search (lookup)": 2,
                                       "GET /crm/v3/objects/contacts": 10, "POST /crm/v3/objects/contacts/batch/update": 4}}}
    c = report.classify(stats)
    assert c["salesforce"] == {"calls": 29, "reads": 23, "pull": 20, "writes": 6, "auth": 0, "search": 0}
    assert c["hubspot"]["search"] == 9 and c["hubspot"]["pull"] == 17 and c["hubspot"]["writes"] == 4


def test_api_bound_is_the_slower_crm_without_429s():
    # HubSpot: 380 admitted non-search ÷ 19/s = 20 s; 50 searches ÷ 5/s = 10 s → 20 s. Salesforce slept 12 s.
    p = _phase(wall=30.0, run_s=23.0, requests=_requests(hs_calls=400 + 60, hs_search=60), sf_latency_s=12.0,
               hubspot_rejected={"TEN_SECONDLY_ROLLING": 20, "SECONDLY": 10, "DAILY": 0})
    b = report.api_bound(p)
    assert (b["hubspot_requests"], b["hubspot_searches"]) == (380, 50)
    assert (b["hubspot_s"], b["salesforce_s"], b["bound_s"], b["binding"]) == (20.0, 12.0, 20.0, "HubSpot")
    assert b["ratio"] == pytest.approx(23.0 / 20.0)
    slow_sf = report.api_bound({**p, "sf_latency_s": 40.0})
    assert slow_sf["binding"] == "Salesforce" and slow_sf["ratio"] == pytest.approx(23.0 / 40.0)
    assert report.api_bound({**p, "rc": 1}) is None


def test_real_limit_row_applies_from_20000_people():
    p = _phase(run_s=23.0, requests=_requests(hs_calls=380), sf_latency_s=1.0)
    small = report.targets(_bench(full_real=p))
    assert _row(small, "real limits")["applies"] is False
    big = report.targets({**_bench(full_real=p), "size": 20_000})
    row = _row(big, "real limits")
    assert row["applies"] is True and row["pass"] is True and row["measured"].startswith("1.15×")
    failed = report.targets(_bench(full_real={"rc": 1, "wall_s": 3.0, "tail": ["boom"]}))
    assert _row(failed, "real limits")["pass"] is False and _row(failed, "real limits")["applies"] is True


def test_full_pull_extrapolation_per_object_from_the_page_size_asked_for():
    pages = {"Contact": {"page_calls": 3, "rows": 5_000, "other_calls": 0, "asked_page": 2_000, "full_page": 2_000},
             "Account": {"page_calls": 1, "rows": 900, "other_calls": 2, "asked_page": 50_000, "full_page": 0},
             "Lead": {"page_calls": 1, "rows": 300, "other_calls": 0, "asked_page": 0, "full_page": 0}}
    out = report.sf_pull_calls(_phase(pull_pages=pages), 10_000, threshold=None)   # REST at any size
    # ×100: Contact 500,000 ÷ 2,000 = 250; Account 90,000 ÷ 50,000 → 2 + 2 job calls; Lead 30,000 ÷ 300 (its largest page) = 100
    assert out["measured"] == 7
    assert out["per_object"] == {"Account": 4, "Contact": 250, "Lead": 100}
    assert out["extrapolated"] == 354 and out["upper_bound"] is True


def test_objects_that_reach_the_bulk_threshold_at_a_million_are_counted_as_bulk_pulls():
    pages = {"Contact": {"page_calls": 3, "rows": 5_000, "other_calls": 0, "asked_page": 2_000, "full_page": 2_000},
             "Lead": {"page_calls": 1, "rows": 50, "other_calls": 0, "asked_page": 2_000, "full_page": 0}}
    out = report.sf_pull_calls(_phase(pull_pages=pages), 10_000, threshold=10_000)
    # ×100: Contact 500,000 rows, past the threshold: 3 + 2 polls + 10 result pages; Lead 5,000: REST, 3 pages
    assert out["per_object"] == {"Contact": 15, "Lead": 3}


def test_echo_rows_compare_each_settle_run_with_no_change():
    quiet = _phase(wall=2.0, requests=_requests(sf_calls=4, hs_calls=6))   # 10 requests
    rows = report.targets(_bench(full=_phase(), settle=_phase(wall=4.0, requests=_requests(sf_calls=5, hs_calls=6)),
                                 incremental=_phase(), settle_2=_phase(wall=4.1, requests=_requests(sf_calls=4, hs_calls=8)),
                                 no_change=quiet, resync={"rc": 1, "wall_s": 0.5, "requests": _requests()},
                                 settle_3=_phase()))
    assert _row(rows, "no echo: settle (echo) requests")["pass"] is True          # 11 ≤ 11
    assert _row(rows, "no echo: settle (echo) wall")["pass"] is True              # 4.0 ≤ 4.0
    assert _row(rows, "no echo: settle (echo 1%) requests")["pass"] is False      # 12 > 11
    assert _row(rows, "no echo: settle (echo 1%) wall")["pass"] is False          # 4.1 > 4.0
    resync = _row(rows, "no echo: settle (resync) requests")
    assert resync["pass"] is False and resync["measured"].startswith("bulk Resync failed")


def test_a_failed_full_sync_shows_fail_rows_and_renders():
    r = _bench(full={"rc": 1, "wall_s": None, "tail": ["Traceback", "KeyError: 'x'"]})
    r["errors"] = [{"what": "later phases", "error": "RuntimeError('pages')"}]
    r["targets"] = report.targets(r)
    assert not _row(r["targets"], "full sync")["pass"]
    assert not _row(r["targets"], "later phases ran")["pass"]
    text = report.render(r)
    assert "FAILED: Traceback | KeyError: 'x'" in text and "FAIL" in text


def test_cpu_rows_apply_at_100000_and_rss_at_a_million():
    r = {**_bench(full=_phase(wall=5.0, cpu_s=6.0)), "size": 100_000}
    rows = report.targets(r)
    assert _row(rows, "full sync wall")["measured"] == "1.25×" and _row(rows, "full sync wall")["applies"]
    assert _row(rows, "  its floor")["measured"] == "1.50×" and _row(rows, "  its floor")["pass"]
    assert _row(rows, "sync peak RSS < 200 MB")["applies"] is False


def test_scale_phases_from_parts_and_polled_phase_changes():
    r = {"parts": [{"name": "salesforce:Contact", "start_s": 0.1, "seconds": 9.9},
                   {"name": "hubspot:contacts", "start_s": 0.1, "seconds": 7.0},
                   {"name": "fields:contacts:0-25000", "start_s": 16.0, "seconds": 3.0},
                   {"name": "fields:contacts:25000-50000", "start_s": 16.5, "seconds": 4.5}],
         "phase_seen_s": {"pull": 0.2, "reconcile": 10.2, "push": 13.0, "fields": 15.8, "done": 21.1}}
    assert scale.phases(r, run_s=22.0) == {"pull": 10.0, "reconcile": 3.0, "push": 3.0, "fields": 5.0, "groups": 1.0}
    del r["phase_seen_s"]["push"]   # too short for the poll to see: reconcile takes push's time too
    assert scale.phases(r, run_s=22.0) == {"pull": 10.0, "reconcile": 6.0, "push": None, "fields": 5.0, "groups": 1.0}
