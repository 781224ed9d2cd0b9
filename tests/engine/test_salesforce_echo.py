"""No echo on Salesforce's side (SALESFORCE_SKIP_OWN_WRITES): the run after crmsync wrote to
Salesforce leaves its own writes out of the incremental query (LastModifiedById), because the
mirror already holds them as Salesforce does, and still reads everything a person changed —
including what a person's account merge moved without becoming its last modifier, and what a
console action changed beyond what it sent. Through the real clients and the sandbox, whose
records carry the calling token's user as Salesforce's do."""
from __future__ import annotations

import pytest
from simple_salesforce import format_soql

from sandbox.salesforce.schema import PERSON_TOKEN, SYSTEM_USER_ID
from sandbox.scenario import scenario_dict
from sandbox.testing import salesforce_client
from sync.engine import schema
from sync.merges.conversion import convert_lead
from sync.merges.salesforce import merge_salesforce_group, preview_salesforce_merge
from sync.models import CrmUser, SfAccount, SfOpportunity, SfPerson, SfReread
from tests.conftest import restore_reference_data
from tests.engine.conftest import sync, sync_ok
from tests.soak.edits import _soap

pytestmark = pytest.mark.django_db(transaction=True)
MODELS = {"Account": SfAccount, "Contact": SfPerson, "Lead": SfPerson, "Opportunity": SfOpportunity}
COLUMNS = {SfPerson: ("object_type", "email", "email_key", "first_name", "last_name", "company", "phone", "title",
                      "account_id", "is_deleted", "master_record_id", "is_converted", "converted_contact_id",
                      "hubspot_contact_id"),
           SfAccount: ("name", "is_deleted", "master_record_id", "hubspot_company_id"),
           SfOpportunity: ("name", "account_id", "stage_name", "close_date", "amount", "is_deleted", "hubspot_deal_id")}
STAMPS = ("CreatedDate", "LastModifiedDate", "SystemModstamp")


@pytest.fixture
def synced(crm, settings):
    """A scenario fully synced with the setting on: crmsync created leads and opportunities in
    Salesforce and field-synced others."""
    restore_reference_data()
    settings.SALESFORCE_SKIP_OWN_WRITES = True
    crm.load(scenario_dict(600, seed=7, now="2026-01-10T00:00:00Z"))
    sync_ok(full=True)
    return crm


def _salesforce(sf, obj: str) -> list[dict]:
    return sf.query_all(schema.sf_select(obj), include_deleted=True)["records"]


def _convert(obj: str, record: dict):
    return schema.sf_written(obj, record, None) if obj != "Lead" and obj != "Contact" else schema.sf_person(record, 0)


def assert_mirror_is_salesforce(sf) -> int:
    """Every record of the four objects, as Salesforce holds it now, against its mirror row: the
    columns equal, the payload's pulled fields equal, and the stamp never later than
    Salesforce's (a person's edit right after crmsync's write must still look newer). Returns
    how many records crmsync's own user modified last (what the mirror knew without an echo)."""
    own = 0
    for obj, model in MODELS.items():
        records = _salesforce(sf, obj)
        rows = {r.sf_id: r for r in model.objects.filter(sf_id__in=[r["Id"] for r in records])}
        for record in records:
            theirs, ours = _convert(obj, record), rows.get(record["Id"])
            assert ours is not None, f"{obj} {record['Id']} is not in the mirror"
            for column in COLUMNS[model]:
                assert getattr(ours, column) == getattr(theirs, column), (obj, record["Id"], column)
            for name, value in (ours.raw or {}).items():
                if name not in STAMPS:
                    assert value == record.get(name), (obj, record["Id"], name)
            assert ours.system_modstamp is not None and ours.system_modstamp <= theirs.system_modstamp, (obj, record["Id"])
    for obj in MODELS:
        own += sf.query(format_soql(f"SELECT COUNT() FROM {obj} WHERE LastModifiedById = {{}}", SYSTEM_USER_ID))["totalSize"]
    return own


def _queries(crm) -> int:
    return sum(n for k, n in crm.stats()["salesforce"]["endpoints"].items() if "query" in k.lower())


def test_the_run_after_a_full_sync_reads_none_of_its_salesforce_writes_back(synced, sf):
    assert assert_mirror_is_salesforce(sf) > 50        # crmsync wrote that many, and the mirror has them
    # R3: the leads crmsync created come after every record the pull numbered, as a pull returns them
    made = {r["Id"] for r in sf.query_all(format_soql("SELECT Id FROM Lead WHERE CreatedById = {}",
                                                      SYSTEM_USER_ID))["records"]}
    seqs = dict(SfPerson.objects.values_list("sf_id", "pull_seq"))
    assert made and min(seqs[i] for i in made) > max(s for i, s in seqs.items() if i not in made)
    synced.reset_stats()
    run = sync_ok()
    for model in (SfPerson, SfAccount, SfOpportunity):
        assert not model.objects.filter(mirrored_at__gte=run.started_at).exists(), model.__name__
    assert _queries(synced) == 4                       # one page per object, each empty
    assert_mirror_is_salesforce(sf)


