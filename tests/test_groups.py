"""Duplicate groups kept in DuplicateGroup (sync.engine.groups): a full refresh, an incremental
one from what a run touched, groups appearing and disappearing, and the same groups as grouping
the mirror directly (the definitions the console used before the table existed)."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from django.db.models import Case, CharField, Count, Max, Q, When

from sandbox.ids import IdFactory
from sync.engine.groups import refresh_groups, refresh_keys
from sync.engine.pull import Touched
from sync.models import ContactLink, DuplicateGroup, HsCompany, HsContact, SfPerson

pytestmark = pytest.mark.django_db
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
_ids = IdFactory(seed=11)
_hs = itertools.count(7001)
FULL = Touched(everything=True)


def person(email: str, *, object_type: str = "Contact", minutes: int = 0, **extra) -> SfPerson:
    return SfPerson.objects.create(sf_id=_ids.new(object_type), object_type=object_type, email=email,
                                   system_modstamp=T0 + timedelta(minutes=minutes), **extra)


def contact(*, contact_id: str = "", lead_id: str = "", minutes: int = 0, **extra) -> HsContact:
    return HsContact.objects.create(hs_id=str(next(_hs)), email=f"c{next(_hs)}@example.com",
                                    salesforce_contact_id=contact_id, salesforce_lead_id=lead_id,
                                    last_modified=T0 + timedelta(minutes=minutes), **extra)


def company(account: str, **extra) -> HsCompany:
    return HsCompany.objects.create(hs_id=str(next(_hs)), salesforce_account_id=account, last_modified=T0, **extra)


def stored() -> set[tuple]:
    return set(DuplicateGroup.objects.values_list("kind", "key", "size", "leads", "modified"))


def grouped_from_the_mirror() -> set[tuple]:
    """The groups as the console computed them before DuplicateGroup: GROUP BY over the mirror."""
    r2 = (SfPerson.objects.filter(is_deleted=False, is_converted=False).exclude(email_key="").values("email_key")
          .annotate(size=Count("id"), leads=Count("id", filter=Q(object_type="Lead")), modified=Max("system_modstamp"))
          .filter(size__gt=1))
    sf_key = Case(When(~Q(salesforce_contact_id=""), then="salesforce_contact_id"), default="salesforce_lead_id",
                  output_field=CharField())
    r7 = (HsContact.objects.filter(archived=False).annotate(sf_key=sf_key).exclude(sf_key="").values("sf_key")
          .annotate(size=Count("id"), modified=Max("last_modified")).filter(size__gt=1))
    r9 = (HsCompany.objects.filter(archived=False).exclude(salesforce_account_id="").values("salesforce_account_id")
          .annotate(size=Count("id"), modified=Max("last_modified")).filter(size__gt=1))
    return ({("r2", g["email_key"], g["size"], g["leads"], g["modified"]) for g in r2}
            | {("r7", g["sf_key"], g["size"], 0, g["modified"]) for g in r7}
            | {("r9", g["salesforce_account_id"], g["size"], 0, g["modified"]) for g in r9})


@pytest.fixture
def mirror():
    """A mirror with groups of every kind and the records that must not count."""
    ann = [person("ann@example.com", minutes=1), person(" ANN@example.com", object_type="Lead", minutes=5),
           person("Ann@Example.com", minutes=3)]
    person("ann@example.com", object_type="Lead", is_converted=True, minutes=9)   # converted: not a member
    person("ann@example.com", is_deleted=True, master_record_id=ann[0].sf_id, minutes=9)  # merged away
    person("", minutes=9)
    person("")                                                     # no email: never a group
    person("bob@example.com", object_type="Lead")
    person("bob@example.com", object_type="Lead", minutes=2)
    person("alone@example.com")
    lead_id, contact_id = _ids.new("Lead"), _ids.new("Contact")
    contact(contact_id=contact_id, minutes=1)
    contact(contact_id=contact_id, lead_id=lead_id, minutes=4)     # the contact id wins over the lead id
    contact(lead_id=lead_id)
    contact(lead_id=lead_id, minutes=2)
    contact(contact_id=contact_id, archived=True, minutes=8)       # archived: not a member
    contact()
    contact()
    account = _ids.new("Account")
    company(account)
    company(account)
    company(account, archived=True)
    company("")
    company("")
    return {"ann": ann, "lead_id": lead_id, "contact_id": contact_id, "account": account}


def test_a_full_refresh_finds_the_groups_the_mirror_has(mirror):
    refresh_groups(FULL)
    assert stored() == grouped_from_the_mirror()
    assert {(k, key, size, leads) for k, key, size, leads, _ in stored()} == {
        ("r2", "ann@example.com", 3, 1), ("r2", "bob@example.com", 2, 2),
        ("r7", mirror["contact_id"], 2, 0), ("r7", mirror["lead_id"], 2, 0), ("r9", mirror["account"], 2, 0)}
    assert DuplicateGroup.objects.get(kind="r2", key="ann@example.com").modified == T0 + timedelta(minutes=5)


def test_a_full_refresh_removes_groups_that_broke_up_and_is_idempotent(mirror):
    refresh_groups(FULL)
    SfPerson.objects.filter(email_key="bob@example.com", object_type="Lead").update(is_converted=True)
    HsCompany.objects.filter(salesforce_account_id=mirror["account"]).update(archived=True)
    refresh_groups(FULL)
    refresh_groups(FULL)
    assert stored() == grouped_from_the_mirror()
    assert not DuplicateGroup.objects.filter(key__in=["bob@example.com", mirror["account"]]).exists()


def test_an_incremental_refresh_adds_the_groups_of_touched_keys(mirror):
    refresh_groups(FULL)
    carl = [person("carl@example.com"), person("carl@example.com", object_type="Lead")]
    extra = contact(contact_id=carl[0].sf_id)
    contact(contact_id=carl[0].sf_id)
    refresh_groups(Touched(sf_ids={p.sf_id for p in carl}, email_keys={"carl@example.com"},
                           hs_contact_ids={extra.hs_id}))
    assert stored() == grouped_from_the_mirror()
    assert DuplicateGroup.objects.get(kind="r2", key="carl@example.com").leads == 1
    assert DuplicateGroup.objects.get(kind="r7", key=carl[0].sf_id).size == 2


def test_an_incremental_refresh_notices_a_member_that_moved_to_another_key(mirror):
    """The pull only knows the new email: the old group is found among the existing groups."""
    refresh_groups(FULL)
    bob = SfPerson.objects.filter(email_key="bob@example.com").first()
    bob.email = "robert@example.com"
    bob.save()
    moved = HsContact.objects.filter(salesforce_lead_id=mirror["lead_id"], salesforce_contact_id="").first()
    HsContact.objects.filter(pk=moved.pk).update(salesforce_lead_id=_ids.new("Lead"))
    refresh_groups(Touched(sf_ids={bob.sf_id}, email_keys={"robert@example.com"}, hs_contact_ids={moved.hs_id}))
    assert stored() == grouped_from_the_mirror()
    assert not DuplicateGroup.objects.filter(key__in=["bob@example.com", mirror["lead_id"]]).exists()


def test_an_incremental_refresh_follows_contacts_the_run_relinked(mirror):
    """Reconcile writes Salesforce ids on contacts it reached by email or by link, not by id."""
    refresh_groups(FULL)
    target = person("dora@example.com")
    by_email = contact(contact_id=target.sf_id)
    HsContact.objects.filter(pk=by_email.pk).update(email_key="dora@example.com")
    linked = contact(contact_id=target.sf_id)
    ContactLink.objects.create(hs_contact=linked, sf_person=mirror["ann"][0], status="synced", chosen_by="R3")
    refresh_groups(Touched(email_keys={"dora@example.com"}, sf_ids={mirror["ann"][0].sf_id}))
    assert DuplicateGroup.objects.get(kind="r7", key=target.sf_id).size == 2


def test_an_incremental_refresh_of_companies(mirror):
    refresh_groups(FULL)
    other = _ids.new("Account")
    first, second = company(other), company("")
    HsCompany.objects.filter(pk=second.pk).update(salesforce_account_id=other)
    refresh_groups(Touched(company_ids={second.hs_id}))
    assert DuplicateGroup.objects.get(kind="r9", key=other).size == 2
    HsCompany.objects.filter(pk=first.pk).update(archived=True)
    refresh_groups(Touched(company_ids={first.hs_id}))
    assert stored() == grouped_from_the_mirror()


def test_refresh_keys_leaves_other_keys_alone_and_drops_groups_below_two(mirror):
    refresh_groups(FULL)
    SfPerson.objects.filter(email_key="ann@example.com", object_type="Contact").update(is_deleted=True)
    SfPerson.objects.filter(email_key="bob@example.com").update(last_name="changed", is_deleted=True)
    refresh_keys("r2", ["ann@example.com", "nobody@example.com", ""])
    assert not DuplicateGroup.objects.filter(key="ann@example.com").exists()
    assert DuplicateGroup.objects.filter(key="bob@example.com").exists()   # not asked for: unchanged until asked


def test_a_run_that_touched_nothing_changes_nothing(mirror):
    refresh_groups(FULL)
    before = stored()
    refresh_groups(Touched())
    assert stored() == before


def test_refresh_keys_works_in_chunks(mirror, monkeypatch):
    from sync.engine import groups

    monkeypatch.setattr(groups, "CHUNK", 2)
    for i in range(5):
        person(f"many{i}@example.com")
        person(f"many{i}@example.com")
    refresh_keys("r2", [f"many{i}@example.com" for i in range(5)])
    assert DuplicateGroup.objects.filter(kind="r2", key__startswith="many").count() == 5
