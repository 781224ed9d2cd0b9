"""Multi-step writes interrupted between their steps — the answer to a write lost, or the run
ending right after a CRM took it — end where an uninterrupted run ends: no record lost, none made
twice, none a person deleted brought back, and every creation audited once (through the real
clients over HTTP; the deterministic kill at every boundary is tests/soak/test_boundaries.py)."""
from __future__ import annotations

import pytest

from sandbox.ids import IdFactory
from sync.models import AuditEvent, ContactLink, CreateIntent, DealLink, HsDeal, LinkStatus, SyncRun
from tests.conftest import restore_reference_data
from tests.engine.conftest import all_hs, set_settings, sync, sync_ok, synced_id

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _field_rules(transactional_db):
    restore_reference_data()   # the default field rules, Email two-way among them
A = AuditEvent.Action
_ids = IdFactory(seed=9)
OLD = "2024-01-01T00:00:00.000+0000"
# Every attempt of the connector's retry loop answered "lost": the write happens, the run never
# hears of it and ends failed — what a kill right after the CRM took the write leaves behind.
ALWAYS_LOST = {"kind": "lost", "count": 5}


def _lead(email: str, **extra) -> dict:
    return {"Id": _ids.new("Lead"), "LastName": "Lee", "Company": "Acme", "Email": email, "LastModifiedDate": OLD,
            "CreatedDate": OLD, **extra}


def test_a_deleted_lead_is_not_brought_back_when_clearing_its_id_was_lost(crm, sf, hs):
    """A portal from HubSpot's own integration: contact C names lead L, which a user deleted
    (delete setting off). The run leaves C unsynced and clears its Salesforce id in HubSpot; that
    write's answer is lost and the run fails. The next run must not see "no link, no id" and
    create a new lead for C (R1): the link was recorded before HubSpot was told."""
    lead = _lead("cara@example.com", IsDeleted=True)
    crm.load({"salesforce": {"Lead": [lead]},
              "hubspot": {"contacts": [{"id": "101", "properties": {"email": "cara@example.com", "lastname": "C",
                                                                    "salesforceleadid": lead["Id"]}}]}})
    crm.faults.configure([{**ALWAYS_LOST, "crm": "hubspot", "method": "POST",
                           "path": "/crm/v3/objects/contacts/batch/update"}])
    assert sync(full=True).status == SyncRun.Status.FAILED
    crm.faults.clear()
    sync_ok()
    sync_ok()
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 0          # no new live lead
    assert synced_id(hs, 101) == ("", "")
    link = ContactLink.objects.get(hs_contact__hs_id="101")
    assert link.status == LinkStatus.UNSYNCED
    assert AuditEvent.objects.filter(action=A.UNSYNCED, target_id="101", rule="R8").count() == 1


def test_a_purged_record_hubspot_still_names_is_not_recreated(crm, sf, hs):
    """The same without the recycle bin: Salesforce has no record of the id at all."""
    crm.load({"hubspot": {"contacts": [{"id": "101", "properties": {"email": "cara@example.com", "lastname": "C",
                                                                    "salesforceleadid": "00QSb000000PURGEDAAA"}}]}})
    sync_ok(full=True)
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 0
    assert ContactLink.objects.get(hs_contact__hs_id="101").status == LinkStatus.UNSYNCED
    assert synced_id(hs, 101) == ("", "")


def test_a_lead_whose_creation_answer_was_lost_is_audited_once_naming_its_run(crm, sf):
    set_settings(create_hubspot_contacts=False)
    crm.load({"hubspot": {"contacts": [{"id": "101", "properties": {"email": "dan@example.com", "lastname": "D"}},
                                       {"id": "102", "properties": {"email": "eve@example.com", "lastname": "E"}}]}})
    crm.faults.configure([{**ALWAYS_LOST, "crm": "salesforce", "method": "PATCH", "path": "*/composite/sobjects/Lead/*"}])
    failed = sync(full=True)
    assert failed.status == SyncRun.Status.FAILED
    assert CreateIntent.objects.filter(run=failed).count() == 2      # left by the run that died
    crm.faults.clear()
    sync_ok()
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 2
    made = AuditEvent.objects.filter(action=A.RECORD_CREATED, target_type="salesforce.Lead")
    assert made.count() == 2 and {e.run_id for e in made} == {failed.pk}
    assert all(f"run {failed.pk}" in e.message for e in made)
    assert not CreateIntent.objects.exists()
    assert SyncRun.objects.get(pk=failed.pk).created == 2


def test_a_create_no_later_attempt_repeats_is_found_and_audited_by_the_next_run(crm, sf, hs):
    """The run died after Salesforce made the lead; before the next run the HubSpot contact was
    deleted, so nothing asks for that lead again: the next run still finds it by its external id
    and records it as created by the run that made it."""
    set_settings(create_hubspot_contacts=False)
    crm.load({"hubspot": {"contacts": [{"id": "101", "properties": {"email": "dan@example.com", "lastname": "D"}}]}})
    crm.faults.configure([{**ALWAYS_LOST, "crm": "salesforce", "method": "PATCH", "path": "*/composite/sobjects/Lead/*"}])
    failed = sync(full=True)
    crm.faults.clear()
    hs.crm.contacts.basic_api.archive("101")
    sync_ok()
    [event] = AuditEvent.objects.filter(action=A.RECORD_CREATED, target_type="salesforce.Lead")
    assert event.run_id == failed.pk and "ended before it could record it" in event.message
    assert not CreateIntent.objects.exists()


