"""Where a domain's CalDAV and IMAP servers are: a short table of services known by
their own documentation, else the domain's DNS service records (RFC 6764 for CalDAV,
RFC 6186 for IMAP). dnspython is imported only when DNS is asked."""

from __future__ import annotations

from typing import Any

# Services whose CalDAV and IMAP servers are known by the address's domain: their
# own documentation names them, and their DNS may not say (RFC 6764 §3, RFC 6186).
KNOWN: dict[str, tuple[str, str]] = {
    "fastmail.com": ("https://caldav.fastmail.com/", "imaps://imap.fastmail.com"),
    "fastmail.fm": ("https://caldav.fastmail.com/", "imaps://imap.fastmail.com"),
    "icloud.com": ("https://caldav.icloud.com/", "imaps://imap.mail.me.com"),
    "me.com": ("https://caldav.icloud.com/", "imaps://imap.mail.me.com"),
    "mac.com": ("https://caldav.icloud.com/", "imaps://imap.mail.me.com"),
}


def known(address: str) -> tuple[str, str] | None:
    """(CalDAV root, IMAP URL) of a known service by the address's domain."""
    return KNOWN.get(address.rpartition("@")[2].lower())


def services(
    address: str, resolver: Any = None, *, calendar: bool = True, mail: bool = True
) -> tuple[str, str]:
    """(CalDAV URL, IMAP URL) for the address's domain: the known table, else what its
    DNS says (RFC 6764 `_caldavs._tcp` with its TXT `path`, RFC 6186 `_imaps._tcp`,
    then `_imap._tcp` for STARTTLS); "" for what neither knows, or was not asked
    for. `resolver` is a dnspython Resolver (the system's when None)."""
    found = known(address)
    if found is not None:
        return found
    domain = address.rpartition("@")[2].lower().rstrip(".")
    if not domain:
        return "", ""
    import dns.resolver

    resolver = resolver or dns.resolver.Resolver()
    found_calendar = found_mail = ""
    target = _srv(resolver, f"_caldavs._tcp.{domain}") if calendar else None
    if target:
        host, port = target
        path = _txt_path(resolver, f"_caldavs._tcp.{domain}") or "/.well-known/caldav"
        found_calendar = f"https://{host}{'' if port == 443 else f':{port}'}{path}"
    for service, scheme, default in (("_imaps", "imaps", 993), ("_imap", "imap", 143)):
        target = _srv(resolver, f"{service}._tcp.{domain}") if mail else None
        if target:
            host, port = target
            found_mail = f"{scheme}://{host}{'' if port == default else f':{port}'}"
            break
    return found_calendar, found_mail


def _srv(resolver: Any, name: str) -> tuple[str, int] | None:
    """The best SRV target of `name` (lowest priority, then highest weight); None
    when there is none or it says "." (the service is not offered, RFC 2782)."""
    import dns.exception

    try:
        answer = resolver.resolve(name, "SRV")
    except dns.exception.DNSException:
        return None
    records = sorted(answer, key=lambda r: (r.priority, -r.weight))
    if not records:
        return None
    host = str(records[0].target).rstrip(".")
    return (host, int(records[0].port)) if host else None


def _txt_path(resolver: Any, name: str) -> str:
    import dns.exception

    try:
        answer = resolver.resolve(name, "TXT")
    except dns.exception.DNSException:
        return ""
    for record in answer:
        text = b"".join(record.strings).decode("ascii", "replace")
        if text.startswith("path=/"):
            return text[len("path=") :]
    return ""
