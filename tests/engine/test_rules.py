"""Acceptance: one test per rule of domain.md (R1–R11), the two creation settings, and Resync (R6),
each against the sandbox over HTTP with the real clients. Assertions are what a person would see
afterwards: HubSpot's Salesforce-id properties read back through hubspot-api-client, archived
contacts, records created in Salesforce queried through simple-salesforce, associations, and the
audit history."""
from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from sandbox.ids import IdFactory
from sync import services
from sync.crm.salesforce import SalesforceConfig, SalesforceConnector
from sync.engine import schema
from sync.models import AuditEvent, CompanyLink, ContactLink, DealLink, HsContact, LinkStatus
from tests.engine.conftest import (
    all_hs,
    associated_companies,
    events,
    hs_contact,
    set_settings,
    sync_ok,
    synced_id,
)

pytestmark = pytest.mark.django_db(transaction=True)
A = AuditEvent.Action
_ids = IdFactory(seed=4)
OLD = "2024-01-01T00:00:00.000+0000"
OLDER = "2023-06-01T00:00:00.000+0000"


def new_id(sobject: str) -> str:
    return _ids.new(sobject)


def person(sobject: str, email: str | None, *, last: str = "Lee", first: str = "Ann", stamp: str = OLD, **extra) -> dict:
    rec = {"Id": new_id(sobject), "FirstName": first, "LastName": last, "Email": email,
           "LastModifiedDate": stamp, "CreatedDate": stamp, **extra}
    if sobject == "Lead":
        rec.setdefault("Company", "Acme")
    return rec


def contact(hs_id: int, email: str | None, **props) -> dict:
    p = {"firstname": "Ann", "lastname": "Lee", **props}
    if email is not None:
        p["email"] = email
    return {"id": str(hs_id), "properties": p}


def no_creation() -> None:
    set_settings(create_salesforce_leads=False, create_hubspot_contacts=False)


def merge(master_type: str, master: str, victim: str) -> None:
    """A Salesforce admin merges `victim` into `master` (SOAP merge(), the only API merge)."""
    result = SalesforceConnector(SalesforceConfig.from_settings()).merge(master_type, master, [victim])
    assert result["success"], result


# --- R1 ---------------------------------------------------------------------------------------
def test_r1_email_is_the_only_key(crm, hs):
    """R1: matched by email alone, case-insensitive after trimming; equal names/phones with other
    emails, dot/+tag variants and records without email never match."""
    no_creation()
    lead = person("Lead", "  ANN.Lee@Example.com ")
    namesake = person("Contact", "ann.lee@other.example", Phone="+1 555 0100")       # same name + phone
    variant = person("Contact", "annlee+news@example.com")                           # not the same email
    no_email = person("Contact", None, first="Nobody", last="Noemail")
    crm.load({"salesforce": {"Contact": [namesake, variant, no_email], "Lead": [lead]},
              "hubspot": {"contacts": [contact(101, "ann.lee@example.com", phone="+1 555 0100"),
                                       contact(102, None, firstname="Nobody", lastname="Noemail")]}})
    sync_ok()
    assert synced_id(hs, 101) == ("Lead", lead["Id"])
    assert synced_id(hs, 102) == ("", "")          # no email: never matches anything
    linked = set(ContactLink.objects.values_list("sf_person__sf_id", flat=True))
    assert linked == {lead["Id"]}
    [event] = events(A.LINK_CREATED, target_id="101")
    assert event.after["sf_id"] == lead["Id"]


