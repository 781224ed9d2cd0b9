from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from sync.roles import ADMIN, OPERATOR, VIEWER

PASSWORD = "correct-horse-battery-staple"


def _user(django_user_model, name: str, role: str | None):
    user = django_user_model.objects.create_user(username=name, password=PASSWORD, email=f"{name}@example.com")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def viewer(django_user_model):
    return _user(django_user_model, "vera", VIEWER)


@pytest.fixture
def operator(django_user_model):
    return _user(django_user_model, "otto", OPERATOR)


@pytest.fixture
def admin_user(django_user_model):
    return _user(django_user_model, "ada", ADMIN)


@pytest.fixture
def nobody(django_user_model):
    """Logged in, but in no role group."""
    return _user(django_user_model, "nina", None)


def client_for(user, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


@pytest.fixture
def viewer_client(viewer):
    return client_for(viewer)


@pytest.fixture
def operator_client(operator):
    return client_for(operator)


@pytest.fixture
def admin_client_(admin_user):
    return client_for(admin_user)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """`migrate` creates the sync's schedules (sync/apps.py), as on a real install; tests start
    without them, so a test's own task worker runs only what the test queues."""
    from django_q.models import Schedule

    with django_db_blocker.unblock():
        Schedule.objects.all().delete()


def page_text(html) -> str:
    """A page's words without markup, white space collapsed: inline tags (links such as a rule's,
    emphasis) vanish without a trace, other tags leave a space."""
    import re
    from html import unescape

    if not isinstance(html, str):
        html = html.content.decode()
    html = re.sub(r"</?(?:a|span|strong|em|b|code|time|abbr)\b[^>]*>", "", html)
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))).replace(" ,", ",")


def restore_reference_data() -> None:
    """Transactional tests flush every table, including the rows our data migrations made (role
    groups, the settings row, default field rules); put them back."""
    import importlib

    from django.apps import apps

    for name in ("0002_roles_and_settings", "0003_field_rules", "0014_live_sync"):
        importlib.import_module(f"sync.migrations.{name}").create(apps, None)


CURRENT_SANDBOX = None  # the sandbox the running test syncs with (use_sandbox)


def use_sandbox(server, settings, monkeypatch, *, order: str = "random"):
    """Empty the sandbox and point the console's settings at it. Retry waits advance the sandbox
    clock instead of sleeping (recorded in `sandbox.slept`): HubSpot's ten-second window then
    really frees up, on sandbox time, without the test waiting ten real seconds."""
    from sync.crm import base, ratelimit

    global CURRENT_SANDBOX
    sb = server.sandbox
    CURRENT_SANDBOX = sb
    sb.reset()
    sb.configure(order=order, salesforce={"daily_limit": 100_000, "token_ttl": 7200})
    sb.hubspot.configure_limits(reset=True)
    sb.url = server.url
    settings.SALESFORCE_INSTANCE_URL = server.url
    settings.SALESFORCE_ACCESS_TOKEN = "sandbox"
    settings.SALESFORCE_USERNAME = settings.SALESFORCE_PASSWORD = settings.SALESFORCE_SECURITY_TOKEN = ""
    settings.SALESFORCE_CLIENT_ID = settings.SALESFORCE_CLIENT_SECRET = ""
    settings.HUBSPOT_BASE_URL = server.url
    settings.HUBSPOT_ACCESS_TOKEN = "sandbox"
    settings.CRM_TIMEOUT = (5, 10)
    sb.slept = []

    def fake_sleep(seconds: float) -> None:
        sb.slept.append(seconds)
        if seconds > 0:
            sb.advance_clock(seconds)

    monkeypatch.setattr(base, "sleep", fake_sleep)
    monkeypatch.setattr(base, "monotonic", lambda: sb.clock.now().timestamp())
    monkeypatch.setattr(ratelimit, "_memory", ratelimit.MemoryWindow())  # each test starts with empty windows
    return sb


SAMPLE_ARGS = {"hs_id": "101", "pk": "1", "crm": "salesforce"}


def project_paths(*, admin: bool) -> list[str]:
    """Every URL of the project with sample values for its parameters (the admin's own pages
    only when `admin`; its index "/admin/" always)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(resolver: URLResolver, prefix: str):
        for p in resolver.url_patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                yield from walk(p, route)
            elif isinstance(p, URLPattern):
                yield route

    paths = set()
    for route in walk(get_resolver(), "/"):
        if route.startswith("/admin/") and route != "/admin/" and not admin:
            continue
        for name, value in SAMPLE_ARGS.items():
            route = route.replace(f"<str:{name}>", value).replace(f"<int:{name}>", value)
        if "<" not in route and "^" not in route:
            paths.add(route)
    return sorted(paths)
