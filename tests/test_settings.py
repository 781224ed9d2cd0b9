"""Settings are read from the environment and fail loudly, with a clear message, on bad values."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from crmsync.settings import database_from_url, env_bool, env_int, env_url

ROOT = Path(__file__).resolve().parent.parent


def load_settings(**env: str) -> subprocess.CompletedProcess:
    """Import the settings module in a fresh interpreter with exactly these variables set."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "HUBSPOT_", "DATABASE_",
                                                                      "REDIS_", "SECRET_KEY", "DEBUG"))}
    code = "import crmsync.settings as s; print(s.DATABASES['default']['ENGINE'], s.Q_CLUSTER.get('redis', 'orm'))"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def test_env_bool_accepts_the_usual_spellings(monkeypatch):
    for raw, expected in [("true", True), ("1", True), ("Yes", True), ("off", False), ("0", False)]:
        monkeypatch.setenv("CRMSYNC_FLAG", raw)
        assert env_bool("CRMSYNC_FLAG", not expected) is expected


def test_env_bool_rejects_anything_else(monkeypatch):
    monkeypatch.setenv("CRMSYNC_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="CRMSYNC_FLAG must be true or false"):
        env_bool("CRMSYNC_FLAG", False)


def test_env_int_rejects_words_and_values_below_minimum(monkeypatch):
    monkeypatch.setenv("CRMSYNC_N", "five")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env_int("CRMSYNC_N", 1)
    monkeypatch.setenv("CRMSYNC_N", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("CRMSYNC_N", 1, minimum=1)


def test_env_url_requires_scheme_and_host(monkeypatch):
    monkeypatch.setenv("CRMSYNC_URL", "api.hubapi.com")
    with pytest.raises(ImproperlyConfigured, match="must be a URL"):
        env_url("CRMSYNC_URL", "")
    monkeypatch.setenv("CRMSYNC_URL", "https://api.hubapi.com/")
    assert env_url("CRMSYNC_URL", "") == "https://api.hubapi.com"


def test_database_url_forms():
    pg = database_from_url("postgres://bob:s%40cret@db.example.com:6543/crm?sslmode=require")
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "django.db.backends.postgresql", "crm", "bob", "s@cret", "db.example.com", "6543")
    assert pg["OPTIONS"] == {"sslmode": "require"}
    assert database_from_url("sqlite:////tmp/x.sqlite3")["NAME"] == "/tmp/x.sqlite3"
    assert database_from_url("sqlite:///var/x.sqlite3")["NAME"].endswith("/var/x.sqlite3")


def test_a_sqlite_file_is_opened_in_wal_mode(tmp_path):
    """Readers (the console) and the writer (a sync) don't block each other; commits don't fsync."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "DEBUG"))}
    code = ("import django; django.setup(); from django.db import connection; c = connection.cursor(); "
            "print(c.execute('PRAGMA journal_mode').fetchone()[0], c.execute('PRAGMA synchronous').fetchone()[0])")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**base, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "crmsync.settings",
                                 "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "1"]  # synchronous=1 is NORMAL


@pytest.mark.parametrize("url, message", [
    ("mysql://localhost/crm", "must start with sqlite:// or postgres://"),
    ("postgres://localhost", "must name a database"),
    ("postgres://localhost:port/crm", "invalid port"),
    ("sqlite:///", "needs a file path"),
])
def test_bad_database_urls_are_explained(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        database_from_url(url)


def test_defaults_are_sqlite_and_the_orm_broker():
    result = load_settings(DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "orm"]


def test_redis_url_switches_the_broker():
    result = load_settings(DEBUG="true", REDIS_URL="redis://127.0.0.1:6379/0")
    assert result.stdout.split() == ["django.db.backends.sqlite3", "redis://127.0.0.1:6379/0"]


@pytest.mark.parametrize("env, message", [
    ({}, "SECRET_KEY must be set when DEBUG is off"),
    ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
    ({"DEBUG": "true", "DATABASE_URL": "oracle://x/y"}, "DATABASE_URL must start with"),
    ({"DEBUG": "true", "REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL must be a URL starting with redis://"),
    ({"DEBUG": "true", "SALESFORCE_API_VERSION": "v59"}, "SALESFORCE_API_VERSION must look like 59.0"),
    ({"DEBUG": "true", "SALESFORCE_USERNAME": "a@b.c"}, "SALESFORCE_PASSWORD is not"),
    ({"DEBUG": "true", "SALESFORCE_CLIENT_ID": "x"}, "must be set together"),
    ({"DEBUG": "true", "SALESFORCE_ACCESS_TOKEN": "x"}, "needs SALESFORCE_INSTANCE_URL"),
    ({"DEBUG": "true", "HUBSPOT_BASE_URL": "api.hubapi.com"}, "HUBSPOT_BASE_URL must be a URL"),
    ({"DEBUG": "true", "Q_WORKERS": "0"}, "Q_WORKERS must be at least 1"),
])
def test_bad_environment_stops_startup_with_a_clear_error(env, message):
    result = load_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_secrets_do_not_leak_into_the_error_text():
    result = load_settings(DEBUG="true", SALESFORCE_USERNAME="u@example.com", SALESFORCE_CLIENT_ID="id-123",
                           SALESFORCE_CLIENT_SECRET="", HUBSPOT_ACCESS_TOKEN="pat-na1-SECRET")
    assert result.returncode != 0
    assert "pat-na1-SECRET" not in result.stderr


def test_production_settings_pass_the_deploy_checks():
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(SECRET_KEY="x" * 60 + "-not-a-real-key-but-long-and-random-enough", ALLOWED_HOSTS="crm.example.com")
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("raw", "expected"), [(None, "10000"), ("0", "0"), ("250000", "250000"), ("off", "None"),
                                               (" OFF ", "None")])
def test_salesforce_bulk_threshold(raw, expected):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "DEBUG"))}
    env = {**base, "DEBUG": "true", **({} if raw is None else {"SALESFORCE_BULK_THRESHOLD": raw})}
    result = subprocess.run([sys.executable, "-c", "import crmsync.settings as s; print(s.SALESFORCE_BULK_THRESHOLD)"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == expected, result.stderr


def test_a_negative_or_wordy_bulk_threshold_stops_startup():
    for raw, message in (("-1", "must be at least 0"), ("lots", "must be a whole number")):
        result = load_settings(DEBUG="true", SALESFORCE_BULK_THRESHOLD=raw)
        assert result.returncode != 0 and f"SALESFORCE_BULK_THRESHOLD {message}" in result.stderr
