"""SOQL parser/compiler unit tests (no HTTP): grammar, escapes, literals, errors, evaluation."""
from __future__ import annotations

import pytest

from sandbox import ids, soql
from sandbox.salesforce.query import QueryEngine
from sandbox.salesforce.schema import SOBJECTS, parse_datetime, to_seconds
from sandbox.salesforce.store import Store

NOW = to_seconds(parse_datetime("2024-03-01T00:00:00Z"))


def test_ids_checksum_matches_documented_examples():
    assert ids.to18("001D000000IRFma") == "001D000000IRFmaIAH"
    assert ids.to18("a00D0000008pQRA") == "a00D0000008pQRAIA2"
    assert ids.to18("003G000001SUbc4").endswith("IAD")


def test_ids_normalize_restores_case_and_rejects_bad_suffix():
    assert ids.normalize("001D000000IRFma") == "001D000000IRFmaIAH"
    assert ids.normalize("001d000000irfmaiah") == "001D000000IRFmaIAH"
    # 18-char ids are case-insensitive: "AAA" is simply the all-lower-case sibling id ...
    assert ids.normalize("001D000000IRFmaAAA") == "001d000000irfmaAAA"
    # ... but a suffix that marks a digit as upper-case cannot come from any real id
    assert ids.normalize("001D000000IRFmaBAH") is None
    assert ids.normalize("not-an-id") is None


def test_id_factory_makes_prefixed_valid_ids():
    f = ids.IdFactory(3)
    made = {f.new(t) for t in ("Lead", "Contact", "Account", "Opportunity") for _ in range(50)}
    assert len(made) == 200
    for i in made:
        assert len(i) == 18 and ids.normalize(i) == i and ids.sobject_type(i) in ids.KEY_PREFIXES
    assert any(c.islower() for i in made for c in i[6:15])  # mixed case: the checksum is exercised


def test_tokenizer_string_escapes():
    toks = soql.tokenize(r"'o\'brien@example.com' 'a\\b' 'x\ny' 'tab\t' 'q\"q'")
    assert [t.value for t in toks[:-1]] == ["o'brien@example.com", "a\\b", "x\ny", "tab\t", 'q"q']


def test_illegal_escape_and_double_quotes_are_malformed():
    with pytest.raises(soql.SoqlError) as e:
        soql.compile_query(r"SELECT Id FROM Lead WHERE Email = 'a\qb'")
    assert e.value.code == "MALFORMED_QUERY" and "Illegal escape sequence" in e.value.message
    with pytest.raises(soql.SoqlError) as e:
        soql.compile_query('SELECT Id FROM Lead WHERE Email = "a@b.c"')
    assert e.value.code == "MALFORMED_QUERY"


def test_datetime_and_date_literals():
    toks = soql.tokenize("2024-01-01T00:00:00Z 2024-01-01T00:00:00+00:00 2024-01-01T00:00:00.000+0000 "
                         "2024-01-01 42 -1.5")
    assert [t.kind for t in toks[:-1]] == ["datetime", "datetime", "datetime", "date", "number", "number"]


def test_invalid_field_message_is_salesforces():
    with pytest.raises(soql.SoqlError) as e:
        soql.compile_query("SELECT Id, Foo__c FROM Lead")
    assert e.value.code == "INVALID_FIELD"
    assert e.value.message.startswith("\nSELECT Id, Foo__c FROM Lead\n           ^\nERROR at Row:1:Column:12\n")
    assert "No such column 'Foo__c' on entity 'Lead'. If you are attempting to use a custom field" in e.value.message


def test_invalid_type_and_unknown_relationship():
    with pytest.raises(soql.SoqlError) as e:
        soql.compile_query("SELECT Id FROM Widget")
    assert e.value.code == "INVALID_TYPE" and "sObject type 'Widget' is not supported" in e.value.message
    with pytest.raises(soql.SoqlError) as e:
        soql.compile_query("SELECT Foo.Name FROM Contact")
    assert e.value.code == "INVALID_FIELD" and "Didn't understand relationship 'Foo'" in e.value.message


