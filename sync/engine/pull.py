"""Pull: both CRMs into the mirror, page by page, incrementally from saved watermarks.

Salesforce is read through queryAll on SystemModstamp, so deletions and merges arrive with
IsDeleted and MasterRecordId. HubSpot is read by last-modified date through search (or the list
endpoint on a full pull). A small overlap re-reads the edge of the previous window; rows whose
payload did not change are skipped.

Changed rows are written `dirty` and stay so until a run that reconciled them finishes; a run
that stops, fails or is killed leaves them dirty, and the next run reconciles them first. With
the watermarks also saved only at the end of a run, nothing pulled is ever left unreconciled.
A full run reconciles everything anyway, so its rows are written clean and the run is marked
pending instead (one row, `begin_full`): a run that finds a full run's mark reconciles
everything too. Rewriting every row of a full pull a second time only to clear a flag cost a
tenth of a 100,000-person full sync on PostgreSQL."""
from __future__ import annotations

import queue
import threading
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, connections
from django.db.models import Max
from django.utils import timezone
from simple_salesforce import format_soql

from sync.engine import bulk_pull, echo, mirror, rules, schema
from sync.models import (
    CrmUser,
    HsCompany,
    HsContact,
    HsDeal,
    SfAccount,
    SfOpportunity,
    SfPerson,
    SfReread,
    SyncSettings,
    Watermark,
)

OVERLAP = timedelta(seconds=2)  # Salesforce: a record can commit a moment after its SystemModstamp


def hubspot_overlap() -> timedelta:
    """HubSpot's search index shows a write seconds (sometimes tens of seconds) after it was made,
    not in order: each incremental pull re-reads this much before its watermark
    (HUBSPOT_SEARCH_OVERLAP), so an edit the index showed late is still read. Re-read rows that
    did not change cost a compare, nothing more (mirror.changed_only)."""
    from django.conf import settings

    return timedelta(seconds=settings.HUBSPOT_SEARCH_OVERLAP)
# One thread at a time in the database during a pull (pull_all runs the object types' pulls side
# by side: their requests overlap, their storing takes turns, as SQLite needs and costs nothing
# else: converting and storing is Python's work, which one process does one thread at a time).
STORE = threading.RLock()
MIRROR_MODELS = (SfPerson, SfAccount, SfOpportunity, HsContact, HsCompany, HsDeal)
BATCH_ROWS = 2000
LANE_BATCH_ROWS = 1000
_DONE = object()


def _next_watermark(since: datetime | None, newest: datetime | None, changed: int,
                    overlap: timedelta = OVERLAP) -> datetime | None:
    """The saved watermark; the next pull starts at it minus OVERLAP, re-reading the window's
    edge because a record can show up late (Salesforce commits after stamping SystemModstamp;
    HubSpot's search index lags). When a pull found nothing new, that edge has now been read
    twice, a run apart: the next pull may start at the newest stamp itself (still inclusive), so
    a quiet org costs one request per object instead of re-reading a burst of earlier writes."""
    if newest is None:
        return since
    if changed == 0 and since is not None:
        return max(since, newest + overlap)
    return newest if since is None else max(since, newest)


