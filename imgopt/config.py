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
from dataclasses import dataclass, field
from typing import Any

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
            return yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise BadInput(path, f"not valid YAML: {str(e).splitlines()[0]}") from None


def load_yaml_file(path: str) -> Any:
    """A YAML document (for tools' own files such as ``.hadolint.yaml``), one-line errors."""
    return _load_yaml(path)


def section(name: str, path: str | None = None, start: str | None = None) -> dict[str, Any]:
    """The ``name`` section of the project's configuration ({} when there is none)."""
    return load(path, start).section(name)


__all__ = ["ConfigFile", "find", "load", "section", "load_yaml_file"]
