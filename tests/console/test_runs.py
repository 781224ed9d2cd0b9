"""Sync runs: the list, a run's page with its record errors, and "Retry" of the failed records."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sync.models import RecordError, SyncChunk, SyncRun
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
URL = reverse("sync:runs")


def finished(**fields) -> SyncRun:
    start = timezone.now() - timedelta(minutes=5)
    fields = {"status": "succeeded", "phase": "done", "started_at": start, "finished_at": start + timedelta(seconds=90),
              **fields}
    return SyncRun.objects.create(**fields)


def failed_records(run: SyncRun, n: int = 2) -> list[RecordError]:
    return [RecordError.objects.create(run=run, crm="salesforce", object_type="Lead", record_id=f"00Q{i}",
                                       operation="upsert", message=f"FIELD_CUSTOM_VALIDATION_EXCEPTION: rule {i}")
            for i in range(n)]


def page_url(run: SyncRun) -> str:
    return reverse("sync:run", args=[run.pk])


def retry_url(run: SyncRun) -> str:
    return reverse("sync:retry_errors", args=[run.pk])


def test_the_list_needs_login_and_get(client, viewer_client):
    assert client.get(URL)["Location"].startswith("/login/")
    assert viewer_client.post(URL).status_code == 405


def test_the_list_shows_runs_newest_first(viewer_client):
    old = finished(pulled=7, errors=2, created_at=timezone.now() - timedelta(hours=1))
    new = SyncRun.objects.create(status="running", phase="push", started_at=timezone.now(), full=True)
    response = viewer_client.get(URL)
    assert response.status_code == 200 and b"<html" in response.content
    assert list(response.context["page"].object_list) == [new, old]
    html = response.content.decode()
    assert "Running</span> · Pushing" in html and '<span class="tag">full</span>' in html
    assert '<span class="error">2</span>' in html and "<td>1 min 30 s</td>" in html


def test_the_list_pages_and_keeps_its_query_count(viewer_client, operator):
    def measure(page: str = "1") -> int:
        viewer_client.get(URL)
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(URL, {"page": page}).status_code == 200
        return len(ctx.captured_queries)

    base = finished()
    for _ in range(2):
        finished(requested_by=operator, retry_of=base)
    few = measure()
    for _ in range(27):
        finished(requested_by=operator, retry_of=base)
    assert len(viewer_client.get(URL).context["page"].object_list) == 30
    assert measure() == few
    for _ in range(25):
        finished()
    second = viewer_client.get(URL, {"page": "2"})
    assert len(second.context["page"].object_list) == 5 and b"Page 2 of 2" in second.content


def test_the_run_page_lists_record_errors_with_their_reason(viewer_client, operator):
    run = finished(status="failed", errors=2, requested_by=operator, error="Salesforce: INVALID_SESSION_ID")
    failed_records(run)
    response = viewer_client.get(page_url(run))
    assert response.status_code == 200
    html = response.content.decode()
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION: rule 0" in html and "FIELD_CUSTOM_VALIDATION_EXCEPTION: rule 1" in html
    assert "Records that failed (2)" in html and "INVALID_SESSION_ID" in html
    assert "<dt>Requested by</dt><dd>otto</dd>" in html
    assert retry_url(run) not in html        # viewers cannot retry


def test_the_run_page_offers_retry_to_operators(operator_client):
    run = finished(errors=2)
    failed_records(run)
    html = operator_client.get(page_url(run)).content.decode()
    assert retry_url(run) in html and "Retry 2 failed records" in html


def test_a_run_without_errors_says_so(viewer_client):
    run = finished()
    html = viewer_client.get(page_url(run)).content.decode()
    assert "No record errors in this run." in html and "<dd>the schedule</dd>" in html


def test_a_running_run_page_polls_its_progress(viewer_client):
    run = SyncRun.objects.create(status="running", phase="pull", started_at=timezone.now())
    assert reverse("sync:run_progress", args=[run.pk]).encode() in viewer_client.get(page_url(run)).content


def test_a_parallel_run_shows_its_pull_parts(viewer_client):
    """A full sync split over workers (issue 6): each part's CRM, object, status, worker, time and count."""
    run = finished(full=True, pulled=12_345)
    start = run.started_at
    SyncChunk.objects.create(run=run, name="salesforce:Contact", status="done", worker="host-a:101",
                             started_at=start, finished_at=start + timedelta(seconds=42.4), pulled=12_000)
    SyncChunk.objects.create(run=run, name="hubspot:deals", status="failed", worker="host-b:202",
                             started_at=start, finished_at=start + timedelta(seconds=3), pulled=345)
    SyncChunk.objects.create(run=run, name="fields:contacts:0-25000", status="done", worker="host-b:202")
    html = viewer_client.get(page_url(run)).content.decode()
    assert "Parallel parts (3)" in html
    assert "<td>Salesforce</td><td>Contact</td><td>Done</td><td class=\"mono\">host-a:101</td>" in html
    assert "<td>42 s</td><td class=\"num\">12,000</td>" in html
    assert "<td>HubSpot</td><td>deals</td><td>Failed</td>" in html
    assert "<td>Field sync</td><td>contacts, links 1–25000</td><td>Done</td>" in html


