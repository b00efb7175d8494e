"""Calendar push notifications: `events.watch`, `channels.stop` and the channels' state.

Facts are from Google's Calendar push guide
(developers.google.com/workspace/calendar/api/guides/push) and the events.watch reference;
where Google is silent the choice is marked "undocumented". Every change to the calendar's
events (Calendar.touch) tells each live channel "exists"; a new channel is told "sync" first,
numbered 1. Message numbers then grow, but not one by one, as the guide warns. The emulator's
only calendar cannot be deleted, so "not_exists" is never sent.

State only, under `lock` (shared with the delivery thread); handlers also run under the
emulator's lock, which the delivery thread never takes.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import ipaddress
import itertools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, urlsplit

from .calendar import Calendar, Reply
from .discovery import Call
from .push_delivery import Courier, FaultPlan, Notice, PushAttempt, Target, push_attempt
from .wire import ApiError

# events.watch reference: params.ttl "Default is 604800 seconds". No maximum is documented;
# the guide says the more restrictive of the request and Google's limits or defaults wins,
# so a longer request is cut to this (settable: Push.max_lifetime).
DEFAULT_LIFETIME = timedelta(seconds=604800)
ID_MAX, TOKEN_MAX = 64, 256  # the guide's maximum lengths
TYPES = ("web_hook", "webhook")  # Channel.type in the discovery document
USER_AGENT = "APIs-Google (+https://developers.google.com/webmasters/APIs-Google.html)"
PROJECT = "emulator"  # in place of the project number in "not found" messages


@dataclass(frozen=True)
class Channel:
    """A channel as tests see it (GoogleEmulator.channels)."""

    id: str
    token: str | None
    address: str
    expiration: datetime
    resource_id: str
    resource_uri: str
    calendar: str
    event_types: tuple[str, ...] = ()  # the watch's eventTypes; empty: all


@dataclass
class _Entry:
    channel: Channel
    serial: int
    number: int = 0  # the last message number given out
    stopped: bool = False


def resource_id(calendar: str) -> str:
    # Opaque and stable per calendar: every channel on it gets the same one, as Google's do.
    digest = hashlib.sha1(f"events:{calendar.lower()}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ms(moment: datetime) -> datetime:
    # UTC, whole milliseconds: what the answer's expiration and the header can say.
    return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


def _bad(message: str, reason: str = "invalid") -> ApiError:
    return ApiError(400, reason, message)  # the domain of these errors is undocumented


class Push:
    def __init__(self, seed: int, clock: Callable[[], datetime]) -> None:
        self.lock = threading.Condition(threading.RLock())
        self.courier: Courier[Notice, PushAttempt] = Courier(self.lock, self._target, push_attempt)
        self.clock = clock
        self.rng = random.Random(seed)
        # None: plain http only to a loopback address (tests); True: any; False: https only.
        self.allow_http: bool | None = None
        self.max_lifetime = DEFAULT_LIFETIME
        self.fault_plan = FaultPlan()
        self._entries: dict[str, _Entry] = {}
        self._serials = itertools.count(1)

    # ---- API methods (the emulator's lock is held) ------------------------------------------
    def watch(self, cal: Calendar, call: Call) -> Reply:
        calendar_id = call.params["calendarId"]
        cal.check_calendar(calendar_id)
        body = call.body or {}
        channel_id = self._check_id(body.get("id"))
        token = body.get("token")
        if token is not None and len(token) > TOKEN_MAX:
            raise _bad(f"Channel token longer than {TOKEN_MAX} characters.")  # undocumented
        if body.get("type") not in TYPES:
            raise _bad(f"Invalid channel type: {body.get('type')!r}.")  # undocumented
        address = self._check_address(body.get("address"))
        with self.lock:
            now = self.clock()
            taken = self._entries.get(channel_id)
            # The guide wants a new id for each new channel; whether a dead channel's id is
            # refused too is undocumented: only a live one is.
            if taken is not None and self._live(taken, now):
                # Observed reason (clients handle it by name); the message is undocumented.
                raise _bad(f"Channel id {channel_id} not unique", "channelIdNotUnique")
            # resourceUri as Google answers it: the calendar id as asked, and alt=json.
            uri = "https://www.googleapis.com/calendar/v3/calendars/"
            uri += f"{quote(calendar_id, safe='@')}/events?alt=json"
            channel = Channel(
                channel_id,
                token,
                address,
                self._expiration(body, now),
                resource_id(cal.email),
                uri,
                cal.email,
                tuple(call.params.get("eventTypes") or ()),
            )
            entry = _Entry(channel, next(self._serials))
            self._entries[channel_id] = entry
            self._notify(entry, "sync")
        answer = {
            "kind": "api#channel",
            "id": channel.id,
            "resourceId": channel.resource_id,
            "resourceUri": channel.resource_uri,
            "expiration": str(int(channel.expiration.timestamp() * 1000)),  # int64: a string
        }
        if token is not None:
            answer["token"] = token
        return 200, answer

    def stop(self, call: Call) -> Reply:
        body = call.body or {}
        channel_id = str(body.get("id", ""))
        with self.lock:
            entry = self._entries.get(channel_id)
            if (
                entry is None
                or entry.channel.resource_id != body.get("resourceId")
                or not self._live(entry, self.clock())
            ):
                # As Google answers an unknown channel (googleapis/google-api-nodejs-client#627).
                raise ApiError(
                    404, "notFound", f"Channel '{channel_id}' not found for project '{PROJECT}'"
                )
            entry.stopped = True
        return 204, None

    # ---- the calendar changed (the emulator's lock is held) ---------------------------------
    def changed(self, calendar: str, ev: dict[str, Any]) -> None:
        with self.lock:
            now = self.clock()
            for entry in self._entries.values():
                ch = entry.channel
                if ch.calendar != calendar or not self._live(entry, now):
                    continue
                if ch.event_types and ev.get("eventType", "default") not in ch.event_types:
                    continue
                self._notify(entry, "exists")

    # ---- test helpers ------------------------------------------------------------------------
    def channels(self) -> list[Channel]:
        with self.lock:
            now = self.clock()
            return [e.channel for e in self._entries.values() if self._live(e, now)]

    def expire(self, channel_id: str | None = None) -> None:
        """Expire one channel (KeyError if unknown) or, with None, every channel, as of now."""
        with self.lock:
            now = _ms(self.clock())
            ids = list(self._entries) if channel_id is None else [channel_id]
            for key in ids:
                entry = self._entries[key]
                entry.channel = dataclasses.replace(entry.channel, expiration=now)

    def faults(self, drop: float, delay: float, duplicate: float) -> None:
        with self.lock:
            self.fault_plan.set(drop, delay, duplicate)

    # ---- inside ------------------------------------------------------------------------------
    @staticmethod
    def _live(entry: _Entry, now: datetime) -> bool:
        return not entry.stopped and now < entry.channel.expiration

    @staticmethod
    def _check_id(value: Any) -> str:
        if not value:
            raise ApiError(400, "required", "Required channel id.")  # message undocumented
        if not isinstance(value, str) or len(value) > ID_MAX:
            raise _bad(f"Channel id longer than {ID_MAX} characters.")  # undocumented
        return value

    def _check_address(self, value: Any) -> str:
        if not value:
            raise ApiError(400, "required", "Required channel address.")  # message undocumented
        url = urlsplit(str(value))
        if url.scheme not in ("http", "https") or not url.hostname:
            # Cloud Storage documents this reason; Calendar's is undocumented.
            raise _bad(f"Invalid WebHook address: {value}", "push.webhookUrlNoHostOrAddress")
        allowed = self.allow_http if self.allow_http is not None else _loopback(url.hostname)
        if url.scheme == "http" and not allowed:
            # Observed reason and message; the guide only says the address must use HTTPS.
            raise _bad(f"WebHook callback must be HTTPS: {value}", "push.webhookUrlNotHttps")
        return str(value)

    def _expiration(self, body: dict[str, Any], now: datetime) -> datetime:
        now = _ms(now)
        wanted = [now + self.max_lifetime]
        if body.get("expiration") is not None:
            try:
                at = _ms(datetime.fromtimestamp(int(body["expiration"]) / 1000, UTC))
            except (TypeError, ValueError, OverflowError, OSError):
                raise _bad("Invalid channel expiration.") from None  # undocumented
            if at <= now:
                raise _bad("Channel expiration is in the past.")  # undocumented
            wanted.append(at)
        ttl = (body.get("params") or {}).get("ttl")
        if ttl is not None:
            if not str(ttl).isdigit() or int(ttl) == 0:
                raise _bad(f"Invalid value for params.ttl: {ttl!r}.")  # undocumented
            wanted.append(now + timedelta(seconds=int(ttl)))
        return min(wanted)

    def _notify(self, entry: _Entry, state: str) -> None:
        """Number the next message and hand it to the courier, through the faults."""
        # Sync messages are always 1; later ones grow, "but they're not sequential" (guide).
        entry.number = 1 if state == "sync" else entry.number + self.rng.randint(1, 3)
        ch = entry.channel
        delays = self.fault_plan.plan(self.rng)
        notice = Notice(ch.id, entry.serial, entry.number, state)
        if not delays:
            self.courier.drop(notice)
        for delay in delays:
            self.courier.send(notice, delay)

    def _target(self, notice: Notice) -> Target:
        entry = self._entries.get(notice.channel_id)
        if entry is None or entry.serial != notice.serial or entry.stopped:
            return "stopped"
        ch = entry.channel
        if self.clock() >= ch.expiration:
            return "expired"
        headers = {
            "Content-Type": "application/json; utf-8",  # as in the guide's example
            "User-Agent": USER_AGENT,  # the guide: deliveries come from APIs-Google
            "X-Goog-Channel-ID": ch.id,
            "X-Goog-Channel-Expiration": format_datetime(ch.expiration, usegmt=True),
            "X-Goog-Resource-ID": ch.resource_id,
            "X-Goog-Resource-URI": ch.resource_uri,
            "X-Goog-Resource-State": notice.state,
            "X-Goog-Message-Number": str(notice.number),
        }
        if ch.token is not None:
            headers["X-Goog-Channel-Token"] = ch.token
        return ch.address, headers, b""


def handlers(cal: Calendar, push: Push) -> dict[str, Callable[[Call], Reply]]:
    return {
        "calendar.events.watch": lambda call: push.watch(cal, call),
        "calendar.channels.stop": push.stop,
    }
