"""The authorization code flow of the identity platform (v2.0), as a web app signs users in:

  GET  /{T}/oauth2/v2.0/authorize  the sign-in page: pick one of the directory's users
                                   (login_hint preselects), then Accept or Cancel
  POST /{T}/login                  the page's answer: a redirect (response_mode query,
                                   fragment or form_post) with code, state, session_state
                                   (and client_info when asked), or error=access_denied
  POST /{T}/oauth2/v2.0/token      grant_type=authorization_code

Before it shows anything the page checks the app (AADSTS700016) and the redirect URI
against the app's registered ones (AADSTS50011); those errors stay on an error page, later
ones go back to the redirect URI. A code lives 10 minutes (AADSTS70008), is redeemed once
(AADSTS54005) by the app it was issued to, with the same redirect URI and, when the
request had a code_challenge, the matching code_verifier (AADSTS50148). An app with a secret
or certificate must authenticate to redeem it (AADSTS7000218), and so must its refreshes.

Stable hooks for a browser test: each user is a radio input name="login" (id
"login-<n>", labelled "<display name> <upn>"); the buttons are
<button id="idSIButton9" name="action" value="accept">Accept</button> and
<button id="idBtn_Back" name="action" value="cancel">Cancel</button>.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from .grants import OIDC, App, Grants, no_credentials, resource_scopes
from .tokens import client_info
from .wire import AadError, Request, Response, json_response

CODE_LIFETIME = 600
HTML = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
RESPONSE_MODES = ("query", "fragment", "form_post")


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    scopes: list[str]  # as asked, reserved ones included
    upn: str
    challenge: str | None
    method: str
    nonce: str | None
    expires: float  # time.monotonic()
    redeemed: bool = False


def _document(title: str, body: str) -> bytes:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>\n<body>\n{body}</body></html>\n"
    ).encode()


def error_page(err: AadError) -> Response:
    """AAD's "Sorry, but we're having trouble signing you in." page."""
    body = (
        "<h1>Sign in</h1>\n<p>Sorry, but we're having trouble signing you in.</p>\n"
        f'<p id="error">AADSTS{err.aadsts}: {escape(err.description)}</p>\n'
    )
    return Response(400, _document("Sign in to your account", body), dict(HTML))


def _redirect(redirect_uri: str, mode: str, params: dict[str, str]) -> Response:
    if mode == "form_post":
        fields = "".join(
            f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">\n'
            for k, v in params.items()
        )
        body = (
            f'<form method="post" action="{escape(redirect_uri)}">\n{fields}'
            '<noscript><button type="submit">Continue</button></noscript>\n</form>\n'
            "<script>document.forms[0].submit()</script>\n"
        )
        return Response(200, _document("Working...", body), dict(HTML))
    scheme, netloc, path, query, _ = urlsplit(redirect_uri)
    if mode == "fragment":
        location = urlunsplit((scheme, netloc, path, query, urlencode(params)))
    else:
        query = "&".join(part for part in (query, urlencode(params)) if part)
        location = urlunsplit((scheme, netloc, path, query, ""))
    return Response(302, b"", {"Location": location})


def _error_params(err: AadError, q: dict[str, str]) -> dict[str, str]:
    params = {"error": err.error, "error_description": f"AADSTS{err.aadsts}: {err.description}"}
    if "state" in q:
        params["state"] = q["state"]
    return params


