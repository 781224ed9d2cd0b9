"""Seeded fault injection, applied by the server uniformly to both CRMs.

A rule matches on CRM, HTTP method and path (a glob, or a regex written `re:…`) and fires either
for the next N matching requests (`count`) or with a probability (`rate`, drawn from a seeded RNG
so a failing run can be replayed). Kinds:

* `429`, `500`, `503` — an error response in the CRM's own shape (Salesforce has no 429: see
  `SalesforceEmulator.fault_response`);
* `reset` — the socket is closed without any response;
* `timeout` — the server sleeps `seconds` (past the client's timeout), then handles and answers;
* `lost` — applied-but-lost: the request is handled (the write happens), then the connection drops
  before the response; the fault that makes a naive sync create duplicates.
* `truncated` — the request is handled, the response announces its full length but the connection
  drops half-way through the body (a proxy dying mid-response);
* `malformed` — the request is handled, and the answer is a 200 whose body is not valid JSON.
"""
from __future__ import annotations

import fnmatch
import random
import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field

from sandbox.core import Request

KINDS = ("429", "500", "503", "reset", "timeout", "lost", "truncated", "malformed")
CRMS = ("salesforce", "hubspot", "*")


@dataclass
class FaultRule:
    kind: str
    crm: str = "*"
    method: str = "*"
    path: str = "*"
    rate: float | None = None      # probability per matching request
    count: int | None = None       # or: exactly the next N matching requests
    seconds: float = 5.0           # `timeout` only
    fired: int = 0
    _regex: re.Pattern | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.kind = str(self.kind)
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of {', '.join(KINDS)})")
        if self.crm not in CRMS:
            raise ValueError(f"unknown crm {self.crm!r}")
        if self.rate is None and self.count is None:
            self.count = 1
        if self.rate is not None and not 0 <= float(self.rate) <= 1:
            raise ValueError("rate must be between 0 and 1")
        self._regex = re.compile(self.path[3:]) if self.path.startswith("re:") else None

    def matches(self, crm: str, req: Request) -> bool:
        if self.crm not in ("*", crm) or self.method not in ("*", req.method):
            return False
        if self._regex is not None:
            return self._regex.search(req.path) is not None
        return fnmatch.fnmatchcase(req.path, self.path)

    def public(self) -> dict:
        out = asdict(self)
        out.pop("_regex")
        if self.count is not None:
            out["remaining"] = max(0, self.count - self.fired)
        return out


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rules: list[FaultRule] = []
        self.injected: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def configure(self, rules: list[dict | FaultRule] | None = None, *, seed: int | None = None,
                  append: bool = False) -> list[FaultRule]:
        """Replace (or extend, with `append`) the rules. Each dict is a FaultRule's fields."""
        built = [r if isinstance(r, FaultRule) else FaultRule(**{k: v for k, v in r.items()
                                                                  if k not in ("fired", "remaining")})
                 for r in rules or []]
        with self._lock:
            if seed is not None:
                self.seed, self._rng = seed, random.Random(seed)
            self.rules = (self.rules if append else []) + built
        return built

    def add(self, kind: str, **kw) -> FaultRule:
        return self.configure([FaultRule(kind, **kw)], append=True)[0]

    def clear(self) -> None:
        with self._lock:
            self.rules = []
            self.injected.clear()
            self._rng = random.Random(self.seed)

    def pick(self, crm: str, req: Request) -> FaultRule | None:
        with self._lock:
            for rule in self.rules:
                if not rule.matches(crm, req):
                    continue
                if rule.count is not None:
                    if rule.fired >= rule.count:
                        continue
                elif self._rng.random() >= float(rule.rate or 0):
                    continue
                rule.fired += 1
                self.injected[rule.kind] += 1
                return rule
        return None

    def snapshot(self) -> dict:
        with self._lock:
            return {"seed": self.seed, "rules": [r.public() for r in self.rules], "injected": dict(self.injected)}
