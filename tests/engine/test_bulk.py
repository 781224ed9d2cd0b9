"""sync.engine.bulk: instances built without Model.__init__ and the set-based writes store exactly
what the ORM would (on the database the suite runs on: SQLite or PostgreSQL)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict

from sync.engine import bulk
from sync.models import AuditEvent, ContactLink, HsContact, HsDeal, SfPerson, SyncRun

pytestmark = pytest.mark.django_db

STAMP = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)


def stored(model, **lookup) -> dict:
    return model_to_dict(model.objects.get(**lookup), exclude=["id"])


def test_build_fills_defaults_as_the_constructor_does():
    values = {"hs_id": "1", "email": "a@example.com", "last_modified": STAMP, "raw": {"id": "1"}}
    built, made = bulk.build(HsContact, values), HsContact(**values)
    assert built._state.adding and built.pk is None
    for field in HsContact._meta.concrete_fields:
        if field.name != "mirrored_at":  # a callable default: evaluated per instance
            assert getattr(built, field.attname) == getattr(made, field.attname), field.name
    assert abs(built.mirrored_at - made.mirrored_at) < timedelta(seconds=5)


def test_build_takes_relations_as_instances_or_ids_and_refuses_unknown_fields():
    run = SyncRun.objects.create()
    assert bulk.build(AuditEvent, {"run": run, "action": "x"}).run_id == run.pk
    assert bulk.build(AuditEvent, {"run_id": run.pk, "action": "x"}).run_id == run.pk
    assert bulk.build(ContactLink, {"sf_person": None}).sf_person_id is None
    with pytest.raises(TypeError, match=r"HsContact has no field\(s\) \['emial'\]"):
        bulk.build(HsContact, {"emial": "typo@example.com"})


def test_built_rows_are_stored_as_the_orm_stores_them():
    """Datetimes in and out of UTC, decimals, JSON: the same row through bulk.insert and save()."""
    other_zone = STAMP.astimezone(timezone(timedelta(hours=-5)))
    whole_second = STAMP.replace(microsecond=0)   # stored without a fraction, as the ORM stores it
    for i, (stamp, amount) in enumerate([(STAMP, Decimal("1234.50")), (other_zone, None), (whole_second, None)]):
        values = {"name": "Deal", "amount": amount, "last_modified": stamp, "raw": {"p": {"x": [1, "ü"]}}}
        bulk.insert(HsDeal, [bulk.build(HsDeal, {"hs_id": f"b{i}", **values})])
        HsDeal(hs_id=f"o{i}", **values).save()
        built, saved = stored(HsDeal, hs_id=f"b{i}"), stored(HsDeal, hs_id=f"o{i}")
        assert {**built, "hs_id": "", "mirrored_at": None} == {**saved, "hs_id": "", "mirrored_at": None}
        assert built["last_modified"] == stamp


def test_an_upsert_keeps_the_last_row_for_a_key_and_updates_only_the_named_fields():
    bulk.insert(SfPerson, [bulk.build(SfPerson, {"sf_id": "003000000000000AAA", "object_type": "Contact", "last_name": "Old",
                                                 "email": "old@example.com"})])
    rows = [bulk.build(SfPerson, {"sf_id": "003000000000000AAA", "object_type": "Contact", "last_name": name,
                                  "email": "new@example.com"}) for name in ("First", "Second")]
    bulk.insert(SfPerson, rows, conflict="sf_id", update=("last_name",))
    person = SfPerson.objects.get(sf_id="003000000000000AAA")
    assert (person.last_name, person.email) == ("Second", "old@example.com")
