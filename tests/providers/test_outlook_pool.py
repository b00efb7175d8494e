"""The Outlook accounts' shared HTTP session (providers/outlook/pool.py): connections
outlive a cycle, cookies are never kept."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from providers.outlook import pool


class Counting(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Graph
    connections = 0

    def setup(self) -> None:
        type(self).connections += 1
        super().setup()

    def do_GET(self) -> None:
        body = b"{}"
        self.send_response(200)
        self.send_header("Set-Cookie", "fpc=secret-ish; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    Counting.connections = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_accounts_share_connections_and_no_cookie_is_kept(url: str) -> None:
    assert pool.shared() is pool.shared()
    for _ in range(5):  # five cycles, one connection
        answer = pool.shared().get(url, timeout=5)
        assert answer.status_code == 200 and "Cookie" not in answer.request.headers
    assert Counting.connections == 1
    assert len(pool.shared().cookies) == 0
