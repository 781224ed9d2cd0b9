"""Every write the console makes goes through a function here, which also writes its audit event."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from sync.audit import record_event
from sync.models import AuditEvent, SyncSettings

SETTINGS_FIELDS = ("delete_hubspot_contact_on_delete", "create_salesforce_leads", "create_hubspot_contacts",
                   "schedule_minutes", "salesforce_api_share", "hubspot_api_share", "prop_salesforce_contact_id",
                   "prop_salesforce_lead_id", "prop_salesforce_account_id", "prop_salesforce_opportunity_id")


@transaction.atomic
def update_settings(*, actor, changes: dict) -> SyncSettings:
    """Apply `changes` (field → value) to the settings row; one audit event lists before/after
    of the fields that really changed. Raises ValidationError on a bad value, changing nothing."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown setting(s): {', '.join(sorted(unknown))}")
    obj = SyncSettings.objects.select_for_update().get(pk=SyncSettings.load().pk)
    before = model_to_dict(obj, fields=SETTINGS_FIELDS)
    for name, value in changes.items():
        setattr(obj, name, value)
    obj.full_clean()
    after = model_to_dict(obj, fields=SETTINGS_FIELDS)
    changed = {k for k in SETTINGS_FIELDS if before[k] != after[k]}
    if not changed:
        return obj
    obj.updated_at = timezone.now()
    obj.save()
    record_event(actor=actor, action=AuditEvent.Action.SETTINGS_CHANGED, target_type="settings", target_id="1",
                 target_repr="Sync settings", before={k: before[k] for k in sorted(changed)},
                 after={k: after[k] for k in sorted(changed)})
    return obj