def test_a_lost_deal_create_makes_one_deal_although_search_lags(crm, hs, sf):
    """R11: an opportunity's deal is created, the answer is lost, the run fails; HubSpot's search
    index has not caught up when the next run looks. One opportunity, one deal."""
    set_settings(create_hubspot_contacts=False)
    opp = {"Id": _ids.new("Opportunity"), "Name": "Big one", "StageName": "Prospecting", "CloseDate": "2026-12-31",
           "LastModifiedDate": OLD, "CreatedDate": OLD}
    crm.load({"salesforce": {"Opportunity": [opp]}})
    crm.hubspot.configure(search_lag={"min_ms": 60_000, "max_ms": 60_000})
    crm.faults.configure([{**ALWAYS_LOST, "crm": "hubspot", "method": "POST", "path": "/crm/v3/objects/deals/batch/*"}])
    assert sync(full=True).status == SyncRun.Status.FAILED
    crm.faults.clear()
    sync_ok()
    sync_ok()
    deals = all_hs(hs, "deals", ["hs_salesforceopportunityid"])
    assert [d["hs_salesforceopportunityid"] for d in deals] == [opp["Id"]]
    assert DealLink.objects.get().hs_deal == HsDeal.objects.get(hs_id=deals[0]["id"])
    assert AuditEvent.objects.filter(action=A.RECORD_CREATED, target_type="hubspot.deal").count() == 1


def test_r7_only_the_contact_that_syncs_with_a_record_writes_to_it(crm, sf, hs):
    """R7: contact A syncs with Salesforce contact X (same email); contact B, another email, names
    X too. With Email two-way, B's email must never be written into X, before or after B is merged
    into A in HubSpot; B is marked a duplicate, A alone is synced."""
    x = {"Id": _ids.new("Contact"), "LastName": "Hal", "Email": "hal@example.com", "LastModifiedDate": OLD,
         "CreatedDate": OLD}
    crm.load({"salesforce": {"Contact": [x]}, "hubspot": {"contacts": [
        {"id": "101", "properties": {"email": "hal@example.com", "lastname": "Hal", "salesforcecontactid": x["Id"]}}]}})
    sync_ok(full=True)
    crm.advance_clock(30)
    hs.crm.contacts.basic_api.create({"properties": {"email": "hal.work@example.org", "lastname": "Hal",
                                                     "salesforcecontactid": x["Id"]}})
    crm.advance_clock(30)
    for _ in range(2):
        sync_ok()
    from sync.models import FieldRule

    assert FieldRule.objects.get(object="contact", hubspot_property="email").rule == "two_way"
    [(email,)] = [(r["Email"],) for r in sf.query(f"SELECT Email FROM Contact WHERE Id = '{x['Id']}'")["records"]]
    assert email == "hal@example.com"
    links = ContactLink.objects.filter(sf_person__sf_id=x["Id"])
    assert sorted(links.values_list("status", flat=True)) == [LinkStatus.DUPLICATE, LinkStatus.SYNCED]
    assert links.get(status=LinkStatus.SYNCED).hs_contact.hs_id == "101"
    assert AuditEvent.objects.filter(action=A.MARKED_DUPLICATE, rule="R7").count() == 1
    duplicate = links.get(status=LinkStatus.DUPLICATE).hs_contact.hs_id
    hs.crm.contacts.basic_api.merge({"primaryObjectId": "101", "objectIdToMerge": duplicate})
    for _ in range(2):
        sync_ok()
    [(email,)] = [(r["Email"],) for r in sf.query(f"SELECT Email FROM Contact WHERE Id = '{x['Id']}'")["records"]]
    assert email == "hal@example.com"   # and after the merge in HubSpot, still


# --- HubSpot-side merges and deletes ------------------------------------------------------------
def _r7_pair(crm, hs):
    """Salesforce contact X; HubSpot contact A syncs with it, B (another email) names it too."""
    x = {"Id": _ids.new("Contact"), "LastName": "Hal", "Email": "hal@example.com", "LastModifiedDate": OLD,
         "CreatedDate": OLD}
    crm.load({"salesforce": {"Contact": [x]}, "hubspot": {"contacts": [
        {"id": "101", "properties": {"email": "hal@example.com", "lastname": "Hal", "salesforcecontactid": x["Id"]}},
        {"id": "102", "properties": {"email": "hal.work@example.org", "lastname": "Hal",
                                     "salesforcecontactid": x["Id"]}}]}})
    sync_ok(full=True)
    return x


