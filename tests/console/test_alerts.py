"""The admins' alert digest, sent through Django's SMTP backend to a real SMTP server on loopback
(aiosmtpd, with AUTH): who gets it, its subject, text and links into the console, an audit event
per digest, and nothing when nothing is new (so the task may run twice)."""
from __future__ import annotations

import logging
import socket
from datetime import timedelta
from email import message_from_bytes, policy
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from django.contrib.auth.models import Group
from django.utils import timezone

from sync import alerts, services, tasks
from sync.models import AlertDigest, AlertSeen, AuditEvent, ContactLink, LinkStatus, RecordError, SyncRun
from sync.roles import ADMIN
from tests.conftest import client_for
from tests.console.conftest import hs_contact, link, r2_group, sf_person

# AUTH over plain SMTP on loopback only: the test server has no certificate.
pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]
CONSOLE = "https://crm.example.com"
SMTP_USER, SMTP_PASSWORD = "crmsync-alerts", "smtp-pass-never-shown-4f9c"


class Inbox:
    """aiosmtpd's handler: keeps every message the server accepted, with who logged in to send it."""

    def __init__(self):
        self.messages = []
        self.logins = []

    async def handle_DATA(self, server, session, envelope):
        mail = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append({"from": envelope.mail_from, "to": sorted(envelope.rcpt_tos), "mail": mail,
                              "text": mail.get_content(),
                              "login": session.auth_data if session.authenticated else None})
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            SMTP_USER.encode(), SMTP_PASSWORD.encode())
        self.logins.append(ok)
        return AuthResult(success=ok, auth_data=auth_data.login if ok else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings, caplog):
    caplog.set_level(logging.WARNING, logger="mail.log")  # the test server's own chatter (it logs the AUTH exchange)
    inbox = Inbox()
    port = free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=inbox.authenticate,
                        auth_required=True, auth_require_tls=False)
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"  # not the test runner's locmem
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = SMTP_USER, SMTP_PASSWORD
    settings.DEFAULT_FROM_EMAIL = "crmsync@example.com"
    settings.ALERTS_EMAIL, settings.CONSOLE_URL, settings.ALERTS_INTERVAL_MINUTES = True, CONSOLE, 60
    inbox.port = port
    yield inbox
    server.stop()


@pytest.fixture
def admins(django_user_model, admin_user, operator):
    """ada (admin role) and root (superuser) get the digest; an admin without an address, an
    inactive admin and the operator do not."""
    root = django_user_model.objects.create_superuser("root", "root@example.com", None)
    for name, email, active in (("noaddr", "", True), ("gone", "gone@example.com", False)):
        user = django_user_model.objects.create_user(name, email, None, is_active=active)
        user.groups.add(Group.objects.get(name=ADMIN))
    return admin_user, root


def lost_primary(email: str):
    new = sf_person(email, last="Survivor")
    old = sf_person(email, is_deleted=True, master_record_id=new.sf_id)
    c = hs_contact(email, last="Lost", salesforce_contact_id=old.sf_id)
    return link(c, old, status=LinkStatus.LOST_PRIMARY, status_reason=f"Its record was merged into {new.sf_id}.")


def record_error(record_id: str, **fields) -> RecordError:
    run = SyncRun.objects.create(status="succeeded")
    return RecordError.objects.create(**{"run": run, "crm": "salesforce", "object_type": "Lead", "record_id": record_id,
                                         "operation": "create lead", "code": "INVALID_EMAIL_ADDRESS",
                                         "message": "Email: invalid email address — correct it in HubSpot.", **fields})


def links_in(text: str) -> list[str]:
    return [word for word in text.split() if word.startswith(CONSOLE)]


