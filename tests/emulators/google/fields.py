"""Google's partial responses: the `fields` parameter (e.g. "items(id,start),nextPageToken").

Grammar, as documented: a comma-separated list of selections; "a/b" selects b inside
a; "a(b,c)" selects b and c inside a; "*" selects everything at its level. A mask
applies to every element of an array.
"""

from __future__ import annotations

from typing import Any

Mask = dict[str, "Mask | None"]  # None: the whole value


def parse(text: str) -> Mask:
    mask, rest = _list(text.replace(" ", ""), 0)
    if rest != len(text.replace(" ", "")):
        raise ValueError(f"bad fields mask at {rest}: {text!r}")
    return mask


def _list(text: str, i: int) -> tuple[Mask, int]:
    mask: Mask = {}
    while i < len(text) and text[i] != ")":
        j = i
        while j < len(text) and text[j] not in ",()/":
            j += 1
        name = text[i:j]
        if not name:
            raise ValueError(f"empty field name at {i}: {text!r}")
        sub: Mask | None = None
        if j < len(text) and text[j] == "(":
            sub, j = _list(text, j + 1)
            if j >= len(text) or text[j] != ")":
                raise ValueError(f"unclosed '(' in {text!r}")
            j += 1
        elif j < len(text) and text[j] == "/":
            inner, j = _list_path(text, j + 1)
            sub = inner
        _merge(mask, name, sub)
        if j < len(text) and text[j] == ",":
            j += 1
        i = j
    return mask, i


def _list_path(text: str, i: int) -> tuple[Mask, int]:
    """The rest of an "a/b/c" path, as a one-entry mask."""
    j = i
    while j < len(text) and text[j] not in ",()/":
        j += 1
    name = text[i:j]
    sub: Mask | None = None
    if j < len(text) and text[j] == "/":
        sub, j = _list_path(text, j + 1)
    elif j < len(text) and text[j] == "(":
        sub, j = _list(text, j + 1)
        j += 1
    return {name: sub}, j


def _merge(mask: Mask, name: str, sub: Mask | None) -> None:
    if name in mask and mask[name] is not None and sub is not None:
        for k, v in sub.items():
            _merge(mask[name], k, v)  # type: ignore[arg-type]
    else:
        mask[name] = None if (name in mask and mask[name] is None) else sub


def apply(value: Any, mask: Mask | None) -> Any:
    if mask is None:
        return value
    if isinstance(value, list):
        return [apply(v, mask) for v in value]
    if not isinstance(value, dict):
        return value
    if "*" in mask:
        return value
    return {k: apply(value[k], sub) for k, sub in mask.items() if k in value}
