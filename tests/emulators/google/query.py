"""The subset of Gmail search syntax the emulator understands.

Supported: `in:inbox|sent|spam|trash|draft|drafts|starred|important|unread|anywhere`,
`is:unread|read|starred|important`, `label:NAME` (Gmail's search form of a name: lower case,
"/" and spaces turned into "-"), `after:EPOCH` (inclusive) and `before:EPOCH` (exclusive) in
epoch seconds, `from:`/`to:`/`subject:` (case-insensitive substring), `rfc822msgid:ID`,
`-term` negation, `(a OR b)` and `{a b}` groups; space-separated terms (or `AND`) are ANDed.
Anything else raises UnsupportedQuery, which the API answers with a 400 whose message starts
with "emulator: unsupported query syntax", so a test learns that the emulator, not Gmail,
said no.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

IN_LABELS = {
    "inbox": "INBOX",
    "sent": "SENT",
    "spam": "SPAM",
    "trash": "TRASH",
    "draft": "DRAFT",
    "drafts": "DRAFT",
    "starred": "STARRED",
    "important": "IMPORTANT",
    "unread": "UNREAD",
}
TOKEN = re.compile(r'\s*(\(|\)|\{|\}|-|"[^"]*"|[^\s(){}"]+(?:"[^"]*")?)')


class UnsupportedQuery(ValueError):
    pass


@dataclass
class MessageView:
    """What a search term can look at; all text members are lower case."""

    label_ids: set[str]
    label_names: set[str]  # normalised search names of every label on the message
    sender: str
    recipients: str
    subject: str
    message_id: str  # without angle brackets
    internal_ms: int


Predicate = Callable[[MessageView], bool]


def normalise_label(name: str) -> str:
    return name.lower().replace("/", "-").replace(" ", "-")


def _tokens(q: str) -> list[str]:
    out, pos = [], 0
    q = q.strip()
    while pos < len(q):
        m = TOKEN.match(q, pos)
        if not m:
            raise UnsupportedQuery(f"emulator: unsupported query syntax near {q[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def _epoch(key: str, value: str) -> int:
    if not value.isdigit():
        raise UnsupportedQuery(
            f"emulator: unsupported query syntax: {key}:{value} (use epoch seconds)"
        )
    return int(value) * 1000


def _term(token: str) -> Predicate:
    key, sep, value = token.partition(":")
    key, value = key.lower(), value.strip('"')
    low = value.lower()
    if not sep or not value:
        raise UnsupportedQuery(f"emulator: unsupported query syntax: {token!r} (free text)")
    if key == "in" and low == "anywhere":
        return lambda m: True
    if key == "in" and low in IN_LABELS:
        return lambda m: IN_LABELS[low] in m.label_ids
    if key == "is" and low in ("unread", "starred", "important"):
        return lambda m: low.upper() in m.label_ids
    if key == "is" and low == "read":
        return lambda m: "UNREAD" not in m.label_ids
    if key == "label":
        return lambda m: normalise_label(value) in m.label_names
    if key == "after":
        after = _epoch(key, value)
        return lambda m: m.internal_ms >= after
    if key == "before":
        before = _epoch(key, value)
        return lambda m: m.internal_ms < before
    if key == "from":
        return lambda m: low in m.sender
    if key == "to":
        return lambda m: low in m.recipients
    if key == "subject":
        return lambda m: low in m.subject
    if key == "rfc822msgid":
        return lambda m: m.message_id == low.strip("<>")
    raise UnsupportedQuery(f"emulator: unsupported query syntax: {token!r}")


class _Parser:
    def __init__(self, q: str) -> None:
        self.q = q
        self.tokens = _tokens(q)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def fail(self, why: str) -> UnsupportedQuery:
        return UnsupportedQuery(f"emulator: unsupported query syntax ({why}) in {self.q!r}")

    def any_of(self) -> Predicate:
        parts = [self.all_of()]
        while self.peek() == "OR":
            self.take()
            parts.append(self.all_of())
        return parts[0] if len(parts) == 1 else (lambda m: any(p(m) for p in parts))

    def all_of(self) -> Predicate:
        items = []
        while self.peek() not in (None, ")", "}", "OR"):
            if self.peek() == "AND":  # explicit AND is the same as juxtaposition
                self.take()
                continue
            items.append(self.unary())
        if not items:
            raise self.fail("empty expression")
        return items[0] if len(items) == 1 else (lambda m: all(p(m) for p in items))

    def unary(self) -> Predicate:
        token = self.take()
        if token == "-":
            if self.peek() in (None, ")", "}", "OR"):
                raise self.fail("dangling '-'")
            inner = self.unary()
            return lambda m: not inner(m)
        if token == "(":
            group = self.any_of()
            if self.peek() != ")":
                raise self.fail("unbalanced '('")
            self.take()
            return group
        if token == "{":
            items = []
            while self.peek() not in (None, "}"):
                items.append(self.unary())
            if self.peek() != "}" or not items:
                raise self.fail("bad '{...}' group")
            self.take()
            return lambda m: any(p(m) for p in items)
        if token in (")", "}"):
            raise self.fail(f"unexpected {token!r}")
        return _term(token)


def compile_query(q: str) -> Predicate:
    parser = _Parser(q)
    if not parser.tokens:
        return lambda m: True
    predicate = parser.any_of()
    if parser.peek() is not None:
        raise parser.fail(f"unexpected {parser.peek()!r}")
    return predicate
