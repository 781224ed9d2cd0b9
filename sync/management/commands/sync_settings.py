"""`manage.py sync_settings [--set KEY=VALUE …]`: show or change the sync settings."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from sync import services
from sync.models import SyncSettings

TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class Command(BaseCommand):
    help = "Show the sync settings, or change them with --set KEY=VALUE (audited as the sync)."

    def add_arguments(self, parser):
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")

    def handle(self, *args, set: list[str], **options):  # noqa: A002 - the option's name
        if set:
            changes = {}
            for item in set:
                key, sep, raw = item.partition("=")
                if not sep or key not in services.SETTINGS_FIELDS:
                    raise CommandError(f"Use KEY=VALUE with KEY one of: {', '.join(services.SETTINGS_FIELDS)}")
                changes[key] = self._parse(key, raw)
            try:
                services.update_settings(actor=None, changes=changes)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
        current = SyncSettings.load()
        for name in services.SETTINGS_FIELDS:
            self.stdout.write(f"{name} = {getattr(current, name)}")

    def _parse(self, key: str, raw: str):
        field = SyncSettings._meta.get_field(key)
        if field.get_internal_type() == "BooleanField":
            if raw.lower() not in TRUE | FALSE:
                raise CommandError(f"{key} must be true or false, not {raw!r}")
            return raw.lower() in TRUE
        if field.get_internal_type() in ("PositiveIntegerField", "PositiveSmallIntegerField"):
            try:
                return int(raw)
            except ValueError:
                raise CommandError(f"{key} must be a whole number, not {raw!r}") from None
        return raw
