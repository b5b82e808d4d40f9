"""IMG001: Unknown instruction"""

from __future__ import annotations

from imgopt.lint.rule import Hit, Rule


class IMG001(Rule):
    id = "IMG001"
    severity = "error"
    title = "Unknown instruction"
    what = """Flags a line whose first word is not a Dockerfile instruction (usually a typo, or a continuation line whose backslash is missing)."""
    why = """BuildKit stops at it: the build fails."""
    bad = """WOKRDIR /app"""
    good = """WORKDIR /app"""

    def check(self, ctx):
        for d in ctx.df.diagnostics:
            if d.code == self.id:
                ins = next((i for i in ctx.instructions if i.start_line == d.line), None)
                yield Hit(d.line, d.message, d.column or 1, ins, ins.end_line if ins else 0)


RULE = IMG001()
