"""In a real browser: from a contact's page to its company's page (the Salesforce account it
syncs with, and why), on to one of the company's deals (its opportunity), after a real sync
against the sandbox."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from tests.console.test_records import make_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def world(crm_sandbox, django_user_model):
    data = make_world(crm_sandbox.sandbox)
    user = django_user_model.objects.create_user("vera", "vera@example.com", PASSWORD)
    user.groups.add(Group.objects.get(name="viewer"))
    return data


def test_from_a_contact_to_its_company_and_on_to_a_deal(world, live_server, page, settings):
    page.goto(f"{live_server.url}/contacts/101/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/contacts/101/")
    page.fill("#id_username", "vera")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")

    # The contact's company line leads to the company's page.
    page.locator("section", has=page.get_by_role("heading", name="Company")).get_by_role("link", name="Acme").click()
    expect(page).to_have_url(f"{live_server.url}/companies/5001/")
    card = page.locator(".sync-card")
    expect(card.locator(".status-line")).to_have_text("Synced")
    expect(card.locator("#synced-id")).to_contain_text(f"{world['account']} Acme Corp")
    expect(card).to_contain_text("R9 · matched by account id")
    expect(card.locator("#r9-duplicates")).to_contain_text("Acme Inc")
    expect(card).not_to_contain_text("Preview merge in HubSpot")   # a viewer: no merge
    expect(card.locator("#synced-id a")).to_have_attribute("href", f"{settings.SALESFORCE_INSTANCE_URL}/{world['account']}")

    # On to the deal the account's opportunity made.
    page.get_by_role("link", name="Acme renewal").click()
    expect(page).to_have_url(f"{live_server.url}/deals/{world['from_opp']}/")
    expect(page.locator("h1")).to_have_text("Acme renewal")
    expect(page.locator("#synced-id")).to_contain_text(world["opp"])
    expect(page.locator(".sync-card")).to_contain_text("R11 · this deal was created from the opportunity")
    expect(page.locator("#mapped-stage")).to_contain_text("Closed Won")
    page.get_by_role("link", name="← Acme").click()
    expect(page).to_have_url(f"{live_server.url}/companies/5001/")

