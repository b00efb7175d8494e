"""The `firstblock` command: the composition root (config, clock, providers, state)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from time import monotonic
from typing import Any, cast

from providers import registry
from providers.base import AccountSpec, MailProvider
from providers.errors import ProviderError
from worker import (
    __version__,
    cli_accounts,
    cli_report,
    gapcheck,
    logs,
    proposals,
    push,
    roster,
    runner,
    zones,
)
from worker import config as cfg
from worker.clock import Clock, FixedClock, SystemClock
from worker.cycle import (
    AccountRun,
    rules_for,
    run_account,
)
from worker.errors import (
    CalendarDataError,
    ConfigError,
    UsageError,
    WorkerError,
    from_os,
    from_provider,
)
from worker.inbox import run_hold
from worker.render import (
    changes_text,
    declines_text,
    followups_json,
    gaps_json,
    hold_json,
    hold_text,
    outcome_json,
    people_line,
    proposals_json,
    renamed_text,
    timeline,
)
from worker.state import SharedDocuments, State
from worker.text import excerpt, one_line

TEMPLATE = Path(__file__).with_name("config_template.toml")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # The global options are shared with every subcommand, so their defaults go here.
    for name, default in (("config", None), ("now", None), ("debug", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.func is not cmd_serve:
        # One-shot commands report errors themselves; libraries' warnings (a retried
        # rate limit, say) would only be noise on the terminal.
        logs.setup("human", "debug" if args.debug else "error")
    try:
        return int(args.func(args))
    except WorkerError as exc:
        if args.debug:
            raise
        print(f"firstblock: {line(exc)}", file=sys.stderr)
        return exc.EXIT_CODE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `firstblock run | head`: the reader is gone, the work is done. Quiet, and no
        # second error when Python flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file outside any account (init's config, say): one line
        if args.debug:
            raise
        error = from_os(args.command, exc)
        print(f"firstblock: {line(error)}", file=sys.stderr)
        return error.EXIT_CODE


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
    serve = command(
        "serve", cmd_serve, "keep every account right until stopped (Ctrl-C)", json_flag=False
    )
    serve.add_argument(
        "--log-format", choices=("human", "json"), default="human", help="log lines as"
    )
    serve.add_argument(
        "--log-level", choices=("info", "debug"), default="info", help="debug adds titles"
    )
    serve.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="serve /healthz, /readyz and /metrics there ([serve] metrics_listen)",
    )
    command("status", cmd_status, "what the worker owns, what it holds, when it last ran")
    shown = command(
        "settings", cmd_settings, "each account's settings, and where each one comes from"
    )
    shown.add_argument("--account", metavar="NAME", help="only this account")
    command("gaps", cmd_gaps, "list client meetings with no next meeting booked")
    connect = command(
        "connect",
        cmd_connect,
        "connect a Google, Outlook or CalDAV/IMAP account once",
        json_flag=False,
    )
    connect.add_argument("provider", choices=registry.connectable(), help="which provider")
    connect.add_argument("--account", metavar="NAME", required=True, help="the account's name")
    connect.add_argument(
        "--api-root",
        metavar="URL",
        help="the API root (default: the account's, else the provider's)",
    )
    # Each provider adds its own flags; one given to another provider is refused.
    flags = {n: registry.provider(n).connect_flags(connect) for n in registry.connectable()}
    connect.set_defaults(provider_flags=flags)
    cli_accounts.register(command, common, _load, _clock)
    cli_report.register(command, _load, _clock)
    web = command("web", cmd_web, "the app in a browser: the week, gaps, health", json_flag=False)
    web.add_argument("--listen", metavar="HOST:PORT", help="where to listen ([web] listen)")
    release = command("release", cmd_release, "return all held mail to the inbox now")
    release.add_argument("--account", metavar="NAME", help="only this account")
    release.add_argument("--maildir", metavar="DIR", help="release this Maildir, no config needed")
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
    shown = excerpt(args.now, 60)
    try:
        moment = datetime.fromisoformat(args.now)
    except ValueError:
        raise UsageError(f"--now: '{shown}' is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise UsageError(f"--now: '{shown}' needs an offset, e.g. {shown}+00:00")
    return FixedClock(moment)


def _config_path(args: argparse.Namespace) -> Path | None:
    given = args.config or os.environ.get("FIRSTBLOCK_CONFIG")
    if given:
        return Path(given).expanduser()
    default = cfg.default_config_path()
    return default if default.exists() else None


def _load(args: argparse.Namespace) -> cfg.Config:
    """The config file (or the built-in default) and the accounts in the state store."""
    path = _config_path(args)
    return roster.load(cfg.load(path) if path else cfg.default_config(), _warn)


def _warn(warning: str) -> None:
    print(f"firstblock: warning: {line(warning)}", file=sys.stderr)


def _run_accounts(
    args: argparse.Namespace, *, apply: bool
) -> tuple[cfg.Config, Clock, list[runner.AccountResult]]:
    """Run every account; one account's failure never stops the others."""
    config = _load(args)
    clock = _clock(args)
    # plan, status and gaps read the state and write nothing, not even a new file.
    state = _state(config) if apply else State.read_only(config.state_location())
    try:
        results = [
            runner.run_one(config, account, clock, apply=apply, state=state)
            for account in config.accounts
        ]
    finally:
        state.close()
    return config, clock, results


