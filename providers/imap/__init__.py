"""A mailbox on an IMAP server (Dovecot, Cyrus, Fastmail, …), with the hold rule as a
Sieve script over ManageSieve. Needs the `imapclient` library.

Importing this package loads nothing (the registry and the CLI import `plugin`
without the extra installed): `mailbox` holds the provider."""
