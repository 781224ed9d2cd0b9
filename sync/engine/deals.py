"""Deals ↔ opportunities (R11): one to one by the opportunity id, never matched by name or amount.

A run takes three passes (cycle.before_fields): deals that name an opportunity are linked to it
first (`link_named`); new opportunities' deals then go out beside the rest of reconcile and push
(`deals_from_opportunities`), new deals' opportunities after R9, beside R10 for the deals whose
account R10 cannot change and after it for the rest (`opportunities_from_deals`); last, the
opportunities carrying a deal id that are still unlinked; then the synced deals follow their
opportunities' accounts (`follow_accounts`).

A deal's company is HubSpot's association, which no list or search page carries: it is read
(v4 batch, 1,000 deals a call) where a decision needs it — a new deal's opportunity goes on the
account of the deal's company — and kept in HsDeal.company_id, which the pull leaves alone.

A new deal creates an opportunity by upsert on our external-id field (the deal id); a new
opportunity creates a deal by upsert on a unique HubSpot property holding its id. Neither a
retry, nor a crash, nor HubSpot's lagging search index can make a second copy. The decisions
are rules.decide_deal and rules.decide_opportunity."""
from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from sync.engine import bulk, intents, mirror, rules, schema, stages
from sync.engine.context import RunContext
from sync.engine.fit import fit
from sync.engine.mirror import upsert
from sync.engine.pull import Touched
from sync.engine.rules import DealKind
from sync.models import AuditEvent, CompanyLink, DealLink, HsCompany, HsDeal, PairStatus, SfOpportunity

A = AuditEvent.Action
BATCH = 100
PAGE = 2000
def _unlinked(model, touched_ids: set[str], everything: bool, key: str):
    rel = "hs_deal" if model is HsDeal else "sf_opportunity"
    qs = model.objects.annotate(linked=Exists(DealLink.objects.filter(**{rel: OuterRef("pk")}))).filter(linked=False)
    qs = qs.filter(archived=False) if model is HsDeal else qs
    if not everything:
        qs = qs.filter(**{f"{key}__in": list(touched_ids)})
    return qs.order_by("pk")


def _pages(qs, size: int = PAGE):
    """The query's rows `size` at a time by primary key, re-run per page: rows linked meanwhile
    drop out, and nothing holds a whole table (a million deals) in memory."""
    last = 0
    while page := list(qs.filter(pk__gt=last)[:size]):
        last = page[-1].pk
        yield page


def _unlinked_deals(touched: Touched):
    return _unlinked(HsDeal, touched.deal_ids, touched.everything, "hs_id").defer("raw")


def link_named(ctx: RunContext, touched: Touched) -> None:
    """Deals naming a live opportunity nobody syncs with are linked to it (R11): before any deal
    or opportunity is created, so neither side of such a pair gets a copy."""
    _deal_pages(ctx, _unlinked_deals(touched), DealKind.LINK)


def opportunities_from_deals(ctx: RunContext, touched: Touched, *, beside_r10: bool = False,
                             tried: frozenset[int] = frozenset()) -> set[int]:
    """New deals (naming no opportunity) create opportunities, on the accounts of their
    companies' links: after R9, which makes links, and after R10, which makes more. With
    `beside_r10`, only the deals whose account R10 cannot change (no company, or one R10 may not
    claim: rules.free_for_r10), so they can go beside R10; the rest wait for it. Returns the deals
    tried and still unlinked (an unmapped stage, a refusal: each recorded once), which the pass
    after R10 is given as `tried` and leaves alone, so no deal is tried twice in one run."""
    qs = _unlinked_deals(touched)
    return _deal_pages(ctx, qs.exclude(pk__in=sorted(tried)) if tried else qs, DealKind.CREATE,
                       settled_only=beside_r10)


def deals_from_opportunities(ctx: RunContext, touched: Touched, *, carrying_deal_id: bool) -> None:
    """New opportunities create deals. Those carrying no deal id never meet the deals' side: a
    new deal's opportunity carries the deal's id, and a deal a new opportunity creates names it,
    so it is never taken for a new deal; they may go at any time after `link_named`, beside
    anything else. Those carrying a deal id (made by a run that ended before linking it, for a
    deal that is gone or linked elsewhere) wait until every new deal had its turn, as they
    always did."""
    opps = _unlinked(SfOpportunity, touched.opportunity_ids, touched.everything, "sf_id").defer("raw")
    opps = opps.exclude(hubspot_deal_id="") if carrying_deal_id else opps.filter(hubspot_deal_id="")
    for page in _pages(opps):
        wanted = [o for o in page if rules.decide_opportunity(linked=False, live=not o.is_deleted).kind == DealKind.CREATE]
        for i in range(0, len(wanted), BATCH):
            _deals_from_opportunities(ctx, wanted[i:i + BATCH])