@dataclass
class Touched:
    """What changed in this pull: the reconcile step looks only at these (unless `everything`)."""

    everything: bool = False  # reconcile every record, not only these
    # The pull listed every record of every object (a full pull, not one that only became
    # `everything` after an unfinished full run): what is not in the mirror does not exist.
    listed_all: bool = False
    sf_ids: set[str] = field(default_factory=set)
    email_keys: set[str] = field(default_factory=set)
    hs_contact_ids: set[str] = field(default_factory=set)
    account_ids: set[str] = field(default_factory=set)
    company_ids: set[str] = field(default_factory=set)
    opportunity_ids: set[str] = field(default_factory=set)
    deal_ids: set[str] = field(default_factory=set)
    pulled: int = 0
    # Where the next pull of each object starts. Saved only when the whole cycle has finished:
    # a run that stops, fails or is killed after pulling leaves them where they were, so the
    # next run pulls the same window again and nothing it pulled goes unreconciled.
    watermarks: dict[tuple[str, str], datetime] = field(default_factory=dict)
    # Per Salesforce object, the newest SfReread the pull has read (or needed not to): a finished
    # run removes it and the older ones.
    rereads: dict[str, int] = field(default_factory=dict)
    # Accounts that merged-away accounts pulled in this run were merged into (_reread_reparented).
    account_masters: set[str] = field(default_factory=set)

    def merge(self, other: Touched) -> None:
        """Fold a part's findings into this one (pull_all's parts each keep their own)."""
        for name in ("sf_ids", "email_keys", "hs_contact_ids", "account_ids", "company_ids", "opportunity_ids",
                     "deal_ids"):
            getattr(self, name).update(getattr(other, name))
        self.pulled += other.pulled
        self.watermarks.update(other.watermarks)
        self.rereads.update(other.rereads)
        self.account_masters.update(other.account_masters)

    def any(self) -> bool:
        return self.everything or any((self.sf_ids, self.email_keys, self.hs_contact_ids, self.account_ids,
                                       self.company_ids, self.opportunity_ids, self.deal_ids))


def _watermark(crm: str, object_type: str) -> datetime | None:
    return Watermark.objects.filter(crm=crm, object_type=object_type).values_list("value", flat=True).first()


# The mark of a full run that has not finished (a Watermark row of its own "crm": no pull reads it).
FULL_PENDING = {"crm": "sync", "object_type": "full run pending"}


def begin_full() -> None:
    """Before a full run's pull: until a run that reconciled everything finishes, every run does."""
    Watermark.objects.update_or_create(**FULL_PENDING, defaults={"value": timezone.now()})


def save_watermarks(touched: Touched) -> None:
    """Called by the cycle once reconcile, push and field sync are done: the next pull starts
    after this one, and the rows it reconciled are clean."""
    for (crm, object_type), value in touched.watermarks.items():
        Watermark.objects.update_or_create(crm=crm, object_type=object_type, defaults={"value": value})
    for model in MIRROR_MODELS:
        model.objects.filter(dirty=True).update(dirty=False)
    if touched.everything:
        Watermark.objects.filter(**FULL_PENDING).delete()
    for obj, upto in touched.rereads.items():
        SfReread.objects.filter(object_type=obj, pk__lte=upto).delete()
    oldest = Watermark.objects.filter(crm="hubspot").order_by("value").values_list("value", flat=True).first()
    if oldest is not None:
        echo.prune(oldest)


def touch_dirty(touched: Touched) -> None:
    """Rows an unfinished earlier run pulled but never reconciled join this run's scope; after
    an unfinished full run (its rows were written clean), everything does."""
    if not touched.everything and Watermark.objects.filter(**FULL_PENDING).exists():
        touched.everything = True
    if touched.everything:
        return
    for sf_id, key in SfPerson.objects.filter(dirty=True).values_list("sf_id", "email_key").iterator():
        touched.sf_ids.add(sf_id)
        if key:
            touched.email_keys.add(key)
    touched.account_ids.update(SfAccount.objects.filter(dirty=True).values_list("sf_id", flat=True))
    touched.opportunity_ids.update(SfOpportunity.objects.filter(dirty=True).values_list("sf_id", flat=True))
    for hs_id, key in HsContact.objects.filter(dirty=True).values_list("hs_id", "email_key").iterator():
        touched.hs_contact_ids.add(hs_id)
        if key:
            touched.email_keys.add(key)
    touched.company_ids.update(HsCompany.objects.filter(dirty=True).values_list("hs_id", flat=True))
    touched.deal_ids.update(HsDeal.objects.filter(dirty=True).values_list("hs_id", flat=True))


def _keep_watermark(touched: Touched, crm: str, object_type: str, value: datetime | None) -> None:
    if value is not None:
        touched.watermarks[(crm, object_type)] = value


