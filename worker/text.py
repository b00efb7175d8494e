"""Other people's text on one line of ours: titles, file content, library errors
that quote it. All of it is untrusted: it may hold a NUL, an escape sequence that
rewrites the terminal, or a megabyte without a line break."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_ONE_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str, limit: int = 120) -> str:
    """Safe for a mail header or a timeline: control characters blanked, bounded."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def excerpt(text: str, limit: int = 80) -> str:
    """Safe to quote in an error or a warning: control characters shown escaped
    (a NUL reads \\x00), on one line, at most `limit` characters."""
    shown = _ONE_CONTROL.sub(_escaped, text[: limit * 4])
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
