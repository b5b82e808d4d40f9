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
    the same objects a command built.  Values typed ``Any`` (and lists of plain values) are not copied
    deeper than one level: give it a document nothing else will change.
    """
    return _converter(tp)(value)


_IDENTITY = lambda v: v  # noqa: E731
_PLAIN = (str, int, bool, bytes, type(None))


def plain(obj: Any) -> Any:
    """``dataclasses.asdict`` for result types, several times faster: dataclasses become dicts (fields in
    order), lists, tuples and dicts are copied, and every other value is shared, not deep-copied (results
    hold JSON values).  A warm scan turns hundreds of records into JSON; asdict was most of that."""
    cls = type(obj)
    if cls in _LEAVES:
        return obj
    if cls is list:
        return [plain(x) for x in obj]
    if cls is dict:
        return {k: plain(v) for k, v in obj.items()}
    if cls is tuple:
        return tuple(plain(x) for x in obj)
    names = _DATACLASS_FIELDS.get(cls)
    if names is None and dataclasses.is_dataclass(cls):
        names = _DATACLASS_FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return obj if names is None else {n: plain(getattr(obj, n)) for n in names}


_LEAVES = frozenset((*_PLAIN, float))
_DATACLASS_FIELDS: dict[type, tuple[str, ...]] = {}


@functools.lru_cache(maxsize=None)
def _converter(tp: Any):
    """One function per type, built once: a warm scan reads hundreds of cached records back, and
    asking ``typing`` about every value's type was most of that."""
    if tp is Any:
        return _IDENTITY
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        alts = [a for a in args if a is not type(None)]

        def union(v, alts=alts):
            if v is None:
                return None
            for a in alts:
                if dataclasses.is_dataclass(a) and not isinstance(v, dict):
                    continue
                return _converter(a)(v)
            return v
        return union
    if origin in (list, tuple):
        item = args[0] if args else Any
        if item is Any or item in _PLAIN:
            return lambda v: None if v is None else list(v)
        return lambda v: None if v is None else [_converter(item)(x) for x in v]
    if origin is dict:
        val = args[1] if args else Any
        if val is Any or val in _PLAIN:
            return lambda v: None if v is None else dict(v)
        return lambda v: None if v is None else {k: _converter(val)(x) for k, x in v.items()}
    if dataclasses.is_dataclass(tp):
        def record(v, tp=tp):
            if v is None:
                return None
            return tp(**{field: conv(v[name]) for field, name, conv in _field_converters(tp) if name in v})
        return record
    if tp is float:
        return lambda v: float(v) if isinstance(v, int) else v
    return _IDENTITY


@functools.lru_cache(maxsize=None)
def _field_converters(tp: type) -> tuple:
    return tuple((field, name, _converter(hint)) for field, name, hint in _fields(tp))


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