def _state(config: cfg.Config) -> State:
    state = State(config.state_location())
    for warning in state.warnings:
        _warn(warning)
    return state


def line(error: object) -> str:
    """An error or warning as one bounded line: it may quote someone's file."""
    return excerpt(str(error), 1000)


def _errors(results: list[runner.AccountResult]) -> list[str]:
    # Once each: a full disk under the state fails every step of a cycle alike.
    return list(dict.fromkeys(line(e) for r in results for e in r.errors))


def _skipped(results: list[runner.AccountResult]) -> list[dict[str, str]]:
    """Accounts another firstblock was working on: nothing was done for them."""
    return [{"account": r.account.name, "why": "; ".join(r.notes)} for r in results if r.busy]


def _finish(results: list[runner.AccountResult]) -> int:
    for error in _errors(results):
        print(f"firstblock: {error}", file=sys.stderr)
    errors = [e for r in results for e in r.errors]
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
    text = text.replace("@MAILDIR@", str(cfg.default_data_dir() / "Mail"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}\nedit it, then: firstblock plan --config {path}")
    return 0


def cmd_connect(args: argparse.Namespace) -> int:
    if why := cfg.name_problem(args.account):
        raise UsageError(f"--account: {excerpt(why, 200)}")
    own = args.provider_flags.get(args.provider, [])
    for other, flags in args.provider_flags.items():
        # A flag two providers share (CalDAV's and IMAP's --login) is either one's.
        stray = [f for f in flags if other != args.provider and f not in own and getattr(args, f)]
        if stray:
            flag = "--" + stray[0].replace("_", "-")
            raise ConfigError(f"connect {args.provider}: {flag} is a {other} option")
    config = _load(args)
    account = next((a for a in config.accounts if a.name == args.account), None)
    if account is not None and account.provider != args.provider:
        raise ConfigError(
            f"account {args.account} is a {account.provider} account in the config, "
            f"not {args.provider}"
        )
    try:
        provider = registry.provider(args.provider)
    except registry.UnknownProvider as exc:
        raise ConfigError(f"connect {args.provider}: {exc}") from None
    options = dict(account.options) if account else {}
    api_root = args.api_root or str(options.get("api_root", ""))
    if api_root and not api_root.endswith("/"):
        api_root += "/"
    # A team's state_url: the grant goes into the shared state, for every worker.
    state = _state(config) if config.state_url else None
    shared = SharedDocuments(state) if state is not None else None
    spec = AccountSpec(
        args.account, state_dir=config.state_dir, api_root=api_root, shared=shared, options=options
    )
    try:
        address = provider.connect(spec, args)
    except ProviderError as exc:
        raise from_provider(args.account, exc) from None
    except ModuleNotFoundError as exc:
        lacking = registry.missing(args.provider, exc)
        raise ConfigError(f"connect {args.provider}: {lacking}") from None
    finally:
        if state is not None:
            state.close()
    print(f"connected {address} as account {args.account}")
    if account is None:
        # A new account goes into the state store, to work from the next run on.
        # A flag named like one of the provider's account keys (--api-root) keeps its
        # value with the account.
        given = {"api_root": api_root} | {k: getattr(args, k, None) for k in provider.options}
        table = {"provider": args.provider, "email": address}
        table |= {k: v for k, v in given.items() if v and k in provider.options}
        state = _state(config)
        try:
            state.accounts.put(args.account, table, _clock(args).now())
        finally:
            state.close()
        print(
            f"added account {args.account} to the state store; `firstblock accounts` lists"
            " it, `firstblock accounts set` changes its settings"
        )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import signal

    from worker.serve import Server

    logs.setup(args.log_format, args.log_level)
    path = _config_path(args)
    config = _load(args)  # a broken config stops here, with its own exit code
    stamp = [(_mtime(path), roster.stamp(config))]

    def load() -> cfg.Config:
        loaded = roster.load(cfg.load(path) if path else cfg.default_config())
        stamp[0] = (_mtime(path), roster.stamp(loaded))
        return loaded

    server = Server(
        load,
        _clock(args),
        interval=timedelta(minutes=config.serve.interval_minutes),
        workers=config.serve.workers,
    )

    looked = [monotonic()]

    def changed() -> None:  # the loop looks at least once a minute
        # Every finished cycle turns the loop; opening the state to look cost a
        # twentieth of a steady cycle's CPU. At most once a second is soon enough.
        if monotonic() - looked[0] < 1.0:
            return
        looked[0] = monotonic()
        try:
            now = (_mtime(path), roster.stamp(config))
        except WorkerError:
            return  # the state is out of reach this minute: the cycles will say so
        if now != stamp[0]:
            server.reload.set()

    signal.signal(signal.SIGTERM, lambda *_: server.request_stop())
    signal.signal(signal.SIGINT, lambda *_: server.request_stop())
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: server.request_reload())
    server.on_tick = changed
    listen = args.metrics_listen or config.serve.metrics_listen
    if not listen:
        return server.run()
    from worker import operations

    what = "--metrics-listen" if args.metrics_listen else "serve.metrics_listen"
    listener = operations.start(listen, lambda: server.config, what)
    try:
        return server.run()
    finally:
        listener.close()


