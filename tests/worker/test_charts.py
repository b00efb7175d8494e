"""The report's charts: real PNGs of the promised size that show the figures, with alt
text; matplotlib is loaded only by what draws."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from tests.test_cli import config as cli_config
from tests.test_cli import run
from worker import charts, report, report_html
from worker.records import Day, GapRecord, History

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 11, 30)
KEPT = (0x1E, 0x7B, 0x45)  # charts.COLOURS["kept"]


def week(kept: int) -> report.WeekReport:
    days = [Day(MONDAY + timedelta(days=i), 90, kept, 4, 6) for i in range(5)]
    end = datetime(2026, 11, 30, 15, tzinfo=NY)
    gaps = [GapRecord("m|a", "a.com", end, end, end + timedelta(days=2))]
    history = History(tuple(days), ((MONDAY, "deals", 2),), tuple(gaps), MONDAY)
    now = datetime(2026, 12, 7, 9, tzinfo=NY)
    return report.build("rep <Smith>", history, MONDAY, NY, now)


def image(png: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(png))
    picture.load()  # decodes it all: a truncated file fails here
    return picture.convert("RGB")


def colours(picture: Image.Image) -> dict[tuple[int, int, int], int]:
    return {c: n for n, c in picture.getcolors(maxcolors=1 << 24) or ()}


def share_of(picture: Image.Image, colour: tuple[int, int, int]) -> float:
    return colours(picture).get(colour, 0) / (picture.width * picture.height)


def test_five_charts_decode_at_their_size_and_show_the_figures() -> None:
    drawn = charts.charts(week(kept=60))
    assert [c.name for c in drawn] == ["prospecting", "trend", "losses", "gaps", "mail"]
    for c in drawn:
        picture = image(c.png)
        assert picture.size == (charts.WIDTH, charts.HEIGHT), c.name
        assert len(colours(picture)) > 20, f"{c.name} looks blank"
    prospecting = image(drawn[0].png)
    assert share_of(prospecting, KEPT) > 0.01  # the kept bars are there
    nothing_kept = image(charts.charts(week(kept=0))[0].png)
    assert share_of(nothing_kept, KEPT) < share_of(prospecting, KEPT) / 10
    assert "Mon 30: 90 planned, 60 kept" in drawn[0].alt
    assert "deals 2" in drawn[2].alt
    assert "1 gaps closed, a median of 2 days" in drawn[3].alt


def test_the_sheet_holds_every_chart_under_one_heading() -> None:
    picture = image(charts.sheet(week(kept=60)))
    assert picture.size == (charts.WIDTH, charts.HEIGHT * 5 + 60)


def test_html_escapes_names_and_carries_alt_text() -> None:
    r = week(kept=60)
    drawn = charts.charts(r)
    html = report_html.page(
        [report_html.section(r, [(report_html.data_url(c), c) for c in drawn])], "t"
    )
    assert "rep &lt;Smith&gt;" in html and "<Smith>" not in html
    assert html.count('<img src="data:image/png;base64,') == 5
    assert 'alt="Prospecting minutes per day. Mon 30: 90 planned, 60 kept' in html
    assert "Prospecting: 67% of the planned minutes kept (300 of 450 minutes" in html


def test_report_writes_a_png_and_an_html_page(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = cli_config(home)
    for moment in ("2026-11-30T07:00:00-05:00", "2026-12-01T07:00:00-05:00"):
        assert run(capsys, "run", "--config", str(config), "--now", moment)[0] == 0
    args = ("report", "--config", str(config), "--now", "2026-12-01T08:00:00-05:00")
    out = tmp_path / "sheet.png"
    code, printed, err = run(capsys, *args, "--format", "png", "--out", str(out))
    assert (code, err, printed) == (0, "", f"wrote {out}\n")
    assert image(out.read_bytes()).size == (charts.WIDTH, charts.HEIGHT * 5 + 60)
    code, printed, _ = run(capsys, *args, "--format", "html")
    assert code == 0 and printed.startswith("<!doctype html>") and "work: week 2026-W49" in printed


def test_commands_that_draw_nothing_never_load_matplotlib(home: Path) -> None:
    config = cli_config(home)
    probe = (
        "import sys\nfrom worker import cli\n"
        f"for argv in (['run', '--config', {str(config)!r}], ['report', '--config', "
        f"{str(config)!r}], ['status', '--config', {str(config)!r}]):\n"
        "    assert cli.main(argv) == 0, argv\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib was loaded'\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
