"""The WebDAV and CalDAV XML this provider sends and reads (RFC 4918, 4791, 6578).

Answers are parsed with the standard library's expat, which resolves no external
entities and, from expat 2.4.1 (every Python this project supports), refuses the
exponential entity expansions of a "billion laughs".
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

from providers.errors import DataError

DAV = "{DAV:}"
CAL = "{urn:ietf:params:xml:ns:caldav}"

_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<{root} xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
)
_DATA = "<D:prop><D:getetag/><C:calendar-data/></D:prop>"


def _document(root: str, inner: str) -> bytes:
    return (_HEAD.format(root=root) + inner + f"</{root}>").encode()


def ask(props: str) -> bytes:
    """A PROPFIND body asking for `props` (D: and C: prefixed elements)."""
    return _document("D:propfind", f"<D:prop>{props}</D:prop>")


def propfind() -> bytes:
    """The collection's own properties: its sync token, reports and time zone."""
    props = (
        "<D:sync-token/><D:supported-report-set/><C:calendar-timezone/><C:calendar-timezone-id/>"
    )
    return _document("D:propfind", f"<D:prop>{props}</D:prop>")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def query(start: datetime, end: datetime) -> bytes:
    """Every resource with an event in [start, end), with its ETag and its text."""
    span = f'<C:time-range start="{_stamp(start)}" end="{_stamp(end)}"/>'
    events = f'<C:comp-filter name="VEVENT">{span}</C:comp-filter>'
    inner = f'<C:filter><C:comp-filter name="VCALENDAR">{events}</C:comp-filter></C:filter>'
    return _document("C:calendar-query", _DATA + inner)


def sync(token: str) -> bytes:
    """What changed in the collection since `token` (RFC 6578), with the texts."""
    inner = f"<D:sync-token>{escape(token)}</D:sync-token><D:sync-level>1</D:sync-level>"
    return _document("D:sync-collection", inner + _DATA)


def multiget(hrefs: list[str]) -> bytes:
    """The texts of these resources, for servers whose sync answer leaves them out."""
    listed = "".join(f"<D:href>{escape(quote(h))}</D:href>" for h in hrefs)
    return _document("C:calendar-multiget", _DATA + listed)


@dataclass(frozen=True)
class Member:
    """One <D:response>: a resource and the properties the server found for it."""

    href: str  # its path, percent-decoded: the same whichever way the server spells it
    status: int  # of the resource (404: removed, in a sync answer), else 200
    props: dict[str, ET.Element] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return self.text(DAV + "getetag")

    @property
    def data(self) -> str | None:
        found = self.props.get(CAL + "calendar-data")
        return None if found is None else found.text or ""

    def text(self, name: str) -> str:
        found = self.props.get(name)
        return (found.text or "").strip() if found is not None else ""


@dataclass(frozen=True)
class Multistatus:
    members: list[Member]
    token: str  # the new sync token of a sync-collection answer, else ""


def path_of(href: str) -> str:
    return unquote(urlsplit(href).path)


def same(href: str, url: str) -> bool:
    """Whether `href` names the collection at `url`, with or without its last slash."""
    return path_of(href).rstrip("/") == path_of(url).rstrip("/")


def _status(element: ET.Element | None) -> int:
    """200 from "HTTP/1.1 200 OK"; 0 when unreadable."""
    parts = (element.text or "").split() if element is not None else []
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def parse(body: bytes, *, where: str) -> Multistatus:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise DataError(f"the server's answer is not XML ({exc})", where=where) from exc
    if root.tag != DAV + "multistatus":
        raise DataError(f"the server answered {root.tag}, not a multistatus", where=where)
    members = []
    for response in root.iter(DAV + "response"):
        found = response.find(DAV + "href")
        href = (found.text or "").strip() if found is not None else ""
        if not href:
            continue
        props: dict[str, ET.Element] = {}
        for propstat in response.findall(DAV + "propstat"):
            if _status(propstat.find(DAV + "status")) // 100 == 2:
                for prop in propstat.findall(DAV + "prop"):
                    props.update((p.tag, p) for p in prop)
        own = response.find(DAV + "status")
        status = _status(own) if own is not None else 200
        members.append(Member(path_of(href), status, props))
    token = root.find(DAV + "sync-token")
    return Multistatus(members, (token.text or "").strip() if token is not None else "")