def _challenge_of(verifier: str, method: str) -> str:
    if method == "plain":
        return verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class CodeFlow(Grants):
    """The sign-in page and the authorization_code grant; mixed into Identity."""

    codes: dict[str, Code]
    pending: dict[str, dict[str, str]]  # sign-in pages not yet answered, by request id
    directory: Callable[[], list[tuple[str, str, str]]]  # every user: (oid, upn, name)
    code_lifetime: int

    def expire_codes(self) -> None:
        for code in self.codes.values():
            code.expires = 0.0

    # ---- the browser's side -----------------------------------------------------------------
    def sign_in(self, req: Request, tenant: str, what: str) -> Response:
        if what == "authorize" and req.method == "GET":
            return self._authorize(tenant, {k: v[0] for k, v in req.query.items()})
        if what == "login" and req.method == "POST":
            form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
            return self._login(form)
        return Response(405, b"", {"Allow": "GET" if what == "authorize" else "POST"})

    def _authorize(self, tenant: str, q: dict[str, str]) -> Response:
        app = self.apps.get(q.get("client_id", ""))
        if app is None:
            return error_page(
                AadError(
                    400,
                    "unauthorized_client",
                    700016,
                    f"Application with identifier '{q.get('client_id', '')}' was not found in "
                    f"the directory '{self.tenant_id}'.",
                )
            )
        redirect_uri = q.get("redirect_uri") or next(iter(app.redirect_uris), "")
        if not redirect_uri:
            return error_page(
                AadError(
                    400,
                    "invalid_request",
                    500113,
                    "No reply address is registered for the application.",
                )
            )
        if app.redirect_uris and redirect_uri not in app.redirect_uris:
            return error_page(
                AadError(
                    400,
                    "invalid_request",
                    50011,
                    f"The redirect URI '{redirect_uri}' specified in the request does not "
                    f"match the redirect URIs configured for the application '{app.client_id}'."
                    " Make sure the redirect URI sent in the request matches one added to your "
                    "application in the Azure portal.",
                )
            )
        q = {**q, "redirect_uri": redirect_uri, "tenant": tenant}
        mode = q.get("response_mode", "query")
        try:
            self._check_request(q)
        except AadError as err:
            fallback = mode if mode in RESPONSE_MODES else "query"
            return _redirect(redirect_uri, fallback, _error_params(err, q))
        request_id = secrets.token_urlsafe(16)
        self.pending[request_id] = q
        return self._page(request_id, app, q)

    def _check_request(self, q: dict[str, str]) -> None:
        for name in ("response_type", "scope"):
            if not q.get(name, "").strip():
                raise AadError(
                    400,
                    "invalid_request",
                    900144,
                    f"The request body must contain the following parameter: '{name}'.",
                )
        if q["response_type"] != "code":
            raise AadError(
                400,
                "unsupported_response_type",
                700054,
                f"response_type '{q['response_type']}' is not enabled for the application.",
            )
        if q.get("response_mode", "query") not in RESPONSE_MODES:
            raise AadError(
                400,
                "invalid_request",
                900144,
                f"The provided value '{q['response_mode']}' for the input parameter "
                "'response_mode' is not valid.",
            )
        challenge = q.get("code_challenge")
        if challenge is not None and not 43 <= len(challenge) <= 128:
            raise AadError(400, "invalid_request", 501491, "Invalid size of Code_Challenge.")
        if challenge is not None and q.get("code_challenge_method", "plain") not in (
            "plain",
            "S256",
        ):
            raise AadError(
                400,
                "invalid_request",
                501491,
                "The code_challenge_method must be 'S256' or 'plain'.",
            )

    def _page(self, request_id: str, app: App, q: dict[str, str]) -> Response:
        users = self.directory()
        hint = q.get("login_hint", "").lower()
        chosen = next((u for _, u, _ in users if u.lower() == hint), users[0][1] if users else "")
        choices = "".join(
            f'<li><input type="radio" name="login" id="login-{n}" value="{escape(upn)}"'
            f"{' checked' if upn == chosen else ''}>"
            f' <label for="login-{n}">{escape(name)} {escape(upn)}</label></li>\n'
            for n, (_, upn, name) in enumerate(users)
        )
        asked = "".join(f"<li>{escape(s)}</li>\n" for s in q["scope"].split())
        body = (
            "<h1>Pick an account</h1>\n"
            f'<p>Application <span id="client_id">{escape(app.client_id)}</span> asks for '
            "these permissions:</p>\n"
            f'<ul id="scopes">\n{asked}</ul>\n'
            f'<form method="post" action="/{escape(q["tenant"])}/login">\n'
            f'<input type="hidden" name="request_id" value="{escape(request_id)}">\n'
            f'<ul id="accounts">\n{choices}</ul>\n'
            '<button type="submit" id="idSIButton9" name="action" value="accept">Accept'
            "</button>\n"
            '<button type="submit" id="idBtn_Back" name="action" value="cancel">Cancel'
            "</button>\n"
            "</form>\n"
        )
        return Response(200, _document("Sign in to your account", body), dict(HTML))

    def _login(self, form: dict[str, str]) -> Response:
        q = self.pending.pop(form.get("request_id", ""), None)
        if q is None:
            return error_page(
                AadError(400, "invalid_request", 90014, "This sign-in request is not pending.")
            )
        mode = q.get("response_mode", "query")
        if form.get("action") != "accept":
            err = AadError(
                400, "access_denied", 65004, "User declined to consent to access the app."
            )
            params = {**_error_params(err, q), "error_subcode": "cancel"}
            return _redirect(q["redirect_uri"], mode, params)
        user = self.user_info(form.get("login", ""))
        if user is None:
            return error_page(
                AadError(
                    400,
                    "invalid_request",
                    50034,
                    f"The user account {form.get('login', '')} does not exist in the "
                    f"{self.tenant_id} directory.",
                )
            )
        code = secrets.token_urlsafe(96)
        self.codes[code] = Code(
            q["client_id"],
            q["redirect_uri"],
            q["scope"].split(),
            user[1],
            q.get("code_challenge"),
            q.get("code_challenge_method", "plain"),
            q.get("nonce"),
            time.monotonic() + self.code_lifetime,
        )
        params = {"code": code}
        if q.get("client_info") == "1":
            params["client_info"] = client_info(user[0], self.tenant_id)
        if "state" in q:
            params["state"] = q["state"]
        params["session_state"] = str(uuid.uuid4())
        return _redirect(q["redirect_uri"], mode, params)

    # ---- the token endpoint -----------------------------------------------------------------
    def _token(self, req: Request, tenant: str, form: dict[str, str]) -> Response:
        if form.get("grant_type") != "authorization_code":
            return super()._token(req, tenant, form)
        app = self._app(form.get("client_id"))
        authenticated = self._authenticate(req, app, form, tenant)
        if (app.secret is not None or app.certificate is not None) and not authenticated:
            raise no_credentials()
        code = self.codes.get(form.get("code", ""))
        if code is None:
            raise AadError(
                400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
            )
        if code.client_id != app.client_id:
            raise AadError(
                400,
                "invalid_grant",
                70000,
                "The provided value for the 'code' parameter is not valid. The code was not "
                "issued to this application.",
            )
        if code.redeemed:
            raise AadError(
                400,
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid "
                "code or use an existing refresh token.",
            )
        if code.expires <= time.monotonic():
            raise AadError(
                400,
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to "
                "inactivity. Send a new interactive authorization request for this user and "
                "resource.",
            )
        code.redeemed = True  # a failed attempt uses the code up too
        given = form.get("redirect_uri", "")
        if given != code.redirect_uri:
            raise AadError(
                400,
                "invalid_grant",
                500112,
                f"The reply address '{given}' does not match the reply address "
                f"'{code.redirect_uri}' provided when requesting Authorization code.",
            )
        if code.challenge is not None:
            verifier = form.get("code_verifier", "")
            if not verifier:
                raise AadError(
                    400,
                    "invalid_grant",
                    501481,
                    "The Code_Verifier does not match the code_challenge supplied in the "
                    "authorization request.",
                )
            if not secrets.compare_digest(_challenge_of(verifier, code.method), code.challenge):
                raise AadError(
                    400,
                    "invalid_grant",
                    50148,
                    "The code_verifier does not match the code_challenge supplied in the "
                    "authorization request for PKCE.",
                )
        return json_response(200, self._redeem(app, code, authenticated))

    def _redeem(self, app: App, code: Code, authenticated: bool) -> dict[str, Any]:
        asked = {s.lower() for s in code.scopes}
        scopes = resource_scopes(code.scopes)
        oidc = [s for s in OIDC if s in asked]
        refresh = "0.AX" + secrets.token_urlsafe(64) if "offline_access" in asked else None
        if refresh is not None:
            self.refresh[refresh] = {
                "client_id": app.client_id,
                "upn": code.upn,
                "scopes": scopes,
                "revoked": False,
                "oidc": oidc,
                "confidential": authenticated,
            }
        self.grants.append(
            {
                "client_id": app.client_id,
                "upn": code.upn,
                "scopes": scopes,
                "refresh_token": refresh,
                "grant_type": "authorization_code",
            }
        )
        return self._issue(
            app.client_id, code.upn, scopes, [], refresh, oidc=oidc, nonce=code.nonce
        )
