"""The TOML config: the team's settings at the top, the accounts with their own
settings over those, and what the worker itself needs (state, serve, team). Errors
name the file and the dotted key."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs

from providers import registry
from providers.base import Option
from worker.errors import ConfigError
from worker.models import BlockKind
from worker.reader import Reader
from worker.settings import (
    CANONICAL_ORDER,
    DAY_NAMES,
    DEFAULT_BLOCKS,
    DEFAULT_WORKDAY,
    SECTIONS,
    Alerts,
    BlockPolicy,
    FocusTime,
    Followups,
    Hold,
    Planning,
    Report,
    Settings,
    Workday,
    parse_settings,
)
from worker.text import excerpt

__all__ = [
    "CANONICAL_ORDER",
    "DAY_NAMES",
    "Account",
    "Alerts",
    "BlockPolicy",
    "Config",
    "FocusTime",
    "Followups",
    "Hold",
    "Planning",
    "Report",
    "Settings",
    "Workday",
]

APP = "firstblock"


@dataclass(frozen=True)
class Team:
    """Requests a second shared by every worker of a team; 0: no shared limit."""

    google_requests_per_second: int = 0  # per Google project
    microsoft_requests_per_second: int = 0  # per Microsoft tenant (and app)


@dataclass(frozen=True)
class Serve:
    interval_minutes: int = 15  # the regular reconcile; hold and release come on time too
    workers: int = 4  # accounts worked on at once
    # HOST:PORT of /healthz, /readyz and /metrics for serve and team workers; "": none.
    metrics_listen: str = field(
        default_factory=lambda: os.environ.get("FIRSTBLOCK_METRICS_LISTEN", "")
    )


@dataclass(frozen=True)
class Web:
    """`firstblock web`: where it listens, the address people reach it by, who is an
    admin. Without sign-in it serves only this machine (a loopback address)."""

    listen: str = "127.0.0.1:8421"
    base_url: str = ""  # e.g. https://firstblock.example.com/ behind a TLS proxy
    admins: tuple[str, ...] = ()  # addresses that see the Team page
    # Sign-in by provider name ([web.google], [web.outlook]): its checked options.
    signin: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    session_hours: int = 12  # a signed-in session lasts this long

    @property
    def signs_in(self) -> bool:
        return bool(self.signin)

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


@dataclass(frozen=True)
class Push:
    """Push notifications (worker/push.py): on when the web app has a public https
    address, which the providers post changes to."""

    enabled: bool = False
    # The safety-net interval while an account's push is healthy: the most frequent
    # poll that keeps an idle account under 0.1 requests an hour (bench/push.py).
    poll_hours: int = 16
    renew_hours: int = 24  # renew a channel this long before it expires
    debounce_seconds: int = 2  # a burst of notifications for one account: one cycle
    # Gmail's inbox, opt-in: through a Pub/Sub topic whose push subscription posts to
    # {base_url}push/gmail with an OIDC token of `gmail_service_account`.
    gmail_topic: str = ""  # projects/PROJECT/topics/TOPIC
    gmail_service_account: str = ""
    gmail_audience: str = ""  # the token's audience; "": the push address itself
    gmail_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"


@dataclass(frozen=True)
class Account:
    name: str
    provider: str
    email: str = ""
    # The keys its provider declares (a local calendar's file, an API root), checked.
    options: Mapping[str, Any] = field(default_factory=dict)
    # The account's own settings over the team's, complete; None: it has none of its own.
    settings: Settings | None = None
    origin: str = ""  # where it is defined, for messages: "FILE accounts[2]", "state store"


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
    report: Report = field(default_factory=Report)
    timezone: str = ""  # "" means: the calendar's zone, else the system's
    state_dir: Path = field(default_factory=lambda: default_state_dir())
    source: Path | None = None  # the file it came from; None for the built-in default
    workday_set: bool = False  # [workday] was given: it wins over a calendar's own hours
    serve: Serve = field(default_factory=Serve)
    web: Web = field(default_factory=Web)
    push: Push = field(default_factory=Push)
    # A postgresql:// URL: the state shared by a team's workers; "" keeps it in state_dir.
    state_url: str = field(default_factory=lambda: os.environ.get("FIRSTBLOCK_STATE_URL", ""))
    team: Team = field(default_factory=Team)
    own: frozenset[str] = frozenset()  # the settings keys the file sets at its top
    accounts_given: bool = False  # [[accounts]] in the file: no built-in default account

    @property
    def defaults(self) -> Settings:
        """The team's settings: what an account without its own gets."""
        return Settings(
            self.timezone,
            self.workday,
            self.blocks,
            self.planning,
            self.followups,
            self.hold,
            self.alerts,
            self.focus_time,
            self.workday_set,
            self.own,
            self.report,
        )

    def for_account(self, account: Account) -> Config:
        """This config as it applies to `account`: its own settings where it has them."""
        s = account.settings
        if s is None:
            return self
        return replace(
            self,
            timezone=s.timezone,
            workday=s.workday,
            blocks=s.blocks,
            planning=s.planning,
            followups=s.followups,
            hold=s.hold,
            alerts=s.alerts,
            focus_time=s.focus_time,
            workday_set=s.workday_set,
            report=s.report,
        )

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
        workday=DEFAULT_WORKDAY,
        blocks=DEFAULT_BLOCKS,
        accounts=(
            Account(
                name="local",
                provider="local",
                options={
                    "calendar": default_data_dir() / "calendar.ics",
                    "maildir": default_data_dir() / "Mail",
                },
            ),
        ),
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
    r = Reader(raw, str(source) if source else "")
    base = source.parent if source else Path.cwd()
    defaults = default_config()
    r.only(*SECTIONS, "state_dir", "state_url", "serve", "web", "push", "team", "accounts")
    team = parse_settings(r, Settings(), top=True)
    accounts = _accounts(r, base, team) if "accounts" in raw else defaults.accounts
    state_dir = r.path("state_dir", base) or defaults.state_dir
    state_url = _state_url(r, defaults.state_url)
    web = _web(r, base)
    return Config(
        team.workday,
        team.blocks,
        accounts,
        team.planning,
        team.followups,
        team.hold,
        team.alerts,
        team.focus_time,
        team.report,
        team.timezone,
        state_dir,
        source,
        workday_set=team.workday_set,
        serve=_serve(r),
        web=web,
        push=_push(r, web),
        state_url=state_url,
        team=_team(r),
        own=team.own,
        accounts_given="accounts" in raw,
    )


