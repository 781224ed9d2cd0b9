"""Writing audit events. Every service that changes something calls `record_event` itself
(no signals), so the call site shows the audit row being written."""
from __future__ import annotations

from typing import Any

from sync.models import AuditEvent, SyncRun

SYNC_ACTOR = "sync"


def record_event(*, action: str, target_type: str, target_id: str, target_repr: str = "", rule: str = "",
                 actor=None, run: SyncRun | None = None, before: Any = None, after: Any = None,
                 message: str = "") -> AuditEvent:
    return AuditEvent.objects.create(**event_fields(
        action=action, target_type=target_type, target_id=target_id, target_repr=target_repr, rule=rule,
        actor=actor, run=run, before=before, after=after, message=message))


def event_fields(*, action: str, target_type: str, target_id: str, target_repr: str = "", rule: str = "",
                 actor=None, run: SyncRun | None = None, before: Any = None, after: Any = None,
                 message: str = "") -> dict[str, Any]:
    """The fields of one event, for bulk_create by the sync engine."""
    return {
        "action": action, "rule": rule, "target_type": target_type, "target_id": str(target_id),
        "target_repr": target_repr[:200], "actor": actor,
        "actor_name": actor.get_username() if actor is not None else SYNC_ACTOR,
        "run": run, "before": before, "after": after, "message": message,
    }
