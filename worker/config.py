"""The TOML config: one typed schema, validated with errors that name file and key."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs

from worker import notify
from worker.errors import ConfigError
from worker.models import BlockKind
from worker.text import excerpt

APP = "firstblock"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CANONICAL_ORDER = (BlockKind.PROSPECTING, BlockKind.DEALS, BlockKind.PREP, BlockKind.ADMIN)
PROVIDERS = ("local", "memory", "google", "outlook")

DEFAULT_TITLES = {
    BlockKind.PROSPECTING: "Prospecting",
    BlockKind.DEALS: "Advance deals",
    BlockKind.PREP: "Prep",
    BlockKind.ADMIN: "Admin: email & CRM",
}
DEFAULT_MINUTES = {
    BlockKind.PROSPECTING: (90, 30),
    BlockKind.DEALS: (60, 30),
    BlockKind.PREP: (30, 15),
    BlockKind.ADMIN: (45, 15),
}


@dataclass(frozen=True)
class BlockPolicy:
    kind: BlockKind
    minutes: int
    min_chunk: int
    title: str
    color: str = ""  # a provider colour id or Outlook category; "" for the default
    client_meeting_minutes: int = 0  # prep only: a prep block before each client meeting


@dataclass(frozen=True)
class Workday:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time


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


@dataclass(frozen=True)
class Alerts:
    email: bool = True  # into the account's own mailbox
    webhook_url: str = ""  # Slack-compatible incoming webhook; a secret, never logged


@dataclass(frozen=True)
class Hold:
    enabled: bool = True
    allow: tuple[str, ...] = ()  # addresses, or "@domain" for a whole domain
    allow_meeting_attendees_days: int = 2


@dataclass(frozen=True)
class Team:
    """Requests a second shared by every worker of a team; 0: no shared limit."""

    google_requests_per_second: int = 0  # per Google project
    microsoft_requests_per_second: int = 0  # per Microsoft tenant (and app)


@dataclass(frozen=True)
class Serve:
    interval_minutes: int = 15  # the regular reconcile; hold and release come on time too
    workers: int = 4  # accounts worked on at once


@dataclass(frozen=True)
class FocusTime:
    """How blocks defend themselves where the calendar has Focus Time (Google)."""

    enabled: bool = True
    auto_decline: str = "new"  # none | new | all: which conflicting invitations to decline
    decline_message: str = "I'm in a focus block. Please suggest another time."


@dataclass(frozen=True)
class Account:
    name: str
    provider: str
    email: str = ""
    calendar: Path | None = None  # local provider: the .ics file
    maildir: Path | None = None  # local provider: the Maildir; None means no mail
    api_root: str = ""  # google/outlook: "" for the provider's own; a proxy otherwise
    login_root: str = ""  # outlook: the sign-in root of a national cloud; "" for the global


@dataclass(frozen=True)
class Config:
    workday: Workday
    blocks: tuple[BlockPolicy, ...]
    accounts: tuple[Account, ...]
    planning: Planning = field(default_factory=Planning)
    followups: Followups = field(default_factory=Followups)
    hold: Hold = field(default_factory=Hold)
    alerts: Alerts = field(default_factory=Alerts)
    focus_time: FocusTime = field(default_factory=FocusTime)
    timezone: str = ""  # "" means: the calendar's zone, else the system's
    state_dir: Path = field(default_factory=lambda: default_state_dir())
    source: Path | None = None  # the file it came from; None for the built-in default
    workday_set: bool = False  # [workday] was given: it wins over a calendar's own hours
    serve: Serve = field(default_factory=Serve)
    # A postgresql:// URL: the state shared by a team's workers; "" keeps it in state_dir.
    state_url: str = field(default_factory=lambda: os.environ.get("FIRSTBLOCK_STATE_URL", ""))
    team: Team = field(default_factory=Team)

    def state_location(self) -> Path | str:
        """Where State lives: the shared database, or the file in state_dir."""
        return self.state_url or self.state_dir / "state.sqlite3"

    def policy(self, kind: BlockKind) -> BlockPolicy | None:
        return next((p for p in self.blocks if p.kind is kind), None)

    def internal_domains_for(self, account: Account) -> tuple[str, ...]:
        """Internal domains default to the account's own domain."""
        if self.followups.internal_domains:
            return self.followups.internal_domains
        return (account.email.rpartition("@")[2].lower(),) if "@" in account.email else ()


def default_data_dir() -> Path:
    return Path(os.environ.get("FIRSTBLOCK_DATA_DIR") or platformdirs.user_data_dir(APP))


