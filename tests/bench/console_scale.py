"""Console pages at scale (issue 6): fill a PostgreSQL database with a million mirror records,
refresh the duplicate groups in full, then time every list page (and the contact, company and deal
pages, sync errors by type, the rules) as a logged-in admin.

    DEBUG=true DATABASE_URL=postgres://postgres@127.0.0.1:5432/scale \\
        .venv/bin/python -m tests.bench.console_scale [--size 1000000] [--repeat 30] [--no-fill]

The script migrates the database, which must not be one the tests use (its mirror tables are
truncated). Rows are made by `INSERT … SELECT generate_series` in the database itself, a few
seconds per table. Prints a table (p50/p95 of the time Django takes to answer, through the test
client, and the queries per page) and writes it as JSON (--json). After refreshing the groups it
vacuums their table, as autovacuum would after a full refresh rewrote every row (a server with
autovacuum off would otherwise read more dead groups on every run)."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")
import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.template.base import Template  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, _TestState, setup_test_environment  # noqa: E402

from sync.engine.groups import refresh_groups, refresh_keys, touched_keys  # noqa: E402
from sync.engine.pull import Touched  # noqa: E402
from sync.models import DuplicateGroup, HsCompany, HsContact, HsDeal, RecordError  # noqa: E402
from sync.roles import ADMIN  # noqa: E402

TARGET_MS = 50   # issue 14: every console page, the duplicate tabs' searches included
TABLES = ["sync_auditevent", "sync_contactlink", "sync_companylink", "sync_deallink", "sync_duplicategroup",
          "sync_recorderror", "sync_syncrun", "sync_hscontact", "sync_hscompany", "sync_hsdeal", "sync_sfperson",
          "sync_sfaccount", "sync_sfopportunity"]
BIG_COMPANY = "1"        # company 1 has every 1000th contact and every 100th deal besides its share (its page)
DEAL_BASE = 9_000_000    # deal k is HubSpot deal 9000000 + k (its opportunity 006…k)
# RecordError families, weighted as a portal's Sync Health tends to look (validation and values first).
FAMILY_MIX = ["validation", "validation", "validation", "values", "values", "values", "duplicates", "duplicates",
              "mapping", "permissions", "associations", "other"]
# (Salesforce code, HubSpot code, message) per family: codes explain.ADVICE knows, where there is one.
FAMILY_ERRORS = {
    "duplicates": ("DUPLICATES_DETECTED", "CONFLICT", "A record with this email address already exists."),
    "mapping": ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "VALIDATION_ERROR",
                "Lead Source: bad value for restricted picklist field: Webinar 2024"),
    "validation": ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "VALIDATION_ERROR", "Phone must be in E.164 format."),
    "permissions": ("INSUFFICIENT_ACCESS_OR_READONLY", "MISSING_SCOPES", "Insufficient access rights on object id."),
    "associations": ("ENTITY_IS_DELETED", "OBJECT_NOT_FOUND", "The associated record was deleted or is not visible."),
    "values": ("STRING_TOO_LONG", "VALIDATION_ERROR", "Title: data value too large (max length=128)."),
    "other": ("UNKNOWN_EXCEPTION", "", "An unexpected error occurred. Please include this ErrorId: 1234-5678."),
}


def client_environment() -> None:
    """The test client's settings (its host, locmem e-mail), with templates rendered as production
    renders them: setup_test_environment instruments every template render to copy its context for
    `response.context`, about 10 ms on a duplicates page, which no user waits for."""
    setup_test_environment()
    Template._render = _TestState.saved_data.template_render


def fill(n: int) -> dict[str, float]:
    """n Salesforce people and n HubSpot contacts (each linked to its person), n/10 companies and
    accounts, n/10 deals and (96% of them) opportunities, n audit events, n/100 runs, n/50 record
    errors. About 2% of the people share an email (R2), 1% of the contacts carry another contact's
    Salesforce id (R7), 2% of the companies another's account (R9). A contact's company (R10) is
    also its Salesforce contact's account; company 1 has about n/1000 more contacts and n/1000 more
    deals than the others (about 10 contacts and 1 deal each)."""
    c = max(1, n // 10)   # companies, accounts
    d = max(1, n // 10)   # deals
    company_of = f"CASE WHEN i % 1000 = 3 THEN 1 ELSE i % {c} + 1 END"  # person/contact i's (3: live, synced, not R7)
    deal_company = f"CASE WHEN k % 100 = 1 THEN 1 ELSE k % {c} + 1 END"  # 1: live, linked
    e_n = max(1, n // 50)
    per_record = max(1, e_n // 12)  # records of each of the 6 kinds with errors: about 2 errors each
    fam = "ARRAY[" + ", ".join(f"'{f}'" for f in FAMILY_MIX) + "]"
    sf_code = "CASE fam " + " ".join(f"WHEN '{f}' THEN '{v[0]}'" for f, v in FAMILY_ERRORS.items()) + " END"
    hs_code = "CASE fam " + " ".join(f"WHEN '{f}' THEN '{v[1]}'" for f, v in FAMILY_ERRORS.items()) + " END"
    message = "CASE fam " + " ".join(f"WHEN '{f}' THEN '{v[2]}'" for f, v in FAMILY_ERRORS.items()) + " END"
    assert set(FAMILY_MIX) == set(FAMILY_ERRORS) == set(RecordError.Family.values)
    stages_hs = "ARRAY['appointmentscheduled','qualifiedtobuy','presentationscheduled','decisionmakerboughtin'," \
                "'contractsent','closedwon','closedlost']"
    stages_sf = "ARRAY['Prospecting','Qualification','Needs Analysis','Id. Decision Makers','Negotiation/Review'," \
                "'Closed Won','Closed Lost']"
    steps = {
        "truncate": f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE",
        # Leads every third record; 0.5% deleted (merged into the next record), 0.3% converted leads.
        "sf people": f"""
            INSERT INTO sync_sfperson (sf_id, object_type, email, email_key, first_name, last_name, company, phone,
                title, account_id, is_deleted, master_record_id, is_converted, converted_contact_id,
                hubspot_contact_id, created_date, last_modified_date, system_modstamp, pull_seq, raw, mirrored_at)
            SELECT CASE WHEN i % 3 = 0 THEN '00Q' ELSE '003' END || lpad(i::text, 15, '0'),
                CASE WHEN i % 3 = 0 THEN 'Lead' ELSE 'Contact' END, e, lower(e), 'First' || (i % 5000),
                'Last' || i, 'Company ' || (i % 9000), '', '',
                CASE WHEN i % 3 = 0 THEN '' ELSE '001' || lpad(({company_of})::text, 15, '0') END, i % 200 = 0,
                CASE WHEN i % 200 = 0 THEN '003' || lpad((i + 1)::text, 15, '0') ELSE '' END,
                i % 300 = 0, '', '', ts, ts, ts, i, '{{}}', now()
            FROM (SELECT i, timestamptz '2024-01-01' + i * interval '7 seconds' AS ts,
                         CASE WHEN i <= {n // 50} THEN 'Dup' || (i % {max(1, n // 140)}) || '@Example.com'
                              ELSE 'p' || i || '@example.com' END AS e
                  FROM generate_series(1, {n}) i) s""",
        # Contact i carries person i's id; 1% (i % 100 = 1, past the R2 block) carry person i-1's.
        "hs contacts": f"""
            INSERT INTO sync_hscontact (hs_id, email, email_key, first_name, last_name, phone, company_name,
                job_title, salesforce_lead_id, salesforce_contact_id, primary_company_id, archived, merged_into_id,
                merged_ids, created_at, last_modified, raw, mirrored_at)
            SELECT (1000000 + i)::text, 'h' || i || '@example.com', 'h' || i || '@example.com', 'First' || (i % 5000),
                'Last' || i, '', '', '', CASE WHEN t % 3 = 0 THEN '00Q' || lpad(t::text, 15, '0') ELSE '' END,
                CASE WHEN t % 3 <> 0 THEN '003' || lpad(t::text, 15, '0') ELSE '' END,
                ({company_of})::text, i % 500 = 0, '', '', ts, ts, '{{}}', now()
            FROM (SELECT i, CASE WHEN i % 100 = 1 AND i > {n // 50} THEN i - 1 ELSE i END AS t,
                         timestamptz '2024-01-01' + i * interval '7 seconds' AS ts
                  FROM generate_series(1, {n}) i) s""",
        "contact links": """
            INSERT INTO sync_contactlink (hs_contact_id, sf_person_id, status, chosen_by, since, status_reason)
            SELECT h.id, CASE WHEN h.archived OR h.id % 1000 = 7 THEN NULL ELSE p.id END,
                CASE WHEN h.archived THEN 'deleted' WHEN h.id % 1000 = 7 THEN 'unsynced'
                     WHEN p.is_deleted THEN 'lost_primary' ELSE 'synced' END,
                CASE WHEN h.archived OR h.id % 1000 = 7 THEN '' ELSE 'R3' END, now(), ''
            FROM sync_hscontact h JOIN sync_sfperson p ON p.id = h.id""",
        "accounts": f"""
            INSERT INTO sync_sfaccount (sf_id, name, is_deleted, master_record_id, hubspot_company_id,
                last_modified_date, system_modstamp, raw, mirrored_at)
            SELECT '001' || lpad(j::text, 15, '0'), 'Account ' || j, false, '', (j)::text, now(), now(), '{{}}', now()
            FROM generate_series(1, {c}) j""",
        "companies": f"""
            INSERT INTO sync_hscompany (hs_id, name, domain, salesforce_account_id, archived, merged_into_id,
                merged_ids, created_at, last_modified, raw, mirrored_at)
            SELECT j::text, 'Company ' || j, 'c' || j || '.example.com',
                '001' || lpad((CASE WHEN j % 50 = 0 THEN j - 1 ELSE j END)::text, 15, '0'), false, '', '',
                now(), timestamptz '2024-01-01' + j * interval '1 minute', '{{}}', now()
            FROM generate_series(1, {c}) j""",
        "company links": """
            INSERT INTO sync_companylink (hs_company_id, sf_account_id, chosen_by, since, status, status_reason)
            SELECT c.id, a.id, 'R9', now(), 'synced', '' FROM sync_hscompany c JOIN sync_sfaccount a ON a.id = c.id
            WHERE c.id % 50 <> 0""",
        # Deal k: company k % c + 1 (k % 100 = 1: company 1; 5% name none, found through the opportunity's
        # account); 4% have no opportunity yet (k % 25 = 3); 0.25% archived.
        "deals": f"""
            INSERT INTO sync_hsdeal (hs_id, name, amount, stage, close_date, salesforce_opportunity_id, company_id,
                pipeline, archived, merged_into_id, merged_ids, created_at, last_modified, raw, mirrored_at)
            SELECT ({DEAL_BASE} + k)::text, 'Deal ' || k, (k % 1000) * 100, ({stages_hs})[k % 7 + 1],
                date '2025-01-01' + (k % 365), CASE WHEN k % 25 = 3 THEN '' ELSE '006' || lpad(k::text, 15, '0') END,
                CASE WHEN k % 20 = 7 THEN '' ELSE ({deal_company})::text END, 'default', k % 400 = 0, '', '',
                ts, ts, '{{}}', now()
            FROM (SELECT k, timestamptz '2024-01-01' + k * interval '3 minutes' AS ts
                  FROM generate_series(1, {d}) k) s""",
        "opportunities": f"""
            INSERT INTO sync_sfopportunity (sf_id, name, account_id, stage_name, close_date, amount, is_deleted,
                hubspot_deal_id, last_modified_date, system_modstamp, raw, mirrored_at)
            SELECT '006' || lpad(k::text, 15, '0'), 'Deal ' || k, '001' || lpad(({deal_company})::text, 15, '0'),
                ({stages_sf})[k % 7 + 1], date '2025-01-01' + (k % 365), (k % 1000) * 100, false,
                ({DEAL_BASE} + k)::text, ts, ts, '{{}}', now()
            FROM (SELECT k, timestamptz '2024-01-01' + k * interval '3 minutes' AS ts
                  FROM generate_series(1, {d}) k WHERE k % 25 <> 3) s""",
        "deal links": """
            INSERT INTO sync_deallink (hs_deal_id, sf_opportunity_id, origin, since, status, status_reason)
            SELECT h.id, o.id, (ARRAY['existing','hubspot','salesforce'])[h.id % 3 + 1], now(),
                CASE WHEN h.archived THEN 'hubspot_deleted' ELSE 'synced' END, ''
            FROM sync_hsdeal h JOIN sync_sfopportunity o ON o.hubspot_deal_id = h.hs_id""",
        "runs": f"""
            INSERT INTO sync_syncrun (status, phase, "full", created_at, started_at, finished_at, heartbeat_at,
                progress_done, progress_total, pulled, linked, switched, lost_primary, created, deleted,
                field_changes, errors, sf_api_calls, hs_api_calls, snapshot, error, worker, live)
            SELECT 'succeeded', 'done', false, t, t, t + interval '20 seconds', t, 0, 0, 100, 3, 1, 0, 2, 0, 9, 0, 40, 30,
                jsonb_build_object('r2_groups', 1000 + r % 50, 'r7_groups', 500, 'r9_groups', 200, 'lost_primary', 10),
                '', '', false
            FROM (SELECT r, now() - r * interval '5 minutes' AS t FROM generate_series(1, {max(1, n // 100)}) r) s""",
        "audit events": f"""
            INSERT INTO sync_auditevent (created, run_id, actor_name, action, rule, target_type, target_id,
                target_repr, before, after, message)
            SELECT now() - e * interval '1 second', (e % {max(1, n // 100)}) + 1, 'sync',
                (ARRAY['link_created','link_switched','primary_lost','field_changed'])[e % 4 + 1],
                (ARRAY['R3','R4','R5',''])[e % 4 + 1], 'hubspot.contact', (1000000 + (e % {n}) + 1)::text,
                'Contact ' || e, NULL, NULL, 'Event ' || e
            FROM generate_series(1, {n}) e""",
        # Error e is against record r of kind e % 6 (a HubSpot contact, a Salesforce person, a company, an
        # account, a deal, an opportunity), r spread over the table, about 2 errors a record (a run records
        # one again each time it meets the record), its family the record's; 80% current (not resolved).
        "record errors": f"""
            INSERT INTO sync_recorderror (run_id, crm, object_type, record_id, operation, code, family, message,
                created_at, retried_at, resolved_at)
            SELECT (e / 3) % {max(1, n // 100)} + 1, CASE WHEN kind IN (1, 3, 5) THEN 'salesforce' ELSE 'hubspot' END,
                (ARRAY['contact', CASE WHEN p % 3 = 0 THEN 'Lead' ELSE 'Contact' END, 'companies', 'Account',
                       'deals', 'Opportunity'])[kind + 1],
                CASE kind WHEN 0 THEN (1000000 + p)::text
                          WHEN 1 THEN CASE WHEN p % 3 = 0 THEN '00Q' ELSE '003' END || lpad(p::text, 15, '0')
                          WHEN 2 THEN co::text WHEN 3 THEN '001' || lpad(co::text, 15, '0')
                          WHEN 4 THEN ({DEAL_BASE} + dl)::text ELSE '006' || lpad(dl::text, 15, '0') END,
                CASE WHEN kind IN (4, 5) AND e % 2 = 0 THEN 'create' ELSE 'field sync' END,
                CASE WHEN kind IN (1, 3, 5) THEN {sf_code} ELSE {hs_code} END, fam, {message},
                ts, CASE WHEN e % 11 = 0 THEN ts + interval '10 minutes' END,
                CASE WHEN e % 5 = 0 THEN ts + interval '1 hour' END
            FROM (SELECT e, kind, r * {max(1, n // per_record)} + 1 AS p, r * {max(1, c // per_record)} + 1 AS co,
                         r * {max(1, d // per_record)} + 1 AS dl, ({fam})[(r + kind) % {len(FAMILY_MIX)} + 1] AS fam,
                         now() - e * interval '2 minutes' AS ts
                  FROM (SELECT e, e % 6 AS kind, (e / 6) % {per_record} AS r FROM generate_series(1, {e_n}) e) s0) s""",
    }
    timings = {}
    with connection.cursor() as cursor:
        for name, sql in steps.items():
            start = time.perf_counter()
            cursor.execute(sql)
            timings[name] = time.perf_counter() - start
            print(f"  {name:<15} {timings[name]:7.1f} s", flush=True)
        start = time.perf_counter()
        cursor.execute("ANALYZE")
        timings["analyze"] = time.perf_counter() - start
    return timings


def measure(client: Client, url: str, repeat: int, target: bool) -> dict:
    for _ in range(2):  # warm the caches, the session and the role lookups
        assert client.get(url).status_code == 200, url
    times, queries = [], set()
    for _ in range(repeat if target else min(repeat, 5)):  # rows outside the target: fewer rounds
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, url
        queries.add(len(ctx.captured_queries))
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1), "queries": sorted(queries)}


def pages() -> list[tuple[str, str, bool]]:
    """(name, url, part of the target?) for every list page, duplicates and sync errors at first and
    last page, and the record pages: contacts, companies (the biggest, a typical one, an R9 duplicate), a deal."""
    result = [("overview", "/", True)]
    for kind in ("r2", "r7", "r9"):
        total = DuplicateGroup.objects.filter(kind=kind).count()
        last = max(1, -(-total // 20))
        result += [(f"duplicates {kind} p1", f"/duplicates/?kind={kind}", True),
                   (f"duplicates {kind} p{last} (last)", f"/duplicates/?kind={kind}&page={last}", True),
                   (f"duplicates {kind} -size last", f"/duplicates/?kind={kind}&sort=-size&page={last}", True),
                   (f"duplicates {kind} -modified", f"/duplicates/?kind={kind}&sort=-modified", True)]
    result += [("duplicates r2 mix=mixed", "/duplicates/?kind=r2&mix=mixed", True),
               ("duplicates r2 search email", "/duplicates/?kind=r2&q=dup123%40", True),
               ("duplicates r2 search id", "/duplicates/?kind=r2&q=003000000000000001", True),
               ("duplicates r2 search name", "/duplicates/?kind=r2&q=First42", True),   # 440 of 7,123 groups
               ("duplicates r7 search name", "/duplicates/?kind=r7&q=Last9001", True),
               ("duplicates r9 search name", "/duplicates/?kind=r9&q=Company 4", True),  # trigram index (0012)
               ("audit", "/audit/", True),
               ("audit action=primary_lost", "/audit/?action=primary_lost", True),
               ("contacts", "/contacts/", True)]
    middle = HsContact.objects.order_by("pk").values_list("pk", flat=True)[HsContact.objects.count() // 2]
    result += [("contacts after=middle", f"/contacts/?after={middle}", True),
               ("contacts status=lost_primary", "/contacts/?status=lost_primary", True),
               ("contacts lost_primary after=middle", f"/contacts/?status=lost_primary&after={middle}", True),
               ("contacts status=synced after=middle", f"/contacts/?status=synced&after={middle}", True),
               ("contacts status=unsynced", "/contacts/?status=unsynced", True),
               ("contacts unsynced after=middle", f"/contacts/?status=unsynced&after={middle}", True),
               ("contacts search email", "/contacts/?q=h777777%40", True),   # trigram indexes (migration 0005)
               ("contacts search name", "/contacts/?q=Last77777", True),
               ("contacts search id", "/contacts/?q=1777777", True)]
    contact = HsContact.objects.filter(link__status="synced").order_by("pk").values_list("hs_id", flat=True)[1000]
    dup = HsContact.objects.filter(hs_id="1000001").values_list("hs_id", flat=True).first() or contact
    result += [("contact detail", f"/contacts/{contact}/", True), ("contact detail (R2 email)", f"/contacts/{dup}/", True),
               ("runs", "/runs/", True), ("runs last page", "/runs/?page=100000", True)]
    # Sync errors by type: the cards, then the biggest family's list at its first and last page (50 a page).
    counts = dict(RecordError.objects.filter(resolved_at__isnull=True).values("family").annotate(n=Count("pk"))
                  .values_list("family", "n"))
    family = max(counts, key=counts.get)
    last = max(1, -(-counts[family] // 50))
    result += [("sync errors", "/errors/", True),
               (f"sync errors family={family}", f"/errors/?family={family}", True),
               (f"sync errors {family} p{last} (last)", f"/errors/?family={family}&page={last}", True)]
    # Company and deal pages: company 1 (the most contacts and deals), one in the middle (about 10
    # contacts and a deal: the others' share), an R9 duplicate (j % 50 = 0, not linked) and a deal.
    big = HsCompany.objects.get(hs_id=BIG_COMPANY)
    big_contacts = HsContact.objects.filter(primary_company_id=BIG_COMPANY, archived=False).count()
    big_deals = HsDeal.objects.filter(company_id=BIG_COMPANY).count()
    linked = HsCompany.objects.filter(link__isnull=False).order_by("pk")
    middle = linked.count() // 2
    middle_company = next((hs_id for hs_id in linked.values_list("hs_id", flat=True)[middle:middle + 20]  # its own share
                           if HsContact.objects.filter(primary_company_id=hs_id, archived=False).exists()
                           and HsDeal.objects.filter(company_id=hs_id).exists()), linked.values_list("hs_id", flat=True)[middle])
    mid_contacts = HsContact.objects.filter(primary_company_id=middle_company).count()
    r9 = HsCompany.objects.filter(link__isnull=True, archived=False).exclude(salesforce_account_id="") \
        .order_by("pk").values_list("hs_id", flat=True).first()
    deal = HsDeal.objects.filter(link__isnull=False, archived=False).order_by("pk").values_list("hs_id", flat=True)[0]
    result += [(f"company ({big_contacts} contacts, {big_deals} deals)", f"/companies/{big.hs_id}/", True),
               (f"company (middle, {mid_contacts} contacts)", f"/companies/{middle_company}/", True)]
    if r9:
        result.append(("company (R9 duplicate)", f"/companies/{r9}/", True))
    result += [("deal", f"/deals/{deal}/", True), ("rules", "/rules/", True)]
    return result


def admin_client() -> Client:
    user, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"email": "bench@example.com"})
    user.groups.add(Group.objects.get(name=ADMIN))
    client = Client()
    client.force_login(user)
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-fill", action="store_true", help="reuse the rows of an earlier fill")
    parser.add_argument("--json", default="var/bench-console-scale.json")
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "run this against PostgreSQL (DATABASE_URL=postgres://…)"
    assert connection.settings_dict["NAME"] not in ("test", "test_test"), "use a database of your own"
    call_command("migrate", verbosity=0)  # other work may have added migrations since the last fill
    client_environment()
    result: dict = {"size": args.size, "repeat": args.repeat, "database": connection.settings_dict["NAME"]}
    if not args.no_fill:
        print(f"Filling {connection.settings_dict['NAME']} with {args.size:,} records per mirror table…")
        result["fill_s"] = fill(args.size)
    start = time.perf_counter()
    refresh_groups(Touched(everything=True))
    result["refresh_full_s"] = round(time.perf_counter() - start, 2)
    touched = Touched(sf_ids={f"003{i:015}" for i in range(1001, 1201)},
                      email_keys={f"p{i}@example.com" for i in range(30001, 30201)},
                      hs_contact_ids={str(1_000_000 + i) for i in range(50001, 50201)})
    start = time.perf_counter()
    keys = touched_keys(touched)
    for kind, values in keys.items():
        refresh_keys(kind, values)
    result["refresh_touched_s"] = round(time.perf_counter() - start, 2)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE sync_duplicategroup")
    result["groups"] = {k: DuplicateGroup.objects.filter(kind=k).count() for k in ("r2", "r7", "r9")}
    print(f"refresh_groups: full {result['refresh_full_s']} s, a 600-record incremental run "
          f"{result['refresh_touched_s']} s; groups {result['groups']}")
    client = admin_client()
    rows = []
    print(f"\n{'page':<36} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
    for name, url, target in pages():
        m = measure(client, url, args.repeat, target)
        flag = "" if not target else ("  ok" if m["p95_ms"] < TARGET_MS and len(m["queries"]) == 1 else "  SLOW")
        print(f"{name:<36} {m['p50_ms']:8.1f} {m['p95_ms']:8.1f} {'/'.join(map(str, m['queries'])):>8}{flag}",
              flush=True)
        rows.append({"page": name, "url": url, "target": target, **m})
    result["pages"] = rows
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()
