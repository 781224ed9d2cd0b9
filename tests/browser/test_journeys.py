"""The main journeys of a CRM admin, in a real browser, on the demo scenario:
log in → find a duplicate group → see the synced id and why → preview and run a Salesforce
merge that makes a contact lose its primary (R5) → Resync it (R6) → find it all in the audit
history and its CSV export."""
from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from sandbox.scenario import scenario_dict
from sync import services
from sync.engine.cycle import run_cycle
from sync.models import AuditEvent, ContactLink, LinkStatus, SfPerson
from sync.queries import r2_groups
from tests.conftest import restore_reference_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def demo(crm_sandbox, django_user_model):
    restore_reference_data()
    crm_sandbox.sandbox.load(scenario_dict("demo", seed=0))
    run = run_cycle(services.request_sync(full=True, actor=None, enqueue=False).pk)
    assert run.status == "succeeded", run.error
    user = django_user_model.objects.create_user("olga", "olga@example.com", PASSWORD)
    user.groups.add(Group.objects.get(name="operator"))
    return crm_sandbox


def _group_with_a_synced_contact():
    """A same-type duplicate group whose synced member has a peer to merge into."""
    for page in range(1, 5):
        for g in r2_groups(page=page).groups:
            if g.synced is None:
                continue
            peers = [m for m in g.members if m.object_type == g.synced.object_type and m.sf_id != g.synced.sf_id]
            if peers:
                return g, peers[0]
    raise AssertionError("the demo scenario has no mergeable group with a synced member")


def login(page, live_server):
    page.goto(f"{live_server.url}/duplicates/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/duplicates/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Duplicates")).to_be_visible()


def test_merge_loses_a_primary_then_resync_restores_it(demo, live_server, page, tasks_inline):
    group, other = _group_with_a_synced_contact()
    synced = group.synced
    contact = ContactLink.objects.get(sf_person=synced, status=LinkStatus.SYNCED).hs_contact
    login(page, live_server)

    # Find the group by searching its email (htmx swaps the list in place).
    page.fill("input[name=q]", group.key)
    card = page.locator("section.group").filter(has_text=group.key)
    expect(card).to_have_count(1)
    expect(card.locator(".synced-tag")).to_contain_text(synced.sf_id)
    expect(card.locator("tr.synced-row")).to_contain_text("Currently synced")

    # Preview: choose the other record as primary; the preview warns and names the contact.
    card.get_by_role("link", name="Preview merge in Salesforce…").click()
    page.check(f"input[name=primary][value='{other.sf_id}']")
    expect(page.locator(".warning")).to_contain_text("not the record HubSpot currently syncs with")
    expect(page.locator("#merge-preview")).to_contain_text(f"HubSpot contact {contact.hs_id}")
    expect(page.locator("#merge-preview")).to_contain_text("lose its primary")

    page.get_by_role("button", name=f"into {other.sf_id}").click()
    expect(page.locator(".messages")).to_contain_text(f"Merged into {other.sf_id}")
    assert SfPerson.objects.get(sf_id=synced.sf_id).master_record_id == other.sf_id
    assert ContactLink.objects.get(hs_contact=contact).status == LinkStatus.LOST_PRIMARY

    # The contact's Salesforce Sync card says why, and Resync follows the merge (R6).
    page.goto(f"{live_server.url}/contacts/{contact.hs_id}/")
    expect(page.locator(".sync-card .tag")).to_have_text(
        f"No longer syncing with Salesforce — its primary was merged into {other.sf_id}")
    page.get_by_role("button", name=f"Resync with {other.sf_id}").click()
    expect(page.locator(".messages")).to_contain_text(f"Now syncing with {other.object_type} {other.sf_id}")
    expect(page.locator("#synced-id")).to_contain_text(other.sf_id)
    props = demo.sandbox.hubspot.record("contacts", contact.hs_id)["properties"]
    assert other.sf_id in (props.get("salesforcecontactid"), props.get("salesforceleadid"))

    # The audit history shows the merge and the resync, naming the person; the CSV has them too.
    page.goto(f"{live_server.url}/audit/?actor=olga")
    rows = page.locator("table.audit tbody tr")
    expect(rows.filter(has_text="Resynced")).to_have_count(1)
    expect(rows.filter(has_text="Records merged")).to_have_count(1)
    expect(rows.filter(has_text="Sync requested")).to_have_count(1)
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = open(download.value.path(), encoding="utf-8").read()
    actions = [row["action"] for row in csv.DictReader(io.StringIO(text))]
    assert sorted(actions) == ["record_merged", "resynced", "sync_requested"]  # the merge queues a sync
    assert AuditEvent.objects.filter(actor_name="olga", rule="R6", target_id=contact.hs_id).count() == 1


def test_resync_button_swaps_the_row_in_place(demo, live_server, page):
    link = ContactLink.objects.filter(status=LinkStatus.LOST_PRIMARY).select_related("hs_contact").first()
    assert link is not None, "the demo scenario has contacts that lost their primary"
    login(page, live_server)
    page.goto(f"{live_server.url}/contacts/?status=lost_primary")
    row = page.locator(f"#contact-{link.hs_contact.hs_id}")
    expect(row).to_contain_text("No longer syncing")
    url_before = page.url
    row.get_by_role("button", name="Resync").click()
    expect(page.locator(f"#contact-{link.hs_contact.hs_id}")).to_contain_text("Synced")
    assert page.url == url_before  # swapped in place, no navigation
    link.refresh_from_db()
    assert (link.status, link.chosen_by) == (LinkStatus.SYNCED, "R6")


def test_the_progress_card_follows_the_parts_of_a_parallel_run(live_server, page, django_user_model):
    """Issue 6: while a full sync's pull runs as parts on several workers, the overview's progress
    card (polled by htmx every 2 s) shows each part and follows it to done."""
    from django.utils import timezone

    from sync.models import SyncChunk, SyncRun

    restore_reference_data()
    user = django_user_model.objects.create_user("olga", "olga@example.com", PASSWORD)
    user.groups.add(Group.objects.get(name="operator"))
    run = SyncRun.objects.create(status="running", phase="pull", full=True, started_at=timezone.now(),
                                 heartbeat_at=timezone.now())
    lead = SyncChunk.objects.create(run=run, name="salesforce:Lead", status="running", worker="host-a:101",
                                    started_at=timezone.now())
    SyncChunk.objects.create(run=run, name="hubspot:contacts")
    login(page, live_server)
    page.goto(f"{live_server.url}/")
    card = page.locator("#run-progress")
    expect(card.locator(".part.running")).to_have_text("Salesforce Lead · running")
    expect(card.locator(".part.pending")).to_have_text("HubSpot contacts · pending")
    SyncChunk.objects.filter(pk=lead.pk).update(status="done", pulled=4321, finished_at=timezone.now())
    expect(card.locator(".part.done")).to_have_text("Salesforce Lead · done · 4,321", timeout=10_000)
