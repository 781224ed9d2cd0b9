"""Scenario generator: realistic Salesforce and HubSpot data with every case of the rules (R1–R11).

`generate("demo" | "empty" | n_people, seed)` streams `(crm, object_type, record)` tuples:

    ("salesforce", "Account" | "Contact" | "Lead" | "Opportunity", {"Id": …, …})
    ("hubspot", "companies" | "contacts" | "deals" | "associations", {"id": …, "properties": {…}, …})
    ("hubspot", "pipelines", {"id": …, "label": …, "stages": […]})   (once, first: the custom deal pipeline)

People are generated in blocks of `BLOCK` people. A block is self-contained (its companies, people,
deals and associations refer only to records of the same block), so memory stays flat at any size
and every record is yielded after the records it refers to. How many of each case a block gets
is decided by cumulative quotas (`floor(rate * people so far)`), not by coin flips, so case counts
scale exactly with size and a demo of 500 people is guaranteed to show every case.

Timestamps are anchored at `now` (default: today 00:00 UTC). Deletions and merges happen in the last
ten days before it, so Salesforce's 15-day recycle bin still shows them through queryAll when the
scenario is loaded; pass a fixed `now` for a stream that is identical on every day, not only for
the same seed.

`generate(..., summary=d)` fills `d` with how many of each case it generated; `expected_cases()`
runs the stream just for that summary.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import random
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from datetime import datetime, timezone

from sandbox import demo_names as names
from sandbox.ids import KEY_PREFIXES, to18

__all__ = ["DEFAULT_RATES", "DEMO_RATES", "DEMO_SIZE", "generate", "scenario_dict", "expected_cases",
           "write_scenario", "email_key"]

BLOCK = 200
DEMO_SIZE = 500

# Rates are per person unless the name says otherwise ("…_per_account", "…_per_org", fractions).
DEFAULT_RATES: dict[str, float] = {
    "duplicate_group_rate": 0.02,       # R2: people with 2–5 live same-email leads/contacts
    "same_name_rate": 0.005,            # R1: pairs of different people with the same name
    "converted_rate": 0.03,             # converted lead + the contact it became
    "shared_contact_id_rate": 0.005,    # R7: 2–3 HubSpot contacts, different emails, one Contact id
    "merged_rate": 0.003,               # R5: a deleted contact with MasterRecordId = a live one
    "deleted_lead_rate": 0.002,         # R8: a plain deleted lead
    "unsynced_rate": 0.08,              # HubSpot contact + Salesforce record, never linked (R3)
    "hubspot_only_rate": 0.06,          # HubSpot contact, no Salesforce match (sync creates a lead)
    "salesforce_only_rate": 0.08,       # Salesforce person, no HubSpot contact (sync creates one)
    "no_email_rate": 0.002,             # Salesforce record (and sometimes a HubSpot contact) without email
    "apostrophe_rate": 0.003,           # o'brien@…
    "unicode_rate": 0.01,               # Zoë, Łukasz, 山田
    "org_rate": 0.3,                    # organisations (employers) per person
    "account_fraction": 0.75,           # of organisations: those that are Salesforce accounts
    "long_name_rate": 0.005,            # per organisation: a very long company name
    "duplicate_company_rate": 0.02,     # R9 per account: two HubSpot companies with its account id
    "opportunity_rate": 1.0,            # opportunities per account
    "unlinked_opportunity_fraction": 0.25,  # R11: opportunities without a deal
    "hubspot_only_deal_rate": 0.25,     # R11 per account: deals without an opportunity
    "same_name_deal_rate": 0.01,        # R11 per account: an unlinked deal and opportunity, same name+amount
}

DEMO_RATES: dict[str, float] = DEFAULT_RATES | {
    "duplicate_group_rate": 0.04,
    "same_name_rate": 0.012,
    "converted_rate": 0.03,
    "shared_contact_id_rate": 0.012,
    "merged_rate": 0.01,
    "deleted_lead_rate": 0.008,
    "no_email_rate": 0.008,
    "apostrophe_rate": 0.008,
    "unicode_rate": 0.02,
    "long_name_rate": 0.03,
    "duplicate_company_rate": 0.05,
    "same_name_deal_rate": 0.04,
}

# Person kinds with a quota, in the order they claim a block's people, and how many people each uses.
_KINDS = (
    ("dup", "duplicate_group_rate", 1),
    ("twins", "same_name_rate", 2),
    ("converted", "converted_rate", 1),
    ("r7", "shared_contact_id_rate", 1),
    ("merged", "merged_rate", 1),
    ("deleted_lead", "deleted_lead_rate", 1),
    ("no_email", "no_email_rate", 1),
    ("unsynced", "unsynced_rate", 1),
    ("hs_only", "hubspot_only_rate", 1),
    ("sf_only", "salesforce_only_rate", 1),
)
GROUP_SIZE_WEIGHTS = {2: 8, 3: 4, 4: 2, 5: 1}
_DAY = 86_400
_HISTORY = 730 * _DAY  # records were created over the past ~2 years


def email_key(value: str | None) -> str | None:
    """R1: compare emails trimmed and lower-cased, nothing else; no email never matches."""
    if not value:
        return None
    return value.strip().lower() or None


def _anchor(now: datetime | str | None) -> int:
    if now is None:
        today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        return int(today.timestamp())
    if isinstance(now, str):
        now = datetime.fromisoformat(now.replace("Z", "+00:00"))
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return int(now.timestamp())


@functools.lru_cache(maxsize=4096)
def _day(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * _DAY))


def _clock(seconds: int) -> str:
    day, rest = divmod(seconds, _DAY)
    hours, rest = divmod(rest, 3600)
    return f"{_day(day)}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _sf_time(seconds: int) -> str:
    return _clock(seconds) + ".000+0000"


def _hs_time(ms: int) -> str:
    return f"{_clock(ms // 1000)}.{ms % 1000:03d}Z"


def _date(seconds: int) -> str:
    return _day(seconds // _DAY)


class _Quota:
    """How many of something the people (or accounts) seen so far are owed: floor(rate * n)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.given = 0

    def upto(self, n: int) -> int:
        owed = int(self.rate * n + 1e-9) - self.given
        self.given += owed
        return owed


