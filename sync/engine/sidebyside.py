"""Parts of one step that wait for different CRMs, run side by side (a step's two directions,
say: one waits for Salesforce's answers, the other for HubSpot's).

Each part runs in a thread of its own holding the connectors' turn (crm/base.Turn): only one
part at a time decides, writes the database or records events, exactly as it would alone;
while one waits for a CRM, the other goes on. So the parts' writes never interleave inside a
transaction, SQLite's one writer is never contended, and a part's order of steps (the order
that makes each multi-step write survive a crash) is its own, unchanged. Only what the parts
share must not depend on which went first: callers give them disjoint records.

Inside a transaction (a caller's, or a test's) another thread's connection would not see its
rows: the parts then run one after another, in the order given, as they do with
SYNC_STEPS_SIDE_BY_SIDE off. Inside a part, parts run
side by side as well, taking the turn from the part that started them while it waits."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings as django_settings
from django.db import connection, connections

from sync.crm.base import PART, TURN


def run(*parts: Callable[[], None]) -> None:
    """Run the parts side by side and wait for all of them; the first part's error (in the order
    given) is raised once every part has finished, so none is cut off in the middle of a write."""
    if len(parts) < 2 or connection.in_atomic_block or not django_settings.SYNC_STEPS_SIDE_BY_SIDE:
        for part in parts:
            part()
        return

    outer = PART.get()

    def one(number: int, part: Callable[[], None]) -> None:
        PART.set(f"{outer}/{number}")   # its calls counted apart (cycle.step)
        try:
            with TURN.held():
                part()
        finally:
            connections.close_all()  # this thread's own

    # Inside a part, waiting for the parts within is waiting too: they take the turn meanwhile.
    with TURN.waiting(), ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="side") as pool:
        futures = [pool.submit(one, number, part) for number, part in enumerate(parts)]
    for future in futures:
        future.result()
