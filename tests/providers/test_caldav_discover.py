"""From a server's address to the user's calendars, against a real Radicale: the
bootstrapping `firstblock connect caldav` does (RFC 6764, RFC 4791 §6.2)."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest
import requests

from providers.caldav import discover, services
from providers.errors import AuthError, BadRequest, NotFound
from tests.servers.radicale import PASSWORD, USER, Radicale, running


@pytest.fixture(scope="module")
def server() -> Iterator[Radicale]:
    with running() as radicale:
        yield radicale


def make(server: Radicale, name: str, component: str = "VEVENT") -> str:
    url = f"{server.url}{USER}/{uuid.uuid4().hex}/"
    body = (
        '<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
        f"<D:displayname>{name}</D:displayname><C:supported-calendar-component-set>"
        f'<C:comp name="{component}"/></C:supported-calendar-component-set>'
        "</D:prop></D:set></C:mkcalendar>"
    )
    answer = requests.request("MKCALENDAR", url, auth=(USER, PASSWORD), data=body, timeout=10)
    assert answer.status_code == 201, answer.text
    return url


def test_a_server_root_leads_to_the_users_event_calendars_only(server: Radicale) -> None:
    work = make(server, "Work")
    make(server, "Chores", "VTODO")  # tasks only: no place for blocks
    personal = make(server, "Personal")
    for start in (server.url, f"{server.url}{USER}/"):
        found = discover.calendars(start, USER, PASSWORD)
        assert [(f.name, f.url) for f in found if f.url in (work, personal)] == [
            ("Personal", personal),
            ("Work", work),
        ]
        assert all(f.name != "Chores" for f in found)


def test_a_calendars_own_address_is_taken_as_it_is(server: Radicale) -> None:
    work = make(server, "Sales")
    assert discover.calendars(work, USER, PASSWORD) == [discover.Found(work, "Sales")]


def test_a_task_list_is_no_place_for_blocks(server: Radicale) -> None:
    tasks = make(server, "Tasks only", "VTODO")
    with pytest.raises(BadRequest, match="holds no events"):
        discover.calendars(tasks, USER, PASSWORD)


def test_a_wrong_password_is_an_auth_error_that_does_not_show_it(server: Radicale) -> None:
    with pytest.raises(AuthError) as caught:
        discover.calendars(server.url, USER, "not-the-password")
    assert "not-the-password" not in str(caught.value)


def test_a_server_without_calendars_says_so() -> None:
    with running() as empty, pytest.raises(NotFound, match="no event calendars"):
        # Radicale makes the user's home on first sight; it holds nothing yet.
        discover.calendars(empty.url, USER, PASSWORD)


def test_choose_takes_the_named_one_or_the_only_one() -> None:
    a, b = discover.Found("https://x/a/", "Work"), discover.Found("https://x/b/", "Home")
    assert discover.choose([a], "") == a
    assert discover.choose([a, b], "Home") == b
    assert discover.choose([a, b], "https://x/a") == a
    with pytest.raises(BadRequest, match="'Work', 'Home'"):
        discover.choose([a, b], "")
    with pytest.raises(BadRequest, match="no calendar 'Gym'"):
        discover.choose([a, b], "Gym")


def test_known_services_by_the_addresss_domain() -> None:
    assert services.known("Dana@FastMail.com") == (
        "https://caldav.fastmail.com/",
        "imaps://imap.fastmail.com",
    )
    assert services.known("rep@icloud.com") == (
        "https://caldav.icloud.com/",
        "imaps://imap.mail.me.com",
    )
    assert services.known("rep@nextcloud.example") is None


# -- DNS: RFC 6764 and RFC 6186 service records, from a DNS server on loopback


class StubDNS:
    """Answers (name, type) from a table over UDP on loopback; NXDOMAIN otherwise."""

    def __init__(self, records: dict[tuple[str, str], list[str]]) -> None:
        self.records = records
        self.asked: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(wire)
            answer = dns.message.make_response(query)
            for q in query.question:
                name, kind = q.name.to_text().rstrip("."), dns.rdatatype.to_text(q.rdtype)
                self.asked.append((name, kind))
                found = self.records.get((name, kind))
                if found:
                    answer.answer.append(dns.rrset.from_text(q.name, 60, "IN", kind, *found))
                else:
                    answer.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(answer.to_wire(), peer)

    def resolver(self) -> dns.resolver.Resolver:
        found = dns.resolver.Resolver(configure=False)
        found.nameservers, found.port, found.lifetime = ["127.0.0.1"], self.port, 3.0
        return found

    def close(self) -> None:
        self.sock.close()


def test_service_records_name_the_servers_and_the_path() -> None:
    stub = StubDNS(
        {
            ("_caldavs._tcp.corp.example", "SRV"): ["10 5 8443 dav.corp.example.", "20 5 443 b."],
            ("_caldavs._tcp.corp.example", "TXT"): ['"path=/remote.php/dav"'],
            ("_imaps._tcp.corp.example", "SRV"): ["0 1 993 mail.corp.example."],
        }
    )
    try:
        found = services.services("rep@corp.example", stub.resolver())
    finally:
        stub.close()
    assert found == ("https://dav.corp.example:8443/remote.php/dav", "imaps://mail.corp.example")


def test_starttls_imap_a_refused_service_and_only_what_is_asked() -> None:
    stub = StubDNS(
        {
            ("_caldavs._tcp.small.example", "SRV"): ["0 0 0 ."],  # "not offered here"
            ("_imap._tcp.small.example", "SRV"): ["0 1 1143 imap.small.example."],
        }
    )
    try:
        assert services.services("a@small.example", stub.resolver()) == (
            "",
            "imap://imap.small.example:1143",
        )
        stub.asked.clear()
        assert services.services("a@small.example", stub.resolver(), mail=False) == ("", "")
        assert [kind for _, kind in stub.asked] == ["SRV"]  # no mail records asked for
    finally:
        stub.close()


def test_a_known_service_needs_no_dns() -> None:
    class NoDNS:
        def resolve(self, *_: object) -> object:
            raise AssertionError("asked DNS for a known service")

    assert services.services("dana@fastmail.com", NoDNS())[1] == "imaps://imap.fastmail.com"