# --- R2 ---------------------------------------------------------------------------------------
def test_r2_converted_lead_is_not_a_group_member(crm, hs, sf):
    """R2: a converted lead is history, not a duplicate: never linked; a linked lead that gets
    converted hands its link to the contact it became."""
    no_creation()
    crm.configure(order="insertion")
    lead = person("Lead", "bo@example.com", first="Bo")
    other = person("Lead", "BO@example.com", first="Bo")
    crm.load({"salesforce": {"Lead": [lead, other]}, "hubspot": {"contacts": [contact(101, "bo@example.com")]}})
    run = sync_ok()
    assert synced_id(hs, 101) == ("Lead", lead["Id"])   # R3: first returned
    assert run.snapshot["r2_groups"] == 1

    # The linked lead is converted in Salesforce: the group is now the new contact + `other`.
    converted = crm.salesforce.convert_lead(lead["Id"])
    crm.advance_clock(5)
    run = sync_ok()
    assert synced_id(hs, 101) == ("Contact", converted["contactId"])
    link = ContactLink.objects.get(hs_contact__hs_id="101")
    assert link.chosen_by == ContactLink.ChosenBy.CONVERTED
    switched = events(A.LINK_SWITCHED, target_id="101")
    assert switched[-1].before["sf_id"] == lead["Id"] and switched[-1].after["sf_id"] == converted["contactId"]
    assert sf.query(f"SELECT IsConverted FROM Lead WHERE Id = '{lead['Id']}'")["records"][0]["IsConverted"]
    assert run.snapshot["r2_groups"] == 1   # contact + other lead; the converted lead is not counted
    # Nobody ever links to the converted lead again, whatever happens to it.
    crm.advance_clock(5)
    crm.salesforce.touch(other["Id"], {"Title": "touched"})
    sync_ok()
    assert not ContactLink.objects.filter(sf_person__sf_id=lead["Id"]).exists()


def test_r2_converted_lead_never_linked_first(crm, hs):
    """R2: a HubSpot contact whose only same-email record is a converted lead links to the contact
    the lead became, never to the lead."""
    no_creation()
    crm.configure(order="insertion")
    lead = person("Lead", "cy@example.com", first="Cy")
    crm.load({"salesforce": {"Lead": [lead]}})
    converted = crm.salesforce.convert_lead(lead["Id"])
    crm.load({"hubspot": {"contacts": [contact(101, "cy@example.com")]}})
    sync_ok()
    assert synced_id(hs, 101) == ("Contact", converted["contactId"])


# --- R3 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["insertion", "reverse"])
def test_r3_first_link_is_first_record_returned(crm, hs, order):
    """R3: the first sync links to the first record Salesforce returns, whatever the timestamps;
    later syncs do not overturn it with timestamps older than the link."""
    no_creation()
    crm.configure(order=order)
    first = person("Contact", "dee@example.com", stamp=OLDER)
    second = person("Contact", "dee@example.com", stamp=OLD)        # newer, but older than the link
    crm.load({"salesforce": {"Contact": [first, second]}, "hubspot": {"contacts": [contact(101, "dee@example.com")]}})
    sync_ok()
    expected = first if order == "insertion" else second
    assert synced_id(hs, 101) == ("Contact", expected["Id"])
    link = ContactLink.objects.get(hs_contact__hs_id="101")
    assert link.chosen_by == ContactLink.ChosenBy.FIRST_RETURNED
    [event] = events(A.LINK_CREATED, target_id="101")
    assert event.rule == "R3" and "First record Salesforce returned" in event.message
    crm.advance_clock(5)
    crm.hubspot.touch("contacts", 101, {"firstname": "Dee"})   # something changes, nothing in Salesforce
    sync_ok(full=True)
    assert synced_id(hs, 101) == ("Contact", expected["Id"])
    assert not events(A.LINK_SWITCHED)


def test_r3_a_contact_created_for_a_group_keeps_its_first_record(crm, hs):
    """R3 with "create HubSpot contacts" on: a duplicate group with no HubSpot contact gets one,
    linked to the first record returned; the group's newer record, updated before the link was
    made, does not take the link over at the next run (R4 only follows later updates)."""
    set_settings(create_salesforce_leads=False)
    crm.configure(order="insertion")
    first = person("Contact", "gil@example.com", first="Gil", stamp=OLDER)
    newer = person("Lead", "GIL@example.com ", first="Gil", stamp=OLD)
    crm.load({"salesforce": {"Contact": [first], "Lead": [newer]}})
    sync_ok()
    [created] = [c for c in all_hs(hs, "contacts", ["email"]) if c["email"] == "gil@example.com"]
    assert synced_id(hs, created["id"]) == ("Contact", first["Id"])
    sync_ok()
    sync_ok(full=True)
    assert synced_id(hs, created["id"]) == ("Contact", first["Id"])
    assert not events(A.LINK_SWITCHED)


