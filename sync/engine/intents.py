"""Every record the sync creates gets exactly one creation event naming the run that made it.

A create is idempotent (an upsert on an external id, an email or a unique property), so a
retry after a lost answer, or the next run after a kill, finds the record instead of making a
second one — but then the CRM answers "already there", and the run that really created it may
never have recorded anything. So before a create goes out, its intent is committed
(`CreateIntent`, with the creation event it will become); when the outcome is recorded, in the
same transaction as the mirror rows and links, `settle` turns each created record into its
event — created now, or created earlier by the run the intent names — and removes the intents.
Intents a killed run left behind and no later attempt settled are looked up in the CRM by
`recover` at the start of the next run's reconcile."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import transaction
from django.db.models import F

from sync.crm.base import WriteResult
from sync.engine.context import RunContext
from sync.models import AuditEvent, CreateIntent, SyncRun

A = AuditEvent.Action


def begin(ctx: RunContext, crm: str, object_type: str, events: dict[str, dict]) -> set[str]:
    """Before creating: one intent per key (`events` maps each key to its creation event's
    fields, without target_id), committed. An intent left by an earlier attempt is kept: that
    attempt may have made the record. Returns the keys that had one already."""
    if not events:
        return set()
    with transaction.atomic():
        prior = set(CreateIntent.objects.filter(crm=crm, object_type=object_type, key__in=list(events))
                    .values_list("key", flat=True))
        CreateIntent.objects.bulk_create(
            [CreateIntent(run=ctx.run, crm=crm, object_type=object_type, key=key, event=event)
             for key, event in events.items() if key not in prior])
    return prior


def send(ctx: RunContext, crm: str, object_type: str, events: dict[str, dict], write: Callable[[], list[WriteResult]],
         *, record_type: str, operation: str, what: Callable[[str], str],
         record_id: Callable[[str], str] = str) -> tuple[list[WriteResult], set[str]]:
    """One batch of creates: their intents committed (`begin`), the CRM call (`write`), each
    refusal a record error in words (`what(key)` names the attempt, `record_id(key)` the record
    the error is filed against: what "Retry these records" puts back in scope). Returns the records written
    and the keys an earlier attempt had an intent for; the caller records the rows and calls
    `settle` with both in one transaction."""
    from sync.crm.explain import in_words

    prior = begin(ctx, crm, object_type, events)
    written = []
    for r in write():
        if r.ok:
            written.append(r)
            ctx.wrote(operation, [record_id(r.key)])
        else:
            ctx.record_error(crm=crm, object_type=record_type, record_id=record_id(r.key), operation=operation,
                             code=r.code, message=in_words(crm, what(r.key), r))
    return written, prior


def settle(ctx: RunContext, crm: str, object_type: str, results: Iterable[WriteResult], prior: set[str]) -> set[str]:
    """After the CRM answered, inside the transaction that records the outcome, the creation event
    of each record this attempt made — the CRM says it created it, or says it was there already
    but only because the request had to be sent again after an answer that never came — or an
    earlier attempt made (its intent was here before this one, `prior`). A record that was there
    already for any other reason was not made by the sync. The intents of these keys are removed.
    Returns the keys audited as created."""
    results = list(results)
    keys = [r.key for r in results]
    intents = {i.key: i for i in CreateIntent.objects.filter(crm=crm, object_type=object_type, key__in=keys)}
    made = set()
    for r in results:
        intent = intents.get(r.key)
        if not r.ok or intent is None and not r.created:
            continue
        if not r.created and r.key not in prior and not r.retried:
            continue   # there before this attempt, and no earlier attempt of ours is known
        _emit(ctx, intent, r.id, earlier=not r.created)
        made.add(r.key)
    if intents:
        CreateIntent.objects.filter(pk__in=[i.pk for i in intents.values()]).delete()
    return made


def _emit(ctx: RunContext, intent: CreateIntent | None, record_id: str, *, earlier: bool) -> None:
    event = dict(intent.event) if intent is not None else {}
    run = intent.run if intent is not None and intent.run_id != ctx.run.pk else ctx.run
    message = event.pop("message", "")
    if earlier:
        who = "this run" if run.pk == ctx.run.pk else f"run {run.pk}"
        message += f" (created by {who}; its answer was lost and the record was found again)"
    _count(ctx, run)
    ctx.events.append({**_fields(event), "run": run, "target_id": record_id, "message": message.strip()})


def _count(ctx: RunContext, run: SyncRun) -> None:
    """The record counts as created by the run that made it."""
    if run.pk == ctx.run.pk:
        ctx.counts["created"] += 1
    else:
        SyncRun.objects.filter(pk=run.pk).update(created=F("created") + 1)


def _fields(event: dict) -> dict:
    from sync.audit import event_fields

    return event_fields(action=event.get("action", A.RECORD_CREATED), target_type=event.get("target_type", ""),
                        target_id="", target_repr=event.get("target_repr", ""), rule=event.get("rule", ""),
                        after=event.get("after"), message="")


Finder = Callable[[list[str]], dict[str, str]]


def finders(ctx: RunContext) -> dict[tuple[str, str], Finder]:
    """How each kind of create is found again by its key: Salesforce by the external-id fields,
    HubSpot by email or the unique properties (batch reads: consistent, unlike search)."""
    from sync.engine import pull, schema

    def salesforce(sobject: str, field: str) -> Finder:
        def find(keys: list[str]) -> dict[str, str]:
            # Queried with queryAll: a record created and deleted since was created all the same.
            # Every pulled field comes along and the records go into the mirror as a pull stores
            # them: the run that made them never recorded them, and with SALESFORCE_SKIP_OWN_WRITES
            # no pull would bring crmsync's own creation back.
            records = list(ctx.sf.query_in(schema.sf_select(sobject) + f" WHERE {field} IN {{}}", keys,
                                           include_deleted=True))
            pull.store_found(sobject, records, ctx.created_person_seq(len(records)))
            found = {str(r[field]).lower(): r["Id"] for r in records}
            return {k: found[k.lower()] for k in keys if k.lower() in found}
        return find

    def hubspot(object_type: str, prop: str) -> Finder:
        def find(keys: list[str]) -> dict[str, str]:
            found = {str((r.get("properties") or {}).get(prop) or "").strip().lower(): str(r["id"])
                     for r in ctx.hs.read_by(object_type, prop, keys, [prop])}
            return {k: found[k.strip().lower()] for k in keys if k.strip().lower() in found}
        return find

    return {("salesforce", "Lead"): salesforce("Lead", schema.EXT_CONTACT_ID),
            ("salesforce", "Opportunity"): salesforce("Opportunity", schema.EXT_DEAL_ID),
            ("hubspot", "contacts"): hubspot("contacts", "email"),
            ("hubspot", "companies"): hubspot("companies", schema.UNIQUE_ID["companies"]),
            ("hubspot", "deals"): hubspot("deals", schema.UNIQUE_ID["deals"])}


def recover(ctx: RunContext, finders: dict[tuple[str, str], Finder]) -> None:
    """Intents of runs that are over (killed, failed or stopped before recording the outcome) that
    no attempt has settled: each key is looked up in its CRM (`finders` map (crm, object type)
    to a function from keys to the ids of the records found); a record that exists was made by
    that run and gets its creation event now, naming it; a key with no record was never created.
    Either way the intent goes."""
    left = CreateIntent.objects.exclude(run=ctx.run).exclude(run__status=SyncRun.Status.RUNNING).select_related("run")
    by_type: dict[tuple[str, str], list[CreateIntent]] = {}
    for intent in left:
        by_type.setdefault((intent.crm, intent.object_type), []).append(intent)
    for (crm, object_type), intents in by_type.items():
        find = finders.get((crm, object_type))
        if find is None:
            continue
        found = find([i.key for i in intents])
        with transaction.atomic():
            for intent in intents:
                if intent.key in found:
                    _count(ctx, intent.run)
                    event = dict(intent.event)
                    message = event.pop("message", "")
                    ctx.events.append({**_fields(event), "run": intent.run, "target_id": found[intent.key],
                                       "message": f"{message} (created by run {intent.run_id}, which ended before "
                                                  "it could record it)".strip()})
            CreateIntent.objects.filter(pk__in=[i.pk for i in intents]).delete()
            ctx.flush()
