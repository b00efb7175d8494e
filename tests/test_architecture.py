"""The shape of the code (docs/design.md §2.1): the core never imports a concrete
provider, and the pure core (planner, hold, follow-ups, schedule…) imports, all the
way down, only the domain model, its own kind and the standard library, and does no
I/O and reads no clock."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ["planner", "reconcile", "clients", "intervals", "models", "cycle", "state", "config"]
CONCRETE = ("providers.local", "providers.memory", "providers.google", "providers.outlook")
PURE = [
    "planner",
    "reconcile",
    "clients",
    "intervals",
    "hold",
    "followups",
    "slots",
    "proposals",
    "drafts",
    "schedule",
    "alerts",
    "policy",
    "models",
    "timeutil",
    "text",
]
# Standard-library modules that reach outside the process (or its clock).
IO = {"os", "sqlite3", "pathlib", "socket", "time", "subprocess", "shutil", "tempfile"}
IO |= {"urllib", "http", "io", "threading", "logging", "random", "secrets", "select"}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def reach(module: str) -> set[str]:
    """Every module `worker.<module>` imports, directly or through other worker
    modules (a `from worker import x` counts as importing worker.x)."""
    seen: set[str] = set()
    todo = [f"worker.{module}"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = ROOT / (name.replace(".", "/") + ".py")
        if not path.exists():
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "worker":
                todo += [f"worker.{a.name}" for a in node.names]
        todo += [n for n in imports(path) if n.startswith("worker.") or n == "providers"]
        seen |= {n for n in imports(path) if not n.startswith("worker")}
    return seen - {f"worker.{module}"}


@pytest.mark.parametrize("module", CORE)
def test_core_imports_no_concrete_provider(module: str) -> None:
    found = imports(ROOT / "worker" / f"{module}.py")
    assert not [n for n in found if n.startswith(CONCRETE)]


@pytest.mark.parametrize("module", PURE)
def test_the_pure_core_reaches_only_the_model_and_the_standard_library(module: str) -> None:
    pure = {f"worker.{m}" for m in PURE}
    outside = set()
    for name in reach(module):
        top = name.split(".")[0]
        if name in pure or name == "__future__":
            continue
        if top in sys.stdlib_module_names and top not in IO:
            continue
        outside.add(name)
    assert not outside, f"worker.{module} reaches {sorted(outside)}"


@pytest.mark.parametrize("module", PURE)
def test_the_pure_core_reads_no_clock_and_opens_nothing(module: str) -> None:
    source = (ROOT / "worker" / f"{module}.py").read_text()
    assert ".now(" not in source and "today(" not in source
    assert "open(" not in source
