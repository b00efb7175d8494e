"""Message ids that survive a move between folders.

A UID names a message only in one folder: a move gives it a new one. Dovecot 2.3
offers no RFC 8474 OBJECTID, nor do most servers, so the id is derived from what a
COPY or MOVE keeps (RFC 3501 §6.4.7, RFC 6851): the Message-ID header, the
INTERNALDATE and the size. It is used even where EMAILID is offered: one scheme for
every server keeps ids the same when a server gains OBJECTID, and ids are kept in
the worker's state. Without a Message-ID, the From, Date and
Subject headers stand in for it. The same message delivered twice (a list and a
direct copy) differs in arrival time or size, so it gets two ids; a byte-identical
copy arriving in the same second shares one, and is moved with it.

Finding an id again is a search at call time: `HEADER Message-ID` narrows the folder
to a few UIDs, whose headers then give their ids. Ids cannot clash with a message of
another id, so `take_renamed` has nothing to report.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ALERT_HEADER = "X-Firstblock-Alert"
DRAFT_HEADER = "X-Firstblock-Draft"
FIELDS = ("FROM", "MESSAGE-ID", "DATE", "SUBJECT", ALERT_HEADER.upper())
# Asked for with BODY.PEEK, so reading never sets \Seen; only these headers come back.
HEADER_ITEM = "BODY.PEEK[HEADER.FIELDS ({})]".format(" ".join(FIELDS))
FETCH_ITEMS = ("INTERNALDATE", "RFC822.SIZE", HEADER_ITEM)


@dataclass(frozen=True)
class Entry:
    """What the worker needs of one message, read once per UID (it never changes)."""

    id: str
    sender: str
    received: datetime
    alert: bool
    message_id: str  # the raw Message-ID, to search for; "" when there is none


def _header_block(data: dict[bytes, Any]) -> bytes:
    for key, value in data.items():
        if isinstance(key, bytes) and key.startswith(b"BODY[HEADER") and isinstance(value, bytes):
            return value
    return b""


def searchable(message_id: str) -> bool:
    """Whether a Message-ID can go into a SEARCH as a quoted string."""
    return 0 < len(message_id) <= 500 and message_id.isascii() and message_id.isprintable()


def entry_of(data: dict[bytes, Any]) -> Entry | None:
    """The entry of one FETCH answer, or None when it lacks what an id needs."""
    arrived = data.get(b"INTERNALDATE")
    size = data.get(b"RFC822.SIZE")
    if not isinstance(arrived, datetime) or not isinstance(size, int):
        return None
    if arrived.tzinfo is None:
        arrived = arrived.replace(tzinfo=UTC)  # INTERNALDATE always has a zone; guard only
    received = arrived.astimezone(UTC)
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
        _header_block(data)
    )
    message_id = " ".join(str(headers.get("Message-ID", "")).split())
    if message_id:
        basis = f"m\0{message_id}"
    else:
        basis = "h\0" + "\0".join(str(headers.get(h, "")) for h in ("From", "Date", "Subject"))
    digest = hashlib.sha256(f"{basis}\0{int(received.timestamp())}\0{size}".encode())
    return Entry(
        id="imap-" + digest.hexdigest()[:32],
        sender=email.utils.parseaddr(str(headers.get("From", "")))[1].lower(),
        received=received,
        alert=headers.get(ALERT_HEADER) is not None,
        message_id=message_id,
    )