def test_without_the_setting_the_echo_is_read(crm, sf, settings):
    """The control: the same scenario with the setting off reads crmsync's writes back once."""
    restore_reference_data()
    crm.load(scenario_dict(600, seed=7, now="2026-01-10T00:00:00Z"))
    sync_ok(full=True)
    run = sync_ok()
    assert sum(m.objects.filter(mirrored_at__gte=run.started_at).count() for m in (SfPerson, SfOpportunity)) > 50
    assert_mirror_is_salesforce(sf)


def test_a_persons_edit_of_a_record_crmsync_wrote_is_read(synced, sf):
    [lead] = sf.query(format_soql("SELECT Id FROM Lead WHERE CreatedById = {} LIMIT 1", SYSTEM_USER_ID))["records"]
    person = salesforce_client(synced.url, token=PERSON_TOKEN)
    person.Lead.update(lead["Id"], {"Title": "Edited by a person"})
    run = sync_ok()
    row = SfPerson.objects.get(sf_id=lead["Id"])
    assert row.title == "Edited by a person" and row.mirrored_at >= run.started_at
    assert_mirror_is_salesforce(sf)


def test_a_persons_account_merge_moves_children_crmsync_wrote_last(synced, sf):
    """Re-parented children keep their last modifier (crmsync's user here), so the filtered pull
    would miss them: the accounts' masters' children crmsync modified last are read by account."""
    children = {obj: sf.query(format_soql(f"SELECT Id, AccountId FROM {obj} WHERE LastModifiedById = {{}} "
                                          "AND AccountId != null", SYSTEM_USER_ID))["records"]
                for obj in ("Contact", "Opportunity")}
    obj, child = next((obj, records[0]) for obj, records in children.items() if records)
    loser = child["AccountId"]
    master = sf.query(format_soql("SELECT Id FROM Account WHERE Id != {} LIMIT 1", loser))["records"][0]["Id"]
    _soap(synced, "merge", f"<urn:request><urn:masterRecord><urn1:type>Account</urn1:type><urn1:Id>{master}</urn1:Id>"
                           f"</urn:masterRecord><urn:recordToMergeIds>{loser}</urn:recordToMergeIds></urn:request>")
    moved = getattr(sf, obj).get(child["Id"])
    assert (moved["AccountId"], moved["LastModifiedById"]) == (master, SYSTEM_USER_ID)   # moved, not modified
    sync_ok()
    assert MODELS[obj].objects.get(sf_id=child["Id"]).account_id == master
    assert SfAccount.objects.get(sf_id=loser).master_record_id == master
    assert_mirror_is_salesforce(sf)


def test_a_console_merge_is_read_back_by_id(synced, sf):
    """The console's merge is crmsync's own change: its master is queued (SfReread) and the next
    run reads it by id, so the mirror holds what Salesforce made of the merge."""
    person = salesforce_client(synced.url, token=PERSON_TOKEN)
    a = person.Lead.create({"LastName": "Twin", "Company": "Acme", "Email": "twin@example.com", "Title": "Kept"})["id"]
    b = person.Lead.create({"LastName": "Twin", "Company": "Acme", "Email": "twin@example.com", "Phone": "+1 555"})["id"]
    sync_ok()
    preview = preview_salesforce_merge(key="twin@example.com", primary_id=a)
    assert [m.sf_id for m in preview.losers] == [b]
    merge_salesforce_group(key="twin@example.com", primary_id=a, actor=None, keep={"Phone": b})
    assert list(SfReread.objects.values_list("sf_id", "object_type")) == [(a, "Lead")]
    assert sf.Lead.get(a)["LastModifiedById"] == SYSTEM_USER_ID       # left out of the filtered pull
    sync_ok()
    master = SfPerson.objects.get(sf_id=a)
    assert (master.phone, master.title) == ("+1 555", "Kept") and master.raw["Phone"] == "+1 555"
    assert SfPerson.objects.get(sf_id=b).master_record_id == a
    assert not SfReread.objects.exists()                                # read, and the run finished
    assert_mirror_is_salesforce(sf)


def test_a_console_lead_conversion_is_read_back_by_id(synced, sf):
    """Converting fills the contact's blank fields from the lead (crmsync sent none of them): the
    lead and the contact are queued and read by id, and the mirror holds both as Salesforce does."""
    person = salesforce_client(synced.url, token=PERSON_TOKEN)
    account = person.Account.create({"Name": "Convert Co"})["id"]
    contact = person.Contact.create({"LastName": "Moss", "Email": "moss@example.com", "AccountId": account})["id"]
    lead = person.Lead.create({"LastName": "Moss", "Company": "Convert Co", "Email": "moss@example.com",
                               "Title": "Only on the lead", "Phone": "+1 555 0100"})["id"]
    sync_ok()
    convert_lead(key="moss@example.com", lead_id=lead, contact_id=contact, actor=None)
    assert sorted(SfReread.objects.values_list("object_type", "sf_id")) == [("Contact", contact), ("Lead", lead)]
    sync_ok()
    filled = SfPerson.objects.get(sf_id=contact)
    assert filled.title == sf.Contact.get(contact)["Title"] == "Only on the lead"
    assert SfPerson.objects.get(sf_id=lead).is_converted
    assert not SfReread.objects.exists()
    assert_mirror_is_salesforce(sf)


