"""The account lock against another process and another thread (worker/locks.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from worker import locks

HOLD = """
import sys, time
from pathlib import Path
from worker import locks
with locks.exclusive(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_lock_held_by_another_process_is_refused_at_once_and_freed_when_it_ends(
    tmp_path: Path,
) -> None:
    path = tmp_path / "locks" / "work.lock"  # its folder is made on first use
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        with pytest.raises(locks.Held), locks.exclusive(path):
            pass
    finally:
        other.kill()  # a killed holder frees it too
        other.wait(10)
    with locks.exclusive(path):
        assert path.exists()


def test_two_threads_of_one_process_exclude_each_other(tmp_path: Path) -> None:
    path = tmp_path / "work.lock"
    refused: list[bool] = []

    def second() -> None:
        try:
            with locks.exclusive(path):
                refused.append(False)
        except locks.Held:
            refused.append(True)

    with locks.exclusive(path):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(10)
    assert refused == [True]
    second()
    assert refused == [True, False]