# --- R4 ---------------------------------------------------------------------------------------
def test_r4_link_moves_to_most_recently_updated(crm, hs):
    """R4: once linked, the link moves when a same-email record is updated in Salesforce after the
    link was made; the audit event names both ids and both timestamps."""
    no_creation()
    crm.configure(order="insertion")
    a = person("Contact", "eve@example.com", first="Eve")
    b = person("Lead", "eve@example.com", first="Eve")
    crm.load({"salesforce": {"Contact": [a], "Lead": [b]}, "hubspot": {"contacts": [contact(101, "eve@example.com")]}})
    sync_ok()
    assert synced_id(hs, 101) == ("Contact", a["Id"])

    crm.advance_clock(10)
    crm.salesforce.touch(b["Id"], {"Title": "CTO"})
    run = sync_ok()
    assert synced_id(hs, 101) == ("Lead", b["Id"])
    assert run.switched == 1
    [event] = events(A.LINK_SWITCHED, target_id="101")
    assert event.rule == "R4"
    assert event.before["sf_id"] == a["Id"] and event.after["sf_id"] == b["Id"]
    assert event.before["modstamp"] and event.after["modstamp"] and event.after["modstamp"] > event.before["modstamp"]
    assert ContactLink.objects.get(hs_contact__hs_id="101").chosen_by == ContactLink.ChosenBy.MOST_RECENT

    # No change in Salesforce: the link stays. Then the first record is edited: it moves back.
    sync_ok()
    assert synced_id(hs, 101) == ("Lead", b["Id"])
    crm.advance_clock(10)
    crm.salesforce.touch(a["Id"], {"Title": "CEO"})
    sync_ok()
    assert synced_id(hs, 101) == ("Contact", a["Id"])
    assert len(events(A.LINK_SWITCHED, target_id="101")) == 2


# --- R5 ---------------------------------------------------------------------------------------
def _merged_setup(crm):
    no_creation()
    crm.configure(order="insertion")
    synced = person("Contact", "fay@example.com", first="Fay")
    other = person("Contact", "fay@example.com", first="Fay")
    crm.load({"salesforce": {"Contact": [synced, other]}, "hubspot": {"contacts": [contact(101, "fay@example.com")]}})
    sync_ok()
    return synced, other


def test_r5_merging_away_the_synced_record_loses_primary(crm, hs, sf):
    """R5, delete setting off: the secondary was the synced record → the HubSpot contact stays and
    is shown as no longer syncing, until someone resyncs (R6)."""
    synced, other = _merged_setup(crm)
    crm.advance_clock(5)
    merge("Contact", other["Id"], synced["Id"])
    gone = sf.query_all(f"SELECT Id, IsDeleted, MasterRecordId FROM Contact WHERE Id = '{synced['Id']}'",
                        include_deleted=True)["records"][0]
    assert gone["IsDeleted"] and gone["MasterRecordId"] == other["Id"]
    run = sync_ok()
    assert run.lost_primary == 1
    assert hs_contact(hs, 101) is not None                    # still in HubSpot
    link = ContactLink.objects.get(hs_contact__hs_id="101")
    assert link.status == LinkStatus.LOST_PRIMARY and link.sf_person.sf_id == synced["Id"]
    [event] = events(A.PRIMARY_LOST, target_id="101")
    assert event.rule == "R5" and other["Id"] in event.message
    # It stays lost: later syncs do not relink it by themselves.
    crm.advance_clock(5)
    crm.salesforce.touch(other["Id"], {"Title": "x"})
    sync_ok()
    assert ContactLink.objects.get(hs_contact__hs_id="101").status == LinkStatus.LOST_PRIMARY
    assert synced_id(hs, 101) != ("Contact", other["Id"])


def test_r5_merging_with_delete_setting_on_archives_contact(crm, hs):
    """R5, delete setting on: the HubSpot contact that synced with the merged-away record is deleted."""
    synced, other = _merged_setup(crm)
    set_settings(delete_hubspot_contact_on_delete=True)
    crm.advance_clock(5)
    merge("Contact", other["Id"], synced["Id"])
    run = sync_ok()
    assert run.deleted == 1
    assert hs_contact(hs, 101) is None
    assert hs_contact(hs, 101, archived=True)["archived"] is True
    assert ContactLink.objects.get(hs_contact__hs_id="101").status == LinkStatus.DELETED
    [event] = events(A.RECORD_DELETED, target_id="101")
    assert event.rule == "R5"


