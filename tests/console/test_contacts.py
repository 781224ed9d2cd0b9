"""Contacts: the list, the contact card ("Salesforce Sync"), Resync (R6), bulk Resync and its job
page. Resync writes HubSpot's Salesforce-id properties through the sandbox over HTTP."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_q.conf import Conf

from sync.audit import record_event
from sync.models import AuditEvent, BulkJob, CompanyLink, ContactLink, HsCompany, HsContact, LinkStatus, SfAccount
from sync.queries import contact_search
from tests.conftest import client_for, page_text
from tests.console.conftest import HX, hs_contact, link, sf_id, sf_person

pytestmark = pytest.mark.django_db
LIST = reverse("sync:contacts")
BULK = reverse("sync:bulk_resync")


def card(c) -> str:
    return reverse("sync:contact", args=[c.hs_id])


def resync_url(c) -> str:
    return reverse("sync:resync", args=[c.hs_id])


def lost_primary(email: str = "ann@example.com"):
    """A HubSpot contact whose Salesforce contact was merged away (R5, delete setting off)."""
    new = sf_person(email, last="Survivor")
    old = sf_person(email, is_deleted=True, master_record_id=new.sf_id)
    c = hs_contact(email, salesforce_contact_id=old.sf_id)
    link(c, old, status=LinkStatus.LOST_PRIMARY, status_reason=f"Its record was merged into {new.sf_id}.")
    return c, old, new


def in_hubspot(crm, *contacts) -> None:
    crm.load({"hubspot": {"contacts": [{"id": c.hs_id, "properties": {
        "email": c.email, "firstname": c.first_name, "lastname": c.last_name,
        "salesforcecontactid": c.salesforce_contact_id}} for c in contacts]}})


def hubspot_ids(crm, c) -> tuple[str | None, str | None]:
    p = crm.hubspot.record("contacts", c.hs_id)["properties"]
    return p.get("salesforcecontactid"), p.get("salesforceleadid")


# --- the list -----------------------------------------------------------------------------------

def test_the_list_needs_login_and_get(client, viewer_client):
    assert client.get(LIST)["Location"].startswith("/login/")
    assert viewer_client.post(LIST).status_code == 405


def test_the_list_shows_each_contact_with_its_synced_id_and_status(viewer_client):
    synced = hs_contact("syn@example.com")
    person = sf_person("syn@example.com")
    link(synced, person)
    lost, old, new = lost_primary()
    lonely = hs_contact("lonely@example.com")
    hs_contact("gone@example.com", archived=True)
    response = viewer_client.get(LIST)
    assert response.status_code == 200 and b"<html" in response.content
    assert [c.hs_id for c in response.context["page"].object_list] == [synced.hs_id, lost.hs_id, lonely.hs_id]
    html = response.content.decode()
    assert person.sf_id in html and '<span class="tag ok">Synced</span>' in html
    assert f"No longer syncing with Salesforce — its primary was merged into {new.sf_id}" in html
    assert '<span class="tag ">Not synced</span>' in html
    assert "gone@example.com" not in html


def test_htmx_gets_only_the_table(viewer_client):
    hs_contact("ann@example.com")
    response = viewer_client.get(LIST, {"q": "ann"}, headers=HX)
    assert b"<html" not in response.content and b"ann@example.com" in response.content
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize("field", ["email", "upper_email", "last", "hs_id", "sf_id"])
def test_the_list_searches(viewer_client, field):
    c = hs_contact("Zed.Zulu@Example.com", last="Zulu")
    link(c, person := sf_person("zed.zulu@example.com"))
    hs_contact("other@example.com", last="Other")
    q = {"email": "zed.zulu", "upper_email": "ZED.ZULU@EXAMPLE.COM ", "last": "zul", "hs_id": c.hs_id,
         "sf_id": person.sf_id}[field]
    assert [x.hs_id for x in viewer_client.get(LIST, {"q": q}).context["page"].object_list] == [c.hs_id]


def test_the_list_filters_by_status(viewer_client):
    lost, _, _ = lost_primary()
    unlinked = hs_contact("u1@example.com")
    unsynced = hs_contact("u2@example.com")
    link(unsynced, None, status=LinkStatus.UNSYNCED, chosen_by="")
    deleted = hs_contact("d@example.com")
    link(deleted, None, status=LinkStatus.DELETED, chosen_by="")

    def ids(status):
        return {c.hs_id for c in viewer_client.get(LIST, {"status": status}).context["page"].object_list}

    assert ids("lost_primary") == {lost.hs_id}
    assert ids("unsynced") == {unlinked.hs_id, unsynced.hs_id}
    assert ids("deleted") == {deleted.hs_id}
    assert len(ids("")) == 4


def test_the_not_synced_filter_pages_both_ways(viewer_client):
    """The page bounds also narrow the filter's link lookup: every page still holds exactly the
    contacts without a syncing link, forwards and back."""
    unsynced = []
    for i in range(120):
        c = hs_contact(f"n{i}@example.com")
        if i % 2:
            link(c, sf_person(f"n{i}@example.com"))
        else:
            unsynced.append(c.hs_id)
            if i % 4 == 0:
                link(c, None, status=LinkStatus.UNSYNCED, chosen_by="")

    def page(**params):
        return viewer_client.get(LIST, {"status": "unsynced", **params}).context["page"].object_list

    first = page()
    assert [c.hs_id for c in first] == unsynced[:50]
    second = page(after=first[-1].pk)
    assert [c.hs_id for c in second] == unsynced[50:]
    assert [c.hs_id for c in page(before=second[0].pk)] == unsynced[:50]


def test_a_search_without_hits_says_so(viewer_client):
    hs_contact("ann@example.com")
    assert b"No contact matches these filters." in viewer_client.get(LIST, {"q": "nobody"}).content


def test_operators_get_resync_buttons_and_viewers_do_not(viewer_client, operator_client):
    lost, _, _ = lost_primary()
    url = resync_url(lost).encode()
    assert url not in viewer_client.get(LIST).content
    html = operator_client.get(LIST).content
    assert url in html and b"Resync all 1 that lost their primary" in html


def test_operators_get_a_select_all_box_for_the_bulk_resync(viewer_client, operator_client):
    lost_primary()
    box = b'<input type="checkbox" data-select-all="ids"'
    assert box not in viewer_client.get(LIST).content
    html = operator_client.get(LIST).content
    assert box in html and b'name="ids"' in html
    assert box in operator_client.get(LIST, headers=HX).content  # the table htmx swaps in has it too


def test_the_list_pages_fifty_at_a_time_and_says_where(viewer_client):
    made = [hs_contact(f"p{i}@example.com") for i in range(55)]
    first = viewer_client.get(LIST, {"status": ""})
    page = first.context["page"]
    assert [c.hs_id for c in page.object_list] == [c.hs_id for c in made[:50]]
    assert page.has_next and not page.has_previous and "Showing 1–50 of 55 contacts" in page_text(first)
    assert "Showing 51–55 of 55 contacts" in page_text(viewer_client.get(LIST, {"after": made[49].pk}))
    next_url = f"?q=&amp;status=&amp;after={made[49].pk}"
    assert next_url.encode() in first.content and b"Previous" not in first.content
    second = viewer_client.get(LIST, {"after": made[49].pk}, headers=HX)
    assert [c.hs_id for c in second.context["page"].object_list] == [c.hs_id for c in made[50:]]
    assert b"<html" not in second.content and b"Next" not in second.content
    assert f"before={made[50].pk}".encode() in second.content and b"First" in second.content
    back_page = viewer_client.get(LIST, {"before": made[50].pk}).context["page"]
    assert [c.hs_id for c in back_page.object_list] == [c.hs_id for c in made[:50]] and not back_page.has_previous
    assert viewer_client.get(LIST, {"after": "x"}).context["page"].object_list == page.object_list


def test_paging_keeps_the_search_and_status(viewer_client):
    for i in range(51):
        hs_contact(f"keep{i}@example.com")
    hs_contact("other@example.com")
    html = viewer_client.get(LIST, {"q": "keep", "status": "unsynced"}).content.decode()
    assert "?q=keep&amp;status=unsynced&amp;after=" in html


def test_the_list_query_count_does_not_grow_with_contacts(operator_client):
    def make(i):
        lost_primary(f"lost{i}@example.com")
        c = hs_contact(f"s{i}@example.com")
        link(c, sf_person(f"s{i}@example.com"))
        hs_contact(f"n{i}@example.com")

    def measure() -> int:
        operator_client.get(LIST)
        with CaptureQueriesContext(connection) as ctx:
            assert operator_client.get(LIST).status_code == 200
        return len(ctx.captured_queries)

    make(0)
    few = measure()
    for i in range(1, 10):
        make(i)
    assert len(operator_client.get(LIST).context["page"].object_list) == 30
    assert measure() == few


# --- the contact card ---------------------------------------------------------------------------

def test_the_card_needs_login_and_get_and_a_known_contact(client, viewer_client):
    c = hs_contact("ann@example.com")
    assert client.get(card(c))["Location"].startswith("/login/")
    assert viewer_client.post(card(c)).status_code == 405
    assert viewer_client.get(reverse("sync:contact", args=["404404"])).status_code == 404


def test_the_card_of_a_synced_contact(viewer_client, operator):
    c = hs_contact("ann@example.com")
    person = sf_person("ANN@example.com ", seq=1, last="Synced")
    other = sf_person("ann@example.com", seq=2, object_type="Lead", last="Other")
    link(c, person, chosen_by="R6", chosen_by_user=operator)
    response = viewer_client.get(card(c))
    assert response.status_code == 200 and b"<html" in response.content
    html = response.content.decode()
    assert '<p class="status-line"><span class="tag ok">Synced</span></p>' in html
    assert '<dd class="mono" id="synced-id"><a href="' in html and f"{person.sf_id}</a> (Contact)" in html
    assert "R6 · resynced by otto" in page_text(html)
    assert response.context["same_email"] == [person, other]
    assert "<strong class=\"ok-text\">currently synced</strong>" in html and other.sf_id in html
    assert resync_url(c) not in html


def test_the_card_says_when_a_contact_is_outside_the_inclusion_list(viewer_client):
    from sync.models import SyncSettings

    inside, outside = hs_contact("ann@example.com"), hs_contact("bob@example.com", outside_list=True)
    assert 'id="outside-list"' not in viewer_client.get(card(outside)).content.decode()   # no list chosen
    SyncSettings.objects.filter(pk=1).update(inclusion_list_id="31", inclusion_list_name="Sync to Salesforce")
    text = page_text(viewer_client.get(card(outside)).content.decode())
    assert "Outside the inclusion list “Sync to Salesforce”: this contact is neither created in nor updated to " \
           "Salesforce, and Salesforce's changes do not reach it." in text
    assert 'id="outside-list"' not in viewer_client.get(card(inside)).content.decode()


def test_the_card_of_a_contact_that_lost_its_primary(viewer_client, operator_client):
    c, old, new = lost_primary()
    response = viewer_client.get(card(c))
    html = response.content.decode()
    assert f"No longer syncing with Salesforce — its primary was merged into {new.sf_id}" in html
    assert new.sf_id.startswith("003")
    assert '<dd class="mono" id="synced-id">—</dd>' in html
    assert f"{old.sf_id} (Contact, merged away)" in html and response.context["master"] == new
    assert f"merged into <span class=\"mono\">{new.sf_id}</span>" in html
    assert resync_url(c) not in html
    assert f"Resync with {new.sf_id}" in operator_client.get(card(c)).content.decode()


def test_the_card_of_an_unlinked_contact_says_not_synced(viewer_client, operator_client):
    c = hs_contact("ann@example.com")
    html = viewer_client.get(card(c)).content.decode()
    assert '<span class="tag ">Not synced</span>' in html
    assert "No Salesforce lead or contact has ann@example.com." in html
    assert "No audit events for this contact yet." in html


def test_the_card_of_an_unsynced_link_offers_resync(operator_client):
    c = hs_contact("ann@example.com")
    link(c, None, status=LinkStatus.UNSYNCED, chosen_by="", status_reason="Its lead was deleted (R8).")
    html = operator_client.get(card(c)).content.decode()
    assert '<span class="tag ">Not synced</span>' in html and "Its lead was deleted (R8)." in html
    assert "Resync with Salesforce" in html


def test_the_card_of_a_deleted_contact(viewer_client):
    c = hs_contact("ann@example.com", archived=True)
    link(c, None, status=LinkStatus.DELETED, chosen_by="")
    html = viewer_client.get(card(c)).content.decode()
    assert '<span class="tag bad">Deleted</span>' in html and "archived in HubSpot" in html


def test_the_card_of_a_contact_without_email(viewer_client):
    c = hs_contact(None)
    sf_person(None)
    html = viewer_client.get(card(c)).content.decode()
    assert "This contact has no email, so it matches no Salesforce record (R1)." in page_text(html)


def test_the_card_shows_the_company_and_the_timeline(viewer_client):
    company = HsCompany.objects.create(hs_id="9001", name="Acme")
    account = SfAccount.objects.create(sf_id=sf_id("Account"), name="Acme Corp")
    CompanyLink.objects.create(hs_company=company, sf_account=account, chosen_by="R10")
    c = hs_contact("ann@example.com", primary_company_id="9001")
    record_event(action="link_created", rule="R3", target_type="hubspot.contact", target_id=c.hs_id,
                 message="Linked to the first record returned.")
    record_event(action="link_created", target_type="hubspot.contact", target_id="other", message="Not this one")
    html = viewer_client.get(card(c)).content.decode()
    assert "Acme" in html and account.sf_id in html and "R10 · followed its contact" in page_text(html)
    assert "Linked to the first record returned." in html and "Not this one" not in html
    assert '<span class="tag"><a class="rule" href="/rules/#r3" title="R3 – First link: the first record returned">R3</a>' \
        in html
    assert f"?object=hubspot.contact&target={c.hs_id}" in html


# --- Resync (sandbox) ---------------------------------------------------------------------------

def test_resync_with_htmx_returns_the_row_with_the_new_status(crm, operator_client, operator):
    c, old, new = lost_primary()
    in_hubspot(crm, c)
    response = operator_client.post(resync_url(c), headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and html.lstrip().startswith(f'<tr id="contact-{c.hs_id}">')
    assert '<span class="tag ok">Synced</span>' in html and f"Now syncing with Contact {new.sf_id}." in html
    assert new.sf_id in html and 'name="ids"' not in html   # no longer selectable for bulk Resync
    contact_id, lead_id = hubspot_ids(crm, c)
    assert contact_id == new.sf_id and not lead_id
    lnk = ContactLink.objects.get()
    assert (lnk.status, lnk.sf_person, lnk.chosen_by, lnk.chosen_by_user) == ("synced", new, "R6", operator)
    event = AuditEvent.objects.get()
    assert (event.action, event.rule, event.actor, event.actor_name) == ("resynced", "R6", operator, "otto")
    assert event.before == {"sf_id": old.sf_id, "status": "lost_primary"}
    assert event.after["sf_id"] == new.sf_id


def test_resync_without_htmx_redirects_back_with_a_message(crm, operator_client):
    c, old, new = lost_primary()
    in_hubspot(crm, c)
    response = operator_client.post(resync_url(c), {"next": f"{LIST}?status=lost_primary"})
    assert response.status_code == 302 and response["Location"] == f"{LIST}?status=lost_primary"
    page = operator_client.get(card(c))
    assert [str(m) for m in page.context["messages"]] == [f"Contact {c.hs_id}: Now syncing with Contact {new.sf_id}."]
    assert '<span class="tag ok">Synced</span>' in page.content.decode()
    assert hubspot_ids(crm, c)[0] == new.sf_id


def test_resync_redirects_to_the_card_when_next_is_another_site(crm, operator_client):
    c, _, _ = lost_primary()
    in_hubspot(crm, c)
    response = operator_client.post(resync_url(c), {"next": "https://evil.example/"})
    assert response["Location"] == card(c)


def test_a_double_resync_changes_and_audits_once(crm, operator_client):
    c, _, new = lost_primary()
    in_hubspot(crm, c)
    operator_client.post(resync_url(c), headers=HX)
    again = operator_client.post(resync_url(c), headers=HX)
    assert again.status_code == 200
    assert "Nothing to resync: this contact is synced." in again.content.decode()
    assert AuditEvent.objects.filter(action="resynced").count() == 1
    assert hubspot_ids(crm, c)[0] == new.sf_id


def test_resync_that_hubspot_refuses_is_reported_and_changes_nothing(crm, operator_client):
    c, old, _ = lost_primary()   # not loaded into HubSpot: the update is refused
    response = operator_client.post(resync_url(c), headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="error" role="status"' in html
    assert "HubSpot refused the update" in html or "The CRM refused" in html
    assert ContactLink.objects.get().status == LinkStatus.LOST_PRIMARY
    assert not AuditEvent.objects.exists()


def test_resync_is_refused_to_viewers_anonymous_get_and_without_csrf(crm, client, viewer_client, operator,
                                                                    operator_client):
    c, old, _ = lost_primary()
    in_hubspot(crm, c)
    assert client.post(resync_url(c))["Location"].startswith("/login/")
    assert viewer_client.post(resync_url(c)).status_code == 403
    assert operator_client.get(resync_url(c)).status_code == 405
    assert client_for(operator, csrf=True).post(resync_url(c)).status_code == 403
    assert operator_client.post(reverse("sync:resync", args=["404404"])).status_code == 404
    assert ContactLink.objects.get().status == LinkStatus.LOST_PRIMARY
    assert hubspot_ids(crm, c)[0] == old.sf_id
    assert not AuditEvent.objects.exists()


# --- bulk Resync and its job page ---------------------------------------------------------------

@pytest.fixture
def q_sync(monkeypatch):
    """django-q2 runs tasks inline, in this test's transaction."""
    monkeypatch.setattr(Conf, "SYNC", True)


