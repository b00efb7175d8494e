"""`firstblock report`: the week's discipline figures of each account, from the state
alone (no provider is asked), as text, JSON, an HTML page or a PNG sheet of charts."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worker import config as cfg
from worker import report, reporting
from worker.clock import Clock
from worker.errors import UsageError
from worker.state import State

Load = Callable[[argparse.Namespace], cfg.Config]
Clocked = Callable[[argparse.Namespace], Clock]


def register(command: Any, load: Load, clock: Clocked) -> None:
    text = "the week's figures: prospecting kept, blocks lost, follow-ups, mail"
    r = command("report", lambda a: cmd_report(a, load(a), clock(a)), text, json_flag=False)
    r.add_argument("--week", metavar="YYYY-Www", help="an ISO week, e.g. 2026-W49 (default: this)")
    r.add_argument("--account", metavar="NAME", help="only this account")
    r.add_argument(
        "--format", choices=("text", "json", "html", "png"), default="text", help="print as"
    )
    r.add_argument(
        "--out",
        metavar="PATH",
        help="write here instead of printing; for png, a file per account goes into a folder"
        " (default: firstblock-report-ACCOUNT-WEEK.png here)",
    )


def cmd_report(args: argparse.Namespace, config: cfg.Config, clock: Clock) -> int:
    accounts = [a for a in config.accounts if args.account in (None, a.name)]
    if args.account and not accounts:
        raise UsageError(f"--account: no account named {args.account!r}")
    now = clock.now()
    state = State.read_only(config.state_location())
    try:
        reports = [reporting.week_report(state, config, a, args.week, now) for a in accounts]
    except ValueError as exc:
        raise UsageError(f"--week: {exc}") from None
    finally:
        state.close()
    if args.format == "png":
        return _pngs(reports, Path(args.out) if args.out else None)
    if args.format == "json":
        output = json.dumps({"reports": [report.as_json(r) for r in reports]}, indent=2) + "\n"
    elif args.format == "html":
        from worker import charts, report_html  # matplotlib: only when drawing

        sections = [
            report_html.section(r, [(report_html.data_url(c), c) for c in charts.charts(r)])
            for r in reports
        ]
        weeks = sorted({r.week for r in reports})
        output = report_html.page(sections, "firstblock report " + ", ".join(weeks))
    else:
        output = "\n".join(report.text(r) for r in reports)
    if args.out:
        Path(args.out).write_text(output, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(output, end="")
    return 0


def _pngs(reports: list[report.WeekReport], out: Path | None) -> int:
    from worker import charts  # matplotlib: only when drawing

    folder = out if out is not None and (out.is_dir() or len(reports) > 1) else None
    for r in reports:
        name = f"firstblock-report-{r.account}-{r.week}.png"
        path = (folder / name) if folder else (out or Path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(charts.sheet(r))
        print(f"wrote {path}")
    return 0
