"""Sync errors by type: the cards per family, one family's list with what to do, paging, the
CSV, and Retry/Resync of a selection — Retry through a real sync run against the sandbox."""
from __future__ import annotations

import csv
import io
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf

from sync.models import AuditEvent, BulkJob, ContactLink, HsContact, LinkStatus, RecordError, SyncRun
from tests.conftest import client_for
from tests.console.conftest import HX, hs_contact, link, sf_person

pytestmark = pytest.mark.django_db
URL = reverse("sync:sync_errors")
RETRY = reverse("sync:retry_sync_errors")
RESYNC = reverse("sync:resync_sync_errors")
CSV = reverse("sync:sync_errors_csv")
BAD_EMAIL = "Creating a lead for contact {id}: Salesforce refused it (Email) — Email: invalid email address: x."


@pytest.fixture
def run():
    return SyncRun.objects.create(status="succeeded", started_at=timezone.now(), finished_at=timezone.now())


def error(run, *, family="values", record_id="101", crm="salesforce", object_type="Lead", code="INVALID_EMAIL_ADDRESS",
          operation="create lead", message=None, **extra) -> RecordError:
    return RecordError.objects.create(run=run, crm=crm, object_type=object_type, record_id=record_id, code=code,
                                      family=family, operation=operation,
                                      message=message or BAD_EMAIL.format(id=record_id), **extra)


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- access ---------------------------------------------------------------------------------------

def test_anonymous_users_are_sent_to_login(client, run):
    error(run)
    for method, url in (("get", URL), ("get", CSV), ("post", RETRY), ("post", RESYNC)):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), (method, url)
    assert not RecordError.objects.filter(retried_at__isnull=False).exists()


def test_viewers_read_but_cannot_post(viewer_client, run):
    e = error(run)
    html = viewer_client.get(URL, {"family": "values"}).content.decode()
    assert "Export errors" in html and RETRY not in html and 'name="ids"' not in html
    for url in (RETRY, RESYNC):
        assert viewer_client.post(url, {"ids": [e.pk], "all": "1"}).status_code == 403
    assert viewer_client.post(URL).status_code == 405
    assert not SyncRun.objects.exclude(pk=run.pk).exists() and not AuditEvent.objects.exists()


def test_posts_need_the_csrf_token_and_post(operator, operator_client, run):
    e = error(run)
    assert client_for(operator, csrf=True).post(RETRY, {"ids": [e.pk]}).status_code == 403
    assert client_for(operator, csrf=True).post(RESYNC, {"ids": [e.pk]}).status_code == 403
    assert operator_client.get(RETRY).status_code == 405
    e.refresh_from_db()
    assert e.retried_at is None and SyncRun.objects.count() == 1


# --- cards, list, paging ----------------------------------------------------------------------------

def test_cards_count_current_errors_and_distinct_records_per_family(viewer_client, run):
    error(run, record_id="101")
    error(run, record_id="101", operation="field sync")          # same record: one record, two errors
    error(run, record_id="102")
    error(run, family="duplicates", code="DUPLICATE_VALUE", record_id="00Q000000000001AAA", object_type="Lead")
    error(run, family="mapping", code="UNMAPPED_STAGE", record_id="9001", object_type="Opportunity",
          resolved_at=timezone.now())                               # resolved: not current
    response = viewer_client.get(URL)
    assert response.status_code == 200 and b"<html" in response.content
    cards = {c.family: (c.errors, c.records) for c in response.context["cards"]}
    assert cards == {"values": (3, 2), "duplicates": (1, 1)}
    html = response.content.decode()
    assert "Too long or invalid values" in html and "errors on 2 records" in html and "Picklists" not in html
    assert "All current errors (4)" in html


def test_no_errors_says_so(viewer_client):
    assert b"No current sync errors" in viewer_client.get(URL).content


def test_a_family_lists_its_errors_in_words_with_what_to_do(viewer_client, run, settings):
    settings.SALESFORCE_INSTANCE_URL = "https://acme.my.salesforce.com"
    c = hs_contact("bad(paren)@example.com", hs_id="101")
    error(run, record_id=c.hs_id)
    error(run, family="permissions", code="INSUFFICIENT_ACCESS_OR_READONLY", record_id="003000000000001AAA",
          object_type="Contact", operation="field sync", crm="salesforce", message="Field sync refused.")
    response = viewer_client.get(URL, {"family": "values"})
    errors = list(response.context["page"].object_list)
    assert [e.record_id for e in errors] == ["101"]
    html = response.content.decode()
    assert f'<a href="{reverse("sync:contact", args=["101"])}">101</a>' in html
    assert "Email: invalid email address" in html and "correct it in HubSpot" in html
    assert f'href="{reverse("sync:run", args=[run.pk])}">Run {run.pk}</a>' in html
    assert 'aria-current="page"' in html and f"{CSV}?family=values" in html
    html = viewer_client.get(URL, {"family": "permissions"}).content.decode()
    assert 'href="https://acme.my.salesforce.com/003000000000001AAA"' in html
    assert "give it edit access in Salesforce" in html and "Field sync refused." in html
    assert "101</a>" not in html
    assert len(viewer_client.get(URL, {"family": "nonsense"}).context["page"].object_list) == 2  # unknown: all


