"""The inclusion list: only the HubSpot contacts in one chosen contact list sync to Salesforce.

Every scheduled or manual run reads the list's members (250 a page) after its pull, before
reconcile, and marks each mirrored contact in or outside it (HsContact.outside_list). The rules
(rules.py) then keep an outside contact from creating a lead and its pair from exchanging field
values; links still follow R3–R8. A contact that joined the list since the last read is put in
the run's scope, so this run creates or updates its Salesforce record (HubSpot: adding a contact
to the inclusion list triggers its sync). A live run asks HubSpot about the contacts it read
(one request each, or the whole list when that is cheaper), so a contact created since the last
run is not sent to Salesforce before anyone knew whether it is in the list.

A list HubSpot no longer has (deleted, or the token lost access) is not a reason to sync
everyone: every contact counts as outside until the list can be read again or another is chosen,
and the Settings page says so."""
from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone

from sync.crm.base import CrmError
from sync.crm.hubspot import LIST_PAGE_LIMIT
from sync.engine import rules
from sync.engine.context import RunContext
from sync.engine.pull import Touched
from sync.models import AuditEvent, HsContact, InclusionListState

CHUNK = 5000
CONTACT = "hubspot.contact"
EACH_MOVE_AUDITED_UP_TO = 200   # more moves in one read (a new list): one event that counts them
JOINED_IN_SCOPE_UP_TO = 50_000  # more joiners (a list cleared): the run reconciles everything


class _Moves:
    def __init__(self) -> None:
        self.joined: set[str] = set()
        self.left: set[str] = set()
        self.left_count = 0

    def note(self, before: dict[str, bool | None], changes: dict[str, bool | None]) -> None:
        for hs_id, new in changes.items():
            move = rules.inclusion_move(before[hs_id], new)
            if move == "joined":
                self.joined.add(hs_id)
            elif move == "left":
                self.left_count += 1
                if len(self.left) <= EACH_MOVE_AUDITED_UP_TO:
                    self.left.add(hs_id)

    @property
    def count(self) -> int:
        return len(self.joined) + self.left_count


def refresh(ctx: RunContext, touched: Touched) -> None:
    list_id = ctx.settings.inclusion_list_id
    state = InclusionListState.load()
    if not list_id:
        if state.list_id or HsContact.objects.filter(outside_list__isnull=False).exists():
            _apply(ctx, state, list_id="", name="", members=None, touched=touched)
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


def check_contacts(ctx: RunContext, ids: list[str], touched: Touched) -> None:
    """A live run: the contacts it read, checked against the list as it is now."""
    list_id = ctx.settings.inclusion_list_id
    if not list_id or not ids:
        return
    before = dict(HsContact.objects.filter(hs_id__in=ids, archived=False).values_list("hs_id", "outside_list"))
    if not rules.ask_per_contact(contacts=len(before), members=InclusionListState.load().members, page=LIST_PAGE_LIMIT):
        refresh(ctx, touched)
        return
    try:
        members = {hs_id for hs_id in sorted(before) if list_id in ctx.hs.lists_of_contact(hs_id)}
    except CrmError as exc:
        if not exc.permanent:
            raise
        members = set()   # HubSpot cannot say: they count as outside (never everyone)
    moves = _Moves()
    changes = rules.inclusion_flags(before, members)
    moves.note(before, changes)
    _set(changes)
    _audit_each(ctx, moves, f"inclusion list {ctx.settings.inclusion_list_name or list_id}")
    ctx.flush()


def _mirrored(**filters) -> Iterator[dict[str, bool | None]]:
    """Live mirrored contacts (id → outside the list as last read), CHUNK at a time."""
    qs = HsContact.objects.filter(archived=False, **filters).order_by("pk")
    last = 0
    while rows := list(qs.filter(pk__gt=last).values_list("pk", "hs_id", "outside_list")[:CHUNK]):
        last = rows[-1][0]
        yield {hs_id: out for _, hs_id, out in rows}


