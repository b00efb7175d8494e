"""The mail contract: every mailbox provider passes this suite.

A provider's test module subclasses `MailContract` and supplies:

- `mailbox`: a fresh, empty provider;
- `outside`: a `MailOutside` that delivers mail and reads flags behind its back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest

from providers.base import MailProvider
from worker.models import Alert, Draft

T0 = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


class MailOutside(Protocol):
    def arrive(self, sender: str, received: datetime, *, read: bool = False) -> str:
        """Deliver a message; return its id as the provider will report it."""
        ...

    def flags(self, message_id: str) -> frozenset[str]:
        """The message's read/flagged state, wherever it is."""
        ...

    def content(self, message_id: str) -> bytes:
        """The message's bytes (or a stand-in that changes when the message changes)."""
        ...

    def drafts(self) -> list[tuple[tuple[str, ...], str]]:
        """The drafts in the mailbox: (recipients sorted, subject)."""
        ...

    def sent(self) -> int:
        """How many messages were sent from the mailbox (by any means)."""
        ...


class MailContract:
    @pytest.fixture
    def mailbox(self) -> MailProvider:
        raise NotImplementedError

    @pytest.fixture
    def outside(self, mailbox: MailProvider) -> MailOutside:
        raise NotImplementedError

    def test_empty_mailbox(self, mailbox: MailProvider) -> None:
        assert mailbox.list_inbox(None) == []
        assert mailbox.list_held() == []
        assert mailbox.count_held() == 0

    def test_inbox_lists_senders_and_times(
        self, mailbox: MailProvider, outside: MailOutside
    ) -> None:
        a = outside.arrive("Jane@Acme.com", T0)
        [m] = mailbox.list_inbox(None)
        assert (m.id, m.sender, m.received, m.held, m.alert) == (
            a,
            "jane@acme.com",
            T0,
            False,
            False,
        )

    def test_since_filters_older_mail(self, mailbox: MailProvider, outside: MailOutside) -> None:
        outside.arrive("old@x.com", T0 - timedelta(hours=2))
        new = outside.arrive("new@x.com", T0)
        assert [m.id for m in mailbox.list_inbox(T0 - timedelta(minutes=1))] == [new]

    def test_hold_and_release_move_and_keep_everything(
        self, mailbox: MailProvider, outside: MailOutside
    ) -> None:
        a = outside.arrive("a@x.com", T0, read=True)
        b = outside.arrive("b@x.com", T0 + timedelta(minutes=1))
        before = {
            a: (outside.flags(a), outside.content(a)),
            b: (outside.flags(b), outside.content(b)),
        }
        assert mailbox.hold([a, b]) == 2
        assert mailbox.list_inbox(None) == []
        assert sorted(m.id for m in mailbox.list_held()) == sorted([a, b])
        assert all(m.held for m in mailbox.list_held())
        assert mailbox.count_held() == 2
        assert mailbox.release([a]) == 1
        assert [m.id for m in mailbox.list_inbox(None)] == [a]
        assert mailbox.release_all() == 1
        assert sorted(m.id for m in mailbox.list_inbox(None)) == sorted([a, b])
        assert mailbox.list_held() == []
        after = {i: (outside.flags(i), outside.content(i)) for i in (a, b)}
        assert after == before

    def test_repeats_are_harmless(self, mailbox: MailProvider, outside: MailOutside) -> None:
        a = outside.arrive("a@x.com", T0)
        assert mailbox.hold([a]) == 1
        assert mailbox.hold([a]) == 0
        assert mailbox.release([a]) == 1
        assert mailbox.release([a]) == 0
        assert mailbox.hold(["no-such-message"]) == 0
        assert mailbox.release(["no-such-message"]) == 0
        assert [m.id for m in mailbox.list_inbox(None)] == [a]

    def test_moves_keep_ids_when_nothing_clashes(
        self, mailbox: MailProvider, outside: MailOutside
    ) -> None:
        a = outside.arrive("a@x.com", T0)
        b = outside.arrive("b@x.com", T0)
        assert mailbox.hold([a, b]) == 2
        assert mailbox.release([a]) == 1
        assert mailbox.release_all() == 1
        assert mailbox.take_renamed() == []
        assert sorted(m.id for m in mailbox.list_inbox(None)) == sorted([a, b])

    def test_alerts_land_in_the_inbox_once(self, mailbox: MailProvider) -> None:
        alert = Alert("gap:acme:1", "Book the next meeting with Acme", "text", T0)
        mailbox.deliver(alert)
        mailbox.deliver(alert)
        inbox = mailbox.list_inbox(None)
        assert len(inbox) == 1
        assert inbox[0].alert
        assert not inbox[0].held

    def test_a_draft_is_saved_once_and_never_sent(
        self, mailbox: MailProvider, outside: MailOutside
    ) -> None:
        if not mailbox.supports_drafts:
            pytest.skip("keeps no drafts")
        draft = Draft(
            "draft:rep:m1",
            ("jane@acme.com", "bob@acme.com"),
            "Our next meeting: QBR",
            "Hello,\n\n  - Thu 03 Dec, 15:00-16:00 London time\n",
            T0,
        )
        mailbox.save_draft(draft)
        mailbox.save_draft(draft)  # a repeated run: still one
        assert outside.drafts() == [(("bob@acme.com", "jane@acme.com"), "Our next meeting: QBR")]
        assert outside.sent() == 0
        assert mailbox.list_inbox(None) == [] and mailbox.list_held() == []
