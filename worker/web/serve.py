"""Run the app with uvicorn, on a loopback address only: without sign-in, anyone who
reaches it would see every account's week."""

from __future__ import annotations

import ipaddress
import logging

from worker.clock import Clock
from worker.errors import ConfigError, UsageError
from worker.web.app import Load, create

LOG = logging.getLogger("firstblock.web")


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(listen: str, load: Load, clock: Clock) -> int:
    import uvicorn

    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise UsageError(f"--listen: expected HOST:PORT, like 127.0.0.1:8421, got {listen!r}")
    if not loopback(host):
        raise ConfigError(
            f"web.listen: {host} is not a loopback address, and sign-in is not configured: "
            "without it the app serves only this machine (127.0.0.1 or ::1)"
        )
    print(f"firstblock web: http://{listen}/ (Ctrl-C stops it)", flush=True)
    uvicorn.run(create(load, clock), host=host, port=int(port), log_level="warning")
    return 0
