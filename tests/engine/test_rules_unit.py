"""Pure tests of sync/engine/rules.py and fields.decide: facts in, one decision out; no HTTP, no database."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync.engine import schema
from sync.engine.fields import decide
from sync.engine.rules import Link, Person, decide_contact, first_returned, is_group_member, resync_target

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def p(sf_id: str, seq: int = 0, minutes: int = 0, **kw) -> Person:
    return Person(sf_id=sf_id, object_type=kw.pop("object_type", "Contact"), email_key=kw.pop("email_key", "a@x.io"),
                  modstamp=T0 + timedelta(minutes=minutes), pull_seq=seq, **kw)


def first(candidates, **kw):
    kw.setdefault("property_record", None)
    return decide_contact(link=None, linked=None, candidates=candidates, has_email=True, delete_on=False,
                          create_leads=True, **kw)


def linked(link_to: Person, candidates, *, since: datetime, delete_on: bool = False):
    return decide_contact(link=Link(link_to.sf_id, "synced", "R3", since), linked=link_to, candidates=candidates,
                          property_record=None, has_email=True, delete_on=delete_on, create_leads=True)


def test_r2_converted_and_deleted_records_are_not_members():
    assert is_group_member(p("A"))
    assert not is_group_member(p("B", is_converted=True, object_type="Lead"))
    assert not is_group_member(p("C", is_deleted=True))
    assert not is_group_member(p("D", email_key=""))


def test_r3_first_returned_ignores_timestamps():
    a, b = p("A", seq=2, minutes=0), p("B", seq=1, minutes=-100)
    assert first_returned([a, b]).sf_id == "B"
    d = first([a, b])
    assert (d.kind, d.sf_id, d.rule, d.chosen_by) == ("link", "B", "R3", "R3")
    assert d.linked_modstamp == T0      # the newest stamp of the group when linked


def test_r3_converted_lead_is_never_chosen():
    lead = p("L", seq=0, object_type="Lead", is_converted=True, converted_contact_id="C")
    assert first([lead, p("C", seq=1)]).sf_id == "C"


def test_r1_no_match_creates_lead_only_with_email_and_setting():
    assert first([]).kind == "create_lead"
    assert decide_contact(link=None, linked=None, candidates=[], property_record=None, has_email=False,
                          delete_on=False, create_leads=True).kind == "none"
    assert decide_contact(link=None, linked=None, candidates=[], property_record=None, has_email=True,
                          delete_on=False, create_leads=False).kind == "none"


def test_r4_not_overturned_by_timestamps_older_than_link():
    a, b = p("A", seq=0, minutes=0), p("B", seq=1, minutes=5)
    assert linked(a, [a, b], since=T0 + timedelta(minutes=5)).kind == "keep"


def test_r4_moves_to_most_recently_updated_after_link():
    a, b = p("A", seq=0, minutes=0), p("B", seq=1, minutes=10)
    d = linked(a, [a, b], since=T0 + timedelta(minutes=5))
    assert (d.kind, d.sf_id, d.rule, d.previous_sf_id) == ("switch", "B", "R4", "A")


def test_r4_linked_record_updated_keeps_link_and_moves_stamp():
    a, b = p("A", seq=0, minutes=10), p("B", seq=1, minutes=0)
    d = linked(a, [a, b], since=T0 + timedelta(minutes=5))
    assert (d.kind, d.sf_id, d.linked_modstamp) == ("keep", "A", T0 + timedelta(minutes=10))


@pytest.mark.parametrize("delete_on,kind", [(False, "lose_primary"), (True, "archive")])
def test_r5_merged_away_primary(delete_on, kind):
    gone = p("A", is_deleted=True, master_record_id="B")
    d = linked(gone, [p("B")], since=T0, delete_on=delete_on)
    assert (d.kind, d.rule) == (kind, "R5")


@pytest.mark.parametrize("delete_on,kind", [(False, "unsync"), (True, "archive")])
def test_r8_deleted_primary(delete_on, kind):
    d = linked(p("A", is_deleted=True), [], since=T0, delete_on=delete_on)
    assert (d.kind, d.rule) == (kind, "R8")


def test_lost_primary_stays_until_resync():
    gone = p("A", is_deleted=True, master_record_id="B")
    d = decide_contact(link=Link("A", "lost_primary"), linked=gone, candidates=[p("B", minutes=99)],
                       property_record=None, has_email=True, delete_on=False, create_leads=True)
    assert d.kind == "keep"


def test_r6_resync_follows_chained_merges_then_r3_r4():
    a = p("A", is_deleted=True, master_record_id="B")
    b = p("B", is_deleted=True, master_record_id="C")
    c = p("C")
    assert resync_target(linked=a, by_id={"B": b, "C": c}, candidates=[]).sf_id == "C"
    lone = p("X", is_deleted=True)
    assert resync_target(linked=lone, by_id={}, candidates=[p("D", seq=1, minutes=1), p("E", seq=0)]).sf_id == "D"
    assert resync_target(linked=lone, by_id={}, candidates=[]) is None


def test_r7_existing_property_is_adopted():
    c = p("C", email_key="other@x.io")
    d = first([], property_record=c)
    assert (d.kind, d.sf_id, d.chosen_by) == ("adopt", "C", "existing")


def test_converted_linked_lead_hands_link_to_its_contact():
    lead = p("L", object_type="Lead", is_converted=True, converted_contact_id="C")
    d = linked(lead, [p("C")], since=T0)
    assert (d.kind, d.sf_id, d.previous_sf_id) == ("switch", "C", "L")


# --- fields.decide ---------------------------------------------------------------------------
@pytest.mark.parametrize("rule,hs,sf,sf_newer,expected", [
    ("prefer_sf", "Ann", "Anna", False, ("hubspot", "Anna")),
    ("prefer_sf", "Ann", "", True, ("salesforce", "Ann")),              # Salesforce blank: HubSpot fills it
    ("prefer_sf", "", "", True, None),
    ("always_sf", "Ann", "", False, ("hubspot", "")),
    ("two_way", "Ann", "Anna", True, ("hubspot", "Anna")),
    ("two_way", "Ann", "Anna", False, ("salesforce", "Ann")),
    ("none", "Ann", "Anna", True, None),
])
def test_field_rules(rule, hs, sf, sf_newer, expected):
    assert decide(rule, "FirstName", hs, sf, sf_newer=sf_newer) == expected


@pytest.mark.parametrize("field,hs,sf", [("Email", "ANN@X.io ", "ann@x.io"), ("Amount", "5000", 5000.0),
                                         ("CloseDate", "2025-03-01T00:00:00Z", "2025-03-01"),
                                         ("StageName", "presentationscheduled", "Value Proposition"),
                                         ("LastName", "", schema.PLACEHOLDER)])
def test_equal_after_normalising_is_no_change(field, hs, sf):
    assert decide("always_sf", field, hs, sf, sf_newer=True) is None
    assert decide("two_way", field, hs, sf, sf_newer=False) is None


def test_required_salesforce_field_never_blanked_and_custom_stage_not_written():
    assert decide("two_way", "LastName", "", "Lee", sf_newer=False) is None
    assert decide("always_sf", "StageName", "closedwon", "Our Custom Stage", sf_newer=True) is None
    assert decide("always_sf", "StageName", "appointmentscheduled", "Closed Won", sf_newer=True) == ("hubspot", "closedwon")
