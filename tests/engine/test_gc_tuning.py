"""sync.engine.gc_tuning: a run collects garbage less often, and leaves the process as it found it."""
from __future__ import annotations

import gc
import threading

import pytest

from sandbox.scenario import scenario_dict
from sync.engine import fields, gc_tuning
from sync.engine.gc_tuning import THRESHOLDS, fewer_collections
from tests.engine.conftest import sync_ok


@pytest.fixture(autouse=True)
def _plain_collector():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_thresholds_are_raised_inside_and_restored_after_even_on_error():
    with fewer_collections():
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > 0      # what existed at entry is never scanned again
    assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("a failing run")
    assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0


def test_concurrent_runs_in_one_process_share_one_entry_and_exit():
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with fewer_collections():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with fewer_collections():
            second_in.set()
            first_out.wait(5)
            seen["after the first left"] = gc.get_threshold()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["after the first left"] == THRESHOLDS
    assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0
    assert gc_tuning._inside == 0


@pytest.mark.django_db(transaction=True)
def test_a_sync_run_works_under_the_raised_thresholds(crm, monkeypatch):
    crm.load(scenario_dict(20, seed=3, now="2026-01-10T00:00:00Z"))
    during = []
    real = fields.sync_fields

    def observed(*args, **kwargs):
        during.append(gc.get_threshold())
        return real(*args, **kwargs)

    monkeypatch.setattr(fields, "sync_fields", observed)
    run = sync_ok(full=True)
    assert run.linked > 0
    assert during == [THRESHOLDS]
    assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0
