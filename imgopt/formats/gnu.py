"""GNU error format (https://www.gnu.org/prep/standards/html_node/Errors.html):
``imgopt:FILE:LINE:COLUMN: CODE severity: message``, which editors and compilation buffers jump to."""

from __future__ import annotations

from imgopt.formats import RenderOptions
from imgopt.formats.findings import TOOL


def render_findings(result, options: RenderOptions) -> str:
    lines = [f"{TOOL}:{f.file}:{max(f.line, 1)}:{f.column}: {f.code} {f.severity}: {f.message}"
             for f in result.findings()]
    return "\n".join(lines) + ("\n" if lines else "")
