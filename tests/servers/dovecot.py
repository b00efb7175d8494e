"""A throwaway Dovecot for the IMAP tests: IMAP and ManageSieve on loopback.

Everything lives in one temporary directory: the config, the passwd-file (with
`USERS` accounts, so each test can have an empty mailbox), the Maildirs, the sockets
and the log. Dovecot runs in the foreground (`dovecot -F`), as a child of the test
process in a process group of its own, on free ports picked at start; `stop` ends
that group. Plaintext logins are allowed (loopback only); `tls=True` adds a
self-signed certificate. Mail is delivered through Dovecot's LDA, so Sieve runs.

Run as root, the mail processes run as `nobody` (Dovecot refuses mail access as uid
0) and the login processes as the Debian `dovenull`/`dovecot` users (`nobody` where
those are missing); run as anyone else, every process is that user. Without Dovecot
installed, `dovecot_or_skip` skips, saying what to install (CI installs it).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

USER = "rep@example.com"
PASSWORD = "s3cret-Passw0rd"
USERS = 400  # rep1@example.com … rep400@example.com, all with PASSWORD
PACKAGES = "dovecot-imapd dovecot-managesieved dovecot-sieve"
LIBEXEC = Path("/usr/lib/dovecot")  # Debian's place for Dovecot's own programs

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
protocols = imap sieve
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = 0
mail_location = maildir:{root}/mail/%u
mail_plugins = $mail_plugins
mailbox_list_index = yes
mail_attribute_dict = file:{root}/mail/%u/attributes
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = create
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
service managesieve-login {{
  chroot =
  inet_listener sieve {{
    address = 127.0.0.1
    port = {sieve_port}
  }}
}}
service pop3-login {{
  chroot =
}}
service submission-login {{
  chroot =
}}
service anvil {{
  chroot =
}}
service imap-urlauth-login {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    user = {internal_user}
    mode = 0666
  }}
  unix_listener stats-writer {{
    user = {internal_user}
    mode = 0666
  }}
}}
protocol imap {{
  mail_max_userip_connections = {connections}
{imap_extra}}}
protocol lda {{
  mail_plugins = $mail_plugins sieve
  postmaster_address = postmaster@example.com
}}
plugin {{
  sieve = file:{root}/home/%u/sieve;active={root}/home/%u/.dovecot.sieve
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _user(name: str, fallback: str = "nobody") -> str:
    try:
        pwd.getpwnam(name)
        return name
    except KeyError:
        return fallback


def dovecot_or_skip() -> str:
    """The `dovecot` binary, or skip the test saying what to install."""
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None
    )
    if binary is None:
        pytest.skip(f"Dovecot is not installed (apt-get install {PACKAGES})")
    parts = ("managesieve", "dovecot-lda", "modules/lib90_sieve_plugin.so")
    missing = [p for p in parts if not (LIBEXEC / p).exists()]
    if missing:
        pytest.skip(f"Dovecot lacks {', '.join(missing)} (apt-get install {PACKAGES})")
    return binary


@dataclass
class Dovecot:
    """One running server. `capability` replaces the IMAP capabilities it offers
    after login (e.g. to offer no MOVE); `stop` removes its directory."""

    binary: str
    capability: str = ""
    tls: bool = False  # a self-signed certificate for 127.0.0.1: `cert` to trust
    connections: int = 100  # IMAP sessions one user may have from one address
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dovecot-")))
    imap_port: int = 0
    sieve_port: int = 0
    imaps_port: int = 0
    process: subprocess.Popen[bytes] | None = None
    _used: int = 0

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log(self) -> str:
        text = ""
        for name in ("stderr", "dovecot.log"):
            with contextlib.suppress(OSError):
                text += (self.root / "log" / name).read_text(errors="replace")
        return text

    @property
    def cert(self) -> Path:
        return self.root / "cert.pem"

    def _make_cert(self) -> None:
        if self.cert.exists():
            return
        key, names = self.root / "key.pem", "subjectAltName=IP:127.0.0.1,DNS:localhost"
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
                *("-keyout", str(key), "-out", str(self.cert)),
                *("-subj", "/CN=localhost", "-addext", names),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def _write_config(self) -> None:
        for sub in ("run", "state", "log", "mail", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        if not (self.root / "passwd").exists():
            users = [USER] + [f"rep{n}@example.com" for n in range(1, USERS + 1)]
            (self.root / "passwd").write_text(
                "".join(f"{u}:{{PLAIN}}{PASSWORD}::::::\n" for u in users)
            )
        me = pwd.getpwuid(os.getuid())
        root = os.getuid() == 0
        # Dovecot refuses mail access as uid 0: as root, mail belongs to `nobody`.
        uid, gid = _ids("nobody") if root else (os.getuid(), os.getgid())
        if root:
            for sub in ("mail", "home"):
                os.chown(self.root / sub, uid, gid)
        extra = f"  imap_capability = {self.capability}\n" if self.capability else ""
        ssl = "ssl = no"
        if self.tls:
            self._make_cert()
            ssl = f"ssl = yes\nssl_cert = <{self.cert}\nssl_key = <{self.root / 'key.pem'}"
        self.config.write_text(
            _CONFIG.format(
                root=self.root,
                imap_port=self.imap_port,
                sieve_port=self.sieve_port,
                imaps_port=self.imaps_port if self.tls else 0,
                ssl=ssl,
                uid=uid,
                gid=gid,
                login_user=_user("dovenull") if root else me.pw_name,
                internal_user=_user("dovecot") if root else me.pw_name,
                internal_group=(_group_of(_user("dovecot")) if root else _group_of(me.pw_name)),
                imap_extra=extra,
                connections=self.connections,
            )
        )
        if root:
            # The login and internal users must reach the sockets under base_dir.
            os.chmod(self.root, 0o755)

    def new_user(self) -> str:
        """An account no test used yet: an empty mailbox. The passwd-file lists them
        all from the start, as Dovecot may not reread it at once."""
        self._used += 1
        if self._used > USERS:
            raise RuntimeError(f"more than {USERS} accounts asked of one server")
        return f"rep{self._used}@example.com"

    def start(self, *, attempts: int = 3, same_ports: bool = False) -> None:
        """Start on fresh free ports (or the last ones again, `same_ports`, to come
        back where clients expect it); retried when a port was taken meanwhile."""
        for attempt in range(attempts):
            if not same_ports or not self.imap_port:
                self.imap_port, self.sieve_port = _free_port(), _free_port()
                self.imaps_port = _free_port()
            self._write_config()
            with (self.root / "log" / "stderr").open("ab") as errors:
                self.process = subprocess.Popen(
                    [self.binary, "-F", "-c", str(self.config)],
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    start_new_session=True,  # its own group: `stop` ends it all
                )
            if self._wait_ready():
                return
            self.stop(remove=False)
            if attempt == attempts - 1:
                raise RuntimeError(f"Dovecot did not start:\n{self.log[-2000:]}")

    def _wait_ready(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            if self._greets(self.imap_port, b"* OK") and self._greets(self.sieve_port, b'"'):
                return True
            time.sleep(0.05)
        return False

    def _greets(self, port: int, start: bytes) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=1) as s:
                return s.recv(64).startswith(start)
        except OSError:
            return False

    def stop(self, *, remove: bool = True) -> None:
        """End the server and every process it started, at once: a throwaway server
        has nothing to save (each command's mail is on disk when it is answered), and
        its graceful exit takes a second. Only this server's own process group, which
        holds nothing else (it started a session of its own), is signalled."""
        process, self.process = self.process, None
        if process is not None:
            # A session's imap process would outlive its master: end the whole group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def deliver(self, message: bytes, *, sender: str, user: str = USER) -> None:
        """Deliver like an MTA would, through Dovecot's LDA, so Sieve runs."""
        subprocess.run(
            [str(LIBEXEC / "dovecot-lda"), "-c", str(self.config), "-d", user, "-f", sender],
            input=message,
            check=True,
            capture_output=True,
            timeout=30,
        )


def _ids(user: str) -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(user)
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


def _group_of(user: str) -> str:
    return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name


@contextlib.contextmanager
def running(
    capability: str = "", *, tls: bool = False, connections: int = 100
) -> Iterator[Dovecot]:
    """A started Dovecot, stopped and removed afterwards (skips when not installed).
    `tls`: with implicit TLS on `imaps_port` and STARTTLS on the others."""
    if tls and shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test server's certificate")
    server = Dovecot(dovecot_or_skip(), capability=capability, tls=tls, connections=connections)
    server.start()
    try:
        yield server
    finally:
        server.stop()
