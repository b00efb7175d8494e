"""The pages that show: the accounts, an account's week and its follow-up gaps.

Each decides the account's cycle as `plan` does (worker/runner.py) and shows the
result; nothing here writes. Plain functions: Starlette runs them in its thread
pool, so a page that reads a calendar never holds up the others (or /healthz).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from worker import config as cfg
from worker import gapcheck, proposals, runner, zones
from worker.clock import Clock
from worker.cycle import rules_for
from worker.proposals import Proposal
from worker.render import week
from worker.web.site import Site, monday


def decided(site: Site, config: cfg.Config, account: cfg.Account, clock: Clock) -> dict[str, Any]:
    """The account's cycle decided at `clock`'s moment, as the week template shows it."""
    with site.reading(config) as state:
        result = runner.run_one(config, account, clock, apply=False, state=state)
    context: dict[str, Any] = {"result": result, "days": []}
    if result.outcome is not None:
        o = result.outcome
        effective = result.config or config.for_account(account)
        rules = rules_for(effective, result.account, zones.zone(o.timezone))
        context |= {
            "days": week(o, rules, unbooked=gapcheck.unbooked(effective, o, rules)),
            "zone": rules.zone,
            "hold": result.hold,
            # A prep block names its meeting's moment; the title says which one.
            "starts": {e.id: f"{e.start.astimezone(rules.zone):%a %H:%M}" for e in o.events},
        }
    return context


class Pages:
    def __init__(self, site: Site) -> None:
        self.site = site

    def home(self, request: Request) -> Response:
        config = self.site.load()
        who = self.site.who(request, config)
        mine = self.site.mine(who, config)
        if len(mine) == 1 and not who.admin:
            return self.site.to(request, "week", name=mine[0].name)
        return self.site.render(request, "home.html", config=config, accounts=mine)

    def week(self, request: Request) -> Response:
        config = self.site.load()
        _, account = self.site.account(request, config)
        context = decided(self.site, config, account, self.site.clock)
        return self.site.render(request, "week.html", config=config, account=account, **context)

    def gaps(self, request: Request) -> Response:
        config = self.site.load()
        _, account = self.site.account(request, config)
        now = self.site.clock.now()
        zone = zones.zone(config.for_account(account).timezone or runner.fallback_zone(config))
        # The calendar is read for the slots, as `firstblock gaps` does; without it the
        # gaps still show, from the state.
        context = decided(self.site, config, account, self.site.clock)
        result = context["result"]
        if result.outcome is not None:
            zone = context["zone"]
        with self.site.reading(config) as state:
            open_gaps = sorted(state.gaps.open(account.name), key=lambda g: (g.end, g.key))
            closed = state.gaps.closed_since(account.name, monday(now, zone))
        slots: dict[str, str] = {}
        upcoming: list[tuple[Proposal, str]] = []
        if result.outcome is not None:
            o = result.outcome
            rules = rules_for(result.config or config.for_account(account), account, zone)
            ids = [g.key.rpartition("|")[0] for g in open_gaps]
            for p in gapcheck.proposed_for(rules, o, ids, now):
                slots[p.meeting_id] = proposals.line(p, zone)
            upcoming = [(p, proposals.line(p, zone)) for p in o.plan.proposals]
        return self.site.render(
            request,
            "gaps.html",
            config=config,
            account=account,
            open=open_gaps,
            closed=closed,
            now=now,
            zone=zone,
            slots=slots,
            upcoming=upcoming,
            calendar_read=result.outcome is not None,
        )