def pull_salesforce_object(conn, obj: str, *, full: bool, seq_base: int, touched: Touched,
                           tick: Callable[[int], None], reject: mirror.Reject | None = None, depth: int = 2) -> int:
    """One object's records into the mirror; returns the next pull sequence number (R3 keeps
    the order Salesforce returned people in)."""
    seq = seq_base
    with STORE:
        since = None if full else _watermark("salesforce", obj)
    select = schema.sf_select(obj)
    soql = select
    if since is not None:
        soql += format_soql(" WHERE SystemModstamp >= {}", since - OVERLAP) + _not_own(conn)
    with STORE:
        fresh = mirror.is_empty(SF_MODELS[obj])
        # Records queued to be read again (SfReread) before this pull: read by it (a full or an
        # unfiltered pull reads them anyway), removed when the run finishes.
        queued = SfReread.objects.filter(object_type=obj).aggregate(upto=Max("pk"))["upto"]
    newest, changed_total = None, 0
    # A full pull may go through Bulk API 2.0 (bulk_pull.py); either way in Salesforce's order.
    pages = conn.query_pages(soql, include_deleted=True) if since is not None else bulk_pull.full_pages(conn, obj, soql)
    for records in prefetch(batched(pages, BATCH_ROWS if depth > 1 else LANE_BATCH_ROWS), depth):
        with STORE:
            seq, rows, changed = _store_sf(obj, records, seq, touched, fresh=fresh, reject=reject)
            newest = _newest(newest, (r.system_modstamp for r in rows))
            changed_total += len(changed)
            tick(len(records))
    if queued is not None:
        if since is not None and own_writes_skipped():
            seq = _reread_queued(conn, obj, select, seq, queued, touched, reject)
        touched.rereads[obj] = queued
    _keep_watermark(touched, "salesforce", obj, _next_watermark(since, newest, changed_total))
    return seq


SF_MODELS = {"Account": SfAccount, "Opportunity": SfOpportunity, "Contact": SfPerson, "Lead": SfPerson}


def _store_sf(obj: str, records: list[dict], seq: int, touched: Touched, *, fresh: bool = False,
              reject: mirror.Reject | None = None, keep_order: bool = False) -> tuple[int, list, list]:
    """One batch of pulled Salesforce records into the mirror: the next sequence number, the
    rows, and those that were news. `keep_order`: a re-read of records the mirror holds keeps
    the order the pull gave them (R3)."""
    model = SF_MODELS[obj]
    if model is SfPerson:
        rows = [schema.sf_person(r, seq + i) for i, r in enumerate(records)]
        seq += len(records)
    elif model is SfAccount:
        rows = [schema.sf_account(r) for r in records]
    else:
        rows = [schema.sf_opportunity(r) for r in records]
    changed = rows if fresh else mirror.changed_only(model, rows)
    marked = changed if touched.everything else mirror.mark_dirty(changed)
    if keep_order and model is SfPerson:
        mirror.upsert(model, marked, update=mirror.pulled_fields(model, keep=("pull_seq",)), reject=reject)
    else:
        mirror.upsert(model, marked, reject=reject)
    _note_sf(obj, changed, touched)
    if model is SfAccount:
        touched.account_masters.update(r.master_record_id for r in changed if r.is_deleted and r.master_record_id)
    touched.pulled += len(changed)
    return seq, rows, changed


def own_writes_skipped() -> bool:
    from django.conf import settings

    return settings.SALESFORCE_SKIP_OWN_WRITES


def _not_own(conn) -> str:
    """With SALESFORCE_SKIP_OWN_WRITES, an incremental pull leaves out the records whose last
    change crmsync's own user made: the mirror already holds what it wrote (schema.sf_written).
    Deletions are read whoever made them (a console merge's losers). What that leaves unread:
    records whose change crmsync made but could not record exactly (SfReread, read by id) and
    children a person's account merge moved to another account without changing who last
    modified them (pull_all: _reread_reparented)."""
    if not own_writes_skipped():
        return ""
    return format_soql(" AND (LastModifiedById != {} OR IsDeleted = true)", own_user(conn))


