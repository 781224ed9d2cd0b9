"""Figures from one benchmark run: request classes from the sandbox's stats, the page-size
minimums, the targets (pass/fail), and the printed table.

The targets (issue 14), each a row of `targets(r)` with `measured`, `limit`, `pass` and whether
it `applies` at this size and database (a row that does not is printed as info):

* No echo: each settle run (after the full sync, after the 1 % edit run, after the bulk
  Resync) makes ≤ 1.1 × the requests of the no-change run (both CRMs, every call) and takes
  ≤ 2 × its wall time.
* API-bound at the real limits (phase `full_real`, see `api_bound`): the full sync's time ≤
  1.15 × the least time those limits allow for the requests it made.
* The Salesforce calls of a full pull, and their extrapolation to 1,000,000 people
  (`sf_pull_calls`), against the Bulk API target of ≤ 60.
* CPU: the unthrottled full sync ≤ 1.5 × the raw-transfer baseline, and its floor (`cpu_floor`).
* The console: a name search and every other page p95 < 50 ms (at 1,000,000 on PostgreSQL).
* Kept: pull requests ≤ 1.05 × the page-size minimum; a no-change run ≤ 1 request per object
  type per CRM; peak RSS < 200 MB (at 1,000,000).

A phase that is missing or failed makes the rows it feeds FAIL (measured "failed"/"missing")."""
from __future__ import annotations

import math

TYPES = {"salesforce": 4, "hubspot": 3}   # object types each CRM is pulled for
SHORT = {"salesforce": "SF", "hubspot": "HS"}


def classify(stats: dict) -> dict:
    """Calls per CRM from `/_sandbox/stats` endpoint labels: reads (pull = the pull's list/query/
    modified-since pages, look-ups excluded; query-more pages count as pull), writes, auth.
    HubSpot search, batch/read and v4 association reads are POSTs but reads."""
    out = {}
    for crm in ("salesforce", "hubspot"):
        c = {"calls": 0, "reads": 0, "pull": 0, "writes": 0, "auth": 0, "search": 0}
        for label, n in (stats.get(crm, {}).get("endpoints") or {}).items():
            lookup = label.endswith(" (lookup)")   # tests.bench.sandbox_proc marks look-up queries/searches
            method, _, path = label.removesuffix(" (lookup)").partition(" ")
            c["calls"] += n
            if crm == "salesforce":
                if path.startswith("oauth2"):
                    kind = "auth"
                elif method == "GET" or (method == "POST" and path.startswith(("query", "jobs/query"))):
                    kind = "reads"   # a Bulk API 2.0 query job's create is a read
                else:
                    kind = "writes"
                bulk_query = path.startswith("jobs/query") and method in ("GET", "POST")
                pull = (method == "GET" and path.split(" ")[0] in ("query", "queryAll") or bulk_query) and not lookup
            else:
                tail = path.rstrip("/").rsplit("/", 2)
                is_read_post = method == "POST" and (path.endswith("/search") or path.endswith("/batch/read"))
                kind = "reads" if method == "GET" or is_read_post else "writes"
                pull = (method == "GET" and len(tail) == 3 and tail[-2] == "objects") or \
                       (method == "POST" and path.endswith("/search") and path.startswith("/crm/v3/objects/")
                        and not lookup)
            c[kind] += n
            if crm == "hubspot" and method == "POST" and path.endswith("/search"):
                c["search"] += n
            if pull:
                c["pull"] += n
        out[crm] = c
    return out


def minimums(baseline: dict) -> dict:
    """⌈records / page size⌉ per object type (at least one request each), summed per CRM."""
    return {crm: sum(max(1, math.ceil(o["records"] / o["page_size"])) for o in baseline[crm]["objects"].values())
            for crm in ("salesforce", "hubspot")}


def records(baseline: dict) -> int:
    return sum(o["records"] for crm in ("salesforce", "hubspot") for o in baseline[crm]["objects"].values())


REAL_BURST_PER_S = 19.0     # HubSpot: 190 requests per rolling 10 s (sandbox/hubspot/limits.py)
REAL_SEARCH_PER_S = 5.0     # HubSpot: 5 search requests a second, a window of their own
MILLION = 1_000_000


def _ok(phase: dict | None) -> bool:
    return bool(phase) and not phase.get("rc") and phase.get("wall_s") is not None


