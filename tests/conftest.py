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


def restore_reference_data() -> None:
    """Transactional tests flush every table, including the rows our data migrations made (role
    groups, the settings row, default field rules); put them back."""
    import importlib

    from django.apps import apps

    for name in ("0002_roles_and_settings", "0003_field_rules"):
        importlib.import_module(f"sync.migrations.{name}").create(apps, None)