def default_state_dir() -> Path:
    return Path(os.environ.get("FIRSTBLOCK_STATE_DIR") or platformdirs.user_state_dir(APP))


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def default_config() -> Config:
    """What runs with no config file: blocks in a local calendar, nothing connected."""
    return Config(
        workday=Workday(frozenset(range(5)), time(8, 30), time(17, 30)),
        blocks=tuple(_default_policy(k) for k in CANONICAL_ORDER),
        accounts=(
            Account(
                name="local",
                provider="local",
                calendar=default_data_dir() / "calendar.ics",
                maildir=default_data_dir() / "Mail",
            ),
        ),
    )


def _default_policy(kind: BlockKind) -> BlockPolicy:
    minutes, chunk = DEFAULT_MINUTES[kind]
    return BlockPolicy(
        kind,
        minutes,
        chunk,
        DEFAULT_TITLES[kind],
        client_meeting_minutes=15 if kind is BlockKind.PREP else 0,
    )


def load(path: Path) -> Config:
    """Read and validate a config file. Raises ConfigError naming the file and key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file (run `firstblock init` to write one)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse(raw, source=path)


def parse(raw: dict[str, Any], *, source: Path | None = None) -> Config:
    r = _Reader(raw, source)
    base = source.parent if source else Path.cwd()
    defaults = default_config()
    r.only(
        "timezone",
        "state_dir",
        "state_url",
        "workday",
        "blocks",
        "planning",
        "followups",
        "hold",
        "alerts",
        "focus_time",
        "serve",
        "team",
        "accounts",
    )

    tz = r.text("timezone", "")
    if tz:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise r.error(
                "timezone", f"unknown time zone {tz!r} (use an IANA name like 'America/New_York')"
            ) from None

    wd = r.sub("workday")
    wd.only("days", "start", "end")
    days = wd.strings("days", list(DAY_NAMES[:5]))
    for d in days:
        if d not in DAY_NAMES:
            raise wd.error("days", f"unknown day {d!r} (use {', '.join(DAY_NAMES)})")
    workday = Workday(
        frozenset(DAY_NAMES.index(d) for d in days),
        wd.clock("start", defaults.workday.start),
        wd.clock("end", defaults.workday.end),
    )
    if workday.end <= workday.start:
        raise wd.error(
            "end",
            f"{workday.end:%H:%M} is not after start {workday.start:%H:%M}: "
            "a workday that crosses midnight is not supported",
        )

    blocks = _blocks(r) if "blocks" in raw else defaults.blocks
    day = (workday.end.hour * 60 + workday.end.minute) - (
        workday.start.hour * 60 + workday.start.minute
    )
    for i, policy in enumerate(blocks):
        if policy.min_chunk > day:
            key = f"blocks[{i}].min_chunk" if "blocks" in raw else "workday.end"
            raise r.error(
                key,
                f"{policy.kind.value} needs at least {policy.min_chunk} minutes in one piece,"
                f" but the workday is {day} minutes long",
            )

    pl = r.sub("planning")
    pl.only("horizon_workdays", "tentative_is_busy", "holidays")
    horizon = pl.number("horizon_workdays", 5)
    if not 0 <= horizon <= 60:
        raise pl.error("horizon_workdays", "must be between 0 and 60")
    holidays = set()
    for h in pl.strings("holidays", []):
        try:
            holidays.add(date.fromisoformat(h))
        except ValueError:
            raise pl.error("holidays", f"{h!r} is not a date like 2026-12-25") from None
    planning = Planning(
        horizon,
        pl.flag("tentative_is_busy", True),
        frozenset(holidays),
    )

    fu = r.sub("followups")
    fu.only("internal_domains", "ignore", "lookahead_days", "lookback_days", "grace_minutes")
    for key, top in (("lookahead_days", 365), ("lookback_days", 365), ("grace_minutes", 24 * 60)):
        if not 0 <= fu.number(key, 0) <= top:
            raise fu.error(key, f"must be between 0 and {top}")
    followups = Followups(
        tuple(d.lower().lstrip("@") for d in fu.strings("internal_domains", [])),
        tuple(i.lower() for i in fu.strings("ignore", [])),
        fu.number("lookahead_days", 30),
        fu.number("lookback_days", 14),
        fu.number("grace_minutes", 60),
    )

    al = r.sub("alerts")
    al.only("email", "webhook_url")
    webhook = al.text("webhook_url", "")
    if webhook and (why := notify.problem(webhook)):
        raise al.error("webhook_url", f"not a usable webhook URL: {why} (the URL is not shown)")
    alerts = Alerts(al.flag("email", True), webhook)

    ho = r.sub("hold")
    ho.only("enabled", "allow", "allow_meeting_attendees_days")
    attendee_days = ho.number("allow_meeting_attendees_days", 2)
    if not 0 <= attendee_days <= 60:
        raise ho.error("allow_meeting_attendees_days", "must be between 0 and 60")
    for entry in ho.strings("allow", []):
        if "@" not in entry and "." not in entry:
            raise ho.error("allow", f"{entry!r} is neither an address nor a @domain")
    hold = Hold(ho.flag("enabled", True), tuple(ho.strings("allow", [])), attendee_days)

    ft = r.sub("focus_time")
    ft.only("enabled", "auto_decline", "decline_message")
    mode = ft.text("auto_decline", FocusTime.auto_decline)
    if mode not in ("none", "new", "all"):
        raise ft.error("auto_decline", f"unknown mode {mode!r} (use none, new or all)")
    focus_time = FocusTime(
        ft.flag("enabled", True), mode, ft.text("decline_message", FocusTime.decline_message)
    )

    accounts = _accounts(r, base) if "accounts" in raw else defaults.accounts
    state_dir = r.path("state_dir", base) or defaults.state_dir
    state_url = _state_url(r, defaults.state_url)
    return Config(
        workday,
        blocks,
        accounts,
        planning,
        followups,
        hold,
        alerts,
        focus_time,
        tz,
        state_dir,
        source,
        workday_set="workday" in raw,
        serve=_serve(r),
        state_url=state_url,
        team=_team(r),
    )


def _state_url(r: _Reader, default: str) -> str:
    url = r.text("state_url", default)
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise r.error("state_url", "expected a postgresql:// URL (or leave it out for a file)")
    return url


def _serve(r: _Reader) -> Serve:
    sv = r.sub("serve")
    sv.only("interval_minutes", "workers")
    interval, workers = sv.number("interval_minutes", 15), sv.number("workers", 4)
    if not 1 <= interval <= 24 * 60:
        raise sv.error("interval_minutes", "must be between 1 and 1440")
    if not 1 <= workers <= 64:
        raise sv.error("workers", "must be between 1 and 64")
    return Serve(interval, workers)


def _team(r: _Reader) -> Team:
    t = r.sub("team")
    keys = ("google_requests_per_second", "microsoft_requests_per_second")
    t.only(*keys)
    limits = [t.number(k, 0) for k in keys]
    for key, value in zip(keys, limits, strict=True):
        if value < 0:
            raise t.error(key, "must be 0 (no limit) or more")
    return Team(*limits)


def accounts_only(path: Path) -> Config:
    """The default config with only the [[accounts]] and state_dir of a config file:
    for `release`, which must work even when the rest of the file does not validate.
    Raises ConfigError."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    r = _Reader(raw, path)
    defaults = default_config()
    accounts = _accounts(r, path.parent) if "accounts" in raw else defaults.accounts
    state_dir = r.path("state_dir", path.parent) or defaults.state_dir
    state_url = _state_url(r, defaults.state_url)
    return replace(defaults, accounts=accounts, state_dir=state_dir, state_url=state_url)


