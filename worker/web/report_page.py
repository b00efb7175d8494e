"""The Report page: the rep's week in charts, from the state alone (as `firstblock
report`), and who can see it. The admins' roll-up is on the Team page
(worker/web/team_page.py), for the reps who share their figures.

Charts are PNGs drawn on request (matplotlib, in Starlette's thread pool), each with
its alt text in the page; the page names the week by ISO week (?week=2026-W49).
"""

from __future__ import annotations

from datetime import timedelta

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from worker import config as cfg
from worker import report, reporting
from worker.web.site import Site

CACHE = "private, max-age=300"  # the figures change once a day


def week_report(
    site: Site, config: cfg.Config, account: cfg.Account, week: str | None
) -> report.WeekReport:
    """The account's report for `week` (default: this one); 404 for a week that is not one."""
    with site.reading(config) as state:
        try:
            return reporting.week_report(state, config, account, week, site.clock.now())
        except ValueError:
            raise HTTPException(404) from None


class ReportPage:
    def __init__(self, site: Site) -> None:
        self.site = site

    def show(self, request: Request) -> Response:
        from worker import charts  # matplotlib: only when drawing

        config = self.site.load()
        _, account = self.site.account(request, config)
        r = week_report(self.site, config, account, request.query_params.get("week"))
        names = [(name, title, alt(r)) for name, title, _, alt in charts.PANELS]
        shared = config.for_account(account).report.share_with_admins
        earlier = report.week_name(r.monday - timedelta(days=7))
        later = report.week_name(r.monday + timedelta(days=7))
        return self.site.render(
            request,
            "report.html",
            config=config,
            account=account,
            r=r,
            summary=report.summary(r),
            charts=names,
            shared=shared,
            admins=sorted(config.web.admins) if config.web.signs_in else [],
            sunday=r.monday + timedelta(days=6),
            earlier=earlier,
            later=later if r.monday + timedelta(days=7) <= r.today else "",
        )

    def chart(self, request: Request) -> Response:
        from worker import charts  # matplotlib: only when drawing

        config = self.site.load()
        _, account = self.site.account(request, config)
        wanted = request.path_params["chart"]
        r = week_report(self.site, config, account, request.path_params["week"])
        drawn = {c.name: c for c in charts.charts(r, only=wanted)}
        if wanted not in drawn:
            raise HTTPException(404)
        return Response(drawn[wanted].png, media_type="image/png", headers={"Cache-Control": CACHE})
