"""The Content-Security-Policy holds in a real browser: every page of the demo scenario and each
of its htmx interactions (overview: Sync now and the polled progress card, the budget meter and
the chart; duplicates: search, sort, tabs, the Salesforce and HubSpot merge previews;
contacts: search, filter, paging, Resync in place; the audit search) run without one violation
or script error."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from sync.models import ContactLink, LinkStatus, SyncRun
from tests.browser.test_journeys import PASSWORD, demo, login  # noqa: F401 - demo: the demo scenario, synced once
from tests.conftest import restore_reference_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs in every document before its own scripts; the binding outlives navigations.
LISTENER = """document.addEventListener("securitypolicyviolation", (e) => window.cspViolation(
  `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber} ${e.sample}`));"""


@pytest.fixture
def watched(page):
    """The page, and the list of CSP violations and script errors it reports."""
    problems: list[str] = []
    page.expose_function("cspViolation", lambda text: problems.append(text))
    page.add_init_script(LISTENER)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    return page, problems


def _history_and_budget():
    """Two more finished runs with snapshots: the overview then draws its chart and budget meter."""
    now = timezone.now()
    for i, minutes in enumerate((20, 10)):
        SyncRun.objects.create(status="succeeded", phase="done", started_at=now - timedelta(minutes=minutes, seconds=30),
                               finished_at=now - timedelta(minutes=minutes), sf_api_calls=3000, hs_api_calls=4000,
                               snapshot={"r2_groups": 5 + i, "r7_groups": 2, "r9_groups": 1, "lost_primary": 3,
                                         "sf_daily_limit": 100_000, "hs_daily_limit": 250_000})


def test_the_recorder_sees_a_violation(watched, live_server):
    """The check below is only worth something if a violation would be seen."""
    page, problems = watched
    page.goto(f"{live_server.url}/login/")
    page.evaluate("""document.body.insertAdjacentHTML("beforeend", '<p style="color: red">inline</p>')""")
    for _ in range(50):
        if problems:
            break
        page.wait_for_timeout(100)
    assert any("style-src" in p for p in problems), problems


def test_pages_and_htmx_interactions_keep_to_the_policy(demo, watched, live_server):  # noqa: F811
    page, problems = watched
    _history_and_budget()
    login(page, live_server)

    # Overview: the meter and the chart's legend (SVG, no style attributes), then Sync now (hx-post)
    # and the progress card it swaps in, polled every 2 s.
    page.goto(f"{live_server.url}/")
    expect(page.locator(".meter rect")).to_have_count(2)
    expect(page.locator(".legend svg")).to_have_count(4)
    with page.expect_response(lambda r: "/progress/" in r.url, timeout=10_000):
        page.get_by_role("button", name="Sync now").click()
        expect(page.locator("#run-progress")).to_be_visible()
    assert page.url == f"{live_server.url}/"

    # Duplicates: search as you type, sort, and both merge previews (hx-get on change).
    page.goto(f"{live_server.url}/duplicates/")
    first = page.locator("section.group h2").first.inner_text()
    with page.expect_response(lambda r: "/duplicates/?" in r.url):
        page.fill("input[name=q]", first)
    expect(page.locator("section.group")).to_have_count(1)
    with page.expect_response(lambda r: "sort=-size" in r.url):
        page.select_option("select[name=sort]", "-size")
    page.locator("section.group").first.get_by_role("link", name="Preview merge in Salesforce…").click()
    with page.expect_response(lambda r: "/duplicates/merge/?" in r.url):
        page.locator("input[name=primary]:not(:checked)").first.check()
    expect(page.locator("#what-happens")).to_be_visible()
    page.goto(f"{live_server.url}/duplicates/?kind=r7")
    page.get_by_role("link", name=re.compile("Preview merge in HubSpot")).first.click()
    with page.expect_response(lambda r: "/duplicates/merge-hubspot/?" in r.url and "primary=" in r.url):
        page.locator("input[name=primary]:not(:checked)").first.check()
    expect(page.locator("#what-happens")).to_be_visible()

    # Contacts: search, the status filter, paging, and Resync swapped into its row.
    page.goto(f"{live_server.url}/contacts/")
    with page.expect_response(lambda r: "/contacts/?" in r.url and "after=" in r.url):
        page.get_by_role("link", name="Next →").click()
    with page.expect_response(lambda r: "q=example" in r.url):
        page.fill("input[name=q]", "example")
    page.fill("input[name=q]", "")
    with page.expect_response(lambda r: "status=lost_primary" in r.url):
        page.select_option("select[name=status]", "lost_primary")
    lost = ContactLink.objects.filter(status=LinkStatus.LOST_PRIMARY).select_related("hs_contact") \
        .order_by("hs_contact_id").first()
    row = page.locator(f"#contact-{lost.hs_contact.hs_id}")
    row.get_by_role("button", name="Resync").click()
    expect(page.locator(f"#contact-{lost.hs_contact.hs_id}")).to_contain_text("Synced")
    page.goto(f"{live_server.url}/contacts/{lost.hs_contact.hs_id}/")
    expect(page.locator(".sync-card")).to_be_visible()

    # Audit, runs, settings.
    page.goto(f"{live_server.url}/audit/")
    with page.expect_response(lambda r: "/audit/?" in r.url and "q=R3" in r.url):
        page.fill("input[name=q]", "R3")
    for path in ("/runs/", f"/runs/{SyncRun.objects.order_by('pk').first().pk}/", "/settings/", "/no-such-page/"):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("header.topbar")).to_be_visible()

    # Chrome logs the 404 page's own status as a console error; that one is expected.
    assert [p for p in problems if "status of 404" not in p] == []


def test_the_django_admin_keeps_to_the_policy(watched, live_server, django_user_model, caplog):
    """The admin (people and groups, the read-only audit) is served under the same policy."""
    page, problems = watched
    restore_reference_data()
    root = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    for path in ("/admin/", "/admin/auth/user/", f"/admin/auth/user/{root.pk}/change/", "/admin/auth/group/add/",
                 "/admin/sync/auditevent/"):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("#content")).to_be_visible()
    # The admin's pages name no icon, so the browser asks for /favicon.ico: that 404 (the server's
    # log says which address it was) is the only console line allowed.
    missing = {r.getMessage().partition(": ")[2] for r in caplog.records
               if r.name == "django.request" and r.getMessage().startswith("Not Found")}
    assert missing <= {"/favicon.ico"}, missing
    assert [p for p in problems if not (missing and "status of 404" in p)] == []
