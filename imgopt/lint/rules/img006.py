"""IMG006: Malformed FROM"""

from __future__ import annotations

from imgopt.lint.rule import Hit, Rule


class IMG006(Rule):
    id = "IMG006"
    severity = "error"
    title = "Malformed FROM"
    what = """Flags a FROM that is not `FROM [--platform=...] image [AS name]`."""
    why = """BuildKit rejects it."""
    bad = """FROM debian:12 builder"""
    good = """FROM debian:12 AS builder"""

    def check(self, ctx):
        for d in ctx.df.diagnostics:
            if d.code == self.id:
                ins = next((i for i in ctx.instructions if i.start_line == d.line), None)
                yield Hit(d.line, d.message, d.column or 1, ins, ins.end_line if ins else 0)


RULE = IMG006()
