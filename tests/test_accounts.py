"""Accounts in the state store, beside the config file's: added, changed and removed
from the command line, checked as the file's are, and run like them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import NOW, deliver, run, stamp


def team(home: Path, accounts: str = "") -> str:
    path = home / "firstblock.toml"
    path.write_text(
        'timezone = "America/New_York"\n[hold]\nallow = ["boss@example.com"]\n' + accounts
    )
    return str(path)


def names(capsys: pytest.CaptureFixture[str], cfg: str) -> list[tuple[str, str]]:
    code, out, _ = run(capsys, "accounts", "list", "--json", "--config", cfg)
    assert code == 0
    return [(a["account"], a["from"]) for a in json.loads(out)["accounts"]]


def test_add_set_unset_and_run_a_stored_account(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = team(home)
    monkeypatch.chdir(home)
    argv = ("accounts", "add", "ana", "calendar=ana.ics", "email=Ana@Example.com", "--config", cfg)
    assert run(capsys, *argv)[0] == 0
    assert names(capsys, cfg) == [("ana", "state store")]  # the built-in default is gone
    changes = ("timezone=Europe/Berlin", 'workday.hours=["08:00-12:00", "13:00-17:00"]')
    assert (
        run(
            capsys,
            "accounts",
            "set",
            "ana",
            *changes,
            "blocks.prospecting.minutes=120",
            "--config",
            cfg,
        )[0]
        == 0
    )
    code, out, _ = run(capsys, "settings", "--json", "--config", cfg)
    got = {e["key"]: (e["value"], e["from"]) for e in json.loads(out)["accounts"][0]["settings"]}
    assert got["timezone"] == ("Europe/Berlin", "state store")
    assert got["blocks.prospecting.minutes"] == (120, "state store")
    assert got["hold.allow"] == (["boss@example.com"], f"{cfg} (team default)")
    code, out, err = run(capsys, "run", "--json", "--config", cfg, "--now", NOW)
    assert (code, err) == (0, "")
    [ana] = json.loads(out)["accounts"]
    assert ana["timezone"] == "Europe/Berlin" and ana["changes"]
    assert (home / "ana.ics").exists()  # the relative path was made absolute when set
    assert run(capsys, "accounts", "unset", "ana", "timezone", "--config", cfg)[0] == 0
    code, out, _ = run(capsys, "plan", "--json", "--config", cfg, "--now", NOW)
    assert json.loads(out)["accounts"][0]["timezone"] == "America/New_York"


@pytest.mark.parametrize(
    ("pairs", "words"),
    [
        (["hold.allow=nobody"], "account ana: hold.allow: expected a list of strings"),
        (["timezone=Mars/Olympus"], "account ana: timezone: unknown time zone"),
        (["provider=carrier-pigeon"], "account ana: provider: unknown provider"),
        (['workday.hours=["17:00-09:00"]'], "account ana: workday.hours"),
        (["colour=blue"], "account ana: colour: unknown key"),
        (["blocks.golf.minutes=30"], "account ana: blocks[0].kind: unknown kind"),
        (["hold"], "expected KEY=VALUE"),
    ],
)
def test_a_stored_account_is_checked_before_it_is_kept(
    home: Path, capsys: pytest.CaptureFixture[str], pairs: list[str], words: str
) -> None:
    cfg = team(home)
    code, _, err = run(capsys, "accounts", "add", "ana", *pairs, "--config", cfg)
    assert code in (2, 3)
    assert words in err and err.count("\n") == 1
    assert names(capsys, cfg) == [("local", "built-in default")]  # nothing was kept


def test_a_name_in_both_the_file_and_the_store_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = team(home, f'[[accounts]]\nname = "ana"\ncalendar = "{home / "a.ics"}"\n')
    code, _, err = run(capsys, "accounts", "add", "ana", "--config", cfg)
    assert code == 2 and "exists already" in err
    # The store is shared: another config (or machine) may have added an "ana" to it.
    (home / "other").mkdir()
    other = team(home / "other")
    assert run(capsys, "accounts", "add", "ana", "--config", other)[0] == 0
    code, _, err = run(capsys, "plan", "--config", cfg, "--now", NOW)
    assert code == 3
    assert "account ana (state store)" in err and "remove one" in err


def test_a_file_account_is_changed_in_the_file_not_here(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = team(home, f'[[accounts]]\nname = "ana"\ncalendar = "{home / "a.ics"}"\n')
    for argv in (("set", "ana", "timezone=UTC"), ("remove", "ana", "--keep-blocks")):
        code, _, err = run(capsys, "accounts", *argv, "--config", cfg)
        assert code == 2 and f"defined in {cfg} accounts[0]" in err


def test_remove_returns_held_mail_and_takes_only_future_untouched_blocks(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = team(home)
    cal, mail = home / "ana.ics", home / "Mail"
    assert (
        run(
            capsys, "accounts", "add", "ana", f"calendar={cal}", f"maildir={mail}", "--config", cfg
        )[0]
        == 0
    )
    held = deliver(mail, f"{stamp('2026-11-30T08:00:00-05:00')}.a.host", "news@letters.com")
    code, out, _ = run(
        capsys, "run", "--json", "--config", cfg, "--now", "2026-11-30T09:00:00-05:00"
    )
    assert json.loads(out)["accounts"][0]["hold"]["held"] == 1 and not held.exists()
    before = cal.read_bytes().decode()
    moved = before.replace("SUMMARY:Advance deals", "SUMMARY:My own deals time", 1)
    cal.write_text(moved, newline="")  # the user edits one block: it is theirs now
    code, out, _ = run(capsys, "accounts", "remove", "ana", "--config", cfg)  # not a terminal
    assert code == 2
    code, out, err = run(
        capsys,
        "accounts",
        "remove",
        "ana",
        "--remove-blocks",
        "--config",
        cfg,
        "--now",
        "2026-11-30T09:30:00-05:00",
    )
    assert (code, err) == (0, "")
    assert "1 held message(s) returned" in out and "1 left on the calendar" in out
    assert held.exists()  # back in the inbox, under its own name
    left = cal.read_bytes().decode()
    assert "My own deals time" in left  # the user's block stays
    assert left.count("X-FIRSTBLOCK-KEY") == 2  # with the block that had started at 08:30
    assert names(capsys, cfg) == [("local", "built-in default")]
    code, out, _ = run(capsys, "status", "--json", "--config", cfg, "--now", NOW)
    assert [a["account"] for a in json.loads(out)["accounts"]] == ["local"]


def test_remove_can_keep_the_blocks(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = team(home)
    cal = home / "ana.ics"
    assert run(capsys, "accounts", "add", "ana", f"calendar={cal}", "--config", cfg)[0] == 0
    assert run(capsys, "run", "--config", cfg, "--now", NOW)[0] == 0
    before = cal.read_bytes()
    code, out, _ = run(
        capsys, "accounts", "remove", "ana", "--keep-blocks", "--config", cfg, "--now", NOW
    )
    assert code == 0 and "0 future block(s) taken off" in out
    assert cal.read_bytes() == before
