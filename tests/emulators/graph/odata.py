"""OData query options and Prefer headers, in the subset the emulator supports.

$filter forms: `singleValueExtendedProperties/Any(ep: ep/id eq '<id>' and ep/value eq '<v>')`
plus, where a route allows them, simple comparisons (`receivedDateTime ge 2026-01-01T00:00:00Z`,
`displayName eq 'Held'`) joined with `and`. Anything else answers 400
ErrorInvalidUrlQueryFilter. $expand supports only
`singleValueExtendedProperties($filter=id eq '<id>')`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .wire import GraphError, bad_request
from .zones import parse_offset

EXT_ID = re.compile(
    r"^(?P<type>[A-Za-z]+(?:Array)?) \{(?P<guid>[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-"
    r"[0-9A-Fa-f]{12})\} (?:Name (?P<name>\S.*)|Id (?P<num>0x[0-9A-Fa-f]{1,4}))$"
)
EXT_TAG = re.compile(r"^(?P<type>[A-Za-z]+(?:Array)?) (?P<tag>0x[0-9A-Fa-f]{8})$")
EXT_TYPES = {"binary", "boolean", "currency", "double", "float", "guid", "integer", "long"}
EXT_TYPES |= {"short", "string", "systemtime", "object", "apptime", "null", "clsid"}
ANY = re.compile(
    r"singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'((?:[^']|'')*)'\s+and\s+"
    r"\1/value\s+eq\s+'((?:[^']|'')*)'\s*\)",
    re.IGNORECASE,
)
EXPAND = re.compile(
    r"^singleValueExtendedProperties\(\s*\$filter\s*=\s*id\s+eq\s+'((?:[^']|'')*)'\s*\)$",
    re.IGNORECASE,
)
CLAUSE = re.compile(r"^(\w+(?:/\w+)?)\s+(eq|ne|gt|ge|lt|le)\s+(.+)$", re.IGNORECASE)
QUOTED = re.compile(r"'(?:[^']|'')*'")
LITERAL = re.compile(r"^(?:\x00\d+\x00|[^\s()]+)$")  # one quoted string or one bare token
MAX_TOP = 1000


def ext_key(prop_id: str) -> tuple[str, ...]:
    """A comparable form of an extended property id; GraphError 400 if malformed.

    The type and GUID compare case-insensitively, the Name part case-sensitively.
    """
    m = EXT_ID.match(prop_id.strip())
    if m and m.group("type").lower().removesuffix("array") in EXT_TYPES:
        tail = ("name", m.group("name")) if m.group("name") else ("id", m.group("num").lower())
        return (m.group("type").lower(), m.group("guid").lower(), *tail)
    m = EXT_TAG.match(prop_id.strip())
    if m and m.group("type").lower().removesuffix("array") in EXT_TYPES:
        return (m.group("type").lower(), m.group("tag").lower())
    raise GraphError(
        400,
        "ErrorInvalidProperty",
        f"The extended property id '{prop_id}' is not valid. Expected a form like "
        "'String {GUID} Name propertyName'.",
    )


def ext_value(item: dict[str, Any], prop_id: str) -> dict[str, Any] | None:
    key = ext_key(prop_id)
    for prop in item.get("singleValueExtendedProperties") or []:
        if ext_key(prop["id"]) == key:
            return prop
    return None


@dataclass
class Prefer:
    timezone: str | None = None
    immutable: bool = False
    max_page: int | None = None
    applied: list[str] = field(default_factory=list)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, current, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_prefer(header: str) -> Prefer:
    prefer = Prefer()
    for item in _split_outside_quotes(header, ","):
        name, _, value = item.partition("=")
        name, value = name.strip().lower(), value.strip().strip('"')
        if name == "outlook.timezone" and value:
            prefer.timezone = value
            prefer.applied.append(f'outlook.timezone="{value}"')
        elif name == "idtype" and value.lower() == "immutableid":
            prefer.immutable = True
            prefer.applied.append('IdType="ImmutableId"')
        elif name == "odata.maxpagesize" and value.isdigit() and int(value) > 0:
            prefer.max_page = int(value)
            prefer.applied.append(f"odata.maxpagesize={value}")
    return prefer


@dataclass
class Clause:
    field: str  # "ext" for the extended-property form
    op: str
    value: Any
    ext_id: str = ""


@dataclass
class Query:
    select: list[str] | None = None
    top: int | None = None
    skip: int = 0
    filters: list[Clause] = field(default_factory=list)
    expand_ext: str | None = None
    orderby: tuple[str, bool] | None = None  # (field, descending)
    params: dict[str, str] = field(default_factory=dict)  # everything given, first values


def _literal(text: str) -> Any:
    text = text.strip()
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return parse_offset(text)


def parse_filter(text: str, fields: dict[str, str]) -> list[Clause]:
    def refuse(detail: str) -> GraphError:
        return GraphError(
            400,
            "ErrorInvalidUrlQueryFilter",
            f"The query filter contains one or more invalid nodes. (emulator: {detail})",
        )

    clauses: list[Clause] = []
    for found in ANY.finditer(text):
        prop_id = found.group(2).replace("''", "'")
        ext_key(prop_id)
        clauses.append(Clause("ext", "eq", found.group(3).replace("''", "'"), prop_id))
    # Quoted strings become placeholders, so " and " inside one does not split clauses.
    quoted: list[str] = []

    def stash(found: re.Match[str]) -> str:
        quoted.append(found.group(0))
        return f"\x00{len(quoted) - 1}\x00"

    def restore(text: str) -> str:
        return re.sub("\x00(\\d+)\x00", lambda found: quoted[int(found.group(1))], text)

    rest = QUOTED.sub(stash, ANY.sub(" ", text))
    for raw in re.split(r"(?:^|\s+)and(?=\s|$)\s*", rest.strip(), flags=re.IGNORECASE):
        if not raw.strip():
            continue
        clause = CLAUSE.match(raw.strip())
        if clause is None or clause.group(1) not in fields or not LITERAL.match(clause.group(3)):
            raise refuse(
                f"unsupported filter clause {restore(raw.strip())!r}; allowed fields "
                f"{sorted(fields)}"
            )
        literal = restore(clause.group(3))
        try:
            value = _literal(literal)
        except ValueError:
            raise refuse(f"bad literal {literal!r}") from None
        name, kind = clause.group(1), fields[clause.group(1)]
        if (kind == "datetime") != isinstance(value, datetime) or (
            kind == "string" and not isinstance(value, str)
        ):
            raise refuse(f"{name} takes a {kind} literal")
        clauses.append(Clause(name, clause.group(2).lower(), value))
    if not clauses:
        raise refuse("empty filter")
    return clauses


def check_options(query: dict[str, list[str]], allowed: set[str]) -> None:
    for name in query:
        if name not in allowed:
            raise bad_request(f"Query option '{name}' is not allowed on this resource.")


def parse_query(
    query: dict[str, list[str]],
    allowed: set[str],
    *,
    filter_fields: dict[str, str] | None = None,
    orderby: tuple[str, ...] = (),
    properties: set[str] | None = None,
    type_name: str = "",
) -> Query:
    """Parse the request's query options; GraphError 400 for anything outside `allowed`."""
    out = Query(params={k: v[0] for k, v in query.items()})
    check_options(query, allowed)
    p = out.params
    if "$select" in p:
        out.select = [s.strip() for s in p["$select"].split(",") if s.strip()]
        for name in out.select:
            if properties is not None and name not in properties:
                raise GraphError(
                    400,
                    "RequestBroker--ParseUri",
                    f"Could not find a property named '{name}' on type '{type_name}'.",
                )
    if "$top" in p:
        if not p["$top"].isdigit() or not 0 < int(p["$top"]) <= MAX_TOP:
            raise bad_request(f"Invalid value '{p['$top']}' for $top query option.")
        out.top = int(p["$top"])
    if "$skip" in p:
        if not p["$skip"].isdigit():
            raise bad_request(f"Invalid value '{p['$skip']}' for $skip query option.")
        out.skip = int(p["$skip"])
    if "$skiptoken" in p:
        out.skip = decode_skiptoken(p["$skiptoken"])
    if "$filter" in p:
        out.filters = parse_filter(p["$filter"], filter_fields or {})
    if "$expand" in p:
        m = EXPAND.match(p["$expand"].strip())
        if m is None:
            raise bad_request(
                "emulator: only $expand=singleValueExtendedProperties($filter=id eq '...') "
                "is supported."
            )
        out.expand_ext = m.group(1).replace("''", "'")
        ext_key(out.expand_ext)
    if "$orderby" in p:
        name, _, direction = p["$orderby"].strip().partition(" ")
        if name not in orderby or direction.strip().lower() not in ("", "asc", "desc"):
            raise bad_request(f"emulator: $orderby supports only {list(orderby)} asc|desc.")
        out.orderby = (name, direction.strip().lower() == "desc")
    return out


