"""IMG005: No FROM instruction"""

from __future__ import annotations

from imgopt.lint.rule import Hit, Rule


class IMG005(Rule):
    id = "IMG005"
    severity = "error"
    title = "No FROM instruction"
    what = """Flags a Dockerfile without any FROM."""
    why = """There is nothing to build."""
    bad = """RUN echo hi"""
    good = """FROM alpine:3.19\nRUN echo hi"""

    def check(self, ctx):
        for d in ctx.df.diagnostics:
            if d.code == self.id:
                ins = next((i for i in ctx.instructions if i.start_line == d.line), None)
                yield Hit(d.line, d.message, d.column or 1, ins, ins.end_line if ins else 0)


RULE = IMG005()
