"""The deadline guard stops a loop past its time, and its exception never leaves it.

Loops here spin for seconds at most, so that a guard that failed to stop one makes
the test fail, not hang. No duration is asserted.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from functools import partial
from pathlib import Path

import pytest

from providers.local import deadline


def spin(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "done"


def test_a_loop_past_its_time_is_stopped() -> None:
    assert deadline.within(0.05, partial(spin, 20)) == (False, None)


def test_a_call_within_its_time_returns_its_value() -> None:
    assert deadline.within(10, partial(spin, 0.01)) == (True, "done")


def test_an_error_passes_through_and_nothing_is_raised_afterwards() -> None:
    def broken() -> None:
        spin(0.01)
        raise ValueError("bad rule")

    with pytest.raises(ValueError, match="bad rule"):
        deadline.within(0.05, broken)
    # An Expired still armed or pending would land here, in unrelated code.
    assert spin(0.5) == "done"


def test_an_expiry_that_was_swallowed_is_raised_again() -> None:
    def stubborn() -> str:
        with contextlib.suppress(deadline.Expired):
            spin(20)  # eaten, as a finalizer that ran in this thread would
        return spin(20)

    assert deadline.within(0.05, stubborn) == (False, None)


def test_no_expiry_escapes_guards_that_end_as_their_time_runs_out() -> None:
    """Many guards in several threads at once, as in serve's pool, most ending right
    at their deadline: whatever the interleaving, the exception stays inside."""
    escaped: list[int] = []
    outcomes: Counter[bool] = Counter()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for i in range(300):
                budget = rng.uniform(0.0002, 0.003)
                work = budget * rng.uniform(0.7, 1.3)
                if i % 50 == 0:
                    budget, work = 10.0, 0.0  # surely in time
                elif i % 50 == 1:
                    budget, work = 0.001, 20.0  # surely stopped
                finished, value = deadline.within(budget, partial(spin, work))
                assert value == ("done" if finished else None)
                outcomes[finished] += 1
                spin(0.0005)  # a late exception would land here
            spin(0.2)
        except deadline.Expired:
            escaped.append(seed)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert escaped == []
    assert sum(outcomes.values()) == 4 * 300
    assert outcomes[True] >= 4 * 6 and outcomes[False] >= 4 * 6


TRACED = r"""
import sys, time
from functools import partial
from pathlib import Path
from providers.local import deadline

def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass

def tracer(*args):
    return tracer

def traced():
    sys.settrace(tracer)
    try:
        return deadline.within(0.05, partial(spin, 20))
    finally:
        sys.settrace(None)

print(deadline.within(0.05, partial(spin, 20)), deadline.within(10, partial(spin, 0.01)))
print(traced())
"""


def test_guards_leave_the_interpreter_sound_for_tracers_and_debuggers() -> None:
    # Clearing a pending exception with SetAsyncExc(id, NULL) leaves 3.11's eval
    # breaker set, and the next traced call spins forever (coverage, pdb, hypothesis).
    done = subprocess.run(
        [sys.executable, "-c", TRACED],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["(False, None) (True, None)", "(False, None)"]
