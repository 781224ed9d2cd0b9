"""Company and deal pages with their Salesforce Sync card: the linked account / opportunity and
why, since when, the errors that keep the record from syncing, the timeline and the actions that
apply. The card's facts come from a real sync against the sandbox (HTTP, real clients); the
query-count and access tests use mirror rows made with the ORM."""
from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sandbox.ids import IdFactory
from sync.audit import record_event
from sync.models import (
    CompanyLink,
    DealLink,
    HsCompany,
    HsContact,
    HsDeal,
    RecordError,
    SfAccount,
    SfOpportunity,
    StageMapping,
    SyncRun,
)
from tests.conftest import client_for, page_text, restore_reference_data
from tests.console.conftest import hs_contact, link, sf_id, sf_person
from tests.engine.conftest import all_hs, set_settings, sync_ok

_ids = IdFactory(seed=61)
ROLES = ["viewer", "operator", "admin_user", "nobody"]
RENEWALS = {"id": "777", "label": "Renewals", "displayOrder": 1, "stages": [
    {"id": "7001", "label": "Talking", "displayOrder": 0, "metadata": {"probability": "0.45", "isClosed": "false"}}]}
STAMP = "2024-01-01T00:00:00.000+0000"


def company_url(hs_id: str) -> str:
    return reverse("sync:company", args=[hs_id])


def deal_url(hs_id: str) -> str:
    return reverse("sync:deal", args=[hs_id])


def text(response) -> str:
    """The page's words, without markup, white space collapsed."""
    return page_text(response)


# --- a real sync against the sandbox ------------------------------------------------------------

def make_world(sb) -> dict:
    """Account "Acme Corp" with a Salesforce contact (jo@) and an opportunity; HubSpot companies
    5001 (older) and 5002 both carry the account's id (R9: 5001 is linked, 5002 a duplicate);
    HubSpot contact 101 (jo@) associated with 5001; deal 9001 in the default pipeline (creates an
    opportunity) and deal 9002 in a custom pipeline stage an admin left unmapped. Loaded into the
    sandbox `sb`, then one full sync. Also the browser test's world."""
    restore_reference_data()
    set_settings(create_hubspot_contacts=False, create_salesforce_leads=False)
    StageMapping.objects.create(pipeline_id="777", pipeline_label="Renewals", stage_id="7001", stage_label="Talking",
                                salesforce_stage="", set_by=StageMapping.SetBy.PERSON)
    account, person, opp = _ids.new("Account"), _ids.new("Contact"), _ids.new("Opportunity")
    sb.load({
        "salesforce": {
            "Account": [{"Id": account, "Name": "Acme Corp"}],
            "Contact": [{"Id": person, "FirstName": "Jo", "LastName": "Lee", "Email": "jo@example.com",
                         "AccountId": account, "LastModifiedDate": STAMP, "CreatedDate": STAMP}],
            "Opportunity": [{"Id": opp, "Name": "Acme renewal", "StageName": "Closed Won", "CloseDate": "2025-03-01",
                             "Amount": 5000, "AccountId": account}]},
        "hubspot": {
            "pipelines": [RENEWALS],
            "companies": [
                {"id": "5001", "properties": {"name": "Acme", "salesforceaccountid": account},
                 "createdAt": "2023-01-01T00:00:00Z"},
                {"id": "5002", "properties": {"name": "Acme Inc", "salesforceaccountid": account},
                 "createdAt": "2024-01-01T00:00:00Z"}],
            "contacts": [{"id": "101", "properties": {"email": "jo@example.com", "firstname": "Jo", "lastname": "Lee"}}],
            "associations": [{"from_type": "contacts", "from_id": "101", "to_type": "companies", "to_id": "5001"}],
            "deals": [
                {"id": "9001", "properties": {"dealname": "Acme pilot", "amount": "100", "pipeline": "default",
                                              "dealstage": "contractsent"}},
                {"id": "9002", "properties": {"dealname": "Renewal", "pipeline": "777", "dealstage": "7001"}}]}})
    run = sync_ok(full=True)
    from_opp = DealLink.objects.get(sf_opportunity__sf_id=opp).hs_deal
    return {"account": account, "person": person, "opp": opp, "run": run, "from_opp": from_opp.hs_id}


@pytest.fixture
def world(crm, transactional_db):
    return make_world(crm)


