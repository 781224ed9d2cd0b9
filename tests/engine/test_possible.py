"""Possible duplicates: the rules (pure) and the build over the mirror (no CRM is called)."""
from __future__ import annotations

import pytest

from sync import duplicate_actions
from sync.engine import possible, rules
from sync.models import AuditEvent, PossibleBuild, PossiblePair
from tests.console.conftest import hs_contact, link, sf_person


def prof(side="sf", rid="1", first="Ann", last="Lee", email="ann@acme.com", company="", phone=""):
    return rules.profile(side, rid, first=first, last=last, email_key=email, company=company, phone=phone)


# --- the rules ----------------------------------------------------------------------------------------
def test_the_reasons_are_said_in_words():
    a = prof(email="ann.lee@acme.com", phone="+1 (555) 010-0200")
    b = prof("hs", "101", email="alee@acme.com", phone="555 010 0200")
    score, reasons = rules.likeness(a, b)
    assert reasons == ["same name", "same company domain", "phone differs by format"] and score == 100
    c = prof("hs", "102", first="Anne", email="anne@globex.com", phone="555 999 0000")
    d = prof("sf", "2", first="Ann", email="ann@gmail.com", company="Globex", phone="555 999 0000")
    score, reasons = rules.likeness(c, d)
    assert reasons == ["similar name (93 %)", "company matches the other's email domain", "same phone"]
    assert score == 85


def test_what_is_not_listed():
    a = prof(email="ann@acme.com")
    assert rules.likeness(a, prof("hs", "9", email="ann@acme.com")) is None              # same email: R1 links them
    assert rules.likeness(a, prof("hs", "9", email="x@acme.com"), same_record=True) is None   # the sync's own pair
    assert rules.likeness(a, prof("hs", "9", first="Bob", last="Stone", email="b@acme.com")) is None
    assert rules.likeness(a, prof("hs", "9", email="ann@other.com")) is None             # only a name: under 60
    free = prof("hs", "9", email="ann@gmail.com"), prof("sf", "8", email="annlee@gmail.com")
    assert free[0].domain == "" and rules.likeness(*free) is None                        # free mail is no company


def test_folding_and_company_suffixes():
    p = rules.profile("sf", "1", first="  Zoë ", last="O'Brien-Smith", email_key="", company="The ACME, Inc.",
                      phone="12")
    assert (p.first, p.last, p.company, p.phone) == ("zoe", "o brien smith", "acme", "")


def test_a_large_block_costs_a_window_per_record_not_the_square():
    members = list(range(1000))
    pairs = rules.block_pairs(members, [f"john smith {i:04d}" for i in members])
    assert len(pairs) == sum(min(rules.WINDOW, 999 - i) for i in range(1000)) < 1000 * rules.WINDOW
    assert len(rules.block_pairs(list(range(10)), ["x"] * 10)) == 45                   # a small block: every pair


def test_a_dismissal_holds_until_the_group_grows():
    assert rules.is_dismissed(dismissed_size=3, size=3) and rules.is_dismissed(dismissed_size=3, size=2)
    assert not rules.is_dismissed(dismissed_size=3, size=4) and not rules.is_dismissed(dismissed_size=None, size=2)


# --- the build ----------------------------------------------------------------------------------------
@pytest.fixture
def build():
    def run() -> PossibleBuild:
        b = duplicate_actions.request_possible_duplicates(actor=None, enqueue=False)
        return duplicate_actions.run_possible_build(b.pk)
    return run


@pytest.mark.django_db
def test_a_build_finds_people_across_both_crms_and_leaves_out_the_syncs_own_pairs(build):
    lead = sf_person("ann.lee@acme.com", object_type="Lead", phone="+1 555 0100", company="Acme")
    namesake = hs_contact("alee@acme.com", first="Ann", last="Lee", phone="555-0100")
    synced = hs_contact("ann.lee@partner.com", first="Ann", last="Lee")
    other = sf_person("ann.lee@partner.com.au", first="Ann", last="Lee", account_id="")
    link(synced, other)                                   # that contact already syncs with that record
    sf_person("bob@acme.com", first="Bob", last="Stone")
    result = build()
    pairs = {p.key: p for p in PossiblePair.objects.filter(build=result.pk)}
    assert f"hs:{namesake.hs_id}|sf:{lead.sf_id}" in pairs
    best = pairs[f"hs:{namesake.hs_id}|sf:{lead.sf_id}"]
    assert best.reasons == ["same name", "same company domain", "phone differs by format"]
    assert f"hs:{synced.hs_id}|sf:{other.sf_id}" not in pairs
    assert (result.people, result.pairs) == (5, len(pairs)) and result.finished_at and result.error == ""


@pytest.mark.django_db
def test_blocking_keeps_the_comparisons_near_linear(build):
    for i in range(1500):   # distinct people: few share a block
        sf_person(f"p{i}@example{i}.com", first=f"First{i}", last=f"Last{i % 700}", phone=f"555{i:06d}")
    result = build()
    assert result.people == 1500 and result.comparisons < 1500 * 3   # all pairs would be 1,124,250


@pytest.mark.django_db
def test_a_new_build_replaces_the_old_pairs_and_a_build_runs_once(build):
    sf_person("ann.lee@acme.com", phone="555 0100")
    hs_contact("alee@acme.com", phone="5550100")
    first = build()
    assert PossiblePair.objects.filter(build=first.pk).count() == 1
    second = build()
    assert set(PossiblePair.objects.values_list("build", flat=True)) == {second.pk}
    assert duplicate_actions.run_possible_build(second.pk).pk == second.pk            # a redelivered task
    assert PossiblePair.objects.count() == 1 and possible.latest() == second
    assert AuditEvent.objects.filter(target_type="duplicates.possible").count() == 2  # each request audited


@pytest.mark.django_db
def test_a_build_that_fails_says_why_and_the_last_good_one_still_shows(build, monkeypatch):
    sf_person("ann.lee@acme.com", phone="555 0100")
    hs_contact("alee@acme.com", phone="5550100")
    good = build()
    monkeypatch.setattr(rules, "likeness", lambda *a, **k: 1 / 0)
    b = duplicate_actions.request_possible_duplicates(actor=None, enqueue=False)
    with pytest.raises(ZeroDivisionError):
        duplicate_actions.run_possible_build(b.pk)
    b.refresh_from_db()
    assert b.error.startswith("ZeroDivisionError") and possible.latest() == good
    assert PossiblePair.objects.filter(build=good.pk).count() == 1


@pytest.mark.django_db
def test_a_second_request_while_one_builds_is_the_same_build():
    a = duplicate_actions.request_possible_duplicates(actor=None, enqueue=False)
    assert duplicate_actions.request_possible_duplicates(actor=None, enqueue=False) == a
