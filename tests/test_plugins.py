"""A provider is a plugin: a package of its own and one registry entry. This one is
defined here, in the tests, and goes through the config, `connect`, `run` and
`accounts` like the built-in ones, with nothing in worker/ knowing its name."""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from providers import registry
from providers.base import AccountSpec, CalendarProvider, MailProvider, Option, Provider
from providers.errors import AuthError
from providers.memory import MemoryCalendar, MemoryMailbox
from tests.test_cli import NOW, run
from worker.clock import Clock

CALENDARS: dict[str, MemoryCalendar] = {}
GRANTS: dict[str, str] = {}


class CarrierPigeon(Provider):
    """Blocks and mail by pigeon: connected with a token, one key of its own."""

    name = "pigeon"
    connectable = True
    options: ClassVar[Mapping[str, Option]] = {"loft": Option("text", "where the pigeons live")}

    def open(self, spec: AccountSpec, clock: Clock) -> tuple[CalendarProvider, MailProvider | None]:
        if spec.name not in GRANTS:
            raise AuthError("no pigeon grant", where=spec.name)
        assert spec.options["loft"] == "roof"
        calendar = CALENDARS.setdefault(spec.name, MemoryCalendar(name=spec.name))
        return calendar, MemoryMailbox(name=spec.name)

    def connect_flags(self, parser: argparse.ArgumentParser) -> list[str]:
        parser.add_argument("--pigeon-token", metavar="T", help="Pigeon: the token")
        return ["pigeon_token"]

    def connect(self, spec: AccountSpec, args: argparse.Namespace) -> str:
        GRANTS[spec.name] = args.pigeon_token
        return f"{spec.name}@pigeon.example"

    def forget(self, spec: AccountSpec) -> None:
        GRANTS.pop(spec.name, None)


@pytest.fixture
def pigeons(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The one registry entry."""
    monkeypatch.setitem(registry.PROVIDERS, "pigeon", f"{__name__}:CarrierPigeon")
    registry.provider.cache_clear()
    CALENDARS.clear()
    GRANTS.clear()
    yield
    registry.provider.cache_clear()


def test_a_provider_from_outside_is_configured_connected_run_and_removed(
    home: Path, capsys: pytest.CaptureFixture[str], pigeons: None
) -> None:
    cfg = home / "firstblock.toml"
    cfg.write_text('timezone = "America/New_York"\n')
    argv = ("connect", "pigeon", "--account", "coo", "--pigeon-token", "t0k3n")
    code, out, err = run(capsys, *argv, "--config", str(cfg))
    assert (code, err) == (0, "") and "added account coo to the state store" in out
    assert GRANTS == {"coo": "t0k3n"}
    assert run(capsys, "accounts", "set", "coo", "loft=roof", "--config", str(cfg))[0] == 0
    code, out, err = run(capsys, "run", "--json", "--config", str(cfg), "--now", NOW)
    assert (code, err) == (0, "")
    [account] = json.loads(out)["accounts"]
    assert account["account"] == "coo" and account["changes"]
    assert len(CALENDARS["coo"].blocks) == len(account["changes"])
    argv = ("accounts", "remove", "coo", "--keep-blocks", "--config", str(cfg), "--now", NOW)
    assert run(capsys, *argv)[0] == 0
    assert GRANTS == {}  # its grant went with it


def test_a_plugins_keys_are_checked_and_others_refused(
    home: Path, capsys: pytest.CaptureFixture[str], pigeons: None
) -> None:
    cfg = home / "firstblock.toml"
    cfg.write_text('[[accounts]]\nname = "coo"\nprovider = "pigeon"\ncalendar = "x.ics"\n')
    code, _, err = run(capsys, "plan", "--config", str(cfg), "--now", NOW)
    assert code == 3 and "accounts[0].calendar: unknown key (known here:" in err
    assert "loft" in err
    argv = ("connect", "pigeon", "--account", "coo", "--client-secrets", "x.json")
    code, _, err = run(capsys, *argv, "--config", str(home / "none.toml"))
    assert code == 3 and "--client-secrets is a google option" in err


def test_the_worker_never_tests_a_providers_name() -> None:
    """runner.py and cli.py ask the provider; they hold no `if provider == …`."""
    root = Path(__file__).resolve().parents[1] / "worker"
    for module in ("runner.py", "cli.py", "roster.py", "cycle.py"):
        tree = ast.parse((root / module).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                names = [n for n in ast.walk(node) if isinstance(n, ast.Constant)]
                said = {str(n.value) for n in names} & set(registry.PROVIDERS)
                assert not said, f"worker/{module}:{node.lineno} compares with {said}"


# The extras each provider needs, which a plain `pip install .` leaves out.
EXTRAS = ("googleapiclient", "msal", "requests", "urllib3", "imapclient", "dns")
BLOCKER = """
import sys, importlib.abc
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Missing())
from worker import cli
for argv in (["connect", "--help"], ["status", "--help"]):
    try:
        cli.main(argv)
    except SystemExit as done:
        assert done.code in (0, None), (argv, done.code)
from providers import registry
for name in registry.names():
    plugin = registry.provider(name)  # the plugin module itself: nothing heavy
# Using one says which extra to install, in one line, and runs the other accounts.
code = cli.main(["connect", "caldav", "--account", "x", "--url", "http://127.0.0.1:9/",
                 "--login", "u", "--password-file", sys.argv[1]])
assert code != 0, code
code = cli.main(["run", "--config", sys.argv[2], "--now", "2026-11-30T07:00:00-05:00"])
assert code != 0, code
print("ok", len(registry.names()))
"""


def test_every_plugin_loads_without_its_providers_extra(tmp_path: Path) -> None:
    """The CLI parses with no extra installed: each plugin module imports nothing
    heavy, so `pip install .` alone runs the local default (README, Quick start). An
    account whose extra is missing says which to install, and spares the others."""
    secret = tmp_path / "password"
    secret.write_text("not-real\n")
    config = tmp_path / "firstblock.toml"
    config.write_text(
        '[[accounts]]\nname = "work"\nprovider = "outlook"\n'
        f'[[accounts]]\nname = "laptop"\ncalendar = "{tmp_path / "cal.ics"}"\n'
    )
    env = {
        **os.environ,
        "FIRSTBLOCK_DATA_DIR": str(tmp_path / "data"),
        "FIRSTBLOCK_STATE_DIR": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER.format(blocked=set(EXTRAS)), str(secret), str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith(f"ok {len(registry.names())}")
    assert "Traceback" not in done.stderr
    assert "pip install 'firstblock[caldav]'" in done.stderr
    assert "account work: provider 'outlook' needs " in done.stderr
    assert (tmp_path / "cal.ics").exists()  # the other account ran
