"""Browser tests: Playwright driving Debian's chromium (never `playwright install`), against
Django's live server, with the CRM sandbox on another loopback port."""
from __future__ import annotations

import os
import shutil

import pytest

from sandbox.testing import running_sandbox

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"Browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ARGS, "headless": True}


@pytest.fixture
def crm_sandbox(settings):
    with running_sandbox(seed=5) as server:
        settings.SALESFORCE_INSTANCE_URL = server.url
        settings.SALESFORCE_ACCESS_TOKEN = "sandbox"
        settings.SALESFORCE_USERNAME = settings.SALESFORCE_CLIENT_ID = ""
        settings.HUBSPOT_BASE_URL = server.url
        settings.HUBSPOT_ACCESS_TOKEN = "sandbox"
        yield server


@pytest.fixture
def tasks_inline(monkeypatch):
    """django-q2 runs tasks inside async_task (no cluster) so a merge's follow-up sync is done
    by the time the page reloads."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
