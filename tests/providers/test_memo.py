"""The memo file: rewritten in place, and a torn one is a lost one (providers/memo.py)."""

from __future__ import annotations

import os
from pathlib import Path

from providers.memo import Memo


def _saved(path: Path, **data: object) -> Memo:
    memo = Memo(path)
    for key, value in data.items():
        memo.set(key, value)
    memo.save()
    return memo


def test_a_memo_round_trips_and_a_shorter_one_leaves_no_tail(tmp_path: Path) -> None:
    path = tmp_path / "outlook" / "work.json"  # the folder is made on the first save
    _saved(path, calendar={"delta": "x" * 5000, "items": {"a": 1}})
    inode = path.stat().st_ino
    _saved(path, calendar={"delta": "short"})
    assert path.stat().st_ino == inode  # in place, not a new file
    assert Memo(path).get("calendar") == {"delta": "short"}
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_torn_or_tampered_memo_reads_as_lost_and_is_written_whole_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "work.json"
    _saved(path, calendar={"delta": "d1", "items": {"a": {"subject": "Call"}}})
    whole = path.read_bytes()
    for torn in (
        whole[: len(whole) // 2],  # a crash mid-write
        whole.replace(b"d1", b"d2"),  # a page of another write
        whole + b"tail of a longer memo",  # a crash before the truncate
        whole.split(b"\n#crc32=")[0],  # the JSON alone, as before checksums
    ):
        path.write_bytes(torn)
        assert Memo(path).get("calendar") is None
    _saved(path, calendar={"delta": "d3"})
    assert Memo(path).get("calendar") == {"delta": "d3"}


def test_an_unchanged_memo_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "work.json"
    _saved(path, calendar={"delta": "d1"})
    os.utime(path, ns=(0, 0))
    memo = Memo(path)
    memo.set("calendar", {"delta": "d1"})
    memo.save()
    assert path.stat().st_mtime_ns == 0
