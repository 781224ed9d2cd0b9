"""The connectors over the real clients against the sandbox: the three Salesforce auth modes and
token refresh, https-only except loopback, retries per fault kind, permanent errors not retried
(and recorded against the record), and the API budget."""
from __future__ import annotations

import pytest

from sync.crm.base import BudgetExhausted, CrmError
from sync.crm.hubspot import HubSpotConfig, HubSpotConnector
from sync.crm.salesforce import SalesforceConfig, SalesforceConnector
from sync.models import AuditEvent, RecordError, SyncRun
from tests.engine.conftest import set_settings, sync

pytestmark = pytest.mark.django_db(transaction=True)
COUNT = "SELECT COUNT() FROM Lead"


def sf_conn(**overrides) -> SalesforceConnector:
    from dataclasses import replace

    return SalesforceConnector(replace(SalesforceConfig.from_settings(), **overrides))


def hs_conn(**overrides) -> HubSpotConnector:
    from dataclasses import replace

    return HubSpotConnector(replace(HubSpotConfig.from_settings(), **overrides))


def total(conn: SalesforceConnector, soql: str = COUNT) -> int:
    return sum(1 for _ in conn.query_pages(soql)) and conn._call(lambda s: s.query(soql), describe="q")["totalSize"]


def sf_calls(crm, label: str) -> int:
    return crm.stats()["salesforce"]["endpoints"].get(label, 0)


@pytest.mark.parametrize("mode", ["password", "client_credentials"])
def test_salesforce_login_and_refresh_on_expired_token(crm, mode):
    """Username+password+security token and client credentials log in through the OAuth token
    endpoint; when the token expires, a 401 INVALID_SESSION_ID is answered by one refresh and one
    retry."""
    crm.configure(salesforce={"token_ttl": 30})
    creds = ({"username": "sandbox@example.com", "password": "sandbox", "security_token": "sandbox",
              "client_id": "sandbox", "client_secret": "sandbox"} if mode == "password"
             else {"client_id": "sandbox", "client_secret": "sandbox"})
    conn = sf_conn(access_token="", **creds)
    assert total(conn) == 0
    assert sf_calls(crm, "POST oauth2/token") == 1
    crm.advance_clock(60)                      # the token expires
    assert total(conn) == 0
    assert sf_calls(crm, "POST oauth2/token") == 2


def test_an_expired_session_does_not_use_up_the_retries_faults_need(crm):
    """Four 500s and an expired token in one call: the renewal is not one of the five attempts."""
    crm.configure(salesforce={"token_ttl": 30})
    conn = sf_conn(access_token="", client_id="sandbox", client_secret="sandbox")
    assert total(conn) == 0
    crm.advance_clock(60)                      # the token expires
    crm.faults.configure([{"kind": "500", "crm": "salesforce", "method": "GET", "path": "*/query*", "count": 4}])
    assert conn._call(lambda s: s.query(COUNT), describe="q")["totalSize"] == 0
    assert crm.faults.injected == {"500": 4}
    assert sf_calls(crm, "POST oauth2/token") == 2


def test_a_token_another_part_renewed_is_taken_without_logging_in_again(crm):
    """Parts of a step share a connector: when the token a request carried has already been
    replaced by another part's renewal, the request is sent again with it, no second login."""
    crm.configure(salesforce={"token_ttl": 30})
    conn = sf_conn(access_token="", client_id="sandbox", client_secret="sandbox")
    assert total(conn) == 0
    assert conn._renew("a token some other part saw refused")
    assert sf_calls(crm, "POST oauth2/token") == 1
    assert conn._renew(conn.client.session_id)   # the current token refused: log in
    assert sf_calls(crm, "POST oauth2/token") == 2


