from django import forms

from sync.models import FieldRule, SyncSettings


class SyncSettingsForm(forms.ModelForm):
    """The sync settings; help texts come from the model and are shown as consequences."""

    class Meta:
        model = SyncSettings
        fields = ["delete_hubspot_contact_on_delete", "create_salesforce_leads", "create_hubspot_contacts",
                  "schedule_minutes", "salesforce_api_share", "hubspot_api_share",
                  "prop_salesforce_contact_id", "prop_salesforce_lead_id", "prop_salesforce_account_id",
                  "prop_salesforce_opportunity_id"]
        labels = {
            "delete_hubspot_contact_on_delete": "Delete HubSpot contacts when their Salesforce record is deleted",
            "salesforce_api_share": "Salesforce API budget (% of the daily limit)",
            "hubspot_api_share": "HubSpot API budget (% of the daily limit)",
        }


class FieldRuleForm(forms.ModelForm):
    class Meta:
        model = FieldRule
        fields = ["rule"]


FieldRuleFormSet = forms.modelformset_factory(FieldRule, form=FieldRuleForm, extra=0, can_delete=False)