def _deal_pages(ctx: RunContext, qs, act: DealKind, *, settled_only: bool = False) -> set[int]:
    """Decide every unlinked deal (rules.decide_deal) and carry out the decisions of one kind:
    LINK (by the opportunity id the deal names) or CREATE (an opportunity for a deal naming none).
    Returns the deals a CREATE was tried for that are still unlinked."""
    left: set[int] = set()
    for deals in _pages(qs):
        named = {d.salesforce_opportunity_id for d in deals if d.salesforce_opportunity_id}
        opps = {o.sf_id: o for o in SfOpportunity.objects.filter(sf_id__in=named).annotate(
            linked=Exists(DealLink.objects.filter(sf_opportunity=OuterRef("pk")))).only("pk", "sf_id", "is_deleted")}
        existing, fresh, taken = [], [], set()
        for d in deals:
            opp = opps.get(d.salesforce_opportunity_id)
            decision = rules.decide_deal(names=d.salesforce_opportunity_id,
                                         opportunity_live=None if opp is None else not opp.is_deleted,
                                         opportunity_linked=opp is not None and (opp.linked or opp.sf_id in taken))
            if decision.kind == DealKind.LINK:
                existing.append((d, opp))
                taken.add(opp.sf_id)
            elif decision.kind == DealKind.CREATE:
                fresh.append(d)
        if act == DealKind.LINK:
            _record(ctx, existing, DealLink.Origin.EXISTING)
            continue
        _read_companies(ctx, fresh)
        if settled_only:
            fresh = _accounts_settled(fresh)
        if fresh:
            # The page's new deals in one go: the connector's calls of 200 go out side by side
            # (SALESFORCE_WRITE_CONCURRENCY), each account's opportunities in one of them.
            _opportunities_from_deals(ctx, fresh)
            linked = set(DealLink.objects.filter(hs_deal__in=[d.pk for d in fresh]).values_list("hs_deal_id", flat=True))
            left.update(d.pk for d in fresh if d.pk not in linked)
    return left


def _read_companies(ctx: RunContext, deals: list[HsDeal]) -> None:
    """The companies HubSpot associates each deal with (the primary first), read once a run for
    the deals whose company crmsync does not know; `company_id` is filled on them and kept."""
    unknown = [d for d in deals if not d.company_id]
    found = _companies_of(ctx, [d.hs_id for d in unknown])
    for d in unknown:
        d.company_id = found[d.hs_id][0] if found[d.hs_id] else ""
    bulk.update(HsDeal, [(d.hs_id, d.company_id) for d in unknown if d.company_id], fields=("company_id",), key="hs_id")


def _companies_of(ctx: RunContext, deal_ids: list[str]) -> dict[str, tuple[str, ...]]:
    """Each deal's companies (the primary first; none: empty), asked of HubSpot once a run."""
    wanted = [i for i in deal_ids if i not in ctx.deal_companies]
    if wanted:
        associated = ctx.hs.associated("deals", "companies", wanted)
        ctx.deal_companies.update({i: tuple(associated.get(i, ())) for i in wanted})
    return {i: ctx.deal_companies[i] for i in deal_ids}


def follow_accounts(ctx: RunContext, touched: Touched) -> None:
    """Synced deals whose company crmsync does not know, on an opportunity whose account syncs
    with a company: HubSpot is asked which companies each deal has; one that has none is
    associated with its account's company (rules.company_for_deal), as HubSpot's integration
    does. Derived from the mirror every run, so a run that ended between the association and
    its record leaves the next one the same work (associating twice is a no-op in HubSpot)."""
    companies = CompanyLink.objects.filter(sf_account__sf_id=OuterRef("sf_opportunity__account_id"),
                                           status=PairStatus.SYNCED, hs_company__archived=False)
    qs = DealLink.objects.filter(hs_deal__company_id="", hs_deal__archived=False).exclude(
        sf_opportunity__account_id="").annotate(
        company=Subquery(companies.values("hs_company__hs_id")[:1])).filter(company__isnull=False)
    if not touched.everything:
        qs = qs.filter(Q(hs_deal__hs_id__in=list(touched.deal_ids)) |
                       Q(sf_opportunity__sf_id__in=list(touched.opportunity_ids)))
    last = 0
    while page := list(qs.filter(pk__gt=last).order_by("pk").values_list(
            "pk", "hs_deal__hs_id", "hs_deal__name", "sf_opportunity__account_id", "company")[:PAGE]):
        last = page[-1][0]
        associated = _companies_of(ctx, [r[1] for r in page])
        known, pairs = [], []
        for _, deal, name, account, company in page:
            chosen, associate = rules.company_for_deal(associated=associated[deal], account_company=company)
            (pairs if associate else known).append((deal, chosen, name, account))
        if pairs:
            ctx.hs.associate_default("deals", "companies", [(d, c) for d, c, _, _ in pairs])
        for deal, company, name, account in pairs:
            ctx.event(action=A.LINK_CREATED, rule="R11", target_type="hubspot.deal", target_id=deal, target_repr=name,
                      after={"company": company},
                      message=f"Associated with company {company}, which syncs with its opportunity's account {account}.")
        with transaction.atomic():
            bulk.update(HsDeal, [(d, c) for d, c, _, _ in known + pairs if c], fields=("company_id",), key="hs_id")
            ctx.flush()