@pytest.mark.parametrize("q", [
    "SELECT Id FROM Lead WHERE",
    "SELECT FROM Lead",
    "SELECT Id FROM Lead WHERE Email = 'a' AND LastName = 'b' OR Company = 'c'",
    "SELECT Id FROM Lead LIMIT x",
    "SELECT Id FROM Lead ORDER BY",
    "SELECT Id FROM Lead WHERE Email IN ()",
    "SELECT Id Email FROM Lead",
])
def test_malformed_queries(q):
    with pytest.raises(soql.SoqlError) as e:
        soql.compile_query(q)
    assert e.value.code == "MALFORMED_QUERY"
    assert "ERROR at Row:1:Column:" in e.value.message and "unexpected token" in e.value.message


def test_type_mismatch_errors():
    with pytest.raises(soql.SoqlError) as e:
        soql.compile_query("SELECT Id FROM Lead WHERE SystemModstamp > '2024-01-01'")
    assert e.value.code == "INVALID_FIELD"
    assert "must be of type dateTime and should not be enclosed in quotes" in e.value.message
    with pytest.raises(soql.SoqlError) as e:
        soql.compile_query("SELECT Id FROM Lead WHERE IsConverted = 'false'")
    assert "must be of type boolean" in e.value.message
    with pytest.raises(soql.SoqlError) as e:
        soql.compile_query("SELECT Id FROM Lead WHERE Email = 5")
    assert "should be enclosed in quotes" in e.value.message
    with pytest.raises(soql.SoqlError) as e:
        soql.compile_query("SELECT Id FROM Lead WHERE Id = 'nope'")
    assert e.value.code == "INVALID_QUERY_FILTER_OPERATOR"


def test_offset_limit():
    with pytest.raises(soql.SoqlError) as e:
        soql.compile_query("SELECT Id FROM Lead OFFSET 2001")
    assert e.value.code == "NUMBER_OUTSIDE_VALID_RANGE"
    c = soql.compile_query("select id from lead limit 5 offset 10")
    assert (c.limit, c.offset, c.sobject.name, [col.field.name for col in c.columns]) == (5, 10, "Lead", ["Id"])


def test_index_hints():
    assert soql.compile_query("SELECT Id FROM Contact WHERE Email IN ('A@x.com ', 'b@x.com') AND IsDeleted = false"
                              ).index_hint == ("email", "Email", ["a@x.com", "b@x.com"])
    assert soql.compile_query("SELECT Id FROM Contact WHERE Id = '003D000000QV9n2'").index_hint == (
        "id", "Id", ["003D000000QV9n2IAQ"[:15] + ids.checksum("003D000000QV9n2")])
    assert soql.compile_query("SELECT Id FROM Lead WHERE HubSpot_Contact_Id__c = '101'").index_hint[0] == "ext"
    assert soql.compile_query("SELECT Id FROM Lead WHERE Email = 'a' OR Email = 'b'").index_hint is None


@pytest.fixture
def engine():
    store = Store(1)
    rows = [
        {"LastName": "Anders", "Company": "Acme", "Email": "ann@example.com",
         "SystemModstamp": "2024-01-01T00:00:00Z"},
        {"LastName": "brown", "Company": "Beta", "Email": "O'Brien@Example.com",
         "SystemModstamp": "2024-01-02T00:00:00Z"},
        {"LastName": "Carter", "Company": "Acme", "Email": None, "SystemModstamp": "2024-01-03T00:00:00Z",
         "HubSpot_Contact_Id__c": "101"},
        {"LastName": "Dane", "Company": "50% off_co", "Email": "dane@example.com", "IsDeleted": True,
         "SystemModstamp": "2024-02-20T00:00:00Z"},
        {"LastName": "Evans", "Company": "Gamma", "Email": "ann@example.com", "IsConverted": True,
         "SystemModstamp": "2024-01-04T00:00:00.000+0000"},
    ]
    for r in rows:
        store.load(SOBJECTS["Lead"], r, NOW)
    return QueryEngine(store, 1)


def names(engine, q, include_deleted=False, order="insertion"):
    _, rows = engine.run(q, include_deleted=include_deleted, order_mode=order, now=NOW)
    return [r[SOBJECTS["Lead"].by_lower["lastname"].pos] for r in rows]


