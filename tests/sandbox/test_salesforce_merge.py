"""SOAP merge() posted raw with requests (as the connector will), and what queryAll/deleted show after."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

NS = {"s": "urn:partner.soap.sforce.com", "env": "http://schemas.xmlsoap.org/soap/envelope/"}


def envelope(session: str, sobject: str, master: str, victims: list[str], fields: str = "") -> str:
    ids = "".join(f"<urn:recordToMergeIds>{v}</urn:recordToMergeIds>" for v in victims)
    return f"""<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
      xmlns:urn="urn:partner.soap.sforce.com" xmlns:urn1="urn:sobject.partner.soap.sforce.com">
      <soapenv:Header><urn:SessionHeader><urn:sessionId>{session}</urn:sessionId></urn:SessionHeader></soapenv:Header>
      <soapenv:Body><urn:merge><urn:request>
        <urn:masterRecord><urn1:type>{sobject}</urn1:type><urn1:Id>{master}</urn1:Id>{fields}</urn:masterRecord>{ids}
      </urn:request></urn:merge></soapenv:Body></soapenv:Envelope>"""


def merge(sf, sobject, master, victims, session="sandbox", fields=""):
    return sf.session.post(f"https://{sf.sf_instance}/services/Soap/u/59.0",
                           data=envelope(session, sobject, master, victims, fields),
                           headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "merge"})


def fault_code(resp) -> str:
    root = ET.fromstring(resp.content)
    return root.find(".//faultcode").text


def test_merge_contacts(sf, sandbox):
    acc = sf.Account.create({"Name": "Acme"})["id"]
    master = sf.Contact.create({"LastName": "Keep", "Email": "d@x.com"})["id"]
    v1 = sf.Contact.create({"LastName": "Dup1", "Email": "d@x.com", "AccountId": acc})["id"]
    v2 = sf.Contact.create({"LastName": "Dup2", "Email": "D@x.com"})["id"]
    before = sf.Contact.get(master)["SystemModstamp"]
    start = datetime.now(timezone.utc) - timedelta(minutes=2)
    sandbox.advance_clock(10)
    r = merge(sf, "Contact", master, [v1, v2], fields="<urn1:Title>Boss</urn1:Title>")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/xml")
    result = ET.fromstring(r.content).find(".//s:mergeResponse/s:result", NS)
    assert result.find("s:id", NS).text == master
    assert [e.text for e in result.findall("s:mergedRecordIds", NS)] == [v1, v2]
    assert result.find("s:success", NS).text == "true"
    assert ET.fromstring(r.content).find(".//s:LimitInfoHeader/s:limitInfo/s:type", NS).text == "API REQUESTS"
    got = sf.Contact.get(master)
    assert got["Title"] == "Boss" and got["SystemModstamp"] > before and got["LastModifiedDate"] > before
    rows = sf.query_all("SELECT Id, IsDeleted, MasterRecordId, AccountId FROM Contact WHERE Email = 'd@x.com' "
                        "ORDER BY LastName", include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"], r["MasterRecordId"]) for r in rows] == [
        (v1, True, master), (v2, True, master), (master, False, None)]
    assert rows[0]["AccountId"] == acc   # a merged-away contact keeps its account
    assert sf.query("SELECT COUNT() FROM Contact WHERE Email = 'd@x.com'")["totalSize"] == 1
    sandbox.advance_clock(120)   # Get Deleted covers whole minutes that have passed
    deleted = sf.Contact.deleted(start, datetime.now(timezone.utc) + timedelta(minutes=5))
    assert {d["id"] for d in deleted["deletedRecords"]} == {v1, v2}


def test_merge_accounts_reparents_children(sf):
    keep = sf.Account.create({"Name": "Keep"})["id"]
    lose = sf.Account.create({"Name": "Lose"})["id"]
    c = sf.Contact.create({"LastName": "C", "AccountId": lose})["id"]
    o = sf.Opportunity.create({"Name": "O", "StageName": "Prospecting", "CloseDate": "2024-01-01",
                               "AccountId": lose})["id"]
    r = merge(sf, "Account", keep, [lose])
    result = ET.fromstring(r.content).find(".//s:result", NS)
    assert sorted(e.text for e in result.findall("s:updatedRelatedIds", NS)) == sorted([c, o])
    assert sf.Contact.get(c)["AccountId"] == keep and sf.Opportunity.get(o)["AccountId"] == keep


def test_merge_result_errors_for_deleted_victim(sf):
    master = sf.Lead.create({"LastName": "M", "Company": "X"})["id"]
    gone = sf.Lead.create({"LastName": "G", "Company": "X"})["id"]
    sf.Lead.delete(gone)
    r = merge(sf, "Lead", master, [gone])
    assert r.status_code == 200
    result = ET.fromstring(r.content).find(".//s:result", NS)
    assert result.find("s:success", NS).text == "false"
    assert result.find("s:errors/s:statusCode", NS).text == "ENTITY_IS_DELETED"


def test_merge_faults(sf):
    a = sf.Lead.create({"LastName": "A", "Company": "X"})["id"]
    b = sf.Lead.create({"LastName": "B", "Company": "X"})["id"]
    c = sf.Contact.create({"LastName": "C"})["id"]
    r = merge(sf, "Lead", a, [b], session="bogus")
    assert r.status_code == 500 and fault_code(r) == "sf:INVALID_SESSION_ID"
    assert "Invalid Session ID found in SessionHeader" in ET.fromstring(r.content).find(".//faultstring").text
    assert fault_code(merge(sf, "Lead", a, [c])) == "sf:INVALID_ID_FIELD"         # mixed types
    assert fault_code(merge(sf, "Lead", a, ["garbage"])) == "sf:INVALID_ID_FIELD"
    assert fault_code(merge(sf, "Lead", a, [b, b, b])) == "sf:LIMIT_EXCEEDED"      # master + at most 2
    o = sf.Opportunity.create({"Name": "O", "StageName": "Prospecting", "CloseDate": "2024-01-01"})["id"]
    assert fault_code(merge(sf, "Opportunity", o, [o])) == "sf:INVALID_TYPE_FOR_OPERATION"
    # nothing was merged by any faulted call
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 2
