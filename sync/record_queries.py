"""Reads for the company and deal pages (their Salesforce Sync card): the record, its link and
why, its associations, the errors that keep it from syncing and its timeline, in a fixed number
of queries however many contacts, deals, errors or events it has (lists are capped at LISTED).

The mirror knows a company's contacts from R10 (HsContact.primary_company_id) and from the
account their Salesforce contact belongs to; a deal's company from the deal (HsDeal.company_id)
or from its opportunity's account. HubSpot-side error ids are only unique per object type, so a
record error counts for a company or deal when it names the HubSpot id under one of that type's
object names, or the Salesforce id (unique across objects)."""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.http import Http404

from sync.crm.explain import ADVICE
from sync.engine import stages
from sync.models import (
    AuditEvent,
    CompanyLink,
    DealLink,
    HsCompany,
    HsContact,
    HsDeal,
    RecordError,
    SfAccount,
    SfOpportunity,
    StageMapping,
)

LISTED = 200     # events shown on a page
MEMBERS = 50     # a company's contacts and deals shown on its page (the first, by id; the page says when there are more)
ERRORS_READ = 50  # newest open errors read; repeats of one error (every run records it again) are shown once
# RecordError.object_type values filed under a company's or deal's HubSpot id: the field sync's
# HubSpot type, the mirror's refusal (verbose name) and, for deals, a refused opportunity create.
COMPANY_ERROR_TYPES = ("companies", "HubSpot company")
DEAL_ERROR_TYPES = ("deals", "HubSpot deal", "Opportunity")

COMPANY_WHY = {
    CompanyLink.ChosenBy.ACCOUNT_ID: "R9 · matched by account id: the company carries the account's id",
    CompanyLink.ChosenBy.FOLLOWED_CONTACT: "R10 · followed its contact: a synced contact of the account is "
                                           "associated with this company",
    CompanyLink.ChosenBy.CREATED: "R10 · created by the sync for the account, which had no company",
}
DEAL_WHY = {
    DealLink.Origin.EXISTING: "R11 · linked by the opportunity id the deal carries",
    DealLink.Origin.FROM_HUBSPOT: "R11 · the opportunity was created from this deal",
    DealLink.Origin.FROM_SALESFORCE: "R11 · this deal was created from the opportunity",
}


@dataclass
class CompanyCard:
    company: HsCompany
    link: CompanyLink | None
    account: SfAccount | None            # the linked account, else the one the company names
    account_company: CompanyLink | None  # R9: the link of another company to the account this one names
    duplicates: list[HsCompany]          # other live companies carrying the same account id (R9)
    contacts: list[HsContact]
    deals: list[HsDeal]
    errors: list[RecordError]
    events: list[AuditEvent]
    more_contacts: bool = False
    more_deals: bool = False

    @property
    def why(self) -> str:
        return COMPANY_WHY.get(self.link.chosen_by, self.link.get_chosen_by_display()) if self.link else ""

    @property
    def not_synced_because(self) -> str:
        """Why the company has no link, in words, with the rule."""
        c, account_id = self.company, self.company.salesforce_account_id
        if c.archived:
            return f"Merged in HubSpot into company {c.merged_into_id}." if c.merged_into_id else "Deleted in HubSpot."
        if not account_id:
            return ("It carries no Salesforce account id (R9), and no synced contact's account has led to it yet "
                    "(R10).")
        if self.account is None:
            return (f"It carries account id {account_id}, which is not among the Salesforce accounts the sync has "
                    "read (no such account, or not pulled yet).")
        if self.account.is_deleted:
            merged = f", merged into {self.account.master_record_id}" if self.account.master_record_id else ""
            return f"Its account {account_id} was deleted in Salesforce{merged}."
        if self.account_company is not None:
            other = self.account_company.hs_company
            return (f"Account {account_id} syncs with company {other.hs_id} ({other.name or 'no name'}); this company "
                    "carries the same account id, an R9 duplicate: merge it into that one in HubSpot.")
        return f"It carries account id {account_id}: the next sync links it (R9)."


@dataclass
class DealCard:
    deal: HsDeal
    link: DealLink | None
    company: HsCompany | None
    company_via: str                     # "deal": the deal names it; "account": through the opportunity's account
    stage: StageMapping | None           # the stage's row: labels, and who chose its mapping
    salesforce_stage: str | None         # what the deal's stage becomes in Salesforce; None: unmapped
    errors: list[RecordError]
    events: list[AuditEvent]
    named: SfOpportunity | None = None   # the opportunity the deal names when it is not linked

    @property
    def why(self) -> str:
        return DEAL_WHY.get(self.link.origin, self.link.get_origin_display()) if self.link else ""

    @property
    def pipeline(self) -> str:
        return self.deal.pipeline or stages.DEFAULT_PIPELINE

    @property
    def unmapped(self) -> bool:
        return bool(self.deal.stage) and self.salesforce_stage is None

    @property
    def not_synced_because(self) -> str:
        d = self.deal
        if d.archived:
            return f"Merged in HubSpot into deal {d.merged_into_id}." if d.merged_into_id else "Deleted in HubSpot."
        if self.unmapped:
            return ("Its stage is not mapped to a Salesforce opportunity stage, so no opportunity is created for it "
                    "(R11: a deal's stage becomes a stage the org offers, never a raw HubSpot stage id).")
        if not d.stage:
            return "It has no deal stage, so no opportunity can be created for it."
        if d.salesforce_opportunity_id:
            if self.named is None:
                return (f"It names opportunity {d.salesforce_opportunity_id}, which is not among the opportunities "
                        "the sync has read.")
            if self.named.is_deleted:
                return f"Its opportunity {d.salesforce_opportunity_id} was deleted in Salesforce."
        return "Not linked yet: the next sync creates its opportunity (R11)."


