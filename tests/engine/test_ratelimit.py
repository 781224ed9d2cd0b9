"""The rate limiter every worker shares (sync/crm/ratelimit.py): in memory for one process, in
Redis for several workers on one or many hosts."""
from __future__ import annotations

import multiprocessing
import os
import time
import uuid

import pytest
import redis

from sync.crm import ratelimit
from sync.crm.ratelimit import Limiter, MemoryWindow, Rate, RedisWindow, parse_rate

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def test_rates_are_parsed_or_refused_clearly():
    assert parse_rate("190/10s") == Rate(190, 10.0)
    assert parse_rate(" 5 / 1 ") == Rate(5, 1.0)
    for bad in ("", "abc", "0/10s", "10/0s", "-1/10s", "10 per second"):
        with pytest.raises(ValueError, match="is not a rate"):
            parse_rate(bad)


def test_memory_window_admits_the_limit_then_says_how_long_to_wait(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(ratelimit.base, "monotonic", lambda: now[0])
    window, rate = MemoryWindow(), Rate(3, 10.0)
    assert [window.try_acquire("k", rate) for _ in range(3)] == [0, 0, 0]
    assert window.try_acquire("k", rate) == pytest.approx(10.0)
    now[0] += 4
    assert window.try_acquire("k", rate) == pytest.approx(6.0)
    assert window.try_acquire("other", rate) == 0   # keys are separate windows
    now[0] += 6
    assert window.try_acquire("k", rate) == 0


def test_limiter_sleeps_until_a_slot_frees_and_keeps_headroom(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(ratelimit.base, "monotonic", lambda: now[0])
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = Limiter(MemoryWindow(), {"hs": Rate(20, 10.0)}, sleep=sleep)
    for _ in range(40):
        limiter.acquire("hs")
    assert len(slept) == 2 and slept[0] == pytest.approx(10.0)   # 19 (95 % of 20) a window
    limiter.acquire("unlimited")                                  # a key without a rate never waits
    assert limiter.waited == pytest.approx(sum(slept))


def _acquire_many(args) -> list[float]:
    url, key, n = args
    limiter = Limiter(RedisWindow(url), {key: Rate(20, 1.0)}, sleep=time.sleep)
    stamps = []
    for _ in range(n):
        limiter.acquire(key)
        stamps.append(time.time())
    return stamps


def test_redis_window_is_shared_by_worker_processes():
    """Four processes draw 60 requests from one 20-a-second window: no second ever holds more
    than the limit (less the headroom), so the whole takes at least three seconds."""
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()   # CI starts Redis (.ci/run); a missing server is a failure, not a skip
    key = f"test:{uuid.uuid4().hex}"
    started = time.time()
    with multiprocessing.get_context("fork").Pool(4) as pool:
        stamps = sorted(s for part in pool.map(_acquire_many, [(REDIS_URL, key, 15)] * 4) for s in part)
    elapsed = time.time() - started
    assert len(stamps) == 60
    allowed = int(20 * ratelimit.HEADROOM)   # 19
    tightest = min(stamps[i + allowed] - stamps[i] for i in range(len(stamps) - allowed))
    assert tightest > 0.9, f"{allowed + 1} requests within {tightest:.3f} s"
    assert elapsed >= 3.0
    assert client.pttl(f"crmsync:ratelimit:{key}") <= 1000   # the window expires with its last entry


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_learned_rate_carries_over_to_the_next_limiter(kind):
    """A new task's connector starts at the portal's real rate, learnt from an earlier answer,
    instead of waiting at the default's pace for a window the earlier task filled."""
    prefix = f"test:{uuid.uuid4().hex}:"
    window = MemoryWindow() if kind == "memory" else RedisWindow(REDIS_URL, prefix=prefix)
    first = Limiter(window, {"burst": Rate(100, 10.0)})
    assert first.rates["burst"] == Rate(100, 10.0)
    first.set_rate("burst", Rate(190, 10.0))
    assert Limiter(window, {"burst": Rate(100, 10.0)}).rates["burst"] == Rate(190, 10.0)
    assert Limiter(window, {"other": Rate(5, 1.0)}).rates["other"] == Rate(5, 1.0)
    if kind == "redis":
        assert 0 < redis.Redis.from_url(REDIS_URL).ttl(f"{prefix}burst:rate") <= ratelimit.RATE_MEMORY_SECONDS
        redis.Redis.from_url(REDIS_URL).delete(f"{prefix}burst:rate")
