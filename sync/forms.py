from django import forms

from sync.models import SyncSettings


class SyncSettingsForm(forms.ModelForm):
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
