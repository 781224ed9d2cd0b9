"""A rule id on a page opens its rule on the Rules page, in a real browser: from a duplicate
group's "currently synced · R3 …" to R3's card, and from the Rules page's index to another rule."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_journeys import demo, login  # noqa: F401 - demo: the demo scenario, synced once

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rule_id_opens_its_rule(demo, live_server, page):  # noqa: F811
    login(page, live_server)
    link = page.locator("section.group a.rule").first
    rule_id = link.inner_text()
    expect(link).to_have_attribute("title", f"{rule_id} – " + link.get_attribute("title").split(" – ", 1)[1])
    link.click()
    expect(page).to_have_url(f"{live_server.url}/rules/#{rule_id.lower()}")
    card = page.locator(f"#{rule_id.lower()}")
    expect(card).to_be_in_viewport()
    expect(card).to_contain_text("Example:")
    page.locator(".rule-index").get_by_role("link", name="R7", exact=True).click()
    expect(page.locator("#r7")).to_be_in_viewport()
    expect(page.locator("#r7 h2")).to_contain_text("Several HubSpot contacts, one Salesforce record")
    page.locator("#r7").get_by_role("link", name="Shared-record groups").click()
    expect(page).to_have_url(f"{live_server.url}/duplicates/?kind=r7")
