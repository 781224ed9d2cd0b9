"""The settings page: read-only for viewers and operators, changed (and audited) by admins, field
rules audited one event per rule, bad values refused whole, and Test connection against the
sandbox without ever showing a credential."""
from __future__ import annotations

import pytest
from django.urls import reverse

from sandbox.salesforce.schema import SYSTEM_USER_ID
from sync.models import AuditEvent, FieldRule, SyncSettings
from tests.conftest import client_for
from tests.console.conftest import HX

pytestmark = pytest.mark.django_db
URL = reverse("sync:settings")


def form_data(rules: dict[str, str] | None = None, **overrides) -> dict:
    """What the page posts: the settings as they are, the field-rule formset, and `overrides`."""
    s = SyncSettings.load()
    data = {f: getattr(s, f) for f in ("schedule_minutes", "live_poll_minutes", "salesforce_api_share", "hubspot_api_share",
                                       "prop_salesforce_contact_id", "prop_salesforce_lead_id",
                                       "prop_salesforce_account_id", "prop_salesforce_opportunity_id")}
    for flag in ("delete_hubspot_contact_on_delete", "create_salesforce_leads", "create_hubspot_contacts"):
        if getattr(s, flag):
            data[flag] = "on"
    if rules is not None:
        all_rules = list(FieldRule.objects.all())
        data.update({"rules-TOTAL_FORMS": len(all_rules), "rules-INITIAL_FORMS": len(all_rules),
                     "rules-MIN_NUM_FORMS": 0, "rules-MAX_NUM_FORMS": 1000})
        for i, r in enumerate(all_rules):
            data[f"rules-{i}-id"] = r.pk
            data[f"rules-{i}-rule"] = rules.get(f"{r.object}.{r.hubspot_property}", r.rule)
    for name, value in overrides.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def rule(key: str) -> str:
    obj, prop = key.split(".")
    return FieldRule.objects.get(object=obj, hubspot_property=prop).rule


def test_it_needs_login(client):
    assert client.get(URL)["Location"].startswith("/login/")


def test_it_rejects_other_methods(admin_client_):
    assert admin_client_.put(URL).status_code == 405
    assert admin_client_.delete(URL).status_code == 405


@pytest.mark.parametrize("who", ["viewer_client", "operator_client"])
def test_viewers_and_operators_see_the_settings_read_only(request, who):
    response = request.getfixturevalue(who).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "changing them needs the admin role" in html
    assert html.count('<fieldset class="card" disabled>') == 4
    assert "Save settings" not in html and "Admins can test the connections." in html
    assert "Test HubSpot" not in html


def test_admins_see_an_editable_form_with_the_field_rules(admin_client_):
    html = admin_client_.get(URL).content.decode()
    assert " disabled>" not in html and "Save settings" in html and "Test HubSpot" in html
    assert 'name="rules-TOTAL_FORMS"' in html and "Job title" in html
    assert "SALESFORCE_ACCESS_TOKEN" not in html and "sandbox" not in html


@pytest.mark.parametrize("who", ["viewer_client", "operator_client"])
def test_only_admins_change_settings(request, who):
    response = request.getfixturevalue(who).post(URL, form_data({"contact.phone": "none"}, schedule_minutes="9"))
    assert response.status_code == 403
    assert b"Only admins can change the sync settings." in response.content
    assert SyncSettings.load().schedule_minutes == 5 and rule("contact.phone") == "prefer_sf"
    assert not AuditEvent.objects.exists()


def test_an_admin_change_is_saved_and_audited_once(admin_client_, admin_user):
    response = admin_client_.post(URL, form_data(schedule_minutes="15", hubspot_api_share="30",
                                                 create_hubspot_contacts=None))
    assert response.status_code == 302 and response["Location"] == URL
    s = SyncSettings.load()
    assert (s.schedule_minutes, s.hubspot_api_share, s.create_hubspot_contacts) == (15, 30, False)
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.target_type) == ("settings_changed", admin_user, "settings")
    assert event.before == {"create_hubspot_contacts": True, "hubspot_api_share": 50, "schedule_minutes": 5}
    assert event.after == {"create_hubspot_contacts": False, "hubspot_api_share": 30, "schedule_minutes": 15}
    assert b"Settings saved." in admin_client_.get(URL).content


