"""Bulk API 2.0 query jobs over HTTP with the real simple-salesforce client: the job's states,
CSV pages cut by maxRecords and followed by locator, the response headers, the errors a real org
answers with, and every call counted against the daily allocation."""
from __future__ import annotations

import csv
import io

import pytest
from simple_salesforce.bulk2 import Operation
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

FIELDS = "Id, LastName, Email, IsDeleted, MasterRecordId, SystemModstamp"


def load_leads(sandbox, n, **extra):
    sandbox.load_records(("salesforce", "Lead", {"LastName": f"L{i:05d}", "Company": "Acme",
                                                 "Email": f"p{i}@example.com", **extra}) for i in range(n))


def rows(page: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(page)))


def base(sf) -> str:
    return f"https://{sf.sf_instance}/services/data/v{sf.sf_version}"


def http(sf, method, path, *, version=None, **kw):
    """A plain request through the client's own session (for status codes and headers)."""
    url = f"https://{sf.sf_instance}/services/data/v{version or sf.sf_version}/{path}"
    return sf.session.request(method, url, headers={"Authorization": f"Bearer {sf.session_id}",
                                                    "Content-Type": "application/json"}, **kw)


def test_query_all_pages_through_the_client(sf, sandbox):
    load_leads(sandbox, 25)
    pages = list(sf.bulk2.Lead.query_all(f"SELECT {FIELDS} FROM Lead", wait=0, max_records=10))
    assert len(pages) == 3
    assert all(p.startswith('"Id","LastName","Email","IsDeleted","MasterRecordId","SystemModstamp"\n') for p in pages)
    got = [r for p in pages for r in rows(p)]
    assert [len(rows(p)) for p in pages] == [10, 10, 5]
    assert len({r["Id"] for r in got}) == 25
    assert [r["LastName"] for r in got] != sorted(r["LastName"] for r in got)   # no ORDER BY → no order
    first = got[0]
    assert first["IsDeleted"] == "false" and first["MasterRecordId"] == ""
    assert first["SystemModstamp"].endswith(".000Z") and len(first["SystemModstamp"]) == 24


def test_job_states_poll_by_poll(sf, sandbox):
    load_leads(sandbox, 3)
    client = sf.bulk2.Lead._client
    job = client.create_job(Operation.query_all, "SELECT Id FROM Lead")
    assert job["state"] == "UploadComplete" and job["operation"] == "queryAll" and job["object"] == "Lead"
    assert job["id"].startswith("750") and len(job["id"]) == 18
    assert job["apiVersion"] == 59.0 and job["contentType"] == "CSV" and job["jobType"] == "V2Query"
    assert job["createdDate"].endswith("+0000")
    with pytest.raises(SalesforceGeneralError) as e:          # not complete yet: 412
        client.get_query_results(job["id"])
    assert e.value.status == 412 and e.value.content[0]["errorCode"] == "JOB_NOT_COMPLETE"
    assert "Current status: UPLOAD_COMPLETE" in e.value.content[0]["message"]
    assert client.get_job(job["id"], True)["state"] == "InProgress"
    done = client.get_job(job["id"], True)
    assert done["state"] == "JobComplete" and done["numberRecordsProcessed"] == 3
    assert client.get_job(job["id"], True)["state"] == "JobComplete"      # stays so
    assert len(rows(client.get_query_results(job["id"])["records"])) == 3


def test_more_polls_when_the_org_is_slow(sf, sandbox):
    sandbox.salesforce.bulk2.polls_to_complete = 5
    load_leads(sandbox, 2)
    pages = list(sf.bulk2.Lead.query_all("SELECT Id FROM Lead", wait=0))
    assert len(rows(pages[0])) == 2
    assert sandbox.stats()["salesforce"]["endpoints"]["GET jobs/query/{id}"] == 5