def _state_url(r: Reader, default: str) -> str:
    url = r.text("state_url", default)
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise r.error("state_url", "expected a postgresql:// URL (or leave it out for a file)")
    return url


def _serve(r: Reader) -> Serve:
    sv = r.sub("serve")
    sv.only("interval_minutes", "workers", "metrics_listen")
    interval, workers = sv.number("interval_minutes", 15), sv.number("workers", 4)
    if not 1 <= interval <= 24 * 60:
        raise sv.error("interval_minutes", "must be between 1 and 1440")
    if not 1 <= workers <= 64:
        raise sv.error("workers", "must be between 1 and 64")
    env = os.environ.get("FIRSTBLOCK_METRICS_LISTEN", "")
    listen = sv.text("metrics_listen", env)
    host, _, port = listen.rpartition(":")
    if listen and (not host.strip("[]") or not port.isdigit() or not 0 <= int(port) < 65536):
        why = f"expected HOST:PORT, like 127.0.0.1:9421, got {listen!r}"
        if "metrics_listen" in sv:
            raise sv.error("metrics_listen", why)
        raise ConfigError(f"FIRSTBLOCK_METRICS_LISTEN: {excerpt(why, 300)}")
    return Serve(interval, workers, listen)


def _web(r: Reader, base: Path) -> Web:
    w = r.sub("web")
    providers = [n for n in registry.names() if registry.provider(n).signin_options]
    w.only("listen", "base_url", "admins", "session_hours", *providers)
    listen = w.text("listen", Web.listen)
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise w.error("listen", f"expected HOST:PORT, like 127.0.0.1:8421, got {listen!r}")
    base_url = w.text("base_url", "")
    if base_url and not base_url.startswith(("https://", "http://")):
        raise w.error("base_url", "must be an http(s) URL")
    admins = tuple(a.lower() for a in w.strings("admins", []))
    for a in admins:
        if "@" not in a:
            raise w.error("admins", f"{a!r} is not an address")
    hours = w.number("session_hours", Web.session_hours)
    if not 1 <= hours <= 24 * 30:
        raise w.error("session_hours", "must be between 1 and 720")
    signin: dict[str, Mapping[str, Any]] = {}
    for name in providers:
        if name in w:
            table = w.sub(name)
            options = registry.provider(name).signin_options
            table.only(*options)
            signin[name] = {k: _option(table, k, o, base) for k, o in options.items() if k in table}
    if signin and not base_url:
        raise w.error("base_url", "sign-in needs the address people reach the app by")
    return Web(listen, base_url.rstrip("/") + "/" if base_url else "", admins, signin, hours)


