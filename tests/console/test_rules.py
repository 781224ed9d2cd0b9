"""The Rules page explains R1–R11 in plain words with an example each, and every R-id the console
prints links to it."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template

from sync.models import AuditEvent
from sync.rulebook import RULEBOOK
from tests.conftest import client_for
from tests.console.conftest import hs_contact, link, r2_group, r7_group, r9_group

pytestmark = pytest.mark.django_db
RULE_ID = re.compile(r"\bR(?:1[01]|[1-9])\b")


class _Unlinked(HTMLParser):
    """Text that cites a rule outside a rule link (form controls and the head excepted)."""

    SKIP = {"option", "select", "title", "script", "style", "textarea"}

    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in {"br", "img", "input", "meta", "link", "hr", "col"}:
            return
        self.stack.append((tag, tag == "a" and "rule" in (dict(attrs).get("class") or "").split()))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if any(linked or tag in self.SKIP for tag, linked in self.stack):
            return
        self.found += [f"{m.group(0)} in {data.strip()[:80]!r}" for m in RULE_ID.finditer(data)]


def unlinked_rule_ids(html: str) -> list[str]:
    parser = _Unlinked()
    parser.feed(html)
    return parser.found


def test_the_rules_page_explains_every_rule_with_an_example(viewer):
    response = client_for(viewer).get("/rules/")
    assert response.status_code == 200
    html = response.content.decode()
    assert [r.id for r in RULEBOOK] == [f"R{n}" for n in range(1, 12)]
    for rule in RULEBOOK:
        assert f'id="{rule.anchor}"' in html
        assert rule.title in html
        assert len(rule.words) > 80 and len(rule.example) > 20, rule.id
    assert html.count("Example:") == 11


def test_the_rules_page_needs_a_login(client):
    response = client.get("/rules/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_readme_states_the_same_rules(viewer):
    """The README carries the rules in its own words for a reader without the console: the same
    ids and titles as the Rules page."""
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    for rule in RULEBOOK:
        assert re.search(rf"\*\*{rule.id} – [^*]+\*\*", readme), rule.id
    assert "../shared" not in readme


def test_rule_links_escape_the_text_and_link_only_rule_ids():
    out = Template("{% load rulebook %}{{ text|rule_links }}").render(
        Context({"text": "R3 · first <b>returned</b>, not R12, PR7 or R0; see R10."}))
    assert '<a class="rule" href="/rules/#r3" title="R3 – First link: the first record returned">R3</a>' in out
    assert '<a class="rule" href="/rules/#r10"' in out
    assert "&lt;b&gt;returned&lt;/b&gt;" in out
    assert "R12" in out and "PR7" in out and 'href="/rules/#r12"' not in out and "#r0" not in out


def test_the_rule_links_land_on_their_rule(viewer):
    html = client_for(viewer).get("/rules/").content.decode()
    for rule in RULEBOOK:
        anchor = re.search(rf'href="/rules/#{rule.anchor}"', Template(
            "{% load rulebook %}{% rule id %}").render(Context({"id": rule.id})))
        assert anchor and f'id="{rule.anchor}"' in html


def test_every_rule_id_on_the_console_links_to_its_rule(admin_user):
    r2_group("ann@example.com", 2)
    person, _ = r7_group(2)
    r9_group(2)
    contact = hs_contact("bo@example.com")
    link(contact, r2_group("bo@example.com", 2, synced=None)[0], chosen_by="R4")
    AuditEvent.objects.create(action=AuditEvent.Action.PRIMARY_LOST, rule="R5", target_type="contact",
                              target_id=contact.hs_id, actor_name="sync", message="lost its primary (R5)")
    client = client_for(admin_user)
    pages = ["/", "/duplicates/?kind=r2", "/duplicates/?kind=r7", "/duplicates/?kind=r9", "/contacts/",
             f"/contacts/{contact.hs_id}/", "/audit/", "/settings/", "/runs/", "/rules/"]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert unlinked_rule_ids(response.content.decode()) == [], path
    # The checker does see an unlinked id.
    assert unlinked_rule_ids("<p>see R7 here</p>") == ["R7 in 'see R7 here'"]


def test_the_cached_links_follow_the_url_prefix_the_console_is_mounted_at():
    """Rule links and record links are reversed once per URL prefix (a page repeats them), so a
    console served under a sub-path (SCRIPT_NAME) still links inside it."""
    from django.urls import reverse, set_script_prefix

    page = Template("{% load rulebook crm %}{% rule 'R7' %} {{ id|contact_url }} {{ id|company_url }}")
    try:
        for prefix in ("/", "/crm/", "/"):
            set_script_prefix(prefix)
            out = page.render(Context({"id": "12 3@x:y&%"}))
            assert f'href="{reverse("sync:rules")}#' in out and reverse("sync:rules").startswith(prefix)
            contact, company = (reverse(name, args=["12 3@x:y&%"]) for name in ("sync:contact", "sync:company"))
            assert f" {contact} {company}".replace("&", "&amp;") in out and contact.startswith(prefix)
    finally:
        set_script_prefix("/")
