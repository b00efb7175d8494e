"""The domain model: what every provider maps its data into.

Frozen dataclasses only; no I/O, no provider JSON. All datetimes are aware.
"""

from __future__ import annotations

import enum
import hashlib
from base64 import b32hexencode
from dataclasses import dataclass, field
from datetime import date, datetime, time


class Response(enum.Enum):
    """A participant's answer to an invitation."""

    ACCEPTED = "accepted"
    TENTATIVE = "tentative"
    DECLINED = "declined"
    NEEDS_ACTION = "needs-action"


class Status(enum.Enum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


class EventType(enum.Enum):
    DEFAULT = "default"
    OUT_OF_OFFICE = "out-of-office"
    FOCUS = "focus"
    WORKING_LOCATION = "working-location"
    BIRTHDAY = "birthday"


class BlockKind(enum.Enum):
    """The four kinds of work, in no particular order (the policy orders them)."""

    PROSPECTING = "prospecting"
    DEALS = "deals"
    PREP = "prep"
    ADMIN = "admin"


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str = ""
    response: Response = Response.NEEDS_ACTION
    resource: bool = False  # a room or equipment, never a client


@dataclass(frozen=True)
class Event:
    """One occurrence of something on the calendar that the worker does not own."""

    id: str  # stable per occurrence: series UID plus the occurrence's original start
    title: str
    start: datetime
    end: datetime  # all-day events: midnights in the user's zone, end exclusive
    all_day: bool = False
    status: Status = Status.CONFIRMED
    transparent: bool = False  # "free" / TRANSP:TRANSPARENT
    event_type: EventType = EventType.DEFAULT
    attendees: tuple[Attendee, ...] = ()
    organizer: str = ""
    series_id: str = ""  # same for all occurrences of a recurring series
    # Set when the provider could not fully read the event; it is then treated as busy.
    problem: str = ""
    # The zone its times were set in by whoever made it (an IANA name; "" unknown):
    # a client's own invitation tells the client's zone.
    zone: str = ""
    # The organizer hid the guest list, or the provider left guests out: who else is
    # at it is unknown (never "only colleagues", worker/declines.py).
    guests_hidden: bool = False

    def response_of(self, email: str) -> Response | None:
        """The answer of `email` to this event, or None when not invited."""
        wanted = email.casefold()
        for a in self.attendees:
            if a.email.casefold() == wanted:
                return a.response
        return None


@dataclass(frozen=True)
class Block:
    """A block the worker wants on the calendar, or found there carrying its tag.

    `key` names the block's slot in the plan ("2026-11-30/prospecting/0" or
    "meeting/<event id>"); the block's id is derived from it, so a retried create can
    never produce a second copy. `written` is the fingerprint of what the worker last
    wrote: when the calendar shows something else, the user touched the block.
    """

    key: str
    kind: BlockKind
    day: date  # the plan day this block belongs to
    start: datetime
    end: datetime
    title: str
    description: str = ""
    meeting_id: str = ""  # set for client-meeting prep
    written: str = ""  # fingerprint at the last write by the worker; "" for a desired block
    etag: str = ""  # provider concurrency token, opaque
    ref: str = ""  # the provider's own id when it chooses ids itself (Graph), opaque
    # Shown as free (transparent): a block that ramps (docs/design.md §1.1, "Time
    # defense") is bookable until its time comes near.
    free: bool = False

    @property
    def id(self) -> str:
        return block_id(self.key)

    @property
    def tentative(self) -> bool:
        """A hold on a proposed slot for a client's next meeting: written as tentative,
        never as protected time."""
        return self.key.startswith(HOLD)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.start, self.end, self.title, self.description, self.free)

    @property
    def touched(self) -> bool:
        """The user moved or edited this block since the worker wrote it."""
        return bool(self.written) and self.written != self.fingerprint

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


HOLD = "hold/"  # the key prefix of a tentative hold: "hold/<meeting id>"


def block_id(key: str) -> str:
    """A deterministic id, valid for Google (base32hex, lower case) and as an iCal UID."""
    digest = hashlib.sha256(key.encode()).digest()[:20]
    return "fb" + b32hexencode(digest).decode().lower().rstrip("=")


def fingerprint(
    start: datetime, end: datetime, title: str, description: str, free: bool = False
) -> str:
    # Instants, not wall-clock strings: a provider that returns another offset for the
    # same moment must not look like a user edit. A free block says so, so the user
    # marking it busy is their edit (and a busy block's print is as it always was).
    parts = [str(int(start.timestamp())), str(int(end.timestamp())), title, description]
    text = "\x1f".join([*parts, "free"] if free else parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class WorkHours:
    """Working hours as a calendar's settings declare them (Outlook's mailbox settings):
    a weekly wall-clock rule in `zone`, which need not be the calendar's own zone."""

    days: frozenset[int]  # 0 = Monday
    start: time
    end: time
    zone: str = ""  # an IANA name or a custom zone's rule (worker.zones); "": the calendar's


@dataclass(frozen=True)
class Window:
    """A half-open span of time [start, end) and the user's zone.

    Providers read floating times and all-day dates in `zone`, as calendar apps do.
    """

    start: datetime
    end: datetime
    zone: str = "UTC"

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether [start, end) meets the window; an instant counts at its moment."""
        return start < self.end and (end > self.start or (start == end and start >= self.start))


@dataclass(frozen=True)
class Snapshot:
    """What a calendar holds in a window: other people's events and our blocks."""

    events: tuple[Event, ...]
    blocks: tuple[Block, ...]
    problems: tuple[str, ...] = field(default=())  # events it could not fully read


class Op(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class Change:
    """One write. For UPDATE and DELETE, `before` is the block as found."""

    op: Op
    block: Block
    before: Block | None = None


@dataclass(frozen=True)
class Message:
    """A mail message as far as the worker needs it: never its body."""

    id: str
    sender: str  # the From address, lower case
    received: datetime
    held: bool = False
    alert: bool = False  # one of the worker's own alerts: never held


@dataclass(frozen=True)
class InlineImage:
    """A picture shown in an alert's HTML, which refers to it as cid:<cid>."""

    cid: str  # unique in the message, e.g. trend.2026-W49@firstblock
    name: str  # a file name without its extension
    png: bytes


@dataclass(frozen=True)
class Alert:
    """A message the worker writes to its user; it is never held."""

    key: str  # de-duplication key: one alert per key
    subject: str
    text: str
    created: datetime
    html: str = ""
    images: tuple[InlineImage, ...] = ()  # referenced by the html


@dataclass(frozen=True)
class Draft:
    """An email the worker prepares for its user to send: saved in their drafts, never
    sent by the worker."""

    key: str  # one draft per key
    to: tuple[str, ...]  # addresses
    subject: str
    text: str
    created: datetime
