"""Every fault kind as the real client experiences it, plus rule matching and seeding."""
from __future__ import annotations

import pytest
import requests
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceRefusedRequest

from sandbox.core import Request
from sandbox.faults import FaultRule, Faults
from sandbox.testing import salesforce_client


def test_429_on_salesforce_is_403_request_limit_exceeded(sf, sandbox):
    sandbox.faults.add("429", crm="salesforce", path="/services/data/*/query*")
    with pytest.raises(SalesforceRefusedRequest) as e:
        sf.query("SELECT Id FROM Lead")
    assert e.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0   # count=1: only the next request
    assert sandbox.stats()["faults"] == {"429": 1}


@pytest.mark.parametrize("kind, code", [("500", "UNKNOWN_EXCEPTION"), ("503", "SERVER_UNAVAILABLE")])
def test_5xx(sf, sandbox, kind, code):
    sandbox.faults.add(kind, count=2)
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as e:
            sf.Account.create({"Name": "A"})
        assert e.value.status == int(kind) and e.value.content[0]["errorCode"] == code
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0   # faulted calls did not apply
    sf.Account.create({"Name": "A"})


def test_reset_closes_without_response(sf, sandbox):
    sandbox.faults.add("reset", method="POST")
    with pytest.raises(requests.ConnectionError):
        sf.Account.create({"Name": "A"})
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_timeout_then_responds(sandbox_server, sandbox):
    sf = salesforce_client(sandbox_server.url)
    sandbox.faults.add("timeout", seconds=0.6, method="POST")
    sf.session.request = _with_timeout(sf.session.request, 0.2)
    with pytest.raises(requests.Timeout):
        sf.Account.create({"Name": "Slow"})
    sandbox.faults.clear()
    import time
    time.sleep(0.6)
    # the slow request was still applied once the server woke up
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1


def _with_timeout(request, seconds):
    def wrapped(method, url, **kw):
        kw.setdefault("timeout", seconds)
        return request(method, url, **kw)
    return wrapped


def test_lost_applies_then_drops(sf, sandbox):
    sandbox.faults.add("lost", crm="salesforce", method="POST", path="re:/sobjects/Contact/?$")
    with pytest.raises(requests.ConnectionError):
        sf.Contact.create({"LastName": "Ghost", "HubSpot_Contact_Id__c": "55"})
    rows = sf.query("SELECT LastName FROM Contact WHERE HubSpot_Contact_Id__c = '55'")["records"]
    assert [r["LastName"] for r in rows] == ["Ghost"]   # the client failed, yet the record exists
    assert sandbox.stats()["faults"] == {"lost": 1}


def test_rate_is_seeded_and_reproducible():
    req = Request.build("GET", "/services/data/v59.0/query/", "", {}, b"")
    runs = []
    for _ in range(2):
        f = Faults(seed=42)
        f.configure([{"kind": "500", "rate": 0.3}])
        runs.append([f.pick("salesforce", req) is not None for _ in range(200)])
    assert runs[0] == runs[1] and 30 < sum(runs[0]) < 90


def test_rule_matching():
    get = Request.build("GET", "/crm/v3/objects/contacts", "", {}, b"")
    post = Request.build("POST", "/services/data/v59.0/sobjects/Lead/", "", {}, b"")
    assert FaultRule("500", crm="hubspot", path="/crm/*").matches("hubspot", get)
    assert not FaultRule("500", crm="salesforce").matches("hubspot", get)
    assert not FaultRule("500", method="POST").matches("hubspot", get)
    assert FaultRule("500", path="re:sobjects/(Lead|Contact)").matches("salesforce", post)
    with pytest.raises(ValueError):
        FaultRule("418")


def test_faults_configured_over_http(sandbox_server, sf):
    url = f"{sandbox_server.url}/_sandbox/faults"
    r = requests.post(url, json={"rules": [{"kind": "503", "crm": "salesforce", "count": 1}], "seed": 3})
    assert r.status_code == 200 and r.json()["rules"][0]["remaining"] == 1
    with pytest.raises(SalesforceGeneralError):
        sf.limits()
    snap = requests.get(url).json()
    assert snap["rules"][0]["remaining"] == 0 and snap["injected"] == {"503": 1}
    assert requests.post(url, json={"rules": [{"kind": "nope"}]}).status_code == 400


def test_truncated_response_is_applied_and_cut_short(sf, sandbox):
    sandbox.faults.add("truncated", crm="salesforce", method="POST", path="re:/sobjects/Account/?$")
    with pytest.raises(requests.RequestException) as e:
        sf.Account.create({"Name": "Half", "HubSpot_Company_Id__c": "77"})
    assert isinstance(e.value, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)), e.value
    rows = sf.query("SELECT Name FROM Account WHERE HubSpot_Company_Id__c = '77'")["records"]
    assert [r["Name"] for r in rows] == ["Half"]
    assert sandbox.stats()["faults"] == {"truncated": 1}


def test_malformed_body_is_a_200_that_is_not_json(sandbox_server, sandbox):
    from hubspot import HubSpot

    hs = HubSpot(access_token="sandbox", host=sandbox_server.url)
    sandbox.faults.add("malformed", crm="hubspot", method="GET")
    response = hs.crm.contacts.basic_api.get_page_with_http_info(limit=10, _preload_content=False)
    assert response.status == 200
    with pytest.raises(ValueError):
        __import__("json").loads(response.data)
    assert hs.crm.contacts.basic_api.get_page(limit=10).results == []   # the next request is fine
