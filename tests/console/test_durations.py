"""Durations read as people say them ("0.4 s", "12 s", "3 min 4 s"), never as a timedelta's
"0:00:00.351750": one filter (crm.duration) for the runs list, a run and its parts, and the
overview's last run, and `manage.py sync --wait`."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from sync.models import SyncChunk, SyncRun
from sync.templatetags.crm import duration


@pytest.mark.parametrize("span, words", [
    (timedelta(microseconds=351750), "0.4 s"), (timedelta(seconds=2.25), "2.2 s"), (timedelta(0), "0 s"),
    (timedelta(milliseconds=20), "under 0.1 s"), (timedelta(seconds=9.96), "10 s"), (timedelta(seconds=12.4), "12 s"),
    (timedelta(seconds=59.6), "1 min"), (timedelta(minutes=3, seconds=4), "3 min 4 s"), (timedelta(minutes=5), "5 min"),
    (timedelta(minutes=59, seconds=59.7), "1 h"), (timedelta(hours=2, minutes=5, seconds=10), "2 h 5 min"),
    (timedelta(days=1, hours=1), "25 h"), (12.5, "12 s"), (None, ""),
])
def test_the_duration_filter_says_it_in_words(span, words):
    assert duration(span) == words


def _run(seconds: float, **fields) -> SyncRun:
    start = timezone.now() - timedelta(minutes=10)
    return SyncRun.objects.create(status="succeeded", phase="done", started_at=start,
                                  finished_at=start + timedelta(seconds=seconds), **fields)


@pytest.mark.django_db
def test_the_runs_list_shows_durations_in_words(viewer_client):
    _run(0.35175)
    _run(184)
    html = viewer_client.get(reverse("sync:runs")).content.decode()
    assert "<td>0.4 s</td>" in html and "<td>3 min 4 s</td>" in html
    assert "0:00:00" not in html and "0:03:04" not in html


@pytest.mark.django_db
def test_a_run_and_its_parts_show_durations_in_words(viewer_client):
    run = _run(95.2, full=True)
    SyncChunk.objects.create(run=run, name="salesforce:Lead", status="done", started_at=run.started_at,
                             finished_at=run.started_at + timedelta(seconds=12))
    html = viewer_client.get(reverse("sync:run", args=[run.pk])).content.decode()
    assert "UTC (1 min 35 s)" in html and "<td>12 s</td>" in html
    assert "0:01:35" not in html and "0:00:12" not in html


@pytest.mark.django_db
def test_the_overview_says_how_long_the_last_run_took(viewer_client):
    _run(42.4)
    html = viewer_client.get(reverse("sync:overview")).content.decode()
    assert "(took 42 s)" in html and "0:00:42" not in html


@pytest.mark.django_db
def test_the_sync_command_says_how_long_the_run_took(crm, capsys):
    call_command("sync", "--wait")
    out = capsys.readouterr().out
    assert re.search(r"Run \d+: Succeeded in (\d+\.\d s|under 0\.1 s|\d+ s|\d+ min( \d+ s)?)\n", out), out
    assert "0:00" not in out
