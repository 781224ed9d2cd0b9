"""Console page latency after a sync: the Django test client as a logged-in admin, in a process
pointed at the benchmark database.

    DATABASE_URL=… python -m tests.bench.pages --out FILE.json [--repeat 20]

Per page: one warm-up request, one request inside `CaptureQueriesContext` (the query count),
then `--repeat` timed requests (p50/p95 of the time `client.get` takes: the whole server side,
no network). DEBUG stays off; static files use the plain storage (no collectstatic manifest here).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

PER_PAGE_CONTACTS = 50


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def _pages() -> list[tuple[str, str, str | None]]:
    """(name, url, pair) — pages with the same `pair` are the first/last page of one list."""
    from urllib.parse import urlencode

    from django.urls import reverse

    from sync import queries
    from sync.models import HsContact, SyncRun

    def last(loader) -> int:
        try:
            return max(1, int(loader(page=1).pages))
        except Exception:  # the console's query API changed: the views clamp a page past the end
            return 10 ** 6

    dup = reverse("sync:duplicates")
    out = [("overview", reverse("sync:overview"), None)]
    for kind, loader in (("r2", queries.r2_groups), ("r7", queries.r7_groups), ("r9", queries.r9_groups)):
        out.append((f"duplicates {kind} p1", f"{dup}?kind={kind}", f"dup-{kind}"))
        out.append((f"duplicates {kind} last", f"{dup}?kind={kind}&page={last(loader)}", f"dup-{kind}"))
    out.append(("audit", reverse("sync:audit"), None))
    contacts = reverse("sync:contacts")
    n = HsContact.objects.filter(archived=False).count()
    out.append(("contacts p1", contacts, "contacts"))
    out.append(("contacts last", f"{contacts}?page={max(1, math.ceil(n / PER_PAGE_CONTACTS))}", "contacts"))
    # The console's name search (sync.queries.contact_search): the last name of a contact in the
    # middle of the list, so it matches a few rows like a real look-up, not the whole table.
    middle = HsContact.objects.filter(archived=False).exclude(last_name="").order_by("pk")
    name = next(iter(middle.values_list("last_name", flat=True)[n // 2:n // 2 + 1]), None)
    if name:
        out.append(("contacts search name", f"{contacts}?{urlencode({'q': name})}", None))
    hs_id = _interesting_contact()
    if hs_id:
        out.append(("contact detail", reverse("sync:contact", args=[hs_id]), None))
    out.append(("runs", reverse("sync:runs"), None))
    run = SyncRun.objects.order_by("-pk").values_list("pk", flat=True).first()
    if run:
        out.append(("run detail", reverse("sync:run", args=[run]), None))
    return out


def _interesting_contact() -> str | None:
    """A synced HubSpot contact whose email has several Salesforce records (an R2 group), else any synced one."""
    from django.db.models import Count

    from sync.models import HsContact, SfPerson

    key = (SfPerson.objects.filter(is_deleted=False).exclude(email_key="").values("email_key")
           .annotate(n=Count("id")).filter(n__gt=1).order_by("email_key").values_list("email_key", flat=True)[:50])
    hit = HsContact.objects.filter(archived=False, email_key__in=list(key), link__isnull=False).order_by("pk")
    hs_id = hit.values_list("hs_id", flat=True).first()
    if hs_id is None:
        hs_id = HsContact.objects.filter(archived=False, link__isnull=False).order_by("pk") \
            .values_list("hs_id", flat=True).first()
    return hs_id


def measure(repeat: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from sync.roles import ADMIN

    user, _ = get_user_model().objects.get_or_create(username="bench-admin",
                                                     defaults={"email": "bench-admin@example.com"})
    user.is_staff = user.is_superuser = True
    user.save()
    user.groups.add(Group.objects.get(name=ADMIN))
    client = Client()
    client.force_login(user)
    pages = []
    for name, url, pair in _pages():
        first = client.get(url)
        if first.status_code != 200:
            pages.append({"name": name, "url": url, "pair": pair, "status": first.status_code})
            continue
        with CaptureQueriesContext(connection) as ctx:
            client.get(url)
        queries = len(ctx.captured_queries)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
        with CaptureQueriesContext(connection) as ctx:
            client.get(url)
        pages.append({"name": name, "url": url, "pair": pair, "status": response.status_code,
                      "bytes": len(response.content), "queries": queries,
                      "queries_stable": len(ctx.captured_queries) == queries,
                      "p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1),
                      "max_ms": round(max(times), 1), "n": repeat})
    pairs: dict[str, set] = {}
    for p in pages:
        if p.get("pair"):
            pairs.setdefault(p["pair"], set()).add(p.get("queries"))
    for p in pages:
        if p.get("pair"):
            p["same_queries_first_last"] = len(pairs[p["pair"]]) == 1
    return {"pages": pages, "repeat": repeat, "vendor": connection.vendor}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.pages")
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import override_settings

    if connection.vendor == "postgresql":
        # Planner statistics as autovacuum keeps them in production (this server runs with it
        # off): right after the syncs a fresh table's estimates are a few hundred rows off.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    with override_settings(ALLOWED_HOSTS=["testserver"], SECURE_SSL_REDIRECT=False,
                           STORAGES={"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                                     "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}):
        result = measure(args.repeat)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
