"""One person's settings as values: the block policy, working hours, planning, the
hold, follow-ups, alerts, Focus Time. Pure data: the planner and the other pure
parts use these; `worker.settings` reads them from a config or the state store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time

from worker.models import BlockKind

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CANONICAL_ORDER = (BlockKind.PROSPECTING, BlockKind.DEALS, BlockKind.PREP, BlockKind.ADMIN)
DEFAULT_TITLES = {
    BlockKind.PROSPECTING: "Prospecting",
    BlockKind.DEALS: "Advance deals",
    BlockKind.PREP: "Prep",
    BlockKind.ADMIN: "Admin: email & CRM",
}
DEFENSES = ("always", "ramp", "never")
# Which invitations that land on a busy block firstblock turns down for the rep:
# none; internal (a colleague's, never a client's); all.
DECLINES = ("none", "internal", "all")
DEFAULT_MINUTES = {
    BlockKind.PROSPECTING: (90, 30),
    BlockKind.DEALS: (60, 30),
    BlockKind.PREP: (30, 15),
    BlockKind.ADMIN: (45, 15),
}
Range = tuple[time, time]


@dataclass(frozen=True)
class BlockPolicy:
    kind: BlockKind
    minutes: int
    min_chunk: int
    title: str
    color: str = ""  # a provider colour id or Outlook category; "" for the default
    client_meeting_minutes: int = 0  # prep only: a prep block before each client meeting
    # Wall-clock hours in the user's zone the kind's blocks must lie in (prospecting
    # 08:30-11:30, when buyers pick up the phone); None: the whole workday.
    window: Range | None = None
    # always: busy from the start. ramp: free (bookable) until `ramp_hours` before it
    # starts or until its day has no time to spare, then busy for good. never: free.
    defense: str = "always"
    ramp_hours: int = 24
    # Invitations landing on a busy block of this kind that firstblock declines (with
    # [focus_time] decline_message); see worker/declines.py.
    decline: str = "none"


@dataclass(frozen=True)
class Workday:
    """Working hours: which weekdays, and on each one or more ranges of wall-clock
    time in the user's zone (08:30-12:00 and 13:00-17:30, say)."""

    days: frozenset[int]  # 0 = Monday
    start: time  # the usual day's first start
    end: time  # the usual day's last end
    ranges: tuple[Range, ...] = ()  # the usual day; () means the one range (start, end)
    weekdays: tuple[tuple[int, tuple[Range, ...]], ...] = ()  # days with hours of their own

    def hours(self, weekday: int) -> tuple[Range, ...]:
        """The ranges of that weekday, in order; () when it is no workday."""
        if weekday not in self.days:
            return ()
        for day, ranges in self.weekdays:
            if day == weekday:
                return ranges
        return self.hours_of_usual_day()

    def bounds(self, weekday: int) -> Range:
        """The first start and the last end of that weekday (the usual day's, when it
        is no workday)."""
        ranges = self.hours(weekday) or self.hours_of_usual_day()
        return ranges[0][0], ranges[-1][1]

    def hours_of_usual_day(self) -> tuple[Range, ...]:
        return self.ranges or ((self.start, self.end),)

    def longest(self) -> int:
        """Minutes of the longest range on any workday."""
        return max(
            (_minutes(e) - _minutes(s) for d in self.days for s, e in self.hours(d)), default=0
        )


@dataclass(frozen=True)
class Planning:
    horizon_workdays: int = 5
    tentative_is_busy: bool = True
    holidays: frozenset[date] = frozenset()


@dataclass(frozen=True)
class Followups:
    internal_domains: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    lookahead_days: int = 30
    lookback_days: int = 14
    grace_minutes: int = 60
    # Proposed slots for the next meeting (worker/slots.py); 0 proposes none.
    proposals: int = 3
    propose_from_workdays: int = 2  # the window after the meeting, in the rep's workdays
    propose_until_workdays: int = 10
    proposal_minutes: int = 0  # 0: as long as the meeting, at most two hours
    client_hours: Range = (time(9), time(17))  # in the client's zone, Monday to Friday
    client_zones: tuple[tuple[str, str], ...] = ()  # (domain or address, IANA zone)
    followup_minutes: int = 15  # a block after each client meeting for the recap; 0: none
    # A tentative hold on the first proposed slot, kept until this many days after the
    # meeting unless a follow-up is booked first (off by default: it takes time). A day
    # gives the time back before it comes: slots start two workdays after the meeting.
    tentative_hold: bool = False
    tentative_hold_days: int = 1


@dataclass(frozen=True)
class Alerts:
    email: bool = True  # into the account's own mailbox
    webhook_url: str = ""  # Slack-compatible incoming webhook; a secret, never logged


@dataclass(frozen=True)
class Report:
    """The weekly report (worker/weekly.py, docs/design.md §1.5)."""

    weekly_email: bool = True  # into the account's own inbox, never held
    # The day whose admin block brings it: "last" (the week's last workday) or a day.
    weekly_day: str = "last"
    # The admins' Team page shows this account's figures (README "The weekly report").
    share_with_admins: bool = True


@dataclass(frozen=True)
class Hold:
    enabled: bool = True
    allow: tuple[str, ...] = ()  # addresses, or "@domain" for a whole domain
    allow_meeting_attendees_days: int = 2


@dataclass(frozen=True)
class FocusTime:
    """How blocks defend themselves where the calendar has Focus Time (Google)."""

    enabled: bool = True
    auto_decline: str = "new"  # none | new | all: which conflicting invitations to decline
    decline_message: str = "I'm in a focus block. Please suggest another time."


def default_policy(kind: BlockKind) -> BlockPolicy:
    minutes, chunk = DEFAULT_MINUTES[kind]
    return BlockPolicy(
        kind,
        minutes,
        chunk,
        DEFAULT_TITLES[kind],
        client_meeting_minutes=15 if kind is BlockKind.PREP else 0,
        # Prospecting is the first block of every day and is never given away; the rest
        # stay bookable until the day before, so colleagues and clients can find time.
        defense="always" if kind is BlockKind.PROSPECTING else "ramp",
        # A colleague may not take the prospecting block; a client always may (it gives
        # way). Ramping blocks give way to anyone: that is what makes them bookable.
        decline="internal" if kind is BlockKind.PROSPECTING else "none",
    )


DEFAULT_WORKDAY = Workday(frozenset(range(5)), time(8, 30), time(17, 30))
DEFAULT_BLOCKS = tuple(default_policy(k) for k in CANONICAL_ORDER)


@dataclass(frozen=True)
class Settings:
    """One person's settings, complete: every key has its value."""

    timezone: str = ""  # "" means: the calendar's zone, else the system's
    workday: Workday = DEFAULT_WORKDAY
    blocks: tuple[BlockPolicy, ...] = DEFAULT_BLOCKS
    planning: Planning = field(default_factory=Planning)
    followups: Followups = field(default_factory=Followups)
    hold: Hold = field(default_factory=Hold)
    alerts: Alerts = field(default_factory=Alerts)
    focus_time: FocusTime = field(default_factory=FocusTime)
    workday_set: bool = False  # hours were given: they win over a calendar's own
    own: frozenset[str] = frozenset()  # the dotted keys this level sets itself
    report: Report = field(default_factory=Report)


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute
