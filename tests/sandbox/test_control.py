"""The `/_sandbox/` control API over HTTP, and the Sandbox Python API behind it."""
from __future__ import annotations

import requests

from sandbox.ids import to18


def test_load_reset_and_stats(sandbox_server, sf):
    base = f"{sandbox_server.url}/_sandbox"
    scenario = {"salesforce": {
        "Account": [{"Id": "001Sb000000000A", "Name": "Acme", "HubSpot_Company_Id__c": "201"}],
        "Lead": [{"LastName": "L", "Company": "Acme", "Email": "l@x.com", "CreatedDate": "2024-01-01T00:00:00Z",
                  "SystemModstamp": "2024-01-02T00:00:00.000+0000"}],
        "Contact": [{"LastName": "C", "AccountId": "001Sb000000000A", "IsDeleted": True}]}}
    r = requests.post(f"{base}/load", json=scenario)
    assert r.status_code == 200
    assert r.json()["loaded"]["salesforce"] == {"Account": 1, "Lead": 1, "Contact": 1}
    assert sf.Account.get(to18("001Sb000000000A"))["Name"] == "Acme"     # ids given are kept
    lead = sf.query("SELECT CreatedDate, LastModifiedDate, SystemModstamp FROM Lead")["records"][0]
    assert (lead["CreatedDate"], lead["LastModifiedDate"], lead["SystemModstamp"]) == (
        "2024-01-01T00:00:00.000+0000", "2024-01-01T00:00:00.000+0000", "2024-01-02T00:00:00.000+0000")
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    stats = requests.get(f"{base}/stats").json()
    assert stats["salesforce"]["calls"] == 3
    assert stats["salesforce"]["endpoints"] == {"GET query": 2, "GET sobjects/Account/{id}": 1}
    assert stats["hubspot"]["calls"] == 0 and stats["faults"] == {}
    assert requests.post(f"{base}/reset").json() == {"ok": True}
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    assert requests.get(f"{base}/stats").json()["salesforce"]["calls"] == 1


def test_bad_scenario_is_400(sandbox_server):
    r = requests.post(f"{sandbox_server.url}/_sandbox/load", json={"salesforce": {"Lead": [{"Bogus": 1}]}})
    assert r.status_code == 400 and "Bogus" in r.json()["error"]
    assert requests.post(f"{sandbox_server.url}/_sandbox/load", data=b"{nope").status_code == 400


def test_clock_advance(sandbox_server, sandbox, sf):
    before = sandbox.clock.now()
    r = requests.post(f"{sandbox_server.url}/_sandbox/clock", json={"advance": 3600})
    assert r.status_code == 200 and r.json()["now"] >= (before.replace(microsecond=0)).isoformat()
    rid = sf.Account.create({"Name": "Later"})["id"]
    created = sf.Account.get(rid)["CreatedDate"]
    assert created[:13] == sandbox.clock.now().strftime("%Y-%m-%dT%H")


def test_config_and_unknown_endpoints(sandbox_server, sandbox):
    base = f"{sandbox_server.url}/_sandbox"
    r = requests.post(f"{base}/config", json={"order": "reverse", "salesforce": {"daily_limit": 50}})
    assert r.json() == {"order": "reverse", "salesforce": {"daily_limit": 50, "token_ttl": 7200.0},
                        "hubspot": sandbox.hubspot.configure()}
    assert sandbox.order == "reverse" and sandbox.salesforce.daily_limit == 50
    assert requests.post(f"{base}/config", json={"order": "sideways"}).status_code == 400
    assert requests.get(f"{base}/nope").status_code == 404
    assert requests.get(f"{base}/reset").status_code == 405


def test_streamed_load_records(sandbox, sf):
    def stream():
        for i in range(3):
            yield "salesforce", "Contact", {"LastName": f"C{i}", "Email": f"c{i}@x.com"}
        yield "salesforce", "Account", {"Name": "A"}
        yield "salesforce", "Contact", {"LastName": "C3"}
    counts = sandbox.load_records(stream())
    assert counts["salesforce"] == {"Contact": 4, "Account": 1}
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 4
