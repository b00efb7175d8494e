"""Clicking a button of an emulator's HTML page without a browser: what the browser would
post (the form's action and fields), read with the standard library's HTML parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)  # hidden inputs, checked radios
    radios: dict[str, list[str]] = field(default_factory=dict)  # name -> values offered
    buttons: dict[str, tuple[str, str, str]] = field(
        default_factory=dict
    )  # id -> name, value, text


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._button: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif not self.forms:
            return
        elif tag == "input" and a.get("type") == "radio":
            self.forms[-1].radios.setdefault(a["name"], []).append(a.get("value", ""))
            if "checked" in a:
                self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "input" and a.get("name"):
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "button" and a.get("type", "submit") == "submit":
            self._button = a.get("id", "")
            self.forms[-1].buttons[self._button] = (a.get("name", ""), a.get("value", ""), "")

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            name, value, text = self.forms[-1].buttons[self._button]
            self.forms[-1].buttons[self._button] = (name, value, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._button = None


def forms(html: str) -> list[Form]:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.forms


def click(
    page_url: str, html: str, button_id: str, choose: dict[str, str] | None = None
) -> tuple[str, dict[str, str]]:
    """(URL, fields) a browser posts when the button with this id is clicked, after picking
    the radio values in `choose` (each must be one the page offers)."""
    for form in forms(html):
        if button_id in form.buttons:
            fields = dict(form.fields)
            for name, value in (choose or {}).items():
                if value not in form.radios.get(name, []):
                    raise AssertionError(f"the page offers no {name}={value!r}")
                fields[name] = value
            name, value, _ = form.buttons[button_id]
            if name:
                fields[name] = value
            return urljoin(page_url, form.action), fields
    raise AssertionError(f"no button with id {button_id!r} on the page")