def test_bulk_resync_of_selected_contacts_runs_the_job(crm, operator_client, operator, q_sync,
                                                      django_capture_on_commit_callbacks):
    one, _, new_one = lost_primary("one@example.com")
    two, _, _ = lost_primary("two@example.com")
    in_hubspot(crm, one, two)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(BULK, {"ids": [one.hs_id, one.hs_id]})
    job = BulkJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("sync:job", args=[job.pk])
    assert (job.status, job.targets, job.total, job.done, job.failed, job.requested_by) == (
        "done", [one.hs_id], 1, 1, 0, operator)
    assert hubspot_ids(crm, one)[0] == new_one.sf_id
    assert ContactLink.objects.get(hs_contact=two).status == LinkStatus.LOST_PRIMARY
    [event] = AuditEvent.objects.filter(action="resynced")
    assert event.actor == operator and event.target_id == one.hs_id
    page = operator_client.get(response["Location"])
    assert b"Resyncing 1 contact(s) in the background." in page.content and b"<html" in page.content
    assert b"1 resynced, 0 not resynced" in page.content


def test_bulk_resync_of_all_lost_primaries(crm, operator_client, q_sync, django_capture_on_commit_callbacks):
    contacts = [lost_primary(f"c{i}@example.com")[0] for i in range(3)]
    synced = hs_contact("fine@example.com")
    link(synced, sf_person("fine@example.com"))
    in_hubspot(crm, *contacts)
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(BULK, {"all": "1"})
    job = BulkJob.objects.get()
    assert sorted(job.targets) == sorted(c.hs_id for c in contacts)
    assert (job.status, job.done, job.failed) == ("done", 3, 0)
    assert not ContactLink.objects.filter(status=LinkStatus.LOST_PRIMARY).exists()
    assert AuditEvent.objects.filter(action="resynced").count() == 3


