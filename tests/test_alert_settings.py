"""The alert and email settings: alerts are off until an SMTP host is set (or ALERTS_EMAIL says
so), need the console's address for their links in production, and the SMTP password is never
part of an error."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHOW = ("import json, crmsync.settings as s; print(json.dumps({k: getattr(s, k) for k in ('ALERTS_EMAIL', "
        "'ALERTS_INTERVAL_MINUTES', 'CONSOLE_URL', 'EMAIL_HOST', 'EMAIL_PORT', 'EMAIL_USE_TLS', 'EMAIL_HOST_USER', "
        "'DEFAULT_FROM_EMAIL')}))")


def load(**env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "ALERTS_", "CONSOLE_", "DEBUG",
                                                                      "SECRET_KEY", "DEFAULT_FROM"))}
    return subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env={**base, **env}, capture_output=True, text=True,
                          timeout=60)


def settings_for(**env: str) -> dict:
    done = load(**env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


PRODUCTION = {"SECRET_KEY": "k" * 60}


def test_alerts_are_off_without_an_smtp_host():
    s = settings_for(**PRODUCTION)
    assert (s["ALERTS_EMAIL"], s["EMAIL_HOST"], s["EMAIL_PORT"], s["CONSOLE_URL"]) == (False, "localhost", 25, "")


def test_an_smtp_host_turns_them_on_with_tls_on_587():
    s = settings_for(**PRODUCTION, EMAIL_HOST="smtp.example.com", EMAIL_USE_TLS="true", EMAIL_HOST_USER="crm",
                     EMAIL_HOST_PASSWORD="pw", DEFAULT_FROM_EMAIL="crm@example.com",
                     CONSOLE_URL="https://crm.example.com/")
    assert s == {"ALERTS_EMAIL": True, "ALERTS_INTERVAL_MINUTES": 60, "CONSOLE_URL": "https://crm.example.com",
                 "EMAIL_HOST": "smtp.example.com", "EMAIL_PORT": 587, "EMAIL_USE_TLS": True,
                 "EMAIL_HOST_USER": "crm", "DEFAULT_FROM_EMAIL": "crm@example.com"}


def test_alerts_email_says_otherwise_either_way():
    assert settings_for(**PRODUCTION, EMAIL_HOST="smtp.example.com", ALERTS_EMAIL="false")["ALERTS_EMAIL"] is False
    s = settings_for(DEBUG="true", ALERTS_EMAIL="on", ALERTS_INTERVAL_MINUTES="15")
    assert (s["ALERTS_EMAIL"], s["EMAIL_HOST"], s["ALERTS_INTERVAL_MINUTES"]) == (True, "localhost", 15)
    assert s["CONSOLE_URL"] == "http://127.0.0.1:8000"  # DEBUG: what `make demo` serves


@pytest.mark.parametrize(("env", "message"), [
    ({"EMAIL_HOST": "smtp.example.com"}, "set CONSOLE_URL to the console's address"),
    ({"EMAIL_HOST": "smtp.example.com", "CONSOLE_URL": "crm.example.com"}, "CONSOLE_URL must be a URL"),
    ({"EMAIL_PORT": "smtp"}, "EMAIL_PORT must be a whole number"),
    ({"ALERTS_EMAIL": "sometimes"}, "ALERTS_EMAIL must be true or false"),
    ({"ALERTS_INTERVAL_MINUTES": "0"}, "ALERTS_INTERVAL_MINUTES must be at least 1"),
])
def test_bad_alert_settings_stop_startup_with_a_clear_error(env, message):
    done = load(**PRODUCTION, EMAIL_HOST_PASSWORD="hunter2-smtp-secret", **env)
    assert done.returncode != 0 and message in done.stderr
    assert "hunter2-smtp-secret" not in done.stderr + done.stdout
