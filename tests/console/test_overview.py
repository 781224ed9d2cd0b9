"""The overview: counts by kind, lost primaries, API usage, the history chart, Sync now and the
run progress poll."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sync.models import AuditEvent, LinkStatus, SyncRun
from tests.conftest import client_for
from tests.console.conftest import HX, hs_contact, link, r2_group, r7_group, r9_group, sf_person

pytestmark = pytest.mark.django_db
URL = reverse("sync:overview")


def finished_run(minutes_ago: int = 10, **fields) -> SyncRun:
    started = timezone.now() - timedelta(minutes=minutes_ago)
    fields = {"status": SyncRun.Status.SUCCEEDED, "phase": SyncRun.Phase.DONE, "started_at": started,
              "finished_at": started + timedelta(seconds=30), "created_at": started, **fields}
    return SyncRun.objects.create(**fields)


def lost_primary_contact():
    person = sf_person("lost@example.com", is_deleted=True, master_record_id=sf_person("other@example.com").sf_id)
    return link(hs_contact("lost@example.com"), person, status=LinkStatus.LOST_PRIMARY)


def test_it_sends_anonymous_users_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_it_shows_counts_by_kind_and_lost_primaries(viewer_client):
    for i in range(3):
        r2_group(f"dup{i}@example.com")
    r7_group()
    r9_group()
    r9_group()
    lost_primary_contact()
    response = viewer_client.get(URL)
    assert response.status_code == 200
    assert response.context["counts"] == {"r2": 3, "r7": 1, "r9": 2, "possible": None}
    assert response.context["lost_primary"] == 1
    assert b"<html" in response.content
    assert b'<div class="stat warn-text">1</div>' in response.content


def test_it_shows_sync_now_only_to_operators(viewer_client, operator_client, admin_client_):
    assert b"Sync now" not in viewer_client.get(URL).content
    assert b"Sync now" in operator_client.get(URL).content
    assert b"Sync now" in admin_client_.get(URL).content


def test_it_shows_api_usage_against_the_budget(viewer_client):
    finished_run(sf_api_calls=500, hs_api_calls=40, snapshot={"sf_daily_limit": 10_000, "hs_daily_limit": 1_000})
    finished_run(minutes_ago=60 * 30, sf_api_calls=9_000)  # older than 24 hours: not counted
    usage = {u["crm"]: u for u in viewer_client.get(URL).context["usage"]}
    assert usage["Salesforce"] == {"crm": "Salesforce", "used": 500, "share": 50, "limit": 10_000, "budget": 5_000,
                                   "percent": 10}
    assert usage["HubSpot"]["used"] == 40 and usage["HubSpot"]["percent"] == 8


def test_it_says_the_budget_is_unknown_before_the_first_run(viewer_client):
    response = viewer_client.get(URL)
    assert all(u["budget"] is None for u in response.context["usage"])
    assert b"known after the first run" in response.content


def test_the_chart_appears_after_two_finished_runs_with_snapshots(viewer_client):
    snap = {"r2_groups": 4, "r7_groups": 1, "r9_groups": 0, "lost_primary": 2}
    finished_run(minutes_ago=20, snapshot=snap)
    finished_run(minutes_ago=5)  # no snapshot: not a point on the chart
    response = viewer_client.get(URL)
    assert response.context["chart"] is None
    assert b"The chart appears after two finished runs." in response.content
    finished_run(minutes_ago=2, snapshot={**snap, "r2_groups": 6})
    response = viewer_client.get(URL)
    chart = response.context["chart"]
    assert chart["runs"] == 2 and chart["top"] == 6
    assert [line["last"] for line in chart["lines"]] == [6, 1, 0, 2]
    assert response.content.count(b"<polyline") == 4
    assert b"Salesforce groups (R2): 6" in response.content


def test_it_links_the_last_run_and_its_errors(viewer_client):
    run = finished_run(status=SyncRun.Status.FAILED, error="Salesforce said no")
    run.record_errors.create(crm="salesforce", object_type="Lead", record_id="x", operation="upsert", message="bad")
    response = viewer_client.get(URL)
    assert response.context["last_run"] == run and response.context["last_errors"] == 1
    assert reverse("sync:run", args=[run.pk]).encode() in response.content
    assert b"Salesforce said no" in response.content


def test_it_shows_and_polls_the_current_run(viewer_client):
    run = SyncRun.objects.create(status=SyncRun.Status.RUNNING, phase=SyncRun.Phase.PULL, started_at=timezone.now())
    html = viewer_client.get(URL).content.decode()
    assert f'hx-get="{reverse("sync:run_progress", args=[run.pk])}"' in html


def test_it_rejects_posts(operator_client):
    assert operator_client.post(URL).status_code == 405


# --- run progress -------------------------------------------------------------------------------

def test_progress_of_a_running_run_keeps_polling(viewer_client):
    run = SyncRun.objects.create(status=SyncRun.Status.RUNNING, phase=SyncRun.Phase.RECONCILE, started_at=timezone.now(),
                                 pulled=12)
    response = viewer_client.get(reverse("sync:run_progress", args=[run.pk]), headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and 'hx-trigger="every 2s"' in html
    assert "Reconciling" in html and "pulled 12" in html


def test_progress_of_a_finished_run_stops_polling(viewer_client):
    run = finished_run()
    response = viewer_client.get(reverse("sync:run_progress", args=[run.pk]), headers=HX)
    assert response.status_code == 286
    assert b"hx-trigger" not in response.content and b"Succeeded" in response.content


def test_progress_of_an_unknown_run_is_404(viewer_client):
    assert viewer_client.get(reverse("sync:run_progress", args=[999])).status_code == 404


def test_progress_needs_login_and_get(client, viewer_client):
    run = finished_run()
    url = reverse("sync:run_progress", args=[run.pk])
    assert client.get(url).status_code == 302
    assert viewer_client.post(url).status_code == 405


# --- Sync now ----------------------------------------------------------------------------------

SYNC = reverse("sync:sync_now")


def test_sync_now_queues_a_run_for_an_operator(operator_client, operator):
    response = operator_client.post(SYNC)
    assert response.status_code == 302 and response["Location"] == URL
    run = SyncRun.objects.get()
    assert (run.status, run.requested_by, run.full) == ("pending", operator, False)
    event = AuditEvent.objects.get(action="sync_requested")
    assert (event.actor, event.target_id, event.message) == (operator, str(run.pk), "Sync requested.")
    assert f"Sync run {run.pk} queued." in operator_client.get(URL).content.decode()


def test_sync_now_full_run(admin_client_):
    admin_client_.post(SYNC, {"full": "1"})
    assert SyncRun.objects.get().full is True


def test_sync_now_with_htmx_returns_the_progress_fragment(operator_client):
    response = operator_client.post(SYNC, headers=HX)
    assert response.status_code == 200
    run = SyncRun.objects.get()
    assert b"<html" not in response.content
    assert f"Run {run.pk}</a>: Pending".encode() in response.content
    assert list(operator_client.get(URL).context["messages"]) == []   # no stale message on the next page


def test_a_second_htmx_click_shows_the_pending_run(operator_client):
    operator_client.post(SYNC, headers=HX)
    response = operator_client.post(SYNC, headers=HX)
    run = SyncRun.objects.get()
    assert f"Run {run.pk}</a>: Pending".encode() in response.content


def test_a_second_click_while_pending_creates_no_second_run(operator_client):
    operator_client.post(SYNC)
    response = operator_client.post(SYNC, follow=True)
    assert SyncRun.objects.count() == 1
    assert b"is already pending" in response.content


def test_sync_now_is_refused_to_viewers_and_users_without_a_role(viewer_client, nobody):
    assert viewer_client.post(SYNC).status_code == 403
    assert client_for(nobody).post(SYNC).status_code == 403
    assert not SyncRun.objects.exists()


def test_sync_now_sends_anonymous_users_to_login(client):
    assert client.post(SYNC).status_code == 302
    assert not SyncRun.objects.exists()


def test_sync_now_needs_post_and_csrf(operator_client, operator):
    assert operator_client.get(SYNC).status_code == 405
    assert client_for(operator, csrf=True).post(SYNC).status_code == 403
    assert not SyncRun.objects.exists()
    assert not AuditEvent.objects.exists()


def test_overview_query_count_does_not_grow_with_groups(viewer_client):
    def measure() -> int:
        viewer_client.get(URL)  # warm up the session and the user's role
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(URL).status_code == 200
        return len(ctx.captured_queries)

    finished_run(snapshot={"r2_groups": 1})
    finished_run(minutes_ago=5, snapshot={"r2_groups": 2})
    for i in range(3):
        r2_group(f"few{i}@example.com")
        r7_group()
        r9_group()
    few = measure()
    for i in range(27):
        r2_group(f"many{i}@example.com", size=3)
        r7_group(3)
        r9_group()
    assert viewer_client.get(URL).context["counts"] == {"r2": 30, "r7": 30, "r9": 30, "possible": None}
    assert measure() == few


def test_a_small_run_that_learnt_no_limit_keeps_the_known_budget(viewer_client):
    """A quiet run's HubSpot searches carry no rate-limit headers: its snapshot knows no daily
    limit, and the overview keeps the one an earlier run learnt (it used to say "known after the
    first run" again)."""
    finished_run(minutes_ago=30, hs_api_calls=40, snapshot={"sf_daily_limit": 10_000, "hs_daily_limit": 1_000})
    finished_run(minutes_ago=5, hs_api_calls=3, snapshot={"sf_daily_limit": 10_000, "hs_daily_limit": None})
    usage = {u["crm"]: u for u in viewer_client.get(URL).context["usage"]}
    assert usage["HubSpot"]["limit"] == 1_000 and usage["HubSpot"]["budget"] == 500


def test_the_last_run_card_follows_a_run_that_just_finished(viewer_client):
    finished_run(minutes_ago=30)
    current = SyncRun.objects.create(status=SyncRun.Status.RUNNING, started_at=timezone.now())
    assert f"run {current.pk - 1}" in viewer_client.get(URL).content.decode()
    SyncRun.objects.filter(pk=current.pk).update(status=SyncRun.Status.SUCCEEDED, finished_at=timezone.now())
    response = viewer_client.get(reverse("sync:run_progress", args=[current.pk]), headers=HX)
    html = response.content.decode()
    assert response.status_code == 286
    assert 'id="last-run" hx-swap-oob="true"' in html and f"run {current.pk}</a>" in html


def test_a_lost_primary_shows_no_synced_id_in_the_list_as_on_its_card(viewer_client):
    c = lost_primary_contact().hs_contact
    row = viewer_client.get(reverse("sync:contacts"), {"status": "lost_primary"}).content.decode()
    card = viewer_client.get(reverse("sync:contact", args=[c.hs_id])).content.decode()
    merged_away = c.link.sf_person.sf_id
    assert f">{merged_away}</a>" not in row           # the list's "currently synced" column says "—"
    assert 'id="synced-id">—' in card
