"""Shared plumbing of the CRM sandbox: the request/response shapes every emulator speaks,
and the clock all of them read (so tests can advance time)."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str
    path: str                      # without the query string, percent-decoded
    query: dict[str, list[str]]    # parse_qs of the raw query string (keep_blank_values)
    headers: dict[str, str]        # lower-cased header names
    body: bytes = b""

    @classmethod
    def build(cls, method: str, path: str, raw_query: str, headers: dict[str, str], body: bytes) -> Request:
        return cls(method.upper(), path, parse_qs(raw_query, keep_blank_values=True),
                   {k.lower(): v for k, v in headers.items()}, body)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The JSON body; raises ValueError on a malformed one (emulators turn it into a 400)."""
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class Response:
    status: int
    body: Any = None               # bytes/str sent as-is, anything else JSON-encoded
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json;charset=UTF-8"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


class Clock:
    """Sandbox time: real UTC time plus an offset that `/_sandbox/clock` can advance.
    Monotonic per call, so two writes never share a timestamp (SystemModstamp ordering)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._last = datetime.min.replace(tzinfo=timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            t = datetime.now(timezone.utc) + self._offset
            if t <= self._last:
                t = self._last + timedelta(milliseconds=1)
            self._last = t
            return t

    def reset(self) -> None:
        """Back to real time (the sandbox is emptied with it, so going backwards is harmless)."""
        with self._lock:
            self._offset = timedelta(0)
            self._last = datetime.min.replace(tzinfo=timezone.utc)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()
