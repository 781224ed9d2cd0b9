"""Deterministic crashes for crash tests: the sandbox kills the client process (SIGKILL) at the
k-th CRM write it receives — before applying it, or right after applying it and before answering
(the worst case: the CRM has the write, the client never learns it did). Random kills find some
bugs; a kill at every write boundary of a run, one world per boundary, proves a multi-step write
ends right after a crash between any two of its steps.

A write is any request that changes CRM data: every POST/PATCH/PUT/DELETE except the read-only
POSTs (HubSpot search and batch reads, OAuth token requests). Armed with no pid, the killer only
counts writes (how many boundaries a clean run has)."""
from __future__ import annotations

import os
import signal
import threading

from sandbox.core import Request

MODES = ("before", "after")


def is_write(req: Request) -> bool:
    if req.method == "GET":
        return False
    path = req.path.rstrip("/")
    if req.method == "POST" and (path.endswith(("/search", "/batch/read")) or path.startswith("/services/oauth2/")):
        return False
    return True


class Killer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.disarm()

    def arm(self, *, pid: int | None = None, after_writes: int | None = None, mode: str = "after") -> dict:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if pid is not None and (after_writes is None or int(after_writes) < 1):
            raise ValueError("after_writes must be 1 or more")
        with self._lock:
            self.pid, self.after = (int(pid) if pid is not None else None), (int(after_writes) if after_writes else None)
            self.mode, self.writes, self.fired = mode, 0, False
        return self.view()

    def disarm(self) -> dict:
        with self._lock:
            self.pid = self.after = None
            self.mode, self.writes, self.fired = "after", 0, False
        return {"writes": 0, "fired": False}

    def view(self) -> dict:
        return {"pid": self.pid, "after_writes": self.after, "mode": self.mode, "writes": self.writes,
                "fired": self.fired}

    def on_request(self, req: Request) -> str | None:
        """Count a write; when it is the k-th of an armed killer, say when to kill ("before" or "after")."""
        if not is_write(req):
            return None
        with self._lock:
            self.writes += 1
            if self.pid is None or self.fired or self.writes != self.after:
                return None
            self.fired = True
            return self.mode

    def fire(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except (ProcessLookupError, TypeError):
            pass
