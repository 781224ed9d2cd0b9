"""The Possible duplicates tab and "Not a duplicate" on every kind of group: remembered with who
and why, audited, undoable, left out of every list and count, shown as dismissed on request; and
the actions a possible pair offers (merge in Salesforce, sync a contact with a chosen record),
checked in both CRMs through the real clients."""
from __future__ import annotations

import pytest
from django.urls import reverse

from sync import duplicate_actions, queries
from sync.engine import cycle
from sync.models import AuditEvent, ContactLink, Dismissal, DuplicateGroup, LinkStatus, SfPerson
from tests.conftest import page_text
from tests.console.conftest import hs_contact, link, r2_group, sf_id, sf_person

pytestmark = pytest.mark.django_db
URL = reverse("sync:duplicates")


def find(actor=None):
    b = duplicate_actions.request_possible_duplicates(actor=actor, enqueue=False)
    return duplicate_actions.run_possible_build(b.pk)


@pytest.fixture
def pair():
    lead = sf_person("ann.lee@acme.com", object_type="Lead", phone="+1 555 0100", company="Acme", first="Ann", last="Lee")
    contact = hs_contact("alee@acme.com", first="Ann", last="Lee", phone="555-0100")
    find()
    return lead, contact, f"hs:{contact.hs_id}|sf:{lead.sf_id}"


def test_the_search_finds_a_pair_by_any_part_of_either_persons_name_email_or_id_accents_folded(viewer_client):
    lead = sf_person("j.mueller@acme.com", object_type="Lead", company="Acme", first="Jörg", last="Müller")
    contact = hs_contact("jorg@acme.com", first="Jorg", last="Muller")
    find()

    def matches(q: str) -> bool:
        text = page_text(viewer_client.get(URL, {"kind": "possible", "q": q}).content.decode())
        return "1 possible pair matching" in text

    for q in ("Müller", "MULLER", "jörg muller", "mueller@acme", "JORG@ACME.COM", lead.sf_id[-7:], contact.hs_id):
        assert matches(q), q
    assert not matches("muller jorg@")   # one person's text never runs into the other's


def test_the_tab_lists_pairs_with_their_score_and_reasons_in_words(viewer_client, pair):
    lead, contact, key = pair
    text = page_text(viewer_client.get(URL, {"kind": "possible"}).content.decode())
    assert "Possible duplicates" in text and "1 possible pair." in text
    assert "100 Same name, same company domain, phone differs by format" in text
    assert lead.sf_id in text and contact.hs_id in text and "Salesforce lead" in text
    assert "people compared in" in text
    for q in ("alee@acme.com", "Le", lead.sf_id):
        assert "1 possible pair matching" in page_text(viewer_client.get(URL, {"kind": "possible", "q": q}).content.decode())
    assert "0 possible pairs" in page_text(viewer_client.get(URL, {"kind": "possible", "q": "nobody"}).content.decode())
    html = viewer_client.get(URL, {"kind": "possible"}).content.decode()
    assert reverse("sync:dismiss") not in html and reverse("sync:resync_to") not in html   # a viewer cannot act


def test_not_a_duplicate_on_a_pair_is_remembered_audited_left_out_and_undoable(operator_client, operator, pair):
    _, _, key = pair
    assert operator_client.post(reverse("sync:dismiss"), {"kind": "possible", "key": key, "reason": ""}).status_code == 302
    assert not Dismissal.objects.exists()                              # a reason is required
    operator_client.post(reverse("sync:dismiss"), {"kind": "possible", "key": key, "reason": "Two people at one firm"})
    d = Dismissal.objects.get()
    assert (d.kind, d.key, d.reason, d.created_by) == ("possible", key, "Two people at one firm", operator)
    event = AuditEvent.objects.get(action="dismissed")
    assert event.actor == operator and event.after == {"key": key, "size": 2, "reason": "Two people at one firm"}
    assert "0 possible pairs" in page_text(operator_client.get(URL, {"kind": "possible"}).content.decode())
    shown = page_text(operator_client.get(URL, {"kind": "possible", "dismissed": "1"}).content.decode())
    assert "1 dismissed possible pair" in shown and "Not a duplicate, said by otto" in shown and "Two people at one firm" in shown
    find()                                                             # a new build: still dismissed
    assert queries.possible_pairs(build=duplicate_actions.PossibleBuild.objects.latest("pk").pk).total == 0
    operator_client.post(reverse("sync:undismiss", args=[d.pk]))
    d.refresh_from_db()
    assert d.undone_at and d.undone_by == operator
    assert AuditEvent.objects.get(action="undismissed").before["reason"] == "Two people at one firm"
    assert "1 possible pair." in page_text(operator_client.get(URL, {"kind": "possible"}).content.decode())


def test_not_a_duplicate_on_an_r2_group_is_respected_by_lists_and_counts_until_it_grows(operator_client, operator):
    members = r2_group("twins@example.com", size=2)
    assert queries.group_counts()["r2"] == 1
    operator_client.post(reverse("sync:dismiss"), {"kind": "r2", "key": "twins@example.com", "reason": "Twins"})
    assert queries.group_counts()["r2"] == 0 and cycle.snapshot()["r2_groups"] == 0
    assert "0 groups" in page_text(operator_client.get(URL).content.decode())
    assert "twins@example.com" in operator_client.get(URL, {"dismissed": "1"}).content.decode()
    sf_person("twins@example.com", seq=9, last="Third")               # a third record: worth a look again
    assert queries.group_counts()["r2"] == 1
    assert DuplicateGroup.objects.get(key="twins@example.com").size == 3 and members


