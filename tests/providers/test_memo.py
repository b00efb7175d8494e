"""The memo file: rewritten in place, and a torn one is a lost one (providers/memo.py)."""

from __future__ import annotations

import os
import zlib
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


class Documents:
    """A team's shared documents, in memory (providers.base.Documents)."""

    def __init__(self) -> None:
        self.docs: dict[str, str] = {}

    def read(self, name: str) -> str | None:
        return self.docs.get(name)

    def write(self, name: str, text: str) -> None:
        self.docs[name] = text

    def remove(self, name: str) -> None:
        self.docs.pop(name, None)


ITEMS = {"e1": {"subject": "Call"}, "e2": {"subject": "Demo"}}


def test_a_stamped_listings_items_live_beside_the_memo_and_are_read_only_when_asked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outlook" / "rep.json"
    _saved(path, calendar={"delta": "d1", "stamp": "s1", "items": ITEMS})
    side = tmp_path / "outlook" / "calendar" / "rep.json"
    assert b"Demo" in side.read_bytes() and b"Demo" not in path.read_bytes()
    memo = Memo(path)
    assert "items" not in memo.get("calendar")  # not read yet
    assert memo.items("calendar") == ITEMS
    # A new cursor alone rewrites the memo, not the side.
    os.utime(side, ns=(0, 0))
    memo.get("calendar")["delta"] = "d2"
    memo.save()
    assert side.stat().st_mtime_ns == 0
    fresh = Memo(path)
    assert fresh.get("calendar")["delta"] == "d2" and fresh.items("calendar") == ITEMS
    # Changed items come with a new stamp, and so are written.
    fresh.items("calendar")["e3"] = {"subject": "New"}  # type: ignore[index]
    fresh.get("calendar")["stamp"] = "s2"
    fresh.save()
    assert set(Memo(path).items("calendar") or {}) == {"e1", "e2", "e3"}


def test_a_side_of_another_stamp_or_torn_or_gone_is_a_lost_listing(tmp_path: Path) -> None:
    path = tmp_path / "rep.json"
    side = tmp_path / "calendar" / "rep.json"
    _saved(path, calendar={"delta": "d1", "stamp": "s1", "items": ITEMS})
    whole = side.read_bytes()
    # A crash between the two writes: the side has moved on, the memo has not.
    side.write_bytes(whole.replace(b"s1", b"s2"))
    assert Memo(path).items("calendar") is None
    side.write_bytes(whole[:-20])  # torn
    assert Memo(path).items("calendar") is None
    side.unlink()
    assert Memo(path).items("calendar") is None
    side.write_bytes(whole)
    assert Memo(path).items("calendar") == ITEMS


def test_inline_items_stay_until_stamped_and_an_old_memo_moves_them_out(tmp_path: Path) -> None:
    path = tmp_path / "rep.json"
    side = tmp_path / "calendar" / "rep.json"
    _saved(path, calendar={"delta": "d1", "items": ITEMS})  # no stamp (Google's cache)
    assert not side.exists() and Memo(path).get("calendar")["items"] == ITEMS
    _saved(path, calendar={"delta": "d1", "stamp": "s1", "items": ITEMS})
    assert side.exists() and Memo(path).items("calendar") == ITEMS


def test_sides_in_a_teams_shared_state_and_forgetting_removes_them(tmp_path: Path) -> None:
    from providers.base import AccountSpec
    from providers.memo import for_account, forget

    docs = Documents()
    spec = AccountSpec(name="rep", state_dir=tmp_path, shared=docs)
    memo = for_account(spec, "outlook")
    memo.set("calendar", {"delta": "d1", "stamp": "s1", "items": ITEMS})
    memo.save()
    assert set(docs.docs) == {"memo/outlook/rep", "memo/outlook/calendar/rep"}
    assert for_account(spec, "outlook").items("calendar") == ITEMS
    forget(spec, "outlook")
    assert docs.docs == {}
    local = AccountSpec(name="rep", state_dir=tmp_path)
    _saved(tmp_path / "outlook" / "rep.json", calendar={"stamp": "s1", "items": ITEMS})
    forget(local, "outlook")
    assert list(tmp_path.rglob("*.json")) == []


def test_an_older_memo_is_read_and_written_as_this_version_a_newer_is_lost(
    tmp_path: Path,
) -> None:
    """Version 2 may keep items in a side: a firstblock reading only version 1 would
    look for them inline, so it must take such a memo for a lost one."""
    path = tmp_path / "rep.json"
    for version, kept in ((1, True), (3, False)):
        _saved(path, calendar={"delta": "d1", "items": ITEMS})
        raw = (
            path.read_bytes()
            .split(b"\n#crc32=")[0]
            .replace(b'"version":2', b'"version":%d' % version)
        )
        path.write_bytes(raw + b"\n#crc32=%08x\n" % zlib.crc32(raw))
        assert (Memo(path).get("calendar") is not None) == kept
    _saved(path, calendar={"delta": "d1"})
    assert b'"version":2' in path.read_bytes()
