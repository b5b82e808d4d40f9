"""Typed access to the fields of a JSON document (manifests, indexes, configs).

Every reader of an image document goes through :class:`Fields`, so a field of
the wrong type is one clear error naming it, wherever it is read::

    f = Fields(doc, "app.tar config")
    env = f.obj("config").str_list("Env")      # BadInput: app.tar config: field config.Env ...

A missing field or ``null`` gives the default; anything else of the wrong type
raises :class:`~imgopt.errors.BadInput` ("field config.Env[2] is an integer
(5), expected a string").  Unknown fields are left alone (callers keep them).
"""

from __future__ import annotations

from typing import Any

from imgopt.errors import BadInput

_MISSING = object()


def describe(value: Any) -> str:
    """A short phrase for a JSON value's type (and value, when short)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        text = str(value) if value.bit_length() < 200 else f"{value.bit_length()}-bit number"
        return f"an integer ({text})"
    if isinstance(value, float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r}{'...' if len(value) > 40 else ''})"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class Fields:
    """A JSON object whose fields are read with their types checked.

    ``path`` is where the object sits in the document ("" for the top), used
    in messages: ``field config.Labels.version``.
    """

    __slots__ = ("doc", "subject", "path")

    def __init__(self, doc: Any, subject: str | None, path: str = "", what: str = "document"):
        if not isinstance(doc, dict):
            where = f"field {path}" if path else what
            raise BadInput(subject, f"{where} is {describe(doc)}, expected a JSON object")
        self.doc: dict = doc
        self.subject = subject
        self.path = path

    # ----------------------------------------------------------------- helpers

    def _name(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str | int, value: Any, expected: str) -> BadInput:
        return BadInput(self.subject, f"field {self._name(key)} is {describe(value)}, expected {expected}")

    def get(self, key: str, default: Any = None) -> Any:
        """The raw value (no type check)."""
        v = self.doc.get(key, default)
        return default if v is None else v

    def has(self, key: str) -> bool:
        return self.doc.get(key) is not None

    # ------------------------------------------------------------------ scalars

    def str(self, key: str, default: str = "") -> str:
        v = self.doc.get(key)
        if v is None:
            return default
        if not isinstance(v, str):
            raise self.fail(key, v, "a string")
        return v

    def opt_str(self, key: str) -> "str | None":
        v = self.doc.get(key)
        if v is None:
            return None
        if not isinstance(v, str):
            raise self.fail(key, v, "a string")
        return v

    def int(self, key: str, default: "int | None" = None, *, min: "int | None" = None,
            max: "int | None" = None) -> "int | None":
        v = self.doc.get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(key, v, "an integer")
        if (min is not None and v < min) or (max is not None and v > max):
            lo = "" if min is None else f"{min}"
            hi = "" if max is None else f"{max}"
            raise self.fail(key, v, f"an integer in {lo}..{hi}")
        return v

    def bool(self, key: str, default: bool = False) -> bool:
        v = self.doc.get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise self.fail(key, v, "true or false")
        return v

    # --------------------------------------------------------------- containers

    def obj(self, key: str) -> "Fields | None":
        """The nested object, or None when missing/null."""
        v = self.doc.get(key)
        if v is None:
            return None
        if not isinstance(v, dict):
            raise self.fail(key, v, "a JSON object")
        return Fields(v, self.subject, self._name(key))

    def obj_or_empty(self, key: str) -> "Fields":
        return self.obj(key) or Fields({}, self.subject, self._name(key))

    def list(self, key: str, default: "list | None" = None) -> "list | None":
        v = self.doc.get(key)
        if v is None:
            return default
        if not isinstance(v, list):
            raise self.fail(key, v, "a list")
        return v

    def objs(self, key: str) -> "list[Fields]":
        """A list of objects ([] when missing/null)."""
        items = self.list(key) or []
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise BadInput(self.subject, f"field {self._name(key)}[{i}] is {describe(item)}, "
                                             "expected a JSON object")
            out.append(Fields(item, self.subject, f"{self._name(key)}[{i}]"))
        return out

    def str_list(self, key: str, *, allow_string: bool = False) -> "list[str]":
        """A list of strings ([] when missing/null).

        ``allow_string``: a lone string is a one-element list (Docker's
        ``StrSlice``, used for Entrypoint and Cmd).
        """
        v = self.doc.get(key)
        if v is None:
            return []
        if allow_string and isinstance(v, str):
            return [v]
        if not isinstance(v, list):
            raise self.fail(key, v, "a list of strings")
        for i, item in enumerate(v):
            if not isinstance(item, str):
                raise BadInput(self.subject, f"field {self._name(key)}[{i}] is {describe(item)}, expected a string")
        return list(v)

    def str_map(self, key: str) -> "dict[str, str]":
        """An object of string values ({} when missing/null)."""
        v = self.doc.get(key)
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise self.fail(key, v, "an object of strings")
        for k, item in v.items():
            if not isinstance(item, str):
                raise BadInput(self.subject, f"field {self._name(key)}.{k} is {describe(item)}, expected a string")
        return dict(v)

    def keys_of(self, key: str) -> "list[str]":
        """The keys of an object-valued field (its values ignored: ExposedPorts, Volumes)."""
        v = self.doc.get(key)
        if v is None:
            return []
        if not isinstance(v, dict):
            raise self.fail(key, v, "a JSON object")
        return list(v)


__all__ = ["Fields", "describe"]
