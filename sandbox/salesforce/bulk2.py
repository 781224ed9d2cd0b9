"""Bulk API 2.0 query jobs (reference §6): `POST jobs/query`, `GET jobs/query/{id}` (poll),
`GET jobs/query/{id}/results?maxRecords=&locator=` (CSV pages), `PATCH` (abort) and `DELETE`.

A job is not done when it is created: each look at it moves it one state on (UploadComplete →
InProgress → JobComplete after `polls_to_complete` polls), so a client must poll as it would in
a real org, yet a test waits for nothing. The query runs through the REST query engine when the
job completes, and the CSV is cut from that snapshot: writes made afterwards are not in it.
Every HTTP call is one call of the daily allocation (the emulator counts it before routing:
reference §5 leaves this UNCONFIRMED and says to assume so)."""
from __future__ import annotations

import base64
import csv
import io
import itertools
import re
from collections import OrderedDict
from dataclasses import dataclass, field

from sandbox import ids
from sandbox.core import Request, Response
from sandbox.salesforce.query import QueryEngine, compiled
from sandbox.salesforce.schema import SYSTEM_USER_ID, format_datetime
from sandbox.salesforce.store import ApiError
from sandbox.soql import Column, Compiled, SoqlError

MIN_VERSION = 47.0          # jobs/query exists from v47.0
DEFAULT_PAGE = 50_000       # UNCONFIRMED: "the server uses a default value based on the service"
MAX_JOBS = 200              # oldest jobs are dropped first (a real org keeps them 7 days)
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
# What Bulk 2.0 refuses that REST queryAll accepts (reference §6). UNCONFIRMED: the exact codes and
# messages; a 400 INVALIDJOB is what the Bulk 2.0 error list names for a job that cannot run.
_UNSUPPORTED = [(re.compile(r"\bgroup\s+by\b", re.I), "GROUP BY"), (re.compile(r"\btypeof\b", re.I), "TYPEOF"),
                (re.compile(r"\bfields\s*\(", re.I), "FIELDS()"), (re.compile(r"\(\s*select\b", re.I),
                                                                      "parent-to-child subqueries")]
NOT_FOUND = ApiError("NOT_FOUND", "The requested resource does not exist", status=404)


@dataclass
class Job:
    id: str
    operation: str
    sobject: str
    query: Compiled
    version: str
    delimiter: str
    line_ending: str
    created: int
    state: str = "UploadComplete"
    polls: int = 0
    modstamp: int = 0
    lines: list[str] = field(default_factory=list)   # the CSV rows of the snapshot, header excluded
    header: str = ""

    def view(self) -> dict:
        out = {"id": self.id, "operation": self.operation, "object": self.sobject,
               "createdById": SYSTEM_USER_ID, "createdDate": format_datetime(self.created),
               "systemModstamp": format_datetime(self.modstamp or self.created), "state": self.state,
               "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(self.version),
               "jobType": "V2Query", "lineEnding": self.line_ending, "columnDelimiter": self.delimiter}
        if self.state in ("JobComplete", "Aborted", "Failed") or self.polls:
            out.update(numberRecordsProcessed=len(self.lines), retries=0, totalProcessingTime=len(self.lines) // 100)
        return out


def _locator(offset: int) -> str:
    # Real locators are opaque short strings (v49+: "MTAwMDA" is base64 of "10000").
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str) -> int | None:
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
    except ValueError:
        return None
    return int(text) if text.isdigit() else None


