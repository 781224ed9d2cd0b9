"""Salesforce's response times (sandbox/salesforce/latency.py) through the real simple-salesforce
client: off by default, a query page costs its fixed part plus its rows, a collections write
its call plus its records, set through the control endpoint or the environment, and slept
outside the sandbox lock (a slow page does not hold up HubSpot)."""
from __future__ import annotations

import threading
import time

import pytest

from sandbox.salesforce import latency
from sandbox.server import Sandbox
from sandbox.testing import raw


@pytest.fixture
def slow(sandbox):
    yield sandbox
    sandbox.salesforce_latency.configure("off")


def _contacts(sf, n: int) -> None:
    records = [{"attributes": {"type": "Contact"}, "LastName": f"L{i}"} for i in range(n)]
    for i in range(0, n, 200):
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records[i:i + 200]})


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def test_off_by_default(sf, sandbox):
    assert sandbox.salesforce_latency.view()["enabled"] is False
    sf.query("SELECT Id FROM Contact")
    assert sandbox.stats()["salesforce"]["latency"]["slept_s"] == 0


def test_query_pages_cost_a_fixed_part_plus_their_rows(sf, slow, sandbox_server):
    _contacts(sf, 500)
    status, _, _ = raw(sandbox_server, "POST", "/_sandbox/config",
                          {"salesforce": {"latency": {"query_ms": 100, "row_ms": 0.4}}}, token=None)
    assert status == 200 and slow.stats()["salesforce"]["latency"]["query_ms"] == 100
    took = _timed(lambda: sf.query_all("SELECT Id, LastName FROM Contact",
                                       headers={"Sforce-Query-Options": "batchSize=200"}))
    # three pages (200, 200, 100 rows): 3 × 100 ms + 500 × 0.4 ms = 0.5 s
    stats = slow.stats()["salesforce"]["latency"]
    assert stats["calls"] == 3 and stats["slept_s"] == pytest.approx(0.5)
    assert 0.5 <= took < 1.5


def test_writes_cost_a_call_plus_their_records_and_reads_a_call(sf, slow):
    slow.salesforce_latency.configure({"write_ms": 50, "write_row_ms": 1, "call_ms": 30})
    records = [{"attributes": {"type": "Contact"}, "LastName": f"W{i}"} for i in range(100)]
    took = _timed(lambda: sf.restful("composite/sobjects", method="POST", json={"allOrNone": False,
                                                                                "records": records}))
    assert took >= 0.15   # 50 ms + 100 × 1 ms
    assert slow.salesforce_latency.view()["slept_s"] == pytest.approx(0.15)
    rid = sf.query("SELECT Id FROM Contact LIMIT 1")["records"][0]["Id"]   # a query with no query_ms: free
    slow.reset_stats()
    sf.Contact.get(rid)
    sf.Contact.update(rid, {"Title": "T"})
    assert slow.stats()["salesforce"]["latency"] == {**slow.salesforce_latency.settings, "enabled": True,
                                                     "slept_s": pytest.approx(0.03 + 0.051), "calls": 2,
                                                     "lock_waits": 0, "writes_at_once": 0}


def test_writes_naming_one_parent_wait_for_each_others_lock(sf, slow):
    """Two collection calls at once, each creating contacts of one account: the second waits for
    the first's transaction (as an org's record lock makes it), so they take twice as long as one;
    calls naming different accounts run side by side, neither waiting."""
    slow.salesforce_latency.configure({"write_ms": 300})
    a, b = (sf.Account.create({"Name": n})["id"] for n in ("A", "B"))

    def write(account: str) -> None:
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
            {"attributes": {"type": "Contact"}, "LastName": "C", "AccountId": account}]})

    def both(first: str, second: str) -> float:
        slow.salesforce_latency.reset_counts()
        threads = [threading.Thread(target=write, args=(x,)) for x in (first, second)]
        return _timed(lambda: [t.start() for t in threads] and [t.join() for t in threads])

    assert both(a, a) >= 0.6
    assert slow.salesforce_latency.view()["lock_waits"] == 1
    both(a, b)
    view = slow.salesforce_latency.view()
    assert (view["lock_waits"], view["writes_at_once"]) == (0, 2)


def test_hubspot_is_not_held_up_by_a_slow_salesforce_page(sf, slow, sandbox_server):
    slow.salesforce_latency.configure({"query_ms": 800})
    t = threading.Thread(target=lambda: sf.query("SELECT Id FROM Contact"))
    t.start()
    time.sleep(0.1)
    took = _timed(lambda: raw(sandbox_server, "GET", "/crm/v3/objects/contacts?limit=1"))
    t.join()
    assert took < 0.4


def test_settings_parse_and_the_environment(monkeypatch):
    assert latency.parse("realistic") == latency.REALISTIC
    assert latency.parse("query_ms=150, row_ms=0.3") == {**latency.OFF, "query_ms": 150.0, "row_ms": 0.3}
    for bad in ("query_ms", {"nope": 1}, {"row_ms": -1}, {"row_ms": True}, 5):
        with pytest.raises(ValueError):
            latency.parse(bad)
    monkeypatch.setenv(latency.ENV, "realistic")
    assert Sandbox().salesforce_latency.settings == latency.REALISTIC
    monkeypatch.setenv(latency.ENV, "write_ms=10")
    assert Sandbox().salesforce_latency.view()["write_ms"] == 10


def test_an_unknown_setting_is_refused_by_the_control_endpoint(sandbox_server):
    status, _, body = raw(sandbox_server, "POST", "/_sandbox/config", {"salesforce": {"latency": {"page": 1}}},
                          token=None)
    assert status == 400 and "page" in body["error"]
