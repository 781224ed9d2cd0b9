"""A bulk Resync (R6) as the console's select-all makes one, in a process of its own pointed at
the benchmark database: `DATABASE_URL=… python -m tests.bench.resync --out FILE.json`.

The set: every HubSpot contact whose link lost its primary (the contacts list filtered on
"lost primary", all selected, Resync), or the unsynced ones if none did. The job is requested
through `services.request_bulk_resync` (as the view does) and run here by the task's own body
(`sync.tasks.bulk_resync`), so no task cluster is needed; the queued task it also leaves finds
the job claimed if a cluster ever runs it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.resync")
    parser.add_argument("--out", required=True)
    parser.add_argument("--limit", type=int, default=0, help="at most this many contacts (0: all)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from sync import services, tasks
    from sync.models import BulkJob, ContactLink, LinkStatus

    chosen = LinkStatus.LOST_PRIMARY
    links = ContactLink.objects.filter(status=chosen, hs_contact__archived=False)
    if not links.exists():
        chosen = LinkStatus.UNSYNCED
        links = ContactLink.objects.filter(status=chosen, hs_contact__archived=False)
    hs_ids = list(links.order_by("pk").values_list("hs_contact__hs_id", flat=True))
    if args.limit:
        hs_ids = hs_ids[:args.limit]
    # The person who clicks Resync (a bulk job is always someone's; each contact is audited as them).
    actor, _ = get_user_model().objects.get_or_create(username="bench-admin",
                                                      defaults={"email": "bench-admin@example.com"})
    result = {"set": str(chosen), "requested": len(hs_ids)}
    t0 = time.perf_counter()
    if hs_ids:
        with transaction.atomic():
            job = services.request_bulk_resync(hs_ids=hs_ids, actor=actor)
        result["status"] = tasks.bulk_resync(job.pk)
        job = BulkJob.objects.get(pk=job.pk)
        result.update(done=job.done, failed=job.failed, message=job.message)
    result["seconds"] = round(time.perf_counter() - t0, 3)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    return 0 if result.get("status", "done") == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
