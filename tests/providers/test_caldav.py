"""The CalDAV calendar against a real Radicale (tests/servers/radicale.py), and a tiny
HTTP stub for the answers Radicale never gives (429, 503 with Retry-After)."""

from __future__ import annotations

import http.server
import json
import logging
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import icalendar
import pytest
import requests
import urllib3

from providers import retry
from providers.caldav import errors
from providers.caldav.calendar import CalDAVCalendar
from providers.errors import (
    AuthError,
    BadRequest,
    Conflict,
    DataError,
    NotFound,
    ProviderError,
    RateLimited,
    SyncStateExpired,
    TransientError,
)
from providers.local.calendar import LocalCalendar
from tests.contract.calendar import WINDOW, CalendarContract, at, block
from tests.servers.radicale import PASSWORD, USER, Radicale, running
from worker.clock import FixedClock
from worker.models import Change, Op, block_id

# -- the server and the user's own calendar app


@pytest.fixture(scope="module")
def server() -> Iterator[Radicale]:
    with running() as radicale:
        yield radicale


def new_collection(server: Radicale, extra: str = "") -> str:
    """A fresh calendar collection of the test user; its URL."""
    url = f"{server.url}{USER}/{uuid.uuid4().hex}/"
    body = None
    if extra:
        body = (
            '<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            f"{extra}</D:prop></D:set></C:mkcalendar>"
        )
    answer = requests.request("MKCALENDAR", url, auth=(USER, PASSWORD), data=body, timeout=10)
    assert answer.status_code == 201, answer.text
    return url


@dataclass
class AppOutside:
    """Changes the collection the way a calendar app does: GET, edit, PUT, over its
    own HTTP client, with no preconditions."""

    url: str
    http: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.http.auth = (USER, PASSWORD)

    def put(self, name: str, text: str | bytes) -> None:
        answer = self.http.put(
            self.url + name, data=text, headers={"Content-Type": "text/calendar"}, timeout=10
        )
        assert answer.status_code in (201, 204), answer.text

    def add_event(self, uid: str, title: str, start: datetime, end: datetime) -> None:
        cal = icalendar.Calendar()
        cal.add("VERSION", "2.0")
        cal.add("PRODID", "-//test//app//EN")
        ev = icalendar.Event()
        ev.add("UID", uid)
        ev.add("DTSTAMP", datetime(2026, 1, 1, tzinfo=UTC))
        ev.add("DTSTART", start)
        ev.add("DTEND", end)
        ev.add("SUMMARY", title)
        cal.add_component(ev)
        self.put(f"{uid}.ics", cal.to_ical())

    def _edit(self, key: str, change: Any) -> None:
        name = f"{block_id(key)}.ics"
        answer = self.http.get(self.url + name, timeout=10)
        assert answer.status_code == 200
        cal = icalendar.Calendar.from_ical(answer.content)
        change(cal.walk("VEVENT")[0])
        self.put(name, cal.to_ical())

    def move_block(self, key: str, start: datetime, end: datetime) -> None:
        def move(ev: icalendar.Event) -> None:
            del ev["DTSTART"], ev["DTEND"]
            ev.add("DTSTART", start)
            ev.add("DTEND", end)

        self._edit(key, move)

    def retitle_block(self, key: str, title: str) -> None:
        def retitle(ev: icalendar.Event) -> None:
            ev["SUMMARY"] = title

        self._edit(key, retitle)

    def delete_block(self, key: str) -> None:
        answer = self.http.delete(f"{self.url}{block_id(key)}.ics", timeout=10)
        assert answer.status_code in (200, 204)

    def names(self) -> list[str]:
        """The resources in the collection."""
        answer = self.http.request("PROPFIND", self.url, headers={"Depth": "1"}, timeout=10)
        return sorted(
            href.rsplit("/", 1)[1] for href in _hrefs(answer.content) if not href.endswith("/")
        )