def _calls(phase: dict) -> int:
    return sum(phase["requests"][crm]["calls"] for crm in ("salesforce", "hubspot"))


def _seconds(phase: dict) -> float:
    """The run's own duration (`Run N: … in H:MM:SS`), else the process's wall time."""
    return phase.get("run_s") or phase["wall_s"]


def api_bound(phase: dict) -> dict | None:
    """The least time HubSpot's real limits and Salesforce's latency allow for the requests a run made:

        HubSpot    = max(non-search requests ÷ 19/s, searches ÷ 5/s)
        Salesforce = Σ the latency the sandbox added to each Salesforce call (latency.py)
        bound      = max(HubSpot, Salesforce)

    Requests HubSpot refused with a 429 are not counted (they are waste, not a minimum). The two
    HubSpot windows are independent (searches do not count toward the 10-second one), so a run
    that overlaps its searches with its other requests can reach their max. The Salesforce figure
    is the sum over calls as if made one after another; one that overlaps Salesforce calls can
    finish under it (ratio < 1), as can a run that spends HubSpot's first 10-second burst of 190
    at once (up to 10 s under N ÷ 19). The two CRMs run in parallel, hence the max. ratio =
    the run's own duration (`run_s`) ÷ bound."""
    if not _ok(phase):
        return None
    hs = phase["requests"]["hubspot"]
    rejected = phase.get("hubspot_rejected") or {}
    searches = max(0, hs.get("search", 0) - rejected.get("SECONDLY", 0))
    others = max(0, hs["calls"] - hs.get("search", 0) - rejected.get("TEN_SECONDLY_ROLLING", 0))
    hs_s = max(others / REAL_BURST_PER_S, searches / REAL_SEARCH_PER_S)
    sf_s = float(phase.get("sf_latency_s") or 0.0)
    bound = max(hs_s, sf_s)
    took = _seconds(phase)
    return {"hubspot_s": round(hs_s, 2), "salesforce_s": round(sf_s, 2), "bound_s": round(bound, 2),
            "binding": "HubSpot" if hs_s >= sf_s else "Salesforce", "hubspot_requests": others,
            "hubspot_searches": searches, "seconds": took, "ratio": round(took / bound, 3) if bound else None}


BULK_PAGE = 50_000      # sync.crm.salesforce.BULK_PAGE_RECORDS
BULK_FIXED = 3          # a Bulk pull's first REST page (which decides), the describe, the job's create
BULK_POLLS = 2          # the sandbox's polls per job (a real org's job polls 5-9 times: see the README)


def sf_pull_calls(phase: dict, size: int, to: int = MILLION, threshold: int | None = 10_000) -> dict | None:
    """The Salesforce calls of a full pull at this size, and at `to` people.

    Per object (tests/bench/sandbox_proc.PullPages): page calls carry rows, the rest (a Bulk 2.0
    job's create and polls) do not. The scenario's records grow in proportion to the people, so
    at `to` people an object has rows × to/size rows and needs ⌈that ÷ page⌉ page calls, page
    being the page size the pull asked for (REST batchSize, Bulk maxRecords), else the largest
    page another page followed (a full one), else — nothing to go on — the largest page it got
    (then the figure is an upper bound). The other calls are taken as they were (one job per
    object; polls do not grow with the rows, which a slower job at a million would break). An
    object read through REST here whose rows at `to` reach the Bulk threshold
    (SALESFORCE_BULK_THRESHOLD) would go through Bulk there: BULK_FIXED + BULK_POLLS +
    ⌈rows ÷ 50,000⌉ calls."""
    pages = (phase or {}).get("pull_pages")
    if not _ok(phase) or not pages:
        return None
    scale = to / size
    measured = extrapolated = 0
    bound = False
    per = {}
    for obj, o in sorted(pages.items()):
        measured += o["page_calls"] + o["other_calls"]
        page = o.get("asked_page") or o.get("full_page")
        if not page:
            page = max(1, math.ceil(o["rows"] / max(1, o["page_calls"])))
            bound = True
        rows = o["rows"] * scale
        if not o["other_calls"] and threshold is not None and rows >= threshold:
            n = BULK_FIXED + BULK_POLLS + math.ceil(rows / BULK_PAGE)
        else:
            n = o["other_calls"] + max(1 if o["page_calls"] else 0, math.ceil(rows / page))
        per[obj] = n
        extrapolated += n
    return {"measured": measured, "extrapolated": extrapolated, "to": to, "per_object": per, "upper_bound": bound}


