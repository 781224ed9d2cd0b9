from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "HubSpot ↔ Salesforce sync"

    def ready(self):
        post_migrate.connect(schedules_after_migrate, sender=self)


def schedules_after_migrate(sender, using="default", plan=None, **kwargs):
    """A fresh install or an upgrade gets its django-q2 schedules (the sync cycle, the alert digest)
    from `migrate`: without them `qcluster` would never start a scheduled sync until someone saved
    the settings. Only when migrate applied something: a flush (tests) passes no plan."""
    from django.db import connections
    from django_q.models import Schedule

    if not plan or Schedule._meta.db_table not in connections[using].introspection.table_names():
        return
    from sync.services import ensure_schedule

    ensure_schedule()
