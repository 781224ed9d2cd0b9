"""Poison records: a value that cannot be stored affects only its own record. A lone UTF-16
surrogate (what a broken import or a JavaScript client leaves in a name) is accepted by both CRMs'
APIs and JSON, but cannot be encoded as UTF-8: written as is, it made every run fail at the mirror
upsert, and because the pull uses queryAll, deleting the record did not help for 15 days. It is
cleaned (a lone surrogate is no character a person can read), and the rest of the run goes on."""
from __future__ import annotations

import pytest

from sync.models import HsCompany, HsContact, HsDeal, SfPerson, SyncRun
from tests.engine.conftest import sync, sync_ok

pytestmark = pytest.mark.django_db(transaction=True)
LONE = "lone\ud800x"


def test_a_lone_surrogate_in_a_salesforce_lead_does_not_halt_the_sync(crm, sf):
    poison = sf.Lead.create({"FirstName": LONE, "LastName": "Poison", "Company": "P Ltd", "Email": "poison@example.com"})
    healthy = sf.Lead.create({"FirstName": "Ann", "LastName": "Healthy", "Company": "H Ltd", "Email": "ann@example.com"})
    run = sync(full=True)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert SfPerson.objects.get(sf_id=poison["id"]).first_name == "lonex"
    assert HsContact.objects.filter(email="ann@example.com").exists()   # the rest of the run went on
    assert HsContact.objects.get(email="poison@example.com").first_name == "lonex"
    assert SfPerson.objects.get(sf_id=healthy["id"]).first_name == "Ann"
    # Deleted, the lead stays in queryAll's answers for 15 days: later runs must keep working.
    sf.Lead.delete(poison["id"])
    assert sync_ok().pulled >= 1
    assert sync_ok(full=True).status == SyncRun.Status.SUCCEEDED


def test_a_lone_surrogate_in_hubspot_records_does_not_halt_the_sync(crm, hs):
    contact = hs.crm.contacts.basic_api.create({"properties": {"email": "poison@example.com", "firstname": LONE,
                                                               "lastname": "Poison"}})
    company = hs.crm.companies.basic_api.create({"properties": {"name": LONE, "domain": "poison.example"}})
    deal = hs.crm.deals.basic_api.create({"properties": {"dealname": LONE, "pipeline": "default",
                                                         "dealstage": "appointmentscheduled"}})
    run = sync(full=True)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert HsContact.objects.get(hs_id=contact.id).first_name == "lonex"
    assert HsCompany.objects.get(hs_id=company.id).name == "lonex"
    assert HsDeal.objects.get(hs_id=deal.id).name == "lonex"
    assert SfPerson.objects.get(email_key="poison@example.com").first_name == "lonex"  # its lead was created
    assert HsDeal.objects.get(hs_id=deal.id).link.sf_opportunity.name == "lonex"       # and its opportunity


def test_a_row_the_database_refuses_is_set_aside_with_a_reason():
    """The safety net under the cleaning: whatever else a database might refuse in one row, the
    page's other rows are stored and the refused row is handed back with the reason."""
    from sync.engine import bulk, mirror

    good = [bulk.build(SfPerson, {"sf_id": f"00Q00000000000{i}AAA", "object_type": "Lead", "last_name": "Ok"})
            for i in range(3)]
    bad = bulk.build(SfPerson, {"sf_id": "00Q000000000009AAA", "object_type": "Lead", "last_name": LONE})
    refused = []
    mirror.upsert(SfPerson, [good[0], bad, *good[1:]], reject=lambda row, exc: refused.append((row.sf_id, exc)))
    assert sorted(SfPerson.objects.values_list("sf_id", flat=True)) == sorted(g.sf_id for g in good)
    assert [sf_id for sf_id, _ in refused] == [bad.sf_id]
    assert isinstance(refused[0][1], UnicodeError) or "surrogate" in str(refused[0][1]).lower()