def test_salesforce_access_token_mode_and_bad_credentials(crm):
    assert total(sf_conn()) == 0               # the static token from settings
    with pytest.raises(CrmError) as caught:
        total(sf_conn(access_token="", username="sandbox@example.com", password="wrong", client_id="sandbox",
                      client_secret="sandbox"))
    assert caught.value.permanent and caught.value.code == "LOGIN_FAILED"
    assert sf_calls(crm, "POST oauth2/token") == 1     # bad credentials are not retried
    with pytest.raises(CrmError) as caught:
        total(sf_conn(access_token="expired-and-no-way-to-refresh"))
    assert caught.value.permanent and caught.value.code == "INVALID_SESSION_ID"


@pytest.mark.parametrize("url", ["http://crm.example.com", "http://10.0.0.5:8900"])
def test_plain_http_only_for_loopback(crm, url):
    with pytest.raises(CrmError, match="https"):
        hs_conn(base_url=url)
    with pytest.raises(CrmError, match="https"):
        total(sf_conn(instance_url=url))
    hs_conn(base_url=crm.url)   # 127.0.0.1 over http is fine


@pytest.mark.parametrize("kind", ["429", "500", "503", "reset", "timeout"])
def test_retries_each_fault_kind(crm, settings, kind):
    settings.CRM_TIMEOUT = (2, 0.4)
    crm.load({"salesforce": {"Lead": [{"LastName": "L", "Company": "C", "Email": "l@example.com"}]},
              "hubspot": {"contacts": [{"properties": {"email": "h@example.com"}}]}})
    crm.faults.configure([{"kind": kind, "crm": "*", "count": 1, "seconds": 0.6},
                          {"kind": kind, "crm": "hubspot", "count": 1, "seconds": 0.6}])
    rows = [r for page in sf_conn().query_pages("SELECT Id FROM Lead") for r in page]
    assert len(rows) == 1
    pages = list(hs_conn().list_pages("contacts", ["email"]))
    assert [r["properties"]["email"] for r in pages[0]] == ["h@example.com"]
    assert crm.stats()["faults"] == {kind: 2}
    assert crm.stats()["salesforce"]["calls"] == 2 and crm.stats()["hubspot"]["calls"] == 2


def test_lost_write_is_not_duplicated(crm):
    """Applied-but-lost on a create: the retry finds the first record instead of making a second,
    and says it was there already (`created` false) — on a unique HubSpot property, not HubSpot's
    search, whose index lags behind the write."""
    crm.faults.configure([{"kind": "lost", "crm": "hubspot", "path": "*/batch/upsert", "count": 1}])
    conn = hs_conn()
    conn.ensure_unique_property("deals", "crmsync_salesforce_opportunity_id", "Salesforce opportunity")
    [made] = conn.upsert("deals", "crmsync_salesforce_opportunity_id", [{"id": "006Sb00000AbCdEFGH", "properties": {
        "dealname": "D", "pipeline": "default", "dealstage": "closedwon",
        "crmsync_salesforce_opportunity_id": "006Sb00000AbCdEFGH"}}])
    assert made.ok and not made.created and made.record["properties"]["dealname"] == "D"
    assert crm.hubspot.counts()["deals"]["live"] == 1
    crm.faults.configure([{"kind": "lost", "crm": "salesforce", "path": "*/composite/sobjects/Lead/*", "count": 1}])
    sf = sf_conn()
    for _ in range(2):
        [result] = sf.upsert("Lead", "HubSpot_Contact_Id__c", [
            {"HubSpot_Contact_Id__c": "777", "LastName": "L", "Company": "C", "Email": "x@example.com"}])
        assert result.ok and result.key == "777" and not result.created
    assert total(sf) == 1


def test_a_unique_property_is_made_once_and_must_be_unique(crm):
    conn = hs_conn()
    conn.ensure_unique_property("companies", "crmsync_salesforce_account_id", "Salesforce account")
    conn.ensure_unique_property("companies", "crmsync_salesforce_account_id", "Salesforce account")
    assert crm.hubspot.props.is_unique("companies", "crmsync_salesforce_account_id")
    assert crm.stats()["hubspot"]["endpoints"].get("POST /crm/v3/properties/companies") == 1
    with pytest.raises(CrmError, match="does not require unique values"):
        hs_conn().ensure_unique_property("companies", "name", "Name")


