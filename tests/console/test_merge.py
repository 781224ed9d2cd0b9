"""Merging duplicates: the Salesforce merge preview (R5), the merge itself and the HubSpot merge
(R7). The merges run against the sandbox over HTTP with the real connectors."""
from __future__ import annotations

import pytest
from django.urls import reverse
from hubspot import HubSpot

from sync.models import AuditEvent, ContactLink, HsContact, LinkStatus, SfPerson, SyncRun
from sync.services import update_settings
from tests.conftest import client_for
from tests.console.conftest import HX, r2_group, r7_group, sf_person

pytestmark = pytest.mark.django_db
PREVIEW = reverse("sync:merge_salesforce")
HS_MERGE = reverse("sync:merge_hubspot")


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- preview ------------------------------------------------------------------------------------

def test_preview_sends_anonymous_users_to_login(client):
    assert client.get(PREVIEW, {"key": "ann@example.com"})["Location"].startswith("/login/")


def test_preview_is_for_operators_only(viewer_client, nobody):
    r2_group("ann@example.com")
    assert viewer_client.get(PREVIEW, {"key": "ann@example.com"}).status_code == 403
    assert client_for(nobody).get(PREVIEW, {"key": "ann@example.com"}).status_code == 403


def test_preview_rejects_other_methods(operator_client):
    assert operator_client.put(PREVIEW).status_code == 405
    assert operator_client.delete(PREVIEW).status_code == 405


def test_the_primary_defaults_to_the_synced_record(operator_client):
    members = r2_group("ann@example.com", size=3, synced=2)
    response = operator_client.get(PREVIEW, {"key": "ANN@example.com "})
    assert response.status_code == 200 and b"<html" in response.content
    preview = response.context["preview"]
    assert preview.primary == members[2] and preview.losers == members[:2]
    assert preview.affected == [] and preview.calls == 1
    html = response.content.decode()
    assert f'value="{members[2].sf_id}" checked' in html
    assert "No HubSpot contact will be deleted or left without a primary." in html
    assert "Warning" not in html
    assert f"Merge 2 records into {members[2].sf_id}" in html


def test_the_primary_defaults_to_the_first_returned_when_none_is_synced(operator_client):
    members = r2_group("ann@example.com", synced=None)
    assert operator_client.get(PREVIEW, {"key": "ann@example.com"}).context["preview"].primary == members[0]


def test_choosing_another_primary_warns_and_lists_the_contact_that_loses_its_primary(operator_client):
    members = r2_group("ann@example.com", size=2, synced=0)
    contact = members[0].links.get().hs_contact
    response = operator_client.get(PREVIEW, {"key": "ann@example.com", "primary": members[1].sf_id}, headers=HX)
    assert response.status_code == 200 and b"<html" not in response.content
    html = response.content.decode()
    assert "<strong>Warning:</strong> the primary you chose is not the record HubSpot currently syncs with" in html
    assert f"HubSpot contact <a href=\"{reverse('sync:contact', args=[contact.hs_id])}\">{contact.hs_id}</a>" in html
    assert "it will <strong>lose its primary</strong>" in html and "deleted</strong> in HubSpot" not in html


def test_with_the_delete_setting_on_the_preview_says_the_contact_will_be_deleted(operator_client):
    update_settings(actor=None, changes={"delete_hubspot_contact_on_delete": True})
    members = r2_group("ann@example.com", size=2, synced=0)
    response = operator_client.get(PREVIEW, {"key": "ann@example.com", "primary": members[1].sf_id})
    [affected] = response.context["preview"].affected
    assert affected.outcome == "deleted" and affected.record == members[0]
    assert "it will be <strong>deleted</strong> in HubSpot" in response.content.decode()


def test_members_of_the_other_type_are_listed_as_not_merged(operator_client):
    contact = sf_person("mix@example.com", seq=0)
    lead = sf_person("mix@example.com", object_type="Lead", seq=1)
    other = sf_person("mix@example.com", seq=2)
    response = operator_client.get(PREVIEW, {"key": "mix@example.com"})
    preview = response.context["preview"]
    assert preview.primary == contact and preview.losers == [other] and preview.skipped == [lead]
    assert f"Not merged: Lead <span class=\"mono\">{lead.sf_id}</span>" in response.content.decode()


def test_a_lead_as_primary_leaves_nothing_to_merge(operator_client):
    sf_person("mix@example.com", seq=0)
    lead = sf_person("mix@example.com", object_type="Lead", seq=1)
    response = operator_client.get(PREVIEW, {"key": "mix@example.com", "primary": lead.sf_id})
    assert response.context["preview"].losers == []
    assert b'name="confirm"' not in response.content


