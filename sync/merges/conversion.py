"""A lead and a contact of one email (an R2 group Salesforce cannot merge: merge() takes one
object type) are resolved the way Salesforce resolves them: the lead is converted into the
contact and its account (SOAP convertLead(), no opportunity). A preview says what happens in both
CRMs first; the conversion is recorded (mirror, audit) as soon as Salesforce answers, and a sync
run carries it to HubSpot: the lead's HubSpot contact follows the conversion to the contact."""
from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from sync.audit import record_event
from sync.crm.base import CrmError
from sync.engine import groups
from sync.merges.salesforce import group_members
from sync.models import AuditEvent, ContactLink, DuplicateGroup, HsContact, LinkStatus, SfPerson, SfReread


@dataclass
class ConversionPreview:
    key: str
    leads: list[SfPerson]
    contacts: list[SfPerson]
    lead: SfPerson
    contact: SfPerson
    lead_follower: HsContact | None      # the HubSpot contact that syncs with the lead: it follows it
    contact_holder: HsContact | None     # the HubSpot contact that syncs with the contact: it keeps it

    @property
    def problem(self) -> str:
        """Why Salesforce would refuse, in words ("" when it would not)."""
        if not self.contact.account_id:
            return (f"Contact {self.contact.sf_id} belongs to no account: Salesforce converts a lead into a contact "
                    "and that contact's account. Give the contact an account in Salesforce first.")
        return ""


def preview_conversion(*, key: str, lead_id: str | None = None, contact_id: str | None = None) -> ConversionPreview:
    members = group_members(key)
    leads = [m for m in members if m.object_type == "Lead"]
    contacts = [m for m in members if m.object_type == "Contact"]
    if not leads or not contacts:
        raise ValidationError("This group has no lead and contact to convert one into the other.")
    lead = next((m for m in leads if m.sf_id == lead_id), None) if lead_id else leads[0]
    links = {link.sf_person_id: link.hs_contact for link in ContactLink.objects.filter(
        sf_person__in=members, status=LinkStatus.SYNCED).select_related("hs_contact")}
    synced_contact = next((c for c in contacts if c.pk in links), None)
    contact = next((m for m in contacts if m.sf_id == contact_id), None) if contact_id else synced_contact or contacts[0]
    if lead is None or contact is None:
        raise ValidationError(f"{lead_id or contact_id} is not a lead or contact of this group.")
    return ConversionPreview(key, leads, contacts, lead, contact, links.get(lead.pk), links.get(contact.pk))


def convert_lead(*, key: str, lead_id: str, contact_id: str, actor, connector=None) -> ConversionPreview:
    """Convert `lead_id` into `contact_id` in Salesforce; record it; queue a sync."""
    from sync import services
    from sync.crm.salesforce import SalesforceConfig, SalesforceConnector

    preview = preview_conversion(key=key, lead_id=lead_id, contact_id=contact_id)
    if preview.problem:
        raise ValidationError(preview.problem)
    sf = connector or SalesforceConnector(SalesforceConfig.from_settings())
    status = next((r["ApiName"] for page in sf.query_pages(
        "SELECT ApiName FROM LeadStatus WHERE IsConverted = true ORDER BY SortOrder") for r in page), None)
    if status is None:
        raise CrmError("This Salesforce org has no converted lead status to convert a lead with.", crm="salesforce",
                       permanent=True)
    result = sf.convert_lead(preview.lead.sf_id, contact_id=preview.contact.sf_id,
                             account_id=preview.contact.account_id, converted_status=status)
    if not result.get("success"):
        errors = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors", []))
        raise CrmError(f"Salesforce refused the conversion: {errors or 'no reason given'}", crm="salesforce",
                       permanent=True)
    _record(preview, actor)
    services.request_sync(full=False, actor=actor)
    return preview


@transaction.atomic
def _record(p: ConversionPreview, actor) -> None:
    lead = SfPerson.objects.get(pk=p.lead.pk)
    lead.is_converted, lead.converted_contact_id = True, p.contact.sf_id
    lead.raw = {**(lead.raw or {}), "IsConverted": True, "ConvertedContactId": p.contact.sf_id}
    lead.save(update_fields=["is_converted", "converted_contact_id", "raw"])
    # Salesforce also filled the contact's blank fields from the lead: the next pull reads both.
    SfReread.objects.bulk_create([SfReread(sf_id=p.lead.sf_id, object_type="Lead", reason="lead conversion"),
                                  SfReread(sf_id=p.contact.sf_id, object_type="Contact", reason="lead conversion")])
    follower = p.lead_follower.hs_id if p.lead_follower else None
    record_event(actor=actor, action=AuditEvent.Action.RECORD_MERGED, rule="R2", target_type="salesforce.Contact",
                 target_id=p.contact.sf_id, target_repr=f"{p.contact.name} <{p.contact.email}>",
                 before={"lead": p.lead.sf_id, "contact": p.contact.sf_id},
                 after={"converted_into": p.contact.sf_id, "account": p.contact.account_id,
                        "hubspot_contact_follows": follower},
                 message=f"Converted lead {p.lead.sf_id} into contact {p.contact.sf_id} (account "
                         f"{p.contact.account_id}) in Salesforce"
                         + (f"; HubSpot contact {follower} follows it to the contact." if follower else "."))
    groups.refresh_keys(DuplicateGroup.Kind.R2, [p.key])