def test_a_property_made_meanwhile_by_someone_else_is_used(crm):
    """Two workers (or two parts of one step) that both found the property missing: the second
    create gets HubSpot's 409 and reads the first one's property instead of failing the run."""
    first, second = hs_conn(), hs_conn()
    assert second.property("deals", "crmsync_salesforce_opportunity_id") is None  # it looked: missing
    first.ensure_unique_property("deals", "crmsync_salesforce_opportunity_id", "Salesforce opportunity")
    made = second._create_property("deals", {"name": "crmsync_salesforce_opportunity_id", "label": "Again",
                                             "type": "string", "fieldType": "text", "hasUniqueValue": True})
    assert made["name"] == "crmsync_salesforce_opportunity_id" and made["label"] == "Salesforce opportunity"
    assert crm.stats()["hubspot"]["endpoints"].get("POST /crm/v3/properties/deals") == 2  # the refused one counts
    with pytest.raises(CrmError) as refused:  # any other refusal still fails
        second._create_property("deals", {"name": "bad name!", "label": "X", "type": "string", "fieldType": "text"})
    assert refused.value.status == 400


def test_permanent_errors_are_not_retried(crm):
    sf = sf_conn()
    with pytest.raises(CrmError) as caught:
        list(sf.query_pages("SELECT Nonsense FROM Lead"))
    assert caught.value.permanent and caught.value.status == 400
    assert sf_calls(crm, "GET query") == 1
    hs = hs_conn()
    [result] = hs.update("contacts", [{"id": "424242", "properties": {"firstname": "x"}}])
    assert (result.key, result.ok, result.code) == ("424242", False, "OBJECT_NOT_FOUND")
    assert crm.stats()["hubspot"]["calls"] == 1


def test_permanent_error_recorded_against_the_record_in_words(crm, sf):
    """A record Salesforce refuses (an email HubSpot takes and Salesforce calls invalid) becomes a
    RecordError of the run that says what to change; the rest of the run goes on."""
    crm.load({"hubspot": {"contacts": [{"id": "101", "properties": {"email": "bad(paren)@example.com", "lastname": "B"}},
                                       {"id": "102", "properties": {"email": "ok@example.com", "lastname": "Ok"}}]}})
    run = sync()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    [error] = RecordError.objects.filter(run=run)
    assert (error.crm, error.object_type, error.record_id, error.operation) == ("salesforce", "Lead", "101", "create lead")
    assert "INVALID_EMAIL_ADDRESS" in error.message and "correct it in HubSpot" in error.message
    assert run.errors == 1
    assert [r["Email"] for r in sf.query("SELECT Email FROM Lead")["records"]] == ["ok@example.com"]


def test_over_long_values_are_cut_to_the_salesforce_field_and_the_audit_says_so(crm, sf):
    crm.load({"hubspot": {"contacts": [{"id": "101", "properties": {"email": "long@example.com", "lastname": "x" * 120,
                                                                    "firstname": "Ann"}}]}})
    run = sync()
    assert run.status == SyncRun.Status.SUCCEEDED and run.errors == 0, run.error
    [lead] = sf.query("SELECT LastName, FirstName FROM Lead")["records"]
    assert (lead["LastName"], lead["FirstName"]) == ("x" * 80, "Ann")   # Lead.LastName is 80 characters (describe)
    [event] = AuditEvent.objects.filter(action=AuditEvent.Action.RECORD_CREATED, target_type="salesforce.Lead")
    assert "LastName cut to Salesforce's 80 characters" in event.message


def test_budget_share_stops_the_run(crm):
    """The run stops cleanly (status "stopped", reason shown) before exceeding its share."""
    crm.configure(salesforce={"daily_limit": 400})
    set_settings(salesforce_api_share=1)          # 1 % of 400 = 4 calls
    crm.load({"hubspot": {"contacts": [{"properties": {"email": f"p{i}@example.com"}} for i in range(3)]}})
    run = sync()
    assert run.status == SyncRun.Status.STOPPED
    assert "budget" in run.error.lower() and "1% of the daily limit of 400" in run.error
    assert crm.stats()["salesforce"]["api_usage"]["used"] <= 4
    assert run.sf_api_calls <= 4


