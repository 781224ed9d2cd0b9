"""sync.engine.pull.batched/prefetch: pages joined into batches and fetched ahead in a thread,
in order, with the fetching thread's error raised where its page would have come."""
from __future__ import annotations

import threading

import pytest

from sync.engine.pull import batched, prefetch


def pages(n: int, size: int = 100, fail_at: int | None = None):
    for i in range(n):
        if i == fail_at:
            raise ConnectionError(f"page {i} failed")
        yield [{"id": i * size + j} for j in range(size)]


def test_batches_come_in_order_with_every_record_once():
    out = list(prefetch(batched(pages(45), rows=2000)))
    assert [len(b) for b in out] == [2000, 2000, 500]
    assert [r["id"] for b in out for r in b] == list(range(4500))


def test_the_fetching_threads_error_comes_after_the_batches_before_it():
    got = []
    with pytest.raises(ConnectionError, match="page 25 failed"):
        for batch in prefetch(batched(pages(45, fail_at=25), rows=1000)):
            got.append(len(batch))
    assert got == [1000, 1000]   # pages 0–19; pages 20–24 never make a batch


def test_the_fetching_thread_runs_ahead_by_at_most_depth_batches_and_stops_with_the_reader():
    fetched = []

    def counted():
        for page in pages(100):
            fetched.append(page[0]["id"])
            yield page

    stream = prefetch(batched(counted(), rows=1000), depth=2)
    next(stream)
    for _ in range(100):   # let the thread fill its queue
        if len(fetched) >= 40:
            break
        threading.Event().wait(0.01)
    assert 30 <= len(fetched) <= 41   # the batch handed out, two waiting, one being joined
    stream.close()
    assert not [t for t in threading.enumerate() if t.name == "pull-prefetch"]
    assert len(fetched) <= 41


def test_a_source_left_half_read_is_closed_when_the_consumer_stops():
    """A page source may hold a lock while suspended (one Bulk results page at a time): stopping
    the consumer part-way closes the source at once, so its lock is free for the next reader."""
    lock = threading.Lock()

    def source():
        for i in range(10):
            with lock:
                yield [i]

    src = source()              # still referenced (as a traceback's frames would keep it)
    pages = prefetch(src, 1)
    assert next(pages) == [0]
    pages.close()
    assert lock.acquire(timeout=1)