def test_crmsyncs_user_is_asked_for_once_and_kept_without_the_credential(crm, settings):
    """Asked by the first run (a full one here, before its first write) and kept: the quiet runs
    after it make no request but their queries."""
    def asked() -> int:
        return crm.stats()["salesforce"]["endpoints"].get("GET /services/oauth2/userinfo", 0)

    settings.SALESFORCE_SKIP_OWN_WRITES = True
    crm.load(scenario_dict(50, seed=3, now="2026-01-10T00:00:00Z"))
    crm.reset_stats()
    sync_ok(full=True)
    assert asked() == 1
    [user] = CrmUser.objects.all()
    assert (user.crm, user.user_id) == ("salesforce", SYSTEM_USER_ID)
    assert "sandbox" not in user.key and len(user.key) == 64       # a hash, never the token
    crm.reset_stats()
    sync_ok()
    sync_ok()
    assert asked() == 0


def test_a_lead_created_by_a_run_that_died_before_recording_it_reaches_the_mirror(crm, sf, hs, settings,
                                                                                   monkeypatch):
    """The run creates the lead in Salesforce, then fails before its mirror row is written, and no
    pull brings crmsync's own lead back: the next run's recovery finds it and stores it, and the
    contact syncs with that one lead, created once, with one creation event."""
    from sync.engine import mirror
    from sync.models import AuditEvent, CreateIntent
    from tests.engine.conftest import synced_id

    settings.SALESFORCE_SKIP_OWN_WRITES = True
    crm.load(scenario_dict(40, seed=5, now="2026-01-10T00:00:00Z"))
    sync_ok(full=True)          # watermarks saved: the runs after it pull incrementally
    lone = hs.crm.contacts.basic_api.create({"properties": {"email": "lone@example.com", "lastname": "Lone"}}).id
    real = mirror.upsert_written

    def dies(model, objs):
        raise RuntimeError("the run dies here")

    monkeypatch.setattr(mirror, "upsert_written", dies)
    with pytest.raises(RuntimeError, match="the run dies here"):
        sync()
    [made] = sf.query("SELECT Id FROM Lead WHERE Email = 'lone@example.com'")["records"]
    assert CreateIntent.objects.count() == 1 and not SfPerson.objects.filter(sf_id=made["Id"]).exists()
    monkeypatch.setattr(mirror, "upsert_written", real)
    sync_ok()
    row = SfPerson.objects.get(sf_id=made["Id"])
    assert (row.email, row.hubspot_contact_id) == ("lone@example.com", str(lone))
    assert synced_id(hs, lone) == ("Lead", made["Id"])
    assert sf.query("SELECT COUNT() FROM Lead WHERE Email = 'lone@example.com'")["totalSize"] == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RECORD_CREATED, target_id=made["Id"]).count() == 1
    assert_mirror_is_salesforce(sf)


def test_a_lead_a_dead_run_created_is_in_the_mirror_even_when_nothing_creates_it_again(crm, sf, hs, settings,
                                                                                       monkeypatch):
    """As above, and then the HubSpot contact is deleted: the next run has no reason to create the
    lead again, and only the recovery's look-up can put it in the mirror."""
    from sync.engine import mirror

    settings.SALESFORCE_SKIP_OWN_WRITES = True
    crm.load(scenario_dict(40, seed=5, now="2026-01-10T00:00:00Z"))
    sync_ok(full=True)          # watermarks saved: the runs after it pull incrementally
    hs.crm.contacts.basic_api.create({"properties": {"email": "gone@example.com", "lastname": "Gone"}})
    real = mirror.upsert_written
    monkeypatch.setattr(mirror, "upsert_written", lambda model, objs: (_ for _ in ()).throw(RuntimeError("dies")))
    with pytest.raises(RuntimeError):
        sync()
    monkeypatch.setattr(mirror, "upsert_written", real)
    [contact] = [c for c in hs.crm.contacts.get_all(properties=["email"]) if c.properties["email"] == "gone@example.com"]
    hs.crm.contacts.basic_api.archive(contact.id)
    sync_ok()
    [made] = sf.query("SELECT Id FROM Lead WHERE Email = 'gone@example.com'")["records"]
    assert SfPerson.objects.filter(sf_id=made["Id"]).exists()
    assert_mirror_is_salesforce(sf)
