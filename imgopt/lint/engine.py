"""Run the rules over Dockerfiles: parse, check, apply pragmas and severities, collect findings.

The engine knows no single rule.  A rule may define ``begin(contexts)``, called once with every
file's context before any check (for whole-run work such as starting an external tool), and
``late = True`` to be checked after all other rules have run on all files (so that work
overlaps theirs); ``notes()`` gives one-line remarks for the user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from imgopt.dockerfile.parser import parse_dockerfile
from imgopt.lint.config import LintConfig
from imgopt.lint.context import Context
from imgopt.lint.model import FileResult, Finding, LintResult, RuleMeta
from imgopt.lint.pragmas import Pragmas
from imgopt.lint.rule import DOCS_URL, Rule


@dataclass
class Source:
    """One Dockerfile to lint."""

    name: str  # as reported ("-" for standard input, or the --file-path-in-report name)
    text: str
    directory: str | None  # where its build context is taken to be (None: unknown, e.g. stdin)


def help_uri(rule_id: str, config: LintConfig) -> str:
    return f"{config.docs_url or DOCS_URL}#{rule_id.lower()}"


def lint_sources(sources: list[Source], config: LintConfig, rules: list[Rule] | None = None) -> LintResult:
    """Lint ``sources`` with ``rules`` (default: the registry); findings sorted by line.

    The files are parsed first; then each rule is loaded and, if it has ``begin``, started at once,
    so that an external tool (ShellCheck) runs while the remaining rules load and check.
    """
    contexts = []
    for src in sources:
        df = parse_dockerfile(src.text, src.name)
        ctx = Context(df, src.name, config, src.directory)
        ctx.pragmas = Pragmas.read(df)  # type: ignore[attr-defined]
        contexts.append(ctx)
    if rules is None:
        from imgopt.lint.rules import iter_rules

        rules_iter = iter_rules()
    else:
        rules_iter = iter(rules)
    active: list[Rule] = []
    for r in rules_iter:
        if not (getattr(r, "multi_code", False) or config.enabled(r.id, r.severity)):
            continue
        active.append(r)
        begin = getattr(r, "begin", None)
        if begin is not None:
            begin(contexts)
    results = [FileResult(s.name) for s in sources]
    meta: dict[str, RuleMeta] = {}
    early = [r for r in active if not getattr(r, "late", False)]
    late = [r for r in active if getattr(r, "late", False)]
    for group in (early, late):
        for ctx, res in zip(contexts, results):
            for r in group:
                _run(r, ctx, res, config, meta)
    for res in results:
        res.findings.sort(key=lambda f: (f.line, f.column, f.code))
    notes = []
    for r in active:
        n = getattr(r, "notes", None)
        if n is not None:
            notes.extend(n())
    from imgopt import __version__

    return LintResult(results, meta, notes, config.failure_threshold, __version__)


def _run(rule: Rule, ctx: Context, res: FileResult, config: LintConfig, meta: dict[str, RuleMeta]) -> None:
    pragmas: Pragmas = ctx.pragmas  # type: ignore[attr-defined]
    for hit in rule.check(ctx):
        code = hit.code or rule.id
        if code in config.ignored:
            continue
        sev = config.severity_for(code, hit.severity or rule.severity)
        if sev == "ignore":
            continue
        ins_line = hit.instruction.start_line if hit.instruction is not None else None
        if not config.disable_ignore_pragma and pragmas.ignored(code, hit.line, ins_line):
            continue
        msg = hit.message or rule.default_message
        if hit.cost and hit.cost not in msg:
            msg = f"{msg} ({hit.cost})"
        res.findings.append(Finding(ctx.path, hit.line, hit.column, code, sev, msg, hit.end_line, hit.cost))
        if code not in meta:
            meta[code] = _meta_for(rule, code, config, hit)


def _meta_for(rule: Rule, code: str, config: LintConfig, hit) -> RuleMeta:
    if code.startswith("SC"):
        return RuleMeta(code, f"ShellCheck {code}", hit.severity or "warning",
                        f"https://www.shellcheck.net/wiki/{code}", "ShellCheck finding in a RUN script")
    if code != rule.id:
        from imgopt.lint.rules import load_one

        other = load_one(code)
        if other is not None:
            rule = other
    return RuleMeta(code, rule.title, rule.severity, help_uri(rule.id, config), rule.what.strip().split("\n\n")[0])


def read_source(path: str, name: str | None = None) -> Source:
    """A Dockerfile from ``path`` ("-": standard input); BadInput when it cannot be read."""
    import sys

    from imgopt.errors import BadInput

    if path == "-":
        data = sys.stdin.buffer.read()
        # the build context is unknown for standard input, unless --file-path-in-report names the file
        return Source(name or "-", data.decode("utf-8", "replace"),
                      os.path.dirname(os.path.abspath(name)) if name else None)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise BadInput(path, "no such file") from None
    except IsADirectoryError:
        raise BadInput(path, "is a directory, not a Dockerfile") from None
    except OSError as e:
        raise BadInput(path, e.strerror or str(e)) from None
    if b"\0" in data[:8192]:
        raise BadInput(path, "is a binary file, not a Dockerfile")
    return Source(name or path, data.decode("utf-8", "replace"), os.path.dirname(os.path.abspath(path)))


__all__ = ["Source", "lint_sources", "read_source", "help_uri"]