def test_htmx_gets_the_fragment_and_a_page_load_the_page(viewer_client, run):
    error(run)
    fragment = viewer_client.get(URL, {"family": "values"}, headers=HX)
    assert b"<html" not in fragment.content and b'id="sync-errors"' in fragment.content
    assert b"INVALID_EMAIL_ADDRESS" in fragment.content and "HX-Request" in fragment["Vary"]
    page = viewer_client.get(URL, {"family": "values"})
    assert b"<html" in page.content and b"Sync errors by type" in page.content


def test_the_list_pages_with_totals(viewer_client, run):
    now = timezone.now()
    RecordError.objects.bulk_create([RecordError(run=run, crm="salesforce", object_type="Lead", record_id=str(1000 + i),
                                                 operation="create lead", code="STRING_TOO_LONG", family="values",
                                                 message=f"error {i}", created_at=now - timedelta(seconds=i))
                                     for i in range(120)])
    first = viewer_client.get(URL, {"family": "values"})
    assert "Showing 1–50 of 120" in first.content.decode()
    assert first.context["page"].object_list[0].message == "error 0"  # newest first
    last = viewer_client.get(URL, {"family": "values", "page": "3"}, headers=HX)
    assert "Showing 101–120 of 120" in last.content.decode()
    assert [e.message for e in last.context["page"].object_list][-1] == "error 119"
    assert "page=2" in last.content.decode() and "Next →" not in last.content.decode()


def test_the_page_is_a_fixed_number_of_queries(operator_client, run):
    def measure(params) -> int:
        operator_client.get(URL, params)
        with CaptureQueriesContext(connection) as ctx:
            assert operator_client.get(URL, params).status_code == 200
        return len(ctx.captured_queries)

    for i, family in enumerate(["values", "duplicates", "validation"]):
        error(run, family=family, record_id=hs_contact(f"a{i}@example.com").hs_id)
    few = measure({"family": "values"}), measure({})
    other = SyncRun.objects.create(status="succeeded")
    for i in range(60):
        for family in ("values", "duplicates", "validation", "permissions", "associations", "other"):
            error(other if i % 2 else run, family=family, record_id=hs_contact(f"m{family}{i}@example.com").hs_id)
    assert (measure({"family": "values"}), measure({})) == few


def test_overview_links_to_the_page_with_the_current_count(viewer_client, run):
    error(run)
    error(run, record_id="102", resolved_at=timezone.now())
    html = viewer_client.get(reverse("sync:overview")).content.decode()
    assert f'href="{URL}"' in html and "Sync errors, by type" in html
    assert viewer_client.get(reverse("sync:overview")).context["current_errors"] == 1


# --- CSV ------------------------------------------------------------------------------------------------

def test_the_csv_is_the_list_shown_with_poisoned_cells_neutralised(viewer_client, run):
    error(run, record_id="101")
    error(run, record_id="=HYPERLINK(\"http://evil\")", message="=cmd|' /C calc'!A0", code="", object_type="Lead")
    error(run, family="duplicates", code="DUPLICATE_VALUE", record_id="00Q000000000001AAA", message="-2+3")
    error(run, record_id="103", resolved_at=timezone.now())
    response = viewer_client.get(CSV, {"family": "values"})
    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert [r["record"] for r in rows] == ["'=HYPERLINK(\"http://evil\")", "101"]  # newest first, family only
    assert rows[0]["error"] == "'=cmd|' /C calc'!A0" and rows[0]["family"] == "Too long or invalid values"
    assert rows[1]["code"] == "INVALID_EMAIL_ADDRESS" and rows[1]["what to do"].startswith("Salesforce does not accept")
    assert rows[1]["run"] == str(run.pk) and rows[1]["crm"] == "salesforce"
    everything = csv_rows(viewer_client.get(CSV))
    assert len(everything) == 3 and "'-2+3" in [r["error"] for r in everything]


# --- Retry and Resync ---------------------------------------------------------------------------------

