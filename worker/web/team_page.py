"""The Team page, for the admins named in [web] only: every account's health, last
run, blocks this week, held mail and open gaps, from the state store alone (no
provider is asked, so it stays fast for a whole team)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from worker import config as cfg
from worker import report, reporting, runner, zones
from worker.stores import Run
from worker.web.connection import RECONNECT
from worker.web.site import Site, monday


@dataclass(frozen=True)
class Line:
    name: str
    provider: str
    email: str
    health: str  # ok, reconnect, error, waiting
    last: Run | None
    blocks: int
    held: int | None  # None: not known yet
    gaps: int


class TeamPage:
    def __init__(self, site: Site) -> None:
        self.site = site

    def show(self, request: Request) -> Response:
        config = self.site.load()
        who = self.site.who(request, config)
        if not who.admin:
            raise HTTPException(404)
        now = self.site.clock.now()
        zone = zones.zone(config.timezone or runner.fallback_zone(config))
        first = monday(now, zone)
        lines = []
        with self.site.reading(config) as state:
            for a in config.accounts:
                last = state.runs.last(a.name)
                lines.append(
                    Line(
                        a.name,
                        a.provider,
                        a.email,
                        _health(last),
                        last,
                        state.ledger.count(a.name, first, first + timedelta(days=7)),
                        state.runs.held(a.name),
                        len(state.gaps.open(a.name)),
                    )
                )
        lines.sort(key=lambda line: (line.health == "ok", line.name))
        week = self._week(request, config)
        return self.site.render(
            request,
            "team.html",
            config=config,
            lines=lines,
            zone=zone,
            rollup=self._rollup(config, week),
            week=week,
        )

    def _week(self, request: Request, config: cfg.Config) -> str:
        """The week asked for, else this one in the team's zone: one week for every rep,
        wherever each lives (each rep's days are still their own)."""
        asked = request.query_params.get("week")
        if asked:
            return asked
        zone = zones.zone(config.timezone or runner.fallback_zone(config))
        return report.week_name(monday(self.site.clock.now(), zone).date())

    def _rollup(self, config: cfg.Config, week: str) -> list[report.WeekReport]:
        """The week's report of every rep who shares it (report.share_with_admins);
        a rep who does not is never in it, nor in its chart."""
        shared = [a for a in config.accounts if config.for_account(a).report.share_with_admins]
        now = self.site.clock.now()
        with self.site.reading(config) as state:  # one connection for the whole team
            try:
                return [reporting.week_report(state, config, a, week, now) for a in shared]
            except ValueError:
                raise HTTPException(404) from None

    def chart(self, request: Request) -> Response:
        from worker import charts  # matplotlib: only when drawing

        config = self.site.load()
        if not self.site.who(request, config).admin:
            raise HTTPException(404)
        week = self._week(request, config)
        rows = [(r.account, r.share) for r in self._rollup(config, week) if r.recorded]
        png = charts.team(rows, week)
        # Not kept by the browser: a rep who stops sharing must leave it at once.
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


def _health(last: Run | None) -> str:
    if last is None:
        return "waiting"
    if last.ok:
        return "ok"
    return "reconnect" if RECONNECT in last.error else "error"
