"""Checkstyle XML (version 4.3), read by Jenkins warnings-ng, reviewdog and most CI dashboards."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from imgopt.formats import RenderOptions


def render_findings(result, options: RenderOptions) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<checkstyle version="4.3">']
    for fr in result.files:
        if not fr.findings:
            out.append(f"  <file name={quoteattr(fr.path)}/>")
            continue
        out.append(f"  <file name={quoteattr(fr.path)}>")
        for f in fr.findings:
            out.append(f"    <error line=\"{max(f.line, 1)}\" column=\"{f.column}\" severity={quoteattr(f.severity)} "
                       f"message={quoteattr(f.message)} source={quoteattr(f.code)}/>")
        out.append("  </file>")
    out.append("</checkstyle>")
    return "\n".join(out) + "\n"
