"""The mail contract against the memory and local Maildir mailboxes."""

from __future__ import annotations

import email
import email.policy
import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from providers.local.maildir import LocalMailbox
from providers.memory import MemoryMailbox
from tests.contract.mail import T0, MailContract
from worker.models import Message


@dataclass
class MemoryOutside:
    mailbox: MemoryMailbox
    count: int = 0

    def arrive(self, sender: str, received: datetime, *, read: bool = False) -> str:
        self.count += 1
        key = f"m{self.count}"
        self.mailbox.arrive(
            Message(key, sender.lower(), received), frozenset({"S"} if read else ())
        )
        return key

    def flags(self, message_id: str) -> frozenset[str]:
        return self.mailbox.flags[message_id]

    def content(self, message_id: str) -> bytes:
        m = self.mailbox.messages[message_id]
        return repr((m.id, m.sender, m.received, m.alert)).encode()

    def drafts(self) -> list[tuple[tuple[str, ...], str]]:
        return sorted((tuple(sorted(d.to)), d.subject) for d in self.mailbox.drafts.values())

    def sent(self) -> int:
        return 0  # a memory mailbox has no way to send


class TestMemoryMailbox(MailContract):
    @pytest.fixture
    def mailbox(self) -> MemoryMailbox:
        return MemoryMailbox()

    @pytest.fixture
    def outside(self, mailbox: MemoryMailbox) -> MemoryOutside:
        return MemoryOutside(mailbox)


@dataclass
class MaildirOutside:
    """Delivers like an MDA (tmp, then new/ or cur/ with flags) and finds files anywhere."""

    root: Path
    names: dict[str, str] = field(default_factory=dict)

    def arrive(self, sender: str, received: datetime, *, read: bool = False) -> str:
        key = f"{int(received.timestamp())}.M{len(self.names)}P1.test"
        body = (
            f"From: {sender}\r\nTo: me@example.com\r\nSubject: hello {len(self.names)}\r\n\r\n"
            "body that must never change\r\n"
        ).encode()
        for sub in ("tmp", "new", "cur"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        tmp = self.root / "tmp" / key
        tmp.write_bytes(body)
        target = self.root / "cur" / f"{key}:2,S" if read else self.root / "new" / key
        os.rename(tmp, target)
        self.names[key] = target.name
        return key

    def _find(self, key: str) -> Path:
        [path] = [p for p in self.root.rglob(f"{key}*") if p.parent.name in ("new", "cur")]
        return path

    def flags(self, message_id: str) -> frozenset[str]:
        path = self._find(message_id)
        flags = path.name.partition(":2,")[2]
        return frozenset(flags) | {path.parent.name}

    def content(self, message_id: str) -> bytes:
        return self._find(message_id).read_bytes()

    def drafts(self) -> list[tuple[tuple[str, ...], str]]:
        out = []
        for path in (self.root / ".Drafts" / "cur").glob("*:2,*D*"):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            to = tuple(sorted(a.strip() for a in str(msg["To"]).split(",")))
            out.append((to, str(msg["Subject"])))
        return sorted(out)

    def sent(self) -> int:
        return 0  # a Maildir has no way to send


class TestLocalMailbox(MailContract):
    @pytest.fixture
    def mailbox(self, tmp_path: Path) -> LocalMailbox:
        return LocalMailbox(tmp_path / "Mail")

    @pytest.fixture
    def outside(self, mailbox: LocalMailbox) -> MaildirOutside:
        return MaildirOutside(mailbox.root)


def test_held_mail_is_a_visible_maildir_folder(tmp_path: Path) -> None:
    box = LocalMailbox(tmp_path / "Mail")
    key = MaildirOutside(box.root).arrive("a@x.com", T0)
    box.hold([key])
    assert (box.root / ".Firstblock-Held" / "maildirfolder").exists()
    assert (box.root / ".Firstblock-Held" / "new" / key).exists()


def test_a_message_whose_name_is_taken_in_the_inbox_comes_back_under_a_new_one(
    tmp_path: Path,
) -> None:
    # The same name in both places (a copy made by another tool): neither is overwritten,
    # and the held one still comes back, under a fresh name that keeps its delivery time.
    box = LocalMailbox(tmp_path / "Mail")
    key = MaildirOutside(box.root).arrive("a@x.com", T0)
    box.hold([key])
    held = box.root / ".Firstblock-Held" / "new" / key
    (box.root / "new" / key).write_bytes(b"the other copy")
    body = held.read_bytes()
    assert box.release([key]) == 1
    [(old, new)] = box.take_renamed()
    assert old == key and new.split(".")[0] == key.split(".")[0] and new != key
    assert (box.root / "new" / key).read_bytes() == b"the other copy"
    assert (box.root / "new" / new).read_bytes() == body
    assert not held.exists() and box.take_renamed() == []
    assert box.release([key]) == 0  # nothing left to return


def test_alert_file_name_is_derived_from_its_key(tmp_path: Path) -> None:
    from worker.models import Alert

    box = LocalMailbox(tmp_path / "Mail")
    box.deliver(Alert("k1", "subject", "text", T0))
    [path] = list((box.root / "new").iterdir())
    assert path.name.endswith(hashlib.sha256(b"k1").hexdigest()[:24])
    assert b"X-Firstblock-Alert: k1" in path.read_bytes()
