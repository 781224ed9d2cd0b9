"""Two pinned locks: requirements.lock is what production installs (pyproject's dependencies and
nothing from the dev extras), requirements-dev.lock adds the dev extras at the same pins; `make
install` (the demo) takes the first, `make install-dev` (tests, lint) both."""
from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pins(lock: str) -> dict[str, str]:
    lines = [line for line in (ROOT / lock).read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert all("==" in line for line in lines), lines  # pinned, never a path or an open range
    return {_name(line): line.split("==", 1)[1] for line in lines}


def test_the_runtime_lock_pins_the_dependencies_and_no_dev_tool():
    runtime = pins("requirements.lock")
    assert {_name(r) for r in PROJECT["dependencies"]} <= set(runtime)
    dev_only = {_name(r) for r in PROJECT["optional-dependencies"]["dev"]}
    assert not dev_only & set(runtime), dev_only & set(runtime)
    assert not {"pytest", "playwright", "ruff", "greenlet"} & set(runtime)


def test_the_dev_lock_adds_the_dev_extras_at_the_same_pins():
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert {name: dev.get(name) for name in runtime} == runtime
    assert {_name(r) for r in PROJECT["optional-dependencies"]["dev"]} <= set(dev)


def _planned(target: str, tmp_path) -> str:
    """What `make TARGET` would run for a fresh venv (make -n prints it, runs nothing)."""
    result = subprocess.run(["make", "-n", target, f"VENV={tmp_path}/venv"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_demo_installs_the_runtime_lock_and_the_tests_the_dev_lock(tmp_path):
    demo = _planned("demo", tmp_path)
    assert "pip install -q -r requirements.lock" in demo and "requirements-dev.lock" not in demo
    for target in ("test-sqlite", "lint"):
        assert "pip install -q -r requirements-dev.lock" in _planned(target, tmp_path), target
