"""Benchmarks at scale (issue 6): `make bench [SIZE=N]` → `python -m tests.bench.run`. Not part of `make test`."""
