"""One IMAP session, reused across calls, with every command counted and every failure
translated in `errors.py`.

imapclient is untyped; only this module and `mailbox.py` touch it, through `call`,
which returns what imapclient returns (`Any`) for the caller to read at once.
"""

from __future__ import annotations

import contextlib
import ipaddress
import ssl as ssl_lib
from collections.abc import Callable
from typing import Any, Literal

import imapclient

from providers.errors import BadRequest, ProviderError
from providers.imap import errors

Security = Literal["tls", "starttls", "none"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Connection:
    """Connects on first use; `call` runs one command, `close` drops the session.
    `commands` counts every command sent (LOGIN and CAPABILITY included)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl: Security,
        user: str,
        password: str,
        timeout: float,
        where: str,
        ssl_context: ssl_lib.SSLContext | None = None,
    ) -> None:
        if ssl == "none" and not is_loopback(host):
            # The password would cross the network in clear.
            raise BadRequest(f"plain IMAP is only allowed on loopback, not {host}", where=where)
        self.host, self.port, self.ssl = host, port, ssl
        self.user = user
        self.__password = password  # never in repr, logs or errors
        self.timeout = timeout
        self.where = where
        self.ssl_context = ssl_context
        self.commands = 0
        self._client: Any = None
        self._capabilities: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return f"Connection({self.user}@{self.host}:{self.port}, ssl={self.ssl})"

    @property
    def open(self) -> bool:
        return self._client is not None

    def has(self, capability: str) -> bool:
        self.client()
        return capability.upper() in self._capabilities

    def client(self) -> Any:
        """The logged-in imapclient, connecting (and logging in) when there is none."""
        if self._client is None:
            self._connect()
        return self._client

    def _connect(self) -> None:
        context = self.ssl_context or ssl_lib.create_default_context()
        client: Any = None
        try:
            self.commands += 1  # the greeting; counted like a command
            client = imapclient.IMAPClient(
                self.host,
                self.port,
                ssl=self.ssl == "tls",
                ssl_context=context if self.ssl == "tls" else None,
                timeout=self.timeout,
            )
            client.normalise_times = False  # aware datetimes, as the server sent them
            if self.ssl == "starttls":
                self.commands += 1
                client.starttls(context)
            self.commands += 1
            client.login(self.user, self.__password)
            self.commands += 1
            caps = client.capabilities()
        except Exception as exc:
            if client is not None:
                _drop(client)
            raise errors.translate(exc, where=self.where) from None
        self._client = client
        self._capabilities = frozenset(
            (c.decode() if isinstance(c, bytes) else str(c)).upper() for c in caps
        )

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run one imapclient method (one IMAP command); failures become our errors,
        and a lost session is dropped so the next call connects again."""
        client = self.client()
        method: Callable[..., Any] = getattr(client, name)
        self.commands += 1
        try:
            answer = method(*args, **kwargs)
        except Exception as exc:
            error = errors.translate(exc, where=self.where)
            if errors.connection_lost(error):
                self.close()
            raise error from exc
        return answer

    def untagged(self, kind: str) -> list[bytes]:
        """Untagged responses of `kind` the last command left behind (COPYUID of a MOVE)."""
        if self._client is None:
            return []
        found: list[bytes] = self._client._imap.untagged_responses.pop(kind, [])
        return [f for f in found if isinstance(f, bytes)]

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _drop(client)

    def logout(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except (ProviderError, OSError, imapclient.exceptions.IMAPClientError):
            _drop(client)


def _drop(client: Any) -> None:
    with contextlib.suppress(OSError):  # already gone: nothing to tidy
        client.shutdown()
