""""Test connection" on the Settings page: one cheap authenticated call to each CRM, reporting
what it found (org / portal, API usage) or the exact error. Never shows a credential."""
from __future__ import annotations

from dataclasses import dataclass, field

from sync.crm.base import CrmError


@dataclass
class CheckResult:
    crm: str
    ok: bool
    summary: str
    details: dict = field(default_factory=dict)


def check(crm: str) -> CheckResult:
    try:
        return _salesforce() if crm == "salesforce" else _hubspot()
    except CrmError as exc:
        return CheckResult(crm, False, f"{'Salesforce' if crm == 'salesforce' else 'HubSpot'}: {exc}")


def _salesforce() -> CheckResult:
    from sync.crm.salesforce import SalesforceConfig, SalesforceConnector

    config = SalesforceConfig.from_settings()
    conn = SalesforceConnector(config)
    limits = conn.limits()
    daily = limits.get("DailyApiRequests", {})
    used = int(daily.get("Max", 0)) - int(daily.get("Remaining", 0))
    return CheckResult("salesforce", True,
                       f"Salesforce: connected to {conn.client.sf_instance} (API {config.version}); "
                       f"{used:,} of {int(daily.get('Max', 0)):,} daily API requests used.",
                       {"instance": conn.client.sf_instance, "used": used, "limit": daily.get("Max")})


def _hubspot() -> CheckResult:
    from sync.crm.hubspot import HubSpotConfig, HubSpotConnector

    conn = HubSpotConnector(HubSpotConfig.from_settings())
    details = conn.account_details()
    budget = conn.budget
    usage = (f"; {budget.daily_used:,} of {budget.daily_limit:,} daily API calls used"
             if budget.daily_limit else "")
    return CheckResult("hubspot", True, f"HubSpot: connected to portal {details.get('portalId')} "
                                        f"({details.get('timeZone', 'time zone unknown')}){usage}.", details)
