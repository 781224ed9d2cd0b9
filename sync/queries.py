"""Reads the console reuses: duplicate groups of each kind, a page at a time, in a fixed number
of queries however many groups exist (one count, one page of group keys, one of members, one of
the links that mark the currently synced record)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, CharField, Count, F, Max, Q, When

from sync.models import CompanyLink, ContactLink, HsCompany, HsContact, LinkStatus, SfAccount, SfPerson, email_key

PER_PAGE = 20
KINDS = {"r2": "Same email in Salesforce (R2)", "r7": "One record, several HubSpot contacts (R7)",
         "r9": "Companies sharing an account (R9)"}
KIND_HELP = {"r2": "Live Salesforce leads and contacts that share an email (compared trimmed, ignoring case). "
                   "Merge them in Salesforce, keeping the record HubSpot currently syncs with as the primary.",
             "r7": "HubSpot contacts with different emails that carry the same Salesforce id. Merge them in HubSpot, "
                   "keeping the contact that syncs with the record.",
             "r9": "HubSpot companies that carry the same Salesforce account id. The linked one is marked."}
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


def _order(sort: str, key: str) -> list[str]:
    return {"-size": ["-size", key], "-modified": ["-modified", key]}.get(sort, [key])


def _r2_live():
    return SfPerson.objects.filter(is_deleted=False, is_converted=False).exclude(email_key="")


def _r2_keys(q: str = "", mix: str = ""):
    live = _r2_live()
    keys = live.values("email_key").annotate(size=Count("id"), modified=Max("system_modstamp"),
                                             leads=Count("id", filter=Q(object_type="Lead"))).filter(size__gt=1)
    if q:
        hits = live.filter(Q(email_key__contains=email_key(q)) | Q(sf_id=q.strip()) | Q(last_name__icontains=q.strip())
                           | Q(first_name__icontains=q.strip()))
        keys = keys.filter(email_key__in=hits.values("email_key"))
    if mix == "mixed":
        keys = keys.filter(leads__gt=0).exclude(leads=F("size"))
    elif mix == "leads":
        keys = keys.filter(leads=F("size"))
    elif mix == "contacts":
        keys = keys.filter(leads=0)
    return keys


def r2_groups(*, q: str = "", mix: str = "", sort: str = "key", page: int = 1) -> GroupPage:
    live = _r2_live()
    keys = _r2_keys(q, mix)
    total = keys.count()
    page, pages, offset = _page(total, page)
    rows = list(keys.order_by(*_order(sort, "email_key"))[offset:offset + PER_PAGE])
    groups = {r["email_key"]: Group(r["email_key"], r["size"], r["modified"]) for r in rows}
    members = list(live.filter(email_key__in=list(groups)).order_by("email_key", "pull_seq"))
    links = (ContactLink.objects.filter(sf_person__in=members).exclude(status=LinkStatus.UNSYNCED)
             .select_related("hs_contact", "chosen_by_user"))
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


def _sf_key():
    return Case(When(~Q(salesforce_contact_id=""), then="salesforce_contact_id"), default="salesforce_lead_id",
                output_field=CharField())


def _r7_live():
    return HsContact.objects.filter(archived=False).annotate(sf_key=_sf_key()).exclude(sf_key="")


def _r7_keys(q: str = ""):
    live = _r7_live()
    keys = live.values("sf_key").annotate(size=Count("id"), modified=Max("last_modified")).filter(size__gt=1)
    if q:
        term = q.strip()
        hits = live.filter(Q(email_key__contains=email_key(term)) | Q(hs_id=term) | Q(sf_key=term)
                           | Q(last_name__icontains=term))
        keys = keys.filter(sf_key__in=hits.values("sf_key"))
    return keys


def r7_groups(*, q: str = "", sort: str = "key", page: int = 1) -> GroupPage:
    live = _r7_live()
    keys = _r7_keys(q)
    total = keys.count()
    page, pages, offset = _page(total, page)
    rows = list(keys.order_by(*_order(sort, "sf_key"))[offset:offset + PER_PAGE])
    groups = {r["sf_key"]: Group(r["sf_key"], r["size"], r["modified"]) for r in rows}
    members = list(live.filter(sf_key__in=list(groups)).select_related("link__sf_person", "link__chosen_by_user")
                   .order_by("sf_key", "created_at", "pk"))
    records = {p.sf_id: p for p in SfPerson.objects.filter(sf_id__in=list(groups))}
    for m in members:
        g = groups[m.sf_key]
        g.members.append(m)
        g.record = records.get(m.sf_key)
        link = getattr(m, "link", None)
        m.is_synced = bool(link and link.status == LinkStatus.SYNCED and link.sf_person and
                           link.sf_person.sf_id == m.sf_key)
        if m.is_synced and g.synced is None:
            g.synced, g.synced_why = m, why(link)
    return GroupPage(list(groups.values()), total, page, pages)


def _r9_live():
    return HsCompany.objects.filter(archived=False).exclude(salesforce_account_id="")


def _r9_keys(q: str = ""):
    live = _r9_live()
    keys = live.values("salesforce_account_id").annotate(size=Count("id"), modified=Max("last_modified")) \
        .filter(size__gt=1)
    if q:
        term = q.strip()
        hits = live.filter(Q(name__icontains=term) | Q(hs_id=term) | Q(salesforce_account_id=term))
        keys = keys.filter(salesforce_account_id__in=hits.values("salesforce_account_id"))
    return keys


def r9_groups(*, q: str = "", sort: str = "key", page: int = 1) -> GroupPage:
    live = _r9_live()
    keys = _r9_keys(q)
    total = keys.count()
    page, pages, offset = _page(total, page)
    rows = list(keys.order_by(*_order(sort, "salesforce_account_id"))[offset:offset + PER_PAGE])
    groups = {r["salesforce_account_id"]: Group(r["salesforce_account_id"], r["size"], r["modified"]) for r in rows}
    members = list(live.filter(salesforce_account_id__in=list(groups)).select_related("link")
                   .order_by("salesforce_account_id", "created_at", "pk"))
    accounts = {a.sf_id: a for a in SfAccount.objects.filter(sf_id__in=list(groups))}
    for m in members:
        g = groups[m.salesforce_account_id]
        g.members.append(m)
        g.record = accounts.get(m.salesforce_account_id)
        link = getattr(m, "link", None)
        m.is_synced = link is not None
        if m.is_synced and g.synced is None:
            g.synced, g.synced_why = m, why(link)
    return GroupPage(list(groups.values()), total, page, pages)


def group_counts() -> dict[str, int]:
    """Counts of groups of each kind (three aggregate queries)."""
    return {"r2": _r2_keys().count(), "r7": _r7_keys().count(), "r9": _r9_keys().count()}
