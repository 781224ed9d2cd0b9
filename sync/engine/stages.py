"""Deal stages ↔ opportunity stages. Salesforce's StageName is a restricted picklist: a HubSpot
stage id sent as is ("12345678" in a custom pipeline) is refused, and the opportunity is never
created. Every HubSpot pipeline's stages map to valid Salesforce stages (StageMapping rows,
proposed from each stage's probability and closed/won flags, changed on the Settings page); an
unmapped stage is a record error that says where to map it, never a raw id sent to Salesforce."""
from __future__ import annotations

from dataclasses import dataclass

# HubSpot's default sales pipeline against Salesforce's standard sales process: what the
# mapping proposes before it has read the pipelines (and what it falls back to for "default").
DEFAULT_STAGE_TO_SF = {"appointmentscheduled": "Prospecting", "qualifiedtobuy": "Qualification",
                       "presentationscheduled": "Needs Analysis", "decisionmakerboughtin": "Id. Decision Makers",
                       "contractsent": "Negotiation/Review", "closedwon": "Closed Won", "closedlost": "Closed Lost"}
# Salesforce's standard sales process has more stages than HubSpot's default pipeline; each maps
# to the HubSpot stage at the same point of the sale (several to one).
DEFAULT_STAGE_TO_HS = {v: k for k, v in DEFAULT_STAGE_TO_SF.items()} | {
    "Value Proposition": "presentationscheduled", "Perception Analysis": "decisionmakerboughtin",
    "Proposal/Price Quote": "contractsent"}
DEFAULT_PIPELINE = "default"


@dataclass(frozen=True)
class Mapping:
    to_sf: dict[tuple[str, str], str]          # (pipeline, stage) → Salesforce stage
    to_hs: dict[str, list[tuple[str, str]]]    # Salesforce stage → (pipeline, stage), display order


def mapping() -> Mapping:
    """The mapping as stored now (one query: read it once per batch, not per deal)."""
    from sync.models import StageMapping

    to_sf = {(DEFAULT_PIPELINE, k): v for k, v in DEFAULT_STAGE_TO_SF.items()}
    to_hs: dict[str, list[tuple[str, str]]] = {}
    for row in StageMapping.objects.order_by("pipeline_id", "display_order", "stage_id"):
        if row.salesforce_stage:
            to_sf[(row.pipeline_id, row.stage_id)] = row.salesforce_stage
            to_hs.setdefault(row.salesforce_stage, []).append((row.pipeline_id, row.stage_id))
        else:
            to_sf.pop((row.pipeline_id, row.stage_id), None)
    return Mapping(to_sf, to_hs)


def to_salesforce(pipeline: str, stage: str, stage_field=None, m: Mapping | None = None) -> str | None:
    """The Salesforce stage for a deal's (pipeline, stage), or None when it is not mapped to a
    stage the org's picklist (`stage_field`, from describe) offers."""
    value = (m or mapping()).to_sf.get((pipeline or DEFAULT_PIPELINE, stage))
    if value is None:
        return None
    if stage_field is not None and stage_field.restricted and stage_field.picklist and value not in stage_field.picklist:
        return None
    return value


def to_hubspot(stage_name: str, pipeline: str = DEFAULT_PIPELINE, m: Mapping | None = None) -> tuple[str, str | None]:
    """(pipeline, stage) for an opportunity's stage: the first stage of `pipeline` mapped to it,
    else HubSpot's default-pipeline equivalent; None when `pipeline` has no such stage."""
    m = m or mapping()
    for p, s in m.to_hs.get(stage_name, []):
        if p == pipeline:
            return p, s
    if pipeline == DEFAULT_PIPELINE:
        return DEFAULT_PIPELINE, DEFAULT_STAGE_TO_HS.get(stage_name, "appointmentscheduled")
    return pipeline, None


def unmapped_message(deal) -> str:
    return (f"Deal {deal.hs_id} is in stage {deal.stage!r} of pipeline {deal.pipeline or DEFAULT_PIPELINE!r}, which "
            "is not mapped to a Salesforce opportunity stage (Salesforce accepts only its own stage names): map it "
            "on the Settings page; the deal is synced on the next run.")


@dataclass(frozen=True)
class SfStage:
    """An opportunity stage of the org (its OpportunityStage row)."""

    name: str
    probability: float      # 0–100
    closed: bool
    won: bool
    order: int = 0


def propose(*, pipeline: str, stage: str, probability: float | None, closed: bool,
            org: list[SfStage]) -> str | None:
    """The Salesforce stage a HubSpot stage should become, before an admin says otherwise: for
    HubSpot's default pipeline its standard counterpart when the org has it; else a won stage for
    a closed stage at probability 1, a lost one for a closed stage below it, and for an open stage
    the open one nearest in probability (HubSpot's 0–1 against Salesforce's 0–100; ties go to the
    earlier stage of the sales process)."""
    names = {s.name for s in org}
    standard = DEFAULT_STAGE_TO_SF.get(stage) if pipeline == DEFAULT_PIPELINE else None
    if standard in names:
        return standard
    if closed:
        won = (probability or 0) >= 1
        pool = [s for s in org if s.closed and s.won == won]
    else:
        pool = [s for s in org if not s.closed]
    if not pool:
        return None
    target = (probability if probability is not None else 0) * 100
    return min(pool, key=lambda s: (abs(s.probability - target), s.order)).name


def refresh(sf, hs) -> int:
    """Read HubSpot's deal pipelines and the org's opportunity stages (`sf`, `hs`: connectors),
    keep the org's stages (OrgStage), and add a proposed mapping for every HubSpot stage that has
    none (labels of the others are kept current; what an admin chose is never overwritten).
    Returns how many stages were added. Two API calls: made when a deal is in a stage the mapping
    does not know, or when an admin asks on the Settings page."""
    from django.db import transaction
    from django.utils import timezone

    from sync.models import OrgStage, StageMapping

    org = [SfStage(r["ApiName"], float(r.get("DefaultProbability") or 0), bool(r.get("IsClosed")), bool(r.get("IsWon")),
                   int(r.get("SortOrder") or 0))
           for page in sf.query_pages("SELECT ApiName, DefaultProbability, IsClosed, IsWon, SortOrder "
                                      "FROM OpportunityStage WHERE IsActive = true") for r in page]
    pipelines = hs.pipelines("deals")
    known = {(m.pipeline_id, m.stage_id): m for m in StageMapping.objects.all()}
    added = 0
    with transaction.atomic():
        OrgStage.objects.exclude(name__in=[s.name for s in org]).delete()
        for st in org:
            OrgStage.objects.update_or_create(name=st.name, defaults={
                "probability": st.probability, "closed": st.closed, "won": st.won, "sort_order": st.order})
        for pipeline in pipelines:
            for st in pipeline.get("stages", []):
                meta = st.get("metadata") or {}
                probability = _float(meta.get("probability"))
                closed = str(meta.get("isClosed", "")).lower() == "true"
                row = known.get((pipeline["id"], st["id"]))
                if row is None:
                    row = StageMapping(pipeline_id=pipeline["id"], stage_id=st["id"], salesforce_stage=propose(
                        pipeline=pipeline["id"], stage=st["id"], probability=probability, closed=closed, org=org) or "")
                    added += 1
                row.pipeline_label, row.stage_label = pipeline.get("label", "")[:255], st.get("label", "")[:255]
                row.display_order, row.probability, row.closed = int(st.get("displayOrder") or 0), probability, closed
                row.updated_at = timezone.now()
                row.save()
    return added


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