def test_a_group_that_is_gone_redirects_with_a_message(operator_client):
    sf_person("single@example.com")
    response = operator_client.get(PREVIEW, {"key": "single@example.com"}, follow=True)
    assert response.redirect_chain == [(reverse("sync:duplicates"), 302)]
    assert messages_of(response) == ["This group no longer has duplicates to merge."]


def test_a_primary_outside_the_group_is_refused(operator_client):
    r2_group("ann@example.com")
    stranger = sf_person("bob@example.com")
    response = operator_client.get(PREVIEW, {"key": "ann@example.com", "primary": stranger.sf_id}, follow=True)
    assert messages_of(response) == [f"{stranger.sf_id} is not a member of this group."]


# --- the Salesforce merge (sandbox) -------------------------------------------------------------

def sandbox_group(crm, email: str, n: int = 2, *, synced: int = 0, values: dict | None = None) -> list[SfPerson]:
    """`n` Salesforce contacts with one email, in the sandbox and in the mirror; member `synced`
    linked to a HubSpot contact; `values` {member: {"phone": …, "title": …}} for some."""
    members = r2_group(email, size=n, synced=synced)
    for i, extra in (values or {}).items():
        SfPerson.objects.filter(pk=members[i].pk).update(**extra)
        members[i].refresh_from_db()
    contact = members[synced].links.get().hs_contact
    crm.load({"salesforce": {"Contact": [{"Id": m.sf_id, "FirstName": m.first_name, "LastName": m.last_name,
                                          "Email": email, "Phone": m.phone or None, "Title": m.title or None}
                                         for m in members]},
              "hubspot": {"contacts": [{"id": contact.hs_id, "properties": {
                  "email": email, "salesforcecontactid": members[synced].sf_id}}]}})
    return members


def sf_row(crm, sf_id: str) -> dict:
    from tests.console.conftest import salesforce_row
    return salesforce_row(crm, "Contact", sf_id)


def test_merge_keeps_the_primary_deletes_the_others_and_is_audited(crm, operator_client, operator):
    members = sandbox_group(crm, "ann@example.com", 3, synced=1)
    response = operator_client.post(PREVIEW, {"key": "ann@example.com", "primary": members[1].sf_id, "confirm": "1"})
    assert response.status_code == 302 and response["Location"] == f"{reverse('sync:duplicates')}?q=ann%40example.com"
    for loser in (members[0], members[2]):
        row = sf_row(crm, loser.sf_id)
        assert row["IsDeleted"] is True and row["MasterRecordId"] == members[1].sf_id
        loser.refresh_from_db()
        assert loser.is_deleted and loser.master_record_id == members[1].sf_id
    assert sf_row(crm, members[1].sf_id)["IsDeleted"] is False
    event = AuditEvent.objects.get(action="record_merged")
    assert (event.action, event.rule, event.actor, event.target_id) == ("record_merged", "R5", operator, members[1].sf_id)
    assert event.after == {"master": members[1].sf_id, "merged": [members[0].sf_id, members[2].sf_id],
                           "hubspot_contacts_affected": []}
    run = SyncRun.objects.get()
    assert AuditEvent.objects.get(action="sync_requested").actor == operator  # the follow-up sync is audited too
    assert run.requested_by == operator and run.status == "pending"
    assert ContactLink.objects.get().status == LinkStatus.SYNCED
    page = operator_client.get(response["Location"])
    from sync.models import MergeSnapshot

    snapshot = MergeSnapshot.objects.get()
    assert (f"Merged into {members[1].sf_id}. A sync run was queued to apply it in HubSpot. It can be undone for 15 "
            f"days under Duplicates → Merges (merge {snapshot.pk}).") in messages_of(page)
    assert (snapshot.master_id, snapshot.merge_status, snapshot.created_by) == (members[1].sf_id, "merged", operator)
    assert page.context["page"].groups == []


def test_the_preview_offers_each_field_the_records_disagree_on(operator_client):
    members = r2_group("ann@example.com", 2, synced=0)
    SfPerson.objects.filter(pk=members[1].pk).update(phone="555-0101", title="CTO")
    SfPerson.objects.filter(pk=members[0].pk).update(title="CEO")
    response = operator_client.get(PREVIEW, {"key": "ann@example.com"})
    fields = {f.name: (f.keep, f.value) for f in response.context["preview"].fields}
    # first names agree (not offered); the primary's last name and title stay; its blank phone is filled
    assert fields == {"LastName": (members[0].sf_id, "Lee0"), "Phone": (members[1].sf_id, "555-0101"),
                      "Title": (members[0].sf_id, "CEO")}
    html = response.content.decode()
    assert f"Sets phone on <span class=\"mono\">{members[0].sf_id}</span> to “555-0101”" in html
    assert f'name="keep_Title" value="{members[1].sf_id}"' in html            # the other title can be picked
    picked = operator_client.get(PREVIEW, {"key": "ann@example.com", "keep_Title": members[1].sf_id})
    assert {f.name: f.value for f in picked.context["preview"].fields}["Title"] == "CTO"
    assert "Sets title on" in picked.content.decode()


