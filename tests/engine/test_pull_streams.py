"""The pull runs every object type of both CRMs at once (pull.pull_all): the mirror and what the
run reconciles are the same as one stream after another gives, and one stream's failure stops
the pull with that stream's error. Through the real clients and the sandbox."""
from __future__ import annotations

import pytest
from django.db import transaction

from sandbox.scenario import scenario_dict
from sync.crm.base import CrmError, RetryPolicy
from sync.crm.hubspot import HubSpotConfig, HubSpotConnector
from sync.crm.salesforce import SalesforceConfig, SalesforceConnector
from sync.engine import pull
from sync.models import HsCompany, HsContact, HsDeal, SfAccount, SfOpportunity, SfPerson, SyncSettings
from tests.conftest import restore_reference_data

pytestmark = pytest.mark.django_db(transaction=True)
KEYS = {SfPerson: "sf_id", SfAccount: "sf_id", SfOpportunity: "sf_id", HsContact: "hs_id", HsCompany: "hs_id",
        HsDeal: "hs_id"}


class _Undo(Exception):
    pass


def _mirror() -> dict:
    """Every mirror row but its pull_seq: Salesforce returns records in no particular order, so
    two pulls number them differently (R3's "first returned" is one pull's order)."""
    return {model.__name__: sorted(model.objects.values_list(key, "raw", "dirty", "archived" if key == "hs_id"
                                                             else "is_deleted")) for model, key in KEYS.items()}


def _blocks_in_order() -> bool:
    """Each pull numbers contacts before leads (pull_stream's blocks), as a pull in turn does."""
    contacts = SfPerson.objects.filter(object_type="Contact").values_list("pull_seq", flat=True)
    leads = SfPerson.objects.filter(object_type="Lead").values_list("pull_seq", flat=True)
    return max(contacts) < min(leads)


def _pull(*, full: bool) -> pull.Touched:
    touched = pull.Touched(everything=full, listed_all=full)
    sf, hs = SalesforceConnector(SalesforceConfig.from_settings()), HubSpotConnector(HubSpotConfig.from_settings())
    pull.pull_all(sf, hs, full=full, seq_base=1 << 32, settings=SyncSettings.load(), touched=touched, tick=lambda n: None)
    return touched


def _facts(t: pull.Touched) -> tuple:
    return (t.pulled, sorted(t.sf_ids), sorted(t.email_keys), sorted(t.hs_contact_ids), sorted(t.account_ids),
            sorted(t.company_ids), sorted(t.opportunity_ids), sorted(t.deal_ids), sorted(t.watermarks))


@pytest.fixture
def loaded(crm, transactional_db):
    restore_reference_data()
    crm.hubspot.configure_limits(search_per_second=10_000)
    crm.load(scenario_dict(500, seed=3, now="2026-01-10T00:00:00Z"))
    return crm


@pytest.mark.parametrize("full", [True, False])
def test_side_by_side_pulls_store_what_one_after_another_stores(loaded, full):
    if not full:   # an incremental pull over a filled mirror: changed rows only, dirty
        _pull(full=True)
        pull.save_watermarks(_pull(full=True))
        loaded.advance_clock(60)
        for i, sf_id in enumerate(SfPerson.objects.filter(is_deleted=False).values_list("sf_id", flat=True)[:7]):
            loaded.salesforce.touch(sf_id, {"Title": f"Edited {i}"})
    try:
        with transaction.atomic():   # inside a transaction pull_all runs the streams in turn
            in_turn = _pull(full=full)
            expected = _mirror()
            raise _Undo
    except _Undo:
        pass
    side_by_side = _pull(full=full)
    assert _mirror() == expected
    assert _facts(side_by_side) == _facts(in_turn)
    assert _blocks_in_order()
    assert side_by_side.pulled > 0


def test_a_failing_stream_stops_the_pull_with_its_own_error(loaded):
    loaded.faults.add("500", crm="hubspot", method="GET", path="/crm/v3/objects/deals*", count=1000)
    touched = pull.Touched(everything=True, listed_all=True)
    sf = SalesforceConnector(SalesforceConfig.from_settings())
    hs = HubSpotConnector(HubSpotConfig.from_settings(), retry=RetryPolicy(attempts=2, base_delay=0, max_delay=0))
    with pytest.raises(CrmError) as failed:
        pull.pull_all(sf, hs, full=True, seq_base=1 << 32, settings=SyncSettings.load(), touched=touched,
                      tick=lambda n: None)
    assert failed.value.status == 500     # the deals stream's own error, not "stopped"
    assert touched.pulled == 0      # a failed pull hands nothing on: the run pulls the same window again
