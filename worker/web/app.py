"""`firstblock web`: reps sign in, connect once, set their own day and see it.

It works on the same state as `serve`: the week and gaps pages decide the account's
cycle as `plan` does and show it; settings, connecting and disconnecting write the
state store, and bring the account's next cycle forward. Without sign-in it serves
this machine's accounts, and only on a loopback address (worker/web/serve.py).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from worker.clock import Clock
from worker.errors import WorkerError
from worker.state import State
from worker.web import access, metrics
from worker.web.connection import Connection
from worker.web.pages import Pages
from worker.web.push_route import PushReceiver
from worker.web.report_page import ReportPage
from worker.web.security import SecurityHeaders
from worker.web.settings_page import SettingsPage
from worker.web.signin import SignIn
from worker.web.site import HERE, Load, SignInNeeded, Site
from worker.web.team_page import TeamPage

__all__ = ["Load", "create"]


def create(load: Load, clock: Clock) -> Starlette:
    """The app. `load` gives the config (with the stored accounts) at each request,
    so an account added by the CLI, or a change by another replica, shows at once.
    Raises ConfigError when sign-in is configured without the secret key."""
    site = Site(load, clock)
    web = load().web
    pages, signin = Pages(site), SignIn(site)
    settings, connection, team = SettingsPage(site), Connection(site, signin), TeamPage(site)
    report = ReportPage(site)
    routes = [
        Route("/", pages.home, name="home"),
        Route("/signin", signin.page, name="signin"),
        Route("/signin/{provider}", signin.start, name="start"),
        Route("/auth/{provider}", signin.callback, name="callback"),
        Route("/signout", signin.signout, methods=["POST"], name="signout"),
        Route("/team", team.show, name="team"),
        Route("/team/report.png", team.chart, name="team_chart"),
        Route("/a/{name}", pages.week, name="week"),
        Route("/a/{name}/gaps", pages.gaps, name="gaps"),
        Route("/a/{name}/report", report.show, name="report"),
        Route("/a/{name}/report/{week}/{chart}.png", report.chart, name="report_chart"),
        Route("/a/{name}/settings", settings.show, name="settings"),
        Route("/a/{name}/settings", settings.change, methods=["POST"]),
        Route("/a/{name}/connection", connection.show, name="connection"),
        Route("/a/{name}/reconnect", connection.reconnect, methods=["POST"], name="reconnect"),
        Route("/a/{name}/disconnect", connection.disconnect, methods=["POST"], name="disconnect"),
        Route("/push/{provider}", PushReceiver(site).receive, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", Operations(load).ready),
        Route("/metrics", Operations(load).metrics),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=access.session_key(web),
            session_cookie="firstblock",
            max_age=web.session_hours * 3600,
            same_site="lax",
            https_only=web.base_url.startswith("https://"),
        ),
    ]
    handlers = {SignInNeeded: _to_signin, HTTPException: _error_page(site)}
    return Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)


async def _to_signin(request: Request, exc: Exception) -> Response:
    return RedirectResponse(str(request.url_for("signin")), status_code=303)


def _error_page(site: Site):  # type: ignore[no-untyped-def]
    async def page(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = "There is nothing here for you." if exc.status_code == 404 else exc.detail
        return site.render(request, "error.html", exc.status_code, detail=detail)

    return page


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


class Operations:
    def __init__(self, load: Load) -> None:
        self.load = load

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
