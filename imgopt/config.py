"""imgopt's configuration file: where it is and what each section says.

One file per project, found from the current directory upwards (stopping at
a ``.git`` directory or the filesystem root): ``.imgopt.yaml`` /
``.imgopt.yml``, or ``pyproject.toml`` with a ``[tool.imgopt]`` table.  Then
``$XDG_CONFIG_HOME/imgopt/config.yaml`` (``~/.config/imgopt/config.yaml``).
``--config FILE`` (or ``$IMGOPT_CONFIG``) names one explicitly.

Each command reads its own top-level section (``lint:``, ``gate:``...) as a
plain mapping via :func:`section`; what the keys mean is the command's
business.  YAML is only parsed when a YAML file is there (PyYAML costs
start-up time ``imgopt lint`` does not want to pay otherwise).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from imgopt.data import parse_yaml
from imgopt.errors import BadInput

YAML_NAMES = (".imgopt.yaml", ".imgopt.yml")


@dataclass
class ConfigFile:
    """A configuration file and its sections."""

    path: str | None  # None: no file found (everything default)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        return self.sections.get(name, {})


def find(start: str | None = None) -> str | None:
    """The project's config file, searching ``start`` (default: the current directory) upwards."""
    d = os.path.abspath(start or os.getcwd())
    while True:
        for n in YAML_NAMES:
            p = os.path.join(d, n)
            if os.path.isfile(p):
                return p
        pp = os.path.join(d, "pyproject.toml")
        if os.path.isfile(pp) and _has_tool_table(pp):
            return pp
        if os.path.isdir(os.path.join(d, ".git")):
            break
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    user = os.path.join(xdg, "imgopt", "config.yaml")
    return user if os.path.isfile(user) else None


def _has_tool_table(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return b"[tool.imgopt" in f.read()
    except OSError:
        return False


def load(path: str | None = None, start: str | None = None) -> ConfigFile:
    """Read the config file ``path`` (or the one :func:`find` finds); one-line errors if it is bad."""
    explicit = path or os.environ.get("IMGOPT_CONFIG") or None
    p = explicit or find(start)
    if p is None:
        return ConfigFile(None)
    if not os.path.isfile(p):
        raise BadInput(p, "no such configuration file")
    if p.endswith(".toml"):
        doc = _load_toml(p)
    else:
        doc = _load_yaml(p)
    if not isinstance(doc, dict):
        raise BadInput(p, "the configuration must be a mapping of sections (lint:, gate:, ...)")
    sections = {}
    for k, v in doc.items():
        if v is None:
            v = {}
        if not isinstance(v, dict):
            raise BadInput(p, f"section {k!r} must be a mapping")
        sections[str(k)] = v
    return ConfigFile(p, sections)


def _load_toml(path: str) -> dict:
    import tomllib

    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise BadInput(path, f"not valid TOML: {e}") from None
    tool = doc.get("tool", {}).get("imgopt", {})
    return tool if isinstance(tool, dict) else {}


def _load_yaml(path: str) -> Any:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            return parse_yaml(f.read()) or {}
    except yaml.YAMLError as e:
        raise BadInput(path, f"not valid YAML: {str(e).splitlines()[0]}") from None


def load_yaml_file(path: str) -> Any:
    """A YAML document (for tools' own files such as ``.hadolint.yaml``), one-line errors."""
    return _load_yaml(path)


def section(name: str, path: str | None = None, start: str | None = None) -> dict[str, Any]:
    """The ``name`` section of the project's configuration ({} when there is none)."""
    return load(path, start).section(name)


# ------------------------------------------------------------------ values

#: size units, lower case (go-humanize's ParseBytes, which dive uses for highestWastedBytes: kB = 1000, KiB = 1024)
SIZE_UNITS = {"": 1, "b": 1}
for _i, _p in enumerate("kmgtpe", start=1):
    SIZE_UNITS[_p] = SIZE_UNITS[_p + "b"] = 1000 ** _i
    SIZE_UNITS[_p + "i"] = SIZE_UNITS[_p + "ib"] = 1024 ** _i
_SIZE = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*$")
SIZE_HELP = "write it like 500MB, 1.5GiB, 300MiB or a number of bytes"


def parse_size(value: Any, where: str) -> int:
    """Bytes from ``500MB`` / ``1.5GiB`` / ``300 MiB`` / ``1,000,000`` / an int (go-humanize's rules: decimal
    kB/MB/GB, binary KiB/MiB/GiB, case-insensitive); BadInput naming ``where`` otherwise."""
    if isinstance(value, bool):
        raise BadInput(where, f"not a size: {value!r} ({SIZE_HELP})")
    if isinstance(value, int):
        if value < 0:
            raise BadInput(where, f"a size cannot be negative: {value}")
        return value
    if isinstance(value, float):
        if not value >= 0 or value == float("inf"):
            raise BadInput(where, f"not a size: {value!r} ({SIZE_HELP})")
        return int(value)
    m = _SIZE.match(str(value)) if isinstance(value, str) else None
    unit = m.group(2).lower() if m else None
    if m is None or unit not in SIZE_UNITS:
        raise BadInput(where, f"not a size: {value!r} ({SIZE_HELP})")
    number = float(m.group(1).replace(",", ""))
    return int(number * SIZE_UNITS[unit])


class Keys:
    """Typed, checked access to one mapping of a configuration section; errors are one line naming the key
    (``.imgopt.yaml: gate.max-size: not a size: '5XB' ...``)."""

    def __init__(self, doc: Any, source: str, prefix: str):
        if not isinstance(doc, dict):
            raise BadInput(source, f"{prefix} must be a mapping, not {type(doc).__name__}")
        self.doc, self.source, self.prefix = doc, source, prefix

    def where(self, key: str) -> str:
        return f"{self.source}: {self.prefix}.{key}" if self.prefix else f"{self.source}: {key}"

    def fail(self, key: str, problem: str) -> BadInput:
        return BadInput(self.where(key), problem)

    def known(self, names) -> None:
        """BadInput for the first key not in ``names``."""
        for k in self.doc:
            if k not in names:
                raise BadInput(self.where(str(k)), f"unknown key (known: {', '.join(sorted(names))})")

    def has(self, key: str) -> bool:
        return key in self.doc

    def get(self, key: str, default: Any = None) -> Any:
        return self.doc.get(key, default)

    def size(self, key: str) -> int:
        return parse_size(self.doc[key], self.where(key))

    def number(self, key: str, *, lo: float | None = 0.0, hi: float | None = None, integer: bool = False) -> float:
        v = self.doc[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise self.fail(key, f"must be a number, not {v!r}")
        if integer and v != int(v):
            raise self.fail(key, f"must be a whole number, not {v!r}")
        if lo is not None and v < lo:
            raise self.fail(key, f"must be >= {lo:g}, not {v!r}")
        if hi is not None and v > hi:
            raise self.fail(key, f"must be <= {hi:g}, not {v!r}")
        return int(v) if integer else float(v)

    def boolean(self, key: str) -> bool:
        v = self.doc[key]
        if not isinstance(v, bool):
            raise self.fail(key, f"must be true or false, not {v!r}")
        return v

    def string(self, key: str) -> str:
        v = self.doc[key]
        if not isinstance(v, str) or not v.strip():
            raise self.fail(key, f"must be a non-empty string, not {v!r}")
        return v.strip()

    def sub(self, key: str) -> "Keys":
        return Keys(self.doc[key], self.source, f"{self.prefix}.{key}" if self.prefix else key)


__all__ = ["ConfigFile", "find", "load", "section", "load_yaml_file", "parse_size", "Keys", "SIZE_UNITS"]