def test_result_headers_and_locators(sf, sandbox):
    load_leads(sandbox, 5)
    client = sf.bulk2.Lead._client
    job_id = client.create_job(Operation.query, "SELECT Id, LastName FROM Lead")["id"]
    client.wait_for_job(job_id, True, 0)
    first = http(sf, "GET", f"jobs/query/{job_id}/results", params={"maxRecords": 2})
    assert first.status_code == 200 and first.headers["Content-Type"].startswith("text/csv")
    assert first.headers["Sforce-NumberOfRecords"] == "2"
    assert first.headers["Sforce-Limit-Info"].startswith("api-usage=")
    locator = first.headers["Sforce-Locator"]
    assert locator not in ("", "null")
    again = http(sf, "GET", f"jobs/query/{job_id}/results", params={"maxRecords": 2, "locator": locator})
    same = http(sf, "GET", f"jobs/query/{job_id}/results", params={"maxRecords": 2, "locator": locator})
    assert again.text == same.text and again.headers["Sforce-Locator"] == same.headers["Sforce-Locator"]
    last = http(sf, "GET", f"jobs/query/{job_id}/results",
                params={"maxRecords": 2, "locator": again.headers["Sforce-Locator"]})
    assert last.headers["Sforce-NumberOfRecords"] == "1" and last.headers["Sforce-Locator"] == "null"
    ids = [r["Id"] for resp in (first, again, last) for r in rows(resp.text)]
    assert len(set(ids)) == 5
    bad = http(sf, "GET", f"jobs/query/{job_id}/results", params={"locator": "not a locator"})
    assert bad.status_code == 400
    assert http(sf, "GET", f"jobs/query/{job_id}/results", params={"maxRecords": 0}).status_code == 400


def test_query_all_sees_deleted_and_merged_rows_query_does_not(sf, sandbox):
    keep = sf.Lead.create({"LastName": "Keep", "Company": "A", "Email": "k@example.com"})["id"]
    gone = sf.Lead.create({"LastName": "Gone", "Company": "A", "Email": "g@example.com"})["id"]
    merged = sf.Lead.create({"LastName": "Merged", "Company": "A", "Email": "k@example.com"})["id"]
    sf.Lead.delete(gone)
    with sandbox.lock:
        from sandbox.salesforce.schema import SOBJECTS
        sandbox.salesforce.store.delete(SOBJECTS["Lead"], sandbox.salesforce.store.get(merged),
                                        sandbox.salesforce.now(), master=keep)
    every = {r["Id"]: r for p in sf.bulk2.Lead.query_all(f"SELECT {FIELDS} FROM Lead", wait=0) for r in rows(p)}
    live = {r["Id"] for p in sf.bulk2.Lead.query(f"SELECT {FIELDS} FROM Lead", wait=0) for r in rows(p)}
    assert live == {keep}
    assert set(every) == {keep, gone, merged}
    assert every[gone]["IsDeleted"] == "true" and every[gone]["MasterRecordId"] == ""
    assert every[merged]["IsDeleted"] == "true" and every[merged]["MasterRecordId"] == keep


def test_results_are_a_snapshot_at_completion(sf, sandbox):
    load_leads(sandbox, 2)
    client = sf.bulk2.Lead._client
    job_id = client.create_job(Operation.query, "SELECT Id, LastName FROM Lead")["id"]
    sf.Lead.create({"LastName": "BeforeDone", "Company": "A"})    # the job has not run yet: it is in
    client.wait_for_job(job_id, True, 0)
    sf.Lead.create({"LastName": "AfterDone", "Company": "A"})     # completed: not in
    names = {r["LastName"] for r in rows(client.get_query_results(job_id)["records"])}
    assert names == {"L00000", "L00001", "BeforeDone"}


def test_csv_quoting_nulls_and_parent_fields(sf, sandbox):
    acct = sf.Account.create({"Name": 'Acme, "the" company'})["id"]
    sf.Contact.create({"LastName": "Line\nBreak", "AccountId": acct, "Email": "c@example.com"})
    sf.Contact.create({"LastName": "NoAccount"})
    page = next(sf.bulk2.Contact.query("SELECT Id, LastName, Email, Account.Name FROM Contact", wait=0))
    assert page.splitlines()[0] == '"Id","LastName","Email","Account.Name"'
    got = {r["LastName"]: r for r in rows(page)}
    assert got["Line\nBreak"]["Account.Name"] == 'Acme, "the" company'
    assert got["NoAccount"]["Email"] == "" and got["NoAccount"]["Account.Name"] == ""


