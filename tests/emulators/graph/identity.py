"""The Microsoft identity platform endpoints MSAL uses, and bearer checks for Graph calls.

Served per tenant T (organizations, common, the tenant id, or a user's domain):
  GET  /{T}/v2.0/.well-known/openid-configuration
  GET  /{T}/discovery/v2.0/keys    (the RS256 key ID tokens are signed with)
  GET  /{T}/oauth2/v2.0/authorize  and POST /{T}/login: the sign-in page (consent.py)
  POST /{T}/oauth2/v2.0/devicecode
  POST /{T}/oauth2/v2.0/token   (authorization_code, device_code, refresh_token,
                                 client_credentials)
  GET  /common/discovery/instance  (AAD instance discovery)
Errors use AAD's shape. Access tokens are HS256 JWTs looked up server-side; revoke() kills
refresh tokens only: like after a password change, issued access tokens live until expiry.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.emulators.signing import Signer

from .consent import CODE_LIFETIME, Code, CodeFlow, error_page
from .grants import AccessToken, App, Flow
from .wire import AadError, GraphError, Request, Response, json_response

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
CHALLENGE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
    f'authorize", client_id="{GRAPH_APP_ID}"'
)
OPENID = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$")
OAUTH = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/(?P<what>token|devicecode)$")
KEYS = re.compile(r"^/(?P<tenant>[^/]+)/discovery/v2\.0/keys$")
SIGN_IN = re.compile(r"^/(?P<tenant>[^/]+)/(?P<what>oauth2/v2\.0/authorize|login)$")


@dataclass
class Identity(CodeFlow):
    tenant_id: str
    user_info: Callable[[str], tuple[str, str, str] | None]  # upn -> (oid, upn, name)
    domains: Callable[[], set[str]]
    base_url: str = ""
    access_lifetime: int = 3599
    apps: dict[str, App] = field(default_factory=dict)
    access: dict[str, AccessToken] = field(default_factory=dict)
    refresh: dict[str, dict[str, Any]] = field(default_factory=dict)
    flows: dict[str, Flow] = field(default_factory=dict)  # by device code
    grants: list[dict[str, Any]] = field(default_factory=list)
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    signer: Signer = field(default_factory=Signer)
    directory: Callable[[], list[tuple[str, str, str]]] = list
    codes: dict[str, Code] = field(default_factory=dict)
    pending: dict[str, dict[str, str]] = field(default_factory=dict)
    code_lifetime: int = CODE_LIFETIME

    # ---- helpers ----------------------------------------------------------------------------
    def approve(self, user_code: str, upn: str) -> None:
        flow = next((f for f in self.flows.values() if f.user_code == user_code), None)
        if flow is None:
            raise KeyError(f"no pending device-code sign-in with user code {user_code!r}")
        if self.user_info(upn) is None:
            raise KeyError(f"no user {upn!r}; create it with user()")
        flow.upn = upn

    def revoke(self, upn: str) -> None:
        for grant in self.refresh.values():
            if grant["upn"].lower() == upn.lower():
                grant["revoked"] = True

    def expire_access_tokens(self) -> None:
        for token in self.access.values():
            token.expires = 0.0

    # ---- bearer check -----------------------------------------------------------------------
    def check(self, headers: dict[str, str]) -> AccessToken:
        auth = headers.get("authorization", "")
        if not auth.strip():
            raise unauthenticated("Access token is empty.")
        scheme, _, token = auth.partition(" ")
        entry = self.access.get(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None:
            raise unauthenticated("Access token validation failure. Invalid audience.")
        if entry.expires <= time.monotonic():
            raise unauthenticated("Access token has expired or is not yet valid.")
        return entry

    # ---- endpoints --------------------------------------------------------------------------
    def handle(self, req: Request) -> Response | None:
        """Answer an identity endpoint, or None if the path is not one."""
        if req.path == "/common/discovery/instance" and req.method == "GET":
            return self._instance_discovery(req)
        m = OPENID.match(req.path)
        if m and req.method == "GET":
            return self._openid(m.group("tenant"))
        m = KEYS.match(req.path)
        if m and req.method == "GET":
            return json_response(200, self.signer.jwks())
        m = SIGN_IN.match(req.path)
        if m:
            try:
                self._known_tenant(m.group("tenant"))
            except AadError as err:
                return error_page(err)
            return self.sign_in(req, m.group("tenant"), m.group("what").split("/")[-1])
        m = OAUTH.match(req.path)
        if m and req.method == "POST":
            try:
                self._known_tenant(m.group("tenant"))
                form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
                if m.group("what") == "devicecode":
                    return self._devicecode(form)
                return self._token(req, m.group("tenant"), form)
            except AadError as err:
                return err.response()
        if req.path == "/devicelogin":
            page = b"Graph emulator: call GraphEmulator.approve(user_code, upn) instead."
            return Response(200, page, {"Content-Type": "text/plain"})
        return None

    def _known_tenant(self, tenant: str) -> None:
        known = {"common", "organizations", self.tenant_id} | self.domains()
        if tenant.lower() not in {t.lower() for t in known}:
            raise AadError(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud.",
            )

    def _instance_discovery(self, req: Request) -> Response:
        endpoint = (req.query.get("authorization_endpoint") or [""])[0]
        segments = urlsplit(endpoint).path.strip("/").split("/")
        tenant = segments[0] if segments and segments[0] else "common"
        netloc = urlsplit(self.base_url).netloc
        aliases = sorted({netloc, netloc.split(":")[0], "localhost"})
        body = {
            "tenant_discovery_endpoint": (
                f"{self.base_url}{tenant}/v2.0/.well-known/openid-configuration"
            ),
            "api-version": "1.1",
            "metadata": [
                {"preferred_network": netloc, "preferred_cache": netloc, "aliases": aliases}
            ],
        }
        return json_response(200, body)

    def _openid(self, tenant: str) -> Response:
        try:
            self._known_tenant(tenant)
        except AadError as err:
            return err.response()
        base = f"{self.base_url}{tenant}"
        issuer_tenant = "{tenantid}" if tenant in ("common", "organizations") else self.tenant_id
        body = {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.base_url}{issuer_tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "name", "oid", "tid"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": "graph.microsoft.com",
        }
        return json_response(200, body)

    def _devicecode(self, form: dict[str, str]) -> Response:
        app = self._app(form.get("client_id"))
        scopes = form.get("scope", "").split()
        device_code = secrets.token_urlsafe(48)
        user_code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(9))
        self.flows[device_code] = Flow(app.client_id, scopes, user_code, time.monotonic() + 900)
        uri = f"{self.base_url}devicelogin"
        return json_response(
            200,
            {
                "user_code": user_code,
                "device_code": device_code,
                "verification_uri": uri,
                "expires_in": 900,
                "interval": 1,  # real AAD says 5; 1 keeps MSAL's polling loop fast in tests
                "message": f"To sign in, use a web browser to open the page {uri} and enter "
                f"the code {user_code} to authenticate.",
            },
        )


def unauthenticated(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": CHALLENGE})
