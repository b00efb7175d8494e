"""Graph's route table: the path after /v1.0/me or /v1.0/users/{id|upn}, method, handler, and
the delegated scopes (any one of them) or app roles a call needs.

Path segments match case-insensitively, as Graph's do. An unknown path answers Graph's
400 BadRequest "Resource not found for the segment '...'"; a known path with a method it does
not support answers 405 (Graph's code for that is undocumented; we use "MethodNotAllowed").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import calendar, mail, rules, users
from .store import Ctx, Reply
from .wire import GraphError

CAL_READ = ("Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic")
CAL_WRITE = ("Calendars.ReadWrite",)
MAIL_READ = ("Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic")
MAIL_WRITE = ("Mail.ReadWrite",)
MAIL_SEND = ("Mail.Send",)
SETTINGS_READ = ("MailboxSettings.Read", "MailboxSettings.ReadWrite")
SETTINGS_WRITE = ("MailboxSettings.ReadWrite",)
USER_READ = ("User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All")
ID = r"([^/]+)"
EVENTS = r"(?:/calendar)?/events"
VIEW = r"(?:/calendar)?/calendarview"
FOLDER = r"/mailfolders/" + ID

Handler = Callable[[Ctx], Reply]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    scopes: tuple[str, ...]


def _r(method: str, pattern: str, handler: Handler, scopes: tuple[str, ...]) -> Route:
    return Route(method, re.compile(f"^{pattern}$", re.IGNORECASE), handler, scopes)


ROUTES = [
    _r("GET", "", users.user_info, USER_READ),
    _r("GET", "/mailboxsettings", users.mailbox_settings, SETTINGS_READ),
    _r("PATCH", "/mailboxsettings", users.patch_mailbox_settings, SETTINGS_WRITE),
    _r("GET", "/mailboxsettings/" + ID, users.mailbox_setting, SETTINGS_READ),
    _r("GET", EVENTS, calendar.list_events, CAL_READ),
    _r("POST", EVENTS, calendar.create_event, CAL_WRITE),
    _r("GET", EVENTS + "/" + ID, calendar.get_event, CAL_READ),
    _r("PATCH", EVENTS + "/" + ID, calendar.patch_event, CAL_WRITE),
    _r("DELETE", EVENTS + "/" + ID, calendar.delete_event, CAL_WRITE),
    _r("POST", EVENTS + "/" + ID + "/decline", calendar.decline_event, CAL_WRITE),
    _r("GET", VIEW, calendar.calendar_view, CAL_READ),
    _r("GET", VIEW + "/delta", calendar.calendar_delta, CAL_READ),
    _r("GET", "/mailfolders", mail.list_folders, MAIL_READ),
    _r("POST", "/mailfolders", mail.create_folder, MAIL_WRITE),
    _r("GET", FOLDER, mail.get_folder, MAIL_READ),
    _r("GET", FOLDER + "/childfolders", mail.list_child_folders, MAIL_READ),
    _r("POST", FOLDER + "/childfolders", mail.create_folder, MAIL_WRITE),
    _r("GET", FOLDER + "/messages", mail.list_messages, MAIL_READ),
    _r("POST", FOLDER + "/messages", mail.create_message, MAIL_WRITE),
    _r("GET", FOLDER + "/messages/delta", mail.messages_delta, MAIL_READ),
    _r("GET", FOLDER + "/messagerules", rules.list_rules, SETTINGS_READ),
    _r("POST", FOLDER + "/messagerules", rules.create_rule, SETTINGS_WRITE),
    _r("GET", FOLDER + "/messagerules/" + ID, rules.get_rule, SETTINGS_READ),
    _r("PATCH", FOLDER + "/messagerules/" + ID, rules.patch_rule, SETTINGS_WRITE),
    _r("DELETE", FOLDER + "/messagerules/" + ID, rules.delete_rule, SETTINGS_WRITE),
    _r("GET", "/messages", mail.list_messages, MAIL_READ),
    _r("POST", "/messages", mail.create_message, MAIL_WRITE),
    _r("GET", "/messages/" + ID, mail.get_message, MAIL_READ),
    _r("PATCH", "/messages/" + ID, mail.patch_message, MAIL_WRITE),
    _r("DELETE", "/messages/" + ID, mail.delete_message, MAIL_WRITE),
    _r("POST", "/messages/" + ID + "/move", mail.move_message, MAIL_WRITE),
    _r("POST", "/sendmail", mail.send_mail, MAIL_SEND),
]
PRINCIPAL = re.compile(r"^/v1\.0/(?:(?P<me>me)|users/(?P<user>[^/]+))(?P<rest>(?:/.*)?)$", re.I)


@dataclass
class Match:
    route: Route
    args: list[str]
    user: str | None  # None for /me
    rest: str


def _unknown_segment(path: str) -> str:
    segments = [s for s in path.split("/") if s][1:]  # drop "v1.0"
    literal = {"me", "users", "calendar", "events", "calendarview", "delta", "mailfolders"}
    literal |= {"childfolders", "messages", "messagerules", "move", "sendmail", "mailboxsettings"}
    literal |= {"decline"}
    takes_id = {"users", "events", "mailfolders", "childfolders", "messages", "messagerules"}
    previous = ""
    for segment in segments:
        if segment.lower() not in literal and previous not in takes_id:
            return segment
        previous = segment.lower() if segment.lower() in literal else ""
    return segments[-1] if segments else ""


def match(method: str, path: str) -> Match:
    m = PRINCIPAL.match(path.rstrip("/") if path != "/v1.0/" else path)
    if m is None:
        raise GraphError(
            400, "BadRequest", f"Resource not found for the segment '{_unknown_segment(path)}'."
        )
    rest = m.group("rest")
    allowed = []
    for route in ROUTES:
        found = route.pattern.match(rest)
        if found is None:
            continue
        if route.method == method:
            return Match(route, list(found.groups()), m.group("user"), rest)
        allowed.append(route.method)
    if allowed:
        raise GraphError(
            405,
            "MethodNotAllowed",
            f"The HTTP method '{method}' is not supported for this resource; "
            f"supported: {', '.join(sorted(set(allowed)))}.",
        )
    raise GraphError(
        400, "BadRequest", f"Resource not found for the segment '{_unknown_segment(path)}'."
    )
