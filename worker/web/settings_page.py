"""A rep's own settings: hours, block targets and chunks, each kind's time defense
(when it turns busy, which invitations it declines), the hold and its allow list,
follow-ups, the alert webhook. Checked by the config's own parser (the same one-line
messages, shown beside the field), previewed as next week's plan, and saved into the
account's stored table, which brings its next cycle forward.

A value equal to the team's is not kept as the rep's own: when the team's changes,
so does theirs. The webhook URL is a secret: never shown, kept unless replaced.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from worker import config as cfg
from worker import runner, zones
from worker.clock import FixedClock
from worker.errors import ConfigError
from worker.policy import DECLINES, DEFENSES
from worker.reader import Reader
from worker.settings import DAY_NAMES, flat
from worker.web import access
from worker.web.pages import decided
from worker.web.site import Site, monday

KINDS = ("prospecting", "deals", "prep", "admin")
NUMBERS = [f"blocks.{k}.{f}" for k in KINDS for f in ("minutes", "min_chunk")]
NUMBERS += ["followups.grace_minutes", "followups.lookahead_days"]
FLAGS = (
    "hold.enabled",
    "followups.tentative_hold",
    "report.weekly_email",
    "report.share_with_admins",
)
# Time defense per kind: each a choice among the config's own words.
CHOICES = {
    f"blocks.{k}.{f}": words
    for k in KINDS
    for f, words in (("defense", DEFENSES), ("decline", DECLINES))
}
WHERE = re.compile(r"\(state store\): ([\w.\[\]]+): ")


class SettingsPage:
    def __init__(self, site: Site) -> None:
        self.site = site

    def show(self, request: Request) -> Response:
        config = self.site.load()
        _, account = self.site.account(request, config)
        values = _values(config.for_account(account).defaults)
        return self._page(request, config, account, values, saved="saved" in request.query_params)

    async def change(self, request: Request) -> Response:
        form = await request.form()
        access.check_csrf(request, form.get("csrf"))
        # The rest reads files and calendars: off the event loop.
        return await run_in_threadpool(self._change, request, form)

    def _change(self, request: Request, form: FormData) -> Response:
        config = self.site.load()
        _, account = self.site.account(request, config)
        values = _values(config.for_account(account).defaults) | _submitted(form)
        if account.origin != cfg.STORE:
            return self._page(request, config, account, values, status=409)
        with self.site.reading(config) as state:
            table = dict(state.accounts.get(account.name) or {})
        errors: dict[str, str] = {}
        try:
            table = _table(table, values, form, config.defaults)
            changed = cfg.account_from(
                Reader({**table, "name": account.name}, f"account {account.name} ({cfg.STORE})"),
                Path.cwd(),
                config.defaults,
                cfg.STORE,
            )
        except ConfigError as exc:
            errors[_field(str(exc), table)] = str(exc).split(": ", 1)[-1]
            return self._page(request, config, account, values, errors=errors, status=400)
        if form.get("action") == "save":
            now = self.site.clock.now()
            with self.site.writing(config) as state:
                state.accounts.put(account.name, table, now)
                state.schedule.set(account.name, now, "settings")
            return Response(status_code=303, headers={"location": f"{request.url.path}?saved=1"})
        others = tuple(changed if a.name == account.name else a for a in config.accounts)
        preview = replace(config, accounts=others)
        monday = _next_week(preview, changed, self.site.clock.now())
        context = decided(self.site, preview, changed, FixedClock(monday))
        return self._page(request, config, account, values, preview=context)

    def _page(
        self,
        request: Request,
        config: cfg.Config,
        account: cfg.Account,
        values: dict[str, Any],
        *,
        status: int = 200,
        **context: Any,
    ) -> Response:
        return self.site.render(
            request,
            "settings.html",
            status,
            config=config,
            account=account,
            values=values,
            kinds=KINDS,
            choices=CHOICES,
            day_names=DAY_NAMES,
            editable=account.origin == cfg.STORE,
            webhook_set=bool(config.for_account(account).alerts.webhook_url),
            **context,
        )


def _values(settings: cfg.Settings) -> dict[str, Any]:
    """The form's fields, as the settings are now."""
    everything = flat(settings)
    values = {k: everything[k] for k in ("timezone", "workday.days", *FLAGS)}
    values["workday.hours"] = ", ".join(everything["workday.hours"])
    values["hold.allow"] = "\n".join(everything["hold.allow"])
    values |= {k: everything[k] for k in NUMBERS}
    values |= {k: everything[k] for k in CHOICES if k in everything}
    return values


