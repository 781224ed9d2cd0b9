"""HubSpot emulator: the search index lags each write by its own seeded delay (sandbox time);
GET, list and batch read always see the current data."""
import pytest
import requests
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    PublicMergeInput,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)

from sandbox.hubspot.search_lag import RECOMMENDED
from sandbox.server import Sandbox
from sandbox.testing import running_sandbox

LAG = {"min_ms": 30_000, "max_ms": 60_000}  # long enough that test run time never matters


def search(client, filters=(), sorts=None, **kw):
    """do_search with a plain dict body (the client sends dicts unchanged)."""
    body = {"filterGroups": [{"filters": list(filters)}] if filters else [], "limit": 100,
            **{k: v for k, v in kw.items() if v is not None}}
    if sorts:
        body["sorts"] = sorts
    return client.crm.contacts.search_api.do_search(body)


def eq(prop, value):
    return {"propertyName": prop, "operator": "EQ", "value": value}


def ids(res):
    return [r.id for r in res.results]


@pytest.fixture
def lagging(emu):
    emu.configure(search_lag=LAG)
    return emu


def create(client, **props):
    return client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties=props))


def test_a_new_record_is_read_at_once_but_searchable_only_after_its_delay(client, lagging, server):
    """Sync code that creates and then searches must not expect the record in the search yet."""
    c = create(client, email="new@example.com")
    assert client.crm.contacts.basic_api.get_by_id(c.id).id == c.id
    batch = client.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(inputs=[{"id": c.id}],
                                                                                   properties=["email"]))
    assert [r.id for r in batch.results] == [c.id]
    assert search(client, [eq("email", "new@example.com")]).total == 0
    assert search(client).total == 0
    server.sandbox.clock.advance(61)
    assert ids(search(client, [eq("email", "new@example.com")])) == [c.id]


def test_until_indexed_search_sees_the_old_values_and_old_last_modified(client, emu, server):
    """The stale index returns the previous version in full: old properties, old updatedAt."""
    emu.load_records("contacts", [{"id": "101", "properties": {"email": "a@example.com", "firstname": "Old"},
                                   "updatedAt": "2024-01-01T00:00:00.000Z"}])
    emu.configure(search_lag=LAG)
    client.crm.contacts.basic_api.update("101", SimplePublicObjectInput(properties={"firstname": "New"}))
    assert client.crm.contacts.basic_api.get_by_id("101", properties=["firstname"]).properties["firstname"] == "New"
    hit = search(client, [eq("firstname", "Old")], properties=["firstname"])
    assert ids(hit) == ["101"] and hit.results[0].properties["firstname"] == "Old"
    assert hit.results[0].properties["lastmodifieddate"] == "2024-01-01T00:00:00.000Z"
    assert search(client, [eq("firstname", "New")]).total == 0
    server.sandbox.clock.advance(61)
    hit = search(client, [eq("firstname", "New")], properties=["firstname"])
    assert ids(hit) == ["101"] and hit.results[0].properties["lastmodifieddate"] > "2024-01-02"
    assert search(client, [eq("firstname", "Old")]).total == 0


def test_a_changed_email_is_found_by_the_old_one_until_indexed(client, emu, server):
    """The unique-value shortcut must not hide the indexed (old) email."""
    emu.load_records("contacts", [{"id": "101", "properties": {"email": "old@example.com"}}])
    emu.configure(search_lag=LAG)
    client.crm.contacts.basic_api.update("101", SimplePublicObjectInput(properties={"email": "new@example.com"}))
    assert ids(search(client, [eq("email", "old@example.com")])) == ["101"]
    assert search(client, [eq("email", "new@example.com")]).total == 0
    server.sandbox.clock.advance(61)
    assert search(client, [eq("email", "old@example.com")]).total == 0
    assert ids(search(client, [eq("email", "new@example.com")])) == ["101"]


def test_writes_become_searchable_out_of_order(client, emu, server):
    """Each write draws its own delay: a later create can be searchable before an earlier one."""
    emu.configure(search_lag={"min_ms": 1_000, "max_ms": 4_000})
    made = [create(client, email=f"p{i}@example.com").id for i in range(10)]
    server.sandbox.clock.advance(2.5)
    visible = set(ids(search(client)))
    assert visible and len(visible) < 10
    assert visible != set(made[:len(visible)])  # not simply the oldest writes first
    server.sandbox.clock.advance(2)
    assert set(ids(search(client))) == set(made)


def test_one_records_writes_are_indexed_in_order_each_with_its_own_version(client, emu, server):
    """Two quick updates: after the first one's delay search shows the first version, not the second."""
    emu.load_records("contacts", [{"id": "101", "properties": {"email": "a@example.com", "firstname": "v0"}}])
    emu.configure(search_lag={"min_ms": 10_000, "max_ms": 10_000})
    basic = client.crm.contacts.basic_api
    basic.update("101", SimplePublicObjectInput(properties={"firstname": "v1"}))
    server.sandbox.clock.advance(5)
    basic.update("101", SimplePublicObjectInput(properties={"firstname": "v2"}))
    shown = lambda: search(client, [eq("email", "a@example.com")], properties=["firstname"]  # noqa: E731
                           ).results[0].properties["firstname"]
    assert shown() == "v0"
    server.sandbox.clock.advance(6)
    assert shown() == "v1"
    server.sandbox.clock.advance(5)
    assert shown() == "v2"


