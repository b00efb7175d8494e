"""The Google emulator's web-server sign-in: consent page, ID tokens, redirect URI checks,
driven through google-auth-oauthlib's Flow and plain `requests` (clicking the page's form)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import id_token

from tests.emulators.forms import click, forms
from tests.emulators.google import GoogleEmulator
from tests.emulators.google.oauth import USERINFO

CLIENT_ID = "web-client.apps.googleusercontent.com"
SECRET = "GOCSPX-web-secret"
REDIRECT = "http://localhost:8400/auth/google/callback"
CAL_SCOPE = "https://www.googleapis.com/auth/calendar.events"
EMAIL_SCOPE = USERINFO + "email"
REP = "rep@example.com"
OTHER = "other@example.com"


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleEmulator]:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the emulator speaks plain HTTP
    monkeypatch.delenv("OAUTHLIB_RELAX_TOKEN_SCOPE", raising=False)
    with GoogleEmulator(email=REP, require_auth=True) as emulator:
        emulator.client(CLIENT_ID, SECRET, redirect_uris=[REDIRECT])
        emulator.consent_page = True
        yield emulator


def web_flow(google: GoogleEmulator, scopes: list[str], **kwargs: Any) -> Any:
    from google_auth_oauthlib.flow import Flow

    config = {
        "web": {
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "auth_uri": google.auth_uri,
            "token_uri": google.token_uri,
            "redirect_uris": [REDIRECT],
        }
    }
    return Flow.from_client_config(config, scopes=scopes, redirect_uri=REDIRECT, **kwargs)


def consent(url: str, button: str = "submit_approve_access", **choose: str) -> dict[str, str]:
    """Open the consent page, click a button; answers the redirect's query parameters."""
    http = requests.Session()
    page = http.get(url, allow_redirects=False)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    action, fields = click(url, page.text, button, choose)
    answer = http.post(action, data=fields, allow_redirects=False)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def claims_of(google: GoogleEmulator, token: str) -> dict[str, Any]:
    """The ID token's claims once its signature is checked against the emulator's JWKS."""
    found = id_token.verify_token(
        token, AuthRequest(), audience=CLIENT_ID, certs_url=google.url + "oauth2/v3/certs"
    )
    assert isinstance(found, dict)
    return found


def redeem(google: GoogleEmulator, code: str, verifier: str = "", **extra: str) -> Any:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "redirect_uri": REDIRECT,
        **({"code_verifier": verifier} if verifier else {}),
        **extra,
    }
    return requests.post(google.token_uri, data=form)


def test_web_flow_through_the_consent_page(google: GoogleEmulator) -> None:
    flow = web_flow(google, ["openid", EMAIL_SCOPE, CAL_SCOPE], autogenerate_code_verifier=True)
    nonce = secrets.token_urlsafe(16)
    url, state = flow.authorization_url(
        access_type="offline", prompt="consent", include_granted_scopes="true", nonce=nonce
    )
    page = requests.get(url, allow_redirects=False)
    assert page.status_code == 200  # a page now, not the default's immediate redirect
    assert REP in page.text and CLIENT_ID in page.text and CAL_SCOPE in page.text
    [form] = forms(page.text)
    assert form.action == "/o/oauth2/approve" and form.method == "post"
    assert form.buttons["submit_approve_access"][2] == "Allow"
    assert form.buttons["submit_deny_access"][2] == "Deny"

    params = consent(url)
    assert params["state"] == state
    assert set(params["scope"].split()) == {"openid", EMAIL_SCOPE, CAL_SCOPE}
    # oauthlib checks state and scope (as a set) against what it asked: no relaxing needed.
    query = "&".join(f"{k}={v}" for k, v in (("state", state), ("code", params["code"])))
    token = flow.fetch_token(authorization_response=f"{REDIRECT}?{query}")
    assert set(token["scope"]) == {"openid", EMAIL_SCOPE, CAL_SCOPE}
    creds = flow.credentials
    assert creds.refresh_token and creds.id_token

    claims = claims_of(google, creds.id_token)
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["aud"] == claims["azp"] == CLIENT_ID
    assert claims["email"] == REP and claims["email_verified"] is True
    assert claims["nonce"] == nonce and claims["exp"] - claims["iat"] == 3600
    assert len(claims["sub"]) == 21 and claims["sub"].isdigit()
    # The v1 certs (PEM) check the same signature through google-auth's own verifier.
    v1 = id_token.verify_token(
        creds.id_token, AuthRequest(), audience=CLIENT_ID, certs_url=google.url + "oauth2/v1/certs"
    )
    assert v1["sub"] == claims["sub"]

    from tests.emulators.test_google_emulator import calendar_service

    cal = calendar_service(google, creds)
    assert cal.events().list(calendarId="primary").execute()["items"] == []
    creds.refresh(AuthRequest())  # a refresh of an openid grant brings a fresh ID token
    refreshed = claims_of(google, creds.id_token)
    assert refreshed["sub"] == claims["sub"] and "nonce" not in refreshed
    assert google.grants[-1]["subject"] == REP