def test_r7_and_r9_groups_can_be_dismissed_too(operator_client):
    person = sf_person("one@example.com")
    a, b = hs_contact("a@example.com", salesforce_contact_id=person.sf_id), hs_contact("b@example.com",
                                                                                     salesforce_contact_id=person.sf_id)
    link(a, person)
    assert queries.group_counts()["r7"] == 1
    operator_client.post(reverse("sync:dismiss"), {"kind": "r7", "key": person.sf_id, "reason": "Shared inbox"})
    assert queries.group_counts()["r7"] == 0 and b


def test_a_viewer_cannot_dismiss_and_unknown_targets_are_refused_in_words(viewer_client, operator_client, pair):
    _, _, key = pair
    assert viewer_client.post(reverse("sync:dismiss"), {"kind": "possible", "key": key, "reason": "x"}).status_code == 403
    response = operator_client.post(reverse("sync:dismiss"), {"kind": "r2", "key": "nobody@x.com", "reason": "x"},
                                    follow=True)
    assert "That duplicate group no longer exists." in page_text(response.content.decode())
    assert not Dismissal.objects.exists()


def test_find_again_queues_one_build(operator_client, django_capture_on_commit_callbacks):
    from django_q.models import OrmQ

    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(reverse("sync:find_possible"))
        operator_client.post(reverse("sync:find_possible"))           # while one is queued: the same build
    assert duplicate_actions.PossibleBuild.objects.count() == 1 and OrmQ.objects.count() == 1


# --- acting on a pair, checked in both CRMs -------------------------------------------------------------
def test_syncing_a_contact_with_a_chosen_record_writes_hubspot_and_the_link(crm, operator_client, operator, hs):
    from sync.models import SyncSettings

    SyncSettings.objects.filter(pk=1).update(create_salesforce_leads=False, create_hubspot_contacts=False)
    crm.load({"salesforce": {"Lead": [{"Id": (lead_id := sf_id("Lead")), "FirstName": "Ann", "LastName": "Lee",
                                       "Email": "ann.lee@acme.com", "Company": "Acme"}]},
              "hubspot": {"contacts": [{"id": "301", "properties": {"email": "alee@acme.com", "firstname": "Ann",
                                                                    "lastname": "Lee"}}]}})
    from tests.console.conftest import sync_cycle

    sync_cycle()
    lead = SfPerson.objects.get(email="ann.lee@acme.com")
    find()
    preview = page_text(operator_client.get(reverse("sync:resync_to"), {"hs_id": "301", "sf_id": lead.sf_id}).content.decode())
    assert "will sync with Salesforce lead" in preview and "the next sync's email rule" in preview
    response = operator_client.post(reverse("sync:resync_to"), {"hs_id": "301", "sf_id": lead.sf_id, "confirm": "1"})
    assert response.status_code == 302
    props = hs.crm.contacts.basic_api.get_by_id("301", properties=["salesforceleadid"]).properties
    assert props["salesforceleadid"] == lead.sf_id                     # HubSpot shows the chosen record
    chosen = ContactLink.objects.get(hs_contact__hs_id="301")
    assert (chosen.sf_person, chosen.status, chosen.chosen_by, chosen.chosen_by_user) == (
        lead, LinkStatus.SYNCED, "R6", operator)
    event = AuditEvent.objects.get(action="resynced", target_id="301")
    assert event.rule == "R6" and event.after["chosen"] is True and lead_id
    # A second click changes nothing and says why.
    again = operator_client.post(reverse("sync:resync_to"), {"hs_id": "301", "sf_id": lead.sf_id, "confirm": "1"},
                                 follow=True)
    assert "already syncs with" in page_text(again.content.decode())
    assert AuditEvent.objects.filter(action="resynced").count() == 1


def test_a_salesforce_pair_is_merged_through_the_existing_preview(crm, operator_client, sf):
    crm.load({"salesforce": {"Contact": [
        {"Id": sf_id("Contact"), "FirstName": "Ann", "LastName": "Lee", "Email": "ann.lee@acme.com", "Phone": "555 0100"},
        {"Id": sf_id("Contact"), "FirstName": "Ann", "LastName": "Lee", "Email": "alee@acme.com", "Phone": "5550100"}]}})
    from tests.console.conftest import sync_cycle

    sync_cycle()
    find()
    text = page_text(operator_client.get(URL, {"kind": "possible"}).content.decode())
    assert "Preview merge in Salesforce" in text
    a, b = sorted(SfPerson.objects.values_list("sf_id", flat=True))
    key = f"ids:{a},{b}"
    preview = page_text(operator_client.get(reverse("sync:merge_salesforce"), {"key": key}).content.decode())
    assert "a possible duplicate" in preview and "different emails" in preview
    assert operator_client.post(reverse("sync:merge_salesforce"), {"key": key, "primary": a, "confirm": "1"}).status_code == 302
    live = sf.query("SELECT Id FROM Contact")["records"]
    assert [r["Id"] for r in live] == [a]                              # the other was merged into it
    assert SfPerson.objects.get(sf_id=b).is_deleted and SfPerson.objects.get(sf_id=b).master_record_id == a


def test_the_pager_keeps_the_tab_its_filters_and_the_dismissed_view(viewer_client):
    for i in range(21):
        r2_group(f"g{i:02d}@example.com", size=2)
    html = viewer_client.get(URL, {"kind": "r2", "sort": "-size", "q": "example"}).content.decode()
    assert 'href="?kind=r2&amp;q=example&amp;sort=-size&page=2"' in html
    page2 = viewer_client.get(URL, {"kind": "r2", "sort": "-size", "q": "example", "page": 2})
    assert page2.context["page"].page == 2 and len(page2.context["page"].groups) == 1
    assert "page=2" not in viewer_client.get(URL, {"kind": "r2", "dismissed": "1"}).content.decode()   # one page
