"""Every way forward from a duplicate group, in a real browser, checked in the CRMs afterwards: the
HubSpot merge (R7) keeps the contact the page promised, and another pick warns first; the
Salesforce merge keeps the values picked field by field; a lead is converted into its contact (R2);
companies sharing an account id are merged (R9). Then the audit export is exactly the filtered
page."""
from __future__ import annotations

import csv
import io
import re

import pytest
from django.contrib.auth.models import Group
from hubspot import HubSpot
from playwright.sync_api import expect

from sandbox.testing import salesforce_client
from sync.models import ContactLink, LinkStatus
from tests.conftest import restore_reference_data
from tests.console.test_convert import lead_and_contact
from tests.console.test_merge import sandbox_group, sandbox_r7
from tests.console.test_merge_companies import two_companies

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def sb(crm_sandbox, django_user_model):
    restore_reference_data()
    user = django_user_model.objects.create_user("otto", "otto@example.com", PASSWORD)
    user.groups.add(Group.objects.get(name="operator"))
    crm_sandbox.sandbox.url = crm_sandbox.url
    return crm_sandbox.sandbox


def login(page, live_server, path: str):
    page.goto(f"{live_server.url}{path}")
    page.fill("#id_username", "otto")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}{path}")


def test_the_hubspot_merge_keeps_the_contact_the_page_promised(sb, live_server, page):
    person, contacts = sandbox_r7(sb, 2)
    synced = ContactLink.objects.get(status=LinkStatus.SYNCED).hs_contact
    other = next(c for c in contacts if c.hs_id != synced.hs_id)
    login(page, live_server, "/duplicates/?kind=r7")
    page.get_by_role("link", name=f"Preview merge in HubSpot into {synced.hs_id}…").click()
    button = page.get_by_role("button", name=f"Merge 1 contact into {synced.hs_id}")
    expect(button).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    # Picking the other contact warns, in place, and the button says so.
    page.get_by_label(f"HubSpot contact {other.hs_id}", exact=False).check()
    expect(page.get_by_role("alert")).to_contain_text("is not the contact that syncs with")
    expect(page.get_by_role("button", name=f"Merge 1 contact into {other.hs_id}")).to_be_visible()
    page.get_by_label(f"HubSpot contact {synced.hs_id}", exact=False).check()
    expect(page.get_by_role("alert")).to_have_count(0)
    button.click()
    expect(page.locator(".messages")).to_contain_text(f"Merged 1 HubSpot contact(s) into {synced.hs_id};")
    # In HubSpot: the other contact is merged away, and the survivor has the promised contact's values.
    record = sb.hubspot.record("contacts", other.hs_id)
    survivor = record["mergedInto"]
    assert survivor and sb.hubspot.record("contacts", synced.hs_id).get("mergedInto") == survivor
    kept = HubSpot(access_token="sandbox", host=sb.url).crm.contacts.basic_api.get_by_id(
        survivor, properties=["email", "salesforcecontactid"]).properties
    assert (kept["email"], kept["salesforcecontactid"]) == (synced.email, person.sf_id)


def test_the_salesforce_merge_keeps_the_values_picked_field_by_field(sb, live_server, page):
    members = sandbox_group(sb, "ann@example.com", 2, synced=0, values={0: {"title": "CEO"}, 1: {"title": "CTO"}})
    master, other = members[0].sf_id, members[1].sf_id
    login(page, live_server, "/duplicates/?kind=r2")
    page.get_by_role("link", name="Preview merge in Salesforce…").click()
    expect(page.get_by_role("rowheader", name="Title")).to_be_visible()
    expect(page.locator("#what-happens + ul")).not_to_contain_text("Sets title on")
    # The radio itself: once checked, the preview carries a hidden input of the same name and value.
    page.locator(f'input[type=radio][name="keep_Title"][value="{other}"]').check()
    expect(page.locator("#merge-preview")).to_contain_text(f"Sets title on {master} to “CTO” (from {other}; it was “CEO”)")
    page.get_by_role("button", name=f"Merge 1 record into {master}").click()
    expect(page.locator(".messages")).to_contain_text(f"Merged into {master}.")
    sf = salesforce_client(sb.url)
    [row] = sf.query(f"SELECT Title, LastName FROM Contact WHERE Id = '{master}'")["records"]
    assert row["Title"] == "CTO"
    [gone] = sf.query_all(f"SELECT IsDeleted, MasterRecordId FROM Contact WHERE Id = '{other}'",
                          include_deleted=True)["records"]
    assert (gone["IsDeleted"], gone["MasterRecordId"]) == (True, master)


def test_a_lead_is_converted_into_its_contact_and_hubspot_follows(sb, live_server, page, tasks_inline):
    lead, contact, account = lead_and_contact(sb)
    login(page, live_server, "/duplicates/?kind=r2")
    page.get_by_role("link", name="Convert the lead into this contact…").click()
    expect(page.locator("main")).to_contain_text("is converted into contact")
    page.get_by_role("button", name="Convert").click()
    expect(page.locator(".messages")).to_contain_text(f"Converted lead {lead} into contact {contact}.")
    [row] = salesforce_client(sb.url).query(
        f"SELECT IsConverted, ConvertedContactId, ConvertedAccountId FROM Lead WHERE Id = '{lead}'")["records"]
    assert (row["IsConverted"], row["ConvertedContactId"], row["ConvertedAccountId"]) == (True, contact, account)
    # The queued sync ran (tasks inline): HubSpot's contact now names the contact.
    assert HubSpot(access_token="sandbox", host=sb.url).crm.contacts.basic_api.get_by_id(
        "101", properties=["salesforcecontactid"]).properties["salesforcecontactid"] == contact


def test_companies_sharing_an_account_are_merged_into_the_linked_one(sb, live_server, page):
    account = two_companies(sb)
    primary = sb.hubspot.record("companies", "5001")["properties"]   # the values HubSpot keeps
    login(page, live_server, "/duplicates/?kind=r9")
    page.get_by_role("link", name="Preview merge in HubSpot into 5001…").click()
    expect(page.locator("main")).to_contain_text("1 contact and 0 deals associated with the other company")
    page.get_by_role("button", name="Merge 1 company into 5001").click()
    expect(page.locator(".messages")).to_contain_text("into 5001")
    merged = sb.hubspot.record("companies", "5002")
    assert merged.get("mergedInto"), merged
    survivor = HubSpot(access_token="sandbox", host=sb.url).crm.companies.basic_api.get_by_id(
        merged["mergedInto"], properties=["salesforceaccountid", "name"]).properties
    assert (survivor["salesforceaccountid"], survivor["name"]) == (account, primary["name"])


def test_the_audit_export_is_the_filtered_page(sb, live_server, page):
    sandbox_group(sb, "ann@example.com", 2, synced=0)
    login(page, live_server, "/duplicates/?kind=r2")
    page.get_by_role("link", name="Preview merge in Salesforce…").click()
    page.get_by_role("button", name="Merge 1 record into").click()
    expect(page.locator(".messages")).to_contain_text("Merged into")
    page.goto(f"{live_server.url}/audit/")
    page.locator("select[name=rule]").select_option("R5")   # htmx filters in place
    expect(page.locator("#audit-export")).to_have_attribute("href", re.compile(r"rule=R5"))
    expect(page.locator("#audit-rows tbody tr").first).to_be_visible()
    rows_shown = page.locator("#audit-rows tbody tr").count()
    with page.expect_download() as download:
        page.locator("#audit-export").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8-sig").read())))
    assert rows and {r["rule"] for r in rows} == {"R5"} and len(rows) == rows_shown