def _push(r: Reader, web: Web) -> Push:
    p = r.sub("push")
    gmail = ("gmail_topic", "gmail_service_account", "gmail_audience", "gmail_certs_url")
    p.only("enabled", "poll_hours", "renew_hours", "debounce_seconds", *gmail)
    # Providers deliver only to https: without such an address, polling as before.
    enabled = p.flag("enabled", web.base_url.startswith("https://"))
    if enabled and not web.base_url:
        raise p.error("enabled", "push needs [web] base_url, the address providers post to")
    hours, renew = p.number("poll_hours", Push.poll_hours), p.number("renew_hours", 24)
    debounce = p.number("debounce_seconds", Push.debounce_seconds)
    if not 1 <= hours <= 48:
        raise p.error("poll_hours", "must be between 1 and 48")
    if not 1 <= renew <= 72:
        raise p.error("renew_hours", "must be between 1 and 72")
    if not 0 <= debounce <= 60:
        raise p.error("debounce_seconds", "must be between 0 and 60")
    topic, robot = p.text("gmail_topic", ""), p.text("gmail_service_account", "")
    if topic and not re.fullmatch(r"projects/[^/]+/topics/[^/]+", topic):
        raise p.error("gmail_topic", "expected projects/PROJECT/topics/TOPIC")
    if topic and "@" not in robot:
        # Any Google service account can mint a token for our address: name ours.
        raise p.error("gmail_service_account", "give the push subscription's service account")
    audience = p.text("gmail_audience", "") or (f"{web.base_url}push/gmail" if topic else "")
    certs = p.text("gmail_certs_url", Push.gmail_certs_url)
    if not certs.startswith(("https://", "http://")):
        raise p.error("gmail_certs_url", "must be an http(s) URL")
    return Push(enabled, hours, renew, debounce, topic, robot, audience, certs)


def _team(r: Reader) -> Team:
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
    r = Reader(raw, str(path))
    defaults = default_config()
    # Accounts without their own settings, which may not validate either.
    accounts = _accounts(r, path.parent, None) if "accounts" in raw else defaults.accounts
    state_dir = r.path("state_dir", path.parent) or defaults.state_dir
    state_url = _state_url(r, defaults.state_url)
    return replace(defaults, accounts=accounts, state_dir=state_dir, state_url=state_url)


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


def _accounts(r: Reader, base: Path, team: Settings | None) -> tuple[Account, ...]:
    """The [[accounts]]; each one's own settings over `team` (None: not read)."""
    accounts: list[Account] = []
    for i, a in enumerate(r.tables("accounts")):
        origin = f"{r.where} accounts[{i}]" if r.where else f"accounts[{i}]"
        account = account_from(a, base, team, origin)
        if any(x.name == account.name for x in accounts):
            raise a.error("name", f"two accounts are called {account.name!r}")
        accounts.append(account)
    if not accounts:
        raise r.error("accounts", "list at least one account, or leave [[accounts]] out")
    return tuple(accounts)


ACCOUNT_KEYS = ("name", "provider", "email")


def account_from(a: Reader, base: Path, team: Settings | None, origin: str) -> Account:
    """One account table, from the file or the state store; `base` for relative paths.
    Its provider says which other keys it takes. Raises ConfigError naming the source
    and the key."""
    name = a.text("name", "")
    if not name:
        raise a.error("name", "every account needs a name")
    if why := name_problem(name):
        raise a.error("name", why)
    kind = a.text("provider", "local")
    try:
        provider = registry.provider(kind)
    except registry.UnknownProvider as exc:
        raise a.error("provider", str(exc)) from None
    a.only(*ACCOUNT_KEYS, *provider.options, *SECTIONS)
    options: dict[str, Any] = {}
    for key, option in provider.options.items():
        if key in a:
            options[key] = _option(a, key, option, base)
    options = provider.defaults(name, options, default_data_dir())
    email = a.text("email", "").lower()
    own = None
    if team is not None and any(k in a for k in SECTIONS):
        own = parse_settings(a, team)
    return Account(name, kind, email, options, own, origin)


def _option(a: Reader, key: str, option: Option, base: Path) -> Any:
    """A provider's key, checked the way its kind says."""
    if option.kind == "path":
        return a.path(key, base)
    value = a.text(key, "")
    if option.kind in ("url", "https-url") and value:
        schemes = ("https://",) if option.kind == "https-url" else ("https://", "http://")
        if not value.startswith(schemes):
            raise a.error(key, f"must be an {'https' if len(schemes) == 1 else 'http(s)'} URL")
        return value if value.endswith("/") else value + "/"
    return value


STORE = "state store"


def with_stored(config: Config, stored: list[tuple[str, dict[str, Any]]]) -> Config:
    """The config with the accounts kept in the state store added. The built-in
    default account stays only while there are no accounts at all. Raises ConfigError
    for an account that does not validate, or whose name the file uses too."""
    if not stored:
        return config
    team = config.defaults
    mine = list(config.accounts) if config.accounts_given else []
    for name, table in stored:
        where = f"account {name} ({STORE})"
        if any(a.name == name for a in mine):
            raise ConfigError(
                f"{where}: {config.source} has an account called {name!r} too; "
                f"remove one (firstblock accounts remove {name})"
            )
        reader = Reader({**table, "name": name}, where)
        mine.append(account_from(reader, Path.cwd(), team, STORE))
    return replace(config, accounts=tuple(mine), accounts_given=True)
