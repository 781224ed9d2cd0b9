"""R9 groups have a way forward: merge the HubSpot companies that carry one account id into the
one linked to the account, after a preview; the outcome is checked in HubSpot (the merged
company, its associations), in the mirror and after the next sync run."""
from __future__ import annotations

import pytest
from django.urls import reverse

from sandbox.ids import IdFactory
from sync.models import AuditEvent, CompanyLink, DuplicateGroup, HsCompany
from tests.conftest import restore_reference_data
from tests.console.test_merge import messages_of
from tests.engine.conftest import all_hs, associated_companies, set_settings, sync_ok

pytestmark = pytest.mark.django_db(transaction=True)
URL = reverse("sync:merge_companies")
_ids = IdFactory(seed=43)


@pytest.fixture
def group(crm):
    return two_companies(crm)


def two_companies(crm) -> str:
    """Account A; companies 5001 (older: R9 links it) and 5002 carry its id; contact 101 is
    associated with 5002."""
    restore_reference_data()
    set_settings(create_hubspot_contacts=False, create_salesforce_leads=False)
    account = _ids.new("Account")
    crm.load({"salesforce": {"Account": [{"Id": account, "Name": "Acme Corp"}]},
              "hubspot": {"companies": [
                  {"id": "5001", "properties": {"name": "Acme", "domain": "acme.example", "salesforceaccountid": account},
                   "createdAt": "2023-01-01T00:00:00Z"},
                  {"id": "5002", "properties": {"name": "Acme Inc", "salesforceaccountid": account},
                   "createdAt": "2024-01-01T00:00:00Z"}],
                  "contacts": [{"id": "101", "properties": {"email": "ann@example.com", "lastname": "Ann"}}],
                  "associations": [{"from_type": "contacts", "from_id": "101", "to_type": "companies",
                                    "to_id": "5002"}]}})
    sync_ok(full=True)
    assert CompanyLink.objects.get().hs_company.hs_id == "5001"
    return account


def test_the_r9_tab_offers_the_merge_into_the_linked_company(group, operator_client):
    html = operator_client.get(reverse("sync:duplicates"), {"kind": "r9"}).content.decode()
    assert f'href="{URL}?account={group}">Preview merge in HubSpot into 5001…' in html


def test_the_preview_says_what_happens(group, operator_client):
    response = operator_client.get(URL, {"account": group})
    preview, html = response.context["preview"], response.content.decode()
    assert (preview.primary.hs_id, [o.hs_id for o in preview.others]) == ("5001", ["5002"])
    assert "creates a new HubSpot company with a new id" in html and f"({preview.primary.name}, acme.example)" in html
    assert "1 contact and 0 deals associated with the other company in HubSpot" in html   # asked of HubSpot
    assert "The merged company keeps syncing with account" in html and "Warning" not in html
    other = operator_client.get(URL, {"account": group, "primary": "5002"}).content.decode()
    assert "the primary you chose is not the company linked to the account" in other
    assert not AuditEvent.objects.filter(action="record_merged").exists()   # a preview changes nothing


def test_the_merge_is_done_in_hubspot_followed_in_the_mirror_and_audited(group, crm, operator_client, operator, hs):
    primary = crm.hubspot.record("companies", "5001")["properties"]   # the values HubSpot keeps
    response = operator_client.post(URL, {"account": group, "primary": "5001", "confirm": "1"}, follow=True)
    [live] = [c for c in all_hs(hs, "companies", ["name", "domain", "salesforceaccountid"])]
    new_id = live["id"]
    assert messages_of(response) == [f"Merged 1 HubSpot company into 5001; HubSpot's merged company is {new_id}."]
    assert (live["name"], live["domain"], live["salesforceaccountid"]) == (primary["name"], "acme.example", group)
    assert {crm.hubspot.record("companies", i)["mergedInto"] for i in ("5001", "5002")} == {new_id}
    assert associated_companies(hs, "101") == {new_id}                  # the contact moved with it
    survivor = HsCompany.objects.get(hs_id=new_id)
    assert (survivor.archived, survivor.salesforce_account_id, survivor.link.sf_account.sf_id) == (False, group, group)
    assert set(HsCompany.objects.filter(archived=True).values_list("hs_id", "merged_into_id")) == {
        ("5001", new_id), ("5002", new_id)}
    assert not DuplicateGroup.objects.filter(kind="r9").exists()
    [event] = AuditEvent.objects.filter(action="record_merged")
    assert (event.rule, event.actor, event.target_id, event.before) == ("R9", operator, new_id,
                                                                         {"primary": "5001", "merged": ["5002"]})
    sync_ok()   # the next run agrees: one company, still linked, nothing re-created
    assert CompanyLink.objects.get().hs_company.hs_id == new_id
    assert [c["id"] for c in all_hs(hs, "companies", ["name"])] == [new_id]


def test_a_merge_hubspot_refuses_is_reported(group, crm, operator_client, hs):
    hs.crm.companies.basic_api.archive("5002")   # deleted in HubSpot since the last sync
    response = operator_client.post(URL, {"account": group, "primary": "5001", "confirm": "1"}, follow=True)
    [message] = messages_of(response)
    assert message.startswith("The HubSpot merge did not complete: HubSpot refused to merge company 5002")
    assert message.endswith("nothing was merged; not merged: 5002.")
    assert CompanyLink.objects.get().hs_company.hs_id == "5001"
    event = AuditEvent.objects.get(action="record_merged")
    assert event.after["stopped_at"] == "5002" and event.rule == "R9"


def test_the_merge_needs_an_operator_and_a_post(group, viewer_client, crm):
    assert viewer_client.get(URL, {"account": group}).status_code == 403
    assert viewer_client.post(URL, {"account": group, "confirm": "1"}).status_code == 403
    assert crm.hubspot.record("companies", "5002").get("mergedInto") is None


def test_the_preview_says_so_when_hubspot_cannot_count_the_associations(group, crm, operator_client):
    crm.faults.add("500", crm="hubspot", path="/crm/v4/associations/*", count=10)   # past the client's retries
    response = operator_client.get(URL, {"account": group})
    assert response.status_code == 200
    assert "HubSpot could not say how many just now" in response.content.decode()
