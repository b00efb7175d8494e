"""Against a real Google account: opt-in, skipped unless its variables are set.

    firstblock connect google --account live --client-secrets client_secret.json
    FIRSTBLOCK_LIVE_GOOGLE_STATE_DIR=~/.local/state/firstblock \
    FIRSTBLOCK_LIVE_GOOGLE_ACCOUNT=live pytest tests/providers/test_google_live.py

It writes one block a year ahead in the primary calendar and removes it again, and
finds (or makes) the worker's Gmail labels. Nothing else in the account is touched.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from providers.base import AccountSpec
from worker.models import Block, BlockKind, Change, Op, Window

STATE = os.environ.get("FIRSTBLOCK_LIVE_GOOGLE_STATE_DIR", "")
ACCOUNT = os.environ.get("FIRSTBLOCK_LIVE_GOOGLE_ACCOUNT", "")

pytestmark = pytest.mark.skipif(
    not (STATE and ACCOUNT),
    reason="live Google test: set FIRSTBLOCK_LIVE_GOOGLE_STATE_DIR and ..._ACCOUNT",
)


def test_a_block_round_trip_on_a_real_calendar(tmp_path: Path) -> None:
    from providers.google.account import open_account

    spec = AccountSpec(name=ACCOUNT, state_dir=Path(STATE).expanduser())
    calendar, mailbox = open_account(spec)
    calendar.memo.path = tmp_path / "memo.json"  # leave the real run's memory alone
    day = date.today() + timedelta(days=365)  # noqa: DTZ011 - a test date, not a plan
    start = datetime(day.year, day.month, day.day, 15, tzinfo=UTC)
    window = Window(start - timedelta(hours=2), start + timedelta(hours=3), "UTC")
    block = Block(
        f"live-test/{day}", BlockKind.PROSPECTING, day, start, start + timedelta(hours=1), "test"
    )
    [created] = calendar.apply([Change(Op.CREATE, block)])
    try:
        found = [b for b in calendar.fetch(window).blocks if b.key == block.key]
        assert [(b.start, b.touched) for b in found] == [(start, False)]
        calendar.apply([Change(Op.DELETE, created.block, before=created.block)])
        assert all(b.key != block.key for b in calendar.fetch(window).blocks)
        # A block the worker removed can come back: Google keeps the id taken, and
        # the tag on the cancelled event tells the worker's removal from the user's.
        [created] = calendar.apply([Change(Op.CREATE, block)])
        assert [b.key for b in calendar.fetch(window).blocks if b.key == block.key] == [block.key]
    finally:
        calendar.apply([Change(Op.DELETE, created.block, before=created.block)])
    assert all(m.held for m in mailbox.list_held())  # the held label is found, or made
