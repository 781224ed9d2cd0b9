"""The audit history: filters, keyset paging, the CSV export, and that no view edits or deletes
an event."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sync.audit import event_fields, record_event
from sync.models import AuditEvent, SyncRun
from tests.conftest import page_text
from tests.console.conftest import HX

pytestmark = pytest.mark.django_db
URL = reverse("sync:audit")
CSV = reverse("sync:audit_csv")


def event(**fields) -> AuditEvent:
    """An event as a service writes it; `created` backdates it (inserted so, never updated)."""
    fields = {"action": "link_created", "target_type": "hubspot.contact", "target_id": "101", **fields}
    created = fields.pop("created", None)
    if created is None:
        return record_event(**fields)
    return AuditEvent.objects.create(**event_fields(**fields), created=created)


def shown(response) -> list[str]:
    return [e.message for e in response.context["events"]]


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_it_needs_login_and_get(client, viewer_client):
    assert client.get(URL)["Location"].startswith("/login/")
    assert client.get(CSV)["Location"].startswith("/login/")
    for method in ("post", "put", "patch", "delete"):
        assert getattr(viewer_client, method)(URL).status_code == 405
        assert getattr(viewer_client, method)(CSV).status_code == 405


def test_it_lists_events_newest_first_as_a_full_page(viewer_client, operator):
    event(message="first")
    event(message="second", actor=operator, action="resynced", rule="R6")
    response = viewer_client.get(URL)
    assert response.status_code == 200 and b"<html" in response.content
    assert shown(response) == ["second", "first"]
    html = response.content.decode()
    assert '<td>otto</td><td>Resynced</td><td><a class="rule" href="/rules/#r6" title="R6 – Resync">R6</a></td>' in html
    assert f'href="{reverse("sync:contact", args=["101"])}"' in html


def test_htmx_gets_only_the_rows(viewer_client):
    event(message="hello")
    response = viewer_client.get(URL, {"q": "hello"}, headers=HX)
    assert b"<html" not in response.content and b"hello" in response.content
    assert "HX-Request" in response["Vary"]


def test_an_empty_filter_result_says_so(viewer_client):
    event(message="hello")
    assert b"No events match these filters." in viewer_client.get(URL, {"q": "zzz"}).content


@pytest.mark.parametrize("params, expected", [
    ({"actor": "otto"}, ["resync"]),
    ({"actor": "sync"}, ["run", "settings", "link"]),
    ({"action": "resynced"}, ["resync"]),
    ({"action": "not-an-action"}, ["run", "settings", "resync", "link"]),
    ({"rule": "R3"}, ["link"]),
    ({"rule": "R99"}, ["run", "settings", "resync", "link"]),
    ({"object": "settings"}, ["settings"]),
    ({"object": "hubspot.contact", "target": "202"}, ["resync"]),
    ({"q": "Ann Lee"}, ["link"]),          # the record's name
    ({"q": "schedule"}, ["settings"]),     # the message
    ({"q": "202"}, ["resync"]),            # the id, exactly
    ({"start": "2024-03-01"}, ["run", "settings"]),
    ({"end": "2024-02-29"}, ["resync", "link"]),
    ({"start": "2024-02-01", "end": "2024-03-31"}, ["settings", "resync"]),
    ({"start": "garbage"}, ["run", "settings", "resync", "link"]),
])
def test_the_filters(viewer_client, operator, params, expected):
    event(message="link", rule="R3", target_repr="Ann Lee <ann@example.com>",
          created=datetime(2024, 1, 15, tzinfo=timezone.utc))
    event(message="resync", action="resynced", rule="R6", target_id="202", actor=operator,
          created=datetime(2024, 2, 29, 23, 59, tzinfo=timezone.utc))
    event(message="settings: schedule_minutes 5 → 9", action="settings_changed", target_type="settings",
          target_id="1", created=datetime(2024, 3, 1, tzinfo=timezone.utc))
    run = SyncRun.objects.create()
    event(message="run", action="run_finished", target_type="run", target_id=str(run.pk), run=run,
          created=datetime(2024, 4, 1, tzinfo=timezone.utc))
    response = viewer_client.get(URL, params)
    assert [m.split(":")[0] for m in shown(response)] == expected


def test_older_events_page_by_keyset_and_keep_the_filters(viewer_client):
    for i in range(60):
        event(message=f"e{i}", action="resynced" if i % 2 else "link_created")
    event(message="other", action="unsynced")
    first = viewer_client.get(URL, {"action": "link_created"})
    assert len(first.context["events"]) == 30 and first.context["more"] is False
    everything = viewer_client.get(URL)
    assert everything.context["more"] is True and len(everything.context["events"]) == 50
    before = everything.context["next_before"]
    assert before == everything.context["events"][-1].id
    html = everything.content.decode()
    assert f'href="?before={before}"' in html and "Older events" in html
    older = viewer_client.get(URL, {"before": before}, headers=HX)
    assert b"<html" not in older.content
    assert shown(older) == [f"e{i}" for i in range(10, -1, -1)]
    assert older.context["more"] is False and b"Older events" not in older.content


def test_the_page_says_where_it_is_in_the_history(viewer_client):
    for i in range(55):
        event(message=f"w{i}", action="resynced" if i % 2 else "link_created", target_id="101" if i < 5 else "102")
    first = viewer_client.get(URL)
    assert "Showing 1–50 of 55 events" in page_text(first)
    older = viewer_client.get(URL, {"before": first.context["next_before"]}, headers=HX)
    assert "Showing 51–55 of 55 events" in page_text(older)
    assert "Showing 1–5 of 5 events" in page_text(viewer_client.get(URL, {"target": "101"}))  # an index reads it
    # An action (no index of its own) is not counted through the whole history: the page's rows only.
    assert "Showing 27 events" in page_text(viewer_client.get(URL, {"action": "resynced"}))


def test_the_older_link_keeps_the_filters(viewer_client):
    for i in range(55):
        event(message=f"x{i}", action="resynced")
    response = viewer_client.get(URL, {"action": "resynced"})
    before = response.context["next_before"]
    assert f'hx-get="?action=resynced&before={before}"' in response.content.decode()
    older = viewer_client.get(URL, {"action": "resynced", "before": before})
    assert shown(older) == [f"x{i}" for i in range(4, -1, -1)]


def test_the_query_count_does_not_grow_with_events(viewer_client, operator):
    def measure() -> int:
        viewer_client.get(URL)
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(URL).status_code == 200
        return len(ctx.captured_queries)

    run = SyncRun.objects.create()
    for i in range(3):
        event(message=f"a{i}", actor=operator, run=run)
    few = measure()
    for i in range(27):
        event(message=f"b{i}", actor=operator if i % 2 else None, run=run, target_type="run", target_id=str(run.pk))
    assert len(viewer_client.get(URL).context["events"]) == 30
    assert measure() == few


# --- CSV ----------------------------------------------------------------------------------------

def test_the_csv_export_streams_with_a_header_row(viewer_client, operator):
    event(message="hello", actor=operator, action="resynced", rule="R6", target_repr="Ann <a@x.io>",
          before={"sf_id": "003A"}, after={"sf_id": "003B"})
    response = viewer_client.get(CSV)
    assert response.status_code == 200 and isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="crmsync-audit.csv"'
    header, row = rows(response)
    assert header == ["time", "actor", "action", "rule", "object", "id", "record", "before", "after", "message", "run"]
    assert row[1:] == ["otto", "resynced", "R6", "hubspot.contact", "101", "Ann <a@x.io>", '{"sf_id": "003A"}',
                       '{"sf_id": "003B"}', "hello", ""]


def test_the_csv_export_respects_the_filters(viewer_client):
    event(message="keep", action="resynced")
    event(message="drop", action="link_created")
    data = rows(viewer_client.get(CSV, {"action": "resynced"}))
    assert [r[9] for r in data[1:]] == ["keep"]
    assert rows(viewer_client.get(CSV, {"q": "nothing"})) == [data[0]]


def test_the_page_links_the_export_with_its_filters(viewer_client):
    assert f'href="{CSV}?action=resynced"' in viewer_client.get(URL, {"action": "resynced"}).content.decode()


def test_an_htmx_filter_moves_the_export_link_with_it(viewer_client):
    """The filters swap only the rows; the export link comes along out of band, so the export is
    always what the page shows (it used to stay `export.csv?` after a filter)."""
    html = viewer_client.get(URL, {"action": "resynced", "q": "ann"}, headers={"HX-Request": "true"}).content.decode()
    assert 'id="audit-export"' in html and 'hx-swap-oob="true"' in html
    assert f'href="{CSV}?action=resynced&amp;q=ann"' in html


def test_before_and_after_are_said_in_words(viewer_client):
    record_event(action=AuditEvent.Action.PRIMARY_LOST, rule="R5", target_type="hubspot.contact", target_id="101",
                 before={"sf_id": "003A", "status": "synced"}, after={"sf_id": "003A", "status": "lost_primary"})
    html = viewer_client.get(URL).content.decode()
    assert "status: synced → lost its primary" in html
    assert "{&#x27;" not in html and "{'" not in html   # never a Python dict


def test_the_csv_export_neutralises_formulas(viewer_client, django_user_model):
    sneaky = django_user_model.objects.create_user(username="-2+3", password="x" * 20)
    event(message="=HYPERLINK(\"http://evil\")", target_repr="+cmd", actor=sneaky)
    event(message="@SUM(A1)", target_repr="-1")
    data = rows(viewer_client.get(CSV))
    assert [(r[1], r[6], r[9]) for r in data[1:]] == [("sync", "'-1", "'@SUM(A1)"),
                                                      ("'-2+3", "'+cmd", "'=HYPERLINK(\"http://evil\")")]



def test_the_csv_export_neutralises_cells_starting_with_tab_or_cr(viewer_client, django_user_model):
    """OWASP's list: a leading TAB or CR is stripped by some spreadsheets, which then read the formula."""
    tabbed = django_user_model.objects.create_user(username="\tuser", password="x" * 20)
    event(message="\t=1+1", target_repr="\r=cmd", actor=tabbed)
    event(message="\rplain", target_repr="ok\tinside")
    data = rows(viewer_client.get(CSV))
    assert [(r[1], r[6], r[9]) for r in data[1:]] == [("sync", "ok\tinside", "'\rplain"),
                                                      ("'\tuser", "'\r=cmd", "'\t=1+1")]


