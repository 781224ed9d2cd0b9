"""Reads the console reuses: duplicate groups of each kind, a page at a time, in a fixed number
of queries however many groups or mirror rows exist. The groups come from DuplicateGroup, which
the sync keeps current (sync.engine.groups): one count and one page of groups on its indexes,
then the members, links and records of just those twenty keys."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Q, QuerySet

from sync.engine import groups as definitions
from sync.engine.rules import fold
from sync.models import (
    CompanyLink,
    ContactLink,
    Dismissal,
    DuplicateGroup,
    HsContact,
    LinkStatus,
    PossiblePair,
    SfAccount,
    SfPerson,
    email_key,
)

PER_PAGE = 20
KINDS = {"r2": "Same email in Salesforce", "r7": "One record, several HubSpot contacts",
         "r9": "Companies sharing an account"}
TABS = {**KINDS, "possible": "Possible duplicates"}
KIND_RULE = {"r2": "R2", "r7": "R7", "r9": "R9", "possible": "R1"}  # the tab's rule, linked in its help line
KIND_HELP = {"r2": "Live Salesforce leads and contacts that share an email (compared trimmed, ignoring case). "
                   "Merge them in Salesforce, keeping the record HubSpot currently syncs with as the primary.",
             "r7": "HubSpot contacts with different emails that carry the same Salesforce id. Merge them in HubSpot, "
                   "keeping the contact that syncs with the record.",
             "r9": "HubSpot companies that carry the same Salesforce account id. The linked one is marked.",
             "possible": "People who are probably the same but have different emails, so the sync keeps them apart "
                         "(only an email links records): Salesforce leads and contacts and HubSpot contacts compared "
                         "on name, company or email domain, and phone. Advisory: nothing happens unless you act."}
SORTS = {"key": "Email / id", "-size": "Largest first", "-modified": "Recently modified"}


@dataclass
class Group:
    key: str
    size: int
    modified: Any
    members: list = field(default_factory=list)
    synced: Any = None         # the member currently synced (R2: SfPerson; R7: HsContact; R9: HsCompany)
    synced_why: str = ""
    record: Any = None         # R7: the Salesforce record; R9: the account
    contacts: list = field(default_factory=list)  # R2: the HubSpot contacts linked to members
    leads: int = 0             # R2: how many members are leads (a lead and a contact: convert the lead)
    dismissal: Any = None      # shown dismissed: who said "not a duplicate", when and why


@dataclass
class GroupPage:
    groups: list[Group]
    total: int
    page: int
    pages: int

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _page(total: int, page: int) -> tuple[int, int, int]:
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(1, page), pages)
    return page, pages, (page - 1) * PER_PAGE


def why(link: ContactLink | CompanyLink) -> str:
    text = link.get_chosen_by_display()
    if getattr(link, "chosen_by", "") == "R6" and getattr(link, "chosen_by_user", None):
        text = f"R6 · resynced by {link.chosen_by_user.get_username()}"
    return f"{text}, since {link.since:%Y-%m-%d %H:%M} UTC"


# Each sort is served by an index of DuplicateGroup: (kind, key) unique, (kind, -size, key),
# (kind, -modified, key).
ORDER = {"key": ["key"], "-size": ["-size", "key"], "-modified": ["-modified", "key"]}


def _search(q: str) -> Q:
    """Groups or pairs whose search text holds `q` in part, ignoring case: an email, an id, a name
    (DuplicateGroup.search, PossiblePair.search). Also the term folded as names are for the
    possible pairs ("Müller" finds "muller" and "Müller"). One trigram index scan on PostgreSQL."""
    term = q.strip().lower()
    found = Q(search__contains=term)
    if (folded := fold(term)) and folded != term and "@" not in term:
        found |= Q(search__contains=folded)
    return found


def _group_page(kind: str, *, q: str, sort: str, page: int, mix: str = "",
                dismissed: bool = False) -> tuple[dict[str, Group], int, int, int]:
    # "Not a duplicate" (rules.is_dismissed): left out, or, on request, the only ones shown.
    qs: QuerySet = DuplicateGroup.objects.dismissed(kind) if dismissed else DuplicateGroup.objects.standing(kind)
    if q:
        qs = qs.filter(_search(q))
    if mix == "mixed":
        qs = qs.filter(leads__gt=0).exclude(leads=F("size"))
    elif mix == "leads":
        qs = qs.filter(leads=F("size"))
    elif mix == "contacts":
        qs = qs.filter(leads=0)
    total = qs.count()
    page, pages, offset = _page(total, page)
    rows = qs.order_by(*ORDER.get(sort, ORDER["key"])).values_list("key", "size", "modified", "leads")[
        offset:offset + PER_PAGE]
    groups = {key: Group(key, size, modified, leads=leads) for key, size, modified, leads in rows}
    if dismissed:
        for d in Dismissal.objects.filter(kind=kind, key__in=list(groups), undone_at__isnull=True).select_related(
                "created_by"):
            groups[d.key].dismissal = d
    return groups, total, page, pages


def r2_groups(*, q: str = "", mix: str = "", sort: str = "key", page: int = 1, dismissed: bool = False) -> GroupPage:
    groups, total, page, pages = _group_page("r2", q=q, mix=mix, sort=sort, page=page, dismissed=dismissed)
    # Never the records' raw payloads (a real org's are kilobytes each): the page shows a few columns.
    members = list(definitions.members("r2", groups).defer("raw").order_by("email_key", "pull_seq"))
    links = (ContactLink.objects.filter(sf_person__in=members).exclude(status=LinkStatus.UNSYNCED)
             .select_related("hs_contact", "chosen_by_user").defer("hs_contact__raw"))
    by_person: dict[int, list[ContactLink]] = {}
    for link in links:
        by_person.setdefault(link.sf_person_id, []).append(link)
    for m in members:
        g = groups[m.email_key]
        m.contact_links = by_person.get(m.pk, [])
        m.is_synced = any(link.status == LinkStatus.SYNCED for link in m.contact_links)
        g.members.append(m)
        g.contacts.extend(m.contact_links)
        if m.is_synced and g.synced is None:
            g.synced = m
            g.synced_why = why(next(link for link in m.contact_links if link.status == LinkStatus.SYNCED))
    return GroupPage(list(groups.values()), total, page, pages)


def r7_groups(*, q: str = "", sort: str = "key", page: int = 1, dismissed: bool = False) -> GroupPage:
    groups, total, page, pages = _group_page("r7", q=q, sort=sort, page=page, dismissed=dismissed)
    members = list(definitions.members("r7", groups).select_related("link__sf_person", "link__chosen_by_user")
                   .defer("raw", "link__sf_person__raw").order_by("group_key", "created_at", "pk"))
    records = {p.sf_id: p for p in SfPerson.objects.filter(sf_id__in=list(groups)).defer("raw")}
    for m in members:
        g = groups[m.group_key]
        g.members.append(m)
        g.record = records.get(m.group_key)
        link = getattr(m, "link", None)
        m.is_synced = bool(link and link.status == LinkStatus.SYNCED and link.sf_person and
                           link.sf_person.sf_id == m.group_key)
        if m.is_synced and g.synced is None:
            g.synced, g.synced_why = m, why(link)
    return GroupPage(list(groups.values()), total, page, pages)


def r9_groups(*, q: str = "", sort: str = "key", page: int = 1, dismissed: bool = False) -> GroupPage:
    groups, total, page, pages = _group_page("r9", q=q, sort=sort, page=page, dismissed=dismissed)
    members = list(definitions.members("r9", groups).select_related("link").defer("raw")
                   .order_by("group_key", "created_at", "pk"))
    accounts = {a.sf_id: a for a in SfAccount.objects.filter(sf_id__in=list(groups)).defer("raw")}
    for m in members:
        g = groups[m.group_key]
        g.members.append(m)
        g.record = accounts.get(m.group_key)
        link = getattr(m, "link", None)
        m.is_synced = link is not None
        if m.is_synced and g.synced is None:
            g.synced, g.synced_why = m, why(link)
    return GroupPage(list(groups.values()), total, page, pages)


@dataclass
class Side:
    side: str                  # "sf" or "hs"
    id: str
    record: Any = None         # SfPerson or HsContact (None: no longer in the mirror)
    synced_with: str = ""      # a HubSpot contact: the Salesforce id it syncs with


@dataclass
class Pair:
    key: str
    score: int
    reasons: list
    a: Side
    b: Side
    dismissal: Any = None

    @property
    def sides(self) -> list[Side]:
        return [self.a, self.b]

    @property
    def salesforce_pair(self) -> bool:
        return self.a.side == self.b.side == "sf"

    @property
    def contact_and_record(self) -> tuple[Side, Side] | None:
        """(the HubSpot contact, the Salesforce record) of a mixed pair."""
        if {self.a.side, self.b.side} == {"sf", "hs"}:
            return (self.a, self.b) if self.a.side == "hs" else (self.b, self.a)
        return None


def possible_pairs(*, q: str = "", page: int = 1, dismissed: bool = False, build: int | None = None) -> GroupPage:
    """The newest build's pairs, best score first, a page at a time (the (build, -score, key) index)."""
    qs = PossiblePair.objects.of_build(build, dismissed=dismissed)
    if q:
        qs = qs.filter(_search(q))
    total = qs.count()
    page, pages, offset = _page(total, page)
    rows = list(qs.order_by("-score", "key")[offset:offset + PER_PAGE])
    sf_ids = {r.a_id for r in rows if r.a_side == "sf"} | {r.b_id for r in rows if r.b_side == "sf"}
    hs_ids = {r.a_id for r in rows if r.a_side == "hs"} | {r.b_id for r in rows if r.b_side == "hs"}
    people = {("sf", p.sf_id): p for p in SfPerson.objects.filter(sf_id__in=sf_ids).defer("raw")}
    people |= {("hs", c.hs_id): c for c in HsContact.objects.filter(hs_id__in=hs_ids).defer("raw")}
    synced = dict(ContactLink.objects.filter(hs_contact__hs_id__in=hs_ids, status=LinkStatus.SYNCED)
                  .values_list("hs_contact__hs_id", "sf_person__sf_id"))
    dismissals = {d.key: d for d in Dismissal.objects.filter(kind="possible", key__in=[r.key for r in rows],
                                                             undone_at__isnull=True).select_related("created_by")}

    def side(kind: str, rid: str) -> Side:
        return Side(kind, rid, people.get((kind, rid)), synced.get(rid, "") if kind == "hs" else "")

    pairs = [Pair(r.key, r.score, r.reasons, side(r.a_side, r.a_id), side(r.b_side, r.b_id), dismissals.get(r.key))
             for r in rows]
    return GroupPage(pairs, total, page, pages)


