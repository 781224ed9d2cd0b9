from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """Local emulators of the Salesforce and HubSpot APIs (no models; gives `manage.py sandbox`)."""

    name = "sandbox"
    verbose_name = "CRM sandbox"
