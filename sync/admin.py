"""The Django admin shows the sync's data; it changes none of it. Every change goes through the
console (sync/services.py), which writes its audit event and keeps what depends on it right (a
schedule change also moves django-q2's schedule): an admin form could do neither. Users and
role groups stay editable in Django's own auth admin."""
from django.contrib import admin

from sync import models


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.SfPerson)
class SfPersonAdmin(ReadOnly):
    list_display = ("sf_id", "object_type", "email", "first_name", "last_name", "is_deleted", "is_converted",
                    "master_record_id", "system_modstamp")
    list_filter = ("object_type", "is_deleted", "is_converted")
    search_fields = ("sf_id", "email_key", "last_name")
    readonly_fields = ("email_key",)


@admin.register(models.SfAccount)
class SfAccountAdmin(ReadOnly):
    list_display = ("sf_id", "name", "is_deleted", "system_modstamp")
    search_fields = ("sf_id", "name")


@admin.register(models.SfOpportunity)
class SfOpportunityAdmin(ReadOnly):
    list_display = ("sf_id", "name", "stage_name", "amount", "close_date", "is_deleted")
    search_fields = ("sf_id", "name")


@admin.register(models.HsContact)
class HsContactAdmin(ReadOnly):
    list_display = ("hs_id", "email", "first_name", "last_name", "salesforce_contact_id", "salesforce_lead_id",
                    "archived")
    list_filter = ("archived",)
    search_fields = ("hs_id", "email_key", "last_name")
    readonly_fields = ("email_key",)


@admin.register(models.HsCompany)
class HsCompanyAdmin(ReadOnly):
    list_display = ("hs_id", "name", "salesforce_account_id", "archived")
    search_fields = ("hs_id", "name", "salesforce_account_id")


@admin.register(models.HsDeal)
class HsDealAdmin(ReadOnly):
    list_display = ("hs_id", "name", "amount", "stage", "salesforce_opportunity_id", "archived")
    search_fields = ("hs_id", "name")


@admin.register(models.ContactLink)
class ContactLinkAdmin(ReadOnly):
    list_display = ("hs_contact", "sf_person", "status", "chosen_by", "since")
    list_filter = ("status", "chosen_by")
    raw_id_fields = ("hs_contact", "sf_person", "chosen_by_user")


@admin.register(models.CompanyLink)
class CompanyLinkAdmin(ReadOnly):
    list_display = ("hs_company", "sf_account", "chosen_by", "since")
    raw_id_fields = ("hs_company", "sf_account")


@admin.register(models.DealLink)
class DealLinkAdmin(ReadOnly):
    list_display = ("hs_deal", "sf_opportunity", "origin", "since")
    raw_id_fields = ("hs_deal", "sf_opportunity")


@admin.register(models.SyncSettings)
class SyncSettingsAdmin(ReadOnly):
    """Changed on the Settings page (services.update_settings), never here."""

    list_display = ("__str__", "delete_hubspot_contact_on_delete", "schedule_minutes", "updated_at")


@admin.register(models.SyncRun)
class SyncRunAdmin(ReadOnly):
    list_display = ("id", "status", "phase", "full", "created_at", "started_at", "finished_at", "errors")
    list_filter = ("status",)


@admin.register(models.SyncChunk)
class SyncChunkAdmin(ReadOnly):
    list_display = ("run", "name", "status", "worker", "started_at", "finished_at", "pulled")
    list_filter = ("status",)


@admin.register(models.RecordError)
class RecordErrorAdmin(ReadOnly):
    list_display = ("run", "crm", "object_type", "record_id", "operation", "created_at")
    list_filter = ("crm", "object_type")


@admin.register(models.Watermark)
class WatermarkAdmin(ReadOnly):
    list_display = ("crm", "object_type", "value", "updated_at")


@admin.register(models.AuditEvent)
class AuditEventAdmin(ReadOnly):
    list_display = ("created", "actor_name", "action", "rule", "target_type", "target_id", "target_repr")
    list_filter = ("action", "rule", "target_type")
    search_fields = ("target_id", "target_repr", "actor_name", "message")
    date_hierarchy = "created"


@admin.register(models.BulkJob)
class BulkJobAdmin(ReadOnly):
    list_display = ("id", "kind", "requested_by", "status", "total", "done", "failed", "created_at")


@admin.register(models.FieldRule)
class FieldRuleAdmin(ReadOnly):
    list_display = ("object", "hubspot_property", "salesforce_field", "rule")
    list_filter = ("object", "rule")


@admin.register(models.DuplicateGroup)
class DuplicateGroupAdmin(ReadOnly):
    list_display = ("kind", "key", "size", "leads", "modified", "refreshed_at")
    list_filter = ("kind",)
    search_fields = ("key",)


for model in (models.StageMapping, models.OrgStage, models.CreateIntent):
    admin.site.register(model, ReadOnly)
