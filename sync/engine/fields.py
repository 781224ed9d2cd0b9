"""Field sync for linked pairs, one rule per field like HubSpot's field mappings:
prefer Salesforce unless blank · always Salesforce · two-way (most recent change wins) · don't sync.

Values are read from the payloads the pull stored (`raw`), compared after normalising (emails by
R1's key, amounts as decimals, dates as dates), and every overwrite is one audit event.
Two-way compares record-level modification times: neither API gives per-field times cheaply."""
from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import connections, transaction
from django.db.models import Count, Max, Min

from sync.crm.base import TURN
from sync.crm.explain import in_words
from sync.engine import bulk, mirror, schema, stages
from sync.engine.context import RunContext
from sync.engine.fit import fit
from sync.engine.pull import Touched
from sync.engine.rules import fields_exchanged
from sync.models import AuditEvent, CompanyLink, ContactLink, DealLink, FieldRule, HsContact, LinkStatus, email_key

CHUNK = 1000  # pairs per database round; _send's connectors split the writes into 200 (Salesforce) / 100 (HubSpot)
REQUIRED_SF = {"LastName", "Company", "Name", "StageName", "CloseDate"}  # never blanked in Salesforce
PIPELINE = True   # one chunk's writes in flight while the next chunk is decided (sync_fields)


@dataclass(slots=True)
class Record:
    """One side of a pair: its mirror model, primary key, payload and the columns field sync reads
    (a slotted dataclass: a million of them are made in a full run)."""

    model: type
    pk: int
    raw: dict | None
    key: str                  # hs_id or sf_id
    modified: object = None   # last_modified / last_modified_date
    email: str = ""

    @property
    def hs_id(self) -> str:
        return self.key

    @property
    def sf_id(self) -> str:
        return self.key


@dataclass
class Pair:
    hs_type: str         # contacts / companies / deals
    hs_record: Record    # .hs_id, .raw, .modified (last_modified), .email
    sf_type: str         # Lead / Contact / Account / Opportunity
    sf_record: Record    # .sf_id, .raw, .modified (last_modified_date)




def _norm(field: str, value) -> str:
    if value is None:
        return ""
    text = str(value).strip()
    if text == schema.PLACEHOLDER:
        return ""
    if field == "Email":
        return email_key(text)
    if field == "Amount":
        d = schema.parse_decimal(text)
        return "" if d is None else str(d.normalize())
    if field == "CloseDate":
        d = schema.parse_date(text)
        return d.isoformat() if d else ""
    return text


def _to_hs(field: str, value) -> str:
    return "" if value is None else str(value)


def _to_sf(field: str, value: str):
    if field == "Amount":
        d = schema.parse_decimal(value)
        return float(d) if d is not None else None
    if field == "CloseDate":
        d = schema.parse_date(value)
        return d.isoformat() if d else None
    return value or None


def decide(rule: str, field: str, hs_value, sf_value, *, sf_newer: bool) -> tuple[str, object] | None:
    """('hubspot', new value) / ('salesforce', new value) / None for one field of one pair. A deal
    stage is compared as the Salesforce stage it maps to (the caller converts, stages.py); a stage
    with no counterpart (None) is never written."""
    if field == "StageName" and hs_value is None:
        return None
    outcome = _decide(rule, field, hs_value, sf_value, sf_newer=sf_newer)
    if outcome is not None and outcome[1] is None and field == "StageName":
        return None
    return outcome


def _decide(rule: str, field: str, hs_value, sf_value, *, sf_newer: bool) -> tuple[str, object] | None:
    hv, sv = _norm(field, hs_value), _norm(field, sf_value)
    if hv == sv or rule == FieldRule.Rule.NONE:
        return None
    if rule == FieldRule.Rule.ALWAYS_SALESFORCE:
        return "hubspot", _to_hs(field, sf_value)
    if rule == FieldRule.Rule.PREFER_SALESFORCE:
        if sv:
            return "hubspot", _to_hs(field, sf_value)
        return ("salesforce", _to_sf(field, str(hs_value).strip())) if hv else None
    if sf_newer:  # two-way
        return "hubspot", _to_hs(field, sf_value)
    if not hv and field in REQUIRED_SF:
        return None
    return "salesforce", _to_sf(field, str(hs_value).strip() if hs_value is not None else "")


