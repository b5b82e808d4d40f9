"""docs/lint-rules.md, generated from the rules themselves: ``python -m imgopt.lint.docs [--check]``.

Every rule's id, default severity, title, what it does, why it matters, a flagged and a fixed
example, and (for hadolint's rules) how it differs from hadolint 2.15.1.  ``--check`` exits 1 when
the file on disk is not what the rules say (tests/test_lint_docs.py runs it).
"""

from __future__ import annotations

import os
import sys
import textwrap

GROUPS = (
    ("Cold start (imgopt)", lambda r: r.id.startswith("IMG1")),
    ("Syntax (imgopt)", lambda r: r.id.startswith("IMG0")),
    ("hadolint rules", lambda r: r.id.startswith("DL")),
    ("ShellCheck", lambda r: r.id == "SC"),
)


def _para(text: str) -> str:
    return " ".join(textwrap.dedent(text).split()) if "\n\n" not in text else "\n\n".join(
        " ".join(p.split()) for p in textwrap.dedent(text).split("\n\n"))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(rules) -> str:
    out = ["# imgopt lint rules", "",
           "Generated from `imgopt/lint/rules/` by `python -m imgopt.lint.docs`; do not edit by hand.", "",
           "Severities are the defaults; change them with `--error/--warning/--info/--style RULE`, the",
           "`override` setting, or switch a rule off with `--ignore RULE` / `ignored` (see docs/lint.md).",
           "`ignore` means off unless enabled.", ""]
    for title, pred in GROUPS:
        sel = sorted((r for r in rules if pred(r)), key=lambda r: r.id)
        out += [f"## {title}", "", "| Rule | Severity | Title |", "|---|---|---|"]
        out += [f"| [{r.id}](#{r.id.lower()}) | {r.severity} | {_cell(r.title)} |" for r in sel]
        out.append("")
    for title, pred in GROUPS:
        for r in sorted((r for r in rules if pred(r)), key=lambda r: r.id):
            out += [f'<a id="{r.id.lower()}"></a>', "", f"### {r.id}: {r.title}", ""]
            meta = f"Default severity: **{r.severity}**"
            if r.config:
                meta += " · settings: " + ", ".join(f"`{c}`" for c in r.config)
            out += [meta, ""]
            if r.what:
                out += [f"**What it does.** {_para(r.what)}", ""]
            if r.why:
                out += [f"**Why it matters.** {_para(r.why)}", ""]
            if r.bad:
                out += ["Flagged:", "", "```dockerfile", textwrap.dedent(r.bad).strip("\n"), "```", ""]
            if r.good:
                out += ["Instead:", "", "```dockerfile", textwrap.dedent(r.good).strip("\n"), "```", ""]
            if r.hadolint:
                out += [f"**Compared with hadolint 2.15.1.** {_para(r.hadolint)}", ""]
    return "\n".join(out).rstrip() + "\n"


def default_path() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "docs", "lint-rules.md")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from imgopt.lint.rules import load

    text = render(load())
    path = next((a for a in argv if not a.startswith("-")), default_path())
    if "--check" in argv:
        try:
            with open(path, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = ""
        if current != text:
            sys.stderr.write(f"{path} is out of date: run python -m imgopt.lint.docs\n")
            return 1
        return 0
    from imgopt.atomic import write_text

    write_text(path, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