def test_r5_merging_into_the_synced_record_keeps_the_link(crm, hs):
    """R5: the right primary is the synced record; merging the other one into it changes nothing
    for the HubSpot contact."""
    synced, other = _merged_setup(crm)
    crm.advance_clock(5)
    merge("Contact", synced["Id"], other["Id"])
    sync_ok()
    assert synced_id(hs, 101) == ("Contact", synced["Id"])
    assert ContactLink.objects.get(hs_contact__hs_id="101").status == LinkStatus.SYNCED
    assert not events(A.PRIMARY_LOST)


# --- R6 ---------------------------------------------------------------------------------------
def test_r6_resync_follows_master_record_id(crm, hs, django_user_model):
    """R6: Resync re-associates a contact that lost its primary with the record it was merged
    into, and the audit event names who clicked."""
    synced, other = _merged_setup(crm)
    crm.advance_clock(5)
    merge("Contact", other["Id"], synced["Id"])
    sync_ok()
    ada = django_user_model.objects.create_user(username="ada", password="x" * 20)
    [result] = services.resync_contacts(hs_ids=["101"], actor=ada)
    assert result.ok and result.sf_id == other["Id"]
    assert synced_id(hs, 101) == ("Contact", other["Id"])
    link = ContactLink.objects.get(hs_contact__hs_id="101")
    assert (link.status, link.chosen_by, link.chosen_by_user) == (LinkStatus.SYNCED, "R6", ada)
    [event] = events(A.RESYNCED, target_id="101")
    assert event.rule == "R6" and event.actor_name == "ada"
    assert event.before["sf_id"] == synced["Id"] and event.after["sf_id"] == other["Id"]
    # A second click changes nothing and says so.
    [again] = services.resync_contacts(hs_ids=["101"], actor=ada)
    assert not again.ok
    assert len(events(A.RESYNCED)) == 1
    # The next sync keeps the resynced link.
    sync_ok()
    assert synced_id(hs, 101) == ("Contact", other["Id"])


def test_r6_resync_command(crm, hs, capsys):
    """R6 through `manage.py resync`: same outcome, audited as the sync; unknown ids fail the command."""
    synced, other = _merged_setup(crm)
    crm.advance_clock(5)
    merge("Contact", other["Id"], synced["Id"])
    sync_ok()
    call_command("resync", "101")
    assert "101: ok" in capsys.readouterr().out
    assert synced_id(hs, 101) == ("Contact", other["Id"])
    [event] = events(A.RESYNCED, target_id="101")
    assert event.actor_name == "sync"
    with pytest.raises(CommandError):
        call_command("resync", "101", "999999")


def test_r6_resync_without_master_uses_r3_r4(crm, hs):
    """R6: a contact left unsynced by a plain delete (R8) resyncs to what R3/R4 choose now."""
    no_creation()
    crm.configure(order="insertion")
    gone = person("Lead", "gil@example.com", first="Gil")
    crm.load({"salesforce": {"Lead": [gone]}, "hubspot": {"contacts": [contact(101, "gil@example.com")]}})
    sync_ok()
    crm.advance_clock(5)
    SalesforceConnector(SalesforceConfig.from_settings()).client.Lead.delete(gone["Id"])
    sync_ok()
    assert ContactLink.objects.get(hs_contact__hs_id="101").status == LinkStatus.UNSYNCED
    newcomer = person("Contact", "gil@example.com", first="Gil")
    crm.load({"salesforce": {"Contact": [newcomer]}})
    sync_ok()
    assert ContactLink.objects.get(hs_contact__hs_id="101").status == LinkStatus.UNSYNCED  # R8: stays unsynced
    [result] = services.resync_contacts(hs_ids=["101"], actor=None)
    assert result.ok
    assert synced_id(hs, 101) == ("Contact", newcomer["Id"])


