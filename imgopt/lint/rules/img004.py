"""IMG004: Bad parser directive"""

from __future__ import annotations

from imgopt.lint.rule import Hit, Rule


class IMG004(Rule):
    id = "IMG004"
    severity = "warning"
    title = "Bad parser directive"
    what = """Flags a repeated parser directive (`# syntax=`, `# escape=`) or an `escape` other than `\\` or a backtick."""
    why = """BuildKit ignores the repetition and rejects a bad escape, so the file means something else than it says."""
    bad = """# escape=x"""
    good = """# escape=`"""

    def check(self, ctx):
        for d in ctx.df.diagnostics:
            if d.code == self.id:
                ins = next((i for i in ctx.instructions if i.start_line == d.line), None)
                yield Hit(d.line, d.message, d.column or 1, ins, ins.end_line if ins else 0)


RULE = IMG004()