@pytest.mark.parametrize("full", [False, True])
def test_contacts_merged_in_hubspot_are_followed(crm, hs, full):
    """Merged through HubSpot's own merge API (a person or another tool): the merged-away contacts
    are marked merged into the survivor (HubSpot gives it a new id), their links end with an
    audit event, and the survivor syncs with the record its properties name; the R7 group is gone."""
    from sync.models import DuplicateGroup, HsContact

    x = _r7_pair(crm, hs)
    assert DuplicateGroup.objects.filter(kind="r7", key=x["Id"]).exists()
    merged = hs.crm.contacts.basic_api.merge({"primaryObjectId": "101", "objectIdToMerge": "102"})
    crm.advance_clock(30)   # past HubSpot's search index lag: the survivor is searchable
    sync_ok(full=full)
    survivor = str(merged.id)
    assert survivor not in ("101", "102")
    for old in ("101", "102"):
        row = HsContact.objects.get(hs_id=old)
        assert row.archived and row.merged_into_id == survivor
        assert row.link.status == LinkStatus.MERGED
    assert HsContact.objects.get(hs_id=survivor).link.status == LinkStatus.SYNCED
    assert HsContact.objects.get(hs_id=survivor).link.sf_person.sf_id == x["Id"]
    assert not DuplicateGroup.objects.filter(kind="r7", key=x["Id"]).exists()
    assert AuditEvent.objects.filter(action=A.RECORD_MERGED, target_id="102", rule="R7").count() == 1


@pytest.mark.parametrize("full", [False, True])
def test_a_contact_deleted_in_hubspot_is_followed_and_never_recreated(crm, hs, sf, full):
    from sync.models import HsContact

    lead = _lead("ivy@example.com")
    crm.load({"salesforce": {"Lead": [lead]}})
    sync_ok(full=True)
    [made] = all_hs(hs, "contacts", ["email"])
    hs.crm.contacts.basic_api.archive(made["id"])
    crm.advance_clock(30)
    sync_ok(full=full)
    sync_ok()
    assert HsContact.objects.get(hs_id=made["id"]).archived
    assert HsContact.objects.get(hs_id=made["id"]).link.status == LinkStatus.DELETED
    assert all_hs(hs, "contacts", ["email"]) == []                       # no new contact for the lead
    assert AuditEvent.objects.filter(action=A.RECORD_DELETED, target_id=made["id"]).count() == 1


def test_deals_and_companies_deleted_on_either_side_are_never_recreated(crm, hs, sf):
    set_settings(create_hubspot_contacts=False)
    opp = {"Id": _ids.new("Opportunity"), "Name": "Big one", "StageName": "Prospecting", "CloseDate": "2026-12-31",
           "LastModifiedDate": OLD, "CreatedDate": OLD}
    crm.load({"salesforce": {"Opportunity": [opp]},
              "hubspot": {"deals": [{"id": "9001", "properties": {"dealname": "From HubSpot", "pipeline": "default",
                                                                   "dealstage": "qualifiedtobuy"}}]}})
    sync_ok(full=True)
    made = [d for d in all_hs(hs, "deals", ["hs_salesforceopportunityid"]) if d["id"] != "9001"]
    [from_hs] = DealLink.objects.filter(hs_deal__hs_id="9001")
    hs.crm.deals.basic_api.archive(made[0]["id"])
    sf.Opportunity.delete(from_hs.sf_opportunity.sf_id)
    crm.advance_clock(30)
    sync_ok()
    sync_ok(full=True)
    assert [d["id"] for d in all_hs(hs, "deals", ["dealname"])] == ["9001"]           # no second deal
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 1             # no second opportunity
    statuses = dict(DealLink.objects.values_list("hs_deal__hs_id", "status"))
    assert statuses == {made[0]["id"]: "hubspot_deleted", "9001": "salesforce_deleted"}


def test_companies_merged_in_hubspot_move_the_account_link_to_the_survivor(crm, hs):
    """R9: two companies carry one account id (duplicates); merged in HubSpot, the survivor (a new
    id, the primary's values) takes the account's link, audited; the merged-away ones end."""
    from sync.models import CompanyLink, DuplicateGroup, HsCompany

    account = {"Id": _ids.new("Account"), "Name": "Acme", "LastModifiedDate": OLD}
    crm.load({"salesforce": {"Account": [account]}, "hubspot": {"companies": [
        {"id": "5001", "properties": {"name": "Acme", "salesforceaccountid": account["Id"]}},
        {"id": "5002", "properties": {"name": "Acme Inc", "salesforceaccountid": account["Id"]}}]}})
    sync_ok(full=True)
    assert CompanyLink.objects.get().hs_company.hs_id == "5001"
    assert DuplicateGroup.objects.filter(kind="r9", key=account["Id"]).exists()
    survivor = str(hs.crm.companies.basic_api.merge({"primaryObjectId": "5001", "objectIdToMerge": "5002"}).id)
    sync_ok()
    link = CompanyLink.objects.get()
    assert (link.hs_company.hs_id, link.status) == (survivor, "synced")
    assert set(HsCompany.objects.filter(archived=True).values_list("hs_id", "merged_into_id")) == {
        ("5001", survivor), ("5002", survivor)}
    assert not DuplicateGroup.objects.filter(kind="r9", key=account["Id"]).exists()
    assert AuditEvent.objects.filter(action=A.LINK_SWITCHED, target_id="5001", rule="R9").count() == 1
