"""Salesforce's 16,384-byte limit on request URI + headers: 414 for a URI over it alone, 431 when
the headers push it over — the front door's HTML page, no API usage — as simple-salesforce sees it."""
from __future__ import annotations

import pytest
import requests
from simple_salesforce.exceptions import SalesforceGeneralError

PAGE_414 = "<h1>Bad Message 414</h1><pre>reason: URI Too Long</pre>"
PAGE_431 = "<h1>Bad Message 431</h1><pre>reason: Request Header Fields Too Large</pre>"
PREFIX = "/services/data/v59.0/query/?q="


def emails(n: int) -> str:
    return ", ".join(f"'person{i:05d}@example.com'" for i in range(n))


def test_long_in_list_is_414_through_the_client(sf, sandbox):
    sf.query(f"SELECT Id FROM Contact WHERE Email IN ({emails(200)})")     # ~6 KB URI: fine
    used = sandbox.salesforce.api_used
    with pytest.raises(SalesforceGeneralError) as e:
        sf.query(f"SELECT Id FROM Contact WHERE Email IN ({emails(600)})")  # ~19 KB URI
    assert e.value.status == 414 and e.value.content == PAGE_414
    assert sandbox.salesforce.api_used == used            # refused before the API: not counted
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0   # the next call is served
    assert sandbox.stats()["salesforce"]["endpoints"]["GET query"] == 3


def test_headers_push_it_to_431(sf, sandbox):
    q = f"SELECT Id FROM Contact WHERE Email IN ({emails(300)})"           # ~9 KB URI
    assert sf.query(q)["totalSize"] == 0
    with pytest.raises(SalesforceGeneralError) as e:
        sf.query(q, headers={"X-Trace": "t" * 8000})
    assert e.value.status == 431 and e.value.content == PAGE_431


def test_boundaries_on_the_wire(sandbox_server):
    h = {"Authorization": "Bearer sandbox"}
    url = sandbox_server.url
    r = requests.get(url + PREFIX + "x" * (16_385 - len(PREFIX)), headers=h)
    assert r.status_code == 414 and r.text == PAGE_414
    assert r.headers["Content-Type"].startswith("text/html") and r.headers["Connection"] == "close"
    assert "Sforce-Limit-Info" not in r.headers
    # exactly 16,384 bytes of URI is not too long for the URI check, but the headers are extra
    r = requests.get(url + PREFIX + "x" * (16_384 - len(PREFIX)), headers=h)
    assert r.status_code == 431 and r.text == PAGE_431
    # well under: an ordinary (here malformed-query) answer from the API itself
    r = requests.get(url + PREFIX + "x" * (15_000 - len(PREFIX)), headers=h)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "MALFORMED_QUERY"
    # the limit is on the URI as sent: percent-encoding counts
    r = requests.get(url + PREFIX + "%20" * 5_500, headers=h)
    assert r.status_code == 414


def test_bodies_do_not_count(sf):
    records = [{"attributes": {"type": "Account"}, "Name": f"Account number {i:03d}", "Description": "d" * 200}
               for i in range(200)]
    res = sf.restful("composite/sobjects", method="POST", json={"records": records})    # ~50 KB body
    assert all(r["success"] for r in res)
