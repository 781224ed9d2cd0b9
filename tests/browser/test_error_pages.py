"""A wrong address in the demo shows the product's 404, not DEBUG's listing of every URL
pattern: the demo's own web server (sync/management/commands/demo.py start_console: DEBUG off on
loopback, static files collected and served by whitenoise) in a real browser."""
from __future__ import annotations

import os
import re
import socket
import time

import pytest
from playwright.sync_api import expect

from sync.management.commands.demo import start_console

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def demo_console(tmp_path):
    port = _free_port()
    proc = start_console(port, {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/demo.sqlite3"})
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the demo's web server exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the demo's web server did not start"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_a_wrong_url_in_the_demo_shows_the_products_404(demo_console, page):
    statics = {}
    page.on("response", lambda r: statics.__setitem__(r.url, r.status) if "/static/" in r.url else None)
    response = page.goto(f"{demo_console}/no-such-page/")
    assert response.status == 404
    expect(page).to_have_title("Page not found · crmsync")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.locator("main")).to_contain_text("There is no page at /no-such-page/")
    expect(page.locator("body")).not_to_contain_text("URLconf")
    # The hashed, collected stylesheet was served (DEBUG off) and applies: the top bar is navy.
    href = page.locator("link[rel=stylesheet]").get_attribute("href")
    assert re.fullmatch(r"/static/crmsync/app\.[0-9a-f]{12}\.css", href), href
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundColor") == "rgb(20, 33, 61)"
    assert statics and set(statics.values()) == {200}, statics
    # The way back: the overview, which first asks an anonymous visitor to log in (no HTTPS redirect).
    page.get_by_role("link", name="Back to the overview").click()
    expect(page).to_have_url(f"{demo_console}/login/?next=/")
    expect(page.get_by_role("heading", name="Log in to crmsync")).to_be_visible()
