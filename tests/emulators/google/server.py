"""The HTTP side: a threaded stdlib server on 127.0.0.1 that hands each request to the emulator."""

from __future__ import annotations

import contextlib
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from .wire import REASON_PHRASES, Drop, Request

if TYPE_CHECKING:
    from .emulator import GoogleEmulator


class Server(ThreadingHTTPServer):
    daemon_threads = True  # keep-alive connections must not block stop()

    def __init__(self, emulator: GoogleEmulator) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.emulator = emulator
        self.stopped = False  # set by stop(): kept-alive connections must not be served after it

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # resets from clients that gave up or were killed are not the emulator's business


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # httplib2 keeps connections alive
    timeout = 60  # idle keep-alive connections are closed after a minute
    server: Server

    def setup(self) -> None:
        super().setup()
        # Without this, Nagle's algorithm meets the client's delayed ACK: +40 ms per response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_request(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        method = self.command
        override = headers.get("x-http-method-override")
        if method == "POST" and override:
            # googleapiclient turns a GET whose URL exceeds 2048 characters into this form.
            method = override.upper()
            if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                for key, values in parse_qs(body.decode(), keep_blank_values=True).items():
                    query.setdefault(key, []).extend(values)
                body = b""
        if self.server.stopped:
            self.close_connection = True
            return
        if self.server.emulator.latency:  # the network and the service's own time
            time.sleep(self.server.emulator.latency)
        try:
            resp = self.server.emulator.serve(Request(method, url.path, query, headers, body))
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
        pass  # the emulator keeps its own log (GoogleEmulator.requests)
