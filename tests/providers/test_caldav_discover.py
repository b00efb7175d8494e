"""From a server's address to the user's calendars, against a real Radicale: the
bootstrapping `firstblock connect caldav` does (RFC 6764, RFC 4791 §6.2)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from providers.caldav import discover
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
    assert discover.known("Dana@FastMail.com") == (
        "https://caldav.fastmail.com/",
        "imaps://imap.fastmail.com",
    )
    assert discover.known("rep@icloud.com") == (
        "https://caldav.icloud.com/",
        "imaps://imap.mail.me.com",
    )
    assert discover.known("rep@nextcloud.example") is None
