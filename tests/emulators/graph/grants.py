"""Token grants of the identity platform: device_code, refresh_token, client_credentials
(authorization_code is in consent.py, with the sign-in page that hands out the codes).

Client authentication follows AAD: a client secret (form field or HTTP Basic) or a
private_key_jwt client assertion signed by the app's registered certificate. Public clients
(device code, refresh) may send neither; a refresh token issued to a client that
authenticated needs the same again (AADSTS7000218). A refresh may ask for no scope beyond the
consent given at sign-in (AADSTS65001). ID tokens are RS256, signed by the key the
keys endpoint serves.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from tests.emulators.signing import Signer

from .tokens import ASSERTION_TYPE, AssertionRejected, client_info, sign_hs256, verify_assertion
from .wire import AadError, Request, Response, json_response

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRAPH = "https://graph.microsoft.com/"
RESERVED = {"openid", "profile", "offline_access", "email"}
OIDC = ("openid", "profile", "email")  # the reserved scopes a token answer names back
# What ".default" means: everything this worker's app registration would be granted.
DELEGATED_ALL = ["Calendars.ReadWrite", "Mail.ReadWrite", "Mail.Send", "MailboxSettings.ReadWrite"]
DELEGATED_ALL += ["User.Read"]
APP_ROLES = ["Calendars.ReadWrite", "Mail.ReadWrite", "Mail.Send", "MailboxSettings.ReadWrite"]
APP_ROLES += ["User.Read.All"]


@dataclass
class App:
    client_id: str
    secret: str | None
    certificate: x509.Certificate | None
    allowed: set[str] | None = None  # ApplicationAccessPolicy: UPNs app-only calls may reach
    redirect_uris: list[str] = field(default_factory=list)  # none: any is accepted


@dataclass
class AccessToken:
    client_id: str
    upn: str | None  # None for app-only tokens
    scopes: list[str]
    roles: list[str]
    expires: float  # time.monotonic()


@dataclass
class Flow:
    client_id: str
    scopes: list[str]
    user_code: str
    expires: float
    upn: str | None = None
    redeemed: bool = False


def no_credentials() -> AadError:
    return AadError(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'.",
    )


def resource_scopes(scopes: list[str]) -> list[str]:
    """Graph scopes in short form ("Calendars.ReadWrite"), reserved OIDC scopes dropped."""
    out: list[str] = []
    for scope in scopes:
        short = scope[len(GRAPH) :] if scope.lower().startswith(GRAPH) else scope
        if short.lower() in RESERVED:
            continue
        out.extend(DELEGATED_ALL if short == ".default" else [short])
    return list(dict.fromkeys(out))


class Grants:
    """The token endpoint's grants; mixed into Identity, whose state they use."""

    tenant_id: str
    base_url: str
    access_lifetime: int
    apps: dict[str, App]
    access: dict[str, AccessToken]
    refresh: dict[str, dict[str, Any]]
    flows: dict[str, Flow]
    grants: list[dict[str, Any]]
    key: bytes
    signer: Signer
    user_info: Callable[[str], tuple[str, str, str] | None]

    def _app(self, client_id: str | None) -> App:
        app = self.apps.get(client_id or "")
        if app is None:
            raise AadError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.tenant_id}'.",
            )
        return app

    def _authenticate(self, req: Request, app: App, form: dict[str, str], tenant: str) -> bool:
        """Check client credentials if any are given; True if the client authenticated."""
        secret = form.get("client_secret")
        auth = req.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                _, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, binascii.Error):
                secret = ""
        if secret is not None:
            if app.secret is None or not secrets.compare_digest(secret, app.secret):
                raise AadError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the "
                    f"request is the client secret value, not the client secret ID, for a "
                    f"secret added to app '{app.client_id}'.",
                )
            return True
        assertion = form.get("client_assertion")
        if assertion is None:
            return False
        if form.get("client_assertion_type") != ASSERTION_TYPE or app.certificate is None:
            raise AadError(401, "invalid_client", 700027, "Client assertion is not accepted.")
        audiences = {f"{self.base_url}{t}/oauth2/v2.0/token" for t in (tenant, self.tenant_id)}
        try:
            verify_assertion(assertion, app.certificate, app.client_id, audiences)
        except AssertionRejected as err:
            raise AadError(401, "invalid_client", err.aadsts, str(err)) from None
        return True

    def _token(self, req: Request, tenant: str, form: dict[str, str]) -> Response:
        grant_type = form.get("grant_type", "")
        app = self._app(form.get("client_id"))
        authenticated = self._authenticate(req, app, form, tenant)
        if grant_type == "client_credentials":
            return self._client_credentials(app, tenant, form, authenticated)
        if grant_type == DEVICE_GRANT:
            return self._device_grant(app, form)
        if grant_type == "refresh_token":
            return self._refresh_grant(app, form, authenticated)
        raise AadError(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant_type}'.",
        )

    def _client_credentials(
        self, app: App, tenant: str, form: dict[str, str], authenticated: bool
    ) -> Response:
        if not authenticated:
            raise no_credentials()
        if tenant.lower() in ("common", "organizations"):
            raise AadError(
                400,
                "invalid_request",
                50059,
                "No tenant-identifying information found in either the request or implied by "
                "any provided credentials.",
            )
        scopes = form.get("scope", "").split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise AadError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {' '.join(scopes)} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
        self.grants.append(
            {"client_id": app.client_id, "upn": None, "scopes": scopes, "refresh_token": None}
        )
        # The answer names the resource asked for, so MSAL finds the token in its cache.
        issued = self._issue(app.client_id, None, [], APP_ROLES, None, app_scope=scopes[0])
        return json_response(200, issued)

    def _device_grant(self, app: App, form: dict[str, str]) -> Response:
        flow = self.flows.get(form.get("device_code", ""))
        if flow is None or flow.client_id != app.client_id:
            raise AadError(
                400,
                "invalid_grant",
                70000,
                "The provided value for the input parameter 'device_code' is not valid.",
            )
        if flow.expires <= time.monotonic():
            raise AadError(400, "expired_token", 70020, "The provided device code has expired.")
        if flow.redeemed:
            raise AadError(
                400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed."
            )
        if flow.upn is None:
            raise AadError(
                400,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )
        flow.redeemed = True
        scopes = resource_scopes(flow.scopes)
        refresh = "0.AX" + secrets.token_urlsafe(64)
        self.refresh[refresh] = {
            "client_id": app.client_id,
            "upn": flow.upn,
            "scopes": scopes,
            "revoked": False,
        }
        self.grants.append(
            {
                "client_id": app.client_id,
                "upn": flow.upn,
                "scopes": scopes,
                "refresh_token": refresh,
            }
        )
        return json_response(200, self._issue(app.client_id, flow.upn, scopes, [], refresh))

    def _refresh_grant(self, app: App, form: dict[str, str], authenticated: bool) -> Response:
        token = form.get("refresh_token", "")
        grant = self.refresh.get(token)
        if grant is None or grant["client_id"] != app.client_id:
            raise AadError(
                400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
            )
        if grant.get("confidential") and not authenticated:
            raise no_credentials()
        if grant["revoked"]:
            raise AadError(
                400,
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is "
                "needed. The user might have changed or reset their password.",
            )
        wanted = resource_scopes(form.get("scope", "").split()) or grant["scopes"]
        missing = {s.lower() for s in wanted} - {s.lower() for s in grant["scopes"]}
        if missing:
            raise AadError(
                400,
                "invalid_grant",
                65001,
                f"The user or administrator has not consented to use the application with ID "
                f"'{app.client_id}' for the scopes {sorted(missing)}. Send an interactive "
                "authorization request for this user and resource.",
            )
        fresh = "0.AX" + secrets.token_urlsafe(64)
        self.refresh[fresh] = {**grant}
        issued = self._issue(app.client_id, grant["upn"], wanted, [], fresh, oidc=grant.get("oidc"))
        return json_response(200, issued)

    def _issue(
        self,
        client_id: str,
        upn: str | None,
        scopes: list[str],
        roles: list[str],
        refresh: str | None,
        app_scope: str = f"{GRAPH}.default",
        *,
        oidc: list[str] | None = None,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        """A token answer. `oidc`: the reserved scopes granted (openid brings an ID token,
        email its email claim); None: all three with a refresh token, as MSAL's public
        clients always ask for them."""
        now = int(time.time())
        user = self.user_info(upn) if upn else None
        claims: dict[str, Any] = {
            "aud": GRAPH.rstrip("/"),
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.access_lifetime,
            "appid": client_id,
            "tid": self.tenant_id,
            "ver": "1.0",
            "uti": secrets.token_urlsafe(16),
        }
        if user is not None:
            claims.update(oid=user[0], upn=user[1], name=user[2], scp=" ".join(scopes))
        else:
            claims.update(roles=roles, oid=secrets.token_hex(16))
        access = sign_hs256(claims, self.key)
        self.access[access] = AccessToken(
            client_id,
            user[1] if user else None,
            scopes,
            roles,
            time.monotonic() + self.access_lifetime,
        )
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(scopes) if user else app_scope,
            "expires_in": self.access_lifetime,
            "ext_expires_in": self.access_lifetime,
            "access_token": access,
        }
        if user is None:
            return body
        if oidc is None:
            oidc = list(OIDC) if refresh is not None else []
        body["scope"] = " ".join([*scopes, *oidc])
        if refresh is not None:
            body["refresh_token"] = refresh
        if "openid" in oidc:
            oid, user_upn, name = user
            id_claims: dict[str, Any] = {
                "aud": client_id,
                "iss": f"{self.base_url}{self.tenant_id}/v2.0",
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "name": name,
                "oid": oid,
                "preferred_username": user_upn,
                "sub": f"{oid}-{client_id}"[:43],
                "tid": self.tenant_id,
                "ver": "2.0",
            }
            if "email" in oidc:
                id_claims["email"] = user_upn
            if nonce is not None:
                id_claims["nonce"] = nonce
            body["id_token"] = self.signer.sign(id_claims)
            body["client_info"] = client_info(oid, self.tenant_id)
        return body