def test_the_company_card_shows_the_account_why_since_and_the_r9_duplicate(world, operator_client, viewer_client):
    link = CompanyLink.objects.get()
    assert link.hs_company.hs_id == "5001"
    response = operator_client.get(company_url("5001"))
    assert response.status_code == 200 and b"<html" in response.content
    html, words = response.content.decode(), text(response)
    assert f'/{world["account"]}">{world["account"]}</a> Acme Corp' in html        # into Salesforce (sf_url)
    assert "R9 · matched by account id: the company carries the account's id" in words
    assert f"since {link.since:%Y-%m-%d %H:%M} UTC" in words
    assert '<span class="tag ok">Synced</span>' in html
    # R9: the other company with the account id, and the way forward.
    assert f'href="{company_url("5002")}">Acme Inc</a>' in html
    assert f'href="{reverse("sync:merge_companies")}?account={world["account"]}">Preview merge in HubSpot…</a>' in html
    assert "Preview merge in HubSpot" not in viewer_client.get(company_url("5001")).content.decode()
    # Its contact and the deal made from the account's opportunity, linking to their pages.
    assert f'href="{reverse("sync:contact", args=["101"])}">Jo Lee</a>' in html and "associated" in words
    assert f'href="{deal_url(world["from_opp"])}">Acme renewal</a>' in html
    # The timeline in words: the R9 link, no Python dicts.
    assert "Its Salesforce account id" in words and '<span class="tag"><a class="rule" href="/rules/#r9"' in html
    assert f"Salesforce account: {world['account']}" in words and "{'" not in html
    assert "?object=hubspot.company&amp;target=5001" in html


def test_the_duplicate_company_says_why_it_is_not_synced(world, operator_client):
    response = operator_client.get(company_url("5002"))
    words = text(response)
    assert "Not synced" in words
    assert (f"Account {world['account']} syncs with company 5001 (Acme); this company carries the same account id, "
            "an R9 duplicate: merge it into that one in HubSpot.") in words
    assert f'href="{company_url("5001")}">Acme</a>' in response.content.decode()
    assert "Preview merge in HubSpot…" in words


def test_the_deal_card_of_a_deal_that_created_its_opportunity(world, viewer_client, sf):
    made = DealLink.objects.get(hs_deal__hs_id="9001")
    [opp] = sf.query(f"SELECT Id, StageName FROM Opportunity WHERE Id = '{made.sf_opportunity.sf_id}'")["records"]
    response = viewer_client.get(deal_url("9001"))
    html, words = response.content.decode(), text(response)
    assert f'/{opp["Id"]}">{opp["Id"]}</a> Acme pilot' in html
    assert "R11 · the opportunity was created from this deal" in words
    assert f"since {made.since:%Y-%m-%d %H:%M} UTC" in words
    assert "Salesforce stage Negotiation/Review" in words and f"Opportunity's stage now {opp['StageName']}" in words
    assert f"Opportunity {opp['Id']} was created from this deal." in words       # the timeline
    assert "Created from a new HubSpot deal." in words                          # the opportunity's own event
    assert "No associated company." in words                                      # HubSpot's pull names none


def test_the_deal_made_from_an_opportunity_is_given_the_company_of_its_account(world, viewer_client, hs):
    [deal] = [d for d in all_hs(hs, "deals", ["dealname"]) if d["id"] == world["from_opp"]]
    response = viewer_client.get(deal_url(deal["id"]))
    html, words = response.content.decode(), text(response)
    assert "R11 · this deal was created from the opportunity" in words
    assert f'href="{company_url("5001")}">Acme</a>' in html and "(HubSpot company 5001)" in words
    assert f"Associated with company 5001, which syncs with its opportunity's account {world['account']}." in words
    assert f"Linked to Salesforce account {world['account']} Acme Corp" in words
    assert "Salesforce stage Closed Won" in words
    # A deal whose company the sync does not know yet shows the account's, and says so.
    HsDeal.objects.filter(hs_id=deal["id"]).update(company_id="")
    words = text(viewer_client.get(deal_url(deal["id"])))
    assert "Acme (HubSpot company 5001, through the opportunity's account)" in words


def test_a_deal_in_an_unmapped_stage_says_so_and_links_admins_to_the_mapping(world, admin_client_, operator_client):
    [error] = RecordError.objects.filter(record_id="9002")
    assert error.code == "UNMAPPED_STAGE"
    response = admin_client_.get(deal_url("9002"))
    html, words = response.content.decode(), text(response)
    assert "Not synced" in words and "not mapped" in words
    assert "Why not Its stage is not mapped to a Salesforce opportunity stage, so no opportunity is created" in words
    assert "Errors that keep it from syncing" in words and "Picklists and mapping" in words
    assert error.message in words
    assert f'href="{reverse("sync:run", args=[world["run"].pk])}">Run {world["run"].pk}</a>' in html
    assert f'href="{reverse("sync:settings")}#stages">Map the stage in Settings…</a>' in html
    assert "Stage Talking of pipeline Renewals has no Salesforce opportunity stage" in words
    other = operator_client.get(deal_url("9002")).content.decode()
    assert "Map the stage in Settings…" not in other and "An admin maps it on the" in other


