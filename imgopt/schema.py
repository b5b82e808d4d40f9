"""JSON Schema for imgopt's result documents, generated from the dataclasses.

``python -m imgopt.schema`` rewrites docs/schema/*.schema.json; a test checks
the committed files match, so the documented schema cannot drift from code.

Every document is a dataclass with a ``schema`` field (``imgopt.KIND/vN``) and
``to_json()``.  Field metadata shapes the JSON where it is not the field
itself: ``{"json": "name"}`` names the property, ``{"omit_none": True}``
leaves it out when None (so it is not required).
"""

from __future__ import annotations

import dataclasses
import functools
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
    if origin is dict or tp is dict:
        return {"type": "object", "additionalProperties": _schema(args[1], defs) if args else {}}
    if tp is list:
        return {"type": "array", "items": {}}
    if typing.is_typeddict(tp):
        name = tp.__name__
        if name not in defs:
            hints = typing.get_type_hints(tp)
            defs[name] = {"type": "object", "properties": {k: _schema(v, defs) for k, v in hints.items()},
                          "required": list(hints), "additionalProperties": False}
            if tp.__doc__:
                defs[name]["description"] = " ".join(tp.__doc__.split())
        return {"$ref": f"#/$defs/{name}"}
    if dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # recursion guard
            hints = typing.get_type_hints(tp)
            fields = dataclasses.fields(tp)
            props = {f.metadata.get("json", f.name): _schema(hints[f.name], defs) for f in fields}
            required = [f.metadata.get("json", f.name) for f in fields if not f.metadata.get("omit_none")]
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


@functools.lru_cache(maxsize=None)
def _fields(tp: type) -> tuple[tuple[str, str, Any], ...]:
    """(field, JSON name, resolved type) of a dataclass: resolving string annotations is slow, and a
    warm scan reads hundreds of cached records back through :func:`from_json`."""
    hints = typing.get_type_hints(tp)
    return tuple((f.name, f.metadata.get("json", f.name), hints[f.name]) for f in dataclasses.fields(tp))


def from_json(tp: Any, value: Any) -> Any:
    """The typed value of a JSON document for ``tp`` (a result dataclass): the inverse of ``to_json()``.

    Used to read results back (cached analyses, scan shards) so the renderers get
    the same objects a command built.
    """
    if value is None or tp is Any:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for a in args:
            if a is type(None):
                continue
            if dataclasses.is_dataclass(a) and not isinstance(value, dict):
                continue
            return from_json(a, value)
        return value
    if origin in (list, tuple):
        return [from_json(args[0] if args else Any, v) for v in value]
    if origin is dict:
        return {k: from_json(args[1] if args else Any, v) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        kw = {}
        for field, name, hint in _fields(tp):
            if name in value:
                kw[field] = from_json(hint, value[name])
        return tp(**kw)
    if tp is float and isinstance(value, int):
        return float(value)
    return value


# file name -> "module:Class" of the document (its id: the ``schema`` field's default, else the module's SCHEMA)
DOCUMENTS = {
    "analysis.schema.json": "imgopt.analyze.result:AnalysisResult",
    "inspect.schema.json": "imgopt.image.inspect:InspectResult",
    "minify.schema.json": "imgopt.minify.result:MinifyResult",
    "removed.schema.json": "imgopt.minify.result:RemovedFiles",
    "kept.schema.json": "imgopt.minify.result:KeptFiles",
    "profile.schema.json": "imgopt.trace.profile:AccessProfile",
    "simulate.schema.json": "imgopt.simulate.result:SimulationResult",
    "scan.schema.json": "imgopt.scan.result:ScanResult",
    "cache.schema.json": "imgopt.cache.result:CacheInfo",
    "gate.schema.json": "imgopt.gate.result:GateResult",
    "report.schema.json": "imgopt.report.result:ReportResult",
}


def documents() -> dict[str, dict[str, Any]]:
    import importlib

    out = {}
    for name, target in DOCUMENTS.items():
        module, _, attr = target.partition(":")
        mod = importlib.import_module(module)
        cls = getattr(mod, attr)
        field = {f.name: f for f in dataclasses.fields(cls)}["schema"]
        out[name] = schema_for(cls, field.default if field.default is not dataclasses.MISSING else mod.SCHEMA)
    return out


def main() -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, doc in documents().items():
        (DOCS / name).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {DOCS / name}", file=sys.stderr)


if __name__ == "__main__":
    main()
