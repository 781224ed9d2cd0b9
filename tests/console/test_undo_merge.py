"""Undo a Salesforce merge from the console, checked in both CRMs through the real clients: the
merged-away record is undeleted, the master's values the merge replaced are put back, the HubSpot
contact that lost its primary (R5) syncs with its own record again — and stays so after the next
sync — or, when R5 deleted it, is created again and linked; every step is audited; a step that
fails leaves the undo "partly undone" and Undo again goes on from there; past 15 days it is refused."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from hubspot import HubSpot

from sandbox.testing import salesforce_client
from sync import merges
from sync.merges import undo
from sync.models import AuditEvent, ContactLink, HsContact, LinkStatus, MergeSnapshot, SyncSettings
from tests.conftest import page_text
from tests.console.conftest import sync_cycle
from tests.console.test_merge import sandbox_group

pytestmark = pytest.mark.django_db
EMAIL = "ann@example.com"


def contact_row(crm, sf_id: str) -> dict:
    rows = salesforce_client(crm.url).query_all(
        f"SELECT Id, IsDeleted, MasterRecordId, Title FROM Contact WHERE Id = '{sf_id}'", include_deleted=True)["records"]
    return rows[0]


@pytest.fixture
def merged(crm, operator):
    """Two contacts of one email; HubSpot's contact syncs with the first; merged into the second,
    keeping the first one's title; then a sync (R5: the contact loses its primary)."""
    members = sandbox_group(crm, EMAIL, 2, synced=0, values={0: {"title": "CEO"}})
    done = merges.merge_salesforce_group(key=EMAIL, primary_id=members[1].sf_id, actor=operator,
                                         keep={"Title": members[0].sf_id})
    assert contact_row(crm, members[1].sf_id)["Title"] == "CEO"
    sync_cycle()
    assert ContactLink.objects.get().status == LinkStatus.LOST_PRIMARY
    return members, MergeSnapshot.objects.get(pk=done.snapshot_id)


def test_the_preview_says_what_comes_back_what_cannot_and_how_long_is_left(operator_client, merged):
    members, s = merged
    text = page_text(operator_client.get(reverse("sync:undo_merge", args=[s.pk])).content.decode())
    assert f"Undelete (undelete()) {members[0].sf_id}." in text
    assert f"{members[1].sf_id} Title: “CEO” back to “blank”" in text
    assert "14 days and 23 hours left" in text
    assert "syncs with" in text and members[0].sf_id in text
    assert "Related records Salesforce moved to the master" in text
    listing = page_text(operator_client.get(reverse("sync:merges")).content.decode())
    assert "Merged" in listing and "14 days left" in listing


def test_undo_puts_both_crms_back_and_the_next_sync_keeps_it(crm, operator_client, operator, merged):
    members, s = merged
    response = operator_client.post(reverse("sync:undo_merge", args=[s.pk]), {"confirm": "1"})
    assert response.status_code == 302 and response["Location"] == reverse("sync:merges")
    loser, master = contact_row(crm, members[0].sf_id), contact_row(crm, members[1].sf_id)
    assert loser["IsDeleted"] is False and not loser["MasterRecordId"] and loser["Title"] == "CEO"
    assert master["Title"] is None                                     # the master's own (blank) title again
    hs = HubSpot(access_token="sandbox", host=crm.url)
    contact = ContactLink.objects.get().hs_contact
    props = hs.crm.contacts.basic_api.get_by_id(contact.hs_id, properties=["salesforcecontactid"]).properties
    assert props["salesforcecontactid"] == members[0].sf_id
    s.refresh_from_db()
    assert (s.undo_status, s.undone_by, s.steps_done) == ("undone", operator, ["undelete", "fields", "links", "mirror"])
    steps = AuditEvent.objects.filter(action="merge_undone").order_by("id")
    assert [e.after["step"] for e in steps] == ["undelete", "fields", "links", "mirror"] and steps[0].actor == operator
    for _ in range(2):                                                  # the next syncs keep what the undo did
        sync_cycle()
    link = ContactLink.objects.get()
    assert (link.status, link.sf_person.sf_id) == (LinkStatus.SYNCED, members[0].sf_id)
    assert not link.sf_person.is_deleted
    again = operator_client.get(reverse("sync:undo_merge", args=[s.pk]), follow=True)
    assert "This merge was already undone" in page_text(again.content.decode())


def test_a_contact_r5_deleted_is_created_again_and_linked(crm, operator, operator_client):
    SyncSettings.objects.filter(pk=1).update(delete_hubspot_contact_on_delete=True)
    members = sandbox_group(crm, EMAIL, 2, synced=0)
    done = merges.merge_salesforce_group(key=EMAIL, primary_id=members[1].sf_id, actor=operator)
    sync_cycle()
    old = ContactLink.objects.get().hs_contact
    assert HsContact.objects.get(pk=old.pk).archived
    text = page_text(operator_client.get(reverse("sync:undo_merge", args=[done.snapshot_id])).content.decode())
    assert "created again with a new id" in text and "do not come back" in text
    undo.undo_merge(done.snapshot_id, actor=operator)
    hs = HubSpot(access_token="sandbox", host=crm.url)
    found = hs.crm.contacts.basic_api.get_by_id(EMAIL, id_property="email", properties=["salesforcecontactid"])
    assert found.id != old.hs_id and found.properties["salesforcecontactid"] == members[0].sf_id
    link = ContactLink.objects.get(hs_contact__hs_id=found.id)
    assert (link.status, link.sf_person.sf_id) == (LinkStatus.SYNCED, members[0].sf_id)


