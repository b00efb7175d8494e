"""The `firstblock` command: the composition root (config, clock, providers, state)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from providers import registry
from providers.base import CalendarProvider
from providers.errors import ProviderError
from worker import __version__
from worker import config as cfg
from worker.clock import Clock, FixedClock, SystemClock
from worker.cycle import Outcome, log, rules_for, run_account
from worker.errors import ConfigError, WorkerError, from_provider
from worker.render import changes_text, outcome_json, people_line, shortfall_json, timeline
from worker.state import State

TEMPLATE = Path(__file__).with_name("config_template.toml")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # The global options are shared with every subcommand, so their defaults go here.
    for name, default in (("config", None), ("now", None), ("debug", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        return int(args.func(args))
    except WorkerError as exc:
        if args.debug:
            raise
        print(f"firstblock: {exc}", file=sys.stderr)
        return exc.EXIT_CODE
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS keeps a subcommand's copy from overwriting a value given before it.
    common.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="config file (default: $FIRSTBLOCK_CONFIG, else the user config dir)",
    )
    common.add_argument(
        "--now",
        metavar="ISO8601",
        default=argparse.SUPPRESS,
        help="act as if it were this moment, e.g. 2026-11-30T07:00-05:00",
    )
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    p = argparse.ArgumentParser(
        prog="firstblock",
        parents=[common],
        description="Prospecting first, deals, prep, admin last.",
    )
    p.add_argument("--version", action="version", version=f"firstblock {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, func: Callable[[argparse.Namespace], int], text: str, json_flag: bool = True
    ) -> argparse.ArgumentParser:
        c = sub.add_parser(name, parents=[common], help=text, description=text)
        c.set_defaults(func=func)
        if json_flag:
            c.add_argument("--json", action="store_true", help="print JSON for scripts")
        return c

    init = command("init", cmd_init, "write a commented config file", json_flag=False)
    init.add_argument("--force", action="store_true", help="replace an existing file")
    plan = command("plan", cmd_plan, "show the plan and the changes it would make")
    plan.add_argument(
        "--dry-run", action="store_true", help="accepted for clarity: plan never writes anything"
    )
    command("run", cmd_run, "apply the plan: write the blocks into the calendar")
    command("status", cmd_status, "what the worker owns and when it last ran")
    demo = command("demo", cmd_demo, "plan a realistic sandbox week and show it")
    demo.add_argument(
        "--dir",
        metavar="DIR",
        help="where to put the sandbox calendar (default: a new temporary directory)",
    )
    return p


# -- composition


def _clock(args: argparse.Namespace) -> Clock:
    if not args.now:
        return SystemClock()
    try:
        moment = datetime.fromisoformat(args.now)
    except ValueError:
        raise ConfigError(f"--now: {args.now!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ConfigError(f"--now: {args.now!r} needs an offset, e.g. {args.now}+00:00")
    return FixedClock(moment)


def _config_path(args: argparse.Namespace) -> Path | None:
    given = args.config or os.environ.get("FIRSTBLOCK_CONFIG")
    if given:
        return Path(given).expanduser()
    default = cfg.default_config_path()
    return default if default.exists() else None


def _load(args: argparse.Namespace) -> cfg.Config:
    path = _config_path(args)
    return cfg.load(path) if path else cfg.default_config()


def _calendar(account: cfg.Account, clock: Clock) -> CalendarProvider:
    try:
        cls = registry.calendar_class(account.provider)
    except registry.UnknownProvider as exc:
        raise ConfigError(f"account {account.name}: {exc}") from None
    if account.provider == "local":
        assert account.calendar is not None  # config fills the default
        provider: CalendarProvider = cls(account.calendar, name=account.name, clock=clock)
    else:
        provider = cls(name=account.name)
    return provider


def _each_account(
    config: cfg.Config, clock: Clock, *, apply: bool, state: State | None
) -> tuple[list[Outcome], list[WorkerError]]:
    """Run every account; one account's failure never stops the others."""
    outcomes: list[Outcome] = []
    errors: list[WorkerError] = []
    for account in config.accounts:
        started = clock.now()
        try:
            provider = _calendar(account, clock)
            outcome = run_account(config, account, provider, state, started, apply=apply)
        except ProviderError as exc:
            err = from_provider(account.name, exc)
            errors.append(err)
            if state and apply:
                log(state, account.name, started, clock.now(), error=str(err))
            continue
        except WorkerError as exc:
            errors.append(exc)
            continue
        outcomes.append(outcome)
        if state and apply:
            log(state, account.name, started, clock.now(), outcome.changes)
    return outcomes, errors


def _state(config: cfg.Config) -> State:
    return State(config.state_dir / "state.sqlite3")


def _finish(errors: list[WorkerError]) -> int:
    for err in errors:
        print(f"firstblock: {err}", file=sys.stderr)
    return errors[0].EXIT_CODE if errors else 0


