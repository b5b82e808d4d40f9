"""IMG003: Unterminated heredoc"""

from __future__ import annotations

from imgopt.lint.rule import Hit, Rule


class IMG003(Rule):
    id = "IMG003"
    severity = "error"
    title = "Unterminated heredoc"
    what = """Flags `<<NAME` on a RUN/COPY/ADD line when no line `NAME` follows; the rest is then read as plain text."""
    why = """BuildKit reads the whole rest of the file as the heredoc body, or fails."""
    bad = """RUN <<EOF\necho hi"""
    good = """RUN <<EOF\necho hi\nEOF"""

    def check(self, ctx):
        for d in ctx.df.diagnostics:
            if d.code == self.id:
                ins = next((i for i in ctx.instructions if i.start_line == d.line), None)
                yield Hit(d.line, d.message, d.column or 1, ins, ins.end_line if ins else 0)


RULE = IMG003()