def own_user(conn) -> str:
    """crmsync's Salesforce user id: kept in CrmUser for these credentials, asked of Salesforce
    (userinfo) only the first time, so a quiet run still costs one query per object."""
    key = conn.identity_key()
    with STORE:
        known = CrmUser.objects.filter(key=key).values_list("user_id", flat=True).first()
    if known:
        return known
    user_id = conn.own_user_id()
    with STORE:
        CrmUser.objects.update_or_create(key=key, defaults={"crm": "salesforce", "user_id": user_id,
                                                            "checked_at": timezone.now()})
    return user_id


def store_found(obj: str, records: list[dict], seq: int) -> None:
    """Records found outside a pull (intents.recover) into the mirror as a pull stores them, dirty
    until the run finishes; people keep an order the mirror gave them, else `seq` on."""
    _store_sf(obj, records, seq, Touched(), keep_order=True)


def _reread_reparented(conn, touched: Touched, seq: int, reject) -> None:
    """A merge of accounts moves the losers' contacts and opportunities to the master, changing
    their SystemModstamp but not who last modified them: a child crmsync wrote last is left out
    by _not_own, so after an incremental pull that saw accounts merged away, their masters'
    children that crmsync's user modified last are read by account (one query per object type)."""
    if not touched.account_masters or not own_writes_skipped():
        return
    me, masters = own_user(conn), sorted(touched.account_masters)
    for obj in ("Contact", "Opportunity"):
        mine = schema.sf_select(obj) + format_soql(" WHERE LastModifiedById = {}", me)
        records = list(conn.query_in(mine + " AND AccountId IN {}", masters))
        with STORE:
            seq, _, _ = _store_sf(obj, records, seq, touched, reject=reject, keep_order=True)


def _reread_queued(conn, obj: str, select: str, seq: int, upto: int, touched: Touched, reject) -> int:
    with STORE:
        ids = sorted(set(SfReread.objects.filter(object_type=obj, pk__lte=upto).values_list("sf_id", flat=True)))
    records = list(conn.query_in(select + " WHERE Id IN {}", ids, include_deleted=True))
    with STORE:
        seq, _, _ = _store_sf(obj, records, seq, touched, reject=reject, keep_order=True)
    return seq


def _newest(newest: datetime | None, stamps) -> datetime | None:
    found = max((s for s in stamps if s), default=None)
    return newest if found is None else found if newest is None else max(newest, found)


def batched(pages: Iterable[list[dict]], rows: int = BATCH_ROWS) -> Iterator[list[dict]]:
    """Pages joined into batches of about `rows`: a HubSpot page holds only 100 records, and one
    write transaction per 100 rows spends more time committing than writing."""
    batch: list[dict] = []
    for page in pages:
        batch.extend(page)
        if len(batch) >= rows:
            yield batch
            batch = []
    if batch:
        yield batch