def cmd_web(args: argparse.Namespace) -> int:
    from worker.web import serve

    config = _load(args)  # a broken config stops here, with its own exit code
    listen = args.listen or config.web.listen
    path = _config_path(args)

    kept: list[tuple[object, cfg.Config]] = []

    def load() -> cfg.Config:
        # Every request asks: read again only when the file or the store's accounts
        # changed (5 ms for 100 accounts, against half a millisecond for the check).
        # The key is taken first, so a change during the read is seen next time.
        base = kept[-1][1] if kept else config
        key = (_file_identity(path), roster.stamp(base))
        if kept and kept[-1][0] == key:
            return kept[-1][1]
        loaded = roster.load(cfg.load(path) if path else cfg.default_config())
        kept[:] = [(key, loaded)]
        return loaded

    return serve.run(listen, load, _clock(args))


def _file_identity(path: Path | None) -> tuple[int, ...]:
    try:
        st = path.stat() if path else None
    except OSError:
        return ()
    return (st.st_ino, st.st_size, st.st_mtime_ns) if st else ()


def _mtime(path: Path | None) -> float:
    try:
        return path.stat().st_mtime if path else 0.0
    except OSError:
        return 0.0


def cmd_plan(args: argparse.Namespace) -> int:
    return _plan_or_run(args, apply=False)


def cmd_run(args: argparse.Namespace) -> int:
    return _plan_or_run(args, apply=True)


def _plan_or_run(args: argparse.Namespace, *, apply: bool) -> int:
    config, _, results = _run_accounts(args, apply=apply)
    if args.json:
        _emit(
            {
                "accounts": [_result_json(r) for r in results if r.outcome],
                "skipped": _skipped(results),
                "errors": _errors(results),
            }
        )
    else:
        for r in results:
            _print_result(config, r, apply=apply)
    return _finish(results)


