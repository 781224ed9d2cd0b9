"""Every page needs a login, every POST needs the CSRF token, and roles gate actions."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from sync.models import AuditEvent, SyncSettings
from tests.conftest import PASSWORD, client_for, project_paths

pytestmark = pytest.mark.django_db

PUBLIC = {"/login/", "/admin/login/"}
SIGNED = {"/hooks/hubspot/"}   # HubSpot's webhooks: a signature, not a login (tests/security/test_crawl.py)


def all_paths():
    return project_paths(admin=False)


def test_the_url_list_is_not_empty():
    paths = all_paths()
    assert {"/", "/duplicates/", "/contacts/", "/runs/", "/audit/", "/settings/"} <= set(paths)


@pytest.mark.parametrize("path", [p for p in all_paths() if p not in PUBLIC | SIGNED])
def test_anonymous_users_are_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/") or response["Location"].startswith("/admin/login/")


def test_htmx_request_with_expired_session_redirects_the_whole_page(client):
    response = client.get("/runs/", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/audit/?q=x"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=/audit/%3Fq%3Dx"


def test_login_page_is_public_and_logs_in(client, viewer):
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": "vera", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("sync:overview")
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused_with_a_message(client, viewer):
    response = client.post("/login/", {"username": "vera", "password": "nope"})
    assert response.status_code == 200
    assert b"didn't match" in response.content


def test_createsuperuser_works_non_interactively(monkeypatch):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com", verbosity=0)
    assert get_user_model().objects.get(username="admin").check_password(PASSWORD)


@pytest.mark.parametrize("path, data", [("/settings/", {"schedule_minutes": "7"}), ("/logout/", {})])
def test_posts_without_csrf_token_are_rejected(admin_user, path, data):
    client = client_for(admin_user, csrf=True)
    response = client.post(path, data)
    assert response.status_code == 403
    assert SyncSettings.load().schedule_minutes == 5
    assert not AuditEvent.objects.exists()


def test_htmx_posts_carry_the_csrf_token_from_the_page(admin_user):
    client = client_for(admin_user, csrf=True)
    page = client.get("/settings/")
    token = page.context["csrf_token"]
    assert f'"X-CSRFToken": "{token}"' in page.content.decode()
    data = {**_settings_form(), "schedule_minutes": "9"}
    response = client.post("/settings/", data, headers={"X-CSRFToken": str(token), "HX-Request": "true"})
    assert response.status_code == 302
    assert SyncSettings.load().schedule_minutes == 9


def test_role_groups_exist():
    assert set(Group.objects.values_list("name", flat=True)) >= {"viewer", "operator", "admin"}


def _settings_form(**overrides):
    s = SyncSettings.load()
    data = {f: getattr(s, f) for f in ("schedule_minutes", "salesforce_api_share", "hubspot_api_share",
                                         "prop_salesforce_contact_id", "prop_salesforce_lead_id",
                                         "prop_salesforce_account_id", "prop_salesforce_opportunity_id")}
    data.update({"create_salesforce_leads": "on", "create_hubspot_contacts": "on"})
    data.update(overrides)
    return data


@pytest.mark.parametrize("who", ["viewer_client", "operator_client"])
def test_only_admins_change_settings(request, who):
    client = request.getfixturevalue(who)
    assert client.get("/settings/").status_code == 200
    response = client.post("/settings/", _settings_form(delete_hubspot_contact_on_delete="on"))
    assert response.status_code == 403
    assert SyncSettings.load().delete_hubspot_contact_on_delete is False
    assert not AuditEvent.objects.exists()


def test_a_user_without_a_role_cannot_change_settings(nobody):
    response = client_for(nobody).post("/settings/", _settings_form(schedule_minutes="3"))
    assert response.status_code == 403


def test_admin_changes_settings_and_it_is_audited(admin_client_, admin_user):
    response = admin_client_.post("/settings/", _settings_form(delete_hubspot_contact_on_delete="on"))
    assert response.status_code == 302
    assert SyncSettings.load().delete_hubspot_contact_on_delete is True
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.actor_name) == ("settings_changed", admin_user, "ada")
    assert event.before == {"delete_hubspot_contact_on_delete": False}
    assert event.after == {"delete_hubspot_contact_on_delete": True}


def test_bad_settings_are_explained_and_change_nothing(admin_client_):
    response = admin_client_.post("/settings/", _settings_form(schedule_minutes="0"))
    assert response.status_code == 400
    assert "Minutes between runs is a whole number from 1 to 1440 minutes." in response.content.decode()
    assert b"schedule_1_to_1440_minutes" not in response.content          # never a constraint's name
    assert SyncSettings.load().schedule_minutes == 5
    assert not AuditEvent.objects.exists()


def test_settings_page_rejects_other_methods(admin_client_):
    assert admin_client_.delete("/settings/").status_code == 405
    assert admin_client_.post("/runs/").status_code == 405


@pytest.mark.parametrize("path, text", [
    ("/", b"No sync has run yet"), ("/runs/", b"No sync has run yet"), ("/audit/", b"No events yet"),
    ("/contacts/", b"No HubSpot contacts mirrored yet"), ("/duplicates/", b"No duplicate groups"),
])
def test_pages_have_honest_empty_states(viewer_client, path, text):
    response = viewer_client.get(path)
    assert response.status_code == 200
    assert text in response.content


def test_every_page_links_the_navigation_and_htmx_from_our_static_files(viewer_client):
    html = viewer_client.get("/").content.decode()
    for label in ("Overview", "Duplicates", "Contacts", "Runs", "Audit", "Settings"):
        assert f">{label}</a>" in html
    assert '<script src="/static/django_htmx/htmx-2.min.js" defer></script>' in html
    assert "unpkg" not in html and "cdn" not in html.lower()


def test_logout_needs_post(viewer_client):
    assert viewer_client.get("/logout/").status_code == 405
    assert viewer_client.post("/logout/").status_code == 302
    assert viewer_client.get("/").status_code == 302


def test_admin_shows_audit_events_read_only(admin_user):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    from sync.audit import record_event
    event = record_event(action="resynced", target_type="hubspot.contact", target_id="1", rule="R6", actor=admin_user)
    assert client.get("/admin/sync/auditevent/").status_code == 200
    assert client.get("/admin/sync/auditevent/add/").status_code == 403
    assert client.post(f"/admin/sync/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    change = client.post(f"/admin/sync/auditevent/{event.pk}/change/", {"message": "edited"})
    assert change.status_code in (200, 403)
    event.refresh_from_db()
    assert event.message == ""
    for model in ("sfperson", "hscontact", "contactlink", "syncrun", "syncsettings", "watermark", "recorderror",
                  "bulkjob", "fieldrule", "duplicategroup",
                  "sfaccount", "sfopportunity", "hscompany", "hsdeal", "companylink", "deallink"):
        assert client.get(f"/admin/sync/{model}/").status_code == 200, model


def test_repeated_failed_logins_are_throttled(client, viewer, settings):
    """After LOGIN_FAILURE_LIMIT failures for one username from one address, even the right
    password is refused with 429 until the cool-off ends; other users are unaffected."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/login/", {"username": "vera", "password": "wrong"}).status_code == 200
    assert client.post("/login/", {"username": "vera", "password": "wrong"}).status_code == 429
    locked = client.post("/login/", {"username": "vera", "password": PASSWORD})
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # still not logged in


