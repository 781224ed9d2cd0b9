"""Default field sync rules, like HubSpot's default field mappings. Editable on the Settings page."""
from django.db import migrations

DEFAULTS = [
    # object, HubSpot property, Salesforce field, rule, label
    ("contact", "email", "Email", "two_way", "Email"),
    ("contact", "firstname", "FirstName", "prefer_sf", "First name"),
    ("contact", "lastname", "LastName", "prefer_sf", "Last name"),
    ("contact", "phone", "Phone", "prefer_sf", "Phone"),
    ("contact", "company", "Company", "prefer_sf", "Company (leads)"),
    ("contact", "jobtitle", "Title", "prefer_sf", "Job title"),
    ("company", "name", "Name", "prefer_sf", "Account name"),
    ("deal", "dealname", "Name", "two_way", "Deal name"),
    ("deal", "amount", "Amount", "two_way", "Amount"),
    ("deal", "dealstage", "StageName", "two_way", "Stage"),
    ("deal", "closedate", "CloseDate", "two_way", "Close date"),
]


def create(apps, schema_editor):
    FieldRule = apps.get_model("sync", "FieldRule")
    for obj, prop, field, rule, label in DEFAULTS:
        FieldRule.objects.get_or_create(object=obj, hubspot_property=prop,
                                        defaults={"salesforce_field": field, "rule": rule, "label": label})


class Migration(migrations.Migration):
    dependencies = [("sync", "0002_roles_and_settings")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
