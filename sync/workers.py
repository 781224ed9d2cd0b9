"""Is a task worker running? Pages that wait on one (a queued run, a bulk job) say so when none is.

django-q2's cluster saves a heartbeat (django_q.status.Stat) every guard cycle with a
three-second expiry: in Redis with the Redis broker, else in the Django cache that
Q_CLUSTER["cache"] names, which crmsync/settings.py makes one every process shares (a file
beside a SQLite database, a table of a PostgreSQL one). A cluster on any host that shares the
broker is seen; one that stopped or was killed drops out within seconds.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

from django.core.cache import caches
from django_q.conf import Conf
from django_q.signing import BadSignature, SignedPackage

log = logging.getLogger(__name__)

# A stopping cluster still saves its heartbeat until its workers have exited.
GONE = {Conf.STOPPING, Conf.STOPPED}


@dataclass(frozen=True)
class Health:
    clusters: int            # clusters whose heartbeat is fresh
    hosts: tuple[str, ...]
    error: str = ""          # the broker could not be asked: we cannot tell

    @property
    def missing(self) -> bool:
        return not self.clusters and not self.error


@cache
def _broker():
    """One broker (and so one Redis connection pool) per process, not one per request."""
    from django_q.brokers import get_broker

    return get_broker()


def _heartbeats() -> list:
    if Conf.ORM:
        # Read-only on purpose: django-q2's Stat.get_all() rewrites the cache's list of clusters
        # on every call, a database write per page view with the database cache.
        store = caches[Conf.CACHE]
        packs = store.get_many(store.get(Conf.Q_STAT) or []).values()
    else:
        packs = _broker().get_stats(f"{Conf.Q_STAT}:*") or []
    stats = []
    for pack in packs:
        if not pack:  # expired between listing the keys and reading them
            continue
        try:
            stats.append(SignedPackage.loads(pack))
        except BadSignature:  # another deployment's cluster (another SECRET_KEY) on a shared broker
            continue
    return stats


def check() -> Health:
    if Conf.SYNC:  # tasks run inside the request that queues them: nothing waits for a worker
        return Health(clusters=1, hosts=())
    try:
        alive = [s for s in _heartbeats() if getattr(s, "status", Conf.STOPPED) not in GONE]
    except Exception as exc:  # a broker that does not answer must not take the page down with it
        log.warning("Could not read the task cluster's heartbeat: %s", exc.__class__.__name__)
        return Health(clusters=0, hosts=(), error=exc.__class__.__name__)
    return Health(clusters=len(alive), hosts=tuple(sorted({getattr(s, "host", "") for s in alive})))


def for_request(request) -> Health:
    """At most one look per request, however many fragments ask."""
    health = getattr(request, "_crmsync_workers", None)
    if health is None:
        health = request._crmsync_workers = check()
    return health
