"""Sync errors by type in a real browser: a real sync against the sandbox leaves records that
Salesforce refused; the admin finds them from the overview, opens their type in place, retries
them (a real run writes them again) and exports the list."""
from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from sync import services
from sync.engine.cycle import run_cycle
from sync.models import RecordError, SyncRun
from tests.conftest import restore_reference_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def refused(crm_sandbox, django_user_model):
    """Two HubSpot contacts whose emails HubSpot took and Salesforce calls invalid, one that syncs."""
    restore_reference_data()
    crm_sandbox.sandbox.load({"hubspot": {"contacts": [
        {"id": "101", "properties": {"email": "bad(paren)@example.com", "lastname": "Paren"}},
        {"id": "102", "properties": {"email": "bad[square]@example.com", "lastname": "Dots"}},
        {"id": "103", "properties": {"email": "fine@example.com", "lastname": "Fine"}}]}})
    run = run_cycle(services.request_sync(full=True, actor=None, enqueue=False).pk)
    assert run.status == "succeeded", run.error
    errors = list(RecordError.objects.filter(run=run).order_by("record_id"))
    assert [(e.record_id, e.family, e.code) for e in errors] == [
        ("101", "values", "INVALID_EMAIL_ADDRESS"), ("102", "values", "INVALID_EMAIL_ADDRESS")]
    user = django_user_model.objects.create_user("olga", "olga@example.com", PASSWORD)
    user.groups.add(Group.objects.get(name="operator"))
    return run


def login(page, live_server):
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_find_open_retry_and_export_sync_errors(refused, live_server, page, tasks_inline):
    login(page, live_server)
    card = page.locator("a.stat-card").filter(has_text="Sync errors, by type")
    expect(card.locator(".stat")).to_have_text("2")
    card.click()
    expect(page.get_by_role("heading", name="Sync errors by type")).to_be_visible()

    # The family's card opens its list in place (htmx), and the address follows.
    values = page.locator("a.stat-card").filter(has_text="Too long or invalid values")
    expect(values).to_contain_text("2 errors on 2 records")
    values.click()
    expect(page).to_have_url(f"{live_server.url}/errors/?family=values")
    expect(page.locator("#error-list h2")).to_have_text("Too long or invalid values (2)")
    row = page.locator("#error-list tbody tr").filter(has_text="bad(paren)@example.com")
    expect(row).to_contain_text("invalid email address")
    expect(row).to_contain_text("correct it in HubSpot")
    expect(row.get_by_role("link", name="101")).to_have_attribute("href", "/contacts/101/")
    expect(page.locator("#error-list")).to_contain_text("Showing 1–2 of 2")

    # The CSV is the list shown.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export errors").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert sorted(r["record"] for r in rows) == ["101", "102"] and {r["code"] for r in rows} == {"INVALID_EMAIL_ADDRESS"}

    # Select all, then retry: a new run writes both records again; Salesforce refuses them again.
    page.get_by_role("link", name="Select all on this page").click()
    expect(page.locator("input[name=ids]:checked")).to_have_count(2)
    page.get_by_role("button", name="Retry selected").click()
    expect(page.locator(".messages")).to_contain_text("queued to retry 2 errors on 2 records")
    retry = SyncRun.objects.order_by("-pk").first()
    assert retry.pk != refused.pk and retry.status == "succeeded", retry.error
    assert retry.requested_by.get_username() == "olga"
    assert sorted(RecordError.objects.filter(run=retry).values_list("record_id", flat=True)) == ["101", "102"]
    expect(page.get_by_role("heading", name=f"Run {retry.pk} · Succeeded")).to_be_visible()
    expect(page.get_by_role("heading", name="Records that failed (2)")).to_be_visible()

    # Back on the page: the records are retried, each with its error of the new run too.
    page.goto(f"{live_server.url}/errors/?family=values")
    expect(page.locator("#error-list")).to_contain_text(f"Run {retry.pk}")
    expect(page.locator("a.stat-card").filter(has_text="Too long")).to_contain_text("4 errors on 2 records")