def test_a_refused_step_leaves_it_partly_undone_and_undo_again_goes_on(crm, operator, merged):
    members, s = merged
    crm.faults.add("500", crm="hubspot", path="/crm/v3/objects/contacts/batch/update", count=99)
    with pytest.raises(Exception, match="stopped at “links”"):
        undo.undo_merge(s.pk, actor=operator)
    s.refresh_from_db()
    assert (s.undo_status, s.steps_done) == ("partial", ["undelete", "fields"]) and s.undo_error.startswith("links:")
    assert AuditEvent.objects.filter(action="merge_undone", after__step="links").exists()
    crm.faults.clear()
    undo.undo_merge(s.pk, actor=operator)
    s.refresh_from_db()
    assert s.undo_status == "undone" and s.steps_done == ["undelete", "fields", "links", "mirror"]
    assert contact_row(crm, members[0].sf_id)["IsDeleted"] is False


def test_after_fifteen_days_the_undo_is_refused(operator_client, merged):
    _, s = merged
    MergeSnapshot.objects.filter(pk=s.pk).update(created_at=timezone.now() - timedelta(days=15, minutes=1))
    text = page_text(operator_client.get(reverse("sync:undo_merge", args=[s.pk])).content.decode())
    assert "More than 15 days have passed" in text and "Undo this merge" not in text
    response = operator_client.post(reverse("sync:undo_merge", args=[s.pk]), {"confirm": "1"}, follow=True)
    assert "More than 15 days have passed" in page_text(response.content.decode())
    assert MergeSnapshot.objects.get(pk=s.pk).undo_status == ""


def test_viewers_cannot_see_or_undo_merges(viewer_client, merged):
    _, s = merged
    assert viewer_client.get(reverse("sync:merges")).status_code == 403
    assert viewer_client.post(reverse("sync:undo_merge", args=[s.pk]), {"confirm": "1"}).status_code == 403


# --- a HubSpot merge (an R7 group) -----------------------------------------------------------------------
def test_undoing_a_hubspot_merge_makes_the_merged_contacts_again(crm, operator_client, operator):
    from tests.console.test_merge import HS_MERGE, sandbox_r7

    person, contacts = sandbox_r7(crm, 3)
    operator_client.post(HS_MERGE, {"sf_id": person.sf_id, "confirm": "1"})
    s = MergeSnapshot.objects.get()
    survivor = HsContact.objects.get(archived=False)
    assert (s.crm, s.master_id, s.merged_ids, s.merge_status) == (
        "hubspot", survivor.hs_id, [contacts[1].hs_id, contacts[2].hs_id], "merged")
    hs = HubSpot(access_token="sandbox", host=crm.url)
    extra = hs.crm.contacts.basic_api.get_by_id(survivor.hs_id, properties=["hs_additional_emails"]).properties
    assert contacts[1].email in extra["hs_additional_emails"]

    text = page_text(operator_client.get(reverse("sync:undo_merge", args=[s.pk])).content.decode())
    assert "no time limit" in text and "made again with a new id" in text
    assert "come back with new ids" in text and "activities" in text
    assert operator_client.post(reverse("sync:undo_merge", args=[s.pk]), {"confirm": "1"}).status_code == 302
    s.refresh_from_db()
    assert s.undo_status == "undone" and s.steps_done == ["emails", "contacts", "links", "mirror"]
    extra = hs.crm.contacts.basic_api.get_by_id(survivor.hs_id, properties=["hs_additional_emails"]).properties
    assert not extra.get("hs_additional_emails")                     # their emails are theirs again
    for old in contacts[1:]:
        again = hs.crm.contacts.basic_api.get_by_id(old.email, id_property="email",
                                                    properties=["firstname", "salesforcecontactid"])
        assert again.id not in {c.hs_id for c in contacts} and again.id != survivor.hs_id
        assert again.properties["firstname"] == old.first_name
        assert again.properties["salesforcecontactid"] == person.sf_id      # carrying the record's id, as before
        assert not ContactLink.objects.filter(hs_contact__hs_id=again.id).exists()   # no link before: none now
    assert ContactLink.objects.get(hs_contact=survivor).status == LinkStatus.SYNCED
    from sync.queries import group_counts

    assert group_counts()["r7"] == 1                                    # the group is back on the R7 tab
    sync_cycle()                                                        # and the sync agrees
    assert ContactLink.objects.get(hs_contact=survivor).status == LinkStatus.SYNCED
    assert ContactLink.objects.filter(status=LinkStatus.DUPLICATE).count() == 2   # R7 duplicates, as the sync sees them