def _hrefs(body: bytes) -> list[str]:
    return [h.text or "" for h in ET.fromstring(body).iter("{DAV:}href")]


@dataclass
class Sent:
    """What the provider sent: (method, url, headers) per request."""

    log: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def __call__(self, method: str, url: str, headers: Any) -> None:
        self.log.append((method, url, dict(headers)))

    def methods(self) -> list[str]:
        return [m for m, _, _ in self.log]


def provider(url: str, **kw: Any) -> CalDAVCalendar:
    return CalDAVCalendar(url, USER, kw.pop("password", PASSWORD), **kw)


class TestCalDAVCalendar(CalendarContract):
    @pytest.fixture
    def calendar(self, server: Radicale) -> CalDAVCalendar:
        return provider(new_collection(server))

    @pytest.fixture
    def outside(self, calendar: CalDAVCalendar) -> AppOutside:
        return AppOutside(calendar.client.url)


@pytest.fixture
def url(server: Radicale) -> str:
    return new_collection(server)


# -- requests: a steady cycle costs one


def test_a_steady_fetch_costs_one_request(url: str) -> None:
    sent = Sent()
    cal = provider(url, observe=sent)
    cal.apply([Change(Op.CREATE, block())])
    before = cal.requests
    assert len(cal.fetch(WINDOW).blocks) == 1
    assert cal.requests - before == 2  # PROPFIND (token, zone), then the time-range query
    assert sent.methods()[-2:] == ["PROPFIND", "REPORT"]
    assert cal.supports_incremental
    for _ in range(3):
        before = cal.requests
        assert len(cal.fetch(WINDOW).blocks) == 1
        assert cal.requests - before == 1  # sync-collection: nothing changed
    AppOutside(url).add_event("m1", "Acme call", at(14), at(15))
    before = cal.requests
    assert [e.title for e in cal.fetch(WINDOW).events] == ["Acme call"]
    assert cal.requests - before == 1


def test_the_memo_persists_as_json_and_saves_the_listing(url: str) -> None:
    AppOutside(url).add_event("m1", "Acme call", at(14), at(15))
    memo: dict[str, Any] = {}
    saved: list[int] = []
    provider(url, memo=memo, save=lambda: saved.append(1)).fetch(WINDOW)
    assert saved
    again = provider(url, memo=json.loads(json.dumps(memo)))
    assert [e.title for e in again.fetch(WINDOW).events] == ["Acme call"]
    assert again.requests == 1


def test_a_memo_of_another_collection_is_not_used(url: str, server: Radicale) -> None:
    memo: dict[str, Any] = {}
    provider(url, memo=memo).fetch(WINDOW)
    other = provider(new_collection(server), memo=memo)
    other.fetch(WINDOW)
    assert other.requests == 2


def test_a_rejected_sync_token_means_a_full_listing(url: str) -> None:
    memo: dict[str, Any] = {}
    provider(url, memo=memo).fetch(WINDOW)
    AppOutside(url).add_event("m1", "Acme call", at(14), at(15))
    memo["caldav"]["token"] = "http://radicale.org/ns/sync/" + "0" * 64
    cal = provider(url, memo=memo)
    assert [e.title for e in cal.fetch(WINDOW).events] == ["Acme call"]
    assert cal.requests == 3  # the refused sync, then PROPFIND and query
    assert memo["caldav"]["token"] != "http://radicale.org/ns/sync/" + "0" * 64


def test_a_window_beyond_the_listing_is_listed_again(url: str) -> None:
    cal = provider(url)
    cal.fetch(WINDOW)
    later = type(WINDOW)(
        WINDOW.start + timedelta(days=30), WINDOW.end + timedelta(days=30), WINDOW.zone
    )
    before = cal.requests
    cal.fetch(later)
    assert cal.requests - before == 2