def test_short_scope_names_come_back_long(
    google: GoogleEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = web_flow(google, ["openid", "email"])
    url, _ = flow.authorization_url()
    params = consent(url)
    assert params["scope"].split() == ["openid", EMAIL_SCOPE]
    with pytest.raises(Warning, match="Scope has changed"):
        flow.fetch_token(code=params["code"])

    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    flow = web_flow(google, ["openid", "email"])
    url, _ = flow.authorization_url()
    token = flow.fetch_token(code=consent(url)["code"])
    assert claims_of(google, token["id_token"])["email"] == REP
    assert "refresh_token" not in token  # no access_type=offline


def test_deny_gives_access_denied_and_the_state(google: GoogleEmulator) -> None:
    url, state = web_flow(google, ["openid", EMAIL_SCOPE]).authorization_url()
    params = consent(url, "submit_deny_access")
    assert params == {"error": "access_denied", "state": state}
    assert google.grants == [] and google.oauth.codes == {}


def test_unregistered_redirect_uri_and_unknown_client_stay_on_an_error_page(
    google: GoogleEmulator,
) -> None:
    query = {"client_id": CLIENT_ID, "response_type": "code", "scope": "openid", "state": "s"}
    wrong = requests.get(
        google.auth_uri,
        params={**query, "redirect_uri": REDIRECT + "/evil"},
        allow_redirects=False,
    )
    assert wrong.status_code == 400 and "Error 400: redirect_uri_mismatch" in wrong.text
    assert "location" not in wrong.headers
    stranger = requests.get(
        google.auth_uri,
        params={**query, "client_id": "nobody", "redirect_uri": REDIRECT},
        allow_redirects=False,
    )
    assert stranger.status_code == 401 and "Error 401: invalid_client" in stranger.text
    # Markup in a parameter is shown as text, never as markup.
    google.client("<b>x</b>", SECRET)
    shown = requests.get(
        google.auth_uri,
        params={**query, "client_id": "<b>x</b>", "redirect_uri": REDIRECT},
        allow_redirects=False,
    )
    assert "&lt;b&gt;x&lt;/b&gt;" in shown.text and "<b>x</b>" not in shown.text


def test_codes_are_single_use_expire_and_need_the_verifier(google: GoogleEmulator) -> None:
    flow = web_flow(google, ["openid", EMAIL_SCOPE], autogenerate_code_verifier=True)
    url, _ = flow.authorization_url(access_type="offline")
    verifier = flow.code_verifier

    code = consent(url)["code"]
    wrong = redeem(google, code, "x" * 43)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert redeem(google, code, verifier).json()["error"] == "invalid_grant"  # used up

    code = consent(url)["code"]
    first = redeem(google, code, verifier)
    assert first.status_code == 200 and "id_token" in first.json()
    replay = redeem(google, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"

    code = consent(url)["code"]
    other = redeem(google, code, verifier, redirect_uri=REDIRECT + "/other")
    assert other.status_code == 400 and other.json()["error"] == "redirect_uri_mismatch"

    code = consent(url)["code"]
    google.expire_codes()
    late = redeem(google, code, verifier)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


def test_the_account_signed_in_at_approval_gets_the_tokens(google: GoogleEmulator) -> None:
    def email_and_sub(code: str) -> tuple[str, str]:
        claims = claims_of(google, redeem(google, code).json()["id_token"])
        return claims["email"], claims["sub"]

    flow = web_flow(google, ["openid", EMAIL_SCOPE], autogenerate_code_verifier=False)
    url, _ = flow.authorization_url()
    page = requests.get(url).text
    google.oauth.email = OTHER  # the user switched accounts before clicking Allow
    action, fields = click(url, page, "submit_approve_access")
    location = requests.post(action, data=fields, allow_redirects=False).headers["location"]
    other, other_sub = email_and_sub(parse_qs(urlsplit(location).query)["code"][0])
    assert other == OTHER

    # Two accounts signed in: the page offers both, login_hint preselects one.
    google.oauth.email, google.oauth.accounts = REP, [OTHER]
    url, _ = flow.authorization_url(login_hint=OTHER)
    [form] = forms(requests.get(url).text)
    assert form.radios["account"] == [REP, OTHER] and form.fields["account"] == OTHER
    assert email_and_sub(consent(url)["code"]) == (OTHER, other_sub)  # sub: stable
    rep, rep_sub = email_and_sub(consent(url, account=REP)["code"])
    assert rep == REP and rep_sub != other_sub
    assert [g["subject"] for g in google.grants] == [OTHER, OTHER, REP]


def test_refresh_token_only_with_fresh_consent(google: GoogleEmulator) -> None:
    flow = web_flow(google, ["openid", EMAIL_SCOPE, CAL_SCOPE], autogenerate_code_verifier=False)
    url, _ = flow.authorization_url(access_type="offline")
    assert "refresh_token" in redeem(google, consent(url)["code"]).json()
    again = redeem(google, consent(url)["code"]).json()
    assert "refresh_token" not in again and "access_token" in again
    url, _ = flow.authorization_url(access_type="offline", prompt="consent")
    assert "refresh_token" in redeem(google, consent(url)["code"]).json()


def test_incremental_authorization_includes_earlier_scopes(google: GoogleEmulator) -> None:
    first = web_flow(google, ["openid", EMAIL_SCOPE], autogenerate_code_verifier=False)
    url, _ = first.authorization_url()
    redeem(google, consent(url)["code"])
    more = web_flow(google, [CAL_SCOPE], autogenerate_code_verifier=False)
    url, _ = more.authorization_url(include_granted_scopes="true")
    scope = redeem(google, consent(url)["code"]).json()["scope"]
    assert set(scope.split()) == {CAL_SCOPE, "openid", EMAIL_SCOPE}
    url, _ = more.authorization_url()
    assert redeem(google, consent(url)["code"]).json()["scope"] == CAL_SCOPE


def test_the_default_still_approves_at_once() -> None:
    with GoogleEmulator() as google:
        google.client(CLIENT_ID, SECRET)  # no redirect URIs registered: any is accepted
        query = {
            "client_id": CLIENT_ID, "response_type": "code", "scope": "openid email",
            "redirect_uri": "http://localhost:9/", "state": "st", "nonce": "n-0",
        }  # fmt: skip
        resp = requests.get(google.auth_uri, params=query, allow_redirects=False)
        assert resp.status_code == 302
        params = parse_qs(urlsplit(resp.headers["location"]).query)
        assert params["state"] == ["st"] and params["scope"] == [f"openid {EMAIL_SCOPE}"]
        body = redeem(google, params["code"][0], redirect_uri="http://localhost:9/").json()
        claims = claims_of(google, body["id_token"])
        assert claims["nonce"] == "n-0" and claims["email"] == "rep@example.com"
        # The userinfo scope alone brings openid along, and so an ID token.
        resp = requests.get(
            google.auth_uri, params={**query, "scope": EMAIL_SCOPE}, allow_redirects=False
        )
        code = parse_qs(urlsplit(resp.headers["location"]).query)["code"][0]
        body = redeem(google, code, redirect_uri="http://localhost:9/").json()
        assert body["scope"] == f"{EMAIL_SCOPE} openid" and "id_token" in body
        config = requests.get(google.url + ".well-known/openid-configuration").json()
        assert config["jwks_uri"] == google.url + "oauth2/v3/certs"
        assert config["token_endpoint"] == google.token_uri
