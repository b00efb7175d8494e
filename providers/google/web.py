"""Signing a rep in on the web app with Google: google-auth-oauthlib's web-server flow
(authorization code, PKCE, `state`), from a "Web application" OAuth client file.

Who signed in comes from the ID token. It is taken straight from Google's token
endpoint over TLS, which OpenID Connect Core §3.1.3.7 allows in place of checking its
signature; its issuer, audience, expiry and nonce are still checked here.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from providers.base import SignedIn, WebSignIn
from providers.errors import AuthError, BadRequest, TransientError
from providers.google import auth

IDENTITY = ("openid", "https://www.googleapis.com/auth/userinfo.email")
ISSUERS = ("https://accounts.google.com", "accounts.google.com")


class GoogleWebSignIn(WebSignIn):
    label = "Google"

    def __init__(self, client_secrets: Path) -> None:
        try:
            config = json.loads(client_secrets.read_text(encoding="utf-8"))
            self.client = dict(config["web"])
            if not (self.client["client_id"] and self.client["client_secret"]):
                raise ValueError("client_id and client_secret must be set")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BadRequest(
                f"{client_secrets}: not a Google OAuth client file of a Web application "
                f"({type(exc).__name__}: {exc})"
            ) from None
        self.client.setdefault("auth_uri", "https://accounts.google.com/o/oauth2/auth")
        self.client.setdefault("token_uri", auth.GOOGLE_TOKEN_URI)
        # oauthlib refuses plain http, which only a loopback token endpoint (the
        # emulator, a local proxy) may use; Google answers `email` with the userinfo
        # scope's full name, and may add scopes granted earlier.
        if urlparse(self.client["token_uri"]).hostname in auth.LOOPBACK:
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
        os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = "1"

    def _flow(self, scopes: list[str], redirect_uri: str, **kept: Any) -> Any:
        from google_auth_oauthlib.flow import Flow

        return Flow.from_client_config(
            {"web": self.client}, scopes=scopes, redirect_uri=redirect_uri, **kept
        )

    def begin(
        self, redirect_uri: str, *, connect: bool, login_hint: str = ""
    ) -> tuple[str, dict[str, Any]]:
        scopes = [*IDENTITY, *auth.SCOPES] if connect else list(IDENTITY)
        flow = self._flow(scopes, redirect_uri, autogenerate_code_verifier=True)
        nonce = secrets.token_urlsafe(16)
        extra = {"login_hint": login_hint} if login_hint else {}
        # A refresh token comes only with offline access and fresh consent; the Flow
        # asks for offline access unless told otherwise, which a sign-in has no use for.
        extra |= (
            {"access_type": "offline", "prompt": "consent"}
            if connect
            else {"access_type": "online"}
        )
        url, state = flow.authorization_url(nonce=nonce, **extra)
        kept = {
            "state": state,
            "verifier": flow.code_verifier,
            "nonce": nonce,
            "scopes": scopes,
            "redirect_uri": redirect_uri,
            "connect": connect,
        }
        return url, kept

    def finish(self, kept: Mapping[str, Any], answer: Mapping[str, str]) -> SignedIn:
        if answer.get("error"):
            raise AuthError(f"Google sign-in did not complete ({answer['error'][:40]})")
        flow = self._flow(
            list(kept["scopes"]),
            str(kept["redirect_uri"]),
            state=kept["state"],
            code_verifier=kept["verifier"],
        )
        try:
            token = flow.fetch_token(code=answer.get("code", ""))
        except OSError as exc:  # requests' connection errors are OSErrors
            raise TransientError(f"cannot reach Google ({type(exc).__name__})") from None
        except Exception as exc:  # oauthlib raises one class per OAuth error
            raise AuthError(f"Google refused the sign-in ({_error(exc)})") from None
        email = _email(token.get("id_token", ""), self.client["client_id"], str(kept["nonce"]))
        if not kept["connect"]:
            return SignedIn(email)
        creds = flow.credentials
        if not creds.refresh_token:
            raise AuthError("Google returned no refresh token; remove firstblock's access, retry")
        grant = {
            "type": "authorized_user",
            "client_id": self.client["client_id"],
            "client_secret": self.client["client_secret"],
            "token_uri": self.client["token_uri"],
            "refresh_token": creds.refresh_token,
            "scopes": list(auth.SCOPES),
            "email": email,
            **auth.token_fields(creds),
        }
        return SignedIn(email, grant)


def _error(exc: Exception) -> str:
    return str(getattr(exc, "error", "") or type(exc).__name__)[:40]


def _email(id_token: str, client_id: str, nonce: str) -> str:
    """The verified address the ID token names. Raises AuthError."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        raise AuthError("Google's answer had no readable ID token") from None
    problems = [
        claims.get("iss") not in ISSUERS and "issuer",
        claims.get("aud") != client_id and "audience",
        # Real time, not the worker's clock: Google set it by its own.
        not float(claims.get("exp", 0)) > time.time() and "expiry",  # clock-ok
        claims.get("nonce") != nonce and "nonce",
        claims.get("email_verified") not in (True, "true") and "unverified address",
        "@" not in str(claims.get("email", "")) and "no address",
    ]
    wrong = [p for p in problems if p]
    if wrong:
        raise AuthError(f"Google's ID token does not hold ({', '.join(wrong)})")
    return str(claims["email"]).lower()
