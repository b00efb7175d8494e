"""Google's lent connections (providers/google/pool.py): one session at a time per
`Http`, and its open connection serves the next session."""

from __future__ import annotations

import gc
import threading
from typing import Any

import httplib2
import pytest

from providers.google import pool
from providers.google.pool import Lender
from tests.providers.test_outlook_pool import Counting, url

__all__ = ["url"]  # a fixture, imported for pytest


class Owner:
    """Stands for a session."""


def test_a_connection_outlives_its_session_but_is_never_shared(url: str) -> None:
    lender = Lender()
    first, second = Owner(), Owner()
    a, b = lender.lend(first, 5.0), lender.lend(second, 5.0)
    assert a is not b  # two live sessions, two Http
    response, _ = a.request(url)
    assert response.status == 200
    del first
    gc.collect()
    assert lender.idle_count() == 1
    third = Owner()
    c = lender.lend(third, 5.0)
    assert c is a and lender.idle_count() == 0
    for _ in range(3):
        assert c.request(url)[0].status == 200
    assert Counting.connections == 1  # the first session's connection, still open
    assert lender.lend(Owner(), 9.0) is not b  # another timeout, another Http


def test_the_last_connection_back_is_the_next_lent() -> None:
    """Its connection is the likeliest still open: the server has not timed it out."""
    lender = Lender()
    first, second = Owner(), Owner()
    older, newer = lender.lend(first, 5.0), lender.lend(second, 5.0)
    del first
    gc.collect()
    del second
    gc.collect()
    third, fourth = Owner(), Owner()
    assert lender.lend(third, 5.0) is newer
    assert lender.lend(fourth, 5.0) is older


def test_only_so_many_are_kept_idle() -> None:
    lender = Lender(idle=1)
    owners = [Owner(), Owner()]
    for o in owners:
        lender.lend(o, 5.0)
    owners.clear()
    gc.collect()
    assert lender.idle_count() == 1


def test_a_session_collected_while_another_borrows_comes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The collector runs weakref callbacks at any allocation, in the middle of lend's
    own work too: giving a connection back there must not wait on lend."""
    lender = Lender()
    gc.disable()  # the dead session must wait for the collect inside lend
    try:
        dead = Owner()
        dead.me = dead  # type: ignore[attr-defined]  # a cycle: only the collector frees it
        lender.lend(dead, 5.0)
        del dead
        made = pool.httplib2.Http

        def collecting(*args: Any, **kwargs: Any) -> httplib2.Http:
            gc.collect()  # as an allocation inside Http() may set it off
            return made(*args, **kwargs)

        monkeypatch.setattr(pool.httplib2, "Http", collecting)
        live = Owner()
        borrower = threading.Thread(target=lender.lend, args=(live, 9.0), daemon=True)
        borrower.start()
        borrower.join(timeout=10)
    finally:
        gc.enable()
    assert not borrower.is_alive(), "lend hung giving back a collected session's Http"
    assert lender.idle_count() == 1
