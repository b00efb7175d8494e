"""Connecting a Microsoft 365 account once, and the access tokens every run uses.

Two ways in, both through MSAL: a person signs in with the device-code flow (works on
a machine with no browser), or an organisation's app registration acts for one
mailbox with app-only access (client secret or certificate, admin consent). Either
is stored as one document in the SecretStore: MSAL's token cache for a person, the
app's credential for app-only. Tokens are refreshed silently by MSAL.

MSAL applications live as long as the process (`serve` runs every account's cycles in
one): built afresh each cycle, they would fetch the authority's metadata and, for
app-only, a new token every cycle. One app-only application serves every mailbox it
acts for, with one token.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msal
import msal.exceptions
import requests

from providers import quota
from providers.credentials import SecretStore
from providers.errors import AuthError, BadRequest, TransientError

LOGIN_ROOT = "https://login.microsoftonline.com/"
GRAPH_ROOT = "https://graph.microsoft.com/"
# Delegated permissions, the fewest that do the job; the README says why each is needed.
SCOPES = (
    "Calendars.ReadWrite",  # read the calendar, write the blocks
    "Mail.ReadWrite",  # list mail, move it into the held folder and back
    "Mail.Send",  # alerts, sent to yourself
    "MailboxSettings.ReadWrite",  # time zone, working hours, the inbox rule
    "User.Read",  # who signed in
)


def secret_name(account: str) -> str:
    return f"outlook-{account}"


# National clouds are resources of their own; a proxy in front of the global Graph
# (or the test emulator) is not, so its tokens are asked for Graph itself.
NATIONAL_ROOTS = (
    "https://graph.microsoft.us/",
    "https://dod-graph.microsoft.us/",
    "https://microsoftgraph.chinacloudapi.cn/",
)


def resource(api_root: str) -> str:
    return api_root if api_root in NATIONAL_ROOTS else GRAPH_ROOT


def scopes_for(api_root: str) -> list[str]:
    """Short names mean Graph's global cloud; a national cloud needs its own prefix."""
    if resource(api_root) == GRAPH_ROOT:
        return list(SCOPES)
    return [resource(api_root) + s for s in SCOPES]


@dataclass
class Grant:
    token: Callable[[bool], str]  # token(force_refresh) -> access token
    email: str  # the mailbox
    app_only: bool  # paths go through /users/{email} instead of /me
    quota: str = ""  # the tenant's shared request budget (providers/quota.py)


def load(store: SecretStore, account: str, *, api_root: str, session: requests.Session) -> Grant:
    """The account's token source. Raises AuthError when it is not connected or its
    grant is gone, TransientError when the sign-in service cannot be reached."""
    doc = store.load(secret_name(account))
    if doc is None:
        raise AuthError(
            f"not connected: run `firstblock connect outlook --account {account} --client-id ID`"
        )
    try:
        return _grant(store, account, doc, api_root, session)
    except (KeyError, TypeError) as exc:
        raise AuthError(f"stored credentials are incomplete ({exc}); connect again") from None


def _grant(
    store: SecretStore,
    account: str,
    doc: dict[str, Any],
    api_root: str,
    session: requests.Session,
) -> Grant:
    if doc.get("type") == "app":
        resource = [(api_root or GRAPH_ROOT) + ".default"]

        def app_token(force: bool) -> str:
            # MSAL answers from its cache; a token the service refused needs a new app.
            app = _confidential(doc, session, fresh=force)
            return _token(app.acquire_token_for_client(resource))

        return Grant(app_token, doc["user"], True, quota.microsoft_bucket(doc))

    app, cache = _public_for(account, doc, session)

    def token(force: bool) -> str:
        accounts = _call(lambda: app.get_accounts(username=doc.get("username")))
        if not accounts:
            raise AuthError("no signed-in account in the stored grant; connect again")
        result = _call(
            lambda: app.acquire_token_silent_with_error(
                scopes_for(api_root), accounts[0], force_refresh=force
            )
        )
        if cache.has_state_changed:  # a refreshed token: keep it for the next run
            doc["cache"] = cache.serialize()
            store.save(secret_name(account), doc)
            with _APPS_LOCK:
                _PUBLIC[account] = (doc["cache"], app, cache)
        return _token(result)

    email = str(doc.get("email") or doc.get("username", ""))
    return Grant(token, email, False, quota.microsoft_bucket(doc))


# Answers that only the user (or an administrator) can fix; anything else is an outage.
REFUSALS = frozenset(
    {"invalid_grant", "interaction_required", "consent_required", "invalid_client",
     "unauthorized_client", "invalid_scope", "login_required"}
)  # fmt: skip


def _token(result: dict[str, Any] | None) -> str:
    if not result:
        raise AuthError("Microsoft has no valid grant for this account")
    if "access_token" in result:
        return str(result["access_token"])
    error = str(result.get("error", "unknown"))
    if error in REFUSALS:  # revoked, password changed, consent withdrawn, policy…
        raise AuthError(f"Microsoft refused the grant ({error})")
    raise TransientError(f"Microsoft's sign-in failed ({error}); try later")


