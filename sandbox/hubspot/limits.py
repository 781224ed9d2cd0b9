"""HubSpot rate limits on the sandbox clock.

Defaults are the reference's Professional / private-app numbers (§2.8): 190 requests per 10 s rolling
(TEN_SECONDLY_ROLLING), 625,000 per day (DAILY, resets at midnight in the account's time zone), and
5 search requests per second (SECONDLY). Search requests count toward the daily quota but not the
10-second burst window (UNCONFIRMED for private apps; documented for OAuth apps: "excluding search")
and carry no X-HubSpot-RateLimit-* headers (reference §2.3).
"""
from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


class Limits:
    def __init__(self) -> None:
        self.configure(reset=True)

    def configure(self, *, reset: bool = False, burst_max: int | None = None, interval_ms: int | None = None,
                  daily_max: int | None = None, search_per_second: int | None = None,
                  secondly_headers: bool | None = None, time_zone: str | None = None,
                  enabled: bool | None = None) -> None:
        if reset:
            self.burst_max, self.interval_ms, self.daily_max = 190, 10_000, 625_000
            self.search_per_second = 5
            self.secondly_headers = False  # legacy API-key-era pair; off for private-app tokens
            self.time_zone = "US/Eastern"
            self.enabled = True
            self.window: deque[int] = deque()
            self.search_window: deque[int] = deque()
            self.daily_used = 0
            self.daily_day: str | None = None
            self.rejected = {"TEN_SECONDLY_ROLLING": 0, "SECONDLY": 0, "DAILY": 0}
            self.counted = 0
        for name, val in (("burst_max", burst_max), ("interval_ms", interval_ms), ("daily_max", daily_max),
                          ("search_per_second", search_per_second), ("secondly_headers", secondly_headers),
                          ("time_zone", time_zone), ("enabled", enabled)):
            if val is not None:
                setattr(self, name, val)

    # ---- windows ---------------------------------------------------------------------------
    def _day(self, now: datetime) -> str:
        return now.astimezone(ZoneInfo(self.time_zone)).date().isoformat()

    def _roll(self, now: datetime, now_ms: int) -> None:
        day = self._day(now)
        if day != self.daily_day:
            self.daily_day, self.daily_used = day, 0
        while self.window and self.window[0] <= now_ms - self.interval_ms:
            self.window.popleft()
        while self.search_window and self.search_window[0] <= now_ms - 1000:
            self.search_window.popleft()

    def check(self, now: datetime, now_ms: int, *, search: bool) -> str | None:
        """Admit one request (counting it) or return the policy name that rejects it."""
        self._roll(now, now_ms)
        if not self.enabled:
            self.daily_used += 1
            self.counted += 1
            return None
        if self.daily_used >= self.daily_max:
            policy = "DAILY"
        elif search and len(self.search_window) >= self.search_per_second:
            policy = "SECONDLY"
        elif not search and len(self.window) >= self.burst_max:
            policy = "TEN_SECONDLY_ROLLING"
        else:
            policy = None
        if policy:
            self.rejected[policy] += 1
            return policy
        self.daily_used += 1
        self.counted += 1
        (self.search_window if search else self.window).append(now_ms)
        return None

    def headers(self, now: datetime, now_ms: int) -> dict[str, str]:
        self._roll(now, now_ms)
        h = {
            "X-HubSpot-RateLimit-Daily": str(self.daily_max),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily_max - self.daily_used)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.interval_ms),
            "X-HubSpot-RateLimit-Max": str(self.burst_max),
            "X-HubSpot-RateLimit-Remaining": str(max(0, self.burst_max - len(self.window))),
        }
        if self.secondly_headers:
            per_sec = max(1, self.burst_max // max(1, self.interval_ms // 1000))
            recent = sum(1 for t in self.window if t > now_ms - 1000)
            h["X-HubSpot-RateLimit-Secondly"] = str(per_sec)
            h["X-HubSpot-RateLimit-Secondly-Remaining"] = str(max(0, per_sec - recent))
        return h

    def daily_resets_at(self, now: datetime) -> datetime:
        local = now.astimezone(ZoneInfo(self.time_zone))
        return (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)

    def view(self, now: datetime, now_ms: int) -> dict:
        self._roll(now, now_ms)
        return {
            "burst_max": self.burst_max, "interval_ms": self.interval_ms,
            "burst_remaining": max(0, self.burst_max - len(self.window)),
            "daily_max": self.daily_max, "daily_used": self.daily_used,
            "daily_remaining": max(0, self.daily_max - self.daily_used),
            "search_per_second": self.search_per_second,
            "search_remaining": max(0, self.search_per_second - len(self.search_window)),
            "rejected": dict(self.rejected), "enabled": self.enabled, "time_zone": self.time_zone,
        }
