"""The local Maildir against a hostile or careless file system, through the CLI: a
mistyped `release --maildir`, `demo --dir` pointed at real mail, unreadable files in
the demo's sandbox, and held mail whose name is taken where it goes back."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.local import maildir as maildir_module
from providers.local.maildir import HELD, LocalMailbox
from tests.test_cli import NOW, config, run, stamp

HELD_TIME = stamp("2026-11-30T06:00:00-05:00")


def put(folder: Path, sub: str, name: str, body: bytes) -> Path:
    for s in ("tmp", "new", "cur"):
        (folder / s).mkdir(parents=True, exist_ok=True)
    path = folder / sub / name
    path.write_bytes(body)
    return path


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file and directory under `root`, files with their bytes."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def messages(root: Path) -> Iterator[tuple[str, str, bytes]]:
    """(place, sub/name, bytes) of every message in the Maildir and its held folder."""
    for place, folder in (("inbox", root), ("held", root / HELD)):
        for sub in ("new", "cur"):
            if (folder / sub).is_dir():
                for p in sorted((folder / sub).iterdir()):
                    yield place, f"{sub}/{p.name}", p.read_bytes()


# -- release --maildir with a path that is not a Maildir


@pytest.mark.parametrize("what", ["missing", "empty", "file", "plain folder"])
@pytest.mark.parametrize("as_json", [False, True])
def test_release_refuses_a_path_that_is_not_a_maildir_and_creates_nothing(
    home: Path, capsys: pytest.CaptureFixture[str], what: str, as_json: bool
) -> None:
    path = home / "Mial"  # the user meant ~/Mail
    why = "no such directory"
    if what == "empty":
        path.mkdir()
        why = "no cur, new and tmp in it"
    elif what == "file":
        path.write_bytes(b"not a folder\n")
        why = "not a directory"
    elif what == "plain folder":
        path.mkdir()
        (path / "notes.txt").write_bytes(b"mine\n")
        why = "no cur, new and tmp in it"
    before = snapshot(home)
    code, out, err = run(capsys, "release", "--maildir", str(path), *(["--json"] * as_json))
    assert code == 2
    assert out == ""
    assert err == f"firstblock: release --maildir {path}: not a Maildir ({why})\n"
    assert snapshot(home) == before  # nothing created, at the path or anywhere


def test_release_of_a_maildir_with_nothing_held_creates_no_held_folder(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mail = home / "Mail"
    put(mail, "new", f"{HELD_TIME}.a.host", b"From: a@x.com\r\n\r\nhi\r\n")
    before = snapshot(home)
    code, out, err = run(capsys, "release", "--maildir", str(mail))
    assert (code, out, err) == (0, f"{mail}: 0 held message(s) returned to the inbox\n", "")
    assert snapshot(home) == before


# -- demo --dir pointed at a folder that is not its own sandbox


def real_maildir(root: Path) -> dict[str, bytes | None]:
    put(root, "new", f"{HELD_TIME}.M1P1.host", b"From: client@acme.com\r\n\r\nthe deal\r\n")
    put(root, "cur", f"{HELD_TIME}.M2P1.host:2,RS", b"From: boss@example.com\r\n\r\nok\r\n")
    put(root / HELD, "cur", f"{HELD_TIME}.M3P1.host:2,S", b"From: x@y.com\r\n\r\nheld\r\n")
    return snapshot(root)


@pytest.mark.parametrize("as_json", [False, True])
def test_demo_refuses_a_folder_holding_a_real_maildir_and_leaves_it_byte_identical(
    home: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    mail = home / "Mail"
    before = real_maildir(mail)
    code, out, err = run(capsys, "demo", "--dir", str(mail), "--now", NOW, *(["--json"] * as_json))
    assert code == 2
    assert out == ""
    assert err == (
        f"firstblock: demo --dir {mail}: not empty and not a demo sandbox;"
        " give a new or empty folder\n"
    )
    assert snapshot(mail) == before


def test_demo_refuses_a_parent_of_real_mail(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `demo --dir ~/firstblock` beside the Maildir: demo.ics and Mail/ would land in it.
    before = real_maildir(home / "firstblock" / "Mail")
    code, _, err = run(capsys, "demo", "--dir", str(home / "firstblock"), "--now", NOW)
    assert code == 2
    assert "not empty and not a demo sandbox" in err and err.count("\n") == 1
    assert snapshot(home / "firstblock" / "Mail") == before
    assert not (home / "firstblock" / "demo.ics").exists()


def test_demo_refuses_a_file(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = home / "notes.txt"
    path.write_bytes(b"mine\n")
    code, out, err = run(capsys, "demo", "--dir", str(path), "--now", NOW)
    assert (code, out) == (2, "")
    assert err == f"firstblock: demo --dir {path}: not a directory\n"
    assert path.read_bytes() == b"mine\n"


def test_demo_reuses_its_own_sandbox_and_an_empty_folder(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = home / "sandbox"
    sandbox.mkdir()  # empty: fine
    for _ in range(2):  # the second time it is a sandbox the demo made
        code, out, err = run(capsys, "demo", "--dir", str(sandbox), "--now", NOW)
        assert (code, err) == (0, "")
        assert "inbox hold: holding" in out
    assert (sandbox / ".firstblock-demo").is_file()


# -- demo --dir with a file it cannot read or write: one line, no traceback


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (
            "demo.ics",
            "account demo: {path}: cannot read the calendar: Is a directory; nothing was written",
        ),
        ("Mail/new", "{path}: cannot use the demo sandbox: File exists"),
        ("state", "{path}/state.sqlite3: cannot use the demo sandbox: Not a directory"),
    ],
)
def test_demo_with_a_sandbox_file_it_cannot_use_is_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], spoil: str, message: str
) -> None:
    """The failing run is a real process, nothing patched: stderr is what the user sees.
    Permissions do not bite root, so a directory stands where a file should be, or a
    file where a directory should be."""
    sandbox = home / "sandbox"
    assert run(capsys, "demo", "--dir", str(sandbox), "--now", NOW)[0] == 0
    path = sandbox / spoil
    if path.is_dir():
        shutil.rmtree(path)
        path.write_bytes(b"")
    else:
        path.unlink()
        path.mkdir()
    argv = [sys.executable, "-m", "worker", "demo", "--dir", str(sandbox), "--now", NOW]
    done = subprocess.run(argv, capture_output=True, env=dict(os.environ), check=False)
    assert (done.returncode, done.stdout) == (6, b"")
    assert done.stderr.decode() == "firstblock: " + message.format(path=path) + "\n"


def test_demo_with_an_unreadable_message_is_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root reads a mode-000 file anyway, so the open itself is made to fail, in-process."""
    sandbox = home / "sandbox"
    assert run(capsys, "demo", "--dir", str(sandbox), "--now", NOW)[0] == 0
    bad = put(sandbox / "Mail", "new", f"{HELD_TIME}.M9P9.host", b"From: a@x.com\r\n\r\nx\r\n")
    bad.chmod(0)
    real_open = Path.open

    def open_(self: Path, *args: object, **kwargs: object) -> object:
        if self == bad:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", open_)
    code, out, err = run(capsys, "demo", "--dir", str(sandbox), "--now", NOW)
    assert code == 6
    assert out == ""
    assert err == f"firstblock: account demo: {bad}: cannot read a message: Permission denied\n"
    monkeypatch.undo()
    bad.chmod(0o600)
    assert bad.read_bytes() == b"From: a@x.com\r\n\r\nx\r\n"  # left where it was


