"""A walk of every page of the console, in chromium, at a laptop's width (1366 px) and a phone's
(390 px), on the demo scenario, as an admin: no page scrolls sideways, none shows a Python repr
or a raw database constraint, none logs a console or script error. The pages come from the
URLconf, so a page added later is walked too; a route whose path parameters the walk cannot fill
fails the walk instead of being skipped. Also: the navigation collapses into a menu button on the
phone, and a page of 20 duplicate groups stays compact."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from sync import duplicate_actions, services
from sync.models import (
    BulkJob,
    ContactLink,
    Dismissal,
    HsCompany,
    HsContact,
    HsDeal,
    LinkStatus,
    MergeSnapshot,
    RecordError,
    SyncRun,
)
from sync.queries import r2_groups, r7_groups, r9_groups
from tests.browser.test_journeys import PASSWORD, demo  # noqa: F401 - demo: the demo scenario, synced once

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"laptop": {"width": 1366, "height": 800}, "phone": {"width": 390, "height": 844}}
# Text a person should never read: Python reprs and raw database errors.
REPRS = [re.compile(p) for p in (r"\{'", r"<QuerySet", r"\bNone\b", r"datetime\.", r"0:00:0", r" object at 0x")]
CONSTRAINTS = ['Constraint "', "_check", "violated"]
# Height of the page of the demo's 20 R2 groups at 1366 px: 7,788 px before the compact layout,
# 4,026 after; the bound leaves room for longer names, not for the old layout.
GROUPS_PAGE_MAX_HEIGHT = 4_400

# The first path segment of a route names what its parameters identify.
MODELS = {"contacts": HsContact, "runs": SyncRun, "jobs": BulkJob, "companies": HsCompany, "deals": HsDeal,
          "sync-errors": RecordError, "errors": RecordError, "dismissals": Dismissal, "merges": MergeSnapshot}
CONSTANTS = {("settings", "crm"): "salesforce"}
PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
# Search boxes whose placeholder (what they search) is cut off by the box's width.
CUT_PLACEHOLDERS = """() => { const ctx = document.createElement("canvas").getContext("2d");
  return [...document.querySelectorAll("input[placeholder]")].filter(i => i.offsetParent !== null).filter(i => {
    const s = getComputedStyle(i);
    ctx.font = `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
    const room = i.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
    return ctx.measureText(i.placeholder).width > room + 1;
  }).map(i => `${i.name}: “${i.placeholder}” in ${i.clientWidth} px`); }"""
# What sticks out past the window: elements not inside a scrolling box, and positioned ones (an
# absolute element escapes a scrolling box that is not positioned).
WIDEST = """(vw) => [...document.querySelectorAll("body *")].filter(e => {
    if (e.getBoundingClientRect().right <= vw + 1) return false;
    if (["absolute", "fixed"].includes(getComputedStyle(e).position)) return true;
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement)
        if (getComputedStyle(a).overflowX !== "visible") return false;
    return true;
}).slice(0, 3).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
                   + (typeof e.className === "string" && e.className.trim()
                      ? "." + e.className.trim().split(/\\s+/).join(".") : ""))"""


@pytest.fixture
def admin_world(demo, django_user_model, tasks_inline):  # noqa: F811
    """The demo scenario with an admin, and a finished bulk Resync job with outcomes."""
    admin = django_user_model.objects.create_user("ada", "ada@example.com", PASSWORD)
    admin.groups.add(Group.objects.get(name="admin"))
    lost = list(ContactLink.objects.filter(status=LinkStatus.LOST_PRIMARY).order_by("pk")
                .values_list("hs_contact__hs_id", flat=True))
    assert len(lost) >= 3, "the demo scenario has contacts that lost their primary"
    # One resynced and one that cannot be: the job page lists both kinds; the others stay lost.
    job = services.request_bulk_resync(hs_ids=[lost[0], "no-such-contact"], actor=admin)
    job.refresh_from_db()
    assert job.status == BulkJob.Status.DONE and job.items.exists(), job.status
    # The possible duplicates found, a group marked "not a duplicate", and a merge kept for its Undo.
    build = duplicate_actions.request_possible_duplicates(actor=admin, enqueue=False)
    duplicate_actions.run_possible_build(build.pk)
    group = r7_groups().groups[-1]   # an R7 one: the R2 tab keeps its full page of 20 for the compact check
    duplicate_actions.dismiss(actor=admin, kind="r7", key=group.key, reason="Two people who share an inbox")
    from sync.merges.salesforce import preview_salesforce_merge
    from sync.merges.undo import keep

    keep(preview_salesforce_merge(key=r2_groups().groups[0].key), admin)
    return admin


def _routes() -> list[str]:
    """Every route of the console (the Django admin has its own checks), parameters unfilled."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(resolver, prefix):
        for p in resolver.url_patterns:
            if isinstance(p, URLResolver):
                yield from walk(p, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    return sorted({r for r in walk(get_resolver(), "/") if not r.startswith("/admin/")})


def _fill(route: str) -> str:
    """The route with real ids from the database, or a failure naming what the walk lacks."""
    segment = route.strip("/").split("/")[0]

    def value(match: re.Match) -> str:
        converter, name = match.group(1) or "str", match.group(2)
        if (segment, name) in CONSTANTS:
            return CONSTANTS[segment, name]
        model = MODELS.get(segment)
        if model is None:
            pytest.fail(f"the walk cannot fill {route}: add its first segment {segment!r} to MODELS or CONSTANTS")
        obj = model.objects.order_by("pk").first()
        if obj is None:
            pytest.fail(f"the walk cannot fill {route}: the demo scenario has no {model.__name__}")
        if name == "pk" or (converter == "int" and name == "id"):
            return str(obj.pk)
        if not hasattr(obj, name):
            pytest.fail(f"the walk cannot fill {route}: {model.__name__} has no {name!r}")
        return str(getattr(obj, name))

    if "^" in route:
        pytest.fail(f"the walk cannot fill the regular-expression route {route}")
    return PARAM.sub(value, route)


def _previews() -> list[str]:
    """The duplicates tabs and a merge preview (and a conversion) for a group of each kind."""
    r2 = r2_groups().groups
    r7, r9 = r7_groups().groups, r9_groups().groups
    assert r2 and r7 and r9, "the demo scenario has groups of every kind"
    paths = ["/duplicates/?kind=r2", "/duplicates/?kind=r7", "/duplicates/?kind=r9",
             "/duplicates/?kind=r2&sort=-size", "/duplicates/?kind=r2&page=2",
             "/duplicates/merge/?" + urlencode({"key": r2[0].key}),
             "/duplicates/merge-hubspot/?" + urlencode({"sf_id": r7[0].key}),
             "/duplicates/merge-companies/?" + urlencode({"account": r9[0].key})]
    for g in r2:  # the preview with a primary chosen: what a merge deletes or orphans
        if g.synced is not None:
            other = next(m for m in g.members if m.sf_id != g.synced.sf_id)
            paths.append("/duplicates/merge/?" + urlencode({"key": g.key, "primary": other.sf_id}))
            break
    mixed = next((g for g in r2 if g.leads and g.leads < g.size), None)
    if mixed is not None:
        paths.append("/duplicates/convert/?" + urlencode({"key": mixed.key}))
    return paths + ["/contacts/?status=lost_primary", "/contacts/?status=synced", "/audit/?action=resynced",
                    "/duplicates/?kind=possible", "/duplicates/?kind=r7&dismissed=1"]


@dataclass
class Walk:
    problems: list[str] = field(default_factory=list)
    widths: dict[str, dict[str, int]] = field(default_factory=dict)


def _login(context, live_server):
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    return page


def _watch(page) -> list[str]:
    """The console errors and script errors the page reports (the walk empties it per page)."""
    logged: list[str] = []
    page.on("console", lambda m: logged.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: logged.append(f"script error: {e}"))
    return logged


def _check(page, url: str, label: str, walk: Walk, logged: list[str]):
    logged.clear()
    response = page.goto(url)
    assert response is not None and response.ok, (label, url, response and response.status)
    page.wait_for_load_state("networkidle")
    found = page.evaluate("""() => ({width: document.documentElement.scrollWidth, viewport: window.innerWidth,
                                     text: document.body.innerText})""")
    walk.widths.setdefault(url.split("//", 1)[1].split("/", 1)[1], {})[label] = found["width"]
    where = f"{label} /{url.split('//', 1)[1].split('/', 1)[1]}"
    if found["width"] > found["viewport"]:
        wide = page.evaluate(WIDEST, found["viewport"])
        walk.problems.append(f"{where}: {found['width']} px wide in a {found['viewport']} px window ({', '.join(wide)})")
    for pattern in REPRS:
        if m := pattern.search(found["text"]):
            context = found["text"][max(0, m.start() - 40):m.end() + 40].replace("\n", " ⏎ ")
            walk.problems.append(f"{where}: Python repr {pattern.pattern!r} in “{context}”")
    walk.problems.extend(f"{where}: placeholder cut off, {cut}" for cut in page.evaluate(CUT_PLACEHOLDERS))
    for raw in CONSTRAINTS:
        if raw in found["text"]:
            walk.problems.append(f"{where}: raw constraint text {raw!r}")
    walk.problems.extend(f"{where}: {line}" for line in logged)


def _classify(request, base: str, paths: list[str]) -> tuple[list[str], dict[str, str]]:
    """Pages a person opens, and the rest with why they are not walked (a POST-only action, a
    download, an htmx fragment): each route is asked once."""
    pages, others = [], {}
    for path in paths:
        answer = request.get(base + path, max_redirects=0)
        kind = answer.headers.get("content-type", "")
        if answer.status == 405:
            others[path] = "POST only"
        elif 300 <= answer.status < 400:
            pages.append(path)  # a redirect: the page it leads to is walked
        elif not 200 <= answer.status < 300:  # 286: htmx's stop-polling answer
            pytest.fail(f"GET {path} answered {answer.status}")
        elif not kind.startswith("text/html"):
            others[path] = f"download ({kind})"
        elif "<html" not in answer.text():
            others[path] = "htmx fragment"
        else:
            pages.append(path)
    return pages, others


def test_every_page_fits_a_laptop_and_a_phone_and_reads_as_words(admin_world, browser, live_server):
    routes = _routes()
    assert len(routes) >= 20, routes
    paths = [_fill(r) for r in routes]
    walk = Walk()
    for label, viewport in VIEWPORTS.items():
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        logged = _watch(page)
        _check(page, f"{live_server.url}/login/", label, walk, logged)  # before logging in
        _login(context, live_server).close()
        pages, others = _classify(context.request, live_server.url, paths)
        assert {"/", "/contacts/", "/runs/", "/audit/", "/settings/", "/duplicates/"} <= set(pages), pages
        assert "/logout/" in others and "/sync/" in others, others
        for path in pages + _previews():
            _check(page, live_server.url + path, label, walk, logged)
        context.close()
    report = "\n".join(f"{path:70} " + "  ".join(f"{k} {v}" for k, v in w.items()) for path, w in walk.widths.items())
    print("\nscrollWidth per page:\n" + report)
    assert walk.problems == [], "\n".join(walk.problems)


def test_the_navigation_collapses_into_a_menu_on_a_phone(admin_world, browser, live_server):
    phone = browser.new_context(viewport=VIEWPORTS["phone"])
    page = _login(phone, live_server)
    menu = page.get_by_role("button", name="Menu")
    links = page.locator("nav[aria-label=Main] a")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(links.first).to_be_hidden()
    menu.focus()
    page.keyboard.press("Enter")  # by keyboard
    expect(menu).to_have_attribute("aria-expanded", "true")
    for i in range(links.count()):
        expect(links.nth(i)).to_be_visible()
    page.keyboard.press("Escape")
    expect(links.first).to_be_hidden()
    expect(menu).to_be_focused()
    menu.click()
    page.locator("nav[aria-label=Main]").get_by_role("link", name="Contacts").click()
    expect(page.get_by_role("heading", name="HubSpot contacts")).to_be_visible()
    expect(page.locator("nav[aria-label=Main] a").first).to_be_hidden()  # closed again on the next page
    phone.close()

    laptop = browser.new_context(viewport=VIEWPORTS["laptop"])
    page = _login(laptop, live_server)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.locator("nav[aria-label=Main] a").first).to_be_visible()
    laptop.close()


def test_a_page_of_twenty_duplicate_groups_is_compact(admin_world, browser, live_server):
    assert r2_groups().total >= 20, "the demo scenario fills a page of groups"
    laptop = browser.new_context(viewport=VIEWPORTS["laptop"])
    page = _login(laptop, live_server)
    page.goto(f"{live_server.url}/duplicates/?kind=r2")
    expect(page.locator("section.group")).to_have_count(20)
    height = page.evaluate("document.documentElement.scrollHeight")
    print(f"\n20 R2 groups at 1366 px: page height {height} px")
    assert height <= GROUPS_PAGE_MAX_HEIGHT, height
    # Columns line up from one group to the next: every group's table has the same column lefts.
    lefts = page.evaluate("""() => [...document.querySelectorAll("section.group table")].map(
        t => [...t.querySelectorAll("thead th")].map(th => Math.round(th.getBoundingClientRect().left)).join(","))""")
    assert len(set(lefts)) == 1, lefts
    laptop.close()


def test_select_all_ticks_every_contact_that_lost_its_primary_then_resyncs_them(admin_world, browser, live_server):
    lost = list(ContactLink.objects.filter(status=LinkStatus.LOST_PRIMARY).values_list("hs_contact__hs_id", flat=True))
    laptop = browser.new_context(viewport=VIEWPORTS["laptop"])
    page = _login(laptop, live_server)
    page.goto(f"{live_server.url}/contacts/?status=lost_primary")
    every = page.get_by_role("checkbox", name="Select every contact on this page that lost its primary")
    boxes = page.locator("#contact-table tbody input[name=ids]")
    expect(boxes).to_have_count(len(lost))
    every.check()
    for i in range(len(lost)):
        expect(boxes.nth(i)).to_be_checked()
    boxes.first.uncheck()
    assert page.evaluate("document.querySelector('[data-select-all]').indeterminate") is True
    expect(every).not_to_be_checked()
    boxes.first.check()
    expect(every).to_be_checked()
    page.get_by_role("button", name="Resync selected").click()
    expect(page.locator("#job-progress")).to_contain_text(f"{len(lost)} of {len(lost)} done")
    assert sorted(BulkJob.objects.order_by("-pk").first().targets) == sorted(lost)
    laptop.close()
