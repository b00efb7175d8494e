"""Who is looking, and what they may see and change.

Without sign-in the app serves this machine's person on a loopback address: they see
every account here. With sign-in, a session says who signed in (the address in the
provider's ID token); a rep sees and changes only the accounts with that address,
and the admins named in [web] see the Team page. Anything else is "not found", so a
URL does not tell whether an account exists.

Sessions are Starlette's signed cookies (itsdangerous): HttpOnly, SameSite=Lax,
Secure when the app is reached over https, expiring after [web] session_hours. Every
form that changes something carries the session's CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request

from providers.credentials import KEY_VARIABLE
from worker import config as cfg
from worker.errors import ConfigError


@dataclass(frozen=True)
class Viewer:
    email: str  # "" for this machine's person (no sign-in)
    admin: bool

    @property
    def local(self) -> bool:
        return not self.email


def session_key(web: cfg.Web) -> str:
    """What signs the session cookies. With sign-in it comes from the key that
    encrypts the grants, so every replica of the app accepts the same sessions;
    without, a key of this process's own (a restart signs everyone out)."""
    key = os.environ.get(KEY_VARIABLE, "")
    if web.signs_in and not key:
        raise ConfigError(
            f"web: sign-in keeps reps' grants encrypted and signs their sessions: set "
            f"{KEY_VARIABLE} (see the README's Web app section)"
        )
    if not key:
        return secrets.token_urlsafe(32)
    return hashlib.sha256(b"firstblock web sessions\0" + key.encode()).hexdigest()


def viewer(request: Request, web: cfg.Web) -> Viewer | None:
    """Who is asking; None: nobody has signed in (or the cookie was tampered with or
    has expired, which Starlette treats as no session)."""
    if not web.signs_in:
        return Viewer("", admin=True)
    email = request.session.get("email")
    if not isinstance(email, str) or "@" not in email:
        return None
    return Viewer(email, admin=email in web.admins)


def may_see(who: Viewer, account: cfg.Account) -> bool:
    return who.local or (bool(account.email) and account.email == who.email)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, given: object) -> None:
    """403 unless the form carries the session's token."""
    kept = request.session.get("csrf")
    if not (isinstance(kept, str) and isinstance(given, str)) or not hmac.compare_digest(
        kept.encode(), given.encode()
    ):
        raise HTTPException(403, "This form has expired or did not come from this app.")
