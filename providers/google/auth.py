"""Connecting a Google account once, and the credentials every run uses after that.

Two ways in: a person's consent through the installed-app OAuth flow (a loopback
redirect, or a pasted address on a machine with no browser), or a Workspace service
account with domain-wide delegation acting for one user. Either is stored as one
document in the SecretStore; refreshed access tokens are written back with their
expiry, for both kinds, so a run uses the last one until it expires instead of minting
a new one each time.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from google.auth.credentials import Credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from providers.credentials import SecretStore
from providers.errors import AuthError, BadRequest

# The fewest scopes that do the job; the README says why each is needed.
SCOPES = (
    "https://www.googleapis.com/auth/calendar.events.owned",  # read and write blocks
    "https://www.googleapis.com/auth/calendar.settings.readonly",  # the user's time zone
    "https://www.googleapis.com/auth/gmail.modify",  # list, relabel, insert alerts
    "https://www.googleapis.com/auth/gmail.settings.basic",  # the hold filter
)
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def secret_name(account: str) -> str:
    return f"google-{account}"


@dataclass
class Grant:
    credentials: Credentials
    save_token: Callable[[Any], None] | None  # stores a refreshed access token
    email: str  # the connected address, as Google reported it at connect time


def load(store: SecretStore, account: str) -> Grant:
    """The account's credentials, as connected.

    Raises AuthError when the account is not connected or its file cannot be used.
    """
    doc = store.load(secret_name(account))
    if doc is None:
        raise AuthError(
            f"not connected: run `firstblock connect google --account {account}"
            " --client-secrets FILE`"
        )

    def save_token(refreshed: Any) -> None:
        doc.update(token_fields(refreshed))
        store.save(secret_name(account), doc)

    return grant(doc, save_token)


def token_fields(credentials: Any) -> dict[str, Any]:
    """The access token and its expiry, as a stored document keeps them."""
    expiry = credentials.expiry
    return {"token": credentials.token, "expiry": expiry.isoformat() if expiry else None}


def grant(doc: dict[str, Any], save_token: Callable[[Any], None] | None = None) -> Grant:
    """Credentials from a stored document. Raises AuthError when it is incomplete."""
    try:
        expiry = _expiry(doc.get("expiry"))
        if doc.get("type") == "service_account":
            sa = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                doc["key"], scopes=list(SCOPES)
            ).with_subject(doc["subject"])
            if doc.get("token") and expiry is not None:
                # Its constructor takes no token: set the stored one as its own refresh
                # does. google-auth mints a new one only once this one has expired (or
                # is about to), exactly as for a consent grant.
                sa.token, sa.expiry = str(doc["token"]), expiry
            return Grant(sa, save_token, str(doc["subject"]))
        creds = user_credentials.Credentials(  # type: ignore[no-untyped-call]
            token=doc.get("token"),
            refresh_token=doc["refresh_token"],
            token_uri=doc.get("token_uri") or GOOGLE_TOKEN_URI,
            client_id=doc["client_id"],
            client_secret=doc["client_secret"],
            scopes=doc.get("scopes") or list(SCOPES),
            expiry=expiry,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AuthError(f"stored credentials are incomplete ({exc}); connect again") from None
    return Grant(creds, save_token, str(doc.get("email", "")))


def _expiry(text: Any) -> datetime | None:
    """A stored expiry as google-auth keeps it: naive, in UTC (it compares it with its
    own naive utcnow). google-auth writes it so; one with an offset is converted."""
    if not text:
        return None
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def consent(
    client_secrets: Path,
    *,
    open_browser: bool,
    say: Callable[[str], None],
    ask: Callable[[str], str],
) -> dict[str, Any]:
    """Run the installed-app flow and return the document to store.

    With a browser: it opens on Google's consent page and the answer comes back to a
    loopback server. Without: the address is printed; the user opens it anywhere and
    pastes back the address the browser ends on (which need not load).
    Raises BadRequest for an unusable client file, AuthError when consent fails.
    """
    from google_auth_oauthlib.flow import InstalledAppFlow

    try:
        flow = InstalledAppFlow.from_client_secrets_file(str(client_secrets), scopes=list(SCOPES))
    except (OSError, ValueError, KeyError) as exc:
        raise BadRequest(f"{client_secrets}: not a usable OAuth client file ({exc})") from None
    token_uri = flow.client_config.get("token_uri", GOOGLE_TOKEN_URI)
    with _loopback_allowed(token_uri):
        try:
            if open_browser:
                say("Opening your browser on Google's sign-in page (waiting up to 10 minutes;")
                say("on a machine without a browser, use --no-browser).")
                flow.run_local_server(
                    port=0,
                    open_browser=True,
                    prompt="consent",
                    authorization_prompt_message="Opening your browser. If it does not open: {url}",
                    success_message="firstblock is connected. You can close this tab.",
                    timeout_seconds=600,
                )
            else:
                flow.redirect_uri = "http://localhost:8085/"
                url, _ = flow.authorization_url(prompt="consent")
                say(f"Open this address in a browser and allow access:\n\n  {url}\n")
                say("The browser then goes to an address starting with http://localhost:8085/")
                say("(the page may fail to load: that is expected). Copy that address.")
                answer = ask("Paste it here: ").strip()
                flow.fetch_token(authorization_response=answer.replace("http://", "https://", 1))
        except Exception as exc:  # oauthlib and the flow raise many kinds
            raise AuthError(f"Google sign-in did not complete ({type(exc).__name__})") from None
    creds = flow.credentials
    if not creds.refresh_token:
        raise AuthError("Google returned no refresh token; remove firstblock's access and retry")
    return {
        "type": "authorized_user",
        "client_id": flow.client_config["client_id"],
        "client_secret": flow.client_config["client_secret"],
        "token_uri": token_uri,
        "refresh_token": creds.refresh_token,
        "token": creds.token,
        "expiry": creds.expiry.isoformat() if creds.expiry else None,
        "scopes": list(SCOPES),
    }


def delegated(key_file: Path, subject: str) -> dict[str, Any]:
    """The document for a service account acting for `subject` (Workspace only)."""
    try:
        key = json.loads(key_file.read_text(encoding="utf-8"))
        service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            key, scopes=list(SCOPES)
        )
    except (OSError, ValueError, KeyError) as exc:
        raise BadRequest(f"{key_file}: not a service account key ({exc})") from None
    if "@" not in subject:
        raise BadRequest(f"--subject {subject!r}: expected the user's address")
    return {"type": "service_account", "key": key, "subject": subject.lower()}


@contextlib.contextmanager
def _loopback_allowed(token_uri: str) -> Iterator[None]:
    """oauthlib refuses plain http; a token endpoint on this machine (a local proxy or
    the test emulator) is allowed, nothing else."""
    if urlparse(token_uri).hostname not in LOOPBACK:
        yield
        return
    old = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
        else:
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = old


def revoke(document: dict[str, Any]) -> str:
    """Revoke a person's grant at Google (RFC 7009 at its revoke endpoint, beside the
    token endpoint); "" when done or already gone, else a note for the person."""
    import urllib.error
    import urllib.parse
    import urllib.request

    token_uri = str(document.get("token_uri") or GOOGLE_TOKEN_URI)
    url = token_uri.rsplit("/", 1)[0] + "/revoke"
    body = urllib.parse.urlencode({"token": document["refresh_token"]}).encode()
    request = urllib.request.Request(url, body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=10):
            return ""
    except urllib.error.HTTPError as exc:
        if exc.code == 400:  # invalid_token: revoked or expired already
            return ""
        reason = f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        reason = type(exc).__name__
    return (
        f"Google could not be told to revoke firstblock's access ({reason}); remove it at "
        "https://myaccount.google.com/permissions"
    )