def test_quiet_answers_from_the_memo_until_a_write(url: str) -> None:
    cal = provider(url)
    cal.fetch(WINDOW)
    cal.quiet = True
    before = cal.requests
    cal.fetch(WINDOW)
    assert cal.requests == before
    cal.apply([Change(Op.CREATE, block())])
    assert len(cal.fetch(WINDOW).blocks) == 1  # its own write is read, not assumed


# -- writes: preconditions


def test_writes_carry_their_preconditions(url: str) -> None:
    sent = Sent()
    cal = provider(url, observe=sent)
    [created] = cal.apply([Change(Op.CREATE, block())])
    method, where, headers = sent.log[-1]
    assert (method, headers.get("If-None-Match")) == ("PUT", "*")
    assert where == f"{url}{block_id(block().key)}.ics"
    [found] = cal.fetch(WINDOW).blocks
    assert found.etag == created.block.etag and found.etag.startswith('"')
    [moved] = cal.apply([Change(Op.UPDATE, block(start=11, end=12), before=found)])
    assert sent.log[-1][0] == "PUT" and sent.log[-1][2].get("If-Match") == found.etag
    assert "If-None-Match" not in sent.log[-1][2]
    cal.apply([Change(Op.DELETE, moved.block, before=moved.block)])
    assert sent.log[-1][0] == "DELETE" and sent.log[-1][2].get("If-Match") == moved.block.etag
    assert all("Authorization" not in h for _, _, h in sent.log)


def test_a_retried_create_leaves_one_copy(url: str) -> None:
    [first] = provider(url).apply([Change(Op.CREATE, block())])
    # Another run, its memory lost, creates it again (its first answer never came).
    [again] = provider(url).apply([Change(Op.CREATE, block())])
    assert again.block.etag == first.block.etag
    assert AppOutside(url).names() == [f"{block_id(block().key)}.ics"]


def test_a_create_over_an_older_untouched_copy_rewrites_it(url: str) -> None:
    provider(url).apply([Change(Op.CREATE, block())])
    cal = provider(url)
    [moved] = cal.apply([Change(Op.CREATE, block(start=11, end=12))])
    [found] = cal.fetch(WINDOW).blocks
    assert (found.start, found.end, found.touched) == (at(11), at(12), False)
    assert found.etag == moved.block.etag


def test_a_create_where_a_users_event_has_the_uid_writes_nothing(url: str) -> None:
    uid = block_id(block().key)
    AppOutside(url).add_event(uid, "Mine", at(9), at(10))
    cal = provider(url)
    assert cal.apply([Change(Op.CREATE, block())]) == []
    snap = cal.fetch(WINDOW)
    assert snap.blocks == ()
    assert [e.title for e in snap.events] == ["Mine"]


def test_a_delete_that_lost_the_race_to_the_user_conflicts(url: str) -> None:
    cal = provider(url)
    cal.apply([Change(Op.CREATE, block())])
    [stale] = cal.fetch(WINDOW).blocks
    AppOutside(url).retitle_block(block().key, "Mine now")
    with pytest.raises(Conflict):
        cal.apply([Change(Op.DELETE, stale, before=stale)])
    assert [b.title for b in cal.fetch(WINDOW).blocks] == ["Mine now"]


def test_a_block_without_an_etag_is_never_written_blind(url: str) -> None:
    cal = provider(url)
    cal.apply([Change(Op.CREATE, block())])
    [found] = cal.fetch(WINDOW).blocks
    blind = replace(found, etag="")
    with pytest.raises(Conflict):
        cal.apply([Change(Op.UPDATE, block(start=11, end=12), before=blind)])
    with pytest.raises(Conflict):
        cal.apply([Change(Op.DELETE, blind, before=blind)])
    assert cal.fetch(WINDOW).blocks == (found,)


# -- reading: the same as a local .ics file

