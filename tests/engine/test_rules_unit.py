"""Pure tests of sync/engine/rules.py and fields.decide: facts in, one decision out; no HTTP, no database."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync.engine import rules, schema
from sync.engine.fields import decide as field_decide
from sync.engine.rules import (
    AccountFacts,
    CompanyKind,
    ContactFacts,
    DealKind,
    Decision,
    Kind,
    Link,
    Person,
    Policy,
    company_for_account,
    decide_companies,
    decide_contact,
    decide_deal,
    decide_opportunity,
    first_returned,
    is_group_member,
    resync_target,
    settle_claims,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def p(sf_id: str, seq: int = 0, minutes: int = 0, **kw) -> Person:
    return Person(sf_id=sf_id, object_type=kw.pop("object_type", "Contact"), email_key=kw.pop("email_key", "a@x.io"),
                  modstamp=T0 + timedelta(minutes=minutes), pull_seq=seq, **kw)


def decide(link=None, linked=None, candidates=(), *, shows="", shown=None, has_email=True, delete_on=False,
           create_leads=True):
    return decide_contact(ContactFacts(has_email=has_email, link=link, linked=linked, candidates=tuple(candidates),
                                       shows=shows, shown=shown), Policy(delete_on=delete_on, create_leads=create_leads))


def first(candidates, **kw):
    return decide(None, None, candidates, **kw)


def linked(link_to: Person, candidates, *, since: datetime, delete_on: bool = False, status: str = "synced"):
    return decide(Link(link_to.sf_id, status, "R3", since), link_to, candidates, shows=link_to.sf_id,
                  delete_on=delete_on)


def test_r2_converted_and_deleted_records_are_not_members():
    assert is_group_member(p("A"))
    assert not is_group_member(p("B", is_converted=True, object_type="Lead"))
    assert not is_group_member(p("C", is_deleted=True))
    assert not is_group_member(p("D", email_key=""))


def test_r3_first_returned_ignores_timestamps():
    a, b = p("A", seq=2, minutes=0), p("B", seq=1, minutes=-100)
    assert first_returned([a, b]).sf_id == "B"
    d = first([a, b])
    assert (d.kind, d.sf_id, d.rule, d.chosen_by) == (Kind.LINK, "B", "R3", "R3")
    assert d.linked_modstamp == T0      # the newest stamp of the group when linked


def test_r3_converted_lead_is_never_chosen():
    lead = p("L", seq=0, object_type="Lead", is_converted=True, converted_contact_id="C")
    assert first([lead, p("C", seq=1)]).sf_id == "C"


def test_r1_no_match_creates_lead_only_with_email_and_setting():
    assert first([]).kind == Kind.CREATE_LEAD
    assert first([], has_email=False).kind == Kind.NONE
    assert first([], create_leads=False).kind == Kind.NONE


def test_r4_not_overturned_by_timestamps_older_than_link():
    a, b = p("A", seq=0, minutes=0), p("B", seq=1, minutes=5)
    assert linked(a, [a, b], since=T0 + timedelta(minutes=5)).kind == Kind.KEEP


def test_r4_moves_to_most_recently_updated_after_link():
    a, b = p("A", seq=0, minutes=0), p("B", seq=1, minutes=10)
    d = linked(a, [a, b], since=T0 + timedelta(minutes=5))
    assert (d.kind, d.sf_id, d.rule, d.previous_sf_id) == (Kind.SWITCH, "B", "R4", "A")


def test_r4_linked_record_updated_keeps_link_and_moves_stamp():
    a, b = p("A", seq=0, minutes=10), p("B", seq=1, minutes=0)
    d = linked(a, [a, b], since=T0 + timedelta(minutes=5))
    assert (d.kind, d.sf_id, d.linked_modstamp) == (Kind.KEEP, "A", T0 + timedelta(minutes=10))


def test_a_link_hubspot_does_not_show_is_written_again():
    """A run killed after recording a link but before HubSpot heard of it: the next run repairs."""
    a = p("A")
    d = decide(Link("A", "synced", "R3", T0), a, [a], shows="")
    assert (d.kind, d.sf_id) == (Kind.REPAIR, "A")


@pytest.mark.parametrize("delete_on,kind", [(False, Kind.LOSE_PRIMARY), (True, Kind.ARCHIVE)])
def test_r5_merged_away_primary(delete_on, kind):
    gone = p("A", is_deleted=True, master_record_id="B")
    d = linked(gone, [p("B")], since=T0, delete_on=delete_on)
    assert (d.kind, d.rule) == (kind, "R5")


@pytest.mark.parametrize("delete_on,kind", [(False, Kind.UNSYNC), (True, Kind.ARCHIVE)])
def test_r8_deleted_primary(delete_on, kind):
    d = linked(p("A", is_deleted=True), [], since=T0, delete_on=delete_on)
    assert (d.kind, d.rule) == (kind, "R8")


def test_a_deleted_record_hubspot_names_is_never_replaced_by_a_new_lead():
    """First sight of a contact whose HubSpot property names a deleted lead: unsynced (R8). A
    record Salesforce no longer has at all (purged) is the same: never a new lead (R1)."""
    gone = p("L", object_type="Lead", is_deleted=True)
    assert first([], shows="L", shown=gone).kind == Kind.UNSYNC
    assert first([], shows="00QXXXXXXXXXXXXXXX", shown=None).kind == Kind.UNSYNC


def test_an_unsynced_contact_still_naming_its_deleted_record_is_cleared():
    gone = p("L", object_type="Lead", is_deleted=True)
    assert decide(Link(None, "unsynced"), None, [], shows="L", shown=gone).kind == Kind.CLEAR
    assert decide(Link(None, "unsynced"), None, [], shows="").kind == Kind.KEEP
    assert decide(Link(None, "unsynced"), None, [], shows="C", shown=p("C")).kind == Kind.KEEP  # a person's choice


def test_lost_primary_stays_until_resync():
    gone = p("A", is_deleted=True, master_record_id="B")
    d = decide(Link("A", "lost_primary"), gone, [p("B", minutes=99)], shows="A")
    assert d.kind == Kind.KEEP


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
    d = first([], shows="C", shown=c)
    assert (d.kind, d.sf_id, d.chosen_by) == (Kind.ADOPT, "C", "existing")


def test_converted_linked_lead_hands_link_to_its_contact():
    lead = p("L", object_type="Lead", is_converted=True, converted_contact_id="C")
    d = linked(lead, [p("C")], since=T0)
    assert (d.kind, d.sf_id, d.previous_sf_id) == (Kind.CONVERTED, "C", "L")


# --- R7: one HubSpot contact per Salesforce record ----------------------------------------------
def test_r7_a_second_contact_naming_a_synced_record_is_a_duplicate():
    adopt = Decision(Kind.ADOPT, sf_id="X", chosen_by="existing")
    [d] = settle_claims([("B", None, adopt)], held={"X": "A"})
    assert (d.kind, d.sf_id, d.holder, d.rule) == (Kind.DUPLICATE, "X", "A", "R7")


def test_r7_within_one_batch_the_link_that_exists_wins_then_the_first_claim():
    keep = Decision(Kind.KEEP, sf_id="X")
    claim = Decision(Kind.LINK, sf_id="X", rule="R3")
    out = settle_claims([("B", None, claim), ("A", Link("X", "synced"), keep), ("C", None, claim)], held={})
    assert [d.kind for d in out] == [Kind.DUPLICATE, Kind.KEEP, Kind.DUPLICATE]
    out = settle_claims([("B", None, claim), ("C", None, claim)], held={})
    assert [d.kind for d in out] == [Kind.LINK, Kind.DUPLICATE]


def test_r7_a_duplicate_takes_over_a_record_nobody_syncs_with():
    stay = Decision(Kind.KEEP, sf_id="X")
    [d] = settle_claims([("B", Link("X", "duplicate"), stay)], held={})
    assert (d.kind, d.sf_id, d.rule) == (Kind.LINK, "X", "R7")
    [d] = settle_claims([("B", Link("X", "duplicate"), stay)], held={"X": "A"})
    assert d.kind == Kind.KEEP   # still a duplicate: no change, no event


def test_r7_a_contact_moving_away_frees_its_record_for_the_next():
    away = Decision(Kind.SWITCH, sf_id="Y", previous_sf_id="X")
    claim = Decision(Kind.ADOPT, sf_id="X")
    out = settle_claims([("A", Link("X", "synced"), away), ("B", None, claim)], held={"X": "A"})
    assert [d.kind for d in out] == [Kind.SWITCH, Kind.ADOPT]


# --- R9, R10, R11 ------------------------------------------------------------------------------
def test_r9_the_oldest_carrier_of_a_live_unlinked_account():
    assert company_for_account(account_live=True, account_linked=False, carriers=["5", "9"]) == "5"
    assert company_for_account(account_live=False, account_linked=False, carriers=["5"]) is None
    assert company_for_account(account_live=True, account_linked=True, carriers=["5"]) is None


def test_r10_reuse_claim_create_and_never_recreate_a_deleted_company():
    facts = [AccountFacts("A1", True, company="7", contacts=(("c1", ("7",)), ("c2", ()))),
             AccountFacts("A2", True, contacts=(("c3", ("20", "3")),), free=frozenset({"3", "20"})),
             AccountFacts("A3", True, contacts=(("c4", ("3",)),), free=frozenset({"3", "20"})),
             AccountFacts("A4", True, company_gone=True, contacts=(("c5", ()),)),
             AccountFacts("A5", False, contacts=(("c6", ()),))]
    out = decide_companies(facts)
    assert [(d.kind, d.company, d.associate) for d in out] == [
        (CompanyKind.REUSE, "7", ("c2",)), (CompanyKind.CLAIM, "3", ()), (CompanyKind.CREATE, None, ("c4",)),
        (CompanyKind.NONE, None, ()), (CompanyKind.NONE, None, ())]


@pytest.mark.parametrize("names,live,linked,kind", [
    ("", None, False, DealKind.CREATE), ("006X", True, False, DealKind.LINK), ("006X", True, True, DealKind.NONE),
    ("006X", False, False, DealKind.NONE), ("006X", None, False, DealKind.NONE)])
def test_r11_deals_match_only_by_the_opportunity_id_and_never_recreate(names, live, linked, kind):
    assert decide_deal(names=names, opportunity_live=live, opportunity_linked=linked).kind == kind


def test_r11_opportunities_get_one_deal():
    assert decide_opportunity(linked=False, live=True).kind == DealKind.CREATE
    assert decide_opportunity(linked=True, live=True).kind == DealKind.NONE
    assert decide_opportunity(linked=False, live=False).kind == DealKind.NONE


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
    assert field_decide(rule, "FirstName", hs, sf, sf_newer=sf_newer) == expected


@pytest.mark.parametrize("field,hs,sf", [("Email", "ANN@X.io ", "ann@x.io"), ("Amount", "5000", 5000.0),
                                         ("CloseDate", "2025-03-01T00:00:00Z", "2025-03-01"),
                                         ("StageName", "Value Proposition", "Value Proposition"),
                                         ("LastName", "", schema.PLACEHOLDER)])
def test_equal_after_normalising_is_no_change(field, hs, sf):
    assert field_decide("always_sf", field, hs, sf, sf_newer=True) is None
    assert field_decide("two_way", field, hs, sf, sf_newer=False) is None


def test_required_salesforce_field_never_blanked_and_an_unmapped_stage_never_written():
    assert field_decide("two_way", "LastName", "", "Lee", sf_newer=False) is None
    # The caller converts HubSpot's stage to the Salesforce stage it maps to; None: unmapped.
    assert field_decide("two_way", "StageName", None, "Closed Won", sf_newer=False) is None
    assert field_decide("always_sf", "StageName", "Prospecting", "Closed Won", sf_newer=True) == ("hubspot", "Closed Won")


def test_stages_map_through_the_mapping_and_the_picklist():
    from sync.crm.salesforce import FieldInfo
    from sync.engine.stages import Mapping, to_hubspot, to_salesforce

    m = Mapping({("default", "closedwon"): "Closed Won", ("777", "123"): "Qualification"},
                {"Qualification": [("777", "123")]})
    picklist = FieldInfo("StageName", "picklist", picklist=("Closed Won", "Prospecting"), restricted=True)
    assert to_salesforce("777", "123", m=m) == "Qualification"
    assert to_salesforce("777", "123", picklist, m=m) is None        # not a stage this org offers
    assert to_salesforce("777", "999", m=m) is None                  # never the raw stage id
    assert to_hubspot("Qualification", "777", m=m) == ("777", "123")
    assert to_hubspot("Closed Won", "777", m=m) == ("777", None)     # that pipeline has no such stage
    assert to_hubspot("Value Proposition", m=m) == ("default", "presentationscheduled")


def test_a_stage_is_proposed_from_its_probability_and_closed_won_flags():
    from sync.engine.stages import SfStage, propose

    org = [SfStage("Prospecting", 10, False, False, 1), SfStage("Qualification", 10, False, False, 2),
           SfStage("Value Proposition", 50, False, False, 4), SfStage("Negotiation/Review", 90, False, False, 8),
           SfStage("Closed Won", 100, True, True, 9), SfStage("Closed Lost", 0, True, False, 10)]
    custom = {"pipeline": "75318642", "org": org}
    assert propose(stage="1", probability=0.1, closed=False, **custom) == "Prospecting"   # tie: earlier stage
    assert propose(stage="2", probability=0.45, closed=False, **custom) == "Value Proposition"
    assert propose(stage="3", probability=1.0, closed=True, **custom) == "Closed Won"
    assert propose(stage="4", probability=0.0, closed=True, **custom) == "Closed Lost"
    assert propose(pipeline="default", stage="contractsent", probability=0.9, closed=False, org=org) == "Negotiation/Review"
    assert propose(stage="5", probability=0.5, closed=False, pipeline="x", org=[]) is None


def test_a_merge_keeps_the_primary_values_and_fills_its_blanks_from_the_others():
    """R2 merge: the primary's value survives; where it has none, the first merged record's that has one."""
    from sync.engine.rules import merge_keeps
    primary = ("P", {"Phone": "", "Title": "CEO", "LastName": "Lee"})
    merged = [("A", {"Phone": "", "Title": "CTO", "LastName": "Li"}), ("B", {"Phone": "555", "Title": "", "LastName": ""})]
    assert merge_keeps(["Phone", "Title", "LastName"], primary, merged) == {"Phone": "B", "Title": "P", "LastName": "P"}
    assert merge_keeps(["Phone"], ("P", {"Phone": ""}), [("A", {"Phone": ""})]) == {"Phone": "P"}  # nobody has one


# --- the inclusion list -----------------------------------------------------------------------------
def test_a_contact_outside_the_inclusion_list_creates_no_lead_but_is_still_linked_by_r3():
    outside = ContactFacts(has_email=True, outside_list=True)
    assert decide_contact(outside, Policy()).kind == Kind.NONE
    matched = ContactFacts(has_email=True, outside_list=True, candidates=(p("A", seq=1),))
    assert (decide_contact(matched, Policy()).kind, decide_contact(matched, Policy()).sf_id) == (Kind.LINK, "A")


def test_an_outside_pair_exchanges_no_field_values():
    from sync.engine.rules import fields_exchanged

    assert fields_exchanged(outside_list=False) and not fields_exchanged(outside_list=True)


def test_inclusion_flags_follow_the_list_and_say_which_contacts_moved():
    from sync.engine.rules import inclusion_flags, inclusion_move

    before = {"1": True, "2": True, "3": False, "4": False, "5": None, "6": None}
    changes = inclusion_flags(before, {"1", "3", "5", "99"})
    assert changes == {"1": False, "4": True, "5": False, "6": True}  # only the flags that change
    assert {i: inclusion_move(before[i], new) for i, new in changes.items()} == {
        "1": "joined", "4": "left", "5": "", "6": ""}                   # a first read is no move
    cleared = inclusion_flags(before, None)                           # no list: every flag cleared
    assert cleared == {"1": None, "2": None, "3": None, "4": None}
    assert [inclusion_move(before[i], None) for i in "1234"] == ["joined", "joined", "", ""]
    assert inclusion_move(None, False) == "" and inclusion_move(False, False) == ""


def test_a_live_run_asks_per_contact_only_while_that_is_cheaper_than_reading_the_list():
    from sync.engine.rules import ask_per_contact

    assert ask_per_contact(contacts=3, members=1000, page=250)       # 3 requests < 4 pages
    assert not ask_per_contact(contacts=4, members=1000, page=250)
    assert not ask_per_contact(contacts=1, members=0, page=250)       # an empty list is one request


def test_r10_may_claim_only_a_live_company_no_account_has():
    """The companies R10 may claim (rules.free_for_r10): a deal on any other company keeps its
    account whatever R10 decides, so its opportunity may be created beside R10."""
    assert rules.free_for_r10(linked=False, names_account=False, archived=False)
    assert not rules.free_for_r10(linked=True, names_account=False, archived=False)    # R9 or an earlier run linked it
    assert not rules.free_for_r10(linked=False, names_account=True, archived=False)    # it names an account (R9's)
    assert not rules.free_for_r10(linked=False, names_account=False, archived=True)    # deleted or merged in HubSpot