def company_card(hs_id: str) -> CompanyCard:
    company = HsCompany.objects.select_related("link__sf_account").filter(hs_id=hs_id).first()
    if company is None:
        raise Http404("No such HubSpot company.")
    link = getattr(company, "link", None)
    carried = company.salesforce_account_id
    account, account_company = (link.sf_account if link else None), None
    if link is None and carried:
        account = SfAccount.objects.filter(sf_id=carried).first()
        account_company = CompanyLink.objects.select_related("hs_company").filter(sf_account__sf_id=carried).first()
    duplicates = list(HsCompany.objects.filter(archived=False, salesforce_account_id=carried).exclude(pk=company.pk)
                      .select_related("link").order_by("created_at", "pk")[:LISTED]) if carried and not company.archived else []
    account_id = account.sf_id if link else ""
    contacts = deals = []
    if not company.archived:
        by_account = [Q(link__sf_person__account_id=account_id, link__sf_person__object_type="Contact")] if account_id else []
        contacts = _first_of(HsContact, "link__sf_person", Q(primary_company_id=company.hs_id), *by_account)
        by_account = [Q(link__sf_opportunity__account_id=account_id)] if account_id else []
        deals = _first_of(HsDeal, "link__sf_opportunity", Q(company_id=company.hs_id), *by_account)
    sf_ids = [account.sf_id] if account else []
    errors = open_errors(Q(record_id=company.hs_id, object_type__in=COMPANY_ERROR_TYPES) | Q(record_id__in=sf_ids))
    events = timeline("hubspot.company", company.hs_id, "salesforce.Account", account.sf_id if link else "")
    return CompanyCard(company, link, account, account_company, duplicates, contacts[:MEMBERS], deals[:MEMBERS], errors,
                       events, more_contacts=len(contacts) > MEMBERS, more_deals=len(deals) > MEMBERS)


def _first_of(model, related: str, *branches: Q) -> list:
    """The first MEMBERS + 1 live rows that match any of the branches, by primary key. Each branch
    reads its own index and a bounded UNION of their ids is what is fetched: an OR of a column with
    a joined table's cannot use either index, and at a million contacts it scanned the mirror (3 s)."""
    alive = model.objects.filter(archived=False)
    ids = alive.filter(branches[0]).values("pk")
    for branch in branches[1:]:
        ids = ids.union(alive.filter(branch).values("pk"))
    return list(model.objects.filter(pk__in=ids.order_by("pk")[:MEMBERS + 1]).select_related(related).order_by("pk"))


def deal_card(hs_id: str) -> DealCard:
    deal = HsDeal.objects.select_related("link__sf_opportunity").filter(hs_id=hs_id).first()
    if deal is None:
        raise Http404("No such HubSpot deal.")
    link = getattr(deal, "link", None)
    opp = link.sf_opportunity if link else None
    named = None
    if link is None and deal.salesforce_opportunity_id:
        named = SfOpportunity.objects.filter(sf_id=deal.salesforce_opportunity_id).first()
    companies = HsCompany.objects.select_related("link__sf_account")
    company, via = None, ""
    if deal.company_id:
        company, via = companies.filter(hs_id=deal.company_id).first(), "deal"
    elif opp is not None and opp.account_id:
        company, via = companies.filter(link__sf_account__sf_id=opp.account_id).first(), "account"
    pipeline = deal.pipeline or stages.DEFAULT_PIPELINE
    stage = StageMapping.objects.filter(pipeline_id=pipeline, stage_id=deal.stage).first() if deal.stage else None
    salesforce_stage = stages.to_salesforce(pipeline, deal.stage, m=stages.mapping()) if deal.stage else None
    sf_ids = [opp.sf_id] if opp else []
    errors = open_errors(Q(record_id=deal.hs_id, object_type__in=DEAL_ERROR_TYPES) | Q(record_id__in=sf_ids))
    events = timeline("hubspot.deal", deal.hs_id, "salesforce.Opportunity", opp.sf_id if opp else "")
    return DealCard(deal, link, company, via if company else "", stage, salesforce_stage, errors, events, named)


def open_errors(which: Q) -> list[RecordError]:
    """The record's current errors (neither retried nor resolved by a later write), newest first,
    each kind once: a run records an error again each time it meets the record. Each carries the
    advice for its CRM code when its message does not say it already."""
    seen, out = set(), []
    for e in RecordError.objects.filter(which, retried_at__isnull=True, resolved_at__isnull=True) \
            .order_by("-created_at", "-pk")[:ERRORS_READ]:
        key = (e.crm, e.object_type, e.operation, e.code, e.message)
        if key in seen:
            continue
        seen.add(key)
        advice = ADVICE.get((e.crm, e.code), "")
        e.advice = advice if advice not in e.message else ""
        out.append(e)
    return out


def timeline(hs_type: str, hs_id: str, sf_type: str, sf_id: str) -> list[AuditEvent]:
    """Audit events about the HubSpot record and the Salesforce record it syncs with, newest first."""
    which = Q(target_type=hs_type, target_id=hs_id)
    if sf_id:
        which |= Q(target_type=sf_type, target_id=sf_id)
    return list(AuditEvent.objects.filter(which)[:LISTED])