# --- R7 ---------------------------------------------------------------------------------------
def test_r7_several_hubspot_contacts_one_salesforce_record(crm, hs):
    """R7: HubSpot contacts with different emails that sync with one Salesforce record keep it
    (they are HubSpot duplicates for the console), and no lead is created for the other email."""
    set_settings(create_salesforce_leads=True, create_hubspot_contacts=False)
    c = person("Contact", "hal@example.com", first="Hal")
    crm.load({"salesforce": {"Contact": [c]},
              "hubspot": {"contacts": [contact(101, "hal@example.com", salesforcecontactid=c["Id"]),
                                       contact(102, "hal.work@example.org", salesforcecontactid=c["Id"])]}})
    run = sync_ok()
    assert synced_id(hs, 101) == ("Contact", c["Id"])
    assert synced_id(hs, 102) == ("Contact", c["Id"])
    assert run.snapshot["r7_groups"] == 1
    assert set(ContactLink.objects.filter(sf_person__sf_id=c["Id"]).values_list("hs_contact__hs_id", flat=True)) \
        == {"101", "102"}
    assert SalesforceConnector(SalesforceConfig.from_settings()).client.query(
        "SELECT COUNT() FROM Lead")["totalSize"] == 0


# --- R8 ---------------------------------------------------------------------------------------
def _deleted_setup(crm):
    no_creation()
    lead = person("Lead", "ida@example.com", first="Ida")
    crm.load({"salesforce": {"Lead": [lead]}, "hubspot": {"contacts": [contact(101, "ida@example.com")]}})
    sync_ok()
    crm.advance_clock(5)
    SalesforceConnector(SalesforceConfig.from_settings()).client.Lead.delete(lead["Id"])
    return lead


def test_r8_deleting_with_setting_off_leaves_contact_unsynced(crm, hs):
    """R8, setting off: the HubSpot contact stays, no longer naming the deleted record."""
    _deleted_setup(crm)
    sync_ok()
    assert hs_contact(hs, 101) is not None
    assert synced_id(hs, 101) == ("", "")
    link = ContactLink.objects.get(hs_contact__hs_id="101")
    assert link.status == LinkStatus.UNSYNCED and link.sf_person is None
    [event] = events(A.UNSYNCED, target_id="101")
    assert event.rule == "R8"


def test_r8_deleting_with_setting_on_deletes_contact(crm, hs):
    """R8, setting on: the synced HubSpot contact is deleted."""
    _deleted_setup(crm)
    set_settings(delete_hubspot_contact_on_delete=True)
    sync_ok()
    assert hs_contact(hs, 101) is None
    assert hs_contact(hs, 101, archived=True)["archived"] is True
    [event] = events(A.RECORD_DELETED, target_id="101")
    assert event.rule == "R8"
    assert HsContact.objects.get(hs_id="101").archived


# --- R9 ---------------------------------------------------------------------------------------
def test_r9_companies_match_accounts_by_account_id(crm, hs):
    """R9: a company carrying an account's id is that account's company; two companies with the
    same id are duplicates (shown, not merged or re-created)."""
    no_creation()
    acct = {"Id": new_id("Account"), "Name": "Acme Corp"}
    crm.load({"salesforce": {"Account": [acct]},
              "hubspot": {"companies": [
                  {"id": "5001", "properties": {"name": "Acme", "salesforceaccountid": acct["Id"]},
                   "createdAt": "2023-01-01T00:00:00Z"},
                  {"id": "5002", "properties": {"name": "Acme Inc", "salesforceaccountid": acct["Id"]},
                   "createdAt": "2024-01-01T00:00:00Z"},
                  {"id": "5003", "properties": {"name": "Acme Corp"}}]}})   # same name, no id: not a match
    run = sync_ok()
    link = CompanyLink.objects.get()
    assert (link.hs_company.hs_id, link.sf_account.sf_id, link.chosen_by) == ("5001", acct["Id"], "R9")
    assert run.snapshot["r9_groups"] == 1
    companies = all_hs(hs, "companies", ["name", "salesforceaccountid"])
    assert len(companies) == 3
    assert {c["id"] for c in companies if c.get("salesforceaccountid") == acct["Id"]} == {"5001", "5002"}
    [event] = events(A.LINK_CREATED, rule="R9")
    assert event.target_id == "5001"


# --- R10 --------------------------------------------------------------------------------------
def _r10_people(crm, acct_name: str = "Globex"):
    acct = {"Id": new_id("Account"), "Name": acct_name}
    c = person("Contact", "jo@example.com", first="Jo", AccountId=acct["Id"])
    return acct, c


