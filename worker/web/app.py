"""`firstblock web`: the week, the gaps and the health of the accounts, in a browser.

It works on the same state as `serve` and never writes it: each page decides the
account's cycle as `plan` does (worker/runner.py) and shows the result. Without
sign-in it serves the accounts of this machine, and only on a loopback address
(worker/web/serve.py refuses any other).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from worker import config as cfg
from worker import gapcheck, runner, zones
from worker.clock import Clock
from worker.cycle import rules_for
from worker.errors import WorkerError
from worker.render import week
from worker.state import State
from worker.web import metrics
from worker.web.security import SecurityHeaders

HERE = Path(__file__).parent
Load = Callable[[], cfg.Config]


def create(load: Load, clock: Clock) -> Starlette:
    """The app. `load` gives the config (with the stored accounts) at each request,
    so an account added by the CLI or a cycle elsewhere shows at once."""
    pages = Pages(load, clock, Jinja2Templates(directory=HERE / "templates"))
    routes = [
        Route("/", pages.home),
        Route("/a/{name}", pages.week, name="week"),
        Route("/a/{name}/gaps", pages.gaps, name="gaps"),
        Route("/healthz", healthz),
        Route("/readyz", pages.ready),
        Route("/metrics", pages.metrics),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


class Pages:
    """The pages. Plain functions: Starlette runs them in its thread pool, so a page
    that reads a calendar never holds up the others (or /healthz)."""

    def __init__(self, load: Load, clock: Clock, templates: Jinja2Templates) -> None:
        self.load, self.clock, self.templates = load, clock, templates

    def _account(self, config: cfg.Config, name: str) -> cfg.Account:
        account = next((a for a in config.accounts if a.name == name), None)
        if account is None:
            raise HTTPException(404)
        return account

    def _render(self, request: Request, page: str, **context: Any) -> Response:
        return self.templates.TemplateResponse(request, page, context)

    def home(self, request: Request) -> Response:
        config = self.load()
        if len(config.accounts) == 1:
            url = request.url_for("week", name=config.accounts[0].name)
            return RedirectResponse(str(url), status_code=303)
        return self._render(request, "home.html", accounts=config.accounts)

    def week(self, request: Request) -> Response:
        config = self.load()
        account = self._account(config, request.path_params["name"])
        result = self._decided(config, account)
        context: dict[str, Any] = {"account": account, "result": result, "days": []}
        if result.outcome is not None:
            o = result.outcome
            effective = result.config or config.for_account(account)
            rules = rules_for(effective, result.account, zones.zone(o.timezone))
            unbooked = gapcheck.unbooked(effective, o, rules)
            context |= {
                "days": week(o, rules, unbooked=unbooked),
                "zone": rules.zone,
                "hold": result.hold,
                # A prep block names its meeting's moment; the title says which one.
                "starts": {e.id: f"{e.start.astimezone(rules.zone):%a %H:%M}" for e in o.events},
            }
        return self._render(request, "week.html", **context)

    def gaps(self, request: Request) -> Response:
        config = self.load()
        account = self._account(config, request.path_params["name"])
        now = self.clock.now()
        zone = zones.zone(config.for_account(account).timezone or runner.fallback_zone(config))
        monday = now.astimezone(zone).date() - timedelta(days=now.astimezone(zone).weekday())
        start = datetime.combine(monday, datetime.min.time(), zone)
        state = State.read_only(config.state_location())
        try:
            open_gaps = sorted(state.gaps.open(account.name), key=lambda g: (g.end, g.key))
            closed = state.gaps.closed_since(account.name, start)
        finally:
            state.close()
        return self._render(
            request,
            "gaps.html",
            account=account,
            open=open_gaps,
            closed=closed,
            now=now,
            zone=zone,
        )

    def ready(self, request: Request) -> Response:
        """Ready when the state store answers."""
        try:
            config = self.load()
            state = State.read_only(config.state_location())
            try:
                state.accounts.stamp()
            finally:
                state.close()
        except WorkerError as exc:
            return PlainTextResponse(f"not ready: {exc}\n", status_code=503)
        return PlainTextResponse("ready\n")

    def metrics(self, request: Request) -> Response:
        body, kind = metrics.scrape(self.load())
        return Response(body, media_type=kind)

    def _decided(self, config: cfg.Config, account: cfg.Account) -> runner.AccountResult:
        """The account's cycle decided, as `plan` decides it: nothing is written."""
        state = State.read_only(config.state_location())
        try:
            return runner.run_one(config, account, self.clock, apply=False, state=state)
        finally:
            state.close()
