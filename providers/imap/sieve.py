"""The server-side hold rule: a Sieve script, stored and activated over ManageSieve.

ManageSieve (RFC 5804) is a line protocol like IMAP's: quoted strings, `{n+}`
literals, and answers ending in OK, NO or BYE. Only what the rule needs is here:
AUTHENTICATE PLAIN, LISTSCRIPTS, GETSCRIPT, PUTSCRIPT, SETACTIVE and DELETESCRIPT.
The server checks a script when it is put, so a rule it stores is one it can run.

Only one script is active at a time. The user's own active script, if any, is named
in ours and included for the mail ours lets through, and made active again when the
rule is removed; held mail skips it, as it would otherwise be filed twice.
"""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import ssl as ssl_lib
from collections.abc import Sequence

from providers.errors import BadRequest, TransientError
from providers.imap import errors

SCRIPT = "firstblock-hold"
_PREVIOUS = re.compile(r'^# previous: "((?:[^"\\]|\\.)*)"\r?$', re.MULTILINE)
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def script(allowed: Sequence[str], folder: str, previous: str = "") -> str:
    """The Sieve text that files new mail into `folder` unless its From is allowed
    (an address, or @domain). Raises BadRequest for an entry that is neither."""
    addresses, domains = [], []
    for entry in allowed:
        entry = entry.strip().lower()
        if not entry.isprintable() or '"' in entry or "\\" in entry or " " in entry:
            raise BadRequest(f"not an address or @domain: {entry[:100]!r}")
        if entry.startswith("@") and len(entry) > 1:
            domains.append(entry[1:])
        elif entry.count("@") == 1 and not entry.endswith("@"):
            addresses.append(entry)
        elif entry:
            raise BadRequest(f"not an address or @domain: {entry[:100]!r}")
    tests = []
    if addresses:
        tests.append(f'address :all :is "from" [{", ".join(map(quote, addresses))}]')
    if domains:
        tests.append(f'address :domain :is "from" [{", ".join(map(quote, domains))}]')
    lines = ["# firstblock: hold new mail until the admin block, except from allowed senders"]
    needs = ["fileinto", "mailbox"]
    let_through = "stop;"
    if previous:
        lines.append(f"# previous: {quote(previous)}")
        needs.append("include")
        let_through = f"include :personal {quote(previous)}; stop;"
    lines.append(f"require [{', '.join(map(quote, needs))}];")
    if tests:
        lines.append(f"if anyof ({', '.join(tests)}) {{ {let_through} }}")
    lines.append(f"fileinto :create {quote(folder)};")
    return "\r\n".join(lines) + "\r\n"


class ManageSieve:
    """One short session: `open`, some commands, `close`."""

    def __init__(self, host: str, port: int, *, starttls: bool, timeout: float, where: str) -> None:
        self.host, self.port, self.starttls, self.timeout = host, port, starttls, timeout
        self.where = where
        self.commands = 0
        self._sock: socket.socket | None = None
        self._buffer = b""

    def open(self, user: str, password: str, context: ssl_lib.SSLContext | None = None) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self._answer()  # the greeting: capabilities, then OK
            if self.starttls:
                self.command("STARTTLS")
                ctx = context or ssl_lib.create_default_context()
                self._sock = ctx.wrap_socket(self._sock, server_hostname=self.host)
                self._buffer = b""
                self._answer()  # capabilities again, now over TLS
            token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            self.command(f'AUTHENTICATE "PLAIN" {quote(token)}', login=True)
        except OSError as exc:
            self.close()
            raise errors.translate(exc, where=self.where) from None
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):  # closing anyway
                sock.sendall(b"LOGOUT\r\n")
            sock.close()

    def _line(self) -> bytes:
        assert self._sock is not None
        while b"\r\n" not in self._buffer:
            chunk = self._sock.recv(4096)
            if not chunk:
                raise TransientError("ManageSieve connection closed", where=self.where)
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        line += b"\r\n"
        literal = _LITERAL.search(line)
        if literal:  # a literal: its bytes, then the rest of the line
            size = int(literal.group(1))
            while len(self._buffer) < size:
                chunk = self._sock.recv(4096)
                if not chunk:
                    raise TransientError("ManageSieve connection closed", where=self.where)
                self._buffer += chunk
            data, self._buffer = self._buffer[:size], self._buffer[size:]
            line = line[: literal.start()] + b'"' + _escape(data) + b'"' + self._line()
        return line

    def _answer(self, *, login: bool = False) -> list[str]:
        """The lines before the final OK; NO and BYE become our errors."""
        lines: list[str] = []
        while True:
            line = self._line().decode("utf-8", "replace").rstrip("\r\n")
            word = line.split(" ", 1)[0].upper()
            if word == "OK":
                return lines
            if word in ("NO", "BYE"):
                text = line[len(word) :].strip()
                if word == "BYE":
                    raise TransientError(f"ManageSieve said BYE: {text[:200]}", where=self.where)
                raise errors.from_answer(text, where=self.where, login=login)
            lines.append(line)

    def command(self, text: str, *, literal: str | None = None, login: bool = False) -> list[str]:
        if self._sock is None:
            raise TransientError("ManageSieve not connected", where=self.where)
        data = text.encode()
        if literal is not None:
            body = literal.encode()
            data += b" {%d+}\r\n" % len(body) + body
        self.commands += 1
        try:
            self._sock.sendall(data + b"\r\n")
            return self._answer(login=login)
        except OSError as exc:
            self.close()
            raise errors.translate(exc, where=self.where) from None

    def scripts(self) -> dict[str, bool]:
        """Every stored script's name, and whether it is the active one."""
        found = {}
        for line in self.command("LISTSCRIPTS"):
            match = re.match(r'"((?:[^"\\]|\\.)*)"(\s+ACTIVE)?', line, re.IGNORECASE)
            if match:
                found[unquote(match.group(1))] = bool(match.group(2))
        return found

    def get(self, name: str) -> str:
        lines = self.command(f"GETSCRIPT {quote(name)}")
        return unquote(lines[0][1:-1]) if lines and lines[0].startswith('"') else ""

    def put(self, name: str, text: str) -> None:
        self.command(f"PUTSCRIPT {quote(name)}", literal=text)

    def activate(self, name: str) -> None:
        self.command(f"SETACTIVE {quote(name)}")

    def delete(self, name: str) -> None:
        self.command(f"DELETESCRIPT {quote(name)}")


def _escape(data: bytes) -> bytes:
    return data.replace(b"\\", b"\\\\").replace(b'"', b'\\"')


def install(session: ManageSieve, allowed: Sequence[str] | None, folder: str) -> None:
    """Store and activate the rule (None: deactivate and delete it, making the
    user's previous script active again)."""
    stored = session.scripts()
    active = next((name for name, on in stored.items() if on), "")
    if allowed is None:
        if SCRIPT not in stored:
            return
        previous = ""
        if active == SCRIPT:
            found = _PREVIOUS.search(session.get(SCRIPT))
            previous = unquote(found.group(1)) if found else ""
        if active == SCRIPT:
            session.activate(previous if previous in stored else "")
        session.delete(SCRIPT)
        return
    if active == SCRIPT and SCRIPT in stored:
        found = _PREVIOUS.search(session.get(SCRIPT))
        previous = unquote(found.group(1)) if found else ""
    else:
        previous = active
    session.put(SCRIPT, script(allowed, folder, previous if previous in stored else ""))
    if active != SCRIPT:
        session.activate(SCRIPT)