def _blocks(r: _Reader) -> tuple[BlockPolicy, ...]:
    items = r.tables("blocks")
    policies: list[BlockPolicy] = []
    for b in items:
        b.only("kind", "minutes", "min_chunk", "title", "color", "client_meeting_minutes")
        name = b.text("kind", "")
        try:
            kind = BlockKind(name)
        except ValueError:
            raise b.error(
                "kind", f"unknown kind {name!r} (use prospecting, deals, prep, admin)"
            ) from None
        if any(p.kind is kind for p in policies):
            raise b.error("kind", f"{name} appears twice")
        dm, dc = DEFAULT_MINUTES[kind]
        minutes, chunk = (
            b.number("minutes", dm),
            b.number("min_chunk", min(dc, b.number("minutes", dm))),
        )
        if not 0 < chunk <= minutes <= 12 * 60:
            raise b.error("min_chunk", "need 0 < min_chunk <= minutes <= 720")
        cm = b.number("client_meeting_minutes", 15 if kind is BlockKind.PREP else 0)
        if cm and kind is not BlockKind.PREP:
            raise b.error("client_meeting_minutes", "only the prep block has client-meeting prep")
        if not 0 <= cm <= 240:
            raise b.error("client_meeting_minutes", "must be between 0 and 240")
        policies.append(
            BlockPolicy(
                kind, minutes, chunk, b.text("title", DEFAULT_TITLES[kind]), b.text("color", ""), cm
            )
        )
    order = [p.kind for p in policies]
    if order != sorted(order, key=CANONICAL_ORDER.index):
        raise r.error(
            "blocks",
            "kinds must come in the order prospecting, deals, prep, admin: "
            "that order is the point of firstblock",
        )
    return tuple(policies)


_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


def name_problem(name: str) -> str:
    """Why `name` cannot name an account, or "". Names become file names (locks,
    credentials, memos), so only plain ones: no path, no dot first, no controls."""
    if _PLAIN.fullmatch(name):
        return ""
    return (
        f"{name!r} is not a plain name: use up to 64 letters, digits and . _ - @ +,"
        " starting with a letter or digit"
    )