def _accounts_settled(deals: list[HsDeal]) -> list[HsDeal]:
    """The deals whose account R10 cannot change: no company, or a company in the mirror that R10
    may not claim (rules.free_for_r10). A company the mirror lacks waits, to be safe."""
    companies = {hs_id: rules.free_for_r10(linked=linked, names_account=bool(account), archived=archived)
                 for hs_id, linked, account, archived in HsCompany.objects.filter(
                     hs_id__in=sorted({d.company_id for d in deals if d.company_id})).annotate(
                     linked=Exists(CompanyLink.objects.filter(hs_company=OuterRef("pk")))).values_list(
                     "hs_id", "linked", "salesforce_account_id", "archived")}
    return [d for d in deals if not d.company_id or companies.get(d.company_id) is False]


def _record(ctx: RunContext, pairs, origin: str, messages: dict[str, str] | None = None) -> None:
    # A deal or opportunity linked since it was read keeps its link.
    taken = DealLink.objects.filter(Q(hs_deal__in=[d.pk for d, _ in pairs]) | Q(sf_opportunity__in=[o.pk for _, o in pairs]))
    taken_deals, taken_opps = set(), set()
    for deal_pk, opp_pk in taken.values_list("hs_deal_id", "sf_opportunity_id") if pairs else ():
        taken_deals.add(deal_pk)
        taken_opps.add(opp_pk)
    pairs = [(d, o) for d, o in pairs if d.pk not in taken_deals and o.pk not in taken_opps]
    if not pairs:
        return
    for deal, opp in pairs:
        ctx.counts["linked"] += 1
        ctx.event(action=A.LINK_CREATED, rule="R11", target_type="hubspot.deal", target_id=deal.hs_id,
                  target_repr=deal.name, after={"sf_opportunity_id": opp.sf_id, "origin": origin},
                  message={"existing": "Linked by the opportunity id the deal carries.",
                           "hubspot": f"Opportunity {opp.sf_id} was created from this deal.",
                           "salesforce": f"This deal was created from opportunity {opp.sf_id}."}[origin])
    with transaction.atomic():
        # Every deal here was unlinked when its page was read, and only this run links deals.
        bulk.insert(DealLink, [bulk.build(DealLink, {"hs_deal": d, "sf_opportunity": o, "origin": origin})
                                 for d, o in pairs])
        bulk.update(HsDeal, [(d.pk, o.sf_id) for d, o in pairs], fields=("salesforce_opportunity_id",))
        ctx.flush()


def _accounts_for(company_ids: set[str]) -> dict[str, str]:
    """HubSpot company id → the Salesforce account id it is linked to."""
    return dict(CompanyLink.objects.filter(hs_company__hs_id__in=list(company_ids), status=PairStatus.SYNCED)
                .values_list("hs_company__hs_id", "sf_account__sf_id"))


