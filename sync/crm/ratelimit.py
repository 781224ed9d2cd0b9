"""Request-rate limits shared by every worker that talks to a CRM.

HubSpot counts requests per app in a rolling ten-second window (190 on Professional, 100 on
Free/Starter) and search requests per second (5). When several qcluster workers sync in
parallel, each one's view of the window is partial; the limiter makes them wait their turn
instead of drawing 429s. With `REDIS_URL` set the window lives in Redis (a sorted set per key,
trimmed and counted atomically in a Lua script on Redis's clock), so workers on several hosts
share it. Without Redis (one process: `manage.py sync --wait`, the ORM broker) it lives in
memory, shared by the threads of this process.

The limits themselves are what the CRM reports: `X-HubSpot-RateLimit-Max` and
`-Interval-Milliseconds` on every answer move the window to the portal's real tier. Until the
first answer, `HUBSPOT_RATE_LIMIT` (default the lowest tier, 100 per 10 s) applies."""
from __future__ import annotations

import re
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sync.crm import base

# Leave a little room under the CRM's own count: clocks differ and other apps of the same
# account may share the window.
HEADROOM = 0.95
# How long a learned rate is remembered for the next worker (a portal's tier rarely changes).
RATE_MEMORY_SECONDS = 24 * 3600

_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


@dataclass(frozen=True)
class Rate:
    requests: int
    per_seconds: float

    def __str__(self) -> str:
        return f"{self.requests}/{self.per_seconds:g}s"


def parse_rate(text: str) -> Rate:
    """"100/10s", "5/1s", "190/10" → Rate. Raises ValueError with a readable message."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*s?\s*", text or "")
    if not m or int(m.group(1)) < 1 or float(m.group(2)) <= 0:
        raise ValueError(f"{text!r} is not a rate like '100/10s' (requests per seconds)")
    return Rate(int(m.group(1)), float(m.group(2)))


class MemoryWindow:
    """A rolling window in this process (threads share it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamps: dict[str, deque] = {}
        self._rates: dict[str, Rate] = {}

    def learned_rate(self, key: str) -> Rate | None:
        return self._rates.get(key)

    def learn_rate(self, key: str, rate: Rate) -> None:
        self._rates[key] = rate

    def try_acquire(self, key: str, rate: Rate) -> float:
        """0 when a request may go now (and it is counted), else the seconds to wait."""
        now = base.monotonic()
        with self._lock:
            stamps = self._stamps.setdefault(key, deque())
            while stamps and stamps[-1] > now:  # the clock went back (a test's sandbox was reset)
                stamps.pop()
            while stamps and stamps[0] <= now - rate.per_seconds:
                stamps.popleft()
            if len(stamps) < rate.requests:
                stamps.append(now)
                return 0.0
            return max(0.001, stamps[0] + rate.per_seconds - now)


class RedisWindow:
    """The same window in Redis: one for every worker on every host."""

    def __init__(self, url: str, prefix: str = "crmsync:ratelimit:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._script = self._redis.register_script(_SCRIPT)
        self._prefix = prefix

    def learned_rate(self, key: str) -> Rate | None:
        value = self._redis.get(self._prefix + key + ":rate")
        try:
            return parse_rate(value.decode()) if value else None
        except ValueError:
            return None

    def learn_rate(self, key: str, rate: Rate) -> None:
        self._redis.set(self._prefix + key + ":rate", str(rate), ex=RATE_MEMORY_SECONDS)

    def try_acquire(self, key: str, rate: Rate) -> float:
        wait_ms = self._script(keys=[self._prefix + key],
                               args=[int(rate.per_seconds * 1000), rate.requests, uuid.uuid4().hex])
        return int(wait_ms) / 1000.0


class Limiter:
    """`acquire(key)` returns when one more request under `key` fits its window. The rates are
    the given defaults until a CRM answer tells the real ones (`set_rate`), which the window
    remembers for the next limiter on the same key: a worker starting a new task goes at the
    portal's real pace from its first request, not at the default's."""

    def __init__(self, window, rates: dict[str, Rate], *, sleep: Callable[[float], None] | None = None) -> None:
        self.window = window
        self.rates = {key: window.learned_rate(key) or rate for key, rate in rates.items()}
        self.sleep = sleep  # None: base.sleep, looked up when waiting (tests replace it)
        self.waited = 0.0  # seconds this limiter made its callers wait (reported by the benchmark)

    def set_rate(self, key: str, rate: Rate) -> None:
        if self.rates.get(key) != rate:
            self.rates[key] = rate
            self.window.learn_rate(key, rate)

    def acquire(self, key: str) -> None:
        rate = self.rates.get(key)
        if rate is None:
            return
        effective = Rate(max(1, int(rate.requests * HEADROOM)), rate.per_seconds)
        while (wait := self.window.try_acquire(key, effective)) > 0:
            self.waited += wait
            (self.sleep or base.sleep)(wait)


_memory = MemoryWindow()
_redis_windows: dict[str, RedisWindow] = {}


def shared_window(redis_url: str):
    """Redis when configured, else this process's memory; one client per URL per process."""
    if not redis_url:
        return _memory
    if redis_url not in _redis_windows:
        _redis_windows[redis_url] = RedisWindow(redis_url)
    return _redis_windows[redis_url]
