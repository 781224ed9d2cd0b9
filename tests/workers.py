"""Task-cluster heartbeats for tests: an empty heartbeat cache of the test's own, and a cluster's
heartbeat saved by django-q2's own Stat.save() (what a running qcluster does every guard cycle)."""
from __future__ import annotations

import os
import uuid

from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.signing import SignedPackage
from django_q.status import Stat, Status


def isolate(settings, tmp_path) -> None:
    """The ORM broker's heartbeat cache, empty and this test's alone: a cluster that a developer's
    `make demo` runs on this machine beats into var/, not here."""
    assert Conf.ORM, "the suite runs with the ORM broker (REDIS_URL unset)"
    settings.CACHES = {**settings.CACHES, Conf.CACHE: {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path / "heartbeats")}}


def heartbeat(status: str = Conf.IDLE, *, ttl: int | None = None) -> Stat:
    """A cluster's heartbeat as django-q2 saves it (Stat.save: signed, for three seconds); `ttl`
    keeps it longer, for a browser test that waits on the page's polling."""
    stat = Stat.__new__(Stat)  # a Stat is made from a running Sentinel; the fields it saves are Status's
    Status.__init__(stat, pid=os.getpid(), cluster_id=uuid.uuid4())
    stat.status, stat.broker = status, get_broker()
    if ttl is None:
        stat.save()
    else:
        stat.broker.set_stat(stat.key, SignedPackage.dumps(stat, True), ttl)
    return stat
