"""The report's charts as PNG images, drawn with matplotlib's Agg backend (no display,
no GUI toolkit, safe in a worker thread: only Figure objects, never pyplot's global
state). matplotlib is imported here only, and only when something is drawn, so `run`,
`serve` and the commands that draw nothing never pay for it (a third of a second and
tens of megabytes).

Each chart comes with alt text that says what it shows, for screen readers and for
mail clients that do not load images. PNG, not SVG: Gmail and Outlook show no SVG.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from worker.report import WeekReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH, HEIGHT, DPI = 640, 280, 100  # pixels: fits a mail client's column
COLOURS = {
    "planned": "#b7dfc4",
    "kept": "#1e7b45",
    "prospecting": "#1e7b45",
    "deals": "#2b62b8",
    "prep": "#d9822b",
    "admin": "#7a7f87",
    "": "#b9bec6",
    "opened": "#c4473a",
    "closed": "#1e7b45",
    "held": "#d9822b",
    "released": "#2b62b8",
}
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# matplotlib is not thread-safe (its fonts are cached objects shared by every figure):
# serve's worker threads and the web app's draw one at a time. A week's email is a
# second of drawing, once a week per account.
_DRAWING = threading.Lock()


@dataclass(frozen=True)
class Chart:
    name: str  # safe in a file name and a Content-ID
    title: str
    alt: str
    png: bytes


def charts(r: WeekReport, only: str = "") -> list[Chart]:
    """One PNG per chart (or only the one named), for the email and the web page."""
    out = []
    for name, title, draw, alt in PANELS:
        if only and name != only:
            continue
        with _DRAWING:
            figure = _figure(WIDTH, HEIGHT)
            ax = figure.subplots()
            draw(ax, r)
            _title(ax, title)
            figure.tight_layout()
            png = _png(figure)
        out.append(Chart(name, title, alt(r), png))
    return out


def sheet(r: WeekReport) -> bytes:
    """Every chart in one PNG, under a heading: `firstblock report --format png`."""
    with _DRAWING:
        return _sheet(r)


def _sheet(r: WeekReport) -> bytes:
    figure = _figure(WIDTH, HEIGHT * len(PANELS) + 60)
    sunday = r.monday + timedelta(days=6)
    figure.suptitle(f"{r.account}: week {r.week} ({r.monday:%d %b} to {sunday:%d %b})", fontsize=13)
    for ax, (_, title, draw, _alt) in zip(figure.subplots(len(PANELS), 1), PANELS, strict=True):
        draw(ax, r)
        _title(ax, title)
    figure.tight_layout()
    return _png(figure)


def _figure(width: int, height: int) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width / DPI, height / DPI), dpi=DPI)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No "Software" stamp: the same figures give the same bytes on every release.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _title(ax: Axes, title: str) -> None:
    ax.set_title(title, fontsize=11, loc="left")
    ax.spines[["top", "right"]].set_visible(False)


def _whole(axis: object) -> None:
    """Counts have whole-number ticks."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))  # type: ignore[attr-defined]


def _day_labels(r: WeekReport) -> list[str]:
    return [f"{DAYS[d.day.weekday()]} {d.day.day}" for d in r.days]


Series = tuple[str, list[int]]  # a COLOURS key, and a value for each day


def _by_day(ax: Axes, r: WeekReport, left: Series, right: Series) -> None:
    """Two bars a day, side by side, each series named and coloured by its key."""
    xs = range(len(r.days))
    for shift, (name, values) in ((-0.2, left), (0.2, right)):
        label = "most held at once" if name == "held" else name
        ax.bar([x + shift for x in xs], values, 0.4, label=label, color=COLOURS[name])
    ax.set_xticks(list(xs), _day_labels(r))
    ax.legend(frameon=False, fontsize=8, loc="upper right")


def _prospecting(ax: Axes, r: WeekReport) -> None:
    xs = range(len(r.days))
    planned = [d.planned or 0 for d in r.days]
    kept = [d.kept or 0 for d in r.days]
    _by_day(ax, r, ("planned", planned), ("kept", kept))
    top = max([*planned, *kept, 30])
    for x, d in zip(xs, r.days, strict=True):
        if d.planned is None and d.kept is None:
            ax.text(x, top * 0.04, "no record", ha="center", fontsize=7, color="#7a7f87")
        elif d.day >= r.today and d.planned is not None:
            said = "today" if d.day == r.today else ""
            ax.text(x + 0.2, top * 0.04, said, ha="center", fontsize=7, color="#7a7f87")
    ax.set_ylabel("minutes")
    ax.set_ylim(0, top * 1.15)


def _prospecting_alt(r: WeekReport) -> str:
    parts = []
    for label, d in zip(_day_labels(r), r.days, strict=True):
        if d.planned is None and d.kept is None:
            continue
        kept = "not over yet" if d.day >= r.today else f"{d.kept or 0} kept"
        parts.append(f"{label}: {d.planned or 0} planned, {kept}")
    return "Prospecting minutes per day. " + ("; ".join(parts) or "No day recorded") + "."


