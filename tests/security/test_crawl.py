"""Every URL, crawled as an anonymous user and as each role: login is required everywhere,
forbidden actions are refused and change nothing, every POST needs the CSRF token, and no page
ever answers 500."""
from __future__ import annotations

import pytest
from django.apps import apps
from django.test import Client

from sync.models import BulkJob, HsCompany, HsContact, HsDeal, SyncRun
from tests.conftest import client_for, project_paths

pytestmark = pytest.mark.django_db

PUBLIC = {"/login/"}
# Called by HubSpot, not a person: no login or CSRF token, HubSpot's v3 signature instead
# (tests/console/test_webhook_endpoint.py; here: unsigned, it is refused and changes nothing).
SIGNED = {"/hooks/hubspot/"}
# What each role may POST to; everything else must be refused (403) for that role.
ALLOWED_POSTS = {
    "viewer": {"/logout/"},
    "nobody": {"/logout/"},
    "operator": {"/logout/", "/sync/", "/contacts/resync/", "/contacts/101/resync/", "/duplicates/merge/",
                 "/duplicates/merge-hubspot/", "/duplicates/convert/", "/duplicates/merge-companies/",
                 "/runs/1/retry/", "/errors/retry/", "/errors/resync/", "/duplicates/dismiss/",
                 "/dismissals/1/undo/", "/duplicates/possible/find/", "/duplicates/possible/resync/",
                 "/merges/1/undo/"},
}


def _routes() -> list[str]:
    return [p for p in project_paths(admin=False) if p != "/admin/"]  # the admin: its own staff checks


ROUTES = _routes()


@pytest.fixture
def world(admin_user):
    """One of each thing a URL can name."""
    HsContact.objects.create(hs_id="101", email="ann@example.com", primary_company_id="101")
    HsCompany.objects.create(hs_id="101", name="Acme")
    HsDeal.objects.create(hs_id="101", name="Acme deal", company_id="101", stage="closedwon")
    run = SyncRun.objects.create(pk=1, status="failed")
    BulkJob.objects.create(pk=1, kind="resync", requested_by=admin_user, targets=[], total=0)
    return run


def _counts() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in apps.get_app_config("sync").get_models()}


def test_the_crawl_covers_every_page():
    assert len(ROUTES) >= 18
    assert "<" not in "".join(ROUTES), ROUTES


@pytest.mark.parametrize("secret", ["", "set"])
def test_the_signed_url_refuses_an_unsigned_request_and_changes_nothing(world, settings, secret):
    settings.HUBSPOT_WEBHOOK_SECRET = secret
    for path in SIGNED:
        before = _counts()
        assert Client().get(path).status_code == 405
        response = Client(enforce_csrf_checks=True).post(path, b"[]", content_type="application/json")
        assert response.status_code == (401 if secret else 503), (path, response.status_code)
        assert _counts() == before, path


@pytest.mark.parametrize("path", [r for r in ROUTES if r not in PUBLIC | SIGNED])
def test_anonymous_users_are_sent_to_login_for_every_method(world, path):
    client = Client()
    for method in ("get", "post"):
        response = getattr(client, method)(path)
        assert response.status_code == 302, (method, path, response.status_code)
        assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("role", ["viewer", "operator", "admin_user", "nobody"])
def test_every_page_answers_each_role_without_a_server_error(request, world, role):
    client = client_for(request.getfixturevalue(role))
    for path in ROUTES:
        if path in ("/logout/",) or path.endswith(".csv"):
            continue
        response = client.get(path)
        assert response.status_code in (200, 302, 403, 404, 405), (role, path, response.status_code)


@pytest.mark.parametrize("role", ["viewer", "operator", "nobody"])
def test_forbidden_posts_are_refused_and_change_nothing(request, world, role):
    client = client_for(request.getfixturevalue(role))
    allowed = ALLOWED_POSTS.get(role, set())
    for path in ROUTES:
        if path in allowed or path in PUBLIC | SIGNED:
            continue
        before = _counts()
        response = client.post(path, {"schedule_minutes": "1", "ids": ["101"], "all": "1", "key": "x",
                                      "confirm": "1"})
        assert response.status_code in (403, 405), (role, path, response.status_code)
        assert _counts() == before, (role, path)


def test_every_post_needs_the_csrf_token(world, admin_user):
    client = client_for(admin_user, csrf=True)
    for path in ROUTES:
        if path in PUBLIC | SIGNED:
            continue
        before = _counts()
        response = client.post(path, {"schedule_minutes": "1"})
        assert response.status_code in (403, 405), (path, response.status_code)
        if response.status_code == 403:
            assert b"CSRF" in response.content
        assert _counts() == before, path
