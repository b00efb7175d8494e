"""Every HTTP request a provider's session sends, reported once it is answered: the
provider and the answer's status, or "error" when no answer came (a timeout, a
refused connection). A retried call reports each attempt; a batch is one request.

Nothing listens by default; the worker installs one listener for the process
(worker/telemetry.py), which counts them for `/metrics`. This module imports
nothing, so providers never reach into the worker.
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[str, str], None]

_listener: Listener | None = None


def install(listener: Listener | None) -> None:
    global _listener
    _listener = listener


def answered(provider: str, status: int | None) -> None:
    """One request of `provider` came back with HTTP `status` (None: no answer)."""
    listener = _listener
    if listener is not None:
        listener(provider, str(status) if status else "error")
