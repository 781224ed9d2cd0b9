"""Deals and companies (R11 with R9), against the sandbox with the real clients: a new deal's
opportunity goes on the account of the deal's company; a new opportunity's deal is associated
with the company of the opportunity's account; a deal that already has a company keeps it; and
once crmsync knows a deal's company it asks HubSpot no more."""
from __future__ import annotations

import pytest

from sandbox.ids import IdFactory
from sync.engine import rules
from sync.models import AuditEvent, HsDeal
from tests.engine.conftest import all_hs, events, set_settings, sync_ok

pytestmark = pytest.mark.django_db(transaction=True)
_ids = IdFactory(seed=11)


def deal_companies(hs, deal_id) -> set[str]:
    page = hs.crm.associations.v4.basic_api.get_page("deals", str(deal_id), "companies", limit=500)
    return {str(r.to_object_id) for r in page.results}


def association_calls(crm) -> int:
    return sum(n for label, n in crm.stats()["hubspot"]["endpoints"].items() if "associations" in label)


@pytest.mark.parametrize("associated,account_company,expected", [
    ((), "", ("", False)),                  # no company, no account company: none
    ((), "501", ("501", True)),             # none yet: the account's company, associated by crmsync
    (("502",), "501", ("502", False)),      # a person's choice stays
    (("502", "501"), "501", ("502", False)),  # the primary first
])
def test_company_for_deal(associated, account_company, expected):
    assert rules.company_for_deal(associated=associated, account_company=account_company) == expected


def test_deals_go_with_the_companies_of_their_opportunities_accounts(crm, hs, sf):
    set_settings(create_salesforce_leads=False, create_hubspot_contacts=False)
    acme, globex = _ids.new("Account"), _ids.new("Account")
    won = {"Id": _ids.new("Opportunity"), "Name": "Acme renewal", "StageName": "Closed Won",
           "CloseDate": "2025-03-01", "Amount": 5000, "AccountId": acme}
    paired = {"Id": _ids.new("Opportunity"), "Name": "Acme pilot", "StageName": "Prospecting",
              "CloseDate": "2025-01-01", "Amount": 100, "AccountId": acme}
    crm.load({
        "salesforce": {"Account": [{"Id": acme, "Name": "Acme"}, {"Id": globex, "Name": "Globex"}],
                       "Opportunity": [won, paired]},
        "hubspot": {
            "companies": [{"id": "501", "properties": {"name": "Acme", "salesforceaccountid": acme}},
                          {"id": "502", "properties": {"name": "Globex", "salesforceaccountid": globex}}],
            "deals": [{"id": "9001", "properties": {"dealname": "Globex expansion", "amount": "700",
                                                    "dealstage": "contractsent", "pipeline": "default"}},
                      {"id": "9002", "properties": {"dealname": "Acme pilot", "amount": "100", "pipeline": "default",
                                                    "dealstage": "appointmentscheduled",
                                                    "hs_salesforceopportunityid": paired["Id"]}}],
            "associations": [{"from_type": "deals", "from_id": "9001", "to_type": "companies", "to_id": "502"},
                             {"from_type": "deals", "from_id": "9002", "to_type": "companies", "to_id": "502"}]}})
    sync_ok()

    # The new deal's opportunity is on the account of the deal's company.
    [made] = sf.query("SELECT Id, AccountId FROM Opportunity WHERE HubSpot_Deal_Id__c = '9001'")["records"]
    assert made["AccountId"] == globex
    # The new opportunity's deal is associated with the company of the opportunity's account …
    [new_deal] = [d for d in all_hs(hs, "deals", ["hs_salesforceopportunityid"])
                  if d["hs_salesforceopportunityid"] == won["Id"]]
    assert deal_companies(hs, new_deal["id"]) == {"501"}
    [event] = events(AuditEvent.Action.LINK_CREATED, target_id=new_deal["id"], after__company="501")
    assert event.rule == "R11" and acme in event.message
    # … and the paired deal a person put on Globex stays there, not given Acme as well.
    assert deal_companies(hs, "9002") == {"502"}
    assert dict(HsDeal.objects.values_list("hs_id", "company_id")) == {"9001": "502", "9002": "502", new_deal["id"]: "501"}

    # Known companies are not asked for again, nor blanked by a pull.
    calls = association_calls(crm)
    sync_ok()
    sync_ok(full=True)
    assert association_calls(crm) == calls
    assert deal_companies(hs, new_deal["id"]) == {"501"} and deal_companies(hs, "9002") == {"502"}
    assert dict(HsDeal.objects.values_list("hs_id", "company_id")) == {"9001": "502", "9002": "502", new_deal["id"]: "501"}
    assert len(events(AuditEvent.Action.LINK_CREATED, after__company="501")) == 1


def test_a_deal_without_a_company_on_an_opportunity_without_an_account_stays_so(crm, hs, sf):
    set_settings(create_salesforce_leads=False, create_hubspot_contacts=False)
    lone = {"Id": _ids.new("Opportunity"), "Name": "Walk-in", "StageName": "Prospecting", "CloseDate": "2025-01-01"}
    crm.load({"salesforce": {"Opportunity": [lone]},
              "hubspot": {"deals": [{"id": "9003", "properties": {"dealname": "Trade show", "pipeline": "default",
                                                                  "dealstage": "appointmentscheduled"}}]}})
    sync_ok()
    [made] = sf.query("SELECT AccountId FROM Opportunity WHERE HubSpot_Deal_Id__c = '9003'")["records"]
    assert made["AccountId"] is None
    assert all(not deal_companies(hs, d["id"]) for d in all_hs(hs, "deals", ["dealname"]))
    assert not events(AuditEvent.Action.LINK_CREATED, after__has_key="company")
    calls = association_calls(crm)
    sync_ok()
    assert association_calls(crm) == calls
