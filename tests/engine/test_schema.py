"""sync.engine.schema: CRM payloads → mirror rows. Pure conversions, no database."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from sync.engine import schema


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-05-01T10:11:12.000+0000", datetime(2024, 5, 1, 10, 11, 12, tzinfo=UTC)),      # Salesforce
    ("2024-05-01T10:11:12.345Z", datetime(2024, 5, 1, 10, 11, 12, 345000, tzinfo=UTC)),  # HubSpot
    ("2024-05-01T12:11:12.000+0200", datetime(2024, 5, 1, 10, 11, 12, tzinfo=UTC)),      # another offset
    ("2024-05-01T12:11:12+02:00", datetime(2024, 5, 1, 10, 11, 12, tzinfo=UTC)),
    (" 2024-05-01T10:11:12Z ", datetime(2024, 5, 1, 10, 11, 12, tzinfo=UTC)),             # padded
    ("1714558272000", datetime(2024, 5, 1, 10, 11, 12, tzinfo=UTC)),                      # epoch ms
    (datetime(2024, 5, 1, 12, 11, 12, tzinfo=timezone(timedelta(hours=2))), datetime(2024, 5, 1, 10, 11, 12, tzinfo=UTC)),
    ("", None), (None, None), ("not a date", None), ("2024-13-01T00:00:00Z", None),
])
def test_parse_dt_reads_both_crms_forms_as_aware_utc(value, expected):
    parsed = schema.parse_dt(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC


def test_parse_date_and_decimal():
    assert schema.parse_date("2024-05-01") == date(2024, 5, 1)
    assert schema.parse_date("1714521600000") == date(2024, 5, 1)
    assert schema.parse_date("soon") is None
    assert str(schema.parse_decimal("12.50")) == "12.50"
    assert schema.parse_decimal("NaN") is None and schema.parse_decimal("") is None


def test_raw_payload_drops_attributes_and_nul_bytes_only():
    record = {"attributes": {"type": "Lead"}, "Id": "00Q1", "LastName": "Null\x00Byte", "Email": None}
    assert schema._raw(record) == {"Id": "00Q1", "LastName": "NullByte", "Email": None}
    hs = {"id": "7", "properties": {"firstname": "A\x00b", "email": "a@example.com"}, "archived": False}
    assert schema._raw(hs) == {"id": "7", "properties": {"firstname": "Ab", "email": "a@example.com"},
                               "archived": False}
    clean = {"attributes": {"type": "Contact"}, "Id": "0031", "Title": "back\\x00slash typed"}
    raw = schema._raw(clean)
    assert raw == {"Id": "0031", "Title": "back\\x00slash typed"}   # a typed backslash sequence is kept
    assert "attributes" in clean   # the payload itself is left as received


def test_mirror_rows_from_payloads():
    person = schema.sf_person({"attributes": {"type": "Lead"}, "Id": "00Q000000000001AAA", "Email": " A@Example.com ",
                               "LastName": "x" * 200, "SystemModstamp": "2024-05-01T10:11:12.000+0000",
                               "IsConverted": True, "ConvertedContactId": "003000000000001AAA"}, 7)
    assert (person.object_type, person.email_key, len(person.last_name), person.pull_seq) == ("Lead", "a@example.com",
                                                                                              120, 7)
    assert person.system_modstamp == datetime(2024, 5, 1, 10, 11, 12, tzinfo=UTC) and person.is_converted
    assert "attributes" not in person.raw
