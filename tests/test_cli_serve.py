"""`firstblock serve` as a real process: JSON log lines, SIGHUP, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_serve_runs_logs_json_and_stops_on_sigterm(tmp_path: Path) -> None:
    conf = tmp_path / "firstblock.toml"
    conf.write_text(
        'timezone = "America/New_York"\n'
        f'state_dir = "{tmp_path / "state"}"\n'
        f'[[accounts]]\nname = "work"\ncalendar = "{tmp_path / "cal.ics"}"\n'
        f'maildir = "{tmp_path / "Mail"}"\n'
    )
    env = {**os.environ, "FIRSTBLOCK_CONFIG": str(conf)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "serve", "--log-format", "json", "--log-level", "debug"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[dict[str, object]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline() if proc.stderr else ""
            if line:
                lines.append(json.loads(line))  # every line is JSON
            if any(entry.get("account") == "work" and "next_at" in entry for entry in lines):
                break
        assert (tmp_path / "cal.ics").exists()
        proc.send_signal(signal.SIGHUP)  # re-read the config: still serving
        time.sleep(0.5)
        assert proc.poll() is None
        begun = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - begun < 30
    finally:
        if proc.poll() is None:
            proc.kill()
    rest = proc.stderr.read() if proc.stderr else ""
    lines += [json.loads(x) for x in rest.splitlines() if x.strip()]
    messages = [str(entry["message"]) for entry in lines]
    assert any(m.startswith("account work:") and "next" in m for m in messages)
    assert any(m.startswith("stopping") for m in messages)
    assert {entry["level"] for entry in lines} <= {"debug", "info", "warning", "error"}
