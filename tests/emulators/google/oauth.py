"""Google's OAuth 2.0 and OpenID Connect endpoints: authorization (auto-approved, or a
consent page when `consent_page` is set), token, revoke, the signing keys; and bearer checks.

Token endpoint errors use the OAuth shape {"error": ..., "error_description": ...} that
google-auth turns into google.auth.exceptions.RefreshError. As Google does, the grant names
`email` and `profile` by their full userinfo URLs and adds `openid` to them; a grant holding
`openid` brings an RS256 ID token signed by the key served at /oauth2/v3/certs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tests.emulators.signing import Signer, b64url

from .consent import consent_page, error_page
from .wire import ApiError, Request, Response, json_response

ACCESS_LIFETIME = 3599
CODE_LIFETIME = 600  # seconds an authorization code may wait to be redeemed
ID_TOKEN_LIFETIME = 3600
ISSUER = "https://accounts.google.com"
USERINFO = "https://www.googleapis.com/auth/userinfo."
SHORT_SCOPES = {"email": USERINFO + "email", "profile": USERINFO + "profile"}
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
CHALLENGE = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'


def _oauth_error(status: int, error: str, description: str) -> Response:
    return json_response(status, {"error": error, "error_description": description})


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def granted_scopes(asked: list[str]) -> list[str]:
    """The scopes as Google grants them: `email`/`profile` by full URL, plus `openid`."""
    out = [SHORT_SCOPES.get(scope, scope) for scope in asked]
    if set(SHORT_SCOPES.values()) & set(out):
        out.append("openid")
    return list(dict.fromkeys(out))


def account_id(email: str) -> str:
    """A stable, Google-looking (21-digit) account id for an address."""
    number = int.from_bytes(hashlib.sha256(email.lower().encode()).digest()[:12], "big")
    return "1" + str(number % 10**20).zfill(20)


def _redirect(redirect_uri: str, params: dict[str, str]) -> Response:
    scheme, netloc, path, query, _ = urlsplit(redirect_uri)
    query = "&".join(part for part in (query, urlencode(params)) if part)
    return Response(302, b"", {"Location": urlunsplit((scheme, netloc, path, query, ""))})


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
        self.redirect_uris: dict[str, list[str]] = {}  # by client id; none: any is accepted
        self.consent_page = False  # True: the authorization endpoint asks the browser first
        # Other accounts signed in to the "browser": with any, the consent page lets the
        # user choose (login_hint preselects); without, `email` as it is at approval.
        self.accounts: list[str] = []
        self.code_lifetime = CODE_LIFETIME
        self.pending: dict[str, dict[str, str]] = {}  # consent pages not yet answered
        self.consented: dict[tuple[str, str], list[str]] = {}  # (client, email) -> scopes
        self.signer = Signer()
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

    def expire_codes(self) -> None:
        for code in self.codes.values():
            code["expires"] = 0.0

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
        refused = self._refuse(q)
        if refused is not None:
            return refused
        if not self.consent_page:
            return self._grant_code(q, self.email)
        request_id = secrets.token_urlsafe(16)
        self.pending[request_id] = q
        accounts = list(dict.fromkeys([self.email, *self.accounts]))
        hint = q.get("login_hint", "").lower()
        chosen = next((a for a in accounts if a.lower() == hint), self.email)
        scopes = granted_scopes(q.get("scope", "").split())
        return consent_page(request_id, q["client_id"], scopes, accounts, chosen)

    def _refuse(self, q: dict[str, str]) -> Response | None:
        """The error page for a request Google would not even show consent for."""
        client_id, redirect_uri = q.get("client_id", ""), q.get("redirect_uri", "")
        if client_id not in self.clients:
            return error_page(401, "invalid_client", "The OAuth client was not found.")
        if not redirect_uri:
            return error_page(400, "invalid_request", "Missing required parameter: redirect_uri")
        registered = self.redirect_uris.get(client_id)
        if registered and redirect_uri not in registered:
            return error_page(
                400,
                "redirect_uri_mismatch",
                "You can't sign in to this app because it doesn't comply with Google's OAuth "
                f"2.0 policy. Request details: redirect_uri={redirect_uri}",
            )
        if q.get("response_type") != "code":
            return error_page(400, "invalid_request", "Invalid response_type")
        if not q.get("scope", "").split():
            return error_page(400, "invalid_request", "Missing required parameter: scope")
        return None

    def approve(self, req: Request) -> Response:
        """The consent page's answer: Allow gives a code, Deny gives access_denied."""
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        q = self.pending.pop(form.get("request_id", ""), None)
        if q is None:
            return error_page(400, "invalid_request", "This sign-in request is not pending.")
        if form.get("decision") != "allow":
            reply = {"error": "access_denied"}
            if "state" in q:
                reply["state"] = q["state"]
            return _redirect(q["redirect_uri"], reply)
        accounts = {a.lower(): a for a in [self.email, *self.accounts]}
        email = accounts.get(form.get("account", "").lower(), self.email)
        return self._grant_code(q, email)

    def _grant_code(self, q: dict[str, str], email: str) -> Response:
        client_id = q["client_id"]
        scopes = granted_scopes(q.get("scope", "").split())
        earlier = self.consented.get((client_id, email.lower()))
        if earlier is not None and q.get("include_granted_scopes") == "true":
            scopes = list(dict.fromkeys([*scopes, *earlier]))
        offline = q.get("access_type") == "offline"
        # Google hands out a refresh token on the first offline consent, and again only when
        # the user is asked to consent anew (prompt=consent).
        fresh = earlier is None or "consent" in q.get("prompt", "").split()
        self.consented[client_id, email.lower()] = list(dict.fromkeys([*(earlier or []), *scopes]))
        code = f"4/emu-{secrets.token_urlsafe(12)}"
        self.codes[code] = {
            "client_id": client_id,
            "redirect_uri": q["redirect_uri"],
            "scopes": scopes,
            "challenge": q.get("code_challenge"),
            "method": q.get("code_challenge_method", "plain"),
            "offline": offline and fresh,
            "email": email,
            "nonce": q.get("nonce"),
            "expires": time.monotonic() + self.code_lifetime,
        }
        reply = {"code": code, "scope": " ".join(scopes)}
        if "state" in q:
            reply = {"state": q["state"], **reply}
        return _redirect(q["redirect_uri"], reply)

    def certs(self, req: Request) -> Response:
        if req.path.startswith("/oauth2/v1/"):
            return json_response(200, self.signer.pem_certificates())
        return json_response(200, self.signer.jwks())

    def openid_configuration(self, req: Request) -> Response:
        base = self.token_uri.rsplit("/", 1)[0] + "/"
        return json_response(
            200,
            {
                "issuer": ISSUER,
                "authorization_endpoint": base + "o/oauth2/auth",
                "token_endpoint": self.token_uri,
                "revocation_endpoint": base + "revoke",
                "jwks_uri": base + "oauth2/v3/certs",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "claims_supported": [
                    "aud",
                    "at_hash",
                    "azp",
                    "email",
                    "email_verified",
                    "exp",
                    "iat",
                    "iss",
                    "nonce",
                    "sub",
                ],
                "code_challenge_methods_supported": ["plain", "S256"],
            },
        )

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
        self,
        scopes: list[str],
        refresh_token: str | None,
        subject: str | None,
        *,
        client_id: str = "",
        nonce: str | None = None,
    ) -> dict[str, Any]:
        access = f"ya29.emu-{secrets.token_urlsafe(16)}"
        self.issued.append(access)
        self.access_tokens[access] = {
            "expires": time.monotonic() + ACCESS_LIFETIME,
            "refresh_token": refresh_token,
            "scopes": scopes,
            "subject": subject,
        }
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": ACCESS_LIFETIME,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }
        if "openid" in scopes and subject and client_id:
            body["id_token"] = self._id_token(client_id, subject, scopes, access, nonce)
        return body

    def _id_token(
        self, client_id: str, email: str, scopes: list[str], access: str, nonce: str | None
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "azp": client_id,
            "aud": client_id,
            "sub": account_id(email),
            "at_hash": b64url(hashlib.sha256(access.encode()).digest()[:16]),
            "iat": now,
            "exp": now + ID_TOKEN_LIFETIME,
        }
        if SHORT_SCOPES["email"] in scopes:
            claims |= {"email": email, "email_verified": True}
        if nonce is not None:
            claims["nonce"] = nonce
        return self.signer.sign(claims)

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
            wanted = granted_scopes(form.get("scope", "").split()) or grant["scopes"]
            if not set(wanted) <= set(grant["scopes"]):
                return _oauth_error(400, "invalid_scope", "Bad Request")
            email = grant.get("email", self.email)
            body = self._issue(wanted, form["refresh_token"], email, client_id=client_id)
            return json_response(200, body)
        code = self.codes.pop(form.get("code", ""), None)  # used once, even if refused
        if code is None or code["client_id"] != client_id:
            return _oauth_error(400, "invalid_grant", "Malformed auth code.")
        if code["expires"] <= time.monotonic():
            return _oauth_error(400, "invalid_grant", "Bad Request")
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
                "email": code["email"],
            }
        self.grants.append(
            {
                "client_id": client_id,
                "scopes": code["scopes"],
                "refresh_token": refresh,
                "subject": code["email"],
            }
        )
        body = self._issue(
            code["scopes"], refresh, code["email"], client_id=client_id, nonce=code["nonce"]
        )
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
