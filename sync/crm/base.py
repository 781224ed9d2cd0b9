"""What both CRM connectors share: one error type that says whether retrying can help, the
retry loop, the API budget a run may spend, and the turn that lets the threads of one step wait
for the CRMs side by side."""
from __future__ import annotations

import ipaddress
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit

log = logging.getLogger(__name__)
T = TypeVar("T")
# Which part of a step (engine/sidebyside.py) a thread works for: each part's calls are counted
# apart (Budget.calls_of), so a step's log names its own calls, not those of a part beside it.
PART: ContextVar[str] = ContextVar("crmsync_part", default="")


class CrmError(Exception):
    def __init__(self, message: str, *, crm: str, permanent: bool = False, status: int | None = None,
                 code: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.crm = crm
        self.permanent = permanent  # True: retrying cannot help (validation, 404, revoked credentials)
        self.status = status
        self.code = code
        self.retry_after = retry_after


@dataclass(frozen=True)
class WriteResult:
    """One record's outcome of a connector write, whatever the CRM's wire format: the key the
    caller named it by (an id, an email, an external-id value), whether it was written, the id
    it has in the CRM, whether the write created it, and the CRM's own error code, fields and
    message when it was not."""

    key: str
    ok: bool
    id: str = ""
    created: bool = False
    code: str = ""
    fields: tuple[str, ...] = ()
    message: str = ""
    record: dict | None = None  # HubSpot's answer for the record (its properties), when it sends one
    retried: bool = False       # the request carrying it was sent more than once (an earlier try may have applied it)
    # Salesforce: its clock before the write (SalesforceConnector.answered_before), never later than
    # the stamp the record got
    at: datetime | None = None


def failed(key: str, message: str, *, code: str = "", fields: tuple[str, ...] = ()) -> WriteResult:
    return WriteResult(key=key, ok=False, code=code, fields=fields, message=message)


class BudgetExhausted(CrmError):
    """The run reached the share of the daily API limit it may use (or the CRM refused: limit spent)."""

    def __init__(self, message: str, *, crm: str) -> None:
        super().__init__(message, crm=crm, permanent=True, code="BUDGET")


_CHARGING = threading.Lock()


@dataclass
class Budget:
    """API calls one run may still make against one CRM.

    `allowed` is the configured share of the daily limit minus what earlier runs spent in the
    last 24 hours; `calls` counts this run's requests (retries included: each costs the org)."""

    crm: str
    allowed: int | None = None  # None until the CRM told us its daily limit
    calls: int = 0
    daily_used: int | None = None
    daily_limit: int | None = None
    share: int = 100
    spent_before: int = 0
    by_part: Counter = field(default_factory=Counter, repr=False)

    def charge(self) -> None:
        with _CHARGING:   # a run's pull streams share one connector (pull.pull_all)
            if self.allowed is not None and self.calls >= self.allowed:
                raise BudgetExhausted(
                    f"{self.crm} API budget reached: {self.calls} calls this run, {self.spent_before} by earlier runs "
                    f"in the last 24 h; the sync may use {self.share}% of the daily limit of {self.daily_limit}.",
                    crm=self.crm)
            self.calls += 1
            self.by_part[PART.get()] += 1

    def calls_of(self, part: str) -> int:
        """This run's calls made for one part of a step ("" outside side-by-side parts), the
        parts it ran side by side within itself included ("/0" counts "/0/1")."""
        with _CHARGING:
            return sum(n for name, n in self.by_part.items() if name == part or name.startswith(part + "/"))

    def observe(self, used: int | None, limit: int | None) -> None:
        """Record the CRM's own usage figures from a response header."""
        if limit:
            self.daily_used, self.daily_limit = used, limit
            self.allowed = max(0, limit * self.share // 100 - self.spent_before)
            if used is not None and used >= limit:
                # This answer arrived and is used; only the next request is refused (by charge()).
                self.allowed = min(self.allowed, self.calls)


def sleep(seconds: float) -> None:
    """The retry loop's wait. Looked up at call time, so tests can replace it with one that
    advances the sandbox clock instead of the wall clock."""
    time.sleep(seconds)


def monotonic() -> float:
    """The in-memory rate limiter's clock (ratelimit.py). Tests replace it together with
    `sleep`, so a wait for HubSpot's window moves the sandbox clock the limiter reads."""
    return time.monotonic()


@dataclass
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], None] | None = field(default=None, repr=False)

    def wait(self, seconds: float) -> None:
        (self.sleep or sleep)(seconds)

    def delay(self, attempt: int, error: CrmError) -> float:
        if error.retry_after is not None:
            return min(error.retry_after, self.max_delay)
        # Exponential backoff with full jitter, so parallel workers don't retry in lockstep.
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** attempt))


class Turn:
    """Threads that take turns at everything but waiting for a CRM (engine/sidebyside.py).

    A thread that `holds()` the turn runs alone: its database work, its deciding, its audit
    events, as if it were the only thread, so two parts of one step never write the database
    at once (SQLite has one writer, and a part's reads see the other's writes whole). Where it
    waits for a CRM (`waiting()`: the connectors' calls, their retries and rate-limit waits), it
    lets another holder go on. Never inside a transaction: a thread that waited there would keep
    its database locks while the other ran, so there it keeps the turn. A thread that never
    asked for the turn (every ordinary run) is not affected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()

    def holding(self) -> bool:
        return getattr(self._local, "holding", False)

    @contextmanager
    def held(self) -> Iterator[None]:
        self._lock.acquire()
        self._local.holding = True
        try:
            yield
        finally:
            self._local.holding = False
            self._lock.release()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        from django.db import connection

        if not self.holding() or connection.in_atomic_block:
            yield
            return
        self._local.holding = False
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            self._local.holding = True


TURN = Turn()


def with_retries(call: Callable[[], T], *, policy: RetryPolicy, describe: str) -> T:
    """Run `call`; retry transient CrmErrors with backoff, re-raise permanent ones at once.
    Only idempotent operations may come here (reads, updates, upserts by external id). The
    calls and the waits between them let another part of a step go on (Turn)."""
    with TURN.waiting():
        return _with_retries(call, policy=policy, describe=describe)


def _with_retries(call: Callable[[], T], *, policy: RetryPolicy, describe: str) -> T:
    for attempt in range(policy.attempts):
        try:
            return call()
        except CrmError as error:
            if error.permanent or attempt == policy.attempts - 1:
                raise
            wait = policy.delay(attempt, error)
            log.info("%s: %s; retrying in %.1f s (attempt %d of %d)", describe, error, wait, attempt + 2,
                     policy.attempts)
            policy.wait(wait)
    raise AssertionError("unreachable")


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_safe_scheme(url: str, *, crm: str) -> None:
    """Plain HTTP only to loopback (the sandbox); https everywhere else."""
    scheme = urlsplit(url).scheme
    if scheme == "https" or (scheme == "http" and is_loopback_url(url)):
        return
    raise CrmError(f"{crm} URL {url!r} must use https (plain http is allowed only for 127.0.0.1/localhost).",
                   crm=crm, permanent=True, code="INSECURE_URL")