def matches(item: dict[str, Any], clauses: list[Clause], value_of: Callable[[str], Any]) -> bool:
    """Whether `item` passes every clause; `value_of(field)` reads a compared field."""
    for clause in clauses:
        if clause.field == "ext":
            prop = ext_value(item, clause.ext_id)
            if prop is None or str(prop.get("value", "")).lower() != clause.value.lower():
                return False
            continue
        left, right = value_of(clause.field), clause.value
        if isinstance(left, str) and isinstance(right, str):
            left, right = left.lower(), right.lower()  # Outlook compares strings caselessly
        ok = {
            "eq": lambda a, b: a == b,
            "ne": lambda a, b: a != b,
            "gt": lambda a, b: a is not None and a > b,
            "ge": lambda a, b: a is not None and a >= b,
            "lt": lambda a, b: a is not None and a < b,
            "le": lambda a, b: a is not None and a <= b,
        }[clause.op](left, right)
        if not ok:
            return False
    return True


def encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"skip:{offset}".encode()).decode().rstrip("=")


def decode_skiptoken(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind != "skip" or not number.isdigit():
            raise ValueError(token)
        return int(number)
    except ValueError:
        raise bad_request("The $skiptoken value is not valid.") from None


def project(obj: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    """$select: the chosen properties, plus id and @odata.etag as Graph always returns them."""
    if select is None:
        return obj
    keep = {"id", "@odata.etag", "@odata.type", *select}
    return {k: v for k, v in obj.items() if k in keep}
