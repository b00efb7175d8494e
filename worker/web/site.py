"""What every page shares: the config as it is now, the clock, the templates, who is
looking and which account they asked for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from worker import config as cfg
from worker.clock import Clock
from worker.state import State
from worker.web import access

HERE = Path(__file__).parent
Load = Callable[[], cfg.Config]


class SignInNeeded(Exception):
    """Nobody (valid) is signed in: the browser goes to the sign-in page."""


class Site:
    def __init__(self, load: Load, clock: Clock) -> None:
        self.load, self.clock = load, clock
        self.templates = Jinja2Templates(directory=HERE / "templates")

    def who(self, request: Request, config: cfg.Config) -> access.Viewer:
        found = access.viewer(request, config.web)
        if found is None:
            raise SignInNeeded
        return found

    def account(self, request: Request, config: cfg.Config) -> tuple[access.Viewer, cfg.Account]:
        """The account the path names, if the viewer may see it; else 404."""
        who = self.who(request, config)
        name = request.path_params["name"]
        account = next((a for a in config.accounts if a.name == name), None)
        if account is None or not access.may_see(who, account):
            raise HTTPException(404)
        return who, account

    def mine(self, who: access.Viewer, config: cfg.Config) -> list[cfg.Account]:
        return [a for a in config.accounts if access.may_see(who, a)]

    def render(self, request: Request, page: str, status: int = 200, **context: Any) -> Response:
        config = context.pop("config", None) or self.load()
        who = access.viewer(request, config.web)
        context |= {
            "viewer": who,
            "csrf": access.csrf_token(request),
            "signs_in": config.web.signs_in,
        }
        return self.templates.TemplateResponse(request, page, context, status_code=status)

    def to(self, request: Request, route: str, **params: str) -> Response:
        return RedirectResponse(str(request.url_for(route, **params)), status_code=303)

    @contextmanager
    def reading(self, config: cfg.Config) -> Iterator[State]:
        state = State.read_only(config.state_location())
        try:
            yield state
        finally:
            state.close()

    @contextmanager
    def writing(self, config: cfg.Config) -> Iterator[State]:
        state = State(config.state_location())
        try:
            yield state
        finally:
            state.close()


def monday(now: datetime, zone: tzinfo, weeks: int = 0) -> datetime:
    """Midnight where the account lives, on the Monday of `now`'s week (`weeks` on)."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=today.weekday()) + timedelta(weeks=weeks)
    return datetime.combine(first, datetime.min.time(), zone)