def test_a_digest_reaches_the_admins_with_counts_examples_and_links(smtp, admins, caplog):
    caplog.set_level(logging.DEBUG, logger="sync")
    lost = [lost_primary(f"lost{i}@example.com") for i in range(2)]
    r2_group("twice@example.com", synced=None)
    error = record_error("5001")
    digest = alerts.send_digest()

    [sent] = smtp.messages
    assert sent["to"] == ["ada@example.com", "root@example.com"] and sent["from"] == "crmsync@example.com"
    assert sent["login"] == SMTP_USER.encode() and smtp.logins == [True]  # EMAIL_HOST_USER / PASSWORD were used
    mail, text = sent["mail"], sent["text"]
    assert mail["Subject"] == "crmsync: 2 contacts lost their primary, 1 new duplicate group, 1 new sync error"
    assert mail["To"] == "ada@example.com, root@example.com" and mail["Auto-Submitted"] == "auto-generated"
    assert "New in crmsync since alerts began:" in text
    assert "Contacts that lost their primary: 2" in text
    assert f"Ann Lost <lost0@example.com>: {lost[0].status_reason}" in text
    assert f"{CONSOLE}/contacts/{lost[0].hs_contact.hs_id}/" in text
    assert f"{CONSOLE}/contacts/?status=lost_primary" in text
    assert "New duplicate groups: 1" in text and "Same email in Salesforce (R2): twice@example.com, 2 records" in text
    assert f"{CONSOLE}/duplicates/?kind=r2&q=twice%40example.com" in text
    assert "New sync errors (records that failed): 1" in text
    assert "Salesforce Lead 5001, create lead: Email: invalid email address" in text
    assert f"{CONSOLE}/runs/{error.run_id}/" in text

    # Every link opens its page in the console for an admin.
    client = client_for(admins[0])
    for url in links_in(text):
        parts = urlsplit(url)
        response = client.get(parts.path, dict(p.split("=") for p in parts.query.split("&")) if parts.query else {})
        assert response.status_code == 200, url
    assert "twice@example.com" in client.get("/duplicates/", {"kind": "r2", "q": "twice@example.com"}).content.decode()

    assert (digest.status, digest.recipients) == ("sent", ["ada@example.com", "root@example.com"])
    assert digest.counts == {"lost_primary": 2, "duplicate_groups": 1, "sync_errors": 1}
    [event] = AuditEvent.objects.filter(action="alert_sent")
    assert (event.actor_name, event.target_id, event.target_repr) == ("sync", str(digest.pk), mail["Subject"])
    assert event.after == {"recipients": ["ada@example.com", "root@example.com"], **digest.counts}
    assert event.message == ("Alert digest sent to 2 admin(s): 2 contacts lost their primary, 1 new duplicate group, "
                             "1 new sync error.")
    # The SMTP password is a secret: not in the mail, the audit history, the digest's row or the logs.
    stored = str(AlertDigest.objects.values().get()) + str(AuditEvent.objects.values().get())
    assert SMTP_PASSWORD not in text + stored + caplog.text


def test_nothing_new_sends_nothing_and_the_next_digest_has_only_the_news(smtp, admins):
    assert alerts.send_digest() is None  # nothing has gone wrong yet
    lost_primary("first@example.com")
    first = alerts.send_digest()
    assert alerts.send_digest() is None and tasks.send_alert_digest() == "nothing new"
    assert len(smtp.messages) == 1

    lost_primary("second@example.com")
    record_error("5002")
    second = alerts.send_digest()
    assert len(smtp.messages) == 2
    text = smtp.messages[1]["text"]
    assert smtp.messages[1]["mail"]["Subject"] == "crmsync: 1 contact lost its primary, 1 new sync error"
    assert "second@example.com" in text and "first@example.com" not in text
    assert "New in crmsync since the last digest (" in text and "duplicate groups" not in text
    assert (first.counts, second.counts) == ({"lost_primary": 1, "duplicate_groups": 0, "sync_errors": 0},
                                            {"lost_primary": 1, "duplicate_groups": 0, "sync_errors": 1})
    assert AuditEvent.objects.filter(action="alert_sent").count() == 2


def test_the_task_run_twice_sends_one_digest(smtp, admins):
    lost_primary("twice@example.com")
    assert [tasks.send_alert_digest(), tasks.send_alert_digest()] == ["sent", "nothing new"]
    assert len(smtp.messages) == 1 and AuditEvent.objects.filter(action="alert_sent").count() == 1


