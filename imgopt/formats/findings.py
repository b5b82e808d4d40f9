"""The findings protocol: what the findings formatters (tty, sarif, checkstyle, junit, gnu,
codeclimate, markdown) read, so any command with findings (``imgopt lint``, later the gate) can
register them for its result kind.

A findings result has:

* ``files``: objects with ``path`` and ``findings`` (every file, also those without findings);
* ``findings()``: every finding, each with ``file``, ``line`` (0: the whole file), ``column``,
  ``code``, ``severity`` (error | warning | info | style) and ``message``;
* ``rules()``: metadata of the codes that occur (``id``, ``title``, ``severity``, ``help_uri``,
  ``description``), for formats that describe rules (SARIF);
* ``tool_version``.
"""

from __future__ import annotations

SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note", "style": "note"}
CODECLIMATE_SEVERITY = {"error": "blocker", "warning": "major", "info": "info", "style": "minor"}
TOOL = "imgopt"
TOOL_URI = "https://github.com/imgopt/imgopt"


def counts(result) -> dict[str, int]:
    out = {"error": 0, "warning": 0, "info": 0, "style": 0}
    for f in result.findings():
        out[f.severity] = out.get(f.severity, 0) + 1
    return out


__all__ = ["SARIF_LEVEL", "CODECLIMATE_SEVERITY", "TOOL", "TOOL_URI", "counts"]
