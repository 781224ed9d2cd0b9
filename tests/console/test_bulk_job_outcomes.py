"""A bulk Resync's job page lists the contacts it resynced, with the Salesforce record each now
syncs with, and those it could not, with why, while it runs and after. Resync writes HubSpot's
Salesforce-id properties through the sandbox over HTTP."""
from __future__ import annotations

import pytest
from django.urls import reverse
from django_q.conf import Conf

from sync import services
from sync.models import BulkJob, BulkJobItem, LinkStatus
from tests.console.conftest import HX, hs_contact, link, sf_person

pytestmark = pytest.mark.django_db


def lost_primary(email: str, *, merged: bool = True):
    """A HubSpot contact whose Salesforce contact was merged away (or deleted without a merge)."""
    new = sf_person(email, last="Survivor") if merged else None
    old = sf_person(email, is_deleted=True, master_record_id=new.sf_id if new else "")
    c = hs_contact(email, last=email.split("@")[0].title(), salesforce_contact_id=old.sf_id)
    link(c, old, status=LinkStatus.LOST_PRIMARY)
    return c, new


def in_hubspot(crm, *contacts) -> None:
    crm.load({"hubspot": {"contacts": [{"id": c.hs_id, "properties": {
        "email": c.email, "firstname": c.first_name, "lastname": c.last_name,
        "salesforcecontactid": c.salesforce_contact_id}} for c in contacts]}})


def job_page(client, job, **kw) -> str:
    return client.get(reverse("sync:job", args=[job.pk]), **kw).content.decode()


def test_the_job_page_lists_who_was_resynced_with_what_and_who_was_not_and_why(
        crm, operator_client, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(Conf, "SYNC", True)
    moved, survivor = lost_primary("moved@example.com")
    gone, _ = lost_primary("gone@example.com", merged=False)
    fine = hs_contact("fine@example.com", last="Fine")
    link(fine, sf_person("fine@example.com"))
    in_hubspot(crm, moved, gone, fine)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(reverse("sync:bulk_resync"), {"ids": [moved.hs_id, gone.hs_id, fine.hs_id]})
    job = BulkJob.objects.get()
    assert (job.status, job.done, job.failed) == ("done", 3, 2)
    items = {i.hs_id: (i.ok, i.sf_id, i.message) for i in BulkJobItem.objects.filter(job=job)}
    assert items == {
        moved.hs_id: (True, survivor.sf_id, f"Now syncing with Contact {survivor.sf_id}."),
        gone.hs_id: (False, "", "No live Salesforce record to resync with: the record was deleted without a merge "
                                "and no other record has this email."),
        fine.hs_id: (False, "", "Nothing to resync: this contact is synced.")}

    html = operator_client.get(response["Location"]).content.decode()
    resynced = html.split("<h2>Resynced (1)</h2>")[1]
    assert f'<tr id="job-item-{moved.hs_id}">' in resynced and "Moved" in resynced and "moved@example.com" in resynced
    assert f"Contact <a class=\"mono\" href=\"{crm.url}/{survivor.sf_id}\">{survivor.sf_id}</a>" in resynced
    not_resynced = html.split("<h2>Not resynced (2)</h2>")[1].split("<h2>")[0]
    assert "deleted without a merge" in not_resynced and "gone@example.com" in not_resynced
    assert "this contact is synced." in not_resynced and "fine@example.com" in not_resynced
    assert reverse("sync:contact", args=[gone.hs_id]) in not_resynced


def test_outcomes_show_while_the_job_runs(crm, operator, viewer_client, monkeypatch):
    """Each chunk's outcomes are committed with its progress: the polled fragment lists the first
    contact while the second is still being resynced."""
    first, first_new = lost_primary("first@example.com")
    second, _ = lost_primary("second@example.com")
    in_hubspot(crm, first, second)
    job = BulkJob.objects.create(kind="resync", requested_by=operator, targets=[first.hs_id, second.hs_id], total=2)
    seen = []
    real = services.resync_contacts

    def resync_and_look(**kwargs):
        if kwargs["hs_ids"] == [second.hs_id]:  # between the chunks: what the page shows now
            seen.append(viewer_client.get(reverse("sync:job", args=[job.pk]), headers=HX))
        return real(**kwargs)

    monkeypatch.setattr(services, "resync_contacts", resync_and_look)
    services.run_bulk_resync(job, chunk=1)
    [midway] = seen
    html = midway.content.decode()
    assert midway.status_code == 200 and 'hx-trigger="every 1s"' in html  # still polling
    assert "Running</strong> — 1 of 2 done" in html and "<h2>Resynced (1)</h2>" in html
    assert first_new.sf_id in html and f"job-item-{second.hs_id}" not in html
    done = viewer_client.get(reverse("sync:job", args=[job.pk]), headers=HX)
    assert done.status_code == 286 and "<h2>Resynced (2)</h2>" in done.content.decode()


def test_a_job_run_twice_lists_each_contact_once(crm, operator):
    c, _ = lost_primary("twice@example.com")
    in_hubspot(crm, c)
    job = BulkJob.objects.create(kind="resync", requested_by=operator, targets=[c.hs_id], total=1)
    services.run_bulk_resync(job)
    services.run_bulk_resync(BulkJob.objects.get(pk=job.pk))  # a redelivered task: not pending any more
    assert BulkJobItem.objects.filter(job=job).count() == 1


def test_the_lists_are_capped_and_say_so(viewer_client, operator, monkeypatch):
    from sync.views import contacts

    monkeypatch.setattr(contacts, "JOB_LIST", 2)
    job = BulkJob.objects.create(kind="resync", requested_by=operator, targets=[str(i) for i in range(3)], total=3,
                                 done=3, failed=3, status="done")
    BulkJobItem.objects.bulk_create([BulkJobItem(job=job, hs_id=str(i), ok=False, message=f"reason {i}")
                                     for i in range(3)])
    html = job_page(viewer_client, job)
    assert "reason 0" in html and "reason 1" in html and "reason 2" not in html
    assert "Showing the first 2." in html
