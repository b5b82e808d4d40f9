"""Markdown: a summary line and one table of findings (for pull-request comments and job summaries)."""

from __future__ import annotations

from imgopt.formats import RenderOptions
from imgopt.formats.findings import counts


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_findings(result, options: RenderOptions) -> str:
    c = counts(result)
    n = sum(c.values())
    files = len(result.files)
    head = [f"**{n} finding{'s' if n != 1 else ''}** in {files} file{'s' if files != 1 else ''}: "
            + ", ".join(f"{v} {k}" for k, v in c.items() if v) if n else f"No findings in {files} "
            f"file{'s' if files != 1 else ''}."]
    if not n:
        return head[0] + "\n"
    rows = ["", "| File | Line | Code | Severity | Message |", "|---|---:|---|---|---|"]
    meta = {r.id: r for r in result.rules()}
    for f in result.findings():
        uri = getattr(meta.get(f.code), "help_uri", "")
        code = f"[{f.code}]({uri})" if uri else f.code
        rows.append(f"| {_cell(f.file)} | {f.line} | {code} | {f.severity} | {_cell(f.message)} |")
    return "\n".join(head + rows) + "\n"
