"""Salesforce record ids: 15-character case-sensitive ids plus the 3-character case-safe suffix
that makes the 18-character form the API always returns (reference §3.1)."""
from __future__ import annotations

import random
import string

KEY_PREFIXES = {"Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q"}
TYPE_BY_PREFIX = {prefix: name for name, prefix in KEY_PREFIXES.items()}

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ID_CHARS = set(_BASE62)


def checksum(id15: str) -> str:
    """One suffix char per 5-char chunk: bit j set when chunk char j is an upper-case letter."""
    out = []
    for i in range(0, 15, 5):
        bits = sum(1 << j for j, ch in enumerate(id15[i:i + 5]) if "A" <= ch <= "Z")
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def to18(id15: str) -> str:
    if len(id15) != 15:
        raise ValueError(f"not a 15-character id: {id15!r}")
    return id15 + checksum(id15)


def normalize(value: object) -> str | None:
    """The canonical 18-character id for a 15- or 18-character input, or None when malformed.

    An 18-character id is case-insensitive (that is the point of the suffix), so its case is
    restored from the suffix; a suffix that disagrees with the body makes the id malformed."""
    if not isinstance(value, str) or len(value) not in (15, 18) or not set(value) <= _ID_CHARS:
        return None
    if len(value) == 15:
        return to18(value)
    suffix = value[15:].upper()
    body = list(value[:15])
    for chunk, ch in enumerate(suffix):
        bits = _SUFFIX_ALPHABET.find(ch)
        if bits < 0:
            return None
        for j in range(5):
            c = body[chunk * 5 + j]
            if c.isalpha():
                body[chunk * 5 + j] = c.upper() if bits >> j & 1 else c.lower()
            elif bits >> j & 1:
                return None  # a suffix bit marks a digit as upper-case: not a real id
    return to18("".join(body))


def sobject_type(id18: str) -> str | None:
    return TYPE_BY_PREFIX.get(id18[:3])


class IdFactory:
    """Makes new ids: key prefix + 2-char "pod" + reserved "0" + 9 base-62 digits + suffix.

    The counter starts at a seeded random offset so ids mix upper- and lower-case letters and
    the checksum matters (a counter from 1 would give all-digit bodies and suffix "AAA")."""

    def __init__(self, seed: int = 0) -> None:
        self._next = random.Random(seed).randrange(62 ** 7, 62 ** 8)

    def new(self, sobject: str) -> str:
        n, self._next = self._next, self._next + 1
        digits = []
        for _ in range(9):
            n, r = divmod(n, 62)
            digits.append(_BASE62[r])
        return to18(KEY_PREFIXES[sobject] + "Sb0" + "".join(reversed(digits)))
