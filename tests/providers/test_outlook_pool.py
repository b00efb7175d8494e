"""The Outlook accounts' shared HTTP session (providers/outlook/pool.py): connections
outlive a cycle, cookies are never kept, and Graph's requests (straight through
urllib3) take their proxy from the environment as requests would."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
import urllib3

from providers.outlook import pool


class Counting(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Graph
    connections = 0
    paths: ClassVar[list[str]] = []  # as asked: a proxy is asked for the whole URL

    def setup(self) -> None:
        type(self).connections += 1
        super().setup()

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
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
    Counting.connections, Counting.paths = 0, []
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


PROXY_VARIABLES = [n for n in pool.ENVIRONMENT if "proxy" in n.lower()]


def test_graph_requests_go_through_the_environments_proxy(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", url)  # the counting server stands in for the proxy
    answer = pool.transport().request(
        "GET", "http://graph.example.invalid/v1.0/me", body=None, headers={}, timeout=5
    )
    assert answer.status == 200 and answer.content == b"{}"
    assert Counting.paths == ["http://graph.example.invalid/v1.0/me"]


def test_no_proxy_is_honoured_and_a_change_is_seen_at_the_next_request(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    answer = pool.transport().request("GET", url + "me", body=None, headers={}, timeout=5)
    assert answer.status == 200 and Counting.paths == ["/me"]  # asked directly
    monkeypatch.delenv("no_proxy")
    with pytest.raises(urllib3.exceptions.HTTPError):  # now through the dead proxy
        pool.transport().request("GET", url + "me", body=None, headers={}, timeout=5)
    assert Counting.paths == ["/me"]
