"""People's decisions about duplicates, each written with its audit event: "not a duplicate" on a
group or a possible pair (and undoing it), asking for the possible duplicates to be found again,
and Resync with a chosen Salesforce record (R6) from a possible pair."""
from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from sync.audit import record_event
from sync.models import (
    AuditEvent,
    ContactLink,
    Dismissal,
    DuplicateGroup,
    HsContact,
    LinkStatus,
    PossibleBuild,
    PossiblePair,
    SfPerson,
    SyncSettings,
)

A = AuditEvent.Action
STALE_BUILD = timedelta(hours=1)   # a build unfinished this long is taken for dead: another may start
REASON_MAX = 500
WHAT = {"r2": "duplicate group (R2)", "r7": "duplicate group (R7)", "r9": "duplicate group (R9)",
        "possible": "possible duplicate pair"}


def _size(kind: str, key: str) -> int:
    if kind == "possible":
        from sync.engine.possible import latest

        build = latest()
        if build is None or not PossiblePair.objects.filter(build=build.pk, key=key).exists():
            raise ValidationError("That possible duplicate is no longer listed.")
        return 2
    size = DuplicateGroup.objects.filter(kind=kind, key=key).values_list("size", flat=True).first()
    if size is None:
        raise ValidationError("That duplicate group no longer exists.")
    return size


def dismiss(*, actor, kind: str, key: str, reason: str) -> Dismissal:
    """Mark a group or pair "not a duplicate", with why; lists and counts leave it out from now."""
    if kind not in WHAT:
        raise ValidationError(f"Unknown kind of duplicate: {kind!r}.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why they are not duplicates: the reason is kept with the decision.")
    if len(reason) > REASON_MAX:
        raise ValidationError(f"The reason is {len(reason)} characters; at most {REASON_MAX}.")
    size = _size(kind, key)
    try:
        with transaction.atomic():
            d = Dismissal.objects.create(kind=kind, key=key, size=size, reason=reason, created_by=actor)
            record_event(actor=actor, action=A.DISMISSED, target_type=f"duplicates.{kind}", target_id=str(d.pk),
                         target_repr=key[:200], after={"key": key, "size": size, "reason": reason},
                         message=f"Marked the {WHAT[kind]} {key} not a duplicate: {reason}")
    except IntegrityError:
        raise ValidationError("Someone already marked it not a duplicate.") from None
    return d


def undo_dismissal(*, actor, dismissal_id: int) -> Dismissal:
    """Undo "not a duplicate": the group or pair is listed and counted again; the decision stays in history."""
    with transaction.atomic():
        d = Dismissal.objects.select_for_update().filter(pk=dismissal_id).first()
        if d is None or d.undone_at is not None:
            raise ValidationError("That decision was already undone.")
        d.undone_at, d.undone_by = timezone.now(), actor
        d.save(update_fields=["undone_at", "undone_by"])
        record_event(actor=actor, action=A.UNDISMISSED, target_type=f"duplicates.{d.kind}", target_id=str(d.pk),
                     target_repr=d.key[:200], before={"key": d.key, "reason": d.reason,
                                                      "by": d.created_by.get_username()},
                     message=f"Undid “not a duplicate” on the {WHAT[d.kind]} {d.key} "
                             f"(said by {d.created_by.get_username()}: {d.reason}).")
    return d


def request_possible_duplicates(*, actor, enqueue: bool = True) -> PossibleBuild:
    """Queue a build of the possible duplicates (a background task), unless one is under way."""
    running = PossibleBuild.objects.filter(finished_at__isnull=True, error="",
                                           started_at__gte=timezone.now() - STALE_BUILD).order_by("-pk").first()
    if running is not None:
        return running
    with transaction.atomic():
        build = PossibleBuild.objects.create(requested_by=actor)
        record_event(actor=actor, action=A.SYNC_REQUESTED, target_type="duplicates.possible", target_id=str(build.pk),
                     target_repr="Possible duplicates", message="Asked for the possible duplicates to be found again.")
        if enqueue:
            from django_q.tasks import async_task

            transaction.on_commit(lambda: async_task("sync.tasks.find_possible_duplicates", build.pk,
                                                     task_name=f"possible-duplicates-{build.pk}", group="possible"))
    return build


