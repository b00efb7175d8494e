"""The Graph emulator's web sign-in (authorization code flow), driven through MSAL's
ConfidentialClientApplication and plain `requests` clicking the sign-in page's form."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import msal
import pytest
import requests

from tests.emulators.forms import click, forms
from tests.emulators.graph import GraphEmulator

# MSAL recommends form_post; the web app (and most tests here) use the default, query.
pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post':UserWarning")

REP = "rep@contoso.com"
BOSS = "boss@contoso.com"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "web-app-secret"
REDIRECT = "http://localhost:8400/auth/microsoft/callback"
SCOPES = ["Calendars.ReadWrite", "Mail.ReadWrite", "User.Read"]


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with GraphEmulator() as emulator:
        emulator.user(REP)
        emulator.user(BOSS)
        emulator.app(CLIENT_ID, secret=SECRET, redirect_uris=[REDIRECT])
        yield emulator


def session(graph: GraphEmulator) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE from the environment would beat verify
    s.verify = graph.ca_file
    return s


def web_app(graph: GraphEmulator, cache: Any = None, secret: str = SECRET) -> Any:
    return msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential=secret,
        authority=graph.url + graph.tenant_id,
        instance_discovery=False,
        http_client=session(graph),
        token_cache=cache,
    )


def sign_in(
    graph: GraphEmulator, url: str, button: str = "idSIButton9", **choose: str
) -> dict[str, str]:
    """Open the sign-in page, click a button; answers the redirect's query parameters."""
    http = session(graph)
    page = http.get(url, allow_redirects=False)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    action, fields = click(url, page.text, button, choose)
    answer = http.post(action, data=fields, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize_url(graph: GraphEmulator, **params: str) -> str:
    query = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid profile offline_access User.Read",
        "state": "st-1",
        **params,
    }
    return f"{graph.url}{graph.tenant_id}/oauth2/v2.0/authorize?{urlencode(query)}"


def redeem(graph: GraphEmulator, code: str, **form: str) -> requests.Response:
    body = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "code": code,
        "redirect_uri": REDIRECT,
        "scope": "User.Read",
        **form,
    }
    body = {k: v for k, v in body.items() if v}
    return session(graph).post(f"{graph.url}{graph.tenant_id}/oauth2/v2.0/token", data=body)


def aadsts(resp: requests.Response) -> tuple[int, str, list[int]]:
    body = resp.json()
    return resp.status_code, body["error"], body["error_codes"]