def _cell(kind: str, v: object) -> str:
    """A value as Bulk 2.0's CSV writes it: blank for null, `true`/`false`, datetimes in `Z` form."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if kind == "datetime":
        return format_datetime(v).replace("+0000", "Z")
    return str(v)


class Bulk2Jobs:
    def __init__(self, queries: QueryEngine, store, now, order_mode) -> None:
        self.queries, self.store, self._now, self._order_mode = queries, store, now, order_mode
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.polls_to_complete = 2
        self._ids = itertools.count(1)

    def handle(self, req: Request, version: str, parts: list[str]) -> Response:
        """`parts` after `jobs/query`."""
        if float(version) < MIN_VERSION:
            raise NOT_FOUND
        if not parts:
            _method(req, "POST")
            return Response(200, self.create(req, version).view())
        job = self.jobs.get(ids.normalize(parts[0]) or "")
        if job is None:
            raise NOT_FOUND
        if len(parts) == 2 and parts[1] == "results":
            _method(req, "GET")
            return self.results(req, job, version)
        if len(parts) != 1:
            raise NOT_FOUND
        _method(req, "GET", "PATCH", "DELETE")
        if req.method == "DELETE":
            del self.jobs[job.id]
            return Response(204)
        if req.method == "PATCH":
            return Response(200, self.abort(req, job).view())
        self.poll(job)
        return Response(200, job.view())

    def create(self, req: Request, version: str) -> Job:
        try:
            body = req.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ApiError("JSON_PARSER_ERROR", "Unexpected character: was expecting a JSON value at [line:1, column:1]")
        operation, text = body.get("operation"), body.get("query")
        if operation not in ("query", "queryAll"):
            raise ApiError("INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        if not isinstance(text, str) or not text.strip():
            raise ApiError("INVALIDJOB", "InvalidJob : query is required for a query job")
        delimiter, line_ending = body.get("columnDelimiter", "COMMA"), body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS or body.get("contentType", "CSV") != "CSV":
            raise ApiError("INVALIDJOB", "InvalidJob : unsupported contentType, columnDelimiter or lineEnding")
        for pattern, what in _UNSUPPORTED:
            if pattern.search(text):
                raise ApiError("INVALIDJOB", f"InvalidJob : {what} is not supported in Bulk API 2.0 queries")
        try:
            c = compiled(text)
        except SoqlError as e:
            raise ApiError(e.code, e.message) from None
        if c.count:
            raise ApiError("INVALIDJOB", "InvalidJob : Aggregate queries (COUNT()) are not supported in Bulk API 2.0 "
                                         "queries")
        if c.offset:
            raise ApiError("INVALIDJOB", "InvalidJob : OFFSET is not supported in Bulk API 2.0 queries")
        job = Job(ids.to18(f"750Sb0{next(self._ids):09d}"), operation, c.sobject.name, c, version, delimiter,
                  line_ending, self._now())
        self.jobs[job.id] = job
        while len(self.jobs) > MAX_JOBS:
            self.jobs.popitem(last=False)
        return job

    def poll(self, job: Job) -> None:
        """One look at the job: UploadComplete → InProgress, then JobComplete after enough polls."""
        if job.state in ("JobComplete", "Aborted", "Failed"):
            return
        job.polls += 1
        job.modstamp = self._now()
        if job.state == "UploadComplete":
            job.state = "InProgress"
        if job.polls >= self.polls_to_complete:
            self._run(job)

    def _run(self, job: Job) -> None:
        c = job.query
        _, rows = self.queries.run(c.text, include_deleted=job.operation == "queryAll",
                                   order_mode=self._order_mode(), now=self._now())
        delim, end = DELIMITERS[job.delimiter], LINE_ENDINGS[job.line_ending]
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=delim, lineterminator=end, quoting=csv.QUOTE_ALL)
        writer.writerow([_header(col) for col in c.columns])
        job.header = buf.getvalue()
        getters = [self._getter(col) for col in c.columns]
        lines = []
        for rec in rows:
            buf.seek(0)
            buf.truncate()
            writer.writerow([get(rec) for get in getters])
            lines.append(buf.getvalue())
        job.lines, job.state, job.modstamp = lines, "JobComplete", self._now()

    def _getter(self, col: Column):
        kind, pos = col.field.kind, col.field.pos
        if col.relationship is None:
            return lambda rec: _cell(kind, rec[pos])
        rel, get = col.relationship.pos, self.store.get

        def parent_value(rec):
            parent = get(rec[rel])
            return "" if parent is None else _cell(kind, parent[pos])
        return parent_value

    def abort(self, req: Request, job: Job) -> Job:
        try:
            body = req.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            raise ApiError("INVALIDJOBSTATE", "InvalidJobState : a query job can only be set to Aborted")
        if job.state in ("JobComplete", "Aborted", "Failed"):
            raise ApiError("INVALIDJOBSTATE", f"InvalidJobState : Job is already {job.state}")
        job.state, job.modstamp = "Aborted", self._now()
        return job

    def results(self, req: Request, job: Job, version: str) -> Response:
        if version != job.version:
            raise ApiError("INVALIDJOB", f"InvalidJob : The job was created in API version {job.version}: get its "
                                         "results with that version", status=409)
        if job.state != "JobComplete":
            # Documented shape (Bulk 2.0 guide v222 `query_get_job_results.htm`): 412 JOB_NOT_COMPLETE.
            status = {"UploadComplete": "UPLOAD_COMPLETE", "InProgress": "IN_PROGRESS"}.get(job.state, job.state.upper())
            raise ApiError("JOB_NOT_COMPLETE", "can only download query results of successfully completed bulk job "
                                               f"with status: JOB_COMPLETE. Current status: {status}", status=412)
        size = DEFAULT_PAGE
        raw_max = req.arg("maxRecords")
        if raw_max is not None:
            if not raw_max.isdigit() or int(raw_max) < 1:
                raise ApiError("INVALIDPARAMETER", f"InvalidParameter : maxRecords must be a positive number: {raw_max}")
            size = int(raw_max)
        start = 0
        raw_locator = req.arg("locator")
        if raw_locator:
            start = _offset(raw_locator)
            if start is None or start > len(job.lines):
                raise ApiError("INVALIDLOCATOR", f"InvalidLocator : invalid locator: {raw_locator}")
        chunk = job.lines[start:start + size]
        end = start + len(chunk)
        headers = {"Sforce-NumberOfRecords": str(len(chunk)),
                   "Sforce-Locator": _locator(end) if end < len(job.lines) else "null"}
        return Response(200, job.header + "".join(chunk), headers, content_type="text/csv")


def _header(col: Column) -> str:
    return col.field.name if col.relationship is None else f"{col.relationship.relationship}.{col.field.name}"


def _method(req: Request, *allowed: str) -> None:
    if req.method not in allowed:
        raise ApiError("METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not allowed. Allowed are "
                       f"{','.join(allowed)}", status=405)
