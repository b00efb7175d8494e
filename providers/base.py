"""The contracts every provider implements: one for calendars, one for mailboxes.

Providers map their own data into `worker.models` types at their boundary and raise
only `providers.errors` exceptions. Capabilities are class attributes, so the worker
can ask what a provider can do before it tries.
"""

from __future__ import annotations

import abc
import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

from providers.errors import BadRequest
from providers.push import Reading
from worker.clock import Clock
from worker.models import (
    Alert,
    Change,
    Draft,
    Event,
    Message,
    Op,
    Snapshot,
    Window,
    WorkHours,
)

__all__ = [
    "AccountSpec",
    "Alert",
    "CalendarProvider",
    "Draft",
    "Listener",
    "MailProvider",
    "Message",
    "Option",
    "Provider",
    "SignedIn",
    "WebSignIn",
]


class Documents(Protocol):
    """Named text documents that every worker of a team finds: the credentials and the
    providers' memos, kept in the shared state instead of files in state_dir."""

    def read(self, name: str) -> str | None: ...
    def write(self, name: str, text: str) -> None: ...
    def remove(self, name: str) -> None: ...


@dataclass(frozen=True)
class AccountSpec:
    """What a provider needs to open, connect or forget one account."""

    name: str
    email: str = ""
    state_dir: Path = Path(".")  # credentials and the provider's memory live under it
    api_root: str = ""  # "" for the provider's own; a proxy, national cloud or emulator
    # How blocks are written, from the account's settings (Focus Time on Google).
    settings: Mapping[str, Any] = field(default_factory=dict)
    shared: Documents | None = None  # a team's shared state: credentials and memos there
    # The account's own keys this provider declares (Provider.options), checked.
    options: Mapping[str, Any] = field(default_factory=dict)
    # A dry run (plan, status, gaps): read the memo and the grant, write neither back.
    read_only: bool = False


@dataclass(frozen=True)
class Option:
    """An [[accounts]] key a provider takes, beyond name, provider and email. `kind`
    says how the config checks it: "path" (relative to the config file), "url" (http
    or https), "https-url"; "text" is taken as it is."""

    kind: str
    help: str


@dataclass(frozen=True)
class SignedIn:
    """Who signed in, as the provider's ID token says, and the grant to store: None
    when only the identity was asked for."""

    email: str
    grant: dict[str, Any] | None = None


class WebSignIn(abc.ABC):
    """A provider's sign-in for the web app: the OAuth 2.0 authorization-code flow for
    web applications, with PKCE and `state`. What `begin` returns to keep is kept by
    the caller (in the rep's signed session) until the browser comes back."""

    label: str = ""  # "Google", "Microsoft": what the button says

    @abc.abstractmethod
    def begin(
        self, redirect_uri: str, *, connect: bool, login_hint: str = ""
    ) -> tuple[str, dict[str, Any]]:
        """The address to send the browser to, and what to keep until it returns
        (JSON, with the flow's `state` under "state"). `connect` asks for the
        account's scopes with offline access; otherwise only who the person is
        (OpenID Connect, `openid email`)."""

    @abc.abstractmethod
    def finish(self, kept: Mapping[str, Any], answer: Mapping[str, str]) -> SignedIn:
        """Redeem the code the browser brought back (`answer`: the callback's query).
        The caller has checked `state` already. Raises AuthError when the provider
        refuses (a replayed or expired code, a denied consent), TransientError."""


class Listener(Protocol):
    """A provider's own watch over one account, running until stopped (IMAP IDLE)."""

    def stop(self) -> None: ...


