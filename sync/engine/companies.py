"""Accounts ↔ companies (R9, R10).

R9: a company carrying an account's id is that account's company; where several carry it, the
oldest is linked and the others are duplicates for the console. R10: when a synced contact's
Salesforce contact belongs to an account, that account's company is reused if one is linked,
else the contact's own unlinked company is linked, else a company is created and associated.
Company creation is looked up by salesforceaccountid before and after, never blindly retried."""
from __future__ import annotations

from collections import defaultdict

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from sync.engine import schema
from sync.engine.context import RunContext
from sync.engine.mirror import upsert
from sync.engine.pull import Touched
from sync.models import AuditEvent, CompanyLink, ContactLink, HsCompany, HsContact, LinkStatus, SfAccount

A = AuditEvent.Action
COMPANY = "hubspot.company"


def link_companies_by_account_id(ctx: RunContext, touched: Touched) -> None:
    """R9: link unlinked companies whose salesforceaccountid names a live, unlinked account."""
    qs = (HsCompany.objects.filter(archived=False).exclude(salesforce_account_id="")
          .annotate(linked=Exists(CompanyLink.objects.filter(hs_company=OuterRef("pk"))))
          .filter(linked=False).order_by("salesforce_account_id", "created_at", "pk"))
    if not touched.everything:
        qs = qs.filter(Q(hs_id__in=list(touched.company_ids)) | Q(salesforce_account_id__in=list(touched.account_ids)))
    first_per_account: dict[str, HsCompany] = {}
    for company in qs.iterator(chunk_size=2000):
        first_per_account.setdefault(company.salesforce_account_id, company)
    accounts = {a.sf_id: a for a in SfAccount.objects.filter(sf_id__in=list(first_per_account), is_deleted=False)
                .annotate(linked=Exists(CompanyLink.objects.filter(sf_account=OuterRef("pk")))).filter(linked=False)}
    with transaction.atomic():
        for account_id, company in first_per_account.items():
            account = accounts.get(account_id)
            if account is None:
                continue
            CompanyLink.objects.create(hs_company=company, sf_account=account, chosen_by=CompanyLink.ChosenBy.ACCOUNT_ID)
            ctx.event(action=A.LINK_CREATED, rule="R9", target_type=COMPANY, target_id=company.hs_id,
                      target_repr=company.name, after={"sf_account_id": account.sf_id},
                      message=f"Its Salesforce account id {account.sf_id} matches account {account.name!r}.")
        ctx.flush()


def companies_follow_contacts(ctx: RunContext, touched: Touched) -> None:
    """R10, for synced contacts whose Salesforce contact has an account."""
    links = (ContactLink.objects.filter(status=LinkStatus.SYNCED, sf_person__object_type="Contact")
             .exclude(sf_person__account_id="").select_related("sf_person", "hs_contact"))
    if not touched.everything:
        links = links.filter(Q(hs_contact__hs_id__in=list(touched.hs_contact_ids)) | Q(sf_person__sf_id__in=list(
            touched.sf_ids)) | Q(sf_person__account_id__in=list(touched.account_ids)))
    by_account: dict[str, list[HsContact]] = defaultdict(list)
    for link in links.iterator(chunk_size=2000):
        by_account[link.sf_person.account_id].append(link.hs_contact)
        if len(by_account) >= 100:
            _follow(ctx, by_account)
            by_account = defaultdict(list)
    if by_account:
        _follow(ctx, by_account)


