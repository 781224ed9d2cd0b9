"""The inclusion list, end to end through the real clients: only the HubSpot contacts in the chosen
list are created in or updated to Salesforce; contacts outside it stop receiving Salesforce's
updates; Salesforce's new records still come into HubSpot; a contact that joins is synced the
next run; a list that cannot be read stops contacts going to Salesforce rather than sending all."""
from __future__ import annotations

import pytest

from sandbox.ids import IdFactory
from sync.models import AuditEvent, ContactLink, FieldRule, HsContact, InclusionListState
from tests.conftest import restore_reference_data
from tests.engine.conftest import events, hs_contact, set_settings, sync_ok

pytestmark = pytest.mark.django_db(transaction=True)
A = AuditEvent.Action
_ids = IdFactory(seed=15)
OLD = "2024-01-01T00:00:00.000+0000"


def contact(hs_id: int, email: str, first: str = "Ann") -> dict:
    return {"id": str(hs_id), "properties": {"email": email, "firstname": first, "lastname": "Lee"}}


def lead(email: str, first: str = "Sal") -> dict:
    return {"Id": _ids.new("Lead"), "FirstName": first, "LastName": "Force", "Email": email, "Company": "Acme",
            "LastModifiedDate": OLD, "CreatedDate": OLD}


def leads_for(sf, email: str) -> list[dict]:
    return sf.query(f"SELECT Id, FirstName, Email FROM Lead WHERE Email = '{email}'")["records"]


def choose_list(hs, name: str, members: list[str]) -> str:
    """A static list made and filled through the real client; chosen as the inclusion list."""
    from hubspot.crm.lists import ListCreateRequest

    made = hs.crm.lists.lists_api.create(ListCreateRequest(name=name, object_type_id="0-1", processing_type="MANUAL")).list
    if members:
        hs.crm.lists.memberships_api.add(made.list_id, members)
    set_settings(inclusion_list_id=made.list_id, inclusion_list_name=name)
    return made.list_id


@pytest.fixture
def two_way_first_names():
    """First name syncs both ways (the newer side wins), so both directions can be watched."""
    restore_reference_data()   # an earlier transactional test may have flushed the default rules
    assert FieldRule.objects.filter(object="contact", hubspot_property="firstname").update(rule=FieldRule.Rule.TWO_WAY)


def test_only_list_members_go_to_salesforce_and_outsiders_get_no_salesforce_updates(crm, hs, sf, two_way_first_names):
    known = lead("cat@example.com", first="Sal")
    newcomer = lead("dan@example.com", first="Dan")
    crm.load({"salesforce": {"Lead": [known, newcomer]},
              "hubspot": {"contacts": [contact(101, "ann@example.com"), contact(102, "bob@example.com", "Bob"),
                                       contact(103, "cat@example.com", "Cat")]}})
    list_id = choose_list(hs, "Sync to Salesforce", ["101"])
    sync_ok(full=True)

    # In the list: a lead is created (R1). Outside: none, and nothing said it should be.
    assert [r["FirstName"] for r in leads_for(sf, "ann@example.com")] == ["Ann"]
    assert leads_for(sf, "bob@example.com") == []
    # Outside but sharing an email: still linked (the console shows the record), no values exchanged.
    link = ContactLink.objects.get(hs_contact__hs_id="103")
    assert link.sf_person.sf_id == known["Id"]
    assert hs_contact(hs, 103)["firstname"] == "Cat" and leads_for(sf, "cat@example.com")[0]["FirstName"] == "Sal"
    # Salesforce's new records still come into HubSpot (create_hubspot_contacts is on).
    assert HsContact.objects.filter(email="dan@example.com").exists()
    state = InclusionListState.load()
    assert (state.list_id, state.members, state.problem) == (list_id, 1, "")
    assert set(HsContact.objects.filter(outside_list=True).values_list("email", flat=True)) >= {
        "bob@example.com", "cat@example.com"}
    [summary] = events(A.LIST_MEMBERSHIP, target_id="inclusion_list")
    assert summary.after["members"] == 1 and summary.after["list_id"] == list_id

    # A member's edit reaches Salesforce; an outsider's does not, nor does Salesforce's edit reach it.
    crm.advance_clock(2)
    crm.hubspot.touch("contacts", 101, {"firstname": "Annie"})
    crm.hubspot.touch("contacts", 102, {"firstname": "Bobby"})
    crm.salesforce.touch(known["Id"], {"FirstName": "Salvador"})
    sync_ok()
    assert leads_for(sf, "ann@example.com")[0]["FirstName"] == "Annie"
    assert leads_for(sf, "bob@example.com") == []
    assert hs_contact(hs, 103)["firstname"] == "Cat"


def test_a_contact_that_joins_the_list_is_synced_next_run_and_one_that_leaves_stops(crm, hs, sf, two_way_first_names):
    crm.load({"hubspot": {"contacts": [contact(101, "ann@example.com"), contact(102, "bob@example.com", "Bob")]}})
    list_id = choose_list(hs, "Chosen", ["101"])
    sync_ok(full=True)
    assert leads_for(sf, "bob@example.com") == []

    # Joining changes no property of the contact: the run still sees it, and syncs it.
    hs.crm.lists.memberships_api.add(list_id, ["102"])
    sync_ok()
    assert [r["FirstName"] for r in leads_for(sf, "bob@example.com")] == ["Bob"]
    [joined] = events(A.LIST_MEMBERSHIP, target_id="102")
    assert (joined.before, joined.after) == ({"in_list": False}, {"in_list": True})
    assert joined.target_repr == "bob@example.com"

    hs.crm.lists.memberships_api.remove(list_id, ["101"])
    sync_ok()
    assert events(A.LIST_MEMBERSHIP, target_id="101")[-1].after == {"in_list": False}
    crm.advance_clock(2)
    crm.hubspot.touch("contacts", 101, {"firstname": "Annie"})
    sync_ok()
    assert leads_for(sf, "ann@example.com")[0]["FirstName"] == "Ann"