def _result_json(r: runner.AccountResult) -> dict[str, Any]:
    assert r.outcome is not None
    out = outcome_json(r.outcome)
    out["hold"] = hold_json(r.hold, zones.zone(r.outcome.timezone))
    out["followups"] = followups_json(r.gaps)
    return out


def _print_result(config: cfg.Config, r: runner.AccountResult, *, apply: bool) -> None:
    o = r.outcome
    if r.busy:
        print(f"== {r.account.name}: skipped, {'; '.join(r.notes)}\n")
        return
    if o is None:
        if r.hold and r.hold.returned:
            print(
                f"== {r.account.name}: calendar unavailable; {r.hold.returned} held message(s)"
                " returned to the inbox\n"
            )
        return
    zone = zones.zone(o.timezone)
    config = r.config or config
    rules = rules_for(config, r.account, zone)
    source = registry.provider(r.account.provider).where(r.account.options) or r.account.email
    where = f" ({source})" if source else ""
    print(f"== {o.account}{where}, times in {o.timezone}")
    print("\n".join(timeline(o, rules, unbooked=gapcheck.unbooked(config, o, rules))))
    verb = "applied" if apply else "would make"
    if o.changes:
        print(f"changes {verb}: {len(o.changes)}")
        print("\n".join(changes_text(o.changes, zone)))
    else:
        print("no changes: the calendar already matches the plan")
    for said in declines_text(o, apply=apply):
        print(said)
    if r.hold is not None:
        print(hold_text(r.hold, zone, apply=apply))
    if r.gaps is not None:
        g = r.gaps
        print(
            f"follow-ups: {len(g.open)} open gap(s), {len(g.alerted)} alerted now,"
            f" {len(g.closed)} closed"
            + (", digest sent" if g.digest_sent else "")
            + ("  (firstblock gaps lists them)" if g.open else "")
        )
    for problem in (*o.problems, *(r.gaps.problems if r.gaps else ())):
        print(f"warning: {line(problem)}")
    print()


def cmd_gaps(args: argparse.Namespace) -> int:
    config, clock, results = _run_accounts(args, apply=False)
    now = clock.now()
    rows: list[dict[str, Any]] = []
    upcoming: list[dict[str, Any]] = []
    lines: dict[str, str] = {}  # meeting id -> its slots, as the timeline says them
    for r in results:
        if r.gaps is None or r.outcome is None:
            continue
        zone = zones.zone(r.outcome.timezone)
        rules = rules_for(r.config or config, r.account, zone)
        ids = [g.key.rpartition("|")[0] for g in r.gaps.open]
        proposed = gapcheck.proposed_for(rules, r.outcome, ids, now)
        rows += gaps_json(r.account.name, r.gaps.open, zone, now, proposed)
        upcoming += proposals_json(r.account.name, r.outcome.plan.proposals, zone)
        for p in (*proposed, *r.outcome.plan.proposals):
            lines[f"{r.account.name}/{p.meeting_id}"] = proposals.line(p, zone)
    if args.json:
        _emit(
            {
                "gaps": rows,
                "upcoming": upcoming,
                "skipped": _skipped(results),
                "errors": _errors(results),
            }
        )
        return _finish(results)
    if not rows:
        print("no open follow-up gaps: every past client meeting has a next one booked")
    else:
        print(f"{'account':<10} {'meeting':<34} {'ended':<17} {'ago':>6}  {'alerted':<5}  clients")
        for g in rows:
            ended = g["meeting"]["end"][:16].replace("T", " ")
            ago = (
                f"{g['ended_ago_minutes'] // 1440}d"
                if g["ended_ago_minutes"] >= 1440
                else (f"{g['ended_ago_minutes'] // 60}h")
            )
            print(
                f"{g['account'][:10]:<10} {one_line(g['meeting']['title'], 34):<34} {ended:<17}"
                f" {ago:>6}  {'yes' if g['alerted_at'] else 'no':<5}  {', '.join(g['client_keys'])}"
            )
            if said := lines.get(f"{g['account']}/{g['meeting']['id']}"):
                print(f"{'':<10} {said}")
    if upcoming:
        print("\ncoming up with no next meeting booked:")
        for u in upcoming:
            start = u["meeting"]["start"][:16].replace("T", " ")
            title = one_line(u["meeting"]["title"], 34)
            print(f"{u['account'][:10]:<10} {title:<34} {start:<17}  {', '.join(u['client_keys'])}")
            print(f"{'':<10} {lines[u['account'] + '/' + u['meeting']['id']]}")
    return _finish(results)


