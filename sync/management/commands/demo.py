"""`make demo`: migrate, create a demo admin, and run the sandbox, the web console and a
django-q2 cluster side by side on 127.0.0.1 until Ctrl-C."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from sync import duplicate_actions, services
from sync.roles import ADMIN

LOOPBACK = "127.0.0.1,localhost,[::1]"
# HubSpot contacts whose emails HubSpot took and Salesforce refuses (INVALID_EMAIL_ADDRESS), as
# real portals have a few: the demo's Sync errors page then has something to show.
REFUSED = [{"id": f"99000{i}", "properties": {"email": email, "firstname": first, "lastname": last}}
           for i, (email, first, last) in enumerate((("ann(work)@example.com", "Ann", "Parent"),
                                                     ("bo[sales]@example.com", "Bo", "Square")), start=1)]


def console_environment(env: dict[str, str]) -> dict[str, str]:
    """The demo's web server runs with DEBUG off, as in production, so a wrong address shows the
    product's 404 and not DEBUG's listing of every URL pattern. What production then requires is
    set for plain HTTP on loopback: a signing key made for this run, loopback host names, no
    redirect to HTTPS, cookies sent without TLS."""
    return {**env, "DEBUG": "false", "SECRET_KEY": env.get("SECRET_KEY") or secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": LOOPBACK, "SECURE_SSL_REDIRECT": "false", "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false"}


def reset_demo_database(db: dict) -> None:
    """The sandbox starts freshly seeded every time, so the demo's database must too: a mirror kept
    from an earlier demo would show records, links and runs the new sandbox never had. Only a SQLite
    file named for the demo is ever deleted, so a real database cannot be wiped by mistake."""
    name = str(db.get("NAME", ""))
    if not db["ENGINE"].endswith("sqlite3") or "demo" not in Path(name).name:
        raise CommandError("The demo empties its database at every start, so it runs only on a SQLite file "
                           "named for it: DATABASE_URL=sqlite:///var/demo.sqlite3 (what `make demo` sets).")
    connections.close_all()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(name + suffix).unlink(missing_ok=True)
    shutil.rmtree(name + "-workers", ignore_errors=True)  # the worker-heartbeat cache beside it


def start_console(port: int, env: dict[str, str]) -> subprocess.Popen:
    """The demo's web server on 127.0.0.1:`port`. With DEBUG off whitenoise serves the collected,
    hashed static files (var/static), so they are collected first."""
    env, manage = console_environment(env), [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "collectstatic", "--noinput", "--verbosity", "0"], env=env, check=True)
    return subprocess.Popen([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], env=env)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Run the console, a task cluster and the CRM sandbox (demo scenario) on embedded defaults."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--sandbox-port", type=int, default=8900)
        parser.add_argument("--scenario", default="demo")

    def handle(self, *args, port: int, sandbox_port: int, scenario: str, **options):
        # SIGTERM (a `kill`, a closing terminal session, a process manager) stops the demo as
        # Ctrl-C does: through the `finally` below, which stops the sandbox, the task cluster and
        # the web server; Python's default would leave them running.
        signal.signal(signal.SIGTERM, _interrupt)
        reset_demo_database(settings.DATABASES["default"])
        call_command("migrate", verbosity=0)
        password = self._demo_admin()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        env = {**os.environ, "DEBUG": "true", "REDIS_URL": "",
               "SALESFORCE_INSTANCE_URL": sandbox_url, "SALESFORCE_ACCESS_TOKEN": "sandbox",
               "HUBSPOT_BASE_URL": sandbox_url, "HUBSPOT_ACCESS_TOKEN": "sandbox",
               # The sandbox's integration user is crmsync's alone (its screens edit as a person).
               "SALESFORCE_SKIP_OWN_WRITES": os.environ.get("SALESFORCE_SKIP_OWN_WRITES", "true")}
        manage = [sys.executable, "manage.py"]
        # HubSpot's search index lags behind writes in the demo too, as the real one does.
        procs = [subprocess.Popen([*manage, "sandbox", "--port", str(sandbox_port), "--scenario", scenario,
                                   "--search-lag", "1000:4000"], env=env)]
        try:
            self._wait_for(f"{sandbox_url}/_sandbox/stats", procs[0])
            request = urllib.request.Request(f"{sandbox_url}/_sandbox/load", method="POST",
                                             data=json.dumps({"hubspot": {"contacts": REFUSED}}).encode(),
                                             headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=30).close()
            # A first sync before the console opens, so every page has something to show.
            self.stdout.write("Running a first sync against the sandbox…")
            subprocess.run([*manage, "sync", "--wait", "--full"], env=env, check=False)
            services.ensure_schedule()
            duplicate_actions.request_possible_duplicates(actor=None)   # the task cluster below builds them
            procs.append(subprocess.Popen([*manage, "qcluster"], env=env))
            procs.append(start_console(port, env))
            self.stdout.write(self.style.SUCCESS(
                f"\ncrmsync demo on http://127.0.0.1:{port}/  user: admin  password: {password}\n"
                f"CRM sandbox on {sandbox_url}. Ctrl-C stops everything.\n"))
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
            self.stderr.write("A demo process exited; stopping the others.")
        except KeyboardInterrupt:
            pass
        finally:
            self._stop(procs)

    def _demo_admin(self) -> str:
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        user.groups.add(Group.objects.get(name=ADMIN))
        return password

    def _wait_for(self, url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit("The sandbox exited before it was ready.")
            try:
                urllib.request.urlopen(url, timeout=1).close()
                return
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"The sandbox did not answer on {url} within {timeout:.0f} s.")

    def _stop(self, procs: list[subprocess.Popen]) -> None:
        # SIGTERM to each main PID only: SIGTERM to qcluster's whole process group hangs it (stack notes §4).
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
