"""DL3024: FROM aliases (stage names) must be unique"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3024(Rule):
    id = "DL3024"
    severity = "error"
    origin = "hadolint"
    title = "FROM aliases (stage names) must be unique"
    what = """Flags a FROM ... AS NAME where an earlier stage already has NAME (the parser's IMG007
diagnostic is reported under this id)."""
    why = """BuildKit rejects duplicate stage names; references to the name would be ambiguous."""
    bad = """FROM node:20 AS build
FROM golang:1.22 AS build"""
    good = """FROM node:20 AS web
FROM golang:1.22 AS server"""
    hadolint = "Same as hadolint (names compared without case, as BuildKit does)."

    def check(self, ctx):
        seen: set[str] = set()
        for st in ctx.stages:
            if st.name is None:
                continue
            if st.name in seen:
                yield self.hit(st.from_instruction)
            seen.add(st.name)


RULE = DL3024()
