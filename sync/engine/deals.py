"""Deals ↔ opportunities (R11): one to one by the opportunity id, never matched by name or amount.

A new deal creates an opportunity by upsert on our external-id field (the deal id); a new
opportunity creates a deal after looking for one that already carries its id. Neither a retry
nor a crash can make a second copy."""
from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from sync.engine import bulk, schema
from sync.engine.context import RunContext
from sync.engine.mirror import upsert
from sync.engine.pull import Touched
from sync.models import AuditEvent, CompanyLink, DealLink, HsDeal, SfOpportunity

A = AuditEvent.Action
BATCH = 100
PAGE = 2000
DEFAULT_STAGE_TO_SF = {"appointmentscheduled": "Prospecting", "qualifiedtobuy": "Qualification",
                       "presentationscheduled": "Needs Analysis", "decisionmakerboughtin": "Id. Decision Makers",
                       "contractsent": "Negotiation/Review", "closedwon": "Closed Won", "closedlost": "Closed Lost"}
# Salesforce's standard sales process has more stages than HubSpot's default pipeline; each maps
# to the HubSpot stage at the same point of the sale (several to one).
DEFAULT_STAGE_TO_HS = {v: k for k, v in DEFAULT_STAGE_TO_SF.items()} | {
    "Value Proposition": "presentationscheduled", "Perception Analysis": "decisionmakerboughtin",
    "Proposal/Price Quote": "contractsent"}


def _unlinked(model, touched_ids: set[str], everything: bool, key: str):
    rel = "hs_deal" if model is HsDeal else "sf_opportunity"
    qs = model.objects.annotate(linked=Exists(DealLink.objects.filter(**{rel: OuterRef("pk")}))).filter(linked=False)
    qs = qs.filter(archived=False) if model is HsDeal else qs.filter(is_deleted=False)
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


def sync_deals(ctx: RunContext, touched: Touched) -> None:
    for deals in _pages(_unlinked(HsDeal, touched.deal_ids, touched.everything, "hs_id").defer("raw")):
        # Opportunities already linked to another deal stay with it (R11 is one to one).
        opps = {o.sf_id: o for o in SfOpportunity.objects.filter(
            sf_id__in=[d.salesforce_opportunity_id for d in deals if d.salesforce_opportunity_id], is_deleted=False,
            link__isnull=True).only("pk", "sf_id")}
        existing = [(d, opps.pop(d.salesforce_opportunity_id)) for d in deals if d.salesforce_opportunity_id in opps]
        _record(ctx, existing, DealLink.Origin.EXISTING)
        fresh = [d for d in deals if not d.salesforce_opportunity_id]
        for i in range(0, len(fresh), 200):
            _opportunities_from_deals(ctx, fresh[i:i + 200])
    for opps in _pages(_unlinked(SfOpportunity, touched.opportunity_ids, touched.everything, "sf_id").defer("raw")):
        for i in range(0, len(opps), BATCH):
            _deals_from_opportunities(ctx, opps[i:i + BATCH], look_up=not touched.listed_all)


def _record(ctx: RunContext, pairs, origin: str) -> None:
    # A deal or opportunity linked since it was read (HubSpot search found a linked deal) keeps its link.
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
    return dict(CompanyLink.objects.filter(hs_company__hs_id__in=list(company_ids))
                .values_list("hs_company__hs_id", "sf_account__sf_id"))


def _opportunities_from_deals(ctx: RunContext, deals: list[HsDeal]) -> None:
    today = timezone.now().date()
    accounts = _accounts_for({d.company_id for d in deals if d.company_id})
    records = [{schema.EXT_DEAL_ID: d.hs_id, "Name": d.name or f"Deal {d.hs_id}",
                "StageName": DEFAULT_STAGE_TO_SF.get(d.stage, d.stage or "Prospecting"),
                "CloseDate": (d.close_date or today + timedelta(days=30)).isoformat(),
                "Amount": float(d.amount) if d.amount is not None else None,
                "AccountId": accounts.get(d.company_id) if d.company_id else None} for d in deals]
    results = ctx.sf.upsert_collection("Opportunity", schema.EXT_DEAL_ID, records)
    made = []
    for deal, record, result in zip(deals, records, results, strict=False):
        if not result.get("success"):
            ctx.record_error(crm="salesforce", object_type="Opportunity", record_id=deal.hs_id, operation="create",
                             message="; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors", [])))
            continue
        made.append((deal, schema.sf_opportunity({**record, "Id": result["id"], "attributes": {"type": "Opportunity"}})))
        if result.get("created", True):
            ctx.counts["created"] += 1
            ctx.event(action=A.RECORD_CREATED, rule="R11", target_type="salesforce.Opportunity", target_id=result["id"],
                      target_repr=record["Name"], after={"HubSpot deal": deal.hs_id},
                      message="Created from a new HubSpot deal.")
    if not made:
        return
    prop = ctx.settings.prop_salesforce_opportunity_id
    ctx.hs.update("deals", [{"id": d.hs_id, "properties": {prop: o.sf_id}} for d, o in made])
    upsert(SfOpportunity, [o for _, o in made])
    saved = {o.sf_id: o for o in SfOpportunity.objects.filter(sf_id__in=[o.sf_id for _, o in made]).only("pk", "sf_id")}
    _record(ctx, [(d, saved[o.sf_id]) for d, o in made], DealLink.Origin.FROM_HUBSPOT)


def _deals_from_opportunities(ctx: RunContext, opps: list[SfOpportunity], *, look_up: bool = True) -> None:
    s = ctx.settings
    prop = s.prop_salesforce_opportunity_id
    props = schema.hs_properties("deals", s)
    # A deal may already carry the id: one we created before a crash, or made by someone else.
    # An incremental pull reads HubSpot's search index, which lags behind fresh writes: look
    # again. A full pull listed every deal there was and the loop above linked those carrying
    # an id, so it skips the search (held to five a second by HubSpot).
    found = {r["properties"].get(prop): r
             for r in (ctx.hs.search_in("deals", prop, [o.sf_id for o in opps], props) if look_up else [])}
    missing = [o for o in opps if o.sf_id not in found]
    inputs = [{"properties": {"dealname": o.name or o.sf_id, "amount": str(o.amount) if o.amount is not None else "",
                              "dealstage": DEFAULT_STAGE_TO_HS.get(o.stage_name, "appointmentscheduled"),
                              "pipeline": "default", "closedate": o.close_date.isoformat() if o.close_date else "",
                              prop: o.sf_id}} for o in missing]
    results = list(found.values()) + (ctx.hs.create_once("deals", prop, inputs, props) if inputs else [])
    rows = [schema.hs_deal(r, s) for r in results]
    upsert(HsDeal, rows)
    deals = {d.salesforce_opportunity_id: d for d in HsDeal.objects.filter(hs_id__in=[r.hs_id for r in rows])
             .only("pk", "hs_id", "name", "salesforce_opportunity_id")}
    for o in missing:
        if o.sf_id in deals:
            ctx.counts["created"] += 1
            ctx.event(action=A.RECORD_CREATED, rule="R11", target_type="hubspot.deal", target_id=deals[o.sf_id].hs_id,
                      target_repr=o.name, after={prop: o.sf_id}, message=f"Created from opportunity {o.sf_id}.")
    _record(ctx, [(deals[o.sf_id], o) for o in opps if o.sf_id in found and o.sf_id in deals],
            DealLink.Origin.EXISTING)
    _record(ctx, [(deals[o.sf_id], o) for o in missing if o.sf_id in deals], DealLink.Origin.FROM_SALESFORCE)
