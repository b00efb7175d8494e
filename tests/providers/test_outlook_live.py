"""Against a real Microsoft 365 mailbox: opt-in, skipped unless its variables are set.

    firstblock connect outlook --account live --client-id ID
    FIRSTBLOCK_LIVE_OUTLOOK_STATE_DIR=~/.local/state/firstblock \
    FIRSTBLOCK_LIVE_OUTLOOK_ACCOUNT=live pytest tests/providers/test_outlook_live.py

It writes one block a year ahead in the calendar and removes it again, and finds (or
makes) the held folder. Nothing else in the mailbox is touched.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from providers.base import AccountSpec
from worker.models import Block, BlockKind, Change, Op, Window

STATE = os.environ.get("FIRSTBLOCK_LIVE_OUTLOOK_STATE_DIR", "")
ACCOUNT = os.environ.get("FIRSTBLOCK_LIVE_OUTLOOK_ACCOUNT", "")

pytestmark = pytest.mark.skipif(
    not (STATE and ACCOUNT),
    reason="live Outlook test: set FIRSTBLOCK_LIVE_OUTLOOK_STATE_DIR and ..._ACCOUNT",
)


def test_a_block_round_trip_on_a_real_calendar(tmp_path: Path) -> None:
    from providers.outlook.account import open_account

    calendar, mailbox = open_account(AccountSpec(name=ACCOUNT, state_dir=Path(STATE).expanduser()))
    calendar.memo.path = tmp_path / "memo.json"  # leave the real run's memory alone
    assert calendar.timezone()  # Windows zone names map to IANA ones
    day = date.today() + timedelta(days=365)  # noqa: DTZ011 - a test date, not a plan
    start = datetime(day.year, day.month, day.day, 15, tzinfo=UTC)
    window = Window(start - timedelta(hours=2), start + timedelta(hours=3), "UTC")
    block = Block(
        f"live-test/{day}", BlockKind.PROSPECTING, day, start, start + timedelta(hours=1), "test"
    )
    calendar.fetch(window)
    [created] = calendar.apply([Change(Op.CREATE, block)])
    try:
        found = [b for b in calendar.fetch(window).blocks if b.key == block.key]
        assert [(b.start, b.touched) for b in found] == [(start, False)]
        [again] = calendar.apply([Change(Op.CREATE, block)])  # the key lookup finds it
        assert len([b for b in calendar.fetch(window).blocks if b.key == block.key]) == 1
        created = again
    finally:
        calendar.apply([Change(Op.DELETE, created.block, before=created.block)])
    assert all(b.key != block.key for b in calendar.fetch(window).blocks)
    assert all(m.held for m in mailbox.list_held())  # the held folder is found, or made
