"""Auth (static token, OAuth password and client-credentials grants, expiry on the sandbox clock)
and the daily API allocation with its Sforce-Limit-Info header."""
from __future__ import annotations

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceRefusedRequest,
)

from sandbox.testing import LoopbackHTTPS, loopback_session, salesforce_client, salesforce_login


def test_wrong_token_is_401_invalid_session(sandbox_server):
    sf = salesforce_client(sandbox_server.url, token="nope")
    with pytest.raises(SalesforceExpiredSession) as e:
        sf.query("SELECT Id FROM Lead")
    assert e.value.status == 401
    assert e.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    r = requests.get(f"{sandbox_server.url}/services/data/v59.0/limits/")
    assert r.status_code == 401


def token(url, **form):
    return requests.post(f"{url}/services/oauth2/token", data=form)


def test_client_credentials_grant_and_expiry(sandbox_server, sandbox):
    sandbox.salesforce.token_ttl = 60
    r = token(sandbox_server.url, grant_type="client_credentials", client_id="sandbox", client_secret="sandbox")
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["instance_url"] == sandbox_server.url
    sf = salesforce_client(body["instance_url"], token=body["access_token"])
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 0
    sandbox.advance_clock(61)
    with pytest.raises(SalesforceExpiredSession) as e:
        sf.query("SELECT COUNT() FROM Lead")
    assert e.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_basic_auth_client_credentials_via_simple_salesforce(sandbox_server):
    sf = salesforce_login(sandbox_server.url, consumer_key="sandbox", consumer_secret="sandbox")
    assert sf.sf_instance == sandbox_server.url.removeprefix("http://")
    assert sf.limits()["DailyApiRequests"]["Max"] == 100_000


def test_password_grant_via_simple_salesforce(sandbox_server):
    # simple-salesforce's password+consumer flow sends the password as given: password + security token.
    s = loopback_session(sandbox_server.url, "https://sandbox.salesforce.com")
    sf = Salesforce(username="sandbox@example.com", password="sandboxsandbox", consumer_key="sandbox",
                    consumer_secret="sandbox", domain="sandbox", session=s, version="59.0")
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


@pytest.mark.parametrize("form, error", [
    ({"grant_type": "password", "client_id": "sandbox", "client_secret": "sandbox",
      "username": "sandbox@example.com", "password": "sandbox"}, "invalid_grant"),      # missing security token
    ({"grant_type": "password", "client_id": "sandbox", "client_secret": "sandbox",
      "username": "who@example.com", "password": "sandboxsandbox"}, "invalid_grant"),
    ({"grant_type": "client_credentials", "client_id": "sandbox", "client_secret": "wrong"}, "invalid_client"),
    ({"grant_type": "client_credentials", "client_id": "x", "client_secret": "sandbox"}, "invalid_client_id"),
    ({"grant_type": "magic"}, "unsupported_grant_type"),
])
def test_token_endpoint_errors(sandbox_server, form, error):
    r = token(sandbox_server.url, **form)
    assert r.status_code == 400 and r.json()["error"] == error
    if error == "invalid_grant":
        assert r.json() == {"error": "invalid_grant", "error_description": "authentication failure"}


def test_login_failure_surfaces_in_client(sandbox_server):
    with pytest.raises(SalesforceAuthenticationFailed):
        salesforce_login(sandbox_server.url, consumer_key="sandbox", consumer_secret="bad")


def test_daily_limit_header_and_403(sf, sandbox):
    sandbox.salesforce.daily_limit = 3
    sf.query("SELECT Id FROM Lead")
    assert sf.api_usage["api-usage"].used == 1 and sf.api_usage["api-usage"].total == 3
    sf.query("SELECT Id FROM Lead")
    sf.query("SELECT Id FROM Lead")
    assert sf.api_usage["api-usage"].used == 3
    with pytest.raises(SalesforceRefusedRequest) as e:
        sf.query("SELECT Id FROM Lead")
    assert e.value.status == 403
    assert e.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert e.value.content[0]["message"] == "TotalRequests Limit exceeded."
    sandbox.advance_clock(86400)   # a new day of sandbox time
    sf.query("SELECT Id FROM Lead")
    assert sf.api_usage["api-usage"].used == 1


def test_loading_costs_no_api_usage(sandbox):
    sandbox.load({"salesforce": {"Account": [{"Name": f"A{i}"} for i in range(10)]}})
    assert sandbox.salesforce.api_used == 0


def test_adapter_refuses_non_loopback_targets():
    with pytest.raises(ValueError):
        LoopbackHTTPS("http://example.com:8900")
