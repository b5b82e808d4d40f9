"""DL3061: Invalid instruction order"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3061(Rule):
    id = "DL3061"
    severity = "error"
    origin = "hadolint"
    title = "Invalid instruction order. Dockerfile must begin with `FROM`, `ARG` or comment."
    what = """Flags instructions other than ARG before the first FROM (the parser's IMG002 diagnostic is
reported under this id)."""
    why = """BuildKit accepts only ARG (and parser directives) before the first FROM."""
    bad = """ENV A=1
FROM debian:12"""
    good = """FROM debian:12
ENV A=1"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for ins in ctx.instructions:
            if ins.keyword == "FROM":
                return
            if ins.keyword != "ARG":
                yield self.hit(ins)


RULE = DL3061()
