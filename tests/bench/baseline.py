"""Raw-transfer baseline: the pages a full pull reads, fetched by a bare loop with the same client
libraries and the same requests as the sync, doing nothing with the data.

Run as its own process (so its time and peak RSS compare with a sync process):
    DATABASE_URL=… python -m tests.bench.baseline --url http://127.0.0.1:PORT --out FILE.json

* Salesforce: simple-salesforce `query(soql, include_deleted=True)` + `query_more(nextRecordsUrl,
  identifier_is_url=True, include_deleted=True)` over `SELECT <schema.SF_FIELDS[obj]> FROM obj` for
  each object of `schema.SF_PULL_ORDER` (2,000 rows a page).
* HubSpot: hubspot-api-client `crm.<type>.basic_api.get_page_with_http_info(limit=100, after=…,
  properties=schema.hs_properties(type, settings), archived=False, _preload_content=False)` + `json.loads`.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from urllib.parse import urlsplit, urlunsplit

SF_PAGE = 2_000
HS_PAGE = 100
HS_TYPES = ("companies", "contacts", "deals")   # the sync's HubSpot pull order


def _sf_client(url: str, version: str):
    import requests
    from requests.adapters import HTTPAdapter
    from simple_salesforce import Salesforce

    class ToLocalHTTP(HTTPAdapter):   # simple-salesforce always builds https:// URLs (stack notes §2)
        def send(self, request, **kw):
            u = urlsplit(request.url)
            request.url = urlunsplit(("http", u.netloc, u.path, u.query, u.fragment))
            return super().send(request, **kw)

    session = requests.Session()
    session.trust_env = False
    session.mount(f"https://{urlsplit(url).netloc}", ToLocalHTTP())
    return Salesforce(instance_url=url, session_id="sandbox", session=session, version=version)


def salesforce(url: str, version: str) -> dict:
    from sync.engine import schema

    sf = _sf_client(url, version)
    out = {}
    for obj in schema.SF_PULL_ORDER:
        t0 = time.perf_counter()
        soql = f"SELECT {', '.join(schema.SF_FIELDS[obj])} FROM {obj}"
        page = sf.query(soql, include_deleted=True)
        records, requests_ = len(page["records"]), 1
        while not page.get("done", True):
            page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True, include_deleted=True)
            records += len(page["records"])
            requests_ += 1
        out[obj] = {"records": records, "requests": requests_, "page_size": SF_PAGE,
                    "seconds": round(time.perf_counter() - t0, 3)}
    return out


def hubspot(url: str) -> dict:
    from hubspot import HubSpot

    from sync.engine import schema
    from sync.models import SyncSettings

    settings = SyncSettings.load()
    client = HubSpot(access_token="sandbox", host=url)
    out = {}
    for otype in HS_TYPES:
        t0 = time.perf_counter()
        api = getattr(client.crm, otype).basic_api   # one ApiClient (and connection pool) per type
        props = schema.hs_properties(otype, settings)
        after, records, requests_ = None, 0, 0
        while True:
            kwargs = {"limit": HS_PAGE, "properties": props, "archived": False, "_preload_content": False}
            if after:
                kwargs["after"] = after
            response = api.get_page_with_http_info(**kwargs)
            page = json.loads(response.data)
            requests_ += 1
            records += len(page.get("results", []))
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
        out[otype] = {"records": records, "requests": requests_, "page_size": HS_PAGE,
                      "seconds": round(time.perf_counter() - t0, 3)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.baseline")
    parser.add_argument("--url", required=True, help="the sandbox URL (both CRMs)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")
    import django

    django.setup()
    from django.conf import settings

    t0 = time.perf_counter()
    sf = salesforce(args.url, settings.SALESFORCE_API_VERSION)
    t1 = time.perf_counter()
    hs = hubspot(args.url)
    t2 = time.perf_counter()
    result = {"salesforce": {"objects": sf, "seconds": round(t1 - t0, 3)},
              "hubspot": {"objects": hs, "seconds": round(t2 - t1, 3)},
              "transfer_seconds": round(t2 - t0, 3),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
