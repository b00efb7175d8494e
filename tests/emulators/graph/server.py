"""The HTTPS side: a threaded stdlib server on 127.0.0.1 that hands each request to the emulator.

The TLS handshake runs in the connection's own thread (not in accept()), so a client that
stalls during the handshake cannot block other connections.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from .wire import REASON_PHRASES, Drop, Request

if TYPE_CHECKING:
    from .emulator import GraphEmulator


class Server(ThreadingHTTPServer):
    daemon_threads = True  # keep-alive connections must not block stop()

    def __init__(self, emulator: GraphEmulator, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.emulator = emulator
        self.context = context
        self.stopped = False  # set by stop(): kept-alive connections must not be served after it

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # handshake failures and resets from clients are not the emulator's business


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # requests keeps connections alive
    timeout = 60  # idle keep-alive connections are closed after a minute
    server: Server

    def setup(self) -> None:
        # Without this, Nagle's algorithm meets the client's delayed ACK: +40 ms per response.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request.settimeout(self.timeout)
        self.request = self.server.context.wrap_socket(self.request, server_side=True)
        super().setup()

    def handle_request(self) -> None:
        arrived = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        headers: dict[str, str] = {}
        for name in {k.lower() for k in self.headers}:
            # Repeated headers (two Prefer lines, say) mean the same as one comma-joined line.
            headers[name] = ", ".join(self.headers.get_all(name) or [])
        if self.server.stopped:
            self.close_connection = True
            return
        if self.server.emulator.latency:  # the network and the service's own time
            time.sleep(self.server.emulator.latency)
        request = Request(self.command, unquote(url.path), query, headers, body, arrived=arrived)
        try:
            resp = self.server.emulator.serve(request)
        except Drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(resp.status, REASON_PHRASES.get(resp.status))
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        try:
            self.end_headers()
            self.wfile.write(resp.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (a "slow" answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_request

    def log_message(self, format: str, *args: object) -> None:
        pass  # the emulator keeps its own log (GraphEmulator.requests)
