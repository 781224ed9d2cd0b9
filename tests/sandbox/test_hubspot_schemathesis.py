"""schemathesis over every HubSpot operation the sandbox implements: requests generated from
HubSpot's own OpenAPI specs (hubspot-openapi/, with the relaxations of openapi_specs.py), valid
ones and invalid ones, sent over HTTP to a live sandbox. Every response must be free of server
errors and conform to the spec: documented status (or `default`), content type, body schema.

Deterministic (derandomized Hypothesis, no example database) and bounded (EXAMPLES per operation
and mode) so it runs in `make test`. Run alone: `pytest -q tests/sandbox/test_hubspot_schemathesis.py`;
`SCHEMATHESIS_EXAMPLES=200` for a longer hunt.
"""
from __future__ import annotations

import copy
import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sandbox.testing import HUBSPOT_TOKEN, running_sandbox
from tests.sandbox.openapi_specs import NOT_EMULATED, RELAXED

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HEADERS = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}


MAX_ITEMS = 3  # per generated request array: deep batch bodies make Hypothesis slow, not more thorough


def _bounded(spec: dict) -> dict:
    """The spec with every request body inlined (its $refs resolved) and its arrays capped at
    MAX_ITEMS, so generation stays fast; response schemas are left as they are."""
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]

    def inline(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(copy.deepcopy(schemas[node["$ref"].rsplit("/", 1)[1]]))
            node = {k: inline(v) for k, v in node.items()}
            if node.get("type") == "array":
                node["maxItems"] = min(node.get("maxItems", MAX_ITEMS), MAX_ITEMS)
            return node
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    for ops in spec["paths"].values():
        for op in ops.values():
            for media in ((op.get("requestBody") or {}).get("content") or {}).values() if isinstance(op, dict) else ():
                media["schema"] = inline(media["schema"])
    return spec


def _operations():
    out = {}
    for spec_name, spec in RELAXED.items():
        schema = schemathesis.openapi.from_dict(_bounded(spec))
        for result in schema.get_all_operations():
            op = result.ok()
            if (spec_name, op.method.upper(), op.path) in NOT_EMULATED:
                continue
            out[f"{spec_name}: {op.method.upper()} {op.path}"] = op
    return out


OPERATIONS = _operations()


def _negatable(op) -> bool:
    """Invalid requests can only be made where there is a body or a typed query parameter (a path
    segment is a string whatever it holds)."""
    return bool(op.body) or any(p.location == "query" and (p.definition.get("schema") or {}).get("type") != "string"
                                for p in op.iter_parameters())


CASES = [pytest.param(label, mode, id=f"{label.replace(' ', '')}-{'valid' if mode is GenerationMode.POSITIVE else 'invalid'}")
         for label in sorted(OPERATIONS)
         for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if mode is GenerationMode.POSITIVE or _negatable(OPERATIONS[label])]


def _seed(emu) -> None:
    """A few records of each type with the ids generated requests are likeliest to hit."""
    emu.load_records("contacts", [{"id": str(i), "properties": {"email": f"c{i}@example.com", "firstname": f"C{i}"}}
                                  for i in (0, 1, 2, 101, 102)])
    emu.load_records("companies", [{"id": str(i), "properties": {"name": f"Co {i}"}} for i in (0, 1, 2, 5001)])
    emu.load_records("deals", [{"id": str(i), "properties": {"dealname": f"D{i}", "dealstage": "closedwon"}}
                               for i in (0, 1, 2, 9001)])
    emu.load_records("associations", [
        {"from_type": "contacts", "from_id": "1", "to_type": "companies", "to_id": "1"},
        {"from_type": "deals", "from_id": "1", "to_type": "contacts", "to_id": "1"}])


@pytest.fixture(scope="module")
def live():
    with running_sandbox(seed=3) as server:
        session = requests.Session()
        session.trust_env = False
        yield server, session


@pytest.mark.parametrize("label, mode", CASES)
def test_operation_conforms_and_never_fails(live, label, mode):
    server, session = live
    emu = server.sandbox.hubspot
    emu.reset()
    emu.configure_limits(enabled=False)  # 429s have their own (non-spec) shape: see openapi_specs.py
    _seed(emu)
    failures: list[str] = []

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=OPERATIONS[label].as_strategy(generation_mode=mode))
    def run(case):
        response = case.call(base_url=server.url, session=session, headers=HEADERS)
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as e:  # keep going: report every failing example, not the first
            body = response.text[:300]
            failures.append(f"{case.method} {case.formatted_path} {case.body!r:.300} -> {response.status_code} "
                            f"{body}\n{str(e)[:800]}")

    run()
    assert not failures, f"{len(failures)} failing example(s):\n\n" + "\n\n".join(failures[:5])


def test_every_implemented_operation_is_covered():
    """The specs' operations minus NOT_EMULATED are exactly what the parametrized test runs."""
    spec_ops = {(s, m.upper(), p) for s, spec in RELAXED.items() for p, ops in spec["paths"].items()
                for m in ops if m != "parameters"}
    assert len(OPERATIONS) == len(spec_ops - NOT_EMULATED) > 50
