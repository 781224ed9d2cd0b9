"""The product's own 403, 404 and 500 pages: in the console's look, with a way back to the
overview; the 403 page says which role is needed; the 500 page needs neither the database nor
the request."""
from __future__ import annotations

import pytest
from django.contrib.auth.decorators import login_not_required
from django.test import Client, RequestFactory
from django.urls import include, path, reverse
from django.views import defaults

from tests.conftest import client_for


@login_not_required
def _boom(request):
    raise RuntimeError("boom")


urlpatterns = [path("boom/", _boom), path("", include("crmsync.urls"))]

BACK = f'<a class="button" href="{reverse("sync:overview")}">Back to the overview</a>'


def branded(response) -> str:
    html = response.content.decode()
    assert '<header class="topbar">' in html and "crmsync/app.css" in html, html[:500]
    assert BACK in html
    return html


@pytest.mark.django_db
def test_a_wrong_url_shows_the_products_404(viewer_client):
    response = viewer_client.get("/no-such-page/")
    assert response.status_code == 404
    html = branded(response)
    assert "<h1 id=\"error-title\">Page not found</h1>" in html and "<code>/no-such-page/</code>" in html
    assert 'aria-label="Main"' in html  # the logged-in navigation is there
    assert "URLconf" not in html  # never Django's debug listing of the URL patterns


@pytest.mark.django_db
def test_an_unknown_record_is_the_same_404(viewer_client):
    response = viewer_client.get(reverse("sync:run", args=[999]))
    assert response.status_code == 404
    assert "Page not found" in branded(response)


@pytest.mark.django_db
def test_anonymous_users_get_the_404_without_the_navigation(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert 'aria-label="Main"' not in branded(response)


@pytest.mark.django_db
def test_the_403_page_names_the_missing_role_in_words(viewer_client):
    response = viewer_client.post(reverse("sync:sync_now"))
    assert response.status_code == 403
    html = branded(response)
    assert "Your account can't do this" in html
    assert "This needs the <strong>operator</strong> role: operators sync now, resync contacts and merge duplicates." in html
    assert "Your account (vera) has the <strong>viewer</strong> role: viewers read every page." in html
    assert "add you to the operator group" in html


@pytest.mark.django_db
def test_the_403_page_for_an_admin_action(operator_client):
    html = branded(operator_client.post(reverse("sync:test_connection", args=["hubspot"])))
    assert "This needs the <strong>admin</strong> role: admins change the sync settings and test the connections." in html
    assert "has the <strong>operator</strong> role" in html


@pytest.mark.django_db
def test_the_403_page_for_an_account_without_a_role(nobody):
    html = branded(client_for(nobody).post(reverse("sync:bulk_resync")))
    assert "Your account (nina) has no role yet." in html


@pytest.mark.django_db
def test_a_form_without_its_csrf_token_gets_the_branded_403(viewer):
    response = client_for(viewer, csrf=True).post(reverse("logout"))
    assert response.status_code == 403
    assert "This form has expired" in branded(response)


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_a_server_error_shows_the_products_500():
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    html = branded(response)
    assert "Something went wrong" in html and "boom" not in html and "Traceback" not in html


def test_the_500_page_needs_neither_the_database_nor_the_request():
    """No django_db mark: any query would fail this test. Django renders 500.html with no
    context at all; a request it could use is not passed in."""
    response = defaults.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = branded(response)
    assert "Something went wrong" in html and 'aria-label="Main"' not in html
