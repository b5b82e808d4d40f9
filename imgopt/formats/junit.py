"""JUnit XML: one test suite per file, one failing test case per finding (a passing one for a clean
file), for CI systems that show test reports.  No timestamps, so the same input gives the same file."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from imgopt.formats import RenderOptions
from imgopt.formats.findings import TOOL


def render_findings(result, options: RenderOptions) -> str:
    total = sum(len(fr.findings) for fr in result.files)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="{TOOL} lint" tests="{sum(max(1, len(fr.findings)) for fr in result.files)}" '
           f'failures="{total}">']
    for fr in result.files:
        n = len(fr.findings)
        out.append(f"  <testsuite name={quoteattr(fr.path)} tests=\"{max(1, n)}\" failures=\"{n}\" errors=\"0\">")
        if not n:
            out.append(f"    <testcase classname={quoteattr(fr.path)} name=\"lint\"/>")
        for f in fr.findings:
            name = f"{f.code} line {f.line}"
            out.append(f"    <testcase classname={quoteattr(fr.path)} name={quoteattr(name)}>")
            out.append(f"      <failure type={quoteattr(f.severity)} message={quoteattr(f.message)}>"
                       f"{escape(f'{f.file}:{f.line}:{f.column} {f.code} {f.severity}: {f.message}')}</failure>")
            out.append("    </testcase>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"
