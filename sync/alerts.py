"""The admins' alert digest: one email when something went wrong since the last digest — contacts
that lost their primary, new duplicate groups, records that failed to sync — with counts, a few
examples and links into the console (CONSOLE_URL). Its django-q2 schedule
(ALERTS_INTERVAL_MINUTES, services.ensure_schedule) runs `send_digest`, which sends nothing when
nothing is new.

What a digest reported is kept (AlertSeen) while the problem stays open, so the next one leaves it
out, and a problem that went away and came back is news again. The problems are claimed in one
transaction before the mail goes out, so a second digest at the same moment (or the task run
twice) finds nothing new; they are released when the mail server refuses the message, or when a
worker was killed while sending (that digest may then arrive twice: never not at all)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from sync.audit import record_event
from sync.models import AlertDigest, AlertSeen, AuditEvent, ContactLink, DuplicateGroup, LinkStatus, RecordError
from sync.roles import ADMIN

log = logging.getLogger(__name__)

EXAMPLES = 5
ERROR_LOOKBACK = timedelta(hours=1)   # a run that committed its errors after the last digest looked
FIRST_ERRORS = timedelta(days=1)      # the first digest: the last day's errors, not every one ever kept
STALE = timedelta(minutes=15)         # a digest "sending" this long lost its worker (EMAIL_TIMEOUT is 30 s)
BATCH = 1000
MEMBERS = {"r2": "records", "r7": "HubSpot contacts", "r9": "companies"}


@dataclass
class Example:
    text: str
    url: str


@dataclass
class Section:
    name: str       # the counts' key: lost_primary, duplicate_groups, sync_errors
    title: str
    count: int
    examples: list[Example]
    more: str       # the whole list in the console
    keys: list[tuple[str, str]] = field(default_factory=list, repr=False)  # AlertSeen (kind, key) to claim


def link(name: str, *args, query: dict | None = None) -> str:
    return settings.CONSOLE_URL + reverse(name, args=args) + (f"?{urlencode(query)}" if query else "")


def recipients() -> list[str]:
    """Active admins (the admin role group, or superusers) with an email address."""
    users = get_user_model().objects.filter(Q(is_superuser=True) | Q(groups__name=ADMIN), is_active=True) \
        .exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def send_digest() -> AlertDigest | None:
    """Email the admins what is new since the last digest; None when alerts are off, no admin has
    an address or nothing is new. Safe to run twice: the second finds nothing new."""
    if not settings.ALERTS_EMAIL:
        return None
    to = recipients()
    if not to:
        log.warning("Alerts are on, but no admin has an email address: no digest sent.")
        return None
    _release_stale()
    try:
        with transaction.atomic():
            claimed = _claim(to)
    except IntegrityError:  # a digest running at the same moment claimed these problems first
        return None
    if claimed is None:
        return None
    digest, body = claimed
    message = EmailMessage(digest.subject, body, settings.DEFAULT_FROM_EMAIL, to,
                           headers={"Auto-Submitted": "auto-generated"})  # RFC 3834: no auto-replies
    try:
        message.send()
    except Exception as exc:  # the mail server refused or could not be reached: report these next time
        _release(digest, f"{exc.__class__.__name__}: {exc}"[:1000])
        log.warning("The alert digest %s could not be sent (%s); its problems go into the next one.",
                    digest.pk, exc.__class__.__name__)
        digest.refresh_from_db()
        return digest
    with transaction.atomic():
        AlertDigest.objects.filter(pk=digest.pk).update(status=AlertDigest.Status.SENT, sent_at=timezone.now())
        record_event(action=AuditEvent.Action.ALERT_SENT, target_type="alerts", target_id=str(digest.pk),
                     target_repr=digest.subject, after={"recipients": to, **digest.counts},
                     message=f"Alert digest sent to {len(to)} admin(s): {digest.subject.removeprefix('crmsync: ')}.")
    digest.refresh_from_db()
    return digest


def _claim(to: list[str]) -> tuple[AlertDigest, str] | None:
    previous = AlertDigest.objects.filter(status=AlertDigest.Status.SENT).order_by("-created_at").first()
    _prune()
    sections = [_lost_primaries(), _groups(), _errors(previous)]
    if not any(s.count for s in sections):
        return None
    counts = {s.name: s.count for s in sections}
    digest = AlertDigest.objects.create(recipients=to, counts=counts, subject=subject(counts))
    for section in sections:
        for i in range(0, len(section.keys), BATCH):
            AlertSeen.objects.bulk_create([AlertSeen(digest=digest, kind=kind, key=key)
                                           for kind, key in section.keys[i:i + BATCH]])
    body = render_to_string("sync/alert_digest.txt", {
        "sections": [s for s in sections if s.count], "previous": previous, "console": link("sync:overview"),
        "interval": settings.ALERTS_INTERVAL_MINUTES})
    return digest, body


def subject(counts: dict[str, int]) -> str:
    lost, groups, errors = counts["lost_primary"], counts["duplicate_groups"], counts["sync_errors"]
    parts = [f"{lost} contact{'s' if lost != 1 else ''} lost {'their' if lost != 1 else 'its'} primary" if lost else "",
             f"{groups} new duplicate group{'s' if groups != 1 else ''}" if groups else "",
             f"{errors} new sync error{'s' if errors != 1 else ''}" if errors else ""]
    return "crmsync: " + ", ".join(p for p in parts if p)


def _lost_primaries() -> Section:
    seen = AlertSeen.objects.filter(kind=AlertSeen.LOST_PRIMARY, key=OuterRef("hs_contact__hs_id"))
    new = ContactLink.objects.filter(status=LinkStatus.LOST_PRIMARY).filter(~Exists(seen))
    keys = [(AlertSeen.LOST_PRIMARY, hs_id) for hs_id in new.values_list("hs_contact__hs_id", flat=True)]
    examples = []
    for contact_link in new.select_related("hs_contact").order_by("-since")[:EXAMPLES]:
        c = contact_link.hs_contact
        why = contact_link.status_reason or "no longer syncing with Salesforce"
        examples.append(Example(f"{c.name or c.email or c.hs_id} <{c.email or 'no email'}>: {why}",
                                link("sync:contact", c.hs_id)))
    return Section("lost_primary", "Contacts that lost their primary", len(keys), examples,
                   link("sync:contacts", query={"status": "lost_primary"}), keys)


def _groups() -> Section:
    new = DuplicateGroup.objects.standing().filter(
        ~Exists(AlertSeen.objects.filter(kind=OuterRef("kind"), key=OuterRef("key"))))   # "not a duplicate" is no news
    keys = list(new.values_list("kind", "key"))
    examples = [Example(f"{g.get_kind_display()}: {g.key}, {g.size} {MEMBERS[g.kind]}",
                        link("sync:duplicates", query={"kind": g.kind, "q": g.key}))
                for g in new.order_by("-size", "kind", "key")[:EXAMPLES]]
    return Section("duplicate_groups", "New duplicate groups", len(keys), examples, link("sync:duplicates"), keys)


def error_key(crm: str, object_type: str, operation: str, record_id: str) -> str:
    """One failing record and operation: the same error again in the next runs is no news."""
    return "|".join((crm, object_type, operation, record_id))


def _errors(previous: AlertDigest | None) -> Section:
    since = previous.created_at - ERROR_LOOKBACK if previous else timezone.now() - FIRST_ERRORS
    newest: dict[str, RecordError] = {}
    for e in RecordError.objects.filter(resolved_at__isnull=True, created_at__gte=since).order_by("-created_at", "-pk") \
            .only("run_id", "crm", "object_type", "record_id", "operation", "message", "created_at").iterator():
        newest.setdefault(error_key(e.crm, e.object_type, e.operation, e.record_id), e)
    keys = list(newest)
    for i in range(0, len(keys), BATCH):
        for key in AlertSeen.objects.filter(kind=AlertSeen.ERROR, key__in=keys[i:i + BATCH]).values_list("key", flat=True):
            newest.pop(key)
    examples = [Example(f"{e.get_crm_display()} {e.object_type} {e.record_id or '(new record)'}, {e.operation}: "
                        f"{e.message[:300]}", link("sync:run", e.run_id)) for e in list(newest.values())[:EXAMPLES]]
    return Section("sync_errors", "New sync errors (records that failed)", len(newest), examples, link("sync:runs"),
                   [(AlertSeen.ERROR, key) for key in newest])


def _prune() -> None:
    """Forget the reported problems that are no longer open: if they come back, they are news."""
    lost = ContactLink.objects.filter(status=LinkStatus.LOST_PRIMARY, hs_contact__hs_id=OuterRef("key"))
    AlertSeen.objects.filter(kind=AlertSeen.LOST_PRIMARY).filter(~Exists(lost)).delete()
    group = DuplicateGroup.objects.filter(kind=OuterRef("kind"), key=OuterRef("key"))
    AlertSeen.objects.filter(kind__in=DuplicateGroup.Kind.values).filter(~Exists(group)).delete()
    errors = list(AlertSeen.objects.filter(kind=AlertSeen.ERROR).values_list("pk", "key"))
    for i in range(0, len(errors), BATCH):
        batch = errors[i:i + BATCH]
        ids = {key.split("|", 3)[3] for _, key in batch}
        still = {error_key(*row) for row in RecordError.objects.filter(resolved_at__isnull=True, record_id__in=ids)
                 .values_list("crm", "object_type", "operation", "record_id").distinct()}
        AlertSeen.objects.filter(pk__in=[pk for pk, key in batch if key not in still]).delete()


def _release(digest: AlertDigest, error: str) -> None:
    with transaction.atomic():
        AlertSeen.objects.filter(digest=digest).delete()
        AlertDigest.objects.filter(pk=digest.pk).update(status=AlertDigest.Status.FAILED, error=error)


def _release_stale() -> None:
    for digest in AlertDigest.objects.filter(status=AlertDigest.Status.SENDING, created_at__lt=timezone.now() - STALE):
        _release(digest, "The worker stopped while sending this digest; its problems went into the next one.")
