"""Who is a client: the rules of docs/design.md §1.3, with no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from worker.models import Event, Response, Status

# Keyed by full address: two people at gmail.com are not one company.
PUBLIC_MAIL_DOMAINS = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "live.com",
        "msn.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "zoho.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
        "126.com",
        "fastmail.com",
        "hey.com",
    ]
)


@dataclass(frozen=True)
class People:
    """What the worker knows about its user's side of the table."""

    me: str = ""  # the account's address, lower case
    internal_domains: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()  # addresses, or "@domain" for a whole domain

    def is_internal(self, email: str) -> bool:
        domain = email.rpartition("@")[2]
        return any(domain == d or domain.endswith("." + d) for d in self.internal_domains)

    def is_ignored(self, email: str) -> bool:
        domain = email.rpartition("@")[2]
        return any(email == i or (i.startswith("@") and domain == i[1:]) for i in self.ignore)


def client_key(email: str) -> str:
    """A company's domain, or the whole address for a public mail domain."""
    email = email.strip().lower()
    domain = email.rpartition("@")[2]
    return email if domain in PUBLIC_MAIL_DOMAINS else domain


def client_keys(event: Event, people: People) -> frozenset[str]:
    """The clients at this event: external attendees (organizer included)."""
    addresses: Iterable[str] = [
        *(a.email for a in event.attendees if not a.resource),
        event.organizer,
    ]
    keys = set()
    for raw in addresses:
        email = raw.strip().lower()
        if "@" not in email or email == people.me:
            continue
        if people.is_internal(email) or people.is_ignored(email):
            continue
        keys.add(client_key(email))
    return frozenset(keys)


def is_client_meeting(event: Event, people: People) -> bool:
    if event.all_day or event.status is Status.CANCELLED:
        return False
    if people.me and event.response_of(people.me) is Response.DECLINED:
        return False
    return bool(client_keys(event, people))
