"""Who wrote a record: CreatedById / LastModifiedById follow the calling token's user (the
integration user, or a person), userinfo names the token's user, and every answer's Date header
is in sandbox time. Real simple-salesforce over HTTP."""
from __future__ import annotations

import email.utils

import requests

from sandbox.ids import IdFactory
from sandbox.salesforce.schema import PERSON_TOKEN, PERSON_USER_ID, SYSTEM_USER_ID
from sandbox.testing import salesforce_client


def _soql(sf, soql):
    return [r["Id"] for r in sf.query_all(soql, include_deleted=True)["records"]]


def test_writes_carry_the_calling_user_and_soql_can_leave_ours_out(sf, sandbox_server, sandbox):
    person = salesforce_client(sandbox_server.url, token=PERSON_TOKEN)
    ours = sf.Lead.create({"LastName": "Ours", "Company": "Acme"})["id"]
    theirs = person.Lead.create({"LastName": "Theirs", "Company": "Acme"})["id"]
    edited = sf.Lead.create({"LastName": "Edited", "Company": "Acme"})["id"]
    person.Lead.update(edited, {"Title": "CEO"})
    gone = sf.Lead.create({"LastName": "Gone", "Company": "Acme"})["id"]
    sf.Lead.delete(gone)
    touched = sf.Lead.create({"LastName": "Touched", "Company": "Acme"})["id"]
    sandbox.salesforce.touch(touched, {"Title": "CFO"})     # the UI: a person

    got = {r["Id"]: r for r in sf.query_all("SELECT Id, CreatedById, LastModifiedById FROM Lead",
                                            include_deleted=True)["records"]}
    assert (got[ours]["CreatedById"], got[ours]["LastModifiedById"]) == (SYSTEM_USER_ID, SYSTEM_USER_ID)
    assert (got[theirs]["CreatedById"], got[theirs]["LastModifiedById"]) == (PERSON_USER_ID, PERSON_USER_ID)
    assert (got[edited]["CreatedById"], got[edited]["LastModifiedById"]) == (SYSTEM_USER_ID, PERSON_USER_ID)
    assert got[touched]["LastModifiedById"] == PERSON_USER_ID
    not_ours = _soql(sf, f"SELECT Id FROM Lead WHERE (LastModifiedById != '{SYSTEM_USER_ID}' OR IsDeleted = true)")
    assert sorted(not_ours) == sorted([theirs, edited, gone, touched])


def test_a_merge_is_stamped_by_whoever_called_it(sandbox_server, sandbox):
    keep, lose = IdFactory(seed=7).new("Lead"), IdFactory(seed=8).new("Lead")
    sandbox.load({"salesforce": {"Lead": [
        {"Id": keep, "LastName": "A", "Company": "X", "Email": "a@example.com"},
        {"Id": lose, "LastName": "B", "Company": "X", "Email": "a@example.com"}]}})
    envelope = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com" '
                'xmlns:urn1="urn:sobject.partner.soap.sforce.com"><soapenv:Header><urn:SessionHeader>'
                f"<urn:sessionId>{PERSON_TOKEN}</urn:sessionId></urn:SessionHeader></soapenv:Header><soapenv:Body>"
                f"<urn:merge><urn:request><urn:masterRecord><urn1:type>Lead</urn1:type><urn1:Id>{keep}"
                f"</urn1:Id></urn:masterRecord><urn:recordToMergeIds>{lose}</urn:recordToMergeIds>"
                "</urn:request></urn:merge></soapenv:Body></soapenv:Envelope>")
    r = requests.post(f"{sandbox_server.url}/services/Soap/u/59.0", data=envelope,
                      headers={"Content-Type": "text/xml", "SOAPAction": "merge"}, timeout=10)
    assert r.status_code == 200 and "<success>true</success>" in r.text, r.text
    rows = salesforce_client(sandbox_server.url).query_all(
        "SELECT Id, IsDeleted, LastModifiedById FROM Lead", include_deleted=True)["records"]
    assert {(x["Id"], x["IsDeleted"], x["LastModifiedById"]) for x in rows} == {
        (keep, False, PERSON_USER_ID), (lose, True, PERSON_USER_ID)}


def test_userinfo_names_the_tokens_user_and_costs_no_api_call(sf, sandbox_server, sandbox):
    used = sandbox.salesforce.api_used
    ours = sf.oauth2("userinfo")
    assert ours["user_id"] == SYSTEM_USER_ID and ours["organization_id"].startswith("00D")
    theirs = salesforce_client(sandbox_server.url, token=PERSON_TOKEN).oauth2("userinfo")
    assert theirs["user_id"] == PERSON_USER_ID
    assert sandbox.salesforce.api_used == used
    bad = requests.get(f"{sandbox_server.url}/services/oauth2/userinfo", headers={"Authorization": "Bearer nope"},
                       timeout=5)
    assert bad.status_code == 403 and bad.text == "Bad_OAuth_Token"


def test_the_date_header_is_sandbox_time(sf, sandbox_server, sandbox):
    sandbox.advance_clock(3 * 86400)
    r = requests.get(f"{sandbox_server.url}/services/data/v59.0/limits/", headers={"Authorization": "Bearer sandbox"},
                     timeout=5)
    assert len(r.raw.headers.getlist("Date")) == 1
    sent = email.utils.parsedate_to_datetime(r.headers["Date"])
    assert abs((sent - sandbox.clock.now()).total_seconds()) < 5
    created = sf.Lead.create({"LastName": "Dated", "Company": "Acme"})["id"]
    stamp = sf.Lead.get(created)["SystemModstamp"]
    assert stamp[:10] == sandbox.clock.now().strftime("%Y-%m-%d")
