"""A throwaway Radicale for the CalDAV tests, on loopback.

Everything lives in one temporary directory: the config, the htpasswd file (plain
text: a test user, so a wrong password can be tried) and the storage. Radicale runs
as a child of the test process (`python -m radicale` from this interpreter), on a
free port picked at start; `stop` ends that one process and waits for it. Without
Radicale installed, `radicale_or_skip` skips, saying what to install.

Radicale's built-in server answers HTTP/1.0 and closes after each request, so
connection reuse is tested against a stub (tests/providers/test_caldav.py).
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

USER = "rep"
PASSWORD = "s3cret-Passw0rd"

_CONFIG = """\
[server]
hosts = 127.0.0.1:{port}

[auth]
type = htpasswd
htpasswd_filename = {root}/users
htpasswd_encryption = plain
# A wrong password is tested; Radicale's default pause after one would slow that.
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = {root}/collections

[logging]
level = warning
mask_passwords = True
"""


def radicale_or_skip() -> None:
    if importlib.util.find_spec("radicale") is None:
        pytest.skip("Radicale is not installed (pip install radicale)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Radicale:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="radicale-")))
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def log(self) -> str:
        try:
            return (self.root / "radicale.log").read_text(errors="replace")
        except OSError:
            return ""

    def start(self, timeout: float = 20.0) -> None:
        self.port = free_port()
        (self.root / "users").write_text(f"{USER}:{PASSWORD}\n")
        config = self.root / "config"
        config.write_text(_CONFIG.format(port=self.port, root=self.root))
        log = open(self.root / "radicale.log", "wb")  # noqa: SIM115 (the child keeps it)
        with log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "radicale", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Radicale exited at start:\n{self.log}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Radicale did not listen within {timeout}s:\n{self.log}")

    def stop(self) -> None:
        """End the server (the port then refuses connections); the directory stays
        until `remove`."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running() -> Iterator[Radicale]:
    radicale_or_skip()
    server = Radicale()
    try:
        server.start()
        yield server
    finally:
        server.remove()
