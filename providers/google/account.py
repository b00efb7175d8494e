"""A Google account opened or connected: the session, its calendar and Gmail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from providers import quota
from providers.base import AccountSpec
from providers.credentials import store_for
from providers.errors import BadRequest
from providers.google import auth
from providers.google.calendar import GoogleCalendar
from providers.google.gmail import GmailMailbox
from providers.google.session import Options, Session
from providers.memo import Memo
from providers.memo import for_account as memo_for
from providers.memo import forget as forget_memo

__all__ = [
    "GmailMailbox",
    "GoogleCalendar",
    "admin_granted",
    "connect",
    "connected",
    "forget",
    "keep_grant",
    "open_account",
    "session_for",
]


def session_for(spec: AccountSpec) -> Session:
    """One session per account (and per thread). Raises AuthError when not connected."""
    store = store_for(spec)
    grant = auth.load(store, spec.name)
    options = Options(
        name=spec.name,
        email=spec.email or grant.email,
        api_root=spec.api_root,
        quota=quota.google_bucket(grant.credentials),
        **dict(spec.settings),
    )
    memo = memo_for(spec, "google")
    return Session(options, grant.credentials, memo, on_refresh=grant.save_token)


def open_account(spec: AccountSpec) -> tuple[GoogleCalendar, GmailMailbox]:
    session = session_for(spec)
    return GoogleCalendar(session, name=spec.name), GmailMailbox(session, name=spec.name)


def connect(
    spec: AccountSpec,
    *,
    client_secrets: Path | None = None,
    service_account_key: Path | None = None,
    subject: str = "",
    open_browser: bool = True,
    say: Callable[[str], None] | None = None,
    ask: Callable[[str], str] | None = None,
) -> str:
    """Connect the account once and return its address.

    The grant is stored only after Google has accepted it for a real request, so a
    failed connect leaves an earlier working grant in place.
    Raises BadRequest (bad files or flags), AuthError (consent or grant refused),
    TransientError (Google unreachable).
    """
    if service_account_key is not None:
        document = auth.delegated(service_account_key, subject)
    elif client_secrets is not None:
        document = auth.consent(
            client_secrets, open_browser=open_browser, say=say or print, ask=ask or input
        )
    else:
        raise BadRequest("give --client-secrets FILE, or --service-account KEY --subject USER")
    return keep_grant(spec, document)


def keep_grant(spec: AccountSpec, document: dict[str, Any]) -> str:
    """Try the grant on a real request, then store it over the account's; return the
    address it reaches."""
    trial = auth.grant(document)
    options = Options(name=spec.name, api_root=spec.api_root)
    session = Session(options, trial.credentials, Memo(None))
    profile = session.call(session.gmail.users().getProfile(userId="me"))
    document["email"] = str(profile.get("emailAddress", "")).lower()
    if session.credentials.token:
        document.update(auth.token_fields(session.credentials))  # the first run uses it
    store_for(spec).save(auth.secret_name(spec.name), document)
    forget_memo(spec, "google")  # another account must not inherit the last one's memory
    return str(document["email"])


def forget(spec: AccountSpec) -> str:
    """The account's grant revoked at Google (a person's; a service account's is the
    administrator's) and deleted, with its memory: the account is being removed.
    Returns a note when Google could not be told."""
    store = store_for(spec)
    document = store.load(auth.secret_name(spec.name))
    note = ""
    if document is not None and document.get("refresh_token"):
        note = auth.revoke(document)
    store.delete(auth.secret_name(spec.name))
    forget_memo(spec, "google")
    return note


def connected(spec: AccountSpec) -> bool:
    return store_for(spec).exists(auth.secret_name(spec.name))


def admin_granted(spec: AccountSpec) -> bool:
    document = store_for(spec).load(auth.secret_name(spec.name))
    return document is not None and document.get("type") == "service_account"
