"""HubSpot emulator: rate-limit headers, 429 bodies per policy, injected faults, account info, labels."""
import json

import pytest
from hubspot.crm.contacts import ApiException

from sandbox.core import Request
from sandbox.testing import raw


def test_ratelimit_headers_on_normal_responses(server, emu):
    emu.configure_limits(burst_max=190, daily_max=625_000)
    st, h, _ = raw(server, "GET", "/crm/v3/objects/contacts")
    assert st == 200
    assert h["X-HubSpot-RateLimit-Daily"] == "625000"
    assert h["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert h["X-HubSpot-RateLimit-Max"] == "190"
    remaining = int(h["X-HubSpot-RateLimit-Remaining"])
    daily_left = int(h["X-HubSpot-RateLimit-Daily-Remaining"])
    st, h, _ = raw(server, "GET", "/crm/v3/objects/contacts")
    assert int(h["X-HubSpot-RateLimit-Remaining"]) == remaining - 1
    assert int(h["X-HubSpot-RateLimit-Daily-Remaining"]) == daily_left - 1
    assert "X-HubSpot-Correlation-Id" in h and "Retry-After" not in h
    assert "X-HubSpot-RateLimit-Secondly" not in h
    emu.configure_limits(secondly_headers=True)
    st, h, _ = raw(server, "GET", "/crm/v3/objects/contacts")
    assert "X-HubSpot-RateLimit-Secondly" in h and "X-HubSpot-RateLimit-Secondly-Remaining" in h
    # error responses carry them too (like the real 409 in mitodl/mitxpro#2652)
    st, h, _ = raw(server, "GET", "/crm/v3/objects/contacts/12345")
    assert st == 404 and "X-HubSpot-RateLimit-Remaining" in h


def test_ten_secondly_rolling_429_and_window_on_the_sandbox_clock(server, emu, client):
    server.sandbox.clock.advance(20)
    emu.configure_limits(burst_max=3)
    for _ in range(3):
        assert raw(server, "GET", "/crm/v3/objects/contacts")[0] == 200
    st, h, body = raw(server, "GET", "/crm/v3/objects/contacts")
    assert st == 429
    assert body["status"] == "error" and body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["groupName"].startswith("publicapi:") and "correlationId" in body
    assert h["X-HubSpot-RateLimit-Remaining"] == "0" and "Retry-After" not in h
    # PATCH/POST 429s surface as ApiException through the client (no Retry-After -> no silent retries)
    from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId

    with pytest.raises(ApiException) as ei:
        client.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(inputs=[], properties=[]))
    assert ei.value.status == 429 and json.loads(ei.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"
    server.sandbox.clock.advance(10.1)
    assert raw(server, "GET", "/crm/v3/objects/contacts")[0] == 200
    assert emu.limits["rejected"]["TEN_SECONDLY_ROLLING"] == 2


def test_daily_429(server, emu):
    emu.configure_limits(daily_max=2)
    statuses = [raw(server, "GET", "/crm/v3/objects/contacts")[0] for _ in range(2)]
    st, h, body = raw(server, "GET", "/crm/v3/objects/contacts")
    assert statuses == [200, 200] and st == 429
    assert body["policyName"] == "DAILY" and body["message"] == "You have reached your daily limit."
    assert h["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    st, _, body = raw(server, "POST", "/crm/v3/objects/contacts/search", {})
    assert st == 429 and body["policyName"] == "DAILY"  # search counts against the daily quota
    server.sandbox.clock.advance(86_400)
    assert raw(server, "GET", "/crm/v3/objects/contacts")[0] == 200


def test_fault_responses(emu):
    get = Request.build("GET", "/crm/v3/objects/contacts", "", {"Authorization": "Bearer sandbox"}, b"")
    search = Request.build("POST", "/crm/v3/objects/contacts/search", "", {}, b"{}")
    r = emu.fault_response("429", get)
    assert r.status == 429 and r.body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert "Retry-After" not in r.headers and r.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    r = emu.fault_response("429", search)
    assert r.body["policyName"] == "SECONDLY" and not any(k.startswith("X-HubSpot-RateLimit") for k in r.headers)
    for kind in ("500", "503"):
        r = emu.fault_response(kind, get)
        assert r.status == int(kind) and r.body["status"] == "error" and r.body["correlationId"]
        assert r.body["category"] and "Retry-After" not in r.headers
    with pytest.raises(ValueError):
        emu.fault_response("418", get)


def test_endpoint_labels(emu):
    def label(method, path):
        return emu.endpoint_label(Request.build(method, path, "", {}, b""))

    assert label("POST", "/crm/v3/objects/contacts/search") == "POST /crm/v3/objects/contacts/search"
    assert label("GET", "/crm/v3/objects/contacts/123") == "GET /crm/v3/objects/contacts/{id}"
    assert label("PATCH", "/crm/v3/objects/0-3/9") == "PATCH /crm/v3/objects/deals/{id}"
    assert label("POST", "/crm/v3/objects/companies/batch/read") == "POST /crm/v3/objects/companies/batch/read"
    assert label("GET", "/crm/v4/objects/contacts/5/associations/companies") == \
        "GET /crm/v4/objects/contacts/{id}/associations/companies"
    assert label("PUT", "/crm/v4/objects/contacts/5/associations/default/companies/7") == \
        "PUT /crm/v4/objects/contacts/{id}/associations/default/companies/{toId}"
    assert label("GET", "/crm/v3/properties/contacts/email") == "GET /crm/v3/properties/contacts/{propertyName}"


def test_account_info_and_usage(server, emu):
    st, h, body = raw(server, "GET", "/account-info/v3/details")
    assert st == 200
    assert body["portalId"] == emu.portal_id and body["uiDomain"] == "app.hubspot.com"
    assert {"timeZone", "dataHostingLocation", "accountType", "companyCurrency", "utcOffset",
            "utcOffsetMilliseconds", "additionalCurrencies"} <= set(body)
    st, _, body = raw(server, "GET", "/account-info/v3/api-usage/daily/private-apps")
    assert st == 200 and body["results"][0]["usageLimit"] == emu.limits["daily_max"]
    assert body["results"][0]["currentUsage"] >= 2
    assert raw(server, "GET", "/account-info/v3/details", token="wrong")[0] == 401


def test_unknown_route_and_malformed_json(server):
    st, _, body = raw(server, "GET", "/crm/v3/nothing/here")
    assert st == 404 and body["status"] == "error"
    st, _, body = raw(server, "POST", "/crm/v3/objects/contacts", b"{not json")
    assert st == 400 and body["category"] == "VALIDATION_ERROR"
