"""Lead conversion (reference §4.3; SOAP `convertLead()`, Apex `Database.LeadConvert`): one
implementation behind both SOAP `convertLead` and the control endpoint
`POST /_sandbox/salesforce/convert-lead`.

A conversion makes (or reuses) an Account and a Contact, makes an Opportunity unless told not to,
and marks the lead converted. Reused records only get fields that are empty on them (LeadSource
is overwritten when `overwriteLeadSource` is set). Each conversion is its own transaction: a
failure leaves nothing behind. Errors are `ApiError`s with Salesforce's codes (UNCONFIRMED where
marked: the docs name the rules, not always the code a broken rule returns)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sandbox import ids
from sandbox.salesforce import picklists, writes
from sandbox.salesforce.schema import SOBJECTS, UTC, SObject
from sandbox.salesforce.store import ID, IS_DELETED, ApiError, Store

LEAD, CONTACT, ACCOUNT, OPPORTUNITY = (SOBJECTS[n] for n in ("Lead", "Contact", "Account", "Opportunity"))
# Standard lead field mapping: lead field → the field it fills on the contact / the account.
_TO_CONTACT = ("FirstName", "LastName", "Email", "Phone", "Title", "LeadSource", "Description")
_TO_ACCOUNT = (("Company", "Name"), ("Phone", "Phone"))


@dataclass
class LeadConvert:
    """The LeadConvert argument (ownerId and sendNotificationEmail are accepted and ignored:
    the sandbox has one user and sends no mail)."""
    lead_id: str | None
    converted_status: str | None
    account_id: str | None = None
    contact_id: str | None = None
    do_not_create_opportunity: bool = False
    opportunity_name: str | None = None
    overwrite_lead_source: bool = False


def _quarter_end(day: date) -> date:
    month = (day.month - 1) // 3 * 3 + 3          # the quarter's last month: 3, 6, 9 or 12
    first_after = date(day.year + 1, 1, 1) if month == 12 else date(day.year, month + 1, 1)
    return first_after - timedelta(days=1)


def _target(store: Store, obj: SObject, raw: str, now: int, argument: str) -> list:
    rid = ids.normalize(raw)
    rec = store.get(rid) if rid and store.type_of(rid) == obj.name else None
    if rec is None or store.purged(rec, now):
        raise ApiError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [argument])
    if rec[IS_DELETED]:
        raise ApiError("ENTITY_IS_DELETED", "entity is deleted", [])
    return rec


class _Tx:
    """The conversion's writes, undone in reverse order when a later step fails."""

    def __init__(self, store: Store) -> None:
        self.store, self.undo = store, []

    def create(self, obj: SObject, body: dict, now: int) -> list:
        rec = writes.create(self.store, obj, body, now)
        self.undo.append((obj, rec, None))
        return rec

    def fill(self, obj: SObject, rec: list, values: dict, now: int, *, overwrite: tuple = ()) -> None:
        """Set `values` where `rec` is empty (or always, for the names in `overwrite`)."""
        changes = {k: v for k, v in values.items() if v not in (None, "") and
                   (k in overwrite or rec[obj.by_lower[k.lower()].pos] in (None, ""))}
        if changes:
            self.undo.append((obj, rec, list(rec)))
            self.store.update(obj, rec, changes, now)

    def rollback(self) -> None:
        for obj, rec, snap in reversed(self.undo):
            self.store.restore(obj, rec, snap)


def convert(store: Store, lc: LeadConvert, now: int) -> dict:
    """Convert one lead; returns the LeadConvertResult ids. Raises ApiError, leaving no trace."""
    if not lc.lead_id:
        raise ApiError("REQUIRED_FIELD_MISSING", "Required fields are missing: [leadId]", ["leadId"])
    lead = _target(store, LEAD, lc.lead_id, now, "leadId")
    if lead[writes.LEAD_IS_CONVERTED]:
        # UNCONFIRMED for convertLead: the code Salesforce gives any write to a converted lead.
        raise ApiError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
    if not lc.converted_status:
        raise ApiError("REQUIRED_FIELD_MISSING", "Required fields are missing: [convertedStatus]",
                       ["convertedStatus"])
    if lc.converted_status not in picklists.CONVERTED_STATUSES:
        raise ApiError("INVALID_STATUS", f"invalid convertedStatus: {lc.converted_status}", ["Status"])
    if lc.contact_id and not lc.account_id:
        # The docs: "an accountId must be specified" with a contactId. UNCONFIRMED: the code.
        raise ApiError("REQUIRED_FIELD_MISSING", "Required fields are missing: [accountId]", ["accountId"])
    account = _target(store, ACCOUNT, lc.account_id, now, "accountId") if lc.account_id else None
    contact = _target(store, CONTACT, lc.contact_id, now, "contactId") if lc.contact_id else None
    if contact is not None and contact[CONTACT.by_lower["accountid"].pos] != account[ID]:
        # UNCONFIRMED: the code and wording for a contact of another account.
        raise ApiError("INVALID_CROSS_REFERENCE_KEY", "The contact is not associated with the specified account",
                       ["contactId"])
    get = lambda name: lead[LEAD.by_lower[name.lower()].pos]  # noqa: E731
    tx = _Tx(store)
    try:
        if account is None:
            account = tx.create(ACCOUNT, {to: get(frm) for frm, to in _TO_ACCOUNT}, now)
        else:
            tx.fill(ACCOUNT, account, {to: get(frm) for frm, to in _TO_ACCOUNT}, now)
        person = {name: get(name) for name in _TO_CONTACT}
        if contact is None:
            contact = tx.create(CONTACT, person | {"AccountId": account[ID]}, now)
        else:
            tx.fill(CONTACT, contact, person, now, overwrite=("LeadSource",) if lc.overwrite_lead_source else ())
        opportunity = None
        today = datetime.fromtimestamp(now, UTC).date()
        if not lc.do_not_create_opportunity:
            # UNCONFIRMED: the new opportunity's stage and close date. Salesforce uses the sales
            # process's default stage and the end of the current quarter; the sandbox's stage
            # picklist has no default, so the first stage. The default name (the company) is cut to
            # the Name field's 120 characters; a name given explicitly is checked like any write.
            opportunity = tx.create(OPPORTUNITY, {
                "Name": lc.opportunity_name or get("Company")[:120], "AccountId": account[ID],
                "StageName": picklists.OPPORTUNITY_STAGES[0][0], "CloseDate": _quarter_end(today).isoformat()}, now)
        tx.undo.append((LEAD, lead, list(lead)))
        store.update(LEAD, lead, {
            "IsConverted": True, "ConvertedDate": today.isoformat(), "Status": lc.converted_status,
            "ConvertedContactId": contact[ID], "ConvertedAccountId": account[ID],
            "ConvertedOpportunityId": opportunity[ID] if opportunity else None}, now)
    except ApiError:
        tx.rollback()
        raise
    return {"accountId": account[ID], "contactId": contact[ID], "leadId": lead[ID],
            "opportunityId": opportunity[ID] if opportunity else None}
