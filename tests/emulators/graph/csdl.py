"""Request-body validation against Graph's own schema (the v1.0 CSDL $metadata document).

The document is parsed once per process. Validation follows BaseType inheritance and
`@odata.type` casts to derived types, checks property names (case-sensitive, as Graph's JSON
reader is), enum members and primitive types, and recurses into complex values, collections
and contained navigation properties (deep inserts such as singleValueExtendedProperties).
Errors use Graph's reader codes: RequestBodyRead for names and primitives, and the messages
Graph's OData reader prints.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from .wire import GraphError, body_error

# A subset of ../shared/reference/msgraph-v1.0-metadata.xml (trim_csdl.py makes it).
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "data" / "msgraph-v1.0-subset.xml"
SUBSCRIPTION = "microsoft.graph.subscription"
SUBSCRIPTION_PATH = Path(__file__).with_name("subscription-csdl.xml")
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
INT_RANGES = {
    "Edm.Byte": (0, 255),
    "Edm.SByte": (-128, 127),
    "Edm.Int16": (-(2**15), 2**15 - 1),
    "Edm.Int32": (-(2**31), 2**31 - 1),
    "Edm.Int64": (-(2**63), 2**63 - 1),
}
DURATION = re.compile(r"^-?P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
PATTERNS = {"Edm.Guid": GUID, "Edm.Duration": DURATION}


@dataclass
class StructuredType:
    name: str  # qualified, e.g. "microsoft.graph.event"
    base: str | None
    properties: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> (type, null)
    navigation: dict[str, str] = field(default_factory=dict)  # contained nav props only
    abstract: bool = False


@dataclass
class Enum:
    members: set[str]
    flags: bool


class Schema:
    def __init__(self, path: Path) -> None:
        self.types: dict[str, StructuredType] = {}
        self.enums: dict[str, Enum] = {}
        self.actions: dict[tuple[str, str], dict[str, str]] = {}  # (name, binding) -> params
        self.derived: dict[str, set[str]] = {}
        self.extend(path)

    def extend(self, path: Path) -> None:
        """Add the types, enums and actions of another CSDL document."""
        root = ET.parse(path).getroot()
        for schema in root.iter(f"{EDM}Schema"):
            namespace = schema.attrib["Namespace"]
            alias = schema.attrib.get("Alias")
            self._load(schema, namespace, alias)
        self.derived.clear()
        for name, typ in self.types.items():
            base = typ.base
            while base is not None:
                self.derived.setdefault(base, set()).add(name)
                base = self.types[base].base if base in self.types else None

    def _qualify(self, name: str, namespace: str, alias: str | None) -> str:
        collection = name.startswith("Collection(")
        inner = name[11:-1] if collection else name
        if alias and inner.startswith(alias + "."):
            inner = namespace + inner[len(alias) :]
        return f"Collection({inner})" if collection else inner

    def _load(self, schema: ET.Element, namespace: str, alias: str | None) -> None:
        def q(name: str) -> str:
            return self._qualify(name, namespace, alias)

        for kind in ("EntityType", "ComplexType"):
            for node in schema.iter(f"{EDM}{kind}"):
                base = node.attrib.get("BaseType")
                typ = StructuredType(
                    f"{namespace}.{node.attrib['Name']}",
                    q(base) if base else None,
                    abstract=node.attrib.get("Abstract") == "true",
                )
                for prop in node.iter(f"{EDM}Property"):
                    nullable = prop.attrib.get("Nullable") != "false"
                    typ.properties[prop.attrib["Name"]] = (q(prop.attrib["Type"]), nullable)
                for nav in node.iter(f"{EDM}NavigationProperty"):
                    if nav.attrib.get("ContainsTarget") == "true":
                        typ.navigation[nav.attrib["Name"]] = q(nav.attrib["Type"])
                self.types[typ.name] = typ
        for node in schema.iter(f"{EDM}EnumType"):
            members = {m.attrib["Name"] for m in node.iter(f"{EDM}Member")}
            flags = node.attrib.get("IsFlags") == "true"
            self.enums[f"{namespace}.{node.attrib['Name']}"] = Enum(members, flags)
        for node in schema.iter(f"{EDM}Action"):
            params = [(p.attrib["Name"], q(p.attrib["Type"])) for p in node.iter(f"{EDM}Parameter")]
            if node.attrib.get("IsBound") == "true" and params:
                binding = params[0][1]
                self.actions[(node.attrib["Name"], binding)] = dict(params[1:])

    # ---- lookups ------------------------------------------------------------------------------
    def property_names(self, type_name: str) -> set[str]:
        names: set[str] = set()
        current: str | None = type_name
        while current is not None:
            typ = self.types[current]
            names |= set(typ.properties) | set(typ.navigation)
            current = typ.base
        return names

    def _member(self, type_name: str, name: str) -> tuple[str, bool] | None:
        current: str | None = type_name
        while current is not None:
            typ = self.types[current]
            if name in typ.properties:
                return typ.properties[name]
            if name in typ.navigation:
                return typ.navigation[name], True
            current = typ.base
        return None

    # ---- validation ---------------------------------------------------------------------------
    def validate(self, value: Any, type_name: str) -> None:
        """Raise GraphError 400 if `value` is not a valid JSON body of `type_name`."""
        self._value(value, type_name, nullable=False)

    def validate_action(self, action: str, binding: str, body: Any) -> dict[str, Any]:
        """Check an action's parameters; answers them keyed by lower-cased parameter name.

        Graph matches action parameter names case-insensitively ("message" and "Message").
        """
        params = {k.lower(): (k, t) for k, t in self.actions[(action, binding)].items()}
        if not isinstance(body, dict):
            raise body_error("The parameters of the action must be given as a JSON object.")
        out: dict[str, Any] = {}
        for key, value in body.items():
            if key.lower() not in params:
                raise body_error(
                    f"The parameter '{key}' in the request payload is not a valid parameter "
                    f"for the operation '{action}'."
                )
            self._value(value, params[key.lower()][1], nullable=True)
            out[key.lower()] = value
        return out

    def _value(self, value: Any, type_name: str, *, nullable: bool) -> None:
        if value is None:
            if not nullable:
                raise body_error(f"A null value was found for a property of type '{type_name}'.")
            return
        if type_name.startswith("Collection("):
            if not isinstance(value, list):
                raise body_error(
                    "A node of type 'StartObject' was read from the JSON reader when trying to "
                    f"read the start of a collection of type '{type_name}'."
                    if isinstance(value, dict)
                    else f"Cannot read a value of type '{type_name}' from a primitive value."
                )
            for item in value:
                self._value(item, type_name[11:-1], nullable=True)
            return
        if type_name in self.types:
            self._structured(value, type_name)
        elif type_name in self.enums:
            self._enum(value, type_name)
        else:
            self._primitive(value, type_name)

    def _structured(self, value: Any, type_name: str) -> None:
        if not isinstance(value, dict):
            raise body_error(
                f"Cannot convert a primitive value to the expected type '{type_name}'. "
                "See the inner exception for more details."
            )
        cast = value.get("@odata.type")
        if isinstance(cast, str):
            target = cast.lstrip("#")
            if target != type_name and target not in self.derived.get(type_name, set()):
                raise body_error(
                    f"A type named '{target}' could not be resolved by the model. When a model "
                    "is available, each type name must resolve to a valid type."
                )
            type_name = target
        for key, item in value.items():
            if "@" in key:
                continue  # instance annotations such as @odata.type or x@odata.bind
            member = self._member(type_name, key)
            if member is None:
                raise body_error(
                    f"The property '{key}' does not exist on type '{type_name}'. Make sure to "
                    "only use property names that are defined by the type or mark the type as "
                    "open type."
                )
            self._value(item, member[0], nullable=member[1])

    def _enum(self, value: Any, type_name: str) -> None:
        enum = self.enums[type_name]
        if not isinstance(value, str):
            raise body_error(
                f"Cannot convert a primitive value to the expected type '{type_name}'."
            )
        parts = [p.strip() for p in value.split(",")] if enum.flags else [value]
        for part in parts:
            if part not in enum.members:
                raise body_error(f"Requested value '{part}' was not found.")

    def _primitive(self, value: Any, type_name: str) -> None:
        def fail() -> GraphError:
            return body_error(
                f"Cannot convert the literal '{value}' to the expected type '{type_name}'."
            )

        if type_name == "Edm.Boolean":
            if not isinstance(value, bool):
                raise fail()
        elif type_name in INT_RANGES:
            low, high = INT_RANGES[type_name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise fail()
        elif type_name in ("Edm.Double", "Edm.Single", "Edm.Decimal"):
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if not numeric and value not in ("INF", "-INF", "NaN"):
                raise fail()
        elif not isinstance(value, str):
            raise fail()  # every other Edm type is carried in a JSON string
        else:
            self._string_primitive(value, type_name, fail)

    def _string_primitive(self, value: str, type_name: str, fail: Any) -> None:
        try:
            if type_name == "Edm.DateTimeOffset":
                datetime.fromisoformat(value)
            elif type_name == "Edm.Date":
                date.fromisoformat(value)
            elif type_name == "Edm.TimeOfDay":
                time.fromisoformat(value[:15])
            elif type_name in PATTERNS and not PATTERNS[type_name].match(value):
                raise ValueError(value)
            elif type_name == "Edm.Binary":
                base64.b64decode(value + "=" * (-len(value) % 4), validate=False)
        except (ValueError, binascii.Error):
            raise fail() from None


_lock = threading.Lock()
_schema: Schema | None = None


def schema() -> Schema:
    """The process-wide parsed schema ($GRAPH_EMULATOR_CSDL overrides the file's location)."""
    global _schema
    with _lock:
        if _schema is None:
            _schema = Schema(Path(os.environ.get("GRAPH_EMULATOR_CSDL") or DEFAULT_PATH))
            if SUBSCRIPTION not in _schema.types:  # a subset trimmed before subscriptions
                _schema.extend(SUBSCRIPTION_PATH)
        return _schema