SERIES = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//app//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:standup
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20261123T160000
DTEND;TZID=Europe/Berlin:20261123T163000
RRULE:FREQ=DAILY;COUNT=20
EXDATE;TZID=Europe/Berlin:20261202T160000
SUMMARY:Standup
END:VEVENT
BEGIN:VEVENT
UID:standup
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20261201T160000
DTSTART;TZID=Europe/Berlin:20261201T180000
DTEND;TZID=Europe/Berlin:20261201T190000
SUMMARY:Standup (late)
END:VEVENT
END:VCALENDAR
"""

BROKEN_ZONE = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//app//EN
BEGIN:VEVENT
UID:odd
DTSTAMP:20260101T000000Z
DTSTART;TZID=Nowhere/Land:20261201T100000
DTEND;TZID=Nowhere/Land:20261201T110000
SUMMARY:Somewhere
END:VEVENT
END:VCALENDAR
"""


def test_series_overrides_and_zones_read_as_from_a_local_file(url: str, tmp_path: Path) -> None:
    AppOutside(url).put("standup.ics", SERIES)
    AppOutside(url).put("odd.ics", BROKEN_ZONE)
    path = tmp_path / "calendar.ics"
    path.write_text(
        SERIES.replace("END:VCALENDAR\n", BROKEN_ZONE.split("PRODID:-//test//app//EN\n")[1])
    )
    local = LocalCalendar(path).fetch(WINDOW)
    snap = provider(url).fetch(WINDOW)
    assert snap.events == tuple(sorted(local.events, key=lambda e: (e.start, e.id)))
    titles = [e.title for e in snap.events]
    assert titles.count("Standup") == 3 and "Standup (late)" in titles  # 2 Dec: excluded
    [odd] = [e for e in snap.events if e.title == "Somewhere"]
    assert odd.problem  # read in part: placed, and marked
    assert any("Nowhere/Land" in p for p in snap.problems)


def test_an_unreadable_resource_is_reported_and_spoils_only_itself(url: str) -> None:
    AppOutside(url).add_event("m1", "Acme call", at(14), at(15))
    memo: dict[str, Any] = {}
    cal = provider(url, memo=memo)
    cal.fetch(WINDOW)
    # Radicale refuses such text on PUT; other servers keep what they are given.
    memo["caldav"]["items"]["/rep/x/broken.ics"] = ['"1"', "BEGIN:VCALENDAR\nnonsense\n"]
    cal.quiet = True
    snap = cal.fetch(WINDOW)
    assert [e.title for e in snap.events] == ["Acme call"]
    assert any("/rep/x/broken.ics" in p and "cannot read" in p for p in snap.problems)


# -- the calendar's zone


BERLIN = SERIES.split("BEGIN:VEVENT")[0] + "END:VCALENDAR\n"


def test_timezone_is_the_collections_own(server: Radicale) -> None:
    assert provider(new_collection(server)).timezone() is None
    prop = f"<C:calendar-timezone>{BERLIN.replace('<', '&lt;')}</C:calendar-timezone>"
    cal = provider(new_collection(server, prop))
    assert cal.timezone() == "Europe/Berlin"
    cal.fetch(WINDOW)
    assert cal.requests == 2  # the fetch used the PROPFIND timezone() made


# -- errors, against the real server