def test_msal_web_sign_in_then_silent_refresh_from_the_cache(graph: GraphEmulator) -> None:
    graph.access_token_lifetime = 120  # under MSAL's 5-minute margin: silent => refresh
    cache = msal.SerializableTokenCache()
    app = web_app(graph, cache)
    flow = app.initiate_auth_code_flow([*SCOPES, "email"], redirect_uri=REDIRECT, login_hint=BOSS)
    config = (
        session(graph)
        .get(f"{graph.url}{graph.tenant_id}/v2.0/.well-known/openid-configuration")
        .json()
    )
    assert flow["auth_uri"].startswith(config["authorization_endpoint"] + "?")

    page = session(graph).get(flow["auth_uri"]).text
    [form] = forms(page)
    assert form.radios["login"] == [REP, BOSS] and form.fields["login"] == BOSS  # login_hint
    assert form.buttons["idSIButton9"][2] == "Accept" and form.buttons["idBtn_Back"][2] == "Cancel"
    assert CLIENT_ID in page and "Calendars.ReadWrite" in page

    answer = sign_in(graph, flow["auth_uri"])
    assert answer["state"] == flow["state"] and answer["session_state"]
    result = app.acquire_token_by_auth_code_flow(flow, answer)
    assert "access_token" in result, result
    assert result["refresh_token"] and result["token_type"] == "Bearer"
    assert result["ext_expires_in"] == 120
    claims = result["id_token_claims"]
    assert claims["aud"] == CLIENT_ID and claims["tid"] == graph.tenant_id
    assert claims["iss"] == f"{graph.url}{graph.tenant_id}/v2.0" and claims["ver"] == "2.0"
    assert claims["preferred_username"] == claims["email"] == BOSS
    assert claims["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()  # MSAL's hash
    assert claims["nbf"] <= claims["iat"] < claims["exp"] and claims["oid"] and claims["sub"]
    # The ID token is signed by the key the openid-configuration's jwks_uri serves.
    jwks = session(graph).get(config["jwks_uri"]).json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    verified = jwt.decode(result["id_token"], key, algorithms=["RS256"], audience=CLIENT_ID)
    assert verified["email"] == BOSS
    info = json.loads(base64.urlsafe_b64decode(result["client_info"] + "=="))
    assert info == {"uid": claims["oid"], "utid": graph.tenant_id}
    me = session(graph).get(
        graph.url + "v1.0/me", headers={"Authorization": "Bearer " + result["access_token"]}
    )
    assert me.json()["userPrincipalName"] == BOSS

    # A later request: a new app object over the serialized cache refreshes silently.
    later = msal.SerializableTokenCache()
    later.deserialize(cache.serialize())
    again = web_app(graph, later)
    [account] = again.get_accounts()
    assert account["username"] == BOSS
    fresh = again.acquire_token_silent(SCOPES, account=account)
    assert fresh is not None and fresh["token_source"] == "identity_provider", fresh
    assert fresh["access_token"] != result["access_token"]
    refresh = graph.identity.refresh  # the refresh token needs the app's secret too
    token = next(t for t, g in refresh.items() if g["upn"] == BOSS)
    public = session(graph).post(
        f"{graph.url}{graph.tenant_id}/oauth2/v2.0/token",
        data={"grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": token},
    )
    assert aadsts(public) == (401, "invalid_client", [7000218])
    assert [(g["upn"], g.get("grant_type")) for g in graph.grants] == [(BOSS, "authorization_code")]


def test_cancel_gives_access_denied_and_the_state(graph: GraphEmulator) -> None:
    app = web_app(graph)
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    answer = sign_in(graph, flow["auth_uri"], "idBtn_Back")
    assert answer["error"] == "access_denied" and answer["state"] == flow["state"]
    assert answer["error_description"].startswith("AADSTS65004:") and "code" not in answer
    assert answer["error_subcode"] == "cancel"
    assert app.acquire_token_by_auth_code_flow(flow, answer)["error"] == "access_denied"
    assert graph.identity.codes == {}


def test_bad_requests_stay_on_an_error_page_or_go_back_with_the_error(
    graph: GraphEmulator,
) -> None:
    http = session(graph)

    def page(url: str) -> tuple[int, str]:
        resp = http.get(url, allow_redirects=False)
        assert "location" not in resp.headers
        return resp.status_code, resp.text

    status, text = page(authorize_url(graph, redirect_uri=REDIRECT + "/evil"))
    assert status == 400 and "AADSTS50011:" in text and "/evil" in text
    status, text = page(authorize_url(graph, client_id="nobody"))
    assert status == 400 and "AADSTS700016:" in text
    status, text = page(authorize_url(graph).replace(graph.tenant_id, "fabrikam.com"))
    assert status == 400 and "AADSTS90002:" in text
    status, text = page(authorize_url(graph, state="<script>x</script>", login_hint="<i>"))
    assert status == 200 and "<script>x" not in text and "<i>" not in text

    # Once the redirect URI is known good, errors go back to it with the state.
    wrong = http.get(authorize_url(graph, response_type="token"), allow_redirects=False)
    params = parse_qs(urlsplit(wrong.headers["location"]).query)
    assert params["error"] == ["unsupported_response_type"] and params["state"] == ["st-1"]


def test_codes_need_secret_redirect_uri_and_verifier_and_are_used_once(
    graph: GraphEmulator,
) -> None:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    url = authorize_url(graph, code_challenge=challenge, code_challenge_method="S256")

    assert aadsts(redeem(graph, sign_in(graph, url)["code"], code_verifier="x" * 43)) == (
        400,
        "invalid_grant",
        [50148],
    )
    assert aadsts(redeem(graph, sign_in(graph, url)["code"])) == (400, "invalid_grant", [501481])
    code = sign_in(graph, url)["code"]
    assert aadsts(redeem(graph, code, code_verifier=verifier, client_secret="")) == (
        401,
        "invalid_client",
        [7000218],
    )
    assert aadsts(redeem(graph, code, code_verifier=verifier, client_secret="nope")) == (
        401,
        "invalid_client",
        [7000215],
    )
    other = redeem(graph, code, code_verifier=verifier, redirect_uri=REDIRECT + "/x")
    assert aadsts(other) == (400, "invalid_grant", [500112])

    code = sign_in(graph, url, login=REP)["code"]
    ok = redeem(graph, code, code_verifier=verifier)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert set(body) >= {"access_token", "refresh_token", "id_token", "client_info"}
    assert set(body["scope"].split()) == {"User.Read", "openid", "profile"}
    assert "email" not in jwt.decode(body["id_token"], options={"verify_signature": False})
    assert aadsts(redeem(graph, code, code_verifier=verifier)) == (400, "invalid_grant", [54005])

    code = sign_in(graph, url)["code"]
    graph.expire_codes()
    assert aadsts(redeem(graph, code, code_verifier=verifier)) == (400, "invalid_grant", [70008])

    # Without offline_access no refresh token; without openid no ID token.
    code = sign_in(graph, authorize_url(graph, scope="User.Read"))["code"]
    bare = redeem(graph, code).json()
    assert "access_token" in bare and "refresh_token" not in bare and "id_token" not in bare


def test_form_post_answers_with_a_self_posting_form(graph: GraphEmulator) -> None:
    app = web_app(graph)
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT, response_mode="form_post")
    http = session(graph)
    action, fields = click(flow["auth_uri"], http.get(flow["auth_uri"]).text, "idSIButton9")
    answer = http.post(action, data=fields, allow_redirects=False)
    assert answer.status_code == 200
    [form] = forms(answer.text)
    assert form.action == REDIRECT and form.method == "post"
    assert form.fields["state"] == flow["state"]
    result = app.acquire_token_by_auth_code_flow(flow, form.fields)
    assert result["id_token_claims"]["preferred_username"] == REP, result