def run_possible_build(build_id: int) -> PossibleBuild | None:
    """The task: build once (a redelivered task finds it finished), record a failure in words."""
    from sync.engine import possible

    claimed = PossibleBuild.objects.filter(pk=build_id, finished_at__isnull=True, error="").exists()
    if not claimed:
        return PossibleBuild.objects.filter(pk=build_id).first()
    try:
        return possible.build(build_id)
    except Exception as exc:
        PossibleBuild.objects.filter(pk=build_id).update(error=f"{exc.__class__.__name__}: {exc}"[:2000],
                                                          finished_at=timezone.now())
        raise


def resync_to_facts(hs_id: str, sf_id: str) -> tuple[HsContact, SfPerson, ContactLink | None, ContactLink | None]:
    """(the live contact, the live record, the contact's link, the link of another contact that
    syncs with the record): what the preview shows and the change checks. ValidationError when
    either is no longer live."""
    contact = HsContact.objects.filter(hs_id=hs_id, archived=False).first()
    person = SfPerson.objects.group_members().filter(sf_id=sf_id).first()
    if contact is None or person is None:
        raise ValidationError("The HubSpot contact or the Salesforce record is no longer live.")
    link = ContactLink.objects.filter(hs_contact=contact).select_related("sf_person").first()
    holder = ContactLink.objects.filter(sf_person=person, status=LinkStatus.SYNCED).exclude(hs_contact=contact) \
        .select_related("hs_contact").first()
    return contact, person, link, holder


def resync_to(*, actor, hs_id: str, sf_id: str, hubspot=None) -> ContactLink:
    """R6 with a chosen record: the HubSpot contact syncs with Salesforce record `sf_id` from now
    on (e.g. the same person under another email). HubSpot is written first, no transaction open;
    then the link is claimed with a conditional update, so a second click changes nothing."""
    from sync.crm.hubspot import HubSpotConfig, HubSpotConnector
    from sync.engine import echo
    from sync.engine.contacts import sync_properties
    from sync.engine.groups import refresh_keys

    contact, person, link, holder = resync_to_facts(hs_id, sf_id)
    if holder is not None:
        raise ValidationError(f"HubSpot contact {holder.hs_contact.hs_id} already syncs with {sf_id}: one contact per "
                              "record (R7). Merge the two HubSpot contacts instead.")
    if link is not None and link.status == LinkStatus.SYNCED and link.sf_person_id == person.pk:
        raise ValidationError(f"HubSpot contact {hs_id} already syncs with {sf_id}.")
    s = SyncSettings.load()
    hs = hubspot or HubSpotConnector(HubSpotConfig.from_settings(), ledger=echo.Ledger())
    [result] = hs.update("contacts", [{"id": hs_id, "properties": sync_properties(person, s)}])
    if not result.ok:
        raise ValidationError(f"HubSpot refused the update: {result.message}")
    before = {"sf_id": link.sf_person.sf_id if link and link.sf_person else None,
              "status": link.status if link else "not linked"}
    with transaction.atomic():
        now = timezone.now()
        fields = dict(sf_person=person, status=LinkStatus.SYNCED, chosen_by=ContactLink.ChosenBy.RESYNC,
                      chosen_by_user=actor, since=now, linked_modstamp=person.system_modstamp,
                      status_reason=f"Resynced with a chosen record by {actor.get_username()}.")
        if link is None:
            link = ContactLink.objects.create(hs_contact=contact, **fields)
        elif ContactLink.objects.filter(pk=link.pk, status=link.status, sf_person=link.sf_person).update(**fields) != 1:
            raise ValidationError("Someone else changed this contact's link meanwhile; look again.")
        props = sync_properties(person, s)
        HsContact.objects.filter(pk=contact.pk).update(salesforce_contact_id=props[s.prop_salesforce_contact_id],
                                                       salesforce_lead_id=props[s.prop_salesforce_lead_id])
        record_event(actor=actor, action=A.RESYNCED, rule="R6", target_type="hubspot.contact", target_id=hs_id,
                     target_repr=f"{contact.name or contact.email} <{contact.email}>", before=before,
                     after={"sf_id": person.sf_id, "object_type": person.object_type, "status": LinkStatus.SYNCED,
                            "chosen": True},
                     message=f"Resynced with {person.object_type} {person.sf_id} ({person.email}), chosen from a "
                             f"possible duplicate: the emails differ, so the field sync's email rule decides which "
                             "one both sides keep.")
    refresh_keys(DuplicateGroup.Kind.R7, {before["sf_id"] or "", person.sf_id} - {""})
    link.refresh_from_db()
    return link