# -- a held message whose name is taken where it goes


def mail_config(home: Path) -> Path:
    return config(home, f'maildir = "{home / "Mail"}"\n')


def test_release_returns_a_held_message_whose_name_is_taken_under_a_new_name(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mail = home / "Mail"
    key = f"{HELD_TIME}.M1P1.host"
    held = put(mail / HELD, "cur", f"{key}:2,S", b"From: a@x.com\r\n\r\nheld copy\r\n")
    other = put(mail, "cur", f"{key}:2,RS", b"From: a@x.com\r\n\r\ninbox copy\r\n")
    plain = put(mail / HELD, "new", f"{HELD_TIME}.M2P1.host", b"From: b@x.com\r\n\r\nb\r\n")
    code, out, err = run(capsys, "release", "--maildir", str(mail), "--json")
    assert code == 0
    assert json.loads(out)["accounts"] == [{"account": str(mail), "returned": 2, "renamed": 1}]
    [new] = [p.name.split(":")[0] for p in (mail / "cur").iterdir() if p != other]
    assert new != key
    assert err == (
        f"firstblock: warning: {mail}: message {key} is now {new}:"
        " a message of that name was already in the inbox (both kept)\n"
    )
    assert sorted(messages(mail)) == sorted(
        [
            ("inbox", f"cur/{key}:2,RS", b"From: a@x.com\r\n\r\ninbox copy\r\n"),
            ("inbox", f"cur/{new}:2,S", b"From: a@x.com\r\n\r\nheld copy\r\n"),
            ("inbox", f"new/{plain.name}", b"From: b@x.com\r\n\r\nb\r\n"),
        ]
    )
    assert new.startswith(f"{HELD_TIME}.")  # still delivered when it was, for the next hold
    assert not held.exists() and other.exists()


def test_a_run_says_so_when_a_held_message_comes_back_under_a_new_name(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, mail = mail_config(home), home / "Mail"
    key = f"{HELD_TIME}.M1P1.host"
    put(mail, "new", key, b"From: a@x.com\r\n\r\nfirst\r\n")
    assert run(capsys, "run", "--config", str(path), "--now", "2026-11-30T09:00:00-05:00")[0] == 0
    assert (mail / HELD / "new" / key).exists()
    put(mail, "new", key, b"From: a@x.com\r\n\r\nsame name, other mail\r\n")  # a resync, say
    code, out, _ = run(capsys, "run", "--config", str(path), "--now", "2026-11-30T16:45:00-05:00")
    assert code == 0
    [line] = [x for x in out.splitlines() if x.startswith("inbox hold:")]
    assert line.endswith("moved 0 out, 1 back, 1 under a new name")
    [new] = [p.name for p in (mail / "new").glob(f"{HELD_TIME}.*") if p.name != key]
    assert f"warning: message {key} is now {new}: a message of that name was already there" in out
    bodies = sorted(body for _, _, body in messages(mail) if b"a@x.com" in body)
    assert bodies == [
        b"From: a@x.com\r\n\r\nfirst\r\n",
        b"From: a@x.com\r\n\r\nsame name, other mail\r\n",
    ]
    assert {place for place, _, _ in messages(mail)} == {"inbox"}


def test_holding_a_message_whose_name_is_taken_in_the_held_folder(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, mail = mail_config(home), home / "Mail"
    key = f"{HELD_TIME}.M1P1.host"
    put(mail / HELD, "new", key, b"From: a@x.com\r\n\r\nalready held\r\n")
    put(mail, "new", key, b"From: b@x.com\r\n\r\nnew mail\r\n")
    code, out, _ = run(
        capsys, "run", "--json", "--config", str(path), "--now", "2026-11-30T09:00:00-05:00"
    )
    assert code == 0
    hold = json.loads(out)["accounts"][0]["hold"]
    assert (hold["moved_out"], hold["held"], hold["renamed"]) == (1, 2, 1)
    assert sorted((place, body) for place, _, body in messages(mail)) == [
        ("held", b"From: a@x.com\r\n\r\nalready held\r\n"),
        ("held", b"From: b@x.com\r\n\r\nnew mail\r\n"),
    ]


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_around_the_move_under_a_new_name_leaves_each_message_in_one_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    mail = tmp_path / "Mail"
    key = f"{HELD_TIME}.M1P1.host"
    put(mail / HELD, "new", key, b"held\r\n")
    put(mail, "new", key, b"inbox\r\n")
    real_rename = os.rename

    def crash(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if when == "after":
            real_rename(src, dst)
        raise KeyboardInterrupt  # the process dies here

    monkeypatch.setattr(maildir_module.os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        LocalMailbox(mail).release_all()
    assert sorted(body for _, _, body in messages(mail)) == [b"held\r\n", b"inbox\r\n"]
    monkeypatch.setattr(maildir_module.os, "rename", real_rename)
    LocalMailbox(mail).release_all()
    assert sorted((p, b) for p, _, b in messages(mail)) == [
        ("inbox", b"held\r\n"),
        ("inbox", b"inbox\r\n"),
    ]


def test_serve_logs_a_message_moved_under_a_new_name(caplog: pytest.LogCaptureFixture) -> None:
    from datetime import UTC, datetime

    from worker import hold, runner, serve
    from worker.config import Account
    from worker.inbox import HoldOutcome
    from worker.schedule import Due

    renamed = (("1.a.host", "1.Rff.host"),)
    result = runner.AccountResult(
        Account("work", "local"), hold=HoldOutcome(hold.Phase.RELEASED, 0, 0, 1, None, renamed)
    )
    with caplog.at_level("INFO", logger="firstblock.serve"):
        serve.log_cycle(result, Due(datetime(2026, 11, 30, tzinfo=UTC), "reconcile"))
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning.getMessage() == (
        "account work: message 1.a.host is now 1.Rff.host:"
        " a message of that name was already there (both kept)"
    )