def _stage(rule: str, hs_stage, sf_stage, pipeline: str, m: stages.Mapping, *, sf_newer: bool):
    """A deal stage, compared in HubSpot's terms: several Salesforce stages share one HubSpot
    stage (Value Proposition and Needs Analysis are both "presentation scheduled"), and a stage
    is written only as the other side's own value — the pipeline's stage for a Salesforce stage,
    the mapped Salesforce stage for a HubSpot one — never as a raw id."""
    as_hs = stages.to_hubspot(sf_stage, pipeline, m=m)[1] if sf_stage else None
    as_sf = stages.to_salesforce(pipeline, hs_stage, m=m) if hs_stage else None
    outcome = decide(rule, "StageName", hs_stage, as_hs if as_hs is not None else f"salesforce:{sf_stage}",
                     sf_newer=sf_newer)
    if outcome is None:
        return None
    value = as_hs if outcome[0] == "hubspot" else as_sf
    return None if value is None else (outcome[0], value)


# (HubSpot type, link query, HubSpot side, Salesforce side, the HubSpot side's label column,
# the Salesforce type or the column that holds it).
SIDES = (("contacts", "hs_contact", "sf_person", "email", "object_type"),
         ("companies", "hs_company", "sf_account", None, "Account"),
         ("deals", "hs_deal", "sf_opportunity", None, "Opportunity"))


TYPES = tuple(hs_type for hs_type, *_ in SIDES)


def _links(hs_type: str):
    return {"contacts": ContactLink, "companies": CompanyLink, "deals": DealLink}[hs_type].objects.all()


@dataclass(frozen=True)
class Part:
    """The links of one type with lo < pk ≤ hi: what one task of a parallel run compares."""

    hs_type: str
    lo: int
    hi: int

    @property
    def name(self) -> str:
        return f"fields:{self.hs_type}:{self.lo}-{self.hi}"

    @classmethod
    def from_name(cls, name: str) -> Part:
        _, hs_type, bounds = name.split(":")
        lo, hi = bounds.split("-")
        return cls(hs_type, int(lo), int(hi))