def cmd_release(args: argparse.Namespace) -> int:
    """Return all held mail now. Needs only the accounts' mailboxes: it works with a
    broken calendar, and with a config whose other sections do not validate."""
    errors: list[WorkerError] = []
    if args.maildir:
        from providers.local.maildir import LocalMailbox

        maildir = _release_maildir(args.maildir)
        boxes: list[tuple[str, MailProvider]] = [
            (str(maildir), LocalMailbox(maildir, name=str(maildir)))
        ]
    else:
        config = _config_for_release(args)
        accounts = config.accounts
        if args.account:
            accounts = tuple(a for a in accounts if a.name == args.account)
        boxes = []
        for a in accounts:
            try:
                _, _, box = runner.open_account(config.for_account(a), a, _clock(args))
            except ProviderError as exc:
                errors.append(from_provider(a.name, exc))
                continue
            if box is not None:
                boxes.append((a.name, box))
        if args.account and not boxes and not errors:
            raise ConfigError(f"no account {args.account!r} with a mailbox in the config")
    results: list[dict[str, Any]] = []
    for name, box in boxes:
        try:
            if box.supports_hold_rule:
                box.set_hold_rule(None)
            returned = box.release_all()
        except ProviderError as exc:
            errors.append(from_provider(name, exc))
            continue
        renamed = box.take_renamed()
        results.append(
            {"account": name, "returned": returned} | ({"renamed": len(renamed)} if renamed else {})
        )
        for old, new in renamed:
            print(
                f"firstblock: warning: {name}: {renamed_text(old, new, 'in the inbox')}",
                file=sys.stderr,
            )
    if args.json:
        _emit({"accounts": results, "errors": [line(e) for e in errors]})
    else:
        for r in results:
            print(f"{r['account']}: {r['returned']} held message(s) returned to the inbox")
    for err in errors:
        print(f"firstblock: {line(err)}", file=sys.stderr)
    return errors[0].EXIT_CODE if errors else 0


def _release_maildir(value: str) -> Path:
    """`--maildir DIR`, only when DIR is a Maildir already: release must not make one
    at a mistyped path and report "0 returned" there."""
    from providers.local.maildir import not_a_maildir

    path = Path(value).expanduser()
    try:
        why = not_a_maildir(path)
    except OSError as exc:
        raise CalendarDataError(f"release --maildir {path}: {exc.strerror}") from None
    if why:
        raise UsageError(f"release --maildir {path}: not a Maildir ({why})")
    return path


def _config_for_release(args: argparse.Namespace) -> cfg.Config:
    try:
        return _load(args)
    except ConfigError as exc:
        path = _config_path(args)
        if path is None:
            raise
        config = cfg.accounts_only(path)  # the escape hatch ignores the other sections
        print(f"firstblock: warning: {exc}", file=sys.stderr)
        return config


def cmd_settings(args: argparse.Namespace) -> int:
    """Reads the config only: no calendar, no state."""
    from worker.settings import flat, spelled_keys

    config = _load(args)
    accounts = [a for a in config.accounts if not args.account or a.name == args.account]
    if args.account and not accounts:
        raise UsageError(f"--account: no account {excerpt(args.account, 64)!r}")
    team = f"{config.source} (team default)" if config.source else "team default"
    rows: list[dict[str, Any]] = []
    for a in accounts:
        mine = a.settings or config.defaults
        own = a.settings.own if a.settings else frozenset()
        entries: list[dict[str, Any]] = []
        for key, value in flat(mine).items():
            keys = spelled_keys(key)
            if any(k in own for k in keys):
                source = a.origin
            elif any(k in config.own for k in keys):
                source = team
            else:
                source = "built-in default"
            entries.append({"key": key, "value": value, "from": source})
        rows.append({"account": a.name, "provider": a.provider, "settings": entries})
    if args.json:
        _emit({"accounts": rows})
        return 0
    for row in rows:
        print(f"{row['account']} [{row['provider']}]")
        for e in row["settings"]:
            print(f"  {e['key']:<36} {_shown_value(e['key'], e['value']):<32} {e['from']}")
        print()
    return 0