def test_archived_and_merged_records_leave_the_index_after_their_delay(client, emu, server):
    """Deletes lag too: search can return a record GET already answers 404 for."""
    emu.load_records("contacts", [{"id": str(i), "properties": {"email": f"m{i}@example.com"}} for i in (1, 2, 3)])
    emu.configure(search_lag=LAG)
    basic = client.crm.contacts.basic_api
    basic.archive("3")
    merged = basic.merge(PublicMergeInput(primary_object_id="1", object_id_to_merge="2"))
    assert sorted(ids(search(client))) == ["1", "2", "3"]
    assert sorted(ids(search(client, [{"propertyName": "hs_object_id", "operator": "GT", "value": "0"}]))) == \
        ["1", "2", "3"]
    server.sandbox.clock.advance(61)
    assert ids(search(client)) == [merged.id]


def test_loaded_records_are_indexed_at_once(client, emu):
    """Scenario data is already 'old': only API writes lag."""
    emu.configure(search_lag=LAG)
    emu.load_records("contacts", [{"id": "101", "properties": {"email": "loaded@example.com"}}])
    assert ids(search(client, [eq("email", "loaded@example.com")])) == ["101"]


def test_incremental_query_sees_a_write_at_its_new_position_only_when_indexed(client, emu, server):
    """`lastmodifieddate GTE watermark`, sorted: an update moves to the end of the window only once
    indexed; until then it is still at its old position (or outside a window past it)."""
    emu.load_records("contacts", [{"id": str(100 + i), "properties": {"email": f"w{i}@example.com"},
                                   "updatedAt": f"2024-01-0{i + 1}T00:00:00.000Z"} for i in range(3)])
    emu.configure(search_lag=LAG)
    client.crm.contacts.basic_api.update("100", SimplePublicObjectInput(properties={"firstname": "x"}))
    window = [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1704153600000"}]  # 2024-01-02
    asc = [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert ids(search(client, window, asc)) == ["101", "102"]
    assert ids(search(client, sorts=asc, filters=[{"propertyName": "lastmodifieddate", "operator": "GTE",
                                                    "value": "0"}])) == ["100", "101", "102"]
    server.sandbox.clock.advance(61)
    assert ids(search(client, window, asc)) == ["101", "102", "100"]


def test_the_fast_incremental_path_matches_the_general_one(client, emu, server):
    """The O(page) answer for the sync's query equals the general scan's, paging included."""
    emu.load_records("contacts", [{"properties": {"email": f"f{i}@example.com"},
                                   "updatedAt": f"2024-01-01T00:00:{i % 7:02d}.000Z"} for i in range(40)])
    emu.configure(search_lag=LAG)
    client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        {"id": str(101 + i), "properties": {"firstname": "u"}} for i in range(0, 40, 3)]))
    server.sandbox.clock.advance(45)  # some of the updates are indexed, some not
    window = {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1704067202000"}
    catch_all = {"propertyName": "hs_object_id", "operator": "GT", "value": "0"}  # forces the general path
    for direction in ("ASCENDING", "DESCENDING"):
        sorts = [{"propertyName": "lastmodifieddate", "direction": direction}]
        for after in (None, "5", "30"):
            fast = search(client, [window], sorts, limit=7, after=after)
            slow = search(client, [window, catch_all], sorts, limit=7, after=after)
            assert fast.total == slow.total and ids(fast) == ids(slow)
            assert (fast.paging is None) == (slow.paging is None)


def test_lag_over_the_control_api_and_switching_it_off_indexes_pending_writes(client, emu, server):
    base = f"{server.url}/_sandbox"
    r = requests.post(f"{base}/config", json={"hubspot": {"search_lag": {"min_ms": 1000, "max_ms": 4000}}})
    assert r.status_code == 200 and r.json()["hubspot"] == {"search_lag": {"min_ms": 1000, "max_ms": 4000}}
    c = create(client, email="pending@example.com")
    assert search(client).total == 0
    r = requests.post(f"{base}/config", json={"hubspot": {"search_lag": {"min_ms": 0, "max_ms": 0}}})
    assert r.json()["hubspot"]["search_lag"] == {"min_ms": 0, "max_ms": 0}
    assert ids(search(client)) == [c.id]
    for bad in ({"min_ms": 5, "max_ms": 1}, {"min_ms": -1}, {"mn_ms": 1}, "x"):
        assert requests.post(f"{base}/config", json={"hubspot": {"search_lag": bad}}).status_code == 400
    assert requests.post(f"{base}/config", json={"hubspot": {"nope": 1}}).status_code == 400


def test_constructor_keyword_survives_reset_and_default_is_off():
    """The lag given to Sandbox(...) is what reset() returns to; without it the lag is off."""
    assert Sandbox().hubspot.configure()["search_lag"] == {"min_ms": 0, "max_ms": 0}
    with running_sandbox(search_lag=RECOMMENDED) as srv:
        hs = srv.sandbox.hubspot
        assert hs.configure()["search_lag"] == RECOMMENDED
        hs.configure(search_lag=0)
        srv.sandbox.reset()
        assert hs.configure()["search_lag"] == RECOMMENDED
        r = requests.get(f"{srv.url}/_sandbox/config")
        assert r.json()["hubspot"]["search_lag"] == RECOMMENDED
