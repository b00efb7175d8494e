"""Google's OAuth 2.0 endpoints: consent (auto-approved), token, revoke; and bearer checks.

Token endpoint errors use the OAuth shape {"error": ..., "error_description": ...} that
google-auth turns into google.auth.exceptions.RefreshError.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from .wire import ApiError, Request, Response, json_response

ACCESS_LIFETIME = 3599
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
CHALLENGE = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'


def _oauth_error(status: int, error: str, description: str) -> Response:
    return json_response(status, {"error": error, "error_description": description})


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def unauthenticated() -> ApiError:
    return ApiError(
        401,
        "authError",
        "Request had invalid authentication credentials. Expected OAuth 2 "
        "access token, login cookie or other valid authentication credential.",
        location="Authorization",
        location_type="header",
        with_status=True,
        headers={"WWW-Authenticate": CHALLENGE},
    )


class OAuth:
    def __init__(self, email: str) -> None:
        self.email = email
        self.token_uri = ""  # set once the server has a port
        self.clients: dict[str, str] = {}
        self.service_accounts: dict[str, rsa.RSAPublicKey] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self.issued: list[str] = []  # every access and refresh token ever handed out
        self.grants: list[dict[str, Any]] = []

    def register_service_account(self, client_email: str, public_key_pem: bytes) -> None:
        key = load_pem_public_key(public_key_pem)
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("service accounts sign with RSA keys")
        self.service_accounts[client_email] = key

    def revoke_all(self) -> None:
        for grant in self.refresh_tokens.values():
            grant["revoked"] = True
        self.access_tokens.clear()

    def expire_access_tokens(self) -> None:
        for token in self.access_tokens.values():
            token["expires"] = 0.0

    # ---- bearer check for API requests ----------------------------------------------------
    def check(self, headers: dict[str, str], query: dict[str, list[str]]) -> None:
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        token = token or (query.get("access_token") or query.get("oauth_token") or [""])[0]
        entry = self.access_tokens.get(token or "")
        if entry is None or entry["expires"] <= time.monotonic():
            raise unauthenticated()
        parent = self.refresh_tokens.get(entry.get("refresh_token") or "")
        if parent is not None and parent["revoked"]:
            raise unauthenticated()

    # ---- endpoints --------------------------------------------------------------------------
    def authorize(self, req: Request) -> Response:
        q = {k: v[0] for k, v in req.query.items()}
        if q.get("client_id") not in self.clients:
            return Response(401, b"Error 401: invalid_client", {"Content-Type": "text/plain"})
        if not q.get("redirect_uri") or q.get("response_type") != "code":
            return Response(400, b"Error 400: invalid_request", {"Content-Type": "text/plain"})
        code = f"4/emu-{secrets.token_urlsafe(12)}"
        self.codes[code] = {
            "client_id": q["client_id"],
            "redirect_uri": q["redirect_uri"],
            "scopes": q.get("scope", "").split(),
            "challenge": q.get("code_challenge"),
            "method": q.get("code_challenge_method", "plain"),
            "offline": q.get("access_type") == "offline",
        }
        reply = {"code": code, "scope": q.get("scope", "")}
        if "state" in q:
            reply["state"] = q["state"]
        sep = "&" if "?" in q["redirect_uri"] else "?"
        return Response(302, b"", {"Location": q["redirect_uri"] + sep + urlencode(reply)})

    def _client(self, req: Request, form: dict[str, str]) -> str | None:
        """The authenticated client id (form fields or HTTP Basic), or None."""
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = req.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, binascii.Error):
                return None
        if client_id and self.clients.get(client_id) == secret:
            return client_id
        return None

    def _issue(
        self, scopes: list[str], refresh_token: str | None, subject: str | None
    ) -> dict[str, Any]:
        access = f"ya29.emu-{secrets.token_urlsafe(16)}"
        self.issued.append(access)
        self.access_tokens[access] = {
            "expires": time.monotonic() + ACCESS_LIFETIME,
            "refresh_token": refresh_token,
            "scopes": scopes,
            "subject": subject,
        }
        return {
            "access_token": access,
            "expires_in": ACCESS_LIFETIME,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }

    def token(self, req: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode(), keep_blank_values=True).items()}
        grant_type = form.get("grant_type")
        if grant_type == JWT_BEARER:
            return self._jwt(form.get("assertion", ""))
        if grant_type not in ("authorization_code", "refresh_token"):
            return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        client_id = self._client(req, form)
        if client_id is None:
            return _oauth_error(401, "invalid_client", "Unauthorized")
        if grant_type == "refresh_token":
            grant = self.refresh_tokens.get(form.get("refresh_token", ""))
            if grant is None or grant["revoked"] or grant["client_id"] != client_id:
                return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
            wanted = form.get("scope", "").split() or grant["scopes"]
            if not set(wanted) <= set(grant["scopes"]):
                return _oauth_error(400, "invalid_scope", "Bad Request")
            return json_response(200, self._issue(wanted, form["refresh_token"], self.email))
        code = self.codes.pop(form.get("code", ""), None)
        if code is None or code["client_id"] != client_id:
            return _oauth_error(400, "invalid_grant", "Malformed auth code.")
        if form.get("redirect_uri") != code["redirect_uri"]:
            return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        if code["challenge"]:
            verifier = form.get("code_verifier", "")
            if code["method"] == "S256":
                digest = hashlib.sha256(verifier.encode()).digest()
                verifier = base64.urlsafe_b64encode(digest).decode().rstrip("=")
            if not verifier or verifier != code["challenge"]:
                return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        refresh = f"1//emu-{secrets.token_urlsafe(24)}" if code["offline"] else None
        if refresh:
            self.refresh_tokens[refresh] = {
                "client_id": client_id,
                "scopes": code["scopes"],
                "revoked": False,
            }
        self.grants.append(
            {
                "client_id": client_id,
                "scopes": code["scopes"],
                "refresh_token": refresh,
                "subject": self.email,
            }
        )
        body = self._issue(code["scopes"], refresh, self.email)
        if refresh:
            body["refresh_token"] = refresh
        return json_response(200, body)

    def _jwt(self, assertion: str) -> Response:
        bad_signature = _oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header, claims = json.loads(_b64(head_b64)), json.loads(_b64(claims_b64))
            signature = _b64(sig_b64)
        except (ValueError, binascii.Error):
            return _oauth_error(400, "invalid_grant", "Invalid JWT.")
        key = self.service_accounts.get(claims.get("iss", ""))
        if key is None or header.get("alg") != "RS256":
            return bad_signature
        try:
            key.verify(
                signature, f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return bad_signature
        if claims.get("aud") not in (self.token_uri, GOOGLE_TOKEN_URI):
            return _oauth_error(400, "invalid_grant", "Invalid JWT: Failed audience check.")
        if not claims.get("exp", 0) > time.time() >= claims.get("iat", 0) - 300:
            return _oauth_error(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) "
                "and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        subject = claims.get("sub")
        if subject is not None and subject.lower() != self.email.lower():
            return _oauth_error(400, "invalid_grant", "Invalid email or User ID")
        scopes = str(claims.get("scope", "")).split()
        self.grants.append(
            {
                "client_id": claims["iss"],
                "scopes": scopes,
                "refresh_token": None,
                "subject": subject,
            }
        )
        return json_response(200, self._issue(scopes, None, subject))

    def revoke(self, req: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        token = form.get("token") or (req.query.get("token") or [""])[0]
        if token in self.access_tokens:
            token = self.access_tokens.pop(token).get("refresh_token") or ""
            if not token:
                return json_response(200, {})
        grant = self.refresh_tokens.get(token)
        if grant is None:
            return _oauth_error(400, "invalid_token", "Token expired or revoked")
        grant["revoked"] = True  # Google revokes the whole grant, so its access tokens die too
        return json_response(200, {})