def _shown_value(key: str, value: Any) -> str:
    if key == "timezone" and not value:
        return "(the calendar's, else this machine's)"
    if isinstance(value, list):
        return " ".join(map(str, value)) or "(none)"
    return one_line(str(value), 60)


def cmd_status(args: argparse.Namespace) -> int:
    config, clock, results = _run_accounts(args, apply=False)
    state = State.read_only(config.state_location())
    rows: list[dict[str, Any]] = []
    try:
        for r in results:
            last = state.runs.last(r.account.name)
            last_ok = state.runs.last(r.account.name, ok=True)
            o = r.outcome
            zone = zones.zone(o.timezone if o else runner.fallback_zone(r.config or config))
            rows.append(
                {
                    "account": r.account.name,
                    "provider": r.account.provider,
                    "calendar": _option(r.account, "calendar"),
                    "maildir": _option(r.account, "maildir"),
                    "health": "error" if r.errors else "ok",
                    "error": "; ".join(_errors([r])) or (line(last.error) if last else ""),
                    "email": r.account.email or None,
                    "notes": r.notes,
                    "blocks_owned": len(o.owned) if o else None,
                    "pending_changes": len(o.changes) if o else None,
                    "hold": hold_json(r.hold, zone) if r.hold else None,
                    "last_run": last.finished.isoformat() if last else None,
                    "last_success": last_ok.finished.isoformat() if last_ok else None,
                    "last_changes": (
                        {"created": last.created, "updated": last.updated, "deleted": last.deleted}
                        if last
                        else None
                    ),
                    "next": _next_action(config, r, clock),
                    "push": push.health(config, state.channels.of(r.account.name), clock.now()),
                }
            )
    finally:
        state.close()
    if args.json:
        _emit({"accounts": rows})
    else:
        for row in rows:
            _print_status(row)
    return _finish(results)


def _next_action(
    config: cfg.Config, r: runner.AccountResult, clock: Clock
) -> dict[str, str] | None:
    """What `serve` does next for this account, and when."""
    from worker.serve import next_action

    o = r.outcome
    if o is None:
        return None
    interval = timedelta(minutes=config.for_account(r.account).serve.interval_minutes)
    due = next_action(config, r, clock.now(), interval)
    return {"at": due.at.astimezone(zones.zone(o.timezone)).isoformat(), "why": due.why}


def _option(account: cfg.Account, key: str) -> str | None:
    value = account.options.get(key)
    return str(value) if value else None


def _print_status(r: dict[str, Any]) -> None:
    where = r["calendar"] or r["email"] or ""
    print(f"{r['account']} [{r['provider']}] {where}")
    print(f"  health: {r['health']}" + (f" - {r['error']}" if r["error"] else ""))
    for note in r["notes"]:
        print(f"  {note}")
    if r["blocks_owned"] is not None:
        pending = r["pending_changes"]
        print(
            f"  blocks owned in the horizon: {r['blocks_owned']}"
            + (f", {pending} change(s) pending" if pending else "")
        )
    if r["hold"]:
        h = r["hold"]
        when = f", release at {h['release_at']}" if h["release_at"] and h["held"] else ""
        print(f"  inbox hold: {h['state']}, {h['held']} message(s) held{when}")
    last = r["last_changes"]
    print(
        f"  last run: {r['last_run'] or 'never'}"
        + (
            f" ({last['created']} created, {last['updated']} updated, {last['deleted']} deleted)"
            if last
            else ""
        )
    )
    print(f"  last success: {r['last_success'] or 'never'}")
    p = r["push"]
    if p["state"] != "off":
        words = {"none": "not watched", "waiting": "waiting for the first notification"}
        print(
            f"  push: {words.get(p['state'], p['state'])}"
            + (f" - {p['error']}" if p["error"] else "")
        )
    if r["next"]:
        print(f"  next: {r['next']['why']} at {r['next']['at'][:16].replace('T', ' ')}")


