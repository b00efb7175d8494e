"""The report as HTML: one page for `firstblock report --format html` (images inline as
data: URLs) and the weekly email's HTML part (images by cid:). Inline styles only:
mail clients drop style sheets. Every text from a calendar is escaped."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import timedelta
from html import escape

from worker.charts import HEIGHT, WIDTH, Chart
from worker.report import WeekReport, summary

Images = Sequence[tuple[str, Chart]]  # (src, chart)


def data_url(chart: Chart) -> str:
    return "data:image/png;base64," + base64.b64encode(chart.png).decode()


def section(r: WeekReport, images: Images) -> str:
    sunday = r.monday + timedelta(days=6)
    head = f"{r.account}: week {r.week} ({r.monday:%a %d %b} to {sunday:%a %d %b})"
    parts = [
        f'<h2 style="font:600 18px sans-serif;margin:24px 0 8px">{escape(head)}</h2>',
        *(f'<p style="font:14px sans-serif;margin:4px 0">{escape(s)}</p>' for s in summary(r)),
    ]
    for src, chart in images:
        parts.append(
            f'<p style="margin:16px 0 0"><img src="{escape(src)}" width="{WIDTH}" '
            f'height="{HEIGHT}" alt="{escape(chart.alt)}" style="max-width:100%;height:auto">'
            "</p>"
        )
    return "\n".join(parts)


def page(sections: Sequence[str], title: str) -> str:
    body = "\n".join(sections)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head>\n"
        f'<body style="margin:0 auto;padding:8px 16px;max-width:{WIDTH + 32}px">\n'
        f"{body}\n</body></html>\n"
    )