def _emit(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


# -- commands


def cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.config or os.environ.get("FIRSTBLOCK_CONFIG") or cfg.default_config_path())
    path = path.expanduser()
    if path.exists() and not args.force:
        raise ConfigError(f"{path}: already exists (use --force to replace it)")
    text = TEMPLATE.read_text(encoding="utf-8")
    text = text.replace("@CALENDAR@", str(cfg.default_data_dir() / "calendar.ics"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}\nedit it, then: firstblock plan --config {path}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    return _plan_or_run(args, apply=False)


def cmd_run(args: argparse.Namespace) -> int:
    return _plan_or_run(args, apply=True)


def _plan_or_run(args: argparse.Namespace, *, apply: bool) -> int:
    config = _load(args)
    clock = _clock(args)
    state = _state(config)
    try:
        outcomes, errors = _each_account(config, clock, apply=apply, state=state)
    finally:
        state.close()
    if args.json:
        _emit({"accounts": [outcome_json(o) for o in outcomes], "errors": [str(e) for e in errors]})
    else:
        for o in outcomes:
            _print_outcome(config, o, apply=apply)
    return _finish(errors)


def _print_outcome(config: cfg.Config, o: Outcome, *, apply: bool) -> None:
    zone = ZoneInfo(o.timezone)
    account = next(a for a in config.accounts if a.name == o.account)
    rules = rules_for(config, account, zone)
    where = f" ({account.calendar})" if account.calendar else ""
    print(f"== {o.account}{where}, times in {o.timezone}")
    print("\n".join(timeline(o, rules)))
    verb = "applied" if apply else "would make"
    if o.changes:
        print(f"changes {verb}: {len(o.changes)}")
        print("\n".join(changes_text(o.changes, zone)))
    else:
        print("no changes: the calendar already matches the plan")
    for problem in o.problems:
        print(f"warning: {problem}")
    print()


def cmd_status(args: argparse.Namespace) -> int:
    config = _load(args)
    clock = _clock(args)
    state = _state(config)
    rows: list[dict[str, Any]] = []
    try:
        outcomes, errors = _each_account(config, clock, apply=False, state=state)
        by_name = {o.account: o for o in outcomes}
        for account in config.accounts:
            last = state.last_run(account.name)
            last_ok = state.last_run(account.name, ok=True)
            o = by_name.get(account.name)
            err = next((str(e) for e in errors if f"account {account.name}:" in str(e)), "")
            rows.append(
                {
                    "account": account.name,
                    "provider": account.provider,
                    "calendar": str(account.calendar) if account.calendar else None,
                    "health": "ok" if o else "error",
                    "error": err or (last.error if last and not last.ok else ""),
                    "blocks_owned": len(o.owned) if o else None,
                    "pending_changes": len(o.changes) if o else None,
                    "last_run": last.finished.isoformat() if last else None,
                    "last_success": last_ok.finished.isoformat() if last_ok else None,
                    "last_changes": (
                        {"created": last.created, "updated": last.updated, "deleted": last.deleted}
                        if last
                        else None
                    ),
                }
            )
    finally:
        state.close()
    if args.json:
        _emit({"accounts": rows})
    else:
        for r in rows:
            print(f"{r['account']} [{r['provider']}] {r['calendar'] or ''}")
            print(f"  health: {r['health']}" + (f" - {r['error']}" if r["error"] else ""))
            print(
                f"  blocks owned in the horizon: {r['blocks_owned']}"
                + (f", {r['pending_changes']} change(s) pending" if r["pending_changes"] else "")
            )
            print(
                f"  last run: {r['last_run'] or 'never'}"
                + (
                    f" ({r['last_changes']['created']} created, {r['last_changes']['updated']}"
                    f" updated, {r['last_changes']['deleted']} deleted)"
                    if r["last_changes"]
                    else ""
                )
            )
            print(f"  last success: {r['last_success'] or 'never'}")
    return _finish(errors)


def cmd_demo(args: argparse.Namespace) -> int:
    from worker import demo
    from worker.cycle import resolve_zone
    from worker.timeutil import at

    base = cfg.default_config() if not _config_path(args) else _load(args)
    clock = _clock(args)
    folder = (
        Path(args.dir).expanduser()
        if args.dir
        else Path(tempfile.mkdtemp(prefix="firstblock-demo-"))
    )
    folder.mkdir(parents=True, exist_ok=True)
    calendar = folder / "demo.ics"
    account = cfg.Account("demo", "local", demo.ME, calendar)
    config = dataclasses.replace(
        base,
        accounts=(account,),
        state_dir=folder / "state",
        followups=cfg.Followups(("example.com",), ()),
    )
    provider = _calendar(account, clock)
    zone = resolve_zone(config, provider)
    monday = demo.demo_monday(clock.now(), zone, given=bool(args.now))
    calendar.write_text(demo.demo_calendar(monday, zone), encoding="utf-8", newline="")
    config = dataclasses.replace(config, timezone=zone.key)
    now = clock.now() if args.now else at(monday, time(7, 0), zone)
    state = _state(config)
    try:
        outcome = run_account(config, account, provider, state, now, apply=True)
    except ProviderError as exc:
        raise from_provider(account.name, exc) from exc
    finally:
        state.close()
    if args.json:
        _emit({"sandbox": str(calendar), "accounts": [outcome_json(outcome)]})
        return 0
    rules = rules_for(config, account, zone)
    print(
        f"firstblock demo: the week of {monday:%a %d %b %Y}, planned as at {now:%a %H:%M} "
        f"({zone.key})"
    )
    print(people_line(rules.people))
    print(f"sandbox calendar: {calendar}\n")
    print("\n".join(timeline(outcome, rules)))
    print(f"{len(outcome.changes)} blocks written to the sandbox calendar.")
    if outcome.plan.shortfalls:
        print("shortfalls:", json.dumps([shortfall_json(s) for s in outcome.plan.shortfalls]))
    print("Next: `firstblock run` does the same for your own calendar.")
    return 0