def _call(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except requests.RequestException as exc:
        raise TransientError(f"cannot reach Microsoft's sign-in ({type(exc).__name__})") from None
    except msal.exceptions.MsalServiceError as exc:  # a 5xx or an unreadable answer
        raise TransientError(f"Microsoft's sign-in failed ({exc.error})") from None
    except ValueError as exc:  # MSAL's answer to an authority it cannot use
        raise AuthError(f"sign-in failed ({exc})") from None


def _public(doc: dict[str, Any], session: requests.Session, cache: Any = None) -> Any:
    return _call(
        lambda: msal.PublicClientApplication(
            doc["client_id"],
            authority=doc["authority"],
            token_cache=cache,
            http_client=session,
            instance_discovery=_discovery(doc["authority"]),
        )
    )


# Per process. Keys hold a digest of the credential, never the credential itself.
_APPS_LOCK = threading.Lock()
_CONFIDENTIAL: dict[tuple[str, str, str], Any] = {}
_PUBLIC: dict[str, tuple[str, Any, Any]] = {}  # account: (its stored cache, app, cache)


def _public_for(account: str, doc: dict[str, Any], session: requests.Session) -> tuple[Any, Any]:
    """The account's application and token cache, kept while its stored cache is the one
    this process last saw (a new `connect`, or another process's refresh, replaces it)."""
    stored = str(doc.get("cache", ""))
    with _APPS_LOCK:
        known = _PUBLIC.get(account)
    if known is not None and known[0] == stored:
        return known[1], known[2]
    cache = msal.SerializableTokenCache()
    cache.deserialize(stored)
    # A grant made through the web app belongs to its confidential client.
    app = _web(doc, session, cache) if doc.get("type") == "web" else _public(doc, session, cache)
    with _APPS_LOCK:
        _PUBLIC[account] = (stored, app, cache)
    return app, cache


def _credential(doc: dict[str, Any]) -> Any:
    return doc.get("secret") or {
        "private_key": doc["certificate"]["private_key"],
        "thumbprint": doc["certificate"]["thumbprint"],
    }


def _web(doc: dict[str, Any], session: requests.Session, cache: Any) -> Any:
    return _call(
        lambda: msal.ConfidentialClientApplication(
            doc["client_id"],
            client_credential=_credential(doc),
            authority=doc["authority"],
            token_cache=cache,
            http_client=session,
            instance_discovery=_discovery(doc["authority"]),
        )
    )


def drop_app(account: str) -> None:
    """Forget the account's application: its grant was replaced or deleted."""
    with _APPS_LOCK:
        _PUBLIC.pop(account, None)


def _confidential(doc: dict[str, Any], session: requests.Session, *, fresh: bool = False) -> Any:
    credential = _credential(doc)
    digest = hashlib.sha256(json.dumps(credential, sort_keys=True).encode()).hexdigest()
    key = (str(doc["client_id"]), str(doc["authority"]), digest)
    with _APPS_LOCK:  # built under the lock: many accounts starting at once share one
        app = None if fresh else _CONFIDENTIAL.get(key)
        if app is None:
            app = _call(
                lambda: msal.ConfidentialClientApplication(
                    doc["client_id"],
                    client_credential=credential,
                    authority=doc["authority"],
                    http_client=session,
                    instance_discovery=_discovery(doc["authority"]),
                )
            )
            _CONFIDENTIAL[key] = app
    return app


def _discovery(authority_url: str) -> bool | None:
    # MSAL validates authorities it knows; a custom root (a proxy, the test emulator)
    # would fail that check, so it is skipped there.
    return None if authority_url.startswith(LOGIN_ROOT) else False


def authority(login_root: str, tenant: str) -> str:
    return (login_root or LOGIN_ROOT) + (tenant or "organizations")


def device_code(
    client_id: str,
    authority_url: str,
    *,
    api_root: str,
    session: requests.Session,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Sign a person in with the device-code flow; return the document to store."""
    cache = msal.SerializableTokenCache()
    doc: dict[str, Any] = {"type": "delegated", "client_id": client_id, "authority": authority_url}
    app = _public(doc, session, cache)
    flow = _call(lambda: app.initiate_device_flow(scopes=scopes_for(api_root)))
    if "user_code" not in flow:
        raise AuthError(f"Microsoft refused to start the sign-in ({flow.get('error', 'unknown')})")
    say(str(flow["message"]))
    result = _call(lambda: app.acquire_token_by_device_flow(flow))
    _token(result)
    claims = result.get("id_token_claims") or {}
    doc["username"] = str(claims.get("preferred_username", ""))
    doc["cache"] = cache.serialize()
    return doc


def app_only(
    client_id: str,
    authority_url: str,
    user: str,
    *,
    secret_file: Path | None,
    certificate: Path | None,
    thumbprint: str,
) -> dict[str, Any]:
    """The document for an app registration acting for `user` (admin consent needed)."""
    if "@" not in user:
        raise BadRequest(f"--user {user!r}: expected the mailbox's address")
    doc: dict[str, Any] = {
        "type": "app",
        "client_id": client_id,
        "authority": authority_url,
        "user": user.lower(),
    }
    try:
        if secret_file is not None:
            doc["secret"] = secret_file.read_text(encoding="utf-8").strip()
        elif certificate is not None and thumbprint:
            key = certificate.read_text(encoding="utf-8")
            doc["certificate"] = {"private_key": key, "thumbprint": thumbprint}
        else:
            raise BadRequest(
                "--app-only needs --client-secret-file FILE, or --certificate PEM --thumbprint HEX"
            )
    except OSError as exc:
        raise BadRequest(f"cannot read {exc.filename}: {exc.strerror}") from None
    return doc