def test_a_wrong_password_is_an_auth_error_that_never_shows_it(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cal = provider(url, password="wrong-Secret-42")
    with pytest.raises(AuthError) as raised:
        cal.fetch(WINDOW)
    assert raised.value.status == 401
    shown = [str(raised.value), repr(raised.value), repr(cal), repr(cal.client), caplog.text]
    for secret in ("wrong-Secret-42", "d3JvbmctU2VjcmV0LTQy"):  # and its base64
        assert all(secret not in s for s in shown)


def test_a_collection_that_is_not_there_cannot_be_read(server: Radicale) -> None:
    with pytest.raises(DataError, match="no calendar collection"):
        provider(f"{server.url}{USER}/nothing-here/").fetch(WINDOW)


def test_a_url_with_credentials_is_refused_without_showing_them() -> None:
    with pytest.raises(BadRequest) as raised:
        CalDAVCalendar("http://rep:hunter2@127.0.0.1:1/rep/cal/", USER, PASSWORD)
    assert "hunter2" not in str(raised.value)


def test_a_stopped_server_is_transient() -> None:
    waits: list[float] = []
    with running() as radicale:
        cal = provider(new_collection(radicale), sleep=waits.append)
        cal.fetch(WINDOW)
        radicale.stop()
        before = cal.requests
        with pytest.raises(TransientError):
            cal.fetch(WINDOW)
    assert cal.requests - before == 4 and len(waits) == 3  # retried, then given up


# -- errors Radicale cannot be made to give, from a stub


class Stub(http.server.ThreadingHTTPServer):
    """Answers every request with `status` and `headers`; counts connections."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _StubHandler)
        self.status, self.headers, self.body = 207, {}, b""
        self.answers: list[bytes] = []  # 207 bodies to give first, one a request
        self.seen: list[tuple[str, bytes]] = []  # (method, body) of every request
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/rep/cal/"


class _StubHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, unlike Radicale's server
    server: Stub

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def _answer(self) -> None:
        self.server.seen.append(
            (self.command, self.rfile.read(int(self.headers.get("Content-Length", 0))))
        )
        status, body = self.server.status, self.server.body
        if self.server.answers:
            status, body = 207, self.server.answers.pop(0)
        self.send_response(status)
        for name, value in self.server.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PROPFIND = do_REPORT = do_PUT = do_GET = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "headers", "expected", "wait"),
    [
        (429, {"Retry-After": "7"}, RateLimited, 7.0),
        (429, {}, RateLimited, None),
        (
            503,
            {"Retry-After": format_datetime(NOW + timedelta(seconds=90), usegmt=True)},
            RateLimited,
            90.0,
        ),
        (503, {}, TransientError, None),
        (500, {}, TransientError, None),
        (502, {}, TransientError, None),
        (404, {}, NotFound, None),
        (400, {}, BadRequest, None),
        (415, {}, BadRequest, None),
        (403, {}, AuthError, None),
    ],
)
def test_statuses_become_our_errors(
    stub: Stub,
    status: int,
    headers: dict[str, str],
    expected: type[ProviderError],
    wait: float | None,
) -> None:
    stub.status, stub.headers = status, headers
    cal = CalDAVCalendar(stub.url, USER, PASSWORD, clock=FixedClock(NOW), attempts=1)
    with pytest.raises(expected) as raised:
        cal.client.send("PROPFIND", expect=(207,))
    assert type(raised.value) is expected
    assert raised.value.status == status
    if isinstance(raised.value, RateLimited):
        assert raised.value.retry_after == wait


def test_retries_wait_as_the_server_says(stub: Stub) -> None:
    stub.status, stub.headers = 503, {"Retry-After": "2"}
    waits: list[float] = []
    cal = CalDAVCalendar(stub.url, USER, PASSWORD, attempts=3, sleep=waits.append)
    with pytest.raises(RateLimited):
        cal.timezone()
    assert (cal.requests, waits) == (3, [2.0, 2.0])


def test_one_connection_serves_every_request(stub: Stub) -> None:
    stub.body = (
        b'<?xml version="1.0"?><multistatus xmlns="DAV:"><response><href>/rep/cal/</href>'
        b"<propstat><prop><sync-token>t1</sync-token><supported-report-set><supported-report>"
        b"<report><sync-collection/></report></supported-report></supported-report-set></prop>"
        b"<status>HTTP/1.1 200 OK</status></propstat></response><sync-token>t1</sync-token>"
        b"</multistatus>"
    )
    cal = CalDAVCalendar(stub.url, USER, PASSWORD, pool=urllib3.PoolManager())
    for _ in range(3):
        cal.fetch(WINDOW)
    assert cal.requests == 4  # PROPFIND, query, two syncs
    assert stub.connections == 1


def test_sync_token_and_dav_conditions_are_told_apart() -> None:
    expired = b'<?xml version="1.0"?><D:error xmlns:D="DAV:"><D:valid-sync-token/></D:error>'
    uid = (
        b'<error xmlns="DAV:"><C:no-uid-conflict xmlns:C="urn:ietf:params:xml:ns:caldav"/></error>'
    )

    def mapped(status: int, body: bytes) -> ProviderError:
        return errors.from_status(status, {}, body, where="x", now=NOW)

    assert type(mapped(403, expired)) is SyncStateExpired
    assert type(mapped(409, expired)) is SyncStateExpired
    assert type(mapped(403, b"")) is AuthError
    assert type(mapped(409, uid)) is Conflict and mapped(409, uid).reason == "no-uid-conflict"
    assert type(mapped(412, b"")) is Conflict
    assert retry.retry_after({"retry-after": "soon"}, NOW) is None
    assert retry.retry_after({"Retry-After": "Mon, 30 Nov 2026 11:00:00 GMT"}, NOW) == 0.0


def _multistatus(*responses: str, token: str = "") -> bytes:
    end = f"<sync-token>{token}</sync-token>" if token else ""
    return (
        '<?xml version="1.0"?><multistatus xmlns="DAV:" '
        f'xmlns:C="urn:ietf:params:xml:ns:caldav">{"".join(responses)}{end}</multistatus>'
    ).encode()


def _member(href: str, etag: str = "", text: str = "", status: int = 200) -> str:
    if status != 200:
        return f"<response><href>{href}</href><status>HTTP/1.1 {status} X</status></response>"
    data = f"<C:calendar-data>{text}</C:calendar-data>" if text else ""
    return (
        f"<response><href>{href}</href><propstat><prop><getetag>{etag}</getetag>{data}"
        "</prop><status>HTTP/1.1 200 OK</status></propstat></response>"
    )


def _event(uid: str, title: str) -> str:
    return (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VEVENT\n"
        f"UID:{uid}\nDTSTAMP:20260101T000000Z\nDTSTART:20261201T150000Z\n"
        f"DTEND:20261201T160000Z\nSUMMARY:{title}\nEND:VEVENT\nEND:VCALENDAR\n"
    )


def test_a_paged_sync_without_texts_is_followed_and_completed(stub: Stub) -> None:
    """A server may page its sync answer (507 on the collection: ask again with the
    new token) and leave the texts out (one multiget for them)."""
    stub.answers = [
        _multistatus(  # PROPFIND: a token, and no report set (taken at its word)
            "<response><href>/rep/cal/</href><propstat><prop><sync-token>t1</sync-token>"
            "</prop><status>HTTP/1.1 200 OK</status></propstat></response>"
        ),
        _multistatus(_member("/rep/cal/a.ics", '"a1"', _event("a", "Kept"))),  # the query
        _multistatus(
            _member("/rep/cal/b.ics", '"b1"'), _member("/rep/cal/", status=507), token="t2"
        ),
        _multistatus(_member("/rep/cal/a.ics", status=404), token="t3"),
        _multistatus(_member("/rep/cal/b.ics", '"b1"', _event("b", "New"))),  # the multiget
    ]
    cal = CalDAVCalendar(stub.url, USER, PASSWORD, attempts=1)
    assert [e.title for e in cal.fetch(WINDOW).events] == ["Kept"]
    assert [e.title for e in cal.fetch(WINDOW).events] == ["New"]
    bodies = [body for _, body in stub.seen]
    assert b"<D:sync-token>t1</D:sync-token>" in bodies[2]
    assert b"<D:sync-token>t2</D:sync-token>" in bodies[3]
    assert b"calendar-multiget" in bodies[4] and b"/rep/cal/b.ics" in bodies[4]
    assert cal.listing.state()["token"] == "t3"  # type: ignore[index]