def _accounts(r: _Reader, base: Path) -> tuple[Account, ...]:
    accounts: list[Account] = []
    for a in r.tables("accounts"):
        a.only("name", "provider", "email", "calendar", "maildir", "api_root", "login_root")
        name = a.text("name", "")
        if not name:
            raise a.error("name", "every account needs a name")
        if why := name_problem(name):
            raise a.error("name", why)
        if any(x.name == name for x in accounts):
            raise a.error("name", f"two accounts are called {name!r}")
        provider = a.text("provider", "local")
        if provider not in PROVIDERS:
            raise a.error("provider", f"unknown provider {provider!r} (use {', '.join(PROVIDERS)})")
        calendar = a.path("calendar", base)
        if provider == "local" and calendar is None:
            calendar = default_data_dir() / f"{name}.ics"
        maildir = a.path("maildir", base)
        if maildir is not None and provider != "local":
            raise a.error("maildir", "only local accounts have a Maildir")
        api_root = a.text("api_root", "")
        if api_root and provider not in ("google", "outlook"):
            raise a.error("api_root", "only google and outlook accounts have an API root")
        if api_root and not api_root.startswith(("https://", "http://")):
            raise a.error("api_root", "must be an http(s) URL")
        if api_root and not api_root.endswith("/"):
            api_root += "/"
        login_root = a.text("login_root", "")
        if login_root and provider != "outlook":
            raise a.error("login_root", "only outlook accounts have a sign-in root")
        if login_root and not login_root.startswith("https://"):
            raise a.error("login_root", "must be an https URL")
        if login_root and not login_root.endswith("/"):
            login_root += "/"
        email = a.text("email", "").lower()
        accounts.append(Account(name, provider, email, calendar, maildir, api_root, login_root))
    if not accounts:
        raise r.error("accounts", "list at least one account, or leave [[accounts]] out")
    return tuple(accounts)


class _Reader:
    """Typed access to one TOML table; every error names the file and the dotted key."""

    def __init__(self, raw: dict[str, Any], source: Path | None, prefix: str = "") -> None:
        self.raw, self.source, self.prefix = raw, source, prefix

    def error(self, key: str, message: str) -> ConfigError:
        where = excerpt(str(self.source), 300) if self.source else "config"
        # Messages quote values from the file: bounded and escaped, on one line.
        return ConfigError(f"{where}: {self.prefix}{key}: {excerpt(message, 300)}")

    def only(self, *keys: str) -> None:
        for k in self.raw:
            if k not in keys:
                raise self.error(k, f"unknown key (known here: {', '.join(keys)})")

    def _get(self, key: str, default: Any, kind: type | tuple[type, ...], what: str) -> Any:
        value = self.raw.get(key, default)
        if isinstance(value, bool) and kind is not bool:
            raise self.error(key, f"expected {what}, got {value!r}")
        if not isinstance(value, kind):
            raise self.error(key, f"expected {what}, got {value!r}")
        return value

    def text(self, key: str, default: str) -> str:
        return str(self._get(key, default, str, "a string"))

    def number(self, key: str, default: int) -> int:
        return int(self._get(key, default, int, "a whole number"))

    def flag(self, key: str, default: bool) -> bool:
        return bool(self._get(key, default, bool, "true or false"))

    def strings(self, key: str, default: list[str]) -> list[str]:
        value = self._get(key, default, list, "a list of strings")
        if not all(isinstance(v, str) for v in value):
            raise self.error(key, "expected a list of strings")
        return list(value)

    def clock(self, key: str, default: time) -> time:
        value = self.raw.get(key)
        if value is None:
            return default
        if isinstance(value, time):
            return value
        try:
            hh, mm = str(value).split(":")
            return time(int(hh), int(mm))
        except ValueError:
            raise self.error(key, f'expected a time like "08:30", got {value!r}') from None

    def path(self, key: str, base: Path) -> Path | None:
        value = self.text(key, "")
        if not value:
            return None
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            raise self.error(key, "a path cannot hold a NUL or other control character")
        p = Path(os.path.expandvars(value)).expanduser()
        return p if p.is_absolute() else base / p

    def sub(self, key: str) -> _Reader:
        return _Reader(self._get(key, {}, dict, "a table"), self.source, f"{self.prefix}{key}.")

    def tables(self, key: str) -> list[_Reader]:
        items = self._get(key, [], list, "a list of tables ([[" + key + "]])")
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.error(key, "expected tables ([[" + key + "]])")
            out.append(_Reader(item, self.source, f"{self.prefix}{key}[{i}]."))
        return out