def test_the_contact_page_links_to_its_company(world, viewer_client):
    html = viewer_client.get(reverse("sync:contact", args=["101"])).content.decode()
    assert f'<a href="{company_url("5001")}">Acme</a>' in html


def test_the_run_page_links_company_and_deal_errors_to_their_pages(world, viewer_client):
    run = world["run"]
    RecordError.objects.create(run=run, crm="hubspot", object_type="companies", record_id="5002", operation="field sync",
                               message="Field sync to HubSpot company 5002: HubSpot refused it.")
    RecordError.objects.create(run=run, crm="hubspot", object_type="contact", record_id="101",
                               operation="update Salesforce id", message="Not a company.")
    html = viewer_client.get(reverse("sync:run", args=[run.pk])).content.decode()
    assert f'<a href="{deal_url("9002")}">9002</a>' in html
    assert f'<a href="{company_url("5002")}">5002</a>' in html
    assert '<td class="mono">101</td>' in html


# --- access, 404, queries (mirror rows made with the ORM) ---------------------------------------

@pytest.fixture
def records(db):
    """A company linked to an account, with one contact and one deal linked to an opportunity."""
    account = SfAccount.objects.create(sf_id=sf_id("Account"), name="Globex")
    company = HsCompany.objects.create(hs_id="7001", name="Globex", salesforce_account_id=account.sf_id)
    CompanyLink.objects.create(hs_company=company, sf_account=account, chosen_by="R10")
    deal = HsDeal.objects.create(hs_id="8001", name="Globex deal", stage="qualifiedtobuy", company_id=company.hs_id)
    opp = SfOpportunity.objects.create(sf_id=sf_id("Opportunity"), name="Globex deal", account_id=account.sf_id,
                                       stage_name="Qualification")
    DealLink.objects.create(hs_deal=deal, sf_opportunity=opp, origin="existing")
    contact = hs_contact("ann@globex.example", primary_company_id=company.hs_id)
    link(contact, sf_person("ann@globex.example", account_id=account.sf_id))
    return company, deal, account, opp


@pytest.mark.parametrize("role", ROLES)
def test_both_pages_answer_every_role(request, records, role):
    client = client_for(request.getfixturevalue(role))
    company, deal, _, _ = records
    for url in (company_url(company.hs_id), deal_url(deal.hs_id)):
        response = client.get(url)
        assert response.status_code == 200, (role, url)
        assert b"Salesforce Sync" in response.content


def test_anonymous_users_log_in_first_and_posts_are_refused(client, viewer_client, records):
    company, deal, _, _ = records
    for url in (company_url(company.hs_id), deal_url(deal.hs_id)):
        assert client.get(url)["Location"] == f"/login/?next={url}"
        assert viewer_client.post(url).status_code == 405


def test_unknown_ids_get_the_products_404(viewer_client):
    for url in (company_url("404404"), deal_url("404404")):
        response = viewer_client.get(url)
        assert response.status_code == 404 and b"Page not found" in response.content


def test_the_orm_records_read_as_a_person_would(viewer_client, records):
    company, deal, account, opp = records
    words = text(viewer_client.get(company_url(company.hs_id)))
    assert "R10 · followed its contact" in words and "Globex deal" in words and "ann@globex.example" in words
    words = text(viewer_client.get(deal_url(deal.hs_id)))
    assert "R11 · linked by the opportunity id the deal carries" in words
    assert f"Globex (HubSpot company {company.hs_id})" in words and "through the opportunity's account" not in words
    assert "Salesforce stage Qualification" in words


