"""Settings refused in words, in a real browser: the inputs carry the real bounds (the browser
itself refuses 0 minutes), and a property name HubSpot does not have is refused at its field,
with the sandbox's HubSpot asked on save; nothing is saved or audited."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from sync.models import AuditEvent, SyncSettings
from tests.conftest import restore_reference_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def ada(crm_sandbox, django_user_model):
    restore_reference_data()
    user = django_user_model.objects.create_user("ada", "ada@example.com", PASSWORD)
    user.groups.add(Group.objects.get(name="admin"))
    return user


def test_bad_settings_are_refused_in_words_at_their_field(ada, live_server, page):
    page.goto(f"{live_server.url}/settings/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    minutes = page.locator("input[name=schedule_minutes]")
    expect(minutes).to_have_attribute("min", "1")
    expect(minutes).to_have_attribute("max", "1440")
    minutes.fill("0")
    page.get_by_role("button", name="Save settings").click()
    assert minutes.evaluate("e => e.validity.rangeUnderflow") is True   # the browser refuses it first
    minutes.fill("30")
    page.locator("input[name=prop_salesforce_contact_id]").fill("no_such_property")
    page.get_by_role("button", name="Save settings").click()
    field = page.locator(".field", has=page.locator("input[name=prop_salesforce_contact_id]"))
    expect(field).to_contain_text("HubSpot has no contact property named 'no_such_property'")
    expect(page.locator("main")).not_to_contain_text("Constraint")
    settings = SyncSettings.load()
    assert settings.prop_salesforce_contact_id == "salesforcecontactid" and settings.schedule_minutes != 30
    assert not AuditEvent.objects.filter(action="settings_changed").exists()


def test_the_live_poll_shows_its_cost_in_the_browser_and_saving_it_is_audited(ada, live_server, page, settings):
    settings.HUBSPOT_WEBHOOK_SECRET = "browser-secret"
    page.goto(f"{live_server.url}/settings/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    live = page.locator("#live")
    expect(live).to_contain_text("/hooks/hubspot/")
    expect(live.locator("dd").first).to_have_text("never")
    expect(live).not_to_contain_text("browser-secret")
    poll = page.get_by_label("Live poll of Salesforce")
    expect(poll.locator("option[value='2']")).to_have_text(
        "Every 2 minutes: 2,880 Salesforce API calls a day when nothing changes")
    poll.select_option("2")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("main")).to_contain_text("Settings saved.")
    assert SyncSettings.load().live_poll_minutes == 2
    event = AuditEvent.objects.get(action="settings_changed")
    assert event.after == {"live_poll_minutes": 2}


def test_the_inclusion_list_is_picked_from_hubspots_lists_refused_in_words_and_saved(ada, crm_sandbox, live_server, page):
    hs = crm_sandbox.sandbox.hubspot
    hs.load_records("contacts", [{"id": "101", "properties": {"email": "ann@example.com"}}])
    list_id = hs.lists.load({"name": "Customers", "members": ["101"]}, hs.now_ms())["listId"]
    page.goto(f"{live_server.url}/settings/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    section = page.locator("#inclusion")
    expect(section).to_contain_text("1 contact list in HubSpot")          # the picker, loaded by htmx
    expect(page.locator(f"#hubspot-lists option[value='{list_id}']")).to_have_text("Customers (static, 1 contact)")
    field = page.get_by_label("Inclusion list (HubSpot list ID)")
    field.fill("999999")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#inclusion")).to_contain_text("HubSpot has no list 999999")
    assert SyncSettings.load().inclusion_list_id == ""
    page.get_by_label("Inclusion list (HubSpot list ID)").fill(list_id)
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("main")).to_contain_text("Settings saved.")
    expect(page.locator("#inclusion")).to_contain_text(f"Customers ({list_id})")
    expect(page.locator("#inclusion")).to_contain_text("not yet: the next run reads it")
    assert SyncSettings.load().inclusion_list_name == "Customers"
    assert AuditEvent.objects.get(action="settings_changed").after == {"inclusion_list_id": list_id,
                                                                        "inclusion_list_name": "Customers"}
