"""Accounts ↔ companies (R9, R10).

R9: a company carrying an account's id is that account's company; where several carry it, the
oldest is linked and the others are duplicates for the console. R10: when a synced contact's
Salesforce contact belongs to an account, that account's company is reused if one is linked,
else the contact's own unlinked company is linked, else a company is created and associated.
Companies are created by upsert on a unique property holding the account id: never twice."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from sync.crm import hubspot
from sync.engine import bulk, intents, rules, schema
from sync.engine.context import RunContext
from sync.engine.mirror import upsert
from sync.engine.pull import Touched
from sync.engine.rules import CompanyKind
from sync.models import (
    AuditEvent,
    CompanyLink,
    ContactLink,
    HsCompany,
    HsContact,
    LinkStatus,
    PairStatus,
    SfAccount,
    SfPerson,
)

A = AuditEvent.Action
COMPANY = "hubspot.company"
PAGE = 2000
ACCOUNTS = 500  # accounts decided per links query (R10)


def link_companies_by_account_id(ctx: RunContext, touched: Touched) -> None:
    """R9: link unlinked companies whose salesforceaccountid names a live, unlinked account."""
    qs = (HsCompany.objects.filter(archived=False).exclude(salesforce_account_id="")
          .annotate(linked=Exists(CompanyLink.objects.filter(hs_company=OuterRef("pk"))))
          .filter(linked=False).only("pk", "hs_id", "name", "salesforce_account_id")
          .order_by("salesforce_account_id", "created_at", "pk"))
    if not touched.everything:
        qs = qs.filter(Q(hs_id__in=list(touched.company_ids)) | Q(salesforce_account_id__in=list(touched.account_ids)))
    last = ""
    while page := list(qs.filter(salesforce_account_id__gt=last)[:PAGE]):
        first_per_account: dict[str, HsCompany] = {}
        for company in page:
            first_per_account.setdefault(company.salesforce_account_id, company)
        # The next page starts after this page's last account: the rest of that account's
        # companies are duplicates (R9) anyway, only the oldest one is linked.
        last = page[-1].salesforce_account_id
        _link_by_account_id(ctx, first_per_account)


def _link_by_account_id(ctx: RunContext, first_per_account: dict[str, HsCompany]) -> None:
    accounts = {a.sf_id: a for a in SfAccount.objects.filter(sf_id__in=list(first_per_account))
                .annotate(linked=Exists(CompanyLink.objects.filter(sf_account=OuterRef("pk"))))
                .only("pk", "sf_id", "name", "is_deleted")}
    made = []
    for account_id, company in first_per_account.items():
        account = accounts.get(account_id)
        if account is None or rules.company_for_account(account_live=not account.is_deleted, account_linked=account.linked,
                                                        carriers=[company.hs_id]) is None:
            continue
        made.append(bulk.build(CompanyLink, {"hs_company": company, "sf_account": account,
                                             "chosen_by": CompanyLink.ChosenBy.ACCOUNT_ID}))
        ctx.event(action=A.LINK_CREATED, rule="R9", target_type=COMPANY, target_id=company.hs_id,
                  target_repr=company.name, after={"sf_account_id": account.sf_id},
                  message=f"Its Salesforce account id {account.sf_id} matches account {account.name!r}.")
    with transaction.atomic():
        bulk.insert(CompanyLink, made)
        ctx.flush()


def companies_follow_contacts(ctx: RunContext, touched: Touched) -> None:
    """R10, for synced contacts whose Salesforce contact has an account. An account is decided
    with all its synced contacts at once (never split across batches, nor limited to the contacts
    this run touched), so the company it gets does not depend on batching or on which run —
    after a crash, say — happened to see which contact first."""
    links = ContactLink.objects.filter(sf_person__object_type="Contact").exclude(sf_person__account_id="")
    by_account: dict[str, list[str]] = defaultdict(list)
    pending = 0
    for accounts in _account_batches(links, touched):
        # Only the account ids in SQL: with the type or status there too, the planners take
        # those indexes and read every contact for each batch (the type is checked per row).
        for account_id, contact_id, status, object_type, outside in (
                ContactLink.objects.filter(sf_person__account_id__in=accounts)
                .order_by("sf_person__account_id", "pk")
                .values_list("sf_person__account_id", "hs_contact__hs_id", "status", "sf_person__object_type",
                             "hs_contact__outside_list")):
            if object_type != "Contact" or not rules.follows_its_account(outside_list=outside):
                continue
            if pending >= hubspot.V4_BATCH_LIMIT and account_id not in by_account:
                _follow(ctx, by_account)  # one associations read a batch
                by_account, pending = defaultdict(list), 0
            if status == LinkStatus.SYNCED:
                by_account[account_id].append(contact_id)
                pending += 1
    if by_account:
        _follow(ctx, by_account)


def _account_batches(links, touched: Touched) -> Iterator[list[str]]:
    """The accounts to decide, in order, ACCOUNTS at a time: every account a Salesforce contact
    belongs to (a full run, read through the sfperson_by_account index), or those of the contacts,
    people and accounts the run touched. Each batch's links are then one indexed query: a keyset
    over the (account, link) join instead re-sorted the whole join for every page: quadratic,
    and where a million-person run spent most of its time."""
    if not touched.everything:
        accounts = sorted(set(links.filter(Q(hs_contact__hs_id__in=list(touched.hs_contact_ids)) | Q(
            sf_person__sf_id__in=list(touched.sf_ids)) | Q(sf_person__account_id__in=list(touched.account_ids)))
            .values_list("sf_person__account_id", flat=True)))
        for i in range(0, len(accounts), ACCOUNTS):
            yield accounts[i:i + ACCOUNTS]
        return
    # A range on the account index alone ('' sorts first, so people without an account are
    # skipped): with a type filter SQLite takes the type index and scans every contact per batch.
    people = SfPerson.objects.order_by("account_id")
    last = ""
    while accounts := list(people.filter(account_id__gt=last).values_list("account_id", flat=True)
                           .distinct()[:ACCOUNTS]):
        yield accounts
        last = accounts[-1]


def _follow(ctx: RunContext, by_account: dict[str, list[str]]) -> None:
    """R10 for one batch: `by_account` maps account ids to their synced contacts' HubSpot ids.
    Gathers the facts (the accounts, their links, and — asked of HubSpot, since the pull's pages
    carry no associations — each contact's companies), decides with rules.decide_companies, and
    applies: HubSpot first (claims, creates, associations), then the links and events."""
    s = ctx.settings
    accounts = {a.sf_id: a for a in SfAccount.objects.filter(sf_id__in=list(by_account)).only("pk", "sf_id", "name",
                                                                                             "is_deleted")}
    links = {cl.sf_account.sf_id: cl for cl in
             CompanyLink.objects.filter(sf_account__sf_id__in=list(accounts)).select_related("sf_account", "hs_company")
             .only("status", "sf_account__sf_id", "hs_company__hs_id", "hs_company__name")}
    contact_ids = sorted({c for a in accounts for c in by_account[a]})
    associated = ctx.hs.associated("contacts", "companies", contact_ids) if contact_ids else {}
    # The companies free for R10 (rules.free_for_r10), filtered in SQL.
    own = {c.hs_id: c for c in HsCompany.objects.filter(
        hs_id__in=sorted({i for ids in associated.values() for i in ids}), archived=False,
        salesforce_account_id="").only("pk", "hs_id", "name").annotate(
        is_linked=Exists(CompanyLink.objects.filter(hs_company=OuterRef("pk")))).filter(is_linked=False)}
    facts = []
    for account_id, contacts in by_account.items():
        account, link = accounts.get(account_id), links.get(account_id)
        facts.append(rules.AccountFacts(
            account_id=account_id, live=account is not None and not account.is_deleted,
            company=link.hs_company.hs_id if link and link.status == PairStatus.SYNCED else None,
            company_gone=link is not None and link.status != PairStatus.SYNCED,
            contacts=tuple((c, tuple(associated.get(c, ()))) for c in contacts), free=frozenset(own)))
    decisions = rules.decide_companies(facts)
    claims = {d.account_id: own[d.company] for d in decisions if d.kind == CompanyKind.CLAIM}
    if claims:
        ctx.hs.update("companies", [{"id": c.hs_id, "properties": {s.prop_salesforce_account_id: a}}
                                    for a, c in claims.items()])
    created = _create_companies(ctx, [accounts[d.account_id] for d in decisions if d.kind == CompanyKind.CREATE])
    companies = {**{a: link.hs_company for a, link in links.items()}, **claims, **created}
    pairs = [(c, companies[d.account_id].hs_id) for d in decisions if d.account_id in companies for c in d.associate]
    if pairs:
        ctx.hs.associate_default("contacts", "companies", pairs)
    made = []
    for d in decisions:
        company = claims.get(d.account_id) or created.get(d.account_id)
        if company is None:
            continue
        how = CompanyLink.ChosenBy.FOLLOWED_CONTACT if d.kind == CompanyKind.CLAIM else CompanyLink.ChosenBy.CREATED
        made.append(bulk.build(CompanyLink, {"hs_company": company, "sf_account": accounts[d.account_id],
                                             "chosen_by": how}))
        ctx.event(action=A.LINK_CREATED, rule="R10", target_type=COMPANY, target_id=company.hs_id,
                  target_repr=company.name, after={"sf_account_id": d.account_id, "how": how},
                  message=d.message if d.kind == CompanyKind.CLAIM else
                  f"Created for account {d.account_id} ({accounts[d.account_id].name}).")
    for contact_id, company_id in pairs:
        ctx.event(action=A.LINK_CREATED, rule="R10", target_type="hubspot.contact", target_id=contact_id,
                  after={"company": company_id}, message=f"Associated with company {company_id}.")
    with transaction.atomic():
        bulk.update(HsContact, [(c, ids[0] if ids else "") for c, ids in associated.items()],
                    fields=("primary_company_id",), key="hs_id")
        bulk.update(HsCompany, [(c.pk, a) for a, c in [*claims.items(), *created.items()]],
                    fields=("salesforce_account_id",))
        # An account linked meanwhile keeps its company (R10: reused, never duplicated).
        bulk.insert(CompanyLink, made, conflict="sf_account")
        bulk.update(HsContact, pairs, fields=("primary_company_id",), key="hs_id", unless_set="primary_company_id")
        ctx.flush()


def _create_companies(ctx: RunContext, accounts: list[SfAccount]) -> dict[str, HsCompany]:
    """Companies for accounts that have none, upserted by a unique property holding the account
    id (schema.UNIQUE_ID): a retry, or the next run after a kill, finds the company the first
    attempt made instead of making a second one — without relying on HubSpot's search, whose
    index lags behind fresh writes."""
    if not accounts:
        return {}
    s = ctx.settings
    unique = schema.UNIQUE_ID["companies"]
    ctx.hs.ensure_unique_property("companies", unique, "Salesforce account (crmsync)")
    events = {a.sf_id: {"rule": "R10", "target_type": COMPANY, "target_repr": a.name,
                        "after": {"name": a.name, s.prop_salesforce_account_id: a.sf_id},
                        "message": f"Created for Salesforce account {a.sf_id}: no company was linked to it."}
              for a in accounts}
    written, prior = intents.send(ctx, "hubspot", "companies", events, lambda: ctx.hs.upsert("companies", unique, [
        {"id": a.sf_id, "properties": {"name": a.name or a.sf_id, s.prop_salesforce_account_id: a.sf_id, unique: a.sf_id}}
        for a in accounts]), record_type="company", operation="create company",
        what=lambda key: f"Creating a company for account {key}")
    rows = [schema.hs_company(r.record, s) for r in written]
    with transaction.atomic():
        upsert(HsCompany, rows)
        intents.settle(ctx, "hubspot", "companies", written, prior)
        ctx.flush()
    return {c.salesforce_account_id: c for c in HsCompany.objects.filter(hs_id__in=[r.hs_id for r in rows])
            .only("pk", "hs_id", "name", "salesforce_account_id")}