def group_counts() -> dict[str, int]:
    """Counts of groups of each kind nobody marked "not a duplicate" (one query on DuplicateGroup's
    indexes), and of the newest build's possible pairs nobody dismissed."""
    from sync.engine.possible import latest

    counts = dict(DuplicateGroup.objects.standing().order_by().values_list("kind").annotate(n=Count("id")))
    build = latest()
    possible = PossiblePair.objects.of_build(build.pk).count() if build else None
    return {**{kind: counts.get(kind, 0) for kind in KINDS}, "possible": possible}


@dataclass
class KeysetPage:
    """A page of rows in primary-key order, reached by "after pk N" / "before pk N" instead of a
    page number, so no page counts the rows before it or in total (a COUNT(*) over a million
    contacts on every page view)."""

    object_list: list
    has_next: bool
    has_previous: bool

    @property
    def next_after(self) -> int | None:
        return self.object_list[-1].pk if self.has_next else None

    @property
    def previous_before(self) -> int | None:
        return self.object_list[0].pk if self.has_previous else None


def keyset_page(qs: QuerySet, *, per_page: int, after: int | None = None, before: int | None = None,
                also: tuple[str, ...] = ()) -> KeysetPage:
    """One query: a page plus one row, which says whether there is more in that direction.
    `also` names joined columns equal to the primary key (e.g. "link__hs_contact_id"): the same
    bound on them lets PostgreSQL start the joined index scan at the page instead of merging
    from the first row."""
    bound = ("pk", *also)
    if before:
        rows = list(qs.filter(**{f"{f}__lt": before for f in bound}).order_by("-pk")[:per_page + 1])
        return KeysetPage(rows[:per_page][::-1], has_next=True, has_previous=len(rows) > per_page)
    rows = list(qs.filter(**{f"{f}__gt": after or 0 for f in bound}).order_by("pk")[:per_page + 1])
    return KeysetPage(rows[:per_page], has_next=len(rows) > per_page, has_previous=bool(after))