def test_retry_selected_queues_a_run_marks_the_records_and_audits(operator_client, operator, run,
                                                                  django_capture_on_commit_callbacks):
    c = hs_contact("bad(paren)@example.com", hs_id="101")
    chosen, other = error(run, record_id=c.hs_id), error(run, record_id="102")
    gone = error(run, record_id="999999")  # no such record in the mirror: nothing to write again
    with mock.patch("django_q.tasks.async_task") as async_task, django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(RETRY, {"ids": [chosen.pk, gone.pk], "family": "values",
                                                "next": f"{URL}?family=values"})
    retry = SyncRun.objects.exclude(pk=run.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("sync:run", args=[retry.pk])
    assert async_task.call_args.args == ("sync.tasks.run_sync", retry.pk)
    assert (retry.status, retry.full, retry.requested_by) == ("pending", False, operator)
    assert HsContact.objects.get(hs_id="101").dirty
    chosen.refresh_from_db(), other.refresh_from_db(), gone.refresh_from_db()
    assert chosen.retried_at is not None and other.retried_at is None and gone.retried_at is None
    [event] = AuditEvent.objects.all()
    assert (event.action, event.actor, event.target_id) == ("sync_requested", operator, str(retry.pk))
    assert event.after == {"errors": 1, "records": 1, "families": ["values"]}
    page = operator_client.get(response["Location"])
    assert f"Run {retry.pk} queued to retry 1 error on 1 record. 1 could not be" in page.content.decode()


def test_retry_without_a_selection_or_while_a_run_is_going_says_so(operator_client, run):
    e = error(run, record_id=hs_contact("x@example.com", hs_id="101").hs_id)
    response = operator_client.post(RETRY, {"family": "values", "next": f"{URL}?family=values"}, follow=True)
    assert response.redirect_chain == [(f"{URL}?family=values", 302)]
    assert "Select at least one error to retry." in response.content.decode()
    going = SyncRun.objects.create(status="running", started_at=timezone.now())
    response = operator_client.post(RETRY, {"ids": [e.pk]}, follow=True)
    assert f"Sync run {going.pk} is in progress: retry once it has finished." in response.content.decode()
    e.refresh_from_db()
    assert e.retried_at is None and SyncRun.objects.count() == 2 and not AuditEvent.objects.exists()


def test_retry_all_of_a_family_joins_an_already_queued_run(operator_client, run):
    errors = [error(run, record_id=hs_contact(f"c{i}@example.com").hs_id) for i in range(3)]
    error(run, family="duplicates", code="CONFLICT", crm="hubspot", object_type="contact",
          record_id=hs_contact("d@example.com").hs_id)
    queued = SyncRun.objects.create()
    with mock.patch("django_q.tasks.async_task") as async_task:
        response = operator_client.post(RETRY, {"all": "1", "family": "values"})
    assert response["Location"] == reverse("sync:run", args=[queued.pk]) and not async_task.called
    assert SyncRun.objects.count() == 2
    assert RecordError.objects.filter(retried_at__isnull=False).count() == 3
    assert HsContact.objects.filter(dirty=True).count() == 3
    assert all(RecordError.objects.get(pk=e.pk).retried_at for e in errors)
    assert AuditEvent.objects.get().message == f"Retry of 3 record errors on 3 records requested (in the queued run {queued.pk})."


@pytest.fixture
def q_sync(monkeypatch):
    """django-q2 runs tasks inline, in this test's transaction."""
    monkeypatch.setattr(Conf, "SYNC", True)


def test_retry_writes_the_records_again_in_a_real_run(crm, hs, operator_client, operator, q_sync,
                                                      django_capture_on_commit_callbacks):
    """Against the sandbox: Salesforce refuses a lead for an email it calls invalid. A run alone
    leaves the record be (nothing changed); Retry's run writes it again — Salesforce is asked
    again and refuses again, a new error of that run — and, once Salesforce would accept it, the
    error is resolved."""
    from tests.console.conftest import sync_cycle

    crm.load({"hubspot": {"contacts": [{"id": "101", "properties": {"email": "bad(paren)@example.com",
                                                                    "lastname": "B"}}]}})
    first = sync_cycle()
    [e] = RecordError.objects.filter(run=first)
    assert (e.family, e.record_id, e.code) == ("values", "101", "INVALID_EMAIL_ADDRESS")
    quiet = sync_cycle()
    assert not RecordError.objects.filter(run=quiet).exists()
    writes = crm.stats()["salesforce"]["calls"]

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(RETRY, {"ids": [e.pk], "family": "values"})
    retry = SyncRun.objects.order_by("-pk").first()
    assert response["Location"] == reverse("sync:run", args=[retry.pk])
    assert retry.status == "succeeded" and retry.requested_by == operator, retry.error
    assert crm.stats()["salesforce"]["calls"] > writes
    [again] = RecordError.objects.filter(run=retry)
    assert (again.record_id, again.code, again.operation) == ("101", "INVALID_EMAIL_ADDRESS", "create lead")
    assert AuditEvent.objects.filter(action="sync_requested", actor=operator, target_id=str(retry.pk)).count() == 1

    # The email corrected in HubSpot (through its API): the next run writes the lead and the
    # errors of that record are no longer current; the page says so.
    hs.crm.contacts.basic_api.update("101", {"properties": {"email": "good@example.com"}})
    crm.advance_clock(crm.hubspot.search_lag.view()["max_ms"] / 1000)
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(RETRY, {"all": "1", "family": "values"})
    assert not RecordError.objects.filter(resolved_at__isnull=True).exists()
    assert b"No current sync errors" in operator_client.get(URL).content


def _lost_primary(email: str):
    new = sf_person(email, last="Survivor")
    old = sf_person(email, is_deleted=True, master_record_id=new.sf_id)
    c = hs_contact(email, salesforce_contact_id=old.sf_id)
    link(c, old, status=LinkStatus.LOST_PRIMARY, status_reason=f"Its record was merged into {new.sf_id}.")
    return c, new


def test_resync_selected_resyncs_contacts_that_lost_their_primary(crm, operator_client, operator, run, q_sync,
                                                                  django_capture_on_commit_callbacks):
    c, new = _lost_primary("ann@example.com")
    synced = hs_contact("fine@example.com")
    link(synced, sf_person("fine@example.com"))
    crm.load({"hubspot": {"contacts": [{"id": x.hs_id, "properties": {"email": x.email, "lastname": x.last_name,
                                                                      "salesforcecontactid": x.salesforce_contact_id}}
                                       for x in (c, synced)]}})
    lost = error(run, family="duplicates", crm="hubspot", object_type="contact", code="CONFLICT", record_id=c.hs_id,
                 operation="update Salesforce id", message="HubSpot refused it.")
    fine = error(run, family="duplicates", crm="hubspot", object_type="contact", code="CONFLICT",
                 record_id=synced.hs_id, operation="update Salesforce id", message="HubSpot refused it too.")
    html = operator_client.get(URL, {"family": "duplicates"}).content.decode()
    assert "Resync selected" in html and "lost its primary" in html
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(RESYNC, {"ids": [lost.pk, fine.pk], "family": "duplicates"})
    job = BulkJob.objects.get()
    assert response["Location"] == reverse("sync:job", args=[job.pk])
    assert (job.targets, job.status, job.done, job.failed, job.requested_by) == ([c.hs_id], "done", 1, 0, operator)
    link_ = ContactLink.objects.get(hs_contact=c)
    assert (link_.status, link_.sf_person.sf_id) == (LinkStatus.SYNCED, new.sf_id)
    assert crm.hubspot.record("contacts", c.hs_id)["properties"]["salesforcecontactid"] == new.sf_id
    assert AuditEvent.objects.get(action="resynced").actor == operator


def test_resync_of_errors_without_a_lost_primary_says_so(operator_client, run):
    e = error(run, record_id=hs_contact("x@example.com", hs_id="101").hs_id)
    response = operator_client.post(RESYNC, {"ids": [e.pk]}, follow=True)
    assert "Select at least one error of a HubSpot contact that lost its primary." in response.content.decode()
    assert not BulkJob.objects.exists()
    assert "Resync selected" not in operator_client.get(URL).content.decode()


def test_select_all_ticks_every_row_of_the_page(operator_client, run):
    for i in range(3):
        error(run, record_id=str(200 + i))
    html = operator_client.get(URL, {"family": "values"}).content.decode()
    assert html.count('name="ids"') == 3 and " checked" not in html and "Select all on this page" in html
    html = operator_client.get(URL, {"family": "values", "select": "all"}, headers=HX).content.decode()
    assert html.count('form="errors-form" checked') == 3 and "Clear the selection" in html


def test_the_page_reads_are_served_by_the_current_errors_index(run):
    """The cards, a family's page, the list of all and their totals read the partial index
    recorderror_current, never the whole table (with sequential scans priced out on PostgreSQL,
    a small test table still shows which index fits)."""
    from django.db.models import Count

    from sync import error_queries

    for family in ("values", "duplicates"):
        error(run, family=family)
    queries = [error_queries.current("values")[:51], error_queries.current()[:51],
               RecordError.objects.filter(resolved_at__isnull=True, family="values"),
               RecordError.objects.filter(resolved_at__isnull=True).values("family").annotate(n=Count("pk")).order_by()]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
        for qs in queries:
            plan = qs.explain()
            assert "recorderror_current" in plan and "Seq Scan" not in plan, plan
