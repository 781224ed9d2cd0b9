"""Pages that wait on a task worker, in a real browser: the overview's progress card says when no
worker is running and stops saying it once a cluster's heartbeat appears; the bulk Resync job
page says it while pending, then lists the contacts it resynced (with the record each now syncs
with) and those it could not (with why) as the job runs, by its own polling."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from sync.models import BulkJob, BulkJobItem, HsContact, SyncRun
from tests.conftest import restore_reference_data
from tests.workers import heartbeat, isolate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-staple"
NO_WORKER = "No task worker is running: start python manage.py qcluster"


@pytest.fixture
def olga(django_user_model, settings, tmp_path):
    isolate(settings, tmp_path)  # no cluster, whatever else runs on this machine
    restore_reference_data()
    user = django_user_model.objects.create_user("olga", "olga@example.com", PASSWORD)
    user.groups.add(Group.objects.get(name="operator"))
    return user


def login(page, live_server, path: str) -> None:
    page.goto(f"{live_server.url}{path}")
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}{path}")


def test_the_progress_card_says_no_worker_runs_until_one_does(olga, live_server, page):
    run = SyncRun.objects.create()
    login(page, live_server, "/")
    card = page.locator("#run-progress")
    expect(card).to_contain_text(f"Run {run.pk}: Pending")
    expect(card.locator(".no-worker")).to_have_text(NO_WORKER + ". Queued runs and bulk jobs wait until one does.")
    heartbeat(ttl=60)  # a cluster starts; the card, polled every 2 s, stops asking for one
    expect(card.locator(".no-worker")).to_have_count(0, timeout=10_000)
    expect(card).to_contain_text(f"Run {run.pk}: Pending")


def test_sync_now_answers_that_no_worker_runs(olga, live_server, page):
    login(page, live_server, "/")
    page.get_by_role("button", name="Sync now").click()
    card = page.locator("#run-progress")
    expect(card).to_contain_text("Pending")
    expect(card.locator(".no-worker")).to_contain_text(NO_WORKER)


def test_the_job_page_lists_outcomes_as_the_job_runs(olga, live_server, page):
    people = [HsContact.objects.create(hs_id=str(9000 + i), email=f"p{i}@example.com", first_name="Pat",
                                       last_name=f"Number{i}") for i in range(3)]
    job = BulkJob.objects.create(kind="resync", requested_by=olga, targets=[p.hs_id for p in people], total=3)
    login(page, live_server, f"/jobs/{job.pk}/")
    card = page.locator("#job-progress")
    expect(card).to_contain_text("Pending")
    expect(card.locator(".no-worker")).to_contain_text(NO_WORKER)

    # The worker takes it and finishes a first chunk: one resynced, one not.
    BulkJobItem.objects.create(job=job, hs_id="9000", ok=True, sf_id="003000000000001AAA",
                               message="Now syncing with Contact 003000000000001AAA.")
    BulkJobItem.objects.create(job=job, hs_id="9001", ok=False, message="Nothing to resync: this contact is synced.")
    BulkJob.objects.filter(pk=job.pk).update(status="running", done=2, failed=1)
    expect(card).to_contain_text("Running — 2 of 3 done, 1 not resynced.", timeout=10_000)
    expect(card.locator(".no-worker")).to_have_count(0)
    expect(card.locator("table.job-resynced tbody tr")).to_have_count(1)
    expect(card.locator("#job-item-9000")).to_contain_text("Pat Number0")
    expect(card.locator("#job-item-9000")).to_contain_text("003000000000001AAA")
    expect(card.locator("table.job-not-resynced #job-item-9001")).to_contain_text(
        "Nothing to resync: this contact is synced.")

    # The last chunk, and the job is done: the lists stay, the polling stops.
    BulkJobItem.objects.create(job=job, hs_id="9002", ok=True, sf_id="00Q000000000002AAA",
                               message="Now syncing with Lead 00Q000000000002AAA.")
    BulkJob.objects.filter(pk=job.pk).update(status="done", done=3, failed=1, finished_at=timezone.now(),
                                             message="2 resynced, 1 not resynced.")
    expect(card).to_contain_text("Done — 3 of 3 done", timeout=10_000)
    expect(card.locator("table.job-resynced tbody tr")).to_have_count(2)
    expect(card.get_by_role("heading", name="Resynced (2)")).to_be_visible()
    card.locator("#job-item-9002").get_by_role("link", name="Pat Number2").click()
    expect(page).to_have_url(f"{live_server.url}/contacts/9002/")