def test_the_same_error_in_the_next_runs_is_no_news_until_it_was_fixed(smtp, admins):
    record_error("5003")
    alerts.send_digest()
    record_error("5003")  # the next run fails on the same record again
    assert alerts.send_digest() is None
    RecordError.objects.update(resolved_at=timezone.now())  # a later run wrote it
    assert alerts.send_digest() is None
    record_error("5003")  # and now it fails again: news
    assert alerts.send_digest().counts["sync_errors"] == 1
    assert len(smtp.messages) == 2


def test_a_problem_that_went_away_and_came_back_is_news_again(smtp, admins):
    link_ = lost_primary("back@example.com")
    alerts.send_digest()
    ContactLink.objects.filter(pk=link_.pk).update(status=LinkStatus.SYNCED)  # resynced
    assert alerts.send_digest() is None
    assert not AlertSeen.objects.exists()
    ContactLink.objects.filter(pk=link_.pk).update(status=LinkStatus.LOST_PRIMARY)  # merged away again
    assert alerts.send_digest().counts["lost_primary"] == 1
    assert len(smtp.messages) == 2


def test_a_mail_server_that_refuses_keeps_the_news_for_the_next_digest(smtp, admins, settings):
    lost_primary("kept@example.com")
    settings.EMAIL_PORT = free_port()  # nothing listens there
    failed = alerts.send_digest()
    assert failed.status == "failed" and "ConnectionRefusedError" in failed.error
    assert not AlertSeen.objects.exists() and not AuditEvent.objects.filter(action="alert_sent").exists()
    settings.EMAIL_PORT = smtp.port
    assert alerts.send_digest().status == "sent"
    assert "kept@example.com" in smtp.messages[0]["text"]


def test_a_digest_whose_worker_died_while_sending_is_sent_again(smtp, admins):
    lost_primary("killed@example.com")
    stuck = AlertDigest.objects.create(subject="crmsync: 1 contact lost its primary", counts={},
                                       created_at=timezone.now() - timedelta(hours=1))
    AlertSeen.objects.create(digest=stuck, kind=AlertSeen.LOST_PRIMARY, key=ContactLink.objects.get().hs_contact.hs_id)
    assert alerts.send_digest().status == "sent"
    assert "killed@example.com" in smtp.messages[0]["text"]
    stuck.refresh_from_db()
    assert stuck.status == "failed" and "worker stopped" in stuck.error


def test_a_digest_being_sent_right_now_is_not_sent_twice(smtp, admins):
    lost_primary("busy@example.com")
    busy = AlertDigest.objects.create(subject="crmsync: 1 contact lost its primary", counts={})
    AlertSeen.objects.create(digest=busy, kind=AlertSeen.LOST_PRIMARY, key=ContactLink.objects.get().hs_contact.hs_id)
    assert alerts.send_digest() is None and not smtp.messages


def test_off_or_without_admin_addresses_nothing_is_sent(smtp, settings, django_user_model):
    lost_primary("nobody@example.com")
    assert alerts.send_digest() is None  # no admin at all
    settings.ALERTS_EMAIL = False
    django_user_model.objects.create_superuser("root", "root@example.com", None)
    assert alerts.send_digest() is None
    assert not smtp.messages and not AlertDigest.objects.exists()


def test_the_schedule_comes_and_goes_with_the_setting(settings):
    from django_q.models import Schedule

    settings.ALERTS_EMAIL, settings.ALERTS_INTERVAL_MINUTES = True, 120
    services.ensure_schedule()
    services.ensure_schedule()
    [schedule] = Schedule.objects.filter(name=services.ALERTS_SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "sync.tasks.send_alert_digest", Schedule.MINUTES, 120, -1)
    settings.ALERTS_EMAIL = False
    services.ensure_schedule()
    assert not Schedule.objects.filter(name=services.ALERTS_SCHEDULE_NAME).exists()
    assert Schedule.objects.filter(name=services.SCHEDULE_NAME).exists()
