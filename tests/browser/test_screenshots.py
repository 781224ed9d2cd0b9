"""The README's screenshots, taken from the demo scenario in chromium. In the suite they are taken
into a temporary folder (each page rendered and non-empty); `make screenshots` writes them to
docs/screenshots/ for the README."""
from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from sync import services
from sync.engine.cycle import run_cycle
from sync.management.commands.demo import REFUSED
from sync.models import ContactLink, LinkStatus, RecordError
from tests.browser.test_csp import _history_and_budget
from tests.browser.test_journeys import PASSWORD, demo, login  # noqa: F401 - demo: the demo scenario, synced once

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = [  # (file, path or a callable of the page giving it, viewport width)
    ("overview.png", "/", 1366),
    ("duplicates.png", "/duplicates/", 1366),
    ("merge-preview.png", "merge", 1366),
    ("contact.png", "contact", 1366),
    ("sync-errors.png", "/errors/", 1366),
    ("duplicates-phone.png", "/duplicates/", 390),
]


def _png_size(path: Path) -> tuple[int, int]:
    with path.open("rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def test_the_readmes_screenshots(demo, live_server, browser, django_user_model, tmp_path):  # noqa: F811
    out = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    demo.sandbox.load({"hubspot": {"contacts": REFUSED}})   # as `make demo` adds them
    assert run_cycle(services.request_sync(full=False, actor=None, enqueue=False).pk).status == "succeeded"
    assert RecordError.objects.filter(resolved_at__isnull=True).count() == len(REFUSED)
    _history_and_budget()
    django_user_model.objects.get(username="olga").groups.add(Group.objects.get(name="admin"))
    lost = ContactLink.objects.filter(status=LinkStatus.LOST_PRIMARY).select_related("hs_contact") \
        .order_by("hs_contact_id").first()
    for name, where, width in SHOTS:
        context = browser.new_context(viewport={"width": width, "height": 860})
        page = context.new_page()
        login(page, live_server)
        if where == "merge":
            page.goto(f"{live_server.url}/duplicates/")
            page.locator("section.group").first.get_by_role("link", name="Preview merge in Salesforce…").click()
            expect(page.locator("#what-happens")).to_be_visible()
        elif where == "contact":
            page.goto(f"{live_server.url}/contacts/{lost.hs_contact.hs_id}/")
            expect(page.locator(".sync-card")).to_be_visible()
        else:
            page.goto(f"{live_server.url}{where}")
        expect(page.locator("h1").first).to_be_visible()
        page.screenshot(path=str(out / name))
        context.close()
        w, h = _png_size(out / name)
        assert (w, h) == (width, 860), (name, w, h)
        assert (out / name).stat().st_size > 10_000, name   # a page, not a blank
