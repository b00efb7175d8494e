"""Typed reading of one table of settings (TOML from a file, or the same shape from
the state store); every error names where it came from and the dotted key."""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path
from typing import Any

from worker.errors import ConfigError
from worker.text import excerpt


class Reader:
    def __init__(self, raw: dict[str, Any], where: str, prefix: str = "") -> None:
        """`where`: the file, or "account NAME (state store)"; "" for no source."""
        self.raw, self.where, self.prefix = raw, where, prefix

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def error(self, key: str, message: str) -> ConfigError:
        where = excerpt(self.where, 300) if self.where else "config"
        # Messages quote values from the file: bounded and escaped, on one line.
        return ConfigError(f"{where}: {self.prefix}{key}: {excerpt(message, 300)}")

    def only(self, *keys: str) -> None:
        for k in self.raw:
            if k not in keys:
                raise self.error(k, f"unknown key (known here: {', '.join(keys)})")

    def _get(self, key: str, default: Any, kind: type | tuple[type, ...], what: str) -> Any:
        value = self.raw.get(key, default)
        if isinstance(value, bool) and kind is not bool:
            raise self.error(key, f"expected {what}, got {value!r}")
        if not isinstance(value, kind):
            raise self.error(key, f"expected {what}, got {value!r}")
        return value

    def text(self, key: str, default: str) -> str:
        return str(self._get(key, default, str, "a string"))

    def number(self, key: str, default: int) -> int:
        return int(self._get(key, default, int, "a whole number"))

    def flag(self, key: str, default: bool) -> bool:
        return bool(self._get(key, default, bool, "true or false"))

    def strings(self, key: str, default: list[str] | tuple[str, ...]) -> list[str]:
        value = self._get(key, list(default), list, "a list of strings")
        if not all(isinstance(v, str) for v in value):
            raise self.error(key, "expected a list of strings")
        return list(value)

    def clock(self, key: str, default: time) -> time:
        value = self.raw.get(key)
        if value is None:
            return default
        if isinstance(value, time):
            return value
        moment = parse_clock(str(value))
        if moment is None:
            raise self.error(key, f'expected a time like "08:30", got {value!r}')
        return moment

    def path(self, key: str, base: Path) -> Path | None:
        value = self.text(key, "")
        if not value:
            return None
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            raise self.error(key, "a path cannot hold a NUL or other control character")
        p = Path(os.path.expandvars(value)).expanduser()
        return p if p.is_absolute() else base / p

    def sub(self, key: str) -> Reader:
        return Reader(self._get(key, {}, dict, "a table"), self.where, f"{self.prefix}{key}.")

    def tables(self, key: str) -> list[Reader]:
        items = self._get(key, [], list, "a list of tables ([[" + key + "]])")
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.error(key, "expected tables ([[" + key + "]])")
            out.append(Reader(item, self.where, f"{self.prefix}{key}[{i}]."))
        return out


def parse_clock(text: str) -> time | None:
    """ "08:30" as a time, or None."""
    try:
        hh, mm = text.strip().split(":")
        return time(int(hh), int(mm))
    except ValueError:
        return None
