"""What the push tests share: a clock that runs from a chosen moment, and `serve` and
the web app running in threads against one config, as a team of one runs them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.web.test_browser import free_port
from worker import config as cfg
from worker import roster
from worker.serve import Server
from worker.state import State
from worker.web.app import create


class Ticking:
    """`start`, then moving with the wall clock: the day a test plans, in real time."""

    def __init__(self, start: datetime) -> None:
        self.start, self.began = start, time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.began)


def until(check: Callable[[], Any], seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


@contextmanager
def running(
    path: Path, clock: Ticking, more: Callable[[str], str] = lambda base: ""
) -> Iterator[tuple[cfg.Config, Server]]:
    """Push on, at a web app on loopback (plain http: only an emulator posts to it);
    `more` gives further [push] keys, knowing the app's address."""
    import uvicorn

    base = f"http://127.0.0.1:{free_port()}/"
    port = int(base.rsplit(":", 1)[1].strip("/"))
    with path.open("a") as f:
        f.write(f'[web]\nbase_url = "{base}"\n[push]\nenabled = true\n{more(base)}')

    def load() -> cfg.Config:
        return roster.load(cfg.load(path))

    web = uvicorn.Server(
        uvicorn.Config(create(load, clock), host="127.0.0.1", port=port, log_level="warning")
    )
    server = Server(load, clock, interval=timedelta(minutes=15))
    threads = [threading.Thread(target=web.run), threading.Thread(target=server.run)]
    for t in threads:
        t.start()
    try:
        yield load(), server
    finally:
        server.request_stop()
        web.should_exit = True
        for t in threads:
            t.join(30)


def health(config: cfg.Config, account: str) -> list[str]:
    state = State.read_only(config.state_location())
    try:
        return [r.health for r in state.channels.of(account)]
    finally:
        state.close()


def count_cycles(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When each cycle of `serve` began (monotonic), from now on."""
    from worker import runner

    began: list[float] = []
    real = runner.run_one

    def counted(*args: Any, **kwargs: Any) -> runner.AccountResult:
        began.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "run_one", counted)
    return began


def settled(began: list[float], seconds: float = 4.0) -> None:
    """Until no cycle began for `seconds`: the first cycle's own writes come back as
    notifications, and bring one more."""
    until(lambda: began and time.monotonic() - began[-1] > seconds, 30)
