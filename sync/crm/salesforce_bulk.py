"""Bulk API 2.0 query results (CSV) as the records a REST query returns, so the engine's schema
functions read either without knowing which API answered.

CSV has only strings: the object's describe says which columns are booleans, numbers or
datetimes. An empty cell is null (Salesforce stores no empty strings). Datetimes come as
`2024-01-02T03:04:05.000Z` and become REST's `2024-01-02T03:04:05.000+0000`, so a row pulled
through Bulk has the same payload as through REST and a later REST pull finds nothing changed.
A parent field (`Account.Name`) becomes a nested object as in REST, without its `attributes`,
or null when every one of its cells is empty (CSV cannot tell an empty parent field from none)."""
from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator

PAGE = 1000   # records handed on at a time (the engine joins them into its batches: pull.batched)
_FROM = re.compile(r"\bfrom\s+([A-Za-z_][A-Za-z0-9_]*)", re.I)


def sobject_of(soql: str) -> str:
    m = _FROM.search(soql)
    if not m:
        raise ValueError(f"no FROM in {soql!r}")
    return m.group(1)


def _datetime(text: str) -> str:
    return text[:-1] + "+0000" if text.endswith("Z") else text


def _number(text: str) -> float:
    return float(text)


CONVERT: dict[str, Callable[[str], object]] = {
    "boolean": lambda text: text == "true", "int": int, "double": _number, "currency": _number,
    "percent": _number, "datetime": _datetime,
}


def _lines(text: str) -> Iterator[str]:
    """The page's lines, ends kept (a quoted cell may hold a line break: csv.reader joins them),
    sliced one at a time: io.StringIO copies the page into a buffer of four bytes a character
    (42 MB for a 50,000-row page of 10 MB, measured), on top of the page itself."""
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end + 1]
        start = end + 1


def records(page: str, *, sobject: str, types: dict[str, str], version: str) -> Iterator[list[dict]]:
    """One CSV results page (header row first) as lists of at most PAGE REST-shaped records."""
    reader = csv.reader(_lines(page))
    header = next(reader, None)
    if not header:
        return
    columns = []
    for name in header:
        parent, _, field = name.rpartition(".")
        convert = None if parent else CONVERT.get(types.get(name, ""))
        columns.append((parent, field, convert))
    url = f"/services/data/v{version}/sobjects/{sobject}/"
    chunk: list[dict] = []
    for row in reader:
        rec: dict = {"attributes": {"type": sobject, "url": url}}
        for (parent, field, convert), text in zip(columns, row, strict=True):
            value = None if text == "" else convert(text) if convert else text
            if parent:
                rec.setdefault(parent, {})[field] = value
            else:
                rec[field] = value
        for parent in {p for p, _, _ in columns if p}:
            if all(v is None for v in rec[parent].values()):
                rec[parent] = None
        if rec.get("Id"):
            rec["attributes"]["url"] = url + rec["Id"]
        chunk.append(rec)
        if len(chunk) >= PAGE:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
