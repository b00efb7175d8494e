"""What the worker tells its user: gap alerts and the daily digest. Pure text.

Event titles come from other people's invitations, so they are untrusted: control
characters never reach a mail header, and HTML parts are escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from worker.models import Alert
from worker.text import one_line


def client_name(client: str) -> str:
    """ "acme.com" -> "Acme"; an address stays an address."""
    if "@" in client:
        return client
    labels = [x for x in client.split(".") if x not in ("www", "mail", "email")]
    return labels[0].capitalize() if labels else client


@dataclass(frozen=True)
class OpenGap:
    """A gap as the state remembers it, for alerts, the digest and `gaps`."""

    account: str
    key: str
    title: str
    start: datetime
    end: datetime
    client: str
    alerted_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True)
class WeekFigures:
    prospecting_planned: int = 0  # minutes, this week so far
    prospecting_kept: int = 0
    blocks_lost: int = 0  # blocks moved or removed because meetings took their time


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%a %d %b %H:%M}"


def gap_alert(
    gaps: Sequence[OpenGap], zone: ZoneInfo, now: datetime, proposed: str = "", draft: str = ""
) -> Alert:
    """One alert for one meeting, naming every client with no next meeting booked;
    with the slots `proposed` for it (checked just now) and where its `draft` is."""
    first = gaps[0]
    clients = sorted({g.client for g in gaps})
    who = ", ".join(client_name(c) for c in clients)
    title = one_line(first.title, 80)
    extra = [x for x in (proposed and f"{proposed}.", draft) if x]
    text = (
        f'Your meeting "{title}" with {", ".join(clients)} ended {_when(first.end, zone)}, '
        f"and no next meeting with {who} is on your calendar.\n\n"
        + "".join(f"Book the next meeting with {client_name(c)}.\n" for c in clients)
        + "".join(f"{x}\n" for x in extra)
        + "\n-- firstblock: never leave a client meeting without the next one booked."
    )
    page = (
        f"<p>Your meeting <b>{html.escape(title)}</b> with "
        f"{html.escape(', '.join(clients))} ended {html.escape(_when(first.end, zone))}, and "
        f"no next meeting with {html.escape(who)} is on your calendar.</p>"
        + "".join(
            f"<p><b>Book the next meeting with {html.escape(client_name(c))}.</b></p>"
            for c in clients
        )
        + "".join(f"<p>{html.escape(x)}</p>" for x in extra)
    )
    keys = ",".join(sorted(g.key for g in gaps))
    return Alert(
        key=f"gap:{first.account}:{keys}",
        subject=one_line(f"Book the next meeting with {who} ({title})"),
        text=text,
        created=now,
        html=page,
    )


def digest(
    account: str,
    day: date,
    open_gaps: Sequence[OpenGap],
    closed: Sequence[OpenGap],
    figures: WeekFigures,
    zone: ZoneInfo,
    now: datetime,
    proposed: dict[str, str] | None = None,
) -> Alert:
    """The admin-block digest: open gaps oldest first (with the slots `proposed` for
    each meeting, by meeting id), gaps closed, the week's figures."""
    proposed = proposed or {}
    lines = [f"firstblock digest for {day:%a %d %b %Y}", ""]
    rows = []
    if open_gaps:
        lines.append(f"Open follow-up gaps ({len(open_gaps)}), oldest first:")
        for g in sorted(open_gaps, key=lambda g: (g.end, g.key)):
            days = (now - g.end).days
            line = f"{one_line(g.title, 80)} with {g.client}, {days} day(s) ago"
            lines.append(f"  - {line}: book the next meeting with {client_name(g.client)}")
            slots = proposed.get(g.key.rpartition("|")[0], "")
            if slots:
                lines.append(f"    {slots}")
            rows.append(html.escape(line) + (f"<br>{html.escape(slots)}" if slots else ""))
    else:
        lines.append("No open follow-up gaps: every client meeting has a next one booked.")
    closed_rows = [f"{one_line(g.title, 80)} with {g.client}" for g in closed]
    if closed_rows:
        lines += ["", "Closed since the last digest:", *(f"  - {r}" for r in closed_rows)]
    kept = figures.prospecting_kept
    planned = figures.prospecting_planned
    lines += [
        "",
        "This week so far:",
        f"  prospecting: {kept} of {planned} planned minutes kept",
        f"  blocks lost to meetings: {figures.blocks_lost}",
    ]
    page = "".join(
        [
            f"<h2>firstblock digest for {day:%a %d %b %Y}</h2>",
            "<h3>Open follow-up gaps</h3><ul>" + "".join(f"<li>{r}</li>" for r in rows) + "</ul>"
            if rows
            else "<p>No open follow-up gaps.</p>",
            "<h3>Closed since the last digest</h3><ul>"
            + "".join(f"<li>{html.escape(r)}</li>" for r in closed_rows)
            + "</ul>"
            if closed_rows
            else "",
            f"<h3>This week so far</h3><p>Prospecting: {kept} of {planned} planned minutes "
            f"kept.<br>Blocks lost to meetings: {figures.blocks_lost}.</p>",
        ]
    )
    return Alert(
        key=f"digest:{account}:{day.isoformat()}",
        subject=f"firstblock digest: {len(open_gaps)} open follow-up gap(s)",
        text="\n".join(lines) + "\n",
        created=now,
        html=page,
    )