def test_the_merge_keeps_the_values_picked_field_by_field_in_salesforce(crm, operator_client, operator):
    members = sandbox_group(crm, "ann@example.com", 3, synced=0, values={0: {"title": "CEO"}, 2: {"phone": "555-0102"}})
    operator_client.post(PREVIEW, {"key": "ann@example.com", "primary": members[0].sf_id, "confirm": "1",
                                   "keep_LastName": members[1].sf_id, "keep_Phone": members[2].sf_id,
                                   "keep_Title": members[0].sf_id})
    from sandbox.testing import salesforce_client
    [row] = salesforce_client(crm.url).query(
        f"SELECT LastName, Phone, Title FROM Contact WHERE Id = '{members[0].sf_id}'")["records"]
    assert (row["LastName"], row["Phone"], row["Title"]) == ("Lee1", "555-0102", "CEO")
    assert sf_row(crm, members[1].sf_id)["IsDeleted"] is True and sf_row(crm, members[2].sf_id)["IsDeleted"] is True
    members[0].refresh_from_db()
    assert (members[0].last_name, members[0].phone, members[0].title) == ("Lee1", "555-0102", "CEO")
    event = AuditEvent.objects.get(action="record_merged")
    p = members[0].sf_id
    assert event.before[f"last name of {p}"] == "Lee0" and event.after[f"last name of {p}"] == f"Lee1 (from {members[1].sf_id})"
    assert event.before[f"phone of {p}"] == "" and event.after[f"phone of {p}"] == f"555-0102 (from {members[2].sf_id})"
    assert f"title of {p}" not in event.after                                     # kept as it was: no change to record
    assert "kept last name 'Lee1' from" in event.message


def test_a_value_picked_from_outside_the_merge_is_refused(crm, operator_client):
    members = sandbox_group(crm, "ann@example.com", 2)
    stranger = sf_person("bob@example.com")
    response = operator_client.post(PREVIEW, {"key": "ann@example.com", "primary": members[0].sf_id, "confirm": "1",
                                              "keep_LastName": stranger.sf_id}, follow=True)
    assert messages_of(response) == ["The merge did not complete: The last name to keep must come from one of the "
                                     "records being merged."]
    assert sf_row(crm, members[1].sf_id)["IsDeleted"] is False and not AuditEvent.objects.exists()


def test_merging_away_the_synced_record_names_the_contact_in_the_audit(crm, operator_client):
    members = sandbox_group(crm, "ann@example.com", 2, synced=0)
    contact = members[0].links.get().hs_contact
    operator_client.post(PREVIEW, {"key": "ann@example.com", "primary": members[1].sf_id, "confirm": "1"})
    event = AuditEvent.objects.get(action="record_merged")
    assert event.after["hubspot_contacts_affected"] == [contact.hs_id]
    assert f"HubSpot contact(s) {contact.hs_id} will be left without a primary (R5)." in event.message


def test_a_post_without_confirm_only_shows_the_preview(crm, operator_client):
    members = sandbox_group(crm, "ann@example.com")
    response = operator_client.post(PREVIEW, {"key": "ann@example.com", "primary": members[0].sf_id})
    assert response.status_code == 200 and response.context["preview"].primary == members[0]
    assert sf_row(crm, members[1].sf_id)["IsDeleted"] is False
    assert not AuditEvent.objects.exists() and not SyncRun.objects.exists()


def test_a_merge_salesforce_refuses_is_reported_and_changes_nothing(crm, operator_client):
    members = sandbox_group(crm, "ann@example.com")
    ghost = sf_person("ann@example.com", seq=9)  # in our mirror only: Salesforce does not know it
    response = operator_client.post(PREVIEW, {"key": "ann@example.com", "primary": ghost.sf_id, "confirm": "1"},
                                    follow=True)
    assert response.redirect_chain[0][0] == f"{PREVIEW}?key=ann%40example.com&primary={ghost.sf_id}"
    [message] = messages_of(response)
    assert message.startswith("The merge did not complete:")
    assert sf_row(crm, members[0].sf_id)["IsDeleted"] is False
    assert not AuditEvent.objects.exists() and not SyncRun.objects.exists()