def _trend(ax: Axes, r: WeekReport) -> None:
    labels = [w[-3:] for w, _ in r.trend]
    shares = [s for _, s in r.trend]
    ax.bar(range(len(shares)), [100 * (s or 0) for s in shares], 0.6, color=COLOURS["kept"])
    for x, s in enumerate(shares):
        text = "-" if s is None else f"{s:.0%}"
        ax.text(x, (100 * (s or 0)) + 3, text, ha="center", fontsize=8)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylim(0, 115)
    ax.set_ylabel("% kept")


def _trend_alt(r: WeekReport) -> str:
    said = ", ".join(f"{w}: {'unknown' if s is None else f'{s:.0%}'}" for w, s in r.trend)
    return f"Share of planned prospecting kept, by week. {said}."


def _losses(ax: Axes, r: WeekReport) -> None:
    kinds = [k for k, _ in r.lost]
    counts = [n for _, n in r.lost]
    names = [k or "earlier" for k in kinds]
    ax.barh(range(len(kinds)), counts, 0.6, color=[COLOURS.get(k, "#b9bec6") for k in kinds])
    for y, n in enumerate(counts):
        ax.text(n + 0.05, y, str(n), va="center", fontsize=8)
    ax.set_yticks(range(len(kinds)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, max([*counts, 1]) * 1.2)
    ax.set_xlabel("blocks")
    _whole(ax.xaxis)


def _losses_alt(r: WeekReport) -> str:
    return (
        "Blocks lost to meetings, by kind: "
        + ", ".join(f"{k or 'before kinds were recorded'} {n}" for k, n in r.lost)
        + "."
    )


def _gaps(ax: Axes, r: WeekReport) -> None:
    counts = [r.gaps_opened, r.gaps_closed]
    ax.bar([0, 1], counts, 0.5, color=[COLOURS["opened"], COLOURS["closed"]])
    for x, n in enumerate(counts):
        ax.text(x, n + 0.05, str(n), ha="center", fontsize=9)
    ax.set_xticks([0, 1], ["opened", "closed"])
    ax.set_ylim(0, max([*counts, 1]) * 1.3)
    if r.median_days is not None:
        said = f"median {r.median_days:g} days\nto the next meeting"
        ax.text(1.45, max([*counts, 1]) * 1.1, said, fontsize=8, va="top")
    ax.set_xlim(-0.6, 2.6)
    _whole(ax.yaxis)


def _gaps_alt(r: WeekReport) -> str:
    median = (
        "" if r.median_days is None else f", a median of {r.median_days:g} days to the next one"
    )
    return (
        f"Follow-up gaps: {r.gaps_opened} client meetings ended with no next meeting booked; "
        f"{r.gaps_closed} gaps closed{median}."
    )


def _mail(ax: Axes, r: WeekReport) -> None:
    held = [d.held or 0 for d in r.days]
    released = [d.released or 0 for d in r.days]
    _by_day(ax, r, ("held", held), ("released", released))
    ax.set_ylim(0, max([*held, *released, 1]) * 1.3)
    ax.set_ylabel("messages")
    _whole(ax.yaxis)
    if not any(d.held is not None or d.released is not None for d in r.days):
        ax.text(3, 0.6, "nothing held this week", ha="center", fontsize=9, color="#7a7f87")


def _mail_alt(r: WeekReport) -> str:
    days = [
        f"{label}: {d.released or 0} released, at most {d.held or 0} held"
        for label, d in zip(_day_labels(r), r.days, strict=True)
        if d.held is not None or d.released is not None
    ]
    return "Mail held until the admin block. " + ("; ".join(days) or "Nothing held") + "."


Draw = Callable[["Axes", WeekReport], None]
PANELS: tuple[tuple[str, str, Draw, Callable[[WeekReport], str]], ...] = (
    ("prospecting", "Prospecting: minutes planned and kept", _prospecting, _prospecting_alt),
    ("trend", "Prospecting kept, last 8 weeks", _trend, _trend_alt),
    ("losses", "Blocks lost to meetings", _losses, _losses_alt),
    ("gaps", "Follow-up gaps", _gaps, _gaps_alt),
    ("mail", "Mail held and released", _mail, _mail_alt),
)


def team(rows: list[tuple[str, float | None]], week: str) -> bytes:
    """The admins' roll-up: each sharing rep's kept share of prospecting for the week."""
    with _DRAWING:
        return _team(rows, week)


def _team(rows: list[tuple[str, float | None]], week: str) -> bytes:
    figure = _figure(WIDTH, max(HEIGHT, 60 + 28 * len(rows)))
    ax = figure.subplots()
    names = [name for name, _ in rows]
    shares = [100 * (s or 0) for _, s in rows]
    ax.barh(range(len(rows)), shares, 0.6, color=COLOURS["kept"])
    for y, (_, s) in enumerate(rows):
        ax.text(100 * (s or 0) + 1, y, "-" if s is None else f"{s:.0%}", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 112)
    ax.set_xlabel("% of planned prospecting kept")
    _title(ax, f"Prospecting kept, {week}")
    figure.tight_layout()
    return _png(figure)