class _Cycle:
    """Smooth weighted round-robin with a seeded phase: every option shows up in proportion to its
    weight within a short run, so small scenarios still contain each variant."""

    def __init__(self, weights: dict, rng: random.Random) -> None:
        self.weights = [(k, w) for k, w in weights.items() if w > 0]
        self.total = sum(w for _, w in self.weights)
        self.current = {k: 0 for k, _ in self.weights}
        for _ in range(rng.randrange(self.total)):
            self.next()

    def next(self):
        for k, w in self.weights:
            self.current[k] += w
        best = max(self.current, key=self.current.__getitem__)
        self.current[best] -= self.total
        return best


class _Org:
    __slots__ = ("name", "domain", "account", "companies", "contacts", "hs_contacts", "created")

    def __init__(self, name: str, domain: str, created: int) -> None:
        self.name = name
        self.domain = domain
        self.account: dict | None = None
        self.companies: list[dict] = []
        self.contacts = 0          # live Salesforce contacts with this account
        self.hs_contacts: list[str] = []
        self.created = created


def _resolve(name_or_size) -> tuple[int, dict]:
    if name_or_size == "demo":
        return DEMO_SIZE, dict(DEMO_RATES)
    if name_or_size == "empty":
        return 0, dict(DEFAULT_RATES)
    if isinstance(name_or_size, str) and name_or_size.isdigit():
        name_or_size = int(name_or_size)
    if isinstance(name_or_size, bool) or not isinstance(name_or_size, int) or name_or_size < 0:
        raise ValueError(f"scenario must be 'demo', 'empty' or a number of people, not {name_or_size!r}")
    return name_or_size, dict(DEFAULT_RATES)


def _new_summary() -> dict:
    return {
        "people": 0,
        "records": {},
        "r2_groups": 0, "r2_groups_by_size": {}, "r2_members": 0, "r2_mixed_groups": 0,
        "r2_hubspot_synced": 0, "r2_hubspot_unsynced": 0, "r2_hubspot_missing": 0,
        "r1_same_name_pairs": 0,
        "converted_leads": 0,
        "r7_sets": 0, "r7_hubspot_contacts": 0,
        "merged_pairs": 0, "merged_secondary_synced": 0,
        "deleted_leads": 0, "deleted_leads_synced": 0,
        "hubspot_synced": 0, "hubspot_unsynced": 0, "hubspot_only": 0, "salesforce_only": 0,
        "no_email_salesforce": 0, "no_email_hubspot": 0,
        "apostrophe_emails": 0, "unicode_names": 0, "long_company_names": 0,
        "accounts": 0, "accounts_shared": 0,
        "companies_linked": 0, "companies_unlinked": 0, "r9_sets": 0, "r9_companies": 0,
        "opportunities_linked": 0, "opportunities_unlinked": 0, "deals_unlinked": 0, "deals_custom_pipeline": 0,
        "name_amount_traps": 0,
        "contact_company_associations": 0, "deal_company_associations": 0, "deal_contact_associations": 0,
    }


