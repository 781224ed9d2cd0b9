"""The state one sync run carries through its phases: connectors, settings, counters, and the
audit events and record errors waiting to be written with the next database batch."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import F
from django.utils import timezone

from sync.audit import event_fields
from sync.engine import bulk
from sync.models import AuditEvent, RecordError, SyncRun, SyncSettings

COUNTERS = ("pulled", "linked", "switched", "lost_primary", "created", "deleted", "field_changes", "errors")


@dataclass
class RunContext:
    run: SyncRun
    settings: SyncSettings
    sf: Any
    hs: Any
    counts: Counter = field(default_factory=Counter)
    events: list[dict] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    # (operation, record id) written without an error: their earlier errors are no longer current
    succeeded: set[tuple[str, str]] = field(default_factory=set)
    stages_refreshed: bool = False  # the deal-stage mapping was brought up to date this run (stages.refresh)
    deal_companies: dict[str, tuple[str, ...]] = field(default_factory=dict)  # deal → its companies, as read this run
    _open_errors: bool | None = None  # does any record error wait for resolution (wrote)
    _sf_flushed: int = 0  # API calls already added to the run's figures
    _created_people: int = 0  # Salesforce people this run created so far (created_person_seq)
    _hs_flushed: int = 0

    @staticmethod
    def writes_behind() -> bool:
        """May a step send one chunk's writes from a thread while it decides the next (the field
        sync)? On PostgreSQL, outside a transaction. SQLite has one writer at a time: the
        sending thread's own writes (the HubSpot ledger's) would wait for the deciding thread's,
        and a transaction's rows (a test's) are invisible to the thread's connection."""
        return connection.vendor == "postgresql" and not connection.in_atomic_block

    def created_person_seq(self, n: int) -> int:
        """The first of `n` pull sequence numbers for people this run creates in Salesforce: after
        every record this run's pull numbered (pull.CREATED_BLOCK), where a pull would return them (R3)."""
        from sync.engine.pull import CREATED_BLOCK, SEQ_BLOCK

        first = (self.run.pk << 32) + CREATED_BLOCK * SEQ_BLOCK + self._created_people
        self._created_people += n
        return first

    def event(self, **kwargs) -> None:
        self.events.append(event_fields(run=self.run, **kwargs))

    def record_error(self, *, crm: str, object_type: str, record_id: str, operation: str, message: str,
                     code: str = "") -> None:
        from sync.crm.explain import family

        self.errors.append(RecordError(run=self.run, crm=crm, object_type=object_type, record_id=record_id or "",
                                       operation=operation, code=code[:60], family=family(code),
                                       message=message[:2000]))
        self.counts["errors"] += 1

    def wrote(self, operation: str, record_ids) -> None:
        """Records written without an error: their open errors of `operation` are resolved at the
        next flush (only when some error is open at all: one cheap check a run)."""
        if self._open_errors is None:
            self._open_errors = RecordError.objects.filter(resolved_at__isnull=True).exists()
        if self._open_errors:
            self.succeeded.update((operation, i) for i in record_ids)

    def reject_row(self, row, exc: Exception) -> None:
        """A pulled record the mirror refused (mirror.upsert's `reject`): a record error that says
        what happened and what to do; the record is read again when it next changes."""
        crm, key = ("hubspot", row.hs_id) if hasattr(row, "hs_id") else ("salesforce", row.sf_id)
        name = row._meta.verbose_name
        fix = "HubSpot" if crm == "hubspot" else "Salesforce"
        self.record_error(crm=crm, object_type=name, record_id=key, operation="store", code="UNSTORABLE",
                          message=f"This {name}'s data could not be stored ({exc.__class__.__name__}: {exc}). "
                                  f"Correct the unusual value in {fix}; the record is synced again once it changes there.")

    def flush(self) -> None:
        """Write pending events and errors, and move the run's counters and API-call figures.
        Called inside the same short transaction as the mirror/link changes they describe."""
        if self.events:
            bulk.insert(AuditEvent, [bulk.build(AuditEvent, e) for e in self.events])
            self.events.clear()
        if self.succeeded:
            by_operation: dict[str, list[str]] = {}
            for operation, record_id in self.succeeded:
                by_operation.setdefault(operation, []).append(record_id)
            for operation, ids in by_operation.items():
                RecordError.objects.filter(resolved_at__isnull=True, operation=operation, record_id__in=ids).update(
                    resolved_at=timezone.now())
            self.succeeded.clear()
        if self.errors:
            bulk.insert(RecordError, self.errors)
            self.errors.clear()
        updates = {name: F(name) + self.counts[name] for name in COUNTERS if self.counts[name]}
        self.counts.clear()
        # API calls as increments too: the parts of a parallel run add up into one run.
        sf_calls, hs_calls = self.sf.budget.calls, self.hs.budget.calls
        if sf_calls > self._sf_flushed:
            updates["sf_api_calls"] = F("sf_api_calls") + (sf_calls - self._sf_flushed)
        if hs_calls > self._hs_flushed:
            updates["hs_api_calls"] = F("hs_api_calls") + (hs_calls - self._hs_flushed)
        self._sf_flushed, self._hs_flushed = sf_calls, hs_calls
        updates["heartbeat_at"] = timezone.now()
        SyncRun.objects.filter(pk=self.run.pk).update(**updates)

    def progress(self, *, phase: str | None = None, done: int | None = None, total: int | None = None) -> None:
        fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
        if phase:
            fields["phase"] = phase
        if total is not None:
            fields["progress_total"] = total
            fields["progress_done"] = 0
        if done is not None:
            fields["progress_done"] = done
        SyncRun.objects.filter(pk=self.run.pk).update(**fields)
