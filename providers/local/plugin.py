"""The embedded default as the registry knows it: an account is an .ics file and,
optionally, a Maildir."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from providers.base import AccountSpec, CalendarProvider, MailProvider, Option, Provider
from worker.clock import Clock


class LocalProvider(Provider):
    name = "local"
    options: ClassVar[Mapping[str, Option]] = {
        "calendar": Option("path", "the .ics file; default NAME.ics in the data directory"),
        "maildir": Option("path", "the Maildir the hold works on; none: no hold"),
    }

    def defaults(self, account: str, options: dict[str, Any], data_dir: Path) -> dict[str, Any]:
        return {"calendar": data_dir / f"{account}.ics", **options}

    def where(self, options: Mapping[str, Any]) -> str:
        return str(options.get("calendar", ""))

    def open(self, spec: AccountSpec, clock: Clock) -> tuple[CalendarProvider, MailProvider | None]:
        from providers.local.calendar import LocalCalendar
        from providers.local.maildir import LocalMailbox

        calendar = LocalCalendar(Path(spec.options["calendar"]), name=spec.name, clock=clock)
        maildir = spec.options.get("maildir")
        mailbox = LocalMailbox(Path(maildir), name=spec.name) if maildir else None
        return calendar, mailbox
