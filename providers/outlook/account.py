"""A Microsoft 365 account opened or connected: the Graph session, its calendar and
Outlook mail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from providers.base import AccountSpec
from providers.credentials import SecretStore, store_for
from providers.errors import BadRequest
from providers.memo import Memo
from providers.memo import for_account as memo_for
from providers.memo import forget as forget_memo
from providers.outlook import auth, pool
from providers.outlook.calendar import OutlookCalendar
from providers.outlook.mail import OutlookMailbox
from providers.outlook.session import Call, Options, Session

__all__ = [
    "OutlookCalendar",
    "OutlookMailbox",
    "admin_granted",
    "connect",
    "connected",
    "forget",
    "keep_grant",
    "open_account",
    "session_for",
]


def session_for(spec: AccountSpec) -> Session:
    """One session per account, on the process's shared connections.
    Raises AuthError when not connected."""
    http = pool.shared()
    store = store_for(spec)
    grant = auth.load(store, spec.name, api_root=spec.api_root, session=http)
    memo = memo_for(spec, "outlook")
    options = Options(name=spec.name, api_root=spec.api_root, quota=grant.quota)
    return Session(options, grant, memo, http)


def open_account(spec: AccountSpec) -> tuple[OutlookCalendar, OutlookMailbox]:
    session = session_for(spec)
    return OutlookCalendar(session, name=spec.name), OutlookMailbox(session, name=spec.name)


def connect(
    spec: AccountSpec,
    *,
    client_id: str = "",
    tenant: str = "",
    login_root: str = "",
    app_only: bool = False,
    user: str = "",
    client_secret_file: Path | None = None,
    certificate: Path | None = None,
    thumbprint: str = "",
    say: Callable[[str], None] | None = None,
) -> str:
    """Connect the account once and return its address.

    The grant is stored only after Graph has accepted it for a real request, so a
    failed connect leaves an earlier working grant in place.
    Raises BadRequest (bad files or flags), AuthError (sign-in refused or abandoned),
    TransientError (Microsoft unreachable).
    """
    if not client_id:
        raise BadRequest("give --client-id: the application (client) id of your app registration")
    authority = auth.authority(login_root, tenant)
    http = requests.Session()
    if app_only:
        document = auth.app_only(
            client_id,
            authority,
            user,
            secret_file=client_secret_file,
            certificate=certificate,
            thumbprint=thumbprint,
        )
    else:
        document = auth.device_code(
            client_id, authority, api_root=spec.api_root, session=http, say=say or print
        )
    return keep_grant(spec, document, http)


def keep_grant(
    spec: AccountSpec, document: dict[str, Any], http: requests.Session | None = None
) -> str:
    """Try the grant on a real request, then store it over the account's; return the
    mailbox's address."""
    http = http or requests.Session()
    trial = SecretStore(spec.state_dir / "credentials" / ".trial")
    trial.save(auth.secret_name(spec.name), document)
    try:
        grant = auth.load(trial, spec.name, api_root=spec.api_root, session=http)
        options = Options(name=spec.name, api_root=spec.api_root)
        session = Session(options, grant, Memo(None), http)
        if grant.app_only:
            # What the worker will do, with only the permissions it asks for (reading
            # users/{id} itself would need User.Read.All).
            session.object(Call("GET", f"{session.user}/mailboxSettings"))
            me: dict[str, Any] = {"mail": grant.email}
        else:
            me = session.object(Call("GET", session.user, {"$select": "mail,userPrincipalName"}))
    finally:
        trial.delete(auth.secret_name(spec.name))
        auth.drop_app(spec.name)  # the trial's application must not serve the account
    address = str(me.get("mail") or me.get("userPrincipalName") or grant.email).lower()
    forget_memo(spec, "outlook")  # another mailbox must not inherit the last one's memory
    document["email"] = address
    store_for(spec).save(auth.secret_name(spec.name), document)
    return address


def forget(spec: AccountSpec) -> str:
    """The account's grant and memory, deleted: the account is being removed. Microsoft
    has no endpoint that revokes one app's grant for a person, so the note says where
    the person removes it."""
    store = store_for(spec)
    document = store.load(auth.secret_name(spec.name))
    store.delete(auth.secret_name(spec.name))
    forget_memo(spec, "outlook")
    auth.drop_app(spec.name)
    if document is None or document.get("type") == "app":
        return ""
    return (
        "firstblock no longer keeps a grant; to withdraw the consent itself, remove "
        "firstblock at https://myapps.microsoft.com"
    )


def connected(spec: AccountSpec) -> bool:
    return store_for(spec).exists(auth.secret_name(spec.name))


def admin_granted(spec: AccountSpec) -> bool:
    document = store_for(spec).load(auth.secret_name(spec.name))
    return document is not None and document.get("type") == "app"
