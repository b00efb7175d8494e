"""From what a person knows (their address, or a server's address) to their calendar
collections, as `firstblock connect caldav` needs it.

RFC 6764's bootstrapping: where the server is comes from the user or from
`services.py`; the URL is then asked what it is. A calendar collection is taken as
it is; a principal names its calendar home; anything else (a server root,
a context path) names the user's principal (`current-user-principal`), trying
/.well-known/caldav when it does not. The home's calendars that hold events are the
choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3

from providers.caldav import webdav
from providers.caldav.transport import Client
from providers.errors import BadRequest, DataError, NotFound
from worker.clock import Clock, SystemClock

_ASK = webdav.ask(
    "<D:resourcetype/><D:displayname/><D:current-user-principal/>"
    "<C:calendar-home-set/><C:supported-calendar-component-set/>"
)
_HOPS = 5  # redirects and principal hops; a loop ends here


@dataclass(frozen=True)
class Found:
    url: str
    name: str  # its display name, or the last part of its path


def calendars(
    url: str,
    user: str,
    password: str,
    *,
    clock: Clock | None = None,
    pool: urllib3.PoolManager | None = None,
) -> list[Found]:
    """The event calendars `user` has at `url`, by name. Raises AuthError (wrong user
    or password), NotFound (no calendars found there), TransientError, BadRequest."""
    client = Client(url, user, password, clock=clock or SystemClock(), pool=pool, attempts=2)
    here = client.url
    for _ in range(_HOPS):
        found = _ask(client, here, depth="0")
        if found is None:  # nothing at `here` itself: try the well-known address once
            well_known = urljoin(here, "/.well-known/caldav")
            if here == well_known:
                break
            here = well_known
            continue
        if isinstance(found, str):  # a redirect
            here = found
            continue
        kinds = _kinds(found)
        if webdav.CAL + "calendar" in kinds:
            if not _holds_events(found):
                raise BadRequest(f"the calendar at {here} holds no events (tasks only?)")
            return [_as_found(here, found)]
        home = _href(found, webdav.CAL + "calendar-home-set")
        if home:
            return _in_home(client, urljoin(here, home))
        principal = _href(found, webdav.DAV + "current-user-principal")
        if principal and urljoin(here, principal) != here:
            here = urljoin(here, principal)
            continue
        if urlsplit(here).path != "/.well-known/caldav":
            here = urljoin(here, "/.well-known/caldav")
            continue
        break
    raise NotFound(f"no CalDAV calendars found for {user} at {url}", where=url)


def _ask(client: Client, url: str, *, depth: str) -> webdav.Member | str | None:
    """`url`'s own properties; a redirect's target; None when nothing is there."""
    answer = client.send(
        "PROPFIND",
        url,
        headers={"Depth": depth},
        body=_ASK,
        expect=(207, 301, 302, 303, 307, 308, 404, 405),
    )
    if answer.status in (404, 405):
        return None
    if answer.status != 207:
        location = answer.headers.get("location", "")
        if not location:
            raise DataError(f"the server redirected {url} nowhere", where=url)
        return urljoin(url, location)
    for member in webdav.parse(answer.body, where=url).members:
        if webdav.same(member.href, url):
            return member
    return None


def _in_home(client: Client, home: str) -> list[Found]:
    answer = client.send(
        "PROPFIND",
        home,
        headers={"Depth": "1"},
        body=_ASK,
        expect=(207,),
    )
    found = []
    for member in webdav.parse(answer.body, where=home).members:
        if webdav.CAL + "calendar" not in _kinds(member) or not _holds_events(member):
            continue
        found.append(_as_found(urljoin(home, member.href), member))
    if not found:
        raise NotFound(f"the calendar home {home} holds no event calendars", where=home)
    return sorted(found, key=lambda f: f.name.lower())


def _kinds(member: webdav.Member) -> set[str]:
    element = member.props.get(webdav.DAV + "resourcetype")
    return {child.tag for child in element} if element is not None else set()


def _href(member: webdav.Member, name: str) -> str:
    element = member.props.get(name)
    inner = element.find(webdav.DAV + "href") if element is not None else None
    return (inner.text or "").strip() if inner is not None else ""


def _holds_events(member: webdav.Member) -> bool:
    # A calendar that does not say holds every component (RFC 4791 §5.2.3).
    element = member.props.get(webdav.CAL + "supported-calendar-component-set")
    if element is None or len(element) == 0:
        return True
    return any(comp.get("name", "").upper() == "VEVENT" for comp in element)


def _as_found(url: str, member: webdav.Member) -> Found:
    name = (
        member.text(webdav.DAV + "displayname") or urlsplit(url).path.rstrip("/").rpartition("/")[2]
    )
    return Found(url if url.endswith("/") else url + "/", name)


def choose(found: list[Found], wanted: str) -> Found:
    """The calendar called `wanted` (its name or URL); the only one when `wanted` is
    "". Raises BadRequest naming the choices."""
    if wanted:
        for f in found:
            if wanted in (f.name, f.url, f.url.rstrip("/")):
                return f
    elif len(found) == 1:
        return found[0]
    names = ", ".join(repr(f.name) for f in found)
    ask = f"no calendar {wanted!r}" if wanted else "several calendars"
    raise BadRequest(f"{ask} here; choose one with --calendar ({names})")
