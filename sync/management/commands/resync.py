"""`manage.py resync HUBSPOT_CONTACT_ID…`: what the console's Resync button does (R6)."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from sync import services


class Command(BaseCommand):
    help = "Resync HubSpot contacts that lost their primary with the record it was merged into (R6)."

    def add_arguments(self, parser):
        parser.add_argument("hubspot_contact_ids", nargs="+")

    def handle(self, *args, hubspot_contact_ids: list[str], **options):
        results = services.resync_contacts(hs_ids=hubspot_contact_ids, actor=None)
        for r in results:
            self.stdout.write(f"{r.hs_id}: {'ok' if r.ok else 'not resynced'} — {r.message}")
        if not all(r.ok for r in results):
            raise CommandError("some contacts were not resynced")
