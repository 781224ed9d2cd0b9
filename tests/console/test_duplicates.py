"""The duplicates page: three tabs (R2, R7, R9), search, the members filter, sort, paging, and
the currently synced member marked with the rule that chose it."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sync.engine.groups import refresh_keys
from sync.models import ContactLink, DuplicateGroup
from tests.conftest import page_text
from tests.console.conftest import HX, hs_contact, link, r2_group, r7_group, r9_group, sf_person

pytestmark = pytest.mark.django_db
URL = reverse("sync:duplicates")


def groups(response) -> list[str]:
    return [g.key for g in response.context["page"].groups]


def test_it_sends_anonymous_users_to_login(client):
    assert client.get(URL)["Location"].startswith("/login/")


def test_it_rejects_posts(operator_client):
    assert operator_client.post(URL).status_code == 405


def test_it_lists_salesforce_groups_as_a_full_page(viewer_client):
    members = r2_group("ann@example.com", size=3)
    sf_person("alone@example.com")
    response = viewer_client.get(URL)
    assert response.status_code == 200
    assert b"<html" in response.content and b'<div id="groups">' in response.content
    assert groups(response) == ["ann@example.com"]
    html = response.content.decode()
    for m in members:
        assert m.sf_id in html
    assert "alone@example.com" not in html
    assert response["Vary"].count("HX-Request") == 1


def test_htmx_gets_only_the_groups_fragment(viewer_client):
    r2_group("ann@example.com")
    response = viewer_client.get(URL, {"q": "ann"}, headers=HX)
    assert response.status_code == 200
    assert b"<html" not in response.content and b'id="group-total"' in response.content
    assert b"ann@example.com" in response.content


def test_boosted_navigation_gets_the_full_page(viewer_client):
    response = viewer_client.get(URL, headers={**HX, "HX-Boosted": "true"})
    assert b"<html" in response.content


def test_converted_and_deleted_records_are_not_members(viewer_client):
    sf_person("ann@example.com")
    sf_person("ann@example.com", object_type="Lead", is_converted=True)
    sf_person("ann@example.com", is_deleted=True)
    assert groups(viewer_client.get(URL)) == []


@pytest.mark.parametrize("q, expected", [("BOB@example.com ", ["bob@example.com"]), ("bob", ["bob@example.com"]),
                                         ("Lee1", ["bob@example.com", "carl@example.com"]),
                                         ("ann", ["bob@example.com", "carl@example.com"])])
def test_it_searches_by_email_and_name(viewer_client, q, expected):
    r2_group("bob@example.com")
    r2_group("carl@example.com")
    r2_group("dora@example.com")
    from sync.models import SfPerson
    SfPerson.objects.filter(email_key="dora@example.com").update(first_name="Dora", last_name="Smith")
    refresh_keys(DuplicateGroup.Kind.R2, ["dora@example.com"])   # as the run that pulled the new names does
    assert groups(viewer_client.get(URL, {"q": q})) == expected


def test_it_searches_by_salesforce_id(viewer_client):
    bob = r2_group("bob@example.com")
    r2_group("carl@example.com")
    response = viewer_client.get(URL, {"q": bob[1].sf_id})
    assert groups(response) == ["bob@example.com"]
    assert "matching" in response.content.decode()


def test_a_search_without_hits_says_so(viewer_client):
    r2_group("bob@example.com")
    response = viewer_client.get(URL, {"q": "nobody-here"})
    assert "No duplicate group matches “nobody-here”".encode() in response.content


@pytest.mark.parametrize("mix, expected", [("", {"mixed@x.io", "leads@x.io", "contacts@x.io"}),
                                           ("mixed", {"mixed@x.io"}), ("leads", {"leads@x.io"}),
                                           ("contacts", {"contacts@x.io"}), ("bogus", {"mixed@x.io", "leads@x.io",
                                                                                      "contacts@x.io"})])
def test_the_mix_filter(viewer_client, mix, expected):
    sf_person("mixed@x.io", object_type="Lead")
    sf_person("mixed@x.io")
    sf_person("leads@x.io", object_type="Lead")
    sf_person("leads@x.io", object_type="Lead")
    sf_person("contacts@x.io")
    sf_person("contacts@x.io")
    assert set(groups(viewer_client.get(URL, {"mix": mix}))) == expected


def test_it_sorts_largest_first(viewer_client):
    r2_group("a@example.com", size=2)
    r2_group("b@example.com", size=4)
    r2_group("c@example.com", size=3)
    assert groups(viewer_client.get(URL)) == ["a@example.com", "b@example.com", "c@example.com"]
    assert groups(viewer_client.get(URL, {"sort": "-size"})) == ["b@example.com", "c@example.com", "a@example.com"]
    assert groups(viewer_client.get(URL, {"sort": "nonsense"}))[0] == "a@example.com"


def test_it_pages_twenty_groups_at_a_time(viewer_client):
    for i in range(25):
        r2_group(f"p{i:02}@example.com", synced=None)
    first = viewer_client.get(URL)
    assert len(groups(first)) == 20 and b"Page 1 of 2" in first.content and b"Next" in first.content
    second = viewer_client.get(URL, {"page": "2"}, headers=HX)
    assert groups(second) == [f"p{i:02}@example.com" for i in range(20, 25)]
    assert b"Previous" in second.content
    assert groups(viewer_client.get(URL, {"page": "99"})) == groups(second)   # clamped to the last page
    assert groups(viewer_client.get(URL, {"page": "x"})) == groups(first)


def test_the_synced_member_is_marked_first_returned_r3(viewer_client):
    members = r2_group("ann@example.com", size=3, synced=1)
    response = viewer_client.get(URL)
    g = response.context["page"].groups[0]
    assert g.synced == members[1]
    html = response.content.decode()
    assert f"currently synced: <span class=\"mono\">{members[1].sf_id}</span>" in html
    assert "Currently synced · R3 · first record returned, since 2024-01-01 00:00 UTC" in page_text(html)
    assert '<span class="why">· <a class="rule" href="/rules/#r3"' in html


def test_the_synced_member_is_marked_most_recent_r4(viewer_client):
    members = r2_group("ann@example.com", synced=None)
    link(hs_contact("ann@example.com"), members[0], chosen_by="R4")
    assert "R4 · most recently updated" in page_text(viewer_client.get(URL))


def test_the_synced_member_is_marked_resynced_by_whom_r6(viewer_client, operator):
    members = r2_group("ann@example.com", synced=None)
    link(hs_contact("ann@example.com"), members[1], chosen_by="R6", chosen_by_user=operator)
    html = viewer_client.get(URL).content.decode()
    assert "R6 · resynced by otto" in page_text(html)


def test_a_group_nobody_syncs_with_says_so(viewer_client):
    r2_group("ann@example.com", synced=None)
    assert b"none synced" in viewer_client.get(URL).content


def test_operators_get_the_merge_preview_link_and_viewers_do_not(viewer_client, operator_client):
    r2_group("ann@example.com")
    merge = reverse("sync:merge_salesforce").encode()
    assert merge not in viewer_client.get(URL).content
    assert merge + b"?key=ann%40example.com" in operator_client.get(URL).content


def test_the_r7_tab_lists_hubspot_contacts_sharing_a_record(viewer_client, operator_client):
    person, contacts = r7_group(3)
    r7_group()
    response = viewer_client.get(URL, {"kind": "r7"})
    assert response.context["kind"] == "r7" and len(groups(response)) == 2
    g = next(g for g in response.context["page"].groups if g.key == person.sf_id)
    assert g.synced == contacts[0] and g.record == person and g.size == 3
    html = response.content.decode()
    assert "carries the id, not synced" in html and "R3 · first record returned" in page_text(html)
    assert "Merge in HubSpot" not in html
    assert f"Preview merge in HubSpot into {contacts[0].hs_id}" in operator_client.get(URL, {"kind": "r7"}).content.decode()


def test_the_r7_tab_searches_by_hubspot_or_salesforce_id(viewer_client):
    person, contacts = r7_group()
    r7_group()
    assert groups(viewer_client.get(URL, {"kind": "r7", "q": contacts[1].hs_id})) == [person.sf_id]
    assert groups(viewer_client.get(URL, {"kind": "r7", "q": person.sf_id})) == [person.sf_id]


def test_the_r9_tab_lists_companies_sharing_an_account(viewer_client):
    companies = r9_group(2)
    r9_group(3)
    from sync.models import CompanyLink, SfAccount
    account = SfAccount.objects.create(sf_id=companies[0].salesforce_account_id, name="Acme Corp")
    CompanyLink.objects.create(hs_company=companies[1], sf_account=account, chosen_by="R9")
    response = viewer_client.get(URL, {"kind": "r9", "sort": "-size"})
    assert [g.size for g in response.context["page"].groups] == [3, 2]
    g = response.context["page"].groups[1]
    assert g.synced == companies[1] and g.record == account
    html = response.content.decode()
    assert "Linked to the account · R9 · matched by account id" in page_text(html)
    assert "Acme Corp" in html
    assert groups(viewer_client.get(URL, {"kind": "r9", "q": companies[0].hs_id})) == [account.sf_id]


def test_an_unknown_kind_falls_back_to_r2(viewer_client):
    assert viewer_client.get(URL, {"kind": "r99"}).context["kind"] == "r2"


@pytest.mark.parametrize("kind, make", [("r2", lambda i: r2_group(f"q{i}@example.com", size=3)),
                                        ("r7", lambda i: r7_group(3)), ("r9", lambda i: r9_group(3))])
def test_the_query_count_does_not_grow_with_the_groups(operator_client, operator, kind, make):
    def measure() -> int:
        operator_client.get(URL, {"kind": kind})
        with CaptureQueriesContext(connection) as ctx:
            response = operator_client.get(URL, {"kind": kind})
        assert response.status_code == 200
        return len(ctx.captured_queries)

    for i in range(3):
        make(i)
    few = measure()
    for i in range(3, 30):
        make(i)
    # Resynced links name a user: that must not cost a query per group either.
    for link_ in ContactLink.objects.all()[:10]:
        ContactLink.objects.filter(pk=link_.pk).update(chosen_by="R6", chosen_by_user=operator)
    assert operator_client.get(URL, {"kind": kind}).context["page"].total == 30
    assert measure() == few
