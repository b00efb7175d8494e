"""`firstblock accounts`: the accounts kept in the state store, added, changed and
removed without editing the config file."""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from providers import registry
from worker import config as cfg
from worker import roster
from worker.accounts import plain
from worker.clock import Clock
from worker.errors import UsageError
from worker.reader import Reader
from worker.settings import CANONICAL_ORDER
from worker.state import State
from worker.text import excerpt

Load = Callable[[argparse.Namespace], cfg.Config]
Clocked = Callable[[argparse.Namespace], Clock]


def register(command: Any, parent: argparse.ArgumentParser, load: Load, clock: Clocked) -> None:
    """Add `accounts` and its subcommands: `command` is the CLI's own helper, `parent`
    the global options, `load` and `clock` how the CLI builds its config and clock."""
    top = command("accounts", lambda a: cmd_list(a, load), "list, add, change, remove accounts")
    sub = top.add_subparsers(dest="action", metavar="ACTION")

    def action(name: str, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(
            name, parents=[parent], help=text, description=text
        )
        return parser

    listing = action("list", "every account, and where it is defined")
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    listing.set_defaults(func=lambda a: cmd_list(a, load))
    add = action("add", "add an account to the state store: NAME KEY=VALUE …")
    add.add_argument("name", metavar="NAME")
    add.add_argument("pairs", nargs="*", metavar="KEY=VALUE", help="provider=local email=…")
    add.set_defaults(func=lambda a: cmd_add(a, load, clock(a)))
    change = action("set", "change a stored account: NAME KEY=VALUE …")
    change.add_argument("name", metavar="NAME")
    change.add_argument("pairs", nargs="+", metavar="KEY=VALUE", help="e.g. hold.allow='[…]'")
    change.set_defaults(func=lambda a: cmd_set(a, load, clock(a)))
    unset = action("unset", "drop keys of a stored account: NAME KEY …")
    unset.add_argument("name", metavar="NAME")
    unset.add_argument("keys", nargs="+", metavar="KEY")
    unset.set_defaults(func=lambda a: cmd_unset(a, load, clock(a)))
    remove = action("remove", "remove a stored account: held mail returns, its grant goes")
    remove.add_argument("name", metavar="NAME")
    blocks = remove.add_mutually_exclusive_group()
    blocks.add_argument(
        "--remove-blocks", action="store_true", help="take its future blocks off the calendar"
    )
    blocks.add_argument(
        "--keep-blocks", action="store_true", help="leave its blocks on the calendar"
    )
    remove.set_defaults(func=lambda a: cmd_remove(a, load, clock(a)))


def cmd_list(args: argparse.Namespace, load: Load) -> int:
    config = load(args)
    rows = [
        {
            "account": a.name,
            "provider": a.provider,
            "email": a.email or None,
            "from": a.origin or ("built-in default" if not config.accounts_given else ""),
        }
        for a in config.accounts
    ]
    if getattr(args, "json", False):
        print(json.dumps({"accounts": rows}, indent=2))
        return 0
    for r in rows:
        print(f"{r['account']:<24} {r['provider']:<8} {r['email'] or '':<32} {r['from']}")
    return 0


def cmd_add(args: argparse.Namespace, load: Load, clock: Clock) -> int:
    config = load(args)
    if any(a.name == args.name for a in config.accounts if config.accounts_given):
        raise UsageError(f"account {args.name!r} exists already (firstblock accounts set …)")
    table: dict[str, Any] = {"provider": "local"}
    for key, value in _pairs(args.pairs):
        _set(table, key, value)
    _save(config, args.name, table, clock)
    print(f"added account {args.name} ({table['provider']}) to the state store")
    return 0


def cmd_set(args: argparse.Namespace, load: Load, clock: Clock) -> int:
    config = load(args)
    table = _stored(config, args.name)
    for key, value in _pairs(args.pairs):
        _set(table, key, value)
    _save(config, args.name, table, clock)
    print(f"changed account {args.name}")
    return 0


def cmd_unset(args: argparse.Namespace, load: Load, clock: Clock) -> int:
    config = load(args)
    table = _stored(config, args.name)
    for key in args.keys:
        if key == "provider":
            raise UsageError("provider cannot be unset: remove the account instead")
        _unset(table, key)
    _save(config, args.name, table, clock)
    print(f"changed account {args.name}")
    return 0


def cmd_remove(args: argparse.Namespace, load: Load, clock: Clock) -> int:
    config = load(args)
    _stored(config, args.name)  # only a stored account; a file's is edited out of the file
    account = next(a for a in config.accounts if a.name == args.name)
    take = args.remove_blocks
    if not (args.remove_blocks or args.keep_blocks):
        if not sys.stdin.isatty():
            raise UsageError("remove: say --remove-blocks or --keep-blocks")
        answer = input(f"Take {args.name}'s future blocks off its calendar? [y/N] ")
        take = answer.strip().lower() in ("y", "yes")
    state = State(config.state_location())
    try:
        done = roster.remove(config, account, clock, state, take_blocks=take)
    finally:
        state.close()
    print(
        f"removed account {args.name}: {done.blocks} future block(s) taken off"
        + (f", {done.kept} left on the calendar" if done.kept else "")
        + f", {done.returned} held message(s) returned to the inbox"
    )
    if done.note:
        print(done.note)
    return 0


def _stored(config: cfg.Config, name: str) -> dict[str, Any]:
    """The stored table of `name`; a file's account is refused with where it is."""
    account = next((a for a in config.accounts if a.name == name), None)
    if account is None:
        raise UsageError(f"no account {excerpt(name, 64)!r}")
    if account.origin != cfg.STORE:
        raise UsageError(
            f"account {name} is defined in {account.origin or 'the built-in default'}; "
            "change it there"
        )
    state = State(config.state_location())
    try:
        table = state.accounts.get(name)
    finally:
        state.close()
    assert table is not None  # it was just loaded from there
    return table


def _save(config: cfg.Config, name: str, table: dict[str, Any], clock: Clock) -> None:
    """Check the account as the config would, then store it. Its provider's paths are
    made absolute: later commands may run in another folder."""
    if why := cfg.name_problem(name):
        raise UsageError(f"account name: {why}")
    try:
        kinds = registry.provider(str(table.get("provider", "local"))).options
    except registry.UnknownProvider:
        kinds = {}  # account_from says what is wrong with it
    for key, option in kinds.items():
        if option.kind == "path" and isinstance(table.get(key), str):
            table[key] = str(Path(table[key]).expanduser().absolute())
    cfg.account_from(
        Reader({**table, "name": name}, f"account {name}"), Path.cwd(), config.defaults, ""
    )
    state = State(config.state_location())
    try:
        state.accounts.put(name, table, clock.now())
    finally:
        state.close()


def _pairs(pairs: list[str]) -> list[tuple[str, Any]]:
    out = []
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{excerpt(pair, 60)!r}: expected KEY=VALUE")
        out.append((key.strip(), _value(text)))
    return out


def _value(text: str) -> Any:
    """A TOML value (08:30, 120, true, ["a", "b"]); anything else as plain text."""
    try:
        return plain(tomllib.loads(f"v = {text}")["v"])
    except tomllib.TOMLDecodeError:
        return text


def _set(table: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    if parts[0] == "blocks":
        if len(parts) != 3:
            raise UsageError(f"{key}: blocks keys are blocks.KIND.KEY, e.g. blocks.deals.minutes")
        entry = _block(table, parts[1], create=True)
        assert entry is not None
        entry[parts[2]] = value
        return
    if len(parts) == 1:
        table[key] = value
    elif len(parts) == 2:
        section = table.setdefault(parts[0], {})
        if not isinstance(section, dict):
            raise UsageError(f"{key}: {parts[0]} is not a table")
        section[parts[1]] = value
    else:
        raise UsageError(f"{key}: expected KEY or SECTION.KEY")


def _unset(table: dict[str, Any], key: str) -> None:
    parts = key.split(".")
    if parts[0] == "blocks" and len(parts) == 3:
        entry = _block(table, parts[1], create=False)
        if entry is not None:
            entry.pop(parts[2], None)
            if set(entry) == {"kind"}:
                table["blocks"].remove(entry)
        if not table.get("blocks"):
            table.pop("blocks", None)
        return
    if len(parts) == 1:
        table.pop(key, None)
    elif len(parts) == 2 and isinstance(table.get(parts[0]), dict):
        table[parts[0]].pop(parts[1], None)
        if not table[parts[0]]:
            table.pop(parts[0])


def _block(table: dict[str, Any], kind: str, *, create: bool) -> dict[str, Any] | None:
    blocks: list[dict[str, Any]] = table.setdefault("blocks", [])
    entry = next((b for b in blocks if b.get("kind") == kind), None)
    if entry is None and create:
        entry = {"kind": kind}
        blocks.append(entry)
        order = [k.value for k in CANONICAL_ORDER]
        blocks.sort(key=lambda b: order.index(b["kind"]) if b["kind"] in order else 99)
    return entry
