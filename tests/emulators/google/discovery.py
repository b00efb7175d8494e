"""Route and validate requests against the discovery documents shipped in googleapiclient.

The discovery documents are the same ones the real client builds its methods from, so a
request the emulator accepts has the shape Google documents, and one it rejects would most
likely be rejected by Google too.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import googleapiclient

from .wire import ApiError, bad_param, not_found

DOCS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
APIS = {"calendar": "calendar.v3", "gmail": "gmail.v1"}


@dataclass(frozen=True)
class Method:
    api: str  # "calendar" | "gmail"
    id: str  # e.g. "calendar.events.insert"
    http_method: str
    regex: re.Pattern[str]
    literal_len: int  # more literal characters wins when two templates match
    desc: dict[str, Any]


@dataclass
class Call:
    """A validated API call, handed to the handler registered for `method.id`."""

    method: Method
    params: dict[str, Any]  # path params (str) and the query params actually sent (typed)
    body: dict[str, Any] | None
    headers: dict[str, str]


@functools.cache
def load(api: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DOCS / f"{APIS[api]}.json").read_text())
    return doc


@functools.cache
def global_params() -> dict[str, dict[str, Any]]:
    # The union of both documents' system parameters: Google accepts all of them on every
    # API, and the two documents merely list different subsets.
    merged: dict[str, dict[str, Any]] = {}
    for api in APIS:
        for name, spec in load(api)["parameters"].items():
            merged.setdefault(name, spec)
    merged["alt"] = {"type": "string", "enum": ["json", "media", "proto"]}
    return merged


def _template_regex(template: str) -> tuple[re.Pattern[str], int]:
    out, literal, pos = [], 0, 0
    for m in re.finditer(r"\{(\+?)([^}]+)\}", template):
        lit = template[pos : m.start()]
        out.append(re.escape(lit))
        literal += len(lit)
        group = ".+" if m.group(1) else "[^/]+"
        out.append(f"(?P<{m.group(2)}>{group})")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    literal += len(template) - pos
    return re.compile("".join(out)), literal


@functools.cache
def methods() -> tuple[Method, ...]:
    found: list[Method] = []

    def walk(api: str, prefix: str, node: dict[str, Any]) -> None:
        for desc in node.get("methods", {}).values():
            regex, literal = _template_regex(prefix + desc["path"])
            found.append(Method(api, desc["id"], desc["httpMethod"], regex, literal, desc))
        for child in node.get("resources", {}).values():
            walk(api, prefix, child)

    for api in APIS:
        doc = load(api)
        walk(api, doc["servicePath"], doc)
    return tuple(found)


def match(http_method: str, raw_path: str) -> tuple[Method, dict[str, str]]:
    path = raw_path.lstrip("/")
    hits = [(m, mo) for m in methods() if (mo := m.regex.fullmatch(path))]
    hits = [(m, mo) for m, mo in hits if m.http_method == http_method]
    if not hits:
        raise not_found()
    method, mo = max(hits, key=lambda h: h[0].literal_len)
    return method, {k: unquote(v) for k, v in mo.groupdict().items()}


def _coerce(name: str, spec: dict[str, Any], value: str) -> Any:
    kind = spec.get("type", "string")
    if kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise bad_param(name, f"Invalid boolean value for {name}: '{value}'")
        return value.lower() == "true"
    if kind == "integer":
        try:
            number = int(value)
        except ValueError:
            raise bad_param(name, f"Invalid integer value for {name}: '{value}'") from None
        low, high = spec.get("minimum"), spec.get("maximum")
        if (low is not None and number < int(low)) or (high is not None and number > int(high)):
            raise bad_param(name, f"Invalid value for {name}: {number} is out of range")
        return number
    if "enum" in spec and value not in spec["enum"]:
        allowed = "|".join(spec["enum"])
        raise bad_param(
            name,
            f"Invalid value '{value}'. Values must match the following regular expression: "
            f"'{allowed}'",
        )
    if spec.get("format") == "date-time":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            # Google answers a bare 400 for a timestamp without an offset.
            raise bad_param(name, f"Bad Request: '{value}' is not an RFC3339 timestamp")
    return value


def check_query(method: Method, query: dict[str, list[str]]) -> dict[str, Any]:
    own = {k: v for k, v in method.desc.get("parameters", {}).items() if v["location"] == "query"}
    specs = {**global_params(), **load(method.api)["parameters"], **own}
    out: dict[str, Any] = {}
    for name, values in query.items():
        spec = specs.get(name)
        if spec is None:
            raise bad_param(
                name,
                f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query '
                f"parameter. Field '{name}' could not be found in request message.",
                "badRequest",
            )
        if len(values) > 1 and not spec.get("repeated"):
            raise bad_param(name, f"Parameter '{name}' may be given only once.")
        typed = [_coerce(name, spec, v) for v in values]
        out[name] = typed if spec.get("repeated") else typed[0]
    for name, spec in own.items():
        if spec.get("required") and name not in out:
            raise bad_param(name, f"Required parameter: {name}", "required")
    return out


def _body_error(message: str) -> ApiError:
    return ApiError(400, "invalid", f"Invalid JSON payload received. {message}")


def _check_value(doc: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> None:
    if "$ref" in schema:
        schema = doc["schemas"][schema["$ref"]]
    if value is None:
        return  # null clears a field in patch semantics
    kind = schema.get("type", "any")
    if kind == "object":
        if not isinstance(value, dict):
            raise _body_error(f"Invalid value at '{where}': expected an object.")
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is None and extra is None:
            return  # free-form object
        for key, item in value.items():
            sub = f"{where}.{key}"
            if props is not None and key in props:
                _check_value(doc, props[key], item, sub)
            elif extra is not None:
                _check_value(doc, extra, item, sub)
            else:
                raise _body_error(f"Unknown name \"{key}\" at '{where}': Cannot find field.")
    elif kind == "array":
        if not isinstance(value, list):
            raise _body_error(f"Invalid value at '{where}': expected a list.")
        for i, item in enumerate(value):
            _check_value(doc, schema.get("items", {}), item, f"{where}[{i}]")
    elif kind == "string":
        numeric = schema.get("format") in ("int64", "uint64") and isinstance(value, int)
        if not isinstance(value, str) and not numeric:
            raise _body_error(f"Invalid value at '{where}' (TYPE_STRING), {json.dumps(value)}")
        if "enum" in schema and value not in schema["enum"]:
            raise _body_error(f"Invalid value at '{where}' (enum), {json.dumps(value)}")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise _body_error(f"Invalid value at '{where}' (TYPE_INT32), {json.dumps(value)}")
        if isinstance(value, str) and not re.fullmatch(r"-?\d+", value):
            raise _body_error(f"Invalid value at '{where}' (TYPE_INT32), {json.dumps(value)}")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _body_error(f"Invalid value at '{where}' (TYPE_DOUBLE), {json.dumps(value)}")
    elif kind == "boolean" and not isinstance(value, bool):
        raise _body_error(f"Invalid value at '{where}' (TYPE_BOOL), {json.dumps(value)}")


def check_body(method: Method, raw: bytes) -> dict[str, Any] | None:
    ref = method.desc.get("request", {}).get("$ref")
    if ref is None:
        return None  # methods without a request schema ignore any body
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "parseError", "Parse Error") from None
    if not isinstance(value, dict):
        raise ApiError(400, "badRequest", "Invalid JSON payload received. Expected an object.")
    doc = load(method.api)
    _check_value(doc, {"$ref": ref}, value, ref[0].lower() + ref[1:])
    return value


def build_call(
    method: Method,
    path_params: dict[str, str],
    query: dict[str, list[str]],
    body: bytes,
    headers: dict[str, str],
) -> Call:
    params: dict[str, Any] = dict(path_params)
    params.update(check_query(method, query))
    return Call(method, params, check_body(method, body), headers)