def test_the_merge_is_refused_to_viewers_and_without_csrf(crm, viewer_client, operator):
    members = sandbox_group(crm, "ann@example.com")
    data = {"key": "ann@example.com", "primary": members[0].sf_id, "confirm": "1"}
    assert viewer_client.post(PREVIEW, data).status_code == 403
    assert client_for(operator, csrf=True).post(PREVIEW, data).status_code == 403
    assert sf_row(crm, members[1].sf_id)["IsDeleted"] is False
    assert not AuditEvent.objects.exists()


# --- the HubSpot merge (R7, sandbox) ------------------------------------------------------------

def sandbox_r7(crm, n: int = 2) -> tuple[SfPerson, list[HsContact]]:
    person, contacts = r7_group(n)
    crm.load({"hubspot": {"contacts": [{"id": c.hs_id, "properties": {
        "email": c.email, "firstname": c.first_name, "lastname": c.last_name,
        "salesforcecontactid": person.sf_id}} for c in contacts]}})
    return person, contacts


def test_hubspot_merge_keeps_the_synced_contact_and_moves_the_link(crm, operator_client, operator):
    person, contacts = sandbox_r7(crm, 3)
    response = operator_client.post(HS_MERGE, {"sf_id": person.sf_id, "confirm": "1"})
    assert response.status_code == 302 and response["Location"] == f"{reverse('sync:duplicates')}?kind=r7"
    survivor = HsContact.objects.get(archived=False)
    assert survivor.hs_id not in {c.hs_id for c in contacts}
    assert survivor.email == contacts[0].email and survivor.salesforce_contact_id == person.sf_id
    for c in contacts:  # each merge gives a new id, so the old ids lead to the survivor through a chain
        hs_id = c.hs_id
        while (into := crm.hubspot.record("contacts", hs_id).get("mergedInto")) is not None:
            hs_id = into
        assert hs_id == survivor.hs_id
    assert crm.hubspot.record("contacts", survivor.hs_id)["properties"]["salesforcecontactid"] == person.sf_id
    into = dict(HsContact.objects.filter(archived=True).values_list("hs_id", "merged_into_id"))
    for hs_id in into:  # the mirror keeps the same chain
        while hs_id in into:
            hs_id = into[hs_id]
        assert hs_id == survivor.hs_id
    assert ContactLink.objects.get(status=LinkStatus.SYNCED).hs_contact == survivor
    assert set(ContactLink.objects.exclude(hs_contact=survivor).values_list("status", flat=True)) == {LinkStatus.MERGED}
    first, last = AuditEvent.objects.order_by("pk")   # one event per merge HubSpot made
    assert (last.action, last.rule, last.actor, last.target_id) == ("record_merged", "R7", operator, survivor.hs_id)
    assert first.before == {"primary": contacts[0].hs_id, "merged": [contacts[1].hs_id]}
    assert last.before == {"primary": first.target_id, "merged": [contacts[2].hs_id]}
    page = operator_client.get(response["Location"])
    assert f"Merged 2 HubSpot contact(s) into {contacts[0].hs_id}; HubSpot's merged record is {survivor.hs_id}. " \
           "Duplicates → Merges can make the merged contacts again." \
        in messages_of(page)
    assert page.context["page"].groups == []


def test_a_hubspot_merge_that_stops_half_way_records_what_it_did(crm, operator_client, operator):
    """The third member was deleted in HubSpot meanwhile: the first two are merged (recorded as
    they happened), the third is refused, and the page and the audit say exactly that."""
    person, contacts = sandbox_r7(crm, 3)
    HubSpot(access_token="sandbox", host=crm.url).crm.contacts.basic_api.archive(contacts[2].hs_id)
    response = operator_client.post(HS_MERGE, {"sf_id": person.sf_id, "confirm": "1"}, follow=True)
    [message] = messages_of(response)
    survivor = HsContact.objects.get(archived=False, merged_into_id="", hs_id__in=[
        e.target_id for e in AuditEvent.objects.all()])
    assert message.startswith("The HubSpot merge did not complete: HubSpot refused to merge contact "
                              f"{contacts[2].hs_id}")
    assert f"merged {contacts[1].hs_id} into {survivor.hs_id}; not merged: {contacts[2].hs_id}." in message
    assert {c.hs_id for c in HsContact.objects.filter(merged_into_id=survivor.hs_id)} == {c.hs_id for c in contacts[:2]}
    assert ContactLink.objects.get(hs_contact=survivor).status == LinkStatus.SYNCED
    step, stop = AuditEvent.objects.order_by("pk")
    assert step.after["new_id"] == survivor.hs_id
    assert stop.after["left"] == [contacts[2].hs_id] and stop.actor == operator
    assert crm.hubspot.record("contacts", survivor.hs_id)["properties"]["salesforcecontactid"] == person.sf_id


