"""Terminal text: one line per finding, ``FILE:LINE CODE severity: message`` (hadolint's tty
layout), the severity coloured when ``options.color``."""

from __future__ import annotations

from imgopt.formats import RenderOptions

_COLORS = {"error": "\033[1;31m", "warning": "\033[1;33m", "info": "\033[32m", "style": "\033[36m"}
_RESET = "\033[0m"


def render_findings(result, options: RenderOptions) -> str:
    lines = []
    for f in result.findings():
        sev = f"{_COLORS.get(f.severity, '')}{f.severity}{_RESET}" if options.color else f.severity
        lines.append(f"{f.file}:{f.line} {f.code} {sev}: {f.message}")
    return "\n".join(lines) + ("\n" if lines else "")