def _queries(client, url: str) -> int:
    client.get(url)   # the session and role lookups warm up the same way for both counts
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def _more(company: HsCompany, deal: HsDeal, account: SfAccount, n: int) -> None:
    run = SyncRun.objects.create(status="succeeded")
    for i in range(n):
        c = hs_contact(f"p{i}@globex.example", primary_company_id=company.hs_id)
        link(c, sf_person(f"p{i}@globex.example", account_id=account.sf_id))
        d = HsDeal.objects.create(hs_id=f"88{i:02}", name=f"Deal {i}", company_id=company.hs_id, stage="closedwon")
        DealLink.objects.create(hs_deal=d, sf_opportunity=SfOpportunity.objects.create(sf_id=sf_id("Opportunity")),
                                origin="existing")
        HsCompany.objects.create(hs_id=f"77{i:02}", name=f"Dup {i}", salesforce_account_id=account.sf_id)
        for kind, hs_id in (("companies", company.hs_id), ("deals", deal.hs_id)):
            RecordError.objects.create(run=run, crm="hubspot", object_type=kind, record_id=hs_id, operation="field sync",
                                       message=f"Refused {i}.")
            record_event(action="field_changed", target_type=f"hubspot.{'company' if kind == 'companies' else 'deal'}",
                         target_id=hs_id, before={"name": f"old {i}"}, after={"name": f"new {i}"}, message="Changed.")


def test_each_page_takes_a_fixed_number_of_queries(operator_client, records):
    company, deal, account, _ = records
    few = (_queries(operator_client, company_url(company.hs_id)), _queries(operator_client, deal_url(deal.hs_id)))
    _more(company, deal, account, 12)
    html = operator_client.get(company_url(company.hs_id)).content.decode()
    assert len(re.findall(r'href="/contacts/\d+/"', html)) == 13 and len(re.findall(r'href="/deals/\d+/"', html)) == 13
    assert "Dup 11" in html
    assert "Refused 11." in html and "name: old 11 → new 11" in html
    many = (_queries(operator_client, company_url(company.hs_id)), _queries(operator_client, deal_url(deal.hs_id)))
    assert many == few


def test_an_unlinked_company_and_deal_say_why(viewer_client, db):
    HsCompany.objects.create(hs_id="6001", name="Lonely")
    HsCompany.objects.create(hs_id="6002", name="Gone", archived=True, merged_into_id="6003")
    HsDeal.objects.create(hs_id="6101", name="No stage")
    assert "It carries no Salesforce account id (R9)" in text(viewer_client.get(company_url("6001")))
    assert "Merged in HubSpot into company 6003." in text(viewer_client.get(company_url("6002")))
    assert "It has no deal stage" in text(viewer_client.get(deal_url("6101")))


def test_an_error_already_retried_or_resolved_is_not_shown(viewer_client, records):
    company, deal, account, _ = records
    run = SyncRun.objects.create(status="succeeded")
    RecordError.objects.create(run=run, crm="salesforce", object_type="Account", record_id=account.sf_id,
                               operation="field sync", code="STRING_TOO_LONG", message="Name too long for Salesforce.")
    RecordError.objects.create(run=run, crm="hubspot", object_type="companies", record_id=company.hs_id,
                               operation="field sync", message="Old.", retried_at=run.created_at)
    RecordError.objects.create(run=run, crm="hubspot", object_type="companies", record_id=company.hs_id,
                               operation="field sync", message="Fixed.", resolved_at=run.created_at)
    RecordError.objects.create(run=run, crm="hubspot", object_type="contacts", record_id=company.hs_id,
                               operation="field sync", message="A contact's, same id.")
    words = text(viewer_client.get(company_url(company.hs_id)))
    assert "Name too long for Salesforce. A value is longer than the Salesforce field allows" in words  # advice added
    assert "Old." not in words and "Fixed." not in words and "A contact's, same id." not in words


def test_a_hubspot_contact_with_the_same_id_is_not_the_company(viewer_client, records):
    company, _, _, _ = records
    HsContact.objects.create(hs_id=company.hs_id, email="same@example.com")
    record_event(action="link_created", target_type="hubspot.contact", target_id=company.hs_id, message="Contact's.")
    assert "Contact's." not in text(viewer_client.get(company_url(company.hs_id)))


def test_a_company_with_many_contacts_lists_the_first_of_both_kinds(operator_client, records):
    """Contacts come by their HubSpot company (R10) or through their Salesforce contact's account,
    deals by their company or their opportunity's account: one bounded list of the first of
    either, and the page says when there are more."""
    from sync.record_queries import MEMBERS

    company, deal, account, _ = records
    through_account = hs_contact("first@globex.example")   # found through the account only, before the others
    link(through_account, sf_person("first@globex.example", account_id=account.sf_id))
    for i in range(MEMBERS):   # associated in HubSpot only
        hs_contact(f"h{i}@globex.example", primary_company_id=company.hs_id)
    html = operator_client.get(company_url(company.hs_id)).content.decode()
    contacts = re.findall(r'href="/contacts/(\d+)/"', html)
    assert len(contacts) == MEMBERS and through_account.hs_id in contacts
    assert f"Showing the first {MEMBERS}." in text(operator_client.get(company_url(company.hs_id)))