def parts(pairs_per_part: int) -> list[Part]:
    """Every link, split by primary key into parts of about `pairs_per_part` links."""
    out = []
    for hs_type, *_ in SIDES:
        b = _links(hs_type).aggregate(lo=Min("pk"), hi=Max("pk"), n=Count("pk"))
        if not b["n"]:
            continue
        count = -(-b["n"] // pairs_per_part)
        step = -(-(b["hi"] - b["lo"] + 1) // count)
        out += [Part(hs_type, lo, min(lo + step, b["hi"])) for lo in range(b["lo"] - 1, b["hi"], step)]
    return out


def _pairs(touched: Touched, part: Part | None = None, types: tuple[str, ...] = ()) -> Iterator[list[Pair]]:
    """Linked pairs CHUNK at a time, as plain values (no model instances: at a million pairs
    building them cost more than the comparison); with `part`, only that part's links; with
    `types`, only those object types'."""
    ids = {"contacts": (touched.hs_contact_ids, touched.sf_ids), "companies": (touched.company_ids, touched.account_ids),
           "deals": (touched.deal_ids, touched.opportunity_ids)}
    for hs_type, h, sf, label, sf_type in SIDES:
        if (part is not None and part.hs_type != hs_type) or (types and hs_type not in types):
            continue
        qs = _links(hs_type).filter(**{f"{h}__archived": False})
        hs_model, sf_model = (qs.model._meta.get_field(name).related_model for name in (h, sf))
        columns = ["pk", f"{h}__pk", f"{h}__hs_id", f"{h}__raw", f"{h}__last_modified", f"{sf}__pk", f"{sf}__sf_id",
                   f"{sf}__raw", f"{sf}__last_modified_date"]
        columns += [f"{h}__{label}"] if label else []
        columns += [f"{sf}__{sf_type}"] if sf_type == "object_type" else []
        # Only synced links sync fields (R7: only the contact that syncs with a record writes to
        # it; a pair whose other side was deleted writes nothing). Filtered here, not in SQL:
        # with `status = …` in the query the planners walk the status index and sort every
        # synced link for each chunk (quadratic over a run) instead of reading the next CHUNK.
        columns += [f"{h}__outside_list"] if hs_type == "contacts" else []
        columns += ["status"]
        if touched.everything:
            pages = _every_link(qs.filter(pk__lte=part.hi) if part else qs, columns, part.lo if part else 0)
        else:
            pages = _touched_links(qs, columns, {f"{h}__hs_id__in": ids[hs_type][0], f"{sf}__sf_id__in": ids[hs_type][1]})
        for page in pages:
            batch = [row for row in page if row[-1] == LinkStatus.SYNCED
                     and (hs_type != "contacts" or fields_exchanged(outside_list=row[-2]))]  # the inclusion list
            yield [Pair(hs_type, Record(hs_model, row[1], row[3], row[2], row[4], row[9] if label else ""),
                        row[10] if sf_type == "object_type" else sf_type,
                        Record(sf_model, row[5], row[7], row[6], row[8]))
                   for row in batch]


def _every_link(qs, columns: list[str], after: int) -> Iterator[list[tuple]]:
    """A keyset walk by primary key, CHUNK links a page."""
    while page := list(qs.filter(pk__gt=after).order_by("pk").values_list(*columns)[:CHUNK]):
        after = page[-1][0]
        yield page


def _touched_links(qs, columns: list[str], lookups: dict[str, set[str]]) -> Iterator[list[tuple]]:
    """The links of the touched records on either side, CHUNK ids a query, each link once. (One
    query with every touched id, paged by key, compiled and sent all the ids again for every
    page: after a full sync's 47,000 echoes, most of the next run's field sync.)"""
    seen: set[int] = set()
    for lookup, values in lookups.items():
        values = sorted(values)
        for i in range(0, len(values), CHUNK):
            page = [row for row in qs.filter(**{lookup: values[i:i + CHUNK]}).order_by("pk").values_list(*columns)
                    if row[0] not in seen]
            seen.update(row[0] for row in page)
            if page:
                yield page


@dataclass
class Plan:
    """One chunk's decided changes: what goes to each CRM, and what each change was."""

    hs_writes: dict = field(default_factory=dict)   # (hs_type, hs_id) → {property: value}
    sf_writes: dict = field(default_factory=dict)   # sf_id → the record to update
    changes: list = field(default_factory=list)     # (pair, rule, side, before, value, cut)
    keys: set = field(default_factory=set)          # every record id of the chunk's pairs


@dataclass
class Sent:
    """What the CRMs answered to a plan's writes (connector WriteResults)."""

    hs: list = field(default_factory=list)   # (hs_type, result)
    sf: list = field(default_factory=list)


def sync_fields(ctx: RunContext, touched: Touched, *, part: Part | None = None,
                tick: Callable[[int], None] | None = None, types: tuple[str, ...] = TYPES) -> None:
    """Every touched pair of the `types` (or those of one `part`); `tick` hears of each chunk
    compared.

    One chunk's writes are in flight while the next chunk is decided (a thread of its own sends
    them: at the CRMs' real pace the comparing then happens under their waits). Each chunk's
    outcome is still recorded after its answers and before the next chunk's writes go out, so a
    kill anywhere leaves at most one chunk written and unrecorded, as before, which the next run
    compares again and finds equal. A chunk that shares a record with the one in flight waits
    for it to be recorded first. Where threads may not write (RunContext.writes_behind: SQLite,
    or inside a transaction) the chunks go one after another."""
    rules = {"contacts": [], "companies": [], "deals": []}
    for r in FieldRule.objects.exclude(rule=FieldRule.Rule.NONE):
        rules[{"contact": "contacts", "company": "companies", "deal": "deals"}[r.object]].append(r)
    m = stages.mapping()
    if not (PIPELINE and ctx.writes_behind()):
        for pairs in _pairs(touched, part, types):
            plan = _plan(ctx, pairs, rules, m)
            _record(ctx, plan, _send(ctx, plan))
            if tick is not None:
                tick(len(pairs))
        return
    in_flight: tuple[Plan, Future] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="field-writes") as sender:
        try:
            for pairs in _pairs(touched, part, types):
                if in_flight and any(p.hs_record.key in in_flight[0].keys or p.sf_record.key in in_flight[0].keys
                                     for p in pairs):
                    _record(ctx, in_flight[0], _answered(in_flight[1]))
                    in_flight = None
                plan = _plan(ctx, pairs, rules, m)
                if in_flight:
                    _record(ctx, in_flight[0], _answered(in_flight[1]))
                # In this part's context (base.PART): its calls are counted as this step's.
                in_flight = (plan, sender.submit(contextvars.copy_context().run, _send, ctx, plan))
                if tick is not None:
                    tick(len(pairs))
            if in_flight:
                _record(ctx, in_flight[0], _answered(in_flight[1]))
        finally:
            sender.submit(connections.close_all)   # the sending thread's own (the HubSpot ledger's)


def _answered(sent: Future) -> Sent:
    """The sending thread's outcome; waiting for it is waiting for the CRMs, so a part of a step
    beside this one (sidebyside.py) goes on meanwhile."""
    with TURN.waiting():
        return sent.result()


def _plan(ctx: RunContext, pairs: list[Pair], rules: dict, m: stages.Mapping) -> Plan:
    """Decide a chunk (reads the mirror, writes nothing)."""
    plan = Plan(keys={k for p in pairs for k in (p.hs_record.key, p.sf_record.key)})
    hs_writes, sf_writes, changes = plan.hs_writes, plan.sf_writes, plan.changes
    # Emails HubSpot contacts other than the pair's own already have (HubSpot refuses a second one).
    wanted = {email_key((p.sf_record.raw or {}).get("Email")) for p in pairs if p.hs_type == "contacts"} - {""}
    owners: dict[str, set[int]] = {}
    for key, pk in HsContact.objects.filter(email_key__in=wanted, archived=False).values_list("email_key", "pk"):
        owners.setdefault(key, set()).add(pk)
    for pair in pairs:
        hs_props = (pair.hs_record.raw or {}).get("properties") or {}
        sf_raw = pair.sf_record.raw or {}
        sf_time, hs_time = pair.sf_record.modified, pair.hs_record.modified
        sf_newer = bool(sf_time and (hs_time is None or sf_time >= hs_time))
        for rule in rules[pair.hs_type]:
            if rule.salesforce_field == "Company" and pair.sf_type != "Lead":
                continue  # a Salesforce contact's company is its account (R10)
            hs_value = hs_props.get(rule.hubspot_property)
            if rule.salesforce_field == "StageName":
                outcome = _stage(rule.rule, hs_value, sf_raw.get("StageName"),
                                 hs_props.get("pipeline") or stages.DEFAULT_PIPELINE, m, sf_newer=sf_newer)
            else:
                outcome = decide(rule.rule, rule.salesforce_field, hs_value, sf_raw.get(rule.salesforce_field),
                                 sf_newer=sf_newer)
            if outcome is None:
                continue
            side, value = outcome
            others = owners.get(email_key(value), set()) - {pair.hs_record.pk} if side == "hubspot" else set()
            if rule.hubspot_property == "email" and others:
                continue  # R7: another HubSpot contact has that email; the console merges them, not us
            cut = []
            if side == "hubspot":
                hs_writes.setdefault((pair.hs_type, pair.hs_record.hs_id), {})[rule.hubspot_property] = value
                before = hs_props.get(rule.hubspot_property)
            else:
                fitted, cut = fit(ctx.sf.describe(pair.sf_type), {rule.salesforce_field: value})
                value = fitted[rule.salesforce_field]
                sf_writes.setdefault(pair.sf_record.sf_id, {"attributes": {"type": pair.sf_type},
                                                            "Id": pair.sf_record.sf_id})[rule.salesforce_field] = value
                before = sf_raw.get(rule.salesforce_field)
            changes.append((pair, rule, side, before, value, cut))
    return plan


def _record(ctx: RunContext, plan: Plan, sent: Sent) -> None:
    """A chunk's outcome: the refused records' errors, then the mirror and one audit event per
    change written, in one transaction."""
    failed, stamps = _outcome(ctx, plan, sent)
    changes = plan.changes
    patched: dict[tuple[type, int], dict] = {}
    hs_stamps: dict[tuple[type, int], object] = {}
    sf_rows: dict[type, dict[int, object]] = {}
    for pair, rule, side, before, value, cut in changes:
        record_id = pair.hs_record.hs_id if side == "hubspot" else pair.sf_record.sf_id
        if record_id in failed:
            continue
        record = _patch_mirror(pair, side, rule, value)
        if side == "salesforce":
            # The whole row follows the payload (an email written is the row's email key too), stamped
            # from the write: with SALESFORCE_SKIP_OWN_WRITES no pull brings this write back.
            sf_rows.setdefault(record.model, {})[record.pk] = schema.sf_written(
                pair.sf_type, {**record.raw, "Id": record_id}, stamps.get(record_id))
        else:
            patched[record.model, record.pk] = record.raw
        if side == "hubspot" and stamps.get(record_id):
            hs_stamps[record.model, record.pk] = stamps[record_id]
        ctx.counts["field_changes"] += 1
        ctx.event(action=AuditEvent.Action.FIELD_CHANGED,
                  target_type=f"hubspot.{pair.hs_type[:-1] if pair.hs_type != 'companies' else 'company'}"
                  if side == "hubspot" else f"salesforce.{pair.sf_type}",
                  target_id=record_id, target_repr=str(getattr(pair.hs_record, "email", "") or record_id),
                  before={rule.label: before}, after={rule.label: value},
                  message=f"{rule.get_rule_display()}: {'Salesforce' if side == 'hubspot' else 'HubSpot'}'s "
                          f"value of {rule.label.lower()} written to {'HubSpot' if side == 'hubspot' else 'Salesforce'}"
                          + (f" ({'; '.join(cut)})." if cut else "."))
    with transaction.atomic():
        for model in {model for model, _ in patched}:
            rows = [(pk, raw) for (m, pk), raw in patched.items() if m is model and (m, pk) not in hs_stamps]
            bulk.update(model, rows, fields=("raw",))
            # HubSpot's answer dates the write: the mirror moves to it, so the record's older
            # version that HubSpot's lagging search may still show is never taken for news.
            stamped = [(pk, raw, hs_stamps[m, pk]) for (m, pk), raw in patched.items() if m is model and (m, pk) in hs_stamps]
            bulk.update(model, stamped, fields=("raw", "last_modified"))
        for model, rows in sf_rows.items():
            mirror.upsert_written(model, list(rows.values()))
        ctx.flush()


def _send(ctx: RunContext, plan: Plan) -> Sent:
    """Send one chunk's changes (the connectors batch them) and keep the answers: network only,
    no change to the run's state, so it may run in the sending thread."""
    sent = Sent()
    by_type: dict[str, list] = {}
    for (hs_type, hs_id), props in plan.hs_writes.items():
        by_type.setdefault(hs_type, []).append({"id": hs_id, "properties": props})
    for hs_type, inputs in by_type.items():
        sent.hs += [(hs_type, r) for r in ctx.hs.update(hs_type, inputs)]
    if plan.sf_writes:
        sent.sf = ctx.sf.update(list(plan.sf_writes.values()))
    return sent


def _outcome(ctx: RunContext, plan: Plan, sent: Sent) -> tuple[set[str], dict]:
    """The ids of the records refused (each an error), and when each CRM wrote each of its
    records (HubSpot's `updatedAt`; Salesforce's clock before the write, WriteResult.at)."""
    failed: set[str] = set()
    stamps: dict = {}
    for hs_type, r in sent.hs:
        if r.ok:
            stamps[r.key] = schema.parse_dt((r.record or {}).get("updatedAt"))
            ctx.wrote("field sync", [r.key])
        else:
            failed.add(r.key)
            ctx.record_error(crm="hubspot", object_type=hs_type, record_id=r.key, operation="field sync",
                             code=r.code, message=in_words("hubspot", f"Field sync to HubSpot {hs_type[:-1]} {r.key}", r))
    types = {record["Id"]: record["attributes"]["type"] for record in plan.sf_writes.values()}
    for r in sent.sf:
        if r.ok:
            stamps[r.key] = r.at
            ctx.wrote("field sync", [r.key])
        else:
            failed.add(r.key)
            ctx.record_error(crm="salesforce", object_type=types[r.key], record_id=r.key, operation="field sync",
                             code=r.code, message=in_words("salesforce", f"Field sync to Salesforce {types[r.key]} {r.key}", r))
    return failed, stamps


def _patch_mirror(pair: Pair, side: str, rule: FieldRule, value):
    """Keep the mirror's payload in step with what we wrote, so the next run sees no difference
    (the record's new `raw` is saved with the chunk's audit events)."""
    if side == "hubspot":
        record = pair.hs_record
        raw = dict(record.raw or {})
        raw["properties"] = {**(raw.get("properties") or {}), rule.hubspot_property: value}
    else:
        record = pair.sf_record
        raw = {**(record.raw or {}), rule.salesforce_field: value}
    record.raw = raw
    return record
