"""Integrity lives in the database: each named constraint rejects the bad row it exists for."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from sync.audit import record_event
from sync.models import (
    AuditEvent,
    CompanyLink,
    ContactLink,
    DealLink,
    HsCompany,
    HsContact,
    HsDeal,
    SfAccount,
    SfOpportunity,
    SfPerson,
    SyncRun,
    SyncSettings,
    Watermark,
    email_key,
)

pytestmark = pytest.mark.django_db

LEAD = "00Q000000000001AAA"
CONTACT = "003000000000001AAA"
ACCOUNT = "001000000000001AAA"
OPP = "006000000000001AAA"


def rejects(constraint: str, make, *, columns: str = ""):
    """Assert that `make()` raises IntegrityError naming `constraint`. SQLite names the columns
    of a violated unique constraint instead of its name; pass them as `columns`."""
    with pytest.raises(IntegrityError) as info, transaction.atomic():
        make()
    # Both backends name the violated constraint (or, for a unique column, the column).
    message = str(info.value).lower()
    assert constraint in message or (columns and columns in message), message


def person(sf_id=CONTACT, **kw):
    return SfPerson.objects.create(sf_id=sf_id, object_type=kw.pop("object_type", "Contact"), **kw)


def test_email_key_is_trimmed_and_lower_cased_only():  # R1
    assert email_key("  Ann.Lee+x@Example.COM ") == "ann.lee+x@example.com"
    assert email_key(None) == ""


def test_email_key_is_kept_in_step_with_email():
    p = person(email=" Bo@Example.com")
    assert p.email_key == "bo@example.com"
    c = HsContact.objects.create(hs_id="1", email="X@Y.Z ")
    assert c.email_key == "x@y.z"


def test_sf_ids_must_be_18_characters():
    rejects("sfperson_sf_id_18_chars", lambda: person(sf_id="003000000000001"))
    rejects("sfaccount_sf_id_18_chars", lambda: SfAccount.objects.create(sf_id="001"))
    rejects("sfopportunity_sf_id_18_chars", lambda: SfOpportunity.objects.create(sf_id="006"))


def test_sf_person_object_type_and_conversion_rules():
    rejects("sfperson_object_type_valid", lambda: person(object_type="Account"))
    rejects("sfperson_only_leads_convert", lambda: person(is_converted=True))
    assert person(sf_id=LEAD, object_type="Lead", is_converted=True).is_converted
    rejects("sfperson_not_own_master", lambda: person(sf_id=CONTACT, master_record_id=CONTACT))


def test_mirror_rows_are_unique_per_crm_id():
    person()
    rejects("sf_id", lambda: person())
    HsContact.objects.create(hs_id="7")
    rejects("hs_id", lambda: HsContact.objects.create(hs_id="7"))


def test_one_link_per_hubspot_contact_and_synced_links_name_a_record():
    c = HsContact.objects.create(hs_id="1")
    p = person()
    ContactLink.objects.create(hs_contact=c, sf_person=p, chosen_by="R3")
    rejects("hs_contact_id", lambda: ContactLink.objects.create(hs_contact=c, sf_person=p, chosen_by="R4"))
    other = HsContact.objects.create(hs_id="2")
    rejects("contactlink_synced_has_record", lambda: ContactLink.objects.create(hs_contact=other, status="synced"))
    rejects("contactlink_status_valid",
            lambda: ContactLink.objects.create(hs_contact=other, sf_person=p, status="bogus"))
    assert ContactLink.objects.create(hs_contact=other, status="unsynced").sf_person is None


def test_only_a_resync_names_a_person(admin_user):
    c = HsContact.objects.create(hs_id="1")
    rejects("contactlink_user_only_for_resync", lambda: ContactLink.objects.create(
        hs_contact=c, sf_person=person(), chosen_by="R3", chosen_by_user=admin_user))


def test_one_company_per_account_and_one_to_one_deals():
    account = SfAccount.objects.create(sf_id=ACCOUNT)
    a, b = HsCompany.objects.create(hs_id="1"), HsCompany.objects.create(hs_id="2")
    CompanyLink.objects.create(hs_company=a, sf_account=account, chosen_by="R9")
    rejects("companylink_one_company_per_account",
            lambda: CompanyLink.objects.create(hs_company=b, sf_account=account, chosen_by="R10"),
            columns="sync_companylink.sf_account_id")
    opp = SfOpportunity.objects.create(sf_id=OPP)
    d1, d2 = HsDeal.objects.create(hs_id="1"), HsDeal.objects.create(hs_id="2")
    DealLink.objects.create(hs_deal=d1, sf_opportunity=opp, origin="existing")
    rejects("sf_opportunity_id", lambda: DealLink.objects.create(hs_deal=d2, sf_opportunity=opp, origin="hubspot"))
    rejects("hs_deal_id", lambda: DealLink.objects.create(
        hs_deal=d1, sf_opportunity=SfOpportunity.objects.create(sf_id="006000000000002AAA"), origin="hubspot"))


def test_settings_are_a_single_row_with_sane_values():
    s = SyncSettings.load()
    assert (s.pk, s.delete_hubspot_contact_on_delete, s.schedule_minutes) == (1, False, 5)
    assert (s.prop_salesforce_contact_id, s.prop_salesforce_lead_id, s.prop_salesforce_account_id,
            s.prop_salesforce_opportunity_id) == ("salesforcecontactid", "salesforceleadid", "salesforceaccountid",
                                                  "hs_salesforceopportunityid")
    rejects("syncsettings_single_row", lambda: SyncSettings.objects.create(pk=2))
    for field, value, name in [("schedule_minutes", 0, "syncsettings_schedule_1_to_1440_minutes"),
                               ("salesforce_api_share", 101, "syncsettings_sf_share_percent"),
                               ("hubspot_api_share", 0, "syncsettings_hs_share_percent")]:
        rejects(name, lambda f=field, v=value: SyncSettings.objects.filter(pk=1).update(**{f: v}))


def test_only_one_run_is_running():
    now = timezone.now()
    SyncRun.objects.create(status="running", started_at=now)
    rejects("syncrun_one_running", lambda: SyncRun.objects.create(status="running", started_at=now),
            columns="sync_syncrun.status")
    assert SyncRun.objects.create(status="pending")


def test_run_times_and_progress_are_consistent():
    now = timezone.now()
    rejects("syncrun_finished_after_started", lambda: SyncRun.objects.create(status="failed", finished_at=now))
    rejects("syncrun_finish_not_before_start", lambda: SyncRun.objects.create(
        status="failed", started_at=now, finished_at=now - timedelta(seconds=1)))
    rejects("syncrun_progress_within_total", lambda: SyncRun.objects.create(progress_done=5, progress_total=3))


def test_one_watermark_per_object():
    Watermark.objects.create(crm="salesforce", object_type="Lead", value=timezone.now())
    rejects("watermark_one_per_object",
            lambda: Watermark.objects.create(crm="salesforce", object_type="Lead", value=timezone.now()),
            columns="sync_watermark.crm, sync_watermark.object_type")


def test_audit_events_need_an_actor_name_and_a_known_rule():
    rejects("auditevent_has_actor_name", lambda: AuditEvent.objects.create(
        actor_name="", action="resynced", target_type="x", target_id="1"))
    rejects("auditevent_rule_is_r1_to_r11", lambda: AuditEvent.objects.create(
        actor_name="sync", action="resynced", rule="R12", target_type="x", target_id="1"))


def test_audit_events_are_append_only(admin_user):
    event = record_event(action="resynced", rule="R6", target_type="hubspot.contact", target_id="1",
                         actor=admin_user, message="clicked Resync")
    assert event.actor_name == "ada"
    event.message = "rewritten"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(message="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().message == "clicked Resync"


def test_people_with_audit_history_cannot_be_deleted(admin_user):
    from django.db.models import ProtectedError
    record_event(action="resynced", rule="R6", target_type="hubspot.contact", target_id="1", actor=admin_user)
    with pytest.raises(ProtectedError):
        admin_user.delete()


def test_sync_events_are_attributed_to_the_sync():
    event = record_event(action="link_created", rule="R3", target_type="hubspot.contact", target_id="5")
    assert (event.actor, event.actor_name) == (None, "sync")
