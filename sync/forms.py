import re

from django import forms

from sync.models import FieldRule, SyncSettings

# name: (lowest, highest, what it is, unit) — the form's bounds, said in words, and the inputs' min/max.
BOUNDS = {"schedule_minutes": (1, 1440, "Minutes between runs", "minutes"),
          "salesforce_api_share": (1, 100, "The Salesforce API budget", "%"),
          "hubspot_api_share": (1, 100, "The HubSpot API budget", "%")}
# HubSpot property (internal) names: lower-case letters, digits and underscores, starting with a letter.
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
LIST_ID = re.compile(r"^[0-9]{1,20}$")
PROPERTIES = {"prop_salesforce_contact_id": "contacts", "prop_salesforce_lead_id": "contacts",
              "prop_salesforce_account_id": "companies", "prop_salesforce_opportunity_id": "deals"}


class SyncSettingsForm(forms.ModelForm):
    """The sync settings; help texts come from the model and are shown as consequences. Every
    refusal is said in words at its field (never a database constraint's name)."""

    class Meta:
        model = SyncSettings
        fields = ["delete_hubspot_contact_on_delete", "create_salesforce_leads", "create_hubspot_contacts",
                  "schedule_minutes", "live_poll_minutes", "salesforce_api_share", "hubspot_api_share",
                  "prop_salesforce_contact_id", "prop_salesforce_lead_id", "prop_salesforce_account_id",
                  "prop_salesforce_opportunity_id", "inclusion_list_id"]
        labels = {
            "delete_hubspot_contact_on_delete": "Delete HubSpot contacts when their Salesforce record is deleted",
            "create_salesforce_leads": "Create Salesforce leads for new HubSpot contacts",
            "create_hubspot_contacts": "Create HubSpot contacts for new Salesforce leads and contacts",
            "schedule_minutes": "Minutes between sync runs",
            "live_poll_minutes": "Live poll of Salesforce",
            "salesforce_api_share": "Salesforce API budget (% of the daily limit)",
            "hubspot_api_share": "HubSpot API budget (% of the daily limit)",
            "prop_salesforce_contact_id": "Contact property holding the Salesforce contact ID",
            "prop_salesforce_lead_id": "Contact property holding the Salesforce lead ID",
            "prop_salesforce_account_id": "Company property holding the Salesforce account ID",
            "prop_salesforce_opportunity_id": "Deal property holding the Salesforce opportunity ID",
            "inclusion_list_id": "Inclusion list (HubSpot list ID)",
        }

    def __init__(self, *args, sf_daily_limit: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        poll = self.fields["live_poll_minutes"]
        poll.choices = poll_choices(sf_daily_limit)
        poll.required = False   # a post from before live sync leaves it as it is
        for name, (low, high, what, unit) in BOUNDS.items():
            field = self.fields[name]
            field.widget.attrs.update(min=low, max=high, step=1, inputmode="numeric")
            words = f"{what} is a whole number from {low} to {high} {unit}."
            field.error_messages.update(invalid=words, min_value=words, max_value=words, required=words)
            field.min_value, field.max_value = low, high
            field.validators = [v for v in field.validators if not hasattr(v, "limit_value")]
        self.fields["inclusion_list_id"].widget.attrs.update(inputmode="numeric", list="hubspot-lists", autocomplete="off",
                                                              placeholder="blank: every contact syncs")
        for name in PROPERTIES:
            self.fields[name].error_messages["required"] = "A HubSpot property name is needed here."
            self.fields[name].widget.attrs.update(pattern=PROPERTY_NAME.pattern, spellcheck="false",
                                                  autocapitalize="none")

    def _bounded(self, name: str):
        value = self.cleaned_data.get(name)
        low, high, what, unit = BOUNDS[name]
        if value is not None and not low <= value <= high:
            raise forms.ValidationError(f"{what} is a whole number from {low} to {high} {unit}.")
        return value

    def clean_live_poll_minutes(self):
        value = self.cleaned_data.get("live_poll_minutes")
        return self.instance.live_poll_minutes if value in (None, "") else int(value)

    def clean_schedule_minutes(self):
        return self._bounded("schedule_minutes")

    def clean_salesforce_api_share(self):
        return self._bounded("salesforce_api_share")

    def clean_hubspot_api_share(self):
        return self._bounded("hubspot_api_share")

    def clean_inclusion_list_id(self):
        if "inclusion_list_id" not in self.data:
            return self.instance.inclusion_list_id   # a post from before the inclusion list leaves it as it is
        value = (self.cleaned_data.get("inclusion_list_id") or "").strip()
        if value and not LIST_ID.match(value):
            raise forms.ValidationError(f"{value!r} is not a HubSpot list ID: that is the number in the list's address "
                                        "(…/objectLists/123/…), or blank for every contact.")
        return value

    def clean(self):
        cleaned = super().clean()
        for name in PROPERTIES:
            value = (cleaned.get(name) or "").strip()
            if value and not PROPERTY_NAME.match(value):
                self.add_error(name, f"{value!r} is not a HubSpot property name: those are lower-case letters, digits "
                                     "and underscores, starting with a letter (e.g. salesforcecontactid).")
            elif value:
                cleaned[name] = value
        return cleaned

    def changed_properties(self) -> dict[str, tuple[str, str]]:
        """The property names this form changes: field → (HubSpot object type, new name)."""
        return {name: (object_type, self.cleaned_data[name]) for name, object_type in PROPERTIES.items()
                if name in self.changed_data and self.cleaned_data.get(name)}


class FieldRuleForm(forms.ModelForm):
    class Meta:
        model = FieldRule
        fields = ["rule"]


FieldRuleFormSet = forms.modelformset_factory(FieldRule, form=FieldRuleForm, extra=0, can_delete=False)


def poll_calls_per_day(minutes: int) -> int:
    """Salesforce API calls a day a live poll every `minutes` costs when nothing changes: one
    query per object it pulls (leads, contacts, accounts, opportunities)."""
    from sync.engine.schema import SF_PULL_ORDER

    return len(SF_PULL_ORDER) * (24 * 60 // minutes) if minutes else 0


def poll_choices(daily_limit: int | None) -> list[tuple[int, str]]:
    """The live poll's choices, each with what it costs a day, said before it is saved."""
    out = [(0, "Off: Salesforce's changes come over with the scheduled runs")]
    for minutes, _ in SyncSettings._meta.get_field("live_poll_minutes").choices[1:]:
        calls = poll_calls_per_day(minutes)
        share = f", {100 * calls / daily_limit:.1f} % of the org's {daily_limit:,}" if daily_limit else ""
        every = "Every minute" if minutes == 1 else f"Every {minutes} minutes"
        out.append((minutes, f"{every}: {calls:,} Salesforce API calls a day when nothing changes{share}"))
    return out