def test_an_active_list_follows_the_contacts_properties(crm, hs, sf):
    from hubspot.crm.lists import ListCreateRequest

    branch = {"filterBranchType": "OR", "filterBranches": [{"filterBranchType": "AND", "filters": [
        {"filterType": "PROPERTY", "property": "email",
         "operation": {"operationType": "MULTISTRING", "operator": "ENDS_WITH", "values": ["@customer.example"]}}]}]}
    made = hs.crm.lists.lists_api.create(ListCreateRequest(name="Customers", object_type_id="0-1",
                                                           processing_type="DYNAMIC", filter_branch=branch)).list
    crm.load({"hubspot": {"contacts": [contact(101, "ann@customer.example"), contact(102, "bob@prospect.example")]}})
    set_settings(inclusion_list_id=made.list_id, inclusion_list_name="Customers")
    sync_ok(full=True)
    assert len(leads_for(sf, "ann@customer.example")) == 1 and leads_for(sf, "bob@prospect.example") == []
    crm.hubspot.touch("contacts", 102, {"email": "bob@customer.example"})   # now the list's filters take it in
    sync_ok()
    assert len(leads_for(sf, "bob@customer.example")) == 1


def test_a_list_hubspot_no_longer_has_sends_nobody_until_it_is_fixed(crm, hs, sf, two_way_first_names):
    crm.load({"hubspot": {"contacts": [contact(101, "ann@example.com"), contact(102, "bob@example.com", "Bob")]}})
    list_id = choose_list(hs, "Chosen", ["101", "102"])
    sync_ok(full=True)
    assert len(leads_for(sf, "bob@example.com")) == 1
    hs.crm.lists.lists_api.remove(list_id)                       # someone deletes the list in HubSpot
    crm.advance_clock(2)   # the edit is newer than the lead, by Salesforce's whole seconds too
    crm.hubspot.touch("contacts", 102, {"firstname": "Bobby"})
    crm.hubspot.load_records("contacts", [contact(104, "eve@example.com", "Eve")])
    run = sync_ok()                                              # the run goes on: the rest still syncs
    assert leads_for(sf, "bob@example.com")[0]["FirstName"] == "Bob"
    assert leads_for(sf, "eve@example.com") == []
    state = InclusionListState.load()
    assert f"HubSpot list {list_id} could not be read" in state.problem and "404" in state.problem
    assert HsContact.objects.exclude(outside_list=True).filter(archived=False).count() == 0
    [problem] = events(A.LIST_MEMBERSHIP, run=run)
    assert problem.after["outside"] == 3 and state.outside == 3

    set_settings(inclusion_list_id="", inclusion_list_name="")    # the admin clears it: everyone syncs again
    sync_ok()
    assert leads_for(sf, "bob@example.com")[0]["FirstName"] == "Bobby"
    assert len(leads_for(sf, "eve@example.com")) == 1
    assert InclusionListState.load().problem == ""
    assert set(HsContact.objects.values_list("outside_list", flat=True)) == {None}   # no list: never read


def test_without_a_list_nothing_is_read_and_everyone_syncs(crm, hs, sf):
    crm.load({"hubspot": {"contacts": [contact(101, "ann@example.com")]}})
    crm.reset_stats()
    sync_ok(full=True)
    assert len(leads_for(sf, "ann@example.com")) == 1
    assert not any("lists" in label for label in crm.stats()["hubspot"])
    assert not events(A.LIST_MEMBERSHIP)


def test_an_outside_contact_does_not_follow_its_salesforce_account(crm, hs, sf):
    """R10 is Salesforce reaching the HubSpot contact: outside the list, no company is associated."""
    from tests.engine.conftest import associated_companies

    account = {"Id": _ids.new("Account"), "Name": "Acme", "LastModifiedDate": OLD, "CreatedDate": OLD}
    person = {"Id": _ids.new("Contact"), "FirstName": "Cat", "LastName": "Lee", "Email": "cat@example.com",
              "AccountId": account["Id"], "LastModifiedDate": OLD, "CreatedDate": OLD}
    inside = {**person, "Id": _ids.new("Contact"), "Email": "ann@example.com", "FirstName": "Ann"}
    crm.load({"salesforce": {"Account": [account], "Contact": [person, inside]},
              "hubspot": {"contacts": [contact(101, "ann@example.com"), contact(103, "cat@example.com", "Cat")]}})
    choose_list(hs, "Chosen", ["101"])
    sync_ok(full=True)
    assert ContactLink.objects.get(hs_contact__hs_id="103").sf_person.sf_id == person["Id"]   # linked (R3)
    assert associated_companies(hs, 103) == set()                                             # not followed (R10)
    assert len(associated_companies(hs, 101)) == 1                                            # the member is
