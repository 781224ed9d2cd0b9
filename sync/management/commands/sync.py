"""`manage.py sync [--full] [--wait]`: queue a sync run, or run it here with progress."""
from __future__ import annotations

import sys
import threading
import time

from django.core.management.base import BaseCommand, CommandError

from sync import services
from sync.models import SyncRun
from sync.templatetags.crm import duration

SUMMARY = ("pulled", "linked", "switched", "lost_primary", "created", "deleted", "field_changes", "errors")


class Command(BaseCommand):
    help = "Queue a sync cycle for the task cluster, or run one in the foreground with --wait."

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="Pull everything, ignoring the saved watermarks.")
        parser.add_argument("--wait", action="store_true", help="Run here and print a summary.")

    def handle(self, *args, full: bool, wait: bool, **options):
        if not wait:
            run = services.request_sync(full=full, actor=None)
            self.stdout.write(f"Queued sync run {run.pk}; a qcluster worker will run it.")
            return
        from sync.engine.cycle import run_cycle

        run = services.request_sync(full=full, actor=None, enqueue=False)
        stop = threading.Event()
        watcher = threading.Thread(target=self._progress, args=(run.pk, stop), daemon=True)
        watcher.start()
        try:
            run = run_cycle(run.pk)
        finally:
            stop.set()
            watcher.join()
        self.stdout.write(f"\nRun {run.pk}: {run.get_status_display()} in {duration(run.duration) or '—'}")
        self.stdout.write("  " + "  ".join(f"{name.replace('_', ' ')}={getattr(run, name)}" for name in SUMMARY))
        self.stdout.write(f"  API calls: Salesforce={run.sf_api_calls} HubSpot={run.hs_api_calls}")
        if run.error:
            self.stdout.write(f"  {run.error.splitlines()[0]}")
        if run.status not in (SyncRun.Status.SUCCEEDED,):
            raise CommandError(f"sync run {run.pk} {run.get_status_display().lower()}")

    def _progress(self, run_id: int, stop: threading.Event) -> None:
        from django.db import connection

        try:
            while not stop.wait(0.5):
                run = SyncRun.objects.filter(pk=run_id).values("phase", "pulled", "linked", "created").first()
                if run and sys.stdout.isatty():
                    sys.stdout.write(f"\r{run['phase']:<10} pulled {run['pulled']:>8}  linked {run['linked']:>7}  "
                                     f"created {run['created']:>7}")
                    sys.stdout.flush()
                time.sleep(0)
        finally:
            connection.close()