def test_a_success_resets_the_failure_count(client, viewer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/login/", {"username": "vera", "password": "wrong"})
    assert client.post("/login/", {"username": "vera", "password": PASSWORD}).status_code == 302
    client.post("/logout/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/login/", {"username": "vera", "password": "wrong"})
    assert client.post("/login/", {"username": "vera", "password": PASSWORD}).status_code == 302


def test_the_admin_changes_nothing_a_service_owns(admin_user):
    """A back door no more: settings, field rules, links and the mirror are read-only in the
    Django admin (edits there wrote no audit event and left django-q2's schedule stale)."""
    from sync.models import FieldRule, SyncSettings

    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    s = SyncSettings.load()
    assert client.get(f"/admin/sync/syncsettings/{s.pk}/change/").status_code == 200   # shown, read-only
    client.post(f"/admin/sync/syncsettings/{s.pk}/change/", {"schedule_minutes": 7})
    assert SyncSettings.load().schedule_minutes == s.schedule_minutes
    rule = FieldRule.objects.first()
    client.post(f"/admin/sync/fieldrule/{rule.pk}/change/", {"rule": "none"})
    assert FieldRule.objects.get(pk=rule.pk).rule == rule.rule
    for model in ("syncsettings", "fieldrule", "contactlink", "companylink", "deallink", "sfperson", "hscontact",
                  "stagemapping", "syncrun", "recorderror", "duplicategroup"):
        assert client.get(f"/admin/sync/{model}/add/").status_code == 403, model
    assert client.get("/admin/auth/user/add/").status_code == 200   # people and their roles stay editable
