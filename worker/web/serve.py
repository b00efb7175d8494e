"""Run the app with uvicorn. Without sign-in only on a loopback address: anyone who
reached it would see every account's week."""

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
    app = create(load, clock)  # raises ConfigError for sign-in without its key
    if not loopback(host) and not load().web.signs_in:
        raise ConfigError(
            f"web.listen: {host} is not a loopback address, and sign-in is not configured: "
            "without it the app serves only this machine (127.0.0.1 or ::1)"
        )
    print(f"firstblock web: http://{listen}/ (Ctrl-C stops it)", flush=True)
    # Behind a TLS proxy: its X-Forwarded-* say the scheme; only from the addresses
    # FORWARDED_ALLOW_IPS names (uvicorn's default: this machine).
    uvicorn.run(app, host=host, port=int(port), log_level="warning", proxy_headers=True)
    return 0
