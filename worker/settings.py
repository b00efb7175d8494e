"""What describes one person's day, read from a config table: the top of a config
file sets the team's defaults; an account sets its own, key by key over those. Both
go through `parse_settings`, so they are checked by the same code and fail with the
same one-line errors. The values themselves are in `worker.policy`.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from worker import notify
from worker.clients import client_key
from worker.models import BlockKind
from worker.policy import (
    CANONICAL_ORDER,
    DAY_NAMES,
    DECLINES,
    DEFAULT_BLOCKS,
    DEFAULT_MINUTES,
    DEFAULT_TITLES,
    DEFAULT_WORKDAY,
    DEFENSES,
    Alerts,
    BlockPolicy,
    FocusTime,
    Followups,
    Hold,
    Planning,
    Range,
    Report,
    Settings,
    Workday,
    default_policy,
)
from worker.reader import Reader, parse_clock

__all__ = [
    "CANONICAL_ORDER",
    "DAY_NAMES",
    "DEFAULT_BLOCKS",
    "DEFAULT_MINUTES",
    "DEFAULT_TITLES",
    "DEFAULT_WORKDAY",
    "SECTIONS",
    "Alerts",
    "BlockPolicy",
    "FocusTime",
    "Followups",
    "Hold",
    "Planning",
    "Report",
    "Settings",
    "Workday",
    "parse_settings",
]

# The keys a person's settings have, at the top of a file and in an account.
SECTIONS = (
    "timezone",
    "workday",
    "blocks",
    "planning",
    "followups",
    "hold",
    "alerts",
    "focus_time",
    "report",
)


def parse_settings(r: Reader, base: Settings, *, top: bool = False) -> Settings:
    """The settings table `r` describes, each key layered over `base`; `top` for the
    top of a config file. Raises ConfigError naming the source and the dotted key."""
    timezone = _timezone(r, base.timezone)
    workday = _workday(r.sub("workday"), base.workday) if "workday" in r else base.workday
    blocks = _blocks(r, base.blocks, whole=top)
    too_long = [p for p in blocks if workday.longest() and p.min_chunk > workday.longest()]
    if too_long:
        policy = too_long[0]
        mine = [b.get("kind") for b in r.raw.get("blocks", [])]
        key = (
            f"blocks[{mine.index(policy.kind.value)}].min_chunk"
            if policy.kind.value in mine
            else "workday"
        )
        raise r.error(
            key,
            f"{policy.kind.value} needs at least {policy.min_chunk} minutes in one piece,"
            f" but the longest stretch of the workday is {workday.longest()} minutes",
        )
    return Settings(
        timezone,
        workday,
        blocks,
        _planning(r.sub("planning"), base.planning),
        _followups(r.sub("followups"), base.followups),
        _hold(r.sub("hold"), base.hold),
        _alerts(r.sub("alerts"), base.alerts),
        _focus_time(r.sub("focus_time"), base.focus_time),
        workday_set=base.workday_set or "workday" in r,
        own=frozenset(_dotted(r.raw, SECTIONS)),
        report=_report(r.sub("report"), base.report),
    )


def _dotted(raw: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for key in keys:
        value = raw.get(key)
        if isinstance(value, dict):
            out += [f"{key}.{k}" for k in value]
        elif key == "blocks" and isinstance(value, list):
            out += [f"blocks.{b.get('kind')}.{k}" for b in value if isinstance(b, dict) for k in b]
        elif key in raw:
            out.append(key)
    return out


def _timezone(r: Reader, default: str) -> str:
    tz = r.text("timezone", default)
    if tz and tz != default:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise r.error(
                "timezone", f"unknown time zone {tz!r} (use an IANA name like 'America/New_York')"
            ) from None
    return tz


def _workday(wd: Reader, base: Workday) -> Workday:
    wd.only("days", "start", "end", "hours", *DAY_NAMES)
    names = wd.strings("days", [DAY_NAMES[d] for d in sorted(base.days)])
    for d in names:
        if d not in DAY_NAMES:
            raise wd.error("days", f"unknown day {d!r} (use {', '.join(DAY_NAMES)})")
    days = frozenset(DAY_NAMES.index(d) for d in names)
    if "hours" in wd and ("start" in wd or "end" in wd):
        raise wd.error("hours", "give either hours or start and end, not both")
    if "hours" in wd:
        ranges = _ranges(wd, "hours")
        start, end = ranges[0][0], ranges[-1][1]
    elif "start" in wd or "end" in wd:
        start, end = wd.clock("start", base.start), wd.clock("end", base.end)
        if end <= start:
            raise wd.error(
                "end",
                f"{end:%H:%M} is not after start {start:%H:%M}: "
                "a workday that crosses midnight is not supported",
            )
        ranges = ((start, end),)
    else:
        start, end, ranges = base.start, base.end, base.ranges
    weekdays = dict(base.weekdays)
    for i, name in enumerate(DAY_NAMES):
        if name in wd:
            if i not in days:
                raise wd.error(name, f"{name} has hours but is not in days")
            weekdays[i] = _ranges(wd, name)
    return Workday(
        days,
        start,
        end,
        ranges if len(ranges) > 1 else (),
        tuple(sorted((d, r) for d, r in weekdays.items() if d in days)),
    )


def _ranges(wd: Reader, key: str) -> tuple[Range, ...]:
    """["08:30-12:00", "13:00-17:30"]: in order, each within one day, none overlapping."""
    ranges: list[Range] = []
    for text in wd.strings(key, []):
        first, _, last = text.partition("-")
        start, end = parse_clock(first), parse_clock(last)
        if start is None or end is None:
            raise wd.error(key, f'expected ranges like "08:30-12:00", got {text!r}')
        if end <= start:
            raise wd.error(
                key, f"{text!r}: a range that crosses midnight (or is empty) is not supported"
            )
        if ranges and start < ranges[-1][1]:
            raise wd.error(key, f"{text!r} overlaps or comes before the range ahead of it")
        ranges.append((start, end))
    if not ranges:
        raise wd.error(key, 'list at least one range, like "08:30-17:30"')
    return tuple(ranges)


def _blocks(r: Reader, base: tuple[BlockPolicy, ...], *, whole: bool) -> tuple[BlockPolicy, ...]:
    """Each entry sets its kind's keys over `base`'s policy for that kind (or the
    built-in one). A `whole` list (the top of a file) is the whole policy, as it
    always was: kinds it leaves out have no blocks."""
    if "blocks" not in r:
        return base
    known = {} if whole else {p.kind: p for p in base}
    policies: list[BlockPolicy] = []
    for b in r.tables("blocks"):
        b.only(
            "kind",
            "minutes",
            "min_chunk",
            "title",
            "color",
            "client_meeting_minutes",
            "window",
            "defense",
            "ramp_hours",
            "decline",
        )
        name = b.text("kind", "")
        try:
            kind = BlockKind(name)
        except ValueError:
            raise b.error(
                "kind", f"unknown kind {name!r} (use prospecting, deals, prep, admin)"
            ) from None
        if any(p.kind is kind for p in policies):
            raise b.error("kind", f"{name} appears twice")
        under = known.get(kind) or default_policy(kind)
        minutes = b.number("minutes", under.minutes)
        chunk = b.number("min_chunk", min(under.min_chunk, minutes))
        if not 0 < chunk <= minutes <= 12 * 60:
            raise b.error("min_chunk", "need 0 < min_chunk <= minutes <= 720")
        cm = b.number("client_meeting_minutes", under.client_meeting_minutes)
        if cm and kind is not BlockKind.PREP:
            raise b.error("client_meeting_minutes", "only the prep block has client-meeting prep")
        if not 0 <= cm <= 240:
            raise b.error("client_meeting_minutes", "must be between 0 and 240")
        title, color = b.text("title", under.title), b.text("color", under.color)
        window = _window(b, under.window)
        defense = b.text("defense", under.defense)
        if defense not in DEFENSES:
            raise b.error("defense", f"unknown defense {defense!r} (use {', '.join(DEFENSES)})")
        ramp = b.number("ramp_hours", under.ramp_hours)
        if not 0 <= ramp <= 14 * 24:
            raise b.error("ramp_hours", "must be between 0 and 336")
        decline = b.text("decline", under.decline)
        if decline not in DECLINES:
            raise b.error("decline", f"unknown decline {decline!r} (use {', '.join(DECLINES)})")
        policies.append(
            BlockPolicy(kind, minutes, chunk, title, color, cm, window, defense, ramp, decline)
        )
    order = [p.kind for p in policies]
    if order != sorted(order, key=CANONICAL_ORDER.index):
        raise r.error(
            "blocks",
            "kinds must come in the order prospecting, deals, prep, admin: "
            "that order is the point of firstblock",
        )
    merged = {**known, **{p.kind: p for p in policies}}
    return tuple(merged[k] for k in CANONICAL_ORDER if k in merged)


def _window(b: Reader, base: Range | None) -> Range | None:
    """ "08:30-11:30", or "" for the whole workday."""
    if "window" not in b:
        return base
    text = b.text("window", "")
    if not text.strip():
        return None
    first, _, last = text.partition("-")
    start, end = parse_clock(first), parse_clock(last)
    if start is None or end is None or end <= start:
        raise b.error("window", f'expected a range within a day like "08:30-11:30", got {text!r}')
    return start, end


def _planning(pl: Reader, base: Planning) -> Planning:
    pl.only("horizon_workdays", "tentative_is_busy", "holidays")
    horizon = pl.number("horizon_workdays", base.horizon_workdays)
    if not 0 <= horizon <= 60:
        raise pl.error("horizon_workdays", "must be between 0 and 60")
    holidays = set()
    for h in pl.strings("holidays", [d.isoformat() for d in sorted(base.holidays)]):
        try:
            holidays.add(date.fromisoformat(h))
        except ValueError:
            raise pl.error("holidays", f"{h!r} is not a date like 2026-12-25") from None
    return Planning(
        horizon, pl.flag("tentative_is_busy", base.tentative_is_busy), frozenset(holidays)
    )


def _followups(fu: Reader, base: Followups) -> Followups:
    fu.only(
        "internal_domains",
        "ignore",
        "lookahead_days",
        "lookback_days",
        "grace_minutes",
        "proposals",
        "propose_from_workdays",
        "propose_until_workdays",
        "proposal_minutes",
        "client_hours",
        "client_zones",
        "followup_minutes",
        "tentative_hold",
        "tentative_hold_days",
    )
    limits = {
        "lookahead_days": 365,
        "lookback_days": 365,
        "grace_minutes": 24 * 60,
        "proposals": 5,
        "propose_from_workdays": 60,
        "propose_until_workdays": 60,
        "proposal_minutes": 8 * 60,
        "followup_minutes": 120,
        "tentative_hold_days": 60,
    }
    numbers = {}
    for key, top in limits.items():
        numbers[key] = fu.number(key, getattr(base, key))
        if not 0 <= numbers[key] <= top:
            raise fu.error(key, f"must be between 0 and {top}")
    if not 1 <= numbers["propose_from_workdays"] <= numbers["propose_until_workdays"]:
        raise fu.error(
            "propose_until_workdays",
            "need 1 <= propose_from_workdays <= propose_until_workdays",
        )
    if numbers["tentative_hold_days"] > numbers["lookback_days"]:
        # The meeting must still be read for its hold to be kept (or removed).
        raise fu.error("tentative_hold_days", "must not be more than lookback_days")
    return Followups(
        tuple(d.lower().lstrip("@") for d in fu.strings("internal_domains", base.internal_domains)),
        tuple(i.lower() for i in fu.strings("ignore", base.ignore)),
        numbers["lookahead_days"],
        numbers["lookback_days"],
        numbers["grace_minutes"],
        numbers["proposals"],
        numbers["propose_from_workdays"],
        numbers["propose_until_workdays"],
        numbers["proposal_minutes"],
        _client_hours(fu, base.client_hours),
        _client_zones(fu, base.client_zones),
        numbers["followup_minutes"],
        fu.flag("tentative_hold", base.tentative_hold),
        numbers["tentative_hold_days"],
    )


def _client_hours(fu: Reader, base: Range) -> Range:
    if "client_hours" not in fu:
        return base
    text = fu.text("client_hours", "")
    first, _, last = text.partition("-")
    start, end = parse_clock(first), parse_clock(last)
    if start is None or end is None or end <= start:
        raise fu.error("client_hours", f'expected a range like "09:00-17:00", got {text!r}')
    return start, end


def _client_zones(fu: Reader, base: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """{"acme.de" = "Europe/Berlin", "bob@gmail.com" = "Asia/Tokyo"}: keyed as clients
    are, by company domain or, at a public mail domain, by address."""
    if "client_zones" not in fu:
        return base
    table = fu.sub("client_zones")
    out = []
    for key in table.raw:
        name = table.text(key, "")
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise table.error(key, f"unknown time zone {name!r} (use an IANA name)") from None
        out.append((client_key(key.lstrip("@")), name))
    return tuple(sorted(out))


def _alerts(al: Reader, base: Alerts) -> Alerts:
    al.only("email", "webhook_url")
    webhook = al.text("webhook_url", base.webhook_url)
    if webhook and (why := notify.problem(webhook)):
        raise al.error("webhook_url", f"not a usable webhook URL: {why} (the URL is not shown)")
    return Alerts(al.flag("email", base.email), webhook)


def _report(rp: Reader, base: Report) -> Report:
    rp.only("weekly_email", "weekly_day", "share_with_admins")
    day = rp.text("weekly_day", base.weekly_day).lower()
    if day != "last" and day not in DAY_NAMES:
        raise rp.error("weekly_day", f"{day!r}: use last, or a day: {', '.join(DAY_NAMES)}")
    return Report(
        rp.flag("weekly_email", base.weekly_email),
        day,
        rp.flag("share_with_admins", base.share_with_admins),
    )


def _hold(ho: Reader, base: Hold) -> Hold:
    ho.only("enabled", "allow", "allow_meeting_attendees_days")
    attendee_days = ho.number("allow_meeting_attendees_days", base.allow_meeting_attendees_days)
    if not 0 <= attendee_days <= 60:
        raise ho.error("allow_meeting_attendees_days", "must be between 0 and 60")
    allow = ho.strings("allow", base.allow)
    for entry in allow:
        if "@" not in entry and "." not in entry:
            raise ho.error("allow", f"{entry!r} is neither an address nor a @domain")
    return Hold(ho.flag("enabled", base.enabled), tuple(allow), attendee_days)


def _focus_time(ft: Reader, base: FocusTime) -> FocusTime:
    ft.only("enabled", "auto_decline", "decline_message")
    mode = ft.text("auto_decline", base.auto_decline)
    if mode not in ("none", "new", "all"):
        raise ft.error("auto_decline", f"unknown mode {mode!r} (use none, new or all)")
    return FocusTime(
        ft.flag("enabled", base.enabled), mode, ft.text("decline_message", base.decline_message)
    )


def flat(s: Settings) -> dict[str, Any]:
    """Every setting under its dotted key, as the config file spells it."""
    out: dict[str, Any] = {"timezone": s.timezone}
    wd = s.workday
    out["workday.days"] = [DAY_NAMES[d] for d in sorted(wd.days)]
    out["workday.hours"] = _spelled(wd.hours_of_usual_day())
    for day, ranges in wd.weekdays:
        out[f"workday.{DAY_NAMES[day]}"] = _spelled(ranges)
    for p in s.blocks:
        keys = ["minutes", "min_chunk", "title", "color"]
        if p.kind is BlockKind.PREP:
            keys.append("client_meeting_minutes")
        for key in keys:
            out[f"blocks.{p.kind.value}.{key}"] = getattr(p, key)
        out[f"blocks.{p.kind.value}.window"] = _spelled((p.window,))[0] if p.window else ""
        out[f"blocks.{p.kind.value}.defense"] = p.defense
        out[f"blocks.{p.kind.value}.ramp_hours"] = p.ramp_hours
        out[f"blocks.{p.kind.value}.decline"] = p.decline
    sections = {
        "planning": s.planning,
        "followups": s.followups,
        "hold": s.hold,
        "alerts": s.alerts,
        "focus_time": s.focus_time,
        "report": s.report,
    }
    for name, section in sections.items():
        for key, value in vars(section).items():
            if isinstance(value, frozenset | tuple):
                value = sorted(str(v) for v in value)
            out[f"{name}.{key}"] = value
    if out["alerts.webhook_url"]:
        out["alerts.webhook_url"] = "(set; a secret, not shown)"
    return out


def spelled_keys(key: str) -> tuple[str, ...]:
    """The keys of a file that set `key` of `flat`: hours are set by start and end too."""
    if key == "workday.hours":
        return ("workday.hours", "workday.start", "workday.end")
    return (key,)


def _spelled(ranges: tuple[Range, ...]) -> list[str]:
    return [f"{s:%H:%M}-{e:%H:%M}" for s, e in ranges]