def test_r10_account_matched_with_contacts_company(crm, hs):
    """R10: the account is matched with the HubSpot company the contact is associated with."""
    no_creation()
    acct, c = _r10_people(crm)
    crm.load({"salesforce": {"Account": [acct], "Contact": [c]},
              "hubspot": {"companies": [{"id": "5001", "properties": {"name": "Globex (HubSpot)"}}],
                          "contacts": [contact(101, "jo@example.com")],
                          "associations": [{"from_type": "contacts", "from_id": "101", "to_type": "companies",
                                            "to_id": "5001"}]}})
    sync_ok()
    companies = all_hs(hs, "companies", ["name", "salesforceaccountid"])
    assert [(x["id"], x["salesforceaccountid"]) for x in companies] == [("5001", acct["Id"])]   # none created
    assert associated_companies(hs, 101) == {"5001"}
    link = CompanyLink.objects.get()
    assert (link.hs_company.hs_id, link.chosen_by) == ("5001", "R10")
    assert events(A.LINK_CREATED, rule="R10", target_id="5001")


def test_r10_company_created_and_associated(crm, hs):
    """R10: with no company to match, one is created for the account and associated with the contact."""
    no_creation()
    acct, c = _r10_people(crm, "Initech")
    crm.load({"salesforce": {"Account": [acct], "Contact": [c]}, "hubspot": {"contacts": [contact(101, "jo@example.com")]}})
    sync_ok()
    companies = all_hs(hs, "companies", ["name", "salesforceaccountid"])
    assert len(companies) == 1
    assert (companies[0]["name"], companies[0]["salesforceaccountid"]) == ("Initech", acct["Id"])
    assert associated_companies(hs, 101) == {companies[0]["id"]}
    [created] = events(A.RECORD_CREATED, rule="R10")
    assert created.target_id == companies[0]["id"]
    # Nothing is created again on later runs.
    sync_ok(full=True)
    assert len(all_hs(hs, "companies", ["name"])) == 1


def test_r10_linked_company_is_reused(crm, hs):
    """R10: a company already linked to the account id is always reused, never duplicated —
    even when the contact is associated with another company."""
    no_creation()
    acct, c = _r10_people(crm, "Umbrella")
    crm.load({"salesforce": {"Account": [acct], "Contact": [c]},
              "hubspot": {"companies": [{"id": "5001", "properties": {"name": "Umbrella",
                                                                     "salesforceaccountid": acct["Id"]}},
                                        {"id": "5002", "properties": {"name": "Other Co"}}],
                          "contacts": [contact(101, "jo@example.com")],
                          "associations": [{"from_type": "contacts", "from_id": "101", "to_type": "companies",
                                            "to_id": "5002"}]}})
    sync_ok()
    assert len(all_hs(hs, "companies", ["name"])) == 2
    assert "5001" in associated_companies(hs, 101)
    assert CompanyLink.objects.get().hs_company.hs_id == "5001"
    assert not events(A.RECORD_CREATED)


# --- R11 --------------------------------------------------------------------------------------
def test_r11_deals_and_opportunities_one_to_one(crm, hs, sf):
    """R11: a new deal creates an opportunity, a new opportunity creates a deal; same name and
    amount never match; a second run creates nothing again."""
    no_creation()
    acct = {"Id": new_id("Account"), "Name": "Acme"}
    opp = {"Id": new_id("Opportunity"), "Name": "Acme renewal", "StageName": "Closed Won",
           "CloseDate": "2025-03-01", "Amount": 5000, "AccountId": acct["Id"]}
    linked_opp = {"Id": new_id("Opportunity"), "Name": "Acme pilot", "StageName": "Prospecting",
                  "CloseDate": "2025-01-01", "Amount": 100}
    crm.load({"salesforce": {"Account": [acct], "Opportunity": [opp, linked_opp]},
              "hubspot": {"deals": [
                  {"id": "9001", "properties": {"dealname": "Acme renewal", "amount": "5000",   # same name+amount
                                                "dealstage": "contractsent", "closedate": "2025-04-01T00:00:00Z",
                                                "pipeline": "default"}},
                  {"id": "9002", "properties": {"dealname": "Acme pilot", "amount": "100", "pipeline": "default",
                                                "dealstage": "appointmentscheduled",
                                                "hs_salesforceopportunityid": linked_opp["Id"]}}]}})
    sync_ok()
    opps = sf.query("SELECT Id, Name, StageName, Amount, HubSpot_Deal_Id__c FROM Opportunity")["records"]
    assert len(opps) == 3
    made = [o for o in opps if o["HubSpot_Deal_Id__c"] == "9001"]
    assert len(made) == 1 and made[0]["StageName"] == "Negotiation/Review" and made[0]["Amount"] == 5000
    deals = all_hs(hs, "deals", ["dealname", "dealstage", "hs_salesforceopportunityid"])
    assert len(deals) == 3
    by_opp = {d["hs_salesforceopportunityid"]: d for d in deals}
    assert by_opp[made[0]["Id"]]["id"] == "9001"
    assert by_opp[linked_opp["Id"]]["id"] == "9002"
    new_deal = by_opp[opp["Id"]]
    assert new_deal["id"] not in ("9001", "9002") and new_deal["dealstage"] == "closedwon"
    assert DealLink.objects.count() == 3
    assert {e.rule for e in events(A.RECORD_CREATED)} == {"R11"}
    assert len(events(A.RECORD_CREATED)) == 2
    sync_ok()
    sync_ok(full=True)
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 3
    assert len(all_hs(hs, "deals", ["dealname"])) == 3


# --- creation settings ------------------------------------------------------------------------
@pytest.mark.parametrize("on", [False, True])
def test_create_salesforce_leads_setting(crm, hs, sf, on):
    """create_salesforce_leads: a new HubSpot contact whose email matches nothing creates a lead
    (upserted by HubSpot_Contact_Id__c) and HubSpot shows its id; off: nothing is created."""
    set_settings(create_salesforce_leads=on, create_hubspot_contacts=False)
    crm.load({"hubspot": {"contacts": [contact(101, "kim@example.com", firstname="Kim", lastname="")]}})
    run = sync_ok()
    leads = sf.query("SELECT Id, Email, FirstName, LastName, Company, HubSpot_Contact_Id__c FROM Lead")["records"]
    if not on:
        assert leads == [] and synced_id(hs, 101) == ("", "") and run.created == 0
        return
    [lead] = leads
    assert (lead["Email"], lead["FirstName"], lead["HubSpot_Contact_Id__c"]) == ("kim@example.com", "Kim", "101")
    assert lead["LastName"] == schema.PLACEHOLDER and lead["Company"] == schema.PLACEHOLDER
    assert synced_id(hs, 101) == ("Lead", lead["Id"])
    assert ContactLink.objects.get(hs_contact__hs_id="101").chosen_by == ContactLink.ChosenBy.CREATED
    [event] = events(A.RECORD_CREATED)
    assert event.target_id == lead["Id"] and event.target_type == "salesforce.Lead"
    # The placeholder is not copied back to HubSpot as a last name.
    assert not hs_contact(hs, 101).get("lastname")
    sync_ok(full=True)
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 1


@pytest.mark.parametrize("on", [False, True])
def test_create_hubspot_contacts_setting(crm, hs, on):
    """create_hubspot_contacts: a new Salesforce lead/contact with no HubSpot contact creates one
    (one per email: a duplicate group gets one contact, linked by R3); off: nothing is created."""
    set_settings(create_salesforce_leads=False, create_hubspot_contacts=on)
    crm.configure(order="insertion")
    lone = person("Lead", "lou@example.com", first="Lou", last="Lane")
    dup1 = person("Contact", "max@example.com", first="Max")
    dup2 = person("Lead", "MAX@example.com", first="Max")
    crm.load({"salesforce": {"Contact": [dup1], "Lead": [lone, dup2]}})
    run = sync_ok()
    contacts = all_hs(hs, "contacts", ["email", "firstname", "lastname", "salesforcecontactid", "salesforceleadid"])
    if not on:
        assert contacts == [] and run.created == 0
        return
    by_email = {c["email"].lower(): c for c in contacts}
    assert set(by_email) == {"lou@example.com", "max@example.com"}
    assert by_email["lou@example.com"]["salesforceleadid"] == lone["Id"]
    assert (by_email["lou@example.com"]["firstname"], by_email["lou@example.com"]["lastname"]) == ("Lou", "Lane")
    assert by_email["max@example.com"]["salesforcecontactid"] == dup1["Id"]
    assert len(events(A.RECORD_CREATED, target_type="hubspot.contact")) == 2
    sync_ok(full=True)
    assert len(all_hs(hs, "contacts", ["email"])) == 2
