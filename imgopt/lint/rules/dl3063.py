"""DL3063: stage name should not be a reserved word"""

from __future__ import annotations

from imgopt.lint.rule import Rule


class DL3063(Rule):
    id = "DL3063"
    severity = "warning"
    origin = "hadolint"
    title = "stage name should not be a reserved word"
    what = """Flags a stage named `scratch` or `context`."""
    why = """Both names already mean something to BuildKit (the empty image; a named build context), so a
stage with that name is ambiguous."""
    bad = """FROM debian:12 AS scratch"""
    good = """FROM debian:12 AS base"""
    hadolint = "Same as hadolint."

    def check(self, ctx):
        for st in ctx.stages:
            if st.name in ("scratch", "context"):
                yield self.hit(st.from_instruction)


RULE = DL3063()
