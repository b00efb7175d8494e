"""The embedded default: a local .ics calendar (and, for mail, a Maildir)."""

from __future__ import annotations

from providers.local.calendar import LocalCalendar

__all__ = ["LocalCalendar"]
