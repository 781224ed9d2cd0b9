"""No echo: the run after crmsync wrote to HubSpot does not search its own writes back, and still
reads every change anyone else made (sync/engine/echo.py). Through the real clients and the
sandbox's search, which evaluates the marker filters the way HubSpot's search does."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sandbox.scenario import scenario_dict
from sync.engine import echo
from sync.engine.echo import Entry, Group, windows
from sync.models import HsCompany, HsContact, HsDeal, OwnWrite
from tests.conftest import restore_reference_data
from tests.engine.conftest import sync_ok

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
SPAN = timedelta(seconds=10)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- the grouping, without HubSpot ---------------------------------------------------------------

def test_groups_cover_every_marker_from_the_windows_first_without_a_gap():
    entries = [Entry(100, at(-100)), Entry(200, at(1)), Entry(300, at(1.2)), Entry(400, at(30)), Entry(500, at(30.5))]
    w = windows(entries, floor=at(0), span=SPAN)
    assert w.first_marker == 200                       # 100 is older than the window: "not ours" here
    # cut at the two longest pauses (a first search holds three groups at no extra cost)
    assert [(g.lo, g.hi) for g in w.groups] == [(200, 399), (400, 499), (500, echo.LAST)]
    assert [g.after for g in w.groups] == [at(1.2), at(30), at(30.5)]


def test_a_group_never_spans_more_than_the_setting():
    entries = [Entry(i, at(i)) for i in range(1, 40)]   # one batch a second, no pause to cut at
    w = windows(entries, floor=at(0), span=SPAN)
    assert all(g.after - at(g.lo) <= SPAN for g in w.groups)
    assert w.groups[0].lo == 1 and w.groups[-1].hi == echo.LAST
    assert all(a.hi + 1 == b.lo for a, b in zip(w.groups, w.groups[1:], strict=False))


def test_a_batch_without_an_answer_explains_nothing_in_its_group():
    w = windows([Entry(1, at(1)), Entry(2, None), Entry(3, at(1.5))], floor=at(0), span=SPAN)
    assert w.groups == (Group(1, echo.LAST, None),)     # every record of the group is read


def test_no_window_when_nothing_was_written_since_the_floor():
    assert windows([Entry(1, at(-5))], floor=at(0), span=SPAN) is None
    assert windows([], floor=at(0), span=SPAN) is None


def test_searches_hold_what_hubspot_allows():
    w = windows([Entry(i, at(i * 20)) for i in range(1, 12)], floor=at(0), span=SPAN)   # 11 groups
    sizes = [len(s) for s in echo.searches(w)]
    assert sizes == [3, 5, 3]       # the first also carries the two "not ours" groups: five in all


# -- through HubSpot's search ---------------------------------------------------------------------

needs_db = pytest.mark.django_db(transaction=True)


def _written_by_crmsync(crm, hs) -> tuple[str, int]:
    """A HubSpot contact crmsync wrote, and the marker of that write, as HubSpot shows them."""
    crm.advance_clock(10)    # past the search index's lag
    page = hs.crm.contacts.search_api.do_search({
        "filterGroups": [{"filters": [{"propertyName": echo.MARKER_PROPERTY, "operator": "HAS_PROPERTY"}]}],
        "properties": [echo.MARKER_PROPERTY], "limit": 1})
    [c] = page.results
    return c.id, int(c.properties[echo.MARKER_PROPERTY])


def _searches(stats: dict) -> dict[str, int]:
    return {k: v for k, v in stats["hubspot"]["endpoints"].items() if k.endswith("/search")}


@pytest.fixture
def synced(crm, transactional_db):
    """A scenario fully synced: crmsync wrote to HubSpot (Salesforce ids, created contacts)."""
    restore_reference_data()
    crm.hubspot.configure_limits(search_per_second=10_000)
    crm.load(scenario_dict(600, seed=7, now="2026-01-10T00:00:00Z"))
    sync_ok(full=True)
    assert OwnWrite.objects.filter(stamp__isnull=False).exists()
    return crm


@needs_db
def test_the_run_after_a_full_sync_reads_none_of_its_writes_back(synced):
    """HubSpot's side: one search per object type finds nothing. (Salesforce still reads its
    echo: the records crmsync created or updated there come back once.)"""
    synced.reset_stats()
    run = sync_ok()
    for model in (HsContact, HsCompany, HsDeal):
        assert not model.objects.filter(mirrored_at__gte=run.started_at).exists(), model.__name__
    assert _searches(synced.stats()) == {f"POST /crm/v3/objects/{t}/search": 1 for t in ("companies", "contacts", "deals")}


@needs_db
def test_someone_elses_edit_after_crmsyncs_write_is_read(synced, hs):
    """A contact crmsync wrote (its Salesforce id), then edited by a person: the edit is pulled."""
    hs_id, marker = _written_by_crmsync(synced, hs)
    assert OwnWrite.objects.get(object_type="contacts", marker=marker).stamp is not None
    synced.advance_clock(60)      # after the group's newest answer
    hs.crm.contacts.basic_api.update(hs_id, {"properties": {"jobtitle": "Edited after crmsync"}})
    run = sync_ok()
    assert list(HsContact.objects.filter(mirrored_at__gte=run.started_at).values_list("hs_id", flat=True)) == [hs_id]
    # (read, then field-synced: the job title rule prefers Salesforce's non-blank title)


@needs_db
def test_a_record_crmsync_never_wrote_is_read(synced, hs):
    made = hs.crm.contacts.basic_api.create({"properties": {"email": "new.person@example.com", "lastname": "New"}})
    sync_ok()
    assert HsContact.objects.filter(hs_id=str(made.id)).exists()


@needs_db
def test_records_of_a_write_whose_answer_was_lost_are_read(synced, hs):
    """A batch the ledger has no stamp for (the run was killed before HubSpot's answer arrived):
    its records are searched like anyone's change."""
    hs_id, marker = _written_by_crmsync(synced, hs)
    batch = OwnWrite.objects.get(object_type="contacts", marker=marker)
    OwnWrite.objects.filter(pk=batch.pk).update(stamp=None)
    run = sync_ok()         # nobody changed it: only the missing stamp makes it read
    read = set(HsContact.objects.filter(mirrored_at__gte=run.started_at).values_list("hs_id", flat=True))
    assert hs_id in read


@needs_db
def test_creating_the_marker_property_does_not_pass_for_a_retried_upsert(crm, transactional_db):
    """The first write of a connector also reads (and creates) `crmsync_write`: those calls must
    not make an upsert that found its record look retried, which would audit the record as one
    crmsync created (intents.settle)."""
    from sync.crm.hubspot import HubSpotConfig, HubSpotConnector

    def conn() -> HubSpotConnector:
        c = HubSpotConnector(HubSpotConfig.from_settings(), ledger=echo.Ledger())
        c.ensure_unique_property("companies", "crmsync_salesforce_account_id", "Salesforce account (crmsync)")
        return c

    row = {"id": "001Gn000000TEST1AA", "properties": {"name": "Acme"}}
    [made] = conn().upsert("companies", "crmsync_salesforce_account_id", [row])
    [again] = conn().upsert("companies", "crmsync_salesforce_account_id", [row])   # a fresh connector
    assert made.created and not again.created and not again.retried