def _opportunities_from_deals(ctx: RunContext, deals: list[HsDeal]) -> None:
    """New deals create opportunities, upserted by our external id (the deal id): a retry after
    a lost answer finds the opportunity the first attempt made (R11: never a second copy)."""
    today = timezone.now().date()
    accounts = _accounts_for({d.company_id for d in deals if d.company_id})
    fields = ctx.sf.describe("Opportunity")
    m = stages.mapping()
    if not ctx.stages_refreshed and any((d.pipeline or stages.DEFAULT_PIPELINE, d.stage) not in m.to_sf for d in deals):
        ctx.stages_refreshed = True  # a stage the mapping does not know yet: propose one (once a run)
        if stages.refresh(ctx.sf, ctx.hs):
            m = stages.mapping()
    records, notes = {}, {}
    for d in deals:
        stage = stages.to_salesforce(d.pipeline, d.stage, fields.get("StageName"), m=m)
        if stage is None:
            ctx.record_error(crm="salesforce", object_type="Opportunity", record_id=d.hs_id, operation="create",
                             code="UNMAPPED_STAGE", message=stages.unmapped_message(d))
            continue
        records[d.hs_id], notes[d.hs_id] = fit(fields, {
            schema.EXT_DEAL_ID: d.hs_id, "Name": d.name or f"Deal {d.hs_id}", "StageName": stage,
            "CloseDate": (d.close_date or today + timedelta(days=30)).isoformat(),
            "Amount": float(d.amount) if d.amount is not None else None,
            "AccountId": accounts.get(d.company_id) if d.company_id else None})
    if not records:
        return
    by_id = {d.hs_id: d for d in deals}
    events = {hs_id: {"rule": "R11", "target_type": "salesforce.Opportunity", "target_repr": r["Name"],
                      "after": {"HubSpot deal": hs_id, **({"cut": notes[hs_id]} if notes[hs_id] else {})},
                      "message": "Created from a new HubSpot deal." + (f" {'; '.join(notes[hs_id])}." if notes[hs_id]
                                                                         else "")} for hs_id, r in records.items()}
    written, prior = intents.send(ctx, "salesforce", "Opportunity", events,
                                  lambda: ctx.sf.upsert("Opportunity", schema.EXT_DEAL_ID, list(records.values())),
                                  record_type="Opportunity", operation="create",
                                  what=lambda key: f"Creating an opportunity for deal {key}")
    with transaction.atomic():
        known = mirror.payloads(SfOpportunity, [r.id for r in written])
        made = [(by_id[r.key], schema.sf_written("Opportunity", {**known.get(r.id, {}), **records[r.key], "Id": r.id},
                                                 r.at, created=r.id not in known)) for r in written]
        mirror.upsert_written(SfOpportunity, [o for _, o in made])
        intents.settle(ctx, "salesforce", "Opportunity", written, prior)
        ctx.flush()
    if not made:
        return
    prop = ctx.settings.prop_salesforce_opportunity_id
    ctx.hs.update("deals", [{"id": d.hs_id, "properties": {prop: o.sf_id}} for d, o in made])
    saved = {o.sf_id: o for o in SfOpportunity.objects.filter(sf_id__in=[o.sf_id for _, o in made]).only("pk", "sf_id")}
    _record(ctx, [(d, saved[o.sf_id]) for d, o in made], DealLink.Origin.FROM_HUBSPOT)


def _deals_from_opportunities(ctx: RunContext, opps: list[SfOpportunity]) -> None:
    """New opportunities create deals, upserted by a unique property holding the opportunity id
    (schema.UNIQUE_ID): a lost answer or a kill can never make a second deal, whether or not
    HubSpot's search index has caught up (R11)."""
    s = ctx.settings
    prop, unique = s.prop_salesforce_opportunity_id, schema.UNIQUE_ID["deals"]
    ctx.hs.ensure_unique_property("deals", unique, "Salesforce opportunity (crmsync)")
    inputs = []
    m = stages.mapping()
    for o in opps:
        pipeline, stage = stages.to_hubspot(o.stage_name, m=m)
        inputs.append({"id": o.sf_id, "properties": {
            "dealname": o.name or o.sf_id, "amount": str(o.amount) if o.amount is not None else "",
            "dealstage": stage, "pipeline": pipeline, "closedate": o.close_date.isoformat() if o.close_date else "",
            prop: o.sf_id, unique: o.sf_id}})
    events = {o.sf_id: {"rule": "R11", "target_type": "hubspot.deal", "target_repr": o.name, "after": {prop: o.sf_id},
                        "message": f"Created from opportunity {o.sf_id}."} for o in opps}
    written, prior = intents.send(ctx, "hubspot", "deals", events, lambda: ctx.hs.upsert("deals", unique, inputs),
                                  record_type="deal", operation="create deal",
                                  what=lambda key: f"Creating a deal for opportunity {key}")
    rows = [schema.hs_deal(r.record, s) for r in written]
    with transaction.atomic():
        upsert(HsDeal, rows)
        created = intents.settle(ctx, "hubspot", "deals", written, prior)
        ctx.flush()
    deals = {d.salesforce_opportunity_id: d for d in HsDeal.objects.filter(hs_id__in=[r.hs_id for r in rows])
             .only("pk", "hs_id", "name", "salesforce_opportunity_id")}
    _record(ctx, [(deals[o.sf_id], o) for o in opps if o.sf_id in deals and o.sf_id not in created],
            DealLink.Origin.EXISTING)
    _record(ctx, [(deals[o.sf_id], o) for o in opps if o.sf_id in created], DealLink.Origin.FROM_SALESFORCE)
