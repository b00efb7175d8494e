"""Signing in and connecting, in one visit to the provider where possible.

The first visit asks only who the person is (`openid email`). A rep whose account is
connected already (by themselves earlier, or by an administrator's delegation or
app-only grant, which stay in the CLI) is then signed in. Anyone else goes straight
back to the provider for the account's scopes with offline access, named by
`login_hint`, and the grant that comes back is tried, stored encrypted and its
account created: Google's incremental authorization, done once.

What a flow keeps until the browser returns (its `state`, PKCE verifier, nonce) lives
in the signed session, is used once, and must match what comes back.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from providers import registry
from providers.base import SignedIn, WebSignIn
from providers.errors import ProviderError
from worker import config as cfg
from worker import runner
from worker.accounts import plain
from worker.errors import ConfigError
from worker.reader import Reader
from worker.web import access
from worker.web.site import Site

LOG = logging.getLogger("firstblock.web")


class SignIn:
    def __init__(self, site: Site) -> None:
        self.site = site
        self._flows: dict[tuple[str, str], WebSignIn] = {}
        self._lock = threading.Lock()

    def flow(self, config: cfg.Config, provider: str) -> WebSignIn:
        options = config.web.signin.get(provider)
        if options is None:
            raise HTTPException(404)
        key = (provider, repr(sorted(options.items())))
        with self._lock:
            if key not in self._flows:
                try:
                    self._flows[key] = registry.provider(provider).web_signin(options)
                except ProviderError as exc:
                    raise HTTPException(500, str(exc)) from None
            return self._flows[key]

    def page(self, request: Request) -> Response:
        config = self.site.load()
        if not config.web.signs_in:
            return self.site.to(request, "home")
        buttons = [(name, self.flow(config, name).label) for name in config.web.signin]
        return self.site.render(request, "signin.html", config=config, buttons=buttons)

    def start(self, request: Request) -> Response:
        config = self.site.load()
        return self.send(request, config, request.path_params["provider"], "signin")

    def send(
        self,
        request: Request,
        config: cfg.Config,
        provider: str,
        purpose: str,
        *,
        account: str = "",
        hint: str = "",
    ) -> Response:
        """Off to the provider; `purpose` is signin, connect or reconnect."""
        flow = self.flow(config, provider)
        redirect = f"{config.web.base_url}auth/{provider}"
        try:
            url, kept = flow.begin(redirect, connect=purpose != "signin", login_hint=hint)
        except ProviderError as exc:
            return self._failed(request, config, str(exc))
        request.session["pending"] = {
            "provider": provider,
            "purpose": purpose,
            "account": account,
            "kept": kept,
        }
        return RedirectResponse(url, status_code=303)

    def callback(self, request: Request) -> Response:
        config = self.site.load()
        provider = request.path_params["provider"]
        pending = request.session.pop("pending", None)  # used once, whatever happens
        answer = dict(request.query_params)
        if not isinstance(pending, dict) or pending.get("provider") != provider:
            return self._failed(request, config, "This sign-in was not started here, or was used.")
        state = str(pending["kept"].get("state", ""))
        if not hmac.compare_digest(state.encode(), answer.get("state", "").encode()):
            return self._failed(request, config, "This sign-in's answer does not match it.")
        try:
            who = self.flow(config, provider).finish(pending["kept"], answer)
        except ProviderError as exc:
            return self._failed(request, config, str(exc))
        if pending["purpose"] == "signin":
            return self._signed_in(request, config, provider, who.email)
        return self._connected(request, config, provider, pending, who)

    async def signout(self, request: Request) -> Response:
        access.check_csrf(request, (await request.form()).get("csrf"))
        request.session.clear()
        return self.site.to(request, "signin")

    def _signed_in(
        self, request: Request, config: cfg.Config, provider: str, email: str
    ) -> Response:
        request.session.clear()  # a new session for a new identity, never the old one's
        request.session["email"] = email
        account = _account_of(config, email, provider)
        if account is not None:
            with self.site.reading(config) as state:
                spec = runner.spec_for(config, account, state)
                plugin = registry.provider(account.provider)
                if account.provider != provider or plugin.connected(spec):
                    return self.site.to(request, "home")
        LOG.info("web: connecting an account for a rep who signed in")
        return self.send(request, config, provider, "connect", hint=email)

    def _connected(
        self,
        request: Request,
        config: cfg.Config,
        provider: str,
        pending: Mapping[str, Any],
        who: SignedIn,
    ) -> Response:
        signed = request.session.get("email")
        if who.email != signed:
            return self._failed(
                request,
                config,
                f"Access was allowed as {who.email}, but {signed or 'nobody'} is signed in here. "
                "Sign in again with the account you want to connect.",
                status=403,
            )
        name = str(pending.get("account") or "")
        account = (
            next((a for a in config.accounts if a.name == name), None)
            if name
            else _account_of(config, who.email, provider)
        )
        if account is not None and (account.email != who.email or account.provider != provider):
            return self._failed(request, config, "That is another person's account.", status=403)
        if who.grant is None:
            return self._failed(request, config, "The provider gave no access to keep.")
        new = account is None
        if account is None:
            account = _new_account(config, provider, who.email)
        try:
            with self.site.writing(config) as state:
                spec = runner.spec_for(config, account, state)
                registry.provider(provider).keep_grant(spec, who.grant)
                if new:  # kept with the stored accounts, as `firstblock accounts add` does
                    state.accounts.put(account.name, _table(account), self.site.clock.now())
                state.schedule.set(account.name, self.site.clock.now(), "connected")
        except ProviderError as exc:
            return self._failed(request, config, str(exc))
        LOG.info("web: account %s connected", account.name, extra={"account": account.name})
        return self.site.to(request, "week", name=account.name)

    def _failed(
        self, request: Request, config: cfg.Config, why: str, *, status: int = 400
    ) -> Response:
        buttons = [(name, self.flow(config, name).label) for name in config.web.signin]
        return self.site.render(
            request, "signin.html", status, config=config, buttons=buttons, problem=why
        )


def _account_of(config: cfg.Config, email: str, provider: str) -> cfg.Account | None:
    """The rep's account: the one with this address at this provider, else any with
    this address (connected another way)."""
    mine = [a for a in config.accounts if a.email and a.email == email]
    return next((a for a in mine if a.provider == provider), mine[0] if mine else None)


def _new_account(config: cfg.Config, provider: str, email: str) -> cfg.Account:
    """The account a rep's first sign-in creates, named by their address, checked as
    the config checks every account."""
    table = {"provider": provider, "email": email}
    if api_root := config.web.signin[provider].get("api_root"):
        table["api_root"] = str(api_root)
    try:
        account = cfg.account_from(
            Reader({**table, "name": email}, f"account {email}"), Path.cwd(), None, cfg.STORE
        )
    except ConfigError as exc:
        raise HTTPException(400, str(exc)) from None
    return account


def _table(account: cfg.Account) -> dict[str, Any]:
    table: dict[str, Any] = {"provider": account.provider, "email": account.email}
    table |= plain(dict(account.options))
    return table