def _apply(ctx: RunContext, state: InclusionListState, *, list_id: str, name: str, members: set[str] | None,
           touched: Touched) -> None:
    """Mark who is in and who is out; the joiners are in this run's scope; audit the moves."""
    moves = _Moves()
    for chunk in _mirrored():
        changes = rules.inclusion_flags(chunk, members)
        moves.note(chunk, changes)
        _set(changes)
    if len(moves.joined) > JOINED_IN_SCOPE_UP_TO:
        touched.everything = True
    else:
        touched.hs_contact_ids.update(moves.joined)
    new_list = state.list_id != list_id
    state.list_id, state.members, state.read_at = list_id, len(members or ()), timezone.now()
    state.problem, state.problem_at = "", None
    state.outside = HsContact.objects.filter(archived=False, outside_list=True).count()
    state.save()
    what = f"inclusion list {name or list_id}" if list_id else "no inclusion list"
    if new_list or moves.count > EACH_MOVE_AUDITED_UP_TO:
        ctx.event(action=AuditEvent.Action.LIST_MEMBERSHIP, target_type="settings", target_id="inclusion_list",
                  target_repr=what.capitalize(),
                  after={"list_id": list_id, "members": state.members, "outside": state.outside,
                         "joined": len(moves.joined), "left": moves.left_count},
                  message=(f"Read the {what}: {state.members:,} members; {state.outside:,} mirrored contact(s) "
                           f"outside it; {len(moves.joined):,} synced again and {moves.left_count:,} no longer."
                           if list_id else f"No inclusion list: every contact syncs ({len(moves.joined):,} were "
                                           "outside the old one)."))
    else:
        _audit_each(ctx, moves, what)
    ctx.flush()


def _audit_each(ctx: RunContext, moves: _Moves, what: str) -> None:
    names = dict(HsContact.objects.filter(hs_id__in=moves.joined | moves.left).values_list("hs_id", "email"))
    for hs_id in sorted(moves.joined):
        ctx.event(action=AuditEvent.Action.LIST_MEMBERSHIP, target_type=CONTACT, target_id=hs_id,
                  target_repr=names.get(hs_id) or hs_id, before={"in_list": False}, after={"in_list": True},
                  message=f"Joined the {what}: it syncs to Salesforce from this run on.")
    for hs_id in sorted(moves.left):
        ctx.event(action=AuditEvent.Action.LIST_MEMBERSHIP, target_type=CONTACT, target_id=hs_id,
                  target_repr=names.get(hs_id) or hs_id, before={"in_list": True}, after={"in_list": False},
                  message=f"Left the {what}: it is no longer created in or updated to Salesforce, "
                          "and Salesforce's changes no longer reach it.")


def _unreadable(ctx: RunContext, state: InclusionListState, list_id: str, exc: CrmError) -> None:
    """The chosen list cannot be read: nobody syncs to Salesforce until it can (never everyone)."""
    problem = (f"HubSpot list {list_id} could not be read ({exc}); until it can, or another list is chosen, "
               "no HubSpot contact is created in or updated to Salesforce.")[:300]
    moves = _Moves()
    for chunk in _mirrored():
        changes = rules.inclusion_flags(chunk, set())
        moves.note(chunk, changes)
        _set(changes)
    first = state.problem == "" or state.list_id != list_id
    state.list_id, state.problem, state.problem_at = list_id, problem, timezone.now()
    state.outside = HsContact.objects.filter(archived=False, outside_list=True).count()
    state.save()
    if first or moves.count:
        ctx.event(action=AuditEvent.Action.LIST_MEMBERSHIP, target_type="settings", target_id="inclusion_list",
                  target_repr=f"Inclusion list {list_id}",
                  after={"list_id": list_id, "error": str(exc)[:200], "outside": state.outside}, message=problem)
    ctx.flush()


def _set(changes: dict[str, bool | None]) -> None:
    """Write the new flags, CHUNK ids an UPDATE per value."""
    for value in (True, False, None):
        ids = sorted(i for i, v in changes.items() if v is value)
        for i in range(0, len(ids), CHUNK):
            HsContact.objects.filter(hs_id__in=ids[i:i + CHUNK]).update(outside_list=value)