def test_daily_limit_spent_stops_the_run(crm):
    """Salesforce 403 REQUEST_LIMIT_EXCEEDED (TotalRequests) → stopped, not retried: one refused
    call per object type, whose pulls start side by side (pull.pull_all), and no other."""
    from sync.engine.schema import SF_PULL_ORDER

    crm.configure(salesforce={"daily_limit": 1000})
    total(sf_conn())                                   # the sandbox's API day starts
    crm.configure(salesforce={"api_used": 1000})
    crm.reset_stats()
    run = sync()
    assert run.status == SyncRun.Status.STOPPED and "TotalRequests" in run.error
    assert crm.stats()["salesforce"]["calls"] <= len(SF_PULL_ORDER)


def test_salesforce_concurrency_limit_is_retried(crm):
    """403 REQUEST_LIMIT_EXCEEDED for concurrent long requests is throttling, not the daily limit."""
    crm.faults.configure([{"kind": "429", "crm": "salesforce", "count": 1}])
    assert total(sf_conn()) == 0


def test_hubspot_ten_secondly_limit_waits_for_the_window(crm):
    """The limiter learns the portal's window from X-HubSpot-RateLimit-Max and waits its turn
    instead of drawing 429s."""
    crm.hubspot.configure_limits(burst_max=2)
    crm.load({"hubspot": {"contacts": [{"properties": {"email": f"p{i}@example.com"}} for i in range(5)]}})
    hs = hs_conn()
    for _ in range(3):
        hs.update("contacts", [])  # no-op: no request
        assert len(list(hs.list_pages("contacts", ["email"]))) == 1
    assert crm.slept and all(9.9 < s <= 10.0 for s in crm.slept)   # the ten-second window, honoured
    assert crm.hubspot.limits["rejected"]["TEN_SECONDLY_ROLLING"] == 0
    assert hs.limiter.waited == pytest.approx(sum(crm.slept))


def test_hubspot_429_from_a_shared_window_waits_and_retries(crm):
    """Another app of the same account spends the window the limiter does not see: the 429 is
    retried after HubSpot's interval."""
    import requests

    crm.hubspot.configure_limits(burst_max=3)
    hs = hs_conn()
    list(hs.list_pages("contacts", ["email"]))
    for _ in range(2):   # the other app
        requests.get(f"{crm.url}/crm/v3/objects/contacts", headers={"Authorization": "Bearer sandbox"}, timeout=5)
    assert list(hs.list_pages("contacts", ["email"])) == [[]]
    assert crm.hubspot.limits["rejected"]["TEN_SECONDLY_ROLLING"] == 1
    assert 10.0 in crm.slept


def test_hubspot_daily_limit_stops(crm):
    crm.hubspot.configure_limits(daily_max=1)
    hs = hs_conn()
    list(hs.list_pages("contacts", ["email"]))
    with pytest.raises(BudgetExhausted):
        list(hs.list_pages("contacts", ["email"]))


def test_record_errors_carry_their_family_and_resolve_once_the_record_syncs(crm, sf, hs):
    """Sync errors by type: each error keeps the CRM's code and its family; when a later run writes
    the record without an error, the error is no longer current."""
    crm.load({"hubspot": {"contacts": [{"id": "101", "properties": {"email": "bad(paren)@example.com", "lastname": "B"}}]}})
    first = sync()
    [error] = RecordError.objects.filter(run=first)
    assert (error.code, error.family, error.resolved_at) == ("INVALID_EMAIL_ADDRESS", "values", None)
    hs.crm.contacts.basic_api.update("101", {"properties": {"email": "good@example.com"}})
    assert sync().status == SyncRun.Status.SUCCEEDED
    error.refresh_from_db()
    assert error.resolved_at is not None