def _follow(ctx: RunContext, by_account: dict[str, list[HsContact]]) -> None:
    s = ctx.settings
    accounts = {a.sf_id: a for a in SfAccount.objects.filter(sf_id__in=list(by_account), is_deleted=False)}
    linked = {cl.sf_account.sf_id: cl.hs_company for cl in
              CompanyLink.objects.filter(sf_account__sf_id__in=list(accounts)).select_related("sf_account", "hs_company")}
    # Which companies each contact is associated with, asked of HubSpot: the pull's list/search
    # pages carry no associations, so the mirror cannot tell (one v4 batch read per 1,000 contacts).
    contact_ids = sorted({c.hs_id for a in accounts for c in by_account[a]})
    associated = ctx.hs.associated("contacts", "companies", contact_ids) if contact_ids else {}
    own = {c.hs_id: c for c in HsCompany.objects.filter(
        hs_id__in=sorted({i for ids in associated.values() for i in ids}), archived=False,
        salesforce_account_id="").annotate(
        is_linked=Exists(CompanyLink.objects.filter(hs_company=OuterRef("pk")))).filter(is_linked=False)}
    to_claim: dict[str, HsCompany] = {}   # R10: the contact's own unlinked company
    to_create: list[SfAccount] = []
    for account_id, contacts in by_account.items():
        account = accounts.get(account_id)
        if account is None or account_id in linked:
            continue
        mine = next((own[i] for c in contacts for i in associated.get(c.hs_id, [])
                     if i in own and own[i] not in to_claim.values()), None)
        if mine is not None:
            to_claim[account_id] = mine
        else:
            to_create.append(account)
    if to_claim:
        ctx.hs.update("companies", [{"id": c.hs_id, "properties": {s.prop_salesforce_account_id: a}}
                                    for a, c in to_claim.items()])
    created = _create_companies(ctx, to_create)
    companies = {**linked, **to_claim, **created}
    pairs = [(c.hs_id, companies[a].hs_id) for a, cs in by_account.items() if a in companies
             for c in cs if companies[a].hs_id not in associated.get(c.hs_id, [])]
    if pairs:
        ctx.hs.associate_default("contacts", "companies", pairs)
    with transaction.atomic():
        for contact_id, ids in associated.items():
            HsContact.objects.filter(hs_id=contact_id).update(primary_company_id=ids[0] if ids else "")
        for account_id, company in [*to_claim.items(), *created.items()]:
            how = CompanyLink.ChosenBy.FOLLOWED_CONTACT if account_id in to_claim else CompanyLink.ChosenBy.CREATED
            HsCompany.objects.filter(pk=company.pk).update(salesforce_account_id=account_id)
            CompanyLink.objects.get_or_create(sf_account=accounts[account_id],
                                              defaults={"hs_company": company, "chosen_by": how, "since": timezone.now()})
            ctx.event(action=A.LINK_CREATED, rule="R10", target_type=COMPANY, target_id=company.hs_id,
                      target_repr=company.name, after={"sf_account_id": account_id, "how": how},
                      message=(f"Linked to account {account_id}: the company its contact was associated with."
                               if how == "R10" else f"Created for account {account_id} ({accounts[account_id].name})."))
        for contact_id, company_id in pairs:
            HsContact.objects.filter(hs_id=contact_id, primary_company_id="").update(primary_company_id=company_id)
            ctx.event(action=A.LINK_CREATED, rule="R10", target_type="hubspot.contact", target_id=contact_id,
                      after={"company": company_id}, message=f"Associated with company {company_id}.")
        ctx.flush()


def _create_companies(ctx: RunContext, accounts: list[SfAccount]) -> dict[str, HsCompany]:
    if not accounts:
        return {}
    s = ctx.settings
    prop = s.prop_salesforce_account_id
    props = schema.hs_properties("companies", s)
    # Look first: a company a lost response created in an earlier run must not be created twice.
    existing = {r["properties"].get(prop): r for r in ctx.hs.search_in("companies", prop, [a.sf_id for a in accounts], props)}
    missing = [a for a in accounts if a.sf_id not in existing]
    results = list(existing.values())
    for i in range(0, len(missing), 100):
        chunk = missing[i:i + 100]
        results += ctx.hs.create_once("companies", prop, [{"properties": {"name": a.name or a.sf_id, prop: a.sf_id}}
                                                          for a in chunk], props)
    rows = [schema.hs_company(r, s) for r in results]
    upsert(HsCompany, rows)
    ctx.counts["created"] += len(missing)
    companies = {c.salesforce_account_id: c for c in HsCompany.objects.filter(hs_id__in=[r.hs_id for r in rows])}
    for a in missing:
        if a.sf_id in companies:
            ctx.event(action=A.RECORD_CREATED, rule="R10", target_type=COMPANY, target_id=companies[a.sf_id].hs_id,
                      target_repr=a.name, after={"name": a.name, prop: a.sf_id},
                      message=f"Created for Salesforce account {a.sf_id}: no company was linked to it.")
    return companies
