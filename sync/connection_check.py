""""Test connection" on the Settings page: cheap authenticated calls to each CRM, reporting
what it found (org / portal, API usage) or the exact error. Never shows a credential."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

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
    user = conn.user_info()
    name = user.get("preferred_username") or user.get("name") or "?"
    echo = ("its own changes are left out of incremental pulls (SALESFORCE_SKIP_OWN_WRITES): nobody else may log in "
            "as this user" if settings.SALESFORCE_SKIP_OWN_WRITES else
            "the records it writes are read back once by the next run (SALESFORCE_SKIP_OWN_WRITES is off)")
    return CheckResult("salesforce", True,
                       f"Salesforce: connected to {conn.client.sf_instance} (API {config.version}); "
                       f"{used:,} of {int(daily.get('Max', 0)):,} daily API requests used. "
                       f"Logged in as {name} ({user['user_id']}): {echo}.",
                       {"instance": conn.client.sf_instance, "used": used, "limit": daily.get("Max"),
                        "user": name, "user_id": user["user_id"]})


def _hubspot() -> CheckResult:
    from sync.crm.hubspot import HubSpotConfig, HubSpotConnector
    from sync.forms import PROPERTIES
    from sync.models import SyncSettings

    conn = HubSpotConnector(HubSpotConfig.from_settings())
    details = conn.account_details()
    budget = conn.budget
    usage = (f"; {budget.daily_used:,} of {budget.daily_limit:,} daily API calls used"
             if budget.daily_limit else "")
    s = SyncSettings.load()
    missing = missing_properties(conn, {f: (t, getattr(s, f)) for f, t in PROPERTIES.items()})
    found = (" Every Salesforce-id property the settings name exists." if not missing else
             " " + " ".join(missing.values()))
    return CheckResult("hubspot", not missing, f"HubSpot: connected to portal {details.get('portalId')} "
                                               f"({details.get('timeZone', 'time zone unknown')}){usage}.{found}",
                       details)


def missing_properties(conn, wanted: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Of `wanted` (field → (HubSpot object type, property name)), the ones HubSpot does not have,
    each with what to do about it."""
    kinds = {"contacts": "contact", "companies": "company", "deals": "deal"}
    return {field: f"HubSpot has no {kinds[t]} property named {name!r}: create it in HubSpot (single-line text) or "
                   "correct the name."
            for field, (t, name) in wanted.items() if conn.property(t, name) is None}


def check_property_names(wanted: dict[str, tuple[str, str]]) -> dict[str, str]:
    """For the Settings page: the changed property names HubSpot does not have, by form field; a
    HubSpot that cannot be asked is an error on each of them too (nothing is saved unchecked)."""
    if not wanted:
        return {}
    from sync.crm.hubspot import HubSpotConfig, HubSpotConnector

    try:
        return missing_properties(HubSpotConnector(HubSpotConfig.from_settings()), wanted)
    except CrmError as exc:
        return {field: f"Could not check {name!r} with HubSpot ({exc}); try again once HubSpot answers."
                for field, (_, name) in wanted.items()}


def check_inclusion_list(list_id: str) -> tuple[str, str]:
    """For the Settings page: (the list's name, "") when HubSpot has contact list `list_id`, else
    ("", what is wrong). Nothing is saved unchecked."""
    from sync.crm.hubspot import CONTACT_LIST_TYPE, HubSpotConfig, HubSpotConnector

    try:
        found = HubSpotConnector(HubSpotConfig.from_settings()).contact_list(list_id)
    except CrmError as exc:
        if exc.status == 404:
            return "", f"HubSpot has no list {list_id}: choose one of the portal's contact lists."
        return "", f"Could not check list {list_id} with HubSpot ({exc}); try again once HubSpot answers."
    if found.get("objectTypeId") != CONTACT_LIST_TYPE:
        return "", f"List {list_id} ({found.get('name', '')}) is not a contact list: choose a list of contacts."
    return found.get("name") or list_id, ""


def contact_lists() -> tuple[list[dict], str]:
    """The portal's contact lists for the Settings page's picker, or ([], why not)."""
    from sync.crm.hubspot import HubSpotConfig, HubSpotConnector

    try:
        return HubSpotConnector(HubSpotConfig.from_settings()).contact_lists(), ""
    except CrmError as exc:
        return [], f"Could not read HubSpot's lists ({exc}); type the list's ID instead."
