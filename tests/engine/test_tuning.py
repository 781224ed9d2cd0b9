"""sync.engine.tuning: a run collects garbage less often and switches threads sooner, and leaves the
process as it found it."""
from __future__ import annotations

import gc
import sys
import threading

import pytest

from sandbox.scenario import scenario_dict
from sync.engine import fields, tuning
from sync.engine.tuning import SWITCH_INTERVAL, THRESHOLDS, tuned_for_a_run
from tests.engine.conftest import sync_ok

PLAIN = ((700, 10, 10), 0.005)


def state():
    return gc.get_threshold(), sys.getswitchinterval()


@pytest.fixture(autouse=True)
def _plain_interpreter():
    before = state()
    gc.set_threshold(*PLAIN[0])
    sys.setswitchinterval(PLAIN[1])
    yield
    gc.set_threshold(*before[0])
    sys.setswitchinterval(before[1])


def test_settings_hold_inside_and_are_restored_after_even_on_error():
    with tuned_for_a_run():
        assert state() == (THRESHOLDS, pytest.approx(SWITCH_INTERVAL))
        assert gc.get_freeze_count() > 0      # what existed at entry is never scanned again
    assert state() == PLAIN and gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), tuned_for_a_run():
        raise RuntimeError("a failing run")
    assert state() == PLAIN and gc.get_freeze_count() == 0


def test_concurrent_runs_in_one_process_share_one_entry_and_exit():
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with tuned_for_a_run():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with tuned_for_a_run():
            second_in.set()
            first_out.wait(5)
            seen["after the first left"] = gc.get_threshold()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["after the first left"] == THRESHOLDS
    assert state() == PLAIN and gc.get_freeze_count() == 0
    assert tuning._inside == 0


@pytest.mark.django_db(transaction=True)
def test_a_sync_run_works_under_the_tuned_settings(crm, monkeypatch):
    crm.load(scenario_dict(20, seed=3, now="2026-01-10T00:00:00Z"))
    during = []
    real = fields.sync_fields

    def observed(*args, **kwargs):
        during.append(gc.get_threshold())
        return real(*args, **kwargs)

    monkeypatch.setattr(fields, "sync_fields", observed)
    run = sync_ok(full=True)
    assert run.linked > 0
    assert during == [THRESHOLDS, THRESHOLDS]  # the contacts' field sync, then the companies' and deals'
    assert state() == PLAIN and gc.get_freeze_count() == 0
