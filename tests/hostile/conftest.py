"""Shared set-up for the hostile-input suite: a home with no config of its own, and
the CLI driven in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker import cli

NOW = "2026-11-30T07:00:00-05:00"  # a Monday morning in New York


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FIRSTBLOCK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIRSTBLOCK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("FIRSTBLOCK_CONFIG", raising=False)
    return tmp_path


def write_config(home: Path, accounts: str = "", extra: str = "") -> Path:
    """A config with the given [[accounts]] text, or one local account "work"."""
    path = home / "firstblock.toml"
    accounts = accounts or (
        f'[[accounts]]\nname = "work"\ncalendar = "{home / "cal.ics"}"\n'
        'email = "me@example.com"\n'
    )
    path.write_text(
        'timezone = "America/New_York"\n'
        '[followups]\ninternal_domains = ["example.com"]\n' + extra + accounts
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
