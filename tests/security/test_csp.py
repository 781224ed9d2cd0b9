"""Content-Security-Policy: every page carries the strict policy, and no template needs more
(no inline script, style attribute or event handler). tests/browser/test_csp.py checks that the
pages and their htmx interactions really keep to it in a browser."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import client_for
from tests.security.test_crawl import ROUTES, world  # noqa: F401 - world: one of each thing a URL names

pytestmark = pytest.mark.django_db
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def directives(response) -> dict[str, str]:
    header = response.headers.get("Content-Security-Policy", "")
    return dict((part.strip().partition(" ")[::2]) for part in header.split(";") if part.strip())


def assert_strict(response, path: str) -> None:
    policy = directives(response)
    assert policy.get("default-src") == "'self'", (path, policy)
    assert policy.get("frame-ancestors") == "'none'", (path, policy)
    assert policy.get("object-src") == "'none'" and policy.get("base-uri") == "'none'", (path, policy)
    assert policy.get("form-action") == "'self'", (path, policy)
    # Nothing loosens script or style: no separate script-src/style-src, no unsafe-*, no nonce needed.
    assert not {"script-src", "style-src"} & set(policy), (path, policy)
    assert "unsafe" not in response.headers["Content-Security-Policy"], (path, policy)


@pytest.mark.usefixtures("world")
def test_every_page_sends_the_policy(admin_user):
    client = client_for(admin_user)
    for path in ROUTES:
        if path == "/logout/" or path.endswith(".csv"):
            continue
        response = client.get(path)
        assert_strict(response, path)


def test_login_error_and_fragment_responses_send_it_too(viewer_client):
    assert_strict(Client().get("/login/"), "/login/")
    assert_strict(viewer_client.get("/no-such-page/"), "404")
    assert_strict(viewer_client.post("/sync/"), "403")
    assert_strict(viewer_client.get("/contacts/", headers={"HX-Request": "true"}), "htmx fragment")


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"\sstyle=", re.I), "a style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an inline event handler"),
    (re.compile(r"\shx-on", re.I), "hx-on (htmx evaluates it as script)"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


@pytest.mark.parametrize("template", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")))
def test_no_template_needs_inline_script_or_style(template):
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    found = [what for pattern, what in INLINE if pattern.search(text)]
    assert not found, f"{template} has {', '.join(found)}: move it to static/crmsync/ (the CSP refuses it)"