def _submitted(form: FormData) -> dict[str, Any]:
    """The fields the form carries; one it leaves out stays as it is. A checkbox
    comes with a hidden field before it, so an unticked one is still there."""
    values: dict[str, Any] = {}
    if "workday.days" in form:
        values["workday.days"] = [d for d in DAY_NAMES if d in form.getlist("workday.days")]
    for flag in FLAGS:
        if flag in form:
            values[flag] = "on" in form.getlist(flag)
    for key in ("timezone", "workday.hours", "hold.allow", *CHOICES):
        if key in form:
            values[key] = str(form[key]).strip()
    for key in NUMBERS:
        if key in form:
            text = str(form[key]).strip()
            values[key] = int(text) if text.isdigit() and len(text) < 7 else text
    return values


def _table(
    table: dict[str, Any], values: dict[str, Any], form: FormData, team: cfg.Settings
) -> dict[str, Any]:
    """The stored table with the form's values: each one the team's is dropped, each
    other kept as the rep's own."""
    base = _values(team)
    table = {k: (dict(v) if isinstance(v, dict) else v) for k, v in table.items()}
    blocks = [dict(b) for b in table.get("blocks", [])]

    def holder(key: str) -> tuple[dict[str, Any], str]:
        section, _, field = key.rpartition(".")
        if section.startswith("blocks."):
            kind = section.split(".")[1]
            entry = next((b for b in blocks if b.get("kind") == kind), None)
            if entry is None:
                entry = {"kind": kind}
                blocks.append(entry)
            return entry, field
        return (table.setdefault(section, {}) if section else table), field

    for key, value in values.items():
        place, field = holder(key)
        place.pop(field, None)
        if value == base[key]:
            continue
        if key == "workday.hours":
            value = [h.strip() for h in value.split(",") if h.strip()]
            place.pop("start", None)  # hours replace them
            place.pop("end", None)
        elif key == "hold.allow":
            value = [a.strip() for a in value.splitlines() if a.strip()]
        place[field] = value
    webhook = str(form.get("alerts.webhook_url", "")).strip()
    if form.get("alerts.webhook_clear") == "on":
        table.setdefault("alerts", {})["webhook_url"] = ""
    elif webhook:
        table.setdefault("alerts", {})["webhook_url"] = webhook
    table["blocks"] = [b for b in blocks if set(b) != {"kind"}]
    return {k: v for k, v in table.items() if v not in ({}, [])}


def _field(message: str, table: dict[str, Any]) -> str:
    """The form field a config message is about ("blocks[1].minutes" is a kind's)."""
    found = WHERE.search(message)
    key = found.group(1) if found else ""
    if m := re.fullmatch(r"blocks\[(\d+)\]\.(\w+)", key):
        blocks = table.get("blocks", [])
        index = int(m.group(1))
        kind = blocks[index].get("kind", "") if index < len(blocks) else ""
        return f"blocks.{kind}.{m.group(2)}"
    if key in ("workday.start", "workday.end"):
        return "workday.hours"
    return key or "form"


def _next_week(config: cfg.Config, account: cfg.Account, now: datetime) -> datetime:
    """Monday of next week, at midnight where the account lives."""
    zone = zones.zone(config.for_account(account).timezone or runner.fallback_zone(config))
    return monday(now, zone, weeks=1)
