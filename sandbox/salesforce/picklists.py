"""The standard value sets of a fresh org: Lead Status, Lead Source and Opportunity Stage.

One table per value set feeds both the picklist fields of `schema` (describe's `picklistValues`,
the restricted-picklist check on writes) and the read-only rows of the `LeadStatus` and
`OpportunityStage` sObjects, so the two can never disagree.

Values and stage probabilities are those a new Developer Edition org ships with (its
OpportunityStage standard value set: probability, closed, won, forecast category)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PicklistValue:
    value: str
    label: str = ""
    default: bool = False
    active: bool = True

    def describe(self) -> dict:
        # validFor is only set on dependent picklists (a base64 bit set); these are independent.
        return {"active": self.active, "defaultValue": self.default, "label": self.label or self.value,
                "validFor": None, "value": self.value}


# (value, is converted, is default)
LEAD_STATUSES = (
    ("Open - Not Contacted", False, True),
    ("Working - Contacted", False, False),
    ("Closed - Converted", True, False),
    ("Closed - Not Converted", False, False),
)

LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")

# (value, default probability, is closed, is won, forecast category)
OPPORTUNITY_STAGES = (
    ("Prospecting", 10, False, False, "Pipeline"),
    ("Qualification", 10, False, False, "Pipeline"),
    ("Needs Analysis", 20, False, False, "Pipeline"),
    ("Value Proposition", 50, False, False, "Pipeline"),
    ("Id. Decision Makers", 60, False, False, "Pipeline"),
    ("Perception Analysis", 70, False, False, "Pipeline"),
    ("Proposal/Price Quote", 75, False, False, "Pipeline"),
    ("Negotiation/Review", 90, False, False, "Pipeline"),
    ("Closed Won", 100, True, True, "Closed"),
    ("Closed Lost", 0, True, False, "Omitted"),
)

FORECAST_CATEGORIES = ("Omitted", "Pipeline", "Best Case", "Commit", "Closed")

LEAD_STATUS_VALUES = tuple(PicklistValue(v, default=d) for v, _, d in LEAD_STATUSES)
LEAD_SOURCE_VALUES = tuple(PicklistValue(v) for v in LEAD_SOURCES)
STAGE_VALUES = tuple(PicklistValue(v) for v, *_ in OPPORTUNITY_STAGES)
FORECAST_VALUES = tuple(PicklistValue(v) for v in FORECAST_CATEGORIES)

DEFAULT_LEAD_STATUS = next(v for v, _, d in LEAD_STATUSES if d)
CONVERTED_STATUSES = frozenset(v for v, converted, _ in LEAD_STATUSES if converted)
DEFAULT_CONVERTED_STATUS = next(v for v, converted, _ in LEAD_STATUSES if converted)

# Both value-set objects live in one table in Salesforce and share its key prefix.
METADATA_PREFIX = "01J"


def _id(tag: str, n: int) -> str:
    from sandbox.ids import to18
    return to18(f"{METADATA_PREFIX}Sb0000{tag}{n:04d}")


def metadata_rows() -> list[tuple[str, str, dict]]:
    """(sObject, Id, values) for every LeadStatus and OpportunityStage row of a fresh org."""
    rows = [("LeadStatus", _id("LS", i), {"ApiName": v, "MasterLabel": v, "SortOrder": i,
                                          "IsConverted": converted, "IsDefault": default})
            for i, (v, converted, default) in enumerate(LEAD_STATUSES, 1)]
    rows += [("OpportunityStage", _id("OS", i), {
        "ApiName": v, "MasterLabel": v, "DefaultProbability": float(p), "IsActive": True, "IsClosed": closed,
        "IsWon": won, "SortOrder": i, "ForecastCategoryName": forecast})
        for i, (v, p, closed, won, forecast) in enumerate(OPPORTUNITY_STAGES, 1)]
    return rows
