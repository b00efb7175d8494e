"""The operations endpoints of `serve` and a team worker, on a small listener of their
own (`[serve] metrics_listen`, FIRSTBLOCK_METRICS_LISTEN, `serve --metrics-listen`):

- `/healthz`: 200 while the process answers (a liveness probe);
- `/readyz`: 200 when the state store answers, 503 with one line when it does not
  (the same check as the web app's);
- `/metrics`: Prometheus' text format (worker/web/metrics.py).

A stdlib HTTP server on a daemon thread, a thread per request: a slow scrape never
holds up a probe, and none of them touches the cycles. It shows no account's name or
data, so it may listen beyond loopback (it must, for a cluster's probes).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from worker import config as cfg
from worker.errors import ConfigError, UsageError, WorkerError
from worker.state import State
from worker.text import excerpt

LOG = logging.getLogger("firstblock.operations")
Load = Callable[[], cfg.Config]


def ready(load: Load) -> str:
    """ "" when the state store answers, else why not. Never raises WorkerError."""
    try:
        state = State.read_only(load().state_location())
        try:
            state.accounts.stamp()
        finally:
            state.close()
    except WorkerError as exc:
        return str(exc)
    return ""


class Listener:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.host, self.port = str(server.server_address[0]), int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever, name="firstblock-operations", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start(listen: str, load: Load, what: str = "serve.metrics_listen") -> Listener:
    """Listen on `listen` (HOST:PORT; port 0 picks a free one) and serve the endpoints
    for the config `load` gives; `what` names the setting in messages. Raises
    ConfigError (UsageError for a flag) for a bad address or when `/metrics` cannot be
    served (no prometheus_client), WorkerError when the address cannot be taken."""
    try:
        from worker.web import metrics
    except ImportError:
        raise ConfigError(
            f"{what}: /metrics needs prometheus_client: pip install 'firstblock[web]'"
        ) from None
    host, port = split(listen, what)

    class Handler(BaseHTTPRequestHandler):
        server_version = "firstblock"
        sys_version = ""

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, b"ok\n")
            elif path == "/readyz":
                why = ready(load)
                if why:
                    self._send(503, f"not ready: {why}\n".encode())
                else:
                    self._send(200, b"ready\n")
            elif path == "/metrics":
                try:
                    config: cfg.Config | None = load()
                except WorkerError:
                    config = None  # the process's own counts still go out
                body, kind = metrics.scrape(config)
                self._send(200, body, kind)
            else:
                self._send(404, b"not found: /healthz, /readyz and /metrics are here\n")

        def _send(self, status: int, body: bytes, kind: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # a probe every few seconds is not worth a log line

    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class Server(ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

    try:
        server = Server((host, port), Handler)
    except OSError as exc:
        raise WorkerError(f"{what}: cannot listen on {listen}: {exc.strerror or exc}") from None
    listener = Listener(server)
    LOG.info("operations endpoints on %s (healthz, readyz, metrics)", listener.url)
    return listener


def split(listen: str, what: str = "serve.metrics_listen") -> tuple[str, int]:
    """HOST:PORT (IPv6 in brackets; port 0: any free one) as (host, port). Raises
    ConfigError, or UsageError when `what` is a flag."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        kind = UsageError if what.startswith("--") else ConfigError  # a flag, or the config
        raise kind(f"{what}: expected HOST:PORT, like 127.0.0.1:9421, got {excerpt(listen, 60)!r}")
    return host, int(port)