def targets(r: dict) -> list[dict]:
    size, db = r["size"], r["db"]
    phases, base = r.get("phases") or {}, r.get("baseline") or {}
    out = []

    def add(name, measured, limit, ok, applies, note=""):
        out.append({"target": name, "measured": measured, "limit": limit, "pass": bool(ok),
                    "applies": applies, "note": note})

    def missing(p: dict | None) -> str:
        return "missing" if not p else f"failed (rc {p.get('rc')})"

    # 1. No echo ----------------------------------------------------------------------------------
    quiet = phases.get("no_change")
    for key, before in (("settle", "full"), ("settle_2", "incremental"), ("settle_3", "resync")):
        p, label = phases.get(key), phase_name(key)
        broken = next((x for x in (before, key, "no_change") if not _ok(phases.get(x))), None)
        if broken:
            add(f"no echo: {label} requests ≤ 1.1 × no change", f"{phase_name(broken)} {missing(phases.get(broken))}",
                "≤ 1.1×", False, True)
            continue
        calls, q_calls = _calls(p), _calls(quiet)
        add(f"no echo: {label} requests ≤ 1.1 × no change", f"{calls} / {q_calls}",
            f"≤ {math.floor(1.1 * q_calls)}", calls <= 1.1 * q_calls, True)
        add(f"no echo: {label} wall ≤ 2 × no change", f"{p['wall_s']:.1f} / {quiet['wall_s']:.1f} s",
            f"≤ {2 * quiet['wall_s']:.1f} s", p["wall_s"] <= 2 * quiet["wall_s"], True)

    # 2. API-bound at the real limits ---------------------------------------------------------------
    real = phases.get("full_real")
    b = api_bound(real) if real else None
    applies = size >= 20_000
    if b and b["ratio"] is not None:
        add("real limits: full sync ≤ 1.15 × its API-bound minimum",
            f"{b['ratio']:.2f}× ({b['seconds']:.0f}/{b['bound_s']:.0f} s)", "≤ 1.15×", b["ratio"] <= 1.15, applies,
            "target at 20,000 and 100,000")
        add(f"  bound: HS {b['hubspot_requests']} req÷19/s, {b['hubspot_searches']} search÷5/s; SF latency",
            f"HS {b['hubspot_s']:.0f} s, SF {b['salesforce_s']:.0f} s", b["binding"], True, False,
            f"429s {real.get('hubspot_429s', 0)}")
    elif "full_real" in phases or r.get("real_limits") is not None:
        add("real limits: full sync ≤ 1.15 × its API-bound minimum", missing(real), "≤ 1.15×", False, True)

    # 3. Salesforce calls of a full pull -----------------------------------------------------------
    full = phases.get("full")
    pull = sf_pull_calls(full, size, threshold=r.get("bulk_threshold", 10_000)) if full else None
    if pull:
        add("full pull SF calls (Bulk target ≤ 60 at 1,000,000)", f"{pull['measured']} at {size:,}", "—", True, False,
            "measured at this size")
        add("  extrapolated to 1,000,000 people", f"{'≤ ' if pull['upper_bound'] else ''}{pull['extrapolated']:,}",
            "≤ 60", pull["extrapolated"] <= 60, True, "per object: REST pages, or Bulk above the threshold")

    # 7. Kept: pull ≤ 1.05 × minimum ----------------------------------------------------------------
    if _ok(full):
        for crm in ("salesforce", "hubspot"):
            pulled, minimum = full["requests"][crm]["pull"], r["minimum_requests"][crm]
            add(f"full sync {SHORT[crm]} pull requests ≤ 1.05 × minimum", f"{pulled} / min {minimum}",
                f"≤ {math.floor(1.05 * minimum)}", pulled <= 1.05 * minimum, True)
    else:
        add("full sync", missing(full), "succeeds", False, True)

    # 4. CPU ----------------------------------------------------------------------------------------
    if _ok(full) and base.get("wall_s"):
        ratio = full["wall_s"] / base["wall_s"]
        add("full sync wall ≤ 1.5 × raw baseline", f"{ratio:.2f}×", "≤ 1.5×", ratio <= 1.5, size >= 100_000,
            "target at 100,000")
        floor = cpu_floor(r)
        if floor is not None:
            add("  its floor: sync CPU ÷ baseline wall", f"{floor:.2f}×", "≤ 1.5×", floor <= 1.5, size >= 100_000,
                "one process (sync --wait); all workers: tests.bench.scale")

    # 7. Kept: RSS, no-change requests ---------------------------------------------------------------
    peak = max((p["peak_rss_mb"] for p in phases.values() if p.get("peak_rss_mb")), default=None)
    if peak is not None:
        add("sync peak RSS < 200 MB", f"{peak:.0f} MB", "< 200 MB", peak < 200, size >= 1_000_000, "target at 1,000,000")
    if _ok(quiet):
        for crm in ("salesforce", "hubspot"):
            calls = quiet["requests"][crm]["calls"]
            add(f"no-change incremental {SHORT[crm]} requests ≤ 1 per object type", str(calls),
                f"≤ {TYPES[crm]}", calls <= TYPES[crm], True)
    elif "pages" in r and not (r.get("pages") or {}).get("skipped"):
        add("no-change incremental", missing(quiet), "succeeds", False, True)

    # 6. The console --------------------------------------------------------------------------------
    all_pages = (r.get("pages") or {}).get("pages", [])
    pages = [p for p in all_pages if p.get("status") == 200]
    at_scale = size >= 1_000_000 and db == "postgres"
    if pages:
        search = [p for p in pages if p["name"].startswith("contacts search name")]
        others = [p for p in pages if p not in search]
        if search:
            worst = max(search, key=lambda p: p["p95_ms"])
            add("console name search p95 < 50 ms", f"{worst['p95_ms']:.0f} ms", "< 50 ms", worst["p95_ms"] < 50,
                at_scale, "target at 1,000,000 on PostgreSQL")
        else:
            add("console name search p95 < 50 ms", "missing", "< 50 ms", False, True)
        if others:
            worst = max(others, key=lambda p: p["p95_ms"])
            add("other console pages p95 < 50 ms", f"{worst['p95_ms']:.0f} ms ({worst['name']})", "< 50 ms",
                worst["p95_ms"] < 50, at_scale, "target at 1,000,000 on PostgreSQL")
        bad = [p["name"] for p in pages if not (p.get("queries_stable") and p.get("same_queries_first_last", True))]
        add("fixed query count per page (first = last page)", "yes" if not bad else "no: " + ", ".join(bad),
            "same", not bad, True)
    elif (r.get("pages") or {}).get("error"):
        add("console pages", "failed", "measured", False, True)
    failed = [p["name"] for p in all_pages if p.get("status") != 200]
    if failed:
        add("every page answers 200", "no: " + ", ".join(failed), "200", False, True)
    for e in r.get("errors") or []:
        add(f"{e['what']} ran", "raised", "no error", False, True, e["error"][:80])
    return out


