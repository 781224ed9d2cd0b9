"""`make demo` starts consistent every time: the sandbox is seeded afresh at each start, so the
demo's database is too. Before, a restarted demo kept the earlier mirror and showed contacts
"Synced" with records the new sandbox never had. Run for real: `manage.py demo` twice, each time
comparing what the console's database holds with what the sandbox's HubSpot API lists."""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest
from django.conf import settings
from django.core.management.base import CommandError

from sync.management.commands.demo import reset_demo_database


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hubspot_contact_ids(base: str) -> set[str]:
    ids, after = set(), None
    while True:
        url = f"{base}/crm/v3/objects/contacts?limit=100" + (f"&after={after}" if after else "")
        request = urllib.request.Request(url, headers={"Authorization": "Bearer sandbox"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.load(response)
        ids |= {row["id"] for row in body["results"]}
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            return ids


def _mirror(db_path) -> tuple[set[str], int, int, list[str]]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        contacts = {row[0] for row in db.execute("SELECT hs_id FROM sync_hscontact WHERE NOT archived")}
        runs = db.execute("SELECT count(*) FROM sync_syncrun").fetchone()[0]
        synced = db.execute("SELECT count(*) FROM sync_contactlink WHERE status = 'synced'").fetchone()[0]
        errors = [row[1] for row in db.execute("SELECT DISTINCT record_id, code FROM sync_recorderror "
                                               "WHERE resolved_at IS NULL ORDER BY record_id")]
    return contacts, runs, synced, errors


def _start_demo(db_path, port: int, sandbox_port: int) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": f"sqlite:///{db_path}", "REDIS_URL": "",
           "DEMO_ADMIN_PASSWORD": "demo-password-for-the-test"}
    return subprocess.Popen([sys.executable, str(settings.BASE_DIR / "manage.py"), "demo", "--port", str(port),
                             "--sandbox-port", str(sandbox_port)], env=env, cwd=settings.BASE_DIR,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_console(proc: subprocess.Popen, port: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the demo exited: {proc.stdout.read()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the demo's console did not answer in time")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)  # Ctrl-C, as the README says
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_a_restarted_demo_shows_only_what_the_new_sandbox_has(tmp_path):
    db_path = tmp_path / "demo.sqlite3"
    seen = []
    for _ in range(2):
        port, sandbox_port = _free_port(), _free_port()
        proc = _start_demo(db_path, port, sandbox_port)
        try:
            _wait_for_console(proc, port)
            hubspot = _hubspot_contact_ids(f"http://127.0.0.1:{sandbox_port}")
            contacts, runs, synced, errors = _mirror(db_path)
        finally:
            _stop(proc)
        # Every contact the console knows is one the running sandbox has, and the other way round.
        assert contacts == hubspot, (len(contacts - hubspot), len(hubspot - contacts))
        assert synced > 0
        assert errors == ["INVALID_EMAIL_ADDRESS"] * 2   # the demo's two contacts Salesforce refuses
        seen.append((len(contacts), runs, synced))
    # The second start is the first one again, not the first one plus a new sandbox's records.
    assert seen[1][0] == seen[0][0]
    assert seen[1][1] <= seen[0][1] + 1, seen  # its own first sync (and at most one scheduled run)


def test_the_demo_refuses_a_database_it_would_wipe(tmp_path):
    kept = tmp_path / "crmsync.sqlite3"
    kept.write_bytes(b"a real database")
    with pytest.raises(CommandError, match="DATABASE_URL=sqlite:///var/demo.sqlite3"):
        reset_demo_database({"ENGINE": "django.db.backends.sqlite3", "NAME": str(kept)})
    assert kept.read_bytes() == b"a real database"
    with pytest.raises(CommandError, match="only on a SQLite file"):
        reset_demo_database({"ENGINE": "django.db.backends.postgresql", "NAME": "demo"})


def test_the_demo_database_is_emptied_with_its_side_files(tmp_path):
    name = tmp_path / "demo.sqlite3"
    for path in (name, tmp_path / "demo.sqlite3-wal"):
        path.write_bytes(b"an earlier demo")
    (tmp_path / "demo.sqlite3-workers").mkdir()
    (tmp_path / "demo.sqlite3-workers" / "beat.djcache").write_bytes(b"heartbeat")
    other = tmp_path / "notes.txt"
    other.write_text("kept")
    reset_demo_database({"ENGINE": "django.db.backends.sqlite3", "NAME": str(name)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def _processes_with(marker: str) -> list[int]:
    """The processes whose environment names `marker` (the demo's database): its children too."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_sigterm_stops_the_demo_and_everything_it_started(tmp_path):
    db_path = tmp_path / "demo.sqlite3"
    port, sandbox_port = _free_port(), _free_port()
    proc = _start_demo(db_path, port, sandbox_port)
    try:
        _wait_for_console(proc, port)
        assert len(_processes_with(str(db_path))) >= 4   # the demo, the sandbox, the cluster, the web server
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _processes_with(str(db_path)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _processes_with(str(db_path)) == []
    finally:
        for pid in _processes_with(str(db_path)):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
