"""CSV exports (the audit history, sync errors), streamed row by row: never the whole list in
memory. Free-text cells a spreadsheet would read as a formula are neutralised."""
from __future__ import annotations

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse

# A cell starting with one of these is read as a formula by spreadsheets (OWASP, CSV injection);
# TAB and CR too: some strip them and read what follows.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe(text: str) -> str:
    """Neutralise spreadsheet formulas in free text (CSV injection)."""
    return "'" + text if text[:1] in FORMULA_STARTS else text


class _Echo:
    def write(self, value):
        return value


def streamed_csv(header: list[str], rows: Iterable[list], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