# --- append-only --------------------------------------------------------------------------------

def test_no_view_edits_or_deletes_an_event(admin_user):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    e = event(message="original")
    for url in (URL, CSV, f"{URL}?target={e.target_id}"):
        assert client.post(url, {"message": "edited"}).status_code == 405
        assert client.delete(url).status_code == 405
    assert client.post(f"/admin/sync/auditevent/{e.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/sync/auditevent/{e.pk}/change/", {"message": "edited"}).status_code in (200, 403)
    assert client.post("/admin/sync/auditevent/", {"action": "delete_selected", "_selected_action": [e.pk],
                                                   "post": "yes"}).status_code in (200, 302, 403)
    assert client.get("/admin/sync/auditevent/add/").status_code == 403
    assert list(AuditEvent.objects.values_list("message", flat=True)) == ["original"]


def test_record_types_read_as_words_and_still_filter(viewer_client):
    event(message="linked", target_repr="Ann <a@x.io>")
    event(target_type="salesforce.Lead", target_id="00QA", message="a lead")
    html = viewer_client.get(URL).content.decode()
    assert "HubSpot contact <span class=\"mono\">101</span>" in html
    assert "Salesforce lead <span class=\"mono\">00QA</span>" in html
    assert '<option value="salesforce.Lead">Salesforce lead</option>' in html
    assert ">hubspot.contact<" not in html and "hubspot.contact <span" not in html
    assert shown(viewer_client.get(URL, {"object": "salesforce.Lead"})) == ["a lead"]
