"""Every write the console makes goes through a function here, which also writes its audit event."""
from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.forms.models import model_to_dict
from django.utils import timezone

from sync.audit import record_event
from sync.crm.base import CrmError
from sync.models import (
    GROUP_MEMBER,
    AuditEvent,
    BulkJob,
    BulkJobItem,
    ContactLink,
    DuplicateGroup,
    HsContact,
    LinkStatus,
    SfPerson,
    SyncRun,
    SyncSettings,
)

SCHEDULE_NAME = "crmsync: sync cycle"
LIVE_POLL_SCHEDULE_NAME = "crmsync: live poll"
ALERTS_SCHEDULE_NAME = "crmsync: alert digest"

SETTINGS_FIELDS = ("delete_hubspot_contact_on_delete", "create_salesforce_leads", "create_hubspot_contacts",
                   "schedule_minutes", "live_poll_minutes", "salesforce_api_share", "hubspot_api_share",
                   "prop_salesforce_contact_id", "prop_salesforce_lead_id", "prop_salesforce_account_id",
                   "prop_salesforce_opportunity_id", "inclusion_list_id", "inclusion_list_name")


@transaction.atomic
def update_settings(*, actor, changes: dict) -> SyncSettings:
    """Apply `changes` (field → value) to the settings row; one audit event lists before/after
    of the fields that really changed. Raises ValidationError on a bad value, changing nothing."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown setting(s): {', '.join(sorted(unknown))}")
    obj = SyncSettings.objects.select_for_update().get(pk=SyncSettings.load().pk)
    before = model_to_dict(obj, fields=SETTINGS_FIELDS)
    for name, value in changes.items():
        setattr(obj, name, value)
    obj.full_clean()
    after = model_to_dict(obj, fields=SETTINGS_FIELDS)
    changed = {k for k in SETTINGS_FIELDS if before[k] != after[k]}
    if not changed:
        return obj
    obj.updated_at = timezone.now()
    obj.save()
    record_event(actor=actor, action=AuditEvent.Action.SETTINGS_CHANGED, target_type="settings", target_id="1",
                 target_repr="Sync settings", before={k: before[k] for k in sorted(changed)},
                 after={k: after[k] for k in sorted(changed)})
    if changed & {"schedule_minutes", "live_poll_minutes"}:
        ensure_schedule()
    return obj


def request_sync(*, full: bool, actor, enqueue: bool = True) -> SyncRun:
    """Queue a sync run. The task is enqueued after commit, so the worker finds the row."""
    run = SyncRun.objects.create(full=full, requested_by=actor)
    if actor is not None:
        record_event(actor=actor, action=AuditEvent.Action.SYNC_REQUESTED, target_type="run", target_id=str(run.pk),
                     target_repr=f"Run {run.pk}", message="Full sync requested." if full else "Sync requested.")
    if enqueue:
        from django_q.tasks import async_task

        transaction.on_commit(lambda: async_task("sync.tasks.run_sync", run.pk, task_name=f"sync-run-{run.pk}",
                                                 group="sync"))
    return run


def request_live_sync(*, enqueue: bool = True) -> SyncRun | None:
    """Queue a live run (engine/live.py) unless one is already waiting: webhooks arriving while it
    waits are synced by it. None when one was waiting."""
    if SyncRun.objects.filter(live=True, status=SyncRun.Status.PENDING).exists():
        return None
    run = SyncRun.objects.create(live=True)
    if enqueue:
        from django_q.tasks import async_task

        transaction.on_commit(lambda: async_task("sync.tasks.run_sync", run.pk, task_name=f"sync-run-{run.pk}",
                                                 group="sync"))
    return run


def note_webhook_refused(reason: str) -> None:
    """A webhook request the endpoint refused, for the Settings page (not audited: nobody acted)."""
    from sync.models import LiveSyncState

    LiveSyncState.objects.update_or_create(pk=1, defaults={"last_refused_at": timezone.now(),
                                                           "last_refused": reason[:200]})


@dataclass
class Received:
    stored: int       # new events, waiting for a live run
    duplicates: int   # sent before (HubSpot's retries and duplicates): dropped
    ignored: int      # objects crmsync does not sync


@transaction.atomic
def receive_hubspot_events(events) -> Received:
    """Keep a signed webhook batch's events (sync/webhooks.py) and queue a live run for them.
    An event already received (by eventId) is dropped; so is one about an object crmsync does not
    sync. Not audited one by one: the live run audits what it decides, as a sweep does."""
    from sync.models import HubSpotEvent

    wanted = [e for e in events if e.object_type]
    known = set(HubSpotEvent.objects.filter(event_id__in=[e.event_id for e in wanted])
                .values_list("event_id", flat=True))
    fresh = {e.event_id: e for e in wanted if e.event_id not in known}   # a batch may repeat one, too
    HubSpotEvent.objects.bulk_create([
        HubSpotEvent(event_id=e.event_id, subscription_type=e.subscription_type[:60], object_type=e.object_type,
                     object_id=e.object_id, property_name=e.property_name, property_value=e.property_value,
                     related_ids=";".join(e.related_ids), change_source=e.change_source,
                     occurred_at=e.occurred_at, attempt=e.attempt)
        for e in fresh.values()], ignore_conflicts=True)   # a concurrent copy of the batch: stored once
    from sync.models import LiveSyncState

    LiveSyncState.objects.update_or_create(pk=1, defaults={"last_event_at": timezone.now()})
    if fresh:
        request_live_sync()
    return Received(stored=len(fresh), duplicates=len(wanted) - len(fresh), ignored=len(events) - len(wanted))


def ensure_schedule() -> None:
    """Create or update the django-q2 schedules for the configured intervals (idempotent)."""
    from django.conf import settings
    from django_q.models import Schedule

    minutes = SyncSettings.load().schedule_minutes
    Schedule.objects.update_or_create(name=SCHEDULE_NAME, defaults={
        "func": "sync.tasks.scheduled_sync", "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1})
    # The admins' alert digest (sync/alerts.py) comes with it, on its own interval from the environment.
    if settings.ALERTS_EMAIL:
        Schedule.objects.update_or_create(name=ALERTS_SCHEDULE_NAME, defaults={
            "func": "sync.tasks.send_alert_digest", "schedule_type": Schedule.MINUTES,
            "minutes": settings.ALERTS_INTERVAL_MINUTES, "repeats": -1})
    else:
        Schedule.objects.filter(name=ALERTS_SCHEDULE_NAME).delete()
    # Live sync's Salesforce side: a live run every few minutes, when chosen on the Settings page.
    poll = SyncSettings.load().live_poll_minutes
    if poll:
        Schedule.objects.update_or_create(name=LIVE_POLL_SCHEDULE_NAME, defaults={
            "func": "sync.tasks.live_poll", "schedule_type": Schedule.MINUTES, "minutes": poll, "repeats": -1})
    else:
        Schedule.objects.filter(name=LIVE_POLL_SCHEDULE_NAME).delete()


@dataclass
class ResyncResult:
    hs_id: str
    ok: bool
    message: str
    sf_id: str = ""


def resync_contacts(*, hs_ids: list[str], actor, hubspot=None) -> list[ResyncResult]:
    """R6: re-associate contacts that lost their primary (or were left unsynced) with the new
    primary: the MasterRecordId of the record they synced with, else what R3/R4 choose now.

    HubSpot is written first (no transaction open); then each link is claimed with a conditional
    update, so the same Resync clicked twice, or during a run, changes and audits it once."""
    from sync.crm.hubspot import HubSpotConfig, HubSpotConnector
    from sync.engine import echo
    from sync.engine.contacts import person_facts, sync_properties
    from sync.engine.rules import resync_target

    s = SyncSettings.load()
    links = {link.hs_contact.hs_id: link for link in ContactLink.objects.filter(hs_contact__hs_id__in=hs_ids)
             .select_related("hs_contact", "sf_person")}
    results: dict[str, ResyncResult] = {}
    plan: dict[str, SfPerson] = {}
    for hs_id in hs_ids:
        link = links.get(hs_id)
        if link is None or link.status not in (LinkStatus.LOST_PRIMARY, LinkStatus.UNSYNCED):
            results[hs_id] = ResyncResult(hs_id, False, "Nothing to resync: this contact is "
                                          + (link.get_status_display().lower() if link else "not linked") + ".")
            continue
        by_id = {p.sf_id: person_facts(p) for p in SfPerson.objects.filter(
            Q(sf_id=link.sf_person.master_record_id if link.sf_person else "") |
            Q(master_record_id__in=[link.sf_person.sf_id] if link.sf_person else []) |
            GROUP_MEMBER & Q(email_key=link.hs_contact.email_key))}
        chain = link.sf_person
        while chain is not None and chain.master_record_id and chain.master_record_id not in by_id:
            chain = SfPerson.objects.filter(sf_id=chain.master_record_id).first()
            if chain is not None:
                by_id[chain.sf_id] = person_facts(chain)
        candidates = [p for p in by_id.values() if p.email_key == link.hs_contact.email_key]
        target = resync_target(linked=person_facts(link.sf_person) if link.sf_person else None, by_id=by_id,
                               candidates=candidates)
        if target is None:
            results[hs_id] = ResyncResult(hs_id, False, "No live Salesforce record to resync with: the record was "
                                          "deleted without a merge and no other record has this email.")
            continue
        plan[hs_id] = SfPerson.objects.get(sf_id=target.sf_id)
    if plan:
        hs = hubspot or HubSpotConnector(HubSpotConfig.from_settings(), ledger=echo.Ledger())
        for r in hs.update("contacts", [{"id": hs_id, "properties": sync_properties(p, s)} for hs_id, p in plan.items()]):
            if not r.ok and plan.pop(r.key, None) is not None:
                results[r.key] = ResyncResult(r.key, False, f"HubSpot refused the update: {r.message}")
    for hs_id, person in plan.items():
        results[hs_id] = _record_resync(links[hs_id], person, actor, s)
    if plan:  # the contacts now carry other Salesforce ids: their R7 groups changed
        from sync.engine.groups import refresh_keys

        old = {links[h].hs_contact.salesforce_contact_id or links[h].hs_contact.salesforce_lead_id for h in plan}
        refresh_keys(DuplicateGroup.Kind.R7, old | {p.sf_id for p in plan.values()})
    return [results[h] for h in hs_ids]


@transaction.atomic
def _record_resync(link: ContactLink, person: SfPerson, actor, s: SyncSettings) -> ResyncResult:
    from sync.engine.contacts import sync_properties

    previous = link.sf_person.sf_id if link.sf_person else None
    now = timezone.now()
    claimed = ContactLink.objects.filter(pk=link.pk, status=link.status, sf_person=link.sf_person).update(
        sf_person=person, status=LinkStatus.SYNCED, chosen_by=ContactLink.ChosenBy.RESYNC, chosen_by_user=actor,
        since=now, linked_modstamp=person.system_modstamp,
        status_reason=f"Resynced by {actor.get_username() if actor else 'the sync'}.")
    if claimed != 1:
        return ResyncResult(link.hs_contact.hs_id, False, "Already resynced by someone else.")
    props = sync_properties(person, s)
    HsContact.objects.filter(pk=link.hs_contact.pk).update(
        salesforce_contact_id=props[s.prop_salesforce_contact_id], salesforce_lead_id=props[s.prop_salesforce_lead_id])
    c = link.hs_contact
    record_event(actor=actor, action=AuditEvent.Action.RESYNCED, rule="R6", target_type="hubspot.contact",
                 target_id=c.hs_id, target_repr=f"{c.name or c.email} <{c.email}>",
                 before={"sf_id": previous, "status": link.status},
                 after={"sf_id": person.sf_id, "object_type": person.object_type, "status": LinkStatus.SYNCED},
                 message=f"Resynced with {person.object_type} {person.sf_id}"
                         + (f" (the record {previous} was merged into)." if previous else "."))
    return ResyncResult(c.hs_id, True, f"Now syncing with {person.object_type} {person.sf_id}.", person.sf_id)


def next_scheduled_run():
    from django_q.models import Schedule

    return Schedule.objects.filter(name=SCHEDULE_NAME).values_list("next_run", flat=True).first()


def request_bulk_resync(*, hs_ids: list[str], actor) -> BulkJob:
    """Queue a bulk Resync (R6) as a background task; each contact is audited as the person."""
    unique = list(dict.fromkeys(str(i) for i in hs_ids))
    job = BulkJob.objects.create(kind="resync", requested_by=actor, targets=unique, total=len(unique))
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task("sync.tasks.bulk_resync", job.pk, task_name=f"bulk-resync-{job.pk}",
                                             group="bulk"))
    return job


def run_bulk_resync(job: BulkJob, chunk: int = 100) -> BulkJob:
    """Resync the job's contacts a chunk at a time, moving its progress; safe to run twice
    (contacts already resynced are reported, not changed again)."""
    claimed = BulkJob.objects.filter(pk=job.pk, status=BulkJob.Status.PENDING).update(status=BulkJob.Status.RUNNING)
    if not claimed:
        return job
    done = failed = 0
    try:
        for i in range(0, len(job.targets), chunk):
            results = resync_contacts(hs_ids=job.targets[i:i + chunk], actor=job.requested_by)
            done += len(results)
            failed += sum(1 for r in results if not r.ok)
            with transaction.atomic():  # each contact's outcome lands with the progress that counts it
                BulkJobItem.objects.bulk_create(  # a job built with a contact twice keeps its first outcome
                    [BulkJobItem(job_id=job.pk, hs_id=r.hs_id, ok=r.ok, sf_id=r.sf_id, message=r.message)
                     for r in results], ignore_conflicts=True)
                BulkJob.objects.filter(pk=job.pk).update(done=done, failed=failed)
    except CrmError as exc:
        BulkJob.objects.filter(pk=job.pk).update(status=BulkJob.Status.FAILED, finished_at=timezone.now(),
                                                 message=f"Stopped after {done}: {exc}")
    else:
        BulkJob.objects.filter(pk=job.pk).update(
            status=BulkJob.Status.DONE, finished_at=timezone.now(),
            message=f"{done - failed} resynced, {failed} not resynced (already synced or no record to sync with).")
    job.refresh_from_db()
    return job


@transaction.atomic
def request_retry(*, run: SyncRun, actor) -> SyncRun | None:
    """Queue a run that re-checks the records that failed in `run`; each error is retried once."""
    from sync.models import RecordError

    pending = RecordError.objects.select_for_update().filter(run=run, retried_at__isnull=True)
    if not pending.exists():
        return None
    retry = request_sync(full=False, actor=actor)
    SyncRun.objects.filter(pk=retry.pk).update(retry_of=run)
    pending.update(retried_at=timezone.now())
    retry.retry_of = run
    return retry


@transaction.atomic
def update_field_rules(*, actor, changes: dict[int, str]) -> None:
    """Change field sync rules (pk → rule); one audit event per rule that changed."""
    from sync.models import FieldRule

    for rule in FieldRule.objects.select_for_update().filter(pk__in=list(changes)):
        new = changes[rule.pk]
        if new == rule.rule:
            continue
        before = rule.get_rule_display()
        rule.rule = new
        rule.full_clean()
        rule.save(update_fields=["rule"])
        record_event(actor=actor, action=AuditEvent.Action.SETTINGS_CHANGED, target_type="settings",
                     target_id=f"field:{rule.object}.{rule.hubspot_property}", target_repr=f"Field rule: {rule.label}",
                     before={"rule": before}, after={"rule": rule.get_rule_display()})


def refresh_stage_mapping(*, actor) -> int:
    """Read the deal pipelines and the org's opportunity stages now (two API calls, no
    transaction open), proposing a mapping for new stages; audited. Returns the stages added."""
    from sync.crm.hubspot import HubSpotConfig, HubSpotConnector
    from sync.crm.salesforce import SalesforceConfig, SalesforceConnector
    from sync.engine import stages

    added = stages.refresh(SalesforceConnector(SalesforceConfig.from_settings()),
                           HubSpotConnector(HubSpotConfig.from_settings()))
    record_event(actor=actor, action=AuditEvent.Action.SETTINGS_CHANGED, target_type="settings", target_id="stages",
                 target_repr="Deal stage mapping", after={"stages_added": added},
                 message=f"Read HubSpot's deal pipelines and Salesforce's opportunity stages; {added} new stage(s) "
                         "got a proposed mapping.")
    return added


@transaction.atomic
def update_stage_mappings(*, actor, changes: dict[int, str]) -> int:
    """Map HubSpot deal stages (StageMapping pk → Salesforce stage, "" for none) to stages the org
    offers (OrgStage); one audit event per stage that changed. Unlinked deals in a changed stage
    are put back in scope, so the next run creates their opportunities. Raises ValidationError,
    changing nothing, when a stage is not one the org offers."""
    from sync.models import HsDeal, OrgStage, StageMapping

    offered = set(OrgStage.objects.values_list("name", flat=True))
    wrong = sorted({v for v in changes.values() if v and v not in offered})
    if wrong:
        raise ValidationError(f"Not an opportunity stage of this Salesforce org: {', '.join(wrong)}. Choose one of "
                              "the org's stages (read them again with \u201cRead pipelines and stages\u201d).")
    changed = 0
    for row in StageMapping.objects.select_for_update().filter(pk__in=list(changes)):
        new = changes[row.pk]
        if new == row.salesforce_stage:
            continue
        before = row.salesforce_stage
        row.salesforce_stage, row.set_by, row.updated_at = new, StageMapping.SetBy.PERSON, timezone.now()
        row.save(update_fields=["salesforce_stage", "set_by", "updated_at"])
        pipelines = [row.pipeline_id, ""] if row.pipeline_id == "default" else [row.pipeline_id]  # unset: default
        HsDeal.objects.filter(pipeline__in=pipelines, stage=row.stage_id, archived=False,
                              link__isnull=True).update(dirty=True)
        record_event(actor=actor, action=AuditEvent.Action.SETTINGS_CHANGED, target_type="settings",
                     target_id=f"stage:{row.pipeline_id}.{row.stage_id}",
                     target_repr=f"Deal stage {row.pipeline_label or row.pipeline_id} / {row.stage_label or row.stage_id}",
                     before={"salesforce_stage": before or None}, after={"salesforce_stage": new or None},
                     message=f"HubSpot deal stage {row.stage_label or row.stage_id} now becomes "
                             + (f"Salesforce stage {new!r}." if new else "no Salesforce stage (such deals stay unsynced)."))
        changed += 1
    return changed


@dataclass
class ErrorRetry:
    run: SyncRun | None  # the run that writes the records again (None: nothing could be retried)
    errors: int          # errors put back in scope
    records: int         # distinct records they are against
    missing: int         # errors whose record is no longer mirrored: nothing to write again
    queued: bool = True  # False: an already queued run picks them up


@transaction.atomic
def retry_record_errors(*, errors, actor) -> ErrorRetry:
    """Retry a chosen set of record errors (the Sync errors page), from any runs: the run Retry of
    the run page, generalised. Their records are marked dirty — the rows a run must reconcile
    (engine/pull.py) — so the next incremental run writes them again (a run that writes one
    without an error resolves it); that run is queued here, or is the one already queued. Each
    error is marked retried; one audit event names the run and the counts.

    Refused (ValidationError) while a run is going: it clears the dirty marks when it finishes,
    also those set after it read them."""
    from sync.models import HsCompany, HsDeal, RecordError, SfAccount, SfOpportunity, record_kind

    running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).values_list("pk", flat=True).first()
    if running:
        raise ValidationError(f"Sync run {running} is in progress: retry once it has finished.")
    models = {"person": (SfPerson, "sf_id"), "account": (SfAccount, "sf_id"), "opportunity": (SfOpportunity, "sf_id"),
              "contact": (HsContact, "hs_id"), "company": (HsCompany, "hs_id"), "deal": (HsDeal, "hs_id")}
    wanted: dict[str, dict[str, list[int]]] = {}  # kind → record id → error pks
    family_of: dict[int, str] = {}
    for pk, object_type, record_id, family in errors.select_for_update().filter(resolved_at__isnull=True) \
            .values_list("pk", "object_type", "record_id", "family").iterator():
        family_of[pk] = family
        wanted.setdefault(record_kind(object_type, record_id), {}).setdefault(record_id, []).append(pk)
    retried: list[int] = []
    records = 0
    missing = sum(len(pks) for pks in wanted.pop("", {}).values())
    for kind, by_id in wanted.items():
        model, field = models[kind]
        ids = list(by_id)
        for i in range(0, len(ids), 500):
            rows = model.objects.filter(**{f"{field}__in": ids[i:i + 500]})
            found = set(rows.values_list(field, flat=True))
            rows.update(dirty=True)
            for record_id in ids[i:i + 500]:
                if record_id in found:
                    retried += by_id[record_id]
                    records += 1
                else:
                    missing += len(by_id[record_id])
    if not retried:
        return ErrorRetry(None, 0, 0, missing)
    now = timezone.now()
    for i in range(0, len(retried), 500):
        RecordError.objects.filter(pk__in=retried[i:i + 500]).update(retried_at=now)
    run = SyncRun.objects.filter(status=SyncRun.Status.PENDING).order_by("created_at").first()
    queued = run is None
    if queued:
        run = SyncRun.objects.create(full=False, requested_by=actor)
        from django_q.tasks import async_task

        transaction.on_commit(lambda: async_task("sync.tasks.run_sync", run.pk, task_name=f"sync-run-{run.pk}",
                                                 group="sync"))
    record_event(actor=actor, action=AuditEvent.Action.SYNC_REQUESTED, target_type="run", target_id=str(run.pk),
                 target_repr=f"Run {run.pk}", after={"errors": len(retried), "records": records,
                                                     "families": sorted({family_of[pk] for pk in retried})},
                 message=f"Retry of {len(retried)} record error{'s' if len(retried) != 1 else ''} on {records} "
                         f"record{'s' if records != 1 else ''} requested"
                         + ("." if queued else f" (in the queued run {run.pk})."))
    return ErrorRetry(run, len(retried), records, missing, queued)
