"""`migrate` sets up the schedules: a fresh install whose admin never saves the settings still
syncs every `schedule_minutes` once `qcluster` runs."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
from django.apps import apps
from django.conf import settings
from django_q.models import Schedule

from sync.apps import schedules_after_migrate
from sync.services import SCHEDULE_NAME


def test_a_fresh_install_is_scheduled_by_migrate(tmp_path):
    db = tmp_path / "fresh.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "REDIS_URL": "", "ALERTS_EMAIL": "false"}
    subprocess.run([sys.executable, str(settings.BASE_DIR / "manage.py"), "migrate", "--verbosity", "0"],
                   env=env, check=True, cwd=settings.BASE_DIR, timeout=300)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name, func, minutes, repeats FROM django_q_schedule").fetchall()
        minutes = conn.execute("SELECT schedule_minutes FROM sync_syncsettings").fetchone()[0]
    assert rows == [(SCHEDULE_NAME, "sync.tasks.scheduled_sync", minutes, -1)]
    # Migrating again applies nothing and changes nothing.
    subprocess.run([sys.executable, str(settings.BASE_DIR / "manage.py"), "migrate", "--verbosity", "0"],
                   env=env, check=True, cwd=settings.BASE_DIR, timeout=300)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM django_q_schedule").fetchone()[0] == 1


@pytest.mark.django_db
def test_only_a_migrate_that_applied_something_sets_schedules():
    sender = apps.get_app_config("sync")
    schedules_after_migrate(sender, plan=None)  # a flush
    schedules_after_migrate(sender, plan=[])    # migrate with nothing to apply
    assert not Schedule.objects.exists()
    schedules_after_migrate(sender, plan=[(object(), False)])
    assert list(Schedule.objects.values_list("name", flat=True)) == [SCHEDULE_NAME]
