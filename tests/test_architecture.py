"""The core never imports a concrete provider (docs/design.md §2.1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ["planner", "reconcile", "clients", "intervals", "models", "cycle", "state", "config"]
CONCRETE = ("providers.local", "providers.memory", "providers.google", "providers.outlook")


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", CORE)
def test_core_imports_no_concrete_provider(module: str) -> None:
    found = imports(ROOT / "worker" / f"{module}.py")
    assert not [n for n in found if n.startswith(CONCRETE)]


@pytest.mark.parametrize("module", ["planner", "reconcile", "clients", "intervals"])
def test_pure_core_does_no_io(module: str) -> None:
    found = imports(ROOT / "worker" / f"{module}.py")
    assert not found & {"os", "sqlite3", "pathlib", "socket", "time", "providers.base"}
    source = (ROOT / "worker" / f"{module}.py").read_text()
    assert ".now(" not in source
    assert "open(" not in source