def test_where_evaluation(engine):
    assert names(engine, "SELECT Id FROM Lead WHERE Email = 'ANN@example.com'") == ["Anders", "Evans"]
    assert names(engine, r"SELECT Id FROM Lead WHERE Email = 'o\'brien@example.com'") == ["brown"]
    assert names(engine, "SELECT Id FROM Lead WHERE Email = null") == ["Carter"]
    assert names(engine, "SELECT Id FROM Lead WHERE Email != null AND IsConverted = false") == ["Anders", "brown"]
    # SOQL nulls are values: != and NOT IN match a null field
    assert names(engine, "SELECT Id FROM Lead WHERE Email != 'ann@example.com'") == ["brown", "Carter"]
    assert names(engine, "SELECT Id FROM Lead WHERE Email NOT IN ('ann@example.com')") == ["brown", "Carter"]
    assert names(engine, "SELECT Id FROM Lead WHERE NOT (Company = 'acme' OR Company = 'beta')") == ["Evans"]
    assert names(engine, "SELECT Id FROM Lead WHERE (Company = 'Acme' AND LastName > 'B') OR Email LIKE 'o%'") == \
        ["brown", "Carter"]
    assert names(engine, "SELECT Id FROM Lead WHERE SystemModstamp > 2024-01-02T00:00:00+00:00") == ["Carter", "Evans"]
    assert names(engine, "SELECT Id FROM Lead WHERE SystemModstamp >= 2024-01-02T00:00:00.000+0000") == \
        ["brown", "Carter", "Evans"]
    assert names(engine, "SELECT Id FROM Lead WHERE HubSpot_Contact_Id__c IN ('101', '999')") == ["Carter"]


def test_like_is_case_insensitive_with_wildcards_and_escapes(engine):
    assert names(engine, "SELECT Id FROM Lead WHERE LastName LIKE 'B%'") == ["brown"]
    assert names(engine, "SELECT Id FROM Lead WHERE LastName LIKE '_arter'") == ["Carter"]
    assert names(engine, r"SELECT Id FROM Lead WHERE Company LIKE '50\% off\_co'", include_deleted=True) == ["Dane"]
    assert names(engine, r"SELECT Id FROM Lead WHERE Company LIKE '50\% off\_c'", include_deleted=True) == []


def test_deleted_rows_only_with_query_all(engine):
    assert "Dane" not in names(engine, "SELECT Id FROM Lead")
    assert names(engine, "SELECT Id FROM Lead WHERE IsDeleted = true", include_deleted=True) == ["Dane"]


def test_order_by_multiple_keys_and_nulls(engine):
    assert names(engine, "SELECT Id FROM Lead ORDER BY LastName") == ["Anders", "brown", "Carter", "Evans"]
    assert names(engine, "SELECT Id FROM Lead ORDER BY Email NULLS FIRST, LastName DESC") == \
        ["Carter", "Evans", "Anders", "brown"]
    assert names(engine, "SELECT Id FROM Lead ORDER BY Email DESC NULLS LAST") == ["brown", "Anders", "Evans", "Carter"]
    assert names(engine, "SELECT Id FROM Lead ORDER BY Email DESC")[0] == "brown"
    assert names(engine, "SELECT Id FROM Lead ORDER BY Email ASC NULLS LAST")[-1] == "Carter"
    assert names(engine, "SELECT Id FROM Lead ORDER BY SystemModstamp DESC LIMIT 2 OFFSET 1") == ["Carter", "brown"]


def test_unordered_results_are_not_insertion_order(engine):
    orders = {tuple(names(engine, "SELECT Id FROM Lead", order="random")) for _ in range(10)}
    assert len(orders) > 1
    assert names(engine, "SELECT Id FROM Lead", order="reverse") == ["Evans", "Carter", "brown", "Anders"]


def test_count(engine):
    c, rows = engine.run("SELECT COUNT() FROM Lead WHERE Company = 'acme'", include_deleted=False,
                         order_mode="random", now=NOW)
    assert engine.first_page(c, rows, size=2000, version="59.0", now=0) == {"totalSize": 2, "done": True, "records": []}
