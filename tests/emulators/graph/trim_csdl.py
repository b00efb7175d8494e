"""Cut Graph's CSDL down to what the emulator validates, for tests/data.

    python -m tests.emulators.graph.trim_csdl ../shared/reference/msgraph-v1.0-metadata.xml

writes tests/data/msgraph-v1.0-subset.xml: the types the emulator checks bodies
against, everything they reference (base types, property and contained navigation
types, enums) and the bound actions it handles, unchanged from Microsoft's schema.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
ROOTS = (
    "event",
    "message",
    "mailFolder",
    "messageRule",
    "mailboxSettings",
    "user",
    "subscription",
    "fileAttachment",  # a message's inline pictures (sendMail's message.attachments)
)
ACTIONS = ("sendMail", "move", "copy", "decline")
OUT = Path(__file__).resolve().parents[2] / "data" / "msgraph-v1.0-subset.xml"


def main(source: Path) -> None:
    ET.register_namespace("", EDM[1:-1])
    ET.register_namespace("edmx", "http://docs.oasis-open.org/odata/ns/edmx")
    tree = ET.parse(source)
    schema = next(
        s for s in tree.getroot().iter(f"{EDM}Schema") if s.get("Namespace") == "microsoft.graph"
    )
    nodes = {
        n.get("Name"): n
        for n in schema
        if n.tag in (f"{EDM}EntityType", f"{EDM}ComplexType", f"{EDM}EnumType")
    }
    keep: set[str] = set()
    todo = [*ROOTS]
    actions = [
        a
        for a in schema.iter(f"{EDM}Action")
        if a.get("Name") in ACTIONS and a.get("IsBound") == "true"
    ]
    for a in actions:
        todo += [_local(p.get("Type", "")) for p in a.iter(f"{EDM}Parameter")]
    while todo:
        while todo:
            name = todo.pop()
            if name in keep or name not in nodes:
                continue
            keep.add(name)
            node = nodes[name]
            if node.get("BaseType"):
                todo.append(_local(node.get("BaseType", "")))
            for prop in node.iter(f"{EDM}Property"):
                todo.append(_local(prop.get("Type", "")))
            for nav in node.iter(f"{EDM}NavigationProperty"):
                if nav.get("ContainsTarget") == "true" and name in ROOTS:
                    todo.append(_local(nav.get("Type", "")))
        # A complex value may be cast (@odata.type) to a type derived from its own, as
        # workingHours.timeZone is to customTimeZone: keep those too.
        todo = [
            name
            for name, node in nodes.items()
            if name not in keep
            and node.tag == f"{EDM}ComplexType"
            and _local(node.get("BaseType", "")) in keep
        ]
    for child in list(schema):
        if child.tag in (f"{EDM}EntityType", f"{EDM}ComplexType", f"{EDM}EnumType"):
            if child.get("Name") not in keep:
                schema.remove(child)
        elif child not in actions:
            schema.remove(child)
    for other in [s for s in tree.getroot().iter(f"{EDM}Schema") if s is not schema]:
        for parent in tree.getroot().iter():
            if other in list(parent):
                parent.remove(other)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tree.write(OUT, encoding="utf-8", xml_declaration=True)
    print(f"{OUT}: {len(keep)} types, {len(actions)} actions, {OUT.stat().st_size} bytes")


def _local(name: str) -> str:
    name = name.removeprefix("Collection(").removesuffix(")")
    return name.rpartition(".")[2] if name.startswith(("microsoft.graph.", "graph.")) else name


if __name__ == "__main__":
    main(Path(sys.argv[1]))
