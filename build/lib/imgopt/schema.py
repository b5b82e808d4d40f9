"""JSON Schema for imgopt's result documents, generated from the dataclasses.

``python -m imgopt.schema`` rewrites docs/schema/*.schema.json; a test checks
the committed files match, so the documented schema cannot drift from code.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent / "docs" / "schema"


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return {}
    if origin in (typing.Union, types.UnionType):
        subs = [_schema(a, defs) for a in args]
        return {"anyOf": subs}
    if tp is type(None):
        return {"type": "null"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if origin in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return {"type": "array", "items": [_schema(a, defs) for a in args]}
        return {"type": "array", "items": _schema(args[0], defs) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(args[1], defs) if args else {}}
    if dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # recursion guard
            hints = typing.get_type_hints(tp)
            props = {f.name: _schema(hints[f.name], defs) for f in dataclasses.fields(tp)}
            required = [f.name for f in dataclasses.fields(tp)]
            defs[name] = {"type": "object", "properties": props, "required": required,
                          "additionalProperties": False}
            if tp.__doc__ and not tp.__doc__.startswith(f"{name}("):
                defs[name]["description"] = " ".join(tp.__doc__.split())
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"no JSON schema for {tp!r}")


def schema_for(root: type, schema_id: str) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    ref = _schema(root, defs)
    top = defs.pop(root.__name__)
    top["properties"]["schema"] = {"const": schema_id}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_id,
            "title": root.__name__, **top, "$defs": dict(sorted(defs.items()))} if ref else {}


def documents() -> dict[str, dict[str, Any]]:
    from imgopt.analyze.result import SCHEMA as A
    from imgopt.analyze.result import AnalysisResult
    from imgopt.trace.profile import SCHEMA as P
    from imgopt.trace.profile import AccessProfile

    return {"analysis.schema.json": schema_for(AnalysisResult, A),
            "profile.schema.json": schema_for(AccessProfile, P)}


def main() -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, doc in documents().items():
        (DOCS / name).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {DOCS / name}", file=sys.stderr)


if __name__ == "__main__":
    main()