def test_saving_unchanged_settings_writes_no_event(admin_client_):
    assert admin_client_.post(URL, form_data({})).status_code == 302
    assert not AuditEvent.objects.exists()


def test_field_rule_changes_are_audited_one_event_per_rule(admin_client_, admin_user):
    response = admin_client_.post(URL, form_data({"contact.phone": "none", "deal.amount": "always_sf"}))
    assert response.status_code == 302
    assert rule("contact.phone") == "none" and rule("deal.amount") == "always_sf"
    assert rule("contact.firstname") == "prefer_sf"
    events = {e.target_id: e for e in AuditEvent.objects.all()}
    assert set(events) == {"field:contact.phone", "field:deal.amount"}
    phone = events["field:contact.phone"]
    assert (phone.actor, phone.before, phone.after) == (admin_user, {"rule": "Prefer Salesforce unless blank"},
                                                        {"rule": "Don't sync"})
    assert phone.target_repr == "Field rule: Phone"


@pytest.mark.parametrize("bad", [{"schedule_minutes": "0"}, {"schedule_minutes": "1441"},
                                 {"salesforce_api_share": "101"}, {"hubspot_api_share": "-1"},
                                 {"schedule_minutes": "soon"}, {"prop_salesforce_contact_id": ""}])
def test_bad_values_are_refused_with_400_and_change_nothing(admin_client_, bad):
    response = admin_client_.post(URL, form_data({"contact.phone": "none"}, delete_hubspot_contact_on_delete="on",
                                                 **bad))
    assert response.status_code == 400
    assert b'class="errorlist' in response.content
    s = SyncSettings.load()
    assert (s.schedule_minutes, s.delete_hubspot_contact_on_delete) == (5, False)
    assert rule("contact.phone") == "prefer_sf"
    assert not AuditEvent.objects.exists()


def test_a_bad_field_rule_is_refused_and_changes_nothing(admin_client_):
    response = admin_client_.post(URL, form_data({"contact.phone": "sometimes"}, schedule_minutes="9"))
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content
    assert SyncSettings.load().schedule_minutes == 5 and rule("contact.phone") == "prefer_sf"
    assert not AuditEvent.objects.exists()


def test_settings_changes_need_the_csrf_token(admin_user):
    assert client_for(admin_user, csrf=True).post(URL, form_data(schedule_minutes="9")).status_code == 403
    assert SyncSettings.load().schedule_minutes == 5


# --- Test connection (sandbox) ------------------------------------------------------------------

def conn_url(crm: str) -> str:
    return reverse("sync:test_connection", args=[crm])


def test_hubspot_connection_reports_the_portal_and_usage(crm, admin_client_):
    response = admin_client_.post(conn_url("hubspot"), headers=HX)
    assert response.status_code == 200 and b"<html" not in response.content
    html = response.content.decode()
    assert html.startswith('<p class="ok-text" role="status">HubSpot: connected to portal ')
    assert "(US/Eastern); 1 of 625,000 daily API calls used." in html


def test_salesforce_connection_reports_the_org_and_usage(crm, admin_client_):
    response = admin_client_.post(conn_url("salesforce"), headers=HX)
    html = response.content.decode()
    host = crm.url.split("://")[1]
    assert f"Salesforce: connected to {host} (API 59.0); 1 of 100,000 daily API requests used." in html
    assert 'class="ok-text"' in html
    # who crmsync is in Salesforce, and what that means for reading its own writes back
    assert f"Logged in as sandbox@example.com ({SYSTEM_USER_ID}): the records it writes are read back once" in html


