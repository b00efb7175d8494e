"""Fixtures the property tests of the planner share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.state import State


@pytest.fixture
def sim_state(tmp_path: Path) -> Iterator[State]:
    """A state file for one simulated account."""
    state = State(tmp_path / "s.sqlite3")
    # A test needs no durability: skip the fsync at every commit, which dominates.
    state.db.execute("PRAGMA synchronous = OFF")
    yield state
    state.close()