def cpu_floor(r: dict) -> float | None:
    """The full sync's own CPU time over the baseline's wall time: the CPU of every process doing
    the sync (`cpu_s`: the `manage.py sync --wait` process from wait4, which includes any child
    process it started and waited for; tests.bench.scale sums its qcluster's processes). However
    well the sync overlapped its waits with the CRMs' work, it cannot finish in less than its CPU
    time spread over its processes, so with one process this is the lowest sync ÷ baseline ratio
    the measured code could reach."""
    full, base = (r.get("phases") or {}).get("full") or {}, r.get("baseline") or {}
    if not full.get("cpu_s") or not base.get("wall_s"):
        return None
    return full["cpu_s"] / base["wall_s"]


def _n(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return f"{v:,}"


def render(r: dict) -> str:
    load = r.get("load") or {}
    lines = [f"crmsync bench: {r['size']:,} people on {r['db']} (seed {r.get('seed')}; "
             f"{_n(r.get('records'))} CRM records; sandbox loaded in {_n(load.get('seconds'))} s, "
             f"{_n(load.get('sandbox_rss_mb'))} MB RSS)", ""]
    head = f"{'phase':<18}{'wall s':>8}{'run s':>8}{'cpu s':>8}{'sandbox cpu s':>15}{'rec/s':>9}{'pulled':>11}" \
           f"{'SF read(pull)/write':>21}{'HS read(pull)/write':>21}{'peak RSS MB':>13}"
    lines += [head, "-" * len(head)]
    rows = [("raw baseline", r.get("baseline") or {})] + [(phase_name(k), v) for k, v in (r.get("phases") or {}).items()]
    for name, p in rows:
        if p.get("wall_s") is None:
            lines.append(f"{name:<18}  FAILED: {' | '.join((p.get('tail') or [])[-2:])[:120]}")
            continue
        req = p.get("requests", {})
        cells = []
        for crm in ("salesforce", "hubspot"):
            c = req.get(crm)
            cells.append(f"{c['reads']}({c['pull']})/{c['writes']}" if c else "—")
        run = f"{p['run_s']:.1f}" if p.get("run_s") is not None else "—"
        lines.append(f"{name:<18}{p['wall_s']:>8.1f}{run:>8}{_n(p.get('cpu_s')):>8}{_n(p.get('sandbox_cpu_s')):>15}"
                     f"{_n(p.get('records_per_s')):>9}{_n(p.get('pulled')):>11}{cells[0]:>21}{cells[1]:>21}"
                     f"{_n(p.get('peak_rss_mb')):>13}" + (f"  FAILED (rc {p['rc']})" if p.get("rc") else ""))
    m = r.get("minimum_requests") or {}
    lines.append(f"page-size minimum for a full pull: SF {m.get('salesforce')} (2,000/page), HS {m.get('hubspot')} (100/page)")
    resync = ((r.get("phases") or {}).get("resync") or {}).get("resync")
    if resync:
        lines.append(f"bulk Resync: {resync.get('requested', 0):,} contacts ({resync.get('set')}), "
                     f"{resync.get('message', 'nothing to resync')}")
    if r.get("real_limits"):
        lat = r["real_limits"]["salesforce"].get("latency") or {}
        hs = r["real_limits"]["hubspot"]
        lines.append(f"'full, real limits': HubSpot {hs['burst_max']} per {hs['interval_ms'] // 1000} s, "
                     f"{hs['search_per_second']} searches/s; Salesforce latency (ms) "
                     + ", ".join(f"{k} {lat[k]:g}" for k in ("call_ms", "query_ms", "row_ms", "bulk_row_ms", "write_ms",
                                                             "write_row_ms") if k in lat))
    if r.get("edits"):
        e = r["edits"]
        lines.append(f"edits before 'incremental 1%': {e['touched']:,} of {e['requested']:,} touched "
                     f"({e['failed_count']} failed), {e['per_crm']}")
    pages = (r.get("pages") or {}).get("pages") or []
    if pages:
        lines += ["", f"{'page':<22}{'p50 ms':>8}{'p95 ms':>8}{'queries':>9}  fixed", "-" * 55]
        for p in pages:
            if p.get("status") != 200:
                lines.append(f"{p['name']:<22}  HTTP {p.get('status')}")
                continue
            fixed = "yes" if p["queries_stable"] and p.get("same_queries_first_last", True) else "NO"
            lines.append(f"{p['name']:<22}{p['p50_ms']:>8.1f}{p['p95_ms']:>8.1f}{p['queries']:>9}  {fixed}")
    lines += ["", f"{'target':<58}{'measured':>26}{'limit':>12}  result", "-" * 106]
    for t in r.get("targets") or []:
        res = ("PASS" if t["pass"] else "FAIL") if t["applies"] else ("(pass)" if t["pass"] else "(fail)") + \
            f" info: {t['note']}"
        lines.append(f"{t['target']:<58}{t['measured']:>26}{t['limit']:>12}  {res}")
    return "\n".join(lines)


PHASE_NAMES = {"full": "full sync", "settle": "settle (echo)", "incremental": "incremental 1%",
               "settle_2": "settle (echo 1%)", "no_change": "no change", "resync": "bulk Resync",
               "settle_3": "settle (resync)", "full_real": "full, real limits"}


def phase_name(key: str) -> str:
    """A phase's printed name; extra settle runs are `settle_2+1`, `settle_2+2`, …"""
    base, _, extra = key.partition("+")
    return PHASE_NAMES.get(base, base) + (f" +{extra}" if extra else "")
