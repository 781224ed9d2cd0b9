"""The inclusion list: only the HubSpot contacts in one chosen contact list sync to Salesforce.

Every scheduled or manual run reads the list's members (250 a page) after its pull, before
reconcile, and marks the mirrored contacts outside it (HsContact.outside_list). The rules
(rules.py) then keep an outside contact from creating a lead and its pair from exchanging field
values; links still follow R3–R8. A contact that joined the list since the last read is put in
the run's scope, so this run creates or updates its Salesforce record (HubSpot: adding a contact
to the inclusion list triggers its sync). Live runs use the membership the last run read.

A list HubSpot no longer has (deleted, or the token lost access) is not a reason to sync
everyone: every contact counts as outside until the list can be read again or another is chosen,
and the Settings page says so."""
from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone

from sync.crm.base import CrmError
from sync.engine import rules
from sync.engine.context import RunContext
from sync.engine.pull import Touched
from sync.models import AuditEvent, HsContact, InclusionListState

CHUNK = 5000
CONTACT = "hubspot.contact"
EACH_MOVE_AUDITED_UP_TO = 200   # more moves in one read (a new list): one event that counts them


def refresh(ctx: RunContext, touched: Touched) -> None:
    list_id = ctx.settings.inclusion_list_id
    state = InclusionListState.load()
    if not list_id:
        if state.list_id or HsContact.objects.filter(outside_list=True).exists():
            _apply(ctx, state, list_id="", name="", members=set(), touched=touched)
        return
    try:
        members: set[str] = set()
        for page in ctx.hs.list_member_ids(list_id):
            members.update(page)
    except CrmError as exc:
        if not exc.permanent:
            raise   # HubSpot is busy or away: the run's usual retry and failure handling
        _unreadable(ctx, state, list_id, exc)
        return
    _apply(ctx, state, list_id=list_id, name=ctx.settings.inclusion_list_name, members=members, touched=touched)


def _mirrored(**filters) -> Iterator[dict[str, bool]]:
    """Live mirrored contacts (id → outside the list as last read), CHUNK at a time."""
    qs = HsContact.objects.filter(archived=False, **filters).order_by("pk")
    last = 0
    while rows := list(qs.filter(pk__gt=last).values_list("pk", "hs_id", "outside_list")[:CHUNK]):
        last = rows[-1][0]
        yield {hs_id: out for _, hs_id, out in rows}


def _apply(ctx: RunContext, state: InclusionListState, *, list_id: str, name: str, members: set[str],
           touched: Touched) -> None:
    """Mark who is in and who is out; the joiners are in this run's scope; audit the moves."""
    everyone = not list_id   # no list: every contact is in
    joined: set[str] = set()
    left: set[str] = set()
    for chunk in _mirrored():
        j, l_ = rules.inclusion_moves(chunk, set(chunk) if everyone else members)
        joined |= j
        left |= l_
    _set(joined, outside=False)
    _set(left, outside=True)
    touched.hs_contact_ids.update(joined)
    new_list = state.list_id != list_id
    now = timezone.now()
    state.list_id, state.members, state.read_at, state.problem, state.problem_at = list_id, len(members), now, "", None
    state.outside = HsContact.objects.filter(archived=False, outside_list=True).count()
    state.save()
    what = f"inclusion list {name or list_id}" if list_id else "no inclusion list"
    if new_list or len(joined) + len(left) > EACH_MOVE_AUDITED_UP_TO:
        ctx.event(action=AuditEvent.Action.LIST_MEMBERSHIP, target_type="settings", target_id="inclusion_list",
                  target_repr=what.capitalize(), after={"list_id": list_id, "members": len(members),
                                                        "joined": len(joined), "left": len(left)},
                  message=(f"Read the {what}: {len(members):,} members; {len(joined):,} contact(s) now sync to "
                           f"Salesforce and {len(left):,} no longer do." if list_id else
                           f"No inclusion list: every contact syncs again ({len(joined):,} were outside the old one)."))
    else:
        names = dict(HsContact.objects.filter(hs_id__in=joined | left).values_list("hs_id", "email"))
        for hs_id in sorted(joined):
            ctx.event(action=AuditEvent.Action.LIST_MEMBERSHIP, target_type=CONTACT, target_id=hs_id,
                      target_repr=names.get(hs_id) or hs_id, before={"in_list": False}, after={"in_list": True},
                      message=f"Joined the {what}: it syncs to Salesforce from this run on.")
        for hs_id in sorted(left):
            ctx.event(action=AuditEvent.Action.LIST_MEMBERSHIP, target_type=CONTACT, target_id=hs_id,
                      target_repr=names.get(hs_id) or hs_id, before={"in_list": True}, after={"in_list": False},
                      message=f"Left the {what}: it is no longer created in or updated to Salesforce, "
                              "and Salesforce's changes no longer reach it.")
    ctx.flush()


def _unreadable(ctx: RunContext, state: InclusionListState, list_id: str, exc: CrmError) -> None:
    """The chosen list cannot be read: nobody syncs to Salesforce until it can (never everyone)."""
    problem = (f"HubSpot list {list_id} could not be read ({exc}); until it can, or another list is chosen, "
               "no HubSpot contact is created in or updated to Salesforce.")[:300]
    left = 0
    for chunk in _mirrored(outside_list=False):
        _set(set(chunk), outside=True)
        left += len(chunk)
    first = state.problem == "" or state.list_id != list_id
    state.list_id, state.problem, state.problem_at = list_id, problem, timezone.now()
    state.outside = HsContact.objects.filter(archived=False, outside_list=True).count()
    state.save()
    if first or left:
        ctx.event(action=AuditEvent.Action.LIST_MEMBERSHIP, target_type="settings", target_id="inclusion_list",
                  target_repr=f"Inclusion list {list_id}", after={"list_id": list_id, "error": str(exc)[:200],
                                                                  "left": left}, message=problem)
    ctx.flush()


def _set(ids: set[str], *, outside: bool) -> None:
    ids_sorted = sorted(ids)
    for i in range(0, len(ids_sorted), CHUNK):
        HsContact.objects.filter(hs_id__in=ids_sorted[i:i + CHUNK]).update(outside_list=outside)