def test_bulk_resync_without_a_selection_says_so(operator_client):
    response = operator_client.post(BULK, follow=True)
    assert response.redirect_chain == [(LIST, 302)]
    assert [str(m) for m in response.context["messages"]] == ["Select at least one contact that lost its primary."]
    assert not BulkJob.objects.exists()


def test_bulk_resync_is_refused_to_viewers_get_and_without_csrf(client, viewer_client, operator, operator_client):
    c, _, _ = lost_primary()
    assert client.post(BULK, {"all": "1"})["Location"].startswith("/login/")
    assert viewer_client.post(BULK, {"all": "1"}).status_code == 403
    assert operator_client.get(BULK).status_code == 405
    assert client_for(operator, csrf=True).post(BULK, {"all": "1"}).status_code == 403
    assert not BulkJob.objects.exists()


def test_the_job_page_polls_until_the_job_is_done(viewer_client, operator):
    job = BulkJob.objects.create(kind="resync", requested_by=operator, targets=["1", "2"], total=2)
    url = reverse("sync:job", args=[job.pk])
    page = viewer_client.get(url)
    assert page.status_code == 200 and b"<html" in page.content and b'hx-trigger="every 1s"' in page.content
    running = viewer_client.get(url, headers=HX)
    assert running.status_code == 200 and b"<html" not in running.content and b"hx-get" in running.content
    BulkJob.objects.filter(pk=job.pk).update(status="done", done=2, message="2 resynced, 0 not resynced.")
    done = viewer_client.get(url, headers=HX)
    assert done.status_code == 286
    assert b"hx-get" not in done.content and b"2 of 2 done" in done.content
    assert viewer_client.post(url).status_code == 405
    assert viewer_client.get(reverse("sync:job", args=[999])).status_code == 404


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes exist on PostgreSQL only")
def test_contact_search_is_served_by_the_trigram_indexes():
    """Each LIKE '%…%' of the search matches a trigram index (migrations 0005, 0007) as PostgreSQL sees it
    (with sequential scans priced out, a small test table still shows which indexes fit)."""
    HsContact.objects.bulk_create([HsContact(hs_id=str(i), email=f"p{i}@example.com", last_name=f"Name{i}")
                                   for i in range(50)])
    qs = HsContact.objects.filter(archived=False).filter(contact_search("ander"))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = qs.explain()
    for index in ("hscontact_email_upper_trgm", "hscontact_first_trgm", "hscontact_last_trgm"):
        assert index in plan, plan
    assert "Seq Scan" not in plan


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes exist on PostgreSQL only")
def test_email_equality_look_ups_keep_to_the_btree_index_with_statistics():
    """The engine's `email_key IN (…)` look-ups (reconcile, field sync's R7 check) must not be
    served by a trigram index once the table has statistics: that plan took 8.7 s for 1,000
    keys on 3,000 contacts, the btree 3 ms (migration 0007)."""
    HsContact.objects.bulk_create([HsContact(hs_id=str(i), email=f"p{i}@example.com", email_key=f"p{i}@example.com")
                                   for i in range(3000)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE sync_hscontact")
    keys = [f"p{i}@example.com" for i in range(0, 3000, 3)]
    plan = HsContact.objects.filter(email_key__in=keys, archived=False).values_list("email_key", "pk").explain()
    assert "trgm" not in plan, plan


def test_the_card_says_what_keeps_the_contact_from_syncing(viewer_client):
    """A record error in words, against the contact or its Salesforce record, shows on its card
    until it is retried."""
    from sync.models import RecordError, SyncRun

    c = hs_contact("bad(paren)@example.com")
    run = SyncRun.objects.create(status="succeeded")
    RecordError.objects.create(run=run, crm="salesforce", object_type="Lead", record_id=c.hs_id, operation="create lead",
                               message="Creating a lead: Salesforce refused it — correct it in HubSpot.")
    RecordError.objects.create(run=run, crm="salesforce", object_type="Lead", record_id=c.hs_id, operation="create lead",
                               message="An old one.", retried_at=run.created_at)
    html = viewer_client.get(card(c)).content.decode()
    assert "Errors that keep it from syncing" in html and "correct it in HubSpot" in html
    assert f"Run {run.pk}" in html and "An old one." not in html


def test_the_card_says_who_resynced_once(viewer_client, operator):
    c = hs_contact("ann@example.com")
    p = sf_person("ann@example.com")
    link(c, p, chosen_by="R6")
    ContactLink.objects.filter(hs_contact=c).update(chosen_by_user=operator)
    record_event(actor=operator, action=AuditEvent.Action.RESYNCED, rule="R6", target_type="hubspot.contact",
                 target_id=c.hs_id, before={"sf_id": None, "status": "lost_primary"},
                 after={"sf_id": p.sf_id, "status": "synced"})
    html = viewer_client.get(card(c)).content.decode()
    assert f"R6 · resynced by {operator.get_username()}" in page_text(html) and "by a person by" not in html
    assert f"Salesforce record: none → {p.sf_id}; status: lost its primary → synced" in html


def test_the_totals_are_counted_only_up_to_a_cap(viewer_client, monkeypatch):
    """Each count stops at COUNT_CAP + 1 rows: a million contacts cost no more than ten thousand."""
    import sync.queries

    made = [hs_contact(f"cap{i}@example.com") for i in range(60)]
    monkeypatch.setattr(sync.queries, "COUNT_CAP", 20)
    assert "Showing 1–50 of more than 20 contacts" in page_text(viewer_client.get(LIST))
    assert "Showing 10 of more than 20 contacts" in page_text(viewer_client.get(LIST, {"after": made[49].pk}))
    with CaptureQueriesContext(connection) as ctx:
        viewer_client.get(LIST)
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper() and "sync_hscontact" in q["sql"]]
    assert len(counts) == 1 and "LIMIT 21" in counts[0], counts   # the first page: none before it to count
    with CaptureQueriesContext(connection) as ctx:
        viewer_client.get(LIST, {"after": made[49].pk})
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper() and "sync_hscontact" in q["sql"]]
    assert len(counts) == 2 and all("LIMIT 21" in sql for sql in counts), counts


