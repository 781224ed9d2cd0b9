"""`manage.py sandbox`: serve both CRM emulators on 127.0.0.1 until Ctrl-C."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from sandbox.server import ORDERS, Sandbox, SandboxServer


class Command(BaseCommand):
    help = "Serve the Salesforce and HubSpot emulators on 127.0.0.1 (one port) until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8900)
        parser.add_argument("--scenario", default="empty", help="demo, empty, or a path to a scenario JSON file")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--order", choices=ORDERS, default="random")
        parser.add_argument("--salesforce-token", default="sandbox")
        parser.add_argument("--hubspot-token", default="sandbox")
        parser.add_argument("--token-ttl", type=float, default=7200.0)
        parser.add_argument("--search-lag", default="0", metavar="MIN_MS:MAX_MS",
                            help="HubSpot search index delay per write, e.g. 1000:4000 (default 0: off)")

    def handle(self, *args, **opts):
        sandbox = Sandbox(seed=opts["seed"], order=opts["order"], salesforce_token=opts["salesforce_token"],
                          hubspot_token=opts["hubspot_token"], token_ttl=opts["token_ttl"],
                          search_lag=self._lag(opts["search_lag"]))
        scenario = self._scenario(opts["scenario"], opts["seed"])
        # A JSON file is the dict form; the generator streams `(crm, object_type, record)` tuples.
        counts = sandbox.load(scenario) if isinstance(scenario, dict) else sandbox.load_records(scenario)
        try:
            server = SandboxServer(sandbox, port=opts["port"]).start()
        except OSError as e:
            raise CommandError(f"cannot listen on 127.0.0.1:{opts['port']}: {e}") from e
        summary = ", ".join(f"{n} {t}" for crm in ("salesforce", "hubspot")
                            for t, n in counts[crm].items()) or "no records"
        self.stdout.write(f"Sandbox ready on {server.url} (scenario {opts['scenario']}: {summary})")
        self.stdout.flush()
        server.serve_until_interrupted()

    @staticmethod
    def _lag(text: str) -> tuple[int, int]:
        lo, _, hi = text.partition(":")
        try:
            return int(lo), int(hi or lo)
        except ValueError:
            raise CommandError(f"--search-lag takes MIN_MS:MAX_MS, not {text!r}") from None

    @staticmethod
    def _scenario(name: str, seed: int):
        if name == "empty":
            return {}
        if name == "demo":
            try:
                from sandbox.scenario import generate
            except ImportError as e:
                raise CommandError("--scenario demo needs sandbox.scenario.generate (the scenario generator "
                                   "is not installed yet); use --scenario empty or a JSON file") from e
            return generate("demo", seed)
        try:
            with open(name, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise CommandError(f"cannot read scenario {name!r}: {e}") from e