COUNT_CAP = 10_000


@dataclass
class Span:
    """Where a keyset page sits in its list, for "Showing 51–100 of 653": counted with a LIMIT
    inside each count, so the work is bounded however long the list (over COUNT_CAP it says
    "more than 10,000" instead of counting a million rows on every page view)."""

    first: int | None   # the page's first row's position, None when over the cap
    shown: int
    total: int          # up to COUNT_CAP + 1

    @property
    def last(self) -> int | None:
        return self.first + self.shown - 1 if self.first is not None else None

    @property
    def total_over_cap(self) -> bool:
        return self.total > COUNT_CAP

    @property
    def cap(self) -> int:
        return COUNT_CAP


def capped_count(qs: QuerySet) -> int:
    return qs.order_by().values("pk")[:COUNT_CAP + 1].count()


def span(qs: QuerySet, rows: list, *, earlier: Q, at_start: bool = False, at_end: bool = False) -> Span | None:
    """`earlier` selects the rows listed before this page (`pk < first` ascending, `pk > first`
    newest first); none on the first page (`at_start`), none after the last (`at_end`: the total
    is then the rows before it and on it, so a search that fits on one page, the usual one, is
    not run a second time to be counted). Bounded counts, only for filters an index serves, where
    a capped count stops early or reads a short range (a rare match of an unindexed filter would
    be read to the end)."""
    if not rows:
        return None
    before = 0 if at_start else capped_count(qs.filter(earlier))
    total = before + len(rows) if at_end and before <= COUNT_CAP else capped_count(qs)
    return Span(before + 1 if before <= COUNT_CAP else None, len(rows), total)


def contact_search(q: str) -> Q:
    """HubSpot contacts matching the console's free-text search: part of the email or a name
    (trigram indexes on PostgreSQL, migrations 0005 and 0007), the HubSpot id, or the id of the Salesforce
    record it syncs with. That last one is resolved first: as a subquery inside the OR it would
    keep PostgreSQL from combining the indexes."""
    by_sf_id = list(ContactLink.objects.filter(sf_person__sf_id=q).values_list("hs_contact_id", flat=True)[:100])
    # icontains on the (lower-case) key: UPPER(email_key::text) LIKE UPPER(…), the expression the
    # trigram index of migration 0007 covers; equality look-ups keep to the btree.
    return (Q(email_key__icontains=email_key(q)) | Q(hs_id=q) | Q(last_name__icontains=q)
            | Q(first_name__icontains=q) | Q(pk__in=by_sf_id))