def test_salesforce_connection_warns_when_own_writes_are_skipped(crm, admin_client_, settings):
    settings.SALESFORCE_SKIP_OWN_WRITES = True
    html = admin_client_.post(conn_url("salesforce"), headers=HX).content.decode()
    assert ("its own changes are left out of incremental pulls (SALESFORCE_SKIP_OWN_WRITES): nobody else may log in "
            "as this user.") in html


def test_without_htmx_the_result_is_a_message_on_the_settings_page(crm, admin_client_):
    response = admin_client_.post(conn_url("hubspot"), follow=True)
    assert response.redirect_chain == [(URL, 302)]
    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith("HubSpot: connected to portal ")


@pytest.mark.parametrize("which, expected", [
    ("hubspot", "HubSpot: HubSpot 401 INVALID_AUTHENTICATION: Authentication credentials not found."),
    ("salesforce", "Salesforce: Salesforce session invalid: Session expired or invalid"),
])
def test_a_wrong_token_reports_the_exact_error_without_the_token(crm, admin_client_, settings, which, expected):
    settings.HUBSPOT_ACCESS_TOKEN = "pat-na1-very-secret-0001"
    settings.SALESFORCE_ACCESS_TOKEN = "00Dxx!very-secret-0002"
    response = admin_client_.post(conn_url(which), headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith('<p class="error" role="status">') and expected in html
    assert "very-secret" not in html
    page = admin_client_.post(conn_url(which), follow=True)
    assert "very-secret" not in page.content.decode() and expected in page.content.decode()


def test_test_connection_is_for_admins_only(crm, client, viewer_client, operator_client, admin_user, admin_client_):
    assert client.post(conn_url("hubspot"))["Location"].startswith("/login/")
    assert viewer_client.post(conn_url("hubspot")).status_code == 403
    assert operator_client.post(conn_url("hubspot")).status_code == 403
    assert admin_client_.get(conn_url("hubspot")).status_code == 405
    assert client_for(admin_user, csrf=True).post(conn_url("hubspot")).status_code == 403
    assert admin_client_.post(conn_url("pipedrive")).status_code == 404
    assert crm.stats()["hubspot"]["calls"] == 0


def test_an_htmx_request_with_an_expired_session_is_sent_to_login(client):
    response = client.post(conn_url("hubspot"), headers={**HX, "HX-Current-URL": "http://testserver/settings/"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=/settings/"
    response = client.get(reverse("sync:duplicates"), {"q": "x"}, headers=HX)
    assert response["HX-Redirect"] == "/login/?next=/duplicates/%3Fq%3Dx"
    assert b"<html" not in response.content


def test_a_value_out_of_bounds_is_refused_in_words_at_its_field(admin_client_):
    response = admin_client_.post(URL, form_data(schedule_minutes="0"))
    html = response.content.decode()
    assert response.status_code == 400
    assert "Minutes between runs is a whole number from 1 to 1440 minutes." in html
    assert "syncsettings_schedule_1_to_1440_minutes" not in html and "Constraint" not in html


def test_the_inputs_carry_the_real_bounds(admin_client_):
    html = admin_client_.get(URL).content.decode()
    assert 'name="schedule_minutes"' in html and 'min="1"' in html and 'max="1440"' in html
    assert 'max="100"' in html


@pytest.mark.parametrize("name", ["bad name <script>x</script>", "SalesforceContactId", "1abc"])
def test_a_malformed_property_name_is_refused_in_words(admin_client_, name):
    response = admin_client_.post(URL, form_data(prop_salesforce_contact_id=name))
    html = response.content.decode()
    assert response.status_code == 400
    assert "is not a HubSpot property name" in html and "<script>x" not in html
    assert SyncSettings.load().prop_salesforce_contact_id == "salesforcecontactid"


def test_a_property_hubspot_does_not_have_is_refused(crm, admin_client_):
    response = admin_client_.post(URL, form_data(prop_salesforce_contact_id="no_such_property"))
    assert response.status_code == 400
    assert "HubSpot has no contact property named &#x27;no_such_property&#x27;" in response.content.decode()
    assert SyncSettings.load().prop_salesforce_contact_id == "salesforcecontactid"
    assert not AuditEvent.objects.exists()


def test_a_property_hubspot_has_is_saved(crm, admin_client_):
    assert admin_client_.post(URL, form_data(prop_salesforce_lead_id="salesforceownerid")).status_code == 302
    assert SyncSettings.load().prop_salesforce_lead_id == "salesforceownerid"


def test_test_connection_names_a_missing_property(crm, admin_client_):
    SyncSettings.objects.filter(pk=1).update(prop_salesforce_account_id="gone_property")
    response = admin_client_.post(reverse("sync:test_connection", args=["hubspot"]), headers=HX)
    html = response.content.decode()
    assert "HubSpot has no company property named &#x27;gone_property&#x27;" in html


# --- Live sync ----------------------------------------------------------------------------------
def test_the_live_poll_says_its_daily_cost_before_it_is_saved_and_saving_schedules_it(admin_client_, admin_user):
    from django_q.models import Schedule

    from sync.models import SyncRun

    SyncRun.objects.create(status="succeeded", snapshot={"sf_daily_limit": 100_000})   # what the org reported
    html = admin_client_.get(URL).content.decode()
    assert "Every minute: 5,760 Salesforce API calls a day when nothing changes, 5.8 % of the org&#x27;s 100,000" in html
    assert "Every 5 minutes: 1,152 Salesforce API calls a day" in html
    assert admin_client_.post(URL, form_data(live_poll_minutes="5")).status_code == 302
    assert SyncSettings.load().live_poll_minutes == 5
    event = AuditEvent.objects.get(action="settings_changed")
    assert (event.before, event.after, event.actor) == ({"live_poll_minutes": 0}, {"live_poll_minutes": 5}, admin_user)
    poll = Schedule.objects.get(name="crmsync: live poll")
    assert (poll.func, poll.minutes) == ("sync.tasks.live_poll", 5)
    assert admin_client_.post(URL, form_data(live_poll_minutes="0")).status_code == 302
    assert not Schedule.objects.filter(name="crmsync: live poll").exists()


def test_a_live_poll_interval_that_is_not_offered_is_refused(admin_client_):
    response = admin_client_.post(URL, form_data(live_poll_minutes="3"))
    assert response.status_code == 400 and SyncSettings.load().live_poll_minutes == 0
    assert "Select a valid choice" in response.content.decode()


def test_the_live_sync_section_says_what_to_enter_in_hubspot_and_what_was_refused(admin_client_, settings):
    from sync import services

    settings.HUBSPOT_WEBHOOK_SECRET = ""
    html = admin_client_.get(URL).content.decode()
    assert "Set <code>HUBSPOT_WEBHOOK_SECRET</code>" in html and "http://testserver/hooks/hubspot/" in html
    settings.HUBSPOT_WEBHOOK_SECRET = "s3cret-value"
    settings.HUBSPOT_WEBHOOK_URL = "https://crm.example.com/hooks/hubspot/"
    services.note_webhook_refused("401: The signature does not match this request and the configured secret.")
    html = admin_client_.get(URL).content.decode()
    assert "https://crm.example.com/hooks/hubspot/" in html and "Last refused request" in html
    assert "signature does not match" in html and "s3cret-value" not in html


# --- Inclusion list ---------------------------------------------------------------------------------
def _hubspot_list(crm, name="Sync to Salesforce", members=("101",), object_type_id="0-1") -> str:
    crm.hubspot.load_records("contacts", [{"id": m, "properties": {"email": f"c{m}@example.com"}} for m in members])
    return crm.hubspot.lists.load({"name": name, "objectTypeId": object_type_id,
                                   "members": list(members)}, crm.hubspot.now_ms())["listId"]


def test_choosing_an_inclusion_list_checks_it_with_hubspot_keeps_its_name_and_is_audited(crm, admin_client_, admin_user):
    list_id = _hubspot_list(crm)
    assert admin_client_.post(URL, form_data(inclusion_list_id=f" {list_id} ")).status_code == 302
    s = SyncSettings.load()
    assert (s.inclusion_list_id, s.inclusion_list_name) == (list_id, "Sync to Salesforce")
    event = AuditEvent.objects.get(action="settings_changed")
    assert event.before == {"inclusion_list_id": "", "inclusion_list_name": ""} and event.actor == admin_user
    assert event.after == {"inclusion_list_id": list_id, "inclusion_list_name": "Sync to Salesforce"}
    html = admin_client_.get(URL).content.decode()
    assert "Sync to Salesforce" in html and "not yet: the next run reads it" in html
    # A post that does not carry the field (the command line, an older form) leaves the list alone.
    assert admin_client_.post(URL, form_data(schedule_minutes=7)).status_code == 302
    assert SyncSettings.load().inclusion_list_id == list_id
    assert admin_client_.post(URL, form_data(inclusion_list_id="")).status_code == 302   # cleared: everyone syncs
    assert (SyncSettings.load().inclusion_list_id, SyncSettings.load().inclusion_list_name) == ("", "")


@pytest.mark.parametrize("value, words", [("abc", "is not a HubSpot list ID"),
                                          ("424242", "HubSpot has no list 424242"),
                                          ("company", "is not a contact list")])
def test_a_bad_inclusion_list_is_refused_in_words_and_nothing_is_saved(crm, admin_client_, value, words):
    if value == "company":
        value = _hubspot_list(crm, "Companies", members=(), object_type_id="0-2")
    response = admin_client_.post(URL, form_data(inclusion_list_id=value))
    assert response.status_code == 400 and words in response.content.decode()
    assert SyncSettings.load().inclusion_list_id == ""
    assert not AuditEvent.objects.exists()


def test_the_settings_page_spells_out_the_inclusion_lists_consequences_and_lists_hubspots_lists(crm, admin_client_):
    _hubspot_list(crm, "Customers", members=("101", "102"))
    html = admin_client_.get(URL).content.decode()
    assert 'id="inclusion"' in html and "neither created in nor updated to Salesforce" in html
    assert "new Salesforce leads and contacts still come into HubSpot" in html
    assert 'hx-get="/settings/hubspot-lists/"' in html
    picker = admin_client_.get(reverse("sync:hubspot_lists")).content.decode()
    assert '<datalist id="hubspot-lists">' in picker and "Customers (static, 2 contacts)" in picker


def test_the_list_picker_says_when_hubspot_cannot_be_asked(crm, admin_client_, settings):
    settings.HUBSPOT_ACCESS_TOKEN = "wrong-token"
    picker = admin_client_.get(reverse("sync:hubspot_lists")).content.decode()
    assert "Could not read HubSpot&#x27;s lists" in picker and "type the list&#x27;s ID instead" in picker
    assert "wrong-token" not in picker


def test_the_last_read_and_a_problem_reading_the_list_are_shown(crm, admin_client_):
    from django.utils import timezone

    from sync.models import InclusionListState

    SyncSettings.objects.filter(pk=1).update(inclusion_list_id="77", inclusion_list_name="Chosen")
    InclusionListState.objects.update_or_create(pk=1, defaults=dict(
        list_id="77", members=600, outside=12, read_at=timezone.now(), problem="HubSpot list 77 could not be read",
        problem_at=timezone.now()))
    html = admin_client_.get(URL).content.decode()
    assert "600 members; 12 mirrored contacts outside it" in html
    assert "this list's 600 members: 3 requests a run" in html
    assert "HubSpot list 77 could not be read" in html