class Provider(abc.ABC):
    """One kind of account, as the registry knows it: how to open an account, how to
    connect one, the account keys it takes and its `connect` flags. Adding a provider
    means a package with one of these and one registry entry; the worker and the CLI
    ask it, never test its name. Its module imports nothing heavy: the extras load
    when an account is opened or connected."""

    name: str = ""
    options: ClassVar[Mapping[str, Option]] = {}
    #: Connected once (`firstblock connect NAME`), with a grant kept in credentials.
    connectable: bool = False
    #: The keys of its [web.NAME] table: reps sign in with it in the web app.
    signin_options: ClassVar[Mapping[str, Option]] = {}

    def defaults(self, account: str, options: dict[str, Any], data_dir: Path) -> dict[str, Any]:
        """The account's options with this provider's defaults filled in."""
        return options

    def where(self, options: Mapping[str, Any]) -> str:
        """Where the account's data lives, for `status` (a file, say); "" when elsewhere."""
        return ""

    @abc.abstractmethod
    def open(self, spec: AccountSpec, clock: Clock) -> tuple[CalendarProvider, MailProvider | None]:
        """The account's calendar and mailbox (None: no mail for it).

        Raises AuthError (not connected, revoked), ProviderError, BadRequest."""

    def connect_flags(self, parser: argparse.ArgumentParser) -> list[str]:
        """Add this provider's `connect` flags; return their names (the argparse dests)."""
        return []

    def connect(self, spec: AccountSpec, args: argparse.Namespace) -> str:
        """Connect the account once, from its `connect` flags; return its address.

        Raises BadRequest (wrong flags or files), AuthError, TransientError."""
        raise BadRequest(f"{self.name} accounts need no connecting")

    def forget(self, spec: AccountSpec) -> str:
        """Revoke (where the provider can) and delete the account's grant and memory:
        it is being removed. Returns a note for the person when revoking was not
        possible, else "". Raises ProviderError only for what is kept here."""
        return ""

    def web_signin(self, options: Mapping[str, Any]) -> WebSignIn:
        """Its sign-in for the web app, from its checked [web.NAME] options."""
        raise BadRequest(f"{self.name} accounts have no sign-in")

    def connected(self, spec: AccountSpec) -> bool:
        """Whether the account has a grant kept (or needs none)."""
        return True

    def admin_granted(self, spec: AccountSpec) -> bool:
        """Whether its grant is one only an administrator makes (delegation, app-only):
        the web app then never replaces it."""
        return False

    def read_push(
        self, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> Reading:
        """What a request posted to /push/NAME says (header names in lower case); its
        calendar and mailbox are then `providers.push.Watcher`s. Raises BadRequest when
        the request is no notification at all."""
        raise BadRequest(f"{self.name} accounts have no push notifications")

    def listen(self, spec: AccountSpec, wake: Callable[[str], None]) -> Listener | None:
        """Start watching the account over a connection of its own and call `wake`
        (with why) when something changed that its next cycle should see at once; None
        where the provider has no such watch. `serve` starts one per account and stops
        it when the account goes. Raises what `open` raises."""
        return None

    def keep_grant(self, spec: AccountSpec, grant: dict[str, Any]) -> str:
        """Try a grant from `WebSignIn.finish` on a real request, then store it over the
        account's; return the address it reaches. Raises AuthError, TransientError."""
        raise BadRequest(f"{self.name} accounts need no connecting")


class CalendarProvider(abc.ABC):
    """One calendar of one account.

    Ownership is enforced here, once, for every provider: `apply` refuses a change
    that would touch a block the user moved or edited, and every change names a block
    (an event carrying the worker's tag), so nothing else can be written.
    """

    #: Blocks can be Focus Time events that decline conflicting invitations (Google).
    supports_focus_time: bool = False
    #: `decline` answers an invitation for the calendar's owner (worker/declines.py).
    supports_decline: bool = False
    #: `fetch` can answer from an incremental cursor instead of a full listing.
    supports_incremental: bool = False

    def __init__(self, *, name: str) -> None:
        self.name = name
        # Set by the worker when push says nothing changed since the last read (a
        # wake-up of the hold, say): `fetch` and `timezone` may answer from what was
        # read then, without a request. The safety-net poll never sets it.
        self.quiet = False

    def timezone(self) -> str | None:
        """The calendar's own IANA zone, when it declares one. Raises what `fetch` does."""
        return None

    def notes(self) -> list[str]:
        """Facts worth showing in `status`, e.g. how blocks are protected here."""
        return []

    def owner(self) -> str:
        """The address of the calendar's owner when the provider knows it, else ""."""
        return ""

    def working_hours(self) -> WorkHours | None:
        """The working hours the calendar's settings declare, if it has such settings.
        Raises what `fetch` does."""
        return None

    @abc.abstractmethod
    def fetch(self, window: Window) -> Snapshot:
        """Return the events and the worker's own blocks that overlap `window`.

        Recurring series are expanded into occurrences. Events the provider cannot
        fully read are returned with `problem` set (and counted as busy), never dropped.

        Raises AuthError (reconnect), DataError (the calendar cannot be read at all;
        nothing is written), TransientError or RateLimited (try later).
        """

    def apply(self, changes: Sequence[Change]) -> list[Change]:
        """Write `changes` and return them as applied (blocks carry their new etag).

        Each change is idempotent: creating a block whose id exists already leaves one
        copy; deleting a block that is gone succeeds. All-or-nothing where the backend
        allows it (the local file is written once, atomically).

        Raises BadRequest for a change that breaks ownership, Conflict when a block
        changed since it was fetched (re-fetch and re-plan), plus what `fetch` raises.
        """
        for change in changes:
            if change.op is not Op.CREATE:
                if change.before is None:
                    raise BadRequest(
                        f"{change.op.value} of {change.block.key} without the block as found"
                    )
                if change.before.touched:
                    raise BadRequest(
                        f"block {change.block.key} was changed by the user; not touching it"
                    )
        if not changes:
            return []
        return self._apply(changes)

    @abc.abstractmethod
    def _apply(self, changes: Sequence[Change]) -> list[Change]:
        """Provider-specific writes for `apply`, which has checked ownership already."""

    def upkeep(self) -> None:
        """Care of firstblock's own blocks that the plan does not see, after a
        committing cycle's writes (Google: Focus Time's auto-decline as the settings now
        say). Raises what `apply` does."""
        return None  # most providers have nothing the plan does not see

    def decline(self, event: Event, message: str) -> None:
        """Set the owner's own answer to `event`, an invitation as fetched, to
        declined, with `message` for the organizer; nothing else about it changes.
        Only where `supports_decline`.

        Raises Conflict when it changed since it was fetched, NotFound when it is
        gone, BadRequest when the owner cannot answer it, plus what `fetch` raises."""
        raise BadRequest(f"{type(self).__name__} cannot answer invitations")


class MailProvider(abc.ABC):
    """One mailbox of one account.

    A held message is only relabelled or moved into a worker-owned place, never copied,
    deleted or altered; held mail is always found again from the mailbox itself.
    """

    #: A server-side rule can hold mail at arrival (Gmail filter, Outlook inbox rule).
    supports_hold_rule: bool = False
    #: It keeps drafts (`save_draft`).
    supports_drafts: bool = False

    def __init__(self, *, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    def list_inbox(self, since: datetime | None) -> list[Message]:
        """Messages now in the inbox that arrived at or after `since` (all when None).

        Raises AuthError, TransientError, RateLimited.
        """

    @abc.abstractmethod
    def list_held(self) -> list[Message]:
        """Every message now held, found by the worker's label or folder.

        Raises AuthError, TransientError, RateLimited.
        """

    @abc.abstractmethod
    def hold(self, ids: Sequence[str]) -> int:
        """Take these messages out of the inbox into the hold; return how many moved.

        Idempotent: a message already held, or gone, is skipped. One whose id is taken
        in the hold moves under a new id, counted, and reported by `take_renamed`.
        Raises AuthError, TransientError, RateLimited.
        """

    @abc.abstractmethod
    def release(self, ids: Sequence[str]) -> int:
        """Return these held messages to the inbox, flags unchanged; return how many.

        Idempotent: a message already back in the inbox, or gone, is skipped. One whose
        id is taken in the inbox moves under a new id, counted, and reported by
        `take_renamed`. Raises AuthError, TransientError, RateLimited.
        """

    def count_held(self) -> int:
        """How many messages are held. Raises what `list_held` does."""
        return len(self.list_held())

    def release_all(self) -> int:
        """Return every held message; return how many. Raises what `release` does."""
        return self.release([m.id for m in self.list_held()])

    def take_renamed(self) -> list[tuple[str, str]]:
        """(old id, new id) of every message that `hold`, `release` or `release_all`
        moved under a new id since the last call, because its id was taken where it
        went; the list starts empty again. Providers whose ids cannot clash return []."""
        return []

    @abc.abstractmethod
    def deliver(self, alert: Alert, *, first_try: bool = False) -> None:
        """Put an alert in the inbox, exempt from the hold. Idempotent per `alert.key`.
        `first_try`: the caller knows no earlier attempt at this key could have landed,
        so a provider may skip looking for one (a request saved per alert).

        Raises AuthError, TransientError, RateLimited.
        """

    def save_draft(self, draft: Draft) -> None:
        """Put `draft` in the user's drafts, once per `draft.key`, for them to send or
        not: it is never sent from here. Only called when `supports_drafts`. Raises
        AuthError, TransientError, RateLimited."""
        raise NotImplementedError(f"{type(self).__name__} keeps no drafts")

    def set_hold_rule(self, allowed: Sequence[str] | None) -> None:
        """Install (or, with None, remove) the server-side rule that holds new mail
        from everyone except `allowed` addresses and @domains. Only called when
        `supports_hold_rule`. Raises AuthError, TransientError, RateLimited.
        """
        raise NotImplementedError(f"{type(self).__name__} has no server-side hold rule")
