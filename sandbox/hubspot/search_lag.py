"""How long a HubSpot write takes to reach the search index (reference §2.3: "a few moments";
reports of tens of seconds in hubspot-api-php#59, craft-freeform#2500).

Each write (create, update, upsert, batch write, merge, archive) draws its own delay, uniformly
between `min_ms` and `max_ms` of *sandbox* time, from an RNG seeded with the sandbox seed, so two
writes can become searchable in the opposite order to the one they were made in. Association
changes are not indexed here (the search's `associations.*` pseudo-property reads them live).
Records loaded through `load_records` / the control API are indexed at once.

OFF (0) by default; `RECOMMENDED` is the value to switch on for runs that should meet the lag.
"""
from __future__ import annotations

import random

RECOMMENDED = {"min_ms": 1000, "max_ms": 4000}
OFF = {"min_ms": 0, "max_ms": 0}


def parse(value) -> tuple[int, int]:
    """`{"min_ms": a, "max_ms": b}`, `(a, b)`, a number (both ends) or None/0 (off) → (a, b)."""
    if value is None or value is False:
        return 0, 0
    if isinstance(value, dict):
        unknown = set(value) - {"min_ms", "max_ms"}
        if unknown:
            raise ValueError(f"unknown search_lag setting(s): {', '.join(sorted(unknown))}")
        lo, hi = value.get("min_ms", 0), value.get("max_ms", value.get("min_ms", 0))
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        lo = hi = value
    else:
        raise ValueError(f"search_lag must be {{'min_ms': N, 'max_ms': M}}, (N, M) or N, not {value!r}")
    if isinstance(lo, bool) or isinstance(hi, bool) or not all(isinstance(v, (int, float)) for v in (lo, hi)):
        raise ValueError(f"search_lag min_ms/max_ms must be numbers, not {lo!r}/{hi!r}")
    lo, hi = int(lo), int(hi)
    if lo < 0 or hi < lo:
        raise ValueError(f"search_lag needs 0 <= min_ms <= max_ms, got {lo}..{hi}")
    return lo, hi


class SearchLag:
    """The delay policy shared by the three object stores of one emulator."""

    def __init__(self, value=None, seed: int = 0) -> None:
        self.default = parse(value)   # what reset() goes back to (the constructor's choice)
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        self.min_ms, self.max_ms = self.default
        self.rng = random.Random(f"hubspot-search-lag:{self.seed}")

    def set(self, value) -> None:
        self.min_ms, self.max_ms = parse(value)

    @property
    def on(self) -> bool:
        return self.max_ms > 0

    def draw(self) -> int:
        if self.min_ms == self.max_ms:
            return self.min_ms
        return self.rng.randint(self.min_ms, self.max_ms)

    def view(self) -> dict:
        return {"min_ms": self.min_ms, "max_ms": self.max_ms}