DEMO_MARKER = ".firstblock-demo"


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        return _demo(args)
    except BrokenPipeError:
        raise  # `demo | head`: main() handles it
    except OSError as exc:
        # A file in the sandbox it cannot read or write: named, on one line.
        where = exc.filename or args.dir or "the demo sandbox"
        raise CalendarDataError(f"{where}: cannot use the demo sandbox: {exc.strerror}") from None


def _demo_sandbox(value: str | None) -> Path:
    """The demo's folder: a new temporary one, or DIR when it is new, empty, or a
    sandbox the demo made before (the marker says so); never a folder of the user's."""
    if not value:
        folder = Path(tempfile.mkdtemp(prefix="firstblock-demo-"))
    else:
        folder = Path(value).expanduser()
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"demo --dir {folder}: not a directory")
        if folder.is_dir() and not (folder / DEMO_MARKER).is_file() and any(folder.iterdir()):
            raise UsageError(
                f"demo --dir {folder}: not empty and not a demo sandbox; give a new or empty folder"
            )
        folder.mkdir(parents=True, exist_ok=True)
    (folder / DEMO_MARKER).write_text(
        "made by `firstblock demo`; the whole folder can go\n", encoding="utf-8"
    )
    return folder


def _demo(args: argparse.Namespace) -> int:
    from worker import demo
    from worker.cycle import resolve_zone
    from worker.timeutil import at

    base = cfg.default_config() if not _config_path(args) else _load(args)
    clock = _clock(args)
    folder = _demo_sandbox(args.dir)
    calendar, maildir = folder / "demo.ics", folder / "Mail"
    account = cfg.Account("demo", "local", demo.ME, {"calendar": calendar, "maildir": maildir})
    config = dataclasses.replace(
        base,
        accounts=(account,),
        state_dir=folder / "state",
        state_url="",  # the demo's sandbox, never a team's database
        followups=cfg.Followups(("example.com",), ()),
        hold=cfg.Hold(True, ("boss@example.com",), 2),
    )
    try:
        _, provider, box = runner.open_account(config, account, clock)
        zone = resolve_zone(config, provider)
    except ProviderError as exc:
        raise from_provider(account.name, exc) from exc
    monday = demo.demo_monday(clock.now(), zone, given=bool(args.now))
    # A fresh sandbox each time: an old state file would read the new calendar's
    # missing blocks as deletions by the user.
    for name in ("state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm"):
        (config.state_dir / name).unlink(missing_ok=True)
    calendar.write_text(demo.demo_calendar(monday, zone), encoding="utf-8", newline="")
    demo.demo_mail(maildir, monday, zone)
    config = dataclasses.replace(config, timezone=zone.key)
    now = clock.now() if args.now else at(monday, time(7, 0), zone)
    rules = rules_for(config, account, zone)
    state = _state(config)
    try:
        run = AccountRun(config, account, state, now, rules)
        outcome = run_account(run, provider, apply=True)
        # Show the hold as it is once the workday has begun.
        today = now.astimezone(zone).date()
        held_at = max(now, at(today, config.workday.bounds(today.weekday())[0], zone))
        mailbox = cast(MailProvider, box)
        held = run_hold(dataclasses.replace(run, now=held_at), mailbox, outcome, apply=True)
        kept = [m.sender for m in mailbox.list_inbox(None)]
    except ProviderError as exc:
        raise from_provider(account.name, exc) from exc
    finally:
        state.close()
    if args.json:
        out = outcome_json(outcome)
        out["hold"] = hold_json(held, zone)
        _emit({"sandbox": str(folder), "accounts": [out]})
        return 0
    print(
        f"firstblock demo: the week of {monday:%a %d %b %Y}, planned as at {now:%a %H:%M} "
        f"({zone.key})"
    )
    print(people_line(rules.people))
    print(f"sandbox: {calendar} and the Maildir {maildir}\n")
    print("\n".join(timeline(outcome, rules)))
    print(f"{len(outcome.changes)} blocks written to the sandbox calendar.")
    print(f"at {held_at.astimezone(zone):%a %H:%M}: " + hold_text(held, zone, apply=True))
    if kept:
        print(f"  still in the inbox (allowed): {', '.join(sorted(kept))}")
    print("Next: `firstblock run` does the same for your own calendar and Maildir.")
    return 0