def test_a_running_parallel_run_shows_its_parts_in_the_progress_card(viewer_client):
    run = SyncRun.objects.create(status="running", phase="pull", started_at=timezone.now(), full=True)
    SyncChunk.objects.create(run=run, name="salesforce:Lead", status="done", pulled=5_000)
    SyncChunk.objects.create(run=run, name="hubspot:contacts", status="running", worker="host-a:7")
    SyncChunk.objects.create(run=run, name="hubspot:companies")
    html = viewer_client.get(reverse("sync:run_progress", args=[run.pk])).content.decode()
    assert '<span class="part done"' in html and "Salesforce Lead · done · 5,000" in html
    assert '<span class="part running"' in html and "HubSpot contacts · running" in html
    assert "HubSpot companies · pending" in html


def test_a_run_that_was_not_split_shows_no_parts(viewer_client):
    run = finished()
    assert "Parallel parts" not in viewer_client.get(page_url(run)).content.decode()
    assert "part" not in viewer_client.get(reverse("sync:run_progress", args=[run.pk])).content.decode()


def test_the_run_page_needs_login_get_and_a_known_run(client, viewer_client):
    run = finished()
    assert client.get(page_url(run))["Location"].startswith("/login/")
    assert viewer_client.post(page_url(run)).status_code == 405
    assert viewer_client.get(reverse("sync:run", args=[999])).status_code == 404


def test_retry_queues_a_run_and_marks_the_errors_retried(operator_client, operator):
    run = finished(errors=2)
    errors = failed_records(run)
    response = operator_client.post(retry_url(run))
    retry = SyncRun.objects.get(retry_of=run)
    assert response.status_code == 302 and response["Location"] == page_url(retry)
    assert (retry.status, retry.requested_by) == ("pending", operator)
    for e in errors:
        e.refresh_from_db()
        assert e.retried_at is not None
    page = operator_client.get(response["Location"])
    assert f"Run {retry.pk} queued to retry the failed records of run {run.pk}." in [str(m) for m in page.context["messages"]]
    assert f"retrying the failed records of <a href=\"{page_url(run)}\">run {run.pk}</a>" in page.content.decode()
    assert retry_url(run) not in operator_client.get(page_url(run)).content.decode()


def test_a_second_retry_finds_no_failed_records_left(operator_client):
    run = finished(errors=1)
    failed_records(run, 1)
    operator_client.post(retry_url(run))
    response = operator_client.post(retry_url(run), follow=True)
    assert response.redirect_chain == [(page_url(run), 302)]
    assert [str(m) for m in response.context["messages"]][-1] == "No failed records left to retry in this run."
    assert SyncRun.objects.filter(retry_of=run).count() == 1


def test_retry_is_refused_to_viewers_get_and_without_csrf(client, viewer_client, operator, operator_client):
    run = finished(errors=1)
    [error] = failed_records(run, 1)
    assert client.post(retry_url(run))["Location"].startswith("/login/")
    assert viewer_client.post(retry_url(run)).status_code == 403
    assert operator_client.get(retry_url(run)).status_code == 405
    assert client_for(operator, csrf=True).post(retry_url(run)).status_code == 403
    assert operator_client.post(reverse("sync:retry_errors", args=[999])).status_code == 404
    error.refresh_from_db()
    assert error.retried_at is None and SyncRun.objects.count() == 1


def test_the_list_says_which_runs_it_shows_of_how_many(viewer_client):
    for _ in range(55):
        finished()
    assert "Showing 1–50 of 55 runs" in viewer_client.get(URL).content.decode()
    assert "Showing 51–55 of 55 runs" in viewer_client.get(URL, {"page": "2"}).content.decode()
    SyncRun.objects.exclude(pk=SyncRun.objects.order_by("pk").first().pk).delete()
    assert "Showing 1–1 of 1 run<" in viewer_client.get(URL).content.decode()


def test_a_live_run_says_it_is_one(viewer_client):
    from tests.conftest import page_text

    run = finished(live=True)
    assert '<span class="tag">live</span>' in viewer_client.get(URL).content.decode()
    text = page_text(viewer_client.get(reverse("sync:run", args=[run.pk])))
    assert "Live (the records HubSpot's webhooks named, and Salesforce's changes)" in text