def prefetch(pages: Iterator[list[dict]], depth: int = 2) -> Iterator[list[dict]]:
    """Fetch the next batches in a thread while the caller writes this one, so the CRM's time to
    answer overlaps ours to store. Callers hand it whole batches (`prefetch(batched(pages))`): with
    HubSpot's 100-record pages, a queue of two pages ahead emptied at once into a 2,000-row batch
    and the CRM sat idle while we stored it (the 100,000-person HubSpot pull: 27 s → 22 s). The
    thread only does HTTP (no database, no transaction); its errors are raised here, in the order
    the pages would have come."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> None:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for page in pages:
                put(page)
                if stop.is_set():
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)

    worker = threading.Thread(target=produce, name="pull-prefetch", daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
        # Closed here, not whenever the garbage collector gets to it: a page source may hold a
        # lock while it is suspended (one Bulk results page at a time, SalesforceConnector).
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def _note_sf(obj: str, rows, touched: Touched) -> None:
    if touched.everything:
        return
    if obj in ("Contact", "Lead"):
        for r in rows:
            touched.sf_ids.add(r.sf_id)
            if r.email_key:
                touched.email_keys.add(r.email_key)
    elif obj == "Account":
        touched.account_ids.update(r.sf_id for r in rows)
    else:
        touched.opportunity_ids.update(r.sf_id for r in rows)


HS_MODELS = {"companies": (HsCompany, schema.hs_company), "contacts": (HsContact, schema.hs_contact),
             "deals": (HsDeal, schema.hs_deal)}


def pull_hubspot_object(conn, object_type: str, *, full: bool, settings: SyncSettings, touched: Touched,
                        tick: Callable[[int], None], reject: mirror.Reject | None = None, depth: int = 2) -> None:
    model, convert = HS_MODELS[object_type]
    props = schema.hs_properties(object_type, settings)
    started = timezone.now()
    with STORE:
        since = None if full else _watermark("hubspot", object_type)
        if since is None:
            pages = conn.list_pages(object_type, props)
        else:   # what crmsync's own writes explain is not asked for (echo.py)
            floor = since - hubspot_overlap()
            window = echo.window_for(object_type, floor) if conn.ledger is not None else None
            pages = conn.modified_since(object_type, floor, props, window=window)
        fresh = mirror.is_empty(model)
    newest, changed_total = None, 0
    seen = array("q") if since is None else None   # a listing of every live record: what it did not name is gone
    # Side by side (depth 1, pull_all) HubSpot's 100-record pages are stored 1,000 at a time:
    # every lane's batches are in memory at once.
    for records in prefetch(batched(pages, BATCH_ROWS if depth > 1 else LANE_BATCH_ROWS), depth):
        with STORE:
            rows = [convert(r, settings) for r in records]
            if seen is not None:
                seen.extend(int(r.hs_id) for r in rows if r.hs_id.isdigit())
            changed = rows if fresh else mirror.changed_only(model, rows)
            mirror.upsert(model, changed if touched.everything else mirror.mark_dirty(changed), reject=reject)
            if not touched.everything:
                note_hs(object_type, changed, touched)
            newest = _newest(newest, (r.last_modified for r in rows))
            touched.pulled += len(changed)
            changed_total += len(changed)
            tick(len(records))
    if _archived_due(object_type, full=since is None):
        _pull_archived(conn, object_type, props, settings=settings, touched=touched, reject=reject, seen=seen)
        _archived_listed(object_type)
    if since is None and newest is None:
        # A full listing that found nothing (a portal without deals, say): the next pull searches
        # from just before this one began, instead of listing everything again every run.
        newest = started - hubspot_overlap()
    _keep_watermark(touched, "hubspot", object_type, _next_watermark(since, newest, changed_total, hubspot_overlap()))


def note_hs(object_type: str, rows, touched: Touched) -> None:
    {"contacts": touched.hs_contact_ids, "companies": touched.company_ids,
     "deals": touched.deal_ids}[object_type].update(r.hs_id for r in rows)
    if object_type == "contacts":
        touched.email_keys.update(r.email_key for r in rows if r.email_key)


def _archived_due(object_type: str, *, full: bool) -> bool:
    """rules.list_archived_now, with its facts: webhooks on, their last batch, the last listing."""
    from django.conf import settings as conf

    from sync.models import LiveSyncState

    now = timezone.now()
    with STORE:
        state = LiveSyncState.load()
    listed = state.archived_listed.get(object_type)

    def age(at):
        return (now - at).total_seconds() if at is not None else None
    return rules.list_archived_now(full=full, webhooks_on=bool(conf.HUBSPOT_WEBHOOK_SECRET),
                                   last_event_age_s=age(state.last_event_at),
                                   last_listed_age_s=age(schema.parse_dt(listed)) if listed else None,
                                   every_s=conf.HUBSPOT_ARCHIVED_LISTING_MINUTES * 60)


def _archived_listed(object_type: str) -> None:
    from sync.models import LiveSyncState

    with STORE:   # HubSpot's objects are pulled one after another (one lane): no lost update
        state = LiveSyncState.load()
        state.archived_listed = {**state.archived_listed, object_type: timezone.now().isoformat()}
        state.save(update_fields=["archived_listed"])


def _pull_archived(conn, object_type: str, props: list[str], *, settings: SyncSettings, touched: Touched,
                   reject: mirror.Reject | None, seen: array | None) -> None:
    """HubSpot's search never returns a deleted or merged-away record, so every run also lists
    the archived ones (one request per 100 of them): a mirror row found there is marked archived
    and removals.py ends its links. A full pull's `seen` (the live ids it listed) also finds rows
    HubSpot no longer has at all (purged, GDPR-deleted): they are marked archived too."""
    model, convert = HS_MODELS[object_type]
    archived = array("q")
    for records in batched(conn.list_pages(object_type, props, archived=True)):
        with STORE:
            rows = [convert(r, settings) for r in records]
            archived.extend(int(r.hs_id) for r in rows if r.hs_id.isdigit())
            changed = mirror.changed_only(model, rows)
            mirror.upsert(model, changed if touched.everything else mirror.mark_dirty(changed), reject=reject)
            touched.pulled += len(changed)
            if not touched.everything:
                note_hs(object_type, changed, touched)
    if seen is None:
        return
    # Both listings come in id order (HubSpot pages by id); sorted once more only if not. Arrays
    # of 8-byte ids: a million contacts cost 8 MB here, not a set of strings.
    listed = [ids if all(ids[i] <= ids[i + 1] for i in range(len(ids) - 1)) else array("q", sorted(ids))
              for ids in (seen, archived)]
    gone, last = [], 0
    with STORE:
        live = model.objects.filter(archived=False).order_by("pk")
        while page := list(live.filter(pk__gt=last).values_list("pk", "hs_id")[:5000]):
            last = page[-1][0]
            gone += [pk for pk, hs_id in page if not any(_contains(ids, hs_id) for ids in listed)]
        if gone:
            model.objects.filter(pk__in=gone).update(archived=True, dirty=True)
            touched.pulled += len(gone)


def _contains(sorted_ids: array, hs_id: str) -> bool:
    if not hs_id.isdigit():
        return True  # not one of HubSpot's numeric ids: never judged missing
    i = bisect_left(sorted_ids, int(hs_id))
    return i < len(sorted_ids) and sorted_ids[i] == int(hs_id)


# A full pull split into parts that workers run in parallel (sync/engine/parallel.py): one per
# object type of each CRM. Each Salesforce part numbers its people from its own block, in the
# sequential pull's order, so R3's "first returned" means the same thing either way.
STREAMS = tuple(f"salesforce:{o}" for o in schema.SF_PULL_ORDER) + tuple(f"hubspot:{t}" for t in HS_MODELS)
SEQ_BLOCK = 1 << 26
# Blocks after the pull's own (one per Salesforce object): people a pull re-reads that it had not
# numbered (_reread_reparented), and people the run itself creates (RunContext.created_person_seq).
REREAD_BLOCK, CREATED_BLOCK = len(schema.SF_PULL_ORDER), len(schema.SF_PULL_ORDER) + 1
LANES = tuple((s,) for s in STREAMS if s.startswith("salesforce:")) + (
    tuple(s for s in STREAMS if s.startswith("hubspot:")),)


def pull_stream(name: str, *, sf, hs, full: bool, seq_base: int, settings: SyncSettings, touched: Touched,
                tick: Callable[[int], None], reject: mirror.Reject | None = None, depth: int = 2) -> None:
    crm, _, obj = name.partition(":")
    if crm == "salesforce":
        block = seq_base + schema.SF_PULL_ORDER.index(obj) * SEQ_BLOCK
        pull_salesforce_object(sf, obj, full=full, seq_base=block, touched=touched, tick=tick, reject=reject, depth=depth)
    elif crm == "hubspot" and obj in HS_MODELS:
        pull_hubspot_object(hs, obj, full=full, settings=settings, touched=touched, tick=tick, reject=reject,
                            depth=depth)
    else:
        raise ValueError(f"unknown pull stream {name!r}")


def pull_all(sf, hs, *, full: bool, seq_base: int, settings: SyncSettings, touched: Touched,
             tick: Callable[[int], None], reject: mirror.Reject | None = None,
             crms: tuple[str, ...] = ("salesforce", "hubspot")) -> None:
    """Both CRMs side by side, each Salesforce object in a thread of its own and HubSpot's three
    in one more (LANES): a run waits for the slowest object's pages, not for all of them one
    after another (at HubSpot's and Salesforce's real pace, 10,000 people: the pull took 8.9 s
    in turn, 2.6 s so). HubSpot's objects share one rate window, so more threads would not
    fetch them sooner, only hold more pages in memory. Each stream numbers its Salesforce
    people from its own block (pull_stream), so R3's order is the one a sequential pull gives.
    Inside a transaction (a caller's, or a test's) the threads' own connections would not see
    its rows, and with SYNC_PULL_SIDE_BY_SIDE off memory is the scarcer: the streams then run
    one after another. `crms` narrows the pull to one CRM's objects (a live run reads HubSpot's
    by the ids its webhooks named, engine/live.py)."""
    from django.conf import settings as django_settings

    lanes = tuple(lane for lane in LANES if lane[0].partition(":")[0] in crms)
    if "salesforce" in crms and own_writes_skipped():
        # Known before the first write, and kept (CrmUser): a full run, among its thousand
        # requests, asks once; the quiet runs after it ask nothing but their queries.
        own_user(sf)
    if connection.in_atomic_block or not django_settings.SYNC_PULL_SIDE_BY_SIDE:
        for name in (s for lane in lanes for s in lane):
            pull_stream(name, sf=sf, hs=hs, full=full, seq_base=seq_base, settings=settings, touched=touched,
                        tick=tick, reject=reject)
    else:
        _side_by_side(sf, hs, lanes, full=full, seq_base=seq_base, settings=settings, touched=touched, tick=tick,
                      reject=reject)
    if not full and "salesforce" in crms:
        _reread_reparented(sf, touched, seq_base + REREAD_BLOCK * SEQ_BLOCK, reject)


def _side_by_side(sf, hs, lanes, *, full: bool, seq_base: int, settings: SyncSettings, touched: Touched,
                  tick: Callable[[int], None], reject: mirror.Reject | None) -> None:
    stop = threading.Event()

    def guarded(n: int) -> None:
        if stop.is_set():
            raise _Stopped
        with STORE:
            tick(n)

    def one(lane: tuple[str, ...]) -> Touched:
        part = Touched(everything=touched.everything, listed_all=touched.listed_all)
        try:
            # One batch ahead per stream, not two: the lanes already overlap the CRMs' answers
            # with storing, and every batch held is up to 2,000 records in memory.
            for name in lane:
                pull_stream(name, sf=sf, hs=hs, full=full, seq_base=seq_base, settings=settings, touched=part,
                            tick=guarded, reject=reject, depth=1)
        except BaseException:
            stop.set()   # the others stop at their next batch
            raise
        finally:
            connections.close_all()   # this thread's own
        return part

    with ThreadPoolExecutor(max_workers=len(LANES), thread_name_prefix="pull") as pool:
        futures = [pool.submit(one, lane) for lane in lanes]
        wait(futures)
    errors = [f.exception() for f in futures if f.exception() is not None]
    real = [e for e in errors if not isinstance(e, _Stopped)]
    if real or errors:
        raise (real or errors)[0]
    for f in futures:
        touched.merge(f.result())


class _Stopped(Exception):
    """Another stream of the same pull failed: this one stops too."""
