"""Signing a rep in on the web app with Microsoft: MSAL's ConfidentialClientApplication
and its auth-code flow (authorization code, PKCE, `state`, `nonce`), for an Entra app
registration with a "Web" redirect URI and a client secret or certificate.

MSAL checks the answer's state and the ID token's nonce; the grant kept afterwards is
MSAL's token cache with the app's credential, which auth.py refreshes silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msal
import requests

from providers.base import SignedIn, WebSignIn
from providers.errors import AuthError, BadRequest
from providers.outlook import auth


class MicrosoftWebSignIn(WebSignIn):
    label = "Microsoft"

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.client_id = str(options.get("client_id", ""))
        if not self.client_id:
            raise BadRequest("web.outlook.client_id: the app registration's client id")
        self.authority = auth.authority(
            str(options.get("login_root", "")), str(options.get("tenant", ""))
        )
        self.api_root = str(options.get("api_root", ""))
        self.credential = _credential(options)
        self.http = requests.Session()

    def _app(self, cache: Any = None) -> Any:
        return auth._call(
            lambda: msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self.credential,
                authority=self.authority,
                http_client=self.http,
                token_cache=cache,
                instance_discovery=auth._discovery(self.authority),
            )
        )

    def begin(
        self, redirect_uri: str, *, connect: bool, login_hint: str = ""
    ) -> tuple[str, dict[str, Any]]:
        # MSAL adds openid, profile and offline_access itself.
        scopes = auth.scopes_for(self.api_root) if connect else ["email"]
        flow = auth._call(
            lambda: self._app().initiate_auth_code_flow(
                scopes,
                redirect_uri=redirect_uri,
                login_hint=login_hint or None,
                # The answer comes as a query, not a cross-site POST (form_post, which
                # MSAL warns it prefers): a SameSite=Lax session cookie, which binds the
                # answer to the browser that asked, is not sent with such a POST. The
                # code is single-use, bound to PKCE, and no page sends a Referer.
                response_mode="query",
            )
        )
        return str(flow["auth_uri"]), {"state": flow["state"], "flow": flow, "connect": connect}

    def finish(self, kept: Mapping[str, Any], answer: Mapping[str, str]) -> SignedIn:
        cache = msal.SerializableTokenCache()
        app = self._app(cache)
        try:
            result = auth._call(
                lambda: app.acquire_token_by_auth_code_flow(dict(kept["flow"]), dict(answer))
            )
        except AuthError as exc:  # MSAL raises ValueError for a state or nonce mismatch
            raise AuthError(f"Microsoft sign-in did not hold ({exc})") from None
        if "error" in result:
            raise AuthError(f"Microsoft refused the sign-in ({str(result['error'])[:40]})")
        claims = result.get("id_token_claims") or {}
        email = str(claims.get("email") or claims.get("preferred_username") or "").lower()
        if "@" not in email:
            raise AuthError("Microsoft's ID token names no address")
        if not kept["connect"]:
            return SignedIn(email)
        grant = {
            "type": "web",
            "client_id": self.client_id,
            "authority": self.authority,
            "username": str(claims.get("preferred_username", "")),
            "cache": cache.serialize(),
            "email": email,
            **self._credential_fields(),
        }
        return SignedIn(email, grant)

    def _credential_fields(self) -> dict[str, Any]:
        if isinstance(self.credential, str):
            return {"secret": self.credential}
        return {"certificate": dict(self.credential)}


def _credential(options: Mapping[str, Any]) -> str | dict[str, str]:
    """The app's client secret, or its certificate, from the files the options name."""
    try:
        if options.get("client_secret_file"):
            return Path(options["client_secret_file"]).read_text(encoding="utf-8").strip()
        if options.get("certificate") and options.get("thumbprint"):
            key = Path(options["certificate"]).read_text(encoding="utf-8")
            return {"private_key": key, "thumbprint": str(options["thumbprint"])}
    except OSError as exc:
        raise BadRequest(f"web.outlook: cannot read {exc.filename}: {exc.strerror}") from None
    raise BadRequest(
        "web.outlook: give client_secret_file, or certificate and thumbprint, of the app"
    )