def test_a_search_that_fits_on_one_page_is_not_run_again_to_be_counted(viewer_client):
    """The total of a one-page search (the usual one) or of a last page is what the page and the
    rows before it hold: at a million contacts the trigram search costs 15-20 ms each time it runs."""
    made = [hs_contact(f"few{i}@example.com") for i in range(55)]
    hs_contact("other@example.com")

    def counted(params):
        with CaptureQueriesContext(connection) as ctx:
            text = page_text(viewer_client.get(LIST, params))
        return text, [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()
                      and "sync_hscontact" in q["sql"]]

    text, counts = counted({"q": "few5"})   # few5, few50 … few54
    assert "Showing 1–6 of 6 contacts" in text and counts == []
    text, counts = counted({"q": "few"})    # two pages: the first counts the total
    assert "Showing 1–50 of 55 contacts" in text and len(counts) == 1
    text, counts = counted({"q": "few", "after": made[49].pk})   # the last counts only the rows before it
    assert "Showing 51–55 of 55 contacts" in text and len(counts) == 1 and '"id" < ' in counts[0]


def test_a_status_filter_says_only_what_the_page_shows(viewer_client):
    for i in range(3):
        hs_contact(f"lonely{i}@example.com")
    lost_primary("lost@example.com")
    response = viewer_client.get(LIST, {"status": "unsynced"})
    assert "Showing 3 contacts" in page_text(response) and response.context["span"] is None
    response = viewer_client.get(LIST, {"status": "lost_primary"})
    assert "Showing 1 contact" in page_text(response) and response.context["span"] is None
    assert "Showing 1 of 1 contact" in page_text(viewer_client.get(LIST, {"q": "lost@"}))   # a search is counted