@pytest.mark.parametrize("soql", ["SELECT COUNT() FROM Lead", "SELECT LeadSource FROM Lead GROUP BY LeadSource",
                                  "SELECT Id FROM Lead LIMIT 5 OFFSET 2", "SELECT FIELDS(ALL) FROM Lead LIMIT 200"])
def test_unsupported_soql_is_refused_at_create(sf, sandbox, soql):
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.bulk2.Lead._client.create_job(Operation.query, soql)
    assert e.value.status == 400 and e.value.content[0]["errorCode"] == "INVALIDJOB"
    assert sandbox.salesforce.bulk2.jobs == {}


def test_bad_soql_is_refused_as_rest_refuses_it(sf):
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.bulk2.Lead._client.create_job(Operation.query, "SELECT Nope FROM Lead")
    assert e.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_bad_job_bodies(sf):
    assert http(sf, "POST", "jobs/query", data='{"operation": "insert", "query": "SELECT Id FROM Lead"}'
                ).status_code == 400
    assert http(sf, "POST", "jobs/query", data='{"operation": "query"}').status_code == 400
    assert http(sf, "POST", "jobs/query", data="not json").status_code == 400
    assert http(sf, "GET", "jobs/query/750Sb0000000999").status_code == 404
    assert http(sf, "POST", "jobs/query", version="46.0",
                data='{"operation": "query", "query": "SELECT Id FROM Lead"}').status_code == 404


def test_results_in_another_api_version_are_409(sf, sandbox):
    load_leads(sandbox, 1)
    client = sf.bulk2.Lead._client
    job_id = client.create_job(Operation.query, "SELECT Id FROM Lead")["id"]
    client.wait_for_job(job_id, True, 0)
    assert http(sf, "GET", f"jobs/query/{job_id}/results", version="60.0").status_code == 409
    assert http(sf, "GET", f"jobs/query/{job_id}/results").status_code == 200


def test_abort_and_delete(sf, sandbox):
    client = sf.bulk2.Lead._client
    job_id = client.create_job(Operation.query, "SELECT Id FROM Lead")["id"]
    assert client.abort_job(job_id, True)["state"] == "Aborted"
    with pytest.raises(Exception, match="Job failure"):
        client.wait_for_job(job_id, True, 0)
    with pytest.raises(SalesforceGeneralError) as e:
        client.get_query_results(job_id)
    assert e.value.status == 412
    with pytest.raises(SalesforceMalformedRequest):     # an aborted job cannot be aborted again
        client.abort_job(job_id, True)
    assert http(sf, "DELETE", f"jobs/query/{job_id}").status_code == 204
    with pytest.raises(SalesforceResourceNotFound):
        client.get_job(job_id, True)


def test_every_call_counts_against_the_allocation(sf, sandbox):
    load_leads(sandbox, 25)
    list(sf.bulk2.Lead.query_all("SELECT Id FROM Lead", wait=0, max_records=10))
    # create + 2 polls + 3 result pages
    assert sandbox.stats()["salesforce"]["endpoints"] == {"POST jobs/query": 1, "GET jobs/query/{id}": 2,
                                                          "GET jobs/query/{id}/results": 3}
    assert sandbox.salesforce.api_used == 6
    sandbox.salesforce.daily_limit = 8
    client = sf.bulk2.Lead._client
    job_id = client.create_job(Operation.query, "SELECT Id FROM Lead")["id"]     # 7
    client.get_job(job_id, True)                                                 # 8
    with pytest.raises(SalesforceRefusedRequest) as e:
        client.get_job(job_id, True)
    assert e.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