class _Generator:
    def __init__(self, size: int, seed: int, anchor: int, rates: dict, summary: dict) -> None:
        self.size = size
        self.rates = rates
        self.rng = rng = random.Random(f"crmsync-scenario:{seed}")
        self.anchor = anchor
        self.s = summary
        self.quotas = {kind: _Quota(rates[rate]) for kind, rate, _ in _KINDS}
        self.q_org = _Quota(rates["org_rate"])
        self.q_apostrophe = _Quota(rates["apostrophe_rate"])
        self.q_unicode = _Quota(rates["unicode_rate"])
        self.q_long = _Quota(rates["long_name_rate"])
        self.q_r9 = _Quota(rates["duplicate_company_rate"])
        self.q_opp = _Quota(rates["opportunity_rate"])
        self.q_hs_deal = _Quota(rates["hubspot_only_deal_rate"])
        self.q_trap = _Quota(rates["same_name_deal_rate"])
        self.orgs_seen = 0
        self.accounts_seen = 0
        self.people_seen = 0
        # Ids: key prefix + "Gn0" + 9 base-62 digits (a different "pod" from the emulator's own
        # "Sb0" ids, so records the sync creates later can never collide with these).
        self.sf_next = rng.randrange(62 ** 7, 62 ** 8)
        self.hs_next = 1001
        self.org_perm = rng.randrange(1, 10 ** 6)
        self.cycles = {
            "group_size": _Cycle(GROUP_SIZE_WEIGHTS, rng),
            "group_hs": _Cycle({"synced": 5, "unsynced": 3, "missing": 2}, rng),
            "group_mix": _Cycle({"mixed": 3, "leads": 1, "contacts": 1}, rng),
            "r7_extra": _Cycle({1: 2, 2: 1}, rng),
            "merged_sync": _Cycle({"secondary": 1, "master": 1}, rng),
            "deleted_sync": _Cycle({True: 1, False: 1}, rng),
            "no_email_hs": _Cycle({True: 1, False: 1}, rng),
            "company": _Cycle({"linked": 14, "unlinked": 3, "none": 3}, rng),
            "plain_company": _Cycle({True: 1, False: 1}, rng),
            "opp_linked": _Cycle({True: round(100 * (1 - rates["unlinked_opportunity_fraction"])),
                                  False: round(100 * rates["unlinked_opportunity_fraction"])}, rng),
            "unicode": _Cycle({i: 1 for i in range(len(names.UNICODE_PEOPLE))}, rng),
        }

    # -- ids and times -----------------------------------------------------------------------------

    def sf_id(self, sobject: str) -> str:
        n, self.sf_next = self.sf_next, self.sf_next + 1
        high, low = divmod(n, 62 ** 2)
        return to18(KEY_PREFIXES[sobject] + "Gn0" + _base62(high, 7) + _BASE62[low // 62] + _BASE62[low % 62])

    def hs_id(self) -> str:
        n, self.hs_next = self.hs_next, self.hs_next + 1
        return str(n)

    def between(self, lo: int, hi: int) -> int:
        """randint(lo, hi), three times faster (one float per call)."""
        return lo + int(self.rng.random() * (hi - lo + 1))

    def pick(self, seq):
        return seq[int(self.rng.random() * len(seq))]

    def created(self) -> int:
        return self.anchor - self.between(2 * _DAY, _HISTORY)

    def created_before(self, t: int) -> int:
        return t - self.between(_DAY, _HISTORY - 10 * _DAY)

    def after(self, t: int, *, latest: int | None = None) -> int:
        """A time between t and (latest or an hour before the anchor), biased to recent edits."""
        hi = (latest if latest is not None else self.anchor - 3600)
        if hi <= t:
            return t
        return t + int((hi - t) * self.rng.random() ** 0.5)

    def sf_times(self, created: int, modified: int, modstamp: int | None = None) -> dict:
        if modstamp is None:
            bump = self.rng.random()
            modstamp = modified if bump < 0.7 else min(modified + self.between(1, _DAY), self.anchor - 60)
            modstamp = max(modstamp, modified)
        return {"CreatedDate": _sf_time(created), "LastModifiedDate": _sf_time(modified),
                "SystemModstamp": _sf_time(modstamp)}

    def recent_delete(self) -> int:
        return self.anchor - self.between(3600, 10 * _DAY)

    # -- the stream --------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[str, str, dict]]:
        done = 0
        if self.size:
            # first, so every deal that uses it comes after it
            self.s["records"]["hubspot.pipelines"] = 1
            yield "hubspot", "pipelines", _custom_pipeline()
        while done < self.size:
            n = min(BLOCK, self.size - done)
            yield from self.block(n, done + n)
            done += n

    def block(self, n_people: int, people_end: int) -> Iterator[tuple[str, str, dict]]:
        rng, s = self.rng, self.s
        kinds: list[str] = []
        room = n_people
        for kind, _rate, cost in _KINDS:
            owed = self.quotas[kind].upto(people_end)
            fit = min(owed, room // cost)
            kinds += [kind] * fit
            room -= fit * cost
        kinds += ["plain"] * room
        rng.shuffle(kinds)
        s["people"] += n_people

        out = {k: [] for k in ("Account", "Contact", "DeletedContact", "Lead", "Opportunity",
                               "companies", "contacts", "deals", "associations")}
        self.out = out
        self.emails: set[str] = set()
        orgs = self.make_orgs(people_end)
        weights = [1.0 / (i + 1) ** 0.7 for i in range(len(orgs))]
        cum, acc = [], 0.0
        for w in weights:
            acc += w
            cum.append(acc)
        self.org_cum = cum
        self.orgs = orgs

        # Odd values, spread over the block's people that have an email.
        n_apos = self.q_apostrophe.upto(people_end)
        n_uni = self.q_unicode.upto(people_end)
        slots = list(range(len(kinds)))
        rng.shuffle(slots)
        self.apostrophe = set(i for i in slots[:n_apos] if kinds[i] != "no_email")
        self.unicode = set(slots[n_apos:n_apos + n_uni])

        for i, kind in enumerate(kinds):
            getattr(self, "person_" + kind)(i)

        self.deals_and_opportunities()
        for org in orgs:
            if org.account is not None and org.contacts >= 2:
                s["accounts_shared"] += 1

        for key, crm, otype in (("Account", "salesforce", "Account"), ("Contact", "salesforce", "Contact"),
                                ("DeletedContact", "salesforce", "Contact"), ("Lead", "salesforce", "Lead"),
                                ("Opportunity", "salesforce", "Opportunity"), ("companies", "hubspot", "companies"),
                                ("contacts", "hubspot", "contacts"), ("deals", "hubspot", "deals"),
                                ("associations", "hubspot", "associations")):
            recs = out[key]
            if recs:
                label = f"{crm}.{otype}"
                s["records"][label] = s["records"].get(label, 0) + len(recs)
                for r in recs:
                    yield crm, otype, r
        self.out = self.orgs = None

    # -- organisations: accounts and companies -----------------------------------------------------

    def org_identity(self, serial: int, long_name: bool) -> tuple[str, str]:
        a, b, c = names.ORG_FIRST, names.ORG_SECOND, names.ORG_SUFFIXES
        total = len(a) * len(b) * len(c)
        cycle, k = divmod(serial, total)
        k = (k * 7919 + self.org_perm) % total  # 7919 is prime and coprime to total: a permutation
        first, rest = divmod(k, len(b) * len(c))
        second, suffix = divmod(rest, len(c))
        suffix_name, ending = c[suffix]
        slug = f"{a[first]}-{b[second]}".lower().replace(" ", "")
        domain = f"{slug}{cycle + 1 if cycle else ''}.{ending}"
        name = f"{a[first]} {b[second]} {suffix_name}"
        if long_name:
            words = list(names.LONG_NAME_WORDS)
            self.rng.shuffle(words)
            name = f"The {a[first]} " + " ".join(words) + f" of {b[second]} {suffix_name}"
            name = name[:255].rstrip()
        return name, domain

    def make_orgs(self, people_end: int) -> list[_Org]:
        rng, s = self.rng, self.s
        n = max(1, self.q_org.upto(people_end))
        n_long = self.q_long.upto(self.orgs_seen + n)
        long_slots = set(rng.sample(range(n), min(n_long, n)))
        orgs = []
        accounts = []
        for i in range(n):
            name, domain = self.org_identity(self.orgs_seen + i, i in long_slots)
            if i in long_slots:
                s["long_company_names"] += 1
            org = _Org(name, domain, self.created())
            if rng.random() < self.rates["account_fraction"]:
                accounts.append(org)
            orgs.append(org)
        self.orgs_seen += n

        n_r9 = self.q_r9.upto(self.accounts_seen + len(accounts))
        r9 = set(rng.sample(range(len(accounts)), min(n_r9, len(accounts))))
        self.accounts_seen += len(accounts)
        for i, org in enumerate(accounts):
            modified = self.after(org.created)
            org.account = {"Id": self.sf_id("Account"), "Name": org.name,
                           "Phone": self.phone(), "Website": f"https://www.{org.domain}",
                           "IsDeleted": False, "MasterRecordId": None, **self.sf_times(org.created, modified)}
            self.out["Account"].append(org.account)
            s["accounts"] += 1
            state = "r9" if i in r9 else self.cycles["company"].next()
            if state == "linked":
                self.company(org, org.account["Id"])
            elif state == "unlinked":
                self.company(org, None)
            elif state == "r9":
                # Two companies carry this account id: the original and a copy made by hand or an import.
                self.company(org, org.account["Id"])
                short = org.name.rsplit(" ", 1)[0] if " " in org.name else org.name
                self.company(org, org.account["Id"], name=short)
                s["r9_sets"] += 1
                s["r9_companies"] += 2
        for org in orgs:
            if org.account is None and self.cycles["plain_company"].next():
                self.company(org, None)  # a HubSpot-only company
        return orgs

    def company(self, org: _Org, account_id: str | None, *, name: str | None = None) -> None:
        created = self.hs_ms(org.created)
        updated = max(created, self.hs_ms(self.after(org.created)))
        c_iso, u_iso = _hs_time(created), _hs_time(updated)
        rec = {"id": self.hs_id(), "properties": {
            "name": name or org.name, "domain": org.domain, "salesforceaccountid": account_id,
            "createdate": c_iso, "hs_lastmodifieddate": u_iso},
            "createdAt": c_iso, "updatedAt": u_iso, "archived": False}
        org.companies.append(rec)
        self.out["companies"].append(rec)
        self.s["companies_linked" if account_id else "companies_unlinked"] += 1

    def hs_ms(self, seconds: int) -> int:
        return seconds * 1000 + self.between(0, 999)

    def phone(self) -> str:
        return f"+1 {self.between(201, 989)} 555 01{self.between(0, 99):02d}"

    # -- people ------------------------------------------------------------------------------------

    def pick_org(self) -> _Org:
        return self.rng.choices(self.orgs, cum_weights=self.org_cum)[0]

    def identity(self, slot: int, *, first: str | None = None, last: str | None = None,
                 org: _Org | None = None) -> dict:
        """A person: name, employer, and a canonical (lower-case) email unique in the scenario."""
        org = org or self.pick_org()
        if slot in self.unicode and first is None:
            f, la, af, al = names.UNICODE_PEOPLE[self.cycles["unicode"].next()]
            self.s["unicode_names"] += 1
            first, last, local = f, la, f"{af}.{al}"
        else:
            first = first or self.pick(names.FIRST_NAMES)
            if last is None:
                if slot in self.apostrophe:
                    last = self.pick(names.APOSTROPHE_LAST_NAMES)
                else:
                    last = self.pick(names.LAST_NAMES)
            local = f"{_ascii(first)}.{_ascii(last)}"
        email = self.unique_email(local, org.domain)
        return {"first": first, "last": last, "email": email, "org": org,
                "title": self.pick(names.TITLES), "phone": self.phone()}

    def unique_email(self, local: str, domain: str) -> str:
        email, n = f"{local}@{domain}", 1
        while email in self.emails:
            n += 1
            email = f"{local}{n}@{domain}"
        self.emails.add(email)
        if "'" in local:
            self.s["apostrophe_emails"] += 1
        return email

    def sf_person(self, sobject: str, who: dict, *, email: str | None = None, times: dict | None = None,
                  deleted: bool = False, master: str | None = None) -> dict:
        if times is None:
            created = self.created()
            times = self.sf_times(created, self.after(created))
        rec = {"Id": self.sf_id(sobject), "FirstName": who["first"], "LastName": who["last"],
               "Email": email, "Phone": who["phone"], "Title": who["title"]}
        org = who["org"]
        if sobject == "Lead":
            rec |= {"Company": org.name, "Status": self.pick(names.LEAD_STATUSES), "IsConverted": False,
                    "ConvertedDate": None, "ConvertedContactId": None, "ConvertedAccountId": None}
        else:
            rec["AccountId"] = org.account["Id"] if org.account is not None else None
            if org.account is not None and not deleted:
                org.contacts += 1
        rec |= {"IsDeleted": deleted, "MasterRecordId": master, **times}
        key = "DeletedContact" if deleted and sobject == "Contact" else sobject
        self.out[key].append(rec)
        return rec

    def hs_contact(self, who: dict, *, email: str | None, synced: dict | None = None,
                   after: int | None = None) -> dict:
        """A HubSpot contact; `synced` is the Salesforce record it carries the id of."""
        rng = self.rng
        created_s = self.created() if after is None else self.after(after, latest=self.anchor - 2 * 3600)
        created = self.hs_ms(created_s)
        updated = max(created, self.hs_ms(self.after(created_s)))
        lead_id = contact_id = None
        if synced is not None:
            if synced["Id"].startswith(KEY_PREFIXES["Lead"]):
                lead_id = synced["Id"]
            else:
                contact_id = synced["Id"]
            self.s["hubspot_synced"] += 1
        org = who["org"]
        c_iso, u_iso = _hs_time(created), _hs_time(updated)
        rec = {"id": self.hs_id(), "properties": {
            "email": email, "firstname": who["first"], "lastname": who["last"], "phone": who["phone"],
            "company": org.name, "jobtitle": who["title"],
            "salesforcecontactid": contact_id, "salesforceleadid": lead_id,
            "createdate": c_iso, "lastmodifieddate": u_iso},
            "createdAt": c_iso, "updatedAt": u_iso, "archived": False}
        self.out["contacts"].append(rec)
        org.hs_contacts.append(rec["id"])
        if org.companies and rng.random() < 0.9:
            self.associate("contacts", rec["id"], "companies", org.companies[0]["id"])
            self.s["contact_company_associations"] += 1
        return rec

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self.out["associations"].append(
            {"from_type": from_type, "from_id": from_id, "to_type": to_type, "to_id": to_id})

    def sf_email(self, email: str) -> str:
        """How a person's email was typed into Salesforce: mostly as is, sometimes capitalised."""
        return _variants(email)[1] if self.rng.random() < 0.05 else email

    def lead_or_contact(self) -> str:
        return "Lead" if self.rng.random() < 0.45 else "Contact"

    # One method per person kind; each writes the person's Salesforce and HubSpot records.

    def person_plain(self, slot: int) -> None:
        who = self.identity(slot)
        rec = self.sf_person(self.lead_or_contact(), who, email=self.sf_email(who["email"]))
        self.hs_contact(who, email=who["email"], synced=rec)

    def person_unsynced(self, slot: int) -> None:
        who = self.identity(slot)
        self.sf_person(self.lead_or_contact(), who, email=self.sf_email(who["email"]))
        self.hs_contact(who, email=who["email"])
        self.s["hubspot_unsynced"] += 1

    def person_hs_only(self, slot: int) -> None:
        who = self.identity(slot)
        self.hs_contact(who, email=who["email"])
        self.s["hubspot_only"] += 1

    def person_sf_only(self, slot: int) -> None:
        who = self.identity(slot)
        self.sf_person(self.lead_or_contact(), who, email=self.sf_email(who["email"]))
        self.s["salesforce_only"] += 1

    def person_no_email(self, slot: int) -> None:
        who = self.identity(slot)
        self.emails.discard(who["email"])
        self.sf_person(self.lead_or_contact(), who, email=None)
        self.s["no_email_salesforce"] += 1
        if self.cycles["no_email_hs"].next():
            self.hs_contact(who, email=None)
            self.s["no_email_hubspot"] += 1

    def person_twins(self, slot: int) -> None:
        """R1: two different people with the same name (and maybe employer), different emails."""
        a = self.identity(slot)
        org = a["org"] if self.rng.random() < 0.3 else None
        b = self.identity(-1, first=a["first"], last=a["last"], org=org)
        for who in (a, b):
            rec = self.sf_person(self.lead_or_contact(), who, email=self.sf_email(who["email"]))
            self.hs_contact(who, email=who["email"], synced=rec)
        self.s["r1_same_name_pairs"] += 1

    def person_dup(self, slot: int) -> None:
        """R2: one person entered 2–5 times in Salesforce; emails differ in case and white space."""
        rng, s = self.rng, self.s
        who = self.identity(slot)
        size = self.cycles["group_size"].next()
        mix = self.cycles["group_mix"].next()
        if mix == "mixed":
            types = ["Lead", "Contact"] + [self.lead_or_contact() for _ in range(size - 2)]
            rng.shuffle(types)
        else:
            types = ["Lead" if mix == "leads" else "Contact"] * size
        variants = _variants(who["email"])
        spelled = [variants[2], variants[3]] + rng.sample(variants[:2] + variants[4:], size - 2)
        rng.shuffle(spelled)
        # Distinct whole minutes for LastModifiedDate (SystemModstamp a few seconds later), so
        # "most recently updated" (R4) is the same by either field.
        lo = (self.anchor - _HISTORY + _DAY) // 60
        hi = (self.anchor - 3600) // 60
        minutes = rng.sample(range(lo, hi), size)
        members = []
        for sobject, email, minute in zip(types, spelled, minutes, strict=True):
            modified = minute * 60
            created = modified - self.between(0, modified - (self.anchor - _HISTORY))
            times = self.sf_times(created, modified, modified + self.between(0, 30))
            members.append(self.sf_person(sobject, who, email=email, times=times))
        s["r2_groups"] += 1
        s["r2_members"] += size
        by_size = s["r2_groups_by_size"]
        by_size[size] = by_size.get(size, 0) + 1
        if len(set(types)) == 2:
            s["r2_mixed_groups"] += 1
        state = self.cycles["group_hs"].next()
        s[f"r2_hubspot_{state}"] += 1
        if state == "synced":
            self.hs_contact(who, email=who["email"], synced=rng.choice(members))
        elif state == "unsynced":
            self.hs_contact(who, email=who["email"])
            s["hubspot_unsynced"] += 1
        else:
            s["salesforce_only"] += 1

    def person_converted(self, slot: int) -> None:
        """A converted lead: read-only history of the contact it became (not an R2 member)."""
        who = self.identity(slot)
        lead_created = self.created()
        converted_at = self.after(lead_created)
        contact_created = converted_at + self.between(0, 5)
        contact = self.sf_person("Contact", who, email=who["email"],
                                 times=self.sf_times(contact_created, self.after(contact_created)))
        lead = self.sf_person("Lead", who, email=self.sf_email(who["email"]),
                              times=self.sf_times(lead_created, converted_at, converted_at))
        lead |= {"Status": "Closed - Converted", "IsConverted": True, "ConvertedDate": _date(converted_at),
                 "ConvertedContactId": contact["Id"], "ConvertedAccountId": contact["AccountId"]}
        self.hs_contact(who, email=who["email"], synced=contact)
        self.s["converted_leads"] += 1

    def person_r7(self, slot: int) -> None:
        """R7: several HubSpot contacts with different emails all carry one salesforcecontactid."""
        who = self.identity(slot)
        contact = self.sf_person("Contact", who, email=self.sf_email(who["email"]))
        self.hs_contact(who, email=who["email"], synced=contact)
        created = _sf_seconds(contact["CreatedDate"])
        extra = self.cycles["r7_extra"].next()
        local, domain = who["email"].split("@")
        first, last = _ascii(who["first"]), _ascii(who["last"])
        for alt in (f"{first[0]}.{last}", f"{local}+events", f"{first}{last}")[:extra]:
            self.hs_contact(who, email=self.unique_email(alt, domain), synced=contact, after=created)
        self.s["r7_sets"] += 1
        self.s["r7_hubspot_contacts"] += 1 + extra

    def person_merged(self, slot: int) -> None:
        """R5: two contacts were merged in Salesforce; the loser is deleted, MasterRecordId = winner."""
        who = self.identity(slot)
        merged_at = self.recent_delete()
        c1, c2 = self.created_before(merged_at), self.created_before(merged_at)
        master = self.sf_person("Contact", who, email=who["email"],
                                times=self.sf_times(c1, merged_at, merged_at + self.between(0, 2)))
        loser_modified = self.after(c2, latest=merged_at)
        loser = self.sf_person("Contact", who, email=_variants(who["email"])[1], deleted=True,
                               master=master["Id"], times=self.sf_times(c2, loser_modified, merged_at))
        if self.cycles["merged_sync"].next() == "secondary":
            self.hs_contact(who, email=who["email"], synced=loser)  # R5: that contact loses its primary
            self.s["merged_secondary_synced"] += 1
        else:
            self.hs_contact(who, email=who["email"], synced=master)
        self.s["merged_pairs"] += 1

    def person_deleted_lead(self, slot: int) -> None:
        who = self.identity(slot)
        deleted_at = self.recent_delete()
        created = self.created_before(deleted_at)
        lead = self.sf_person("Lead", who, email=who["email"], deleted=True,
                              times=self.sf_times(created, self.after(created, latest=deleted_at), deleted_at))
        if self.cycles["deleted_sync"].next():
            self.hs_contact(who, email=who["email"], synced=lead)  # R8: the sync has not seen the delete yet
            self.s["deleted_leads_synced"] += 1
        self.s["deleted_leads"] += 1

    # -- opportunities and deals (R11) -------------------------------------------------------------

    def deals_and_opportunities(self) -> None:
        rng, s = self.rng, self.s
        accounts = [o for o in self.orgs if o.account is not None]
        if not accounts:
            return
        seen = self.accounts_seen
        n_opp = self.q_opp.upto(seen)
        n_hs = self.q_hs_deal.upto(seen)
        n_trap = self.q_trap.upto(seen)
        for _ in range(n_opp):
            org = rng.choice(accounts)
            opp = self.opportunity(org)
            if self.cycles["opp_linked"].next():
                self.deal(org, opp["Name"], opp["Amount"], opp["StageName"], opp["CloseDate"], opp["Id"],
                          after=_sf_seconds(opp["CreatedDate"]))
                s["opportunities_linked"] += 1
            else:
                s["opportunities_unlinked"] += 1
        with_company = [o for o in self.orgs if o.companies] or self.orgs
        for _ in range(n_hs):
            org = rng.choice(with_company)
            name, amount, stage, close = self.deal_terms(org)
            self.deal(org, name, amount, stage, close, None)
            s["deals_unlinked"] += 1
        for _ in range(n_trap):
            # Same name and amount on both sides, never linked: R11 says they must stay two records.
            org = rng.choice(accounts)
            opp = self.opportunity(org, product="Trap: same name, same amount")
            self.deal(rng.choice(with_company), opp["Name"], opp["Amount"], opp["StageName"],
                      opp["CloseDate"], None)
            s["opportunities_unlinked"] += 1
            s["deals_unlinked"] += 1
            s["name_amount_traps"] += 1

    def deal_terms(self, org: _Org, product: str | None = None) -> tuple[str, float, str, str]:
        product = product or self.pick(names.PRODUCTS)
        short = org.name if len(org.name) < 60 else org.name[:57].rstrip() + "..."
        name = f"{short} - {product}"[:120]
        amount = float(self.between(20, 5000) * 50)
        close = self.anchor + self.between(-365, 180) * _DAY
        if close < self.anchor:
            stage = self.pick(names.STAGES[5:])[0]
        else:
            stage = self.pick(names.STAGES[:5])[0]
        return name, amount, stage, _date(close)

    def opportunity(self, org: _Org, product: str | None = None) -> dict:
        name, amount, stage, close = self.deal_terms(org, product)
        created = max(org.created, self.created())
        opp = {"Id": self.sf_id("Opportunity"), "Name": name, "AccountId": org.account["Id"],
               "StageName": stage, "CloseDate": close, "Amount": amount, "IsDeleted": False,
               **self.sf_times(created, self.after(created))}
        self.out["Opportunity"].append(opp)
        return opp

    def deal(self, org: _Org, name: str, amount: float, stage: str, close: str, opp_id: str | None,
             after: int | None = None) -> None:
        rng = self.rng
        created_s = self.created() if after is None else self.after(after, latest=self.anchor - 2 * 3600)
        created = self.hs_ms(created_s)
        updated = max(created, self.hs_ms(self.after(created_s)))
        c_iso, u_iso = _hs_time(created), _hs_time(updated)
        hs_id = self.hs_id()
        # A few deals live in the portal's custom pipeline; chosen by id, not by the RNG, so every
        # other record of the stream stays as it was before the pipeline existed.
        custom = int(hs_id) % CUSTOM_PIPELINE_EVERY == 0
        rec = {"id": hs_id, "properties": {
            "dealname": name, "amount": f"{amount:.0f}" if amount.is_integer() else f"{amount}",
            "dealstage": _CUSTOM_STAGE.get(stage, _CUSTOM_STAGES[0][0]) if custom else _DEALSTAGE[stage],
            "closedate": f"{close}T00:00:00.000Z", "pipeline": CUSTOM_PIPELINE_ID if custom else "default",
            "hs_salesforceopportunityid": opp_id,
            "createdate": c_iso, "hs_lastmodifieddate": u_iso},
            "createdAt": c_iso, "updatedAt": u_iso, "archived": False}
        self.out["deals"].append(rec)
        if custom:
            self.s["deals_custom_pipeline"] += 1
        if org.companies:
            self.associate("deals", rec["id"], "companies", org.companies[0]["id"])
            self.s["deal_company_associations"] += 1
        if org.hs_contacts and rng.random() < 0.7:
            self.associate("deals", rec["id"], "contacts", rng.choice(org.hs_contacts))
            self.s["deal_contact_associations"] += 1


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@functools.lru_cache(maxsize=64)
def _base62(n: int, width: int) -> str:
    digits = []
    for _ in range(width):
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    return "".join(reversed(digits))
_DEALSTAGE = dict(names.STAGES)

# The portal's one custom deal pipeline (real portals number theirs: numeric-string ids for the
# pipeline and for each stage). Salesforce stages map onto it by how far along they are.
CUSTOM_PIPELINE_ID = "75318642"
CUSTOM_PIPELINE_EVERY = 16  # one deal in 16 (by HubSpot id) is in it
_CUSTOM_STAGES = (  # id, label, probability, closed
    ("75318643", "Renewal due", "0.3", False),
    ("75318644", "Quote sent", "0.6", False),
    ("75318645", "Verbal yes", "0.9", False),
    ("75318646", "Renewed", "1.0", True),
    ("75318647", "Churned", "0.0", True),
)
_CUSTOM_STAGE = {
    "Prospecting": "75318643", "Qualification": "75318643", "Needs Analysis": "75318644",
    "Value Proposition": "75318644", "Negotiation/Review": "75318645", "Closed Won": "75318646",
    "Closed Lost": "75318647",
}


def _custom_pipeline() -> dict:
    return {"id": CUSTOM_PIPELINE_ID, "label": "Renewals", "displayOrder": 1,
            "stages": [{"id": sid, "label": label, "displayOrder": i,
                        "metadata": {"probability": prob, "isClosed": "true" if closed else "false"}}
                       for i, (sid, label, prob, closed) in enumerate(_CUSTOM_STAGES)]}


def _ascii(name: str) -> str:
    """The e-mail spelling of a name part: accents dropped, lower-case, no spaces; ' and - stay."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum() or ch in "'-") or "x"


def _variants(email: str) -> list[str]:
    """Spellings of one address that R1 treats as equal (trim + lower-case)."""
    local, domain = email.split("@", 1)
    title = ".".join(p[:1].upper() + p[1:] for p in local.split("."))
    dtitle = ".".join(p[:1].upper() + p[1:] for p in domain.split("."))
    return [
        email,
        f"{title}@{dtitle}",
        f" {title}@{dtitle}",
        f"{email} ",
        email.upper(),
        f"  {title}@{domain}\t",
    ]


def _sf_seconds(value: str) -> int:
    return int(datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.000+0000").replace(tzinfo=timezone.utc).timestamp())


# -- public API ------------------------------------------------------------------------------------

def generate(name_or_size: str | int, seed: int = 0, *, now: datetime | str | None = None,
             summary: dict | None = None, **rates: float) -> Iterator[tuple[str, str, dict]]:
    """Stream a scenario as `(crm, object_type, record)`; see the module docstring.

    `rates` override DEFAULT_RATES (or DEMO_RATES for "demo"); `summary`, if given, is filled in
    (cumulatively, as the stream is consumed) with the counts `expected_cases` returns."""
    size, base = _resolve(name_or_size)
    unknown = set(rates) - set(base)
    if unknown:
        raise TypeError(f"unknown rate(s): {', '.join(sorted(unknown))}")
    merged = base | {k: float(v) for k, v in rates.items()}
    for k, v in merged.items():
        if v < 0 or (k.endswith("_fraction") and v > 1):
            raise ValueError(f"{k} out of range: {v}")
    target = summary if summary is not None else {}
    target.clear()
    target.update(_new_summary())
    return iter(_Generator(size, seed, _anchor(now), merged, target))


def expected_cases(name_or_size: str | int, seed: int = 0, *, now: datetime | str | None = None,
                   **rates: float) -> dict:
    """How many of each case `generate` produces for these arguments (runs the stream)."""
    summary: dict = {}
    for _ in generate(name_or_size, seed, now=now, summary=summary, **rates):
        pass
    return summary


def scenario_dict(name_or_size: str | int, seed: int = 0, *, now: datetime | str | None = None,
                  **rates: float) -> dict:
    """The JSON scenario form: {"salesforce": {"Lead": [...], ...}, "hubspot": {"contacts": [...], ...}}."""
    out: dict = {"salesforce": {t: [] for t in ("Account", "Contact", "Lead", "Opportunity")},
                 "hubspot": {t: [] for t in ("pipelines", "companies", "contacts", "deals", "associations")}}
    for crm, otype, rec in generate(name_or_size, seed, now=now, **rates):
        out[crm][otype].append(rec)
    return out


def write_scenario(path: str, name_or_size: str | int, seed: int = 0, *, now: datetime | str | None = None,
                   **rates: float) -> dict:
    """Write the JSON scenario form to `path` without holding it in memory; returns the summary.

    One pass: records go to a temporary JSON-lines file per object type (next to `path`), which are
    then concatenated in dependency order (accounts before contacts, companies before associations)."""
    order = [("salesforce", "Account"), ("salesforce", "Contact"), ("salesforce", "Lead"),
             ("salesforce", "Opportunity"), ("hubspot", "pipelines"), ("hubspot", "companies"), ("hubspot", "contacts"),
             ("hubspot", "deals"), ("hubspot", "associations")]
    summary: dict = {}
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.TemporaryDirectory(dir=directory, prefix=".scenario-") as tmp:
        parts = {key: open(os.path.join(tmp, f"{key[0]}.{key[1]}"), "w", encoding="utf-8") for key in order}
        try:
            for crm, otype, rec in generate(name_or_size, seed, now=now, summary=summary, **rates):
                parts[(crm, otype)].write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
        finally:
            for f in parts.values():
                f.close()
        partial = path + ".partial"
        with open(partial, "w", encoding="utf-8") as out:
            out.write("{")
            for ci, crm in enumerate(("salesforce", "hubspot")):
                out.write(("," if ci else "") + f"\n{json.dumps(crm)}: {{")
                for ti, (c, otype) in enumerate(k for k in order if k[0] == crm):
                    out.write(("," if ti else "") + f"\n  {json.dumps(otype)}: [")
                    with open(os.path.join(tmp, f"{c}.{otype}"), encoding="utf-8") as part:
                        for ri, line in enumerate(part):
                            out.write(("," if ri else "") + "\n    " + line.rstrip("\n"))
                    out.write("\n  ]")
                out.write("\n}")
            out.write("\n}\n")
        os.replace(partial, path)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.scenario",
                                     description="Write a crmsync sandbox scenario as JSON.")
    parser.add_argument("--size", default="demo", help='"demo", "empty" or a number of people (default: demo)')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--now", default=None,
                        help="anchor of the timeline, ISO 8601 (default: today 00:00 UTC)")
    parser.add_argument("--out", required=True, help="path of the JSON file to write ('-' for stdout)")
    parser.add_argument("--rate", action="append", default=[], metavar="NAME=VALUE",
                        help="override a rate, e.g. --rate duplicate_group_rate=0.05")
    args = parser.parse_args(argv)
    rates = {}
    for item in args.rate:
        key, _, value = item.partition("=")
        rates[key] = float(value)
    if args.out == "-":
        json.dump(scenario_dict(args.size, args.seed, now=args.now, **rates), sys.stdout, ensure_ascii=False)
        return 0
    summary = write_scenario(args.out, args.size, args.seed, now=args.now, **rates)
    print(json.dumps(summary, indent=1, sort_keys=True), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
