"""The Possible duplicates tab in a real browser: an operator finds the pairs, reads why they are
alike, marks one "not a duplicate" with a reason (gone from the list, shown under "Show
dismissed", undone), and follows a pair of Salesforce records to the merge preview."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from sync import duplicate_actions
from sync.models import AuditEvent, Dismissal
from tests.conftest import restore_reference_data
from tests.console.conftest import hs_contact, sf_person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def otto(django_user_model):
    restore_reference_data()
    user = django_user_model.objects.create_user("otto", "otto@example.com", PASSWORD)
    user.groups.add(Group.objects.get(name="operator"))
    return user


def test_an_operator_dismisses_a_possible_pair_and_undoes_it(otto, live_server, page):
    sf_person("ann.lee@acme.com", object_type="Lead", phone="+1 555 0100", company="Acme", first="Ann", last="Lee")
    hs_contact("alee@acme.com", first="Ann", last="Lee", phone="555-0100")
    a = sf_person("bo.berg@globex.com", first="Bo", last="Berg", phone="555 0199")
    b = sf_person("bberg@globex.com", first="Bo", last="Berg", phone="5550199")
    build = duplicate_actions.request_possible_duplicates(actor=None, enqueue=False)
    duplicate_actions.run_possible_build(build.pk)

    page.goto(f"{live_server.url}/duplicates/?kind=possible")
    page.fill("#id_username", "otto")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#group-total")).to_have_text("2 possible pairs.")
    first = page.locator("section.pair").first
    expect(first).to_contain_text("Same name, same company domain, phone differs by format")
    pair = page.locator("section.pair", has_text="Ann")
    pair.locator("summary", has_text="Not a duplicate").click()
    pair.get_by_label("Why are they not the same?").fill("Mother and daughter, one firm")
    pair.get_by_role("button", name="Mark not a duplicate").click()
    expect(page.locator("main")).to_contain_text("Marked not a duplicate")
    expect(page.locator("#group-total")).to_have_text("1 possible pair.")
    expect(page.locator("section.pair")).not_to_contain_text("Ann")
    page.get_by_label("Show dismissed (“not a duplicate”) only").check()
    expect(page.locator("#group-total")).to_have_text("1 dismissed possible pair.")
    expect(page.locator("section.pair")).to_contain_text("Not a duplicate, said by otto")
    expect(page.locator("section.pair")).to_contain_text("Mother and daughter, one firm")
    page.locator("section.pair").get_by_role("button", name="Undo").click()
    expect(page.locator("main")).to_contain_text("is listed and counted again")
    assert Dismissal.objects.get().undone_by == otto
    assert AuditEvent.objects.filter(action__in=["dismissed", "undismissed"]).count() == 2

    page.goto(f"{live_server.url}/duplicates/?kind=possible")
    page.locator("section.pair", has_text="Berg").get_by_role("link", name="Preview merge in Salesforce…").click()
    expect(page.locator("h1")).to_have_text("Merge in Salesforce: a possible duplicate")
    expect(page.locator("main")).to_contain_text(a.sf_id)
    expect(page.locator("main")).to_contain_text(b.sf_id)
