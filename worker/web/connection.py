"""How a rep's account is connected, in plain words, and the two things they can do
about it: reconnect (sign in again with the account's scopes) and disconnect (their
future blocks taken off when they ask, every held message returned, then the grant
revoked and deleted: worker/roster.py `remove`)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from providers import registry
from worker import config as cfg
from worker import roster, runner
from worker.errors import WorkerError
from worker.web import access
from worker.web.signin import SignIn
from worker.web.site import Site

RECONNECT = "reconnect this account"  # what a run's error says when the grant is gone


class Connection:
    def __init__(self, site: Site, signin: SignIn) -> None:
        self.site, self.signin = site, signin

    def show(self, request: Request) -> Response:
        config = self.site.load()
        _, account = self.site.account(request, config)
        return self._page(request, config, account)

    def _page(
        self, request: Request, config: cfg.Config, account: cfg.Account, **extra: Any
    ) -> Response:
        plugin = registry.provider(account.provider)
        with self.site.reading(config) as state:
            spec = runner.spec_for(config, account, state, dry=True)
            connected = plugin.connected(spec)
            admin = connected and plugin.admin_granted(spec)
            last = state.runs.last(account.name)
            good = state.runs.last(account.name, ok=True)
        if not connected:
            health, words = "reconnect", "Not connected: connect it to get your blocks."
        elif last is not None and not last.ok and RECONNECT in last.error:
            health, words = "reconnect", "Reconnect needed: the access you gave was withdrawn."
        elif last is not None and not last.ok:
            health, words = "error", "The last run failed; firstblock tries again."
        elif last is None:
            health, words = "waiting", "Connected; the first run has not happened yet."
        else:
            health, words = "ok", "OK: your blocks and your inbox are kept."
        return self.site.render(
            request,
            "connection.html",
            config=config,
            account=account,
            health=health,
            words=words,
            last=last,
            good=good,
            admin=admin,
            connectable=plugin.connectable,
            can_reconnect=account.provider in config.web.signin and not admin,
            **extra,
        )

    async def reconnect(self, request: Request) -> Response:
        form = await request.form()
        access.check_csrf(request, form.get("csrf"))
        config = self.site.load()
        _, account = self.site.account(request, config)
        if account.provider not in config.web.signin:
            return self._page(request, config, account)
        return self.signin.send(
            request, config, account.provider, "reconnect", account=account.name, hint=account.email
        )

    async def disconnect(self, request: Request) -> Response:
        form = await request.form()
        access.check_csrf(request, form.get("csrf"))
        take = form.get("remove_blocks") == "on"
        return await run_in_threadpool(self._disconnect, request, take)

    def _disconnect(self, request: Request, take_blocks: bool) -> Response:
        config = self.site.load()
        _, account = self.site.account(request, config)
        try:
            with self.site.writing(config) as state:
                done = roster.remove(
                    config, account, self.site.clock, state, take_blocks=take_blocks
                )
        except WorkerError as exc:
            return self._page(request, config, account, problem=str(exc))
        return self.site.render(
            request, "disconnected.html", config=config, gone=account, done=done
        )
