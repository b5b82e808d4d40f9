"""JUnit XML, for CI systems that show test reports.  No timestamps, so the same input gives the same file.

:func:`testsuites` writes the document from plain (suite, cases) data; ``lint`` renders one test suite
per file with one failing test case per finding (a passing one for a clean file), ``gate`` one test
case per check (failed, passed or skipped)."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from imgopt.formats import RenderOptions
from imgopt.formats.findings import TOOL


@dataclass
class Case:
    classname: str
    name: str
    failure: tuple[str, str, str] | None = None  # (type, message, text)
    skipped: str | None = None  # why it was skipped
    output: str = ""  # system-out


def testsuites(name: str, suites: list[tuple[str, list[Case]]]) -> str:
    """The JUnit document: ``suites`` is [(suite name, cases)]."""
    tests = sum(len(c) for _, c in suites)
    failures = sum(1 for _, cs in suites for c in cs if c.failure)
    skipped = sum(1 for _, cs in suites for c in cs if c.skipped is not None)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name={quoteattr(name)} tests="{tests}" failures="{failures}"'
           + (f' skipped="{skipped}"' if skipped else "") + ">"]
    for sname, cases in suites:
        nf = sum(1 for c in cases if c.failure)
        ns = sum(1 for c in cases if c.skipped is not None)
        out.append(f"  <testsuite name={quoteattr(sname)} tests=\"{len(cases)}\" failures=\"{nf}\" errors=\"0\""
                   + (f" skipped=\"{ns}\"" if ns else "") + ">")
        for c in cases:
            body = []
            if c.failure:
                typ, msg, text = c.failure
                body.append(f"      <failure type={quoteattr(typ)} message={quoteattr(msg)}>{escape(text)}</failure>")
            if c.skipped is not None:
                body.append(f"      <skipped message={quoteattr(c.skipped)}/>")
            if c.output:
                body.append(f"      <system-out>{escape(c.output)}</system-out>")
            head = f"    <testcase classname={quoteattr(c.classname)} name={quoteattr(c.name)}"
            if body:
                out += [head + ">", *body, "    </testcase>"]
            else:
                out.append(head + "/>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"


def render_findings(result, options: RenderOptions) -> str:
    suites = []
    for fr in result.files:
        cases = [Case(fr.path, f"{f.code} line {f.line}",
                      (f.severity, f.message, f"{f.file}:{f.line}:{f.column} {f.code} {f.severity}: {f.message}"))
                 for f in fr.findings] or [Case(fr.path, "lint")]
        suites.append((fr.path, cases))
    return testsuites(f"{TOOL} lint", suites)


def render_gate(result, options: RenderOptions) -> str:
    from imgopt.formats.text.gate import where

    cases = []
    for c in result.checks:
        if c.status == "info":
            continue  # measured, no limit: not a test
        text = "\n".join([f"{c.title}: {c.summary}"] + [f"at {where(loc)}" for loc in c.locations]
                         + ([f"do: {c.advice}"] if c.advice else []) + ([f"fix: {c.command}"] if c.command else []))
        cases.append(Case(f"{TOOL}.gate", c.id,
                          failure=("threshold", f"{c.title}: {c.summary}", text) if c.failed else None,
                          skipped=c.summary if c.status == "skip" else None,
                          output=f"{c.title}: {c.summary} [limit from {c.source}]" if c.status == "pass" else ""))
    return testsuites(f"{TOOL} gate", [(result.image, cases)])
