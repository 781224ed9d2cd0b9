"""Figures from one benchmark run: request classes from the sandbox's stats, the page-size
minimums, the targets (pass/fail), and the printed table."""
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
        c = {"calls": 0, "reads": 0, "pull": 0, "writes": 0, "auth": 0}
        for label, n in (stats.get(crm, {}).get("endpoints") or {}).items():
            lookup = label.endswith(" (lookup)")   # tests.bench.sandbox_proc marks look-up queries/searches
            method, _, path = label.removesuffix(" (lookup)").partition(" ")
            c["calls"] += n
            if crm == "salesforce":
                if path.startswith("oauth2"):
                    kind = "auth"
                elif method == "GET" or (method == "POST" and path.startswith("query")):
                    kind = "reads"
                else:
                    kind = "writes"
                pull = method == "GET" and path.split(" ")[0] in ("query", "queryAll") and not lookup
            else:
                tail = path.rstrip("/").rsplit("/", 2)
                is_read_post = method == "POST" and (path.endswith("/search") or path.endswith("/batch/read"))
                kind = "reads" if method == "GET" or is_read_post else "writes"
                pull = (method == "GET" and len(tail) == 3 and tail[-2] == "objects") or \
                       (method == "POST" and path.endswith("/search") and path.startswith("/crm/v3/objects/")
                        and not lookup)
            c[kind] += n
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


def targets(r: dict) -> list[dict]:
    size, db = r["size"], r["db"]
    phases, base = r["phases"], r["baseline"]
    out = []

    def add(name, measured, limit, ok, applies, note=""):
        out.append({"target": name, "measured": measured, "limit": limit, "pass": bool(ok),
                    "applies": applies, "note": note})

    full = phases.get("full")
    if full:
        for crm in ("salesforce", "hubspot"):
            pulled, minimum = full["requests"][crm]["pull"], r["minimum_requests"][crm]
            add(f"full sync {SHORT[crm]} pull requests ≤ 1.05 × minimum", f"{pulled} / min {minimum}",
                f"≤ {math.floor(1.05 * minimum)}", pulled <= 1.05 * minimum, True)
        ratio = full["wall_s"] / base["wall_s"] if base.get("wall_s") else None
        add("full sync wall ≤ 1.5 × raw baseline", f"{ratio:.2f}×" if ratio else "—", "≤ 1.5×",
            ratio is not None and ratio <= 1.5, size >= 100_000, "target at 100,000")
        floor = cpu_floor(r)
        if floor is not None:
            add("  its floor: sync-process CPU ÷ baseline wall", f"{floor:.2f}×", "≤ 1.5×", floor <= 1.5, False,
                "a one-process sync takes at least its own CPU time")
    peak = max((p["peak_rss_mb"] for p in phases.values() if p.get("peak_rss_mb")), default=None)
    if peak is not None:
        add("sync peak RSS < 500 MB", f"{peak:.0f} MB", "< 500 MB", peak < 500, size >= 1_000_000, "target at 1,000,000")
    quiet = phases.get("no_change")
    if quiet:
        for crm in ("salesforce", "hubspot"):
            calls = quiet["requests"][crm]["calls"]
            add(f"no-change incremental {SHORT[crm]} requests ≤ 1 per object type", str(calls),
                f"≤ {TYPES[crm]}", calls <= TYPES[crm], True)
    pages = [p for p in (r.get("pages") or {}).get("pages", []) if p.get("status") == 200]
    if pages:
        worst = max(pages, key=lambda p: p["p95_ms"])
        add("list pages p95 < 100 ms", f"{worst['p95_ms']:.0f} ms ({worst['name']})", "< 100 ms",
            worst["p95_ms"] < 100, size >= 1_000_000 and db == "postgres", "target at 1,000,000 on PostgreSQL")
        fixed = all(p.get("queries_stable") and p.get("same_queries_first_last", True) for p in pages)
        bad = [p["name"] for p in pages if not (p.get("queries_stable") and p.get("same_queries_first_last", True))]
        add("fixed query count per page (first = last page)", "yes" if fixed else "no: " + ", ".join(bad),
            "same", fixed, True)
    failed = [p["name"] for p in (r.get("pages") or {}).get("pages", []) if p.get("status") != 200]
    if failed:
        add("every page answers 200", "no: " + ", ".join(failed), "200", False, True)
    return out


def cpu_floor(r: dict) -> float | None:
    """The full sync's own CPU time (its process: converting, deciding, writing, plus the same
    HTTP and JSON work the baseline does) over the baseline's wall time. However well the sync
    overlapped its waits with the CRMs' work, one process cannot finish in less than its CPU
    time, so this is the lowest sync ÷ baseline ratio the measured code could reach."""
    full, base = r["phases"].get("full") or {}, r["baseline"]
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
    lines = [f"crmsync bench: {r['size']:,} people on {r['db']} (seed {r['seed']}; "
             f"{r['records']:,} CRM records; sandbox loaded in {r['load']['seconds']:.1f} s, "
             f"{r['load']['sandbox_rss_mb']:.0f} MB RSS)", ""]
    head = f"{'phase':<18}{'wall s':>8}{'run s':>8}{'cpu s':>8}{'sandbox cpu s':>15}{'rec/s':>9}{'pulled':>11}" \
           f"{'SF read(pull)/write':>21}{'HS read(pull)/write':>21}{'peak RSS MB':>13}"
    lines += [head, "-" * len(head)]
    rows = [("raw baseline", r["baseline"])] + [(PHASE_NAMES[k], v) for k, v in r["phases"].items()]
    for name, p in rows:
        req = p.get("requests", {})
        cells = []
        for crm in ("salesforce", "hubspot"):
            c = req.get(crm)
            cells.append(f"{c['reads']}({c['pull']})/{c['writes']}" if c else "—")
        run = f"{p['run_s']:.1f}" if p.get("run_s") is not None else "—"
        lines.append(f"{name:<18}{p['wall_s']:>8.1f}{run:>8}{_n(p.get('cpu_s')):>8}{_n(p.get('sandbox_cpu_s')):>15}"
                     f"{_n(p.get('records_per_s')):>9}{_n(p.get('pulled')):>11}{cells[0]:>21}{cells[1]:>21}"
                     f"{_n(p.get('peak_rss_mb')):>13}")
    m = r["minimum_requests"]
    lines.append(f"page-size minimum for a full pull: SF {m['salesforce']} (2,000/page), HS {m['hubspot']} (100/page)")
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
    for t in r["targets"]:
        res = ("PASS" if t["pass"] else "FAIL") if t["applies"] else ("(pass)" if t["pass"] else "(fail)") + \
            f" info: {t['note']}"
        lines.append(f"{t['target']:<58}{t['measured']:>26}{t['limit']:>12}  {res}")
    return "\n".join(lines)


PHASE_NAMES = {"full": "full sync", "settle": "settle (echo)", "incremental": "incremental 1%",
               "settle_2": "settle (echo 1%)", "no_change": "no change"}
