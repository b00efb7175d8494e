"""A mailbox on an IMAP server (Dovecot, Cyrus, Fastmail, …), with the hold rule as a
Sieve script over ManageSieve. Needs the `imapclient` library."""

from __future__ import annotations

from providers.imap.mailbox import ImapMailbox

__all__ = ["ImapMailbox"]
