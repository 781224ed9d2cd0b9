"""A corpus of hostile and odd values flows through pull, reconcile, push and every page:
quotes, mixed case and white space in emails, unicode, no email, very long values, NUL bytes,
HTML and script in names, SOQL and LIKE metacharacters; plus malformed and truncated API
responses. Nothing crashes, HTML is always escaped, and every record a CRM rejected shows a clear
reason on its run page."""
from __future__ import annotations

import pytest

from sync.models import ContactLink, HsContact, LinkStatus, RecordError, SfPerson, SyncRun
from tests.conftest import client_for
from tests.engine.conftest import sync
from tests.hostile.corpus import SCRIPT, hostile_scenario, load_accepted

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def synced(crm, admin_user):
    taken = load_accepted(crm, hostile_scenario())
    assert taken["hubspot.contacts"] >= 10 and taken["salesforce.Lead"] >= 10
    # Malformed and cut-off responses on top, a few of each, on reads and writes of both CRMs.
    crm.faults.configure([{"kind": "malformed", "rate": 0.08}, {"kind": "truncated", "rate": 0.08}], seed=5)
    runs = [sync(full=True), sync(), sync()]
    injected = dict(crm.faults.injected)
    crm.faults.clear()
    runs.append(sync())
    return runs, injected


def test_hostile_values_sync_without_crashing(synced):
    runs, injected = synced
    assert injected.get("malformed", 0) >= 1 and injected.get("truncated", 0) >= 1, injected
    assert [r.status for r in runs] == ["succeeded"] * len(runs), [(r.status, r.error[:300]) for r in runs]
    # Emails are matched per R1 (trimmed, case-insensitive) even with quotes in them.
    obrien = HsContact.objects.get(email="o'brien@example.com")
    assert obrien.link.status == LinkStatus.SYNCED
    assert obrien.link.sf_person.email_key == "o'brien@example.com"
    # NUL bytes never reach the database (PostgreSQL refuses them); the rest is kept as it was.
    stored = SfPerson.objects.values_list("first_name", "last_name", "company", "title")
    assert not any("\x00" in value for row in stored for value in row)  # (SQLite's LIKE stops at a NUL)
    assert SfPerson.objects.filter(last_name=SCRIPT).count() == 2
    assert not ContactLink.objects.filter(hs_contact__hs_id="600").exists()  # no email → never matched (R1)


def test_rejected_records_are_explained_on_the_run_page(synced, admin_user):
    client = client_for(admin_user)
    for run in SyncRun.objects.all():
        page = client.get(f"/runs/{run.pk}/").content.decode()
        for error in RecordError.objects.filter(run=run):
            assert error.message and error.record_id in page
            assert error.operation in page


@pytest.mark.parametrize("q", ["o'brien", "%", "_", "'; DROP TABLE sync_sfperson;--", SCRIPT, "\\", "zoë"])
def test_every_page_escapes_and_survives_hostile_searches(synced, admin_user, q):
    client = client_for(admin_user)
    for path in ("/duplicates/", "/duplicates/?kind=r7", "/duplicates/?kind=r9", "/contacts/", "/audit/"):
        response = client.get(path, {"q": q})
        assert response.status_code == 200, path
        assert SCRIPT not in response.content.decode()
    assert SfPerson.objects.exists()  # the table is still there


def test_hostile_records_render_escaped(synced, admin_user):
    client = client_for(admin_user)
    for c in HsContact.objects.all():
        html = client.get(f"/contacts/{c.hs_id}/").content.decode()
        assert SCRIPT not in html
    html = client.get("/contacts/", {"q": "script"}).content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "%" in client.get("/duplicates/", {"q": "pct%under"}).content.decode()