def test_salesforce_collections_go_out_side_by_side_and_answer_in_order(crm):
    """Leads (no lookup) in three collection calls at once; every answer lines up with its record."""
    conn = sf_conn(write_concurrency=3)
    leads = [{"HubSpot_Contact_Id__c": f"c{i}", "LastName": f"L{i}", "Company": "Acme", "Email": f"l{i}@example.com"}
             for i in range(450)]
    results = conn.upsert("Lead", "HubSpot_Contact_Id__c", leads)
    assert [r.key for r in results] == [f"c{i}" for i in range(450)] and all(r.ok and r.created for r in results)
    assert sf_calls(crm, "PATCH composite/sobjects/Lead/HubSpot_Contact_Id__c") == 3
    found = {r["HubSpot_Contact_Id__c"]: r["Id"] for r in conn.client.query_all(
        "SELECT Id, HubSpot_Contact_Id__c FROM Lead")["records"]}
    assert [found[r.key] for r in results] == [r.id for r in results]


def test_a_lookup_is_any_id_field_but_the_records_own():
    from sync.crm.salesforce import _sets_lookup

    assert _sets_lookup({"LastName": "A", "AccountId": "001Gn00000000001AA"})
    assert not _sets_lookup({"LastName": "A", "AccountId": None, "HubSpot_Contact_Id__c": "1", "Id": "003"})


def test_records_that_set_a_lookup_go_out_side_by_side_when_no_two_calls_share_a_parent(crm):
    """Opportunities of 40 accounts, 3 calls at once: each account's opportunities in one call, so
    no call waits for another's parent lock (the sandbox holds a parent for a write's whole
    latency), and every answer still lines up with its record."""
    from sandbox.ids import IdFactory

    crm.salesforce_latency.configure({"write_ms": 20})
    ids = IdFactory(seed=5)
    accounts = [ids.new("Account") for _ in range(40)]
    crm.load({"salesforce": {"Account": [{"Id": a, "Name": f"A{i}"} for i, a in enumerate(accounts)]}})
    conn = sf_conn(write_concurrency=3)
    opps = [{"HubSpot_Deal_Id__c": f"d{i}", "Name": f"O{i}", "StageName": "Prospecting", "CloseDate": "2027-01-01",
             "AccountId": accounts[i % 40]} for i in range(600)]
    results = conn.upsert("Opportunity", "HubSpot_Deal_Id__c", opps)
    assert [r.key for r in results] == [f"d{i}" for i in range(600)] and all(r.ok and r.created for r in results)
    view = crm.salesforce_latency.view()
    assert view["lock_waits"] == 0 and view["writes_at_once"] > 1
    found = {r["HubSpot_Deal_Id__c"]: (r["Id"], r["AccountId"]) for r in conn.client.query_all(
        "SELECT Id, HubSpot_Deal_Id__c, AccountId FROM Opportunity")["records"]}
    assert [found[r.key] for r in results] == [(r.id, accounts[i % 40]) for i, r in enumerate(results)]


def test_calls_share_no_parent_and_a_family_too_big_for_one_call_goes_in_turn():
    from sync.crm.salesforce import _disjoint_chunks

    # a0 and a1 are one family through c0 (29 records); the other accounts' are 14 each
    records = [{"AccountId": f"a{i % 7}", "ContactId": "c0" if i < 2 else None} for i in range(100)]
    records += [{"Name": "no lookup"}] * 5
    chunks = _disjoint_chunks(records, 40)
    assert sorted(i for c in chunks for i in c) == list(range(len(records))) and all(len(c) <= 40 for c in chunks)
    assert len(chunks) > 2
    parents = [{p for i in c for k, p in records[i].items() if k.endswith("Id") and p} for c in chunks]
    assert all(not (x & y) for n, x in enumerate(parents) for y in parents[n + 1:])
    assert _disjoint_chunks([{"AccountId": "a"}] * 41, 40) is None