def test_hubspot_merge_without_a_synced_contact_is_refused(crm, operator_client):
    person, contacts = sandbox_r7(crm)
    ContactLink.objects.all().delete()
    response = operator_client.post(HS_MERGE, {"sf_id": person.sf_id, "confirm": "1"}, follow=True)
    [message] = messages_of(response)
    assert message.startswith("The HubSpot merge did not complete: ")
    assert all(crm.hubspot.record("contacts", c.hs_id).get("mergedInto") is None for c in contacts)
    assert not AuditEvent.objects.exists()


def test_hubspot_merge_needs_an_operator_post_and_csrf(crm, client, viewer_client, operator, operator_client):
    person, contacts = sandbox_r7(crm)
    assert client.post(HS_MERGE, {"sf_id": person.sf_id})["Location"].startswith("/login/")
    assert viewer_client.post(HS_MERGE, {"sf_id": person.sf_id, "confirm": "1"}).status_code == 403
    assert operator_client.get(HS_MERGE, {"sf_id": person.sf_id}).status_code == 200   # a preview, nothing merged
    assert client_for(operator, csrf=True).post(HS_MERGE, {"sf_id": person.sf_id, "confirm": "1"}).status_code == 403
    assert HsContact.objects.filter(archived=False).count() == 2
    assert crm.hubspot.record("contacts", contacts[1].hs_id).get("mergedInto") is None
    assert not AuditEvent.objects.exists()


def test_the_r7_tab_the_preview_and_the_merge_keep_the_same_primary(crm, operator_client):
    """The page said "into 1089" and the merge kept 1088 once: now the tab, the preview and the
    merge all name the contact that syncs with the record (R7)."""
    person, contacts = sandbox_r7(crm, 2)
    synced = ContactLink.objects.get(status=LinkStatus.SYNCED).hs_contact
    tab = operator_client.get(reverse("sync:duplicates"), {"kind": "r7"}).content.decode()
    assert f"Preview merge in HubSpot into {synced.hs_id}" in tab
    preview = operator_client.get(HS_MERGE, {"sf_id": person.sf_id})
    assert preview.context["preview"].primary == synced and "Warning" not in preview.content.decode()
    html = preview.content.decode()
    assert "creates a new HubSpot contact with a new id" in html and "additional emails" in html
    response = operator_client.post(HS_MERGE, {"sf_id": person.sf_id, "primary": synced.hs_id, "confirm": "1"},
                                    follow=True)
    assert messages_of(response)[0].startswith(f"Merged 1 HubSpot contact(s) into {synced.hs_id};")
    assert AuditEvent.objects.get().before == {"primary": synced.hs_id,
                                               "merged": [c.hs_id for c in contacts if c.hs_id != synced.hs_id]}


def test_another_primary_is_allowed_with_a_warning_and_its_values_survive(crm, operator_client):
    person, contacts = sandbox_r7(crm, 2)
    synced = ContactLink.objects.get(status=LinkStatus.SYNCED).hs_contact
    other = next(c for c in contacts if c.hs_id != synced.hs_id)
    preview = operator_client.get(HS_MERGE, {"sf_id": person.sf_id, "primary": other.hs_id}).content.decode()
    assert "Warning" in preview and "the primary you chose is not the contact that syncs with" in preview
    operator_client.post(HS_MERGE, {"sf_id": person.sf_id, "primary": other.hs_id, "confirm": "1"})
    survivor = HsContact.objects.get(archived=False)
    assert survivor.email == other.email                                   # the chosen primary's values
    assert ContactLink.objects.get(hs_contact=survivor).status == LinkStatus.SYNCED   # and it syncs with the record
    assert ContactLink.objects.get(hs_contact=survivor).sf_person.sf_id == person.sf_id


def test_an_email_with_a_plus_survives_the_redirects(crm, operator_client):
    members = sandbox_group(crm, "ann+news@example.com")
    response = operator_client.post(PREVIEW, {"key": "ann+news@example.com", "primary": members[0].sf_id,
                                              "confirm": "1"}, follow=True)
    assert response.redirect_chain[0][0] == f"{reverse('sync:duplicates')}?q=ann%2Bnews%40example.com"
    assert response.context["filters"]["q"] == "ann+news@example.com"
    assert sf_row(crm, members[1].sf_id)["MasterRecordId"] == members[0].sf_id
